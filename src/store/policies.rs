//! Policies and their versions.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::{pg::Pg, prelude::*, sql_types};
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use super::{like_contains, Conn, Window};
use crate::{
    db::schema::{policies, policy_versions},
    domain::ids::{TenantId, WorkspaceId},
    error::AppResult,
};

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, PartialEq)]
#[diesel(table_name = policies)]
pub struct PolicyRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub tenant_id: Uuid,
    pub contract_type: String,
    pub external_id: String,
    pub display_name: String,
    pub platform: String,
    pub odata_type: Option<String>,
    pub payload: Value,
    pub payload_hash: String,
    pub settings: Value,
    pub assignments: Value,
    pub lifecycle_state: String,
    pub version_count: i32,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub restored_at: Option<DateTime<Utc>>,
    pub source_folder: Option<String>,
}

/// What a sync needs to know about an existing policy.
#[derive(Clone, Debug, Queryable, PartialEq, Eq)]
pub struct PolicyHead {
    pub id: Uuid,
    pub contract_type: String,
    pub external_id: String,
    pub display_name: String,
    pub payload_hash: String,
    pub lifecycle_state: String,
    pub version_count: i32,
    pub source_folder: Option<String>,
}

/// Every policy of a tenant, keyed by (contract type, external id).
pub async fn list_policy_heads(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: TenantId,
) -> AppResult<HashMap<(String, String), PolicyHead>> {
    let rows: Vec<PolicyHead> = policies::table
        .filter(policies::workspace_id.eq(workspace.0))
        .filter(policies::tenant_id.eq(tenant.0))
        .select((
            policies::id,
            policies::contract_type,
            policies::external_id,
            policies::display_name,
            policies::payload_hash,
            policies::lifecycle_state,
            policies::version_count,
            policies::source_folder,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|h| ((h.contract_type.clone(), h.external_id.clone()), h))
        .collect())
}

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = policies)]
pub struct NewPolicy {
    pub workspace_id: Uuid,
    pub tenant_id: Uuid,
    pub contract_type: String,
    pub external_id: String,
    pub display_name: String,
    pub platform: String,
    pub odata_type: Option<String>,
    pub payload: Value,
    pub payload_hash: String,
    pub settings: Value,
    pub assignments: Value,
    pub source_folder: Option<String>,
}

