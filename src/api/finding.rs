//! Findings (drift against baselines), their workflow, and compliance scores and trends.
use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use uuid::Uuid;

use super::{
    access, app,
    baseline::Baseline,
    errors::{to_graphql, ApiResult},
    loaders::{FindingCountKey, FindingPageKey},
    node::{expect_global_id, to_global_id, NodeType},
    operation_run::OperationRun,
    pagination::{connection, Conn, PageArgs},
    policy::Policy,
    scalars::DateTime,
    state,
    tenant::Tenant,
    user::User,
    workspace::OrderDirection,
};
use crate::{
    authz::Capability,
    domain::{
        drift::{DriftKind, Severity},
        findings::{percent, FindingStatus as DomainStatus, WorkflowAction},
        ids::{TenantId, WorkspaceId},
    },
    error::{AppError, AppResult},
    service::{self, findings::Compliance},
    store::{
        self,
        findings::{FindingOrder, FindingParent, FindingQuery, FindingRow},
    },
};

/// How much a finding matters (from the baseline's override, else the registry's default
/// per contract type and setting category).
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "Severity")]
pub enum SeverityLevel {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl SeverityLevel {
    pub fn domain(self) -> Severity {
        match self {
            Self::Critical => Severity::Critical,
            Self::High => Severity::High,
            Self::Medium => Severity::Medium,
            Self::Low => Severity::Low,
            Self::Info => Severity::Info,
        }
    }
    pub fn from_domain(s: Severity) -> Self {
        match s {
            Severity::Critical => Self::Critical,
            Severity::High => Self::High,
            Severity::Medium => Self::Medium,
            Severity::Low => Self::Low,
            Severity::Info => Self::Info,
        }
    }
}

/// What kind of drift a finding reports.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum FindingKind {
    /// No tenant policy matches the baseline policy.
    MissingPolicy,
    /// A setting has another value than the baseline's (see expected and actual).
    SettingMismatch,
    /// The baseline configures a setting (or a parent with its children) the tenant does not.
    MissingSetting,
    /// The tenant configures a setting the baseline does not.
    UnexpectedSetting,
    /// The matching tenant policy was deleted in the tenant.
    GhostPolicy,
    /// Several tenant policies match the baseline policy; map one with `mapBaselinePolicy`.
    AmbiguousMatch,
}

impl FindingKind {
    fn domain(self) -> DriftKind {
        match self {
            Self::MissingPolicy => DriftKind::MissingPolicy,
            Self::SettingMismatch => DriftKind::SettingMismatch,
            Self::MissingSetting => DriftKind::MissingSetting,
            Self::UnexpectedSetting => DriftKind::UnexpectedSetting,
            Self::GhostPolicy => DriftKind::GhostPolicy,
            Self::AmbiguousMatch => DriftKind::AmbiguousMatch,
        }
    }
    fn from_domain(k: DriftKind) -> Self {
        match k {
            DriftKind::MissingPolicy => Self::MissingPolicy,
            DriftKind::SettingMismatch => Self::SettingMismatch,
            DriftKind::MissingSetting => Self::MissingSetting,
            DriftKind::UnexpectedSetting => Self::UnexpectedSetting,
            DriftKind::GhostPolicy => Self::GhostPolicy,
            DriftKind::AmbiguousMatch => Self::AmbiguousMatch,
        }
    }
}

/// Where a finding is in its workflow.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum FindingStatus {
    /// Detected, nobody looked yet.
    Open,
    /// Looked at and confirmed.
    Triaged,
    /// Someone is fixing it.
    InProgress,
    /// No longer detected, or resolved by hand (the next evaluation re-checks it).
    Resolved,
    /// Accepted as a risk.
    RiskAccepted,
}

