//! `Query.viewer`: who the caller is and what they hold.
use async_graphql::{Context, Object, ID};

use super::{
    access, app,
    errors::ApiResult,
    node::{to_global_id, NodeType},
    roles::RoleAssignment,
    state,
    user::User,
    workspace::Workspace,
};
use crate::{domain::roles::PLATFORM_DOMAIN, store};

/// The authenticated caller.
pub struct Viewer {
    pub email: String,
}

#[Object]
impl Viewer {
    /// The viewer's user id (same as `user.id`).
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        let mut conn = app(ctx).db.conn().await.api()?;
        let user = store::users::upsert_user(&mut conn, &self.email)
            .await
            .api()?;
        Ok(to_global_id(NodeType::User, user.id))
    }

    /// The viewer as a user.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let mut conn = app(ctx).db.conn().await.api()?;
        Ok(store::users::upsert_user(&mut conn, &self.email)
            .await
            .api()?
            .into())
    }

    /// Every role the viewer holds; platform roles have no workspace.
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RoleAssignment>> {
        let grants = access(ctx).all_grants().await.api()?;
        let ids: Vec<uuid::Uuid> = grants
            .iter()
            .filter(|(_, d)| d != PLATFORM_DOMAIN)
            .filter_map(|(_, d)| uuid::Uuid::parse_str(d).ok())
            .collect();
        let workspaces = state(ctx).loaders.workspaces.load_many(ids).await.api()?;
        let mut out = Vec::new();
        for (role, domain) in grants {
            let Ok(role) = role.parse() else { continue };
            let workspace = if domain == PLATFORM_DOMAIN {
                None
            } else {
                let Some(row) = uuid::Uuid::parse_str(&domain)
                    .ok()
                    .and_then(|id| workspaces.get(&id))
                else {
                    continue;
                };
                Some(Workspace(row.clone()))
            };
            out.push(RoleAssignment {
                role,
                email: self.email.clone(),
                workspace,
            });
        }
        Ok(out)
    }
}
