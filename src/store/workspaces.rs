//! Workspaces.
use chrono::{DateTime, Utc};
use diesel::{dsl::exists, pg::Pg, prelude::*};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{like_contains, Conn, Window};
use crate::{
    db::schema::{workspace_user_preferences as prefs, workspaces},
    domain::{ids::WorkspaceId, workspace::Environment},
    error::{AppError, AppResult},
};

#[derive(Clone, Debug, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = workspaces)]
pub struct WorkspaceRow {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub environment: String,
    pub created_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub exception_max_days: i32,
}

impl WorkspaceRow {
    pub fn workspace_id(&self) -> WorkspaceId {
        WorkspaceId(self.id)
    }

    pub fn environment(&self) -> AppResult<Environment> {
        self.environment.parse().map_err(AppError::internal)
    }
}

pub struct NewWorkspace<'a> {
    pub name: &'a str,
    pub slug: &'a str,
    pub environment: Environment,
}

pub async fn insert_workspace(conn: &mut Conn, new: NewWorkspace<'_>) -> AppResult<WorkspaceRow> {
    Ok(diesel::insert_into(workspaces::table)
        .values((
            workspaces::name.eq(new.name),
            workspaces::slug.eq(new.slug),
            workspaces::environment.eq(new.environment.as_str()),
        ))
        .returning(WorkspaceRow::as_returning())
        .get_result(conn)
        .await?)
}

#[derive(Default)]
pub struct WorkspaceChanges<'a> {
    pub name: Option<&'a str>,
    pub slug: Option<&'a str>,
    pub environment: Option<Environment>,
    pub exception_max_days: Option<i32>,
}

pub async fn update_workspace(
    conn: &mut Conn,
    id: WorkspaceId,
    changes: WorkspaceChanges<'_>,
) -> AppResult<WorkspaceRow> {
    // Read-then-write inside the caller's transaction; the row lock keeps it consistent.
    let current = lock_workspace(conn, id).await?;
    Ok(
        diesel::update(workspaces::table.filter(workspaces::id.eq(id.0)))
            .set((
                workspaces::name.eq(changes.name.unwrap_or(&current.name)),
                workspaces::slug.eq(changes.slug.unwrap_or(&current.slug)),
                workspaces::environment.eq(changes
                    .environment
                    .map(Environment::as_str)
                    .unwrap_or(&current.environment)),
                workspaces::exception_max_days.eq(changes
                    .exception_max_days
                    .unwrap_or(current.exception_max_days)),
            ))
            .returning(WorkspaceRow::as_returning())
            .get_result(conn)
            .await?,
    )
}

/// Reads a workspace with `FOR UPDATE`.
pub async fn lock_workspace(conn: &mut Conn, id: WorkspaceId) -> AppResult<WorkspaceRow> {
    workspaces::table
        .filter(workspaces::id.eq(id.0))
        .select(WorkspaceRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("workspace"))
}

pub async fn find_workspace(conn: &mut Conn, id: WorkspaceId) -> AppResult<Option<WorkspaceRow>> {
    Ok(workspaces::table
        .filter(workspaces::id.eq(id.0))
        .select(WorkspaceRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn find_workspace_by_slug(
    conn: &mut Conn,
    slug: &str,
) -> AppResult<Option<WorkspaceRow>> {
    Ok(workspaces::table
        .filter(workspaces::slug.eq(slug))
        .select(WorkspaceRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn list_workspaces_by_ids(conn: &mut Conn, ids: &[Uuid]) -> AppResult<Vec<WorkspaceRow>> {
    Ok(workspaces::table
        .filter(workspaces::id.eq_any(ids))
        .select(WorkspaceRow::as_select())
        .load(conn)
        .await?)
}

/// Moves `last_activity_at` (every write in a workspace does).
pub async fn touch_workspace(conn: &mut Conn, id: WorkspaceId, at: DateTime<Utc>) -> AppResult<()> {
    diesel::update(workspaces::table.filter(workspaces::id.eq(id.0)))
        .set(
            workspaces::last_activity_at.eq(diesel::dsl::sql::<diesel::sql_types::Timestamptz>(
                "GREATEST(last_activity_at, ",
            )
            .bind::<diesel::sql_types::Timestamptz, _>(at)
            .sql(")")),
        )
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkspaceOrderField {
    Name,
    LastActivity,
    CreatedAt,
}

/// The chooser's filter and sort.
#[derive(Clone, Debug)]
pub struct WorkspaceQuery {
    /// `None`: every workspace (platform roles); otherwise only these.
    pub only: Option<Vec<Uuid>>,
    pub search: Option<String>,
    pub environment: Option<Environment>,
    pub order_by: WorkspaceOrderField,
    pub descending: bool,
    /// The viewer, for `pinned_first`.
    pub viewer: Option<Uuid>,
    pub pinned_first: bool,
}

fn filtered(q: &WorkspaceQuery) -> workspaces::BoxedQuery<'static, Pg> {
    let mut query = workspaces::table.into_boxed();
    if let Some(only) = &q.only {
        query = query.filter(workspaces::id.eq_any(only.clone()));
    }
    if let Some(search) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = like_contains(search);
        query = query.filter(
            workspaces::name
                .ilike(pattern.clone())
                .or(workspaces::slug.ilike(pattern)),
        );
    }
    if let Some(env) = q.environment {
        query = query.filter(workspaces::environment.eq(env.as_str()));
    }
    query
}

pub async fn count_workspaces(conn: &mut Conn, q: &WorkspaceQuery) -> AppResult<i64> {
    Ok(filtered(q).count().get_result(conn).await?)
}

pub async fn list_workspaces(
    conn: &mut Conn,
    q: &WorkspaceQuery,
    window: Window,
) -> AppResult<Vec<WorkspaceRow>> {
    let mut query = filtered(q).select(WorkspaceRow::as_select());
    if q.pinned_first {
        let viewer = q.viewer.unwrap_or(Uuid::nil());
        query = query.order_by(
            exists(
                prefs::table.filter(
                    prefs::workspace_id
                        .eq(workspaces::id)
                        .and(prefs::user_id.eq(viewer))
                        .and(prefs::pinned_at.is_not_null()),
                ),
            )
            .desc(),
        );
    }
    query =
        match (q.order_by, q.descending) {
            (WorkspaceOrderField::Name, false) => query
                .then_order_by(diesel::dsl::sql::<diesel::sql_types::Text>("lower(name)").asc()),
            (WorkspaceOrderField::Name, true) => query
                .then_order_by(diesel::dsl::sql::<diesel::sql_types::Text>("lower(name)").desc()),
            (WorkspaceOrderField::LastActivity, false) => {
                query.then_order_by(workspaces::last_activity_at.asc())
            }
            (WorkspaceOrderField::LastActivity, true) => {
                query.then_order_by(workspaces::last_activity_at.desc())
            }
            (WorkspaceOrderField::CreatedAt, false) => {
                query.then_order_by(workspaces::created_at.asc())
            }
            (WorkspaceOrderField::CreatedAt, true) => {
                query.then_order_by(workspaces::created_at.desc())
            }
        };
    Ok(query
        .then_order_by(workspaces::id.asc())
        .offset(window.offset)
        .limit(window.limit)
        .load(conn)
        .await?)
}
