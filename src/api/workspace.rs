//! Workspaces: the chooser query, fields and mutations.
use super::scalars::DateTime;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use uuid::Uuid;

use super::{
    access, app,
    audit::AuditEvent,
    errors::ApiResult,
    loaders::AuditPageKey,
    node::{expect_global_id, to_global_id, NodeType},
    pagination::{connection, paginate_vec, Conn, PageArgs},
    roles::{Role, RoleAssignment},
    state,
    tenant::Tenant,
};
use crate::{
    authz::{Capability, Visibility},
    domain::{ids::WorkspaceId, roles::Role as DomainRole},
    error::{AppError, AppResult},
    service,
    store::{
        self,
        preferences::Preference,
        workspaces::{WorkspaceOrderField as StoreOrderField, WorkspaceQuery, WorkspaceRow},
    },
};

/// Where a workspace sits in the customer's delivery pipeline.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::domain::workspace::Environment")]
pub enum Environment {
    Production,
    Staging,
    Test,
    Development,
}

/// A workspace: one MSP customer or business unit, holding tenants.
#[derive(Clone, Debug)]
pub struct Workspace(pub WorkspaceRow);

impl Workspace {
    pub fn workspace_id(&self) -> WorkspaceId {
        self.0.workspace_id()
    }

    /// Loads a workspace the caller may read (`workspace.read`), else `None`.
    pub async fn load_visible(ctx: &Context<'_>, id: Uuid) -> AppResult<Option<Self>> {
        if !access(ctx)
            .can_see(WorkspaceId(id), Capability::WorkspaceRead)
            .await?
        {
            return Ok(None);
        }
        Ok(state(ctx)
            .loaders
            .workspaces
            .load_one(id)
            .await?
            .map(Workspace))
    }

    /// Decodes `workspaceId` inputs.
    pub fn parse_id(id: &ID) -> AppResult<WorkspaceId> {
        expect_global_id(id, NodeType::Workspace, "workspaceId").map(WorkspaceId)
    }
}

#[Object]
impl Workspace {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        to_global_id(NodeType::Workspace, self.0.id)
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Unique, URL-safe handle (`[a-z0-9-]{2,63}`).
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    /// Production, staging, test or development.
    async fn environment(&self) -> async_graphql::Result<Environment> {
        Ok(self.0.environment().api()?.into())
    }

    /// When the workspace was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When anything in the workspace last changed (every audited write moves it).
    async fn last_activity_at(&self) -> DateTime {
        self.0.last_activity_at.into()
    }

    /// Longest risk acceptance (exception) allowed, in days from the request.
    async fn exception_max_days(&self) -> i32 {
        self.0.exception_max_days
    }

    /// Whether the viewer pinned this workspace.
    async fn is_pinned(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let prefs = state(ctx)
            .loaders
            .preferences
            .load_one(self.0.id)
            .await
            .api()?;
        Ok(prefs.is_some_and(|p| p.pinned_at.is_some()))
    }

    /// Whether the viewer marked this workspace as a favourite.
    async fn is_favorite(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let prefs = state(ctx)
            .loaders
            .preferences
            .load_one(self.0.id)
            .await
            .api()?;
        Ok(prefs.is_some_and(|p| p.favorited_at.is_some()))
    }

    /// The viewer's roles here, platform roles included.
    async fn viewer_roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Role>> {
        let roles = access(ctx).roles_in(self.workspace_id()).await.api()?;
        Ok(roles
            .iter()
            .filter_map(|r| r.parse::<DomainRole>().ok())
            .map(Role::from)
            .collect())
    }

    /// Capabilities (`resource.action`) the viewer holds here.
    async fn viewer_capabilities(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        let caps = access(ctx)
            .capabilities_in(self.workspace_id())
            .await
            .api()?;
        Ok(caps.iter().map(|c| c.as_str().to_string()).collect())
    }

