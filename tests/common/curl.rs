//! curl as the tests' FTP, SFTP and HTTP client: one bounded call, and the URLs of a test server.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::server::TestServer;

/// Runs `curl -sS --max-time <max_secs> <args>`; the outcome is the caller's to judge.
pub fn curl(max_secs: u64, args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", &max_secs.to_string()])
        .args(args)
        .output()
        .expect("curl runs")
}

/// Like [`curl`], but the call must succeed; `what` names it in the failure.
pub fn curl_ok(max_secs: u64, args: &[&str], what: &str) -> Output {
    let out = curl(max_secs, args);
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// How long a successful [`curl_ok`] call takes.
pub fn timed(max_secs: u64, args: &[&str], what: &str) -> Duration {
    let started = Instant::now();
    curl_ok(max_secs, args, what);
    started.elapsed()
}

/// `ftp://user:password@127.0.0.1:<ftp port>/<path>`.
pub fn ftp_url(server: &TestServer, user: &str, password: &str, path: &str) -> String {
    format!(
        "ftp://{user}:{password}@127.0.0.1:{}/{path}",
        server.port("ftp")
    )
}

/// `sftp://127.0.0.1:<sftp port>/<path>` (credentials go in `-u`).
pub fn sftp_url(server: &TestServer, path: &str) -> String {
    format!("sftp://127.0.0.1:{}/{path}", server.port("sftp"))
}
