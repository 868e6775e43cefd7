//! Use cases: check capability -> transaction -> store -> audit -> events (delivered on
//! commit). Called by the API, the CLI and (later) jobs alike.
pub mod audit;
pub mod baselines;
pub mod clock;
pub mod demo;
pub mod drift;
pub mod evidence;
pub mod exceptions;
pub mod findings;
pub mod inventory;
pub mod operations;
pub mod roles;
pub mod tenants;
pub mod workspaces;

use std::sync::Arc;

use serde_json::Value;

use crate::{
    auth::jwt::TokenService,
    authz::Authz,
    db::Db,
    domain::ids::WorkspaceId,
    error::{AppError, AppResult},
    events::{self, Event, EventBus},
    store::{
        self,
        audit::{AuditEventRow, NewAuditEvent},
        Conn,
    },
};

/// Everything a use case needs; one per process.
pub struct AppContext {
    pub db: Db,
    pub jobs: crate::config::JobSettings,
    pub authz: Arc<Authz>,
    pub tokens: Arc<TokenService>,
    pub events: EventBus,
    /// Fingerprints redacted secrets (HMAC under the deployment's key).
    pub fingerprinter: Arc<crate::domain::secrets::Fingerprinter>,
    /// Baseline policies prepared for drift comparison.
    pub drift_cache: drift::ExpectedCache,
    /// The time exceptions expire by (movable in tests).
    pub clock: clock::Clock,
    /// Evidence-pack storage, signing key and download URLs.
    pub evidence: Arc<crate::evidence::EvidenceContext>,
}

/// Turns a validation failure into BAD_USER_INPUT.
impl From<crate::domain::workspace::Invalid> for AppError {
    fn from(e: crate::domain::workspace::Invalid) -> Self {
        AppError::bad_input(e.field, e.message)
    }
}

/// The workspace of an object the caller may act on with `capability`. An unknown object
/// (`found` is `None`) and one in a workspace where the caller holds no role are the same
/// NOT_FOUND `what`, so callers learn nothing about other workspaces; a role without the
/// capability is FORBIDDEN. Callers authenticate before looking the object up.
pub async fn require_visible(
    access: &crate::authz::Access,
    found: Option<WorkspaceId>,
    capability: crate::authz::Capability,
    what: &str,
) -> AppResult<WorkspaceId> {
    let workspace = found.ok_or_else(|| AppError::not_found(what))?;
    access
        .require(workspace, capability)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => AppError::not_found(what),
            other => other,
        })?;
    Ok(workspace)
}

/// One audit record, as a service describes it.
pub struct Audit<'a> {
    pub workspace: Option<WorkspaceId>,
    pub actor: String,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Whether this write moves the workspace's `lastActivityAt`.
    pub touches_activity: bool,
}

/// Appends the audit event, moves `lastActivityAt` and queues the notification; all inside
/// the caller's transaction.
pub async fn record(conn: &mut Conn, audit: Audit<'_>) -> AppResult<AuditEventRow> {
    let row = store::audit::append_event(
        conn,
        NewAuditEvent {
            workspace: audit.workspace,
            actor: audit.actor,
            action: audit.action.to_string(),
            target_type: audit.target_type.to_string(),
            target_id: audit.target_id,
            before: audit.before,
            after: audit.after,
        },
    )
    .await?;
    if let (Some(ws), true) = (audit.workspace, audit.touches_activity) {
        store::workspaces::touch_workspace(conn, ws, row.occurred_at).await?;
    }
    events::notify(
        conn,
        &Event::AuditAppended {
            workspace_id: row.workspace_id,
            event_id: row.id,
        },
    )
    .await?;
    Ok(row)
}
