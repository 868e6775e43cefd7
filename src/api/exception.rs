//! Risk acceptance: finding exceptions, the register, and the four-eyes workflow.
use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use uuid::Uuid;

use super::{
    access, app,
    errors::{to_graphql, ApiResult},
    finding::Finding,
    node::{expect_global_id, to_global_id, NodeType},
    operation_run::OperationRun,
    pagination::{connection, Conn, PageArgs},
    scalars::DateTime,
    state,
    user::User,
    workspace::Workspace,
};
use crate::{
    authz::Capability,
    domain::{
        exceptions::{expires_in_days, ExceptionStatus as Status},
        ids::WorkspaceId,
    },
    error::{AppError, AppResult},
    service::{self, exceptions::ExceptionRequest},
    store::{
        self,
        exceptions::{ExceptionQuery, ExceptionRow},
    },
};

/// Where an exception is.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExceptionStatus {
    /// Requested, waiting for an approver (never the requester).
    Pending,
    /// In force until `expiresAt` (unless superseded: see `supersededAt`).
    Approved,
    /// Refused by an approver.
    Rejected,
    /// Withdrawn by an approver; the finding is open again.
    Revoked,
    /// Its time ran out; the finding reopened (unless a renewal covers it).
    Expired,
}

impl ExceptionStatus {
    fn parse(s: &str) -> Self {
        match Status::parse(s) {
            Some(Status::Approved) => Self::Approved,
            Some(Status::Rejected) => Self::Rejected,
            Some(Status::Revoked) => Self::Revoked,
            Some(Status::Expired) => Self::Expired,
            _ => Self::Pending,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
            Self::Revoked => "REVOKED",
            Self::Expired => "EXPIRED",
        }
    }
}

/// What an exception accepts.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExceptionScope {
    /// The whole finding.
    Finding,
    /// One setting path of the finding.
    Setting,
}

/// One step of an exception's life.
#[derive(SimpleObject, Clone)]
pub struct ExceptionHistoryEntry {
    /// `exception.request`, `exception.approve`, `exception.reject`, `exception.revoke`,
    /// `exception.renewal_requested`, `exception.renewed`, `exception.supersede`,
    /// `exception.expiring_soon`, `exception.expire`.
    pub action: String,
    /// `user:<e-mail>` or `system:<component>`.
    pub actor: String,
    pub at: DateTime,
    pub comment: Option<String>,
}

/// A formal, expiring acceptance of a finding's risk.
#[derive(Clone, Debug)]
pub struct FindingException(pub ExceptionRow);

impl FindingException {
    /// Loads an exception the caller may read (`exception.read`), else `None`.
    pub async fn load_visible(ctx: &Context<'_>, id: Uuid) -> AppResult<Option<Self>> {
        let mut conn = app(ctx).db.conn().await?;
        let Some(ws) = store::exceptions::find_exception_workspace(&mut conn, id).await? else {
            return Ok(None);
        };
        if !access(ctx)
            .can_see(WorkspaceId(ws), Capability::ExceptionRead)
            .await?
        {
            return Ok(None);
        }
        Ok(
            store::exceptions::list_exceptions_by_ids(&mut conn, &[ws], &[id])
                .await?
                .into_iter()
                .next()
                .map(FindingException),
        )
    }
}

