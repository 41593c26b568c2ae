//! Test helpers shared by the integration tests: fresh databases on SQLite and PostgreSQL, a temp
//! data dir, and the `freightdrop` binary run as a user would run it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub mod curl;
pub mod inbox;
pub mod mail;
pub mod rclone;
pub mod server;

use freightdrop::db::Db;
use freightdrop::home::HomeTree;
use freightdrop::users::UserStore;

/// The URL of the PostgreSQL server the tests use. The PostgreSQL tests never skip: without a
/// server they fail, saying how to get one.
pub fn postgres_server_url() -> String {
    std::env::var("FREIGHTDROP_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "FREIGHTDROP_TEST_POSTGRES_URL is not set: run the tests with scripts/test, which \
             starts a private PostgreSQL server, or point it at one (postgres://user@host:port/db)"
        )
    })
}

/// A fresh, empty PostgreSQL database for one test; returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let server = postgres_server_url();
    let name = format!("fd_test_{}", unique());
    let mut conn = sqlx::postgres::PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {server}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// A name part no other test in this run uses.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{}_{}", std::process::id(), n, nanos)
}

/// The database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// A SQLite file in the test's data dir.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

/// A temp data dir with a database URL for it.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub database_url: String,
}

impl TestEnv {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            Backend::Sqlite => format!(
                "sqlite://{}",
                dir.path().join("data/freightdrop.db").display()
            ),
            Backend::Postgres => fresh_postgres_database().await,
        };
        Self { dir, database_url }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn home(&self, user: &str) -> PathBuf {
        self.data_dir().join("homes").join(user)
    }

    pub async fn store(&self) -> UserStore {
        let db = Db::connect(&self.database_url).await.expect("open store");
        UserStore::new(db, HomeTree::new(self.data_dir().join("homes")))
    }

    /// Adds user `name` of `customer` with `password` (and `extra` flags of `user add`) through
    /// the CLI; panics when that fails.
    pub fn add_user(&self, name: &str, customer: &str, password: &str, extra: &[&str]) {
        let mut args = vec![
            "user",
            "add",
            name,
            "--customer",
            customer,
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        let out = self.cli(&args, Some(&format!("{password}\n")));
        assert!(out.status.success(), "user add {name}: {}", stderr(&out));
    }

    /// Lets `name` receive mail from `patterns` (`user mail-sender add`); panics when that fails.
    pub fn allow_mail_senders(&self, name: &str, patterns: &[&str]) {
        for pattern in patterns {
            let out = self.cli(&["user", "mail-sender", "add", name, pattern], None);
            assert!(
                out.status.success(),
                "mail-sender add {name}: {}",
                stderr(&out)
            );
        }
    }

    /// Runs `freightdrop ARGS` on this env's data dir and database, with `stdin` as input.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_cli(
            args,
            stdin,
            &[
                (
                    "FREIGHTDROP_DATA_DIR",
                    self.data_dir().to_str().unwrap_or_default(),
                ),
                ("FREIGHTDROP_DATABASE_URL", &self.database_url),
                (
                    "FREIGHTDROP_CERTS_DIR",
                    self.dir.path().join("certs").to_str().unwrap_or_default(),
                ),
            ],
            self.dir.path(),
        )
    }
}

/// Runs the built `freightdrop` binary in `cwd` with only the given `FREIGHTDROP_*` variables.
pub fn run_cli(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)], cwd: &Path) -> Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_freightdrop"));
    command
        .args(args)
        .current_dir(cwd)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("FREIGHTDROP_") {
            command.env_remove(key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("run freightdrop");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for freightdrop")
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Defines one async test per backend: `NAME::sqlite` and `NAME::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                $body($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                $body($crate::common::Backend::Postgres).await;
            }
        }
    };
}
