//! Tenants.
use super::scalars::DateTime;
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use uuid::Uuid;

use super::{
    access, app,
    errors::ApiResult,
    node::{expect_global_id, to_global_id, NodeType},
    state,
    workspace::Workspace,
};
use crate::{
    authz::Capability,
    domain::ids::{TenantId, WorkspaceId},
    error::{AppError, AppResult},
    service,
    store::{self, tenants::TenantRow},
};

/// A Microsoft Entra tenant managed inside a workspace.
#[derive(Clone, Debug)]
pub struct Tenant(pub TenantRow);

impl Tenant {
    /// Loads a tenant the caller may read (`tenant.read` in its workspace), else `None`.
    pub async fn load_visible(ctx: &Context<'_>, id: Uuid) -> AppResult<Option<Self>> {
        let mut conn = app(ctx).db.conn().await?;
        let Some(workspace) =
            store::tenants::find_tenant_workspace(&mut conn, TenantId(id)).await?
        else {
            return Ok(None);
        };
        if !access(ctx)
            .can_see(workspace, Capability::TenantRead)
            .await?
        {
            return Ok(None);
        }
        Ok(
            store::tenants::find_tenant(&mut conn, workspace, TenantId(id))
                .await?
                .map(Tenant),
        )
    }
}

#[Object]
impl Tenant {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        to_global_id(NodeType::Tenant, self.0.id)
    }

    /// The workspace the tenant belongs to.
    async fn workspace(&self, ctx: &Context<'_>) -> async_graphql::Result<Workspace> {
        access(ctx)
            .require(WorkspaceId(self.0.workspace_id), Capability::WorkspaceRead)
            .await
            .api()?;
        state(ctx)
            .loaders
            .workspaces
            .load_one(self.0.workspace_id)
            .await
            .api()?
            .map(Workspace)
            .ok_or_else(|| super::errors::to_graphql(AppError::not_found("workspace")))
    }

    /// Name shown in the UI.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// The Entra (Azure AD) tenant id, a GUID.
    async fn entra_tenant_id(&self) -> String {
        self.0.entra_tenant_id.to_string()
    }

    /// When the tenant was added.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When the tenant was last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }

    /// When an inventory sync last completed.
    async fn last_synced_at(&self) -> Option<DateTime> {
        self.0.last_synced_at.map(Into::into)
    }

    /// Where the tenant's policies come from; null until configured.
    async fn connection(&self) -> Option<ProviderConnection> {
        Some(ProviderConnection {
            kind: match self.0.connection_kind.as_deref()? {
                "MICROSOFT_GRAPH" => ConnectionKind::MicrosoftGraph,
                _ => ConnectionKind::ExportDirectory,
            },
            path: self.0.export_path.clone(),
        })
    }

    /// The tenant's policies, by display name. Capability `policy.read`.
    #[graphql(
        complexity = "crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    async fn policies(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n policies (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns policies after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n policies (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns policies before this cursor.")] before: Option<String>,
        #[graphql(desc = "Which policies (`tenantId` is ignored here).")] filter: Option<
            super::policy::PolicyFilter,
        >,
    ) -> async_graphql::Result<super::pagination::Conn<super::policy::Policy>> {
        super::policy::tenant_policies(
            ctx,
            WorkspaceId(self.0.workspace_id),
            self.0.id,
            super::pagination::PageArgs::new(first, after, last, before),
            filter,
        )
        .await
        .api()
    }

    /// The tenant's findings: severity first by default. Capability `finding.read`.
    #[graphql(
        complexity = "crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    async fn findings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n findings (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns findings after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n findings (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns findings before this cursor.")] before: Option<String>,
        #[graphql(desc = "Which findings.")] filter: Option<super::finding::FindingFilter>,
        #[graphql(desc = "Sort (default: SEVERITY, DESC).")] order_by: Option<
            super::finding::FindingOrderBy,
        >,
    ) -> async_graphql::Result<super::pagination::Conn<super::finding::Finding>> {
        super::finding::list_findings(
            ctx,
            crate::store::findings::FindingParent::Tenant,
            WorkspaceId(self.0.workspace_id),
            self.0.id,
            super::pagination::PageArgs::new(first, after, last, before),
            filter,
            order_by,
        )
        .await
        .api()
    }

    /// Compliance with the assigned baselines. Capability `finding.read`.
    async fn compliance_score(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<super::finding::ComplianceScore> {
        super::finding::tenant_score(ctx, WorkspaceId(self.0.workspace_id), self.0.id)
            .await
            .api()
    }

    /// One point per day of the last `days` days (default 30, at most 366), oldest
    /// first. Capability `finding.read`.
    async fn compliance_trend(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many days, today included (1-366, default 30).")] days: Option<i32>,
    ) -> async_graphql::Result<Vec<super::finding::CompliancePoint>> {
        super::finding::compliance_trend(
            ctx,
            WorkspaceId(self.0.workspace_id),
            Some(self.0.id),
            days,
        )
        .await
        .api()
    }
}

/// Kind of provider connection.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConnectionKind {
    /// A folder of export files under the server's import root.
    ExportDirectory,
    /// Microsoft Graph through an app registration.
    MicrosoftGraph,
}

/// Where a tenant's policies come from.
#[derive(SimpleObject)]
pub struct ProviderConnection {
    /// The kind of connection.
    pub kind: ConnectionKind,
    /// The export folder, for EXPORT_DIRECTORY.
    pub path: Option<String>,
}

/// Input of `createTenant`.
#[derive(InputObject)]
pub struct CreateTenantInput {
    /// The workspace to add the tenant to.
    pub workspace_id: ID,
    /// Name shown in the UI (not empty).
    pub display_name: String,
    /// The Entra tenant id, a GUID; unique within the workspace.
    pub entra_tenant_id: String,
}

/// Result of `createTenant`.
#[derive(SimpleObject)]
pub struct CreateTenantPayload {
    /// The new tenant.
    pub tenant: Tenant,
}

/// Input of `updateTenant`; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateTenantInput {
    /// The tenant.
    pub tenant_id: ID,
    /// New display name.
    pub display_name: Option<String>,
}

/// Result of `updateTenant`.
#[derive(SimpleObject)]
pub struct UpdateTenantPayload {
    /// The tenant after the change.
    pub tenant: Tenant,
}

/// Tenant mutations.
#[derive(Default)]
pub struct TenantMutation;

#[Object]
impl TenantMutation {
    /// Adds a tenant to a workspace. Capability `tenant.create`.
    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        input: CreateTenantInput,
    ) -> async_graphql::Result<CreateTenantPayload> {
        let workspace = Workspace::parse_id(&input.workspace_id).api()?;
        let row = service::tenants::create_tenant(
            app(ctx),
            access(ctx),
            workspace,
            &input.display_name,
            &input.entra_tenant_id,
        )
        .await
        .api()?;
        Ok(CreateTenantPayload {
            tenant: Tenant(row),
        })
    }

    /// Changes a tenant. Capability `tenant.update`.
    async fn update_tenant(
        &self,
        ctx: &Context<'_>,
        input: UpdateTenantInput,
    ) -> async_graphql::Result<UpdateTenantPayload> {
        let id = expect_global_id(&input.tenant_id, NodeType::Tenant, "tenantId").api()?;
        let row = service::tenants::update_tenant(
            app(ctx),
            access(ctx),
            TenantId(id),
            input.display_name.as_deref(),
        )
        .await
        .api()?;
        Ok(UpdateTenantPayload {
            tenant: Tenant(row),
        })
    }
}
