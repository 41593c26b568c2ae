//! The running inbox: arrivals from the frontends, the watcher's events, a scan at start and a
//! periodic rescan feed a bounded pool of workers that run the [`Pipeline`] on each file.
//!
//! One path is handled by at most one worker of this process at a time; an event for a path
//! being handled is remembered and the path is looked at again afterwards. Files seen by a
//! change event or a scan wait until their size and mtime stay the same for the settle time;
//! arrivals and close-after-write or rename events are complete already. A file another process
//! holds is looked at again when that claim's lease runs out; a failure is retried after a
//! pause. On shutdown no new file is started; the ones running finish. This module knows
//! scheduling, not SQL or formats.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ledger::{now_ms, FileRow, Identity};
use crate::pipeline::{Outcome, Pipeline, Uploader};
use crate::watcher::{self, HomeWatcher, Seen};

/// How long a failed file waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// A file complete in an inbox, as a frontend reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrived {
    /// The user whose inbox it is.
    pub user: String,
    /// The file's name in the inbox.
    pub name: String,
}

/// Who the users are: the processor asks for the uploader of each inbox it handles.
pub trait Accounts: Send + Sync + 'static {
    /// The account owning the home of `user`, `None` when there is none (a home kept after its
    /// user was removed: its files are left alone).
    fn uploader(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<Uploader>, Box<dyn std::error::Error + Send + Sync>>> + Send;

    /// Told of each file finished (accepted or rejected) and the time from the moment it was
    /// ready to be processed to its move into `done/` or `error/`; for metrics.
    fn finished(&self, _row: &FileRow, _elapsed: Duration) {}

    /// Told how many paths are waiting, settling or being processed, when that changes.
    fn queue_depth(&self, _depth: usize) {}
}

/// Whether a path must settle before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Readiness {
    Unsettled,
    Complete,
}

/// A path and how ready it is.
type Job = (String, String, Readiness);

/// What the dispatcher tracks per path.
#[derive(Default)]
struct Tracking {
    // A path being handled maps to the strongest event seen meanwhile, if any.
    running: HashMap<(String, String), Option<Readiness>>,
    settling: HashSet<(String, String)>,
}

impl Tracking {
    /// Paths waiting, settling or being processed.
    fn depth(&self) -> usize {
        self.running.len() + self.settling.len()
    }
}

/// The inbox processor of one server process.
pub struct Processor<A: Accounts> {
    pipeline: Pipeline,
    accounts: Arc<A>,
}

impl<A: Accounts> Processor<A> {
    /// A processor running `pipeline` with users from `accounts`.
    pub fn new(pipeline: Pipeline, accounts: A) -> Self {
        Processor {
            pipeline,
            accounts: Arc::new(accounts),
        }
    }

    /// Runs until `shutdown` is cancelled: file jobs are spawned on `tasks`, so waiting on
    /// `tasks` waits for the files being processed.
    pub async fn run(
        self,
        mut arrivals: UnboundedReceiver<Arrived>,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) {
        let homes = self.pipeline.homes().to_path_buf();
        let settings = self.pipeline.settings().clone();
        let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
        let mut watcher = match HomeWatcher::start(&homes, seen_tx) {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the homes; relying on arrivals and rescans");
                None
            }
        };
        let (jobs_tx, mut jobs_rx) = mpsc::unbounded_channel::<Job>();
        let ctx = Arc::new(Context {
            pipeline: self.pipeline,
            accounts: self.accounts,
            tracking: Mutex::new(Tracking::default()),
            permits: Semaphore::new(settings.workers.max(1)),
            jobs: jobs_tx,
            shutdown: shutdown.clone(),
            tasks,
            homes: homes.clone(),
            settle: settings.settle,
        });
        let mut rescan = tokio::time::interval(settings.rescan.max(Duration::from_secs(1)));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(arrived) = arrivals.recv() => {
                    ctx.dispatch((arrived.user, arrived.name, Readiness::Complete));
                }
                Some(job) = jobs_rx.recv() => ctx.dispatch(job),
                Some(seen) = seen_rx.recv() => match seen {
                    Seen::Complete { user, name } => ctx.dispatch((user, name, Readiness::Complete)),
                    Seen::Changed { user, name } => ctx.dispatch((user, name, Readiness::Unsettled)),
                    Seen::NewHome(user) => {
                        if let Some(w) = watcher.as_mut() {
                            watch(w, &user);
                        }
                        ctx.scan_home(&user);
                    }
                    Seen::Rescan => ctx.scan_all(watcher.as_mut()).await,
                },
                _ = rescan.tick() => ctx.scan_all(watcher.as_mut()).await,
            }
        }
        tracing::info!("inbox: no new files are started; the running ones finish");
    }
}

fn watch(watcher: &mut HomeWatcher, user: &str) {
    if let Err(e) = watcher.watch_home(user) {
        tracing::warn!(user, error = %e, "cannot watch an inbox; rescans will find its files");
        watcher.forget_home(user);
    }
}

struct Context<A: Accounts> {
    pipeline: Pipeline,
    accounts: Arc<A>,
    tracking: Mutex<Tracking>,
    permits: Semaphore,
    jobs: UnboundedSender<Job>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    homes: PathBuf,
    settle: Duration,
}

