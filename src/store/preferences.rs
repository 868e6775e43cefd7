//! Per-user workspace pins and favourites.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::Conn;
use crate::{
    db::schema::workspace_user_preferences as prefs, domain::ids::WorkspaceId, error::AppResult,
};

#[derive(Clone, Debug, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = prefs)]
pub struct PreferenceRow {
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub pinned_at: Option<DateTime<Utc>>,
    pub favorited_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preference {
    Pinned,
    Favorite,
}

/// Sets or clears one preference; returns whether anything changed.
pub async fn set_preference(
    conn: &mut Conn,
    user: Uuid,
    workspace: WorkspaceId,
    which: Preference,
    on: bool,
) -> AppResult<bool> {
    // Make sure the row exists so FOR UPDATE has something to lock: concurrent first
    // pins then serialise instead of each recording a change.
    diesel::insert_into(prefs::table)
        .values((prefs::user_id.eq(user), prefs::workspace_id.eq(workspace.0)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    let current = prefs::table
        .find((user, workspace.0))
        .select(PreferenceRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let was_on = current.as_ref().is_some_and(|p| match which {
        Preference::Pinned => p.pinned_at.is_some(),
        Preference::Favorite => p.favorited_at.is_some(),
    });
    if was_on == on {
        return Ok(false);
    }
    let value = on.then(Utc::now);
    let (pinned, favorited) = match (which, &current) {
        (Preference::Pinned, c) => (value, c.as_ref().and_then(|p| p.favorited_at)),
        (Preference::Favorite, c) => (c.as_ref().and_then(|p| p.pinned_at), value),
    };
    diesel::insert_into(prefs::table)
        .values((
            prefs::user_id.eq(user),
            prefs::workspace_id.eq(workspace.0),
            prefs::pinned_at.eq(pinned),
            prefs::favorited_at.eq(favorited),
        ))
        .on_conflict((prefs::user_id, prefs::workspace_id))
        .do_update()
        .set((
            prefs::pinned_at.eq(pinned),
            prefs::favorited_at.eq(favorited),
        ))
        .execute(conn)
        .await?;
    Ok(true)
}

/// One user's preferences for several workspaces.
pub async fn list_preferences(
    conn: &mut Conn,
    user: Uuid,
    workspaces: &[Uuid],
) -> AppResult<Vec<PreferenceRow>> {
    Ok(prefs::table
        .filter(prefs::user_id.eq(user))
        .filter(prefs::workspace_id.eq_any(workspaces))
        .select(PreferenceRow::as_select())
        .load(conn)
        .await?)
}
