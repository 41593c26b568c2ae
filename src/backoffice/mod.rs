//! The backoffice: the HTTP listener for staff (the page and the REST API under `/api/v1`),
//! the track & trace API for partners' systems, `/healthz` and `/metrics`. It is a frontend like
//! FTP and SFTP: it calls the core (user store, inbox ledger, outbox, staff accounts) and maps
//! their errors to HTTP; it never imports a protocol frontend.

pub mod auth;
mod error;
mod files;
mod health;
mod idle;
mod listener;
pub mod openapi;
mod orders;
mod page;
mod request;
mod track;
mod users;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::db::Db;
use crate::exchange::Core;

use crate::staff::Staff;
use crate::tracking::Tracking;

pub use error::ApiError;
pub use listener::start;

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The server core: configuration, users, gate, metrics.
    pub core: Core,
    /// The database.
    pub db: Db,
    /// Staff accounts, sessions and tokens.
    pub staff: Staff,
    /// The track & trace API users and their sealed secrets.
    pub tracking: Tracking,
    /// The listeners this process runs, for `/healthz`.
    pub listeners: Arc<RwLock<Vec<(String, SocketAddr)>>>,
    /// The last health check and when it ran: probes within a few seconds share it.
    pub health: Arc<tokio::sync::Mutex<Option<(std::time::Instant, bool, serde_json::Value)>>>,
}

impl AppState {
    /// The state over a running core.
    ///
    /// # Errors
    /// When the secrets key can't be read or made.
    pub fn new(core: Core, db: Db) -> anyhow::Result<Self> {
        let tracking = Tracking::open(core.config(), db.clone())?;
        Ok(Self {
            staff: Staff::new(db.clone()),
            core,
            db,
            tracking,
            listeners: Arc::new(RwLock::new(Vec::new())),
            health: Arc::new(tokio::sync::Mutex::new(None)),
        })
    }

    /// Records a listener for the health check.
    pub fn listening(&self, what: &str, addr: SocketAddr) {
        let mut listeners = self.listeners.write().unwrap_or_else(|e| e.into_inner());
        listeners.push((what.to_owned(), addr));
    }
}

/// Every route of the backoffice.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(track::routes())
        .merge(auth::routes())
        .merge(page::routes())
        .merge(users::routes())
        .merge(files::routes())
        .merge(orders::routes())
        .merge(openapi::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such page or API route; the API is described at /api/v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not take that method; see /api/v1/openapi.json",
    )
}

/// Headers every answer carries: scripts and frames only from here, no content sniffing, the
/// referrer only to this site (a form post then names its origin, which sign-in checks).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
             form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // API answers may carry a generated password once; nothing is kept by caches.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response.into_response()
}
