//! Finding exceptions (risk acceptances) and their history.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use super::{Conn, Window};
use crate::{
    db::schema::{exception_history, finding_exceptions},
    domain::ids::{TenantId, WorkspaceId},
    error::AppResult,
};

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, PartialEq)]
#[diesel(table_name = finding_exceptions)]
pub struct ExceptionRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub finding_id: Uuid,
    pub tenant_id: Uuid,
    pub scope: String,
    pub setting_path: Option<String>,
    pub accepted_value: Option<Value>,
    pub justification: String,
    pub compensating_controls: String,
    pub ticket_reference: Option<String>,
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_comment: Option<String>,
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub renewal_of: Option<Uuid>,
    pub superseded_at: Option<DateTime<Utc>>,
    pub expiry_notice_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl ExceptionRow {
    /// Approved, not superseded and not yet expired at `now`: it covers its finding.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.status == "APPROVED" && self.superseded_at.is_none() && self.expires_at > now
    }
}

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = finding_exceptions)]
pub struct NewException {
    pub workspace_id: Uuid,
    pub finding_id: Uuid,
    pub tenant_id: Uuid,
    pub scope: String,
    pub setting_path: Option<String>,
    pub justification: String,
    pub compensating_controls: String,
    pub ticket_reference: Option<String>,
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub renewal_of: Option<Uuid>,
}

