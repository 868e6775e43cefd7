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
    pub payload_hash: String,
    pub assignments: Value,
    pub lifecycle_state: String,
    pub version_count: i32,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub restored_at: Option<DateTime<Utc>>,
    pub source_folder: Option<String>,
    pub setting_count: i32,
    pub secret_fields: Value,
    pub redaction_count: i32,
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
    pub secret_fields: Value,
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
            policies::secret_fields,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|h| ((h.contract_type.clone(), h.external_id.clone()), h))
        .collect())
}

/// A policy as read from a source: the row's columns and the payload of its version.
#[derive(Clone, Debug)]
pub struct NewPolicy {
    pub workspace_id: Uuid,
    pub tenant_id: Uuid,
    pub contract_type: String,
    pub external_id: String,
    pub display_name: String,
    pub platform: String,
    pub odata_type: Option<String>,
    pub payload_hash: String,
    pub assignments: Value,
    pub source_folder: Option<String>,
    pub setting_count: i32,
    /// Where the (redacted) payload holds secrets: `[SecretField]`.
    pub secret_fields: Value,
    pub redaction_count: i32,
    /// The payload's JSON text, redacted, stored in the policy's version (not on the
    /// policy row).
    pub payload: String,
}

#[derive(QueryableByName)]
struct InsertedKey {
    #[diesel(sql_type = sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = sql_types::Text)]
    contract_type: String,
    #[diesel(sql_type = sql_types::Text)]
    external_id: String,
}

/// Inserts new policies (of one tenant) with their first version, in two statements
/// whatever their number (arrays, not one bind parameter per value). Returns the new ids
/// in the order of `new`.
pub async fn insert_policies(
    conn: &mut Conn,
    new: &[NewPolicy],
    run: Option<Uuid>,
) -> AppResult<Vec<Uuid>> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let col = |f: fn(&NewPolicy) -> &str| new.iter().map(f).collect::<Vec<&str>>();
    let rows: Vec<InsertedKey> = diesel::sql_query(
        "INSERT INTO policies (workspace_id, tenant_id, contract_type, external_id, display_name, \
                               platform, odata_type, payload_hash, assignments, source_folder, setting_count, \
                               secret_fields, redaction_count) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], \
                              $7::text[], $8::text[], $9::jsonb[], $10::text[], $11::int4[], $12::jsonb[], $13::int4[]) \
         RETURNING id, contract_type, external_id",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(new.iter().map(|p| p.workspace_id).collect::<Vec<_>>())
    .bind::<sql_types::Array<sql_types::Uuid>, _>(new.iter().map(|p| p.tenant_id).collect::<Vec<_>>())
    .bind::<sql_types::Array<sql_types::Text>, _>(col(|p| &p.contract_type))
    .bind::<sql_types::Array<sql_types::Text>, _>(col(|p| &p.external_id))
    .bind::<sql_types::Array<sql_types::Text>, _>(col(|p| &p.display_name))
    .bind::<sql_types::Array<sql_types::Text>, _>(col(|p| &p.platform))
    .bind::<sql_types::Array<sql_types::Nullable<sql_types::Text>>, _>(
        new.iter().map(|p| p.odata_type.as_deref()).collect::<Vec<_>>(),
    )
    .bind::<sql_types::Array<sql_types::Text>, _>(col(|p| &p.payload_hash))
    .bind::<sql_types::Array<sql_types::Jsonb>, _>(new.iter().map(|p| &p.assignments).collect::<Vec<_>>())
    .bind::<sql_types::Array<sql_types::Nullable<sql_types::Text>>, _>(
        new.iter().map(|p| p.source_folder.as_deref()).collect::<Vec<_>>(),
    )
    .bind::<sql_types::Array<sql_types::Integer>, _>(new.iter().map(|p| p.setting_count).collect::<Vec<_>>())
    .bind::<sql_types::Array<sql_types::Jsonb>, _>(new.iter().map(|p| &p.secret_fields).collect::<Vec<_>>())
    .bind::<sql_types::Array<sql_types::Integer>, _>(new.iter().map(|p| p.redaction_count).collect::<Vec<_>>())
    .load(conn)
    .await?;
    let by_key: HashMap<(&str, &str), Uuid> = rows
        .iter()
        .map(|r| ((r.contract_type.as_str(), r.external_id.as_str()), r.id))
        .collect();
    let ids: Vec<Uuid> = new
        .iter()
        .filter_map(|p| {
            by_key
                .get(&(p.contract_type.as_str(), p.external_id.as_str()))
                .copied()
        })
        .collect();
    if ids.len() != new.len() {
        return Err(crate::error::AppError::internal(
            "inserted policies do not match their input",
        ));
    }
    let versions: Vec<VersionInsert<'_>> = ids
        .iter()
        .zip(new)
        .map(|(id, p)| VersionInsert {
            policy_id: *id,
            workspace_id: p.workspace_id,
            version: 1,
            payload_hash: &p.payload_hash,
            payload: &p.payload,
            secret_fields: &p.secret_fields,
            secret_changes: None,
        })
        .collect();
    insert_versions(conn, &versions, run).await?;
    Ok(ids)
}

