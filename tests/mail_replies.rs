//! The mail channel's error replies against the real server (issue 13 item 6): files mailed in
//! with Python's `smtplib` (`tests/mail/send.py`), replies received by `aiosmtpd` as the relay
//! on 127.0.0.1 (`tests/mail/relay.py`, one stored message and envelope per reply), parsed here
//! with `mail-parser`. A rejected file is mailed back with both attachments, the RFC 3834
//! headers and the null envelope sender; a daemon sender, an auto-submitted, a bulk and a list
//! message get none (a null sender is refused at RCPT); a relay that is down delays the reply, which arrives once it is up; the hourly
//! cap holds.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::inbox::count;
use common::mail::{DOMAIN, MAIL};
use common::server::TestServer;
use common::{Backend, TestEnv};
use mail_parser::{MessageParser, MimeHeaders};

const PARTNER: &str = "orders@partner.example";
const TO: &str = "edi+alice@orders.example";
/// A CSV the inbox rejects: no header row it knows.
const BAD_CSV: &[u8] = b"this is not an order file\n";

/// The aiosmtpd relay; killed when dropped.
struct Relay {
    child: Child,
    folder: PathBuf,
}

impl Relay {
    /// Starts the relay on `port`, storing into `folder`; returns once it listens.
    fn start(port: u16, folder: &Path) -> Relay {
        Relay::start_with(port, folder, &[])
    }

    /// As [`Relay::start`], with relay.py's `options` (`--tls CERT KEY`, `--auth USER:PASS`).
    fn start_with(port: u16, folder: &Path, options: &[&str]) -> Relay {
        std::fs::create_dir_all(folder).expect("relay folder");
        let mut child = Command::new("python3")
            .arg(script("relay.py"))
            .arg(port.to_string())
            .arg(folder)
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run tests/mail/relay.py (scripts/setup installs aiosmtpd)");
        let stdout = child.stdout.take().expect("relay stdout");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("relay's first line");
        assert_eq!(line.trim(), "ready", "the relay did not start");
        Relay {
            child,
            folder: folder.to_path_buf(),
        }
    }

    /// The messages stored so far: (envelope, message), in the order they came.
    fn messages(&self) -> Vec<(serde_json::Value, Vec<u8>)> {
        let mut found = Vec::new();
        for n in 1.. {
            let base = self.folder.join(n.to_string());
            let Ok(meta) = std::fs::read_to_string(base.with_extension("json")) else {
                break;
            };
            let envelope = serde_json::from_str(&meta).expect("envelope JSON");
            let message = std::fs::read(base.with_extension("eml")).expect("stored message");
            found.push((envelope, message));
        }
        found
    }

