//! Users: known by the e-mail in their token.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::Conn;
use crate::{db::schema::users, error::AppResult};

#[derive(Clone, Debug, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

/// Returns the user with `email` (already normalised), creating it if needed.
pub async fn upsert_user(conn: &mut Conn, email: &str) -> AppResult<UserRow> {
    diesel::insert_into(users::table)
        .values(users::email.eq(email))
        .on_conflict(users::email)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .get_result(conn)
        .await?)
}

pub async fn find_user_by_email(conn: &mut Conn, email: &str) -> AppResult<Option<UserRow>> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn list_users_by_ids(conn: &mut Conn, ids: &[Uuid]) -> AppResult<Vec<UserRow>> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select(UserRow::as_select())
        .load(conn)
        .await?)
}

pub async fn list_users_by_emails(conn: &mut Conn, emails: &[String]) -> AppResult<Vec<UserRow>> {
    Ok(users::table
        .filter(users::email.eq_any(emails))
        .select(UserRow::as_select())
        .load(conn)
        .await?)
}