impl FindingStatus {
    fn domain(self) -> DomainStatus {
        match self {
            Self::Open => DomainStatus::Open,
            Self::Triaged => DomainStatus::Triaged,
            Self::InProgress => DomainStatus::InProgress,
            Self::Resolved => DomainStatus::Resolved,
            Self::RiskAccepted => DomainStatus::RiskAccepted,
        }
    }
    fn parse(s: &str) -> Self {
        match DomainStatus::parse(s) {
            Some(DomainStatus::Triaged) => Self::Triaged,
            Some(DomainStatus::InProgress) => Self::InProgress,
            Some(DomainStatus::Resolved) => Self::Resolved,
            Some(DomainStatus::RiskAccepted) => Self::RiskAccepted,
            _ => Self::Open,
        }
    }
}

/// One problem in one tenant, deduplicated by its fingerprint.
#[derive(Clone, Debug)]
pub struct Finding(pub FindingRow);

impl Finding {
    /// Loads a finding the caller may read (`finding.read`), else `None`.
    pub async fn load_visible(ctx: &Context<'_>, id: Uuid) -> AppResult<Option<Self>> {
        let mut conn = app(ctx).db.conn().await?;
        let Some(workspace) = store::findings::find_finding_workspace(&mut conn, id).await? else {
            return Ok(None);
        };
        if !access(ctx)
            .can_see(WorkspaceId(workspace), Capability::FindingRead)
            .await?
        {
            return Ok(None);
        }
        Ok(
            store::findings::list_findings_by_ids(&mut conn, &[workspace], &[id])
                .await?
                .into_iter()
                .next()
                .map(Finding),
        )
    }
}

/// A comment on a finding.
#[derive(SimpleObject, Clone)]
pub struct FindingComment {
    /// The comment's id.
    pub id: ID,
    /// `user:<e-mail>` (or `system:<component>`).
    pub author: String,
    /// The text (secrets in it are redacted).
    pub body: String,
    pub created_at: DateTime,
}

/// One change of a finding.
#[derive(SimpleObject, Clone)]
pub struct FindingHistoryEntry {
    /// `finding.detect`, `finding.reopen`, `finding.auto_resolve`, `finding.triage`,
    /// `finding.start`, `finding.resolve`, `finding.assign`, `finding.comment`.
    pub action: String,
    /// `user:<e-mail>` or `system:<component>`.
    pub actor: String,
    pub from_status: Option<FindingStatus>,
    pub to_status: Option<FindingStatus>,
    /// Why, or what (a comment, "no longer detected", "assigned to ...").
    pub comment: Option<String>,
    pub at: DateTime,
}

