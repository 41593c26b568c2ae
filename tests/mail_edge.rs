//! The mail channel's edges, straight against the real server's SMTP listener with `swaks` and
//! Python's `smtplib`: a 60 MB message is refused by SIZE (declared, and sent without declaring
//! it), a message that is not MIME gets a clear 5xx, XML, TTM and XLSX attachments end in
//! `done/` with their rows in the database, and a kill -9 during the delivery of a large message
//! leaves either the whole acknowledged file (processed once) or nothing visible.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::inbox::{count, names_in, orders_csv, placed, wait_placed};
use common::mail::{self, swaks, DOMAIN, MAIL};
use common::server::TestServer;
use common::Backend;

async fn server() -> TestServer {
    let server = TestServer::start(Backend::Sqlite, &["--mail-domain", DOMAIN]).await;
    server.add_user("alice", "alice-password", MAIL);
    server
        .env
        .allow_mail_senders("alice", &["*@partner.example"]);
    server
}

/// Runs the Python `script` with the SMTP port as `PORT` and `TO` as the recipient; returns
/// what it printed, panicking when it failed.
fn python(server: &TestServer, script: &str) -> String {
    let prelude = format!(
        "import smtplib, sys\nPORT = {}\nTO = 'edi+alice@orders.example'\nFROM = 'orders@partner.example'\n",
        server.port("smtp")
    );
    let out = Command::new("timeout")
        .args(["120", "python3", "-c"])
        .arg(format!("{prelude}{script}"))
        .output()
        .expect("python3");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    said
}

/// Nothing visible in the inbox, `done/` or `error/` of `home`.
fn nothing_stored(home: &Path) {
    assert_eq!(names_in(home), Vec::<String>::new(), "inbox of {home:?}");
    let (done, error) = placed(home);
    assert!(done.is_empty() && error.is_empty(), "{done:?} {error:?}");
}

/// Python: `big(mb)`, a MIME message of about `mb` MB with one base64 CSV attachment.
const BIG_MESSAGE: &str = r#"
def big(mb):
    head = (b'From: ' + FROM.encode() + b'\r\nTo: ' + TO.encode() + b'\r\nSubject: big\r\n'
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
            b'--b\r\nContent-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n'
            b'Content-Disposition: attachment; filename="big.csv"\r\n\r\n')
    line = b'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n'
    return head + line * (mb * 1000 * 1000 // len(line)) + b'--b--\r\n'
"#;

#[tokio::test]
async fn a_60_mb_message_is_refused_by_size_declared_or_not() {
    let server = server().await;
    let said = python(
        &server,
        &format!(
            "{BIG_MESSAGE}\
             msg = big(60)\n\
             assert len(msg) > 60 * 1000 * 1000\n\
             s = smtplib.SMTP('127.0.0.1', PORT, timeout=60)\n\
             s.ehlo()\n\
             print('limit', s.esmtp_features['size'])\n\
             try:\n    s.sendmail(FROM, [TO], msg)\n    print('accepted')\n\
             except smtplib.SMTPSenderRefused as e:\n    print('declared', e.smtp_code, e.smtp_error.decode())\n\
             s.quit()\n\
             s = smtplib.SMTP('127.0.0.1', PORT, timeout=60)\n\
             s.ehlo()\n\
             del s.esmtp_features['size']\n\
             try:\n    s.sendmail(FROM, [TO], msg)\n    print('accepted')\n\
             except smtplib.SMTPDataError as e:\n    print('undeclared', e.smtp_code, e.smtp_error.decode())\n\
             s.quit()\n"
        ),
    );
    assert!(said.contains("limit 52428800"), "{said}");
    assert!(
        said.contains("declared 552 5.3.4 message larger than the limit of 52428800 bytes"),
        "{said}"
    );
    assert!(
        said.contains("undeclared 552 5.3.4 message larger than the limit of 52428800 bytes"),
        "{said}"
    );
    assert!(!said.contains("accepted"), "{said}");
    nothing_stored(&server.env.home("alice"));
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM inbox_files").await,
        0
    );
}

