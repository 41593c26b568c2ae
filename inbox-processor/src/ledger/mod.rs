//! The ledger: one row per file taken from an inbox, in the `inbox_files` table. It is how a
//! file is claimed by exactly one process (several servers may share one database and one data
//! dir), how a crash is recovered, and what `freightdrop files` and the backoffice list.
//!
//! A row is *open* while its file may still be in the inbox (`closed_at` is NULL); a partial
//! unique index allows one open row per inbox path, so inserting it is the claim. A claim has an
//! owner (one per process) and a lease the owner renews while it works; a claim whose lease ran
//! out (its process died) may be retaken. Finishing a row is conditional on still owning the
//! claim and happens in the same transaction as the orders it wrote, so a process that lost its
//! claim can never commit. This module knows SQL and the row's shape, not files or parsers.

mod formats;
mod row;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Any, AnyPool, Row, Transaction};

use self::row::from_row;
pub use self::row::{Counts, FileRow, FileState, Finish, Identity, ListFilter};

/// Why the ledger could not answer.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database failed; the caller retries later.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A row holds a state this version does not know.
    #[error("the ledger row {id} has an unknown state {state:?}")]
    UnknownState {
        /// The row.
        id: i64,
        /// The state found.
        state: String,
    },
}

const COLUMNS: &str = "id, user_name, file_name, size, mtime_ns, inode, sha256, format, state, \
    claim_owner, lease_until_ms, attempts, received_at, finished_at, orders, shipments, \
    goods_lines, status_updates, report, placed_name, closed_at, note";

/// The ledger as one process sees it: the pool and this process's claim owner name.
#[derive(Debug, Clone)]
pub struct Ledger {
    pool: AnyPool,
    // Invariant: unique to this process (pid and start time), so a claim is never mistaken for
    // another process's.
    owner: String,
}

impl Ledger {
    /// The ledger on `pool`, claiming as a fresh owner name for this process.
    pub fn new(pool: AnyPool) -> Ledger {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ledger {
            pool,
            owner: format!("pid{}-{started:x}", std::process::id()),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// This process's claim owner name.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The open row for an inbox path, if any.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn open_row(&self, user: &str, name: &str) -> Result<Option<FileRow>, LedgerError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM inbox_files \
             WHERE user_name = $1 AND file_name = $2 AND closed_at IS NULL"
        ))
        .bind(user)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Claims an inbox path that has no open row. `None` when another process claimed it first.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn claim_new(
        &self,
        user: &str,
        name: &str,
        identity: Identity,
        lease: Duration,
    ) -> Result<Option<FileRow>, LedgerError> {
        let lease_until_ms = lease_end(lease);
        let received_at = now_secs();
        let inserted = sqlx::query(
            "INSERT INTO inbox_files (user_name, file_name, size, mtime_ns, inode, state, \
             claim_owner, lease_until_ms, attempts, received_at) \
             VALUES ($1, $2, $3, $4, $5, 'processing', $6, $7, 1, $8) RETURNING id",
        )
        .bind(user)
        .bind(name)
        .bind(as_i64(identity.size))
        .bind(identity.mtime_ns)
        .bind(identity.inode as i64)
        .bind(&self.owner)
        .bind(lease_until_ms)
        .bind(received_at)
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => Ok(Some(FileRow {
                id: row.try_get::<i64, _>(0)?,
                user: user.to_owned(),
                name: name.to_owned(),
                identity,
                sha256: None,
                format: None,
                state: FileState::Processing,
                claim_owner: self.owner.clone(),
                lease_until_ms,
                attempts: 1,
                received_at,
                finished_at: None,
                counts: None,
                report: None,
                placed_name: None,
                closed_at: None,
                note: None,
            })),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes over `row`, a claim whose lease ran out (or this process's own, after a failed
    /// attempt). `identity` replaces the recorded one when given (a file not yet committed is
    /// read anew); `count` counts a new attempt. `None` when another process took it first or
    /// its owner renewed it.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn retake(
        &self,
        row: &FileRow,
        identity: Option<Identity>,
        lease: Duration,
        count: bool,
    ) -> Result<Option<FileRow>, LedgerError> {
        let done = sqlx::query(
            "UPDATE inbox_files SET claim_owner = $1, lease_until_ms = $2, \
             attempts = attempts + $3, size = COALESCE($4, size), \
             mtime_ns = COALESCE($5, mtime_ns), inode = COALESCE($6, inode) \
             WHERE id = $7 AND claim_owner = $8 AND lease_until_ms = $9 AND closed_at IS NULL",
        )
        .bind(&self.owner)
        .bind(lease_end(lease))
        .bind(i64::from(count))
        .bind(identity.map(|i| as_i64(i.size)))
        .bind(identity.map(|i| i.mtime_ns))
        .bind(identity.map(|i| i.inode as i64))
        .bind(row.id)
        .bind(&row.claim_owner)
        .bind(row.lease_until_ms)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            self.get(row.id).await
        } else {
            Ok(None)
        }
    }

