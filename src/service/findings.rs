//! The findings workflow (triage, assign, start, resolve, comment) and compliance
//! scores with their daily snapshots.
use chrono::{NaiveDate, Utc};
use diesel_async::AsyncConnection;
use serde_json::json;
use uuid::Uuid;

use super::{record, AppContext, Audit};
use crate::{
    authz::{Access, Capability},
    domain::{
        findings::{compliance_score, FindingStatus, WorkflowAction},
        ids::{TenantId, WorkspaceId},
        roles::user_subject,
        secrets::redact_text,
    },
    error::{AppError, AppResult},
    store::{
        self,
        findings::{FindingRow, FindingTotals, NewHistory, SnapshotRow},
        Conn,
    },
};

/// Longest comment.
pub const MAX_COMMENT: usize = 4000;

/// Totals of a scope: checked weight, open drift weight, accepted weight, open counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compliance {
    pub total_weight: i64,
    pub drift_weight: i64,
    pub accepted_weight: i64,
    /// Open findings by severity: critical, high, medium, low, info.
    pub open: [i64; 5],
    pub accepted_count: i64,
}

impl Compliance {
    fn add(&mut self, t: &FindingTotals) {
        self.total_weight += t.total_weight;
        self.drift_weight += t.drift_weight;
        self.accepted_weight += t.accepted_weight;
        for (slot, v) in self.open.iter_mut().zip([
            t.open_critical,
            t.open_high,
            t.open_medium,
            t.open_low,
            t.open_info,
        ]) {
            *slot += v;
        }
        self.accepted_count += t.accepted_count;
    }

    /// 0-100, or `None` when nothing was evaluated.
    pub fn score(&self) -> Option<i32> {
        compliance_score(
            self.total_weight.max(0) as u64,
            self.drift_weight.max(0) as u64,
            self.accepted_weight.max(0) as u64,
        )
    }

    fn snapshot(
        &self,
        workspace: WorkspaceId,
        tenant: Option<Uuid>,
        day: NaiveDate,
    ) -> SnapshotRow {
        let c = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        SnapshotRow {
            workspace_id: workspace.0,
            tenant_id: tenant,
            day,
            score: self.score(),
            total_weight: self.total_weight,
            drift_weight: self.drift_weight,
            accepted_weight: self.accepted_weight,
            open_critical: c(self.open[0]),
            open_high: c(self.open[1]),
            open_medium: c(self.open[2]),
            open_low: c(self.open[3]),
            open_info: c(self.open[4]),
            accepted_count: c(self.accepted_count),
        }
    }

    pub fn from_snapshot(s: &SnapshotRow) -> Self {
        Self {
            total_weight: s.total_weight,
            drift_weight: s.drift_weight,
            accepted_weight: s.accepted_weight,
            open: [
                s.open_critical.into(),
                s.open_high.into(),
                s.open_medium.into(),
                s.open_low.into(),
                s.open_info.into(),
            ],
            accepted_count: s.accepted_count.into(),
        }
    }
}

/// Current compliance of tenants of a workspace (all evaluated tenants when `None`),
/// keyed by tenant.
pub async fn compliance_by_tenant(
    conn: &mut Conn,
    workspaces: &[Uuid],
    tenants: Option<&[Uuid]>,
) -> AppResult<Vec<(Uuid, Compliance)>> {
    Ok(store::findings::finding_totals(conn, workspaces, tenants)
        .await?
        .into_iter()
        .map(|t| {
            let mut c = Compliance::default();
            c.add(&t);
            (t.tenant_id, c)
        })
        .collect())
}

/// Writes today's snapshots of a tenant (when given) and of its workspace.
pub async fn refresh_compliance(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: Option<TenantId>,
) -> AppResult<()> {
    let day = Utc::now().date_naive();
    store::findings::lock_workspace_compliance(conn, workspace).await?;
    let all = compliance_by_tenant(conn, &[workspace.0], None).await?;
    let mut whole = Compliance::default();
    for (_, c) in &all {
        whole.total_weight += c.total_weight;
        whole.drift_weight += c.drift_weight;
        whole.accepted_weight += c.accepted_weight;
        for (a, b) in whole.open.iter_mut().zip(c.open) {
            *a += b;
        }
        whole.accepted_count += c.accepted_count;
    }
    if let Some(t) = tenant {
        let mine = all
            .iter()
            .find(|(id, _)| *id == t.0)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        store::findings::upsert_snapshot(conn, &mine.snapshot(workspace, Some(t.0), day)).await?;
    }
    store::findings::upsert_snapshot(conn, &whole.snapshot(workspace, None, day)).await
}

