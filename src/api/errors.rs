//! The one mapping from [`AppError`] to GraphQL errors with `extensions.code`.
//!
//! | AppError | code |
//! |---|---|
//! | Unauthenticated | UNAUTHENTICATED |
//! | Forbidden | FORBIDDEN |
//! | NotFound | NOT_FOUND |
//! | BadInput | BAD_USER_INPUT (with `extensions.field`) |
//! | Conflict | CONFLICT |
//! | DatabaseUnavailable, Internal | INTERNAL (detail logged here, never sent) |
use async_graphql::{Error, ErrorExtensions};

use crate::error::AppError;

/// GraphQL error codes.
pub mod codes {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const CONFLICT: &str = "CONFLICT";
    pub const INTERNAL: &str = "INTERNAL";
}

/// Converts an application error for the client.
pub fn to_graphql(err: AppError) -> Error {
    // Messages can quote input; a secret in it is not echoed back or logged.
    use crate::domain::secrets::redact_text;
    let err = match err {
        AppError::Unauthenticated(m) => AppError::Unauthenticated(redact_text(&m).into_owned()),
        AppError::Forbidden(m) => AppError::Forbidden(redact_text(&m).into_owned()),
        AppError::Conflict(m) => AppError::Conflict(redact_text(&m).into_owned()),
        AppError::BadInput { field, message } => AppError::BadInput {
            field,
            message: redact_text(&message).into_owned(),
        },
        AppError::Internal(d) => AppError::Internal(redact_text(&d).into()),
        AppError::DatabaseUnavailable(d) => {
            AppError::DatabaseUnavailable(redact_text(&d).into_owned())
        }
        other => other,
    };
    match err {
        AppError::Unauthenticated(msg) => {
            Error::new(msg).extend_with(|_, e| e.set("code", codes::UNAUTHENTICATED))
        }
        AppError::Forbidden(msg) => {
            Error::new(msg).extend_with(|_, e| e.set("code", codes::FORBIDDEN))
        }
        AppError::NotFound(what) => Error::new(format!("{what} not found"))
            .extend_with(|_, e| e.set("code", codes::NOT_FOUND)),
        AppError::BadInput { field, message } => Error::new(format!("{field}: {message}"))
            .extend_with(|_, e| {
                e.set("code", codes::BAD_USER_INPUT);
                e.set("field", field.clone());
            }),
        AppError::Conflict(msg) => {
            Error::new(msg).extend_with(|_, e| e.set("code", codes::CONFLICT))
        }
        AppError::DatabaseUnavailable(detail) => {
            tracing::error!(error = %detail, "request failed: database unavailable");
            Error::new("internal error").extend_with(|_, e| e.set("code", codes::INTERNAL))
        }
        AppError::Internal(detail) => {
            tracing::error!(error = %detail, "request failed");
            Error::new("internal error").extend_with(|_, e| e.set("code", codes::INTERNAL))
        }
    }
}

/// `?`-friendly conversion for resolvers.
pub trait ApiResult<T> {
    fn api(self) -> async_graphql::Result<T>;
}

impl<T> ApiResult<T> for Result<T, AppError> {
    fn api(self) -> async_graphql::Result<T> {
        self.map_err(to_graphql)
    }
}

/// Gives errors that carry no code (parse and validation errors produced by async-graphql
/// itself) the code BAD_USER_INPUT, so every error a client sees has one.
pub fn ensure_codes(response: &mut async_graphql::Response) {
    for err in &mut response.errors {
        let has_code = err
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if !has_code {
            err.extensions
                .get_or_insert_with(Default::default)
                .set("code", codes::BAD_USER_INPUT);
        }
    }
}

/// Schema extension giving every response (HTTP and WebSocket) coded errors.
pub struct ErrorCodes;

impl async_graphql::extensions::ExtensionFactory for ErrorCodes {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for ErrorCodesExtension {
    async fn request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextRequest<'_>,
    ) -> async_graphql::Response {
        let mut response = next.run(ctx).await;
        ensure_codes(&mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        stream: futures_util::stream::BoxStream<'s, async_graphql::Response>,
        next: async_graphql::extensions::NextSubscribe<'_>,
    ) -> futures_util::stream::BoxStream<'s, async_graphql::Response> {
        use futures_util::StreamExt;
        next.run(ctx, stream)
            .map(|mut r| {
                ensure_codes(&mut r);
                r
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(err: AppError) -> String {
        let e = to_graphql(err);
        match e.extensions.as_ref().and_then(|x| x.get("code")) {
            Some(async_graphql::Value::String(s)) => s.clone(),
            other => panic!("no code: {other:?}"),
        }
    }

    #[test]
    fn each_error_kind_has_its_code() {
        assert_eq!(
            code(AppError::Unauthenticated("x".into())),
            "UNAUTHENTICATED"
        );
        assert_eq!(code(AppError::Forbidden("x".into())), "FORBIDDEN");
        assert_eq!(code(AppError::not_found("workspace")), "NOT_FOUND");
        assert_eq!(code(AppError::bad_input("slug", "bad")), "BAD_USER_INPUT");
        assert_eq!(code(AppError::Conflict("x".into())), "CONFLICT");
        assert_eq!(code(AppError::internal("SELECT secret FROM x")), "INTERNAL");
    }

    #[test]
    fn internal_errors_do_not_leak_their_detail() {
        let e = to_graphql(AppError::internal("relation \"users\" does not exist"));
        assert_eq!(e.message, "internal error");
    }
}
