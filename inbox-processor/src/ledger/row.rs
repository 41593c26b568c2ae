//! The shapes of the ledger: a row ([`FileRow`]), where a file stands ([`FileState`]), how a
//! file version is recognised ([`Identity`]) and what a commit records ([`Finish`],
//! [`Counts`]); and the reading of a database row into them. No SQL is sent from here.

use std::time::UNIX_EPOCH;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::LedgerError;

/// Where a file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    /// Claimed by a process that is reading or committing it.
    Processing,
    /// Accepted: its orders and status events are committed.
    Done,
    /// Rejected: its report is committed.
    Error,
    /// It left the inbox (deleted or renamed by the partner) before it was committed.
    Vanished,
}

impl FileState {
    /// The name stored in the database and shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Processing => "processing",
            FileState::Done => "done",
            FileState::Error => "error",
            FileState::Vanished => "vanished",
        }
    }

    /// The state named `text`, if any.
    pub fn parse(text: &str) -> Option<FileState> {
        [
            FileState::Processing,
            FileState::Done,
            FileState::Error,
            FileState::Vanished,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What identifies one version of a file on disk: a new upload under the same name is a new
/// inode (uploads are written aside and renamed in) or at least a new size or mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// The inode number (0 where the platform has none).
    pub inode: u64,
}

impl Identity {
    /// The identity of a file from its metadata.
    pub fn of(meta: &std::fs::Metadata) -> Identity {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Identity {
            size: meta.len(),
            mtime_ns,
            inode,
        }
    }
}

/// What a committed file turned into.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Orders in the file.
    pub orders: u64,
    /// Shipments stored (new or updated).
    pub shipments: u64,
    /// Goods lines of those shipments.
    pub goods_lines: u64,
    /// Status events newly stored (one already known is not counted).
    pub status_updates: u64,
}

/// The end of processing, written in the same transaction as the orders.
#[derive(Debug, Clone)]
pub struct Finish {
    /// [`FileState::Done`] or [`FileState::Error`].
    pub state: FileState,
    /// The SHA-256 of the bytes read, hex, when the file was read whole.
    pub sha256: Option<String>,
    /// The format the file was parsed as, if one was picked.
    pub format: Option<String>,
    /// What an accepted file turned into.
    pub counts: Counts,
    /// The error report of a rejected file, or the warnings of an accepted one.
    pub report: Option<String>,
    /// The free name chosen for it in `done/` or `error/`.
    pub placed_name: String,
}

/// One ledger row.
#[derive(Debug, Clone, Serialize)]
pub struct FileRow {
    /// The row's number.
    pub id: i64,
    /// The user whose inbox the file was in.
    pub user: String,
    /// The file's name in the inbox.
    pub name: String,
    /// The file's identity when it was claimed.
    pub identity: Identity,
    /// The SHA-256 of its content, once read.
    pub sha256: Option<String>,
    /// The format it was parsed as.
    pub format: Option<String>,
    /// Where it stands.
    pub state: FileState,
    /// The process holding (or last holding) the claim.
    pub claim_owner: String,
    /// When the claim runs out, Unix milliseconds.
    pub lease_until_ms: i64,
    /// How many times processing started.
    pub attempts: i64,
    /// When it was first claimed, Unix seconds.
    pub received_at: i64,
    /// When it was committed, Unix seconds.
    pub finished_at: Option<i64>,
    /// What it turned into, once committed as done.
    pub counts: Option<Counts>,
    /// The error report, or the warnings.
    pub report: Option<String>,
    /// Its name in `done/` or `error/`, once chosen.
    pub placed_name: Option<String>,
    /// When the row was closed (the file left the inbox), Unix seconds.
    pub closed_at: Option<i64>,
    /// Anything unusual that happened to it.
    pub note: Option<String>,
}

/// Which rows [`Ledger::list`] returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this user's files.
    pub user: Option<String>,
    /// Only files in this state.
    pub state: Option<FileState>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
    /// Only files received at or after this time, Unix seconds.
    pub since: Option<i64>,
    /// Only files received before this time, Unix seconds.
    pub until: Option<i64>,
}

pub(super) fn from_row(row: &AnyRow) -> Result<FileRow, LedgerError> {
    let id: i64 = row.try_get("id")?;
    let state_text: String = row.try_get("state")?;
    let state = FileState::parse(&state_text).ok_or(LedgerError::UnknownState {
        id,
        state: state_text,
    })?;
    let count = |name: &str| -> Result<Option<u64>, sqlx::Error> {
        Ok(row
            .try_get::<Option<i64>, _>(name)?
            .map(|n| u64::try_from(n).unwrap_or(0)))
    };
    let counts = match count("shipments")? {
        Some(shipments) => Some(Counts {
            orders: count("orders")?.unwrap_or(0),
            shipments,
            goods_lines: count("goods_lines")?.unwrap_or(0),
            status_updates: count("status_updates")?.unwrap_or(0),
        }),
        None => None,
    };
    Ok(FileRow {
        id,
        user: row.try_get("user_name")?,
        name: row.try_get("file_name")?,
        identity: Identity {
            size: u64::try_from(row.try_get::<i64, _>("size")?).unwrap_or(0),
            mtime_ns: row.try_get("mtime_ns")?,
            inode: row.try_get::<i64, _>("inode")? as u64,
        },
        sha256: row.try_get("sha256")?,
        format: row.try_get("format")?,
        state,
        claim_owner: row.try_get("claim_owner")?,
        lease_until_ms: row.try_get("lease_until_ms")?,
        attempts: row.try_get("attempts")?,
        received_at: row.try_get("received_at")?,
        finished_at: row.try_get("finished_at")?,
        counts,
        report: row.try_get("report")?,
        placed_name: row.try_get("placed_name")?,
        closed_at: row.try_get("closed_at")?,
        note: row.try_get("note")?,
    })
}
