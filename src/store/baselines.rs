//! Baselines: versions, items (snapshots of expected policies), assignments to tenants
//! and explicit policy mappings.
use chrono::{DateTime, Utc};
use diesel::{prelude::*, sql_types};
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use super::Conn;
use crate::{
    db::schema::{
        baseline_assignments, baseline_items, baseline_mappings, baseline_versions, baselines,
        policies,
    },
    domain::ids::{TenantId, WorkspaceId},
    error::AppResult,
};

#[derive(Clone, Debug, Queryable, Selectable, PartialEq)]
#[diesel(table_name = baselines)]
pub struct BaselineRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub description: String,
    pub source_tenant_id: Option<Uuid>,
    pub current_version: i32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable, PartialEq)]
#[diesel(table_name = baseline_versions)]
pub struct BaselineVersionRow {
    pub baseline_id: Uuid,
    pub workspace_id: Uuid,
    pub version: i32,
    pub item_count: i32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A baseline item without its payload (lists).
#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, PartialEq)]
#[diesel(table_name = baseline_items)]
pub struct BaselineItemRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub baseline_id: Uuid,
    pub version: i32,
    pub lineage_id: Uuid,
    pub contract_type: String,
    pub display_name: String,
    pub match_name: String,
    pub template_id: Option<String>,
    pub source_policy_id: Option<Uuid>,
    pub source_version: Option<i32>,
    pub payload_hash: String,
    pub setting_count: i32,
    pub settings_digest: String,
    pub severity_overrides: Value,
    pub ignored_paths: Value,
}

#[derive(Clone, Debug, Queryable, Selectable, PartialEq)]
#[diesel(table_name = baseline_assignments)]
pub struct AssignmentRow {
    pub baseline_id: Uuid,
    pub tenant_id: Uuid,
    pub workspace_id: Uuid,
    pub assigned_by: String,
    pub assigned_at: DateTime<Utc>,
    pub last_evaluated_at: Option<DateTime<Utc>>,
    pub check_count: i32,
    pub check_weight: i64,
}

/// A new baseline.
pub struct NewBaseline<'a> {
    pub workspace: WorkspaceId,
    pub name: &'a str,
    pub description: &'a str,
    pub source_tenant: Option<Uuid>,
    pub actor: &'a str,
}

