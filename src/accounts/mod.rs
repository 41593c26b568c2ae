//! Changing partner accounts: the one service the backoffice and the command line call to add,
//! change, disable, remove, re-password and re-key a user and list who may mail it. Each change is made in the user store
//! and then ends the open sessions it makes wrong: on this node at once, and on every other
//! node and server process through the change feed in the database (`feed.rs`). It knows the
//! store and the gate's session limits, not HTTP, the shell or any protocol.

mod feed;

use std::sync::Arc;

use rand::RngCore;

use crate::gate::{Ending, SessionLimits};
use crate::users::{NewUser, Password, PublicKey, User, UserChanges, UserError, UserStore};

pub use feed::{start_change_feed, FeedError};

/// The account service over the user store.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: UserStore,
    // None in a process that holds no sessions (the command line): its changes reach the
    // servers through the feed only.
    sessions: Option<SessionLimits>,
    // Invariant: random per service, so this node can tell its own rows in the feed.
    origin: Arc<str>,
}

impl Accounts {
    /// The service of a server node, which ends its own sessions in `sessions` at once.
    pub fn new(store: UserStore, sessions: SessionLimits) -> Self {
        Self {
            store,
            sessions: Some(sessions),
            origin: new_origin(),
        }
    }

    /// The service of a process that runs no sessions (the command line): its changes end
    /// sessions only through the servers reading the feed.
    pub fn without_sessions(store: UserStore) -> Self {
        Self {
            store,
            sessions: None,
            origin: new_origin(),
        }
    }

    /// The user store, for reading.
    pub fn store(&self) -> &UserStore {
        &self.store
    }

    /// Makes a user and its home (nothing is open for a new user, so nothing ends).
    ///
    /// # Errors
    /// As [`UserStore::add`].
    pub async fn add(&self, new: NewUser) -> Result<User, UserError> {
        self.store.add(new).await
    }

    /// Enables or disables a user; disabling ends every session of the user.
    ///
    /// # Errors
    /// As [`UserStore::set_enabled`], or [`UserError::Db`] when the change could not be
    /// announced to the other nodes (the change stands).
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<User, UserError> {
        self.store.set_enabled(name, enabled).await?;
        if !enabled {
            self.end(name, &[Ending::All]).await?;
        }
        self.store.require(name).await
    }

    /// Changes a user's settings, ending the sessions the new settings no longer allow: all of
    /// them when the account is disabled, a removed protocol's, plain FTP's when TLS becomes
    /// required or the plain-FTP inbox policy changes (a session keeps the policy of its login).
    ///
    /// # Errors
    /// As [`UserStore::update`], or [`UserError::Db`] when the change could not be announced.
    pub async fn update(&self, name: &str, changes: UserChanges) -> Result<User, UserError> {
        let before = self.store.require(name).await?;
        let after = self.store.update(name, changes).await?;
        self.end(name, &endings_of_update(&before, &after)).await?;
        Ok(after)
    }

    /// Removes a user (and, unless `keep_files`, its home), ending every session of the user.
    ///
    /// # Errors
    /// As [`UserStore::remove`], or [`UserError::Db`] when the change could not be announced.
    pub async fn remove(&self, name: &str, keep_files: bool) -> Result<(), UserError> {
        self.store.remove(name, keep_files).await?;
        self.end(name, &[Ending::All]).await
    }

    /// Sets a new password, ending every session of the user.
    ///
    /// # Errors
    /// As [`UserStore::set_password`], or [`UserError::Db`] when the change could not be
    /// announced.
    pub async fn set_password(&self, name: &str, new: Password) -> Result<(), UserError> {
        self.store.set_password(name, new).await?;
        self.end(name, &[Ending::All]).await
    }

    /// Adds an SSH public key; returns its fingerprint.
    ///
    /// # Errors
    /// As [`UserStore::add_key`].
    pub async fn add_key(&self, name: &str, key: &PublicKey) -> Result<String, UserError> {
        self.store.add_key(name, key).await
    }

    /// Removes the key with `fingerprint`, ending the SFTP sessions that logged in with it.
    ///
    /// # Errors
    /// As [`UserStore::remove_key`], or [`UserError::Db`] when the change could not be
    /// announced.
    pub async fn remove_key(&self, name: &str, fingerprint: &str) -> Result<(), UserError> {
        self.store.remove_key(name, fingerprint).await?;
        self.end(name, &[Ending::Key(fingerprint.trim().to_owned())])
            .await
    }

    /// Lets `name` receive mail from `pattern`; returns the pattern as stored. Nothing ends: mail
    /// checks the list at each recipient.
    ///
    /// # Errors
    /// As [`UserStore::add_mail_sender`].
    pub async fn add_mail_sender(&self, name: &str, pattern: &str) -> Result<String, UserError> {
        self.store.add_mail_sender(name, pattern).await
    }

