//! Settings from the environment and command-line flags, with defaults.
//!
//! Every variable the server reads:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | `postgres://postgres@localhost:5432/tenantatlas` | PostgreSQL database; created if missing |
//! | `TENANTATLAS_LISTEN` | `127.0.0.1:8080` | address `serve` listens on |
//! | `TENANTATLAS_JWT_SECRET` | generated on first start, kept in the database | HS256 signing secret for bearer tokens |
//! | `TENANTATLAS_FINGERPRINT_KEY` | generated on first start, kept in the database | HMAC key of secret fingerprints |
//! | `TENANTATLAS_JWT_ISSUER` | unset (not checked) | required `iss` claim |
//! | `TENANTATLAS_JWT_AUDIENCE` | unset (not checked) | required `aud` claim |
//! | `TENANTATLAS_JWKS_FILE` | unset | JWKS file with RS256 public keys (e.g. Entra ID's) |
//! | `TENANTATLAS_DB_POOL_SIZE` | `10` | connections per process |
//! | `TENANTATLAS_REQUEST_TIMEOUT_SECS` | `30` | per-request timeout |
//! | `TENANTATLAS_IMPORT_ROOT` | `./imports` | export-directory connections must point inside it |
//! | `TENANTATLAS_WORKERS` | `2` | operation-run workers in `serve` (0: API only) and `worker` |
//! | `TENANTATLAS_RUN_LEASE_SECS` | `30` | a worker's lease on a run; renewed while it works |
//! | `TENANTATLAS_RUN_MAX_ATTEMPTS` | `3` | attempts before a run whose workers died is FAILED |
//! | `TENANTATLAS_DATA_DIR` | `./data` | evidence packs (`evidence-packs/`), their signing key (`keys/`, private) and build scratch space (`tmp/`) |
//! | `TENANTATLAS_EXPIRY_CHECK_SECS` | `300` | how often workers look for exceptions to expire (and queue EXCEPTION_EXPIRY sweeps) |
//! | `RUST_LOG` | `info,tenantatlas=info` | log filter (tracing `EnvFilter` syntax) |

use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Default database when neither `DATABASE_URL` nor `--database-url` is given.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@localhost:5432/tenantatlas";
/// Default listen address of `serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How bearer tokens are verified.
#[derive(Clone, Debug, Default)]
pub struct JwtConfig {
    /// HS256 secret; `None` means "use the one stored in the database".
    pub secret: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub jwks_file: Option<PathBuf>,
}

/// Everything the application needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub listen: SocketAddr,
    pub jwt: JwtConfig,
    pub pool_size: u32,
    pub request_timeout: Duration,
    pub jobs: JobSettings,
    /// Key of secret fingerprints; `None`: generated once and kept in the database.
    pub fingerprint_key: Option<String>,
    /// Evidence packs, their signing key and scratch space.
    pub data_dir: PathBuf,
}

/// Operation runs and their workers.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// Export-directory connections must point inside this directory.
    pub import_root: PathBuf,
    /// Workers started by `serve` (and `worker`).
    pub workers: usize,
    /// How long a claimed run stays a worker's without renewal.
    pub lease: Duration,
    /// How often idle workers look for runs whose worker died (new runs wake them at once).
    pub poll_interval: Duration,
    /// Attempts before an abandoned run is FAILED.
    pub max_attempts: i32,
    /// How often workers look for exceptions due to expire.
    pub expiry_check_interval: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            import_root: PathBuf::from("imports"),
            workers: 2,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            max_attempts: 3,
            expiry_check_interval: Duration::from_secs(300),
        }
    }
}

impl Config {
    /// A configuration for `database_url` with every other setting at its default.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            jwt: JwtConfig::default(),
            pool_size: 10,
            request_timeout: Duration::from_secs(30),
            jobs: JobSettings::default(),
            fingerprint_key: None,
            data_dir: PathBuf::from("data"),
        }
    }
}

/// Hides the password of a connection URL (or key=value string) so it can be printed or
/// logged: the `user:password@` part and any `password=` parameter.
pub fn redact_database_url(url: &str) -> String {
    let masked = redact_userinfo(url);
    let mut out = String::with_capacity(masked.len());
    let mut rest = masked.as_str();
    while let Some(pos) = rest.to_ascii_lowercase().find("password=") {
        let value_start = pos + "password=".len();
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let tail = &rest[value_start..];
        let end = tail
            .find(|c: char| c == '&' || c.is_whitespace())
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    // The password may itself contain '/', so look for the last '@' before the path.
    let authority_end = rest[..rest.find('?').unwrap_or(rest.len())]
        .rfind('@')
        .map_or(authority_end, |at| {
            rest[at..].find('/').map_or(rest.len(), |p| at + p)
        });
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}://{}:***{}",
                    &url[..scheme_end],
                    &userinfo[..colon],
                    &rest[at..]
                ),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_but_keeps_user_and_host() {
        assert_eq!(
            redact_database_url("postgres://u:secret@db:5432/x"),
            "postgres://u:***@db:5432/x"
        );
        assert_eq!(
            redact_database_url(DEFAULT_DATABASE_URL),
            DEFAULT_DATABASE_URL
        );
        assert_eq!(
            redact_database_url("postgres://u@h/x?sslmode=require&password=hunter2"),
            "postgres://u@h/x?sslmode=require&password=***"
        );
        assert_eq!(
            redact_database_url("host=h user=u password=hunter2 dbname=x"),
            "host=h user=u password=*** dbname=x"
        );
        assert!(!redact_database_url("postgres://u:a/b@h:5432/x").contains("a/b"));
    }
}
