//! The mail channel against the real server, with `swaks` (and Python's `smtplib` for a
//! declared SIZE) as the sending client on loopback: a mailed CSV order ends in `done/` with its
//! shipments in the database; refused recipients, oversized messages and messages without an
//! attachment get a 5xx and leave nothing behind; LMTP over a unix socket delivers per recipient.

mod common;

use std::path::Path;
use std::process::Command;

use common::inbox::{count, names_in, orders_csv, placed, wait_placed};
use common::mail::{self, swaks, DOMAIN, MAIL};
use common::server::TestServer;
use common::{Backend, TestEnv};

/// swaks arguments that send `csv` as the attachment `name` to `to` over SMTP on `server`.
fn smtp_with_attachment(server: &TestServer, to: &str, name: &str, file: &Path) -> Vec<String> {
    mail::attachment(server.port("smtp"), to, name, "text/csv", file)
}

fn write_file(dir: &Path, name: &str, content: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write the file to attach");
    path
}

/// Nothing in the inbox, `done/` or `error/` of `home` (or no home at all).
fn nothing_stored(home: &Path) {
    assert_eq!(names_in(home), Vec::<String>::new(), "inbox of {home:?}");
    let (done, error) = placed(home);
    assert!(done.is_empty() && error.is_empty(), "{done:?} {error:?}");
}

/// Adds `name` with the mail protocol, accepting mail from every address of partner.example (the
/// senders the tests use).
fn add_mail_user(server: &TestServer, name: &str) {
    server.add_user(name, &format!("{name}-password"), MAIL);
    mail_sender(server, &["add", name, "*@partner.example"]);
}

/// Runs `freightdrop user mail-sender ARGS`; panics when it fails.
fn mail_sender(server: &TestServer, args: &[&str]) -> String {
    let mut all = vec!["user", "mail-sender"];
    all.extend_from_slice(args);
    let out = server.env.cli(&all, None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn server(backend: Backend, extra: &[&str]) -> TestServer {
    let mut args = vec!["--mail-domain", DOMAIN];
    args.extend_from_slice(extra);
    TestServer::start(backend, &args).await
}

on_both_backends!(
    a_mailed_csv_order_is_processed_into_done,
    super::a_mailed_csv_order_is_processed_into_done
);
async fn a_mailed_csv_order_is_processed_into_done(backend: Backend) {
    let server = server(backend, &[]).await;
    add_mail_user(&server, "alice");
    let csv = write_file(
        server.env.dir.path(),
        "orders.csv",
        orders_csv("1234", &["M1", "M2"]).as_bytes(),
    );
    let args = smtp_with_attachment(&server, "EDI+Alice@Orders.Example", "../orders.csv", &csv);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, transcript) = swaks(&args);
    assert!(ok, "{transcript}");
    assert!(transcript.contains("250-SIZE 52428800"), "{transcript}");
    assert!(
        transcript.contains("<-  250 2.0.0 1 file(s) received"),
        "{transcript}"
    );
    let home = server.env.home("alice");
    wait_placed(&home, 1);
    let (done, error) = placed(&home);
    assert_eq!(done, ["orders.csv"], "errors: {error:?}\n{}", server.log());
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        2
    );
    // The same file again gets its own name in the inbox, never replacing anything.
    let (ok, transcript) = swaks(&args);
    assert!(ok, "{transcript}");
    wait_placed(&home, 2);
    let (done, _) = placed(&home);
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(server.log().contains("mail delivered"));
}

