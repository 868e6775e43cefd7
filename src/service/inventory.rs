//! The inventory sync: read a tenant's policies from its source, record new payloads as
//! versions, and keep each policy's lifecycle (ACTIVE, DELETED, restored).
//!
//! Rules that protect the inventory:
//! - A file that cannot be read or parsed, or whose type is unknown, becomes a warning with
//!   its path and reason; it never aborts the run, and it taints the listing of the contract
//!   types its folder stands for, so no deletion is inferred for them.
//! - Deletions are only inferred for contract types the source listed completely.
//! - A contract type that had active policies and comes back empty is suspect: a warning,
//!   no deletions, unless the operator confirms it with `confirmEmptyTypes`.
//! - Re-reading the same payloads creates no version and writes no policy row.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
};

use chrono::Utc;
use diesel_async::AsyncConnection;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{record, AppContext, Audit};
use crate::{
    domain::{
        ids::{TenantId, WorkspaceId},
        policy::{assignments, canonical_hash, flatten_settings},
        secrets::{redact_payload, redact_text, secret_changes, Fingerprinter, SecretField},
    },
    error::{AppError, AppResult},
    providers::{export_dir::ExportDir, PolicySource, SourceItem},
    store::{
        self,
        operation_runs::RunCounts,
        policies::{NewPolicy, PolicyHead},
    },
};

/// Files parsed per batch (and written per transaction).
const BATCH: usize = 48;

/// A problem worth showing the operator, with where it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub path: String,
    pub reason: String,
}

/// What a progress report asks the sync to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    Cancel,
}

/// Receives progress; the worker writes it to the run, the CLI draws a bar.
#[async_trait::async_trait]
pub trait Progress: Send {
    async fn report(&mut self, processed: usize, total: usize, message: &str)
        -> AppResult<Control>;
}

/// One sync's inputs.
pub struct SyncRequest {
    pub workspace: WorkspaceId,
    pub tenant: TenantId,
    pub dir: PathBuf,
    pub confirm_empty_types: BTreeSet<String>,
    pub run: Option<Uuid>,
    pub actor: String,
}

/// One sync's result.
#[derive(Clone, Debug, Default)]
pub struct SyncOutcome {
    pub counts: RunCounts,
    pub warnings: Vec<Warning>,
    pub files: usize,
    pub cancelled: bool,
    /// The run's final message, for run kinds other than syncs.
    pub summary: Option<String>,
}

impl SyncOutcome {
    pub fn affected(&self) -> i32 {
        self.counts.created + self.counts.updated + self.counts.deleted + self.counts.restored
    }
}

/// A policy whose payload changed: its new version.
struct Update {
    id: Uuid,
    new: NewPolicy,
    version: i32,
    restore: bool,
    previous_name: String,
    /// `[SecretChange]` against the previous version.
    secret_changes: serde_json::Value,
}

type PreparedBatch = Vec<Result<Vec<Prepared>, (usize, String)>>;

struct Prepared {
    key: (String, String),
    origin: String,
    folder: Option<String>,
    new: NewPolicy,
}

