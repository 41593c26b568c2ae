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
    assert!(cert.is_file(), "self-signed certificate generated on first start");
    assert!(server.env.data_dir().join("homes").is_dir());
    let first = std::fs::read(&cert).unwrap();
    assert_eq!(server.stop(Duration::from_secs(10)), Some(0), "{}", server.log());
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
        let mut args = vec![
            "serve",
            "--ftp-addr",
            "127.0.0.1:0",
            "--sftp-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(&[flag, &addr]);
        let out = env.cli(&args, None);
        assert_eq!(out.status.code(), Some(1), "{flag}");
        let text = stderr(&out);
        assert!(text.contains(&addr) && text.contains(flag) && text.contains(what), "{text}");
    }
}
