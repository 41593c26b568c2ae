//! Per-file formats: a format that overrides one inbox file's extension, set by whoever puts the
//! file in the inbox (the upload path, for mail's `+ext`) once the file is complete and before
//! it is published, under the file's name and [`Identity`] (inode, size, mtime), and read when
//! the file is judged. Rows of a file go once it is committed; a row left by an upload that
//! never got its name names an identity no published file has, so it applies to nothing.

use sqlx::Row;

use super::{Identity, Ledger, LedgerError};

/// An unsigned number as stored (the columns are signed 64-bit integers).
fn stored(n: u64) -> i64 {
    i64::from_ne_bytes(n.to_ne_bytes())
}

impl Ledger {
    /// Records that the file `name` with `identity` in `user`'s inbox is to be read as `format`.
    ///
    /// # Errors
    /// [`LedgerError::Db`].
    pub async fn set_file_format(
        &self,
        user: &str,
        name: &str,
        identity: Identity,
        format: &str,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO inbox_file_formats \
             (user_name, file_name, inode, size, mtime_ns, format, set_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (user_name, file_name, inode) \
             DO UPDATE SET size = $4, mtime_ns = $5, format = $6, set_at = $7",
        )
        .bind(user)
        .bind(name)
        .bind(stored(identity.inode))
        .bind(stored(identity.size))
        .bind(identity.mtime_ns)
        .bind(format)
        .bind(super::now_ms() / 1000)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The format recorded for the file `name` with `identity` in `user`'s inbox, if any.
    ///
    /// # Errors
    /// [`LedgerError::Db`].
    pub async fn file_format(
        &self,
        user: &str,
        name: &str,
        identity: Identity,
    ) -> Result<Option<String>, LedgerError> {
        let row = sqlx::query(
            "SELECT format FROM inbox_file_formats WHERE user_name = $1 AND file_name = $2 \
             AND inode = $3 AND size = $4 AND mtime_ns = $5",
        )
        .bind(user)
        .bind(name)
        .bind(stored(identity.inode))
        .bind(stored(identity.size))
        .bind(identity.mtime_ns)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("format")).transpose()?)
    }

    /// Forgets every format recorded for `name` in `user`'s inbox.
    ///
    /// # Errors
    /// [`LedgerError::Db`].
    pub async fn forget_file_formats(&self, user: &str, name: &str) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM inbox_file_formats WHERE user_name = $1 AND file_name = $2")
            .bind(user)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
