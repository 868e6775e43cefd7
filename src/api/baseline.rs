//! Baselines: the expected configuration, versioned, assigned to tenants.
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use uuid::Uuid;

use super::{
    access, app,
    errors::{to_graphql, ApiResult},
    finding::SeverityLevel,
    node::{expect_global_id, to_global_id, NodeType},
    operation_run::OperationRun,
    pagination::{paginate_vec, Conn, PageArgs},
    policy::Policy,
    scalars::DateTime,
    state,
    tenant::Tenant,
    workspace::Workspace,
};
use crate::{
    authz::Capability,
    domain::ids::WorkspaceId,
    error::{AppError, AppResult},
    service::{self, baselines::BaselineSource},
    store::{
        self,
        baselines::{AssignmentRow, BaselineItemRow, BaselineRow, BaselineVersionRow},
    },
};

/// The expected configuration: policies snapshotted from a reference tenant (or chosen
/// one by one), assigned to tenants whose drift from it becomes findings.
#[derive(Clone, Debug)]
pub struct Baseline(pub BaselineRow);

impl Baseline {
    /// Loads a baseline the caller may read (`baseline.read`), else `None`.
    pub async fn load_visible(ctx: &Context<'_>, id: Uuid) -> AppResult<Option<Self>> {
        let mut conn = app(ctx).db.conn().await?;
        let Some(workspace) = store::baselines::find_baseline_workspace(&mut conn, id).await?
        else {
            return Ok(None);
        };
        if !access(ctx)
            .can_see(WorkspaceId(workspace), Capability::BaselineRead)
            .await?
        {
            return Ok(None);
        }
        Ok(
            store::baselines::find_baseline(&mut conn, WorkspaceId(workspace), id)
                .await?
                .map(Baseline),
        )
    }
}

/// One version of a baseline (each update makes one; old ones are kept).
#[derive(Clone)]
pub struct BaselineVersion(pub BaselineVersionRow);

