//! The FTP and explicit FTPS frontend (port 21), on libunftp: our own accept loop (the gate's
//! admission, a refusal answered with 421 before the greeting), a libunftp session per
//! connection over the shared gate and the home jail, TLS 1.2/1.3 from rustls, and the end of a
//! connection that libunftp does not decide (login deadline, staff, shutdown: `control`). It is
//! a thin adapter: logins, limits and paths are decided in the core; this module only speaks
//! FTP.

mod activity;
mod auth;
mod control;
mod storage;
mod transfer;
mod workers;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use libunftp::options::{FtpsRequired, PassiveHost, SiteMd5};
use libunftp::ServerBuilder;
use tokio::net::TcpStream;
use tracing::Instrument;

use crate::exchange::Core;
use crate::gate::AdmitRefusal;
use crate::metrics::DataHandshake;
use activity::Activity;
use auth::{FtpAuthenticator, FtpUserProvider, Login};
use control::Control;
use storage::{FtpStorage, Shared};
use workers::Workers;

/// Everything a new connection needs, built once.
struct Frontend {
    core: Core,
    shared: Arc<Shared>,
    tls: Arc<rustls::ServerConfig>,
    workers: Workers,
}

/// Resolves when `login`'s deadline passes with no login; never once logged in.
async fn login_deadline(login: &Login) {
    tokio::time::sleep_until(login.deadline()).await;
    if login.is_logged_in() {
        std::future::pending::<()>().await;
    }
}

/// Binds the FTP listener and starts accepting; returns the bound address.
///
/// # Errors
/// When the address can't be bound (naming `--ftp-addr`) or the certificate can't be loaded.
pub async fn start(core: &Core) -> anyhow::Result<SocketAddr> {
    let (cert, key) = crate::tls::ensure(&core.config().tls).context("FTPS certificate")?;
    let tls = crate::tls::server::server_config(&cert, &key)?;
    let metrics = core.metrics().clone();
    libunftp::transfer::observe_data_handshakes(move |resumed| {
        metrics.data_handshake(if resumed {
            DataHandshake::Resumed
        } else {
            DataHandshake::Full
        });
    });
    let listener = crate::server::bind(core.config().ftp_addr, "FTP", "--ftp-addr").await?;
    let addr = listener.local_addr()?;
    let workers = Workers::start(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    )
    .context("starting the FTP worker threads")?;
    let frontend = Arc::new(Frontend {
        shared: Arc::new(Shared {
            partners: core.partners().clone(),
            idle_timeout: core.config().idle_timeout,
        }),
        tls,
        workers,
        core: core.clone(),
    });
    core.tasks().spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = frontend.core.shutdown().cancelled() => break,
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

/// How long a session whose transfer finished during shutdown gets to send the transfer's reply
/// and hear the client's QUIT, before it is closed.
const REPLY_WAIT: Duration = Duration::from_secs(2);

/// Why our side ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// The login deadline passed.
    LoginTimeout,
    /// Staff ended the session.
    Ended,
    /// The server is shutting down.
    Shutdown,
}

impl Closing {
    fn reply(self) -> &'static str {
        match self {
            Self::LoginTimeout => "421 Login timed out; closing the connection.\r\n",
            Self::Ended => "421 Session ended by the administrator.\r\n",
            Self::Shutdown => "421 Server shutting down.\r\n",
        }
    }
}

