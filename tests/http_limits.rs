//! The HTTP listener's limits (issue 12, item 7): a request head must arrive whole within
//! `--http-header-timeout`, a connection on which nothing moves is closed after
//! `--http-idle-timeout`, connections are capped per address and in all, and under a low
//! open-files limit a flood of idle HTTP connections leaves FTP and SFTP logins working.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use common::curl::{curl, ftp_url};
use common::server::TestServer;
use common::{run_cli, stderr, stdout, Backend, TestEnv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to `to` from the loopback address `from` (any of 127.0.0.0/8 on Linux),
/// or `None` when it is not made within `within` (the server's accept queue is full).
async fn try_connect_from(from: &str, to: SocketAddr, within: Duration) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().expect("a socket");
    let source: IpAddr = from.parse().expect("an address");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind the source address");
    tokio::time::timeout(within, socket.connect(to))
        .await
        .ok()
        .map(|connected| connected.expect("connected"))
}

/// Like [`try_connect_from`], but the connection must be made within 5 s.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    try_connect_from(from, to, Duration::from_secs(5))
        .await
        .expect("connected in time")
}

/// Waits up to `within` for the server to close `stream` (end of stream or a reset), reading
/// and discarding whatever it sends first; what it sent, or `None` if still open then.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// A keep-alive connection from `from` that the server admitted: `/healthz` asked on it was
/// answered 200, and the connection stays open. Retried while the server still counts a
/// connection that just ended (its place is freed when the server has seen the end), up to 5 s.
async fn admitted_from(from: &str, to: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = connect_from(from, to).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .expect("request sent");
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        if head.starts_with(b"HTTP/1.1 200") {
            return stream;
        }
        assert!(
            Instant::now() < deadline,
            "never admitted from {from}: {:?}",
            String::from_utf8_lossy(&head)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The HTTP status line curl saw for `/healthz`, asked from `from`.
fn healthz_status(server: &TestServer, from: &str) -> String {
    let out = curl(
        5,
        &[
            "--interface",
            from,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{}/healthz", server.addr("http")),
        ],
    );
    stdout(&out)
}

#[tokio::test]
async fn a_trickled_request_head_is_closed_after_the_header_timeout() {
    let server = TestServer::start(
        Backend::Sqlite,
        &["--http-header-timeout", "2", "--http-idle-timeout", "60"],
    )
    .await;
    let addr = server.addr("http");
    // Twenty slowloris clients: a request line, then a header line every half second, so bytes
    // keep coming (the idle timeout never fires) but the head never ends.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut stream = connect_from("127.0.0.1", addr).await;
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
                .await
                .expect("the request line");
            while started.elapsed() < Duration::from_secs(15) {
                if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    return started.elapsed();
                }
                if closed_within(&mut stream, Duration::from_millis(500))
                    .await
                    .is_some()
                {
                    return started.elapsed();
                }
            }
            started.elapsed()
        }));
    }
    for task in tasks {
        let lived = task.await.expect("a client task");
        assert!(
            lived >= Duration::from_millis(1500) && lived < Duration::from_secs(10),
            "a half-sent head lived {lived:?} under a 2 s header timeout"
        );
    }
    // Meanwhile and after, whole requests are answered.
    assert_eq!(healthz_status(&server, "127.0.0.1"), "200");
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout_while_traffic_keeps_one_open() {
    let server = TestServer::start(
        Backend::Sqlite,
        &["--http-idle-timeout", "2", "--http-header-timeout", "60"],
    )
    .await;
    let addr = server.addr("http");
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(connect_from("127.0.0.1", addr).await);
    }
    // A keep-alive connection that got its answer and then says nothing more.
    let mut kept = connect_from("127.0.0.1", addr).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), kept.read(&mut buf))
        .await
        .expect("an answer in time")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    // A client trickling a head is not idle: still open after twice the idle timeout.
    let mut busy = connect_from("127.0.0.1", addr).await;
    busy.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        busy.write_all(b"X-Slow: 1\r\n")
            .await
            .expect("a trickling client stays connected");
        assert!(
            closed_within(&mut busy, Duration::from_millis(500))
                .await
                .is_none(),
            "closed though bytes kept coming"
        );
    }
    for stream in silent.iter_mut().chain(std::iter::once(&mut kept)) {
        assert!(
            closed_within(stream, Duration::from_secs(8))
                .await
                .is_some(),
            "a silent connection outlived a 2 s idle timeout by far"
        );
    }
}

