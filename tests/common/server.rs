//! A real `freightdrop serve` process for a test: its own data dir and database, every listener
//! on 127.0.0.1 with a port the OS picks, read back from the `listening` lines it prints.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Backend, TestEnv};

/// A running server; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct TestServer {
    pub env: TestEnv,
    child: Option<Child>,
    addrs: HashMap<String, SocketAddr>,
    stderr_path: std::path::PathBuf,
    // Started under a wrapper: the server is the child's child.
    wrapped: bool,
}

impl TestServer {
    /// Starts a server on `backend` with `extra` flags added to `serve`.
    pub async fn start(backend: Backend, extra: &[&str]) -> Self {
        let env = TestEnv::new(backend).await;
        Self::start_in(env, extra)
    }

    /// Starts a server on an existing env (e.g. to restart on the same data dir).
    pub fn start_in(env: TestEnv, extra: &[&str]) -> Self {
        Self::start_wrapped(env, &[], extra)
    }

    /// Starts a server whose command line is prefixed with `wrapper` (e.g. `strace ...`); the
    /// server is then the wrapper's child, and [`TestServer::stop`] signals it there.
    pub fn start_wrapped(env: TestEnv, wrapper: &[&str], extra: &[&str]) -> Self {
        let stderr_path = env
            .dir
            .path()
            .join(format!("server-{}.log", super::unique()));
        let stderr_file = std::fs::File::create(&stderr_path).expect("server log file");
        let server = env!("CARGO_BIN_EXE_freightdrop");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(server);
                command
            }
            None => Command::new(server),
        };
        command
            .arg("serve")
            .args([
                "--ftp-addr",
                "127.0.0.1:0",
                "--sftp-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            // Defaults for tests, as environment so a test's own flags override them.
            .env("FREIGHTDROP_PASSIVE_PORTS", "40000-49999")
            .env("FREIGHTDROP_SMTP_ADDR", "127.0.0.1:0")
            .env("FREIGHTDROP_LOGIN_BLOCK", "60")
            .env("FREIGHTDROP_SHUTDOWN_GRACE", "5")
            // The tests' partners upload straight to final names over plain FTP; the policies
            // and the real default are tested in tests/ftp_plain.rs.
            .env("FREIGHTDROP_INBOX_FTP_PLAIN", "accept")
            .env("FREIGHTDROP_DATA_DIR", env.data_dir())
            .env("FREIGHTDROP_DATABASE_URL", &env.database_url)
            .env("FREIGHTDROP_CERTS_DIR", env.dir.path().join("certs"))
            .env("RUST_LOG", "info,libunftp=warn,rustls=error")
            .current_dir(env.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_file);
        let mut child = command.spawn().expect("start freightdrop serve");
        let stdout = child.stdout.take().expect("stdout pipe");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addrs = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line == "freightdrop: ready" => break,
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("freightdrop: ") {
                        if let Some((what, addr)) = rest.split_once(" listening on ") {
                            addrs.insert(what.to_string(), addr.parse().expect("listen address"));
                        }
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                    panic!("freightdrop serve did not get ready:\n{log}");
                }
            }
        }
        Self {
            env,
            child: Some(child),
            addrs,
            stderr_path,
            wrapped: !wrapper.is_empty(),
        }
    }

    /// Where the frontend `what` (`ftp`, `sftp`, `http`) listens.
    pub fn addr(&self, what: &str) -> SocketAddr {
        *self
            .addrs
            .get(what)
            .unwrap_or_else(|| panic!("no {what} listener; have {:?}", self.addrs))
    }

    /// Where the frontend `what` listens, if it does.
    pub fn addr_opt(&self, what: &str) -> Option<SocketAddr> {
        self.addrs.get(what).copied()
    }

    /// The server process's id, when it was started directly (not under a wrapper) and runs.
    pub fn pid(&self) -> Option<u32> {
        if self.wrapped {
            return None;
        }
        self.child.as_ref().map(Child::id)
    }

    /// The port of frontend `what`.
    pub fn port(&self, what: &str) -> u16 {
        self.addr(what).port()
    }

    /// A bearer token of a new metrics-only backoffice admin named `name`.
    pub fn metrics_token(&self, name: &str) -> String {
        let out = self.env.cli(
            &["admin", "add", name, "--password-stdin"],
            Some("admin password 1\n"),
        );
        assert!(out.status.success(), "admin add: {}", super::stderr(&out));
        let out = self
            .env
            .cli(&["admin", "token", name, "--metrics-only"], None);
        assert!(out.status.success(), "admin token: {}", super::stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `/metrics`, read with `token` (see [`TestServer::metrics_token`]).
    pub fn metrics(&self, token: &str) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "30", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .arg(format!("http://{}/metrics", self.addr("http")))
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "GET /metrics: {}",
            super::stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Adds a user through the CLI on the same store; returns nothing, panics on failure.
    pub fn add_user(&self, name: &str, password: &str, extra: &[&str]) {
        self.env.add_user(name, "1234", password, extra);
    }

    /// Sends SIGTERM and waits up to `within` for the process to exit; returns its exit code.
    pub fn stop(&mut self, within: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = if self.wrapped {
            Command::new("pkill")
                .args(["-TERM", "-P", &child.id().to_string()])
                .status()
        } else {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
        };
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server and hands back its env, to start another on the same data.
    pub fn into_env(mut self) -> TestEnv {
        self.stop(Duration::from_secs(10));
        std::mem::replace(
            &mut self.env,
            TestEnv {
                dir: tempfile::tempdir().expect("temp dir"),
                database_url: String::new(),
            },
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

/// Waits until `check` is true, polling, up to `within`; panics with `what` otherwise.
pub fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