#[Object]
impl Finding {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        to_global_id(NodeType::Finding, self.0.id)
    }
    async fn kind(&self) -> FindingKind {
        FindingKind::from_domain(
            DriftKind::parse(&self.0.kind).unwrap_or(DriftKind::SettingMismatch),
        )
    }
    async fn severity(&self) -> SeverityLevel {
        SeverityLevel::from_domain(crate::domain::findings::severity_of(&self.0.severity))
    }
    async fn status(&self) -> FindingStatus {
        FindingStatus::parse(&self.0.status)
    }
    /// One line for lists.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The setting's path (definition ids joined by `/`, dotted property names,
    /// `omaSettings[<omaUri>]`); null for policy-level findings.
    async fn setting_path(&self) -> Option<&str> {
        self.0.setting_path.as_deref()
    }
    /// What the baseline expects (null when it expects nothing, e.g. an unexpected setting).
    async fn expected_value(&self) -> Option<Json<serde_json::Value>> {
        self.0.expected_value.clone().map(Json)
    }
    /// What the tenant has (null when it has nothing, e.g. a missing setting).
    async fn actual_value(&self) -> Option<Json<serde_json::Value>> {
        self.0.actual_value.clone().map(Json)
    }
    /// Identity: sha256 of (tenant, baseline, baseline policy, path, kind).
    async fn fingerprint(&self) -> &str {
        &self.0.fingerprint
    }
    /// The compliance weight of the checks this finding stands for.
    async fn weight(&self) -> i64 {
        self.0.weight
    }
    async fn tenant(&self, ctx: &Context<'_>) -> async_graphql::Result<Tenant> {
        state(ctx)
            .loaders
            .tenants
            .load_one(self.0.tenant_id)
            .await
            .api()?
            .map(Tenant)
            .ok_or_else(|| to_graphql(AppError::not_found("tenant")))
    }
    /// The tenant policy compared (null when none matched).
    async fn policy(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Policy>> {
        let Some(id) = self.0.policy_id else {
            return Ok(None);
        };
        Ok(state(ctx)
            .loaders
            .policies
            .load_one((self.0.workspace_id, id))
            .await
            .api()?
            .map(Policy))
    }
    async fn baseline(&self, ctx: &Context<'_>) -> async_graphql::Result<Baseline> {
        state(ctx)
            .loaders
            .baselines
            .load_one((self.0.workspace_id, self.0.baseline_id))
            .await
            .api()?
            .map(Baseline)
            .ok_or_else(|| to_graphql(AppError::not_found("baseline")))
    }
    async fn first_seen_at(&self) -> DateTime {
        self.0.first_seen_at.into()
    }
    /// When an evaluation last detected it.
    async fn last_seen_at(&self) -> DateTime {
        self.0.last_seen_at.into()
    }
    async fn resolved_at(&self) -> Option<DateTime> {
        self.0.resolved_at.map(Into::into)
    }
    /// Why it was resolved ("no longer detected", "resolved by ...", "baseline unassigned").
    async fn resolution(&self) -> Option<&str> {
        self.0.resolution.as_deref()
    }
    /// How often it came back after being resolved.
    async fn reopen_count(&self) -> i32 {
        self.0.reopen_count
    }
    async fn assignee(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(id) = self.0.assignee_user_id else {
            return Ok(None);
        };
        Ok(state(ctx)
            .loaders
            .users
            .load_one(id)
            .await
            .api()?
            .map(User::from))
    }
    /// Comments, oldest first.
    async fn comments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<FindingComment>> {
        let rows = state(ctx)
            .loaders
            .comments
            .load_one((self.0.workspace_id, self.0.id))
            .await
            .api()?
            .unwrap_or_default();
        Ok(rows
            .iter()
            .map(|c| FindingComment {
                id: to_global_id(NodeType::FindingComment, c.id),
                author: c.author.clone(),
                body: c.body.clone(),
                created_at: c.created_at.into(),
            })
            .collect())
    }
    /// Risk acceptances requested for it, oldest first. Capability `exception.read`.
    async fn exceptions(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::exception::FindingException>> {
        super::exception::finding_exceptions(ctx, WorkspaceId(self.0.workspace_id), self.0.id)
            .await
            .api()
    }
    /// Every change, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<FindingHistoryEntry>> {
        let rows = state(ctx)
            .loaders
            .history
            .load_one((self.0.workspace_id, self.0.id))
            .await
            .api()?
            .unwrap_or_default();
        Ok(rows
            .iter()
            .map(|h| FindingHistoryEntry {
                action: h.action.clone(),
                actor: h.actor.clone(),
                from_status: h.from_status.as_deref().map(FindingStatus::parse),
                to_status: h.to_status.as_deref().map(FindingStatus::parse),
                comment: h.comment.clone(),
                at: h.at.into(),
            })
            .collect())
    }
}

/// Filter of finding lists.
#[derive(InputObject, Default, Clone)]
pub struct FindingFilter {
    pub status: Option<FindingStatus>,
    pub severity: Option<SeverityLevel>,
    pub kind: Option<FindingKind>,
    pub tenant_id: Option<ID>,
    pub policy_id: Option<ID>,
    pub baseline_id: Option<ID>,
}