#[tokio::test]
async fn a_message_that_is_not_mime_gets_a_clear_5xx_and_nothing_is_stored() {
    let server = server().await;
    // No header at all: the text starts with the empty line that ends the headers.
    let said = python(
        &server,
        "s = smtplib.SMTP('127.0.0.1', PORT, timeout=30)\n\
         try:\n    s.sendmail(FROM, [TO], b'\\r\\n\\x00\\x01\\x02 not a message\\r\\n')\n    print('accepted')\n\
         except smtplib.SMTPDataError as e:\n    print('refused', e.smtp_code, e.smtp_error.decode())\n\
         s.quit()\n",
    );
    assert!(
        said.contains("refused 554 5.6.0 the message is not valid MIME"),
        "{said}"
    );
    nothing_stored(&server.env.home("alice"));
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM inbox_files").await,
        0
    );
}

/// A fixture of the inbox processor's tests.
fn fixture(format: &str, name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("inbox-processor/tests/fixtures")
        .join(format)
        .join(name)
}

/// Sends `file` as the attachment `name` of type `mime` with swaks; waits for it to be placed
/// and checks it is in `done/`, byte for byte.
fn mail_into_done(server: &TestServer, file: &Path, name: &str, mime: &str, placed_before: usize) {
    let (ok, text) = swaks(&mail::attachment(
        server.port("smtp"),
        "edi+alice@orders.example",
        name,
        mime,
        file,
    ));
    assert!(ok, "{text}");
    assert!(text.contains("<-  250 2.0.0 1 file(s) received"), "{text}");
    let home = server.env.home("alice");
    wait_placed(&home, placed_before + 1);
    let (done, error) = placed(&home);
    let report = std::fs::read_to_string(home.join("error").join(format!("{name}.error.txt")));
    assert!(error.is_empty(), "errors {error:?} {report:?}");
    assert!(done.iter().any(|d| d == name), "{done:?}");
    // Byte for byte what was attached (swaks sends it base64-encoded).
    assert_eq!(
        std::fs::read(home.join("done").join(name)).expect("the done file"),
        std::fs::read(file).expect("the attached file")
    );
}

#[tokio::test]
async fn an_xml_attachment_is_processed_into_done() {
    let server = server().await;
    mail_into_done(
        &server,
        &fixture("xml", "orders.xml"),
        "orders.xml",
        "application/xml",
        0,
    );
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        3
    );
}

#[tokio::test]
async fn a_ttm_attachment_is_processed_into_done() {
    let server = server().await;
    mail_into_done(
        &server,
        &fixture("ttm", "orders.ttm"),
        "orders.ttm",
        "text/plain",
        0,
    );
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        2
    );
}

#[tokio::test]
async fn an_xlsx_attachment_is_processed_into_done() {
    // The orders fixture mixes two customers (its tests are about the parser), so the status
    // sheet is mailed, for the two shipments a CSV order made first.
    let server = server().await;
    let csv = server.env.dir.path().join("first.csv");
    std::fs::write(&csv, orders_csv("1234", &["S1001", "S1002"])).expect("write");
    mail_into_done(&server, &csv, "first.csv", "text/csv", 0);
    mail_into_done(
        &server,
        &fixture("xlsx", "status.xlsx"),
        "status.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        1,
    );
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM status_events").await,
        2
    );
}

/// A Python client started in the background, talking over stdin/stdout with the test.
struct Client {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Client {
    fn start(server: &TestServer, script: &str) -> Self {
        let prelude = format!(
            "import smtplib, sys\nPORT = {}\nTO = 'edi+alice@orders.example'\nFROM = 'orders@partner.example'\n",
            server.port("smtp")
        );
        let mut child = Command::new("timeout")
            .args(["120", "python3", "-u", "-c"])
            .arg(format!("{prelude}{script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, lines }
    }

    /// The next line the client prints.
    fn line(&mut self) -> String {
        match self.lines.next() {
            Some(Ok(line)) => line,
            other => panic!("the client ended early: {other:?}"),
        }
    }

    /// Tells the client to go on.
    fn go(&mut self) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"go\n").expect("tell the client");
        stdin.flush().expect("flush");
    }

