//! Track & trace API users: each has a customer and a secret the server must be able to read
//! back (partners sign with md5(ts . secret)), so secrets are sealed with a key from the
//! configuration. Not built yet.

use std::path::Path;

use crate::db::Db;

/// The API users and their sealed secrets.
#[derive(Debug, Clone)]
pub struct Tracking {
    db: Db,
}

impl Tracking {
    /// Opens the API users over `db`, with the key in `key_file`.
    ///
    /// # Errors
    /// When the key file can't be read or made.
    pub fn open(_key_file: &Path, db: Db) -> anyhow::Result<Self> {
        Ok(Self { db })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }
}