/// What finding lists sort by.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum FindingOrderField {
    /// Most severe first by default (then most recently seen).
    #[default]
    Severity,
    FirstSeen,
    LastSeen,
}

/// Sort of finding lists (default: SEVERITY, DESC).
#[derive(InputObject, Clone, Copy, Default)]
pub struct FindingOrderBy {
    #[graphql(default)]
    pub field: FindingOrderField,
    #[graphql(default_with = "OrderDirection::Desc")]
    pub direction: OrderDirection,
}

fn to_query(
    filter: Option<FindingFilter>,
    order: Option<FindingOrderBy>,
) -> AppResult<FindingQuery> {
    let f = filter.unwrap_or_default();
    let id = |v: &Option<ID>, ty, field: &str| {
        v.as_ref()
            .map(|id| expect_global_id(id, ty, field))
            .transpose()
    };
    let order = order.unwrap_or(FindingOrderBy {
        field: FindingOrderField::Severity,
        direction: OrderDirection::Desc,
    });
    Ok(FindingQuery {
        status: f.status.map(|s| s.domain().as_str().to_string()),
        severity: f.severity.map(|s| s.domain().as_str().to_string()),
        kind: f.kind.map(|k| k.domain().as_str().to_string()),
        tenant: id(&f.tenant_id, NodeType::Tenant, "filter.tenantId")?,
        policy: id(&f.policy_id, NodeType::Policy, "filter.policyId")?,
        baseline: id(&f.baseline_id, NodeType::Baseline, "filter.baselineId")?,
        order: match order.field {
            FindingOrderField::Severity => FindingOrder::Severity,
            FindingOrderField::FirstSeen => FindingOrder::FirstSeen,
            FindingOrderField::LastSeen => FindingOrder::LastSeen,
        },
        ascending: order.direction == OrderDirection::Asc,
    })
}

/// `Workspace.findings`, `Tenant.findings`, `Policy.findings`: capability `finding.read`,
/// batched across parents.
pub async fn list_findings(
    ctx: &Context<'_>,
    parent: FindingParent,
    workspace: WorkspaceId,
    id: Uuid,
    page: PageArgs,
    filter: Option<FindingFilter>,
    order: Option<FindingOrderBy>,
) -> AppResult<Conn<Finding>> {
    access(ctx)
        .require(workspace, Capability::FindingRead)
        .await?;
    let query = to_query(filter, order)?;
    let loaders = &state(ctx).loaders;
    let total = loaders
        .finding_counts
        .load_one(FindingCountKey {
            parent,
            workspace: workspace.0,
            id,
            query: query.clone(),
        })
        .await?
        .unwrap_or(0);
    let window = page.loader_window(total as usize)?;
    let rows = loaders
        .finding_pages
        .load_one(FindingPageKey {
            parent,
            workspace: workspace.0,
            id,
            query,
            window,
        })
        .await?
        .unwrap_or_default();
    Ok(connection(
        rows.iter().cloned().map(Finding).collect(),
        window,
        total,
    ))
}

/// Open findings by severity.
#[derive(SimpleObject, Clone, Default)]
pub struct SeverityCounts {
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub info: i64,
    /// All of them.
    pub total: i64,
}

impl SeverityCounts {
    fn of(open: [i64; 5]) -> Self {
        Self {
            critical: open[0],
            high: open[1],
            medium: open[2],
            low: open[3],
            info: open[4],
            total: open.iter().sum(),
        }
    }
}

