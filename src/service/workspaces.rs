//! Workspace use cases.
use diesel_async::AsyncConnection;
use serde_json::json;

use super::{record, AppContext, Audit};
use crate::{
    authz::{Access, Capability},
    domain::{
        ids::WorkspaceId,
        workspace::{validate_name, validate_slug, Environment},
    },
    error::{AppError, AppResult},
    store::{
        self,
        preferences::Preference,
        workspaces::{NewWorkspace, WorkspaceChanges, WorkspaceRow},
    },
};

fn snapshot(w: &WorkspaceRow) -> serde_json::Value {
    json!({"name": w.name, "slug": w.slug, "environment": w.environment, "exceptionMaxDays": w.exception_max_days})
}

/// Creates a workspace (capability `workspace.create`, a platform capability).
pub async fn create_workspace(
    app: &AppContext,
    access: &Access,
    name: &str,
    slug: &str,
    environment: Environment,
) -> AppResult<WorkspaceRow> {
    access.require_platform(Capability::WorkspaceCreate).await?;
    let name = validate_name("name", name)?;
    let slug = validate_slug(slug)?;
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let ws = store::workspaces::insert_workspace(
            conn,
            NewWorkspace {
                name: &name,
                slug: &slug,
                environment,
            },
        )
        .await?;
        record(
            conn,
            Audit {
                workspace: Some(ws.workspace_id()),
                actor: actor.clone(),
                action: "workspace.create",
                target_type: "Workspace",
                target_id: ws.id.to_string(),
                before: None,
                after: Some(snapshot(&ws)),
                touches_activity: true,
            },
        )
        .await?;
        Ok(ws)
    })
    .await
}

/// Changes name, slug or environment (capability `workspace.update`).
pub async fn update_workspace(
    app: &AppContext,
    access: &Access,
    id: WorkspaceId,
    name: Option<&str>,
    slug: Option<&str>,
    environment: Option<Environment>,
    exception_max_days: Option<i32>,
) -> AppResult<WorkspaceRow> {
    access.require(id, Capability::WorkspaceUpdate).await?;
    if let Some(d) = exception_max_days {
        if !(1..=3650).contains(&d) {
            return Err(AppError::bad_input(
                "exceptionMaxDays",
                "must be between 1 and 3650",
            ));
        }
    }
    let name = name.map(|n| validate_name("name", n)).transpose()?;
    let slug = slug.map(validate_slug).transpose()?;
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let before = store::workspaces::lock_workspace(conn, id).await?;
        let after = store::workspaces::update_workspace(
            conn,
            id,
            WorkspaceChanges {
                name: name.as_deref(),
                slug: slug.as_deref(),
                environment,
                exception_max_days,
            },
        )
        .await?;
        if snapshot(&before) != snapshot(&after) {
            record(
                conn,
                Audit {
                    workspace: Some(id),
                    actor: actor.clone(),
                    action: "workspace.update",
                    target_type: "Workspace",
                    target_id: id.to_string(),
                    before: Some(snapshot(&before)),
                    after: Some(snapshot(&after)),
                    touches_activity: true,
                },
            )
            .await?;
        }
        // Re-read: recording moved last_activity_at.
        store::workspaces::find_workspace(conn, id)
            .await?
            .ok_or_else(|| AppError::not_found("workspace"))
    })
    .await
}

/// Pins/unpins or favourites/unfavourites a workspace for the calling user (capability
/// `workspace.read`). Idempotent: setting what is already set records nothing.
pub async fn set_workspace_preference(
    app: &AppContext,
    access: &Access,
    id: WorkspaceId,
    which: Preference,
    on: bool,
) -> AppResult<WorkspaceRow> {
    access.require(id, Capability::WorkspaceRead).await?;
    let email = access.user_email()?.to_string();
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let ws = store::workspaces::find_workspace(conn, id)
            .await?
            .ok_or_else(|| AppError::not_found("workspace"))?;
        let user = store::users::upsert_user(conn, &email).await?;
        let changed = store::preferences::set_preference(conn, user.id, id, which, on).await?;
        if changed {
            let action = match (which, on) {
                (Preference::Pinned, true) => "workspace.pin",
                (Preference::Pinned, false) => "workspace.unpin",
                (Preference::Favorite, true) => "workspace.favorite",
                (Preference::Favorite, false) => "workspace.unfavorite",
            };
            record(
                conn,
                Audit {
                    workspace: Some(id),
                    actor: actor.clone(),
                    action,
                    target_type: "Workspace",
                    target_id: id.to_string(),
                    before: None,
                    after: Some(json!({"user": email})),
                    // A personal preference is not activity in the workspace.
                    touches_activity: false,
                },
            )
            .await?;
        }
        Ok(ws)
    })
    .await
}