/// Inserts new policies with their first version, in two statements.
pub async fn insert_policies(
    conn: &mut Conn,
    new: &[NewPolicy],
    run: Option<Uuid>,
) -> AppResult<Vec<Uuid>> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    // PostgreSQL takes at most 65,535 bind parameters per statement: 12 columns x 1,000
    // rows stays well below.
    let mut ids: Vec<Uuid> = Vec::with_capacity(new.len());
    for chunk in new.chunks(1_000) {
        let chunk_ids: Vec<Uuid> = diesel::insert_into(policies::table)
            .values(chunk)
            .returning(policies::id)
            .get_results(conn)
            .await?;
        ids.extend(chunk_ids);
    }
    let versions: Vec<_> = ids
        .iter()
        .zip(new)
        .map(|(id, p)| {
            (
                policy_versions::policy_id.eq(*id),
                policy_versions::workspace_id.eq(p.workspace_id),
                policy_versions::version.eq(1),
                policy_versions::payload_hash.eq(&p.payload_hash),
                policy_versions::payload.eq(&p.payload),
                policy_versions::operation_run_id.eq(run),
            )
        })
        .collect();
    for chunk in versions.chunks(1_000) {
        diesel::insert_into(policy_versions::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    Ok(ids)
}

/// Replaces a policy's payload and records the new version. Restores it if it was deleted.
pub async fn update_policy_payload(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
    new: &NewPolicy,
    next_version: i32,
    restore: bool,
    run: Option<Uuid>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    diesel::update(
        policies::table
            .filter(policies::workspace_id.eq(workspace.0))
            .filter(policies::id.eq(id)),
    )
    .set((
        policies::display_name.eq(&new.display_name),
        policies::platform.eq(&new.platform),
        policies::odata_type.eq(&new.odata_type),
        policies::payload.eq(&new.payload),
        policies::payload_hash.eq(&new.payload_hash),
        policies::settings.eq(&new.settings),
        policies::assignments.eq(&new.assignments),
        policies::source_folder.eq(&new.source_folder),
        policies::version_count.eq(next_version),
        policies::last_seen_at.eq(now),
        policies::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    if restore {
        restore_policies(conn, workspace, &[id], now).await?;
    }
    diesel::insert_into(policy_versions::table)
        .values((
            policy_versions::policy_id.eq(id),
            policy_versions::workspace_id.eq(workspace.0),
            policy_versions::version.eq(next_version),
            policy_versions::payload_hash.eq(&new.payload_hash),
            policy_versions::payload.eq(&new.payload),
            policy_versions::operation_run_id.eq(run),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks deleted policies active again.
pub async fn restore_policies(
    conn: &mut Conn,
    workspace: WorkspaceId,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(
        policies::table
            .filter(policies::workspace_id.eq(workspace.0))
            .filter(policies::id.eq_any(ids)),
    )
    .set((
        policies::lifecycle_state.eq("ACTIVE"),
        policies::restored_at.eq(now),
        policies::last_seen_at.eq(now),
        policies::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks policies deleted, keeping their last snapshot.
pub async fn mark_policies_deleted(
    conn: &mut Conn,
    workspace: WorkspaceId,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(
        policies::table
            .filter(policies::workspace_id.eq(workspace.0))
            .filter(policies::id.eq_any(ids))
            .filter(policies::lifecycle_state.eq("ACTIVE")),
    )
    .set((
        policies::lifecycle_state.eq("DELETED"),
        policies::deleted_at.eq(now),
        policies::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Filter of policy lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PolicyQuery {
    pub tenant: Option<Uuid>,
    pub contract_type: Option<String>,
    pub platform: Option<String>,
    pub lifecycle_state: Option<String>,
    pub search: Option<String>,
}

fn filtered(workspaces: &[Uuid], q: &PolicyQuery) -> policies::BoxedQuery<'static, Pg> {
    let mut query = policies::table
        .filter(policies::workspace_id.eq_any(workspaces.to_vec()))
        .into_boxed();
    if let Some(t) = q.tenant {
        query = query.filter(policies::tenant_id.eq(t));
    }
    if let Some(c) = &q.contract_type {
        query = query.filter(policies::contract_type.eq(c.clone()));
    }
    if let Some(p) = &q.platform {
        query = query.filter(policies::platform.eq(p.clone()));
    }
    if let Some(s) = &q.lifecycle_state {
        query = query.filter(policies::lifecycle_state.eq(s.clone()));
    }
    if let Some(s) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(policies::display_name.ilike(like_contains(s)));
    }
    query
}

pub async fn count_policies(
    conn: &mut Conn,
    workspace: WorkspaceId,
    q: &PolicyQuery,
) -> AppResult<i64> {
    Ok(filtered(&[workspace.0], q).count().get_result(conn).await?)
}

pub async fn list_policies(
    conn: &mut Conn,
    workspace: WorkspaceId,
    q: &PolicyQuery,
    window: Window,
) -> AppResult<Vec<PolicyRow>> {
    Ok(filtered(&[workspace.0], q)
        .select(PolicyRow::as_select())
        .order_by((policies::display_name.asc(), policies::id.asc()))
        .offset(window.offset)
        .limit(window.limit)
        .load(conn)
        .await?)
}

/// The filter of per-tenant policy queries: $1 workspaces, $2 tenants, $3 contract type,
/// $4 platform, $5 lifecycle state, $6 display-name ILIKE pattern (NULL: any).
const TENANT_FILTER: &str = "workspace_id = ANY($1) AND tenant_id = ANY($2) \
    AND ($3::text IS NULL OR contract_type = $3) AND ($4::text IS NULL OR platform = $4) \
    AND ($5::text IS NULL OR lifecycle_state = $5) AND ($6::text IS NULL OR display_name ILIKE $6)";

#[derive(QueryableByName)]
struct KeyCount {
    #[diesel(sql_type = sql_types::Uuid)]
    key: Uuid,
    #[diesel(sql_type = sql_types::BigInt)]
    n: i64,
}

/// Policy counts per tenant, for several tenants of the given workspaces, in one statement.
pub async fn count_policies_by_tenants(
    conn: &mut Conn,
    workspaces: &[Uuid],
    tenants: &[Uuid],
    q: &PolicyQuery,
) -> AppResult<Vec<(Uuid, i64)>> {
    let rows: Vec<KeyCount> = diesel::sql_query(
        format!("SELECT tenant_id AS key, count(*) AS n FROM policies WHERE {TENANT_FILTER} GROUP BY tenant_id"),
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(tenants)
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.contract_type.clone())
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.platform.clone())
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.lifecycle_state.clone())
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.search.as_deref().map(like_contains))
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.key, r.n)).collect())
}

/// The same window of policies for several tenants, in one statement.
pub async fn list_policies_by_tenants(
    conn: &mut Conn,
    workspaces: &[Uuid],
    tenants: &[Uuid],
    q: &PolicyQuery,
    window: Window,
) -> AppResult<Vec<PolicyRow>> {
    Ok(diesel::sql_query(format!(
        "SELECT id, workspace_id, tenant_id, contract_type, external_id, display_name, platform, odata_type, \
                payload, payload_hash, settings, assignments, lifecycle_state, version_count, first_seen_at, \
                last_seen_at, updated_at, deleted_at, restored_at, source_folder \
         FROM (SELECT p.*, row_number() OVER (PARTITION BY tenant_id ORDER BY display_name, id) AS rn \
               FROM policies p WHERE {TENANT_FILTER}) ranked \
         WHERE rn > $7 AND rn <= $7 + $8 ORDER BY tenant_id, rn"
    ))
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(tenants)
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.contract_type.clone())
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.platform.clone())
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.lifecycle_state.clone())
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.search.as_deref().map(like_contains))
    .bind::<sql_types::BigInt, _>(window.offset)
    .bind::<sql_types::BigInt, _>(window.limit)
    .load(conn)
    .await?)
}

