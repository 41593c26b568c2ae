//! The exactly-once path of one file: claim it in the ledger, read and judge it, commit the
//! orders and the ledger row in one transaction, then move it to `done/` or `error/`.
//!
//! Crash safety comes from the order of steps and from the ledger row, which is open while the
//! file may be in the inbox:
//! - no open row: the file is new; inserting the row is the claim (one process wins);
//! - open, `processing`, lease running: another process (or this one) is at it; wait;
//! - open, `processing`, lease over: its process died before committing; take it over and
//!   process it again (nothing of it was committed); after `max_attempts` it is set aside to
//!   `error/` so a file that kills the server cannot block the inbox;
//! - open, `done`/`error`: committed, the move did not finish; finish the move only.
//!
//! Test hooks (read here and nowhere else; unset in production): the environment variables
//! `FREIGHTDROP_TEST_PAUSE_BEFORE_COMMIT` and `FREIGHTDROP_TEST_PAUSE_AFTER_COMMIT`, each set to
//! a file name, make the worker handling that file stop for good just before the commit or just
//! after it, so a test can kill the process at that point (tests/inbox_crash.rs).
//!
//! This module knows the inbox folders, the ledger and the order of the steps; the one
//! transaction itself is `commit`'s. Not protocols, not users' accounts (the caller passes an
//! [`Uploader`]).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::commit;
use crate::examine::{self, Limits, Progress, Verdict};
use crate::filing::{self, Placement, DONE, ERROR};
use crate::ledger::{now_ms, FileRow, FileState, Identity, Ledger, LedgerError};
use crate::parse::{is_temporary_name, Format};

/// CSV and TTM files bigger than this are streamed: read in batches stored as they come, inside the
/// transaction (and, on SQLite, the write turn). Smaller ones are read whole first, outside
/// the write turn, so small files from many workers parse in parallel and hold the single
/// writer only while they commit.
const STREAM_FROM: u64 = 256 * 1024;

/// Who uploaded a file: the inbox's user, the customer its orders belong to, and the format
/// override of the account, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Uploader {
    /// The user (its home is the inbox).
    pub user: String,
    /// The customer code every order in its files must carry.
    pub customer: String,
    /// Parse every file as this format, whatever its name (`csv`, `xml`, ...).
    pub format: Option<String>,
}

/// How the pipeline works; [`Settings::default`] has the production values.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Files processed at once.
    pub workers: usize,
    /// A file found by a scan or a change event must keep its size and mtime this long before
    /// it is read.
    pub settle: Duration,
    /// Every home is scanned again this often, for events that were lost.
    pub rescan: Duration,
    /// A claim lasts this long unless renewed; it is renewed every third of it.
    pub lease: Duration,
    /// Size and time limits of one file.
    pub limits: Limits,
    /// A file whose processing was interrupted this many times is set aside to `error/`.
    pub max_attempts: i64,
    /// The memory the parse of one file read whole (XML, spreadsheets, small CSV and TTM files)
    /// may take, counted as it reads, what a workbook unpacks to included; a file over it is
    /// rejected with the reason. Streamed files (big CSV and TTM) stay far below it.
    pub max_memory: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Settings {
            workers: cores.clamp(2, 8),
            settle: Duration::from_secs(2),
            rescan: Duration::from_secs(30),
            lease: Duration::from_secs(10),
            limits: Limits {
                max_bytes: 512 * 1024 * 1024,
                timeout: Duration::from_secs(300),
            },
            max_attempts: 3,
            max_memory: crate::parse::DEFAULT_MAX_MEMORY,
        }
    }
}

/// Why a file could not be handled now; it stays in the inbox and is tried again later.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The ledger or the order store failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed while writing orders.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The file or a folder could not be read or written.
    #[error("file system: {0}")]
    Io(#[from] io::Error),
    /// Another process took the claim over (this one was too slow); it finishes the file.
    #[error("the claim on the file was taken over by another process")]
    LostClaim,
}

