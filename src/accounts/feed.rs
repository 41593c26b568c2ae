//! The change feed: account changes that end sessions, as rows of `account_changes` in the
//! database every node shares. A change appends a row; every running server reads the rows
//! after the last it saw about once a second and ends the matching sessions it holds, so a
//! change made by the command line or on another node reaches every node within seconds. Works
//! on SQLite and PostgreSQL alike (polling only); old rows are deleted after an hour.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sqlx::Row;

use crate::clock::now;
use crate::db::Db;
use crate::exchange::Core;
use crate::gate::Ending;
use crate::users::Protocol;

/// How often a server reads the feed.
const POLL: Duration = Duration::from_secs(1);

/// How long rows are kept (a server down longer than that has no sessions to end anyway).
const KEEP_SECONDS: i64 = 3600;

/// How often a server deletes rows older than [`KEEP_SECONDS`].
const PRUNE_EVERY: Duration = Duration::from_secs(300);

/// How long a missing sequence number is waited for: on PostgreSQL a row can become visible
/// after one with a higher number (transactions commit out of order).
const GAP_WAIT: Duration = Duration::from_secs(10);

/// At most this many missing numbers are waited for at once.
const MAX_GAPS: i64 = 1000;

/// Rows read per poll.
const BATCH: i64 = 1000;

/// Why the feed could not be started.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The database could not be read.
    #[error("reading account changes: {0}")]
    Db(#[from] sqlx::Error),
}

/// One change read from the feed.
#[derive(Debug)]
pub(super) struct Change {
    /// The user whose sessions end.
    pub user: String,
    /// Which of them.
    pub ending: Ending,
    /// The process that made the change.
    pub origin: String,
}

/// A short description of an ending, for the log.
pub(super) fn describe(ending: &Ending) -> String {
    match ending {
        Ending::All => "all sessions".to_owned(),
        Ending::Protocol(protocol) => format!("{protocol} sessions"),
        Ending::Key(fingerprint) => format!("sessions of key {fingerprint}"),
    }
}

fn encode(ending: &Ending) -> (&'static str, Option<&str>) {
    match ending {
        Ending::All => ("all", None),
        Ending::Protocol(protocol) => ("protocol", Some(protocol.as_str())),
        Ending::Key(fingerprint) => ("key", Some(fingerprint.as_str())),
    }
}

fn decode(kind: &str, value: Option<&str>) -> Option<Ending> {
    match (kind, value) {
        ("all", _) => Some(Ending::All),
        ("protocol", Some(name)) => name.parse::<Protocol>().ok().map(Ending::Protocol),
        ("key", Some(fingerprint)) => Some(Ending::Key(fingerprint.to_owned())),
        _ => None,
    }
}

