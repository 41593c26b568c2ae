//! The mail channel behind a real MTA: a private Postfix instance (Debian's `postfix`, on
//! loopback, its own config, queue and log in a temp dir) relays a test domain to freightdrop
//! through a `transport` map, over LMTP on a unix socket, LMTP over TCP and SMTP; `swaks` sends
//! to Postfix. A mailed CSV ends in `done/` with its rows in the database on each path; a
//! recipient freightdrop refuses bounces in Postfix (not deferred); mail sent while freightdrop
//! is down waits in Postfix's queue and is delivered once it is up.

mod common;
#[path = "mail_postfix/postfix.rs"]
mod postfix;

use std::path::Path;
use std::time::Duration;

use common::inbox::{count, orders_csv, placed, wait_placed};
use common::mail::{self, swaks, DOMAIN, MAIL};
use common::server::TestServer;
use common::{Backend, TestEnv};
use postfix::Postfix;

/// Postfix's bounces to the test sender go nowhere (the sender's domain is not on loopback).
const SENDER_DOMAIN: (&str, &str) = ("partner.example", "discard:");

/// swaks sending `file` as the CSV attachment `name` to `to` through Postfix on `port`;
/// returns its transcript, panicking when Postfix did not take the message.
fn send_to_postfix(port: u16, to: &str, name: &str, file: &Path) -> String {
    let (ok, text) = swaks(&mail::attachment(port, to, name, "text/csv", file));
    assert!(ok, "{text}");
    assert!(text.contains("<-  250 2.0.0 Ok: queued as"), "{text}");
    text
}

fn csv_file(env: &TestEnv, name: &str, ids: &[&str]) -> std::path::PathBuf {
    let path = env.dir.path().join(name);
    std::fs::write(&path, orders_csv("1234", ids)).expect("write the CSV");
    path
}

/// How freightdrop is reached from Postfix.
#[derive(Clone, Copy, Debug)]
enum Path3 {
    LmtpUnix,
    LmtpInet,
    Smtp,
}

/// A freightdrop listening the way `path` needs, and a Postfix relaying DOMAIN to it.
async fn freightdrop_behind_postfix(path: Path3) -> (TestServer, Postfix) {
    let env = TestEnv::new(Backend::Sqlite).await;
    match path {
        Path3::LmtpUnix => {
            // The socket is where the postfix user can reach it: in Postfix's own temp dir.
            let postfix =
                Postfix::start(&[(DOMAIN, "lmtp:unix:{sock}/lmtp.sock"), SENDER_DOMAIN], "");
            let socket = postfix.socket_dir().join("lmtp.sock");
            let server = start_on_socket(env, &socket);
            (server, postfix)
        }
        Path3::LmtpInet => {
            let server = TestServer::start_in(
                env,
                &[
                    "--mail-domain",
                    DOMAIN,
                    "--smtp-addr",
                    "off",
                    "--lmtp-addr",
                    "127.0.0.1:0",
                ],
            );
            let to = format!("lmtp:inet:127.0.0.1:{}", server.port("lmtp"));
            let postfix = Postfix::start(&[(DOMAIN, to.as_str()), SENDER_DOMAIN], "");
            (server, postfix)
        }
        Path3::Smtp => {
            let server = TestServer::start_in(env, &["--mail-domain", DOMAIN]);
            let to = format!("smtp:[127.0.0.1]:{}", server.port("smtp"));
            let postfix = Postfix::start(&[(DOMAIN, to.as_str()), SENDER_DOMAIN], "");
            (server, postfix)
        }
    }
}

/// freightdrop with LMTP on the unix socket `socket` only, the socket opened to the postfix user
/// (`--lmtp-socket-mode 0666`; the socket's folder is the test's own).
fn start_on_socket(env: TestEnv, socket: &Path) -> TestServer {
    let text = socket.display().to_string();
    TestServer::start_in(
        env,
        &[
            "--mail-domain",
            DOMAIN,
            "--smtp-addr",
            "off",
            "--lmtp-addr",
            &text,
            "--lmtp-socket-mode",
            "0666",
        ],
    )
}