/// What happened to a file.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The file is committed and, unless its note says otherwise, in `done/` or `error/`.
    Finished(Box<FileRow>),
    /// Someone holds the file's claim; try again at this time (Unix ms), if given.
    Busy {
        /// When the holder's lease runs out.
        retry_at_ms: Option<i64>,
    },
    /// Nothing to do: no such file, a temporary name or not a plain file.
    Skipped,
}

/// The pipeline over one ledger and one homes folder.
#[derive(Debug, Clone)]
pub struct Pipeline {
    ledger: Ledger,
    homes: PathBuf,
    settings: Settings,
    pause_before_commit: Option<String>,
    pause_after_commit: Option<String>,
    // Some on SQLite, which has one writer at a time: its busy handler sleeps in steps of
    // up to 100 ms, so this process's workers take turns here instead.
    write_turns: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl Pipeline {
    /// The pipeline for the homes under `homes` (`<data>/homes`), recording in `ledger`.
    pub fn new(ledger: Ledger, homes: impl Into<PathBuf>, settings: Settings) -> Pipeline {
        let hook = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        let sqlite = ledger.pool().connect_options().database_url.scheme() == "sqlite";
        Pipeline {
            write_turns: sqlite.then(|| Arc::new(tokio::sync::Mutex::new(()))),
            ledger,
            homes: homes.into(),
            settings,
            pause_before_commit: hook("FREIGHTDROP_TEST_PAUSE_BEFORE_COMMIT"),
            pause_after_commit: hook("FREIGHTDROP_TEST_PAUSE_AFTER_COMMIT"),
        }
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The homes folder.
    pub fn homes(&self) -> &Path {
        &self.homes
    }

    /// Handles the file `name` in `uploader`'s inbox: processes it, finishes an interrupted
    /// move, or says who holds it. `progress` hears the bytes read.
    ///
    /// # Errors
    /// [`PipelineError`] when the database or the disk failed; the file stays where it is and
    /// its claim is released, to be tried again.
    pub async fn process(
        &self,
        uploader: &Uploader,
        name: &str,
        progress: Option<Progress>,
    ) -> Result<Outcome, PipelineError> {
        if is_temporary_name(name) || name.contains(['/', '\\']) || name.is_empty() {
            return Ok(Outcome::Skipped);
        }
        let inbox = self.homes.join(&uploader.user);
        // At most two rounds: a committed row whose file was replaced is closed, then the new
        // file is claimed.
        for _ in 0..2 {
            let found = match std::fs::symlink_metadata(inbox.join(name)) {
                Ok(meta) if meta.file_type().is_file() => Some(Identity::of(&meta)),
                Ok(_) => return Ok(Outcome::Skipped),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e.into()),
            };
            // The common case first: a new file, claimed by inserting its row. The insert fails
            // when an open row exists, which is then looked at.
            if let Some(identity) = found {
                let claimed = {
                    let _turn = self.write_turn().await;
                    self.ledger
                        .claim_new(&uploader.user, name, identity, self.settings.lease)
                        .await?
                };
                if let Some(row) = claimed {
                    return self.run_claimed(row, uploader, &inbox, progress).await;
                }
            }
            let Some(row) = self.ledger.open_row(&uploader.user, name).await? else {
                if found.is_none() {
                    return Ok(Outcome::Skipped);
                }
                // Closed between the insert and the look: look again.
                continue;
            };
            let mine = row.claim_owner == self.ledger.owner();
            if !mine && row.lease_until_ms > now_ms() {
                return Ok(Outcome::Busy {
                    retry_at_ms: Some(row.lease_until_ms),
                });
            }
            // A committed row keeps the identity it was committed with, to tell its file from
            // a new upload under the same name.
            let reread = if row.state == FileState::Processing {
                found
            } else {
                None
            };
            let turn = self.write_turn().await;
            let retaken = self
                .ledger
                .retake(
                    &row,
                    reread,
                    self.settings.lease,
                    !mine && row.state == FileState::Processing,
                )
                .await?;
            drop(turn);
            let Some(row) = retaken else {
                return Ok(Outcome::Busy { retry_at_ms: None });
            };
            match (row.state, found) {
                (FileState::Processing, Some(_)) => {
                    return self.run_claimed(row, uploader, &inbox, progress).await;
                }
                (FileState::Processing | FileState::Vanished, None) => {
                    self.close(row.id, None).await?;
                    return Ok(Outcome::Skipped);
                }
                (FileState::Done | FileState::Error, Some(now)) if now != row.identity => {
                    self.ledger
                        .close(
                            row.id,
                            Some("replaced in the inbox by a new upload before it was moved"),
                        )
                        .await?;
                }
                _ => {
                    let _heartbeat = self.heartbeat(row.id);
                    return self.place(row, &inbox).await;
                }
            }
        }
        Ok(Outcome::Busy { retry_at_ms: None })
    }

    /// Reads, commits and moves a file this process has just claimed.
    async fn run_claimed(
        &self,
        row: FileRow,
        uploader: &Uploader,
        inbox: &Path,
        progress: Option<Progress>,
    ) -> Result<Outcome, PipelineError> {
        let _heartbeat = self.heartbeat(row.id);
        let result = self.read_and_commit(&row, uploader, inbox, progress).await;
        match result {
            Ok(Some(committed)) => self.place(committed, inbox).await,
            Ok(None) => {
                if row.attempts == 1 {
                    self.ledger.discard(row.id).await?;
                }
                self.close(row.id, None).await?;
                Ok(Outcome::Skipped)
            }
            Err(e) => {
                // Let the next attempt (this process's retry or another's) take it at once.
                let _ = self.ledger.renew(row.id, Duration::ZERO).await;
                Err(e)
            }
        }
    }

    /// The claimed part: `None` when the file left the inbox before it could be opened.
    async fn read_and_commit(
        &self,
        row: &FileRow,
        uploader: &Uploader,
        inbox: &Path,
        progress: Option<Progress>,
    ) -> Result<Option<FileRow>, PipelineError> {
        let file = match File::open(inbox.join(&row.name)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let opened = Identity::of(&file.metadata()?);
        // What was opened must be the plain file at that name, never a symbolic link's target;
        // a file swapped meanwhile is seen again by its own event or the next scan.
        let at_name = std::fs::symlink_metadata(inbox.join(&row.name))
            .ok()
            .filter(|m| m.file_type().is_file())
            .map(|m| Identity::of(&m));
        if at_name != Some(opened) {
            return Ok(None);
        }
        if opened != row.identity {
            self.ledger.set_identity(row.id, opened).await?;
        }
        let row = &FileRow {
            identity: opened,
            ..row.clone()
        };
        // A format recorded for this very file (mail's `+ext`) wins over the account's.
        let own_format = self
            .ledger
            .file_format(&uploader.user, &row.name, opened)
            .await?;
        let with_own_format;
        let uploader = match &own_format {
            Some(format) => {
                with_own_format = Uploader {
                    format: Some(format.clone()),
                    ..uploader.clone()
                };
                &with_own_format
            }
            None => uploader,
        };
        let streamed = match Format::from_name(&row.name, uploader.format.as_deref()) {
            Ok(Some(format @ (Format::Csv | Format::Ttm)))
                if row.attempts <= self.settings.max_attempts
                    && row.identity.size > STREAM_FROM =>
            {
                Some(format)
            }
            _ => None,
        };
        // A streamed file is read inside its transaction; any other is judged first, outside
        // the write turn.
        let judged = if let Some(format) = streamed {
            Judged::Streamed(file, format, progress)
        } else if row.attempts > self.settings.max_attempts {
            Judged::Whole(Verdict::Rejected {
                report: format!(
                    "the file was rejected: 1 problem found\nfile: processing this file was \
                     interrupted {} times (the server stopped while reading it); it was set \
                     aside so it cannot block the inbox; contact support",
                    row.attempts - 1
                ),
                sha256: None,
                format: None,
            })
        } else {
            Judged::Whole(
                examine::examine_within(
                    file,
                    &row.name,
                    &uploader.customer,
                    uploader.format.as_deref(),
                    self.settings.limits,
                    self.settings.max_memory,
                    progress,
                )
                .await?,
            )
        };
        self.hook(&self.pause_before_commit, &row.name).await;
        let turn = self.write_turn().await;
        let mut conn = self.ledger.pool().acquire().await?;
        let cache = commit::BigCache::widen(&mut conn, row.identity.size).await?;
        let committed = match judged {
            Judged::Whole(verdict) => {
                commit::whole(&self.ledger, &mut conn, row, uploader, verdict, inbox).await
            }
            Judged::Streamed(file, format, progress) => {
                let reading = commit::Reading {
                    file,
                    format,
                    limits: self.settings.limits,
                    progress,
                };
                commit::streamed(&self.ledger, &mut conn, row, uploader, reading, inbox).await
            }
        };
        cache.restore(&mut conn).await;
        drop(conn);
        drop(turn);
        let committed = committed?;
        if own_format.is_some() {
            // Committed with its format: the row is no longer needed.
            let _turn = self.write_turn().await;
            self.ledger
                .forget_file_formats(&uploader.user, &row.name)
                .await?;
        }
        self.hook(&self.pause_after_commit, &row.name).await;
        Ok(Some(committed))
    }

    /// Moves a committed file to `done/` or `error/` (with its report) and closes its row.
    async fn place(&self, row: FileRow, inbox: &Path) -> Result<Outcome, PipelineError> {
        let rejected = row.state == FileState::Error;
        let dir = inbox.join(if rejected { ERROR } else { DONE });
        std::fs::create_dir_all(&dir)?;
        let mut placed = match &row.placed_name {
            Some(name) => name.clone(),
            None => {
                let name = filing::free_name(&dir, &row.name, rejected)?;
                self.set_placed(row.id, &name).await?;
                name
            }
        };
        let note = loop {
            // The report goes first: whoever sees the file in error/ finds its report beside it.
            if rejected {
                let report = row.report.as_deref().unwrap_or("the file was rejected");
                filing::write_report(&dir, &placed, report)?;
            }
            let placement = filing::place(inbox, &row.name, &dir, &placed, row.identity)?;
            if rejected && placement != Placement::Moved {
                filing::remove_report(&dir, &placed);
            }
            match placement {
                Placement::Moved => break None,
                Placement::Taken => {
                    placed = filing::free_name(&dir, &row.name, rejected)?;
                    self.set_placed(row.id, &placed).await?;
                }
                Placement::Replaced => {
                    break Some("replaced in the inbox by a new upload before it was moved")
                }
                Placement::Gone => break Some("the file left the inbox before it was moved"),
            }
        };
        self.close(row.id, note).await?;
        Ok(Outcome::Finished(Box::new(FileRow {
            placed_name: Some(placed),
            closed_at: Some(crate::ledger::now_secs()),
            note: note.map(str::to_owned).or(row.note.clone()),
            ..row
        })))
    }

    /// This process's turn to write, on SQLite; nothing to wait for on PostgreSQL.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_turns {
            Some(turns) => Some(turns.lock().await),
            None => None,
        }
    }

