//! The SFTP frontend end to end: the real `freightdrop serve` driven by real clients (OpenSSH
//! `sftp`/`ssh`, sshpass, curl's libssh2, paramiko), asserting on file contents, error texts and
//! exit codes, and on what the home holds afterwards.

#[path = "sftp/clients.rs"]
mod clients;
mod common;

use std::os::unix::fs::symlink;
use std::process::Stdio;
use std::time::Duration;

use clients::{
    add_key, curl, fact, local_dir, names, paramiko, paramiko_command, pattern, sftp_batch, ssh,
    text, Login, PASSWORD,
};
use common::server::{wait_for, TestServer};
use common::Backend;

const HOME_FOLDERS: [&str; 3] = ["done", "error", "out"];

async fn server_with_user(extra: &[&str], user: &str, user_flags: &[&str]) -> TestServer {
    let server = TestServer::start(Backend::Sqlite, extra).await;
    let mut flags = vec!["--protocols", "sftp"];
    flags.extend_from_slice(user_flags);
    server.add_user(user, PASSWORD, &flags);
    server
}

fn arrived(server: &TestServer, name: &str) -> bool {
    server
        .log()
        .lines()
        .any(|l| l.contains("file arrived in inbox") && l.contains(name))
}

#[tokio::test]
async fn openssh_with_a_key_uploads_downloads_and_manages_files() {
    let server = server_with_user(&[], "acme", &[]).await;
    let key = add_key(&server, "acme");
    let local = local_dir(&server);
    let content = pattern(3_000_000);
    std::fs::write(local.join("orders.csv"), &content).unwrap();
    std::fs::write(local.join("status.csv"), b"id;state\n1;delivered\n").unwrap();
    let touched = std::process::Command::new("touch")
        .args(["-d", "@1000000000", "status.csv"])
        .current_dir(&local)
        .status()
        .unwrap();
    assert!(touched.success());
    // put -f asks for fsync@openssh.com, -p for SETSTAT of the times and mode.
    let batch = "pwd\nput orders.csv /out/orders.csv\nput -fp status.csv /out/status.csv\n\
                 get /out/orders.csv back.csv\nput status.csv inbox.csv\n\
                 mkdir archive\nrename /out/status.csv archive/status.csv\nchmod 600 archive/status.csv\n\
                 ls -l archive\nrm archive/status.csv\nrmdir archive\n-ln -s orders.csv link.csv\n\
                 -rm nothing.csv\n-get missing.csv\nls\nbye\n";
    let out = sftp_batch(&server, "acme", Login::Key(&key), batch);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}\n{}", server.log());
    assert!(stdout.contains("Remote working directory: /"), "{stdout}");
    assert!(
        stdout.contains("-rw------- 0 acme acme 21 Sep 09 2001"),
        "mode and time kept: {stdout}"
    );
    assert!(
        stderr.contains("Permission denied"),
        "symlink refused: {stderr}"
    );
    assert!(stderr.contains("No such file"), "{stderr}");
    assert_eq!(std::fs::read(local.join("back.csv")).unwrap(), content);
    let home = server.env.home("acme");
    assert_eq!(std::fs::read(home.join("out/orders.csv")).unwrap(), content);
    assert_eq!(names(&home.join("out")), ["orders.csv"]);
    wait_for(
        "the inbox upload's arrival",
        Duration::from_secs(10),
        || arrived(&server, "inbox.csv"),
    );
    assert!(!arrived(&server, "orders.csv"), "out/ is no inbox");
    assert!(!arrived(&server, "status.csv"), "out/ is no inbox");
}

