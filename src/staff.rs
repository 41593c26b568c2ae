//! Staff accounts of the backoffice: admins with argon2id passwords, their browser sessions and
//! their API tokens. Session cookies and tokens are random values shown once; only their SHA-256
//! is stored, so a database dump lets nobody in. This module knows accounts, not HTTP.

use std::fmt;

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::clock::now;
use crate::db::Db;
use crate::users::password::{self, Password, PasswordError};
use crate::users::{check_name, AuthError, Denial};

/// How long a browser session lasts from login.
pub const SESSION_SECONDS: i64 = 12 * 3600;

/// Why a staff account change or login failed.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// The name breaks the naming rule.
    #[error("invalid admin name {0:?}: use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit")]
    InvalidName(String),
    /// An admin of that name exists.
    #[error("admin {0:?} already exists")]
    Exists(String),
    /// No admin of that name.
    #[error("no admin named {0:?}")]
    NotFound(String),
    /// The password is refused.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// A random credential handed to a browser or a script once; no `Debug` shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    fn generate(prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(format!(
            "{prefix}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Wraps a value a client sent.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The value, to put in a cookie or print once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(***)")
    }
}

/// A staff account as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Admin {
    /// Login name.
    pub name: String,
    /// Made, Unix seconds.
    pub created_at: i64,
    /// Last login on the page, Unix seconds.
    pub last_login_at: Option<i64>,
}

/// A signed-in browser session.
#[derive(Clone)]
pub struct StaffSession {
    /// The admin it belongs to.
    pub admin: String,
    /// The token the page must send back on every change (`X-CSRF-Token`).
    pub csrf: String,
}

impl fmt::Debug for StaffSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffSession")
            .field("admin", &self.admin)
            .field("csrf", &"***")
            .finish()
    }
}

/// The staff accounts in the database.
#[derive(Debug, Clone)]
pub struct Staff {
    db: Db,
}

