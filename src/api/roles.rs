//! Roles and role assignments.
use async_graphql::{Context, Enum, Object};

use super::{errors::ApiResult, state, user::User, workspace::Workspace};
use crate::domain::roles::Role as DomainRole;

/// A built-in role. PLATFORM_* roles apply to every workspace; the others are granted per
/// workspace.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::domain::roles::Role")]
pub enum Role {
    /// Platform staff with every capability.
    PlatformAdmin,
    /// Platform staff who read everything and run operations, but approve no customer's risk.
    PlatformOperator,
    /// Full control of the workspace, including its members.
    Owner,
    /// Runs the workspace day to day; cannot manage members.
    Manager,
    /// Operates tenants.
    Operator,
    /// Reads everything, including the audit trail; changes nothing.
    Auditor,
    /// Reads the workspace and its tenants.
    Readonly,
}

/// One role held by one user in one workspace (or platform-wide).
pub struct RoleAssignment {
    pub role: DomainRole,
    pub email: String,
    pub workspace: Option<Workspace>,
}

#[Object]
impl RoleAssignment {
    /// The role.
    async fn role(&self) -> Role {
        self.role.into()
    }

    /// True for platform roles, which apply to every workspace.
    async fn is_platform(&self) -> bool {
        self.workspace.is_none()
    }

    /// Where the role applies; null for platform roles.
    async fn workspace(&self) -> Option<&Workspace> {
        self.workspace.as_ref()
    }

    /// Who holds it.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let loaded = state(ctx)
            .loaders
            .users_by_email
            .load_one(self.email.clone())
            .await
            .api()?;
        Ok(match loaded {
            Some(row) => User::from(row),
            None => User::unregistered(&self.email),
        })
    }
}

/// Input of `grantRole`.
#[derive(async_graphql::InputObject)]
pub struct GrantRoleInput {
    /// The workspace.
    pub workspace_id: async_graphql::ID,
    /// The user's e-mail address (or their `User.id`).
    pub user_id: String,
    /// A workspace role (OWNER, MANAGER, OPERATOR, AUDITOR, READONLY).
    pub role: Role,
}

/// Result of `grantRole`.
#[derive(async_graphql::SimpleObject)]
pub struct GrantRolePayload {
    /// The workspace.
    pub workspace: Workspace,
    /// The user who now holds the role.
    pub user: User,
    /// The role granted.
    pub role: Role,
}

/// Input of `revokeRole`.
#[derive(async_graphql::InputObject)]
pub struct RevokeRoleInput {
    /// The workspace.
    pub workspace_id: async_graphql::ID,
    /// The user's e-mail address (or their `User.id`).
    pub user_id: String,
    /// The role to take away.
    pub role: Role,
}

/// Result of `revokeRole`.
#[derive(async_graphql::SimpleObject)]
pub struct RevokeRolePayload {
    /// The workspace.
    pub workspace: Workspace,
    /// The user who held the role.
    pub user: User,
    /// The role revoked.
    pub role: Role,
}

/// Turns a `userId` input (e-mail or `User.id`) into an e-mail address.
async fn resolve_user_input(ctx: &Context<'_>, user_id: &str) -> crate::error::AppResult<String> {
    use super::node::{parse_global_id, NodeType};
    super::access(ctx).user_email()?;
    if let Some((NodeType::User, id)) = parse_global_id(user_id) {
        let mut conn = super::app(ctx).db.conn().await?;
        let found = crate::store::users::list_users_by_ids(&mut conn, &[id]).await?;
        return found
            .into_iter()
            .next()
            .map(|u| u.email)
            .ok_or_else(|| crate::error::AppError::not_found("user"));
    }
    Ok(user_id.to_string())
}

async fn load_workspace(
    ctx: &Context<'_>,
    id: crate::domain::ids::WorkspaceId,
) -> crate::error::AppResult<Workspace> {
    state(ctx)
        .loaders
        .workspaces
        .load_one(id.0)
        .await?
        .map(Workspace)
        .ok_or_else(|| crate::error::AppError::not_found("workspace"))
}

/// Role mutations.
#[derive(Default)]
pub struct RoleMutation;

#[Object]
impl RoleMutation {
    /// Grants a workspace role to a user. Capability `member.manage`. Granting a role the
    /// user already holds changes nothing.
    async fn grant_role(
        &self,
        ctx: &Context<'_>,
        input: GrantRoleInput,
    ) -> async_graphql::Result<GrantRolePayload> {
        let workspace = Workspace::parse_id(&input.workspace_id).api()?;
        let email = resolve_user_input(ctx, &input.user_id).await.api()?;
        let user = crate::service::roles::grant_role(
            super::app(ctx),
            super::access(ctx),
            crate::service::roles::Scope::Workspace(workspace),
            &email,
            input.role.into(),
        )
        .await
        .api()?;
        Ok(GrantRolePayload {
            workspace: load_workspace(ctx, workspace).await.api()?,
            user: user.into(),
            role: input.role,
        })
    }

    /// Revokes a workspace role. Capability `member.manage`. The last owner cannot be
    /// revoked (CONFLICT).
    async fn revoke_role(
        &self,
        ctx: &Context<'_>,
        input: RevokeRoleInput,
    ) -> async_graphql::Result<RevokeRolePayload> {
        let workspace = Workspace::parse_id(&input.workspace_id).api()?;
        let email = resolve_user_input(ctx, &input.user_id).await.api()?;
        let user = crate::service::roles::revoke_role(
            super::app(ctx),
            super::access(ctx),
            crate::service::roles::Scope::Workspace(workspace),
            &email,
            input.role.into(),
        )
        .await
        .api()?;
        Ok(RevokeRolePayload {
            workspace: load_workspace(ctx, workspace).await.api()?,
            user: user.into(),
            role: input.role,
        })
    }
}