#[Object]
impl BaselineVersion {
    /// 1, 2, ...
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Policies in this version.
    async fn item_count(&self) -> i32 {
        self.0.item_count
    }
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// A severity for a setting path and everything below it.
#[derive(SimpleObject, Clone)]
pub struct SeverityOverride {
    /// A setting path; `""` is the whole policy.
    pub path: String,
    pub severity: SeverityLevel,
}

/// One expected policy of a baseline version.
#[derive(Clone)]
pub struct BaselineItem(pub BaselineItemRow);

#[Object]
impl BaselineItem {
    /// Opaque global id (pass it to `mapBaselinePolicy` and `setBaselineItemRules`).
    async fn id(&self) -> ID {
        to_global_id(NodeType::BaselineItem, self.0.id)
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    /// The Graph collection, e.g. `deviceManagement/configurationPolicies`.
    async fn contract_type(&self) -> &str {
        &self.0.contract_type
    }
    /// The settings catalog template id, when there is one (used for matching).
    async fn template_id(&self) -> Option<&str> {
        self.0.template_id.as_deref()
    }
    /// The display name as matching compares it (case, spacing and version suffix removed).
    async fn match_name(&self) -> &str {
        &self.0.match_name
    }
    /// The baseline version the item belongs to.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn setting_count(&self) -> i32 {
        self.0.setting_count
    }
    /// Hash of the snapshotted payload.
    async fn payload_hash(&self) -> &str {
        &self.0.payload_hash
    }
    /// The policy (and its version) the snapshot was taken from.
    async fn source_policy(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Policy>> {
        let Some(id) = self.0.source_policy_id else {
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
    async fn source_version(&self) -> Option<i32> {
        self.0.source_version
    }
    /// Severities set for paths of this policy (the longest covering path wins).
    async fn severity_overrides(&self) -> Vec<SeverityOverride> {
        service::baselines::item_rules(&self.0)
            .severity_overrides
            .into_iter()
            .map(|(path, s)| SeverityOverride {
                path,
                severity: SeverityLevel::from_domain(s),
            })
            .collect()
    }
    /// Paths (and everything below them) left out of drift.
    async fn ignored_paths(&self) -> Vec<String> {
        service::baselines::item_rules(&self.0).ignored_paths
    }
}

/// A tenant a baseline is assigned to.
#[derive(Clone)]
pub struct BaselineAssignment(pub AssignmentRow);

#[Object]
impl BaselineAssignment {
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
    async fn assigned_by(&self) -> &str {
        &self.0.assigned_by
    }
    async fn assigned_at(&self) -> DateTime {
        self.0.assigned_at.into()
    }
    /// When an evaluation last compared the tenant with this baseline.
    async fn last_evaluated_at(&self) -> Option<DateTime> {
        self.0.last_evaluated_at.map(Into::into)
    }
    /// Checks the last evaluation made (policies and settings).
    async fn check_count(&self) -> i32 {
        self.0.check_count
    }
}

#[Object]
impl Baseline {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        to_global_id(NodeType::Baseline, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// The reference tenant the baseline was taken from (null for hand-picked policies).
    async fn source_tenant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Tenant>> {
        let Some(id) = self.0.source_tenant_id else {
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
    /// The version evaluations compare with.
    async fn current_version(&self) -> i32 {
        self.0.current_version
    }
    /// Every version, newest first.
    async fn versions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<BaselineVersion>> {
        let rows = state(ctx)
            .loaders
            .baseline_versions
            .load_one((self.0.workspace_id, self.0.id))
            .await
            .api()?
            .unwrap_or_default();
        Ok(rows.iter().cloned().map(BaselineVersion).collect())
    }
    /// The expected policies of a version (the current one by default), by display name.
    async fn items(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which version (default: the current one).")] version: Option<i32>,
    ) -> async_graphql::Result<Vec<BaselineItem>> {
        let rows = state(ctx)
            .loaders
            .baseline_items
            .load_one(super::loaders::ItemsKey {
                workspace: self.0.workspace_id,
                baseline: self.0.id,
                version: version.unwrap_or(self.0.current_version),
            })
            .await
            .api()?
            .unwrap_or_default();
        Ok(rows.iter().cloned().map(BaselineItem).collect())
    }
    /// Tenants the baseline is assigned to.
    async fn assignments(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<BaselineAssignment>> {
        let rows = state(ctx)
            .loaders
            .assignments
            .load_one((self.0.workspace_id, self.0.id))
            .await
            .api()?
            .unwrap_or_default();
        Ok(rows.iter().cloned().map(BaselineAssignment).collect())
    }
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
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

/// `Workspace.baselines`: capability `baseline.read`.
pub async fn workspace_baselines(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    page: PageArgs,
) -> AppResult<Conn<Baseline>> {
    access(ctx)
        .require(workspace, Capability::BaselineRead)
        .await?;
    let rows = state(ctx)
        .loaders
        .baselines_by_workspace
        .load_one(workspace.0)
        .await?
        .unwrap_or_default();
    paginate_vec(rows.iter().cloned().map(Baseline).collect(), &page)
}

/// Input of `createBaseline`: exactly one of `sourceTenantId` and `policyIds`.
#[derive(InputObject)]
pub struct CreateBaselineInput {
    pub workspace_id: ID,
    /// Unique in the workspace (case-insensitive), 1 to 200 characters.
    pub name: String,
    pub description: Option<String>,
    /// Snapshot every ACTIVE policy of this tenant.
    pub source_tenant_id: Option<ID>,
    /// Or snapshot these policies (any tenants of the workspace, at most 1000).
    pub policy_ids: Option<Vec<ID>>,
}

/// Result of `createBaseline`.
#[derive(SimpleObject)]
pub struct CreateBaselinePayload {
    pub baseline: Baseline,
}

/// Input of `updateBaseline`. `policyIds` or `refreshFromSource` make a new version (old
/// ones are kept; assigned tenants are evaluated again); name and description alone do
/// not.
#[derive(InputObject)]
pub struct UpdateBaselineInput {
    pub baseline_id: ID,
    pub name: Option<String>,
    pub description: Option<String>,
    pub policy_ids: Option<Vec<ID>>,
    /// Take a fresh snapshot of the source tenant (or of the current version's source
    /// policies) as a new version (default false).
    #[graphql(default)]
    pub refresh_from_source: bool,
}

/// Result of `updateBaseline`.
#[derive(SimpleObject)]
pub struct UpdateBaselinePayload {
    /// The baseline at its new version.
    pub baseline: Baseline,
}

/// Input of `assignBaseline` and `unassignBaseline`.
#[derive(InputObject)]
pub struct BaselineTenantsInput {
    pub baseline_id: ID,
    /// Tenants of the baseline's workspace (at most 1000).
    pub tenant_ids: Vec<ID>,
}

/// Result of `assignBaseline`.
#[derive(SimpleObject)]
pub struct AssignBaselinePayload {
    pub baseline: Baseline,
    /// The drift evaluations queued for newly assigned tenants.
    pub operation_runs: Vec<OperationRun>,
}

/// Result of `unassignBaseline`.
#[derive(SimpleObject)]
pub struct UnassignBaselinePayload {
    pub baseline: Baseline,
}

/// Input of `mapBaselinePolicy`.
#[derive(InputObject)]
pub struct MapBaselinePolicyInput {
    pub baseline_item_id: ID,
    /// A tenant policy of the same contract type; the mapping holds for its tenant.
    pub policy_id: ID,
}

/// Result of `mapBaselinePolicy` and `setBaselineItemRules`.
#[derive(SimpleObject)]
pub struct BaselineItemPayload {
    pub baseline_item: BaselineItem,
}

/// A severity override to set.
#[derive(InputObject)]
pub struct SeverityOverrideInput {
    /// A setting path; `""` is the whole policy.
    pub path: String,
    pub severity: SeverityLevel,
}

/// Input of `setBaselineItemRules`: each list given replaces the item's; an omitted one
/// is kept. Paths are trimmed; a path covers everything below it.
#[derive(InputObject)]
pub struct SetBaselineItemRulesInput {
    pub baseline_item_id: ID,
    pub severity_overrides: Option<Vec<SeverityOverrideInput>>,
    pub ignored_paths: Option<Vec<String>>,
}

fn ids(list: &[ID], ty: NodeType, field: &str) -> AppResult<Vec<Uuid>> {
    list.iter()
        .enumerate()
        .map(|(i, id)| expect_global_id(id, ty, &format!("{field}[{i}]")))
        .collect()
}

/// Baseline mutations.
#[derive(Default)]
pub struct BaselineMutation;

#[Object]
impl BaselineMutation {
    /// Creates a baseline from a reference tenant or chosen policies. Capability
    /// `baseline.manage`.
    async fn create_baseline(
        &self,
        ctx: &Context<'_>,
        input: CreateBaselineInput,
    ) -> async_graphql::Result<CreateBaselinePayload> {
        // Authentication first: an anonymous caller learns nothing, not even input errors.
        access(ctx).user_email_or_system().api()?;
        let workspace = Workspace::parse_id(&input.workspace_id).api()?;
        let source = match (&input.source_tenant_id, &input.policy_ids) {
            (Some(t), None) => BaselineSource::Tenant(crate::domain::ids::TenantId(
                expect_global_id(t, NodeType::Tenant, "sourceTenantId").api()?,
            )),
            (None, Some(p)) => {
                BaselineSource::Policies(ids(p, NodeType::Policy, "policyIds").api()?)
            }
            _ => {
                return Err(to_graphql(AppError::bad_input(
                    "sourceTenantId",
                    "give exactly one of sourceTenantId and policyIds",
                )))
            }
        };
        let row = service::baselines::create_baseline(
            app(ctx),
            access(ctx),
            workspace,
            &input.name,
            input.description.as_deref(),
            source,
        )
        .await
        .api()?;
        Ok(CreateBaselinePayload {
            baseline: Baseline(row),
        })
    }

    /// Makes a new version of a baseline (old versions are kept). Capability
    /// `baseline.manage`.
    async fn update_baseline(
        &self,
        ctx: &Context<'_>,
        input: UpdateBaselineInput,
    ) -> async_graphql::Result<UpdateBaselinePayload> {
        access(ctx).user_email_or_system().api()?;
        let id = expect_global_id(&input.baseline_id, NodeType::Baseline, "baselineId").api()?;
        let policies = input
            .policy_ids
            .as_deref()
            .map(|p| ids(p, NodeType::Policy, "policyIds"))
            .transpose()
            .api()?;
        let row = service::baselines::update_baseline(
            app(ctx),
            access(ctx),
            id,
            input.name.as_deref(),
            input.description.as_deref(),
            policies,
            input.refresh_from_source,
        )
        .await
        .api()?;
        Ok(UpdateBaselinePayload {
            baseline: Baseline(row),
        })
    }

    /// Assigns a baseline to tenants and queues their drift evaluations. Capability
    /// `baseline.manage`.
    async fn assign_baseline(
        &self,
        ctx: &Context<'_>,
        input: BaselineTenantsInput,
    ) -> async_graphql::Result<AssignBaselinePayload> {
        access(ctx).user_email_or_system().api()?;
        let id = expect_global_id(&input.baseline_id, NodeType::Baseline, "baselineId").api()?;
        let tenants = ids(&input.tenant_ids, NodeType::Tenant, "tenantIds").api()?;
        let (row, runs) = service::baselines::assign_baseline(app(ctx), access(ctx), id, &tenants)
            .await
            .api()?;
        let mut conn = app(ctx).db.conn().await.api()?;
        let mut operation_runs = Vec::new();
        for run in runs {
            if let Some(r) =
                store::operation_runs::find_run(&mut conn, WorkspaceId(row.workspace_id), run)
                    .await
                    .api()?
            {
                operation_runs.push(OperationRun(r));
            }
        }
        Ok(AssignBaselinePayload {
            baseline: Baseline(row),
            operation_runs,
        })
    }

    /// Unassigns a baseline from tenants; their open findings of it are resolved.
    /// Capability `baseline.manage`.
    async fn unassign_baseline(
        &self,
        ctx: &Context<'_>,
        input: BaselineTenantsInput,
    ) -> async_graphql::Result<UnassignBaselinePayload> {
        access(ctx).user_email_or_system().api()?;
        let id = expect_global_id(&input.baseline_id, NodeType::Baseline, "baselineId").api()?;
        let tenants = ids(&input.tenant_ids, NodeType::Tenant, "tenantIds").api()?;
        let row = service::baselines::unassign_baseline(app(ctx), access(ctx), id, &tenants)
            .await
            .api()?;
        Ok(UnassignBaselinePayload {
            baseline: Baseline(row),
        })
    }

    /// Says which tenant policy a baseline policy is (when matching finds none or several)
    /// and queues the tenant's evaluation. Capability `baseline.manage`.
    async fn map_baseline_policy(
        &self,
        ctx: &Context<'_>,
        input: MapBaselinePolicyInput,
    ) -> async_graphql::Result<BaselineItemPayload> {
        access(ctx).user_email_or_system().api()?;
        let item = expect_global_id(
            &input.baseline_item_id,
            NodeType::BaselineItem,
            "baselineItemId",
        )
        .api()?;
        let policy = expect_global_id(&input.policy_id, NodeType::Policy, "policyId").api()?;
        let row = service::baselines::map_baseline_policy(app(ctx), access(ctx), item, policy)
            .await
            .api()?;
        Ok(BaselineItemPayload {
            baseline_item: BaselineItem(row),
        })
    }

    /// Sets a current-version item's severity overrides and ignored paths and queues the
    /// assigned tenants' evaluations. Capability `baseline.manage`.
    async fn set_baseline_item_rules(
        &self,
        ctx: &Context<'_>,
        input: SetBaselineItemRulesInput,
    ) -> async_graphql::Result<BaselineItemPayload> {
        access(ctx).user_email_or_system().api()?;
        let item = expect_global_id(
            &input.baseline_item_id,
            NodeType::BaselineItem,
            "baselineItemId",
        )
        .api()?;
        let overrides: Option<Vec<(String, crate::domain::drift::Severity)>> =
            input.severity_overrides.map(|list| {
                list.into_iter()
                    .map(|o| (o.path, o.severity.domain()))
                    .collect()
            });
        let row = service::baselines::set_item_rules(
            app(ctx),
            access(ctx),
            item,
            overrides.as_deref(),
            input.ignored_paths.as_deref(),
        )
        .await
        .api()?;
        Ok(BaselineItemPayload {
            baseline_item: BaselineItem(row),
        })
    }
}