fn prepare_items(
    source: &ExportDir,
    items: &[SourceItem],
    workspace: WorkspaceId,
    tenant: TenantId,
    fingerprinter: &Fingerprinter,
) -> Vec<Result<Vec<Prepared>, (usize, String)>> {
    let prepare = |idx: usize, item: &SourceItem| -> Result<Vec<Prepared>, (usize, String)> {
        let raws = source.read(item).map_err(|p| (idx, p.0))?;
        raws.into_iter()
            .map(|mut raw| {
                // Secrets go before anything is hashed, stored or shown.
                let redaction = redact_payload(fingerprinter, &mut raw.payload);
                if redaction.changed() {
                    raw.text = None;
                }
                // Identity and metadata columns are free text from the file too.
                let display_name = redact_text(&raw.display_name).into_owned();
                raw.external_id = redact_text(&raw.external_id).into_owned();
                raw.platform = redact_text(&raw.platform).into_owned();
                raw.odata_type = raw.odata_type.map(|t| redact_text(&t).into_owned());
                let source_folder = item
                    .top_folder
                    .as_deref()
                    .map(|f| redact_text(f).into_owned());
                let secret_fields =
                    serde_json::to_value(&redaction.fields).map_err(|e| (idx, e.to_string()))?;
                let redaction_count = i32::try_from(redaction.count()).unwrap_or(i32::MAX);
                let hash = canonical_hash(raw.contract, &raw.payload);
                let setting_count =
                    i32::try_from(flatten_settings(raw.contract, &raw.payload).len())
                        .unwrap_or(i32::MAX);
                let assignments = serde_json::to_value(assignments(&raw.payload))
                    .map_err(|e| (idx, e.to_string()))?;
                let payload = match raw.text {
                    Some(text) => text,
                    None => {
                        serde_json::to_string(&raw.payload).map_err(|e| (idx, e.to_string()))?
                    }
                };
                Ok(Prepared {
                    key: (raw.contract.collection.to_string(), raw.external_id.clone()),
                    origin: raw.origin,
                    folder: item.top_folder.clone(),
                    new: NewPolicy {
                        workspace_id: workspace.0,
                        tenant_id: tenant.0,
                        contract_type: raw.contract.collection.to_string(),
                        external_id: raw.external_id,
                        display_name,
                        platform: raw.platform,
                        odata_type: raw.odata_type,
                        payload,
                        payload_hash: hash,
                        setting_count,
                        secret_fields,
                        redaction_count,
                        assignments,
                        source_folder,
                    },
                })
            })
            .collect()
    };
    // Parsing and hashing are CPU work: split the batch over two threads.
    let mid = items.len().div_ceil(2);
    let (left, right) = items.split_at(mid);
    std::thread::scope(|s| {
        let handle = s.spawn(|| {
            right
                .iter()
                .enumerate()
                .map(|(i, it)| prepare(mid + i, it))
                .collect::<Vec<_>>()
        });
        let mut out: Vec<_> = left
            .iter()
            .enumerate()
            .map(|(i, it)| prepare(i, it))
            .collect();
        match handle.join() {
            Ok(rest) => out.extend(rest),
            Err(_) => out.extend(
                right
                    .iter()
                    .enumerate()
                    .map(|(i, _)| Err((mid + i, "parser thread panicked".to_string()))),
            ),
        }
        out
    })
}

/// Runs one sync of one tenant from an export folder.
pub async fn sync_inventory(
    app: &AppContext,
    req: SyncRequest,
    progress: &mut dyn Progress,
) -> AppResult<SyncOutcome> {
    let mut outcome = sync(app, req, progress).await?;
    // Warnings quote file names and payload text: no secret goes into the run.
    for w in &mut outcome.warnings {
        w.path = redact_text(&w.path).into_owned();
        w.reason = redact_text(&w.reason).into_owned();
    }
    Ok(outcome)
}

