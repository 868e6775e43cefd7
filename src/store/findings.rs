//! Findings, their comments and history, and compliance snapshots.
use chrono::{DateTime, NaiveDate, Utc};
use diesel::{prelude::*, sql_types};
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use super::{Conn, Window};
use crate::{
    db::schema::{compliance_snapshots, finding_comments, finding_history, findings},
    domain::ids::{TenantId, WorkspaceId},
    error::AppResult,
};

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, PartialEq)]
#[diesel(table_name = findings)]
pub struct FindingRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub tenant_id: Uuid,
    pub baseline_id: Uuid,
    pub lineage_id: Uuid,
    pub policy_id: Option<Uuid>,
    pub fingerprint: String,
    pub kind: String,
    pub severity: String,
    pub severity_rank: i16,
    pub weight: i64,
    pub status: String,
    pub title: String,
    pub setting_path: Option<String>,
    pub expected_value: Option<Value>,
    pub actual_value: Option<Value>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub reopen_count: i32,
    pub assignee_user_id: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

/// What an evaluation needs to know about an existing finding.
#[derive(Clone, Debug, Queryable, PartialEq, Eq)]
pub struct FindingState {
    pub id: Uuid,
    pub baseline_id: Uuid,
    pub fingerprint: String,
    pub status: String,
    pub severity: String,
    pub weight: i64,
}