    /// The workspace's tenants, by display name. Capability `tenant.read`.
    #[graphql(
        complexity = "crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    async fn tenants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n tenants (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns tenants after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n tenants (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns tenants before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Tenant>> {
        access(ctx)
            .require(self.workspace_id(), Capability::TenantRead)
            .await
            .api()?;
        let rows = state(ctx)
            .loaders
            .tenants_by_workspace
            .load_one(self.0.id)
            .await
            .api()?
            .unwrap_or_default();
        let items = rows.iter().cloned().map(Tenant).collect();
        paginate_vec(items, &PageArgs::new(first, after, last, before)).api()
    }

    /// Who holds which role here. Capability `member.read`.
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RoleAssignment>> {
        access(ctx)
            .require(self.workspace_id(), Capability::MemberRead)
            .await
            .api()?;
        let mut members: Vec<RoleAssignment> = app(ctx)
            .authz
            .members_of(&self.0.id.to_string())
            .await
            .into_iter()
            .filter_map(|(subject, role)| {
                Some(RoleAssignment {
                    role: role.parse().ok()?,
                    email: subject.strip_prefix("user:")?.to_string(),
                    workspace: Some(self.clone()),
                })
            })
            .collect();
        members.sort_by(|a, b| (&a.email, a.role).cmp(&(&b.email, b.role)));
        Ok(members)
    }

    /// Policies of every tenant of the workspace, by display name. Capability `policy.read`.
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
        #[graphql(desc = "Which policies.")] filter: Option<super::policy::PolicyFilter>,
    ) -> async_graphql::Result<Conn<super::policy::Policy>> {
        super::policy::workspace_policies(
            ctx,
            self.workspace_id(),
            PageArgs::new(first, after, last, before),
            filter,
        )
        .await
        .api()
    }

    /// Which policies hold which kinds of secrets (never their values). Capability
    /// `secret.inventory.read`.
    #[graphql(
        complexity = "crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    async fn secret_inventory(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n entries (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns entries after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n entries (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns entries before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<super::policy::SecretInventoryEntry>> {
        super::policy::workspace_secret_inventory(
            ctx,
            self.workspace_id(),
            PageArgs::new(first, after, last, before),
        )
        .await
        .api()
    }

    /// Findings of every tenant: severity first by default. Capability `finding.read`.
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
    ) -> async_graphql::Result<Conn<super::finding::Finding>> {
        super::finding::list_findings(
            ctx,
            crate::store::findings::FindingParent::Workspace,
            self.workspace_id(),
            self.0.id,
            PageArgs::new(first, after, last, before),
            filter,
            order_by,
        )
        .await
        .api()
    }

    /// The risk-acceptance register: every exception, soonest expiry first. Capability
    /// `exception.read`.
    #[graphql(
        complexity = "crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    async fn exceptions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n exceptions (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns exceptions after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n exceptions (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns exceptions before this cursor.")] before: Option<String>,
        #[graphql(desc = "Which exceptions.")] filter: Option<super::exception::ExceptionFilter>,
    ) -> async_graphql::Result<Conn<super::exception::FindingException>> {
        super::exception::workspace_exceptions(
            ctx,
            self.workspace_id(),
            PageArgs::new(first, after, last, before),
            filter,
        )
        .await
        .api()
    }

    /// Evidence packs, newest first. Capability `evidence_pack.read`.
    #[graphql(
        complexity = "crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    async fn evidence_packs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n packs (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns packs after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n packs (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns packs before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<super::evidence::EvidencePack>> {
        super::evidence::workspace_evidence_packs(
            ctx,
            self.workspace_id(),
            PageArgs::new(first, after, last, before),
        )
        .await
        .api()
    }

    /// Baselines, by name. Capability `baseline.read`.
    #[graphql(
        complexity = "crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    async fn baselines(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n baselines (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns baselines after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n baselines (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns baselines before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<super::baseline::Baseline>> {
        super::baseline::workspace_baselines(
            ctx,
            self.workspace_id(),
            PageArgs::new(first, after, last, before),
        )
        .await
        .api()
    }

    /// Compliance of every evaluated tenant together. Capability `finding.read`.
    async fn compliance_score(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<super::finding::ComplianceScore> {
        super::finding::workspace_score(ctx, self.workspace_id())
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
        super::finding::compliance_trend(ctx, self.workspace_id(), None, days)
            .await
            .api()
    }

    /// Open findings by severity per day of the last `days` days, oldest first.
    /// Capability `finding.read`.
    async fn findings_trend(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many days, today included (1-366, default 30).")] days: Option<i32>,
    ) -> async_graphql::Result<Vec<super::finding::FindingsTrendPoint>> {
        super::finding::findings_trend(ctx, self.workspace_id(), days)
            .await
            .api()
    }

    /// The operations table: runs, newest first by default. Capability `operation_run.read`.
    #[graphql(
        complexity = "crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    async fn operation_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n runs (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns runs after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n runs (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns runs before this cursor.")] before: Option<String>,
        #[graphql(desc = "Which runs.")] filter: Option<super::operation_run::OperationRunFilter>,
        #[graphql(desc = "Sort by creation time.")] order_by: Option<
            super::operation_run::OperationRunOrder,
        >,
    ) -> async_graphql::Result<Conn<super::operation_run::OperationRun>> {
        super::operation_run::workspace_runs(
            ctx,
            self.workspace_id(),
            PageArgs::new(first, after, last, before),
            filter,
            order_by,
        )
        .await
        .api()
    }

    /// The audit trail, newest first. Capability `audit.read`.
    #[graphql(
        complexity = "crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n events (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns events after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n events (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns events before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<AuditEvent>> {
        access(ctx)
            .require(self.workspace_id(), Capability::AuditRead)
            .await
            .api()?;
        let loaders = &state(ctx).loaders;
        let total = loaders
            .audit_counts
            .load_one(self.0.id)
            .await
            .api()?
            .unwrap_or(0);
        let window = PageArgs::new(first, after, last, before)
            .loader_window(total as usize)
            .api()?;
        let rows = loaders
            .audit_pages
            .load_one(AuditPageKey {
                workspace: self.0.id,
                window,
            })
            .await
            .api()?
            .unwrap_or_default();
        Ok(connection(
            rows.iter().cloned().map(AuditEvent).collect(),
            window,
            total,
        ))
    }
}

