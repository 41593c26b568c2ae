//! The mail channel (issue 13): partners mail their files as MIME attachments to
//! `<prefix>+<account>[.<customer>][+<ext>]@<domain>`, to an embedded SMTP listener (a site's MX)
//! or an LMTP listener on TCP or a unix socket (a site's own MTA delivering). A thin translator
//! over the core: every new connection passes the gate's admission first; the recipient
//! ([`address`]) is routed to an account at RCPT ([`delivery`]); the message's attachments
//! ([`attachments`]) go through the partner-file core's upload path into the inbox, which
//! processes them as any upload. The envelope sender must be one the account lists (checked at
//! RCPT); with `--mail-require-auth-results` the message must also carry a DKIM or SPF pass
//! from the site's own MTA (`authres`). A message delivered twice is stored once (`dedupe`).
//! Where each file came from is recorded with the core's `replies`, which mails a rejected file
//! back. The conversation itself is in `session`.
//!
//! STARTTLS is offered on the TCP listeners, with the FTPS certificate. Over a unix socket there
//! is no TLS and no client address: the socket's file permissions decide who may
//! connect, and the gate's per-address admission does not apply.

pub mod address;
pub mod attachments;
mod authres;
mod dedupe;
pub mod delivery;
mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio_rustls::TlsAcceptor;

use crate::config::LmtpAddr;
use crate::exchange::Core;
use session::{Conversation, Dialect, End};

/// Where the mail listeners ended up.
#[derive(Debug, Default)]
pub struct Listening {
    /// The SMTP listener's address, if on.
    pub smtp: Option<SocketAddr>,
    /// The LMTP listener's TCP address, if on TCP.
    pub lmtp_tcp: Option<SocketAddr>,
    /// The LMTP listener's unix socket, if on one.
    pub lmtp_unix: Option<PathBuf>,
}

/// Binds the SMTP and LMTP listeners that are on and starts accepting on `core.tasks()`, until
/// `core.shutdown()` is cancelled.
///
/// # Errors
/// When an address can't be bound (the message names the flag) or the certificate can't be
/// loaded.
pub async fn start(core: &Core) -> anyhow::Result<Listening> {
    let config = &core.config().mail;
    let mut listening = Listening::default();
    let tls = if config.smtp_addr.is_some() || matches!(config.lmtp_addr, Some(LmtpAddr::Tcp(_))) {
        let (cert, key) = crate::tls::ensure(&core.config().tls).context("STARTTLS certificate")?;
        Some(TlsAcceptor::from(crate::tls::server::server_config(
            &cert, &key,
        )?))
    } else {
        None
    };
    if let Some(addr) = config.smtp_addr {
        let listener = crate::server::bind(addr, "SMTP", "--smtp-addr").await?;
        listening.smtp = Some(listener.local_addr().context("SMTP listener address")?);
        core.tasks().spawn(accept_tcp(
            listener,
            Dialect::Smtp,
            tls.clone(),
            core.clone(),
        ));
    }
    match &config.lmtp_addr {
        Some(LmtpAddr::Tcp(addr)) => {
            let listener = crate::server::bind(*addr, "LMTP", "--lmtp-addr").await?;
            listening.lmtp_tcp = Some(listener.local_addr().context("LMTP listener address")?);
            core.tasks().spawn(accept_tcp(
                listener,
                Dialect::Lmtp,
                tls.clone(),
                core.clone(),
            ));
        }
        Some(LmtpAddr::Unix(path)) => {
            let listener = bind_unix(path, core.config().mail.lmtp_socket_mode)?;
            listening.lmtp_unix = Some(path.clone());
            core.tasks().spawn(accept_unix(listener, core.clone()));
        }
        None => {}
    }
    Ok(listening)
}

/// Binds a unix socket at `path` with permissions `mode` (`--lmtp-socket-mode`), replacing a
/// socket an earlier run left there (never any other kind of file).
fn bind_unix(path: &std::path::Path, mode: u32) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt as _;
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            anyhow::bail!(
                "cannot listen on {} for LMTP: a file that is not a socket is there; choose another path with --lmtp-addr",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the old LMTP socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {} for LMTP: {e}; choose another path with --lmtp-addr",
            path.display()
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).with_context(|| {
        format!(
            "setting the LMTP socket {} to mode {mode:04o} (--lmtp-socket-mode)",
            path.display()
        )
    })?;
    Ok(listener)
}

async fn accept_tcp(listener: TcpListener, dialect: Dialect, tls: Option<TlsAcceptor>, core: Core) {
    loop {
        let accepted = tokio::select! {
            () = core.shutdown().cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (mut socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "mail accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Before any protocol work, as on every listener. Mail has no login, so the place
        // is held for the whole connection.
        let admission = match core.gate().admit(peer) {
            Ok(admission) => admission,
            Err(refusal) => {
                tracing::warn!(%peer, reason = %refusal, "mail connection refused");
                core.tasks().spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(5),
                        socket.write_all(b"421 4.7.0 too many connections; try again later\r\n"),
                    )
                    .await;
                });
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let conversation = Conversation::new(core.clone(), dialect, Some(peer), tls.clone());
        let idle = core.config().idle_timeout;
        core.tasks().spawn(async move {
            if let Err(e) = converse(conversation, socket, idle).await {
                tracing::debug!(%peer, error = %e, "mail connection ended");
            }
            drop(admission);
        });
    }
    tracing::debug!("mail listener closed");
}

async fn accept_unix(listener: UnixListener, core: Core) {
    loop {
        let accepted = tokio::select! {
            () = core.shutdown().cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let socket = match accepted {
            Ok((socket, _)) => socket,
            Err(e) => {
                tracing::warn!(error = %e, "LMTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let mut conversation = Conversation::new(core.clone(), Dialect::Lmtp, None, None);
        core.tasks().spawn(async move {
            let mut socket = socket;
            if let Err(e) = conversation.run(&mut socket).await {
                tracing::debug!(error = %e, "LMTP connection ended");
            }
        });
    }
    tracing::debug!("LMTP listener closed");
}

/// One TCP connection's conversation, in the clear and, after STARTTLS, over TLS (the TLS
/// handshake has the idle timeout to finish).
async fn converse(
    mut conversation: Conversation,
    mut socket: TcpStream,
    idle: Duration,
) -> std::io::Result<()> {
    if conversation.run(&mut socket).await? == End::Closed {
        return Ok(());
    }
    let Some(acceptor) = conversation.tls().cloned() else {
        return Ok(());
    };
    let mut stream = tokio::time::timeout(idle, acceptor.accept(socket))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    conversation.secured();
    conversation.run(&mut stream).await?;
    stream.shutdown().await
}