async fn sync(
    app: &AppContext,
    req: SyncRequest,
    progress: &mut dyn Progress,
) -> AppResult<SyncOutcome> {
    let source = Arc::new(ExportDir::new(req.dir.clone()));
    let plan = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || source.plan())
            .await
            .map_err(AppError::internal)?
            .map_err(|e| AppError::bad_input("path", e))?
    };
    let mut outcome = SyncOutcome {
        files: plan.items.len(),
        ..Default::default()
    };
    outcome
        .warnings
        .extend(plan.warnings.iter().map(|(path, reason)| Warning {
            path: path.clone(),
            reason: reason.clone(),
        }));
    // Folders with a listing problem: no deletion is inferred for policies read from them.
    let mut tainted: BTreeSet<Option<String>> = plan.tainted.clone();
    let total = plan.items.len();

    let mut heads: HashMap<(String, String), PolicyHead> = {
        let mut conn = app.db.conn().await?;
        store::policies::list_policy_heads(&mut conn, req.workspace, req.tenant).await?
    };
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut seen_by_folder: BTreeMap<String, usize> = BTreeMap::new();

    if progress
        .report(0, total, &format!("reading {total} file(s)"))
        .await?
        == Control::Cancel
    {
        outcome.cancelled = true;
        return Ok(outcome);
    }
    let mut processed = 0;
    // Reading and parsing run ahead of writing, on their own threads: a bounded channel
    // keeps at most two parsed batches waiting, and dropping the receiver (cancel, error)
    // stops the producer.
    let (batch_tx, mut batch_rx) =
        tokio::sync::mpsc::channel::<(Vec<SourceItem>, PreparedBatch)>(2);
    {
        let source = source.clone();
        let items = plan.items.clone();
        let (ws, tenant) = (req.workspace, req.tenant);
        let fingerprinter = app.fingerprinter.clone();
        tokio::task::spawn_blocking(move || {
            for chunk in items.chunks(BATCH) {
                let prepared = prepare_items(&source, chunk, ws, tenant, &fingerprinter);
                if batch_tx.blocking_send((chunk.to_vec(), prepared)).is_err() {
                    break;
                }
            }
        });
    }
    while let Some((items, prepared)) = batch_rx.recv().await {
        let mut to_insert: Vec<NewPolicy> = Vec::new();
        let mut to_update: Vec<Update> = Vec::new();
        let mut to_restore: Vec<(Uuid, String)> = Vec::new();
        for result in prepared {
            match result {
                Err((idx, reason)) => {
                    let item = &items[idx];
                    tainted.insert(item.top_folder.clone());
                    outcome.warnings.push(Warning {
                        path: item.name.clone(),
                        reason,
                    });
                }
                Ok(policies) => {
                    for p in policies {
                        if !seen.insert(p.key.clone()) {
                            outcome.warnings.push(Warning {
                                path: p.origin.clone(),
                                reason: format!(
                                    "duplicate of policy {} seen in another file; ignored",
                                    p.key.1
                                ),
                            });
                            continue;
                        }
                        if let Some(f) = &p.folder {
                            *seen_by_folder.entry(f.clone()).or_default() += 1;
                        }
                        match heads.get(&p.key) {
                            None => to_insert.push(p.new),
                            Some(h) if h.payload_hash != p.new.payload_hash => {
                                let restore = h.lifecycle_state == "DELETED";
                                let old: Vec<SecretField> =
                                    serde_json::from_value(h.secret_fields.clone())
                                        .unwrap_or_default();
                                let new: Vec<SecretField> =
                                    serde_json::from_value(p.new.secret_fields.clone())
                                        .unwrap_or_default();
                                to_update.push(Update {
                                    id: h.id,
                                    new: p.new,
                                    version: h.version_count + 1,
                                    restore,
                                    previous_name: h.display_name.clone(),
                                    secret_changes: json!(secret_changes(&old, &new)),
                                });
                            }
                            Some(h) if h.lifecycle_state == "DELETED" => {
                                to_restore.push((h.id, h.display_name.clone()))
                            }
                            Some(_) => outcome.counts.unchanged += 1,
                        }
                    }
                }
            }
        }
        if !(to_insert.is_empty() && to_update.is_empty() && to_restore.is_empty()) {
            let now = Utc::now();
            let mut conn = app.db.conn().await?;
            let (ws, run, actor) = (req.workspace, req.run, req.actor.clone());
            let inserted = conn
                .transaction::<_, AppError, _>(async |conn| {
                    store::policies::relax_commit_durability(conn).await?;
                    let ids = store::policies::insert_policies(conn, &to_insert, run).await?;
                    for u in &to_update {
                        store::policies::update_policy_head(conn, ws, u.id, &u.new, u.version, u.restore, now).await?;
                    }
                    let versions: Vec<store::policies::VersionInsert<'_>> = to_update
                        .iter()
                        .map(|u| store::policies::VersionInsert {
                            policy_id: u.id,
                            workspace_id: ws.0,
                            version: u.version,
                            payload_hash: &u.new.payload_hash,
                            payload: &u.new.payload,
                            secret_fields: &u.new.secret_fields,
                            secret_changes: Some(&u.secret_changes),
                        })
                        .collect();
                    store::policies::insert_versions(conn, &versions, run).await?;
                    let restore_ids: Vec<Uuid> = to_restore.iter().map(|(id, _)| *id).collect();
                    store::policies::restore_policies(conn, ws, &restore_ids, now).await?;
                    let restored = to_restore
                        .iter()
                        .map(|(id, name)| (*id, name.clone()))
                        .chain(to_update.iter().filter(|u| u.restore).map(|u| (u.id, u.previous_name.clone())));
                    for (id, name) in restored {
                        record(
                            conn,
                            Audit {
                                workspace: Some(ws),
                                actor: actor.clone(),
                                action: "policy.restore",
                                target_type: "Policy",
                                target_id: id.to_string(),
                                before: Some(json!({"lifecycleState": "DELETED"})),
                                after: Some(json!({"lifecycleState": "ACTIVE", "displayName": name, "operationRunId": run})),
                                touches_activity: true,
                            },
                        )
                        .await?;
                    }
                    // Secrets are never shown, but auditors see that one changed.
                    for u in to_update
                        .iter()
                        .filter(|u| u.secret_changes.as_array().is_some_and(|a| !a.is_empty()))
                    {
                        record(
                            conn,
                            Audit {
                                workspace: Some(ws),
                                actor: actor.clone(),
                                action: "policy.secret_change",
                                target_type: "Policy",
                                target_id: u.id.to_string(),
                                before: None,
                                after: Some(json!({"displayName": u.new.display_name, "version": u.version, "secretChanges": u.secret_changes, "operationRunId": run})),
                                touches_activity: true,
                            },
                        )
                        .await?;
                    }
                    Ok(ids)
                })
                .await?;
            outcome.counts.created += to_insert.len() as i32;
            outcome.counts.updated += to_update.iter().filter(|u| !u.restore).count() as i32;
            outcome.counts.restored +=
                (to_restore.len() + to_update.iter().filter(|u| u.restore).count()) as i32;
            for (id, p) in inserted.into_iter().zip(to_insert) {
                heads.insert(
                    (p.contract_type.clone(), p.external_id.clone()),
                    PolicyHead {
                        id,
                        contract_type: p.contract_type,
                        external_id: p.external_id,
                        display_name: p.display_name,
                        payload_hash: p.payload_hash,
                        lifecycle_state: "ACTIVE".into(),
                        version_count: 1,
                        source_folder: p.source_folder,
                        secret_fields: p.secret_fields,
                    },
                );
            }
        }
        processed += items.len();
        if progress
            .report(
                processed,
                total,
                &format!("read {processed} of {total} file(s)"),
            )
            .await?
            == Control::Cancel
        {
            outcome.cancelled = true;
            return Ok(outcome);
        }
    }

    // Deletions: a policy last read from a top-level folder that is present and was read
    // without problems this time, and is now absent. Policies of unknown origin, of absent
    // folders or of folders with problems are kept.
    let blocked_everywhere = tainted.contains(&None);
    for folder in plan.folders.iter() {
        if blocked_everywhere || tainted.contains(&Some(folder.clone())) {
            outcome.warnings.push(Warning {
                path: folder.clone(),
                reason:
                    "some entries of this folder could not be read; no deletions inferred for it"
                        .into(),
            });
        }
    }
    let mut missing_by_folder: BTreeMap<String, Vec<&PolicyHead>> = BTreeMap::new();
    for h in heads.values() {
        if h.lifecycle_state != "ACTIVE"
            || seen.contains(&(h.contract_type.clone(), h.external_id.clone()))
        {
            continue;
        }
        if let Some(folder) = &h.source_folder {
            missing_by_folder.entry(folder.clone()).or_default().push(h);
        }
    }
    let mut deletions: Vec<(Uuid, String)> = Vec::new();
    for (folder, missing) in missing_by_folder {
        if !plan.folders.contains(&folder) {
            outcome.warnings.push(Warning {
                path: folder.clone(),
                reason: format!(
                    "folder is absent; the {} polic(ies) last read from it are kept, not deleted",
                    missing.len()
                ),
            });
            continue;
        }
        if blocked_everywhere || tainted.contains(&Some(folder.clone())) {
            continue;
        }
        let came_back_empty = seen_by_folder.get(&folder).copied().unwrap_or(0) == 0;
        let confirmed = missing
            .iter()
            .all(|h| req.confirm_empty_types.contains(&h.contract_type));
        if came_back_empty && !confirmed {
            let types: BTreeSet<&str> = missing.iter().map(|h| h.contract_type.as_str()).collect();
            let types: Vec<&str> = types.into_iter().collect();
            outcome.warnings.push(Warning {
                path: types.join(", "),
                reason: format!(
                    "folder {folder} had {} active polic(ies) and came back empty; suspect, nothing deleted. Confirm with confirmEmptyTypes: {:?}",
                    missing.len(),
                    types
                ),
            });
            continue;
        }
        deletions.extend(missing.into_iter().map(|h| (h.id, h.display_name.clone())));
    }
    let now = Utc::now();
    let mut conn = app.db.conn().await?;
    let (ws, run, actor) = (req.workspace, req.run, req.actor.clone());
    let summary = json!({
        "files": outcome.files,
        "created": outcome.counts.created,
        "updated": outcome.counts.updated,
        "unchanged": outcome.counts.unchanged,
        "deleted": deletions.len(),
        "restored": outcome.counts.restored,
        "warnings": outcome.warnings.len(),
        "operationRunId": run,
    });
    let tenant = req.tenant;
    conn.transaction::<_, AppError, _>(async |conn| {
        let ids: Vec<Uuid> = deletions.iter().map(|(id, _)| *id).collect();
        store::policies::mark_policies_deleted(conn, ws, &ids, now).await?;
        for (id, name) in &deletions {
            record(
                conn,
                Audit {
                    workspace: Some(ws),
                    actor: actor.clone(),
                    action: "policy.delete",
                    target_type: "Policy",
                    target_id: id.to_string(),
                    before: Some(json!({"lifecycleState": "ACTIVE", "displayName": name})),
                    after: Some(json!({"lifecycleState": "DELETED", "operationRunId": run})),
                    touches_activity: true,
                },
            )
            .await?;
        }
        store::tenants::mark_synced(conn, ws, tenant, now).await?;
        record(
            conn,
            Audit {
                workspace: Some(ws),
                actor: actor.clone(),
                action: "inventory.sync",
                target_type: "Tenant",
                target_id: tenant.to_string(),
                before: None,
                after: Some(summary.clone()),
                touches_activity: true,
            },
        )
        .await?;
        Ok(())
    })
    .await?;
    outcome.counts.deleted = deletions.len() as i32;
    Ok(outcome)
}
