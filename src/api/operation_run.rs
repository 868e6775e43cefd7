//! Operation runs: long work (inventory syncs, ...) with live progress.
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use uuid::Uuid;

use super::{
    access, app,
    errors::ApiResult,
    node::{expect_global_id, to_global_id, NodeType},
    pagination::{connection, Conn, PageArgs},
    scalars::DateTime,
    state,
    tenant::Tenant,
    workspace::{OrderDirection, Workspace},
};
use crate::{
    authz::Capability,
    domain::ids::{TenantId, WorkspaceId},
    error::{AppError, AppResult},
    service,
    store::{
        self,
        operation_runs::{OperationRunRow, RunQuery},
    },
};

/// What a run does.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum OperationRunKind {
    /// Reads a tenant's policies from its provider connection.
    InventorySync,
    /// Compares a tenant's policies with its assigned baselines and updates its findings.
    DriftEvaluation,
    /// Expires a workspace's exceptions whose time has come and reopens their findings.
    ExceptionExpiry,
    /// Builds, signs and stores an evidence pack.
    EvidencePackBuild,
}

impl OperationRunKind {
    fn as_str(self) -> &'static str {
        match self {
            OperationRunKind::InventorySync => "INVENTORY_SYNC",
            OperationRunKind::DriftEvaluation => "DRIFT_EVALUATION",
            OperationRunKind::ExceptionExpiry => "EXCEPTION_EXPIRY",
            OperationRunKind::EvidencePackBuild => "EVIDENCE_PACK_BUILD",
        }
    }
}

