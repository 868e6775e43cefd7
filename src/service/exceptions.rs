//! Risk acceptance: requesting, deciding (four eyes), revoking, renewing and expiring
//! finding exceptions, and keeping watch on accepted values. Rules: `domain::exceptions`.
//!
//! Every step locks the exception (and its finding) for the rest of its transaction, so
//! two approvers deciding at once serialise: the second sees the first's decision and
//! gets CONFLICT.
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde_json::json;
use uuid::Uuid;

use super::{operations::kinds, record, AppContext, Audit};
use crate::{
    authz::{Access, Capability},
    domain::{
        exceptions::{check_request, ExceptionStatus, EXPIRING_SOON_DAYS, MAX_TEXT},
        findings::FindingStatus,
        ids::{TenantId, WorkspaceId},
        secrets::redact_text,
    },
    error::{AppError, AppResult},
    store::{
        self,
        exceptions::{ExceptionRow, NewException, NewExceptionHistory, StatusChange},
        findings::{FindingRow, NewHistory},
        operation_runs::OperationRunRow,
        Conn,
    },
};

/// A request's input.
pub struct ExceptionRequest<'a> {
    pub finding: Uuid,
    pub justification: &'a str,
    pub compensating_controls: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
    pub ticket_reference: Option<&'a str>,
    /// `None`: the whole finding; `Some(path)`: one setting path of it.
    pub setting_path: Option<&'a str>,
}

fn text(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    let Some(v) = value else { return Ok(None) };
    if v.contains('\0') {
        return Err(AppError::bad_input(
            field,
            "must not contain NUL characters",
        ));
    }
    let t = v.trim();
    if t.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok((!t.is_empty()).then(|| redact_text(t).into_owned()))
}

/// The caller's user id (requests and decisions are made by people).
async fn user_id(conn: &mut Conn, access: &Access) -> AppResult<Uuid> {
    let email = access.user_email()?;
    Ok(store::users::upsert_user(conn, email).await?.id)
}

async fn workspace_of(
    access: &Access,
    lookup: impl std::future::Future<Output = AppResult<Option<Uuid>>>,
    capability: Capability,
    what: &str,
) -> AppResult<WorkspaceId> {
    access.user_email()?;
    let found = lookup.await?.map(WorkspaceId);
    super::require_visible(access, found, capability, what).await
}

/// The tenant whose findings an exception belongs to (it never changes).
async fn tenant_of(conn: &mut Conn, workspace: WorkspaceId, id: Uuid) -> AppResult<TenantId> {
    store::exceptions::list_exceptions_by_ids(conn, &[workspace.0], &[id])
        .await?
        .first()
        .map(|e| TenantId(e.tenant_id))
        .ok_or_else(|| AppError::not_found("exception"))
}

fn history(
    ex: Uuid,
    ws: WorkspaceId,
    action: &str,
    actor: &str,
    comment: Option<String>,
    at: DateTime<Utc>,
) -> NewExceptionHistory {
    NewExceptionHistory {
        exception_id: ex,
        workspace_id: ws.0,
        action: action.to_string(),
        actor: actor.to_string(),
        comment,
        at,
    }
}

fn finding_history(
    f: &FindingRow,
    action: &str,
    actor: &str,
    to: &str,
    comment: String,
    at: DateTime<Utc>,
) -> NewHistory {
    NewHistory {
        finding_id: f.id,
        workspace_id: f.workspace_id,
        action: action.to_string(),
        actor: actor.to_string(),
        from_status: Some(f.status.clone()),
        to_status: Some(to.to_string()),
        comment: Some(comment),
        at,
    }
}

fn audit_after(row: &ExceptionRow) -> serde_json::Value {
    json!({
        "findingId": row.finding_id,
        "status": row.status,
        "expiresAt": row.expires_at,
        "justification": row.justification,
        "renewalOf": row.renewal_of,
        "decidedBy": row.decided_by,
        "decisionComment": row.decision_comment,
    })
}