/// How compliant a tenant (or a workspace) is with its assigned baselines, by severity
/// weight (CRITICAL 10, HIGH 5, MEDIUM 3, LOW 1, INFO 0 per check). Accepted risk is
/// neither compliant nor open drift.
#[derive(SimpleObject, Clone)]
pub struct ComplianceScore {
    /// 0-100: the compliant share of the checked weight, rounded down; null when nothing
    /// was evaluated yet.
    pub score: Option<i32>,
    /// Weight of every check of the latest evaluations.
    pub total_weight: i64,
    /// Weight of checks without open drift or accepted risk.
    pub compliant_weight: i64,
    /// Weight of open findings (OPEN, TRIAGED, IN_PROGRESS).
    pub open_drift_weight: i64,
    /// Weight of RISK_ACCEPTED findings.
    pub accepted_risk_weight: i64,
    /// Percentages of the total weight (one decimal).
    pub compliant_percent: f64,
    pub open_drift_percent: f64,
    pub accepted_risk_percent: f64,
    /// Open findings by severity.
    pub open_findings: SeverityCounts,
    /// Findings accepted as risks.
    pub accepted_findings: i64,
}

impl ComplianceScore {
    pub fn of(c: &Compliance) -> Self {
        let total = c.total_weight.max(0) as u64;
        let drift = (c.drift_weight.max(0) as u64).min(total);
        let accepted = (c.accepted_weight.max(0) as u64).min(total - drift);
        let compliant = total - drift - accepted;
        Self {
            score: c.score(),
            total_weight: c.total_weight,
            compliant_weight: compliant as i64,
            open_drift_weight: c.drift_weight,
            accepted_risk_weight: c.accepted_weight,
            compliant_percent: if total == 0 {
                0.0
            } else {
                percent(compliant, total)
            },
            open_drift_percent: percent(drift, total),
            accepted_risk_percent: percent(accepted, total),
            open_findings: SeverityCounts::of(c.open),
            accepted_findings: c.accepted_count,
        }
    }
}

/// One day of a compliance trend (for sparklines).
#[derive(SimpleObject, Clone)]
pub struct CompliancePoint {
    /// The day (UTC), `YYYY-MM-DD`.
    pub date: String,
    /// The day's last score; null before the first evaluation.
    pub score: Option<i32>,
    pub open_drift_percent: Option<f64>,
    pub accepted_risk_percent: Option<f64>,
}

/// One day of open findings by severity.
#[derive(SimpleObject, Clone)]
pub struct FindingsTrendPoint {
    /// The day (UTC), `YYYY-MM-DD`.
    pub date: String,
    pub open: SeverityCounts,
    /// Findings accepted as risks that day.
    pub accepted: i64,
}

fn check_days(days: Option<i32>) -> AppResult<u32> {
    match days.unwrap_or(30) {
        d if (1..=366).contains(&d) => Ok(d as u32),
        _ => Err(AppError::bad_input("days", "must be between 1 and 366")),
    }
}

type TrendPoints = Vec<(chrono::NaiveDate, Option<Compliance>, Option<i32>)>;

async fn trend(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    tenant: Option<Uuid>,
    days: u32,
) -> AppResult<TrendPoints> {
    let from = service::findings::trend_start(days);
    let rows = state(ctx)
        .loaders
        .trends
        .load_one(super::loaders::TrendKey {
            workspace: workspace.0,
            tenant,
            from,
        })
        .await?
        .unwrap_or_default();
    Ok(service::findings::trend_points(&rows, from))
}

/// `complianceTrend(days)`: capability `finding.read`.
pub async fn compliance_trend(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    tenant: Option<Uuid>,
    days: Option<i32>,
) -> AppResult<Vec<CompliancePoint>> {
    access(ctx)
        .require(workspace, Capability::FindingRead)
        .await?;
    let days = check_days(days)?;
    let points = trend(ctx, workspace, tenant, days).await?;
    Ok(points
        .into_iter()
        .map(|(day, c, score)| {
            let s = c.as_ref().map(ComplianceScore::of);
            CompliancePoint {
                date: day.format("%Y-%m-%d").to_string(),
                score,
                open_drift_percent: s.as_ref().map(|s| s.open_drift_percent),
                accepted_risk_percent: s.as_ref().map(|s| s.accepted_risk_percent),
            }
        })
        .collect())
}

