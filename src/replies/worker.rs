//! Each node's reply worker: when nudged and every two seconds, it ties the mailed files whose
//! ledger row closed to that row, queueing a reply for each rejected one that may get one, then
//! sends the due replies through the relay with `lettre` from the null sender (`MAIL FROM:<>`).
//! A reply the relay did not take is tried again after `--mail-reply-retry`, twice as long
//! each time up to an hour, for five days; one the relay refuses for good (5xx) is given up.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::message::{self, Reply};
use super::queue::{self, Finished, Queue, Tied};
use super::Replies;
use crate::config::{Relay, RelayTls};
use crate::exchange::Core;
use crate::metrics::ReplyResult;

/// How often the worker looks without being nudged.
const TICK: Duration = Duration::from_secs(2);
/// Rows handled per look.
const BATCH: i64 = 50;
/// How long a claimed reply is this node's; longer than one attempt can take.
const LEASE: Duration = Duration::from_secs(300);
/// The relay's timeout for each step of the conversation.
const RELAY_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// A reply not sent after this long is given up.
const GIVE_UP_AFTER_SECS: i64 = 5 * 86_400;
/// The largest rejected file attached to its reply; a bigger one is named, not attached.
const MAX_ATTACHED: u64 = 25 * 1024 * 1024;

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Starts the worker of `core` on its task tracker, until its shutdown token is cancelled.
///
/// # Errors
/// When the relay URL can't be read by lettre (checked at start, so this is rare).
pub fn start(core: &Core) -> anyhow::Result<()> {
    let replies = core.replies().clone();
    let mail = &core.config().mail;
    let transport = match &mail.replies.relay {
        Some(relay) => {
            let mut builder = Transport::builder_dangerous(relay.host.clone())
                .port(relay.port)
                .timeout(Some(RELAY_TIMEOUT));
            if let Some(tls) = tls(relay)? {
                builder = builder.tls(tls);
            }
            if let Some((user, password)) = &relay.credentials {
                builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
            }
            if let Some(domain) = mail.domains.first() {
                builder = builder.hello_name(ClientId::Domain(domain.clone()));
            }
            tracing::info!(relay = %relay.url, "mail error replies go through the relay");
            Some(builder.build())
        }
        None => {
            tracing::warn!(
                "no --smtp-relay: error replies to mailed files are queued but not sent"
            );
            None
        }
    };
    let shutdown = core.shutdown().clone();
    core.tasks().spawn(async move {
        loop {
            // A relay that hangs must not hold the shutdown up: the round is dropped then (a
            // transaction in it rolls back; a claimed reply is tried again when its lease ends).
            let round = async {
                if let Err(e) = replies.queue_finished().await {
                    tracing::warn!(error = %e, "mail replies: could not look at finished files");
                }
                if let Some(transport) = &transport {
                    if let Err(e) = replies.send_due(transport).await {
                        tracing::warn!(error = %e, "mail replies: could not read the queue");
                    }
                }
            };
            tokio::select! {
                () = round => {}
                () = shutdown.cancelled() => break,
            }
            tokio::select! {
                () = replies.wake.notified() => {}
                () = tokio::time::sleep(TICK) => {}
                () = shutdown.cancelled() => break,
            }
        }
    });
    Ok(())
}

impl Replies {
    /// Ties every mailed file whose ledger row closed, queueing the replies that are due.
    async fn queue_finished(&self) -> Result<(), sqlx::Error> {
        let pool = self.db.pool();
        for file in queue::finished(pool, BATCH).await? {
            let settings = &self.config.mail.replies;
            let tied = if !file.rejected {
                queue::tie(pool, &file, Queue::Nothing).await?
            } else if let Some(reason) = &file.no_reply {
                let tied = queue::tie(pool, &file, Queue::Nothing).await?;
                if tied == Tied::Nothing {
                    tracing::info!(user = %file.user, file = %file.file_name, sender = %file.sender, reason = %reason, "no error reply for a rejected mailed file");
                    self.metrics.mail_reply(ReplyResult::Suppressed);
                }
                tied
            } else {
                let content = self.rejected_file(&file).await;
                let report = file.report.as_deref().unwrap_or("the file was rejected");
                let built = message::build(
                    &Reply {
                        from: &settings.from,
                        to: &file.sender,
                        message_id: file.message_id.as_deref(),
                        references: &file.references,
                        subject: file.subject.as_deref(),
                        file_name: &file.file_name,
                        report,
                        file: content.as_deref(),
                    },
                    settings.from.rsplit('@').next().unwrap_or("localhost"),
                );
                match built {
                    Ok(bytes) => {
                        let subject = message::subject(file.subject.as_deref(), &file.file_name);
                        let recipient = file.sender.to_ascii_lowercase();
                        queue::tie(
                            pool,
                            &file,
                            Queue::Reply {
                                recipient: &recipient,
                                subject: &subject,
                                message: &bytes,
                                per_hour: settings.per_hour,
                            },
                        )
                        .await?
                    }
                    Err(e) => {
                        tracing::warn!(user = %file.user, file = %file.file_name, sender = %file.sender, error = %e, "no error reply: it could not be built");
                        queue::tie(pool, &file, Queue::Nothing).await?
                    }
                }
            };
            match tied {
                Tied::Queued => {
                    tracing::info!(user = %file.user, file = %file.file_name, sender = %file.sender, "error reply queued");
                    self.metrics.mail_reply(ReplyResult::Queued);
                }
                Tied::Capped => {
                    tracing::warn!(user = %file.user, file = %file.file_name, sender = %file.sender, per_hour = settings.per_hour, "error reply not sent: over the sender's hourly cap");
                    self.metrics.mail_reply(ReplyResult::Capped);
                }
                Tied::Nothing | Tied::Already => {}
            }
        }
        Ok(())
    }