impl<A: Accounts> Context<A> {
    /// Every home: watched, scanned; and every open ledger row (a crash's leftovers).
    async fn scan_all(self: &Arc<Self>, mut watcher: Option<&mut HomeWatcher>) {
        let users = match watcher::list_homes(&self.homes) {
            Ok(users) => users,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the homes");
                Vec::new()
            }
        };
        for user in &users {
            if let Some(w) = watcher.as_deref_mut() {
                watch(w, user);
            }
            self.scan_home(user);
        }
        match self.pipeline.ledger().open_rows().await {
            Ok(rows) => {
                for row in rows {
                    self.dispatch((row.user, row.name, Readiness::Complete));
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the open ledger rows"),
        }
    }

    fn scan_home(self: &Arc<Self>, user: &str) {
        match watcher::list_inbox(&self.homes, user) {
            Ok(names) => {
                for name in names {
                    self.dispatch((user.to_owned(), name, Readiness::Unsettled));
                }
            }
            Err(e) => tracing::debug!(user, error = %e, "cannot list an inbox"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracking> {
        // A panic while holding this short lock leaves plain maps behind; keep using them.
        self.tracking.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a job for a path, or remembers it if the path is being handled.
    fn dispatch(self: &Arc<Self>, (user, name, readiness): Job) {
        if self.shutdown.is_cancelled() {
            return;
        }
        let key = (user, name);
        {
            let mut tracking = self.lock();
            if let Some(pending) = tracking.running.get_mut(&key) {
                *pending = (*pending).max(Some(readiness));
                return;
            }
            if readiness == Readiness::Unsettled {
                if tracking.settling.insert(key.clone()) {
                    self.accounts.queue_depth(tracking.depth());
                    drop(tracking);
                    self.spawn_settle(key);
                }
                return;
            }
            tracking.running.insert(key.clone(), None);
            self.accounts.queue_depth(tracking.depth());
        }
        let ctx = Arc::clone(self);
        self.tasks.spawn(async move {
            let ready = std::time::Instant::now();
            let next = match ctx.permits.acquire().await {
                Ok(_permit) if !ctx.shutdown.is_cancelled() => {
                    ctx.handle(&key.0, &key.1, ready).await
                }
                _ => None,
            };
            let pending = {
                let mut tracking = ctx.lock();
                let pending = tracking.running.remove(&key).flatten();
                ctx.accounts.queue_depth(tracking.depth());
                pending
            };
            // An event that came in while the file was handled (the watcher's, beside the
            // frontend's arrival) needs another look only if a file is there again.
            let gone = next.is_none()
                && std::fs::symlink_metadata(ctx.homes.join(&key.0).join(&key.1)).is_err();
            if let Some(readiness) = pending.filter(|_| !gone) {
                let _ = ctx.jobs.send((key.0.clone(), key.1.clone(), readiness));
            }
            if let Some(delay) = next {
                ctx.later(key, delay);
            }
        });
    }

    /// Handles one path; returns when to look at it again, if needed.
    async fn handle(&self, user: &str, name: &str, ready: std::time::Instant) -> Option<Duration> {
        let uploader = match self.accounts.uploader(user).await {
            Ok(Some(uploader)) => uploader,
            Ok(None) => {
                tracing::debug!(
                    user,
                    file = name,
                    "no account owns this home; file left alone"
                );
                return None;
            }
            Err(e) => {
                tracing::warn!(user, error = %e, "cannot look up the account; retrying");
                return Some(RETRY_AFTER);
            }
        };
        match self.pipeline.process(&uploader, name, None).await {
            Ok(Outcome::Finished(row)) => {
                tracing::info!(
                    user,
                    file = name,
                    state = row.state.as_str(),
                    placed = row.placed_name.as_deref().unwrap_or(""),
                    note = row.note.as_deref().unwrap_or(""),
                    "inbox file processed"
                );
                self.accounts.finished(&row, ready.elapsed());
                None
            }
            Ok(Outcome::Busy { retry_at_ms }) => retry_at_ms.map(|at| {
                let wait = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
                Duration::from_millis(wait) + Duration::from_millis(200)
            }),
            Ok(Outcome::Skipped) => None,
            Err(e) => {
                tracing::warn!(user, file = name, error = %e, "inbox file not processed; retrying");
                Some(RETRY_AFTER)
            }
        }
    }

    /// Looks at a path again after `delay`.
    fn later(self: &Arc<Self>, (user, name): (String, String), delay: Duration) {
        let jobs = self.jobs.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(delay) => {
                    let _ = jobs.send((user, name, Readiness::Complete));
                }
            }
        });
    }

    /// Waits until a path's size and mtime hold still for the settle time, then starts it.
    fn spawn_settle(self: &Arc<Self>, key: (String, String)) {
        let ctx = Arc::clone(self);
        tokio::spawn(async move {
            let path = ctx.homes.join(&key.0).join(&key.1);
            let stat = |p: &PathBuf| std::fs::symlink_metadata(p).ok().map(|m| Identity::of(&m));
            let mut before = stat(&path);
            let settled = loop {
                tokio::select! {
                    () = ctx.shutdown.cancelled() => break false,
                    () = tokio::time::sleep(ctx.settle) => {}
                }
                let now = stat(&path);
                match (before, now) {
                    (_, None) => break false,
                    (Some(a), Some(b)) if a == b => break true,
                    _ => before = now,
                }
            };
            {
                let mut tracking = ctx.lock();
                tracking.settling.remove(&key);
                ctx.accounts.queue_depth(tracking.depth());
            }
            if settled {
                let _ = ctx.jobs.send((key.0, key.1, Readiness::Complete));
            }
        });
    }
}
