//! Granting and revoking roles. Grants are casbin `g` rules written in the same transaction
//! as their audit event; after commit this process updates its enforcer and the others are
//! told (via NOTIFY) to reload.
use diesel_async::AsyncConnection;
use serde_json::json;

use super::{record, AppContext, Audit};
use crate::{
    authz::{Access, Capability},
    domain::{
        ids::WorkspaceId,
        roles::{user_subject, Role, PLATFORM_DOMAIN},
        workspace::normalize_email,
    },
    error::{AppError, AppResult},
    events::{self, Event},
    store::{self, users::UserRow},
};

/// Where a role is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Platform,
    Workspace(WorkspaceId),
}

impl Scope {
    fn domain(self) -> String {
        match self {
            Scope::Platform => PLATFORM_DOMAIN.to_string(),
            Scope::Workspace(w) => w.to_string(),
        }
    }

    fn workspace(self) -> Option<WorkspaceId> {
        match self {
            Scope::Platform => None,
            Scope::Workspace(w) => Some(w),
        }
    }
}

async fn authorize(access: &Access, scope: Scope, role: Role) -> AppResult<()> {
    match scope {
        Scope::Workspace(w) => {
            access.require(w, Capability::MemberManage).await?;
            if role.is_platform() {
                return Err(AppError::bad_input(
                    "role",
                    format!("{role} is a platform role; grant it with --workspace '*'"),
                ));
            }
        }
        Scope::Platform => {
            access.require_platform(Capability::MemberManage).await?;
            if !role.is_platform() {
                return Err(AppError::bad_input(
                    "role",
                    format!("{role} is a workspace role; name a workspace"),
                ));
            }
        }
    }
    Ok(())
}

/// Grants `role` to the user with `email` in `scope`. Granting what is already granted
/// changes nothing and records nothing.
pub async fn grant_role(
    app: &AppContext,
    access: &Access,
    scope: Scope,
    email: &str,
    role: Role,
) -> AppResult<UserRow> {
    authorize(access, scope, role).await?;
    let email = normalize_email("userId", email)?;
    let subject = user_subject(&email);
    let domain = scope.domain();
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    let (user, changed) = conn
        .transaction::<_, AppError, _>(async |conn| {
            if let Some(ws) = scope.workspace() {
                store::workspaces::lock_workspace(conn, ws).await?;
            }
            let user = store::users::upsert_user(conn, &email).await?;
            let rule = vec![subject.clone(), role.as_str().to_string(), domain.clone()];
            let changed = store::casbin_rules::insert_rule(conn, "g", &rule).await?;
            if changed {
                record(
                    conn,
                    Audit {
                        workspace: scope.workspace(),
                        actor: actor.clone(),
                        action: "role.grant",
                        target_type: "User",
                        target_id: email.clone(),
                        before: None,
                        after: Some(
                            json!({"user": email, "role": role.as_str(), "domain": domain}),
                        ),
                        touches_activity: true,
                    },
                )
                .await?;
                events::notify(conn, &Event::GrantsChanged).await?;
            }
            Ok((user, changed))
        })
        .await?;
    if changed {
        app.authz.apply_grant(&subject, role, &domain).await?;
    }
    Ok(user)
}

/// Revokes `role` from the user with `email` in `scope`. The last owner of a workspace
/// cannot be removed (CONFLICT): someone must be able to manage it.
pub async fn revoke_role(
    app: &AppContext,
    access: &Access,
    scope: Scope,
    email: &str,
    role: Role,
) -> AppResult<UserRow> {
    authorize(access, scope, role).await?;
    let email = normalize_email("userId", email)?;
    let subject = user_subject(&email);
    let domain = scope.domain();
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    let user = conn
        .transaction::<_, AppError, _>(async |conn| {
            if let Some(ws) = scope.workspace() {
                store::workspaces::lock_workspace(conn, ws).await?;
            }
            let user = store::users::find_user_by_email(conn, &email)
                .await?
                .ok_or_else(|| AppError::not_found("role assignment"))?;
            if !store::casbin_rules::grant_exists(conn, &subject, role.as_str(), &domain).await? {
                return Err(AppError::not_found("role assignment"));
            }
            if role == Role::Owner
                && store::casbin_rules::count_role_holders(conn, role.as_str(), &domain).await? <= 1
            {
                return Err(AppError::Conflict(
                    "cannot revoke the workspace's last owner; grant owner to someone else first"
                        .into(),
                ));
            }
            let rule = vec![subject.clone(), role.as_str().to_string(), domain.clone()];
            store::casbin_rules::delete_rule(conn, "g", &rule).await?;
            record(
                conn,
                Audit {
                    workspace: scope.workspace(),
                    actor: actor.clone(),
                    action: "role.revoke",
                    target_type: "User",
                    target_id: email.clone(),
                    before: Some(json!({"user": email, "role": role.as_str(), "domain": domain})),
                    after: None,
                    touches_activity: true,
                },
            )
            .await?;
            events::notify(conn, &Event::GrantsChanged).await?;
            Ok(user)
        })
        .await?;
    app.authz.apply_revoke(&subject, role, &domain).await?;
    Ok(user)
}