    /// Extends this process's claim on row `id`; false when the claim was lost.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn renew(&self, id: i64, lease: Duration) -> Result<bool, LedgerError> {
        let done = sqlx::query(
            "UPDATE inbox_files SET lease_until_ms = $1 \
             WHERE id = $2 AND claim_owner = $3 AND state = 'processing'",
        )
        .bind(lease_end(lease))
        .bind(id)
        .bind(&self.owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finishes row `id` inside `tx`, the transaction that also writes the orders. False when
    /// this process no longer owns the claim: the caller must roll back.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn finish(
        &self,
        tx: &mut Transaction<'_, Any>,
        id: i64,
        finish: &Finish,
    ) -> Result<bool, LedgerError> {
        let counts = &finish.counts;
        let done = sqlx::query(
            "UPDATE inbox_files SET state = $1, sha256 = $2, format = $3, finished_at = $4, \
             orders = $5, shipments = $6, goods_lines = $7, status_updates = $8, report = $9, \
             placed_name = $12 \
             WHERE id = $10 AND claim_owner = $11 AND state = 'processing' AND closed_at IS NULL",
        )
        .bind(finish.state.as_str())
        .bind(finish.sha256.clone())
        .bind(finish.format.clone())
        .bind(now_secs())
        .bind(as_i64(counts.orders))
        .bind(as_i64(counts.shipments))
        .bind(as_i64(counts.goods_lines))
        .bind(as_i64(counts.status_updates))
        .bind(finish.report.clone())
        .bind(id)
        .bind(&self.owner)
        .bind(&finish.placed_name)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the identity of the file this process actually opened under its claim on row
    /// `id` (it may have been replaced between the look and the claim).
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn set_identity(&self, id: i64, identity: Identity) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE inbox_files SET size = $1, mtime_ns = $2, inode = $3 \
             WHERE id = $4 AND claim_owner = $5 AND state = 'processing'",
        )
        .bind(as_i64(identity.size))
        .bind(identity.mtime_ns)
        .bind(identity.inode as i64)
        .bind(id)
        .bind(&self.owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes this process's fresh claim on row `id`, whose file was gone before it could be
    /// opened (another process finished it in between): the row would record nothing.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn discard(&self, id: i64) -> Result<(), LedgerError> {
        sqlx::query(
            "DELETE FROM inbox_files WHERE id = $1 AND claim_owner = $2 \
             AND state = 'processing' AND attempts = 1",
        )
        .bind(id)
        .bind(&self.owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records the name chosen in `done/` or `error/` before the file is moved there, so a
    /// crash mid-move is finished under the same name.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn set_placed(&self, id: i64, placed_name: &str) -> Result<(), LedgerError> {
        sqlx::query("UPDATE inbox_files SET placed_name = $1 WHERE id = $2")
            .bind(placed_name)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Closes row `id`: its file is no longer in the inbox. A still-processing row becomes
    /// [`FileState::Vanished`]. `note` says what was unusual, if anything.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn close(&self, id: i64, note: Option<&str>) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE inbox_files SET closed_at = $1, note = COALESCE($2, note), \
             state = CASE WHEN state = 'processing' THEN 'vanished' ELSE state END \
             WHERE id = $3 AND closed_at IS NULL",
        )
        .bind(now_secs())
        .bind(note)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Row `id`, if it exists.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn get(&self, id: i64) -> Result<Option<FileRow>, LedgerError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM inbox_files WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Every open row: files that may still be in an inbox.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn open_rows(&self) -> Result<Vec<FileRow>, LedgerError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM inbox_files WHERE closed_at IS NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The newest row for an inbox path with an id above `after`, if any.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn latest_after(
        &self,
        user: &str,
        name: &str,
        after: i64,
    ) -> Result<Option<FileRow>, LedgerError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM inbox_files \
             WHERE user_name = $1 AND file_name = $2 AND id > $3 ORDER BY id DESC LIMIT 1"
        ))
        .bind(user)
        .bind(name)
        .bind(after)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The highest row id so far (0 for an empty ledger).
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn last_id(&self) -> Result<i64, LedgerError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM inbox_files")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// The rows `filter` asks for, newest first.
    ///
    /// # Errors
    /// [`LedgerError`] when the database fails.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<FileRow>, LedgerError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM inbox_files \
             WHERE ($1 = '' OR user_name = $1) AND ($2 = '' OR state = $2) \
             AND received_at >= $4 AND received_at < $5 \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(filter.user.clone().unwrap_or_default())
        .bind(filter.state.map(FileState::as_str).unwrap_or_default())
        .bind(i64::from(filter.limit.unwrap_or(u32::MAX >> 1)))
        .bind(filter.since.unwrap_or(i64::MIN))
        .bind(filter.until.unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }
}

/// Now, Unix seconds.
pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Now, Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn lease_end(lease: Duration) -> i64 {
    now_ms().saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2))
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