/// Sort key of the workspace chooser.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum WorkspaceOrderField {
    /// Alphabetical by name (case-insensitive).
    #[default]
    Name,
    /// By `lastActivityAt`.
    LastActivity,
    /// By `createdAt`.
    CreatedAt,
}

/// Sort direction.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

/// How to sort the workspace chooser.
#[derive(InputObject, Clone, Copy, Debug, Default)]
pub struct WorkspaceOrder {
    /// The sort key.
    pub field: WorkspaceOrderField,
    /// Ascending or descending.
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// Arguments of `Query.workspaces`.
pub struct ChooserArgs {
    pub page: PageArgs,
    pub search: Option<String>,
    pub environment: Option<Environment>,
    pub order_by: Option<WorkspaceOrder>,
    pub pinned_first: bool,
}

/// The chooser: workspaces the caller holds a role in (all of them for platform roles).
pub async fn list_workspaces(ctx: &Context<'_>, args: ChooserArgs) -> AppResult<Conn<Workspace>> {
    let access = access(ctx);
    access.user_email()?;
    reject_nul("search", args.search.as_deref())?;
    let only = match access.visibility().await? {
        Visibility::All => None,
        Visibility::Only(ids) => Some(ids),
    };
    let order = args.order_by.unwrap_or_default();
    let mut conn = app(ctx).db.conn().await?;
    let viewer = match access.user_email() {
        Ok(email) => store::users::find_user_by_email(&mut conn, email)
            .await?
            .map(|u| u.id),
        Err(_) => None,
    };
    let query = WorkspaceQuery {
        only,
        search: args.search,
        environment: args.environment.map(Into::into),
        order_by: match order.field {
            WorkspaceOrderField::Name => StoreOrderField::Name,
            WorkspaceOrderField::LastActivity => StoreOrderField::LastActivity,
            WorkspaceOrderField::CreatedAt => StoreOrderField::CreatedAt,
        },
        descending: order.direction == OrderDirection::Desc,
        viewer,
        pinned_first: args.pinned_first,
    };
    let total = store::workspaces::count_workspaces(&mut conn, &query).await?;
    let window = args.page.window(total as usize)?;
    let rows = store::workspaces::list_workspaces(&mut conn, &query, window).await?;
    Ok(connection(
        rows.into_iter().map(Workspace).collect(),
        window,
        total,
    ))
}

/// Text with a NUL byte cannot be stored or compared by PostgreSQL: refuse it up front.
pub fn reject_nul(field: &str, value: Option<&str>) -> AppResult<()> {
    if value.is_some_and(|v| v.contains('\0')) {
        return Err(AppError::bad_input(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

/// `workspace(id:)` / `workspace(slug:)`: null when absent or not visible.
pub async fn find_workspace(
    ctx: &Context<'_>,
    id: Option<ID>,
    slug: Option<String>,
) -> AppResult<Option<Workspace>> {
    access(ctx).user_email()?;
    match (id, slug) {
        (Some(id), None) => {
            let id = Workspace::parse_id(&id)?;
            Workspace::load_visible(ctx, id.0).await
        }
        (None, Some(slug)) => {
            if crate::domain::workspace::validate_slug(&slug).is_err() {
                return Ok(None);
            }
            let found = {
                let mut conn = app(ctx).db.conn().await?;
                store::workspaces::find_workspace_by_slug(&mut conn, &slug).await?
            };
            match found {
                Some(row) => Workspace::load_visible(ctx, row.id).await,
                None => Ok(None),
            }
        }
        _ => Err(AppError::bad_input("id", "give exactly one of id or slug")),
    }
}

/// Input of `createWorkspace`.
#[derive(InputObject)]
pub struct CreateWorkspaceInput {
    /// Display name (not empty).
    pub name: String,
    /// Unique handle, `[a-z0-9-]{2,63}`.
    pub slug: String,
    /// Production, staging, test or development.
    pub environment: Environment,
}

/// Result of `createWorkspace`.
#[derive(SimpleObject)]
pub struct CreateWorkspacePayload {
    /// The new workspace.
    pub workspace: Workspace,
}

/// Input of `updateWorkspace`; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateWorkspaceInput {
    /// The workspace.
    pub workspace_id: ID,
    /// New display name.
    pub name: Option<String>,
    /// New slug.
    pub slug: Option<String>,
    /// New environment.
    pub environment: Option<Environment>,
    /// Longest risk acceptance allowed, in days (1-3650; default 365).
    pub exception_max_days: Option<i32>,
}

/// Result of `updateWorkspace`.
#[derive(SimpleObject)]
pub struct UpdateWorkspacePayload {
    /// The workspace after the change.
    pub workspace: Workspace,
}

macro_rules! preference_types {
    ($($input:ident, $payload:ident, $doc:literal;)*) => {$(
        #[doc = concat!("Input of `", $doc, "`.")]
        #[derive(InputObject)]
        pub struct $input {
            /// The workspace.
            pub workspace_id: ID,
        }

        #[doc = concat!("Result of `", $doc, "`.")]
        #[derive(SimpleObject)]
        pub struct $payload {
            /// The workspace.
            pub workspace: Workspace,
        }
    )*};
}

preference_types! {
    PinWorkspaceInput, PinWorkspacePayload, "pinWorkspace";
    UnpinWorkspaceInput, UnpinWorkspacePayload, "unpinWorkspace";
    FavoriteWorkspaceInput, FavoriteWorkspacePayload, "favoriteWorkspace";
    UnfavoriteWorkspaceInput, UnfavoriteWorkspacePayload, "unfavoriteWorkspace";
}

/// Workspace mutations.
#[derive(Default)]
pub struct WorkspaceMutation;

async fn set_pref(ctx: &Context<'_>, id: &ID, which: Preference, on: bool) -> AppResult<Workspace> {
    let id = Workspace::parse_id(id)?;
    let row =
        service::workspaces::set_workspace_preference(app(ctx), access(ctx), id, which, on).await?;
    Ok(Workspace(row))
}

#[Object]
impl WorkspaceMutation {
    /// Creates a workspace. Capability `workspace.create` (platform_admin).
    async fn create_workspace(
        &self,
        ctx: &Context<'_>,
        input: CreateWorkspaceInput,
    ) -> async_graphql::Result<CreateWorkspacePayload> {
        let row = service::workspaces::create_workspace(
            app(ctx),
            access(ctx),
            &input.name,
            &input.slug,
            input.environment.into(),
        )
        .await
        .api()?;
        Ok(CreateWorkspacePayload {
            workspace: Workspace(row),
        })
    }

    /// Renames a workspace or changes its slug or environment. Capability `workspace.update`.
    async fn update_workspace(
        &self,
        ctx: &Context<'_>,
        input: UpdateWorkspaceInput,
    ) -> async_graphql::Result<UpdateWorkspacePayload> {
        let id = Workspace::parse_id(&input.workspace_id).api()?;
        let row = service::workspaces::update_workspace(
            app(ctx),
            access(ctx),
            id,
            input.name.as_deref(),
            input.slug.as_deref(),
            input.environment.map(Into::into),
            input.exception_max_days,
        )
        .await
        .api()?;
        Ok(UpdateWorkspacePayload {
            workspace: Workspace(row),
        })
    }

    /// Pins a workspace to the top of the viewer's chooser. Capability `workspace.read`.
    async fn pin_workspace(
        &self,
        ctx: &Context<'_>,
        input: PinWorkspaceInput,
    ) -> async_graphql::Result<PinWorkspacePayload> {
        let workspace = set_pref(ctx, &input.workspace_id, Preference::Pinned, true)
            .await
            .api()?;
        Ok(PinWorkspacePayload { workspace })
    }

    /// Unpins a workspace. Capability `workspace.read`.
    async fn unpin_workspace(
        &self,
        ctx: &Context<'_>,
        input: UnpinWorkspaceInput,
    ) -> async_graphql::Result<UnpinWorkspacePayload> {
        let workspace = set_pref(ctx, &input.workspace_id, Preference::Pinned, false)
            .await
            .api()?;
        Ok(UnpinWorkspacePayload { workspace })
    }

    /// Marks a workspace as a favourite of the viewer. Capability `workspace.read`.
    async fn favorite_workspace(
        &self,
        ctx: &Context<'_>,
        input: FavoriteWorkspaceInput,
    ) -> async_graphql::Result<FavoriteWorkspacePayload> {
        let workspace = set_pref(ctx, &input.workspace_id, Preference::Favorite, true)
            .await
            .api()?;
        Ok(FavoriteWorkspacePayload { workspace })
    }

    /// Removes a workspace from the viewer's favourites. Capability `workspace.read`.
    async fn unfavorite_workspace(
        &self,
        ctx: &Context<'_>,
        input: UnfavoriteWorkspaceInput,
    ) -> async_graphql::Result<UnfavoriteWorkspacePayload> {
        let workspace = set_pref(ctx, &input.workspace_id, Preference::Favorite, false)
            .await
            .api()?;
        Ok(UnfavoriteWorkspacePayload { workspace })
    }
}