/// Appends one row per ending of `user`'s sessions, made by `origin`.
pub(super) async fn announce(
    db: &Db,
    origin: &str,
    user: &str,
    endings: &[Ending],
) -> Result<(), sqlx::Error> {
    let at = now();
    for ending in endings {
        let (kind, value) = encode(ending);
        sqlx::query(
            "INSERT INTO account_changes (user_name, ending, ending_value, origin, at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user)
        .bind(kind)
        .bind(value)
        .bind(origin)
        .bind(at)
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

/// Starts reading the feed for this server, from the rows written after now (older changes
/// were for sessions this server never had), in the core's task tracker until shutdown.
///
/// # Errors
/// [`FeedError::Db`] when the feed's position can't be read.
pub async fn start_change_feed(core: &Core) -> Result<(), FeedError> {
    let db = core.accounts().store().db().clone();
    let last: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM account_changes")
        .fetch_one(db.pool())
        .await?
        .try_get("last")?;
    let accounts = core.accounts().clone();
    let shutdown = core.shutdown().clone();
    core.tasks().spawn(async move {
        let mut cursor = Cursor::new(last);
        let mut ticks = tokio::time::interval(POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = Instant::now();
        let mut failing = false;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            match read(&db, &mut cursor).await {
                Ok(changes) => {
                    if failing {
                        tracing::info!("account changes readable again");
                        failing = false;
                    }
                    for change in &changes {
                        accounts.apply(change);
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot read account changes; retrying");
                        failing = true;
                    }
                }
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                if let Err(e) = prune(&db).await {
                    tracing::warn!(error = %e, "cannot delete old account changes");
                }
            }
        }
    });
    Ok(())
}

/// The changes after the cursor, moving it on.
async fn read(db: &Db, cursor: &mut Cursor) -> Result<Vec<Change>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, user_name, ending, ending_value, origin FROM account_changes \
         WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(cursor.after())
    .bind(BATCH)
    .fetch_all(db.pool())
    .await?;
    let now = Instant::now();
    cursor.expire(now);
    let mut changes = Vec::new();
    for row in &rows {
        let seq: i64 = row.try_get("seq")?;
        if !cursor.admit(seq, now) {
            continue;
        }
        let kind: String = row.try_get("ending")?;
        let value: Option<String> = row.try_get("ending_value")?;
        let Some(ending) = decode(&kind, value.as_deref()) else {
            tracing::warn!(seq, kind, "unknown account change skipped");
            continue;
        };
        changes.push(Change {
            user: row.try_get("user_name")?,
            ending,
            origin: row.try_get("origin")?,
        });
    }
    Ok(changes)
}

async fn prune(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM account_changes WHERE at < $1")
        .bind(now() - KEEP_SECONDS)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Where a server is in the feed: the highest sequence number seen, and the lower ones not yet
/// seen (a row written in a transaction that commits late), each waited for a while.
#[derive(Debug)]
struct Cursor {
    last: i64,
    gaps: BTreeMap<i64, Instant>,
}

impl Cursor {
    fn new(last: i64) -> Self {
        Self {
            last,
            gaps: BTreeMap::new(),
        }
    }

    /// Rows with a higher number than this are to be read.
    fn after(&self) -> i64 {
        self.gaps
            .keys()
            .next()
            .map_or(self.last, |first| first.saturating_sub(1))
    }

    /// Whether the row numbered `seq` is new (and records it as seen).
    fn admit(&mut self, seq: i64, now: Instant) -> bool {
        if seq > self.last {
            let first_missing = (self.last + 1).max(seq - MAX_GAPS);
            for missing in first_missing..seq {
                self.gaps.insert(missing, now);
            }
            self.last = seq;
            true
        } else {
            self.gaps.remove(&seq).is_some()
        }
    }

    /// Stops waiting for numbers missing for longer than [`GAP_WAIT`] (rolled back, or used
    /// by a sequence and never written).
    fn expire(&mut self, now: Instant) {
        self.gaps
            .retain(|_, since| now.saturating_duration_since(*since) < GAP_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_survive_the_table() {
        for ending in [
            Ending::All,
            Ending::Protocol(Protocol::Sftp),
            Ending::Protocol(Protocol::Ftp),
            Ending::Key("SHA256:abc+/def".to_owned()),
        ] {
            let (kind, value) = encode(&ending);
            assert_eq!(decode(kind, value), Some(ending));
        }
        assert_eq!(decode("protocol", Some("gopher")), None);
        assert_eq!(decode("key", None), None);
        assert_eq!(decode("later", Some("x")), None);
    }

    #[test]
    fn a_cursor_reads_each_row_once_and_waits_for_late_ones() {
        let start = Instant::now();
        let mut cursor = Cursor::new(5);
        assert_eq!(cursor.after(), 5);
        assert!(!cursor.admit(5, start), "rows before the start are old");
        assert!(cursor.admit(6, start));
        // 7 and 8 are not visible yet when 9 is.
        assert!(cursor.admit(9, start));
        assert_eq!(cursor.after(), 6, "the missing rows are read again");
        assert!(!cursor.admit(9, start), "a row is handled once");
        assert!(cursor.admit(8, start));
        assert_eq!(cursor.after(), 6);
        // 7 never comes: after a while it is no longer waited for.
        cursor.expire(start + GAP_WAIT);
        assert_eq!(cursor.after(), 9);
        assert!(!cursor.admit(7, start + GAP_WAIT));
    }

    #[test]
    fn a_cursor_waits_for_a_bounded_number_of_gaps() {
        let now = Instant::now();
        let mut cursor = Cursor::new(0);
        assert!(cursor.admit(1_000_000, now));
        assert_eq!(cursor.gaps.len() as i64, MAX_GAPS);
        assert_eq!(cursor.after(), 1_000_000 - MAX_GAPS - 1);
    }
}