impl Frontend {
    /// Refuses a connection with 421 or hands it to a libunftp session on a worker.
    async fn admit(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let admission = match self.core.gate().admit(peer) {
            Ok(admission) => admission,
            Err(refusal) => {
                let text = match refusal {
                    AdmitRefusal::Blocked => {
                        "421 Too many failed logins from your address; try again later.\r\n"
                    }
                    AdmitRefusal::TooManyFromAddress => {
                        "421 Too many connections from your address; try again later.\r\n"
                    }
                    AdmitRefusal::TooMany => {
                        "421 Too many sessions on this server; try again later.\r\n"
                    }
                };
                tracing::warn!(%peer, reply = text.trim_end(), "FTP connection refused");
                // A few bytes into a fresh socket's buffer; never waits on the client.
                let _ = stream.try_write(text.as_bytes());
                return;
            }
        };
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "FTP connection lost before its session");
                return;
            }
        };
        let this = Arc::clone(&self);
        let session = self.core.tasks().track_future(async move {
            let mut control = Control::new(&std_stream);
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
            let login = Login::new(admission);
            let activity = Activity::default();
            let server =
                match this.build_server(peer, &control, Arc::clone(&login), activity.clone()) {
                    Ok(server) => server,
                    Err(e) => {
                        tracing::error!(%peer, error = %e, "cannot start an FTP session");
                        return;
                    }
                };
            tracing::debug!("FTP session started");
            // Boxed, so that dropping it below really drops libunftp's service.
            let mut service = Box::pin(server.service(stream));
            let closing = tokio::select! {
                served = &mut service => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "FTP session ended with an error");
                    }
                    None
                }
                () = login.ended() => Some(Closing::Ended),
                () = login_deadline(&login) => Some(Closing::LoginTimeout),
                () = this.core.shutdown().cancelled() => {
                    this.until_transfers_end(&activity, service.as_mut()).await
                }
            };
            if let Some(closing) = closing {
                match closing {
                    Closing::LoginTimeout => {
                        tracing::info!("FTP connection closed: login timed out")
                    }
                    Closing::Ended => {
                        tracing::info!("FTP session closed: staff changed the account")
                    }
                    Closing::Shutdown => tracing::info!("FTP session closed: server shutting down"),
                }
                // Dropping libunftp's service tells its control loop to stop; the last line
                // then goes out on our duplicate, and the socket is closed under both.
                drop(service);
                tokio::task::yield_now().await;
                control.close(closing.reply());
            }
            tracing::debug!("FTP session ended");
        });
        let span = tracing::info_span!("session", protocol = "ftp", %peer);
        self.workers.run(move || session.instrument(span));
    }

    /// At shutdown: `Some(Shutdown)` at once when no transfer runs; else once the transfers
    /// are done (or the grace period is over) and the session had a moment to send the
    /// transfer's reply. `None` when the session ended by itself meanwhile (the client read its
    /// reply and quit).
    async fn until_transfers_end<F: Future>(
        &self,
        activity: &Activity,
        mut service: Pin<&mut F>,
    ) -> Option<Closing> {
        if !activity.is_transferring() {
            return Some(Closing::Shutdown);
        }
        let grace = self.core.config().shutdown_grace;
        let finished = tokio::select! {
            _ = service.as_mut() => true,
            _ = tokio::time::timeout(grace, activity.quiet()) => false,
        };
        if finished || tokio::time::timeout(REPLY_WAIT, service).await.is_ok() {
            return None;
        }
        Some(Closing::Shutdown)
    }

    fn build_server(
        &self,
        peer: SocketAddr,
        control: &Control,
        login: Arc<Login>,
        activity: Activity,
    ) -> anyhow::Result<libunftp::Server<FtpStorage, auth::FtpUser>> {
        let config = &self.core.config();
        let shared = Arc::clone(&self.shared);
        let mut builder = ServerBuilder::with_user_detail_provider(
            Box::new(move || FtpStorage::new(Arc::clone(&shared), peer, activity.clone())),
            Arc::new(FtpUserProvider::new(
                self.core.gate().clone(),
                Arc::clone(&login),
            )),
        )
        .authenticator(Arc::new(FtpAuthenticator::new(
            self.core.gate().clone(),
            Arc::clone(&login),
        )))
        .ftps_manual::<std::path::PathBuf>(control.tls_config(&self.tls))
        // Per user, in the authenticator: a TLS-required user can't log in in clear.
        .ftps_required(FtpsRequired::None, FtpsRequired::None)
        // Per user, too: a TLS-required user's data channel stays protected (no PROT C).
        .ftps_data_required_for(move |_| login.data_protection_required())
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
