//! Admission before login, for every listener: connections that never log in are capped per
//! address (FTP and SFTP together) and in all, so a thousand stalled handshakes from one address
//! don't stop a partner from another logging in, and each has a deadline to log in.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::server::TestServer;
use common::Backend;

fn clients(args: &[&str]) -> Command {
    let mut command = Command::new("python3");
    command.arg("tests/admission/clients.py").args(args);
    command
}

/// An FTP login and listing with curl from 127.0.0.2; how long it took.
fn ftp_partner(server: &TestServer) -> Duration {
    let started = Instant::now();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--interface",
            "127.0.0.2",
            &format!(
                "ftp://alice:alice-password@127.0.0.1:{}/",
                server.port("ftp")
            ),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// An SFTP login and listing with paramiko from 127.0.0.2; how long it took.
fn sftp_partner(server: &TestServer) -> Duration {
    let out = clients(&[
        "sftp-partner",
        &server.port("sftp").to_string(),
        "alice",
        "alice-password",
    ])
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seconds: f64 = text
        .trim()
        .strip_prefix("sftp-login ")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    Duration::from_secs_f64(seconds)
}

#[tokio::test]
async fn a_thousand_stalled_connections_from_one_address_do_not_stop_a_partner_from_another() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("alice", "alice-password", &[]);
    let mut stall = clients(&[
        "stall",
        &server.port("ftp").to_string(),
        &server.port("sftp").to_string(),
        "1000",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(stall.stdout.take().unwrap()).lines();
    let counts = lines.next().expect("a count line").unwrap();
    // 1,000 FTP and 1,000 SSH connections from one address: the per-address cap (64, FTP and
    // SFTP together) admitted a few, every other one was refused at once.
    let words: Vec<&str> = counts.split_whitespace().collect();
    let admitted: u32 = words[1].parse().unwrap();
    let refused: u32 = words[3].parse().unwrap();
    assert!(admitted <= 64 && admitted + refused == 2000, "{counts}");

    // While they stall, a partner from another address logs in over both protocols.
    let ftp = ftp_partner(&server);
    assert!(ftp < Duration::from_secs(2), "FTP login took {ftp:?}");
    let sftp = sftp_partner(&server);
    assert!(sftp < Duration::from_secs(2), "SFTP login took {sftp:?}");

    let mut stdin = stall.stdin.take().unwrap();
    stdin.write_all(b"done\n").unwrap();
    drop(stdin);
    assert!(stall.wait().unwrap().success());
}

#[tokio::test]
async fn the_65th_waiting_connection_from_one_address_is_refused_but_not_one_from_another() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    let out = clients(&[
        "cap",
        &server.port("ftp").to_string(),
        &server.port("sftp").to_string(),
        "64",
    ])
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_string()
    };
    assert!(
        got("ftp-1").starts_with("421 Too many connections from your address"),
        "{text}"
    );
    assert_eq!(
        got("ssh-1"),
        "closed",
        "refused before the version exchange: {text}"
    );
    assert!(got("ftp-2").starts_with("220"), "{text}");
    assert!(got("ssh-2").starts_with("SSH-2.0-"), "{text}");
}

#[tokio::test]
async fn a_connection_that_does_not_log_in_in_time_is_closed() {
    let server = TestServer::start(Backend::Sqlite, &["--login-timeout", "2"]).await;
    // FTP: greeted, then nothing; told 421 and closed.
    let ftp = TcpStream::connect(server.addr("ftp")).unwrap();
    ftp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut ftp = BufReader::new(ftp);
    let mut line = String::new();
    ftp.read_line(&mut line).unwrap();
    assert!(line.starts_with("220"), "{line}");
    line.clear();
    ftp.read_line(&mut line).unwrap();
    assert!(line.starts_with("421 Login timed out"), "{line:?}");

    // SSH: only the version line, then nothing; the server closes the connection.
    let mut ssh = TcpStream::connect(server.addr("sftp")).unwrap();
    ssh.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    ssh.write_all(b"SSH-2.0-stalled\r\n").unwrap();
    let mut seen = Vec::new();
    let closed = ssh.read_to_end(&mut seen);
    assert!(closed.is_ok(), "closed by the server, not timed out here");
    assert!(seen.starts_with(b"SSH-2.0-"));
}
