//! Operation runs: the queue of long work and its progress.
use chrono::{DateTime, Utc};
use diesel::{pg::Pg, prelude::*, sql_types};
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use super::{Conn, Window};
use crate::{
    db::schema::operation_runs as runs,
    domain::ids::WorkspaceId,
    error::{AppError, AppResult},
};

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, PartialEq)]
#[diesel(table_name = runs)]
pub struct OperationRunRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub kind: String,
    pub status: String,
    pub params: Value,
    pub processed: i32,
    pub total: Option<i32>,
    pub message: Option<String>,
    pub warnings: Value,
    pub attempt: i32,
    pub max_attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub cancel_requested: bool,
    pub created_count: i32,
    pub updated_count: i32,
    pub unchanged_count: i32,
    pub deleted_count: i32,
    pub restored_count: i32,
    pub error: Option<String>,
    pub initiated_by: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl OperationRunRow {
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "SUCCEEDED" | "FAILED" | "CANCELLED")
    }
}

pub async fn insert_run(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: Option<Uuid>,
    kind: &str,
    params: Value,
    initiated_by: &str,
    max_attempts: i32,
) -> AppResult<OperationRunRow> {
    Ok(diesel::insert_into(runs::table)
        .values((
            runs::workspace_id.eq(workspace.0),
            runs::tenant_id.eq(tenant),
            runs::kind.eq(kind),
            runs::params.eq(params),
            runs::initiated_by.eq(initiated_by),
            runs::max_attempts.eq(max_attempts),
        ))
        .returning(OperationRunRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Inserts a run already claimed by `worker` (the CLI runs its imports itself).
pub async fn insert_claimed_run(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: Option<Uuid>,
    kind: &str,
    params: Value,
    initiated_by: &str,
    worker: &str,
    lease_secs: f64,
) -> AppResult<OperationRunRow> {
    Ok(diesel::sql_query(
        "INSERT INTO operation_runs (workspace_id, tenant_id, kind, params, initiated_by, status, attempt, \
                lease_owner, lease_expires_at, started_at) \
         VALUES ($1, $2, $3, $4, $5, 'RUNNING', 1, $6, now() + make_interval(secs => $7), now()) RETURNING *",
    )
    .bind::<sql_types::Uuid, _>(workspace.0)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(tenant)
    .bind::<sql_types::Text, _>(kind)
    .bind::<sql_types::Jsonb, _>(params)
    .bind::<sql_types::Text, _>(initiated_by)
    .bind::<sql_types::Text, _>(worker)
    .bind::<sql_types::Double, _>(lease_secs)
    .get_result(conn)
    .await?)
}

/// Fails runs whose worker vanished (lease expired) after their last allowed attempt.
pub async fn fail_abandoned_runs(conn: &mut Conn) -> AppResult<Vec<OperationRunRow>> {
    Ok(diesel::sql_query(
        "UPDATE operation_runs SET status = 'FAILED', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL, \
                error = 'the worker running this stopped responding ' || attempt || ' time(s); giving up', \
                message = 'failed: worker lost' \
         WHERE status = 'RUNNING' AND lease_expires_at < now() AND attempt >= max_attempts \
         RETURNING *",
    )
    .load(conn)
    .await?)
}

/// Claims the oldest runnable run: queued, or running with an expired lease (its worker
/// died). `FOR UPDATE SKIP LOCKED` lets any number of workers claim concurrently. One run
/// per tenant runs at a time, and one evidence-pack build per workspace (so queued packs
/// cannot take every worker).
pub async fn claim_next_run(
    conn: &mut Conn,
    worker: &str,
    lease_secs: f64,
) -> AppResult<Option<OperationRunRow>> {
    use diesel_async::AsyncConnection;
    let worker = worker.to_string();
    conn.transaction::<_, AppError, _>(async |conn| {
        // Claims are serialised (they are rare and short), so the "one running run per
        // tenant" rule below cannot race.
        diesel::sql_query("SELECT pg_advisory_xact_lock(727275)")
            .execute(conn)
            .await?;
        claim_one(conn, &worker, lease_secs).await
    })
    .await
}

async fn claim_one(
    conn: &mut Conn,
    worker: &str,
    lease_secs: f64,
) -> AppResult<Option<OperationRunRow>> {
    Ok(diesel::sql_query(
        "UPDATE operation_runs SET status = 'RUNNING', attempt = attempt + 1, lease_owner = $1, \
                lease_expires_at = now() + make_interval(secs => $2), started_at = coalesce(started_at, now()), \
                message = CASE WHEN attempt > 0 THEN 'resumed after the previous worker stopped' ELSE message END \
         WHERE id = (SELECT id FROM operation_runs \
                     WHERE ((status = 'QUEUED' AND NOT cancel_requested) \
                        OR (status = 'RUNNING' AND lease_expires_at < now() AND attempt < max_attempts)) \
                       AND NOT EXISTS (SELECT 1 FROM operation_runs busy \
                                       WHERE busy.tenant_id = operation_runs.tenant_id AND busy.id <> operation_runs.id \
                                         AND busy.status = 'RUNNING' AND busy.lease_expires_at >= now()) \
                       AND NOT (kind = 'EVIDENCE_PACK_BUILD' AND EXISTS (SELECT 1 FROM operation_runs build \
                                       WHERE build.workspace_id = operation_runs.workspace_id \
                                         AND build.kind = 'EVIDENCE_PACK_BUILD' AND build.id <> operation_runs.id \
                                         AND build.status = 'RUNNING' AND build.lease_expires_at >= now())) \
                     ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1) \
         RETURNING *",
    )
    .bind::<sql_types::Text, _>(worker)
    .bind::<sql_types::Double, _>(lease_secs)
    .get_result(conn)
    .await
    .optional()?)
}

/// A queued or running run of `kind` for `tenant`, if any.
pub async fn find_active_run(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: Uuid,
    kind: &str,
) -> AppResult<Option<OperationRunRow>> {
    Ok(runs::table
        .filter(runs::workspace_id.eq(workspace.0))
        .filter(runs::tenant_id.eq(tenant))
        .filter(runs::kind.eq(kind))
        .filter(runs::status.eq_any(["QUEUED", "RUNNING"]))
        .select(OperationRunRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Extends a lease; false when the run is no longer ours (taken over or finished).
pub async fn renew_lease(
    conn: &mut Conn,
    id: Uuid,
    worker: &str,
    lease_secs: f64,
) -> AppResult<bool> {
    let n = diesel::sql_query(
        "UPDATE operation_runs SET lease_expires_at = now() + make_interval(secs => $3) \
         WHERE id = $1 AND lease_owner = $2 AND status = 'RUNNING'",
    )
    .bind::<sql_types::Uuid, _>(id)
    .bind::<sql_types::Text, _>(worker)
    .bind::<sql_types::Double, _>(lease_secs)
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Progress of a run. Returns `Some(cancel_requested)`, or `None` when the run is no longer
/// this worker's.
#[allow(clippy::too_many_arguments)]
pub async fn update_progress(
    conn: &mut Conn,
    id: Uuid,
    worker: &str,
    processed: i32,
    total: Option<i32>,
    message: &str,
) -> AppResult<Option<bool>> {
    Ok(diesel::update(
        runs::table
            .filter(runs::id.eq(id))
            .filter(runs::lease_owner.eq(worker))
            .filter(runs::status.eq("RUNNING")),
    )
    .set((
        runs::processed.eq(processed),
        runs::total.eq(total),
        runs::message.eq(message),
    ))
    .returning(runs::cancel_requested)
    .get_result(conn)
    .await
    .optional()?)
}

/// Counts by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub deleted: i32,
    pub restored: i32,
}

/// Ends a run held by `worker`.
#[allow(clippy::too_many_arguments)]
pub async fn finish_run(
    conn: &mut Conn,
    id: Uuid,
    worker: &str,
    status: &str,
    counts: RunCounts,
    warnings: &Value,
    message: &str,
    error: Option<&str>,
) -> AppResult<Option<OperationRunRow>> {
    Ok(diesel::update(
        runs::table
            .filter(runs::id.eq(id))
            .filter(runs::lease_owner.eq(worker))
            .filter(runs::status.eq("RUNNING")),
    )
    .set((
        runs::status.eq(status),
        runs::created_count.eq(counts.created),
        runs::updated_count.eq(counts.updated),
        runs::unchanged_count.eq(counts.unchanged),
        runs::deleted_count.eq(counts.deleted),
        runs::restored_count.eq(counts.restored),
        runs::warnings.eq(warnings),
        runs::message.eq(message),
        runs::error.eq(error),
        runs::finished_at.eq(diesel::dsl::now),
        runs::lease_owner.eq(None::<String>),
        runs::lease_expires_at.eq(None::<DateTime<Utc>>),
    ))
    .returning(OperationRunRow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

/// Asks a run to stop: a queued run is cancelled at once, a running one at its next
/// progress report. A finished run cannot be cancelled (CONFLICT).
pub async fn request_cancel(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
) -> AppResult<OperationRunRow> {
    let current = runs::table
        .filter(runs::workspace_id.eq(workspace.0))
        .filter(runs::id.eq(id))
        .select(OperationRunRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("operation run"))?;
    if current.is_final() {
        return Err(AppError::Conflict(format!(
            "the run already finished ({})",
            current.status
        )));
    }
    let target = runs::table
        .filter(runs::workspace_id.eq(workspace.0))
        .filter(runs::id.eq(id));
    let row = if current.status == "QUEUED" {
        diesel::update(target)
            .set((
                runs::status.eq("CANCELLED"),
                runs::cancel_requested.eq(true),
                runs::finished_at.eq(diesel::dsl::now),
                runs::message.eq("cancelled before it started"),
            ))
            .returning(OperationRunRow::as_returning())
            .get_result(conn)
            .await?
    } else {
        diesel::update(target)
            .set(runs::cancel_requested.eq(true))
            .returning(OperationRunRow::as_returning())
            .get_result(conn)
            .await?
    };
    Ok(row)
}

pub async fn find_run(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
) -> AppResult<Option<OperationRunRow>> {
    Ok(runs::table
        .filter(runs::workspace_id.eq(workspace.0))
        .filter(runs::id.eq(id))
        .select(OperationRunRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The workspace a run belongs to (for the access check before reading it).
pub async fn find_run_workspace(conn: &mut Conn, id: Uuid) -> AppResult<Option<Uuid>> {
    Ok(runs::table
        .filter(runs::id.eq(id))
        .select(runs::workspace_id)
        .first(conn)
        .await
        .optional()?)
}

/// Filter of the operations table.
#[derive(Clone, Debug, Default)]
pub struct RunQuery {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub tenant: Option<Uuid>,
    pub oldest_first: bool,
}

fn filtered(workspace: WorkspaceId, q: &RunQuery) -> runs::BoxedQuery<'static, Pg> {
    let mut query = runs::table
        .filter(runs::workspace_id.eq(workspace.0))
        .into_boxed();
    if let Some(k) = &q.kind {
        query = query.filter(runs::kind.eq(k.clone()));
    }
    if let Some(s) = &q.status {
        query = query.filter(runs::status.eq(s.clone()));
    }
    if let Some(t) = q.tenant {
        query = query.filter(runs::tenant_id.eq(t));
    }
    query
}

pub async fn count_runs(conn: &mut Conn, workspace: WorkspaceId, q: &RunQuery) -> AppResult<i64> {
    Ok(filtered(workspace, q).count().get_result(conn).await?)
}

pub async fn list_runs(
    conn: &mut Conn,
    workspace: WorkspaceId,
    q: &RunQuery,
    window: Window,
) -> AppResult<Vec<OperationRunRow>> {
    let query = filtered(workspace, q).select(OperationRunRow::as_select());
    let query = if q.oldest_first {
        query.order_by((runs::created_at.asc(), runs::id.asc()))
    } else {
        query.order_by((runs::created_at.desc(), runs::id.desc()))
    };
    Ok(query
        .offset(window.offset)
        .limit(window.limit)
        .load(conn)
        .await?)
}

/// Runs by id, restricted to the given workspaces.
pub async fn list_runs_by_ids(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<OperationRunRow>> {
    Ok(runs::table
        .filter(runs::workspace_id.eq_any(workspaces))
        .filter(runs::id.eq_any(ids))
        .select(OperationRunRow::as_select())
        .load(conn)
        .await?)
}

/// Locks a run until the transaction ends and says whether `worker` still holds its
/// lease (a worker that lost it must not record anything for the run).
pub async fn lock_own_lease(conn: &mut Conn, run: Uuid, worker: &str) -> AppResult<bool> {
    Ok(runs::table
        .filter(runs::id.eq(run))
        .filter(runs::status.eq("RUNNING"))
        .filter(runs::lease_owner.eq(worker))
        .select(runs::id)
        .for_update()
        .first::<Uuid>(conn)
        .await
        .optional()?
        .is_some())
}