#[tokio::test]
async fn connections_over_the_cap_per_address_are_refused_while_another_address_is_served() {
    let server = TestServer::start(
        Backend::Sqlite,
        &[
            "--http-max-connections-per-address",
            "5",
            "--http-max-connections",
            "8",
        ],
    )
    .await;
    let addr = server.addr("http");
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect_from("127.0.0.1", addr).await);
    }
    // The sixth from the same address gets a 429 and is closed at once.
    let mut sixth = connect_from("127.0.0.1", addr).await;
    let answer = closed_within(&mut sixth, Duration::from_secs(5))
        .await
        .expect("the sixth connection is closed at once");
    assert!(
        answer.starts_with("HTTP/1.1 429"),
        "told why: {answer:?}; log: {}",
        server.log()
    );
    // Another address is served meanwhile.
    assert_eq!(healthz_status(&server, "127.0.0.2"), "200");
    // Three more from a third address fill the cap in all (each one seen answered, so none is
    // refused while the server still counts curl's ended connection): then even a new address
    // is refused.
    for _ in 0..3 {
        held.push(admitted_from("127.0.0.3", addr).await);
    }
    let mut over = connect_from("127.0.0.2", addr).await;
    let answer = closed_within(&mut over, Duration::from_secs(5))
        .await
        .expect("a connection over the cap in all is closed at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    // A connection that ends frees its place.
    drop(held.remove(0));
    let mut served = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !served && Instant::now() < deadline {
        served = healthz_status(&server, "127.0.0.1") == "200";
    }
    assert!(served, "a freed place is taken again");
}

#[tokio::test]
async fn idle_http_connections_under_a_low_open_files_limit_leave_ftp_and_sftp_logins_working() {
    let env = TestEnv::new(Backend::Sqlite).await;
    // 256 open files, soft and hard, as a small container might give; `sh` stays the parent
    // (the command after it keeps it from exec-ing), as the wrapped server expects.
    let server = TestServer::start_wrapped(
        env,
        &["sh", "-c", "ulimit -n 256 && \"$@\"; exit $?", "sh"],
        &["--http-max-connections-per-address", "1000"],
    );
    server.add_user("alice", "alice-password", &[]);
    let log = server.log();
    assert!(
        log.contains("limit=256") && log.contains("caps lowered"),
        "the figures are logged at start: {log}"
    );
    // 400 idle HTTP connections from ten addresses: more than the limit allows in all.
    let addr = server.addr("http");
    let mut flood = Vec::new();
    for i in 0..400 {
        let from = format!("127.0.0.{}", 10 + i % 10);
        match try_connect_from(&from, addr, Duration::from_secs(2)).await {
            Some(stream) => flood.push(stream),
            // The accept queue is full: the server has stopped accepting (out of descriptors).
            None => break,
        }
    }
    // The HTTP cap, fitted to the limit, refuses most of the flood at once (checked below,
    // after the logins, which are what fails without it).
    let refused = || server.log().matches("HTTP connection refused").count();
    let deadline = Instant::now() + Duration::from_secs(10);
    while refused() < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = Instant::now();
    let out = curl(
        10,
        &[
            "--interface",
            "127.0.0.2",
            &ftp_url(&server, "alice", "alice-password", ""),
        ],
    );
    assert!(
        out.status.success(),
        "FTP login under the flood: {}; log: {}",
        stderr(&out),
        server.log()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let out = Command::new("python3")
        .args([
            "tests/admission/clients.py",
            "sftp-partner",
            &server.port("sftp").to_string(),
            "alice",
            "alice-password",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "SFTP login under the flood: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(refused() >= 300, "{} of 400 refused", refused());
    // HTTP itself answers at once (refusing while full) rather than hanging.
    let status = healthz_status(&server, "127.0.0.2");
    assert!(
        status == "503" || status == "200",
        "HTTP answered: {status:?}"
    );
    drop(flood);
}

#[test]
fn the_http_limits_are_configured_like_every_other_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("freightdrop.toml");
    std::fs::write(
        &file,
        "http_header_timeout = 7\nhttp_max_connections = 300\nopen_files_reserve = 200\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let out = run_cli(
        &["check-config", "--http-idle-timeout", "45"],
        None,
        &[
            ("FREIGHTDROP_CONFIG", config),
            ("FREIGHTDROP_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "12"),
            ("FREIGHTDROP_HTTP_MAX_CONNECTIONS", "400"),
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "http_header_timeout = 7",
        "http_idle_timeout = 45",
        "http_max_connections = 400",
        "http_max_connections_per_address = 12",
        "open_files_reserve = 200",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (
            &["--http-header-timeout", "0"],
            &[],
            "--http-header-timeout",
        ),
        (
            &[],
            &[("FREIGHTDROP_HTTP_IDLE_TIMEOUT", "86401")],
            "--http-idle-timeout",
        ),
        (
            &["--http-max-connections", "0"],
            &[],
            "--http-max-connections",
        ),
        (
            &["--http-max-connections-per-address", "0"],
            &[],
            "--http-max-connections-per-address",
        ),
        (
            &[],
            &[("FREIGHTDROP_OPEN_FILES_RESERVE", "4")],
            "--open-files-reserve",
        ),
    ];
    for (args, env, key) in cases {
        let mut all = vec!["check-config"];
        all.extend_from_slice(args);
        let out = run_cli(&all, None, env, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}");
        assert!(
            stderr(&out).contains(key),
            "{args:?} {env:?}: {}",
            stderr(&out)
        );
    }
}