/// Resolves a tenant's unresolved findings of one baseline (it was unassigned).
pub async fn resolve_baseline_findings(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenant: TenantId,
    baseline: Uuid,
    reason: &str,
    actor: &str,
) -> AppResult<()> {
    let states = store::findings::list_tenant_finding_states(conn, workspace, tenant).await?;
    let open: Vec<&store::findings::FindingState> = states
        .iter()
        .filter(|f| f.baseline_id == baseline && f.status != "RESOLVED")
        .collect();
    let ids: Vec<Uuid> = open.iter().map(|f| f.id).collect();
    let now = Utc::now();
    store::findings::set_statuses(conn, workspace, &ids, "RESOLVED", Some(reason), now).await?;
    let rows: Vec<NewHistory> = open
        .iter()
        .map(|f| NewHistory {
            finding_id: f.id,
            workspace_id: workspace.0,
            action: "finding.auto_resolve".into(),
            actor: actor.to_string(),
            from_status: Some(f.status.clone()),
            to_status: Some("RESOLVED".into()),
            comment: Some(reason.to_string()),
            at: now,
        })
        .collect();
    store::findings::insert_history(conn, &rows).await?;
    let accepted: Vec<Uuid> = open
        .iter()
        .filter(|f| f.status == "RISK_ACCEPTED")
        .map(|f| f.id)
        .collect();
    super::exceptions::close_for_resolved(conn, workspace, &accepted, reason, actor, now).await?;
    refresh_compliance(conn, workspace, Some(tenant)).await
}

/// Looks up the workspace of a finding the caller may act on with `capability`.
async fn authorize_finding(
    app: &AppContext,
    access: &Access,
    id: Uuid,
    capability: Capability,
) -> AppResult<WorkspaceId> {
    access.user_email_or_system()?;
    let mut conn = app.db.conn().await?;
    let found = store::findings::find_finding_workspace(&mut conn, id)
        .await?
        .map(WorkspaceId);
    let workspace = super::require_visible(access, found, capability, "finding").await?;
    Ok(workspace)
}

fn check_comment(field: &str, text: Option<&str>, required: bool) -> AppResult<Option<String>> {
    let Some(text) = text else {
        return if required {
            Err(AppError::bad_input(field, "must not be empty"))
        } else {
            Ok(None)
        };
    };
    if text.contains('\0') {
        return Err(AppError::bad_input(
            field,
            "must not contain NUL characters",
        ));
    }
    let t = text.trim();
    let invisible = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{00ad}')
    };
    if t.chars().all(invisible) {
        return if required {
            Err(AppError::bad_input(field, "must not be empty"))
        } else {
            Ok(None)
        };
    }
    if t.chars().count() > MAX_COMMENT {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {MAX_COMMENT} characters"),
        ));
    }
    // People paste secrets into tickets: comments go through the detector too.
    Ok(Some(redact_text(t).into_owned()))
}

/// A workflow step on a finding (capability `finding.triage`): the status rule is checked
/// under the finding's row lock (a refused step is CONFLICT and changes nothing), and the
/// change, its history entry and its audit event commit together.
pub async fn apply_workflow(
    app: &AppContext,
    access: &Access,
    id: Uuid,
    action: WorkflowAction,
    comment: Option<&str>,
    assignee: Option<Option<Uuid>>,
) -> AppResult<FindingRow> {
    let workspace = authorize_finding(app, access, id, Capability::FindingTriage).await?;
    let comment = check_comment(
        if action == WorkflowAction::Comment {
            "body"
        } else {
            "comment"
        },
        comment,
        action == WorkflowAction::Comment,
    )?;
    let assignee_email = match assignee {
        Some(Some(user)) => Some(assignable_user(app, workspace, user).await?),
        _ => None,
    };
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let before = store::findings::lock_finding(conn, workspace, id)
            .await?
            .ok_or_else(|| AppError::not_found("finding"))?;
        let from = FindingStatus::parse(&before.status)
            .ok_or_else(|| AppError::internal("unknown finding status"))?;
        let target = action.check(from).map_err(AppError::Conflict)?;
        let now = Utc::now();
        let after = match action {
            WorkflowAction::Comment => {
                let body = comment.clone().unwrap_or_default();
                store::findings::insert_comment(conn, workspace, id, &actor, &body).await?;
                before.clone()
            }
            WorkflowAction::Assign => {
                store::findings::update_workflow(
                    conn,
                    workspace,
                    id,
                    &before.status,
                    None,
                    assignee,
                    now,
                )
                .await?
            }
            _ => {
                let to = target.unwrap_or(from);
                let resolution = (to == FindingStatus::Resolved).then(|| {
                    format!(
                        "resolved by {actor}{}",
                        comment
                            .as_deref()
                            .map(|c| format!(": {c}"))
                            .unwrap_or_default()
                    )
                });
                store::findings::update_workflow(
                    conn,
                    workspace,
                    id,
                    to.as_str(),
                    resolution.as_deref(),
                    None,
                    now,
                )
                .await?
            }
        };
        store::findings::insert_history(
            conn,
            &[NewHistory {
                finding_id: id,
                workspace_id: workspace.0,
                action: action.as_str().to_string(),
                actor: actor.clone(),
                from_status: Some(before.status.clone()),
                to_status: Some(after.status.clone()),
                comment: match action {
                    WorkflowAction::Assign => Some(match &assignee_email {
                        Some(e) => format!("assigned to {e}"),
                        None => "unassigned".to_string(),
                    }),
                    _ => comment.clone(),
                },
                at: now,
            }],
        )
        .await?;
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action: action.as_str(),
                target_type: "Finding",
                target_id: id.to_string(),
                before: Some(
                    json!({"status": before.status, "assigneeUserId": before.assignee_user_id}),
                ),
                after: Some(json!({
                    "status": after.status,
                    "assigneeUserId": after.assignee_user_id,
                    "comment": comment,
                })),
                touches_activity: true,
            },
        )
        .await?;
        if before.status != after.status {
            refresh_compliance(conn, workspace, Some(TenantId(after.tenant_id))).await?;
        }
        Ok(after)
    })
    .await
}