/// Serialises evaluations of one tenant (held until the transaction ends).
pub async fn lock_tenant_findings(conn: &mut Conn, tenant: TenantId) -> AppResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended('findings:' || $1::text, 0))")
        .bind::<sql_types::Uuid, _>(tenant.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Serialises writers of a workspace's compliance snapshot (held until the transaction
/// ends; taken last, so the totals read after it include every earlier commit).
pub async fn lock_workspace_compliance(conn: &mut Conn, workspace: WorkspaceId) -> AppResult<()> {
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(hashtextextended('compliance:' || $1::text, 0))",
    )
    .bind::<sql_types::Uuid, _>(workspace.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// Starts an evaluation's transaction in one statement: takes the tenant's findings lock
/// and lets the commit skip the WAL flush (an evaluation can always be redone; the run's
/// durable finish flushes it, WAL being written in order).
pub async fn begin_evaluation(conn: &mut Conn, tenant: TenantId) -> AppResult<()> {
    diesel::sql_query(
        "SELECT set_config('synchronous_commit', 'off', true), \
                pg_advisory_xact_lock(hashtextextended('findings:' || $1::text, 0))",
    )
    .bind::<sql_types::Uuid, _>(tenant.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every finding of a tenant, locked for update.
pub async fn list_tenant_finding_states(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: TenantId,
) -> AppResult<Vec<FindingState>> {
    Ok(findings::table
        .filter(findings::workspace_id.eq(workspace.0))
        .filter(findings::tenant_id.eq(tenant.0))
        .select((
            findings::id,
            findings::baseline_id,
            findings::fingerprint,
            findings::status,
            findings::severity,
            findings::weight,
        ))
        .for_update()
        .load(conn)
        .await?)
}

/// A finding as detected by an evaluation.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = findings)]
pub struct NewFinding {
    pub workspace_id: Uuid,
    pub tenant_id: Uuid,
    pub baseline_id: Uuid,
    pub lineage_id: Uuid,
    pub policy_id: Option<Uuid>,
    pub fingerprint: String,
    pub kind: String,
    pub severity: String,
    pub severity_rank: i16,
    pub weight: i64,
    pub title: String,
    pub setting_path: Option<String>,
    pub expected_value: Option<Value>,
    pub actual_value: Option<Value>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// Inserts new findings; returns their ids in input order.
pub async fn insert_findings(conn: &mut Conn, new: &[NewFinding]) -> AppResult<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(new.len());
    // 16 columns per row: chunks stay far below PostgreSQL's bind limit.
    for chunk in new.chunks(1000) {
        let got: Vec<Uuid> = diesel::insert_into(findings::table)
            .values(chunk)
            .returning(findings::id)
            .get_results(conn)
            .await?;
        ids.extend(got);
    }
    Ok(ids)
}

/// Refreshes findings detected again: what they show now, and `last_seen_at`.
pub async fn refresh_findings(
    conn: &mut Conn,
    workspace: WorkspaceId,
    rows: &[(Uuid, &NewFinding)],
    now: DateTime<Utc>,
) -> AppResult<()> {
    for chunk in rows.chunks(2000) {
        diesel::sql_query(
            "UPDATE findings f SET severity = t.severity, severity_rank = t.rank, weight = t.weight, \
                    title = t.title, expected_value = t.expected, actual_value = t.actual, \
                    policy_id = t.policy_id, last_seen_at = $2, updated_at = $2 \
             FROM unnest($3::uuid[], $4::text[], $5::int2[], $6::int8[], $7::text[], $8::jsonb[], $9::jsonb[], $10::uuid[]) \
                  AS t(id, severity, rank, weight, title, expected, actual, policy_id) \
             WHERE f.id = t.id AND f.workspace_id = $1",
        )
        .bind::<sql_types::Uuid, _>(workspace.0)
        .bind::<sql_types::Timestamptz, _>(now)
        .bind::<sql_types::Array<sql_types::Uuid>, _>(chunk.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind::<sql_types::Array<sql_types::Text>, _>(chunk.iter().map(|(_, f)| f.severity.as_str()).collect::<Vec<_>>())
        .bind::<sql_types::Array<sql_types::SmallInt>, _>(chunk.iter().map(|(_, f)| f.severity_rank).collect::<Vec<_>>())
        .bind::<sql_types::Array<sql_types::BigInt>, _>(chunk.iter().map(|(_, f)| f.weight).collect::<Vec<_>>())
        .bind::<sql_types::Array<sql_types::Text>, _>(chunk.iter().map(|(_, f)| f.title.as_str()).collect::<Vec<_>>())
        .bind::<sql_types::Array<sql_types::Nullable<sql_types::Jsonb>>, _>(
            chunk.iter().map(|(_, f)| f.expected_value.as_ref()).collect::<Vec<_>>(),
        )
        .bind::<sql_types::Array<sql_types::Nullable<sql_types::Jsonb>>, _>(
            chunk.iter().map(|(_, f)| f.actual_value.as_ref()).collect::<Vec<_>>(),
        )
        .bind::<sql_types::Array<sql_types::Nullable<sql_types::Uuid>>, _>(
            chunk.iter().map(|(_, f)| f.policy_id).collect::<Vec<_>>(),
        )
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Sets the status of findings (evaluation transitions): reopening clears the resolution
/// and counts the reopen; resolving records when and why.
pub async fn set_statuses(
    conn: &mut Conn,
    workspace: WorkspaceId,
    ids: &[Uuid],
    status: &str,
    resolution: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let resolved = status == "RESOLVED";
    diesel::update(
        findings::table
            .filter(findings::workspace_id.eq(workspace.0))
            .filter(findings::id.eq_any(ids)),
    )
    .set((
        findings::status.eq(status),
        findings::resolution.eq(resolution),
        findings::resolved_at.eq(resolved.then_some(now)),
        findings::reopen_count.eq(findings::reopen_count + if resolved { 0 } else { 1 }),
        findings::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// A history entry to record.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = finding_history)]
pub struct NewHistory {
    pub finding_id: Uuid,
    pub workspace_id: Uuid,
    pub action: String,
    pub actor: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

pub async fn insert_history(conn: &mut Conn, rows: &[NewHistory]) -> AppResult<()> {
    for chunk in rows.chunks(2000) {
        diesel::insert_into(finding_history::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The workspace of a finding (for the access check before reading it).
pub async fn find_finding_workspace(conn: &mut Conn, id: Uuid) -> AppResult<Option<Uuid>> {
    Ok(findings::table
        .filter(findings::id.eq(id))
        .select(findings::workspace_id)
        .first(conn)
        .await
        .optional()?)
}

/// One finding, locked for update (workflow steps).
pub async fn lock_finding(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
) -> AppResult<Option<FindingRow>> {
    Ok(findings::table
        .filter(findings::workspace_id.eq(workspace.0))
        .filter(findings::id.eq(id))
        .select(FindingRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// A workflow step's change.
pub async fn update_workflow(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
    status: &str,
    resolution: Option<&str>,
    assignee: Option<Option<Uuid>>,
    now: DateTime<Utc>,
) -> AppResult<FindingRow> {
    let resolved = status == "RESOLVED";
    let target = findings::table
        .filter(findings::workspace_id.eq(workspace.0))
        .filter(findings::id.eq(id));
    let row = match assignee {
        Some(a) => {
            diesel::update(target)
                .set((
                    findings::assignee_user_id.eq(a),
                    findings::updated_at.eq(now),
                ))
                .returning(FindingRow::as_returning())
                .get_result(conn)
                .await?
        }
        None => {
            diesel::update(target)
                .set((
                    findings::status.eq(status),
                    findings::resolution.eq(resolution),
                    findings::resolved_at.eq(resolved.then_some(now)),
                    findings::updated_at.eq(now),
                ))
                .returning(FindingRow::as_returning())
                .get_result(conn)
                .await?
        }
    };
    Ok(row)
}

pub async fn insert_comment(
    conn: &mut Conn,
    workspace: WorkspaceId,
    finding: Uuid,
    author: &str,
    body: &str,
) -> AppResult<CommentRow> {
    Ok(diesel::insert_into(finding_comments::table)
        .values((
            finding_comments::finding_id.eq(finding),
            finding_comments::workspace_id.eq(workspace.0),
            finding_comments::author.eq(author),
            finding_comments::body.eq(body),
        ))
        .returning(CommentRow::as_returning())
        .get_result(conn)
        .await?)
}

#[derive(Clone, Debug, Queryable, Selectable, PartialEq)]
#[diesel(table_name = finding_comments)]
pub struct CommentRow {
    pub id: Uuid,
    pub finding_id: Uuid,
    pub workspace_id: Uuid,
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable, PartialEq)]
#[diesel(table_name = finding_history)]
pub struct HistoryRow {
    pub id: Uuid,
    pub finding_id: Uuid,
    pub workspace_id: Uuid,
    pub action: String,
    pub actor: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

pub async fn list_comments_by_findings(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<CommentRow>> {
    Ok(finding_comments::table
        .filter(finding_comments::workspace_id.eq_any(workspaces))
        .filter(finding_comments::finding_id.eq_any(ids))
        .order((
            finding_comments::created_at.asc(),
            finding_comments::id.asc(),
        ))
        .select(CommentRow::as_select())
        .load(conn)
        .await?)
}

pub async fn list_history_by_findings(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<HistoryRow>> {
    Ok(finding_history::table
        .filter(finding_history::workspace_id.eq_any(workspaces))
        .filter(finding_history::finding_id.eq_any(ids))
        .order((finding_history::at.asc(), finding_history::id.asc()))
        .select(HistoryRow::as_select())
        .load(conn)
        .await?)
}

pub async fn list_findings_by_ids(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<FindingRow>> {
    Ok(findings::table
        .filter(findings::workspace_id.eq_any(workspaces))
        .filter(findings::id.eq_any(ids))
        .select(FindingRow::as_select())
        .load(conn)
        .await?)
}

/// Sort of finding lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FindingOrder {
    /// Most severe first (then most recently seen).
    #[default]
    Severity,
    FirstSeen,
    LastSeen,
}

/// Filter and sort of finding lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FindingQuery {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub kind: Option<String>,
    pub tenant: Option<Uuid>,
    pub policy: Option<Uuid>,
    pub baseline: Option<Uuid>,
    pub order: FindingOrder,
    /// Ascending instead of the default descending.
    pub ascending: bool,
}

impl FindingQuery {
    fn order_sql(&self) -> String {
        let dir = if self.ascending { "ASC" } else { "DESC" };
        match self.order {
            FindingOrder::Severity => {
                format!("severity_rank {dir}, last_seen_at DESC, id")
            }
            FindingOrder::FirstSeen => format!("first_seen_at {dir}, id"),
            FindingOrder::LastSeen => format!("last_seen_at {dir}, id"),
        }
    }
}

/// Which parent a list of findings hangs from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FindingParent {
    Workspace,
    Tenant,
    Policy,
}

impl FindingParent {
    fn column(self) -> &'static str {
        match self {
            FindingParent::Workspace => "workspace_id",
            FindingParent::Tenant => "tenant_id",
            FindingParent::Policy => "policy_id",
        }
    }
}

const FILTERS: &str = "workspace_id = ANY($1) AND ($3::text IS NULL OR status = $3) \
    AND ($4::text IS NULL OR severity = $4) AND ($5::text IS NULL OR kind = $5) \
    AND ($6::uuid IS NULL OR tenant_id = $6) AND ($7::uuid IS NULL OR policy_id = $7) \
    AND ($8::uuid IS NULL OR baseline_id = $8)";

#[derive(QueryableByName)]
struct ParentCount {
    #[diesel(sql_type = sql_types::Uuid)]
    parent: Uuid,
    #[diesel(sql_type = sql_types::BigInt)]
    n: i64,
}

/// Filtered counts per parent, in one statement.
pub async fn count_findings(
    conn: &mut Conn,
    parent: FindingParent,
    workspaces: &[Uuid],
    parents: &[Uuid],
    q: &FindingQuery,
) -> AppResult<Vec<(Uuid, i64)>> {
    let col = parent.column();
    let rows: Vec<ParentCount> = diesel::sql_query(format!(
        "SELECT {col} AS parent, count(*) AS n FROM findings \
         WHERE {FILTERS} AND {col} = ANY($2) GROUP BY {col}"
    ))
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(parents)
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.status.as_deref())
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.severity.as_deref())
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.kind.as_deref())
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(q.tenant)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(q.policy)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(q.baseline)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.parent, r.n)).collect())
}

/// One filtered, sorted window of findings per parent, in one statement.
pub async fn list_findings(
    conn: &mut Conn,
    parent: FindingParent,
    workspaces: &[Uuid],
    parents: &[Uuid],
    q: &FindingQuery,
    window: Window,
) -> AppResult<Vec<FindingRow>> {
    let col = parent.column();
    let order = q.order_sql();
    Ok(diesel::sql_query(format!(
        "SELECT id, workspace_id, tenant_id, baseline_id, lineage_id, policy_id, fingerprint, kind, severity, \
                severity_rank, weight, status, title, setting_path, expected_value, actual_value, first_seen_at, \
                last_seen_at, resolved_at, resolution, reopen_count, assignee_user_id, updated_at \
         FROM (SELECT f.*, row_number() OVER (PARTITION BY {col} ORDER BY {order}) AS rn \
               FROM findings f WHERE {FILTERS} AND {col} = ANY($2)) ranked \
         WHERE rn > $9 AND rn <= $9 + $10 ORDER BY {col}, rn"
    ))
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(parents)
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.status.as_deref())
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.severity.as_deref())
    .bind::<sql_types::Nullable<sql_types::Text>, _>(q.kind.as_deref())
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(q.tenant)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(q.policy)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(q.baseline)
    .bind::<sql_types::BigInt, _>(window.offset)
    .bind::<sql_types::BigInt, _>(window.limit)
    .load(conn)
    .await?)
}

/// Weights and counts of a tenant's (or every tenant's) findings, by status class.
#[derive(Clone, Debug, Default, PartialEq, Eq, QueryableByName)]
pub struct FindingTotals {
    #[diesel(sql_type = sql_types::Uuid)]
    pub workspace_id: Uuid,
    #[diesel(sql_type = sql_types::Uuid)]
    pub tenant_id: Uuid,
    #[diesel(sql_type = sql_types::BigInt)]
    pub drift_weight: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    pub accepted_weight: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    pub open_critical: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    pub open_high: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    pub open_medium: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    pub open_low: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    pub open_info: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    pub accepted_count: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    pub total_weight: i64,
}

/// Per tenant of the workspace(s): checked weight (from the latest evaluations of assigned
/// baselines) and the weight of open and accepted findings of those baselines.
pub async fn finding_totals(
    conn: &mut Conn,
    workspaces: &[Uuid],
    tenants: Option<&[Uuid]>,
) -> AppResult<Vec<FindingTotals>> {
    Ok(diesel::sql_query(
        "WITH a AS (SELECT workspace_id, tenant_id, baseline_id, check_weight FROM baseline_assignments \
                    WHERE workspace_id = ANY($1) AND ($2::uuid[] IS NULL OR tenant_id = ANY($2)) \
                      AND last_evaluated_at IS NOT NULL), \
              f AS (SELECT f.tenant_id, \
                       sum(f.weight) FILTER (WHERE f.status IN ('OPEN','TRIAGED','IN_PROGRESS')) AS dw, \
                       sum(f.weight) FILTER (WHERE f.status = 'RISK_ACCEPTED') AS aw, \
                       count(*) FILTER (WHERE f.status IN ('OPEN','TRIAGED','IN_PROGRESS') AND f.severity = 'CRITICAL') AS oc, \
                       count(*) FILTER (WHERE f.status IN ('OPEN','TRIAGED','IN_PROGRESS') AND f.severity = 'HIGH') AS oh, \
                       count(*) FILTER (WHERE f.status IN ('OPEN','TRIAGED','IN_PROGRESS') AND f.severity = 'MEDIUM') AS om, \
                       count(*) FILTER (WHERE f.status IN ('OPEN','TRIAGED','IN_PROGRESS') AND f.severity = 'LOW') AS ol, \
                       count(*) FILTER (WHERE f.status IN ('OPEN','TRIAGED','IN_PROGRESS') AND f.severity = 'INFO') AS oi, \
                       count(*) FILTER (WHERE f.status = 'RISK_ACCEPTED') AS ac \
                    FROM findings f JOIN a ON a.tenant_id = f.tenant_id AND a.baseline_id = f.baseline_id \
                    WHERE f.workspace_id = ANY($1) GROUP BY f.tenant_id), \
              w AS (SELECT workspace_id, tenant_id, sum(check_weight) AS tw FROM a GROUP BY workspace_id, tenant_id) \
         SELECT w.workspace_id, w.tenant_id, coalesce(f.dw, 0)::int8 AS drift_weight, coalesce(f.aw, 0)::int8 AS accepted_weight, \
                coalesce(f.oc, 0)::int8 AS open_critical, coalesce(f.oh, 0)::int8 AS open_high, \
                coalesce(f.om, 0)::int8 AS open_medium, coalesce(f.ol, 0)::int8 AS open_low, \
                coalesce(f.oi, 0)::int8 AS open_info, coalesce(f.ac, 0)::int8 AS accepted_count, \
                w.tw::int8 AS total_weight \
         FROM w LEFT JOIN f ON f.tenant_id = w.tenant_id",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .bind::<sql_types::Nullable<sql_types::Array<sql_types::Uuid>>, _>(tenants)
    .load(conn)
    .await?)
}

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, Insertable, PartialEq)]
#[diesel(table_name = compliance_snapshots)]
pub struct SnapshotRow {
    pub workspace_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub day: NaiveDate,
    pub score: Option<i32>,
    pub total_weight: i64,
    pub drift_weight: i64,
    pub accepted_weight: i64,
    pub open_critical: i32,
    pub open_high: i32,
    pub open_medium: i32,
    pub open_low: i32,
    pub open_info: i32,
    pub accepted_count: i32,
}

/// Writes the day's snapshot of a scope (the latest write of a day wins).
pub async fn upsert_snapshot(conn: &mut Conn, row: &SnapshotRow) -> AppResult<()> {
    diesel::sql_query(
        "INSERT INTO compliance_snapshots (workspace_id, tenant_id, day, score, total_weight, drift_weight, \
                accepted_weight, open_critical, open_high, open_medium, open_low, open_info, accepted_count) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT ON CONSTRAINT compliance_snapshots_scope_day_key DO UPDATE SET \
           score = EXCLUDED.score, total_weight = EXCLUDED.total_weight, drift_weight = EXCLUDED.drift_weight, \
           accepted_weight = EXCLUDED.accepted_weight, open_critical = EXCLUDED.open_critical, \
           open_high = EXCLUDED.open_high, open_medium = EXCLUDED.open_medium, open_low = EXCLUDED.open_low, \
           open_info = EXCLUDED.open_info, accepted_count = EXCLUDED.accepted_count, taken_at = now()",
    )
    .bind::<sql_types::Uuid, _>(row.workspace_id)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(row.tenant_id)
    .bind::<sql_types::Date, _>(row.day)
    .bind::<sql_types::Nullable<sql_types::Integer>, _>(row.score)
    .bind::<sql_types::BigInt, _>(row.total_weight)
    .bind::<sql_types::BigInt, _>(row.drift_weight)
    .bind::<sql_types::BigInt, _>(row.accepted_weight)
    .bind::<sql_types::Integer, _>(row.open_critical)
    .bind::<sql_types::Integer, _>(row.open_high)
    .bind::<sql_types::Integer, _>(row.open_medium)
    .bind::<sql_types::Integer, _>(row.open_low)
    .bind::<sql_types::Integer, _>(row.open_info)
    .bind::<sql_types::Integer, _>(row.accepted_count)
    .execute(conn)
    .await?;
    Ok(())
}

/// Snapshots of several scopes (tenants, and the workspaces themselves when
/// `workspace_scope`) from `from` on, plus each scope's latest one before it (trends carry
/// the last known value forward), in two statements.
pub async fn list_snapshots(
    conn: &mut Conn,
    workspaces: &[Uuid],
    tenants: &[Uuid],
    workspace_scope: bool,
    from: NaiveDate,
) -> AppResult<Vec<SnapshotRow>> {
    const COLUMNS: &str =
        "workspace_id, tenant_id, day, score, total_weight, drift_weight, accepted_weight, \
        open_critical, open_high, open_medium, open_low, open_info, accepted_count";
    const SCOPE: &str =
        "workspace_id = ANY($1) AND (tenant_id = ANY($2) OR ($3 AND tenant_id IS NULL))";
    let recent: Vec<SnapshotRow> = diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM compliance_snapshots WHERE {SCOPE} AND day >= $4 ORDER BY day"
    ))
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(tenants)
    .bind::<sql_types::Bool, _>(workspace_scope)
    .bind::<sql_types::Date, _>(from)
    .load(conn)
    .await?;
    let mut earlier: Vec<SnapshotRow> = diesel::sql_query(format!(
        "SELECT DISTINCT ON (workspace_id, tenant_id) {COLUMNS} FROM compliance_snapshots \
         WHERE {SCOPE} AND day < $4 ORDER BY workspace_id, tenant_id, day DESC"
    ))
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(tenants)
    .bind::<sql_types::Bool, _>(workspace_scope)
    .bind::<sql_types::Date, _>(from)
    .load(conn)
    .await?;
    earlier.extend(recent);
    Ok(earlier)
}

/// Finding counts of some tenants by (severity, status).
pub async fn count_by_severity_status(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenants: &[Uuid],
) -> AppResult<Vec<(String, String, i64)>> {
    Ok(findings::table
        .filter(findings::workspace_id.eq(workspace.0))
        .filter(findings::tenant_id.eq_any(tenants))
        .group_by((findings::severity, findings::status))
        .select((
            findings::severity,
            findings::status,
            diesel::dsl::count_star(),
        ))
        .load(conn)
        .await?)
}

/// Which findings of some tenants a listing takes.
#[derive(Clone, Copy, Debug)]
pub enum FindingSelection<'a> {
    /// In one of these statuses now.
    Statuses(&'a [&'a str]),
    /// Resolved at a time in `[from, to]` (and still resolved).
    ResolvedBetween(DateTime<Utc>, DateTime<Utc>),
}

/// A window of some tenants' findings, most severe first (then by tenant and id).
pub async fn list_tenant_findings(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenants: &[Uuid],
    selection: FindingSelection<'_>,
    window: Window,
) -> AppResult<Vec<FindingRow>> {
    let mut q = findings::table
        .filter(findings::workspace_id.eq(workspace.0))
        .filter(findings::tenant_id.eq_any(tenants))
        .into_boxed();
    q = match selection {
        FindingSelection::Statuses(s) => q.filter(findings::status.eq_any(s.to_vec())),
        FindingSelection::ResolvedBetween(from, to) => q
            .filter(findings::status.eq("RESOLVED"))
            .filter(findings::resolved_at.ge(from))
            .filter(findings::resolved_at.le(to)),
    };
    Ok(q.order((
        findings::severity_rank.desc(),
        findings::tenant_id.asc(),
        findings::id.asc(),
    ))
    .offset(window.offset)
    .limit(window.limit)
    .select(FindingRow::as_select())
    .load(conn)
    .await?)
}