#[tokio::test]
async fn refused_recipients_get_a_550_and_nothing_is_stored() {
    let server = server(Backend::Sqlite, &[]).await;
    add_mail_user(&server, "alice");
    server.add_user("bob", "bob-password", &[]);
    add_mail_user(&server, "dora");
    let out = server.env.cli(&["user", "disable", "dora"], None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let csv = write_file(
        server.env.dir.path(),
        "o.csv",
        orders_csv("1234", &["R1"]).as_bytes(),
    );
    for (to, reply) in [
        ("edi+nobody@orders.example", "550 5.1.1 no such mailbox"),
        (
            "edi+bob@orders.example",
            "550 5.7.1 this account does not accept files by mail",
        ),
        (
            "edi+dora@orders.example",
            "550 5.2.1 this mailbox is disabled",
        ),
        (
            "edi+alice.9999@orders.example",
            "550 5.7.1 this account may not send files for that customer",
        ),
        (
            "edi+alice+pdf@orders.example",
            "550 5.1.1 unknown format \"pdf\"",
        ),
        (
            "edi+alice@elsewhere.example",
            "550 5.1.2 this server does not accept mail for that domain",
        ),
        (
            "alice@orders.example",
            "550 5.1.1 no such mailbox; addresses have the form edi+",
        ),
    ] {
        let args = smtp_with_attachment(&server, to, "o.csv", &csv);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, transcript) = swaks(&args);
        assert!(!ok, "{to} accepted:\n{transcript}");
        assert!(transcript.contains(reply), "{to}:\n{transcript}");
        assert!(
            !transcript.contains("354"),
            "{to} reached DATA:\n{transcript}"
        );
    }
    for user in ["alice", "bob", "dora"] {
        nothing_stored(&server.env.home(user));
    }
    assert!(!server.env.home("nobody").exists());
    // The right customer is accepted.
    let args = smtp_with_attachment(&server, "edi+alice.1234@orders.example", "o.csv", &csv);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, transcript) = swaks(&args);
    assert!(ok, "{transcript}");
    wait_placed(&server.env.home("alice"), 1);
}

#[tokio::test]
async fn messages_over_the_size_limit_are_refused() {
    let server = server(Backend::Sqlite, &["--mail-max-size", "4096"]).await;
    add_mail_user(&server, "alice");
    let big = orders_csv("1234", &["B1"; 60]);
    assert!(big.len() > 4096);
    let csv = write_file(server.env.dir.path(), "big.csv", big.as_bytes());
    // swaks declares no SIZE: the text is refused once it passes the limit.
    let args = smtp_with_attachment(&server, "edi+alice@orders.example", "big.csv", &csv);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, transcript) = swaks(&args);
    assert!(!ok, "{transcript}");
    assert!(transcript.contains("250-SIZE 4096"), "{transcript}");
    assert!(
        transcript.contains("552 5.3.4 message larger than the limit of 4096 bytes"),
        "{transcript}"
    );
    // smtplib declares the SIZE it is about to send: refused at MAIL FROM.
    let script = format!(
        "import smtplib, sys\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=30)\n\
         try:\n    s.sendmail('a@partner.example', ['edi+alice@orders.example'], b'Subject: x\\r\\n\\r\\n' + b'x' * 8000)\n\
         except smtplib.SMTPSenderRefused as e:\n    print('refused', e.smtp_code, e.smtp_error.decode())\n    sys.exit(0)\n\
         sys.exit(1)\n",
        port = server.port("smtp")
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("refused 552 5.3.4 message larger"), "{said}");
    nothing_stored(&server.env.home("alice"));
}

#[tokio::test]
async fn a_message_without_attachments_is_refused() {
    let server = server(Backend::Sqlite, &[]).await;
    add_mail_user(&server, "alice");
    let port = server.port("smtp").to_string();
    let (ok, transcript) = swaks(&[
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--to",
        "edi+alice@orders.example",
        "--body",
        "customerID;shipmentID\n1234;X1\n",
    ]);
    assert!(!ok, "{transcript}");
    assert!(
        transcript.contains("554 5.6.0 the message has no attachment"),
        "{transcript}"
    );
    nothing_stored(&server.env.home("alice"));
}

