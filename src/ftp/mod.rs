//! The FTP and explicit FTPS frontend (port 21), on libunftp: our own accept loop (limits and
//! blocked addresses answered with 421 before the greeting), a libunftp session per connection
//! over the shared gate and the home jail, TLS 1.2/1.3 from rustls. It is a thin adapter: logins,
//! limits and paths are decided in the core; this module only speaks FTP.

mod auth;
mod storage;
mod tls;
mod transfer;
mod workers;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use libunftp::options::{FtpsRequired, PassiveHost, SiteMd5};
use libunftp::ServerBuilder;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::Instrument;

use crate::server::Core;
use auth::{FtpAuthenticator, FtpUserProvider, Login};
use storage::{FtpStorage, Shared};
use workers::Workers;

/// Everything a new connection needs, built once.
struct Frontend {
    core: Core,
    shared: Arc<Shared>,
    tls: Arc<rustls::ServerConfig>,
    workers: Workers,
    connections: Arc<AtomicUsize>,
}

/// Binds the FTP listener and starts accepting; returns the bound address.
///
/// # Errors
/// When the address can't be bound (naming `--ftp-addr`) or the certificate can't be loaded.
pub async fn start(core: &Core) -> anyhow::Result<SocketAddr> {
    let (cert, key) = crate::tls::ensure(&core.config.tls).context("FTPS certificate")?;
    let tls = tls::server_config(&cert, &key)?;
    let listener = crate::server::bind(core.config.ftp_addr, "FTP", "--ftp-addr").await?;
    let addr = listener.local_addr()?;
    let workers = Workers::start(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    )
    .context("starting the FTP worker threads")?;
    let frontend = Arc::new(Frontend {
        shared: Arc::new(Shared {
            arrivals: core.arrivals.clone(),
            idle_timeout: core.config.idle_timeout,
            outbox: core.outbox.clone(),
            metrics: core.metrics.clone(),
        }),
        tls,
        workers,
        connections: Arc::new(AtomicUsize::new(0)),
        core: core.clone(),
    });
    core.tasks.spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = frontend.core.shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => frontend.clone().admit(stream, peer).await,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "FTP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
        tracing::info!("FTP listener closed");
    });
    Ok(addr)
}

/// Counts a connection while it lives.
struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Frontend {
    /// Refuses a connection with 421 or hands it to a libunftp session on a worker.
    async fn admit(self: Arc<Self>, mut stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let config = &self.core.config;
        let open = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = ConnectionSlot(Arc::clone(&self.connections));
        let refusal = if self.core.gate.is_blocked(peer.ip()) {
            Some("421 Too many failed logins from your address; try again later.\r\n")
        } else if self.core.gate.sessions().open() >= config.max_sessions
            || open > 2 * config.max_sessions as usize
        {
            Some("421 Too many sessions on this server; try again later.\r\n")
        } else {
            None
        };
        if let Some(text) = refusal {
            tracing::warn!(%peer, reply = text.trim_end(), "FTP connection refused");
            let _ = stream.write_all(text.as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "FTP connection lost before its session");
                return;
            }
        };
        let this = Arc::clone(&self);
        let session = self.core.tasks.track_future(async move {
            let _slot = slot;
            let stream = match std_stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(std_stream))
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "FTP connection lost before its session");
                    return;
                }
            };
            let login = Login::new();
            let server = match this.build_server(peer.ip(), Arc::clone(&login)) {
                Ok(server) => server,
                Err(e) => {
                    tracing::error!(%peer, error = %e, "cannot start an FTP session");
                    return;
                }
            };
            tracing::debug!("FTP session started");
            tokio::select! {
                served = server.service(stream) => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "FTP session ended with an error");
                    }
                }
                () = login.ended() => {
                    tracing::info!("FTP session closed: staff changed the account");
                }
            }
            tracing::debug!("FTP session ended");
        });
        let span = tracing::info_span!("session", protocol = "ftp", %peer);
        self.workers.run(move || session.instrument(span));
    }

    fn build_server(
        &self,
        _peer: IpAddr,
        login: Arc<Login>,
    ) -> anyhow::Result<libunftp::Server<FtpStorage, auth::FtpUser>> {
        let config = &self.core.config;
        let shared = Arc::clone(&self.shared);
        let mut builder = ServerBuilder::with_user_detail_provider(
            Box::new(move || FtpStorage::new(Arc::clone(&shared))),
            Arc::new(FtpUserProvider::new(
                self.core.gate.clone(),
                Arc::clone(&login),
            )),
        )
        .authenticator(Arc::new(FtpAuthenticator::new(
            self.core.gate.clone(),
            login,
        )))
        .ftps_manual::<std::path::PathBuf>(Arc::clone(&self.tls))
        // Per user, in the authenticator: a TLS-required user can't log in in clear.
        .ftps_required(FtpsRequired::None, FtpsRequired::None)
        .greeting("freightdrop FTP server ready")
        .idle_session_timeout(config.idle_timeout.as_secs())
        .passive_ports(config.passive_ports.clone())
        .sitemd5(SiteMd5::None);
        if let Some(IpAddr::V4(ip)) = config.passive_host {
            builder = builder.passive_host(PassiveHost::Ip(ip));
        }
        builder.build().map_err(|e| anyhow::anyhow!("{e}"))
    }
}
