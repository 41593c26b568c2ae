//! `/healthz` (the database answers, every listener accepts, the data dir's disk has
//! `--min-free-space` left; open to anyone, it tells no more
//! than up or down) and `/metrics` (Prometheus text, for a staff bearer token: Prometheus sends
//! it with `authorization: {credentials: ...}` in its scrape config).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::auth::Staffer;
use super::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// How long one health check answers for: a tight probe loop (or anyone, since the check needs
/// no sign-in) costs one database query and one connect per listener every few seconds at most.
const HEALTH_FRESH: Duration = Duration::from_secs(5);

async fn healthz(State(state): State<AppState>) -> Response {
    let mut cached = state.health.lock().await;
    let (healthy, body) = match cached.as_ref() {
        Some((at, healthy, body)) if at.elapsed() < HEALTH_FRESH => (*healthy, body.clone()),
        _ => {
            let (healthy, body) = check(&state).await;
            *cached = Some((std::time::Instant::now(), healthy, body.clone()));
            (healthy, body)
        }
    };
    drop(cached);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn check(state: &AppState) -> (bool, serde_json::Value) {
    let database = tokio::time::timeout(
        Duration::from_secs(3),
        sqlx::query("SELECT 1").execute(state.db.pool()),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let listeners = state
        .listeners
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut checks = serde_json::Map::new();
    let mut healthy = database;
    for (what, addr) in listeners {
        let mut target = addr;
        if target.ip().is_unspecified() {
            target.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let up = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(target),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        healthy &= up;
        checks.insert(what, json!(if up { "up" } else { "down" }));
    }
    let config = state.core.config();
    let free = free_bytes(&config.data_dir).await;
    let disk_ok = free.is_some_and(|free| free >= config.min_free_space);
    // A full disk still serves logins and downloads, but a probe must notice it: 503 too.
    let status = match (healthy, disk_ok) {
        (true, true) => "ok",
        (true, false) => "degraded",
        (false, _) => "failing",
    };
    healthy &= disk_ok;
    let body = json!({
        "status": status,
        "database": if database { "up" } else { "down" },
        "disk": if disk_ok { "ok" } else { "degraded" },
        "listeners": checks,
    });
    (healthy, body)
}

/// Free bytes for an unprivileged writer on the file system holding `dir`; `None` when it can't
/// be read.
async fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let dir = dir.to_path_buf();
    let stat = tokio::task::spawn_blocking(move || rustix::fs::statvfs(&dir).ok())
        .await
        .ok()
        .flatten()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

async fn metrics(State(state): State<AppState>, _staffer: Staffer) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.core.metrics().render(),
    )
        .into_response()
}
