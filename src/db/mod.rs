//! Database access: the connection pool, database creation and embedded migrations.
//!
//! `schema.rs` is what `diesel print-schema` writes; everything else that talks SQL
//! lives in `store/`.

pub mod schema;

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::{
    async_connection_wrapper::AsyncConnectionWrapper,
    pooled_connection::{bb8, AsyncDieselConnectionManager, ManagerConfig},
    AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use futures_util::FutureExt;

use crate::error::{AppError, AppResult};

/// The migrations compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Pool of async PostgreSQL connections.
pub type Pool = bb8::Pool<AsyncPgConnection>;
/// A connection checked out of the pool.
pub type PooledConn<'a> = bb8::PooledConnection<'a, AsyncPgConnection>;

/// Counts the SQL statements run on this application's connections. Tests use it to show
/// that a query's statement count grows with its depth, not with the number of rows.
#[derive(Clone, Default, Debug)]
pub struct QueryCounter(Arc<AtomicU64>);

impl QueryCounter {
    pub fn get(&self) -> u64 {
        AtomicU64::load(&self.0, Ordering::Relaxed)
    }
}

struct CountingInstrumentation(QueryCounter);

impl Instrumentation for CountingInstrumentation {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            self.0 .0.fetch_add(1, Ordering::Relaxed);
            if tracing::enabled!(target: "tenantatlas::sql", tracing::Level::TRACE) {
                // The statement only: bind values can hold keys and payloads.
                let text = query.to_string();
                let sql = text.split(" -- binds:").next().unwrap_or("");
                tracing::trace!(target: "tenantatlas::sql", sql = %sql, "statement");
            }
        }
    }
}

/// Database handle shared by the whole process.
#[derive(Clone)]
pub struct Db {
    pub pool: Pool,
    pub url: String,
    pub queries: QueryCounter,
}

impl Db {
    /// Opens a pool on an existing, migrated database.
    pub async fn connect(url: &str, pool_size: u32) -> AppResult<Self> {
        let queries = QueryCounter::default();
        let counter = queries.clone();
        let mut config = ManagerConfig::<AsyncPgConnection>::default();
        config.custom_setup = Box::new(move |url| {
            let counter = counter.clone();
            async move {
                let mut conn = AsyncPgConnection::establish(url).await?;
                conn.set_instrumentation(CountingInstrumentation(counter));
                Ok(conn)
            }
            .boxed()
        });
        let manager =
            AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
        let pool = bb8::Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(std::time::Duration::from_secs(10))
            .build(manager)
            .await
            .map_err(|e| AppError::DatabaseUnavailable(e.to_string()))?;
        // Fail fast with a clear error when the database is unreachable.
        drop(pool.get().await?);
        Ok(Self {
            pool,
            url: url.to_string(),
            queries,
        })
    }

    /// Checks out a connection.
    pub async fn conn(&self) -> AppResult<PooledConn<'_>> {
        Ok(self.pool.get().await?)
    }
}

/// Splits `postgres://.../name?params` into (url of the `postgres` maintenance database, name).
fn split_database_name(url: &str) -> AppResult<(String, String)> {
    let scheme_end = url
        .find("://")
        .ok_or_else(|| AppError::bad_input("databaseUrl", "not a postgres:// URL"))?;
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let path_start = base[scheme_end + 3..]
        .find('/')
        .map(|p| p + scheme_end + 3)
        .ok_or_else(|| AppError::bad_input("databaseUrl", "names no database"))?;
    let name = &base[path_start + 1..];
    if name.is_empty() {
        return Err(AppError::bad_input("databaseUrl", "names no database"));
    }
    Ok((
        format!("{}/postgres{}", &base[..path_start], query),
        name.to_string(),
    ))
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

/// Creates the database named in `url` if it does not exist yet.
pub async fn ensure_database(url: &str) -> AppResult<()> {
    // Connecting to the target first avoids needing rights on `postgres` when it exists.
    match AsyncPgConnection::establish(url).await {
        Ok(_) => return Ok(()),
        // The variant carrying the message differs between setups; the SQLSTATE text
        // ("database ... does not exist") is stable.
        Err(err) if err.to_string().contains("does not exist") => {}
        Err(err) => return Err(err.into()),
    }
    let (admin_url, name) = split_database_name(url)?;
    let mut admin = AsyncPgConnection::establish(&admin_url).await?;
    let exists: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result(&mut admin)
            .await?;
    if !exists.exists {
        match admin
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
            .await
        {
            Ok(()) => tracing::info!(database = %name, "created database"),
            // Another process created it at the same moment.
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {}
            Err(err) if err.to_string().contains("already exists") => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// Runs every pending embedded migration.
pub async fn run_migrations(url: &str) -> AppResult<usize> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || -> AppResult<usize> {
        let mut conn =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| AppError::internal(format!("migration failed: {e}")))?;
        Ok(applied.len())
    })
    .await
    .map_err(AppError::internal)?
}

/// Reverts every applied migration (used by `migrate --revert-all` and the migration test).
pub async fn revert_all_migrations(url: &str) -> AppResult<usize> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || -> AppResult<usize> {
        let mut conn =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)?;
        let reverted = conn
            .revert_all_migrations(MIGRATIONS)
            .map_err(|e| AppError::internal(format!("revert failed: {e}")))?;
        Ok(reverted.len())
    })
    .await
    .map_err(AppError::internal)?
}

/// Versions of the embedded migrations, e.g. `20261201000001`.
pub fn embedded_migration_versions() -> Vec<String> {
    use diesel::migration::MigrationSource;
    MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
        .unwrap_or_default()
}

/// Creates the database if needed and applies migrations.
pub async fn prepare(url: &str) -> AppResult<()> {
    ensure_database(url).await?;
    run_migrations(url).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_database_name_keeping_params() {
        let (admin, name) =
            split_database_name("postgres://u@h:5432/tenantatlas?sslmode=disable").unwrap();
        assert_eq!(admin, "postgres://u@h:5432/postgres?sslmode=disable");
        assert_eq!(name, "tenantatlas");
        assert!(split_database_name("postgres://u@h:5432/").is_err());
    }

    #[test]
    fn migrations_are_embedded() {
        assert!(!embedded_migration_versions().is_empty());
    }
}

#[derive(diesel::QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// Embedded migrations not yet applied to the database (empty when up to date).
pub async fn pending_migrations(db: &Db) -> AppResult<Vec<String>> {
    let mut conn = db.conn().await?;
    let applied: Vec<AppliedVersion> =
        match diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load(&mut *conn)
            .await
        {
            Ok(rows) => rows,
            // No migrations table yet: nothing applied.
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("does not exist") =>
            {
                Vec::new()
            }
            Err(err) => return Err(err.into()),
        };
    let applied: std::collections::HashSet<String> =
        applied.into_iter().map(|a| a.version).collect();
    Ok(embedded_migration_versions()
        .into_iter()
        .filter(|v| !applied.contains(v))
        .collect())
}
