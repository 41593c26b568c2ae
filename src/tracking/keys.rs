//! The track & trace API users in the `api_keys` table: add (with a new secret, sealed), list,
//! remove, disable and enable, and the sealed secrets of the enabled ones for the signature
//! check. Names follow the partner user rule, customers the customer code rule. It never holds
//! a plaintext secret longer than it takes to seal it, and knows nothing of HTTP.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::secrets::{SealError, SealingKey, Secret};
use crate::clock::now;
use crate::db::Db;
use crate::users::{check_customer, check_name};

/// How stale `last_used_at` may get before a use writes it again, in seconds.
const TOUCH_EVERY_SECS: i64 = 60;

/// Why an API user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    /// The name breaks the naming rule.
    #[error(
        "invalid API user name {0:?}: use 1 to 32 letters, digits, '.', '_' or '-', starting \
         with a letter or digit"
    )]
    InvalidName(String),
    /// The customer code breaks its rule.
    #[error("invalid customer code {0:?}: use 1 to 20 letters, digits, '.', '_' or '-'")]
    InvalidCustomer(String),
    /// An API user of that name exists.
    #[error("API user {0:?} already exists")]
    Exists(String),
    /// No API user of that name.
    #[error("no API user named {0:?}")]
    NotFound(String),
    /// The new secret could not be sealed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The database failed.
    #[error("the API user store failed: {0}")]
    Db(#[from] sqlx::Error),
}

/// An API user as listed: never its secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    /// The API user's name.
    pub name: String,
    /// The customer whose shipments it may see.
    pub customer: String,
    /// Whether its signatures are accepted.
    pub enabled: bool,
    /// Made, Unix seconds.
    pub created_at: i64,
    /// Last accepted signature, Unix seconds.
    pub last_used_at: Option<i64>,
}

/// An enabled API user with its secret still sealed, for the signature check.
#[derive(Debug, Clone)]
pub struct SealedKey {
    /// The API user's name (the associated data of the seal).
    pub name: String,
    /// Its customer.
    pub customer: String,
    /// base64(nonce || ciphertext).
    pub sealed: String,
}

/// The API users in the database.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    db: Db,
}

impl ApiKeys {
    /// The API users in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Adds the API user `name` for `customer` with a new secret sealed under `key`; returns the
    /// user and the secret, which is never readable again except by the server.
    ///
    /// # Errors
    /// [`ApiKeyError`] for a bad name or customer, a taken name or a failing database.
    pub async fn add(
        &self,
        key: &SealingKey,
        name: &str,
        customer: &str,
    ) -> Result<(ApiKey, Secret), ApiKeyError> {
        check_name(name).map_err(|_| ApiKeyError::InvalidName(clip(name)))?;
        check_customer(customer).map_err(|_| ApiKeyError::InvalidCustomer(clip(customer)))?;
        let secret = Secret::generate();
        let sealed = key.seal(name, &secret)?;
        let now = now();
        let inserted = sqlx::query(
            "INSERT INTO api_keys (name, customer, secret_sealed, enabled, created_at) \
             VALUES ($1, $2, $3, 1, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(customer)
        .bind(&sealed)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(ApiKeyError::Exists(name.to_owned()));
        }
        let user = ApiKey {
            name: name.to_owned(),
            customer: customer.to_owned(),
            enabled: true,
            created_at: now,
            last_used_at: None,
        };
        Ok((user, secret))
    }

