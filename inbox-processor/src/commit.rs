//! The one transaction of a file: its orders stored (a streamed CSV or TTM file batch by batch, as it
//! is read) and its ledger row finished with the verdict and the name chosen in `done/` or
//! `error/`, committed together or not at all. A rejected file's orders are rolled back; only
//! its ledger row is written.
//!
//! This module knows the ledger and the order store; `pipeline` decides when a file gets here
//! and moves it afterwards.

use std::fs::File;
use std::path::Path;

use crate::examine::{self, Limits, Progress, Verdict};
use crate::filing::{self, DONE, ERROR};
use crate::ledger::{Counts, FileRow, FileState, Finish, Ledger};
use crate::orders;
use crate::parse::{Batch, Format, Parsed};
use crate::pipeline::{PipelineError, Uploader};

/// The file a streamed commit reads, with the limits it is read under and who hears progress.
pub(crate) struct Reading {
    pub(crate) file: File,
    /// CSV or TTM.
    pub(crate) format: Format,
    pub(crate) limits: Limits,
    pub(crate) progress: Option<Progress>,
}

/// From this size on, a file's transaction gets a bigger SQLite page cache.
const BIG_FILE: u64 = 4 * 1024 * 1024;

/// SQLite's default page cache (2 MB) makes a big transaction spill and rewrite pages in the
/// WAL over and over; the connection committing a big file gets a bigger one meanwhile.
#[must_use = "restore the cache when the transaction is over"]
pub(crate) struct BigCache(bool);

impl BigCache {
    /// Widens `conn`'s cache when it is SQLite and the file has `size` bytes or more.
    pub(crate) async fn widen(
        conn: &mut sqlx::AnyConnection,
        size: u64,
    ) -> Result<BigCache, sqlx::Error> {
        let wide = conn.backend_name() == "SQLite" && size > BIG_FILE;
        if wide {
            sqlx::query("PRAGMA cache_size = -32768")
                .execute(&mut *conn)
                .await?;
        }
        Ok(BigCache(wide))
    }

    /// Puts the default cache back (a failure only leaves the connection with more memory).
    pub(crate) async fn restore(self, conn: &mut sqlx::AnyConnection) {
        if self.0 {
            let _ = sqlx::query("PRAGMA cache_size = -2000")
                .execute(&mut *conn)
                .await;
        }
    }
}

/// The one transaction of a streamed CSV or TTM file: its batches stored as they are read, then
/// the ledger row finished; a rejected file's batches are rolled back and only the ledger
/// row is written. Returns the row as committed.
pub(crate) async fn streamed(
    ledger: &Ledger,
    conn: &mut sqlx::AnyConnection,
    row: &FileRow,
    uploader: &Uploader,
    reading: Reading,
    inbox: &Path,
) -> Result<FileRow, PipelineError> {
    use sqlx::Connection as _;
    let Reading {
        file,
        format,
        limits,
        progress,
    } = reading;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Batch>(2);
    let now = crate::ledger::now_secs();
    let mut tx = conn.begin().await?;
    let examined =
        examine::examine_stream(file, format, &uploader.customer, limits, progress, sender);
    let store = {
        // Owned here, so a failed store drops the receiver and the reader stops waiting.
        let mut receiver = receiver;
        let tx = &mut tx;
        async move {
            let mut status_updates = 0;
            while let Some(batch) = receiver.recv().await {
                status_updates +=
                    orders::store_batch(tx, &uploader.customer, row.id, now, &batch).await?;
            }
            Ok::<u64, sqlx::Error>(status_updates)
        }
    };
    let (examined, stored) = tokio::join!(examined, store);
    let (verdict, orders) = examined?;
    let status_updates = stored?;
    let (mut finish, parsed) = finish_for(verdict);
    let rejected = parsed.is_none();
    if rejected {
        tx.rollback().await?;
        tx = conn.begin().await?;
    } else {
        finish.counts = Counts {
            status_updates,
            ..orders
        };
    }
    let dir = inbox.join(if rejected { ERROR } else { DONE });
    std::fs::create_dir_all(&dir)?;
    finish.placed_name = filing::free_name(&dir, &row.name, rejected)?;
    finish_and_commit(ledger, tx, row, finish).await
}

/// The one transaction: the orders stored, the ledger row finished with the name chosen
/// in `done/` or `error/`. Returns the row as committed.
pub(crate) async fn whole(
    ledger: &Ledger,
    conn: &mut sqlx::AnyConnection,
    row: &FileRow,
    uploader: &Uploader,
    verdict: Verdict,
    inbox: &Path,
) -> Result<FileRow, PipelineError> {
    use sqlx::Connection as _;
    let (mut finish, parsed) = finish_for(verdict);
    let rejected = finish.state == FileState::Error;
    let dir = inbox.join(if rejected { ERROR } else { DONE });
    std::fs::create_dir_all(&dir)?;
    finish.placed_name = filing::free_name(&dir, &row.name, rejected)?;
    // Both statements write, so on SQLite the first takes the write lock at once. The
    // ledger update proves the claim is still ours; if not, nothing is kept.
    let mut tx = conn.begin().await?;
    if let Some(parsed) = &parsed {
        finish.counts = orders::store(&mut tx, &uploader.customer, row.id, parsed).await?;
    }
    finish_and_commit(ledger, tx, row, finish).await
}

/// The ledger values a verdict gives, and the values to store when the file is accepted.
fn finish_for(verdict: Verdict) -> (Finish, Option<Parsed>) {
    match verdict {
        Verdict::Accepted {
            parsed,
            sha256,
            format,
        } => {
            let warnings: Vec<String> = parsed.warnings.iter().map(|w| w.to_string()).collect();
            let finish = Finish {
                state: FileState::Done,
                sha256: Some(sha256),
                format: Some(format.to_string()),
                counts: Counts::default(),
                report: (!warnings.is_empty()).then(|| warnings.join("\n")),
                placed_name: String::new(),
            };
            (finish, Some(parsed))
        }
        Verdict::Rejected {
            report,
            sha256,
            format,
        } => {
            let finish = Finish {
                state: FileState::Error,
                sha256,
                format: format.map(|f| f.to_string()),
                counts: Counts::default(),
                report: Some(report),
                placed_name: String::new(),
            };
            (finish, None)
        }
    }
}

/// Ends the file's one transaction: its ledger row finished (which proves the claim is still
/// this process's; if not, nothing is kept), then the commit. Returns the row as committed.
async fn finish_and_commit(
    ledger: &Ledger,
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    row: &FileRow,
    finish: Finish,
) -> Result<FileRow, PipelineError> {
    if !ledger.finish(&mut tx, row.id, &finish).await? {
        tx.rollback().await?;
        return Err(PipelineError::LostClaim);
    }
    tx.commit().await?;
    Ok(FileRow {
        state: finish.state,
        sha256: finish.sha256,
        format: finish.format,
        finished_at: Some(crate::ledger::now_secs()),
        counts: Some(finish.counts),
        report: finish.report,
        placed_name: Some(finish.placed_name),
        ..row.clone()
    })
}