#[tokio::test]
async fn lmtp_over_a_unix_socket_answers_per_recipient() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let socket = env.dir.path().join("lmtp.sock");
    let socket_text = socket.display().to_string();
    let server = TestServer::start_in(
        env,
        &[
            "--mail-domain",
            DOMAIN,
            "--smtp-addr",
            "off",
            "--lmtp-addr",
            &socket_text,
        ],
    );
    assert!(server.addr_opt("smtp").is_none());
    add_mail_user(&server, "alice");
    add_mail_user(&server, "carol");
    let csv = write_file(
        server.env.dir.path(),
        "l.csv",
        orders_csv("1234", &["L1"]).as_bytes(),
    );
    let attach = format!("@{}", csv.display());
    let (ok, transcript) = swaks(&[
        "--protocol",
        "LMTP",
        "--socket",
        &socket_text,
        "--to",
        "edi+alice@orders.example,edi+carol@orders.example",
        "--attach-type",
        "text/csv",
        "--attach-name",
        "l.csv",
        "--attach",
        &attach,
    ]);
    assert!(ok, "{transcript}");
    assert!(transcript.contains("LHLO"), "{transcript}");
    assert_eq!(
        transcript
            .matches("<-  250 2.0.0 1 file(s) received")
            .count(),
        2,
        "{transcript}"
    );
    for user in ["alice", "carol"] {
        let home = server.env.home(user);
        wait_placed(&home, 1);
        assert_eq!(placed(&home).0, ["l.csv"], "{user}");
    }
    assert!(count(&server.env, "SELECT COUNT(*) FROM shipments").await >= 1);
}

/// A message over `--mail-max-size` that announced no SIZE is refused after DATA; over LMTP each
/// recipient gets its own 552 (one reply in all would leave the MTA waiting for the second),
/// nothing is stored, and `/metrics` counts the refusals and the deliveries.
#[tokio::test]
async fn lmtp_answers_each_recipient_of_a_message_over_the_size_limit() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let socket = env.dir.path().join("lmtp.sock");
    let socket_text = socket.display().to_string();
    let server = TestServer::start_in(
        env,
        &[
            "--mail-domain",
            DOMAIN,
            "--mail-max-size",
            "4096",
            "--lmtp-addr",
            &socket_text,
        ],
    );
    add_mail_user(&server, "alice");
    add_mail_user(&server, "carol");
    let dir = server.env.dir.path();
    let big = write_file(dir, "big.csv", "x;y\n".repeat(4000).as_bytes());
    let small = write_file(dir, "s.csv", orders_csv("1234", &["Z1"]).as_bytes());
    let lmtp = |file: &Path, name: &str| {
        let attach = format!("@{}", file.display());
        swaks(&[
            "--protocol",
            "LMTP",
            "--socket",
            &socket_text,
            "--to",
            "edi+alice@orders.example,edi+carol@orders.example",
            "--attach-type",
            "text/csv",
            "--attach-name",
            name,
            "--attach",
            &attach,
        ])
    };
    let (_, transcript) = lmtp(&big, "big.csv");
    assert_eq!(
        transcript
            .matches("<** 552 5.3.4 message larger than the limit of 4096 bytes")
            .count(),
        2,
        "{transcript}"
    );
    for user in ["alice", "carol"] {
        nothing_stored(&server.env.home(user));
    }
    let (ok, transcript) = lmtp(&small, "s.csv");
    assert!(ok, "{transcript}");
    for user in ["alice", "carol"] {
        wait_placed(&server.env.home(user), 1);
    }
    let text = server.metrics(&server.metrics_token("watcher"));
    for line in [
        "freightdrop_mail_messages_total{result=\"refused_content\"} 2",
        "freightdrop_mail_messages_total{result=\"delivered\"} 2",
        "freightdrop_mail_attachments_total 2",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
}

