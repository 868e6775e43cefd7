//! Server-wide settings kept in the database (e.g. the generated JWT secret).
use diesel::{prelude::*, upsert::on_constraint};
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::{db::schema::server_settings, error::AppResult};

/// Returns the value stored under `key`, storing `generate()` first if there is none.
/// Concurrent first starts agree on one value: the insert that loses is ignored.
pub async fn get_or_insert(
    conn: &mut Conn,
    key: &str,
    generate: impl FnOnce() -> String,
) -> AppResult<String> {
    diesel::insert_into(server_settings::table)
        .values((
            server_settings::key.eq(key),
            server_settings::value.eq(generate()),
        ))
        .on_conflict(on_constraint("server_settings_pkey"))
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(server_settings::table
        .find(key)
        .select(server_settings::value)
        .get_result(conn)
        .await?)
}
