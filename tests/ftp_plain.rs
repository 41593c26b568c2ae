//! Plain-FTP uploads, whose end is only the data connection's close: the per-user policy
//! `--inbox-ftp-plain` (accept, require-rename, refuse) and the `ALLO` size check, driven with
//! curl, lftp and Python ftplib against the real server, with clients killed mid-upload.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::curl::{curl, curl_ok, ftp_url};
use common::inbox::{names_in, orders_csv, placed, wait_placed};
use common::server::{wait_for, TestServer};
use common::{run_cli, stderr, stdout, Backend};
use freightdrop::users::InboxFtpPlain;

const PASSWORD: &str = "alice-password";

/// A server whose user alice has `policy` (the harness's server default is `accept`).
async fn server_with_alice(policy: &str) -> TestServer {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("alice", PASSWORD, &["--inbox-ftp-plain", policy]);
    server
}

/// Runs scenario `name` of tests/ftp/plain.py against `server`.
fn scenario(server: &TestServer, name: &str, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ftp/plain.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(name)
        .arg(server.port("ftp").to_string())
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "scenario {name} failed:\n{}\n--- server log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
}

/// A valid order file of alice's customer, about 5 MB (the server writes in 1 MiB chunks).
fn big_orders(dir: &Path, name: &str) -> PathBuf {
    let ids: Vec<String> = (0..30000).map(|i| format!("S{i:05}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let path = dir.join(name);
    std::fs::write(&path, orders_csv("1234", &ids)).unwrap();
    path
}

fn small_orders(dir: &Path, name: &str, id: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, orders_csv("1234", &[id])).unwrap();
    path
}

/// The hidden partial of an upload to `name` in `folder`, while the server writes it.
fn partial_of(folder: &Path, name: &str) -> Option<PathBuf> {
    let prefix = format!(".{name}.");
    std::fs::read_dir(folder)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".part"))
        })
}