/// Requests an exception for an open finding (capability `exception.request`).
pub async fn request_exception(
    app: &AppContext,
    access: &Access,
    req: ExceptionRequest<'_>,
) -> AppResult<ExceptionRow> {
    let mut conn = app.db.conn().await?;
    let workspace = workspace_of(
        access,
        store::findings::find_finding_workspace(&mut conn, req.finding),
        Capability::ExceptionRequest,
        "finding",
    )
    .await?;
    let justification =
        text("justification", Some(req.justification), MAX_TEXT)?.unwrap_or_default();
    let controls =
        text("compensatingControls", req.compensating_controls, MAX_TEXT)?.unwrap_or_default();
    let ticket = text("ticketReference", req.ticket_reference, 200)?;
    let path = text("settingPath", req.setting_path, 2000)?;
    let now = app.clock.now();
    let max_days = store::workspaces::find_workspace(&mut conn, workspace)
        .await?
        .ok_or_else(|| AppError::not_found("workspace"))?
        .exception_max_days;
    check_request(&justification, req.expires_at, now, max_days)
        .map_err(|(f, m)| AppError::bad_input(f, m))?;
    let actor = access.actor();
    conn.transaction::<_, AppError, _>(async |conn| {
        let requester = user_id(conn, access).await?;
        let finding = store::findings::lock_finding(conn, workspace, req.finding)
            .await?
            .ok_or_else(|| AppError::not_found("finding"))?;
        let status = FindingStatus::parse(&finding.status).unwrap_or(FindingStatus::Open);
        if !status.is_open() {
            return Err(AppError::Conflict(format!(
                "the finding is {}; only OPEN, TRIAGED or IN_PROGRESS findings can be accepted as risks",
                finding.status
            )));
        }
        if let Some(p) = &path {
            if finding.setting_path.as_deref() != Some(p.as_str()) {
                return Err(AppError::bad_input(
                    "settingPath",
                    "must be the finding's settingPath (or be omitted for the whole finding)",
                ));
            }
        }
        let existing = store::exceptions::list_exceptions_by_findings(conn, &[workspace.0], &[finding.id]).await?;
        if let Some(e) = existing.iter().find(|e| e.status == "PENDING" || e.in_force(now)) {
            return Err(AppError::Conflict(if e.status == "PENDING" {
                "the finding already has a PENDING exception request; an approver must decide it first".to_string()
            } else {
                "the finding already has an APPROVED exception in force; renew or revoke it instead".to_string()
            }));
        }
        let row = store::exceptions::insert_exception(
            conn,
            &NewException {
                workspace_id: workspace.0,
                finding_id: finding.id,
                tenant_id: finding.tenant_id,
                scope: if path.is_some() { "SETTING" } else { "FINDING" }.into(),
                setting_path: path.clone(),
                justification: justification.clone(),
                compensating_controls: controls.clone(),
                ticket_reference: ticket.clone(),
                requested_by: requester,
                requested_at: now,
                expires_at: req.expires_at,
                renewal_of: None,
            },
        )
        .await?;
        store::exceptions::insert_exception_history(conn, &[history(row.id, workspace, "exception.request", &actor, Some(justification.clone()), now)]).await?;
        record(conn, Audit {
            workspace: Some(workspace),
            actor: actor.clone(),
            action: "exception.request",
            target_type: "FindingException",
            target_id: row.id.to_string(),
            before: None,
            after: Some(audit_after(&row)),
            touches_activity: true,
        })
        .await?;
        Ok(row)
    })
    .await
}