/// `Workspace.findingsTrend(days)`: capability `finding.read`.
pub async fn findings_trend(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    days: Option<i32>,
) -> AppResult<Vec<FindingsTrendPoint>> {
    access(ctx)
        .require(workspace, Capability::FindingRead)
        .await?;
    let days = check_days(days)?;
    let points = trend(ctx, workspace, None, days).await?;
    Ok(points
        .into_iter()
        .map(|(day, c, _)| {
            let c = c.unwrap_or_default();
            FindingsTrendPoint {
                date: day.format("%Y-%m-%d").to_string(),
                open: SeverityCounts::of(c.open),
                accepted: c.accepted_count,
            }
        })
        .collect())
}

/// `Workspace.complianceScore`.
pub async fn workspace_score(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
) -> AppResult<ComplianceScore> {
    access(ctx)
        .require(workspace, Capability::FindingRead)
        .await?;
    let c = state(ctx)
        .loaders
        .workspace_compliance
        .load_one(workspace.0)
        .await?
        .unwrap_or_default();
    Ok(ComplianceScore::of(&c))
}

/// `Tenant.complianceScore`, batched across tenants.
pub async fn tenant_score(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    tenant: Uuid,
) -> AppResult<ComplianceScore> {
    access(ctx)
        .require(workspace, Capability::FindingRead)
        .await?;
    let c = state(ctx)
        .loaders
        .compliance
        .load_one((workspace.0, tenant))
        .await?
        .unwrap_or_default();
    Ok(ComplianceScore::of(&c))
}

/// Input of `startDriftEvaluation`.
#[derive(InputObject)]
pub struct StartDriftEvaluationInput {
    /// The tenant to evaluate against its assigned baselines.
    pub tenant_id: ID,
}

/// Result of `startDriftEvaluation`.
#[derive(SimpleObject)]
pub struct StartDriftEvaluationPayload {
    /// The queued run (kind DRIFT_EVALUATION); follow it with `operationRunProgress`.
    pub operation_run: OperationRun,
}

/// Input of the status steps (`triageFinding`, `startFinding`, `resolveFinding`).
#[derive(InputObject)]
pub struct FindingStepInput {
    pub finding_id: ID,
    /// Why (kept in the history).
    pub comment: Option<String>,
}

/// Input of `assignFinding`.
#[derive(InputObject)]
pub struct AssignFindingInput {
    pub finding_id: ID,
    /// A user with a role in the workspace, by `User.id` or e-mail; null unassigns.
    pub assignee_user_id: Option<ID>,
}

/// Input of `commentOnFinding`.
#[derive(InputObject)]
pub struct CommentOnFindingInput {
    pub finding_id: ID,
    /// The comment (1 to 4000 characters).
    pub body: String,
}

/// Result of the finding workflow mutations.
#[derive(SimpleObject)]
pub struct FindingPayload {
    /// The finding after the change.
    pub finding: Finding,
}

/// Drift and finding mutations.
#[derive(Default)]
pub struct FindingMutation;

async fn step(
    ctx: &Context<'_>,
    finding: &ID,
    action: WorkflowAction,
    comment: Option<&str>,
    assignee: Option<Option<Uuid>>,
) -> async_graphql::Result<FindingPayload> {
    let id = expect_global_id(finding, NodeType::Finding, "findingId").api()?;
    let row =
        service::findings::apply_workflow(app(ctx), access(ctx), id, action, comment, assignee)
            .await
            .api()?;
    Ok(FindingPayload {
        finding: Finding(row),
    })
}