    fn finish(mut self) -> String {
        let rest: Vec<String> = self.lines.by_ref().map_while(Result::ok).collect();
        let status = self.child.wait().expect("wait for the client");
        assert!(status.success(), "client failed: {rest:?}");
        rest.join("\n")
    }
}

#[tokio::test]
async fn a_kill_during_a_large_delivery_leaves_nothing_visible_and_no_250() {
    let mut server = server().await;
    // 20 MB in DATA, the end not sent yet when the server is killed.
    let mut client = Client::start(
        &server,
        &format!(
            "{BIG_MESSAGE}\
             msg = big(20)\n\
             s = smtplib.SMTP('127.0.0.1', PORT, timeout=30)\n\
             s.ehlo()\n\
             s.mail(FROM)\n\
             s.rcpt(TO)\n\
             code, _ = s.docmd('DATA')\n\
             assert code == 354, code\n\
             s.sock.sendall(msg[:15 * 1000 * 1000])\n\
             print('halfway')\n\
             sys.stdin.readline()\n\
             try:\n    s.sock.sendall(msg[15 * 1000 * 1000:] + b'.\\r\\n')\n    print('reply', s.getreply())\n\
             except (OSError, smtplib.SMTPServerDisconnected) as e:\n    print('no reply', type(e).__name__)\n"
        ),
    );
    assert_eq!(client.line(), "halfway");
    server.kill();
    client.go();
    let said = client.finish();
    assert!(said.starts_with("no reply"), "{said}");
    assert!(!said.contains("250"), "{said}");
    let server = TestServer::start_in(server.into_env(), &["--mail-domain", DOMAIN]);
    // A message after the restart is processed: whatever the first left would have been too.
    let csv = server.env.dir.path().join("after.csv");
    std::fs::write(&csv, orders_csv("1234", &["K1"])).expect("write");
    let said = python(
        &server,
        &format!(
            "from email.message import EmailMessage\n\
             m = EmailMessage()\nm['From'] = FROM\nm['To'] = TO\nm['Subject'] = 'after'\n\
             m.set_content('see attached')\n\
             m.add_attachment(open({path:?}, 'rb').read(), maintype='text', subtype='csv', filename='after.csv')\n\
             s = smtplib.SMTP('127.0.0.1', PORT, timeout=30)\nprint('refused', s.send_message(m))\ns.quit()\n",
            path = csv.display().to_string()
        ),
    );
    assert!(said.contains("refused {}"), "{said}");
    let home = server.env.home("alice");
    wait_placed(&home, 1);
    let (done, error) = placed(&home);
    assert_eq!(done, ["after.csv"], "{error:?}");
    assert!(error.is_empty(), "{error:?}");
    assert_eq!(names_in(&home), Vec::<String>::new());
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM inbox_files").await,
        1
    );
}

#[tokio::test]
async fn a_kill_right_after_the_250_leaves_the_whole_file_processed_once() {
    let mut server = server().await;
    let ids: Vec<String> = (0..5000).map(|n| format!("A{n}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let csv = server.env.dir.path().join("acked.csv");
    let content = orders_csv("1234", &ids);
    assert!(content.len() > 500_000);
    std::fs::write(&csv, &content).expect("write");
    let mut client = Client::start(
        &server,
        &format!(
            "from email.message import EmailMessage\n\
             m = EmailMessage()\nm['From'] = FROM\nm['To'] = TO\nm['Subject'] = 'acked'\n\
             m['Message-ID'] = '<acked@partner.example>'\n\
             m.set_content('see attached')\n\
             m.add_attachment(open({path:?}, 'rb').read(), maintype='text', subtype='csv', filename='acked.csv')\n\
             s = smtplib.SMTP('127.0.0.1', PORT, timeout=60)\n\
             print('refused', s.send_message(m))\n\
             sys.stdin.readline()\n",
            path = csv.display().to_string()
        ),
    );
    // Killed as soon as the client has its 250, before anything else can happen in order.
    assert_eq!(client.line(), "refused {}");
    server.kill();
    client.go();
    client.finish();
    let server = TestServer::start_in(server.into_env(), &["--mail-domain", DOMAIN]);
    let home = server.env.home("alice");
    wait_placed(&home, 1);
    let (done, error) = placed(&home);
    assert_eq!(done, ["acked.csv"], "{error:?}\n{}", server.log());
    assert_eq!(
        std::fs::read_to_string(home.join("done/acked.csv")).expect("done file"),
        content
    );
    assert_eq!(names_in(&home), Vec::<String>::new());
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        5000
    );
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM inbox_files").await,
        1
    );
}
