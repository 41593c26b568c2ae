//! The tables of the replies, `mail_files` and `mail_replies` (migration 0007), and every
//! statement on them: the origins recorded at delivery, the mailed files whose ledger row has
//! closed, the one transaction that ties such a file to its row and queues its reply, the claim
//! of a due reply and what its attempt turned into. Written once in the dialect SQLite and
//! PostgreSQL both accept.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::{MailedFile, Origin};

/// A mailed file's origin is looked for in the ledger this long after its delivery at most.
const LINK_WINDOW_SECS: i64 = 7 * 86_400;

/// Where a reply stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyState {
    /// Waiting to be sent (or to be tried again).
    Queued,
    /// Taken by the relay.
    Sent,
    /// Given up: refused for good by the relay, or too old.
    Failed,
    /// Over the sender's hourly cap: never sent.
    Capped,
}

impl ReplyState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Capped => "capped",
        }
    }
}

/// Now, Unix seconds.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Now, Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Inserts one `mail_files` row per file, in one transaction.
pub(super) async fn record(
    pool: &AnyPool,
    user: &str,
    origin: &Origin,
    files: &[MailedFile],
) -> Result<(), sqlx::Error> {
    let no_reply = origin.no_reply();
    let refs = origin.references.join(" ");
    let now = now_secs();
    let mut tx = pool.begin().await?;
    for file in files {
        sqlx::query(
            "INSERT INTO mail_files (user_name, file_name, size, inode, sender, message_id, \
             subject, refs, no_reply, delivered_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(user)
        .bind(&file.name)
        .bind(as_i64(file.size))
        // The ledger stores the inode the same way.
        .bind(file.inode as i64)
        .bind(&origin.sender)
        .bind(origin.message_id.as_deref())
        .bind(origin.subject.as_deref())
        .bind((!refs.is_empty()).then_some(refs.as_str()))
        .bind(no_reply)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// A mailed file whose inbox ledger row is closed, not yet tied to it.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The `mail_files` row.
    pub mail_id: i64,
    /// The account.
    pub user: String,
    /// The file's name in the inbox.
    pub file_name: String,
    /// The envelope sender.
    pub sender: String,
    /// The partner message's Message-ID.
    pub message_id: Option<String>,
    /// Its Subject.
    pub subject: Option<String>,
    /// Its References.
    pub references: Vec<String>,
    /// Why it may get no reply (RFC 3834), if so.
    pub no_reply: Option<String>,
    /// The ledger row.
    pub inbox_id: i64,
    /// Whether the file was rejected and filed into `error/` (with its report).
    pub rejected: bool,
    /// Its name in `error/`.
    pub placed_name: Option<String>,
    /// The error report.
    pub report: Option<String>,
}

/// The mailed files whose ledger row has closed, oldest first, at most `limit`.
pub(super) async fn finished(pool: &AnyPool, limit: i64) -> Result<Vec<Finished>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT m.id, m.user_name, m.file_name, m.sender, m.message_id, m.subject, m.refs, \
         m.no_reply, f.id, f.state, f.placed_name, f.report, f.note \
         FROM mail_files m JOIN inbox_files f ON f.user_name = m.user_name \
         AND f.file_name = m.file_name AND f.inode = m.inode AND f.size = m.size \
         WHERE m.inbox_file_id IS NULL AND m.delivered_at >= $1 \
         AND f.closed_at IS NOT NULL AND f.received_at >= m.delivered_at - 60 \
         AND NOT EXISTS (SELECT 1 FROM mail_files o WHERE o.inbox_file_id = f.id) \
         ORDER BY m.id LIMIT $2",
    )
    .bind(now_secs() - LINK_WINDOW_SECS)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(finished_row).collect()
}

fn finished_row(row: &AnyRow) -> Result<Finished, sqlx::Error> {
    let state: String = row.try_get(9)?;
    let note: Option<String> = row.try_get(12)?;
    let placed_name: Option<String> = row.try_get(10)?;
    let refs: Option<String> = row.try_get(6)?;
    Ok(Finished {
        mail_id: row.try_get(0)?,
        user: row.try_get(1)?,
        file_name: row.try_get(2)?,
        sender: row.try_get(3)?,
        message_id: row.try_get(4)?,
        subject: row.try_get(5)?,
        references: refs
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        no_reply: row.try_get(7)?,
        inbox_id: row.try_get(8)?,
        // A file the pipeline closed with a note was not moved (replaced or gone).
        rejected: state == "error" && note.is_none() && placed_name.is_some(),
        placed_name,
        report: row.try_get(11)?,
    })
}