#[tokio::test]
async fn a_disk_problem_answers_451_so_the_sender_tries_again() {
    let server = server(Backend::Sqlite, &[]).await;
    add_mail_user(&server, "alice");
    // The home is gone and a plain file stands in its place: nothing can be stored there.
    let home = server.env.home("alice");
    std::fs::remove_dir_all(&home).expect("remove the home");
    std::fs::write(&home, b"not a folder").expect("file in its place");
    let csv = write_file(
        server.env.dir.path(),
        "d.csv",
        orders_csv("1234", &["D1"]).as_bytes(),
    );
    let args = smtp_with_attachment(&server, "edi+alice@orders.example", "d.csv", &csv);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, transcript) = swaks(&args);
    assert!(!ok, "{transcript}");
    assert!(
        transcript.contains("<** 451 4.3.0 local error; try again later"),
        "{transcript}"
    );
    assert_eq!(
        std::fs::read(&home).expect("still the file"),
        b"not a folder"
    );
    assert!(server.log().contains("mail delivery failed"));
}

#[tokio::test]
async fn recipients_are_capped_and_connections_pass_the_gate_admission() {
    let server = server(
        Backend::Sqlite,
        &[
            "--mail-max-recipients",
            "1",
            "--max-unauthenticated-per-address",
            "1",
        ],
    )
    .await;
    add_mail_user(&server, "alice");
    add_mail_user(&server, "carol");
    let csv = write_file(
        server.env.dir.path(),
        "c.csv",
        orders_csv("1234", &["C1"]).as_bytes(),
    );
    let args = smtp_with_attachment(
        &server,
        "edi+alice@orders.example,edi+carol@orders.example",
        "c.csv",
        &csv,
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, transcript) = swaks(&args);
    assert!(
        transcript.contains("452 4.5.3 too many recipients"),
        "{transcript}"
    );
    // A connection held open from this address fills its one place: the next is turned away
    // before the greeting.
    let mut held = std::net::TcpStream::connect(server.addr("smtp")).expect("connect");
    let mut greeting = [0u8; 64];
    let n = std::io::Read::read(&mut held, &mut greeting).expect("greeting");
    assert!(greeting[..n].starts_with(b"220 "), "{:?}", &greeting[..n]);
    let (ok, transcript) = swaks(&args);
    assert!(!ok, "{transcript}");
    assert!(
        transcript.contains("421 4.7.0 too many connections"),
        "{transcript}"
    );
    drop(held);
    nothing_stored(&server.env.home("carol"));
}

#[tokio::test]
async fn starttls_with_the_ftps_certificate_then_delivery() {
    let server = server(Backend::Sqlite, &[]).await;
    add_mail_user(&server, "alice");
    let csv = write_file(
        server.env.dir.path(),
        "tls.csv",
        orders_csv("1234", &["T1"]).as_bytes(),
    );
    // Python's smtplib and ssl: STARTTLS offered in the clear, not after; the message is then
    // sent over TLS (it declares its SIZE, as smtplib does).
    let script = format!(
        "import smtplib, ssl\n\
         from email.message import EmailMessage\n\
         m = EmailMessage()\n\
         m['From'] = 'orders@partner.example'\n\
         m['To'] = 'edi+alice@orders.example'\n\
         m['Subject'] = 'orders'\n\
         m.set_content('see attached')\n\
         m.add_attachment(open({path:?}, 'rb').read(), maintype='text', subtype='csv', filename='tls.csv')\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=30)\n\
         s.ehlo()\n\
         print('offered', s.has_extn('starttls'))\n\
         ctx = ssl.create_default_context()\n\
         ctx.check_hostname = False\n\
         ctx.verify_mode = ssl.CERT_NONE\n\
         s.starttls(context=ctx)\n\
         s.ehlo()\n\
         print('again', s.has_extn('starttls'), s.sock.version())\n\
         print('refused', s.send_message(m))\n\
         s.quit()\n",
        path = csv.display().to_string(),
        port = server.port("smtp")
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("offered True"), "{said}");
    assert!(said.contains("again False TLSv1.3"), "{said}");
    assert!(said.contains("refused {}"), "{said}");
    let home = server.env.home("alice");
    wait_placed(&home, 1);
    assert_eq!(placed(&home).0, ["tls.csv"]);
    assert!(server.log().contains("tls=true"), "{}", server.log());
}

