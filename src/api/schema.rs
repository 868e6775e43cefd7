//! The schema: query, mutation and subscription roots, limits, and the SDL export.
use std::sync::Arc;

use async_graphql::{Context, MergedObject, Object, Schema, ID};

use super::{
    access,
    errors::ApiResult,
    node::{resolve_node, Node},
    operation_run::OperationMutation,
    pagination::{Conn, PageArgs},
    roles::RoleMutation,
    subscription::SubscriptionRoot,
    tenant::{Tenant, TenantMutation},
    viewer::Viewer,
    workspace::{self, ChooserArgs, Environment, Workspace, WorkspaceMutation, WorkspaceOrder},
};
use crate::{api::node::expect_global_id, api::node::NodeType, service::AppContext};

/// Deepest query accepted (introspection needs about 13).
pub const MAX_DEPTH: usize = 16;
/// Most complex query accepted; list fields count `first` times their children.
pub const MAX_COMPLEXITY: usize = 50_000;

/// Complexity of a root lookup: each runs its own statements, so a request cannot alias
/// thousands of them (50 per request at most).
pub const LOOKUP_COST: usize = 1_000;

/// Read entry points.
#[derive(Default)]
pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// Any object by its global id; null when it does not exist or the caller may not see it.
    #[graphql(complexity = "LOOKUP_COST + child_complexity")]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        access(ctx).user_email().api()?;
        resolve_node(ctx, &id).await.api()
    }

    /// The authenticated caller.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        let email = access(ctx).user_email().api()?;
        Ok(Viewer {
            email: email.to_string(),
        })
    }

    /// The workspace chooser: workspaces the caller holds a role in (all of them for
    /// platform roles), searchable, filterable and sortable, pinned ones first on request.
    #[graphql(
        complexity = "LOOKUP_COST + crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn workspaces(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n workspaces (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns workspaces after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n workspaces (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns workspaces before this cursor.")] before: Option<String>,
        #[graphql(desc = "Case-insensitive substring of the name or slug.")] search: Option<String>,
        #[graphql(desc = "Only workspaces of this environment.")] environment: Option<Environment>,
        #[graphql(desc = "Sort order; by name ascending when omitted.")] order_by: Option<
            WorkspaceOrder,
        >,
        #[graphql(desc = "Put the viewer's pinned workspaces first (default false).")]
        pinned_first: Option<bool>,
    ) -> async_graphql::Result<Conn<Workspace>> {
        workspace::list_workspaces(
            ctx,
            ChooserArgs {
                page: PageArgs::new(first, after, last, before),
                search,
                environment,
                order_by,
                pinned_first: pinned_first.unwrap_or(false),
            },
        )
        .await
        .api()
    }

    /// One workspace by global id or by slug; null when absent or not visible.
    #[graphql(complexity = "LOOKUP_COST + child_complexity")]
    async fn workspace(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The workspace's global id.")] id: Option<ID>,
        #[graphql(desc = "The workspace's slug.")] slug: Option<String>,
    ) -> async_graphql::Result<Option<Workspace>> {
        workspace::find_workspace(ctx, id, slug).await.api()
    }

    /// One tenant by global id; null when absent or not visible. Capability `tenant.read`.
    #[graphql(complexity = "LOOKUP_COST + child_complexity")]
    async fn tenant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Tenant>> {
        access(ctx).user_email().api()?;
        let id = expect_global_id(&id, NodeType::Tenant, "id").api()?;
        Tenant::load_visible(ctx, id).await.api()
    }

    /// The public keys that sign evidence packs, newest first (any authenticated caller:
    /// auditors need them to verify packs offline).
    async fn evidence_signing_keys(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::evidence::EvidenceSigningKey>> {
        super::evidence::signing_keys(ctx).await.api()
    }
}

/// Every mutation.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    WorkspaceMutation,
    TenantMutation,
    RoleMutation,
    OperationMutation,
    super::baseline::BaselineMutation,
    super::finding::FindingMutation,
    super::exception::ExceptionMutation,
    super::evidence::EvidenceMutation,
);

/// The executable schema.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot, MutationRoot::default(), SubscriptionRoot)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

/// Builds the schema around the process context.
pub fn build_schema(app: Arc<AppContext>) -> AppSchema {
    builder()
        .data(app)
        .extension(super::errors::ErrorCodes)
        .finish()
}

/// The SDL that `schema.graphql` holds.
pub fn schema_sdl() -> String {
    builder().finish().sdl()
}