/// Starts curl with `args` (a slow upload), waits until the server has written some of the
/// file to `name`'s partial in `folder`, and kills curl (SIGKILL): its sockets are closed by the
/// kernel, so the data connection ends with a clean FIN, as when a partner's machine loses its
/// client. Returns once the server has finished with the upload (the partial is gone).
fn kill_curl_mid_upload(args: &[&str], folder: &Path, name: &str) {
    let mut child = Command::new("curl")
        .args(["-sS", "--max-time", "60", "--limit-rate", "1M"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start curl");
    wait_for(
        "the server to write part of the upload",
        Duration::from_secs(30),
        || partial_of(folder, name).is_some_and(|p| p.metadata().is_ok_and(|m| m.len() > 0)),
    );
    child.kill().expect("kill curl");
    let _ = child.wait();
    wait_for(
        "the server to finish with the cut upload",
        Duration::from_secs(30),
        || partial_of(folder, name).is_none(),
    );
}

/// Runs curl, which must fail; returns its verbose output (the server's replies).
fn curl_refused(args: &[&str], what: &str) -> String {
    let mut all = vec!["-v"];
    all.extend_from_slice(args);
    let out = curl(30, &all);
    assert!(!out.status.success(), "{what} must fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `accept` is the behaviour before the policy existed: a killed plain-FTP client's file is
/// taken as complete and processed; a complete one is processed too.
#[tokio::test]
async fn accept_takes_a_cut_upload_as_complete() {
    let server = server_with_alice("accept").await;
    let home = server.env.home("alice");
    let dir = tempfile::tempdir().unwrap();
    let big = big_orders(dir.path(), "big.csv");
    let url = ftp_url(&server, "alice", PASSWORD, "big.csv");
    kill_curl_mid_upload(&["-T", big.to_str().unwrap(), &url], &home, "big.csv");
    let small = small_orders(dir.path(), "small.csv", "S1");
    let url = ftp_url(&server, "alice", PASSWORD, "small.csv");
    curl_ok(30, &["-T", small.to_str().unwrap(), &url], "plain upload");
    wait_placed(&home, 2);
    let (done, error) = placed(&home);
    let cut = done
        .iter()
        .map(|n| home.join("done").join(n))
        .chain(error.iter().map(|n| home.join("error").join(n)))
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("big"))
        .expect("the cut upload was processed");
    assert!(
        cut.metadata().unwrap().len() < big.metadata().unwrap().len(),
        "what was processed is only part of the file"
    );
    assert!(done.iter().any(|n| n.starts_with("small")), "{done:?}");
}

/// `require-rename`: a plain-FTP upload straight to a final name in the inbox is refused with
/// 553 and a text saying what to do; curl's and lftp's upload-then-rename is processed; a
/// client killed while uploading under its temporary name leaves a file nothing processes.
#[tokio::test]
async fn require_rename_processes_only_renamed_uploads() {
    let server = server_with_alice("require-rename").await;
    let home = server.env.home("alice");
    let dir = tempfile::tempdir().unwrap();
    let first = small_orders(dir.path(), "first.csv", "S1");

    let url = ftp_url(&server, "alice", PASSWORD, "first.csv");
    let text = curl_refused(&["-T", first.to_str().unwrap(), &url], "a direct STOR");
    assert!(
        text.contains("553") && text.contains("temporary name"),
        "{text}"
    );
    assert!(!home.join("first.csv").exists());

    // Killed mid-upload under the temporary name: the rename never comes.
    let big = big_orders(dir.path(), "big.csv");
    let url = ftp_url(&server, "alice", PASSWORD, "big.csv.part");
    kill_curl_mid_upload(
        &[
            "-T",
            big.to_str().unwrap(),
            &url,
            "-Q",
            "-RNFR big.csv.part",
            "-Q",
            "-RNTO big.csv",
        ],
        &home,
        "big.csv.part",
    );

    // curl: upload as first.csv.part, then RNFR/RNTO after the transfer.
    let url = ftp_url(&server, "alice", PASSWORD, "first.csv.part");
    curl_ok(
        30,
        &[
            "-T",
            first.to_str().unwrap(),
            &url,
            "-Q",
            "-RNFR first.csv.part",
            "-Q",
            "-RNTO first.csv",
        ],
        "curl upload and rename",
    );
    // lftp: its own temporary name (.in.second.csv.), renamed when complete.
    small_orders(dir.path(), "second.csv", "S2");
    let script = format!(
        "set ftp:ssl-allow no; set xfer:use-temp-file yes; set net:max-retries 1; \
         set net:timeout 20; open -u alice,{PASSWORD} -p {} 127.0.0.1; \
         lcd {}; put second.csv; bye",
        server.port("ftp"),
        dir.path().display()
    );
    let out = Command::new("lftp").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "lftp: {}", stderr(&out));

    wait_placed(&home, 2);
    let (done, error) = placed(&home);
    assert!(error.is_empty(), "{error:?}");
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(done.iter().any(|n| n.starts_with("first")), "{done:?}");
    assert!(done.iter().any(|n| n.starts_with("second")), "{done:?}");
    // The cut upload was never processed, and its final name never appeared.
    assert!(!home.join("big.csv").exists());
    assert!(!done.iter().chain(&error).any(|n| n.starts_with("big")));
    let inbox = names_in(&home);
    assert!(
        inbox.is_empty() || inbox == ["big.csv.part"],
        "only the cut upload's temporary file may stay: {inbox:?}"
    );
}

/// `refuse`: every plain-FTP upload is refused with 550 and "use FTPS or SFTP" (also one cut
/// by a killed client, which leaves nothing), downloads from out/ still work, and the same
/// upload over FTPS is processed, while a client killed over FTPS leaves nothing either.
#[tokio::test]
async fn refuse_takes_uploads_over_ftps_only() {
    let server = server_with_alice("refuse").await;
    let home = server.env.home("alice");
    let dir = tempfile::tempdir().unwrap();
    let orders = small_orders(dir.path(), "orders.csv", "S1");

    let url = ftp_url(&server, "alice", PASSWORD, "orders.csv");
    let text = curl_refused(&["-T", orders.to_str().unwrap(), &url], "a plain upload");
    assert!(text.contains("550") && text.contains("use FTPS"), "{text}");
    let url = ftp_url(&server, "alice", PASSWORD, "sub.csv.part");
    let text = curl_refused(
        &["-T", orders.to_str().unwrap(), &url],
        "a plain upload under a temporary name",
    );
    assert!(text.contains("550"), "{text}");

    std::fs::write(home.join("out/report.txt"), b"for alice\n").unwrap();
    let url = ftp_url(&server, "alice", PASSWORD, "out/report.txt");
    let out = curl_ok(30, &[&url], "plain download from out/");
    assert_eq!(stdout(&out), "for alice\n");

    // Killed over FTPS mid-upload: no TLS close_notify, so the partial is dropped.
    let big = big_orders(dir.path(), "big.csv");
    let url = ftp_url(&server, "alice", PASSWORD, "big.csv");
    kill_curl_mid_upload(
        &["--ssl-reqd", "-k", "-T", big.to_str().unwrap(), &url],
        &home,
        "big.csv",
    );
    let url = ftp_url(&server, "alice", PASSWORD, "orders.csv");
    curl_ok(
        30,
        &["--ssl-reqd", "-k", "-T", orders.to_str().unwrap(), &url],
        "FTPS upload",
    );
    // FTPS with a clear data channel (PROT C) is refused as plain FTP is.
    scenario(&server, "prot_c_refused", &["alice", PASSWORD, "clear.csv"]);
    wait_placed(&home, 2);
    let (done, error) = placed(&home);
    assert!(done.iter().any(|n| n.starts_with("orders")), "{done:?}");
    assert!(
        !done.iter().chain(&error).any(|n| n.starts_with("big")),
        "{done:?} {error:?}"
    );
    assert!(!home.join("big.csv").exists());
    assert!(!home.join("sub.csv.part").exists());
}

/// `ALLO n` before `STOR`: fewer bytes than announced are refused with 451 and discarded, the
/// right count is stored; over plain FTP and FTPS alike, whatever the policy.
#[tokio::test]
async fn an_upload_shorter_than_its_allo_is_discarded() {
    let server = server_with_alice("accept").await;
    scenario(&server, "allo", &["alice", PASSWORD, "allo.txt", "plain"]);
    scenario(&server, "allo", &["alice", PASSWORD, "allo-tls.txt", "tls"]);
    let home = server.env.home("alice");
    // allo*.txt and second-allo*.txt were stored (and processed: to error/, they are not
    // orders); the short uploads never were.
    wait_placed(&home, 4);
    let (done, error) = placed(&home);
    let all: Vec<&String> = done.iter().chain(&error).collect();
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(!all.iter().any(|n| n.starts_with("short")), "{all:?}");
    assert!(!names_in(&home).iter().any(|n| n.starts_with("short")));
    assert_eq!(
        std::fs::read(home.join("error/allo.txt")).unwrap(),
        vec![b'x'; 600]
    );
    assert!(server.log().contains("upload discarded"));
}

/// The server's default is require-rename; a bad value names the key.
#[test]
fn the_default_is_require_rename() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(&["check-config"], None, &[], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("inbox_ftp_plain = require-rename"),
        "{}",
        stdout(&out)
    );
    let out = run_cli(
        &["check-config"],
        None,
        &[("FREIGHTDROP_INBOX_FTP_PLAIN", "sometimes")],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--inbox-ftp-plain"),
        "{}",
        stderr(&out)
    );
}

on_both_backends!(
    policy_is_an_account_attribute,
    super::the_policy_is_an_account_attribute
);

/// `user add/set/show` keep the account's policy in the database; `default` follows the
/// server's; a bad value is a usage error.
async fn the_policy_is_an_account_attribute(backend: Backend) {
    let env = common::TestEnv::new(backend).await;
    env.add_user("bob", "1234", PASSWORD, &["--inbox-ftp-plain", "refuse"]);
    let show = stdout(&env.cli(&["user", "show", "bob"], None));
    assert!(show.contains("plain FTP:     refuse"), "{show}");
    let out = env.cli(
        &["user", "set", "bob", "--inbox-ftp-plain", "default"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let show = stdout(&env.cli(&["user", "show", "bob"], None));
    assert!(
        show.contains("plain FTP:     require-rename (server default)"),
        "{show}"
    );
    let json = stdout(&env.cli(&["user", "show", "bob", "--json"], None));
    assert!(json.contains("\"inbox_ftp_plain\": null"), "{json}");
    let out = env.cli(&["user", "set", "bob", "--inbox-ftp-plain", "accept"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = stdout(&env.cli(&["user", "show", "bob", "--json"], None));
    assert!(json.contains("\"inbox_ftp_plain\": \"accept\""), "{json}");
    let out = env.cli(&["user", "set", "bob", "--inbox-ftp-plain", "maybe"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // The server-wide key in the environment is not the account's own value.
    let out = run_cli(
        &[
            "user",
            "add",
            "carl",
            "--customer",
            "1234",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
        &[
            ("FREIGHTDROP_DATA_DIR", env.data_dir().to_str().unwrap()),
            ("FREIGHTDROP_DATABASE_URL", &env.database_url),
            ("FREIGHTDROP_INBOX_FTP_PLAIN", "refuse"),
        ],
        env.dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json = stdout(&env.cli(&["user", "show", "carl", "--json"], None));
    assert!(json.contains("\"inbox_ftp_plain\": null"), "{json}");
}

on_both_backends!(
    existing_accounts_keep_accept,
    super::accounts_made_before_the_setting_keep_accept
);

/// The upgrade: accounts in a database at the schema before the setting (migrations 0001-0004)
/// get `accept` from migration 0005, so their partners' scripts keep working; new ones follow
/// the server's default.
async fn accounts_made_before_the_setting_keep_accept(backend: Backend) {
    let env = common::TestEnv::new(backend).await;
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let old = tempfile::tempdir().unwrap();
    let all = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0005" {
            std::fs::copy(&path, old.path().join(&name)).unwrap();
        }
    }
    let url = match backend {
        Backend::Sqlite => {
            std::fs::create_dir_all(env.data_dir()).unwrap();
            format!("{}?mode=rwc", env.database_url)
        }
        Backend::Postgres => env.database_url.clone(),
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(old.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (name, password_hash, customer, enabled, protocols, require_tls, \
         created_at, updated_at) VALUES ('veteran', 'x', '1234', 1, 'ftp,ftps,sftp', 0, 1, 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = env.store().await;
    let veteran = store.require("veteran").await.unwrap();
    assert_eq!(veteran.inbox_ftp_plain, Some(InboxFtpPlain::Accept));
    store.db().close().await;
    env.add_user("newcomer", "1234", PASSWORD, &[]);
    let store = env.store().await;
    let newcomer = store.require("newcomer").await.unwrap();
    assert_eq!(newcomer.inbox_ftp_plain, None);
    store.db().close().await;
}