async fn relayed_csv_is_processed(path: Path3) {
    let (server, postfix) = freightdrop_behind_postfix(path).await;
    server.add_user("alice", "alice-password", MAIL);
    server
        .env
        .allow_mail_senders("alice", &["*@partner.example"]);
    let csv = csv_file(&server.env, "relayed.csv", &["P1", "P2", "P3"]);
    send_to_postfix(
        postfix.port,
        "edi+alice@orders.example",
        "relayed.csv",
        &csv,
    );
    let line = postfix.wait_status("edi+alice@orders.example", "sent", Duration::from_secs(60));
    assert!(line.contains("1 file(s) received"), "{path:?}: {line}");
    let home = server.env.home("alice");
    wait_placed(&home, 1);
    let (done, error) = placed(&home);
    assert_eq!(
        done,
        ["relayed.csv"],
        "{path:?}: errors {error:?}\n{}",
        server.log()
    );
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        3
    );
    assert!(postfix.queue_is_empty(), "{}", postfix.queue());
}

#[tokio::test]
async fn postfix_delivers_over_lmtp_on_a_unix_socket() {
    relayed_csv_is_processed(Path3::LmtpUnix).await;
}

#[tokio::test]
async fn postfix_delivers_over_lmtp_over_tcp() {
    relayed_csv_is_processed(Path3::LmtpInet).await;
}

#[tokio::test]
async fn postfix_delivers_over_smtp() {
    relayed_csv_is_processed(Path3::Smtp).await;
}

#[tokio::test]
async fn a_recipient_freightdrop_refuses_bounces_in_postfix() {
    for path in [Path3::Smtp, Path3::LmtpUnix] {
        let (server, postfix) = freightdrop_behind_postfix(path).await;
        server.add_user("alice", "alice-password", MAIL);
        server
            .env
            .allow_mail_senders("alice", &["*@partner.example"]);
        let csv = csv_file(&server.env, "nobody.csv", &["N1"]);
        send_to_postfix(
            postfix.port,
            "edi+nobody@orders.example",
            "nobody.csv",
            &csv,
        );
        let to = "edi+nobody@orders.example";
        let line = postfix.wait_status(to, "bounced", Duration::from_secs(60));
        assert!(line.contains("dsn=5.1.1"), "{path:?}: {line}");
        assert!(
            line.contains("550 5.1.1 no such mailbox"),
            "{path:?}: {line}"
        );
        assert!(
            !postfix
                .deliveries(to)
                .iter()
                .any(|l| l.contains("status=deferred")),
            "{path:?}: {}",
            postfix.log()
        );
        // Postfix made its non-delivery notice for the sender (here discarded) and keeps
        // nothing queued.
        common::server::wait_for(
            "Postfix's non-delivery notification",
            Duration::from_secs(30),
            || postfix.log().contains("sender non-delivery notification"),
        );
        common::server::wait_for("an empty Postfix queue", Duration::from_secs(30), || {
            postfix.queue_is_empty()
        });
        assert!(!server.env.home("nobody").exists());
        let (done, error) = placed(&server.env.home("alice"));
        assert!(done.is_empty() && error.is_empty(), "{done:?} {error:?}");
    }
}

#[tokio::test]
async fn mail_sent_while_freightdrop_is_down_is_delivered_once_it_is_up() {
    let postfix = Postfix::start(&[(DOMAIN, "lmtp:unix:{sock}/lmtp.sock"), SENDER_DOMAIN], "");
    let env = TestEnv::new(Backend::Sqlite).await;
    env.add_user("alice", "1234", "alice-password", MAIL);
    env.allow_mail_senders("alice", &["*@partner.example"]);
    let csv = csv_file(&env, "late.csv", &["D1", "D2"]);
    let to = "edi+alice@orders.example";
    send_to_postfix(postfix.port, to, "late.csv", &csv);
    // No socket yet: Postfix keeps the message and says it will try again.
    let line = postfix.wait_status(to, "deferred", Duration::from_secs(60));
    assert!(line.contains("dsn=4."), "{line}");
    assert!(postfix.queue().contains(to), "{}", postfix.queue());
    assert!(!postfix
        .deliveries(to)
        .iter()
        .any(|l| l.contains("status=bounced")));
    let socket = postfix.socket_dir().join("lmtp.sock");
    let server = start_on_socket(env, &socket);
    postfix.flush();
    postfix.wait_status(to, "sent", Duration::from_secs(60));
    let home = server.env.home("alice");
    wait_placed(&home, 1);
    assert_eq!(placed(&home).0, ["late.csv"], "{}", server.log());
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        2
    );
    common::server::wait_for("an empty Postfix queue", Duration::from_secs(30), || {
        postfix.queue_is_empty()
    });
    // Delivered once: exactly one `sent` for the recipient.
    let sent = postfix
        .deliveries(to)
        .into_iter()
        .filter(|l| l.contains("status=sent"))
        .count();
    assert_eq!(sent, 1, "{}", postfix.log());
}
