//! The login recorder: a login's `last_login` write never holds up the login. Logins are queued
//! on a bounded channel and one task writes the newest login per user in batches, best effort;
//! a full queue drops the entry (the next login of that user records it), a failed write (disk
//! full, database busy behind a big import) is logged and forgotten.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use super::account::Protocol;
use crate::db::Db;

/// How many logins may wait for the writer before new ones are dropped.
const QUEUE: usize = 4096;

/// One login to record.
struct Login {
    name: String,
    protocol: Protocol,
    at: i64,
}

/// What the writer is sent: a login, or a request to say when all before it are written.
enum Entry {
    Login(Login),
    Flush(oneshot::Sender<()>),
}

/// A handle on the recorder; the writer task starts with the first login, on the runtime the
/// recorder was made on (the server's main one), not on whichever channel's worker logged in
/// first.
#[derive(Debug, Clone, Default)]
pub(super) struct LoginRecorder {
    queue: Arc<OnceLock<mpsc::Sender<Entry>>>,
    runtime: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("name", &self.name).finish()
    }
}

impl LoginRecorder {
    /// A recorder whose writer will run on the current runtime, if there is one.
    pub(super) fn new() -> Self {
        Self {
            queue: Arc::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// Queues a login of `name` over `protocol` at `at`; never waits.
    pub(super) fn record(&self, db: &Db, name: &str, protocol: Protocol, at: i64) {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            let writer = write_batches(db.clone(), rx);
            match &self.runtime {
                Some(runtime) => drop(runtime.spawn(writer)),
                None => drop(tokio::spawn(writer)),
            }
            tx
        });
        let login = Login {
            name: name.to_owned(),
            protocol,
            at,
        };
        if queue.try_send(Entry::Login(login)).is_err() {
            tracing::debug!(user = name, "login recorder queue full, login not recorded");
        }
    }

    /// Waits until every login queued so far is written (or its write failed). Returns at once
    /// when no login was ever recorded.
    pub(super) async fn flush(&self) {
        let Some(queue) = self.queue.get() else {
            return;
        };
        let (done, written) = oneshot::channel();
        if queue.send(Entry::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

/// Writes what is queued, the newest login per user, until every handle is gone; answers a
/// flush once what came before it is written.
async fn write_batches(db: Db, mut rx: mpsc::Receiver<Entry>) {
    while let Some(first) = rx.recv().await {
        let mut batch: HashMap<String, (Protocol, i64)> = HashMap::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(entry) = next {
            match entry {
                Entry::Login(login) => {
                    let newest = batch
                        .entry(login.name)
                        .or_insert((login.protocol, login.at));
                    if login.at >= newest.1 {
                        *newest = (login.protocol, login.at);
                    }
                }
                Entry::Flush(done) => flushes.push(done),
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = write(&db, &batch).await {
            tracing::warn!(logins = batch.len(), "last login not recorded: {e}");
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// One statement per user, each its own commit: no lock is held across an await, so a stalled
/// runtime (or a slow batch) never keeps the database's writer from anyone else.
async fn write(db: &Db, batch: &HashMap<String, (Protocol, i64)>) -> Result<(), sqlx::Error> {
    for (name, (protocol, at)) in batch {
        sqlx::query(
            "UPDATE users SET last_login_at = $1, last_login_protocol = $2 WHERE name = $3",
        )
        .bind(*at)
        .bind(protocol.as_str())
        .bind(name.as_str())
        .execute(db.pool())
        .await?;
    }
    Ok(())
}
