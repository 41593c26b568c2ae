//! Exactly once for a message delivered twice (an MTA that retried after a lost 250): each
//! account's delivered messages are recorded in `mail_deliveries` under a key made of the
//! Message-ID and the SHA-256 of every attachment (without a Message-ID: the hashes, the
//! envelope sender and the subject). A delivery first [`claim`]s its key: a key already recorded
//! is a duplicate, answered 250 with nothing stored; otherwise the attachments are made durable
//! and the record is written ([`Claim::delivered`]) before the 250. No transaction is held
//! while the files are written, so the inbox and the upload path's own writes never wait for
//! a mail delivery.
//!
//! Known limits: a server killed after the attachments are in the inbox and before the record
//! never answered 250, so the MTA sends the message again and it is stored a second time; two
//! connections delivering the same message at the same moment both store it (logged).

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::attachments::Mail;
use crate::clock::now;
use crate::db::Db;

/// What identifies one message for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageKey {
    // Invariant: the lower-case hex SHA-256 of what identifies the message, made only by
    // `MessageKey::of`.
    key: String,
    message_id: Option<String>,
    sender: String,
    sha256s: Vec<String>,
}

impl MessageKey {
    /// The key of `mail` from the envelope `sender`: its Message-ID and attachment hashes, or,
    /// without a Message-ID, the hashes, the sender (case ignored) and the subject.
    pub fn of(mail: &Mail, sender: &str) -> Self {
        let sha256s: Vec<String> = mail.attachments.iter().map(|a| a.sha256.clone()).collect();
        let sender = sender.trim().to_ascii_lowercase();
        let mut digest = Sha256::new();
        match &mail.message_id {
            Some(id) => {
                digest.update(b"message-id\0");
                digest.update(id.as_bytes());
            }
            None => {
                digest.update(b"no-message-id\0");
                digest.update(sender.as_bytes());
                digest.update(b"\0");
                digest.update(mail.subject.as_deref().unwrap_or("").as_bytes());
            }
        }
        for sha in &sha256s {
            digest.update(b"\0");
            digest.update(sha.as_bytes());
        }
        Self {
            key: hex::encode(digest.finalize()),
            message_id: mail.message_id.clone(),
            sender,
            sha256s,
        }
    }

    /// The key, as stored.
    pub fn as_str(&self) -> &str {
        &self.key
    }
}

/// The outcome of a claim.
pub enum Claimed {
    /// The account received this message before: store nothing.
    Duplicate {
        /// The names its attachments got then.
        names: Vec<String>,
        /// When (Unix seconds).
        delivered_at: i64,
    },
    /// New: deliver, then [`Claim::delivered`].
    New(Claim),
}

/// A message being delivered, not recorded yet: [`Claim::delivered`] records it once its
/// attachments are durable. Dropped without that, nothing is recorded.
pub struct Claim {
    user: String,
    key: MessageKey,
}

/// Claims `key` for `user`: a duplicate when the account received the message before.
///
/// # Errors
/// The database's error.
pub async fn claim(db: &Db, user: &str, key: MessageKey) -> Result<Claimed, sqlx::Error> {
    if let Some(found) = recorded(db, user, &key).await? {
        return Ok(found);
    }
    Ok(Claimed::New(Claim {
        user: user.to_owned(),
        key,
    }))
}

impl Claim {
    /// Records the message with the names its attachments got: from now on it is a duplicate
    /// for this account. A record another connection made meanwhile (the same message
    /// delivered twice at once) is kept, and this delivery is logged.
    ///
    /// # Errors
    /// The database's error; then nothing is recorded.
    pub async fn delivered(self, db: &Db, names: &[String]) -> Result<(), sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO mail_deliveries \
             (user_name, message_key, message_id, sender, sha256s, names, delivered_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&self.user)
        .bind(self.key.as_str())
        .bind(self.key.message_id.clone())
        .bind(self.key.sender.clone())
        .bind(serde_json::to_string(&self.key.sha256s).unwrap_or_default())
        .bind(serde_json::to_string(names).unwrap_or_default())
        .bind(now())
        .execute(db.pool())
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                tracing::warn!(
                    user = %self.user,
                    message_id = self.key.message_id.as_deref().unwrap_or(""),
                    files = %names.join(","),
                    "mail delivered twice at once: both deliveries stored"
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

async fn recorded(db: &Db, user: &str, key: &MessageKey) -> Result<Option<Claimed>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT names, delivered_at FROM mail_deliveries WHERE user_name = $1 AND message_key = $2",
    )
    .bind(user)
    .bind(key.as_str())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let names: String = row.try_get("names")?;
    Ok(Some(Claimed::Duplicate {
        names: serde_json::from_str(&names).unwrap_or_default(),
        delivered_at: row.try_get("delivered_at")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::attachments::Attachment;

    fn mail(id: Option<&str>, subject: &str, contents: &[&[u8]]) -> Mail {
        Mail {
            message_id: id.map(str::to_owned),
            subject: Some(subject.to_owned()),
            authentication_results: Vec::new(),
            attachments: contents
                .iter()
                .map(|bytes| Attachment {
                    name: "a.csv".into(),
                    bytes: bytes.to_vec(),
                    sha256: hex::encode(Sha256::digest(bytes)),
                })
                .collect(),
            references: Vec::new(),
            auto_submitted: None,
            precedence: None,
            list_header: false,
        }
    }

    #[test]
    fn the_key_is_the_message_id_and_the_attachments() {
        let a = MessageKey::of(&mail(Some("m1@x"), "s", &[b"1"]), "a@x");
        // Another sender or subject: the same message (the Message-ID says so).
        assert_eq!(
            a.as_str(),
            MessageKey::of(&mail(Some("m1@x"), "t", &[b"1"]), "b@y").as_str()
        );
        // Another attachment under the same Message-ID: another message.
        assert_ne!(
            a.as_str(),
            MessageKey::of(&mail(Some("m1@x"), "s", &[b"2"]), "a@x").as_str()
        );
        assert_ne!(
            a.as_str(),
            MessageKey::of(&mail(Some("m1@x"), "s", &[b"1", b"1"]), "a@x").as_str()
        );
    }

    #[test]
    fn without_message_id_the_sender_and_subject_count() {
        let key = |subject, sender| MessageKey::of(&mail(None, subject, &[b"1"]), sender);
        assert_eq!(key("s", "a@x").as_str(), key("s", "A@X").as_str());
        assert_ne!(key("s", "a@x").as_str(), key("t", "a@x").as_str());
        assert_ne!(key("s", "a@x").as_str(), key("s", "b@x").as_str());
        let with_id = MessageKey::of(&mail(Some("s"), "s", &[b"1"]), "a@x");
        assert_ne!(key("s", "a@x").as_str(), with_id.as_str());
    }
}