    /// [`Ledger::close`] in this process's write turn.
    async fn close(&self, id: i64, note: Option<&str>) -> Result<(), LedgerError> {
        let _turn = self.write_turn().await;
        self.ledger.close(id, note).await
    }

    /// [`Ledger::set_placed`] in this process's write turn.
    async fn set_placed(&self, id: i64, name: &str) -> Result<(), LedgerError> {
        let _turn = self.write_turn().await;
        self.ledger.set_placed(id, name).await
    }

    /// Renews the claim on row `id` until the returned guard is dropped.
    fn heartbeat(&self, id: i64) -> AbortOnDrop {
        let ledger = self.ledger.clone();
        let lease = self.settings.lease;
        let every = (lease / 3).max(Duration::from_millis(100));
        AbortOnDrop(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match ledger.renew(id, lease).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => tracing::warn!(error = %e, "could not renew an inbox claim"),
                }
            }
        }))
    }

    /// The test hook: waits forever when `wanted` names this file.
    async fn hook(&self, wanted: &Option<String>, name: &str) {
        if wanted.as_deref() == Some(name) {
            tracing::warn!(file = %name, "test hook: pausing this file for good");
            std::future::pending::<()>().await;
        }
    }
}

/// A file ready for its transaction: judged already, or to be read inside it.
enum Judged {
    Whole(Verdict),
    Streamed(File, Format, Option<Progress>),
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
