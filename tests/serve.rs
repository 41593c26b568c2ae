//! `freightdrop serve` as a process: it starts on the embedded defaults, announces its
//! listeners, stops cleanly on SIGTERM, and says which flag to change when a port is taken.

mod common;

use std::time::Duration;

use common::server::TestServer;
use common::{stderr, Backend, TestEnv};

#[tokio::test]
async fn starts_generates_a_certificate_and_stops_on_sigterm() {
    let mut server = TestServer::start(Backend::Sqlite, &[]).await;
    let cert = server.env.dir.path().join("certs/freightdrop-cert.pem");
    assert!(
        cert.is_file(),
        "self-signed certificate generated on first start"
    );
    assert!(server.env.data_dir().join("homes").is_dir());
    let first = std::fs::read(&cert).unwrap();
    assert_eq!(
        server.stop(Duration::from_secs(10)),
        Some(0),
        "{}",
        server.log()
    );
    let server = TestServer::start_in(server.into_env(), &[]);
    let again = std::fs::read(server.env.dir.path().join("certs/freightdrop-cert.pem")).unwrap();
    assert_eq!(first, again, "the certificate is reused, not regenerated");
}

#[tokio::test]
async fn a_taken_port_names_the_flag_to_change() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for (flag, what) in [("--ftp-addr", "FTP"), ("--sftp-addr", "SFTP")] {
        let mut args = vec!["serve", "--http-addr", "127.0.0.1:0"];
        for other in ["--ftp-addr", "--sftp-addr"] {
            let value = if other == flag {
                addr.as_str()
            } else {
                "127.0.0.1:0"
            };
            args.extend_from_slice(&[other, value]);
        }
        let out = env.cli(&args, None);
        assert_eq!(out.status.code(), Some(1), "{flag}");
        let text = stderr(&out);
        assert!(
            text.contains(&addr) && text.contains(flag) && text.contains(what),
            "{text}"
        );
    }
}

#[tokio::test]
async fn sigterm_lets_a_running_download_finish_then_exits() {
    let mut server = TestServer::start(Backend::Sqlite, &["--shutdown-grace", "20"]).await;
    server.add_user("alice", "alice-password", &[]);
    let data: Vec<u8> = (0..40_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(server.env.home("alice").join("out/big.bin"), &data).unwrap();
    let target = server.env.dir.path().join("big.bin");
    let url = format!(
        "ftp://alice:alice-password@127.0.0.1:{}/out/big.bin",
        server.port("ftp")
    );
    // 40 MB at 10 MB/s: about four seconds, so SIGTERM lands mid-transfer.
    let download = std::process::Command::new("curl")
        .args([
            "-sS",
            "--limit-rate",
            "10M",
            "-o",
            target.to_str().unwrap(),
            &url,
        ])
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    common::server::wait_for("the download to start", Duration::from_secs(10), || {
        std::fs::metadata(&target)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    });
    let ftp_port = server.port("ftp");
    let code = server.stop(Duration::from_secs(30));
    assert_eq!(code, Some(0), "clean exit");
    let output = download.wait_with_output().unwrap();
    assert!(output.status.success(), "the running download finished");
    assert_eq!(std::fs::read(&target).unwrap(), data);
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", ftp_port)).is_err(),
        "nothing listens after the exit"
    );
}

#[tokio::test]
async fn the_human_log_written_to_a_file_has_no_colour_codes() {
    let mut server = TestServer::start(Backend::Sqlite, &["--log-format", "human"]).await;
    // A failed login is logged at info level or above, so the file has a line to look at.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "-u", "nobody:wrong"])
        .arg(format!("ftp://127.0.0.1:{}/", server.port("ftp")))
        .output()
        .expect("run curl");
    assert!(!out.status.success());
    server.stop(Duration::from_secs(10));
    let log = server.log();
    assert!(!log.trim().is_empty(), "the server logged something");
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI escape in a log file:\n{log}"
    );
}