/// Where a run is.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum OperationRunStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker holds it.
    Running,
    /// Finished; see the counts and warnings.
    Succeeded,
    /// Finished with an error (`error` says why).
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl OperationRunStatus {
    fn parse(s: &str) -> Self {
        match s {
            "RUNNING" => Self::Running,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "CANCELLED" => Self::Cancelled,
            _ => Self::Queued,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// A problem a run met that did not stop it (a broken file, a suspect empty listing, ...).
#[derive(SimpleObject, Clone, serde::Deserialize)]
pub struct RunWarning {
    /// The file or contract type concerned.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// Counts by outcome.
#[derive(SimpleObject, Clone)]
pub struct OperationRunCounts {
    /// Policies seen for the first time.
    pub created: i32,
    /// Policies whose payload changed (a new version).
    pub updated: i32,
    /// Policies seen again unchanged.
    pub unchanged: i32,
    /// Policies found gone (now DELETED).
    pub deleted: i32,
    /// Deleted policies that came back.
    pub restored: i32,
}

/// One run of long work.
#[derive(Clone, Debug)]
pub struct OperationRun(pub OperationRunRow);

impl OperationRun {
    /// Loads a run the caller may read (`operation_run.read`), else `None`.
    pub async fn load_visible(ctx: &Context<'_>, id: Uuid) -> AppResult<Option<Self>> {
        let mut conn = app(ctx).db.conn().await?;
        let Some(workspace) = store::operation_runs::find_run_workspace(&mut conn, id).await?
        else {
            return Ok(None);
        };
        if !access(ctx)
            .can_see(WorkspaceId(workspace), Capability::OperationRunRead)
            .await?
        {
            return Ok(None);
        }
        Ok(
            store::operation_runs::find_run(&mut conn, WorkspaceId(workspace), id)
                .await?
                .map(OperationRun),
        )
    }
}

#[Object]
impl OperationRun {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        to_global_id(NodeType::OperationRun, self.0.id)
    }
    /// What the run does.
    async fn kind(&self) -> OperationRunKind {
        match self.0.kind.as_str() {
            "DRIFT_EVALUATION" => OperationRunKind::DriftEvaluation,
            "EXCEPTION_EXPIRY" => OperationRunKind::ExceptionExpiry,
            "EVIDENCE_PACK_BUILD" => OperationRunKind::EvidencePackBuild,
            _ => OperationRunKind::InventorySync,
        }
    }
    /// Where it is.
    async fn status(&self) -> OperationRunStatus {
        OperationRunStatus::parse(&self.0.status)
    }
    /// Items done so far.
    async fn processed(&self) -> i32 {
        self.0.processed
    }
    /// Items to do, once known.
    async fn total(&self) -> Option<i32> {
        self.0.total
    }
    /// Latest progress message.
    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }
    /// Problems that did not stop the run.
    async fn warnings(&self) -> Vec<RunWarning> {
        serde_json::from_value(self.0.warnings.clone()).unwrap_or_default()
    }
    /// Number of warnings.
    async fn warning_count(&self) -> usize {
        self.0.warnings.as_array().map_or(0, Vec::len)
    }
    /// Why it failed (safe to show).
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// 1 for the first attempt; more when a worker died and another resumed.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    /// Attempts allowed before a run whose workers died is FAILED.
    async fn max_attempts(&self) -> i32 {
        self.0.max_attempts
    }
    /// Whether a cancellation was requested.
    async fn cancel_requested(&self) -> bool {
        self.0.cancel_requested
    }
    /// When it was queued.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When a worker first started it.
    async fn started_at(&self) -> Option<DateTime> {
        self.0.started_at.map(Into::into)
    }
    /// When it finished.
    async fn finished_at(&self) -> Option<DateTime> {
        self.0.finished_at.map(Into::into)
    }
    /// Milliseconds from start to finish (so far, while running).
    async fn duration_ms(&self) -> Option<i64> {
        let start = self.0.started_at?;
        let end = self.0.finished_at.unwrap_or_else(chrono::Utc::now);
        Some((end - start).num_milliseconds().max(0))
    }
    /// created + updated + deleted + restored.
    async fn affected_policy_count(&self) -> i32 {
        let r = &self.0;
        r.created_count + r.updated_count + r.deleted_count + r.restored_count
    }
    /// Counts by outcome.
    async fn counts(&self) -> OperationRunCounts {
        let r = &self.0;
        OperationRunCounts {
            created: r.created_count,
            updated: r.updated_count,
            unchanged: r.unchanged_count,
            deleted: r.deleted_count,
            restored: r.restored_count,
        }
    }
    /// Who started it: `user:<e-mail>` or `system:<component>`.
    async fn initiated_by(&self) -> &str {
        &self.0.initiated_by
    }
    /// The tenant it works on.
    async fn tenant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Tenant>> {
        let Some(id) = self.0.tenant_id else {
            return Ok(None);
        };
        Ok(state(ctx)
            .loaders
            .tenants
            .load_one(id)
            .await
            .api()?
            .map(Tenant))
    }
    /// The workspace it belongs to.
    async fn workspace(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Workspace>> {
        Ok(state(ctx)
            .loaders
            .workspaces
            .load_one(self.0.workspace_id)
            .await
            .api()?
            .map(Workspace))
    }
}

/// Filter of the operations table.
#[derive(InputObject, Default)]
pub struct OperationRunFilter {
    /// Only runs of this kind.
    pub kind: Option<OperationRunKind>,
    /// Only runs in this status.
    pub status: Option<OperationRunStatus>,
    /// Only runs of this tenant.
    pub tenant_id: Option<ID>,
}

/// Sort of the operations table (by creation time; newest first by default).
#[derive(InputObject, Default, Clone, Copy)]
pub struct OperationRunOrder {
    /// Ascending (oldest first) or descending.
    #[graphql(default_with = "OrderDirection::Desc")]
    pub direction: OrderDirection,
}

/// `Workspace.operationRuns`.
pub async fn workspace_runs(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    page: PageArgs,
    filter: Option<OperationRunFilter>,
    order: Option<OperationRunOrder>,
) -> AppResult<Conn<OperationRun>> {
    access(ctx)
        .require(workspace, Capability::OperationRunRead)
        .await?;
    let filter = filter.unwrap_or_default();
    let query = RunQuery {
        kind: filter.kind.map(|k| k.as_str().to_string()),
        status: filter.status.map(|s| s.as_str().to_string()),
        tenant: filter
            .tenant_id
            .as_ref()
            .map(|id| expect_global_id(id, NodeType::Tenant, "filter.tenantId"))
            .transpose()?,
        oldest_first: order.is_some_and(|o| o.direction == OrderDirection::Asc),
    };
    let mut conn = app(ctx).db.conn().await?;
    let total = store::operation_runs::count_runs(&mut conn, workspace, &query).await?;
    let window = page.window(total as usize)?;
    let rows = store::operation_runs::list_runs(&mut conn, workspace, &query, window).await?;
    Ok(connection(
        rows.into_iter().map(OperationRun).collect(),
        window,
        total,
    ))
}

/// Input of `configureExportDirectory`.
#[derive(InputObject)]
pub struct ConfigureExportDirectoryInput {
    /// The tenant.
    pub tenant_id: ID,
    /// A folder of export files inside the server's import root (`TENANTATLAS_IMPORT_ROOT`),
    /// absolute or relative to it.
    pub path: String,
}

/// Result of `configureExportDirectory`.
#[derive(SimpleObject)]
pub struct ConfigureExportDirectoryPayload {
    /// The tenant with its new connection.
    pub tenant: Tenant,
}

/// Input of `startInventorySync`.
#[derive(InputObject)]
pub struct StartInventorySyncInput {
    /// The tenant to sync.
    pub tenant_id: ID,
    /// Contract types that may come back empty and should then be treated as deleted
    /// (without this, a type that had policies and lists none is suspect and nothing is deleted).
    #[graphql(default)]
    pub confirm_empty_types: Vec<String>,
}

/// Result of `startInventorySync`.
#[derive(SimpleObject)]
pub struct StartInventorySyncPayload {
    /// The queued run; follow it with `operationRunProgress`.
    pub operation_run: OperationRun,
}

/// Input of `cancelOperationRun`.
#[derive(InputObject)]
pub struct CancelOperationRunInput {
    /// The run.
    pub operation_run_id: ID,
}

/// Result of `cancelOperationRun`.
#[derive(SimpleObject)]
pub struct CancelOperationRunPayload {
    /// The run: CANCELLED if it had not started, else RUNNING with `cancelRequested`.
    pub operation_run: OperationRun,
}

/// Inventory and run mutations.
#[derive(Default)]
pub struct OperationMutation;

#[Object]
impl OperationMutation {
    /// Points a tenant at an export folder. Capability `connection.manage`.
    async fn configure_export_directory(
        &self,
        ctx: &Context<'_>,
        input: ConfigureExportDirectoryInput,
    ) -> async_graphql::Result<ConfigureExportDirectoryPayload> {
        let tenant = expect_global_id(&input.tenant_id, NodeType::Tenant, "tenantId").api()?;
        let row = service::operations::configure_export_directory(
            app(ctx),
            access(ctx),
            TenantId(tenant),
            &input.path,
        )
        .await
        .api()?;
        Ok(ConfigureExportDirectoryPayload {
            tenant: Tenant(row),
        })
    }

    /// Queues an inventory sync and returns the run at once. Capability `inventory.sync`.
    async fn start_inventory_sync(
        &self,
        ctx: &Context<'_>,
        input: StartInventorySyncInput,
    ) -> async_graphql::Result<StartInventorySyncPayload> {
        let tenant = expect_global_id(&input.tenant_id, NodeType::Tenant, "tenantId").api()?;
        let run = service::operations::start_inventory_sync(
            app(ctx),
            access(ctx),
            TenantId(tenant),
            &input.confirm_empty_types,
        )
        .await
        .api()?;
        Ok(StartInventorySyncPayload {
            operation_run: OperationRun(run),
        })
    }

    /// Cancels a run. Capability `operation_run.cancel`.
    async fn cancel_operation_run(
        &self,
        ctx: &Context<'_>,
        input: CancelOperationRunInput,
    ) -> async_graphql::Result<CancelOperationRunPayload> {
        let id = expect_global_id(
            &input.operation_run_id,
            NodeType::OperationRun,
            "operationRunId",
        )
        .api()?;
        let run = service::operations::cancel_operation_run(app(ctx), access(ctx), id)
            .await
            .api()?;
        Ok(CancelOperationRunPayload {
            operation_run: OperationRun(run),
        })
    }
}

/// Re-reads a run for a subscription (ids travel in events; state comes from the table).
pub async fn reload_run(
    app: &crate::service::AppContext,
    workspace: Uuid,
    id: Uuid,
) -> AppResult<Option<OperationRunRow>> {
    let mut conn = app.db.conn().await?;
    store::operation_runs::find_run(&mut conn, WorkspaceId(workspace), id).await
}

/// Decodes an `OperationRun` id.
pub fn parse_run_id(id: &ID, field: &str) -> AppResult<Uuid> {
    expect_global_id(id, NodeType::OperationRun, field)
        .map_err(|_| AppError::bad_input(field, "not an OperationRun id"))
}