async fn user(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<User>> {
    Ok(state(ctx)
        .loaders
        .users
        .load_one(id)
        .await
        .api()?
        .map(User::from))
}

#[Object]
impl FindingException {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        to_global_id(NodeType::FindingException, self.0.id)
    }
    async fn finding(&self, ctx: &Context<'_>) -> async_graphql::Result<Finding> {
        state(ctx)
            .loaders
            .findings
            .load_one((self.0.workspace_id, self.0.finding_id))
            .await
            .api()?
            .map(Finding)
            .ok_or_else(|| to_graphql(AppError::not_found("finding")))
    }
    async fn scope(&self) -> ExceptionScope {
        if self.0.scope == "SETTING" {
            ExceptionScope::Setting
        } else {
            ExceptionScope::Finding
        }
    }
    /// The setting path accepted (SETTING scope).
    async fn setting_path(&self) -> Option<&str> {
        self.0.setting_path.as_deref()
    }
    /// The finding's actual value when approved: what is accepted. A different value later
    /// supersedes the exception and reopens the finding.
    async fn accepted_value(&self) -> Option<Json<serde_json::Value>> {
        self.0.accepted_value.clone().map(Json)
    }
    async fn justification(&self) -> &str {
        &self.0.justification
    }
    async fn compensating_controls(&self) -> &str {
        &self.0.compensating_controls
    }
    /// A ticket in the PSA tool.
    async fn ticket_reference(&self) -> Option<&str> {
        self.0.ticket_reference.as_deref()
    }
    async fn requested_by(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        user(ctx, self.0.requested_by)
            .await?
            .ok_or_else(|| to_graphql(AppError::not_found("user")))
    }
    async fn requested_at(&self) -> DateTime {
        self.0.requested_at.into()
    }
    /// Who approved or rejected it.
    async fn decided_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.0.decided_by {
            Some(id) => user(ctx, id).await,
            None => Ok(None),
        }
    }
    async fn decided_at(&self) -> Option<DateTime> {
        self.0.decided_at.map(Into::into)
    }
    async fn decision_comment(&self) -> Option<&str> {
        self.0.decision_comment.as_deref()
    }
    async fn status(&self) -> ExceptionStatus {
        ExceptionStatus::parse(&self.0.status)
    }
    async fn expires_at(&self) -> DateTime {
        self.0.expires_at.into()
    }
    /// Whole days until expiry (a started day counts; negative once past).
    async fn expires_in_days(&self, ctx: &Context<'_>) -> i64 {
        expires_in_days(self.0.expires_at, app(ctx).clock.now())
    }
    /// Whether it covers its finding now (approved, not superseded, not expired).
    async fn in_force(&self, ctx: &Context<'_>) -> bool {
        self.0.in_force(app(ctx).clock.now())
    }
    /// When the finding's value moved away from the accepted one.
    async fn superseded_at(&self) -> Option<DateTime> {
        self.0.superseded_at.map(Into::into)
    }
    /// The exception this one renews.
    async fn renewal_of(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<FindingException>> {
        let Some(id) = self.0.renewal_of else {
            return Ok(None);
        };
        Ok(state(ctx)
            .loaders
            .exceptions
            .load_one((self.0.workspace_id, id))
            .await
            .api()?
            .map(FindingException))
    }
    /// Every step, oldest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ExceptionHistoryEntry>> {
        let rows = state(ctx)
            .loaders
            .exception_history
            .load_one((self.0.workspace_id, self.0.id))
            .await
            .api()?
            .unwrap_or_default();
        Ok(rows
            .iter()
            .map(|h| ExceptionHistoryEntry {
                action: h.action.clone(),
                actor: h.actor.clone(),
                at: h.at.into(),
                comment: h.comment.clone(),
            })
            .collect())
    }
}

/// `Finding.exceptions`: capability `exception.read`.
pub async fn finding_exceptions(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    finding: Uuid,
) -> AppResult<Vec<FindingException>> {
    access(ctx)
        .require(workspace, Capability::ExceptionRead)
        .await?;
    Ok(state(ctx)
        .loaders
        .finding_exceptions
        .load_one((workspace.0, finding))
        .await?
        .unwrap_or_default()
        .iter()
        .cloned()
        .map(FindingException)
        .collect())
}

/// Filter of the register.
#[derive(InputObject, Default)]
pub struct ExceptionFilter {
    pub status: Option<ExceptionStatus>,
    pub tenant_id: Option<ID>,
    /// Only APPROVED exceptions still covering their finding (not superseded) that expire
    /// within this many days (0-3650).
    pub expiring_within_days: Option<i32>,
}