#[tokio::test]
async fn openssh_with_a_password_through_sshpass() {
    let server = server_with_user(&[], "carrier", &[]).await;
    let local = local_dir(&server);
    std::fs::write(local.join("a.csv"), b"1;2;3\n").unwrap();
    let out = sftp_batch(
        &server,
        "carrier",
        Login::Password(PASSWORD),
        "put a.csv /out/a.csv\nget /out/a.csv b.csv\nbye\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(local.join("b.csv")).unwrap(), b"1;2;3\n");
    let wrong = sftp_batch(
        &server,
        "carrier",
        Login::Password("Wrong-pass-999"),
        "ls\n",
    );
    assert_eq!(wrong.status.code(), Some(255));
    assert!(text(&wrong.stderr).contains("Permission denied"));
    assert!(server.log().contains("wrong password or key"));
}

#[tokio::test]
async fn paramiko_prefetching_get_and_a_50_mb_put_are_byte_identical() {
    let server = server_with_user(&[], "bulk", &[]).await;
    let local = local_dir(&server);
    let content = pattern(50 * 1000 * 1000);
    std::fs::write(local.join("big.bin"), &content).unwrap();
    let out = paramiko(
        &server,
        "big",
        "bulk",
        &["big.bin", "/out/big.bin", "fetched.bin"],
    );
    assert_eq!(fact(&out, "put"), "50000000");
    assert_eq!(fact(&out, "get"), "50000000");
    let home = server.env.home("bulk");
    assert_eq!(std::fs::read(home.join("out/big.bin")).unwrap(), content);
    assert_eq!(std::fs::read(local.join("fetched.bin")).unwrap(), content);
}

#[tokio::test]
async fn paramiko_covers_every_operation() {
    let server = server_with_user(&[], "ops", &[]).await;
    let home = server.env.home("ops");
    // Links in a home are read as the partner sees it: relative, or absolute from its top.
    symlink("out", home.join("inside-link")).unwrap();
    let out = paramiko(&server, "operations", "ops", &[home.to_str().unwrap()]);
    let f = |key| fact(&out, key);
    assert_eq!(f("normalize"), "/ /x/y");
    assert_eq!(f("fstat"), "4");
    assert_eq!(f("visible-before-close"), "False");
    assert_eq!(f("visible-after-close"), "True");
    assert_eq!(f("stat"), "4 True");
    assert_eq!(f("lstat"), "4");
    assert_eq!(f("during-append"), "b'a;b\\n'");
    assert_eq!(f("after-resume"), "b'A;b\\n1;2\\n'");
    assert_eq!(f("mode"), "0o644", "setuid and write for others are masked");
    assert_eq!(f("mtime"), "1000000000");
    assert_eq!(
        f("truncate-path"),
        "ok",
        "a truncate outside the inbox, as OpenSSH"
    );
    assert_eq!(f("truncate-handle"), "2");
    assert_eq!(
        f("dir-mode"),
        "0o700",
        "new folders are private (umask 077)"
    );
    assert_eq!(f("listdir"), "['ops.csv']");
    assert_eq!(f("listdir_attr"), "[('ops.csv', 2)]");
    assert!(
        f("rename-onto-existing").contains("already exists"),
        "{out}"
    );
    assert!(
        f("posix-rename-onto-existing").contains("already exists"),
        "posix-rename never replaces: {out}"
    );
    // Cut to one byte by path, then to two through the handle: the second byte is a zero.
    assert_eq!(f("kept-after-posix-rename"), "b'A\\x00' b'other'");
    assert_eq!(f("posix-rename"), "b'other'");
    assert_eq!(f("rename-into-inbox"), "ok");
    assert!(f("symlink").starts_with("PermissionError"), "{out}");
    assert_eq!(f("readlink-inside"), "/out");
    assert!(f("remove-folder").contains("is a folder"), "{out}");
    assert!(f("rmdir-root").starts_with("PermissionError"), "{out}");
    assert!(f("rmdir-full").contains("folder not empty"), "{out}");
    assert!(
        f("remove-missing").starts_with("FileNotFoundError"),
        "{out}"
    );
    assert!(f("stat-missing").starts_with("FileNotFoundError"), "{out}");
    assert!(f("open-missing").starts_with("FileNotFoundError"), "{out}");
    assert!(f("open-folder").contains("is a folder"), "{out}");
    assert!(f("mkdir-existing").contains("already exists"), "{out}");
    assert_eq!(f("final"), "['done', 'error', 'inside-link', 'out']");
    wait_for(
        "the renamed file's arrival",
        Duration::from_secs(10),
        || arrived(&server, "moved.csv"),
    );
    assert!(!arrived(&server, "ops.csv"), "sub/ is no inbox");
}

#[tokio::test]
async fn curl_uploads_lists_and_downloads() {
    let server = server_with_user(&[], "curly", &[]).await;
    let local = local_dir(&server);
    let content = pattern(200_000);
    std::fs::write(local.join("up.csv"), &content).unwrap();
    let up = curl(&server, "curly", "/out/up.csv", &["-T", "up.csv"]);
    assert!(up.status.success(), "{}", text(&up.stderr));
    let list = curl(&server, "curly", "/out/", &["-l"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert_eq!(text(&list.stdout).trim(), "up.csv");
    let down = curl(&server, "curly", "/out/up.csv", &["-o", "down.csv"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(std::fs::read(local.join("down.csv")).unwrap(), content);
    let missing = curl(&server, "curly", "/nothing.csv", &["-o", "x.csv"]);
    assert_eq!(
        missing.status.code(),
        Some(78),
        "curl: remote file not found"
    );
    let inbox = curl(&server, "curly", "/in.csv", &["-T", "up.csv"]);
    assert!(inbox.status.success(), "{}", text(&inbox.stderr));
    wait_for("curl's upload arrival", Duration::from_secs(10), || {
        arrived(&server, "in.csv")
    });
}

#[tokio::test]
async fn no_path_leads_out_of_the_home() {
    let server = server_with_user(&[], "jailed", &[]).await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"not yours").unwrap();
    let home = server.env.home("jailed");
    symlink(outside.path(), home.join("to-outside")).unwrap();
    let out = paramiko(&server, "escapes", "jailed", &[]);
    let f = |key| fact(&out, key);
    // A link leading out of the home is not even listed.
    assert_eq!(f("dotdot-list"), "['done', 'error', 'out']");
    assert!(f("dotdot-get").starts_with("FileNotFoundError"), "{out}");
    assert!(f("absolute").starts_with("FileNotFoundError"), "{out}");
    // The home is the root of every resolution: the link's target is looked for inside the
    // home, where it names nothing. Removing the link removes the link, not what it pointed at.
    for key in [
        "symlink-out-list",
        "symlink-out-read",
        "symlink-out-write",
        "symlink-out-readlink",
    ] {
        assert!(f(key).starts_with("FileNotFoundError"), "{key}: {out}");
    }
    assert_eq!(f("symlink-out-remove"), "ok");
    assert_eq!(f("dotdot-put-lands-at"), "['escaped.csv']");
    assert!(
        !out.contains(outside.path().to_str().unwrap()),
        "no real path shown"
    );
    assert!(!out.contains(home.to_str().unwrap()), "no real path shown");
    assert_eq!(names(outside.path()), ["secret.txt"]);
    assert!(home.join("out/escaped.csv").is_file());
}

#[tokio::test]
async fn reserved_folders_can_be_used_but_not_removed_or_renamed() {
    let server = server_with_user(&[], "keeper", &[]).await;
    let out = paramiko(&server, "reserved", "keeper", &[]);
    for key in [
        "rmdir-out",
        "rename-done",
        "posix-rename-error",
        "rename-onto-out",
        "posix-rename-onto-done",
    ] {
        assert!(
            fact(&out, key).starts_with("PermissionError"),
            "{key}: {out}"
        );
    }
    assert_eq!(fact(&out, "use-out"), "b'published'");
    assert_eq!(fact(&out, "folders"), "['done', 'error', 'mine', 'out']");
    let home = server.env.home("keeper");
    for folder in HOME_FOLDERS {
        assert!(home.join(folder).is_dir());
    }
}

#[tokio::test]
async fn an_upload_past_the_users_limit_fails_and_leaves_nothing() {
    let server = server_with_user(&[], "small", &["--max-upload", "1500"]).await;
    let out = paramiko(&server, "limit", "small", &[]);
    assert!(
        fact(&out, "write-over-limit").contains("file too large"),
        "{out}"
    );
    assert_eq!(fact(&out, "listing"), "['done', 'error', 'out']");
    assert_eq!(names(&server.env.home("small")), HOME_FOLDERS);
}

#[tokio::test]
async fn an_aborted_upload_leaves_nothing_that_looks_complete() {
    let server = server_with_user(&[], "quitter", &[]).await;
    let home = server.env.home("quitter");
    let mut child = paramiko_command(&server, "abort_put", "quitter", PASSWORD, &[])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "writing");
    let during = names(&home);
    let partials: Vec<&String> = during
        .iter()
        .filter(|n| !HOME_FOLDERS.contains(&n.as_str()))
        .collect();
    assert_eq!(partials.len(), 1, "{during:?}");
    assert!(partials[0].starts_with(".aborted.csv.") && partials[0].ends_with(".part"));
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for(
        "the partial upload to be removed",
        Duration::from_secs(30),
        || names(&home) == HOME_FOLDERS,
    );
    assert!(!arrived(&server, "aborted.csv"));
    wait_for("the removal to be logged", Duration::from_secs(10), || {
        server
            .log()
            .contains("upload not completed; partial file removed")
    });
}

#[tokio::test]
async fn an_abandoned_upload_is_never_listed_and_deleting_its_name_discards_it() {
    let server = server_with_user(&[], "rcl", &[]).await;
    let home = server.env.home("rcl");
    let out = paramiko(&server, "abandon", "rcl", &[home.to_str().unwrap()]);
    let f = |key| fact(&out, key);
    assert_eq!(f("on-disk"), "1 True", "the hidden partial, on disk only");
    assert_eq!(f("listed-here"), "['done', 'error', 'out']");
    assert_eq!(f("listed-there"), "['done', 'error', 'out']");
    assert_eq!(f("stat"), "FileNotFoundError [Errno 2] No such file");
    // As OpenSSH answers for a name that isn't there; the partial goes with it at once.
    assert_eq!(f("remove"), "FileNotFoundError [Errno 2] No such file");
    assert_eq!(f("on-disk-after"), "[]");
    assert_eq!(f("listed-after"), "['done', 'error', 'out']");
    assert!(f("write-after").contains("upload incomplete"), "{out}");
    assert_eq!(
        f("after-close"),
        "FileNotFoundError [Errno 2] No such file []",
        "the close put nothing in place"
    );
    assert!(!arrived(&server, "z.txt"));
    assert!(server
        .log()
        .contains("upload not completed; discarded by a deletion of its name"));
}

#[tokio::test]
async fn statvfs_tells_the_home_file_system_s_figures() {
    let server = server_with_user(&[], "roomy", &[]).await;
    let home = server.env.home("roomy");
    let out = paramiko(&server, "statvfs", "roomy", &["/out"]);
    assert_eq!(fact(&out, "reply-type"), "True");
    let figures: Vec<u64> = fact(&out, "figures")
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    let vfs = rustix::fs::statvfs(&home).unwrap();
    assert_eq!(figures.len(), 11);
    assert_eq!((figures[0], figures[1]), (vfs.f_bsize, vfs.f_frsize));
    assert_eq!(figures[2], vfs.f_blocks);
    // Free space moves as other tests write; within 5% of the blocks is the same disk.
    assert!(
        figures[4].abs_diff(vfs.f_bavail) < vfs.f_blocks / 20,
        "{out}"
    );
    assert_eq!(figures[5], vfs.f_files);
    assert_eq!(figures[8], 0, "the file system's id is not told");
    assert_eq!(figures[10], vfs.f_namemax);
    assert_eq!(
        fact(&out, "missing"),
        "FileNotFoundError [Errno 2] No such file"
    );
    // OpenSSH's own client: `df` asks statvfs@openssh.com.
    let df = sftp_batch(&server, "roomy", Login::Password(PASSWORD), "cd out\ndf\n");
    let printed = text(&df.stdout);
    assert!(df.status.success(), "{printed}{}", text(&df.stderr));
    let kib = vfs.f_blocks * vfs.f_frsize / 1024;
    assert!(
        printed
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&kib.to_string())),
        "df shows {kib} KiB in all: {printed}"
    );
}

#[tokio::test]
async fn status_texts_are_openssh_s() {
    let server = server_with_user(&[], "wording", &[]).await;
    let out = paramiko(&server, "texts", "wording", &[]);
    let f = |key| fact(&out, key);
    assert_eq!(
        f("no-such-file"),
        "FileNotFoundError [Errno 2] No such file"
    );
    assert_eq!(
        f("denied-reason"),
        "PermissionError [Errno 13] Permission denied: this folder can't be removed, renamed or replaced"
    );
    assert_eq!(
        f("failure-reason"),
        "OSError Failure: a file or folder by that name already exists"
    );
    assert_eq!(f("unsupported"), "OSError Operation unsupported");
}

#[tokio::test]
async fn a_truncate_is_refused_only_on_a_file_the_inbox_processes() {
    // A file being copied into the inbox on disk (still open) waits for the settle time: it
    // stays in the inbox during the test.
    let server = server_with_user(&["--inbox-settle", "600"], "cutter", &[]).await;
    let home = server.env.home("cutter");
    let mut copying = std::fs::File::create(home.join("waiting.csv")).unwrap();
    std::io::Write::write_all(&mut copying, b"id;x\n1;2\n").unwrap();
    let out = paramiko(&server, "truncate", "cutter", &[]);
    let f = |key| fact(&out, key);
    assert_eq!(
        f("inbox"),
        "PermissionError [Errno 13] Permission denied: a file in the inbox can't be changed in place; upload it anew"
    );
    assert_eq!(f("inbox-size"), "9");
    assert_eq!(
        std::fs::read(home.join("waiting.csv")).unwrap(),
        b"id;x\n1;2\n"
    );
    assert_eq!(f("out"), "ok b'0123'");
    assert_eq!(f("sub"), "ok 0");
    assert_eq!(f("extend"), "ok b'\\x00\\x00\\x00'");
    // A temporary name in the inbox is never processed, so it may be cut; the rename makes it
    // an arrival, whole.
    assert_eq!(f("temporary"), "ok");
    wait_for(
        "the renamed file's arrival",
        Duration::from_secs(10),
        || arrived(&server, "later.csv"),
    );
    assert!(!arrived(&server, "later.csv.tmp"));
    assert!(!arrived(&server, "waiting.csv"));
    drop(copying);
}

#[tokio::test]
async fn a_flood_of_key_exchanges_from_one_address_is_paced_and_a_login_still_works() {
    let server = server_with_user(&["--ssh-handshakes-per-second", "5"], "steady", &[]).await;
    let flood = std::process::Command::new("timeout")
        .args(["60", "python3"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/sftp/handshakes.py"
        ))
        .args([&server.port("sftp").to_string(), "3", "3000"])
        .output()
        .unwrap();
    let printed = text(&flood.stdout);
    assert!(flood.status.success(), "{printed}{}", text(&flood.stderr));
    eprintln!("SSH handshake flood: {printed}");
    let figure = |key: &str| -> f64 {
        let words: Vec<&str> = printed.split_whitespace().collect();
        let at = words.iter().position(|w| *w == key).unwrap();
        words[at + 1].parse().unwrap()
    };
    let (offered, served, seconds) = (figure("offered"), figure("served"), figure("seconds"));
    // 5 a second and 10 at once: over about 3 s at most 10 + 5 × 3, with a little room for
    // the window's edges; the rest waited, or found the address's pre-login places taken.
    assert!(
        served <= 10.0 + 5.0 * seconds.ceil() + 3.0,
        "{printed}: {:.0} handshakes a second",
        served / seconds
    );
    assert!(served >= 10.0, "the burst itself is served: {printed}");
    assert!(offered >= 10.0 * served, "far more were offered: {printed}");
    // The same address logs in normally after the flood, without a backlog to wait out.
    let after = std::time::Instant::now();
    let out = sftp_batch(&server, "steady", Login::Password(PASSWORD), "ls /\n");
    assert!(
        out.status.success(),
        "{}{}{}",
        text(&out.stdout),
        text(&out.stderr),
        server.log()
    );
    assert!(text(&out.stdout).contains("out"), "{}", text(&out.stdout));
    eprintln!("login after the flood: {:?}", after.elapsed());
}

#[tokio::test]
async fn idle_sessions_are_closed_despite_keepalives_but_slow_transfers_are_not() {
    let server = server_with_user(&["--idle-timeout", "2"], "idler", &[]).await;
    let out = paramiko(&server, "idle", "idler", &[]);
    assert!(out.lines().any(|l| l == "closed"), "{out}");
    assert!(server.log().contains("idle timeout"));
    // 16 small writes 0.4 s apart: 6 s in all, three times the idle timeout, never idle for long.
    let out = paramiko(&server, "slow_put", "idler", &["out/slow.csv", "16", "0.4"]);
    assert_eq!(fact(&out, "slow-put"), "96");
    let written = std::fs::read_to_string(server.env.home("idler").join("out/slow.csv")).unwrap();
    assert_eq!(written.lines().count(), 16);
}

#[tokio::test]
async fn shell_exec_and_forwarding_are_refused() {
    let server = server_with_user(&[], "nosh", &[]).await;
    let key = add_key(&server, "nosh");
    let exec = ssh(&server, "nosh", &key, &[], &["cat /etc/passwd"]);
    assert_eq!(exec.status.code(), Some(255));
    assert!(
        text(&exec.stderr).contains("exec request failed"),
        "{}",
        text(&exec.stderr)
    );
    assert!(!text(&exec.stdout).contains("root:"));
    let shell = ssh(&server, "nosh", &key, &["-tt"], &[]);
    assert_eq!(shell.status.code(), Some(255));
    let said = text(&shell.stderr);
    assert!(said.contains("PTY allocation request failed"), "{said}");
    let other = ssh(&server, "nosh", &key, &["-s"], &["netconf"]);
    assert!(text(&other.stderr).contains("subsystem request failed"));
    let forward = ssh(
        &server,
        "nosh",
        &key,
        &[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "0:127.0.0.1:22",
        ],
        &[],
    );
    assert_eq!(forward.status.code(), Some(255));
    assert!(text(&forward.stderr).contains("remote port forwarding failed"));
}

#[tokio::test]
async fn disabled_users_and_users_without_sftp_are_refused() {
    let server = server_with_user(&[], "gone", &[]).await;
    server.add_user("ftponly", PASSWORD, &["--protocols", "ftp"]);
    let off = server.env.cli(&["user", "disable", "gone"], None);
    assert!(off.status.success());
    for user in ["gone", "ftponly", "nobody"] {
        let out = sftp_batch(&server, user, Login::Password(PASSWORD), "ls\n");
        assert_eq!(out.status.code(), Some(255), "{user} refused");
        assert!(text(&out.stderr).contains("Permission denied"));
    }
    let log = server.log();
    assert!(log.contains("account disabled"), "{log}");
    assert!(log.contains("protocol not allowed"), "{log}");
    assert!(log.contains("unknown user"), "{log}");
}

#[tokio::test]
async fn repeated_failures_block_the_address_even_for_the_right_password() {
    let server = server_with_user(&["--login-max-failures", "3"], "victim", &[]).await;
    let local = local_dir(&server);
    // SSH_ASKPASS answers every prompt with the same wrong password: OpenSSH asks three times on
    // one connection, which works only if a refusal keeps the password method open.
    let askpass = local.join("askpass.sh");
    std::fs::write(&askpass, "#!/bin/sh\necho Wrong-pass-999\n").unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let port = server.port("sftp").to_string();
    let out = std::process::Command::new("timeout")
        .args([
            "60",
            "sftp",
            "-o",
            "BatchMode=no",
            "-o",
            "PubkeyAuthentication=no",
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-P", &port, "-b", "/dev/null", "victim@127.0.0.1"])
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("Permission denied"));
    assert_eq!(server.log().matches("wrong password or key").count(), 3);
    assert!(server
        .log()
        .contains("address blocked after repeated failed logins"));
    let right = sftp_batch(&server, "victim", Login::Password(PASSWORD), "ls\n");
    assert_eq!(right.status.code(), Some(255));
    // The gate's admission refuses a blocked address before the SSH version exchange.
    assert!(
        text(&right.stderr).contains("Connection closed"),
        "{}",
        text(&right.stderr)
    );
    assert!(server.log().contains("SFTP connection refused"));
}

#[tokio::test]
async fn the_per_user_session_limit_refuses_a_second_session_with_a_reason() {
    let server = server_with_user(&["--max-sessions-per-user", "1"], "single", &[]).await;
    let key = add_key(&server, "single");
    let mut holder = paramiko_command(&server, "hold", "single", PASSWORD, &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(holder.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "holding");
    let second = sftp_batch(&server, "single", Login::Key(&key), "ls\n");
    assert!(!second.status.success());
    let said = text(&second.stderr);
    assert!(said.contains("too many sessions for this user"), "{said}");
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    wait_for("the first session's end", Duration::from_secs(10), || {
        sftp_batch(&server, "single", Login::Key(&key), "ls\n")
            .status
            .success()
    });
}

#[tokio::test]
async fn a_restart_keeps_the_host_key() {
    let server = server_with_user(&[], "pinned", &[]).await;
    let scan = |server: &TestServer| {
        let out = std::process::Command::new("ssh-keyscan")
            .args([
                "-t",
                "ed25519",
                "-p",
                &server.port("sftp").to_string(),
                "127.0.0.1",
            ])
            .output()
            .unwrap();
        let line = text(&out.stdout);
        line.split_whitespace()
            .nth(2)
            .map(String::from)
            .unwrap_or_default()
    };
    let first = scan(&server);
    assert!(
        first.starts_with("AAAAC3NzaC1lZDI1NTE5"),
        "an ed25519 key: {first}"
    );
    let key_file = server.env.data_dir().join("ssh_host_ed25519_key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let server = TestServer::start_in(server.into_env(), &[]);
    assert_eq!(scan(&server), first, "same host key after a restart");
    let public =
        std::fs::read_to_string(server.env.data_dir().join("ssh_host_ed25519_key.pub")).unwrap();
    assert!(public.contains(&first));
}

#[tokio::test]
async fn sigterm_lets_a_running_upload_finish() {
    let mut server = server_with_user(&[], "late", &[]).await;
    let home = server.env.home("late");
    // 12 writes 0.25 s apart: about 3 s, within the test server's 5 s grace.
    let mut client = paramiko_command(
        &server,
        "slow_put",
        "late",
        PASSWORD,
        &["out/slow.csv", "12", "0.25"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_for("the upload to start", Duration::from_secs(30), || {
        names(&home.join("out"))
            .iter()
            .any(|n| n.ends_with(".part"))
    });
    assert_eq!(server.stop(Duration::from_secs(30)), Some(0));
    let _ = client.wait();
    let written = std::fs::read_to_string(home.join("out/slow.csv")).unwrap();
    assert_eq!(written.lines().count(), 12, "the upload finished whole");
    assert_eq!(names(&home.join("out")), ["slow.csv"], "no partial left");
}

#[tokio::test]
async fn a_killed_server_leaves_only_a_hidden_partial_never_an_arrival() {
    let mut server = server_with_user(&[], "crash", &[]).await;
    let home = server.env.home("crash");
    let mut client = paramiko_command(&server, "abort_put", "crash", PASSWORD, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "writing");
    server.kill();
    let _ = client.wait();
    let left: Vec<String> = names(&home)
        .into_iter()
        .filter(|n| !HOME_FOLDERS.contains(&n.as_str()))
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(".aborted.csv.") && left[0].ends_with(".part"));
    assert!(!home.join("aborted.csv").exists());
    let server = TestServer::start_in(server.into_env(), &[]);
    assert!(!arrived(&server, "aborted.csv"));
}
