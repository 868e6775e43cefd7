//! Where policies come from. A [`PolicySource`] plans a listing (the items to read and the
//! contract types it lists completely) and reads items one at a time, so a sync can stream
//! thousands of policies without holding them all in memory.
pub mod export_dir;

use std::collections::BTreeSet;

use serde_json::Value;

use crate::domain::contracts::Contract;

/// One policy as read from a source.
#[derive(Clone, Debug)]
pub struct RawPolicy {
    pub contract: &'static Contract,
    pub external_id: String,
    pub display_name: String,
    pub platform: String,
    pub odata_type: Option<String>,
    pub payload: Value,
    /// The payload's compact JSON text, when the source had it verbatim and it means
    /// exactly `payload` (no duplicate keys); else the payload is serialised again.
    pub text: Option<String>,
    /// Where it came from (relative path), for warnings.
    pub origin: String,
}

/// Something to read (a file, a Graph page).
#[derive(Clone, Debug)]
pub struct SourceItem {
    /// Shown in warnings; relative to the source's root.
    pub name: String,
    pub path: std::path::PathBuf,
    pub folder: Option<String>,
    /// The top-level folder (directly under the source's root) the item is in.
    pub top_folder: Option<String>,
}

/// What a sync will read.
#[derive(Clone, Debug, Default)]
pub struct SourcePlan {
    pub items: Vec<SourceItem>,
    /// Contract types this source lists completely (absences mean deletions).
    pub listed: BTreeSet<&'static str>,
    /// Top-level folders present: a policy last read from one of them and now absent is
    /// deleted, unless the folder is tainted by a problem.
    pub folders: BTreeSet<String>,
    /// Top-level folders with a listing problem (no deletions inferred for them); `None`
    /// inside means a problem outside any folder, which blocks every deletion.
    pub tainted: BTreeSet<Option<String>>,
    /// Problems found while planning (e.g. symlinks out of the root), shown as warnings.
    pub warnings: Vec<(String, String)>,
}

/// Why an item could not be read; safe to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemProblem(pub String);

/// A provider of policies.
pub trait PolicySource: Send + Sync {
    /// Lists what there is to read. An error means nothing can be read at all.
    fn plan(&self) -> Result<SourcePlan, String>;
    /// Reads one item into zero or more policies.
    fn read(&self, item: &SourceItem) -> Result<Vec<RawPolicy>, ItemProblem>;
}
