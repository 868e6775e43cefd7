//! Starting and cancelling operation runs, and tenant provider connections.
use diesel_async::AsyncConnection;
use serde_json::json;
use uuid::Uuid;

use super::{record, AppContext, Audit};
use crate::{
    authz::{Access, Capability},
    domain::{
        contracts::find_contract,
        ids::{TenantId, WorkspaceId},
    },
    error::{AppError, AppResult},
    events::{self, Event},
    providers::export_dir::resolve_under_root,
    store::{self, operation_runs::OperationRunRow, tenants::TenantRow},
};

/// Run kinds.
pub mod kinds {
    pub const INVENTORY_SYNC: &str = "INVENTORY_SYNC";
    pub const DRIFT_EVALUATION: &str = "DRIFT_EVALUATION";
    pub const EXCEPTION_EXPIRY: &str = "EXCEPTION_EXPIRY";
    pub const EVIDENCE_PACK_BUILD: &str = "EVIDENCE_PACK_BUILD";
}

/// Looks up a tenant the caller may act on with `capability`; NOT_FOUND hides foreign ones.
pub async fn authorize_tenant(
    app: &AppContext,
    access: &Access,
    tenant: TenantId,
    capability: Capability,
) -> AppResult<TenantRow> {
    access.user_email_or_system()?;
    let mut conn = app.db.conn().await?;
    let found = store::tenants::find_tenant_workspace(&mut conn, tenant).await?;
    let workspace = super::require_visible(access, found, capability, "tenant").await?;
    store::tenants::find_tenant(&mut conn, workspace, tenant)
        .await?
        .ok_or_else(|| AppError::not_found("tenant"))
}

/// The part of the import root a workspace's connections may use: `<root>/<slug>`, so no
/// workspace can point a tenant at another workspace's exports. Created if missing.
pub async fn workspace_import_root(
    app: &AppContext,
    workspace: WorkspaceId,
) -> AppResult<std::path::PathBuf> {
    let slug = {
        let mut conn = app.db.conn().await?;
        store::workspaces::find_workspace(&mut conn, workspace)
            .await?
            .ok_or_else(|| AppError::not_found("workspace"))?
            .slug
    };
    let root = app.jobs.import_root.join(slug);
    let created = root.clone();
    tokio::task::spawn_blocking(move || std::fs::create_dir_all(&created))
        .await
        .map_err(AppError::internal)?
        .map_err(|e| {
            AppError::internal(format!("cannot create the workspace's import folder: {e}"))
        })?;
    Ok(root)
}

/// Points a tenant at an export folder under its workspace's part of the import root
/// (capability `connection.manage`).
pub async fn configure_export_directory(
    app: &AppContext,
    access: &Access,
    tenant: TenantId,
    path: &str,
) -> AppResult<TenantRow> {
    let row = authorize_tenant(app, access, tenant, Capability::ConnectionManage).await?;
    let root = workspace_import_root(app, row.workspace_id()).await?;
    let root_for_display = root.canonicalize().map_err(AppError::internal)?;
    let requested = path.to_string();
    let resolved = tokio::task::spawn_blocking(move || resolve_under_root(&root, &requested))
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::bad_input("path", e.0))?;
    // Stored relative to the workspace's folder: no server paths in the API or the audit
    // trail, and the connection follows the import root if it moves.
    let relative = resolved
        .strip_prefix(&root_for_display)
        .unwrap_or(&resolved);
    let stored = match relative.to_str() {
        Some("") => ".".to_string(),
        Some(s) => s.to_string(),
        None => return Err(AppError::bad_input("path", "must be valid UTF-8")),
    };
    let workspace = row.workspace_id();
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let after = store::tenants::set_export_directory(conn, workspace, tenant, &stored).await?;
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action: "tenant.connection.configure",
                target_type: "Tenant",
                target_id: tenant.to_string(),
                before: Some(
                    json!({"connectionKind": row.connection_kind, "path": row.export_path}),
                ),
                after: Some(json!({"connectionKind": "EXPORT_DIRECTORY", "path": stored})),
                touches_activity: true,
            },
        )
        .await?;
        Ok(after)
    })
    .await
}

