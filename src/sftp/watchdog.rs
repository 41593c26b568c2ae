//! The idle watchdog of one SSH connection, and the activity it watches. Only SFTP requests and
//! responses count as activity: SSH keepalives (ours or the client's) never do, so they can't keep
//! an idle session open, while a transfer that moves data is never cut. russh's own
//! `inactivity_timeout` is reset by every packet, keepalives included, so it is only the
//! dead-peer backstop.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::server::Handle;
use russh::Disconnect;
use tokio_util::sync::CancellationToken;

/// How long a polite DISCONNECT may take before the socket is failed under the session.
const POLITE_WAIT: Duration = Duration::from_secs(2);

/// What one connection has been doing, shared by the SSH handler, the SFTP request loop and the
/// watchdog.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    authenticated: AtomicBool,
    // Milliseconds since `started` of the last SFTP request received or response sent.
    last_ms: AtomicU64,
    // SFTP requests received whose response is not yet sent.
    inflight: AtomicUsize,
    // Files open for reading or writing.
    open_files: AtomicUsize,
    kill: CancellationToken,
}

impl Activity {
    /// Activity of a connection accepted now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            authenticated: AtomicBool::new(false),
            last_ms: AtomicU64::new(0),
            inflight: AtomicUsize::new(0),
            open_files: AtomicUsize::new(0),
            kill: CancellationToken::new(),
        })
    }

    /// Records that the client logged in; from now on the idle rule applies.
    pub fn logged_in(&self) {
        self.authenticated.store(true, Ordering::Relaxed);
        self.touch();
    }

    /// Records activity now.
    pub fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// A request arrived.
    pub fn request_received(&self) {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        self.touch();
    }

    /// A response went out.
    pub fn response_sent(&self) {
        let _ = self
            .inflight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
        self.touch();
    }

    /// A file handle was opened.
    pub fn file_opened(&self) {
        self.open_files.fetch_add(1, Ordering::Relaxed);
    }

    /// A file handle was closed (or dropped with its session).
    pub fn file_closed(&self) {
        let _ = self
            .open_files
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    /// Whether a transfer is under way: a file open or a request unanswered.
    pub fn is_transferring(&self) -> bool {
        self.open_files.load(Ordering::Relaxed) > 0 || self.inflight.load(Ordering::Relaxed) > 0
    }

    /// The token that, once cancelled, fails the socket and stops the SFTP tasks.
    pub fn kill_token(&self) -> CancellationToken {
        self.kill.clone()
    }

    /// Ends the connection at once.
    pub fn kill(&self) {
        self.kill.cancel();
    }

    /// Waits until no transfer is under way.
    pub async fn quiet(&self) {
        while self.is_transferring() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn idle_for(&self) -> Duration {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// The watchdog's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// When the login must be done (the gate's admission deadline).
    pub login_deadline: tokio::time::Instant,
    /// Time without a request while nothing is in flight.
    pub idle: Duration,
    /// Time without progress while a request is in flight (a client that stopped reading).
    pub stall: Duration,
}

impl Limits {
    /// Limits for an idle timeout of `idle` and a login by `login_deadline`.
    pub fn new(idle: Duration, login_deadline: tokio::time::Instant) -> Self {
        Self {
            login_deadline,
            idle,
            stall: (idle * 2).max(Duration::from_secs(10)),
        }
    }
}

/// Watches one connection and ends it when a limit is passed. Runs until it ends the
/// connection; the caller aborts it when the session ends first.
pub async fn run(handle: Handle, activity: Arc<Activity>, limits: Limits) {
    let tick = Duration::from_millis(250)
        .min(limits.idle / 4)
        .max(Duration::from_millis(20));
    loop {
        tokio::time::sleep(tick).await;
        let reason = if !activity.authenticated.load(Ordering::Relaxed) {
            (tokio::time::Instant::now() >= limits.login_deadline)
                .then_some("login grace time exceeded")
        } else if activity.inflight.load(Ordering::Relaxed) == 0 {
            (activity.idle_for() > limits.idle).then_some("idle timeout")
        } else {
            (activity.idle_for() > limits.stall).then_some("transfer stalled")
        };
        if let Some(reason) = reason {
            tracing::info!(reason, "closing SFTP connection");
            close(&handle, &activity, reason).await;
            return;
        }
    }
}

/// Ends a connection: a DISCONNECT with `reason` first, then, if the session is still there a
/// moment later, the socket is failed under it.
pub async fn close(handle: &Handle, activity: &Activity, reason: &str) {
    let _ = tokio::time::timeout(
        POLITE_WAIT,
        handle.disconnect(
            Disconnect::ByApplication,
            reason.to_string(),
            "en".to_string(),
        ),
    )
    .await;
    tokio::time::sleep(POLITE_WAIT).await;
    activity.kill();
}
