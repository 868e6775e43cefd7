//! Tenant use cases.
use diesel_async::AsyncConnection;
use serde_json::json;

use super::{record, AppContext, Audit};
use crate::{
    authz::{Access, Capability},
    domain::{
        ids::{TenantId, WorkspaceId},
        workspace::{parse_entra_tenant_id, validate_name},
    },
    error::{AppError, AppResult},
    store::{self, tenants::TenantRow},
};

fn snapshot(t: &TenantRow) -> serde_json::Value {
    json!({"displayName": t.display_name, "entraTenantId": t.entra_tenant_id})
}

/// Adds a tenant to a workspace (capability `tenant.create`).
pub async fn create_tenant(
    app: &AppContext,
    access: &Access,
    workspace: WorkspaceId,
    display_name: &str,
    entra_tenant_id: &str,
) -> AppResult<TenantRow> {
    access.require(workspace, Capability::TenantCreate).await?;
    let display_name = validate_name("displayName", display_name)?;
    let entra = parse_entra_tenant_id(entra_tenant_id)?;
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        store::workspaces::lock_workspace(conn, workspace).await?;
        let tenant = store::tenants::insert_tenant(conn, workspace, &display_name, entra).await?;
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action: "tenant.create",
                target_type: "Tenant",
                target_id: tenant.id.to_string(),
                before: None,
                after: Some(snapshot(&tenant)),
                touches_activity: true,
            },
        )
        .await?;
        Ok(tenant)
    })
    .await
}

/// Renames a tenant (capability `tenant.update`).
pub async fn update_tenant(
    app: &AppContext,
    access: &Access,
    tenant: TenantId,
    display_name: Option<&str>,
) -> AppResult<TenantRow> {
    // Authenticate before looking anything up, so anonymous callers learn nothing.
    access.user_email_or_system()?;
    let mut conn = app.db.conn().await?;
    let found = store::tenants::find_tenant_workspace(&mut conn, tenant).await?;
    let workspace =
        super::require_visible(access, found, Capability::TenantUpdate, "tenant").await?;
    let display_name = display_name
        .map(|n| validate_name("displayName", n))
        .transpose()?;
    let actor = access.actor();
    conn.transaction::<_, AppError, _>(async |conn| {
        let before = store::tenants::find_tenant(conn, workspace, tenant)
            .await?
            .ok_or_else(|| AppError::not_found("tenant"))?;
        let Some(name) = display_name else {
            return Ok(before);
        };
        if name == before.display_name {
            return Ok(before);
        }
        let after =
            store::tenants::update_tenant_display_name(conn, workspace, tenant, &name).await?;
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action: "tenant.update",
                target_type: "Tenant",
                target_id: tenant.to_string(),
                before: Some(snapshot(&before)),
                after: Some(snapshot(&after)),
                touches_activity: true,
            },
        )
        .await?;
        Ok(after)
    })
    .await
}
