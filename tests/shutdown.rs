//! Ordered shutdown with sessions open: on SIGTERM an idle FTP or SFTP session ends at once (the
//! server exits well inside a long grace period, cleanly, without a panic), while a running
//! transfer still completes and is stored whole.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{wait_for, TestServer};
use common::Backend;

/// Reads one FTP reply line.
fn reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("an FTP reply");
    line
}

#[tokio::test]
async fn sigterm_ends_an_idle_ftp_session_at_once_with_421() {
    let mut server = TestServer::start(Backend::Sqlite, &["--shutdown-grace", "30"]).await;
    server.add_user("alice", "alice-password", &[]);
    let stream = TcpStream::connect(server.addr("ftp")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    assert!(reply(&mut reader).starts_with("220"));
    writer.write_all(b"USER alice\r\n").unwrap();
    assert!(reply(&mut reader).starts_with("331"));
    writer.write_all(b"PASS alice-password\r\n").unwrap();
    assert!(reply(&mut reader).starts_with("230"));

    let started = Instant::now();
    let code = server.stop(Duration::from_secs(5));
    assert_eq!(
        code,
        Some(0),
        "exit well inside the grace: {}",
        server.log()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let last = reply(&mut reader);
    assert!(last.starts_with("421"), "told why: {last:?}");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(rest.is_empty(), "then closed");
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[tokio::test]
async fn sigterm_ends_an_idle_sftp_session_at_once_without_a_panic() {
    let mut server = TestServer::start(Backend::Sqlite, &["--shutdown-grace", "30"]).await;
    server.add_user("alice", "alice-password", &[]);
    let mut client = Command::new("python3")
        .args([
            "tests/shutdown/idle_sftp.py",
            &server.port("sftp").to_string(),
            "alice",
            "alice-password",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "logged-in");

    let started = Instant::now();
    let code = server.stop(Duration::from_secs(5));
    assert_eq!(
        code,
        Some(0),
        "exit well inside the grace: {}",
        server.log()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(lines.next().unwrap().unwrap(), "closed");
    let _ = client.wait();
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn sigterm_lets_a_running_upload_finish_and_store_it_whole() {
    let mut server = TestServer::start(Backend::Sqlite, &["--shutdown-grace", "30"]).await;
    server.add_user("alice", "alice-password", &[]);
    let data: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
    let local = server.env.dir.path().join("upload.bin");
    std::fs::write(&local, &data).unwrap();
    let url = format!(
        "ftp://alice:alice-password@127.0.0.1:{}/keep/upload.bin",
        server.port("ftp")
    );
    // 6 MB at 2 MB/s: about three seconds, so SIGTERM lands mid-transfer.
    let upload = Command::new("curl")
        .args([
            "-sS",
            "--ftp-create-dirs",
            "--limit-rate",
            "2M",
            "-T",
            local.to_str().unwrap(),
            &url,
        ])
        .spawn()
        .unwrap();
    let keep = server.env.home("alice").join("keep");
    wait_for("the upload to start", Duration::from_secs(10), || {
        std::fs::read_dir(&keep).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.metadata().is_ok_and(|m| m.len() > 0)))
        })
    });
    let code = server.stop(Duration::from_secs(25));
    assert_eq!(code, Some(0), "clean exit: {}", server.log());
    let output = upload.wait_with_output().unwrap();
    assert!(output.status.success(), "the running upload finished");
    assert_eq!(std::fs::read(keep.join("upload.bin")).unwrap(), data);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[tokio::test]
async fn sigterm_closes_idle_http_connections_at_once() {
    let mut server = TestServer::start(
        Backend::Sqlite,
        &[
            "--shutdown-grace",
            "30",
            "--http-idle-timeout",
            "600",
            "--http-header-timeout",
            "600",
        ],
    )
    .await;
    // One connection that never sent a byte, one kept alive after an answer.
    let silent = TcpStream::connect(server.addr("http")).unwrap();
    let mut kept = TcpStream::connect(server.addr("http")).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = [0u8; 12];
    kept.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");

    let started = Instant::now();
    let code = server.stop(Duration::from_secs(5));
    assert_eq!(
        code,
        Some(0),
        "exit well inside the grace: {}",
        server.log()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}