pub async fn insert_exception(conn: &mut Conn, new: &NewException) -> AppResult<ExceptionRow> {
    Ok(diesel::insert_into(finding_exceptions::table)
        .values(new)
        .returning(ExceptionRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn find_exception_workspace(conn: &mut Conn, id: Uuid) -> AppResult<Option<Uuid>> {
    Ok(finding_exceptions::table
        .filter(finding_exceptions::id.eq(id))
        .select(finding_exceptions::workspace_id)
        .first(conn)
        .await
        .optional()?)
}

pub async fn lock_exception(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
) -> AppResult<Option<ExceptionRow>> {
    Ok(finding_exceptions::table
        .filter(finding_exceptions::workspace_id.eq(workspace.0))
        .filter(finding_exceptions::id.eq(id))
        .select(ExceptionRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// The exceptions of findings (all statuses), oldest request first.
pub async fn list_exceptions_by_findings(
    conn: &mut Conn,
    workspaces: &[Uuid],
    findings: &[Uuid],
) -> AppResult<Vec<ExceptionRow>> {
    Ok(finding_exceptions::table
        .filter(finding_exceptions::workspace_id.eq_any(workspaces))
        .filter(finding_exceptions::finding_id.eq_any(findings))
        .order((
            finding_exceptions::requested_at.asc(),
            finding_exceptions::id.asc(),
        ))
        .select(ExceptionRow::as_select())
        .load(conn)
        .await?)
}

pub async fn list_exceptions_by_ids(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<ExceptionRow>> {
    Ok(finding_exceptions::table
        .filter(finding_exceptions::workspace_id.eq_any(workspaces))
        .filter(finding_exceptions::id.eq_any(ids))
        .select(ExceptionRow::as_select())
        .load(conn)
        .await?)
}

/// A decision or another status change.
pub struct StatusChange<'a> {
    pub status: &'a str,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_comment: Option<&'a str>,
    pub accepted_value: Option<Option<&'a Value>>,
    pub now: DateTime<Utc>,
}

pub async fn update_exception(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
    change: StatusChange<'_>,
) -> AppResult<ExceptionRow> {
    let target = finding_exceptions::table
        .filter(finding_exceptions::workspace_id.eq(workspace.0))
        .filter(finding_exceptions::id.eq(id));
    let row = match change.decided_by {
        Some(user) => {
            diesel::update(target)
                .set((
                    finding_exceptions::status.eq(change.status),
                    finding_exceptions::decided_by.eq(user),
                    finding_exceptions::decided_at.eq(change.decided_at),
                    finding_exceptions::decision_comment.eq(change.decision_comment),
                    finding_exceptions::accepted_value.eq(change.accepted_value.flatten().cloned()),
                    finding_exceptions::updated_at.eq(change.now),
                ))
                .returning(ExceptionRow::as_returning())
                .get_result(conn)
                .await?
        }
        None => {
            diesel::update(target)
                .set((
                    finding_exceptions::status.eq(change.status),
                    finding_exceptions::updated_at.eq(change.now),
                ))
                .returning(ExceptionRow::as_returning())
                .get_result(conn)
                .await?
        }
    };
    Ok(row)
}

/// Marks exceptions as no longer covering their findings (the accepted value changed).
pub async fn mark_superseded(
    conn: &mut Conn,
    workspace: WorkspaceId,
    ids: &[Uuid],
    at: DateTime<Utc>,
) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(
        finding_exceptions::table
            .filter(finding_exceptions::workspace_id.eq(workspace.0))
            .filter(finding_exceptions::id.eq_any(ids)),
    )
    .set((
        finding_exceptions::superseded_at.eq(at),
        finding_exceptions::updated_at.eq(at),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_expiry_notice(
    conn: &mut Conn,
    workspace: WorkspaceId,
    ids: &[Uuid],
    at: DateTime<Utc>,
) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(
        finding_exceptions::table
            .filter(finding_exceptions::workspace_id.eq(workspace.0))
            .filter(finding_exceptions::id.eq_any(ids)),
    )
    .set(finding_exceptions::expiry_notice_at.eq(at))
    .execute(conn)
    .await?;
    Ok(())
}

/// PENDING or APPROVED exceptions (of one workspace, or of all) whose expiry has passed,
/// or APPROVED ones in force that expire within `soon` without a recorded notice.
fn due(
    workspace: Option<WorkspaceId>,
    now: DateTime<Utc>,
    soon: DateTime<Utc>,
) -> finding_exceptions::BoxedQuery<'static, diesel::pg::Pg> {
    let mut q = finding_exceptions::table
        .filter(finding_exceptions::status.eq_any(["PENDING", "APPROVED"]))
        .filter(
            finding_exceptions::expires_at
                .le(now)
                .or(finding_exceptions::status
                    .eq("APPROVED")
                    .and(finding_exceptions::superseded_at.is_null())
                    .and(finding_exceptions::expiry_notice_at.is_null())
                    .and(finding_exceptions::expires_at.le(soon))),
        )
        .into_boxed();
    if let Some(ws) = workspace {
        q = q.filter(finding_exceptions::workspace_id.eq(ws.0));
    }
    q
}

/// A workspace's due exceptions (see [`due`]), locked for update.
pub async fn lock_due_exceptions(
    conn: &mut Conn,
    workspace: WorkspaceId,
    now: DateTime<Utc>,
    soon: DateTime<Utc>,
) -> AppResult<Vec<ExceptionRow>> {
    // A boxed query cannot lock: find the rows, then lock them by id (the sweep holds
    // the tenants' locks, so the set cannot change in between).
    let ids: Vec<Uuid> = due(Some(workspace), now, soon)
        .select(finding_exceptions::id)
        .load(conn)
        .await?;
    Ok(finding_exceptions::table
        .filter(finding_exceptions::workspace_id.eq(workspace.0))
        .filter(finding_exceptions::id.eq_any(ids))
        .order(finding_exceptions::id.asc())
        .select(ExceptionRow::as_select())
        .for_update()
        .load(conn)
        .await?)
}

/// Tenants of a workspace with due exceptions.
pub async fn list_due_tenants(
    conn: &mut Conn,
    workspace: WorkspaceId,
    now: DateTime<Utc>,
    soon: DateTime<Utc>,
) -> AppResult<Vec<Uuid>> {
    Ok(due(Some(workspace), now, soon)
        .select(finding_exceptions::tenant_id)
        .distinct()
        .load(conn)
        .await?)
}

/// Workspaces with due exceptions (the sweep scheduler).
pub async fn list_workspaces_with_due(
    conn: &mut Conn,
    now: DateTime<Utc>,
    soon: DateTime<Utc>,
) -> AppResult<Vec<Uuid>> {
    Ok(due(None, now, soon)
        .select(finding_exceptions::workspace_id)
        .distinct()
        .load(conn)
        .await?)
}

/// APPROVED, not superseded exceptions of a tenant (drift evaluations check them).
pub async fn list_approved_for_tenant(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: TenantId,
) -> AppResult<Vec<ExceptionRow>> {
    Ok(finding_exceptions::table
        .filter(finding_exceptions::workspace_id.eq(workspace.0))
        .filter(finding_exceptions::tenant_id.eq(tenant.0))
        .filter(finding_exceptions::status.eq("APPROVED"))
        .filter(finding_exceptions::superseded_at.is_null())
        .select(ExceptionRow::as_select())
        .load(conn)
        .await?)
}

/// Filter of the register.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExceptionQuery {
    pub status: Option<String>,
    pub tenant: Option<Uuid>,
    /// Only APPROVED ones in force (not superseded) expiring before this time.
    pub expiring_before: Option<DateTime<Utc>>,
}

fn filtered(
    workspace: WorkspaceId,
    q: &ExceptionQuery,
) -> finding_exceptions::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = finding_exceptions::table
        .filter(finding_exceptions::workspace_id.eq(workspace.0))
        .into_boxed();
    if let Some(s) = &q.status {
        query = query.filter(finding_exceptions::status.eq(s.clone()));
    }
    if let Some(t) = q.tenant {
        query = query.filter(finding_exceptions::tenant_id.eq(t));
    }
    if let Some(before) = q.expiring_before {
        query = query
            .filter(finding_exceptions::status.eq("APPROVED"))
            .filter(finding_exceptions::superseded_at.is_null())
            .filter(finding_exceptions::expires_at.le(before));
    }
    query
}

pub async fn count_exceptions(
    conn: &mut Conn,
    workspace: WorkspaceId,
    q: &ExceptionQuery,
) -> AppResult<i64> {
    Ok(filtered(workspace, q).count().get_result(conn).await?)
}

/// The register: soonest expiry first.
pub async fn list_exceptions(
    conn: &mut Conn,
    workspace: WorkspaceId,
    q: &ExceptionQuery,
    window: Window,
) -> AppResult<Vec<ExceptionRow>> {
    Ok(filtered(workspace, q)
        .order((
            finding_exceptions::expires_at.asc(),
            finding_exceptions::id.asc(),
        ))
        .offset(window.offset)
        .limit(window.limit)
        .select(ExceptionRow::as_select())
        .load(conn)
        .await?)
}

#[derive(Clone, Debug, Queryable, Selectable, PartialEq)]
#[diesel(table_name = exception_history)]
pub struct ExceptionHistoryRow {
    pub id: Uuid,
    pub exception_id: Uuid,
    pub workspace_id: Uuid,
    pub action: String,
    pub actor: String,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = exception_history)]
pub struct NewExceptionHistory {
    pub exception_id: Uuid,
    pub workspace_id: Uuid,
    pub action: String,
    pub actor: String,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

pub async fn insert_exception_history(
    conn: &mut Conn,
    rows: &[NewExceptionHistory],
) -> AppResult<()> {
    for chunk in rows.chunks(2000) {
        diesel::insert_into(exception_history::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub async fn list_history_by_exceptions(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<ExceptionHistoryRow>> {
    Ok(exception_history::table
        .filter(exception_history::workspace_id.eq_any(workspaces))
        .filter(exception_history::exception_id.eq_any(ids))
        .order((exception_history::at.asc(), exception_history::id.asc()))
        .select(ExceptionHistoryRow::as_select())
        .load(conn)
        .await?)
}

/// Reopens findings (an exception stopped covering them).
pub async fn reopen_findings(
    conn: &mut Conn,
    workspace: WorkspaceId,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> AppResult<()> {
    use crate::db::schema::findings;
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(
        findings::table
            .filter(findings::workspace_id.eq(workspace.0))
            .filter(findings::id.eq_any(ids)),
    )
    .set((
        findings::status.eq("OPEN"),
        findings::reopen_count.eq(findings::reopen_count + 1),
        findings::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets one finding's status (risk accepted by an approval, back to OPEN on revoke).
pub async fn set_finding_status(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
    status: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use crate::db::schema::findings;
    diesel::update(
        findings::table
            .filter(findings::workspace_id.eq(workspace.0))
            .filter(findings::id.eq(id)),
    )
    .set((findings::status.eq(status), findings::updated_at.eq(now)))
    .execute(conn)
    .await?;
    Ok(())
}

/// Every exception of some tenants requested at or before `until`, oldest first.
pub async fn list_tenant_exceptions(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenants: &[Uuid],
    until: DateTime<Utc>,
) -> AppResult<Vec<ExceptionRow>> {
    Ok(finding_exceptions::table
        .filter(finding_exceptions::workspace_id.eq(workspace.0))
        .filter(finding_exceptions::tenant_id.eq_any(tenants))
        .filter(finding_exceptions::requested_at.le(until))
        .order((
            finding_exceptions::requested_at.asc(),
            finding_exceptions::id.asc(),
        ))
        .select(ExceptionRow::as_select())
        .load(conn)
        .await?)
}
