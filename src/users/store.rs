//! The user store: partner accounts in the database, each with its home on disk, changed only
//! together; and the one login check every frontend calls.

use std::path::PathBuf;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::account::{
    check_customer, check_name, normalize_format, InboxFtpPlain, NewUser, Protocol, ProtocolSet,
    User, UserChanges, UserKey,
};
use super::keys::{KeyError, PublicKey};
use super::login_cache::LoginCache;
use super::login_recorder::LoginRecorder;
use super::password::{self, Password, PasswordError};
use super::senders::check_mail_sender;
use crate::clock::now;
use crate::db::Db;
use crate::home::{HomeTree, TreeError};

/// Why a change to the store was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The login name breaks the naming rule.
    #[error("invalid user name {0:?}: use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit")]
    InvalidName(String),
    /// The customer code breaks its rule.
    #[error("invalid customer code {0:?}: use 1 to 20 letters, digits, '.', '_' or '-'")]
    InvalidCustomer(String),
    /// An unknown protocol name.
    #[error("invalid protocol {0:?}: use ftp, ftps and/or sftp, separated by commas")]
    InvalidProtocol(String),
    /// An unknown format override.
    #[error("invalid format {0:?}: use one of csv, xml, xls, xlsx, ods, ttm")]
    InvalidFormat(String),
    /// An unknown plain-FTP inbox policy.
    #[error("invalid plain-FTP inbox policy {0:?}: use accept, require-rename or refuse")]
    InvalidInboxFtpPlain(String),
    /// A mail sender pattern that is neither an address nor `*@domain`.
    #[error("invalid mail sender {0:?}: use an address (orders@partner.example) or *@domain")]
    InvalidMailSender(String),
    /// The user lists that mail sender already.
    #[error("user {user:?} already accepts mail from {pattern}")]
    MailSenderExists {
        /// The user.
        user: String,
        /// The pattern.
        pattern: String,
    },
    /// The user does not list that mail sender.
    #[error("user {user:?} has no mail sender {pattern}")]
    MailSenderNotFound {
        /// The user.
        user: String,
        /// The pattern asked for.
        pattern: String,
    },
    /// An upload limit of zero.
    #[error("the upload limit must be at least 1 byte")]
    InvalidLimit,
    /// A user of that name exists.
    #[error("user {0:?} already exists")]
    Exists(String),
    /// No user of that name.
    #[error("no user named {0:?}")]
    NotFound(String),
    /// The new password is refused.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The SSH key is refused.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The user has that key already.
    #[error("user {user:?} already has the key {fingerprint}")]
    KeyExists {
        /// The user.
        user: String,
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// The user has no key with that fingerprint.
    #[error("user {user:?} has no key {fingerprint}")]
    KeyNotFound {
        /// The user.
        user: String,
        /// The fingerprint asked for.
        fingerprint: String,
    },
    /// The home could not be made or removed.
    #[error("home folder: {0}")]
    Home(#[from] TreeError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Why a login was refused, for the log only: clients are told nothing more than "refused".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No such user.
    UnknownUser,
    /// The account is disabled.
    Disabled,
    /// The password (or key) does not match.
    BadCredentials,
    /// The user may not use this protocol.
    ProtocolNotAllowed,
    /// The user must use TLS and the connection is not secured.
    TlsRequired,
}

impl Denial {
    /// A short reason for the log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown user",
            Self::Disabled => "account disabled",
            Self::BadCredentials => "wrong password or key",
            Self::ProtocolNotAllowed => "protocol not allowed",
            Self::TlsRequired => "TLS required",
        }
    }
}

/// A refused or failed login.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credentials or the account do not allow this login.
    #[error("login refused: {}", .0.as_str())]
    Denied(Denial),
    /// The store could not answer.
    #[error("user store unavailable: {0}")]
    Store(#[from] sqlx::Error),
}

const USER_COLUMNS: &str = "name, customer, enabled, protocols, require_tls, format, \
     max_upload_bytes, inbox_ftp_plain, created_at, updated_at, last_login_at, last_login_protocol";

