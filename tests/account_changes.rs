//! Account changes end the open sessions they should, wherever they are made: `freightdrop user`
//! from the shell (another process), the API on this node, or the API on another node over the
//! same database. Disabling ends every session; removing a key ends the SFTP sessions that
//! logged in with it; removing a protocol ends its sessions; requiring TLS ends plain FTP ones.
//! Real servers with real clients (ftplib, paramiko), and the change feed in-process on SQLite
//! and PostgreSQL.

mod common;

use std::io::{BufRead as _, BufReader, Lines, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

use common::server::{wait_for, TestServer};
use common::{stderr, stdout, Backend, TestEnv};
use freightdrop::accounts::{start_change_feed, Accounts};
use freightdrop::config::{Config, ConfigArgs};
use freightdrop::db::Db;
use freightdrop::exchange::Core;
use freightdrop::gate::Session;
use freightdrop::users::{NewUser, Password, Protocol, ProtocolSet, PublicKey, UserChanges};

const PASSWORD: &str = "partner password 1";

/// How long a change may take to reach a session made elsewhere (the feed is read every second).
const WITHIN: Duration = Duration::from_secs(10);

/// One logged-in client session held open by `tests/accounts/probe.py`.
struct Probe {
    what: String,
    child: Child,
    input: ChildStdin,
    answers: Lines<BufReader<ChildStdout>>,
    closed: bool,
}

impl Probe {
    /// Logs in as `user` with `kind` (`ftp`, `ftps`, `sftp`, `sftp-key`) and `secret` (the
    /// password, or the private key file for `sftp-key`).
    fn open(kind: &str, port: u16, user: &str, secret: &str) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/accounts/probe.py");
        let mut child = Command::new("timeout")
            .args(["120", "python3"])
            .arg(&script)
            .args([kind, &port.to_string(), user, secret])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start probe");
        let input = child.stdin.take().expect("stdin");
        let mut answers = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = answers.next().and_then(Result::ok);
        assert_eq!(first.as_deref(), Some("ready"), "{kind} login");
        Self {
            what: kind.to_owned(),
            child,
            input,
            answers,
            closed: false,
        }
    }

    /// Whether the server still answers the session.
    fn is_open(&mut self) -> bool {
        if self.closed {
            return false;
        }
        let asked = self
            .input
            .write_all(b"check\n")
            .and_then(|()| self.input.flush());
        let answer = asked
            .ok()
            .and_then(|()| self.answers.next())
            .and_then(Result::ok);
        self.closed = answer.as_deref() != Some("open");
        !self.closed
    }

    fn wait_closed(&mut self, why: &str) {
        let what = format!("the {} session to be closed ({why})", self.what);
        wait_for(&what, WITHIN, || !self.is_open());
    }

    fn assert_open(&mut self, why: &str) {
        assert!(
            self.is_open(),
            "the {} session was closed ({why})",
            self.what
        );
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("60")
        .arg("curl")
        .args(["-sS", "--fail-with-body", "--max-time", "30"])
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

/// Sends `method` to `path` on `server`'s API with a JSON `body`; panics unless it succeeded.
fn api(server: &TestServer, token: &str, method: &str, path: &str, body: &str) {
    let url = format!("http://{}{path}", server.addr("http"));
    let out = curl(&[
        "-X",
        method,
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
        &url,
    ]);
    assert!(
        out.status.success(),
        "{method} {path}: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// Makes an ed25519 key pair in the test's folder and registers it for `user` with the CLI;
/// returns the private key's path and the key's fingerprint.
fn add_key(server: &TestServer, user: &str) -> (PathBuf, String) {
    let key = server.env.dir.path().join(format!("id_{user}"));
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(made.status.success(), "ssh-keygen: {}", stderr(&made));
    let public = key.with_extension("pub");
    let out = server.env.cli(
        &["user", "key", "add", user, public.to_str().expect("path")],
        None,
    );
    assert!(out.status.success(), "user key add: {}", stderr(&out));
    // "key SHA256:... added to USER"
    let fingerprint = stdout(&out)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_owned();
    (key, fingerprint)
}

/// `freightdrop user disable` in another process ends the user's open FTP and SFTP sessions on
/// the running server.
#[tokio::test]
async fn user_disable_from_the_shell_ends_open_sessions() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("acme", PASSWORD, &[]);
    server.add_user("other", PASSWORD, &[]);
    let mut ftp = Probe::open("ftp", server.port("ftp"), "acme", PASSWORD);
    let mut sftp = Probe::open("sftp", server.port("sftp"), "acme", PASSWORD);
    let mut bystander = Probe::open("ftp", server.port("ftp"), "other", PASSWORD);

    let out = server.env.cli(&["user", "disable", "acme"], None);
    assert!(out.status.success(), "{}", stderr(&out));

    ftp.wait_closed("user disable");
    sftp.wait_closed("user disable");
    bystander.assert_open("another user was disabled");
    wait_for("the log line of the disable", WITHIN, || {
        server.log().contains("changed by another process")
    });
}

/// `freightdrop user key remove` ends the SFTP session that logged in with that key, not a
/// password SFTP session nor an FTP one of the same user.
#[tokio::test]
async fn removing_a_key_ends_the_sessions_of_that_key_only() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("acme", PASSWORD, &[]);
    let (key, fingerprint) = add_key(&server, "acme");
    let key = key.to_str().expect("path").to_owned();
    let mut by_key = Probe::open("sftp-key", server.port("sftp"), "acme", &key);
    let mut by_password = Probe::open("sftp", server.port("sftp"), "acme", PASSWORD);
    let mut ftp = Probe::open("ftp", server.port("ftp"), "acme", PASSWORD);

    let out = server
        .env
        .cli(&["user", "key", "remove", "acme", &fingerprint], None);
    assert!(out.status.success(), "{}", stderr(&out));

    by_key.wait_closed("its key was removed");
    by_password.assert_open("a key was removed");
    ftp.assert_open("a key was removed");
}

/// Taking `sftp` from a user's protocols (API PATCH) ends its SFTP sessions, not its FTP ones.
#[tokio::test]
async fn removing_a_protocol_ends_its_sessions_only() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("acme", PASSWORD, &[]);
    let token = admin_token(&server);
    let mut sftp = Probe::open("sftp", server.port("sftp"), "acme", PASSWORD);
    let mut ftp = Probe::open("ftp", server.port("ftp"), "acme", PASSWORD);

    api(
        &server,
        &token,
        "PATCH",
        "/api/v1/users/acme",
        r#"{"protocols": ["ftp", "ftps"]}"#,
    );

    sftp.wait_closed("sftp was removed from the protocols");
    ftp.assert_open("sftp was removed from the protocols");

    // The node ended its own session when it made the change and does not end it again (nor
    // log it again) when it reads its own change in the feed: once the feed has brought a
    // later change from the shell, the log tells each ending once.
    let out = server.env.cli(&["user", "disable", "acme"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    ftp.wait_closed("user disable");
    wait_for("the log line of the disable", WITHIN, || {
        server.log().contains("changed by another process")
    });
    let log = server.log();
    let closed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("open sessions closed"))
        .collect();
    assert_eq!(closed.len(), 2, "{closed:#?}");
    assert!(closed[0].contains("sftp sessions"), "{}", closed[0]);
    assert!(
        closed[1].contains("changed by another process"),
        "{}",
        closed[1]
    );
}

/// Requiring TLS (API PATCH) ends the user's plain FTP session, not its FTPS one.
#[tokio::test]
async fn requiring_tls_ends_plain_ftp_sessions_only() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("acme", PASSWORD, &[]);
    let token = admin_token(&server);
    let mut plain = Probe::open("ftp", server.port("ftp"), "acme", PASSWORD);
    let mut secure = Probe::open("ftps", server.port("ftp"), "acme", PASSWORD);

    api(
        &server,
        &token,
        "PATCH",
        "/api/v1/users/acme",
        r#"{"require_tls": true}"#,
    );

    plain.wait_closed("TLS became required");
    secure.assert_open("TLS became required");
}

/// Two server processes on one database and data dir: a disable made through node A's API
/// ends the session on node B.
#[tokio::test]
async fn a_disable_on_one_node_ends_sessions_on_another() {
    let a = TestServer::start(Backend::Sqlite, &[]).await;
    let data_dir = a.env.data_dir();
    let second = TestEnv {
        dir: tempfile::tempdir().expect("temp dir"),
        database_url: a.env.database_url.clone(),
    };
    let b = TestServer::start_in(
        second,
        &["--data-dir", data_dir.to_str().expect("data dir")],
    );
    a.add_user("acme", PASSWORD, &[]);
    let token = admin_token(&a);
    let mut on_b = Probe::open("sftp", b.port("sftp"), "acme", PASSWORD);
    let mut ftp_on_b = Probe::open("ftp", b.port("ftp"), "acme", PASSWORD);

    api(&a, &token, "POST", "/api/v1/users/acme/disable", "{}");

    on_b.wait_closed("node A disabled the user");
    ftp_on_b.wait_closed("node A disabled the user");
    wait_for("node B's log line of the disable", WITHIN, || {
        b.log().contains("changed by another process")
    });
}

/// A core over a fresh store, with user `acme`.
async fn node(env: &TestEnv) -> Core {
    let args = ConfigArgs {
        data_dir: Some(env.data_dir()),
        database_url: Some(env.database_url.clone()),
        ..ConfigArgs::default()
    };
    let config = Config::load(&args).expect("config");
    std::fs::create_dir_all(config.homes_dir()).expect("homes");
    let db = Db::connect(&config.database_url).await.expect("db");
    let (core, _arrivals) = Core::new(config, &db);
    core.accounts()
        .add(NewUser {
            name: "acme".into(),
            customer: "1234".into(),
            password: Password::new(PASSWORD),
            protocols: ProtocolSet::all(),
            require_tls: false,
            format: None,
            max_upload_bytes: None,
            inbox_ftp_plain: None,
        })
        .await
        .expect("add acme");
    core
}

async fn ended(session: &Session) {
    tokio::time::timeout(WITHIN, session.ended().cancelled())
        .await
        .expect("the session was not ended in time");
}

const PUBLIC_KEY: &str = "ssh-ed25519 \
    AAAAC3NzaC1lZDI1NTE5AAAAINzXAa6vOVeY5NXm6A2Oj/86JQOtQ+qs4Lu+nQb0CCpV test";

/// The feed in-process: a change made by a service without sessions (as the CLI's) reaches a
/// node's sessions, each change ending only what it should, and changes from before the node
/// started are not replayed. The node's own changes end its sessions at once.
async fn the_change_feed_ends_the_right_sessions(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let core = node(&env).await;
    let elsewhere = Accounts::without_sessions(env.store().await);
    let key = PublicKey::parse(PUBLIC_KEY).expect("key");
    let fingerprint = elsewhere.add_key("acme", &key).await.expect("add key");
    // A change from before the node started is history.
    elsewhere.set_enabled("acme", false).await.expect("disable");
    elsewhere.set_enabled("acme", true).await.expect("enable");

    let gate = &core.gate();
    let by_key = gate
        .start_session("acme", Protocol::Sftp, Some(fingerprint.clone()))
        .expect("session");
    let sftp = gate
        .start_session("acme", Protocol::Sftp, None)
        .expect("session");
    let ftp = gate
        .start_session("acme", Protocol::Ftp, None)
        .expect("session");
    let ftps = gate
        .start_session("acme", Protocol::Ftps, None)
        .expect("session");
    start_change_feed(&core).await.expect("feed");

    elsewhere
        .remove_key("acme", &fingerprint)
        .await
        .expect("remove key");
    ended(&by_key).await;
    assert!(!sftp.ended().is_cancelled(), "an old change was replayed");
    assert!(!ftp.ended().is_cancelled());

    let changes = UserChanges {
        protocols: Some(ProtocolSet::parse("ftp,ftps").expect("protocols")),
        ..UserChanges::default()
    };
    elsewhere.update("acme", changes).await.expect("update");
    ended(&sftp).await;
    assert!(!ftp.ended().is_cancelled());

    let changes = UserChanges {
        require_tls: Some(true),
        ..UserChanges::default()
    };
    elsewhere.update("acme", changes).await.expect("update");
    ended(&ftp).await;
    assert!(!ftps.ended().is_cancelled());

    // This node's own change ends its session before the call returns.
    core.accounts()
        .set_password("acme", Password::new("another password 2"))
        .await
        .expect("new password");
    assert!(ftps.ended().is_cancelled());
    core.shutdown().cancel();
}

on_both_backends!(
    the_change_feed_ends_the_right_sessions,
    super::the_change_feed_ends_the_right_sessions
);