/// `Workspace.exceptions`: the register, soonest expiry first. Capability `exception.read`.
pub async fn workspace_exceptions(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    page: PageArgs,
    filter: Option<ExceptionFilter>,
) -> AppResult<Conn<FindingException>> {
    access(ctx)
        .require(workspace, Capability::ExceptionRead)
        .await?;
    let f = filter.unwrap_or_default();
    let expiring_before = match f.expiring_within_days {
        None => None,
        Some(d) if (0..=3650).contains(&d) => {
            Some(app(ctx).clock.now() + chrono::Duration::days(i64::from(d)))
        }
        Some(_) => {
            return Err(AppError::bad_input(
                "filter.expiringWithinDays",
                "must be between 0 and 3650",
            ))
        }
    };
    let query = ExceptionQuery {
        status: f.status.map(|s| s.as_str().to_string()),
        tenant: f
            .tenant_id
            .as_ref()
            .map(|id| expect_global_id(id, NodeType::Tenant, "filter.tenantId"))
            .transpose()?,
        expiring_before,
    };
    let mut conn = app(ctx).db.conn().await?;
    let total = store::exceptions::count_exceptions(&mut conn, workspace, &query).await?;
    let window = page.window(total as usize)?;
    let rows = store::exceptions::list_exceptions(&mut conn, workspace, &query, window).await?;
    Ok(connection(
        rows.into_iter().map(FindingException).collect(),
        window,
        total,
    ))
}

/// Input of `requestFindingException`.
#[derive(InputObject)]
pub struct RequestFindingExceptionInput {
    /// An OPEN, TRIAGED or IN_PROGRESS finding without a pending or approved exception.
    pub finding_id: ID,
    /// Why the risk is accepted (at least 20 characters).
    pub justification: String,
    /// What reduces the risk meanwhile.
    pub compensating_controls: Option<String>,
    /// In the future, at most the workspace's `exceptionMaxDays` away (default 365).
    pub expires_at: DateTime,
    /// A ticket in the PSA tool.
    pub ticket_reference: Option<String>,
    /// Accept one setting path (the finding's `settingPath`) instead of the whole finding.
    pub setting_path: Option<String>,
}

/// Input of `approveFindingException` and `rejectFindingException`.
#[derive(InputObject)]
pub struct DecideFindingExceptionInput {
    pub exception_id: ID,
    pub comment: Option<String>,
}

/// Input of `renewFindingException`.
#[derive(InputObject)]
pub struct RenewFindingExceptionInput {
    /// An APPROVED exception in force.
    pub exception_id: ID,
    /// Later than the current expiry, at most `exceptionMaxDays` from now.
    pub expires_at: DateTime,
    /// Why it is renewed (at least 20 characters).
    pub justification: String,
}

/// Input of `startExceptionExpirySweep`.
#[derive(InputObject)]
pub struct StartExceptionExpirySweepInput {
    pub workspace_id: ID,
}

/// Result of the exception mutations.
#[derive(SimpleObject)]
pub struct FindingExceptionPayload {
    /// The exception after the change (for a renewal: the new PENDING one).
    pub exception: FindingException,
}

/// Result of `startExceptionExpirySweep`.
#[derive(SimpleObject)]
pub struct StartExceptionExpirySweepPayload {
    /// The queued run (kind EXCEPTION_EXPIRY).
    pub operation_run: OperationRun,
}

fn exception_id(id: &ID) -> async_graphql::Result<Uuid> {
    expect_global_id(id, NodeType::FindingException, "exceptionId").api()
}

/// Risk-acceptance mutations.
#[derive(Default)]
pub struct ExceptionMutation;