/// Approves or rejects a PENDING exception (capability `exception.approve`); the
/// requester can never decide their own request.
pub async fn decide_exception(
    app: &AppContext,
    access: &Access,
    id: Uuid,
    approve: bool,
    comment: Option<&str>,
) -> AppResult<ExceptionRow> {
    let mut conn = app.db.conn().await?;
    let workspace = workspace_of(
        access,
        store::exceptions::find_exception_workspace(&mut conn, id),
        Capability::ExceptionApprove,
        "exception",
    )
    .await?;
    let comment = text("comment", comment, MAX_TEXT)?;
    let actor = access.actor();
    let now = app.clock.now();
    let action = if approve {
        "exception.approve"
    } else {
        "exception.reject"
    };
    let tenant = tenant_of(&mut conn, workspace, id).await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        // Evaluations lock a tenant's findings, then its exceptions: the same order here.
        store::findings::lock_tenant_findings(conn, tenant).await?;
        let decider = user_id(conn, access).await?;
        let ex = store::exceptions::lock_exception(conn, workspace, id)
            .await?
            .ok_or_else(|| AppError::not_found("exception"))?;
        if ex.requested_by == decider {
            return Err(AppError::Forbidden(
                "you requested this exception: another approver must decide it (four-eyes rule)"
                    .into(),
            ));
        }
        if ex.status != "PENDING" {
            return Err(AppError::Conflict(format!(
                "the exception is {}; only a PENDING request can be decided",
                ex.status
            )));
        }
        let finding = store::findings::lock_finding(conn, workspace, ex.finding_id)
            .await?
            .ok_or_else(|| AppError::not_found("finding"))?;
        if approve {
            if ex.expires_at <= now {
                return Err(AppError::Conflict(
                    "the request expired before a decision; request again".into(),
                ));
            }
            let max_days = store::workspaces::find_workspace(conn, workspace)
                .await?
                .ok_or_else(|| AppError::not_found("workspace"))?
                .exception_max_days;
            if ex.expires_at > now + chrono::Duration::days(i64::from(max_days)) {
                return Err(AppError::Conflict(format!(
                    "the request runs beyond the workspace's current maximum of {max_days} days; request again with an earlier expiresAt"
                )));
            }
            if let Some(original) = ex.renewal_of {
                let orig =
                    store::exceptions::list_exceptions_by_ids(conn, &[workspace.0], &[original])
                        .await?;
                if let Some(o) = orig.first() {
                    if o.superseded_at.is_some() || o.status == "REVOKED" {
                        return Err(AppError::Conflict(format!(
                            "the exception this renews is {}; a changed or withdrawn acceptance needs a new request",
                            if o.superseded_at.is_some() { "superseded" } else { "revoked" }
                        )));
                    }
                }
            }
            let status = FindingStatus::parse(&finding.status).unwrap_or(FindingStatus::Open);
            let renewal = ex.renewal_of.is_some();
            if !(status.is_open() || (renewal && status == FindingStatus::RiskAccepted)) {
                return Err(AppError::Conflict(format!(
                    "the finding is {} now; nothing to accept",
                    finding.status
                )));
            }
        }
        let row = store::exceptions::update_exception(
            conn,
            workspace,
            id,
            StatusChange {
                status: if approve { "APPROVED" } else { "REJECTED" },
                decided_by: Some(decider),
                decided_at: Some(now),
                decision_comment: comment.as_deref(),
                accepted_value: Some(if approve {
                    finding.actual_value.as_ref()
                } else {
                    None
                }),
                now,
            },
        )
        .await?;
        let mut entries = vec![history(id, workspace, action, &actor, comment.clone(), now)];
        if approve {
            if let Some(old) = ex.renewal_of {
                entries.push(history(
                    old,
                    workspace,
                    "exception.renewed",
                    &actor,
                    Some(format!(
                        "renewed by exception {id} until {}",
                        ex.expires_at.to_rfc3339()
                    )),
                    now,
                ));
            }
            if finding.status != "RISK_ACCEPTED" {
                store::exceptions::set_finding_status(
                    conn,
                    workspace,
                    finding.id,
                    "RISK_ACCEPTED",
                    now,
                )
                .await?;
                store::findings::insert_history(
                    conn,
                    &[finding_history(
                        &finding,
                        "finding.risk_accept",
                        &actor,
                        "RISK_ACCEPTED",
                        format!(
                            "exception {id} approved until {}",
                            ex.expires_at.to_rfc3339()
                        ),
                        now,
                    )],
                )
                .await?;
                record(
                    conn,
                    Audit {
                        workspace: Some(workspace),
                        actor: actor.clone(),
                        action: "finding.risk_accept",
                        target_type: "Finding",
                        target_id: finding.id.to_string(),
                        before: Some(json!({"status": finding.status})),
                        after: Some(json!({"status": "RISK_ACCEPTED", "exceptionId": id})),
                        touches_activity: true,
                    },
                )
                .await?;
                super::findings::refresh_compliance(
                    conn,
                    workspace,
                    Some(TenantId(finding.tenant_id)),
                )
                .await?;
            }
        }
        store::exceptions::insert_exception_history(conn, &entries).await?;
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action,
                target_type: "FindingException",
                target_id: id.to_string(),
                before: Some(json!({"status": ex.status})),
                after: Some(audit_after(&row)),
                touches_activity: true,
            },
        )
        .await?;
        Ok(row)
    })
    .await
}

