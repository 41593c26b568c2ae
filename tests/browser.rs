//! The backoffice page end to end in headless Chromium (Debian's `chromium` and `chromedriver`,
//! driven by selenium from `tests/browser/e2e.py`): an admin signs in, creates a user with a
//! generated password, reads it off the page; the partner logs in over FTP with it and uploads
//! an order file, which the page then shows as processed. The browser console stays clean.

mod common;

use std::path::Path;
use std::process::Command;

use common::server::TestServer;
use common::{stderr, stdout, Backend};

#[tokio::test]
async fn staff_create_a_user_who_uploads_an_order_file() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    let out = server.env.cli(
        &["admin", "add", "boss", "--password-stdin"],
        Some("admin password 1\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = server.env.dir.path().join("orders.csv");
    std::fs::write(&csv, common::inbox::orders_csv("1234", &["S77"])).expect("write");
    let screenshot = server.env.dir.path().join("failure.png");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/e2e.py");
    let out = Command::new("timeout")
        .args(["180", "python3"])
        .arg(script)
        .arg(format!("http://{}", server.addr("http")))
        .args(["boss", "admin password 1"])
        .arg(server.port("ftp").to_string())
        .arg(&csv)
        .arg(&screenshot)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "browser scenario failed\n--- stdout\n{}\n--- stderr\n{}\n--- server log\n{}",
        stdout(&out),
        stderr(&out),
        server.log()
    );
    assert!(stdout(&out).contains("OK"));
}