/// The e-mail of a user who holds a role in the workspace (or a platform role).
async fn assignable_user(
    app: &AppContext,
    workspace: WorkspaceId,
    user: Uuid,
) -> AppResult<String> {
    let mut conn = app.db.conn().await?;
    let row = store::users::list_users_by_ids(&mut conn, &[user])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::bad_input("assigneeUserId", "no such user"))?;
    let subject = user_subject(&row.email);
    let grants = app.authz.grants_of(&subject).await;
    let member = grants.iter().any(|(_, domain)| {
        domain == &workspace.0.to_string() || domain == crate::domain::roles::PLATFORM_DOMAIN
    });
    if !member {
        return Err(AppError::bad_input(
            "assigneeUserId",
            "the user holds no role in this workspace",
        ));
    }
    Ok(row.email)
}

/// Current compliance of whole workspaces, keyed by workspace (every key present).
pub async fn compliance_by_workspace(
    conn: &mut Conn,
    workspaces: &[Uuid],
) -> AppResult<std::collections::HashMap<Uuid, Compliance>> {
    let mut out: std::collections::HashMap<Uuid, Compliance> = workspaces
        .iter()
        .map(|w| (*w, Compliance::default()))
        .collect();
    for t in store::findings::finding_totals(conn, workspaces, None).await? {
        out.entry(t.workspace_id).or_default().add(&t);
    }
    Ok(out)
}

/// The first day of a trend of `days` days ending today (UTC).
pub fn trend_start(days: u32) -> NaiveDate {
    Utc::now().date_naive() - chrono::Days::new(u64::from(days.saturating_sub(1)))
}

/// One point per day from `from` to today (oldest first) out of one scope's snapshots
/// (oldest first): each the latest snapshot of that day or carried forward from an earlier
/// one; `None` before the first snapshot.
pub fn trend_points(
    rows: &[SnapshotRow],
    from: NaiveDate,
) -> Vec<(NaiveDate, Option<Compliance>, Option<i32>)> {
    let today = Utc::now().date_naive();
    let mut out = Vec::new();
    let mut last: Option<&SnapshotRow> = None;
    let mut it = rows.iter().peekable();
    let mut day = from;
    while day <= today {
        while let Some(r) = it.peek() {
            if r.day <= day {
                last = Some(r);
                it.next();
            } else {
                break;
            }
        }
        out.push((
            day,
            last.map(Compliance::from_snapshot),
            last.and_then(|r| r.score),
        ));
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(day: NaiveDate, score: i32, open_high: i32) -> SnapshotRow {
        SnapshotRow {
            workspace_id: Uuid::nil(),
            tenant_id: None,
            day,
            score: Some(score),
            total_weight: 100,
            drift_weight: i64::from(100 - score),
            accepted_weight: 0,
            open_critical: 0,
            open_high,
            open_medium: 0,
            open_low: 0,
            open_info: 0,
            accepted_count: 0,
        }
    }

    #[test]
    fn trends_carry_the_last_snapshot_forward_and_are_empty_before_the_first() {
        let today = Utc::now().date_naive();
        let day = |n: u64| today - chrono::Days::new(n);
        // An earlier snapshot (before the window), one inside it, none today.
        let rows = vec![snapshot(day(9), 70, 3), snapshot(day(2), 90, 1)];
        let points = trend_points(&rows, day(4));
        let scores: Vec<Option<i32>> = points.iter().map(|p| p.2).collect();
        assert_eq!(
            scores,
            vec![Some(70), Some(70), Some(90), Some(90), Some(90)]
        );
        assert_eq!(points.last().map(|p| p.0), Some(today));
        assert_eq!(points[0].1.as_ref().map(|c| c.open[1]), Some(3));
        let none = trend_points(&[snapshot(day(1), 80, 0)], day(3));
        assert_eq!(
            none.iter().map(|p| p.2).collect::<Vec<_>>(),
            vec![None, None, Some(80), Some(80)]
        );
        assert_eq!(trend_start(1), today);
        assert_eq!(trend_start(7), day(6));
    }
}