/// Reopens a finding an exception no longer covers, unless another one does.
async fn release_finding(
    conn: &mut Conn,
    workspace: WorkspaceId,
    finding: Uuid,
    except: Uuid,
    actor: &str,
    reason: String,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let Some(f) = store::findings::lock_finding(conn, workspace, finding).await? else {
        return Ok(false);
    };
    if f.status != "RISK_ACCEPTED" {
        return Ok(false);
    }
    let others =
        store::exceptions::list_exceptions_by_findings(conn, &[workspace.0], &[finding]).await?;
    if others.iter().any(|e| e.id != except && e.in_force(now)) {
        return Ok(false);
    }
    store::exceptions::reopen_findings(conn, workspace, &[finding], now).await?;
    store::findings::insert_history(
        conn,
        &[finding_history(
            &f,
            "finding.reopen",
            actor,
            "OPEN",
            reason,
            now,
        )],
    )
    .await?;
    record(
        conn,
        Audit {
            workspace: Some(workspace),
            actor: actor.to_string(),
            action: "finding.reopen",
            target_type: "Finding",
            target_id: finding.to_string(),
            before: Some(json!({"status": "RISK_ACCEPTED"})),
            after: Some(json!({"status": "OPEN", "exceptionId": except})),
            touches_activity: true,
        },
    )
    .await?;
    super::findings::refresh_compliance(conn, workspace, Some(TenantId(f.tenant_id))).await?;
    Ok(true)
}

/// Revokes an APPROVED exception (capability `exception.approve`): the finding is OPEN again.
pub async fn revoke_exception(
    app: &AppContext,
    access: &Access,
    id: Uuid,
    comment: Option<&str>,
) -> AppResult<ExceptionRow> {
    let mut conn = app.db.conn().await?;
    let workspace = workspace_of(
        access,
        store::exceptions::find_exception_workspace(&mut conn, id),
        Capability::ExceptionApprove,
        "exception",
    )
    .await?;
    let comment = text("comment", comment, MAX_TEXT)?;
    let actor = access.actor();
    let now = app.clock.now();
    let tenant = tenant_of(&mut conn, workspace, id).await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        store::findings::lock_tenant_findings(conn, tenant).await?;
        let ex = store::exceptions::lock_exception(conn, workspace, id)
            .await?
            .ok_or_else(|| AppError::not_found("exception"))?;
        if ex.status != "APPROVED" {
            return Err(AppError::Conflict(format!(
                "the exception is {}; only an APPROVED exception can be revoked",
                ex.status
            )));
        }
        let row = store::exceptions::update_exception(
            conn,
            workspace,
            id,
            StatusChange {
                status: "REVOKED",
                decided_by: None,
                decided_at: None,
                decision_comment: None,
                accepted_value: None,
                now,
            },
        )
        .await?;
        store::exceptions::insert_exception_history(
            conn,
            &[history(
                id,
                workspace,
                "exception.revoke",
                &actor,
                comment.clone(),
                now,
            )],
        )
        .await?;
        release_finding(
            conn,
            workspace,
            ex.finding_id,
            id,
            &actor,
            format!("exception {id} revoked"),
            now,
        )
        .await?;
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action: "exception.revoke",
                target_type: "FindingException",
                target_id: id.to_string(),
                before: Some(json!({"status": ex.status})),
                after: Some(json!({"status": "REVOKED", "comment": comment})),
                touches_activity: true,
            },
        )
        .await?;
        Ok(row)
    })
    .await
}

