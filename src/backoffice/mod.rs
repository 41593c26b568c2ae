//! The backoffice: the HTTP listener for staff (the page and the REST API under `/api/v1`),
//! the track & trace API for partners' systems, `/healthz` and `/metrics`. It is a frontend like
//! FTP and SFTP: it calls the core (user store, inbox ledger, outbox, staff accounts) and maps
//! their errors to HTTP; it never imports a protocol frontend.

mod health;
mod track;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::Router;

use crate::db::Db;
use crate::server::Core;
use crate::tracking::Tracking;

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The server core: configuration, users, gate, metrics.
    pub core: Core,
    /// The database.
    pub db: Db,
    /// The track & trace API users and their sealed secrets.
    pub tracking: Tracking,
    /// The listeners this process runs, for `/healthz`.
    pub listeners: Arc<RwLock<Vec<(String, SocketAddr)>>>,
}

impl AppState {
    /// The state over a running core.
    ///
    /// # Errors
    /// When the secrets key can't be read or made.
    pub fn new(core: Core, db: Db) -> anyhow::Result<Self> {
        let tracking = Tracking::open(&core.config, db.clone())?;
        Ok(Self {
            core,
            db,
            tracking,
            listeners: Arc::new(RwLock::new(Vec::new())),
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
        .with_state(state)
}

/// Binds `--http-addr` and serves the backoffice on the core's tracker until shutdown.
///
/// # Errors
/// When the address can't be bound.
pub async fn start(state: AppState) -> anyhow::Result<SocketAddr> {
    let core = state.core.clone();
    let listener =
        crate::server::bind(core.config.http_addr, "the backoffice", "--http-addr").await?;
    let addr = listener.local_addr()?;
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let shutdown = core.shutdown.clone();
    core.tasks.spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "backoffice listener failed");
        }
    });
    Ok(addr)
}