#[Object]
impl FindingMutation {
    /// Queues a drift evaluation of a tenant and returns the run at once. Capability
    /// `drift.evaluate`. (Every successful inventory sync of a tenant with assigned
    /// baselines queues one too.)
    async fn start_drift_evaluation(
        &self,
        ctx: &Context<'_>,
        input: StartDriftEvaluationInput,
    ) -> async_graphql::Result<StartDriftEvaluationPayload> {
        // Authentication first: an anonymous caller learns nothing, not even input errors.
        access(ctx).user_email_or_system().api()?;
        let tenant = expect_global_id(&input.tenant_id, NodeType::Tenant, "tenantId").api()?;
        let run = service::drift::start_drift_evaluation(app(ctx), access(ctx), TenantId(tenant))
            .await
            .api()?;
        Ok(StartDriftEvaluationPayload {
            operation_run: OperationRun(run),
        })
    }

    /// OPEN -> TRIAGED. Capability `finding.triage`; another status is CONFLICT.
    async fn triage_finding(
        &self,
        ctx: &Context<'_>,
        input: FindingStepInput,
    ) -> async_graphql::Result<FindingPayload> {
        access(ctx).user_email_or_system().api()?;
        step(
            ctx,
            &input.finding_id,
            WorkflowAction::Triage,
            input.comment.as_deref(),
            None,
        )
        .await
    }

    /// OPEN or TRIAGED -> IN_PROGRESS. Capability `finding.triage`.
    async fn start_finding(
        &self,
        ctx: &Context<'_>,
        input: FindingStepInput,
    ) -> async_graphql::Result<FindingPayload> {
        access(ctx).user_email_or_system().api()?;
        step(
            ctx,
            &input.finding_id,
            WorkflowAction::Start,
            input.comment.as_deref(),
            None,
        )
        .await
    }

    /// OPEN, TRIAGED or IN_PROGRESS -> RESOLVED by hand. The next evaluation re-checks it
    /// and reopens it if the drift is still there. Capability `finding.triage`.
    async fn resolve_finding(
        &self,
        ctx: &Context<'_>,
        input: FindingStepInput,
    ) -> async_graphql::Result<FindingPayload> {
        access(ctx).user_email_or_system().api()?;
        step(
            ctx,
            &input.finding_id,
            WorkflowAction::Resolve,
            input.comment.as_deref(),
            None,
        )
        .await
    }

    /// Assigns an open finding to a workspace member (null unassigns). Capability
    /// `finding.triage`.
    async fn assign_finding(
        &self,
        ctx: &Context<'_>,
        input: AssignFindingInput,
    ) -> async_graphql::Result<FindingPayload> {
        access(ctx).user_email_or_system().api()?;
        let assignee = match input.assignee_user_id.as_ref() {
            None => None,
            Some(id) if id.contains('@') => {
                let email = crate::domain::workspace::normalize_email("assigneeUserId", id)
                    .map_err(|e| to_graphql(e.into()))?;
                let mut conn = app(ctx).db.conn().await.api()?;
                let user = store::users::find_user_by_email(&mut conn, &email)
                    .await
                    .api()?
                    .ok_or_else(|| {
                        to_graphql(AppError::bad_input(
                            "assigneeUserId",
                            "no user with this e-mail holds a role here",
                        ))
                    })?;
                Some(user.id)
            }
            Some(id) => Some(
                expect_global_id(id, NodeType::User, "assigneeUserId")
                    .map_err(|_| {
                        AppError::bad_input(
                            "assigneeUserId",
                            "not a User id or e-mail (see Workspace.members { user { id email } })",
                        )
                    })
                    .api()?,
            ),
        };
        step(
            ctx,
            &input.finding_id,
            WorkflowAction::Assign,
            None,
            Some(assignee),
        )
        .await
    }

    /// Adds a comment (any status). Capability `finding.triage`.
    async fn comment_on_finding(
        &self,
        ctx: &Context<'_>,
        input: CommentOnFindingInput,
    ) -> async_graphql::Result<FindingPayload> {
        access(ctx).user_email_or_system().api()?;
        step(
            ctx,
            &input.finding_id,
            WorkflowAction::Comment,
            Some(&input.body),
            None,
        )
        .await
    }
}