/// Renews an APPROVED exception (capability `exception.request`): a new PENDING request
/// linked to it, which stays in force until its own expiry.
pub async fn renew_exception(
    app: &AppContext,
    access: &Access,
    id: Uuid,
    expires_at: DateTime<Utc>,
    justification: &str,
) -> AppResult<ExceptionRow> {
    let mut conn = app.db.conn().await?;
    let workspace = workspace_of(
        access,
        store::exceptions::find_exception_workspace(&mut conn, id),
        Capability::ExceptionRequest,
        "exception",
    )
    .await?;
    let justification = text("justification", Some(justification), MAX_TEXT)?.unwrap_or_default();
    let now = app.clock.now();
    let max_days = store::workspaces::find_workspace(&mut conn, workspace)
        .await?
        .ok_or_else(|| AppError::not_found("workspace"))?
        .exception_max_days;
    check_request(&justification, expires_at, now, max_days)
        .map_err(|(f, m)| AppError::bad_input(f, m))?;
    let actor = access.actor();
    let tenant = tenant_of(&mut conn, workspace, id).await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        store::findings::lock_tenant_findings(conn, tenant).await?;
        let requester = user_id(conn, access).await?;
        let old = store::exceptions::lock_exception(conn, workspace, id)
            .await?
            .ok_or_else(|| AppError::not_found("exception"))?;
        if !old.in_force(now) {
            return Err(AppError::Conflict(format!(
                "the exception is {}{}; only an APPROVED exception in force can be renewed (request a new one)",
                old.status,
                if old.superseded_at.is_some() { " and superseded" } else { "" }
            )));
        }
        let chain =
            store::exceptions::list_exceptions_by_findings(conn, &[workspace.0], &[old.finding_id])
                .await?;
        if let Some(r) = chain.iter().find(|e| {
            e.renewal_of == Some(old.id) && (e.status == "PENDING" || e.in_force(now))
        }) {
            return Err(AppError::Conflict(format!(
                "the exception is already renewed ({} renewal {}); renew the newest exception of the chain",
                r.status, r.id
            )));
        }
        if expires_at <= old.expires_at {
            return Err(AppError::bad_input("expiresAt", "must be later than the current exception's expiry"));
        }
        let row = store::exceptions::insert_exception(conn, &NewException {
            workspace_id: workspace.0,
            finding_id: old.finding_id,
            tenant_id: old.tenant_id,
            scope: old.scope.clone(),
            setting_path: old.setting_path.clone(),
            justification: justification.clone(),
            compensating_controls: old.compensating_controls.clone(),
            ticket_reference: old.ticket_reference.clone(),
            requested_by: requester,
            requested_at: now,
            expires_at,
            renewal_of: Some(old.id),
        })
        .await?;
        store::exceptions::insert_exception_history(conn, &[
            history(row.id, workspace, "exception.request", &actor, Some(format!("renewal of exception {}: {justification}", old.id)), now),
            history(old.id, workspace, "exception.renewal_requested", &actor, Some(format!("renewal {} requested until {}", row.id, expires_at.to_rfc3339())), now),
        ])
        .await?;
        record(conn, Audit {
            workspace: Some(workspace),
            actor: actor.clone(),
            action: "exception.renew",
            target_type: "FindingException",
            target_id: row.id.to_string(),
            before: Some(json!({"renewalOf": old.id, "expiresAt": old.expires_at})),
            after: Some(audit_after(&row)),
            touches_activity: true,
        })
        .await?;
        Ok(row)
    })
    .await
}