    /// Stops `name` receiving mail from `pattern`; the next recipient of a message from it is
    /// refused.
    ///
    /// # Errors
    /// As [`UserStore::remove_mail_sender`].
    pub async fn remove_mail_sender(&self, name: &str, pattern: &str) -> Result<(), UserError> {
        self.store.remove_mail_sender(name, pattern).await
    }

    /// Ends the matching sessions on this node, then tells the other nodes.
    async fn end(&self, name: &str, endings: &[Ending]) -> Result<(), UserError> {
        if endings.is_empty() {
            return Ok(());
        }
        if let Some(sessions) = &self.sessions {
            for ending in endings {
                let ended = sessions.end(name, ending);
                if ended > 0 {
                    tracing::info!(
                        user = name,
                        ending = %feed::describe(ending),
                        sessions = ended,
                        "open sessions closed"
                    );
                }
            }
        }
        feed::announce(self.store.db(), &self.origin, name, endings).await?;
        Ok(())
    }

    /// Ends the sessions a change made elsewhere asks for; the node's own changes were ended
    /// when they were made.
    fn apply(&self, change: &feed::Change) {
        if *change.origin == *self.origin {
            return;
        }
        let Some(sessions) = &self.sessions else {
            return;
        };
        let ended = sessions.end(&change.user, &change.ending);
        if ended > 0 {
            tracing::info!(
                user = %change.user,
                ending = %feed::describe(&change.ending),
                sessions = ended,
                "open sessions closed: the account was changed by another process"
            );
        }
    }
}

fn new_origin() -> Arc<str> {
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    Arc::from(hex::encode(bytes))
}

/// The sessions a settings change ends, from the account before and after it.
fn endings_of_update(before: &User, after: &User) -> Vec<Ending> {
    if !after.enabled {
        return vec![Ending::All];
    }
    let mut endings: Vec<Ending> = before
        .protocols
        .iter()
        .filter(|p| !after.protocols.allows(*p))
        .map(Ending::Protocol)
        .collect();
    let ftp = Ending::Protocol(crate::users::Protocol::Ftp);
    let tightened = after.require_tls && !before.require_tls;
    if (tightened || after.inbox_ftp_plain != before.inbox_ftp_plain) && !endings.contains(&ftp) {
        endings.push(ftp);
    }
    endings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::{Protocol, ProtocolSet};

    fn user(protocols: &str, require_tls: bool, enabled: bool) -> User {
        User {
            name: "acme".into(),
            customer: "1234".into(),
            enabled,
            protocols: ProtocolSet::parse(protocols).expect("protocols"),
            require_tls,
            format: None,
            max_upload_bytes: None,
            inbox_ftp_plain: None,
            keys: Vec::new(),
            mail_senders: Vec::new(),
            created_at: 0,
            updated_at: 0,
            last_login_at: None,
            last_login_protocol: None,
        }
    }

    #[test]
    fn a_disabled_account_ends_everything() {
        let before = user("ftp,ftps,sftp", false, true);
        let after = user("ftps", true, false);
        assert_eq!(endings_of_update(&before, &after), vec![Ending::All]);
    }

    #[test]
    fn a_removed_protocol_ends_its_sessions_only() {
        let before = user("ftp,ftps,sftp", false, true);
        let after = user("ftp,ftps", false, true);
        assert_eq!(
            endings_of_update(&before, &after),
            vec![Ending::Protocol(Protocol::Sftp)]
        );
        let after = user("sftp", false, true);
        assert_eq!(
            endings_of_update(&before, &after),
            vec![
                Ending::Protocol(Protocol::Ftp),
                Ending::Protocol(Protocol::Ftps)
            ]
        );
    }

    #[test]
    fn requiring_tls_ends_plain_ftp_once() {
        let before = user("ftp,ftps,sftp", false, true);
        let after = user("ftp,ftps,sftp", true, true);
        assert_eq!(
            endings_of_update(&before, &after),
            vec![Ending::Protocol(Protocol::Ftp)]
        );
        // Removing ftp and requiring TLS at once ends plain FTP once.
        let after = user("ftps,sftp", true, true);
        assert_eq!(
            endings_of_update(&before, &after),
            vec![Ending::Protocol(Protocol::Ftp)]
        );
        // Already required: nothing more ends.
        let before = user("ftp,ftps,sftp", true, true);
        let after = user("ftp,ftps,sftp", true, true);
        assert_eq!(endings_of_update(&before, &after), vec![]);
    }

    #[test]
    fn other_changes_end_nothing() {
        let before = user("ftp,sftp", false, true);
        let mut after = user("ftp,ftps,sftp", false, true);
        after.customer = "9999".into();
        after.format = Some("csv".into());
        after.max_upload_bytes = Some(10);
        assert_eq!(endings_of_update(&before, &after), vec![]);
        // Lifting the TLS requirement ends nothing either.
        let before = user("ftp,sftp", true, true);
        assert_eq!(endings_of_update(&before, &after), vec![]);
    }
}