/// swaks arguments that send a one-order CSV attachment from `from` to `to` over SMTP.
fn order_from(server: &TestServer, from: &str, to: &str, csv: &Path) -> Vec<String> {
    let mut args = vec!["--from".to_owned(), from.to_owned()];
    args.extend(smtp_with_attachment(server, to, "s.csv", csv));
    args
}

on_both_backends!(
    only_the_senders_an_account_lists_may_mail_it,
    super::only_the_senders_an_account_lists_may_mail_it
);
/// An account with the mail protocol and no sender accepts no mail; once it lists an address
/// and a `*@domain`, mail from those is accepted (case does not matter) and every other sender,
/// the null sender too, is refused at RCPT with a 550, logged, and leaves nothing behind.
async fn only_the_senders_an_account_lists_may_mail_it(backend: Backend) {
    let server = server(backend, &[]).await;
    server.add_user("alice", "alice-password", MAIL);
    let out = server.env.cli(&["user", "show", "alice"], None);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("mail senders:  (none: no mail is accepted)"),
        "{shown}"
    );
    let csv = write_file(
        server.env.dir.path(),
        "s.csv",
        orders_csv("1234", &["S1"]).as_bytes(),
    );
    let to = "edi+alice@orders.example";
    let (ok, transcript) = swaks(&order_from(&server, "orders@partner.example", to, &csv));
    assert!(!ok, "{transcript}");
    assert!(
        transcript.contains("550 5.7.1 this account accepts mail from no sender"),
        "{transcript}"
    );
    assert!(!transcript.contains("354"), "{transcript}");

    let said = mail_sender(&server, &["add", "alice", "Orders@Partner.Example"]);
    assert!(
        said.contains("alice accepts mail from orders@partner.example"),
        "{said}"
    );
    mail_sender(&server, &["add", "alice", "*@EDI.example"]);
    let again = server.env.cli(
        &[
            "user",
            "mail-sender",
            "add",
            "alice",
            "orders@partner.example",
        ],
        None,
    );
    assert!(!again.status.success());
    assert!(common::stderr(&again).contains("already accepts mail from"));
    let bad = server.env.cli(
        &["user", "mail-sender", "add", "alice", "partner.example"],
        None,
    );
    assert!(!bad.status.success());
    assert!(common::stderr(&bad).contains("invalid mail sender"));
    let out = server.env.cli(&["user", "show", "alice"], None);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("mail sender:   *@edi.example"), "{shown}");
    assert!(
        shown.contains("mail sender:   orders@partner.example"),
        "{shown}"
    );

    // Allowed: the exact address (in another case) and any address of the listed domain.
    for from in ["ORDERS@partner.example", "someone@edi.example"] {
        let (ok, transcript) = swaks(&order_from(&server, from, to, &csv));
        assert!(ok, "{from}:\n{transcript}");
    }
    let home = server.env.home("alice");
    wait_placed(&home, 2);
    assert_eq!(placed(&home).0.len(), 2, "{}", server.log());

    // Refused: another address of the exact address's domain, a subdomain, the null sender.
    for from in ["other@partner.example", "x@sub.edi.example", "<>"] {
        let (ok, transcript) = swaks(&order_from(&server, from, to, &csv));
        assert!(!ok, "{from} accepted:\n{transcript}");
        assert!(
            transcript.contains("550 5.7.1 this account does not accept mail from this sender"),
            "{from}:\n{transcript}"
        );
        assert!(!transcript.contains("354"), "{from}:\n{transcript}");
    }
    let log = server.log();
    let refusal = log
        .lines()
        .find(|l| {
            l.contains("mail recipient refused") && l.contains("sender=other@partner.example")
        })
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(refusal.contains("WARN"), "{refusal}");
    assert!(
        refusal.contains("recipient=edi+alice@orders.example"),
        "{refusal}"
    );
    assert!(refusal.contains("peer=Some(127.0.0.1:"), "{refusal}");
    // Nothing more stored than the two accepted messages.
    assert_eq!(names_in(&home), Vec::<String>::new());
    assert_eq!(placed(&home).0.len(), 2);

    // Removed, the domain's senders are refused again.
    let said = mail_sender(&server, &["remove", "alice", "*@edi.example"]);
    assert!(
        said.contains("no longer accepts mail from *@edi.example"),
        "{said}"
    );
    let (ok, transcript) = swaks(&order_from(&server, "someone@edi.example", to, &csv));
    assert!(!ok, "{transcript}");
    let gone = server.env.cli(
        &["user", "mail-sender", "remove", "alice", "*@edi.example"],
        None,
    );
    assert!(!gone.status.success());
    assert!(common::stderr(&gone).contains("has no mail sender"));
}