    /// Waits until `n` messages are stored.
    fn wait_for(&self, n: usize, server: &TestServer) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.messages().len() < n {
            assert!(
                Instant::now() < deadline,
                "the relay got {} of {n} replies\n{}",
                self.messages().len(),
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mail")
        .join(name)
}

/// A port nothing listens on now (the relay may be started on it later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Mails `files` from `from` (`""`: the null sender) with `headers`; panics unless accepted.
fn send(server: &TestServer, from: &str, subject: &str, headers: &[&str], files: &[&Path]) {
    let mut command = Command::new("python3");
    command
        .arg(script("send.py"))
        .arg(server.port("smtp").to_string())
        .args([from, TO, subject]);
    for header in headers {
        command.args(["--header", header]);
    }
    command.args(files);
    let out = command.output().expect("run tests/mail/send.py");
    assert!(
        out.status.success(),
        "{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
}

fn write_file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write the file to attach");
    path
}

/// Waits until `sql` counts `expected`.
async fn wait_count(env: &TestEnv, sql: &str, expected: i64, server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = count(env, sql).await;
        if n == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: {n}, expected {expected}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn server(backend: Backend, relay_port: u16, extra: &[&str]) -> TestServer {
    let relay = format!("smtp://127.0.0.1:{relay_port}");
    let mut args = vec![
        "--mail-domain",
        DOMAIN,
        "--smtp-relay",
        &relay,
        "--mail-reply-retry",
        "1",
    ];
    args.extend_from_slice(extra);
    let server = TestServer::start(backend, &args).await;
    server.add_user("alice", "alice-password", MAIL);
    server
        .env
        .allow_mail_senders("alice", &["*@partner.example", "*@mx.partner.example"]);
    server
}

on_both_backends!(
    a_rejected_mailed_file_is_mailed_back,
    super::a_rejected_mailed_file_is_mailed_back
);
async fn a_rejected_mailed_file_is_mailed_back(backend: Backend) {
    let port = free_port();
    let server = server(backend, port, &[]).await;
    let relay = Relay::start(port, &server.env.dir.path().join("relay"));
    let bad = write_file(server.env.dir.path(), "week12.csv", BAD_CSV);
    send(
        &server,
        PARTNER,
        "orders week 12",
        &["References: <earlier@partner.example>"],
        &[&bad],
    );
    relay.wait_for(1, &server);
    let (envelope, raw) = relay.messages().remove(0);
    // aiosmtpd reports the null reverse-path of `MAIL FROM:<>` as "<>".
    assert_eq!(
        envelope["mail_from"], "<>",
        "the envelope sender must be null"
    );
    assert_eq!(envelope["rcpt_tos"], serde_json::json!([PARTNER]));
    let reply = MessageParser::default().parse(&raw).expect("a MIME reply");
    assert_eq!(
        reply.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    assert_eq!(
        reply.subject(),
        Some("Re: orders week 12 (week12.csv was rejected)")
    );
    let original = reply
        .in_reply_to()
        .as_text()
        .expect("In-Reply-To")
        .to_owned();
    assert!(original.ends_with("@partner.example"), "{original}");
    let references = reply
        .references()
        .as_text_list()
        .expect("References")
        .to_vec();
    assert_eq!(references.len(), 2, "{references:?}");
    assert_eq!(references[0], "earlier@partner.example");
    assert_eq!(references[1], original);
    let attachments: Vec<_> = reply
        .attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or("").to_owned(),
                a.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(attachments.len(), 2, "{attachments:?}");
    assert_eq!(attachments[0].0, "week12.csv.error.txt");
    assert_eq!(attachments[1], ("week12.csv".to_owned(), BAD_CSV.to_vec()));
    // The report is the one beside the file in error/, in the body too.
    let report = std::fs::read(server.env.home("alice").join("error/week12.csv.error.txt"))
        .expect("the report in error/");
    // A text part travels with CRLF line ends (RFC 2046); the text is the same.
    let text = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .replace("\r\n", "\n")
            .trim()
            .to_owned()
    };
    assert_eq!(text(&attachments[0].1), text(&report));
    let body = reply.body_text(0).expect("a text body");
    assert!(text(body.as_bytes()).contains(&text(&report)), "{body}");
    wait_count(
        &server.env,
        "SELECT COUNT(*) FROM mail_replies WHERE state = 'sent' AND sent_at IS NOT NULL \
         AND attempts = 1",
        1,
        &server,
    )
    .await;
    // The ledger's row of the file is tied to where it came from.
    assert_eq!(
        count(
            &server.env,
            "SELECT COUNT(*) FROM mail_files m JOIN inbox_files f ON f.id = m.inbox_file_id \
             WHERE f.state = 'error' AND m.sender = 'orders@partner.example' \
             AND m.message_id IS NOT NULL AND m.subject = 'orders week 12'"
        )
        .await,
        1
    );
    assert!(server.log().contains("error reply sent"));
    // Staff see where the file came from and the reply's delivery state.
    let id = count(
        &server.env,
        "SELECT id FROM inbox_files WHERE file_name = 'week12.csv'",
    )
    .await;
    let file = staff_api(&server, &format!("/api/v1/files/{id}"));
    let mail = &file["mail"];
    assert_eq!(mail["sender"], PARTNER, "{file}");
    assert_eq!(mail["subject"], "orders week 12");
    assert_eq!(mail["message_id"], original.as_str());
    assert_eq!(mail["replies"][0]["state"], "sent");
    assert_eq!(mail["replies"][0]["recipient"], PARTNER);
    assert_eq!(mail["replies"][0]["attempts"], 1);
}

/// `GET path` on the staff API with a fresh admin's token; the JSON answer.
fn staff_api(server: &TestServer, path: &str) -> serde_json::Value {
    let out = server.env.cli(
        &["admin", "add", "boss", "--password-stdin"],
        Some("admin password 1\n"),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = server.env.cli(&["admin", "token", "boss"], None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let token = common::stdout(&out).trim().to_owned();
    let out = common::curl::curl_ok(
        10,
        &[
            "-H",
            &format!("Authorization: Bearer {token}"),
            &format!("http://{}{path}", server.addr("http")),
        ],
        path,
    );
    serde_json::from_slice(&out.stdout).expect("a JSON answer")
}

#[tokio::test]
async fn no_reply_to_a_null_sender_an_auto_submitted_or_a_bulk_message() {
    let port = free_port();
    let server = server(Backend::Sqlite, port, &[]).await;
    let relay = Relay::start(port, &server.env.dir.path().join("relay"));
    let dir = server.env.dir.path();
    // The null sender is on no account's list of mail senders: refused at RCPT, so nothing is
    // stored and there is nothing to answer.
    let out = Command::new("python3")
        .arg(script("send.py"))
        .arg(server.port("smtp").to_string())
        .args(["", TO, "bounce"])
        .arg(write_file(dir, "a.csv", BAD_CSV))
        .output()
        .expect("run tests/mail/send.py");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && printed.contains("550"),
        "{printed}"
    );
    send(
        &server,
        PARTNER,
        "auto",
        &["Auto-Submitted: auto-generated"],
        &[&write_file(dir, "b.csv", BAD_CSV)],
    );
    send(
        &server,
        PARTNER,
        "bulk",
        &["Precedence: bulk"],
        &[&write_file(dir, "c.csv", BAD_CSV)],
    );
    send(
        &server,
        PARTNER,
        "list",
        &["List-Id: <orders.lists.partner.example>"],
        &[&write_file(dir, "d.csv", BAD_CSV)],
    );
    send(
        &server,
        "MAILER-DAEMON@mx.partner.example",
        "daemon",
        &[],
        &[&write_file(dir, "e.csv", BAD_CSV)],
    );
    // Every file is rejected and tied to its ledger row, none gets a reply.
    wait_count(
        &server.env,
        "SELECT COUNT(*) FROM mail_files m JOIN inbox_files f ON f.id = m.inbox_file_id \
         WHERE f.state = 'error' AND m.no_reply IS NOT NULL",
        4,
        &server,
    )
    .await;
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM mail_replies").await,
        0
    );
    // A normal message after them is answered: the relay gets that one reply only.
    send(
        &server,
        PARTNER,
        "normal",
        &["Auto-Submitted: no"],
        &[&write_file(dir, "f.csv", BAD_CSV)],
    );
    relay.wait_for(1, &server);
    wait_count(
        &server.env,
        "SELECT COUNT(*) FROM mail_replies WHERE state = 'sent'",
        1,
        &server,
    )
    .await;
    let messages = relay.messages();
    assert_eq!(messages.len(), 1);
    let reply = MessageParser::default()
        .parse(&messages[0].1)
        .expect("a MIME reply");
    assert_eq!(reply.subject(), Some("Re: normal (f.csv was rejected)"));
    assert!(server
        .log()
        .contains("no error reply for a rejected mailed file"));
}

on_both_backends!(
    a_relay_that_is_down_delays_the_reply,
    super::a_relay_that_is_down_delays_the_reply
);
async fn a_relay_that_is_down_delays_the_reply(backend: Backend) {
    let port = free_port();
    let server = server(backend, port, &[]).await;
    let bad = write_file(server.env.dir.path(), "late.csv", BAD_CSV);
    send(&server, PARTNER, "late", &[], &[&bad]);
    // The relay is not there: the reply stays queued with the failed attempt recorded.
    wait_count(
        &server.env,
        "SELECT COUNT(*) FROM mail_replies WHERE state = 'queued' AND attempts >= 1 \
         AND last_error IS NOT NULL",
        1,
        &server,
    )
    .await;
    let relay = Relay::start(port, &server.env.dir.path().join("relay"));
    relay.wait_for(1, &server);
    wait_count(
        &server.env,
        "SELECT COUNT(*) FROM mail_replies WHERE state = 'sent' AND attempts >= 2",
        1,
        &server,
    )
    .await;
    let messages = relay.messages();
    let reply = MessageParser::default()
        .parse(&messages[0].1)
        .expect("a MIME reply");
    assert_eq!(reply.subject(), Some("Re: late (late.csv was rejected)"));
    assert!(server.log().contains("trying again later"));
}

#[tokio::test]
async fn replies_to_one_sender_are_capped_per_hour() {
    let port = free_port();
    let server = server(Backend::Sqlite, port, &["--mail-replies-per-hour", "2"]).await;
    let relay = Relay::start(port, &server.env.dir.path().join("relay"));
    let dir = server.env.dir.path();
    let files: Vec<PathBuf> = ["x1.csv", "x2.csv", "x3.csv"]
        .iter()
        .map(|name| write_file(dir, name, BAD_CSV))
        .collect();
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    send(&server, PARTNER, "three", &[], &files);
    wait_count(
        &server.env,
        "SELECT COUNT(*) FROM mail_files WHERE inbox_file_id IS NOT NULL",
        3,
        &server,
    )
    .await;
    wait_count(
        &server.env,
        "SELECT COUNT(*) FROM mail_replies WHERE state = 'sent'",
        2,
        &server,
    )
    .await;
    assert_eq!(
        count(
            &server.env,
            "SELECT COUNT(*) FROM mail_replies WHERE state = 'capped'"
        )
        .await,
        1
    );
    relay.wait_for(2, &server);
    assert_eq!(relay.messages().len(), 2);
    assert!(server.log().contains("over the sender's hourly cap"));
}

/// A CA and a certificate for 127.0.0.1 it signed, made with openssl in `dir`: (CA, cert, key).
fn relay_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test relay CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "relay.key",
        "-out",
        "relay.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("relay.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n",
    )
    .expect("extensions file");
    run(&[
        "x509",
        "-req",
        "-in",
        "relay.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "relay.pem",
        "-days",
        "2",
        "-extfile",
        "relay.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("relay.pem"),
        dir.join("relay.key"),
    )
}

/// A relay that requires STARTTLS and a login: the reply goes over TLS (the relay's certificate
/// checked against `--smtp-relay-ca`) with the URL's credentials.
#[tokio::test]
async fn replies_go_through_starttls_with_credentials() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = relay_certificate(dir.path());
    let relay_url = format!("smtp://fd:s3cret@127.0.0.1:{port}?tls=required");
    let server = TestServer::start(
        Backend::Sqlite,
        &[
            "--mail-domain",
            DOMAIN,
            "--smtp-relay",
            &relay_url,
            "--smtp-relay-ca",
            ca.to_str().expect("CA path"),
            "--mail-reply-retry",
            "1",
        ],
    )
    .await;
    server.add_user("alice", "alice-password", MAIL);
    server
        .env
        .allow_mail_senders("alice", &["*@partner.example", "*@mx.partner.example"]);
    let relay = Relay::start_with(
        port,
        &server.env.dir.path().join("relay"),
        &[
            "--tls",
            cert.to_str().expect("cert path"),
            key.to_str().expect("key path"),
            "--auth",
            "fd:s3cret",
        ],
    );
    let bad = write_file(server.env.dir.path(), "tls.csv", BAD_CSV);
    send(&server, PARTNER, "over tls", &[], &[&bad]);
    relay.wait_for(1, &server);
    let (envelope, _) = relay.messages().remove(0);
    assert_eq!(envelope["tls"], true, "{envelope}");
    assert_eq!(envelope["login"], "fd", "{envelope}");
    assert_eq!(envelope["mail_from"], "<>");
    assert!(!server.log().contains("s3cret"), "the password is logged");
}

/// Two server processes on one PostgreSQL database and data dir, both sending through the
/// relay: each reply is claimed by one of them and arrives once.
#[tokio::test]
async fn two_nodes_send_each_reply_once() {
    let port = free_port();
    let first = server(Backend::Postgres, port, &[]).await;
    let data_dir = first.env.data_dir();
    let relay_url = format!("smtp://127.0.0.1:{port}");
    let second = TestServer::start_in(
        TestEnv {
            dir: tempfile::tempdir().expect("temp dir"),
            database_url: first.env.database_url.clone(),
        },
        &[
            "--data-dir",
            data_dir.to_str().expect("data dir"),
            "--mail-domain",
            DOMAIN,
            "--smtp-relay",
            &relay_url,
            "--mail-reply-retry",
            "1",
        ],
    );
    let relay = Relay::start(port, &first.env.dir.path().join("relay"));
    const FILES: usize = 8;
    for i in 0..FILES {
        let file = write_file(first.env.dir.path(), &format!("n{i}.csv"), BAD_CSV);
        let node = if i % 2 == 0 { &first } else { &second };
        send(node, PARTNER, &format!("file {i}"), &[], &[&file]);
    }
    wait_count(
        &first.env,
        "SELECT COUNT(*) FROM mail_replies WHERE state = 'sent' AND attempts = 1",
        FILES as i64,
        &first,
    )
    .await;
    relay.wait_for(FILES, &first);
    let mut subjects: Vec<String> = relay
        .messages()
        .iter()
        .map(|(_, raw)| {
            MessageParser::default()
                .parse(raw)
                .and_then(|m| m.subject().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), FILES, "{subjects:?}");
    assert_eq!(relay.messages().len(), FILES);
}

/// Without `--smtp-relay` a reply is queued and not sent, and the server says so once.
#[tokio::test]
async fn without_a_relay_replies_are_queued_not_sent() {
    let server = TestServer::start(Backend::Sqlite, &["--mail-domain", DOMAIN]).await;
    server.add_user("alice", "alice-password", MAIL);
    server
        .env
        .allow_mail_senders("alice", &["*@partner.example", "*@mx.partner.example"]);
    let bad = write_file(server.env.dir.path(), "kept.csv", BAD_CSV);
    send(&server, PARTNER, "kept", &[], &[&bad]);
    wait_count(
        &server.env,
        "SELECT COUNT(*) FROM mail_replies WHERE state = 'queued' AND attempts = 0",
        1,
        &server,
    )
    .await;
    let log = server.log();
    assert_eq!(
        log.matches("error replies to mailed files are queued but not sent")
            .count(),
        1,
        "{log}"
    );
}

/// The server killed after the inbox committed a mailed file's rejection but before it moved
/// the file (so before its reply could be queued): after a restart the reply is queued and sent.
#[tokio::test]
async fn a_reply_survives_a_kill_between_rejection_and_filing() {
    let port = free_port();
    let relay_url = format!("smtp://127.0.0.1:{port}");
    let args = [
        "--mail-domain",
        DOMAIN,
        "--smtp-relay",
        &relay_url,
        "--mail-reply-retry",
        "1",
    ];
    let env = TestEnv::new(Backend::Sqlite).await;
    env.add_user("alice", "1234", "alice-password", MAIL);
    env.allow_mail_senders("alice", &["*@partner.example", "*@mx.partner.example"]);
    // The pipeline's test hook stops the worker handling `killed.csv` just after its commit.
    std::env::set_var("FREIGHTDROP_TEST_PAUSE_AFTER_COMMIT", "killed.csv");
    let mut server = TestServer::start_in(env, &args);
    std::env::remove_var("FREIGHTDROP_TEST_PAUSE_AFTER_COMMIT");
    let relay = Relay::start(port, &server.env.dir.path().join("relay"));
    let bad = write_file(server.env.dir.path(), "killed.csv", BAD_CSV);
    send(&server, PARTNER, "killed", &[], &[&bad]);
    wait_count(
        &server.env,
        "SELECT COUNT(*) FROM inbox_files WHERE file_name = 'killed.csv' AND state = 'error' \
         AND closed_at IS NULL",
        1,
        &server,
    )
    .await;
    server.kill();
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM mail_replies").await,
        0
    );
    assert!(relay.messages().is_empty());
    let server = TestServer::start_in(server.into_env(), &args);
    relay.wait_for(1, &server);
    wait_count(
        &server.env,
        "SELECT COUNT(*) FROM mail_replies WHERE state = 'sent'",
        1,
        &server,
    )
    .await;
    let messages = relay.messages();
    let reply = MessageParser::default()
        .parse(&messages[0].1)
        .expect("a MIME reply");
    assert_eq!(
        reply.subject(),
        Some("Re: killed (killed.csv was rejected)")
    );
    assert_eq!(reply.attachments().count(), 2);
}
