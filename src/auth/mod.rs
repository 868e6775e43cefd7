//! Authentication: bearer tokens (JWT) -> [`Principal`].
pub mod jwt;

use crate::{
    domain::roles::user_subject,
    error::{AppError, AppResult},
};

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// No `Authorization` header.
    Anonymous,
    /// A header was sent but could not be accepted; the reason is safe to show.
    Invalid(String),
    /// A verified user, known by (lowercased) e-mail; `expires_at` is the token's `exp`
    /// (seconds since the epoch), re-checked on every use so long-lived WebSocket
    /// connections end with their token.
    User {
        email: String,
        expires_at: Option<i64>,
    },
    /// The operator at the command line (trusted: it holds the database credentials).
    System(&'static str),
}

impl Principal {
    /// A user principal without expiry (tests, trusted callers).
    pub fn user(email: impl Into<String>) -> Self {
        Principal::User {
            email: email.into(),
            expires_at: None,
        }
    }

    pub fn require_user(&self) -> AppResult<&str> {
        match self {
            Principal::User { email, expires_at } => match expires_at {
                Some(exp) if chrono::Utc::now().timestamp() >= *exp => {
                    Err(AppError::Unauthenticated("bearer token expired".into()))
                }
                _ => Ok(email),
            },
            Principal::Anonymous => Err(AppError::Unauthenticated(
                "this field needs a bearer token (Authorization: Bearer <token>)".into(),
            )),
            Principal::Invalid(reason) => Err(AppError::Unauthenticated(reason.clone())),
            Principal::System(_) => Err(AppError::Unauthenticated(
                "this field needs a user, not the command line".into(),
            )),
        }
    }

    /// The actor recorded in audit events.
    pub fn actor(&self) -> String {
        match self {
            Principal::User { email, .. } => user_subject(email),
            Principal::System(who) => format!("system:{who}"),
            Principal::Anonymous | Principal::Invalid(_) => "anonymous".into(),
        }
    }
}
