//! The backoffice's listener: our own accept loop over hyper's HTTP/1 connections instead of
//! `axum::serve`, so that before hyper reads a byte every connection is checked against the
//! descriptor headroom (`descriptors::Headroom`) and admitted by the gate (open connections per
//! address and in all, counted where FTP's and SFTP's are), and once served it has a deadline
//! for each request head (`--http-header-timeout`) and an inactivity limit
//! (`--http-idle-timeout`, see `idle`). Shutdown as before: stop accepting, let requests in
//! flight finish and close idle keep-alive connections, on the core's task tracker.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

use super::idle::Quiet;
use super::AppState;
use crate::descriptors::Headroom;
use crate::exchange::Core;
use crate::gate::{AdmitRefusal, ConnectionPlace};

/// Binds `--http-addr` and serves the backoffice on the core's tracker until shutdown.
///
/// # Errors
/// When the address can't be bound.
pub async fn start(state: AppState) -> anyhow::Result<SocketAddr> {
    let core = state.core.clone();
    let listener =
        crate::server::bind(core.config().http_addr, "the backoffice", "--http-addr").await?;
    let addr = listener.local_addr()?;
    let headroom = Headroom::now(core.config().open_files_reserve);
    let caps = core.gate().http_connections().caps();
    let limits = core.config().http;
    tracing::info!(
        max_connections = caps.max_connections,
        max_per_address = caps.max_per_client,
        header_timeout_secs = limits.header_timeout.as_secs(),
        idle_timeout_secs = limits.idle_timeout.as_secs(),
        descriptor_line = headroom.line(),
        "HTTP limits"
    );
    let router = super::router(state);
    core.tasks()
        .spawn(accept(core.clone(), listener, router, headroom));
    Ok(addr)
}

/// Accepts until shutdown; each admitted connection runs on its own task on the tracker.
async fn accept(core: Core, listener: TcpListener, router: Router, headroom: Headroom) {
    let shutdown = core.shutdown().clone();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !headroom.allows(&stream) {
            tracing::warn!(%peer, "HTTP connection refused: open files near the limit");
            refuse(
                &stream,
                "503 Service Unavailable",
                "server busy; try again later",
            );
            continue;
        }
        let proxied = core.config().is_trusted_proxy(peer.ip());
        let place = match core.gate().admit_http(peer, !proxied) {
            Ok(place) => place,
            Err(refusal) => {
                let (status, text) = match refusal {
                    AdmitRefusal::TooManyFromAddress => (
                        "429 Too Many Requests",
                        "too many connections from your address; try again later",
                    ),
                    AdmitRefusal::TooMany | AdmitRefusal::Blocked => (
                        "503 Service Unavailable",
                        "too many connections on this server; try again later",
                    ),
                };
                tracing::warn!(%peer, reply = status, "HTTP connection refused");
                refuse(&stream, status, text);
                continue;
            }
        };
        core.tasks()
            .spawn(serve(core.clone(), stream, peer, router.clone(), place));
    }
    tracing::info!("HTTP listener closed");
}

/// A short answer written into a fresh socket's buffer (never waiting on the client), then
/// the socket is closed by the caller dropping it.
fn refuse(stream: &TcpStream, status: &str, text: &str) {
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nRetry-After: 10\r\nConnection: close\r\n\r\n{text}\n",
        text.len() + 1
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// Serves one connection until the client closes it, a timeout ends it, or shutdown: then the
/// request in flight finishes and the connection closes. `_place` holds its place in the caps.
async fn serve(
    core: Core,
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    _place: ConnectionPlace,
) {
    let limits = core.config().http;
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(Quiet::new(stream, limits.idle_timeout));
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        // What `into_make_service_with_connect_info` gave the handlers: the client's address.
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let shutdown = core.shutdown().clone();
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.as_mut().await
        }
    };
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "HTTP connection ended");
    }
}
