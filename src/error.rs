//! One error type for the whole application.
//!
//! Policy:
//! - `Unauthenticated`: no usable credentials (missing, malformed, expired, wrongly signed).
//! - `NotFound`: the object does not exist *or the caller has no role where it lives*; the
//!   two are indistinguishable on purpose so existence never leaks.
//! - `Forbidden`: the caller has a role in the workspace but lacks the capability.
//! - `BadInput`: the input failed validation; names the offending field. Nothing changed.
//! - `Conflict`: a uniqueness or state rule was violated (mapped from constraint names,
//!   never from message text). Nothing changed.
//! - `DatabaseUnavailable`: PostgreSQL could not be reached.
//! - `Internal`: anything else. Its detail is logged once where it is handled (the API edge)
//!   and never sent to the client.
//!
//! The mapping to GraphQL `extensions.code` lives in `api::errors`.

use std::sync::Arc;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The application's error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{field}: {message}")]
    BadInput { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(String),
    #[error("internal error: {0}")]
    Internal(Arc<str>),
}

/// Shorthand for results carrying [`AppError`].
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string().into())
    }
}

/// Maps a unique/check constraint to the error a caller should see: `(is_conflict, field,
/// message)`. Listed by constraint name so the mapping survives message changes.
fn constraint_error(constraint: &str) -> Option<AppError> {
    let err = match constraint {
        "workspaces_slug_key" => {
            AppError::Conflict("a workspace with this slug already exists".into())
        }
        "tenants_workspace_entra_tenant_key" => AppError::Conflict(
            "a tenant with this entraTenantId already exists in the workspace".into(),
        ),
        "users_email_key" => AppError::Conflict("a user with this e-mail already exists".into()),
        "workspaces_slug_format" => AppError::bad_input("slug", "must match [a-z0-9-]{2,63}"),
        "workspaces_name_present" => AppError::bad_input("name", "must not be empty"),
        "tenants_display_name_present" => AppError::bad_input("displayName", "must not be empty"),
        "baselines_workspace_name_key" => {
            AppError::Conflict("a baseline with this name already exists in the workspace".into())
        }
        "baselines_name_present" => AppError::bad_input("name", "must not be empty"),
        "evidence_packs_title_present" => AppError::bad_input("title", "must not be empty"),
        "evidence_packs_period_ordered" => {
            AppError::bad_input("periodEnd", "must not be before periodStart")
        }
        "evidence_packs_ready_immutable" => {
            AppError::Conflict("a READY evidence pack never changes".into())
        }
        "finding_exceptions_one_pending" => AppError::Conflict(
            "the finding already has a PENDING exception request; decide it first".into(),
        ),
        "operation_runs_one_queued_sweep" => {
            AppError::Conflict("an expiry sweep of this workspace is already queued".into())
        }
        "workspaces_exception_max_days_range" => {
            AppError::bad_input("exceptionMaxDays", "must be between 1 and 3650")
        }
        "operation_runs_one_queued_evaluation" => AppError::Conflict(
            "a drift evaluation of this tenant is already queued; follow it in Workspace.operationRuns"
                .into(),
        ),
        _ => return None,
    };
    Some(err)
}

impl From<DieselError> for AppError {
    fn from(err: DieselError) -> Self {
        match &err {
            DieselError::NotFound => AppError::NotFound("object".into()),
            DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::CheckViolation,
                info,
            ) => info
                .constraint_name()
                .and_then(constraint_error)
                .unwrap_or_else(|| AppError::internal(&err)),
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                AppError::DatabaseUnavailable(err.to_string())
            }
            _ => AppError::internal(&err),
        }
    }
}

impl From<diesel_async::pooled_connection::bb8::RunError> for AppError {
    fn from(err: diesel_async::pooled_connection::bb8::RunError) -> Self {
        AppError::DatabaseUnavailable(err.to_string())
    }
}

impl From<diesel::ConnectionError> for AppError {
    fn from(err: diesel::ConnectionError) -> Self {
        AppError::DatabaseUnavailable(err.to_string())
    }
}

impl From<casbin::Error> for AppError {
    fn from(err: casbin::Error) -> Self {
        AppError::internal(format!("authorization engine: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_constraint_maps_to_a_client_error() {
        for name in [
            "workspaces_slug_key",
            "tenants_workspace_entra_tenant_key",
            "users_email_key",
            "workspaces_slug_format",
            "workspaces_name_present",
            "tenants_display_name_present",
            "baselines_workspace_name_key",
            "baselines_name_present",
            "operation_runs_one_queued_evaluation",
            "finding_exceptions_one_pending",
            "operation_runs_one_queued_sweep",
            "workspaces_exception_max_days_range",
        ] {
            let err = constraint_error(name);
            assert!(
                matches!(
                    err,
                    Some(AppError::Conflict(_)) | Some(AppError::BadInput { .. })
                ),
                "{name} -> {err:?}"
            );
        }
        assert!(constraint_error("something_else").is_none());
    }

    #[test]
    fn not_found_from_diesel_is_not_found() {
        assert!(matches!(
            AppError::from(DieselError::NotFound),
            AppError::NotFound(_)
        ));
    }
}
