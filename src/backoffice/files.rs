//! `/api/v1/files` (the inbox ledger: every file that came in, what it became, its error report;
//! one file with where it came from by mail and its error replies)
//! and `/api/v1/outgoing` (files published to partners' `out/`: downloads and where the partner
//! moved them), and publishing: `POST /api/v1/users/{name}/out?file=NAME` with the bytes as body.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use inbox_processor::{FileState, Ledger, ListFilter};
use serde::Deserialize;
use serde_json::json;

use super::auth::Staffer;
use super::error::ApiError;
use super::request::{PathParam, QueryParams};
use super::AppState;
use http_body_util::BodyExt as _;

use crate::outbox::OutboxError;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/files", get(list_files))
        .route("/api/v1/files/{id}", get(read_file))
        .route("/api/v1/outgoing", get(list_outgoing))
        .route(
            "/api/v1/users/{name}/out",
            post(publish).layer(DefaultBodyLimit::disable()),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesQuery {
    user: Option<String>,
    state: Option<String>,
    /// Received on or after this day (`YYYY-MM-DD`, UTC) or Unix second.
    since: Option<String>,
    /// Received before this day (`YYYY-MM-DD`, UTC, the day itself excluded) or Unix second.
    until: Option<String>,
    limit: Option<u32>,
}

/// A day or a Unix second, as a Unix second.
fn time_bound(name: &str, text: &str) -> Result<i64, ApiError> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
        .ok_or_else(|| ApiError::bad_request(format!("{name}: use YYYY-MM-DD or Unix seconds")))
}

async fn list_files(
    State(state): State<AppState>,
    _staffer: Staffer,
    QueryParams(query): QueryParams<FilesQuery>,
) -> Result<Response, ApiError> {
    let file_state = match query.state.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(FileState::parse(&text.to_ascii_lowercase()).ok_or_else(|| {
            ApiError::bad_request("state: use processing, done, error or vanished")
        })?),
        None => None,
    };
    let filter = ListFilter {
        user: query.user.filter(|u| !u.is_empty()),
        state: file_state,
        limit: Some(query.limit.unwrap_or(100).clamp(1, 1000)),
        since: query
            .since
            .as_deref()
            .map(|t| time_bound("since", t))
            .transpose()?,
        until: query
            .until
            .as_deref()
            .map(|t| time_bound("until", t))
            .transpose()?,
    };
    let rows = Ledger::new(state.db.pool().clone())
        .list(&filter)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "files": rows })).into_response())
}

async fn read_file(
    State(state): State<AppState>,
    _staffer: Staffer,
    PathParam(id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let row = Ledger::new(state.db.pool().clone())
        .get(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no inbox file with id {id}")))?;
    let mail = state
        .core
        .replies()
        .for_file(id)
        .await
        .map_err(ApiError::internal)?
        .map(|(origin, replies)| {
            json!({
                "sender": origin.sender,
                "message_id": origin.message_id,
                "subject": origin.subject,
                "delivered_at": origin.delivered_at,
                "no_reply": origin.no_reply,
                "replies": replies.iter().map(|r| json!({
                    "id": r.id,
                    "recipient": r.recipient,
                    "subject": r.subject,
                    "state": r.state,
                    "attempts": r.attempts,
                    "next_try_at": (r.state == "queued").then_some(r.next_try_ms / 1000),
                    "last_error": r.last_error,
                    "queued_at": r.queued_at,
                    "sent_at": r.sent_at,
                })).collect::<Vec<_>>(),
            })
        });
    Ok(Json(json!({ "file": row, "mail": mail })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutgoingQuery {
    user: Option<String>,
    limit: Option<u32>,
}

async fn list_outgoing(
    State(state): State<AppState>,
    _staffer: Staffer,
    QueryParams(query): QueryParams<OutgoingQuery>,
) -> Result<Response, ApiError> {
    let files = state
        .core
        .outbox()
        .list(
            query.user.as_deref().filter(|u| !u.is_empty()),
            query.limit.unwrap_or(100),
        )
        .await?;
    Ok(Json(json!({ "files": files })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishQuery {
    file: String,
    #[serde(default)]
    replace: bool,
}

async fn publish(
    State(state): State<AppState>,
    staffer: Staffer,
    PathParam(name): PathParam<String>,
    QueryParams(query): QueryParams<PublishQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    state.core.users().require(&name).await?;
    let outbox = &state.core.outbox();
    // Streamed to the temp file: a big file never sits in memory.
    let mut writer = outbox.stage(&name, &query.file).await?;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| OutboxError::Incomplete(e.to_string()))?;
        if let Some(chunk) = frame.data_ref() {
            writer.write(chunk).await?;
        }
    }
    let staged = writer.finish().await?;
    let file = outbox.publish(staged, &staffer.name, query.replace).await?;
    tracing::info!(admin = %staffer.name, user = %name, file = %query.file, bytes = file.size, "file published");
    Ok((StatusCode::CREATED, Json(json!({ "file": file }))).into_response())
}
