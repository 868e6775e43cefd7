//! `GET /evidence-packs/{id}/download`: a READY pack's ZIP, streamed from storage.
//!
//! Two ways in:
//! - `Authorization: Bearer <token>` with capability `evidence_pack.download`: 401 without
//!   a valid token, 404 for packs the caller cannot see (or unknown ids), 403 with a role
//!   but without the capability, 409 while the pack is not READY;
//! - the signed `downloadUrl` (`?by=…&expires=…&signature=…`), no token needed: any
//!   wrong, altered or expired link, or one whose user no longer holds the capability,
//!   gets the same 403, whether or not the pack exists (a pack deleted since the link was
//!   issued: 404).
//!
//! Every download (GET, not HEAD) is an audit event (`evidence_pack.download`) by the
//! caller or the user the link was issued to.
use axum::{
    body::Body,
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde_json::json;
use uuid::Uuid;

use super::{principal_from_headers, HttpState};
use crate::{
    auth::Principal,
    authz::{Access, Capability},
    domain::ids::WorkspaceId,
    error::AppError,
    service::{self, record, Audit},
    store::{self, evidence::EvidencePackRow},
};

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn forbidden_link() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
        "the download link is invalid or has expired",
    )
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "evidence pack not found",
    )
}

fn internal() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        "internal error; see the server log",
    )
}

/// The `by`, `expires` and `signature` of a signed link; `None` when the query has none
/// of them.
struct LinkParams {
    by: Option<String>,
    expires: Option<String>,
    signature: Option<String>,
}

fn signed_params(query: Option<&str>) -> Option<LinkParams> {
    let query = query?;
    let mut p = LinkParams {
        by: None,
        expires: None,
        signature: None,
    };
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "by" => p.by = Some(v.to_string()),
            "expires" => p.expires = Some(v.to_string()),
            "signature" => p.signature = Some(v.to_string()),
            _ => {}
        }
    }
    (p.by.is_some() || p.expires.is_some() || p.signature.is_some()).then_some(p)
}

fn pack_uuid(id: &str) -> Option<Uuid> {
    match crate::api::node::parse_global_id(id) {
        Some((crate::api::node::NodeType::EvidencePack, uuid)) => Some(uuid),
        _ => None,
    }
}

pub async fn download_pack(
    method: Method,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let app = state.app.clone();
    let (pack, actor, via) = if let Some(link) = signed_params(query.as_deref()) {
        // Signed link: decided on the link alone before touching the database, then the
        // user it was issued to must still hold the capability.
        let (Some(uuid), Some(user), Some(expires), Some(signature)) = (
            pack_uuid(&id),
            link.by.and_then(|b| Uuid::parse_str(&b).ok()),
            link.expires.and_then(|e| e.parse::<i64>().ok()),
            link.signature,
        ) else {
            return forbidden_link();
        };
        if !app
            .evidence
            .urls
            .check(uuid, user, expires, &signature, Utc::now())
        {
            return forbidden_link();
        }
        let issued_to = async {
            let mut conn = app.db.conn().await?;
            if store::evidence::find_pack_workspace(&mut conn, uuid)
                .await?
                .is_none()
            {
                return Ok(None);
            }
            Ok::<_, AppError>(Some(
                store::users::list_users_by_ids(&mut conn, &[user])
                    .await?
                    .into_iter()
                    .next(),
            ))
        }
        .await;
        let email = match issued_to {
            Ok(Some(Some(u))) => u.email,
            Ok(Some(None)) => return forbidden_link(),
            // Deleted since the link was issued.
            Ok(None) => return not_found(),
            Err(err) => {
                tracing::error!(error = %err, "evidence download failed");
                return internal();
            }
        };
        let access = Access::new(
            Principal::User {
                email,
                expires_at: None,
            },
            app.authz.clone(),
        );
        match service::evidence::authorize_pack(
            &app,
            &access,
            uuid,
            Capability::EvidencePackDownload,
        )
        .await
        {
            Ok(pack) => (pack, access.actor(), "signed link"),
            Err(AppError::NotFound(_) | AppError::Forbidden(_)) => return forbidden_link(),
            Err(err) => {
                tracing::error!(error = %err, "evidence download failed");
                return internal();
            }
        }
    } else {
        let principal = principal_from_headers(&app.tokens, &headers);
        let access = Access::new(principal, app.authz.clone());
        if let Err(e) = access.user_email() {
            return error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", &e.to_string());
        }
        let Some(uuid) = pack_uuid(&id) else {
            return not_found();
        };
        match service::evidence::authorize_pack(
            &app,
            &access,
            uuid,
            Capability::EvidencePackDownload,
        )
        .await
        {
            Ok(pack) => (pack, access.actor(), "bearer token"),
            Err(AppError::NotFound(_)) => return not_found(),
            Err(AppError::Forbidden(m)) => return error(StatusCode::FORBIDDEN, "FORBIDDEN", &m),
            Err(AppError::Unauthenticated(m)) => {
                return error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", &m)
            }
            Err(err) => {
                tracing::error!(error = %err, "evidence download failed");
                return internal();
            }
        }
    };
    if pack.status != "READY" {
        return error(
            StatusCode::CONFLICT,
            "CONFLICT",
            &format!("the pack is {}, not READY", pack.status),
        );
    }
    serve_pack(&state, pack, actor, via, method != Method::HEAD).await
}

async fn serve_pack(
    state: &HttpState,
    pack: EvidencePackRow,
    actor: String,
    via: &str,
    audited: bool,
) -> Response {
    let app = &state.app;
    let Some(key) = pack.storage_key.clone() else {
        return not_found();
    };
    let opened = match app.evidence.storage.open(&key).await {
        Ok(Some(opened)) => opened,
        Ok(None) => {
            tracing::error!(pack.id = %pack.id, "a READY evidence pack has no stored file");
            return not_found();
        }
        Err(err) => {
            tracing::error!(error = %err, pack.id = %pack.id, "cannot open an evidence pack");
            return internal();
        }
    };
    let workspace = WorkspaceId(pack.workspace_id);
    let recorded = async {
        if !audited {
            return Ok(());
        }
        let mut conn = app.db.conn().await?;
        conn.transaction::<_, AppError, _>(async |conn| {
            record(
                conn,
                Audit {
                    workspace: Some(workspace),
                    actor: actor.clone(),
                    action: "evidence_pack.download",
                    target_type: "EvidencePack",
                    target_id: pack.id.to_string(),
                    before: None,
                    after: Some(json!({"sha256": pack.sha256, "via": via})),
                    touches_activity: false,
                },
            )
            .await
        })
        .await
        .map(|_| ())
    }
    .await;
    if let Err(err) = recorded {
        tracing::error!(error = %err, pack.id = %pack.id, "cannot record an evidence download");
        return internal();
    }
    let (reader, size) = opened;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        reader,
        64 * 1024,
    ));
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = HeaderValue::from_str(&size.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    let name = service::evidence::download_name(&pack);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(Ok(v)) = pack
        .sha256
        .as_deref()
        .map(|d| HeaderValue::from_str(&format!("\"{d}\"")))
    {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}
