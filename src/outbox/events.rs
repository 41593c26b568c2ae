//! The outbox's report writer: downloads, moves, deletions and overwrites reported by the
//! frontends, written one after another in the order they were made, so a download is never
//! recorded after the move that followed it. A failed write is logged and the next one goes on.

use sqlx::{Any, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{out_file, OUT};
use crate::db::Db;
use crate::home::VirtualPath;
use crate::metrics::{Metrics, OutboxEvent};

/// One report.
#[derive(Debug)]
pub enum Event {
    /// A whole download of `out/<name>`.
    Downloaded {
        /// The partner.
        user: String,
        /// The file's name in `out/`.
        name: String,
        /// `ftp`, `ftps` or `sftp`.
        protocol: &'static str,
        /// When, Unix seconds.
        at: i64,
    },
    /// A rename from or to `out/`.
    Moved {
        /// The partner.
        user: String,
        /// The old path.
        from: VirtualPath,
        /// The new path.
        to: VirtualPath,
        /// When, Unix seconds.
        at: i64,
    },
    /// `out/<name>` is gone: deleted, or replaced by an upload.
    Closed {
        /// The partner.
        user: String,
        /// The file's name in `out/`.
        name: String,
        /// `deleted` or `replaced`.
        how: &'static str,
        /// When, Unix seconds.
        at: i64,
    },
    /// Answered once every earlier report is written; then the writer stops (at shutdown,
    /// after the sessions, before the database closes).
    Close(oneshot::Sender<()>),
}

/// Writes reports until every sender is gone or the outbox is closed, counting what they
/// recorded into `metrics`.
pub async fn write(db: Db, metrics: Metrics, mut events: mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = events.recv().await {
        let described = format!("{event:?}");
        let written = match event {
            Event::Close(done) => {
                let _ = done.send(());
                tracing::debug!("outbox report writer stopped");
                return;
            }
            other => apply(&db, other).await,
        };
        match written {
            Ok(recorded) => recorded.into_iter().for_each(|e| metrics.outbox(e)),
            Err(e) => {
                tracing::warn!(report = described, error = %e, "cannot record an outgoing file's report");
            }
        }
    }
}

/// Writes one report; returns what it recorded (nothing for a file the outbox does not know).
async fn apply(db: &Db, event: Event) -> Result<Vec<OutboxEvent>, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let mut recorded = Vec::new();
    match event {
        Event::Downloaded {
            user,
            name,
            protocol,
            at,
        } => {
            let done = sqlx::query(
                "UPDATE outbox_files SET downloads = downloads + 1, \
                 first_download_at = COALESCE(first_download_at, $1), last_download_at = $1, \
                 last_download_protocol = $2 \
                 WHERE user_name = $3 AND file_name = $4 AND closed_at IS NULL",
            )
            .bind(at)
            .bind(protocol)
            .bind(&user)
            .bind(&name)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                recorded.push(OutboxEvent::Downloaded);
            }
        }
        Event::Moved { user, from, to, at } => {
            // Whatever waited at the target is replaced by the rename.
            if let Some(target) = out_file(&to) {
                if close(&mut tx, &user, &target, "replaced", None, at).await? {
                    recorded.push(OutboxEvent::Replaced);
                }
            }
            if let Some(name) = out_file(&from) {
                if let Some(new_name) = out_file(&to) {
                    sqlx::query(
                        "UPDATE outbox_files SET file_name = $1 \
                         WHERE user_name = $2 AND file_name = $3 AND closed_at IS NULL",
                    )
                    .bind(&new_name)
                    .bind(&user)
                    .bind(&name)
                    .execute(&mut *tx)
                    .await?;
                } else {
                    let place = match to.segments().first().map(String::as_str) {
                        Some("done") if to.segments().len() > 1 => "done",
                        Some("error") if to.segments().len() > 1 => "error",
                        _ => "elsewhere",
                    };
                    let closed =
                        close(&mut tx, &user, &name, place, Some(to.to_string()), at).await?;
                    if closed {
                        recorded.extend(OutboxEvent::closed(place));
                    }
                    if closed && place == "error" {
                        tracing::warn!(
                            user,
                            file = name,
                            "partner moved a published file to error/"
                        );
                    }
                }
            }
        }
        Event::Closed {
            user,
            name,
            how,
            at,
        } => {
            if close(&mut tx, &user, &name, how, None, at).await? {
                recorded.extend(OutboxEvent::closed(how));
            }
        }
        Event::Close(_) => {}
    }
    tx.commit().await?;
    Ok(recorded)
}

/// Closes the open row of `out/<name>`; whether there was one.
async fn close(
    tx: &mut Transaction<'_, Any>,
    user: &str,
    name: &str,
    how: &str,
    to: Option<String>,
    at: i64,
) -> Result<bool, sqlx::Error> {
    debug_assert!(!name.contains('/') && OUT == "out");
    let done = sqlx::query(
        "UPDATE outbox_files SET moved_to = $1, moved_name = $2, moved_at = $3, closed_at = $3 \
         WHERE user_name = $4 AND file_name = $5 AND closed_at IS NULL",
    )
    .bind(how)
    .bind(to)
    .bind(at)
    .bind(user)
    .bind(name)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}