    /// Every API user, by name.
    ///
    /// # Errors
    /// [`ApiKeyError::Db`].
    pub async fn list(&self) -> Result<Vec<ApiKey>, ApiKeyError> {
        let rows = sqlx::query(
            "SELECT name, customer, enabled, created_at, last_used_at FROM api_keys ORDER BY name",
        )
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(api_key_of).collect())
    }

    /// The API user `name`, if it exists.
    ///
    /// # Errors
    /// [`ApiKeyError::Db`].
    pub async fn get(&self, name: &str) -> Result<Option<ApiKey>, ApiKeyError> {
        let row = sqlx::query(
            "SELECT name, customer, enabled, created_at, last_used_at FROM api_keys \
             WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(api_key_of))
    }

    /// Removes the API user `name`; its signatures stop working at once.
    ///
    /// # Errors
    /// [`ApiKeyError::NotFound`] or [`ApiKeyError::Db`].
    pub async fn remove(&self, name: &str) -> Result<(), ApiKeyError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE name = $1")
            .bind(name)
            .execute(self.db.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(ApiKeyError::NotFound(name.to_owned()));
        }
        Ok(())
    }

    /// Enables or disables the API user `name` (its secret is kept).
    ///
    /// # Errors
    /// [`ApiKeyError::NotFound`] or [`ApiKeyError::Db`].
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), ApiKeyError> {
        let done = sqlx::query("UPDATE api_keys SET enabled = $1 WHERE name = $2")
            .bind(i64::from(enabled))
            .bind(name)
            .execute(self.db.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(ApiKeyError::NotFound(name.to_owned()));
        }
        Ok(())
    }

    /// The sealed secret of the API user `name`, enabled or not.
    ///
    /// # Errors
    /// [`ApiKeyError::NotFound`] or [`ApiKeyError::Db`].
    pub async fn sealed_secret(&self, name: &str) -> Result<String, ApiKeyError> {
        let row = sqlx::query("SELECT secret_sealed FROM api_keys WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|row| row.try_get("secret_sealed"))
            .transpose()?
            .ok_or_else(|| ApiKeyError::NotFound(name.to_owned()))
    }

    /// Every enabled API user with its sealed secret.
    ///
    /// # Errors
    /// [`ApiKeyError::Db`].
    pub async fn enabled(&self) -> Result<Vec<SealedKey>, ApiKeyError> {
        let rows = sqlx::query(
            "SELECT name, customer, secret_sealed FROM api_keys WHERE enabled = 1 ORDER BY name",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SealedKey {
                    name: row.try_get("name")?,
                    customer: row.try_get("customer")?,
                    sealed: row.try_get("secret_sealed")?,
                })
            })
            .collect()
    }

    /// Records that `name` signed a request now. The time is written at most once a minute, so
    /// a script that polls often does not cost a database write per request.
    ///
    /// # Errors
    /// [`ApiKeyError::Db`].
    pub async fn touch(&self, name: &str) -> Result<(), ApiKeyError> {
        let now = now();
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE name = $2 \
             AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(name)
        .bind(now - TOUCH_EVERY_SECS)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

fn api_key_of(row: &AnyRow) -> ApiKey {
    ApiKey {
        name: row.try_get("name").unwrap_or_default(),
        customer: row.try_get("customer").unwrap_or_default(),
        enabled: row.try_get::<i64, _>("enabled").unwrap_or(0) != 0,
        created_at: row.try_get("created_at").unwrap_or(0),
        last_used_at: row.try_get("last_used_at").ok().flatten(),
    }
}

/// A refused value as it is shown back: at most 40 characters.
fn clip(value: &str) -> String {
    value.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, ApiKeys) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.unwrap();
        (dir, ApiKeys::new(db))
    }

    fn key() -> SealingKey {
        SealingKey::from_slice(&[3u8; 32]).unwrap()
    }

    #[tokio::test]
    async fn the_stored_column_does_not_hold_the_plaintext_secret() {
        let (_dir, keys) = store().await;
        let (user, secret) = keys.add(&key(), "shop-api", "1234").await.unwrap();
        assert_eq!(user.customer, "1234");
        let row = sqlx::query("SELECT * FROM api_keys")
            .fetch_one(keys.db().pool())
            .await
            .unwrap();
        let sealed: String = row.try_get("secret_sealed").unwrap();
        assert!(!sealed.contains(secret.expose()));
        assert!(!sealed.to_ascii_lowercase().contains(&secret.expose()[..16]));
        for i in 0..row.len() {
            if let Ok(text) = row.try_get::<String, _>(i) {
                assert!(!text.contains(secret.expose()), "column {i}");
            }
        }
        let opened = key().open("shop-api", &sealed).unwrap();
        assert_eq!(opened.expose(), secret.expose());
        assert_eq!(keys.sealed_secret("shop-api").await.unwrap(), sealed);
    }

    #[tokio::test]
    async fn names_and_customers_follow_the_rules() {
        let (_dir, keys) = store().await;
        assert!(matches!(
            keys.add(&key(), "bad name", "1234").await,
            Err(ApiKeyError::InvalidName(_))
        ));
        assert!(matches!(
            keys.add(&key(), "ok", "bad customer!").await,
            Err(ApiKeyError::InvalidCustomer(_))
        ));
        keys.add(&key(), "ok", "1234").await.unwrap();
        assert!(matches!(
            keys.add(&key(), "ok", "1234").await,
            Err(ApiKeyError::Exists(_))
        ));
    }

    #[tokio::test]
    async fn disable_enable_remove() {
        let (_dir, keys) = store().await;
        keys.add(&key(), "a", "1234").await.unwrap();
        keys.add(&key(), "b", "5678").await.unwrap();
        keys.set_enabled("a", false).await.unwrap();
        let enabled: Vec<_> = keys
            .enabled()
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(enabled, ["b"]);
        keys.set_enabled("a", true).await.unwrap();
        assert_eq!(keys.enabled().await.unwrap().len(), 2);
        keys.touch("a").await.unwrap();
        assert!(keys.get("a").await.unwrap().unwrap().last_used_at.is_some());
        keys.remove("a").await.unwrap();
        assert!(matches!(
            keys.remove("a").await,
            Err(ApiKeyError::NotFound(_))
        ));
        assert!(matches!(
            keys.set_enabled("a", true).await,
            Err(ApiKeyError::NotFound(_))
        ));
        let listed: Vec<_> = keys
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(listed, ["b"]);
    }
}