/// One version to record.
pub struct VersionInsert<'a> {
    pub policy_id: Uuid,
    pub workspace_id: Uuid,
    pub version: i32,
    pub payload_hash: &'a str,
    /// JSON text, serialised from (or checked against) the parsed payload.
    pub payload: &'a str,
    pub secret_fields: &'a Value,
    /// Secrets added, changed or removed since the previous version (none for a first).
    pub secret_changes: Option<&'a Value>,
}

/// Records versions, in one statement.
pub async fn insert_versions(
    conn: &mut Conn,
    versions: &[VersionInsert<'_>],
    run: Option<Uuid>,
) -> AppResult<()> {
    if versions.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "INSERT INTO policy_versions (policy_id, workspace_id, version, payload_hash, payload, operation_run_id, \
                                      secret_fields, secret_changes) \
         SELECT policy_id, workspace_id, version, payload_hash, payload, $6, secret_fields, secret_changes \
         FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::text[], $7::jsonb[], $8::jsonb[]) \
              AS t(policy_id, workspace_id, version, payload_hash, payload, secret_fields, secret_changes)",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(versions.iter().map(|v| v.policy_id).collect::<Vec<_>>())
    .bind::<sql_types::Array<sql_types::Uuid>, _>(versions.iter().map(|v| v.workspace_id).collect::<Vec<_>>())
    .bind::<sql_types::Array<sql_types::Integer>, _>(versions.iter().map(|v| v.version).collect::<Vec<_>>())
    .bind::<sql_types::Array<sql_types::Text>, _>(versions.iter().map(|v| v.payload_hash).collect::<Vec<_>>())
    .bind::<sql_types::Array<sql_types::Text>, _>(versions.iter().map(|v| v.payload).collect::<Vec<_>>())
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(run)
    .bind::<sql_types::Array<sql_types::Jsonb>, _>(versions.iter().map(|v| v.secret_fields).collect::<Vec<_>>())
    .bind::<sql_types::Array<sql_types::Jsonb>, _>(
        versions
            .iter()
            .map(|v| v.secret_changes.cloned().unwrap_or_else(|| Value::Array(Vec::new())))
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Lets the current transaction commit without waiting for its WAL to reach disk. Used
/// for an import's batches only: a crash can lose the last fraction of a second of them,
/// which the interrupted run's retry (or the next sync) reads again; the sync's final
/// transaction commits durably, and with it every batch before it.
pub async fn relax_commit_durability(conn: &mut Conn) -> AppResult<()> {
    diesel::sql_query("SET LOCAL synchronous_commit = off")
        .execute(conn)
        .await?;
    Ok(())
}

/// Points a policy at its new current version (recorded with [`insert_versions`]) and
/// updates the columns read from it. Restores it if it was deleted.
pub async fn update_policy_head(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
    new: &NewPolicy,
    next_version: i32,
    restore: bool,
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
        policies::payload_hash.eq(&new.payload_hash),
        policies::setting_count.eq(new.setting_count),
        policies::secret_fields.eq(&new.secret_fields),
        policies::redaction_count.eq(new.redaction_count),
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

/// Policies of a workspace that hold secrets (or secret placeholders).
fn with_secrets(workspace: WorkspaceId) -> policies::BoxedQuery<'static, Pg> {
    policies::table
        .filter(policies::workspace_id.eq(workspace.0))
        .filter(diesel::dsl::sql::<sql_types::Bool>(
            "(redaction_count > 0 OR secret_fields <> '[]'::jsonb)",
        ))
        .into_boxed()
}

pub async fn count_secret_policies(conn: &mut Conn, workspace: WorkspaceId) -> AppResult<i64> {
    Ok(with_secrets(workspace).count().get_result(conn).await?)
}

pub async fn list_secret_policies(
    conn: &mut Conn,
    workspace: WorkspaceId,
    window: Window,
) -> AppResult<Vec<PolicyRow>> {
    Ok(with_secrets(workspace)
        .select(PolicyRow::as_select())
        .order_by((policies::display_name.asc(), policies::id.asc()))
        .offset(window.offset)
        .limit(window.limit)
        .load(conn)
        .await?)
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
                payload_hash, assignments, lifecycle_state, version_count, first_seen_at, \
                last_seen_at, updated_at, deleted_at, restored_at, source_folder, setting_count, \
                secret_fields, redaction_count \
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
    pub payload: String,
    pub operation_run_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub secret_fields: Value,
    pub secret_changes: Value,
}

/// Newest-first windows of versions for several policies, in one statement.
pub async fn list_versions_by_policies(
    conn: &mut Conn,
    workspaces: &[Uuid],
    policies: &[Uuid],
    window: Window,
) -> AppResult<Vec<PolicyVersionRow>> {
    Ok(diesel::sql_query(
        "SELECT id, policy_id, workspace_id, version, payload_hash, payload, operation_run_id, created_at, \
                secret_fields, secret_changes \
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

#[derive(QueryableByName)]
struct PayloadRow {
    #[diesel(sql_type = sql_types::Uuid)]
    policy_id: Uuid,
    #[diesel(sql_type = sql_types::Text)]
    payload: String,
}

/// Parses a stored payload (JSON text written by the import).
pub fn parse_stored_payload(text: &str) -> AppResult<Value> {
    serde_json::from_str(text).map_err(crate::error::AppError::internal)
}

/// The payload texts of given versions (policy id, version number) of the given
/// workspaces' policies, in one statement.
pub async fn list_version_texts(
    conn: &mut Conn,
    workspaces: &[Uuid],
    keys: &[(Uuid, i32)],
) -> AppResult<Vec<(Uuid, String)>> {
    let (ids, versions): (Vec<Uuid>, Vec<i32>) = keys.iter().copied().unzip();
    let rows: Vec<PayloadRow> = diesel::sql_query(
        "SELECT v.policy_id, v.payload FROM policy_versions v \
         JOIN unnest($2::uuid[], $3::int4[]) AS k(policy_id, version) \
           ON v.policy_id = k.policy_id AND v.version = k.version \
         WHERE v.workspace_id = ANY($1)",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(&ids)
    .bind::<sql_types::Array<sql_types::Integer>, _>(&versions)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.policy_id, r.payload)).collect())
}

/// [`list_version_texts`], parsed.
pub async fn list_version_payloads(
    conn: &mut Conn,
    workspaces: &[Uuid],
    keys: &[(Uuid, i32)],
) -> AppResult<Vec<(Uuid, Value)>> {
    list_version_texts(conn, workspaces, keys)
        .await?
        .into_iter()
        .map(|(id, text)| Ok((id, parse_stored_payload(&text)?)))
        .collect()
}
