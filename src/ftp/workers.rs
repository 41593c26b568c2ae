//! The threads FTP sessions run on: one single-threaded tokio runtime per core, each session
//! pinned to one of them. libunftp answers `AUTH TLS` and then upgrades the connection from a
//! task it spawns; on a multi-threaded runtime that task can lose the race against the client's
//! TLS hello, which the control loop then reads as a (garbled) command and drops the login. On a
//! single-threaded runtime the spawned task always runs before the loop polls the socket again,
//! so the upgrade is never late.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A fixed set of single-threaded runtimes that run session futures.
#[derive(Debug)]
pub struct Workers {
    queues: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `count` worker threads.
    ///
    /// # Errors
    /// When a runtime or thread can't be made.
    pub fn start(count: usize) -> std::io::Result<Self> {
        let mut queues = Vec::with_capacity(count);
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            std::thread::Builder::new()
                .name(format!("ftp-worker-{index}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        while let Some(job) = rx.recv().await {
                            tokio::spawn(job());
                        }
                    });
                })?;
            queues.push(tx);
        }
        Ok(Self {
            queues,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs the future that `make` builds on the next worker, round-robin. `make` runs on the
    /// worker's thread, so what it builds never crosses threads before it starts.
    pub fn run<F, Fut>(&self, make: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        let job: Job = Box::new(move || Box::pin(make()));
        if self.queues[index].send(job).is_err() {
            tracing::error!(worker = index, "FTP worker thread has stopped");
        }
    }
}