pub async fn insert_baseline(conn: &mut Conn, new: NewBaseline<'_>) -> AppResult<BaselineRow> {
    Ok(diesel::insert_into(baselines::table)
        .values((
            baselines::workspace_id.eq(new.workspace.0),
            baselines::name.eq(new.name),
            baselines::description.eq(new.description),
            baselines::source_tenant_id.eq(new.source_tenant),
            baselines::created_by.eq(new.actor),
        ))
        .returning(BaselineRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Moves a baseline to a new current version (and renames it).
pub async fn update_baseline_head(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
    name: &str,
    description: &str,
    version: i32,
) -> AppResult<BaselineRow> {
    Ok(diesel::update(
        baselines::table
            .filter(baselines::workspace_id.eq(workspace.0))
            .filter(baselines::id.eq(id)),
    )
    .set((
        baselines::name.eq(name),
        baselines::description.eq(description),
        baselines::current_version.eq(version),
        baselines::updated_at.eq(diesel::dsl::now),
    ))
    .returning(BaselineRow::as_returning())
    .get_result(conn)
    .await?)
}

/// Locks a baseline's row for the rest of the transaction (versions are numbered under it).
pub async fn lock_baseline(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
) -> AppResult<Option<BaselineRow>> {
    Ok(baselines::table
        .filter(baselines::workspace_id.eq(workspace.0))
        .filter(baselines::id.eq(id))
        .select(BaselineRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

pub async fn insert_version(
    conn: &mut Conn,
    workspace: WorkspaceId,
    baseline: Uuid,
    version: i32,
    item_count: i32,
    actor: &str,
) -> AppResult<()> {
    diesel::insert_into(baseline_versions::table)
        .values((
            baseline_versions::baseline_id.eq(baseline),
            baseline_versions::workspace_id.eq(workspace.0),
            baseline_versions::version.eq(version),
            baseline_versions::item_count.eq(item_count),
            baseline_versions::created_by.eq(actor),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// One expected policy to record.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = baseline_items)]
pub struct NewItem {
    pub workspace_id: Uuid,
    pub baseline_id: Uuid,
    pub version: i32,
    pub lineage_id: Uuid,
    pub contract_type: String,
    pub display_name: String,
    pub match_name: String,
    pub template_id: Option<String>,
    pub source_policy_id: Option<Uuid>,
    pub source_version: Option<i32>,
    pub payload_hash: String,
    pub payload: String,
    pub setting_count: i32,
    pub settings_digest: String,
    pub severity_overrides: Value,
    pub ignored_paths: Value,
}

pub async fn insert_items(conn: &mut Conn, items: &[NewItem]) -> AppResult<()> {
    // 15 columns: well under PostgreSQL's bind limit per chunk.
    for chunk in items.chunks(500) {
        diesel::insert_into(baseline_items::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub async fn find_baseline(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
) -> AppResult<Option<BaselineRow>> {
    Ok(baselines::table
        .filter(baselines::workspace_id.eq(workspace.0))
        .filter(baselines::id.eq(id))
        .select(BaselineRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The workspace of a baseline (for the access check before reading it).
pub async fn find_baseline_workspace(conn: &mut Conn, id: Uuid) -> AppResult<Option<Uuid>> {
    Ok(baselines::table
        .filter(baselines::id.eq(id))
        .select(baselines::workspace_id)
        .first(conn)
        .await
        .optional()?)
}

/// Every baseline of several workspaces, by name.
pub async fn list_baselines_by_workspaces(
    conn: &mut Conn,
    workspaces: &[Uuid],
) -> AppResult<Vec<BaselineRow>> {
    Ok(baselines::table
        .filter(baselines::workspace_id.eq_any(workspaces))
        .order((baselines::name.asc(), baselines::id.asc()))
        .select(BaselineRow::as_select())
        .load(conn)
        .await?)
}

pub async fn list_baselines_by_ids(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<BaselineRow>> {
    Ok(baselines::table
        .filter(baselines::workspace_id.eq_any(workspaces))
        .filter(baselines::id.eq_any(ids))
        .select(BaselineRow::as_select())
        .load(conn)
        .await?)
}

/// The workspaces of several baselines.
pub async fn list_baseline_workspaces(
    conn: &mut Conn,
    ids: &[Uuid],
) -> AppResult<Vec<(Uuid, Uuid)>> {
    Ok(baselines::table
        .filter(baselines::id.eq_any(ids))
        .select((baselines::id, baselines::workspace_id))
        .load(conn)
        .await?)
}

/// Versions of several baselines, newest first.
pub async fn list_versions_by_baselines(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<BaselineVersionRow>> {
    Ok(baseline_versions::table
        .filter(baseline_versions::workspace_id.eq_any(workspaces))
        .filter(baseline_versions::baseline_id.eq_any(ids))
        .order((
            baseline_versions::baseline_id.asc(),
            baseline_versions::version.desc(),
        ))
        .select(BaselineVersionRow::as_select())
        .load(conn)
        .await?)
}

/// Items of given (baseline, version) pairs, by display name.
pub async fn list_items_by_versions(
    conn: &mut Conn,
    workspaces: &[Uuid],
    keys: &[(Uuid, i32)],
) -> AppResult<Vec<BaselineItemRow>> {
    let baseline_ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let rows: Vec<BaselineItemRow> = baseline_items::table
        .filter(baseline_items::workspace_id.eq_any(workspaces))
        .filter(baseline_items::baseline_id.eq_any(&baseline_ids))
        .order((
            baseline_items::baseline_id.asc(),
            baseline_items::version.asc(),
            baseline_items::display_name.asc(),
            baseline_items::id.asc(),
        ))
        .select(BaselineItemRow::as_select())
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| keys.contains(&(r.baseline_id, r.version)))
        .collect())
}

/// The current-version items of every baseline assigned to a tenant, in one statement.
pub async fn list_assigned_items(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: TenantId,
) -> AppResult<Vec<BaselineItemRow>> {
    Ok(diesel::sql_query(
        "SELECT i.id, i.workspace_id, i.baseline_id, i.version, i.lineage_id, i.contract_type, i.display_name, \
                i.match_name, i.template_id, i.source_policy_id, i.source_version, i.payload_hash, \
                i.setting_count, i.settings_digest, i.severity_overrides, i.ignored_paths \
         FROM baseline_assignments a \
         JOIN baselines b ON b.id = a.baseline_id AND b.workspace_id = $1 \
         JOIN baseline_items i ON i.baseline_id = b.id AND i.version = b.current_version AND i.workspace_id = $1 \
         WHERE a.workspace_id = $1 AND a.tenant_id = $2 \
         ORDER BY i.baseline_id, i.display_name, i.id",
    )
    .bind::<sql_types::Uuid, _>(workspace.0)
    .bind::<sql_types::Uuid, _>(tenant.0)
    .load(conn)
    .await?)
}

/// One item (any version) of a workspace.
pub async fn find_item(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
) -> AppResult<Option<BaselineItemRow>> {
    Ok(baseline_items::table
        .filter(baseline_items::workspace_id.eq(workspace.0))
        .filter(baseline_items::id.eq(id))
        .select(BaselineItemRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn find_item_workspace(conn: &mut Conn, id: Uuid) -> AppResult<Option<Uuid>> {
    Ok(baseline_items::table
        .filter(baseline_items::id.eq(id))
        .select(baseline_items::workspace_id)
        .first(conn)
        .await
        .optional()?)
}

/// The payload texts of items.
pub async fn list_item_payloads(
    conn: &mut Conn,
    workspace: WorkspaceId,
    ids: &[Uuid],
) -> AppResult<Vec<(Uuid, String)>> {
    Ok(baseline_items::table
        .filter(baseline_items::workspace_id.eq(workspace.0))
        .filter(baseline_items::id.eq_any(ids))
        .select((baseline_items::id, baseline_items::payload))
        .load(conn)
        .await?)
}

pub async fn set_item_rules(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
    overrides: &Value,
    ignored: &Value,
) -> AppResult<BaselineItemRow> {
    Ok(diesel::update(
        baseline_items::table
            .filter(baseline_items::workspace_id.eq(workspace.0))
            .filter(baseline_items::id.eq(id)),
    )
    .set((
        baseline_items::severity_overrides.eq(overrides),
        baseline_items::ignored_paths.eq(ignored),
    ))
    .returning(BaselineItemRow::as_returning())
    .get_result(conn)
    .await?)
}

/// Assigns a baseline to tenants; returns the tenants newly assigned.
pub async fn insert_assignments(
    conn: &mut Conn,
    workspace: WorkspaceId,
    baseline: Uuid,
    tenants: &[Uuid],
    actor: &str,
) -> AppResult<Vec<Uuid>> {
    let rows: Vec<(Uuid, Uuid, Uuid, &str)> = tenants
        .iter()
        .map(|t| (baseline, *t, workspace.0, actor))
        .collect();
    let values: Vec<_> = rows
        .iter()
        .map(|(b, t, w, a)| {
            (
                baseline_assignments::baseline_id.eq(*b),
                baseline_assignments::tenant_id.eq(*t),
                baseline_assignments::workspace_id.eq(*w),
                baseline_assignments::assigned_by.eq(*a),
            )
        })
        .collect();
    Ok(diesel::insert_into(baseline_assignments::table)
        .values(values)
        .on_conflict((
            baseline_assignments::baseline_id,
            baseline_assignments::tenant_id,
        ))
        .do_nothing()
        .returning(baseline_assignments::tenant_id)
        .get_results(conn)
        .await?)
}

/// Removes assignments; returns the tenants that were assigned.
pub async fn delete_assignments(
    conn: &mut Conn,
    workspace: WorkspaceId,
    baseline: Uuid,
    tenants: &[Uuid],
) -> AppResult<Vec<Uuid>> {
    Ok(diesel::delete(
        baseline_assignments::table
            .filter(baseline_assignments::workspace_id.eq(workspace.0))
            .filter(baseline_assignments::baseline_id.eq(baseline))
            .filter(baseline_assignments::tenant_id.eq_any(tenants)),
    )
    .returning(baseline_assignments::tenant_id)
    .get_results(conn)
    .await?)
}

/// The baselines assigned to one tenant.
pub async fn list_tenant_assignments(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: TenantId,
) -> AppResult<Vec<AssignmentRow>> {
    Ok(baseline_assignments::table
        .filter(baseline_assignments::workspace_id.eq(workspace.0))
        .filter(baseline_assignments::tenant_id.eq(tenant.0))
        .select(AssignmentRow::as_select())
        .load(conn)
        .await?)
}

/// Assignments of several baselines, or of several tenants.
pub async fn list_assignments(
    conn: &mut Conn,
    workspaces: &[Uuid],
    baselines_of: Option<&[Uuid]>,
    tenants_of: Option<&[Uuid]>,
) -> AppResult<Vec<AssignmentRow>> {
    let mut q = baseline_assignments::table
        .filter(baseline_assignments::workspace_id.eq_any(workspaces.to_vec()))
        .into_boxed();
    if let Some(b) = baselines_of {
        q = q.filter(baseline_assignments::baseline_id.eq_any(b.to_vec()));
    }
    if let Some(t) = tenants_of {
        q = q.filter(baseline_assignments::tenant_id.eq_any(t.to_vec()));
    }
    Ok(q.order((
        baseline_assignments::baseline_id.asc(),
        baseline_assignments::assigned_at.asc(),
    ))
    .select(AssignmentRow::as_select())
    .load(conn)
    .await?)
}

/// Records what an evaluation checked.
pub async fn record_evaluation(
    conn: &mut Conn,
    workspace: WorkspaceId,
    baseline: Uuid,
    tenant: TenantId,
    check_count: i32,
    check_weight: i64,
    at: DateTime<Utc>,
) -> AppResult<()> {
    diesel::update(
        baseline_assignments::table
            .filter(baseline_assignments::workspace_id.eq(workspace.0))
            .filter(baseline_assignments::baseline_id.eq(baseline))
            .filter(baseline_assignments::tenant_id.eq(tenant.0)),
    )
    .set((
        baseline_assignments::check_count.eq(check_count),
        baseline_assignments::check_weight.eq(check_weight),
        baseline_assignments::last_evaluated_at.eq(at),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Maps a baseline policy (by lineage) to a tenant policy, replacing an earlier mapping.
pub async fn upsert_mapping(
    conn: &mut Conn,
    workspace: WorkspaceId,
    baseline: Uuid,
    lineage: Uuid,
    tenant: Uuid,
    policy: Uuid,
    actor: &str,
) -> AppResult<Option<Uuid>> {
    let previous: Option<Uuid> = baseline_mappings::table
        .filter(baseline_mappings::workspace_id.eq(workspace.0))
        .filter(baseline_mappings::baseline_id.eq(baseline))
        .filter(baseline_mappings::lineage_id.eq(lineage))
        .filter(baseline_mappings::tenant_id.eq(tenant))
        .select(baseline_mappings::policy_id)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    diesel::insert_into(baseline_mappings::table)
        .values((
            baseline_mappings::baseline_id.eq(baseline),
            baseline_mappings::lineage_id.eq(lineage),
            baseline_mappings::tenant_id.eq(tenant),
            baseline_mappings::workspace_id.eq(workspace.0),
            baseline_mappings::policy_id.eq(policy),
            baseline_mappings::mapped_by.eq(actor),
        ))
        .on_conflict((
            baseline_mappings::baseline_id,
            baseline_mappings::lineage_id,
            baseline_mappings::tenant_id,
        ))
        .do_update()
        .set((
            baseline_mappings::policy_id.eq(policy),
            baseline_mappings::mapped_by.eq(actor),
            baseline_mappings::mapped_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(previous)
}

/// (baseline, lineage) -> policy mappings of one tenant.
pub async fn list_tenant_mappings(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: TenantId,
) -> AppResult<Vec<(Uuid, Uuid, Uuid)>> {
    Ok(baseline_mappings::table
        .filter(baseline_mappings::workspace_id.eq(workspace.0))
        .filter(baseline_mappings::tenant_id.eq(tenant.0))
        .select((
            baseline_mappings::baseline_id,
            baseline_mappings::lineage_id,
            baseline_mappings::policy_id,
        ))
        .load(conn)
        .await?)
}

/// A policy to snapshot: its current version's text.
#[derive(Clone, Debug, QueryableByName)]
pub struct SnapshotSource {
    #[diesel(sql_type = sql_types::Uuid)]
    pub policy_id: Uuid,
    #[diesel(sql_type = sql_types::Uuid)]
    pub tenant_id: Uuid,
    #[diesel(sql_type = sql_types::Text)]
    pub contract_type: String,
    #[diesel(sql_type = sql_types::Text)]
    pub display_name: String,
    #[diesel(sql_type = sql_types::Text)]
    pub lifecycle_state: String,
    #[diesel(sql_type = sql_types::Integer)]
    pub version: i32,
    #[diesel(sql_type = sql_types::Text)]
    pub payload_hash: String,
    #[diesel(sql_type = sql_types::Text)]
    pub payload: String,
    #[diesel(sql_type = sql_types::Integer)]
    pub setting_count: i32,
}

const SNAPSHOT_SELECT: &str = "SELECT p.id AS policy_id, p.tenant_id, p.contract_type, p.display_name, \
            p.lifecycle_state, p.version_count AS version, p.payload_hash, v.payload, p.setting_count \
     FROM policies p JOIN policy_versions v ON v.policy_id = p.id AND v.version = p.version_count";

/// Current versions of a tenant's policies (all of them, or only ACTIVE ones).
pub async fn list_tenant_snapshots(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: TenantId,
    active_only: bool,
) -> AppResult<Vec<SnapshotSource>> {
    Ok(diesel::sql_query(format!(
        "{SNAPSHOT_SELECT} WHERE p.workspace_id = $1 AND v.workspace_id = $1 AND p.tenant_id = $2 \
           AND ($3 = false OR p.lifecycle_state = 'ACTIVE') ORDER BY p.display_name, p.id"
    ))
    .bind::<sql_types::Uuid, _>(workspace.0)
    .bind::<sql_types::Uuid, _>(tenant.0)
    .bind::<sql_types::Bool, _>(active_only)
    .load(conn)
    .await?)
}

/// Current versions of given policies of a workspace.
pub async fn list_policy_snapshots(
    conn: &mut Conn,
    workspace: WorkspaceId,
    ids: &[Uuid],
) -> AppResult<Vec<SnapshotSource>> {
    Ok(diesel::sql_query(format!(
        "{SNAPSHOT_SELECT} WHERE p.workspace_id = $1 AND v.workspace_id = $1 AND p.id = ANY($2) \
         ORDER BY p.display_name, p.id"
    ))
    .bind::<sql_types::Uuid, _>(workspace.0)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(ids)
    .load(conn)
    .await?)
}

/// What an evaluation needs of a tenant policy before reading its payload.
#[derive(Clone, Debug, QueryableByName)]
pub struct PolicyMeta {
    #[diesel(sql_type = sql_types::Uuid)]
    pub policy_id: Uuid,
    #[diesel(sql_type = sql_types::Text)]
    pub contract_type: String,
    #[diesel(sql_type = sql_types::Text)]
    pub display_name: String,
    #[diesel(sql_type = sql_types::Text)]
    pub lifecycle_state: String,
    #[diesel(sql_type = sql_types::Integer)]
    pub version: i32,
    #[diesel(sql_type = sql_types::Nullable<sql_types::Text>)]
    pub settings_digest: Option<String>,
    #[diesel(sql_type = sql_types::Nullable<sql_types::Text>)]
    pub template_id: Option<String>,
}

/// Every policy of a tenant with its current version's drift metadata.
pub async fn list_tenant_policy_meta(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: TenantId,
) -> AppResult<Vec<PolicyMeta>> {
    Ok(diesel::sql_query(
        "SELECT p.id AS policy_id, p.contract_type, p.display_name, p.lifecycle_state, p.version_count AS version, \
                v.settings_digest, v.template_id \
         FROM policies p JOIN policy_versions v ON v.policy_id = p.id AND v.version = p.version_count \
         WHERE p.workspace_id = $1 AND v.workspace_id = $1 AND p.tenant_id = $2 ORDER BY p.display_name, p.id",
    )
    .bind::<sql_types::Uuid, _>(workspace.0)
    .bind::<sql_types::Uuid, _>(tenant.0)
    .load(conn)
    .await?)
}

/// Records versions' drift metadata (computed once: versions never change).
pub async fn set_version_meta(
    conn: &mut Conn,
    workspace: WorkspaceId,
    rows: &[(Uuid, i32, String, Option<String>)],
) -> AppResult<()> {
    for chunk in rows.chunks(2000) {
        diesel::sql_query(
            "UPDATE policy_versions v SET settings_digest = t.digest, template_id = t.template \
             FROM unnest($2::uuid[], $3::int4[], $4::text[], $5::text[]) AS t(policy_id, version, digest, template) \
             WHERE v.policy_id = t.policy_id AND v.version = t.version AND v.workspace_id = $1",
        )
        .bind::<sql_types::Uuid, _>(workspace.0)
        .bind::<sql_types::Array<sql_types::Uuid>, _>(chunk.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind::<sql_types::Array<sql_types::Integer>, _>(chunk.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind::<sql_types::Array<sql_types::Text>, _>(chunk.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
        .bind::<sql_types::Array<sql_types::Nullable<sql_types::Text>>, _>(
            chunk.iter().map(|r| r.3.as_deref()).collect::<Vec<_>>(),
        )
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// (id, tenant, contract type) of a policy in a workspace.
pub async fn find_policy_brief(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
) -> AppResult<Option<(Uuid, Uuid, String)>> {
    Ok(policies::table
        .filter(policies::workspace_id.eq(workspace.0))
        .filter(policies::id.eq(id))
        .select((policies::id, policies::tenant_id, policies::contract_type))
        .first(conn)
        .await
        .optional()?)
}