    /// The rejected file's bytes from `error/`, unless it is gone or too big to attach.
    async fn rejected_file(&self, file: &Finished) -> Option<Vec<u8>> {
        let name = file.placed_name.as_deref()?;
        // The placed name is the pipeline's own, never a partner's path.
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return None;
        }
        let path = self.homes.join(&file.user).join("error").join(name);
        let read = tokio::task::spawn_blocking(move || {
            let meta = std::fs::symlink_metadata(&path)?;
            if !meta.file_type().is_file() || meta.len() > MAX_ATTACHED {
                return Ok(None);
            }
            std::fs::read(&path).map(Some)
        })
        .await;
        match read {
            Ok(Ok(content)) => content,
            Ok(Err(e)) => {
                tracing::warn!(user = %file.user, file = %name, error = %e, "the rejected file can't be read for its reply; the report goes alone");
                None
            }
            Err(_) => None,
        }
    }

    /// Sends the due replies this node could claim.
    async fn send_due(&self, transport: &Transport) -> Result<(), sqlx::Error> {
        let pool = self.db.pool();
        for due in queue::claim_due(pool, BATCH, LEASE).await? {
            let Ok(to) = due.recipient.parse::<Address>() else {
                queue::attempt_failed(pool, due.id, "not a mail address", None).await?;
                self.metrics.mail_reply(ReplyResult::Failed);
                continue;
            };
            let envelope = match Envelope::new(None, vec![to]) {
                Ok(envelope) => envelope,
                Err(e) => {
                    queue::attempt_failed(pool, due.id, &e.to_string(), None).await?;
                    self.metrics.mail_reply(ReplyResult::Failed);
                    continue;
                }
            };
            match transport.send_raw(&envelope, &due.message).await {
                Ok(response) => {
                    queue::sent(pool, due.id).await?;
                    self.metrics.mail_reply(ReplyResult::Sent);
                    tracing::info!(reply = due.id, to = %due.recipient, relay = ?response.code(), "error reply sent");
                }
                Err(e) => {
                    let expired = queue::now_secs() - due.queued_at > GIVE_UP_AFTER_SECS;
                    let next = (!e.is_permanent() && !expired).then(|| {
                        queue::now_ms() + backoff(self.config.mail.replies.retry, due.attempts)
                    });
                    let text = e.to_string();
                    queue::attempt_failed(pool, due.id, &text, next).await?;
                    if next.is_some() {
                        self.metrics.mail_reply(ReplyResult::Deferred);
                        tracing::warn!(reply = due.id, to = %due.recipient, attempts = due.attempts + 1, error = %text, "error reply not taken by the relay; trying again later");
                    } else {
                        self.metrics.mail_reply(ReplyResult::Failed);
                        tracing::error!(reply = due.id, to = %due.recipient, attempts = due.attempts + 1, error = %text, "error reply given up");
                    }
                }
            }
        }
        Ok(())
    }
}

/// The TLS of the connection to `relay`: its host name checked against the public roots and
/// the `--smtp-relay-ca` file.
fn tls(relay: &Relay) -> anyhow::Result<Option<Tls>> {
    if relay.tls == RelayTls::Plain {
        return Ok(None);
    }
    let mut parameters = TlsParameters::builder(relay.host.clone());
    if let Some(ca) = &relay.ca {
        let pem = std::fs::read(ca)
            .map_err(|e| anyhow::anyhow!("reading --smtp-relay-ca {}: {e}", ca.display()))?;
        parameters = parameters.add_root_certificate(Certificate::from_pem(&pem)?);
    }
    let parameters = parameters.build_rustls()?;
    Ok(Some(match relay.tls {
        RelayTls::Opportunistic => Tls::Opportunistic(parameters),
        RelayTls::Wrapper => Tls::Wrapper(parameters),
        RelayTls::Plain | RelayTls::Required => Tls::Required(parameters),
    }))
}

/// Milliseconds to wait after `attempts` failed attempts: `first`, doubled each time, at most
/// [`MAX_BACKOFF`].
fn backoff(first: Duration, attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let wait = first.saturating_mul(1 << doublings).min(MAX_BACKOFF);
    i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_an_hour() {
        let first = Duration::from_secs(60);
        assert_eq!(backoff(first, 0), 60_000);
        assert_eq!(backoff(first, 1), 120_000);
        assert_eq!(backoff(first, 3), 480_000);
        assert_eq!(backoff(first, 10), 3_600_000);
        assert_eq!(backoff(first, 1000), 3_600_000);
    }
}
