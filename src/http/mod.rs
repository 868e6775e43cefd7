//! HTTP routes: `POST /graphql`, `GET /graphql` (GraphiQL), `GET /graphql/ws`
//! (subscriptions), `GET /evidence-packs/{id}/download`, `GET /healthz`, `GET /readyz`.
//! Request ids and tracing on every request.
use std::{sync::Arc, time::Duration};

use async_graphql::{http::GraphiQLSource, Data};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::{
    extract::{State, WebSocketUpgrade},
    http::{header, HeaderMap, HeaderName, Request, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::{
    compression::{
        predicate::{DefaultPredicate, NotForContentType, Predicate},
        CompressionLayer,
    },
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    api::{errors::ensure_codes, AppSchema, RequestState},
    auth::{jwt::TokenService, Principal},
    authz::Access,
    service::AppContext,
};

/// Shared by every route.
#[derive(Clone)]
pub struct HttpState {
    pub app: Arc<AppContext>,
    pub schema: AppSchema,
    /// Fires when the server shuts down; open WebSockets close then.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

mod download;

const REQUEST_ID: &str = "x-request-id";

/// The application's router.
pub fn router(state: HttpState, request_timeout: Duration) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route(
            "/evidence-packs/{id}/download",
            get(download::download_pack),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "http",
                            http.method = %req.method(),
                            http.path = %req.uri().path(),
                            request.id = %id,
                        )
                    }),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(tower_http::limit::RequestBodyLimitLayer::new(
                    MAX_BODY_BYTES,
                ))
                // ZIPs are compressed already.
                .layer(CompressionLayer::new().compress_when(
                    DefaultPredicate::new().and(NotForContentType::const_new("application/zip")),
                ))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    request_timeout,
                )),
        )
}

/// Reads `Authorization: Bearer <token>`.
pub fn principal_from_authorization(tokens: &TokenService, value: Option<&str>) -> Principal {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Principal::Anonymous;
    };
    // The scheme is case-insensitive (RFC 7235); any whitespace separates it.
    let mut parts = value.splitn(2, char::is_whitespace);
    let scheme = parts.next().unwrap_or("");
    let token = parts.next().map(str::trim).unwrap_or("");
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Principal::Invalid("Authorization must be \"Bearer <token>\"".into());
    }
    match tokens.verify_with_expiry(token) {
        Ok((email, exp)) => Principal::User {
            email,
            expires_at: Some(exp),
        },
        Err(reason) => Principal::Invalid(reason),
    }
}

/// The caller of an HTTP request: exactly one `Authorization` header, or none.
pub fn principal_from_headers(tokens: &TokenService, headers: &HeaderMap) -> Principal {
    let mut auths = headers.get_all(header::AUTHORIZATION).iter();
    match (auths.next(), auths.next()) {
        (None, _) => Principal::Anonymous,
        (Some(_), Some(_)) => Principal::Invalid("send one Authorization header".into()),
        (Some(v), None) => match v.to_str() {
            Ok(v) => principal_from_authorization(tokens, Some(v)),
            Err(_) => Principal::Invalid("malformed Authorization header".into()),
        },
    }
}

/// Largest GraphQL request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

fn json_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"data": null, "errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]})),
    )
        .into_response()
}

async fn graphql(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // Parsed here (not by the extractor) so malformed bodies get a JSON error with a code.
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return json_error(StatusCode::BAD_REQUEST, "the body is not JSON"),
    };
    if value.is_array() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "batched requests are not supported; send one operation per request",
        );
    }
    let request: async_graphql::Request =
        match serde_json::from_value(value) {
            Ok(r) => r,
            Err(_) => return json_error(
                StatusCode::BAD_REQUEST,
                "expected {\"query\": string, \"variables\"?: object, \"operationName\"?: string}",
            ),
        };
    let principal = principal_from_headers(&state.app.tokens, &headers);
    let (spawner, pump) = crate::api::loaders::request_batches();
    let request_state = Arc::new(RequestState::for_request(
        &state.app,
        Access::new(principal, state.app.authz.clone()),
        spawner,
    ));
    request_state.access.preload().await;
    let request = request.data(request_state);
    let mut response =
        crate::api::loaders::run_with_batches(state.schema.execute(request), pump).await;
    ensure_codes(&mut response);
    GraphQLResponse::from(response).into_response()
}

async fn graphiql() -> impl IntoResponse {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("TenantAtlas GraphiQL")
            .finish(),
    )
}

async fn graphql_ws(
    State(state): State<HttpState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let app = state.app.clone();
            let mut shutdown = state.shutdown.clone();
            let serve = GraphQLWebSocket::new(socket, state.schema.clone(), protocol)
                .on_connection_init(move |payload| async move {
                    // {"Authorization": "Bearer <token>"}; key matched case-insensitively.
                    let auth = payload.as_object().and_then(|o| {
                        o.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                            .and_then(|(_, v)| v.as_str())
                            .map(str::to_string)
                    });
                    let principal = principal_from_authorization(&app.tokens, auth.as_deref());
                    let mut data = Data::default();
                    data.insert(Arc::new(RequestState::for_connection(
                        &app,
                        Access::new(principal, app.authz.clone()),
                    )));
                    Ok(data)
                })
                .serve();
            // A long-lived subscription must not keep a draining server alive.
            tokio::select! {
                _ = serve => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
        })
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// 200 only when the database answers and every embedded migration is applied.
async fn readyz(State(state): State<HttpState>) -> Response {
    let check = tokio::time::timeout(
        Duration::from_secs(3),
        crate::db::pending_migrations(&state.app.db),
    )
    .await;
    match check {
        Ok(Ok(pending)) if pending.is_empty() => Json(json!({"status": "ready"})).into_response(),
        Ok(Ok(pending)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "not ready", "reason": "migrations pending", "pending": pending}),
            ),
        )
            .into_response(),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not ready", "reason": "database unavailable"})),
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "reason": "database did not answer in time"})),
        )
            .into_response(),
    }
}
