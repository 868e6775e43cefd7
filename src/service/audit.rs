//! Audit chain verification.
use crate::{
    domain::{
        audit::{verify_chain, ChainBreak, ChainReport},
        ids::WorkspaceId,
    },
    error::AppResult,
    store,
};

use super::AppContext;

/// Recomputes a workspace's chain (or the platform chain for `None`).
pub async fn verify_workspace_chain(
    app: &AppContext,
    workspace: Option<WorkspaceId>,
) -> AppResult<Result<ChainReport, ChainBreak>> {
    let mut conn = app.db.conn().await?;
    let rows = store::audit::list_chain(&mut conn, &store::audit::chain_of(workspace)).await?;
    let events: Vec<_> = rows.iter().map(|r| (r.chained(), r)).collect();
    Ok(verify_chain(
        events
            .iter()
            .map(|(e, r)| (e, r.prev_hash.as_str(), r.hash.as_str())),
    ))
}