/// With `--mail-require-auth-results`, a message is accepted only when an
/// Authentication-Results header of the trusted authserv-id says dkim=pass or spf=pass; any
/// other message gets a 550 after DATA and leaves nothing behind.
#[tokio::test]
async fn required_authentication_results_are_checked_after_data() {
    let server = server(
        Backend::Sqlite,
        &[
            "--mail-require-auth-results",
            "--mail-trusted-authserv-id",
            "mx.site.example",
        ],
    )
    .await;
    add_mail_user(&server, "alice");
    let csv = write_file(
        server.env.dir.path(),
        "s.csv",
        orders_csv("1234", &["A1"]).as_bytes(),
    );
    let to = "edi+alice@orders.example";
    let refused = "550 5.7.1 sender not authenticated";
    for header in [
        None,
        Some("Authentication-Results: evil.example; dkim=pass header.d=partner.example"),
        Some("Authentication-Results: mx.site.example; dkim=fail; spf=softfail smtp.mailfrom=partner.example"),
    ] {
        let mut args = order_from(&server, "orders@partner.example", to, &csv);
        if let Some(header) = header {
            args.extend(["--add-header".to_owned(), header.to_owned()]);
        }
        let (ok, transcript) = swaks(&args);
        assert!(!ok, "{header:?} accepted:\n{transcript}");
        assert!(transcript.contains("354"), "{header:?}:\n{transcript}");
        assert!(transcript.contains(refused), "{header:?}:\n{transcript}");
    }
    nothing_stored(&server.env.home("alice"));
    assert!(server
        .log()
        .contains("mail refused: no dkim=pass or spf=pass"));
    for header in [
        "Authentication-Results: mx.site.example; dkim=pass header.d=partner.example",
        "Authentication-Results: MX.site.example 1; spf=pass (sender authorized) smtp.mailfrom=partner.example",
    ] {
        let mut args = order_from(&server, "orders@partner.example", to, &csv);
        args.extend(["--add-header".to_owned(), header.to_owned()]);
        let (ok, transcript) = swaks(&args);
        assert!(ok, "{header}:\n{transcript}");
    }
    let home = server.env.home("alice");
    wait_placed(&home, 2);
    assert_eq!(placed(&home).0.len(), 2, "{}", server.log());
}

/// A whole message with `message_id` and one CSV attachment `name` holding `csv`, as an MTA
/// would send it again byte for byte.
fn raw_message(message_id: &str, name: &str, csv: &str) -> String {
    format!(
        "From: orders@partner.example\r\nTo: edi+alice@orders.example\r\nSubject: orders\r\n\
         Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
         Content-Type: text/plain\r\n\r\nsee attached\r\n--B\r\n\
         Content-Type: text/csv\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n\
         {csv}\r\n--B--\r\n"
    )
}