/// Partner accounts, in the database and on disk.
#[derive(Debug, Clone)]
pub struct UserStore {
    db: Db,
    tree: HomeTree,
    recent_logins: LoginCache,
    logins: LoginRecorder,
}

impl UserStore {
    /// The store over `db`, with homes under `tree`.
    pub fn new(db: Db, tree: HomeTree) -> Self {
        Self {
            db,
            tree,
            recent_logins: LoginCache::default(),
            logins: LoginRecorder::new(),
        }
    }

    /// The homes folder.
    pub fn tree(&self) -> &HomeTree {
        &self.tree
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Makes a user and its home, both or neither.
    ///
    /// # Errors
    /// [`UserError`] for a refused value, an existing name, or a failing database or disk.
    pub async fn add(&self, new: NewUser) -> Result<User, UserError> {
        check_name(&new.name)?;
        check_customer(&new.customer)?;
        password::check_strength(&new.password)?;
        let format = new.format.as_deref().map(normalize_format).transpose()?;
        let max_upload = checked_limit(new.max_upload_bytes)?;
        let hash = password::hash(new.password).await?;
        let now = now();
        let mut tx = self.db.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (name, password_hash, customer, enabled, protocols, require_tls, \
             format, max_upload_bytes, inbox_ftp_plain, created_at, updated_at) \
             VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&new.name)
        .bind(&hash)
        .bind(&new.customer)
        .bind(new.protocols.to_string())
        .bind(i64::from(new.require_tls))
        .bind(format.clone())
        .bind(max_upload)
        .bind(new.inbox_ftp_plain.map(InboxFtpPlain::as_str))
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            return Err(if is_unique_violation(&e) {
                UserError::Exists(new.name)
            } else {
                UserError::Db(e)
            });
        }
        let fresh = self.tree.create(&new.name)?;
        if let Err(e) = tx.commit().await {
            if fresh {
                self.tree.undo_create(&new.name);
            }
            return Err(e.into());
        }
        self.get(&new.name)
            .await?
            .ok_or_else(|| UserError::NotFound(new.name.clone()))
    }

    /// The user named `name`, if any.
    ///
    /// # Errors
    /// [`UserError::Db`].
    pub async fn get(&self, name: &str) -> Result<Option<User>, UserError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?;
        match row {
            Some(row) => {
                let mut user = user_from_row(&row)?;
                user.keys = self.keys_of(name).await?;
                user.mail_senders = self.mail_senders_of(name).await?;
                Ok(Some(user))
            }
            None => Ok(None),
        }
    }

    /// The user named `name`.
    ///
    /// # Errors
    /// [`UserError::NotFound`] when there is none.
    pub async fn require(&self, name: &str) -> Result<User, UserError> {
        self.get(name)
            .await?
            .ok_or_else(|| UserError::NotFound(name.to_string()))
    }

    /// Every user, by name.
    ///
    /// # Errors
    /// [`UserError::Db`].
    pub async fn list(&self) -> Result<Vec<User>, UserError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .fetch_all(self.db.pool())
            .await?;
        let mut users = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut user = user_from_row(row)?;
            user.keys = self.keys_of(&user.name).await?;
            user.mail_senders = self.mail_senders_of(&user.name).await?;
            users.push(user);
        }
        Ok(users)
    }

    /// Sets a new password.
    ///
    /// # Errors
    /// [`UserError::NotFound`], [`UserError::Password`] or [`UserError::Db`].
    pub async fn set_password(&self, name: &str, new: Password) -> Result<(), UserError> {
        password::check_strength(&new)?;
        let hash = password::hash(new).await?;
        self.recent_logins.forget(name);
        self.update_one(
            name,
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE name = $3")
                .bind(hash)
                .bind(now())
                .bind(name),
        )
        .await
    }

    /// Enables or disables a user.
    ///
    /// # Errors
    /// [`UserError::NotFound`] or [`UserError::Db`].
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), UserError> {
        self.update_one(
            name,
            sqlx::query("UPDATE users SET enabled = $1, updated_at = $2 WHERE name = $3")
                .bind(i64::from(enabled))
                .bind(now())
                .bind(name),
        )
        .await
    }

    /// Changes a user's settings.
    ///
    /// # Errors
    /// [`UserError`] for a refused value, an unknown user or a failing database.
    pub async fn update(&self, name: &str, changes: UserChanges) -> Result<User, UserError> {
        let current = self.require(name).await?;
        let customer = changes.customer.unwrap_or(current.customer);
        check_customer(&customer)?;
        let protocols = changes.protocols.unwrap_or(current.protocols);
        let format = match changes.format {
            Some(Some(f)) => Some(normalize_format(&f)?),
            Some(None) => None,
            None => current.format,
        };
        let max_upload = match changes.max_upload_bytes {
            Some(limit) => checked_limit(limit)?,
            None => checked_limit(current.max_upload_bytes)?,
        };
        let require_tls = changes.require_tls.unwrap_or(current.require_tls);
        let inbox_ftp_plain = changes.inbox_ftp_plain.unwrap_or(current.inbox_ftp_plain);
        let enabled = changes.enabled.unwrap_or(current.enabled);
        let mail_senders: Option<Vec<String>> = changes
            .mail_senders
            .map(|list| list.iter().map(|p| check_mail_sender(p)).collect())
            .transpose()?;
        let mut tx = self.db.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE users SET customer = $1, protocols = $2, require_tls = $3, format = $4, \
                 max_upload_bytes = $5, inbox_ftp_plain = $6, enabled = $7, updated_at = $8 \
                 WHERE name = $9",
        )
        .bind(customer)
        .bind(protocols.to_string())
        .bind(i64::from(require_tls))
        .bind(format)
        .bind(max_upload)
        .bind(inbox_ftp_plain.map(InboxFtpPlain::as_str))
        .bind(i64::from(enabled))
        .bind(now())
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(UserError::NotFound(name.to_string()));
        }
        if let Some(patterns) = mail_senders {
            sqlx::query("DELETE FROM user_mail_senders WHERE user_name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            let at = now();
            for pattern in patterns.iter().collect::<std::collections::BTreeSet<_>>() {
                sqlx::query(
                    "INSERT INTO user_mail_senders (user_name, pattern, added_at) VALUES ($1, $2, $3)",
                )
                .bind(name)
                .bind(pattern)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        self.require(name).await
    }

    /// Removes a user and, unless `keep_files`, its home with everything in it. The row and the
    /// home go together: if the database step fails the home is put back.
    ///
    /// # Errors
    /// [`UserError::NotFound`], [`UserError::Home`] or [`UserError::Db`].
    pub async fn remove(&self, name: &str, keep_files: bool) -> Result<(), UserError> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("DELETE FROM user_keys WHERE user_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM user_mail_senders WHERE user_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        // Published files still waiting for this user are no longer anyone's: a new user of the
        // same name starts with a clean outgoing list.
        sqlx::query(
            "UPDATE outbox_files SET moved_to = 'deleted', moved_at = $1, closed_at = $1 \
             WHERE user_name = $2 AND closed_at IS NULL",
        )
        .bind(now())
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if deleted.rows_affected() == 0 {
            return Err(UserError::NotFound(name.to_string()));
        }
        let aside: Option<PathBuf> = if keep_files {
            None
        } else {
            self.tree.detach(name)?
        };
        if let Err(e) = tx.commit().await {
            if let Some(aside) = &aside {
                self.tree.reattach(name, aside)?;
            }
            return Err(e.into());
        }
        if let Some(aside) = aside {
            self.tree.purge(&aside)?;
        }
        Ok(())
    }

    /// Adds an SSH public key to a user; returns its fingerprint.
    ///
    /// # Errors
    /// [`UserError::NotFound`], [`UserError::KeyExists`] or [`UserError::Db`].
    pub async fn add_key(&self, name: &str, key: &PublicKey) -> Result<String, UserError> {
        self.require(name).await?;
        let fingerprint = key.fingerprint();
        let inserted = sqlx::query(
            "INSERT INTO user_keys (user_name, fingerprint, public_key, added_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(&fingerprint)
        .bind(key.to_openssh())
        .bind(now())
        .execute(self.db.pool())
        .await;
        match inserted {
            Ok(_) => Ok(fingerprint),
            Err(e) if is_unique_violation(&e) => Err(UserError::KeyExists {
                user: name.to_string(),
                fingerprint,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the key with `fingerprint` (`SHA256:...`, as listed) from a user.
    ///
    /// # Errors
    /// [`UserError::NotFound`], [`UserError::KeyNotFound`] or [`UserError::Db`].
    pub async fn remove_key(&self, name: &str, fingerprint: &str) -> Result<(), UserError> {
        self.require(name).await?;
        let deleted =
            sqlx::query("DELETE FROM user_keys WHERE user_name = $1 AND fingerprint = $2")
                .bind(name)
                .bind(fingerprint.trim())
                .execute(self.db.pool())
                .await?;
        if deleted.rows_affected() == 0 {
            return Err(UserError::KeyNotFound {
                user: name.to_string(),
                fingerprint: fingerprint.trim().chars().take(60).collect(),
            });
        }
        Ok(())
    }

    /// Lets `name` receive mail from `pattern` (an address or `*@domain`); returns the pattern
    /// as stored (lower-case).
    ///
    /// # Errors
    /// [`UserError::NotFound`], [`UserError::InvalidMailSender`],
    /// [`UserError::MailSenderExists`] or [`UserError::Db`].
    pub async fn add_mail_sender(&self, name: &str, pattern: &str) -> Result<String, UserError> {
        let pattern = check_mail_sender(pattern)?;
        self.require(name).await?;
        let inserted = sqlx::query(
            "INSERT INTO user_mail_senders (user_name, pattern, added_at) VALUES ($1, $2, $3)",
        )
        .bind(name)
        .bind(&pattern)
        .bind(now())
        .execute(self.db.pool())
        .await;
        match inserted {
            Ok(_) => Ok(pattern),
            Err(e) if is_unique_violation(&e) => Err(UserError::MailSenderExists {
                user: name.to_string(),
                pattern,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops `name` receiving mail from `pattern` (compared without regard to case).
    ///
    /// # Errors
    /// [`UserError::NotFound`], [`UserError::MailSenderNotFound`] or [`UserError::Db`].
    pub async fn remove_mail_sender(&self, name: &str, pattern: &str) -> Result<(), UserError> {
        self.require(name).await?;
        let pattern = pattern.trim().to_ascii_lowercase();
        let deleted =
            sqlx::query("DELETE FROM user_mail_senders WHERE user_name = $1 AND pattern = $2")
                .bind(name)
                .bind(&pattern)
                .execute(self.db.pool())
                .await?;
        if deleted.rows_affected() == 0 {
            return Err(UserError::MailSenderNotFound {
                user: name.to_string(),
                pattern: pattern.chars().take(60).collect(),
            });
        }
        Ok(())
    }

    /// Checks a password login over `protocol` (`secured`: the control channel runs over TLS).
    /// Every refusal costs one password hash, so timing tells nothing about which names exist.
    ///
    /// # Errors
    /// [`AuthError::Denied`] with the reason (for the log), or [`AuthError::Store`].
    pub async fn authenticate(
        &self,
        name: &str,
        offered: Password,
        protocol: Protocol,
    ) -> Result<User, AuthError> {
        let row = if check_name(name).is_ok() {
            sqlx::query(&format!(
                "SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = $1"
            ))
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?
        } else {
            None
        };
        let Some(row) = row else {
            password::verify(offered, None).await;
            return Err(AuthError::Denied(Denial::UnknownUser));
        };
        let user = user_from_row(&row).map_err(|_| AuthError::Denied(Denial::UnknownUser))?;
        let hash: String = row.try_get("password_hash")?;
        if !self.recent_logins.recalls(name, &hash, &offered) {
            if !password::verify(offered.clone(), Some(hash.clone())).await {
                return Err(AuthError::Denied(Denial::BadCredentials));
            }
            self.recent_logins.remember(name, &hash, &offered);
        }
        check_access(&user, protocol)?;
        self.touch_login(name, protocol);
        Ok(user)
    }

    /// Checks a public-key login (SFTP): the key, in SSH wire format, must be one of the user's.
    ///
    /// # Errors
    /// [`AuthError::Denied`] or [`AuthError::Store`].
    pub async fn authenticate_key(&self, name: &str, key_blob: &[u8]) -> Result<User, AuthError> {
        let user = match self.get(name).await {
            Ok(Some(user)) => user,
            Ok(None) | Err(UserError::InvalidName(_)) => {
                return Err(AuthError::Denied(Denial::UnknownUser))
            }
            Err(UserError::Db(e)) => return Err(AuthError::Store(e)),
            Err(_) => return Err(AuthError::Denied(Denial::UnknownUser)),
        };
        let fingerprint = super::keys::fingerprint_of_blob(key_blob);
        if !user.keys.iter().any(|k| k.fingerprint == fingerprint) {
            return Err(AuthError::Denied(Denial::BadCredentials));
        }
        check_access(&user, Protocol::Sftp)?;
        self.touch_login(name, Protocol::Sftp);
        Ok(user)
    }

    /// Waits until the logins recorded so far are written; the server calls it at shutdown,
    /// before the database closes.
    pub async fn flush_logins(&self) {
        self.logins.flush().await;
    }

    /// Records the login in the background: a login never waits for the database's writer
    /// (a big import's transaction) and still succeeds when the write fails (a full disk).
    fn touch_login(&self, name: &str, protocol: Protocol) {
        self.logins.record(&self.db, name, protocol, now());
    }

    async fn keys_of(&self, name: &str) -> Result<Vec<UserKey>, UserError> {
        let rows = sqlx::query(
            "SELECT fingerprint, public_key FROM user_keys WHERE user_name = $1 ORDER BY added_at, fingerprint",
        )
        .bind(name)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UserKey {
                    fingerprint: row.try_get("fingerprint")?,
                    public_key: row.try_get("public_key")?,
                })
            })
            .collect()
    }

    async fn mail_senders_of(&self, name: &str) -> Result<Vec<String>, UserError> {
        let rows = sqlx::query(
            "SELECT pattern FROM user_mail_senders WHERE user_name = $1 ORDER BY pattern",
        )
        .bind(name)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get("pattern"))
            .collect::<Result<_, _>>()?)
    }

    async fn update_one<'q>(
        &self,
        name: &str,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<(), UserError> {
        let done = query.execute(self.db.pool()).await?;
        if done.rows_affected() == 0 {
            return Err(UserError::NotFound(name.to_string()));
        }
        Ok(())
    }
}

/// The account-level checks after the credentials matched.
fn check_access(user: &User, protocol: Protocol) -> Result<(), AuthError> {
    if !user.enabled {
        return Err(AuthError::Denied(Denial::Disabled));
    }
    if !user.protocols.allows(protocol) {
        return Err(AuthError::Denied(Denial::ProtocolNotAllowed));
    }
    if user.require_tls && protocol == Protocol::Ftp {
        return Err(AuthError::Denied(Denial::TlsRequired));
    }
    Ok(())
}

fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    let protocols: String = row.try_get("protocols")?;
    let max_upload: Option<i64> = row.try_get("max_upload_bytes")?;
    let inbox_ftp_plain: Option<String> = row.try_get("inbox_ftp_plain")?;
    Ok(User {
        name: row.try_get("name")?,
        customer: row.try_get("customer")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        protocols: ProtocolSet::parse(&protocols).map_err(|e| sqlx::Error::Decode(e.into()))?,
        require_tls: row.try_get::<i64, _>("require_tls")? != 0,
        format: row.try_get("format")?,
        max_upload_bytes: max_upload.and_then(|v| u64::try_from(v).ok()),
        inbox_ftp_plain: inbox_ftp_plain
            .map(|text| text.parse::<InboxFtpPlain>())
            .transpose()
            .map_err(|e| sqlx::Error::Decode(e.into()))?,
        keys: Vec::new(),
        mail_senders: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_login_at: row.try_get("last_login_at")?,
        last_login_protocol: row.try_get("last_login_protocol")?,
    })
}

fn checked_limit(limit: Option<u64>) -> Result<Option<i64>, UserError> {
    match limit {
        None => Ok(None),
        Some(0) => Err(UserError::InvalidLimit),
        Some(bytes) => Ok(Some(i64::try_from(bytes).unwrap_or(i64::MAX))),
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
