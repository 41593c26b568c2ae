//! Per-file formats: a format that overrides one inbox file's extension, set by whoever puts the
//! file in the inbox (the upload path, for mail's `+ext`) before the file is published, under
//! the file's name and inode, and read when the file is judged. Rows of a file go once it is
//! committed; a row left by an upload that never completed names an inode no published file
//! has, so it applies to nothing.

use sqlx::Row;

use super::{Ledger, LedgerError};

/// An inode as stored (the column is a signed 64-bit integer).
fn stored(inode: u64) -> i64 {
    i64::from_ne_bytes(inode.to_ne_bytes())
}

impl Ledger {
    /// Records that the file `name` with `inode` in `user`'s inbox is to be read as `format`.
    ///
    /// # Errors
    /// [`LedgerError::Db`].
    pub async fn set_file_format(
        &self,
        user: &str,
        name: &str,
        inode: u64,
        format: &str,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO inbox_file_formats (user_name, file_name, inode, format, set_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_name, file_name, inode) DO UPDATE SET format = $4, set_at = $5",
        )
        .bind(user)
        .bind(name)
        .bind(stored(inode))
        .bind(format)
        .bind(super::now_ms() / 1000)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The format recorded for the file `name` with `inode` in `user`'s inbox, if any.
    ///
    /// # Errors
    /// [`LedgerError::Db`].
    pub async fn file_format(
        &self,
        user: &str,
        name: &str,
        inode: u64,
    ) -> Result<Option<String>, LedgerError> {
        let row = sqlx::query(
            "SELECT format FROM inbox_file_formats \
             WHERE user_name = $1 AND file_name = $2 AND inode = $3",
        )
        .bind(user)
        .bind(name)
        .bind(stored(inode))
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