/// Queues an expiry sweep of a workspace (capability `exception.approve`).
pub async fn start_expiry_sweep(
    app: &AppContext,
    access: &Access,
    workspace: WorkspaceId,
) -> AppResult<OperationRunRow> {
    access.user_email_or_system()?;
    access
        .require(workspace, Capability::ExceptionApprove)
        .await?;
    super::operations::enqueue(
        app,
        access,
        workspace,
        None,
        kinds::EXCEPTION_EXPIRY,
        json!({}),
    )
    .await
}

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    pub expired: usize,
    pub reopened: usize,
    pub expiring_soon: usize,
}

impl SweepOutcome {
    pub fn summary(&self) -> String {
        format!(
            "{} exception(s) expired, {} finding(s) reopened, {} expiring soon",
            self.expired, self.reopened, self.expiring_soon
        )
    }
}

/// Expires the workspace's exceptions whose time has come (their findings reopen) and
/// records the "expiring soon" event once per exception.
pub async fn sweep_expired(
    app: &AppContext,
    workspace: WorkspaceId,
    actor: &str,
) -> AppResult<SweepOutcome> {
    let now = app.clock.now();
    let soon = now + chrono::Duration::days(EXPIRING_SOON_DAYS);
    let mut conn = app.db.conn().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        // Tenant locks first (sorted), as evaluations take them, then the exceptions.
        let mut tenants = store::exceptions::list_due_tenants(conn, workspace, now, soon).await?;
        tenants.sort();
        for t in tenants {
            store::findings::lock_tenant_findings(conn, TenantId(t)).await?;
        }
        let due = store::exceptions::lock_due_exceptions(conn, workspace, now, soon).await?;
        let mut out = SweepOutcome::default();
        let mut noticed = Vec::new();
        for ex in &due {
            if ex.expires_at <= now {
                store::exceptions::update_exception(
                    conn,
                    workspace,
                    ex.id,
                    StatusChange {
                        status: ExceptionStatus::Expired.as_str(),
                        decided_by: None,
                        decided_at: None,
                        decision_comment: None,
                        accepted_value: None,
                        now,
                    },
                )
                .await?;
                store::exceptions::insert_exception_history(
                    conn,
                    &[history(
                        ex.id,
                        workspace,
                        "exception.expire",
                        actor,
                        Some(format!("expired at {}", ex.expires_at.to_rfc3339())),
                        now,
                    )],
                )
                .await?;
                record(
                    conn,
                    Audit {
                        workspace: Some(workspace),
                        actor: actor.to_string(),
                        action: "exception.expire",
                        target_type: "FindingException",
                        target_id: ex.id.to_string(),
                        before: Some(json!({"status": ex.status, "expiresAt": ex.expires_at})),
                        after: Some(json!({"status": "EXPIRED"})),
                        touches_activity: true,
                    },
                )
                .await?;
                out.expired += 1;
                if ex.status == "APPROVED"
                    && release_finding(
                        conn,
                        workspace,
                        ex.finding_id,
                        ex.id,
                        actor,
                        format!("exception {} expired", ex.id),
                        now,
                    )
                    .await?
                {
                    out.reopened += 1;
                }
            } else {
                noticed.push(ex.id);
                store::exceptions::insert_exception_history(
                    conn,
                    &[history(
                        ex.id,
                        workspace,
                        "exception.expiring_soon",
                        actor,
                        Some(format!("expires at {}", ex.expires_at.to_rfc3339())),
                        now,
                    )],
                )
                .await?;
                record(
                    conn,
                    Audit {
                        workspace: Some(workspace),
                        actor: actor.to_string(),
                        action: "exception.expiring_soon",
                        target_type: "FindingException",
                        target_id: ex.id.to_string(),
                        before: None,
                        after: Some(
                            json!({"expiresAt": ex.expires_at, "findingId": ex.finding_id}),
                        ),
                        touches_activity: false,
                    },
                )
                .await?;
                out.expiring_soon += 1;
            }
        }
        store::exceptions::mark_expiry_notice(conn, workspace, &noticed, now).await?;
        Ok(out)
    })
    .await
}

