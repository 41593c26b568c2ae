//! `serve`: opens the store, builds the [`Core`], starts every frontend on its listener, and runs until SIGINT or
//! SIGTERM. Shutdown order: stop accepting, let running transfers finish within the grace
//! period, then cancel what is left. One cancellation token, owned here, reaches every task.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::backoffice::AppState;
use crate::config::Config;
use crate::db::Db;
use crate::exchange::Core;
use crate::home::HomeTree;

/// Binds `addr` for a frontend, with an error that says what to change when it fails.
///
/// # Errors
/// When the address can't be bound, naming the flag that sets it.
pub async fn bind(addr: SocketAddr, what: &str, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            }
            std::io::ErrorKind::AddrInUse => " (another program is using it)",
            _ => "",
        };
        anyhow::anyhow!(
            "cannot listen on {addr} for {what}: {e}{hint}; choose another address with {flag}"
        )
    })
}

/// Tightens what an earlier version (or an operator) left readable by others. An operator's own
/// TLS key file (`--tls-key`) is left as it is: it may be shared on purpose with other services.
fn tighten_modes(config: &Config, tree: &HomeTree, key: PathBuf) {
    let mut files = vec![config.data_dir.join(crate::sftp::host_key::FILE_NAME)];
    if matches!(config.tls, crate::config::TlsSource::SelfSigned { .. }) {
        files.push(key);
    }
    let mut private = crate::permissions::Private {
        dirs: vec![config.data_dir.clone()],
        homes: Some(tree.dir().to_path_buf()),
        files,
    };
    private.add_sqlite(&config.database_url);
    private.tighten();
}

/// Runs the server until a signal, then shuts down in order.
///
/// # Errors
/// When the store can't be opened or a listener can't be bound.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let signal = shutdown_signal()?;
    // The listeners' caps are fitted to the raised limit before the core counts with them.
    let config = crate::descriptors::fit(config, crate::descriptors::raise_open_files());
    let db = Db::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let tree = HomeTree::new(config.homes_dir());
    std::fs::create_dir_all(tree.dir())
        .with_context(|| format!("creating {}", tree.dir().display()))?;
    let sweep_tree = tree.clone();
    let swept = tokio::task::spawn_blocking(move || {
        sweep_tree.sweep_partials(std::time::Duration::from_secs(3600))
    })
    .await
    .unwrap_or(0);
    if swept > 0 {
        tracing::info!(
            count = swept,
            "removed partial uploads left by an earlier run"
        );
    }
    let (core, arrived) = Core::new(config, &db);
    let (cert, key) = crate::tls::ensure(&core.config().tls).context("FTPS certificate")?;
    tighten_modes(core.config(), &tree, key);
    tracing::info!(
        data_dir = %core.config().data_dir.display(),
        database = ?db.backend(),
        cert = %cert.display(),
        "freightdrop starting"
    );
    // The backoffice's state reads the secrets key: a bad key file stops the server before
    // any listener is bound.
    let backoffice = AppState::new(core.clone(), db.clone()).context("backoffice")?;
    let inbox = crate::inbox::start(&core, &db, arrived);
    crate::replies::start(&core).context("mail replies")?;
    crate::accounts::start_change_feed(&core)
        .await
        .context("account changes")?;

    // frontends start here
    let ftp_addr = crate::ftp::start(&core).await?;
    announce("ftp", Some(ftp_addr));
    let sftp_addr = crate::sftp::start(&core).await?;
    announce("sftp", Some(sftp_addr));
    backoffice.listening("ftp", ftp_addr);
    backoffice.listening("sftp", sftp_addr);
    let mail = crate::mail::start(&core).await?;
    if let Some(addr) = mail.smtp {
        announce("smtp", Some(addr));
        backoffice.listening("smtp", addr);
    }
    if let Some(addr) = mail.lmtp_tcp {
        announce("lmtp", Some(addr));
        backoffice.listening("lmtp", addr);
    }
    if let Some(path) = &mail.lmtp_unix {
        announce(&format!("lmtp on unix socket {}", path.display()), None);
    }
    let http_addr = crate::backoffice::start(backoffice.clone()).await?;
    backoffice.listening("http", http_addr);
    announce("http", Some(http_addr));
    announce("ready", None);

    signal.await;
    tracing::info!("shutting down: no new sessions; waiting for running transfers");
    core.shutdown().cancel();
    core.tasks().close();
    if tokio::time::timeout(core.config().shutdown_grace, core.tasks().wait())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = core.config().shutdown_grace.as_secs(),
            "grace period over; closing the sessions still running"
        );
    }
    inbox.abort();
    // Downloads and moves reported by the sessions that just ended, and their logins, are
    // written before the database closes.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), core.outbox().close()).await;
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        core.users().flush_logins(),
    )
    .await;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Tells whoever started the server (an operator, a test, a supervisor) on standard output
/// where a frontend listens, and when all are up, in a fixed form:
/// `freightdrop: ftp listening on 127.0.0.1:2121` and `freightdrop: ready`.
pub fn announce(what: &str, addr: Option<SocketAddr>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = match addr {
        Some(addr) => writeln!(out, "freightdrop: {what} listening on {addr}"),
        None => writeln!(out, "freightdrop: {what}"),
    };
    let _ = out.flush();
}

/// Installs the SIGINT and SIGTERM handlers; the returned future ends at the first signal.
/// Installed before the server says it is ready, so an early signal is never the default
/// (immediate) death.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("installing the SIGINT handler")?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
