//! The database connection: one pool over SQLite (embedded default) or PostgreSQL, chosen by the
//! URL, with the schema migrated at connect time. Queries elsewhere are written once, in the
//! dialect both backends accept (`$1` placeholders, BIGINT times and flags).

use std::path::Path;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server, possibly shared by several nodes.
    Postgres,
}

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The folder for the SQLite file could not be made.
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        /// The folder.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The server or file could not be reached or opened.
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("cannot migrate the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A pool of connections to the store, shared by every part of the server.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Opens the database at `url` (creating a SQLite file and its folder if needed), and runs
    /// the migrations.
    ///
    /// # Errors
    /// [`DbError`] when the database can't be reached, opened or migrated.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, prepare_sqlite_url(url)?)
        } else {
            (Backend::Postgres, url.to_string())
        };
        let options = AnyConnectOptions::from_str(&url).map_err(DbError::Connect)?;
        let pool_options = match backend {
            Backend::Sqlite => {
                // More than the most inbox workers (8), each of which may hold a connection
                // while it waits for SQLite's one writer: a login's reads (WAL readers never
                // wait for the writer) must always find a free connection.
                AnyPoolOptions::new()
                    .max_connections(16)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(DbError::Connect)?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Self { pool, backend })
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The engine behind the pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection, waiting for the ones in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Makes sure the SQLite file's folder exists and that the URL asks for the file to be created.
fn prepare_sqlite_url(url: &str) -> Result<String, DbError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path_part = rest.split('?').next().unwrap_or_default();
    if !path_part.is_empty() && path_part != ":memory:" {
        if let Some(parent) = Path::new(path_part).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|source| DbError::Folder {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
        }
    }
    if rest.contains("mode=") {
        Ok(url.to_string())
    } else if rest.contains('?') {
        Ok(format!("{url}&mode=rwc"))
    } else {
        Ok(format!("{url}?mode=rwc"))
    }
}
