//! The login recorder: a login's `last_login` write never holds up the login. Logins are queued
//! on a bounded channel and one task writes the newest login per user in batches, best effort;
//! a full queue drops the entry (the next login of that user records it), a failed write (disk
//! full, database busy behind a big import) is logged and forgotten.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

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

/// A handle on the recorder; the writer task starts with the first login, on the runtime the
/// recorder was made on (the server's main one), not on whichever channel's worker logged in
/// first.
#[derive(Debug, Clone, Default)]
pub(super) struct LoginRecorder {
    queue: Arc<OnceLock<mpsc::Sender<Login>>>,
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
        if queue.try_send(login).is_err() {
            tracing::debug!(user = name, "login recorder queue full, login not recorded");
        }
    }
}

/// Writes what is queued, the newest login per user, until every handle is gone.
async fn write_batches(db: Db, mut rx: mpsc::Receiver<Login>) {
    while let Some(first) = rx.recv().await {
        let mut batch: HashMap<String, (Protocol, i64)> = HashMap::new();
        let mut add = |login: Login| {
            let newest = batch
                .entry(login.name)
                .or_insert((login.protocol, login.at));
            if login.at >= newest.1 {
                *newest = (login.protocol, login.at);
            }
        };
        add(first);
        while let Ok(login) = rx.try_recv() {
            add(login);
        }
        if let Err(e) = write(&db, &batch).await {
            tracing::warn!(logins = batch.len(), "last login not recorded: {e}");
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
