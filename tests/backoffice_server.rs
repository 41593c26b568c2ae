//! The backoffice on a running server, driven with curl: a file published with
//! `freightdrop publish` is downloaded by the partner over FTP and over SFTP and moved to
//! `error/` or `done/`, and the outgoing ledger shows each step; `/metrics` counts the sessions,
//! logins, bytes and inbox files; `/healthz` says what is up.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::server::{wait_for, TestServer};
use common::{stderr, stdout, Backend};
use serde_json::Value;

const PASSWORD: &str = "partner password 1";

fn curl(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("60")
        .arg("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl")
}

fn admin_token(server: &TestServer) -> String {
    let out = server.env.cli(
        &["admin", "add", "boss", "--password-stdin"],
        Some("admin password 1\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.env.cli(&["admin", "token", "boss"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

fn api_get(server: &TestServer, token: &str, path: &str) -> Value {
    let url = format!("http://{}{path}", server.addr("http"));
    let out = curl(&["-H", &format!("Authorization: Bearer {token}"), &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

fn outgoing(server: &TestServer, token: &str, name: &str) -> Value {
    let files = api_get(server, token, "/api/v1/outgoing?user=acme");
    files["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn partners_downloads_and_moves_are_recorded(backend: Backend) {
    let server = TestServer::start(backend, &[]).await;
    server.add_user("acme", PASSWORD, &[]);
    let token = admin_token(&server);
    let report = server.env.dir.path().join("status-back.xml");
    std::fs::write(&report, "<statuses/>\n").expect("write");
    let report_path = report.to_str().expect("path");

    // Published from the command line: lands in out/ and in the ledger.
    let out = server.env.cli(&["publish", "acme", report_path], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("published status-back.xml"));
    let out = server.env.cli(&["publish", "acme", report_path], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a waiting file is not replaced silently"
    );
    assert!(stderr(&out).contains("already"));
    let file = outgoing(&server, &token, "status-back.xml");
    assert_eq!(file["downloads"], 0);
    assert_eq!(file["published_by"], "cli");

    // The partner's procedure over FTP: login, download, logout; login, move to /error.
    let ftp = format!("ftp://127.0.0.1:{}", server.port("ftp"));
    let user = format!("acme:{PASSWORD}");
    let out = curl(&["-u", &user, &format!("{ftp}/out/status-back.xml")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "<statuses/>\n");
    wait_for("the FTP download recorded", Duration::from_secs(10), || {
        outgoing(&server, &token, "status-back.xml")["downloads"] == 1
    });
    let out = curl(&[
        "-u",
        &user,
        &format!("{ftp}/"),
        "-Q",
        "RNFR out/status-back.xml",
        "-Q",
        "RNTO error/status-back.xml",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for(
        "the move to error/ recorded",
        Duration::from_secs(10),
        || outgoing(&server, &token, "status-back.xml")["moved_to"] == "error",
    );
    let file = outgoing(&server, &token, "status-back.xml");
    assert_eq!(file["attention"], true);
    assert_eq!(file["moved_name"], "/error/status-back.xml");
    assert_eq!(file["last_download_protocol"], "ftp");

    // Over SFTP: a whole download counts, then a move to done/.
    let out = server.env.cli(
        &["publish", "acme", report_path, "--name", "second.xml"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let sftp = format!("sftp://127.0.0.1:{}", server.port("sftp"));
    let out = curl(&["-k", "-u", &user, &format!("{sftp}/out/second.xml")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "<statuses/>\n");
    let out = curl(&[
        "-k",
        "-u",
        &user,
        &format!("{sftp}/"),
        "-Q",
        "rename /out/second.xml /done/second.xml",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for(
        "the SFTP download and move recorded",
        Duration::from_secs(10),
        || {
            let file = outgoing(&server, &token, "second.xml");
            file["downloads"] == 1 && file["moved_to"] == "done"
        },
    );
    let file = outgoing(&server, &token, "second.xml");
    assert_eq!(file["last_download_protocol"], "sftp");
    assert_eq!(file["attention"], false);
    assert!(server.env.home("acme").join("done/second.xml").is_file());

    // A read of part of a file is not a download; a partner's upload onto a published name is
    // refused (nothing is overwritten), an append to it replaces it whole and closes its record
    // as replaced.
    let out = server.env.cli(
        &["publish", "acme", report_path, "--name", "third.xml"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = curl(&[
        "-k",
        "-u",
        &user,
        "-r",
        "5-8",
        &format!("{sftp}/out/third.xml"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "uses");
    let out = curl(&[
        "-u",
        &user,
        "-T",
        report_path,
        &format!("{ftp}/out/third.xml"),
    ]);
    assert!(
        !out.status.success(),
        "an upload onto a taken name is refused"
    );
    let out = curl(&[
        "-u",
        &user,
        "--append",
        "-T",
        report_path,
        &format!("{ftp}/out/third.xml"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the overwrite recorded", Duration::from_secs(10), || {
        outgoing(&server, &token, "third.xml")["moved_to"] == "replaced"
    });
    assert_eq!(outgoing(&server, &token, "third.xml")["downloads"], 0);

    // An upload into the inbox is processed and counted; the metrics show the traffic.
    let orders = server.env.dir.path().join("orders.csv");
    std::fs::write(&orders, common::inbox::orders_csv("1234", &["S1"])).expect("write");
    let out = curl(&[
        "-u",
        &user,
        "-T",
        orders.to_str().expect("path"),
        &format!("{ftp}/"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let wrong = curl(&["-u", "acme:wrong password", &format!("{ftp}/")]);
    assert!(!wrong.status.success());
    let metrics_url = format!("http://{}/metrics", server.addr("http"));
    let bearer = format!("Authorization: Bearer {token}");
    let unauthenticated = curl(&["-o", "/dev/null", "-w", "%{http_code}", &metrics_url]);
    assert_eq!(stdout(&unauthenticated), "401");
    let metric = |text: &str, name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    wait_for("the order file counted", Duration::from_secs(20), || {
        let text = stdout(&curl(&["-H", &bearer, &metrics_url]));
        metric(&text, "freightdrop_inbox_files_total{result=\"accepted\"}") >= 1.0
    });
    let text = stdout(&curl(&["-H", &bearer, &metrics_url]));
    assert!(
        metric(
            &text,
            "freightdrop_logins_total{protocol=\"ftp\",result=\"ok\"}"
        ) >= 3.0
    );
    assert!(
        metric(
            &text,
            "freightdrop_logins_total{protocol=\"ftp\",result=\"failed\"}"
        ) >= 1.0
    );
    assert!(
        metric(
            &text,
            "freightdrop_logins_total{protocol=\"sftp\",result=\"ok\"}"
        ) >= 2.0
    );
    assert!(metric(&text, "freightdrop_sent_bytes_total{protocol=\"ftp\"}") >= 12.0);
    assert!(metric(&text, "freightdrop_sent_bytes_total{protocol=\"sftp\"}") >= 12.0);
    assert!(metric(&text, "freightdrop_received_bytes_total{protocol=\"ftp\"}") > 100.0);
    assert!(metric(&text, "freightdrop_inbox_processing_seconds_count") >= 1.0);
    assert_eq!(metric(&text, "freightdrop_sessions{protocol=\"ftp\"}"), 0.0);
    assert!(text.contains("# TYPE freightdrop_inbox_processing_seconds histogram"));
    // The outgoing files above: published by the CLI (another process, not counted here), two
    // whole downloads, one move each to error/ and done/, one replaced by an upload.
    let event = |name: &str| {
        metric(
            &text,
            &format!("freightdrop_outbox_events_total{{event=\"{name}\"}}"),
        )
    };
    assert_eq!(event("downloaded"), 2.0);
    assert_eq!(event("error"), 1.0);
    assert_eq!(event("done"), 1.0);
    assert_eq!(event("replaced"), 1.0);
    assert_eq!(event("published"), 0.0);

    let health = curl(&[
        "-w",
        "\n%{http_code}",
        &format!("http://{}/healthz", server.addr("http")),
    ]);
    let text = stdout(&health);
    assert!(text.ends_with("\n200"), "{text}");
    let body: Value = serde_json::from_str(text.trim_end_matches("\n200")).expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["listeners"]["ftp"], "up");
    assert_eq!(body["listeners"]["sftp"], "up");
}

/// A partner with sessions open over FTP and SFTP, disabled by staff, is cut off at once.
#[tokio::test]
async fn disabling_a_user_closes_its_open_sessions() {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::process::Stdio;
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("acme", PASSWORD, &[]);
    let token = admin_token(&server);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/backoffice/session_probe.py");
    let mut probes = Vec::new();
    for (protocol, port) in [("ftp", server.port("ftp")), ("sftp", server.port("sftp"))] {
        let mut child = Command::new("timeout")
            .args(["60", "python3"])
            .arg(&script)
            .args([protocol, &port.to_string(), "acme", PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("probe");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        assert_eq!(
            lines.next().and_then(Result::ok).as_deref(),
            Some("ready"),
            "{protocol}"
        );
        probes.push((protocol, child, lines));
    }
    let out = curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {token}"),
        &format!("http://{}/api/v1/users/acme/disable", server.addr("http")),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (protocol, mut child, mut lines) in probes {
        child
            .stdin
            .as_mut()
            .expect("stdin")
            .write_all(b"go\n")
            .expect("write");
        let verdict = lines.next().and_then(Result::ok);
        assert_eq!(
            verdict.as_deref(),
            Some("closed"),
            "{protocol} session still open"
        );
        let _ = child.wait();
    }
    assert!(server.log().contains("staff changed the account"));
}

on_both_backends!(
    partners_downloads_and_moves_are_recorded,
    super::partners_downloads_and_moves_are_recorded
);