/// Policies by id, restricted to the given workspaces.
pub async fn list_policies_by_ids(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<PolicyRow>> {
    Ok(policies::table
        .filter(policies::workspace_id.eq_any(workspaces))
        .filter(policies::id.eq_any(ids))
        .select(PolicyRow::as_select())
        .load(conn)
        .await?)
}

/// The workspace of a policy (for the access check before reading it).
pub async fn find_policy_workspace(conn: &mut Conn, id: Uuid) -> AppResult<Option<Uuid>> {
    Ok(policies::table
        .filter(policies::id.eq(id))
        .select(policies::workspace_id)
        .first(conn)
        .await
        .optional()?)
}

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, PartialEq)]
#[diesel(table_name = policy_versions)]
pub struct PolicyVersionRow {
    pub id: Uuid,
    pub policy_id: Uuid,
    pub workspace_id: Uuid,
    pub version: i32,
    pub payload_hash: String,
    pub payload: Value,
    pub operation_run_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Newest-first windows of versions for several policies, in one statement.
pub async fn list_versions_by_policies(
    conn: &mut Conn,
    workspaces: &[Uuid],
    policies: &[Uuid],
    window: Window,
) -> AppResult<Vec<PolicyVersionRow>> {
    Ok(diesel::sql_query(
        "SELECT id, policy_id, workspace_id, version, payload_hash, payload, operation_run_id, created_at \
         FROM (SELECT v.*, row_number() OVER (PARTITION BY policy_id ORDER BY version DESC) AS rn \
               FROM policy_versions v WHERE workspace_id = ANY($1) AND policy_id = ANY($2)) ranked \
         WHERE rn > $3 AND rn <= $3 + $4 ORDER BY policy_id, version DESC",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(policies)
    .bind::<sql_types::BigInt, _>(window.offset)
    .bind::<sql_types::BigInt, _>(window.limit)
    .load(conn)
    .await?)
}