/// What to queue with a file's tie to its ledger row.
#[derive(Debug, Clone)]
pub enum Queue<'a> {
    /// Nothing: accepted, not moved, or no reply allowed.
    Nothing,
    /// A reply, unless the recipient had `per_hour` replies in the last hour already (then a
    /// `capped` row, never sent).
    Reply {
        /// The address it goes to.
        recipient: &'a str,
        /// Its subject, for staff.
        subject: &'a str,
        /// The whole message.
        message: &'a [u8],
        /// The recipient's hourly cap.
        per_hour: u32,
    },
}

/// What [`tie`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tied {
    /// Another node tied the file first; nothing done.
    Already,
    /// Tied, nothing queued.
    Nothing,
    /// Tied, and the reply queued.
    Queued,
    /// Tied, and the reply recorded as over the cap.
    Capped,
}

/// Ties `file` to its ledger row and queues what `queue` says, in one transaction.
pub(super) async fn tie(
    pool: &AnyPool,
    file: &Finished,
    queue: Queue<'_>,
) -> Result<Tied, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let tied = sqlx::query(
        "UPDATE mail_files SET inbox_file_id = $1 WHERE id = $2 AND inbox_file_id IS NULL",
    )
    .bind(file.inbox_id)
    .bind(file.mail_id)
    .execute(&mut *tx)
    .await;
    match tied {
        Ok(done) if done.rows_affected() == 1 => {}
        Ok(_) => return Ok(Tied::Already),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(Tied::Already),
        Err(e) => return Err(e),
    }
    let Queue::Reply {
        recipient,
        subject,
        message,
        per_hour,
    } = queue
    else {
        tx.commit().await?;
        return Ok(Tied::Nothing);
    };
    let now = now_secs();
    // The count and the insert must not interleave with another node's for the same
    // recipient. SQLite has one writer, and this transaction holds it since its UPDATE; on
    // PostgreSQL a lock on the recipient, held until the commit, does the same.
    if pool.connect_options().database_url.scheme() != "sqlite" {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))::TEXT")
            .bind(recipient)
            .fetch_one(&mut *tx)
            .await?;
    }
    let recent: i64 = sqlx::query(
        "SELECT COUNT(*) FROM mail_replies WHERE recipient = $1 AND queued_at > $2 \
         AND state <> 'capped'",
    )
    .bind(recipient)
    .bind(now - 3600)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    let (state, message, error, outcome) = if recent >= i64::from(per_hour) {
        (
            ReplyState::Capped,
            &[][..],
            Some(format!(
                "over the cap of {per_hour} replies an hour to this sender"
            )),
            Tied::Capped,
        )
    } else {
        (ReplyState::Queued, message, None, Tied::Queued)
    };
    sqlx::query(
        "INSERT INTO mail_replies (mail_file_id, inbox_file_id, recipient, subject, message, \
         state, next_try_ms, last_error, queued_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(file.mail_id)
    .bind(file.inbox_id)
    .bind(recipient)
    .bind(subject)
    .bind(message.to_vec())
    .bind(state.as_str())
    .bind(now_ms())
    .bind(error)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// A reply claimed for one attempt.
#[derive(Debug, Clone)]
pub struct Due {
    /// The `mail_replies` row.
    pub id: i64,
    /// The address.
    pub recipient: String,
    /// The whole message.
    pub message: Vec<u8>,
    /// Attempts made before this one.
    pub attempts: i64,
    /// When it was queued, Unix seconds.
    pub queued_at: i64,
}

/// Claims up to `limit` due replies for `lease`: a row claimed by another node (its lease
/// running) is left to it.
pub(super) async fn claim_due(
    pool: &AnyPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<Due>, sqlx::Error> {
    let now = now_ms();
    let candidates = sqlx::query(
        "SELECT id FROM mail_replies WHERE state = 'queued' AND next_try_ms <= $1 \
         AND claim_until_ms <= $1 ORDER BY next_try_ms LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let mut due = Vec::new();
    for row in candidates {
        let id: i64 = row.try_get(0)?;
        // The condition is checked again on the row as it is now, so of two nodes that saw it
        // due, one claims it.
        let claimed = sqlx::query(
            "UPDATE mail_replies SET claim_until_ms = $1 WHERE id = $2 AND state = 'queued' \
             AND claim_until_ms <= $3",
        )
        .bind(until)
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        let row = sqlx::query(
            "SELECT recipient, message, attempts, queued_at FROM mail_replies WHERE id = $1",
        )
        .bind(id)
        .fetch_one(pool)
        .await?;
        due.push(Due {
            id,
            recipient: row.try_get(0)?,
            message: row.try_get(1)?,
            attempts: row.try_get(2)?,
            queued_at: row.try_get(3)?,
        });
    }
    Ok(due)
}

/// Records that the relay took reply `id`.
pub(super) async fn sent(pool: &AnyPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE mail_replies SET state = 'sent', sent_at = $1, attempts = attempts + 1, \
         last_error = NULL, claim_until_ms = 0 WHERE id = $2",
    )
    .bind(now_secs())
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed attempt of reply `id`: tried again at `next_try_ms`, or given up when
/// `None`.
pub(super) async fn attempt_failed(
    pool: &AnyPool,
    id: i64,
    error: &str,
    next_try_ms: Option<i64>,
) -> Result<(), sqlx::Error> {
    let (state, next) = match next_try_ms {
        Some(at) => (ReplyState::Queued, at),
        None => (ReplyState::Failed, 0),
    };
    sqlx::query(
        "UPDATE mail_replies SET state = $1, attempts = attempts + 1, last_error = $2, \
         next_try_ms = $3, claim_until_ms = 0 \
         WHERE id = $4",
    )
    .bind(state.as_str())
    .bind(error)
    .bind(next)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Where a file that came by mail came from, for staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailOrigin {
    /// The envelope sender, empty for the null sender.
    pub sender: String,
    /// The Message-ID.
    pub message_id: Option<String>,
    /// The Subject.
    pub subject: Option<String>,
    /// When the message was delivered, Unix seconds.
    pub delivered_at: i64,
    /// Why it gets no automatic reply (RFC 3834), if so.
    pub no_reply: Option<String>,
}

/// An error reply and its delivery state, for staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRow {
    /// The reply's number.
    pub id: i64,
    /// The address it goes to.
    pub recipient: String,
    /// Its subject.
    pub subject: String,
    /// `queued`, `sent`, `failed` or `capped`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When it is tried next (queued), Unix milliseconds.
    pub next_try_ms: i64,
    /// The relay's last answer or the reason it was not sent.
    pub last_error: Option<String>,
    /// When it was queued, Unix seconds.
    pub queued_at: i64,
    /// When the relay took it, Unix seconds.
    pub sent_at: Option<i64>,
}

/// The mail origin of inbox ledger row `inbox_file_id` and its replies; `None` when the file did
/// not come by mail (or its row is not closed yet).
pub(super) async fn for_file(
    pool: &AnyPool,
    inbox_file_id: i64,
) -> Result<Option<(MailOrigin, Vec<ReplyRow>)>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT sender, message_id, subject, delivered_at, no_reply FROM mail_files \
         WHERE inbox_file_id = $1",
    )
    .bind(inbox_file_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let origin = MailOrigin {
        sender: row.try_get(0)?,
        message_id: row.try_get(1)?,
        subject: row.try_get(2)?,
        delivered_at: row.try_get(3)?,
        no_reply: row.try_get(4)?,
    };
    let replies = sqlx::query(
        "SELECT id, recipient, subject, state, attempts, next_try_ms, last_error, queued_at, \
         sent_at FROM mail_replies WHERE inbox_file_id = $1 ORDER BY id",
    )
    .bind(inbox_file_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        Ok(ReplyRow {
            id: row.try_get(0)?,
            recipient: row.try_get(1)?,
            subject: row.try_get(2)?,
            state: row.try_get(3)?,
            attempts: row.try_get(4)?,
            next_try_ms: row.try_get(5)?,
            last_error: row.try_get(6)?,
            queued_at: row.try_get(7)?,
            sent_at: row.try_get(8)?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some((origin, replies)))
}
