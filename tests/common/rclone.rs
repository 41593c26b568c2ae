//! rclone as the tests' FTP and FTPS client: the real `rclone` binary (Debian's package) against a
//! test server, configured only by environment (`RCLONE_CONFIG_FD_*`, remote `fd:`), one bounded
//! run per call. rclone's FTP library is strict about reply codes (a `550` after a `150` is not
//! "not found" to it), which makes it a good judge of the server's FTP.

use std::process::{Command, Output};

use super::server::TestServer;

/// How a test reaches one user's home with rclone.
pub struct Rclone {
    port: u16,
    user: String,
    obscured: String,
    tls: bool,
    config: std::path::PathBuf,
}

impl Rclone {
    /// `user` with `password` on `server`'s FTP port; explicit TLS (`AUTH TLS`, `PROT P`, any
    /// certificate) when `tls`.
    pub fn new(server: &TestServer, user: &str, password: &str, tls: bool) -> Self {
        let out = Command::new("rclone")
            .args(["obscure", password])
            .output()
            .expect("rclone runs (Debian package rclone, installed by scripts/setup)");
        assert!(out.status.success(), "rclone obscure failed");
        Self {
            port: server.port("ftp"),
            user: user.to_string(),
            obscured: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            tls,
            // Never read: everything is in the environment.
            config: server.env.dir.path().join("rclone.conf"),
        }
    }

    /// Runs `rclone ARGS` (remote `fd:`), at most two minutes, no retries; the outcome is the
    /// caller's to judge.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new("timeout");
        command
            .args([
                "120",
                "rclone",
                "--retries",
                "1",
                "--low-level-retries",
                "1",
            ])
            .args(["--contimeout", "10s", "--timeout", "30s"])
            .args(["--checkers", "2", "--transfers", "2"]);
        if self.tls {
            command.args(["--ftp-explicit-tls", "--ftp-no-check-certificate"]);
        }
        command
            .args(args)
            .env("RCLONE_CONFIG", &self.config)
            .env("RCLONE_CONFIG_FD_TYPE", "ftp")
            .env("RCLONE_CONFIG_FD_HOST", "127.0.0.1")
            .env("RCLONE_CONFIG_FD_PORT", self.port.to_string())
            .env("RCLONE_CONFIG_FD_USER", &self.user)
            .env("RCLONE_CONFIG_FD_PASS", &self.obscured)
            .output()
            .expect("rclone runs")
    }

    /// Like [`Rclone::run`], but rclone must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rclone {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
