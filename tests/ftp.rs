//! The FTP and FTPS frontend driven by real clients (Python ftplib, curl, lftp) against the real
//! server: logins, the partner procedure, escapes, timeouts, atomic uploads, TLS rules, limits.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::server::{wait_for, TestServer};
use common::Backend;

const PASSWORD: &str = "alice-password";

/// Runs scenario `name` of tests/ftp/scenarios.py against `server`; returns its stdout.
fn scenario(server: &TestServer, name: &str, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ftp/scenarios.py");
    let port = server.port("ftp").to_string();
    let out = Command::new("python3")
        .arg(script)
        .arg(name)
        .arg(&port)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "scenario {name} failed:\n{}\n--- server log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        tail(&server.log())
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn server_with_alice(extra: &[&str]) -> TestServer {
    let server = TestServer::start(Backend::Sqlite, extra).await;
    server.add_user("alice", PASSWORD, &[]);
    server
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

#[tokio::test]
async fn good_and_bad_logins() {
    let server = server_with_alice(&["--login-max-failures", "50"]).await;
    server.add_user("dora", PASSWORD, &[]);
    assert!(server
        .env
        .cli(&["user", "disable", "dora"], None)
        .status
        .success());
    server.add_user("sam", PASSWORD, &["--protocols", "sftp"]);
    scenario(&server, "logins", &["alice", PASSWORD, "dora", "sam"]);
    let log = server.log();
    assert!(
        log.contains("wrong password or key"),
        "refusals are logged with a reason"
    );
    assert!(
        !log.contains(PASSWORD),
        "the password never reaches the log"
    );
}

#[tokio::test]
async fn repeated_failures_block_the_address_for_every_frontend() {
    let server = server_with_alice(&["--login-max-failures", "3"]).await;
    scenario(&server, "blocked", &["alice", PASSWORD, "3"]);
    assert!(server.log().contains("address blocked"));
}

#[tokio::test]
async fn failed_ftp_logins_block_sftp_too() {
    let server = server_with_alice(&["--login-max-failures", "3"]).await;
    let sftp = server.port("sftp").to_string();
    scenario(
        &server,
        "blocked_everywhere",
        &[&sftp, "alice", PASSWORD, "3"],
    );
}

#[tokio::test]
async fn sessions_count_together_across_ftp_and_sftp() {
    let server = server_with_alice(&["--max-sessions-per-user", "1"]).await;
    let sftp = server.port("sftp").to_string();
    scenario(
        &server,
        "limit_across_protocols",
        &[&sftp, "alice", PASSWORD],
    );
}

#[tokio::test]
async fn the_commands_real_clients_use() {
    let server = server_with_alice(&[]).await;
    scenario(&server, "commands", &["alice", PASSWORD]);
}

#[tokio::test]
async fn chroot_escapes_stay_inside_the_home() {
    let server = server_with_alice(&[]).await;
    server.add_user("bob", "bob-password", &[]);
    let home = server.env.home("alice");
    let secret = server.env.home("bob").join("out/secret.csv");
    std::fs::write(&secret, "bob's orders").unwrap();
    std::os::unix::fs::symlink(server.env.home("bob"), home.join("to-bob")).unwrap();
    std::os::unix::fs::symlink("/etc", home.join("to-etc")).unwrap();
    scenario(&server, "escapes", &["alice", PASSWORD]);
    assert!(secret.is_file());
    for folder in ["out", "done", "error"] {
        assert!(home.join(folder).is_dir());
    }
    assert_eq!(std::fs::read(home.join("done/a.bin")).unwrap(), b"b");
}

#[tokio::test]
async fn the_partner_procedure_over_ftp_and_ftps() {
    let server = server_with_alice(&[]).await;
    for (name, mode) in [("order-1.csv", "plain"), ("order-2.csv", "tls")] {
        let published = server.env.home("alice").join("out").join(name);
        std::fs::write(&published, format!("order {name}\n")).unwrap();
        let content = scenario(
            &server,
            "partner_procedure",
            &["alice", PASSWORD, name, mode],
        );
        assert_eq!(content, format!("order {name}\n"));
        assert!(!published.exists());
        assert!(server.env.home("alice").join("done").join(name).is_file());
    }
}

#[tokio::test]
async fn an_idle_session_is_closed_but_a_slow_upload_is_not() {
    let server = server_with_alice(&["--idle-timeout", "2"]).await;
    scenario(&server, "idle_timeout", &["alice", PASSWORD, "2"]);
    scenario(&server, "slow_upload", &["alice", PASSWORD, "2"]);
    assert_eq!(
        std::fs::read(server.env.home("alice").join("out/slow.bin"))
            .unwrap()
            .len(),
        8000
    );
}

#[tokio::test]
async fn an_aborted_upload_never_looks_complete() {
    let server = server_with_alice(&[]).await;
    scenario(&server, "aborted_upload", &["alice", PASSWORD, "cut.csv"]);
    let out = server.env.home("alice").join("out");
    assert!(!out.join("cut.csv").exists());
    wait_for(
        "the partial upload to be removed",
        Duration::from_secs(10),
        || {
            std::fs::read_dir(&out)
                .map(|d| d.count() == 0)
                .unwrap_or(false)
        },
    );
}

#[tokio::test]
async fn a_tls_required_user_is_refused_in_plaintext() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("tina", PASSWORD, &["--require-tls"]);
    scenario(&server, "tls_required", &["tina", PASSWORD]);
    let port = server.port("ftp");
    let out = run(
        "curl",
        &[
            "-sS",
            &format!("ftp://tina:{PASSWORD}@127.0.0.1:{port}/out/"),
        ],
    );
    assert!(!out.status.success(), "plain curl login must fail");
    let out = run(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "-k",
            &format!("ftp://tina:{PASSWORD}@127.0.0.1:{port}/out/"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("secret.bin"));
}

#[tokio::test]
async fn many_ftps_logins_in_a_row_all_succeed() {
    // libunftp upgrades AUTH TLS from a spawned task; our single-threaded session workers make
    // sure the upgrade is never overtaken by the client's TLS hello.
    let server = server_with_alice(&[]).await;
    scenario(&server, "tls_logins", &["alice", PASSWORD, "150"]);
}

#[tokio::test]
async fn session_limits_per_user_and_in_all() {
    let server = server_with_alice(&["--max-sessions-per-user", "1"]).await;
    scenario(&server, "session_limit", &["alice", PASSWORD]);
    drop(server);
    let server = server_with_alice(&["--max-sessions", "1"]).await;
    scenario(&server, "server_full", &["alice", PASSWORD]);
}

#[tokio::test]
async fn the_upload_size_limit_holds() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("lim", PASSWORD, &["--max-upload", "1000"]);
    scenario(&server, "upload_limit", &["lim", PASSWORD]);
    let out = server.env.home("lim").join("out");
    assert!(!out.join("big.bin").exists());
    assert_eq!(std::fs::read(out.join("small.bin")).unwrap().len(), 500);
}

#[tokio::test]
async fn curl_uploads_and_downloads_byte_identical_over_ftp_and_ftps() {
    let server = server_with_alice(&[]).await;
    let port = server.port("ftp");
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("big.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&original, &data).unwrap();
    for (name, tls) in [("plain.bin", false), ("tls.bin", true)] {
        let url = format!("ftp://alice:{PASSWORD}@127.0.0.1:{port}/out/{name}");
        let mut args = vec!["-sS", "-T", original.to_str().unwrap(), &url];
        if tls {
            args.splice(0..0, ["--ssl-reqd", "-k"]);
        }
        let out = run("curl", &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(server.env.home("alice").join("out").join(name)).unwrap(),
            data
        );
        let back = dir.path().join(format!("back-{name}"));
        let mut args = vec!["-sS", "-o", back.to_str().unwrap(), &url];
        if tls {
            args.splice(0..0, ["--ssl-reqd", "-k"]);
        }
        let out = run("curl", &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(back).unwrap(), data);
    }
}

#[tokio::test]
async fn lftp_mirrors_many_files_up_over_ftp_and_ftps() {
    let server = server_with_alice(&[]).await;
    let port = server.port("ftp");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("outgoing");
    std::fs::create_dir(&local).unwrap();
    for i in 0..120 {
        std::fs::write(
            local.join(format!("f{i:03}.txt")),
            format!("file {i}\n").repeat(i + 1),
        )
        .unwrap();
    }
    for (target, tls) in [("plain", false), ("tls", true)] {
        let settings = if tls {
            "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:verify-certificate no;"
        } else {
            "set ftp:ssl-allow no;"
        };
        let script = format!(
            "{settings} set net:max-retries 1; set net:timeout 20; open -u alice,{PASSWORD} -p {port} 127.0.0.1; mkdir /out/{target}; mirror -R {} /out/{target}; bye",
            local.display()
        );
        let out = run("lftp", &["-c", &script]);
        assert!(
            out.status.success(),
            "lftp: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let remote = server.env.home("alice").join("out").join(target);
        for i in 0..120 {
            let name = format!("f{i:03}.txt");
            assert_eq!(
                std::fs::read(remote.join(&name)).unwrap(),
                std::fs::read(local.join(&name)).unwrap(),
                "{target}/{name}"
            );
        }
    }
}

/// TLS 1.2 with `openssl s_client`: a client that prefers ChaCha20 still gets the server's first
/// choice, AES-256-GCM.
#[tokio::test]
async fn the_server_order_of_tls12_cipher_suites_wins() {
    let server = server_with_alice(&[]).await;
    let connect = format!("127.0.0.1:{}", server.port("ftp"));
    let out = Command::new("openssl")
        .args(["s_client", "-starttls", "ftp", "-connect", &connect, "-tls1_2", "-cipher"])
        .arg("ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Cipher is ECDHE-ECDSA-AES256-GCM-SHA384"),
        "the server's order was not used:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 19 item 1: RETR, LIST, NLST and MLSD of a missing path (or one outside the home, or
/// of the wrong kind) answer a single 550 before any 150, as vsftpd does, and the prepared data
/// connection is closed.
#[tokio::test]
async fn a_missing_path_is_refused_before_any_150() {
    let server = server_with_alice(&[]).await;
    scenario(&server, "not_found_before_150", &["alice", PASSWORD]);
}

/// Issue 19 item 2: one clean text per reply, never a storage error's layered description.
#[tokio::test]
async fn error_replies_have_one_clean_text() {
    let server = server_with_alice(&[]).await;
    scenario(&server, "clean_error_texts", &["alice", PASSWORD]);
}

/// Issue 19 item 4: a path with a byte that isn't UTF-8 is refused with 553 on every command
/// (before any 150), so nothing is stored under a repaired name the client never sent.
#[tokio::test]
async fn names_that_are_not_utf8_are_refused_with_553() {
    let server = server_with_alice(&[]).await;
    scenario(&server, "non_utf8_names", &["alice", PASSWORD]);
    let mut names: Vec<String> = std::fs::read_dir(server.env.home("alice").join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["café.csv", "plain.csv"]);
}

/// Issue 19 item 5 (bolcom/libunftp#318): a TLS-required user can't clear the data channel
/// after a TLS login (`PROT C` is refused) and no data connection or transfer command works
/// unprotected; a user who may use plain FTP still may.
#[tokio::test]
async fn a_tls_required_user_keeps_the_data_channel_protected() {
    let server = server_with_alice(&[]).await;
    server.add_user("tina", PASSWORD, &["--require-tls"]);
    scenario(
        &server,
        "data_protection_kept",
        &["tina", PASSWORD, "alice"],
    );
    assert_eq!(
        std::fs::read(server.env.home("tina").join("out/kept.bin")).unwrap(),
        b"kept"
    );
    assert!(!server.env.home("tina").join("out/clear.bin").exists());
    // curl's "TLS for the login only" (PROT C) moves nothing for her.
    let url = format!(
        "ftp://tina:{PASSWORD}@127.0.0.1:{}/out/kept.bin",
        server.port("ftp")
    );
    let out = run(
        "curl",
        &["-sS", "--ftp-ssl-control", "-k", "--max-time", "20", &url],
    );
    assert!(!out.status.success(), "a clear data channel was opened");
    assert!(out.stdout.is_empty());
}

/// The server's count of FTPS data connections' TLS handshakes: (full, resumed).
fn data_handshakes(server: &TestServer, token: &str) -> (u64, u64) {
    let text = server.metrics(token);
    let count = |kind: &str| -> u64 {
        let key = format!("freightdrop_ftps_data_handshakes_total{{handshake=\"{kind}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .unwrap_or_else(|| panic!("no {key} in /metrics:\n{text}"))
            .trim()
            .parse()
            .expect("a count")
    };
    (count("full"), count("resumed"))
}

/// Issue 18 items 1 and 2: a data connection's TLS handshake is answered when the connection is
/// accepted (curl starts it before sending RETR) and resumes the control connection's session,
/// so many small files cost one full handshake, not one per file; ftplib sees each data
/// connection resumed (TLS 1.3 and 1.2), lftp's and curl's are counted by the server. A data
/// connection that isn't TLS is answered 425 and the session goes on.
#[tokio::test]
async fn ftps_data_connections_resume_the_control_connections_session() {
    let server = server_with_alice(&[]).await;
    scenario(&server, "data_tls", &["alice", PASSWORD]);
    let token = server.metrics_token("boss");
    let port = server.port("ftp");

    // lftp: 30 files up in one session, each on its own data connection.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("small");
    std::fs::create_dir(&local).unwrap();
    for i in 0..30 {
        std::fs::write(local.join(format!("s{i:02}.txt")), format!("small {i}\n")).unwrap();
    }
    let (full, resumed) = data_handshakes(&server, &token);
    let script = format!(
        "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:verify-certificate no; set net:max-retries 1; set net:timeout 20; open -u alice,{PASSWORD} -p {port} 127.0.0.1; mkdir /out/small; mirror -R {} /out/small; bye",
        local.display()
    );
    let out = run("lftp", &["-c", &script]);
    assert!(
        out.status.success(),
        "lftp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (lftp_full, lftp_resumed) = data_handshakes(&server, &token);
    eprintln!(
        "lftp, 30 uploads: {} full, {} resumed data handshakes",
        lftp_full - full,
        lftp_resumed - resumed
    );

    // curl: 10 downloads in one invocation, over one control connection. With TLS 1.2 every
    // data connection resumes; with TLS 1.3 curl (OpenSSL) offers the control connection's
    // ticket on the first only, and data connections send no tickets of their own.
    let urls: Vec<String> = (0..10)
        .map(|i| format!("ftp://alice:{PASSWORD}@127.0.0.1:{port}/out/small/s{i:02}.txt"))
        .collect();
    let curl = |tls: &[&str]| {
        let mut args = vec!["-sS", "--fail", "--ssl-reqd", "-k"];
        args.extend(tls);
        for url in &urls {
            args.extend(["-o", "/dev/null", url.as_str()]);
        }
        let out = run("curl", &args);
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        data_handshakes(&server, &token)
    };
    let (tls12_full, tls12_resumed) = curl(&["--tlsv1.2", "--tls-max", "1.2"]);
    let (tls13_full, tls13_resumed) = curl(&["--tlsv1.3"]);
    eprintln!(
        "curl, 10 downloads: TLS 1.2 {} full, {} resumed; TLS 1.3 {} full, {} resumed",
        tls12_full - lftp_full,
        tls12_resumed - lftp_resumed,
        tls13_full - tls12_full,
        tls13_resumed - tls12_resumed
    );
    // lftp (GnuTLS, TLS 1.3): every data connection, the 30 uploads and its listings, resumed.
    assert_eq!(
        lftp_full, full,
        "lftp's data connections made full handshakes"
    );
    assert!(lftp_resumed - resumed >= 30, "{}", lftp_resumed - resumed);
    assert_eq!(
        tls12_full, lftp_full,
        "curl's TLS 1.2 data connections made full handshakes"
    );
    assert_eq!(tls12_resumed - lftp_resumed, 10);
    assert!(
        tls13_resumed > tls12_resumed,
        "curl's first TLS 1.3 data connection resumed"
    );
}