/// Queues a sweep for every workspace with exceptions due (the workers call this
/// periodically); a workspace with a sweep already queued is skipped.
pub async fn schedule_sweeps(app: &AppContext) -> AppResult<usize> {
    let now = app.clock.now();
    let soon = now + chrono::Duration::days(EXPIRING_SOON_DAYS);
    let workspaces = {
        let mut conn = app.db.conn().await?;
        store::exceptions::list_workspaces_with_due(&mut conn, now, soon).await?
    };
    let mut queued = 0;
    for ws in workspaces {
        match super::operations::enqueue_as(
            app,
            "system:exceptions".into(),
            WorkspaceId(ws),
            None,
            kinds::EXCEPTION_EXPIRY,
            json!({}),
        )
        .await
        {
            Ok(_) => queued += 1,
            Err(AppError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(queued)
}

/// A resolved finding needs no acceptance: its exceptions in force stop covering it (they
/// stay in the register as history).
pub async fn close_for_resolved(
    conn: &mut Conn,
    workspace: WorkspaceId,
    findings: &[Uuid],
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if findings.is_empty() {
        return Ok(());
    }
    let rows =
        store::exceptions::list_exceptions_by_findings(conn, &[workspace.0], findings).await?;
    let open: Vec<&ExceptionRow> = rows.iter().filter(|e| e.in_force(now)).collect();
    let ids: Vec<Uuid> = open.iter().map(|e| e.id).collect();
    store::exceptions::mark_superseded(conn, workspace, &ids, now).await?;
    let entries: Vec<NewExceptionHistory> = open
        .iter()
        .map(|e| {
            history(
                e.id,
                workspace,
                "exception.close",
                actor,
                Some(format!("the finding was resolved: {reason}")),
                now,
            )
        })
        .collect();
    store::exceptions::insert_exception_history(conn, &entries).await
}

/// Drift evaluations keep watching accepted findings: a RISK_ACCEPTED finding whose actual
/// value is no longer the accepted one reopens, and its exception is superseded. Returns
/// the reopened findings.
pub async fn supersede_changed(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: TenantId,
    detected: &[(Uuid, Option<&serde_json::Value>)],
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<Vec<Uuid>> {
    let approved = store::exceptions::list_approved_for_tenant(conn, workspace, tenant).await?;
    if approved.is_empty() {
        return Ok(Vec::new());
    }
    let mut reopened = Vec::new();
    for (finding, actual) in detected {
        for ex in approved
            .iter()
            .filter(|e| e.finding_id == *finding && e.in_force(now))
        {
            if crate::domain::exceptions::covers(ex.accepted_value.as_ref(), *actual) {
                continue;
            }
            store::exceptions::mark_superseded(conn, workspace, &[ex.id], now).await?;
            store::exceptions::insert_exception_history(
                conn,
                &[history(
                    ex.id,
                    workspace,
                    "exception.supersede",
                    actor,
                    Some(format!(
                        "the actual value changed from the accepted {} to {}",
                        ex.accepted_value
                            .as_ref()
                            .map_or("null".into(), |v| v.to_string()),
                        actual.map_or("null".into(), |v| v.to_string())
                    )),
                    now,
                )],
            )
            .await?;
            record(
                conn,
                Audit {
                    workspace: Some(workspace),
                    actor: actor.to_string(),
                    action: "exception.supersede",
                    target_type: "FindingException",
                    target_id: ex.id.to_string(),
                    before: Some(json!({"acceptedValue": ex.accepted_value})),
                    after: Some(json!({"actualValue": actual})),
                    touches_activity: true,
                },
            )
            .await?;
            if release_finding(
                conn,
                workspace,
                *finding,
                ex.id,
                actor,
                format!("exception {} superseded: the accepted value changed", ex.id),
                now,
            )
            .await?
            {
                reopened.push(*finding);
            }
        }
    }
    Ok(reopened)
}