/// Queues an inventory sync of a tenant (capability `inventory.sync`) and returns the run
/// at once; a worker does the work.
pub async fn start_inventory_sync(
    app: &AppContext,
    access: &Access,
    tenant: TenantId,
    confirm_empty_types: &[String],
) -> AppResult<OperationRunRow> {
    let row = authorize_tenant(app, access, tenant, Capability::InventorySync).await?;
    for (i, t) in confirm_empty_types.iter().enumerate() {
        if find_contract(t).is_none() {
            return Err(AppError::bad_input(
                format!("confirmEmptyTypes[{i}]"),
                format!("unknown contract type {t:?}"),
            ));
        }
    }
    if row.export_path.is_none() {
        return Err(AppError::bad_input(
            "tenantId",
            "the tenant has no provider connection; configure one first (configureExportDirectory)",
        ));
    }
    {
        let mut conn = app.db.conn().await?;
        let active = store::operation_runs::find_active_run(
            &mut conn,
            row.workspace_id(),
            tenant.0,
            kinds::INVENTORY_SYNC,
        )
        .await?;
        if let Some(active) = active {
            return Err(AppError::Conflict(format!(
                "an inventory sync of this tenant is already {}; follow it in Workspace.operationRuns",
                active.status.to_lowercase()
            )));
        }
    }
    enqueue(
        app,
        access,
        row.workspace_id(),
        Some(tenant.0),
        kinds::INVENTORY_SYNC,
        json!({"confirmEmptyTypes": confirm_empty_types}),
    )
    .await
}

/// Inserts a queued run with its audit event; workers are woken on commit.
pub async fn enqueue(
    app: &AppContext,
    access: &Access,
    workspace: WorkspaceId,
    tenant: Option<Uuid>,
    kind: &str,
    params: serde_json::Value,
) -> AppResult<OperationRunRow> {
    enqueue_as(app, access.actor(), workspace, tenant, kind, params).await
}

/// [`enqueue`] on behalf of `actor` (the system starts runs too).
pub async fn enqueue_as(
    app: &AppContext,
    actor: String,
    workspace: WorkspaceId,
    tenant: Option<Uuid>,
    kind: &str,
    params: serde_json::Value,
) -> AppResult<OperationRunRow> {
    let max_attempts = app.jobs.max_attempts;
    let mut conn = app.db.conn().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let run = store::operation_runs::insert_run(
            conn,
            workspace,
            tenant,
            kind,
            params.clone(),
            &actor,
            max_attempts,
        )
        .await?;
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action: "operation_run.start",
                target_type: "OperationRun",
                target_id: run.id.to_string(),
                before: None,
                after: Some(json!({"kind": kind, "tenantId": tenant, "params": params})),
                touches_activity: true,
            },
        )
        .await?;
        events::notify(conn, &Event::RunQueued { run_id: run.id }).await?;
        events::notify(
            conn,
            &Event::RunUpdated {
                workspace_id: workspace.0,
                run_id: run.id,
            },
        )
        .await?;
        Ok(run)
    })
    .await
}

/// Cancels a run (capability `operation_run.cancel`).
pub async fn cancel_operation_run(
    app: &AppContext,
    access: &Access,
    run: Uuid,
) -> AppResult<OperationRunRow> {
    access.user_email_or_system()?;
    let mut conn = app.db.conn().await?;
    let found = store::operation_runs::find_run_workspace(&mut conn, run)
        .await?
        .map(WorkspaceId);
    let workspace = super::require_visible(
        access,
        found,
        Capability::OperationRunCancel,
        "operation run",
    )
    .await?;
    let actor = access.actor();
    conn.transaction::<_, AppError, _>(async |conn| {
        let row = store::operation_runs::request_cancel(conn, workspace, run).await?;
        if row.kind == kinds::EVIDENCE_PACK_BUILD && row.status == "CANCELLED" {
            store::evidence::fail_packs_of_runs(conn, &[row.id], "the build was cancelled").await?;
        }
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action: "operation_run.cancel",
                target_type: "OperationRun",
                target_id: run.to_string(),
                before: None,
                after: Some(json!({"status": row.status})),
                touches_activity: true,
            },
        )
        .await?;
        events::notify(
            conn,
            &Event::RunUpdated {
                workspace_id: workspace.0,
                run_id: run,
            },
        )
        .await?;
        Ok(row)
    })
    .await
}