on_both_backends!(
    a_message_delivered_twice_is_stored_once,
    super::a_message_delivered_twice_is_stored_once
);
/// The same message sent again (an MTA retrying after a lost 250) is answered 250 and stores
/// nothing: one file processed, one shipment. Another attachment under the same Message-ID is
/// another message, and is delivered.
async fn a_message_delivered_twice_is_stored_once(backend: Backend) {
    let server = server(backend, &[]).await;
    add_mail_user(&server, "alice");
    let dir = server.env.dir.path();
    let first = write_file(
        dir,
        "first.eml",
        raw_message(
            "retry-1@partner.example",
            "once.csv",
            &orders_csv("1234", &["D1"]),
        )
        .as_bytes(),
    );
    let port = server.port("smtp").to_string();
    let send = |file: &Path| {
        let data = format!("@{}", file.display());
        swaks(&[
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--to",
            "edi+alice@orders.example",
            "--data",
            &data,
        ])
    };
    let (ok, transcript) = send(&first);
    assert!(ok, "{transcript}");
    assert!(
        transcript.contains("250 2.0.0 1 file(s) received"),
        "{transcript}"
    );
    let home = server.env.home("alice");
    wait_placed(&home, 1);
    let (ok, transcript) = send(&first);
    assert!(ok, "{transcript}");
    assert!(
        transcript.contains("250 2.0.0 already received; not stored again"),
        "{transcript}"
    );
    assert!(server
        .log()
        .contains("mail duplicate: delivered before, nothing stored"));
    assert_eq!(names_in(&home), Vec::<String>::new());
    let (done, error) = placed(&home);
    assert_eq!(done, ["once.csv"], "{error:?}");
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        1
    );
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM inbox_files").await,
        1
    );
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM mail_deliveries").await,
        1
    );

    // The same Message-ID with another attachment is delivered.
    let second = write_file(
        dir,
        "second.eml",
        raw_message(
            "retry-1@partner.example",
            "other.csv",
            &orders_csv("1234", &["D2"]),
        )
        .as_bytes(),
    );
    let (ok, transcript) = send(&second);
    assert!(ok, "{transcript}");
    assert!(
        transcript.contains("250 2.0.0 1 file(s) received"),
        "{transcript}"
    );
    wait_placed(&home, 2);
    let (mut done, _) = placed(&home);
    done.sort();
    assert_eq!(done, ["once.csv", "other.csv"]);
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        2
    );
}

on_both_backends!(
    a_format_in_the_address_overrides_the_extension,
    super::a_format_in_the_address_overrides_the_extension
);
/// `+csv` in the address sets the parser of every attachment of the message through the core's
/// per-file format: a CSV named `orders.txt` is processed into `done/` with its rows; without
/// it, the same file is rejected for its extension.
async fn a_format_in_the_address_overrides_the_extension(backend: Backend) {
    let server = server(backend, &[]).await;
    add_mail_user(&server, "alice");
    let txt = write_file(
        server.env.dir.path(),
        "orders.txt",
        orders_csv("1234", &["X1", "X2"]).as_bytes(),
    );
    let args = smtp_with_attachment(&server, "edi+alice+csv@orders.example", "orders.txt", &txt);
    let (ok, transcript) = swaks(&args);
    assert!(ok, "{transcript}\n{}", server.log());
    let home = server.env.home("alice");
    wait_placed(&home, 1);
    let (done, error) = placed(&home);
    assert_eq!(done, ["orders.txt"], "errors: {error:?}\n{}", server.log());
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        2
    );
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM inbox_file_formats").await,
        0
    );
    // Without the format, the extension decides: rejected.
    let args = smtp_with_attachment(&server, "edi+alice@orders.example", "orders.txt", &txt);
    let (ok, transcript) = swaks(&args);
    assert!(ok, "{transcript}");
    wait_placed(&home, 2);
    let (_, error) = placed(&home);
    assert_eq!(error.len(), 1, "{error:?}");
}
