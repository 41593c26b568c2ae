//! The SFTP frontend: SSH on russh, SFTP v3 on russh-sftp's protocol types, both thin over the
//! shared core (the gate for logins and session limits, the home jail for paths, the arrivals
//! channel for finished uploads). It knows nothing of FTP or HTTP.
//!
//! - `mod.rs` (here): the listener, the accept loop and the life of one connection, including
//!   its part in the server's ordered shutdown;
//! - `host_key`: the ed25519 host key, made once; `policy`: algorithms and transport settings;
//! - `session`: the SSH handler (logins, channels, refusals);
//! - `request_loop`: the concurrent SFTP request loop; `files`: the SFTP operations translated
//!   onto the partner-file session, with `handles` and `status` (errors as SFTP codes);
//! - `watchdog`: the idle timeout that keepalives can't fool; `killable`: the hard stop.

mod files;
mod handles;
pub mod host_key;
mod killable;
pub mod policy;
mod request_loop;
mod session;
mod status;
mod watchdog;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};

use crate::exchange::Core;
use crate::gate::{Admission, HandshakeTurn};
use killable::Killable;
use session::SshSession;
use watchdog::{Activity, Limits};

/// How long a closed session gets to say goodbye before its socket is failed.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Binds the SFTP listener on `core.config().sftp_addr` and starts accepting on `core.tasks()`, until
/// `core.shutdown()` is cancelled. Returns the address it listens on.
///
/// # Errors
/// When the address can't be bound (the message names `--sftp-addr`) or the host key can't be
/// read or made.
pub async fn start(core: &Core) -> anyhow::Result<SocketAddr> {
    let listener = crate::server::bind(core.config().sftp_addr, "SFTP", "--sftp-addr").await?;
    let addr = listener.local_addr().context("SFTP listener address")?;
    let host_key = host_key::load_or_create(&core.config().data_dir)?;
    let config = Arc::new(policy::ssh_config(host_key));
    core.tasks()
        .spawn(accept_loop(listener, config, core.clone()));
    Ok(addr)
}

async fn accept_loop(listener: TcpListener, config: Arc<russh::server::Config>, core: Core) {
    loop {
        let accepted = tokio::select! {
            () = core.shutdown().cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin or stop.
                tracing::warn!(error = %e, "SFTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Before any protocol work: a refused connection is closed before the version exchange.
        let admission = match core.gate().admit(peer) {
            Ok(admission) => admission,
            Err(refusal) => {
                tracing::warn!(%peer, reason = %refusal, "SFTP connection refused");
                drop(socket);
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        core.tasks().spawn(connection(
            config.clone(),
            socket,
            peer,
            admission,
            core.clone(),
        ));
    }
    tracing::debug!("SFTP listener closed");
}

/// Resolves once the client has closed its side of `socket` (or the socket failed), without
/// reading what it sent, which russh reads later. It watches a duplicate of the socket's
/// descriptor, registered on its own: forgetting a readiness there (to wait for the next
/// change) leaves the socket's own readiness, which russh's first read waits on, untouched.
/// Without a duplicate it never resolves.
async fn client_gone(socket: &TcpStream) {
    let watch = match watcher(socket) {
        Ok(watch) => watch,
        Err(e) => {
            tracing::debug!(error = %e, "no watch on a waiting SSH connection");
            return std::future::pending().await;
        }
    };
    loop {
        match watch.ready(Interest::READABLE).await {
            Ok(ready) if ready.is_read_closed() => return,
            Ok(_) => {
                // Data, not the end: forget this readiness without reading, and wait for the
                // next change (more data, or the end).
                let _ = watch.try_io(Interest::READABLE, || {
                    Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                });
            }
            Err(_) => return,
        }
    }
}

/// A second handle on `socket`'s connection (a duplicated descriptor), for watching only.
fn watcher(socket: &TcpStream) -> std::io::Result<TcpStream> {
    use std::os::fd::AsFd as _;
    let duplicate = std::net::TcpStream::from(socket.as_fd().try_clone_to_owned()?);
    duplicate.set_nonblocking(true)?;
    TcpStream::from_std(duplicate)
}

/// The life of one connection: handshake and login (by the admission's deadline), watchdog, and
/// the end (by the client, the watchdog, staff, or the server's shutdown: at once when no
/// transfer runs, else once running transfers are done or the grace period is over).
async fn connection(
    config: Arc<russh::server::Config>,
    socket: TcpStream,
    peer: SocketAddr,
    admission: Admission,
    core: Core,
) {
    let deadline = admission.deadline();
    // A client starting handshakes too fast waits for its turn (holding its pre-login place, so
    // the caps bound how many wait), before russh sends a byte; one whose client gives up while
    // waiting frees its place at once, so a flood's leftovers don't hold the next real login out.
    let turn = tokio::select! {
        turn = core.gate().handshake_turn(peer.ip(), deadline, client_gone(&socket)) => turn,
        () = core.shutdown().cancelled() => return,
    };
    match turn {
        HandshakeTurn::Go => {}
        HandshakeTurn::TooLate => {
            tracing::debug!(%peer, "SSH connection dropped: handshakes from this address too fast");
            return;
        }
        HandshakeTurn::GaveUp => {
            tracing::debug!(%peer, "SSH connection closed by its client while waiting for its turn");
            return;
        }
    }
    let activity = Activity::new();
    let handler = SshSession::new(peer, core.clone(), activity.clone(), admission);
    let stream = Killable::new(socket, activity.kill_token());
    let started = tokio::select! {
        started = tokio::time::timeout_at(deadline, russh::server::run_stream(config, stream, handler)) => started,
        () = core.shutdown().cancelled() => {
            activity.kill();
            return;
        }
    };
    let session = match started {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "SSH handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "SSH handshake timed out");
            activity.kill();
            return;
        }
    };
    let handle = session.handle();
    let limits = Limits::new(core.config().idle_timeout, deadline);
    let watchdog = tokio::spawn(watchdog::run(handle.clone(), activity.clone(), limits));
    tokio::pin!(session);
    // Each arm that polls `session` to its end leaves `finished` true, so the finished future is
    // never polled again.
    let finished = tokio::select! {
        ended = &mut session => {
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "SSH session ended");
            }
            true
        }
        () = core.shutdown().cancelled() => false,
    };
    if !finished {
        // Let a running transfer finish within the grace period, then say goodbye.
        let grace = core.config().shutdown_grace;
        let finished = activity.is_transferring()
            && tokio::select! {
                _ = &mut session => true,
                _ = tokio::time::timeout(grace, activity.quiet()) => false,
            };
        let finished = finished
            || tokio::select! {
                _ = &mut session => true,
                () = watchdog::close(&handle, &activity, "server shutting down") => false,
            };
        if !finished {
            let _ = tokio::time::timeout(CLOSE_WAIT, &mut session).await;
        }
    }
    watchdog.abort();
    // Whatever still runs for this connection (an SFTP loop, a stuck socket) stops now.
    activity.kill();
}