#[Object]
impl ExceptionMutation {
    /// Requests a risk acceptance for a finding. Capability `exception.request`.
    async fn request_finding_exception(
        &self,
        ctx: &Context<'_>,
        input: RequestFindingExceptionInput,
    ) -> async_graphql::Result<FindingExceptionPayload> {
        access(ctx).user_email().api()?;
        let finding = expect_global_id(&input.finding_id, NodeType::Finding, "findingId").api()?;
        let row = service::exceptions::request_exception(
            app(ctx),
            access(ctx),
            ExceptionRequest {
                finding,
                justification: &input.justification,
                compensating_controls: input.compensating_controls.as_deref(),
                expires_at: input.expires_at.0,
                ticket_reference: input.ticket_reference.as_deref(),
                setting_path: input.setting_path.as_deref(),
            },
        )
        .await
        .api()?;
        Ok(FindingExceptionPayload {
            exception: FindingException(row),
        })
    }

    /// Approves a PENDING exception: the finding becomes RISK_ACCEPTED and its current
    /// value is pinned as accepted. Capability `exception.approve`; never the requester.
    async fn approve_finding_exception(
        &self,
        ctx: &Context<'_>,
        input: DecideFindingExceptionInput,
    ) -> async_graphql::Result<FindingExceptionPayload> {
        access(ctx).user_email().api()?;
        let id = exception_id(&input.exception_id)?;
        let row = service::exceptions::decide_exception(
            app(ctx),
            access(ctx),
            id,
            true,
            input.comment.as_deref(),
        )
        .await
        .api()?;
        Ok(FindingExceptionPayload {
            exception: FindingException(row),
        })
    }

    /// Rejects a PENDING exception. Capability `exception.approve`; never the requester.
    async fn reject_finding_exception(
        &self,
        ctx: &Context<'_>,
        input: DecideFindingExceptionInput,
    ) -> async_graphql::Result<FindingExceptionPayload> {
        access(ctx).user_email().api()?;
        let id = exception_id(&input.exception_id)?;
        let row = service::exceptions::decide_exception(
            app(ctx),
            access(ctx),
            id,
            false,
            input.comment.as_deref(),
        )
        .await
        .api()?;
        Ok(FindingExceptionPayload {
            exception: FindingException(row),
        })
    }

    /// Revokes an APPROVED exception: the finding is OPEN again. Capability
    /// `exception.approve`.
    async fn revoke_finding_exception(
        &self,
        ctx: &Context<'_>,
        input: DecideFindingExceptionInput,
    ) -> async_graphql::Result<FindingExceptionPayload> {
        access(ctx).user_email().api()?;
        let id = exception_id(&input.exception_id)?;
        let row = service::exceptions::revoke_exception(
            app(ctx),
            access(ctx),
            id,
            input.comment.as_deref(),
        )
        .await
        .api()?;
        Ok(FindingExceptionPayload {
            exception: FindingException(row),
        })
    }

    /// Requests a renewal: a new PENDING exception linked to this one, which stays in
    /// force until its own expiry. Capability `exception.request`.
    async fn renew_finding_exception(
        &self,
        ctx: &Context<'_>,
        input: RenewFindingExceptionInput,
    ) -> async_graphql::Result<FindingExceptionPayload> {
        access(ctx).user_email().api()?;
        let id = exception_id(&input.exception_id)?;
        let row = service::exceptions::renew_exception(
            app(ctx),
            access(ctx),
            id,
            input.expires_at.0,
            &input.justification,
        )
        .await
        .api()?;
        Ok(FindingExceptionPayload {
            exception: FindingException(row),
        })
    }

    /// Queues an expiry sweep of the workspace now (workers also run one whenever
    /// exceptions are due). Capability `exception.approve`.
    async fn start_exception_expiry_sweep(
        &self,
        ctx: &Context<'_>,
        input: StartExceptionExpirySweepInput,
    ) -> async_graphql::Result<StartExceptionExpirySweepPayload> {
        access(ctx).user_email().api()?;
        let workspace = Workspace::parse_id(&input.workspace_id).api()?;
        let run = service::exceptions::start_expiry_sweep(app(ctx), access(ctx), workspace)
            .await
            .api()?;
        Ok(StartExceptionExpirySweepPayload {
            operation_run: OperationRun(run),
        })
    }
}
