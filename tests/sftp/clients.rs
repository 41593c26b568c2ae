//! The real SFTP clients the tests drive (OpenSSH `sftp` and `ssh`, sshpass, curl, paramiko),
//! each bounded by `timeout` so a hanging session fails the test instead of blocking it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::server::TestServer;

/// The password every test user gets.
pub const PASSWORD: &str = "Sftp-test-pass-1";
/// Longest any one client run may take.
const CLIENT_TIMEOUT_SECS: &str = "180";

/// A folder on the client side of a test, inside the test's temp dir.
pub fn local_dir(server: &TestServer) -> PathBuf {
    let dir = server.env.dir.path().join("client");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Options that make OpenSSH trust the test server and stay quiet about it.
fn ssh_options() -> Vec<String> {
    [
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn bounded(program: &str) -> Command {
    let mut command = Command::new("timeout");
    command
        .args([CLIENT_TIMEOUT_SECS, program])
        .stdin(Stdio::null());
    command
}

/// Makes an ed25519 key pair in the client folder and registers it for `user`; returns the
/// private key's path.
pub fn add_key(server: &TestServer, user: &str) -> PathBuf {
    let key = local_dir(server).join(format!("id_{user}"));
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success(), "ssh-keygen: {}", text(&made.stderr));
    let public = key.with_extension("pub");
    let added = server.env.cli(
        &["user", "key", "add", user, public.to_str().unwrap()],
        None,
    );
    assert!(
        added.status.success(),
        "user key add: {}",
        text(&added.stderr)
    );
    key
}

/// How an OpenSSH client logs in.
pub enum Login<'a> {
    /// With this private key only.
    Key(&'a Path),
    /// With this password, typed by sshpass (one prompt).
    Password(&'a str),
}

/// Runs OpenSSH `sftp -b` with `batch` in the client folder.
pub fn sftp_batch(server: &TestServer, user: &str, login: Login<'_>, batch: &str) -> Output {
    let dir = local_dir(server);
    let batch_file = dir.join(format!("batch-{}", crate::common::unique()));
    std::fs::write(&batch_file, batch).unwrap();
    let port = server.port("sftp").to_string();
    let mut command = match login {
        Login::Key(key) => {
            let mut command = bounded("sftp");
            command
                .args([
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    "PasswordAuthentication=no",
                ])
                .arg("-i")
                .arg(key);
            command
        }
        Login::Password(password) => {
            let mut command = bounded("sshpass");
            command
                .args(["-p", password, "sftp", "-o", "BatchMode=no"])
                .args([
                    "-o",
                    "PubkeyAuthentication=no",
                    "-o",
                    "NumberOfPasswordPrompts=1",
                ]);
            command
        }
    };
    command
        .args(ssh_options())
        .args(["-P", &port, "-b"])
        .arg(&batch_file)
        .arg(format!("{user}@127.0.0.1"))
        .current_dir(&dir);
    command.output().unwrap()
}

/// Runs `ssh` with a key, `options` before the destination (a pty, forwarding, `-s`) and
/// `command` after it.
pub fn ssh(
    server: &TestServer,
    user: &str,
    key: &Path,
    options: &[&str],
    command: &[&str],
) -> Output {
    let port = server.port("sftp").to_string();
    bounded("ssh")
        .args(ssh_options())
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "PasswordAuthentication=no",
        ])
        .arg("-i")
        .arg(key)
        .args(["-p", &port])
        .args(options)
        .arg(format!("{user}@127.0.0.1"))
        .args(command)
        .output()
        .unwrap()
}

/// Runs curl on `sftp://127.0.0.1:PORT{path}` as `user` with `extra` arguments.
pub fn curl(server: &TestServer, user: &str, path: &str, extra: &[&str]) -> Output {
    let url = format!("sftp://127.0.0.1:{}{path}", server.port("sftp"));
    bounded("curl")
        .args(["-sS", "-k", "-u", &format!("{user}:{PASSWORD}")])
        .args(extra)
        .arg(url)
        .current_dir(local_dir(server))
        .output()
        .unwrap()
}

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sftp/client.py")
}

/// A paramiko scenario of `tests/sftp/client.py`, as `user` with `password`, to be spawned and
/// ended by the test (so no `timeout` wrapper stands between the test and the client).
pub fn paramiko_command(
    server: &TestServer,
    scenario: &str,
    user: &str,
    password: &str,
    args: &[&str],
) -> Command {
    let mut command = Command::new("python3");
    command
        .arg(client_script())
        .args([scenario, &server.port("sftp").to_string(), user, password])
        .args(args)
        .current_dir(local_dir(server));
    command
}

/// Runs a paramiko scenario to its end; returns its output, asserting it succeeded.
pub fn paramiko(server: &TestServer, scenario: &str, user: &str, args: &[&str]) -> String {
    let out = bounded("python3")
        .arg(client_script())
        .args([scenario, &server.port("sftp").to_string(), user, PASSWORD])
        .args(args)
        .current_dir(local_dir(server))
        .output()
        .unwrap();
    let printed = text(&out.stdout);
    assert!(
        out.status.success(),
        "paramiko {scenario} failed:\n{printed}\n{}\nserver log:\n{}",
        text(&out.stderr),
        server.log()
    );
    printed
}

/// The line of `output` that starts with `key ` (without the key).
pub fn fact<'a>(output: &'a str, key: &str) -> &'a str {
    output
        .lines()
        .find_map(|line| line.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{output}"))
}

/// Bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The names in a folder, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Some bytes that are not all alike, `len` long.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}
