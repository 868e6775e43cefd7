//! Tenants (Microsoft Entra tenants inside a workspace).
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::Conn;
use crate::{
    db::schema::tenants,
    domain::ids::{TenantId, WorkspaceId},
    error::{AppError, AppResult},
};

#[derive(Clone, Debug, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = tenants)]
pub struct TenantRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub display_name: String,
    pub entra_tenant_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub connection_kind: Option<String>,
    pub export_path: Option<String>,
    pub last_synced_at: Option<DateTime<Utc>>,
}

impl TenantRow {
    pub fn workspace_id(&self) -> WorkspaceId {
        WorkspaceId(self.workspace_id)
    }
}

pub async fn insert_tenant(
    conn: &mut Conn,
    workspace: WorkspaceId,
    display_name: &str,
    entra_tenant_id: Uuid,
) -> AppResult<TenantRow> {
    Ok(diesel::insert_into(tenants::table)
        .values((
            tenants::workspace_id.eq(workspace.0),
            tenants::display_name.eq(display_name),
            tenants::entra_tenant_id.eq(entra_tenant_id),
        ))
        .returning(TenantRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn update_tenant_display_name(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: TenantId,
    display_name: &str,
) -> AppResult<TenantRow> {
    diesel::update(
        tenants::table
            .filter(tenants::workspace_id.eq(workspace.0))
            .filter(tenants::id.eq(id.0)),
    )
    .set((
        tenants::display_name.eq(display_name),
        tenants::updated_at.eq(diesel::dsl::now),
    ))
    .returning(TenantRow::as_returning())
    .get_result(conn)
    .await
    .optional()?
    .ok_or_else(|| AppError::not_found("tenant"))
}

/// Which workspace a tenant belongs to (for the access check that precedes every read).
pub async fn find_tenant_workspace(
    conn: &mut Conn,
    id: TenantId,
) -> AppResult<Option<WorkspaceId>> {
    Ok(tenants::table
        .filter(tenants::id.eq(id.0))
        .select(tenants::workspace_id)
        .first::<Uuid>(conn)
        .await
        .optional()?
        .map(WorkspaceId))
}

pub async fn find_tenant(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: TenantId,
) -> AppResult<Option<TenantRow>> {
    Ok(tenants::table
        .filter(tenants::workspace_id.eq(workspace.0))
        .filter(tenants::id.eq(id.0))
        .select(TenantRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn find_tenant_by_entra_id(
    conn: &mut Conn,
    workspace: WorkspaceId,
    entra_tenant_id: Uuid,
) -> AppResult<Option<TenantRow>> {
    Ok(tenants::table
        .filter(tenants::workspace_id.eq(workspace.0))
        .filter(tenants::entra_tenant_id.eq(entra_tenant_id))
        .select(TenantRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Tenants of several workspaces at once, ordered by display name.
pub async fn list_tenants_by_workspaces(
    conn: &mut Conn,
    workspaces: &[Uuid],
) -> AppResult<Vec<TenantRow>> {
    Ok(tenants::table
        .filter(tenants::workspace_id.eq_any(workspaces))
        .order_by((tenants::workspace_id, tenants::display_name, tenants::id))
        .select(TenantRow::as_select())
        .load(conn)
        .await?)
}

/// Tenants by id, restricted to the given workspaces.
pub async fn list_tenants_by_ids(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<TenantRow>> {
    Ok(tenants::table
        .filter(tenants::workspace_id.eq_any(workspaces))
        .filter(tenants::id.eq_any(ids))
        .select(TenantRow::as_select())
        .load(conn)
        .await?)
}

/// Tenants by id with their workspace (the caller checks access per workspace next).
pub async fn list_tenant_workspaces(conn: &mut Conn, ids: &[Uuid]) -> AppResult<Vec<(Uuid, Uuid)>> {
    Ok(tenants::table
        .filter(tenants::id.eq_any(ids))
        .select((tenants::id, tenants::workspace_id))
        .load(conn)
        .await?)
}

/// Points a tenant's provider connection at an export directory.
pub async fn set_export_directory(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: TenantId,
    path: &str,
) -> AppResult<TenantRow> {
    diesel::update(
        tenants::table
            .filter(tenants::workspace_id.eq(workspace.0))
            .filter(tenants::id.eq(id.0)),
    )
    .set((
        tenants::connection_kind.eq("EXPORT_DIRECTORY"),
        tenants::export_path.eq(path),
        tenants::updated_at.eq(diesel::dsl::now),
    ))
    .returning(TenantRow::as_returning())
    .get_result(conn)
    .await
    .optional()?
    .ok_or_else(|| AppError::not_found("tenant"))
}

/// Records a finished inventory sync.
pub async fn mark_synced(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: TenantId,
    at: DateTime<Utc>,
) -> AppResult<()> {
    diesel::update(
        tenants::table
            .filter(tenants::workspace_id.eq(workspace.0))
            .filter(tenants::id.eq(id.0)),
    )
    .set(tenants::last_synced_at.eq(at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Finds a tenant of a workspace by display name (the CLI's `--tenant NAME`).
pub async fn find_tenant_by_name(
    conn: &mut Conn,
    workspace: WorkspaceId,
    name: &str,
) -> AppResult<Option<TenantRow>> {
    Ok(tenants::table
        .filter(tenants::workspace_id.eq(workspace.0))
        .filter(tenants::display_name.eq(name))
        .select(TenantRow::as_select())
        .first(conn)
        .await
        .optional()?)
}