impl Staff {
    /// The staff accounts over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Adds an admin.
    ///
    /// # Errors
    /// [`StaffError`] for a bad name or password, an existing name or a failing database.
    pub async fn add(&self, name: &str, password: Password) -> Result<Admin, StaffError> {
        check_name(name).map_err(|_| StaffError::InvalidName(name.chars().take(40).collect()))?;
        password::check_strength(&password)?;
        let hash = password::hash(password).await?;
        let now = now();
        let inserted =
            sqlx::query("INSERT INTO admins (name, password_hash, created_at) VALUES ($1, $2, $3)")
                .bind(name)
                .bind(hash)
                .bind(now)
                .execute(self.db.pool())
                .await;
        match inserted {
            Ok(_) => Ok(Admin {
                name: name.to_owned(),
                created_at: now,
                last_login_at: None,
            }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StaffError::Exists(name.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every admin, by name.
    ///
    /// # Errors
    /// [`StaffError::Db`].
    pub async fn list(&self) -> Result<Vec<Admin>, StaffError> {
        let rows = sqlx::query("SELECT name, created_at, last_login_at FROM admins ORDER BY name")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Admin {
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                    last_login_at: row.try_get("last_login_at")?,
                })
            })
            .collect()
    }

    /// Sets an admin's password and ends its browser sessions.
    ///
    /// # Errors
    /// [`StaffError`] for a refused password, an unknown admin or a failing database.
    pub async fn set_password(&self, name: &str, new: Password) -> Result<(), StaffError> {
        password::check_strength(&new)?;
        let hash = password::hash(new).await?;
        let updated = sqlx::query("UPDATE admins SET password_hash = $1 WHERE name = $2")
            .bind(hash)
            .bind(name)
            .execute(self.db.pool())
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StaffError::NotFound(name.to_owned()));
        }
        sqlx::query("DELETE FROM admin_sessions WHERE admin_name = $1")
            .bind(name)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Removes an admin with its sessions and tokens.
    ///
    /// # Errors
    /// [`StaffError::NotFound`] or [`StaffError::Db`].
    pub async fn remove(&self, name: &str) -> Result<(), StaffError> {
        let mut tx = self.db.pool().begin().await?;
        for table in ["admin_sessions", "admin_tokens"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE admin_name = $1"))
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        let deleted = sqlx::query("DELETE FROM admins WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StaffError::NotFound(name.to_owned()));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Checks an admin's password; the same work is done for an unknown name. This is the
    /// credential step of staff sign-in, which runs it through the gate's login sequence.
    ///
    /// # Errors
    /// [`AuthError::Denied`] for a wrong name or password, [`AuthError::Store`] when the
    /// database fails.
    pub async fn authenticate(&self, name: &str, offered: Password) -> Result<(), AuthError> {
        let stored: Option<String> = if check_name(name).is_ok() {
            sqlx::query("SELECT password_hash FROM admins WHERE name = $1")
                .bind(name)
                .fetch_optional(self.db.pool())
                .await?
                .map(|row| row.try_get("password_hash"))
                .transpose()?
        } else {
            None
        };
        let known = stored.is_some();
        match (password::verify(offered, stored).await, known) {
            (true, true) => Ok(()),
            (_, false) => Err(AuthError::Denied(Denial::UnknownUser)),
            (false, true) => Err(AuthError::Denied(Denial::BadCredentials)),
        }
    }

    /// Opens a browser session for `name` (after a good password): the cookie value and the
    /// session with its CSRF token.
    ///
    /// # Errors
    /// [`StaffError::Db`].
    pub async fn open_session(&self, name: &str) -> Result<(Credential, StaffSession), StaffError> {
        let cookie = Credential::generate("");
        let csrf = Credential::generate("").0;
        let now = now();
        sqlx::query("DELETE FROM admin_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        sqlx::query(
            "INSERT INTO admin_sessions (id_hash, admin_name, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(cookie.digest())
        .bind(name)
        .bind(&csrf)
        .bind(now)
        .bind(now + SESSION_SECONDS)
        .execute(self.db.pool())
        .await?;
        sqlx::query("UPDATE admins SET last_login_at = $1 WHERE name = $2")
            .bind(now)
            .bind(name)
            .execute(self.db.pool())
            .await?;
        Ok((
            cookie,
            StaffSession {
                admin: name.to_owned(),
                csrf,
            },
        ))
    }

    /// The live session a cookie value belongs to, if any.
    ///
    /// # Errors
    /// [`StaffError::Db`].
    pub async fn session(&self, cookie: &Credential) -> Result<Option<StaffSession>, StaffError> {
        let row = sqlx::query(
            "SELECT admin_name, csrf_token FROM admin_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(cookie.digest())
        .bind(now())
        .fetch_optional(self.db.pool())
        .await?;
        Ok(match row {
            Some(row) => Some(StaffSession {
                admin: row.try_get("admin_name")?,
                csrf: row.try_get("csrf_token")?,
            }),
            None => None,
        })
    }

    /// Ends a browser session.
    ///
    /// # Errors
    /// [`StaffError::Db`].
    pub async fn close_session(&self, cookie: &Credential) -> Result<(), StaffError> {
        sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1")
            .bind(cookie.digest())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Issues a bearer token for scripts acting as `name` (`metrics_only`: it may only read
    /// `/metrics`); shown once.
    ///
    /// # Errors
    /// [`StaffError::NotFound`] or [`StaffError::Db`].
    pub async fn issue_token(
        &self,
        name: &str,
        label: Option<&str>,
        metrics_only: bool,
    ) -> Result<Credential, StaffError> {
        let known = sqlx::query("SELECT name FROM admins WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?;
        if known.is_none() {
            return Err(StaffError::NotFound(name.to_owned()));
        }
        let token = Credential::generate("fdt_");
        sqlx::query(
            "INSERT INTO admin_tokens (token_hash, admin_name, scope, label, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token.digest())
        .bind(name)
        .bind(if metrics_only { "metrics" } else { "admin" })
        .bind(label)
        .bind(now())
        .execute(self.db.pool())
        .await?;
        Ok(token)
    }

    /// The admin a bearer token belongs to and whether it is limited to `/metrics`, if the
    /// token is known. Its last use is recorded at most once a minute.
    ///
    /// # Errors
    /// [`StaffError::Db`].
    pub async fn token_owner(
        &self,
        token: &Credential,
    ) -> Result<Option<(String, bool)>, StaffError> {
        let digest = token.digest();
        let row = sqlx::query("SELECT admin_name, scope FROM admin_tokens WHERE token_hash = $1")
            .bind(&digest)
            .fetch_optional(self.db.pool())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let now = now();
        sqlx::query(
            "UPDATE admin_tokens SET last_used_at = $1 WHERE token_hash = $2 \
             AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(&digest)
        .bind(now - 60)
        .execute(self.db.pool())
        .await?;
        let scope: String = row.try_get("scope")?;
        Ok(Some((row.try_get("admin_name")?, scope == "metrics")))
    }

    /// The tokens of every admin (never the tokens themselves: an id, the first 12 hex digits
    /// of the token's hash).
    ///
    /// # Errors
    /// [`StaffError::Db`].
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, StaffError> {
        let rows = sqlx::query(
            "SELECT token_hash, admin_name, scope, label, created_at, last_used_at \
             FROM admin_tokens ORDER BY admin_name, created_at",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let hash: String = row.try_get("token_hash")?;
                Ok(TokenInfo {
                    id: hash.chars().take(TOKEN_ID_LEN).collect(),
                    admin: row.try_get("admin_name")?,
                    scope: row.try_get("scope")?,
                    label: row.try_get("label")?,
                    created_at: row.try_get("created_at")?,
                    last_used_at: row.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    /// Revokes the token with `id` (from [`Staff::tokens`]).
    ///
    /// # Errors
    /// [`StaffError::NotFound`] for an unknown id, or [`StaffError::Db`].
    pub async fn revoke_token(&self, id: &str) -> Result<(), StaffError> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() != TOKEN_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StaffError::NotFound(id));
        }
        let deleted = sqlx::query("DELETE FROM admin_tokens WHERE token_hash LIKE $1")
            .bind(format!("{id}%"))
            .execute(self.db.pool())
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StaffError::NotFound(id));
        }
        Ok(())
    }
}

/// Hex digits of a token's hash that name it in lists.
const TOKEN_ID_LEN: usize = 12;

/// A bearer token as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    /// The first 12 hex digits of the token's SHA-256.
    pub id: String,
    /// The admin it acts as.
    pub admin: String,
    /// `admin` or `metrics`.
    pub scope: String,
    /// The note given when it was issued.
    pub label: Option<String>,
    /// Issued, Unix seconds.
    pub created_at: i64,
    /// Last used (to the minute), Unix seconds.
    pub last_used_at: Option<i64>,
}
