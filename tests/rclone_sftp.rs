//! rclone over SFTP against the real server: the real `rclone` binary (Debian's package,
//! installed by `scripts/setup`), configured only through `RCLONE_CONFIG_*` variables with the
//! shell type `none` (freightdrop runs no commands), doing what partners script with it: mkdir,
//! copy up, lsf, check, move, copy down and about, and an upload rclone itself gives up midway.
//! Every step asserts on what the home holds afterwards.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::server::{wait_for, TestServer};
use common::Backend;

const USER: &str = "synced";
const PASSWORD: &str = "Rclone-test-pass-1";
/// The remote's name in the `RCLONE_CONFIG_*` variables.
const REMOTE: &str = "FD";

struct Rclone {
    server: TestServer,
    local: PathBuf,
    obscured: String,
}

impl Rclone {
    async fn start() -> Self {
        let server = TestServer::start(Backend::Sqlite, &[]).await;
        server.add_user(USER, PASSWORD, &["--protocols", "sftp"]);
        let local = server.env.dir.path().join("client");
        std::fs::create_dir_all(&local).unwrap();
        let obscured = Command::new("rclone")
            .args(["obscure", PASSWORD])
            .output()
            .expect("rclone installed (scripts/setup)");
        assert!(obscured.status.success());
        let obscured = String::from_utf8_lossy(&obscured.stdout).trim().to_string();
        Self {
            server,
            local,
            obscured,
        }
    }

    fn home(&self) -> PathBuf {
        self.server.env.home(USER)
    }

    /// `rclone ARGS` against the server, bounded in time, with an empty config file of its own.
    fn command(&self, args: &[&str]) -> Command {
        let var = |key: &str| format!("RCLONE_CONFIG_{REMOTE}_{key}");
        let mut command = Command::new("timeout");
        command
            .arg("120")
            .arg("rclone")
            .args(args)
            .args(["--config", self.local.join("rclone.conf").to_str().unwrap()])
            .args(["--low-level-retries", "1", "--retries", "1", "-v"])
            .env(var("TYPE"), "sftp")
            .env(var("HOST"), "127.0.0.1")
            .env(var("PORT"), self.server.port("sftp").to_string())
            .env(var("USER"), USER)
            .env(var("PASS"), &self.obscured)
            .env(var("SHELL_TYPE"), "none")
            .env(var("MD5SUM_COMMAND"), "none")
            .env(var("SHA1SUM_COMMAND"), "none")
            .current_dir(&self.local)
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs `rclone ARGS`, which must succeed; returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rclone {args:?} failed:\n{}\n{}\nserver log:\n{}",
            text(&out.stdout),
            text(&out.stderr),
            self.server.log()
        );
        text(&out.stdout)
    }

    fn remote(path: &str) -> String {
        format!("{REMOTE}:{path}")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The names in a folder, hidden ones included, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `len` bytes that differ from position to position.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed)
        .collect::<Vec<u8>>()
}

fn arrived(server: &TestServer, name: &str) -> bool {
    server
        .log()
        .lines()
        .any(|l| l.contains("file arrived in inbox") && l.contains(&format!("file={name}")))
}

#[tokio::test]
async fn rclone_mkdir_copy_lsf_check_move_copy_down_and_about() {
    let r = Rclone::start().await;
    let home = r.home();

    // mkdir, nested (rclone looks at the parents first).
    r.ok(&["mkdir", &Rclone::remote("sub/deeper")]);
    assert!(home.join("sub/deeper").is_dir());

    // copy up: three files, one of them 3 MB, into a sub-folder (no inbox there).
    let up = r.local.join("up");
    std::fs::create_dir_all(up.join("nested")).unwrap();
    std::fs::write(up.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(up.join("nested/b.txt"), b"beta\n").unwrap();
    let big = pattern(3_000_000, 7);
    std::fs::write(up.join("big.bin"), &big).unwrap();
    r.ok(&["copy", "up", &Rclone::remote("sub/deeper")]);
    let deeper = home.join("sub/deeper");
    assert_eq!(
        names(&deeper),
        ["a.txt", "big.bin", "nested"],
        "no partial left"
    );
    assert_eq!(std::fs::read(deeper.join("big.bin")).unwrap(), big);
    assert_eq!(
        std::fs::read(deeper.join("nested/b.txt")).unwrap(),
        b"beta\n"
    );

    // lsf, recursive.
    let listed = r.ok(&["lsf", "-R", &Rclone::remote("sub/deeper")]);
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort_unstable();
    assert_eq!(listed, ["a.txt", "big.bin", "nested/", "nested/b.txt"]);

    // check, comparing contents (no hash over SFTP without a shell): equal, then one differs.
    r.ok(&["check", "--download", "up", &Rclone::remote("sub/deeper")]);
    std::fs::write(deeper.join("a.txt"), b"ALPHA\n").unwrap();
    let differs = r.run(&["check", "--download", "up", &Rclone::remote("sub/deeper")]);
    assert!(!differs.status.success(), "check must see the change");
    assert!(
        text(&differs.stderr).contains("1 differences found"),
        "{}",
        text(&differs.stderr)
    );

    // move on the server (a rename), and move up into the inbox: an arrival, the local file gone.
    r.ok(&[
        "moveto",
        &Rclone::remote("sub/deeper/a.txt"),
        &Rclone::remote("sub/a.txt"),
    ]);
    assert!(home.join("sub/a.txt").is_file() && !deeper.join("a.txt").exists());
    let orders = r.local.join("orders");
    std::fs::create_dir_all(&orders).unwrap();
    std::fs::write(orders.join("orders-1.csv"), b"id;qty\n1;2\n").unwrap();
    r.ok(&["move", "orders", &Rclone::remote("")]);
    assert!(names(&orders).is_empty(), "rclone move removed the source");
    wait_for("the moved file's arrival", Duration::from_secs(20), || {
        arrived(&r.server, "orders-1.csv")
    });

    // copy down what was published in out/.
    let published = pattern(500_000, 3);
    std::fs::write(home.join("out/report.bin"), &published).unwrap();
    std::fs::write(home.join("out/notes.txt"), b"notes\n").unwrap();
    r.ok(&["copy", &Rclone::remote("out"), "down"]);
    let down = r.local.join("down");
    assert_eq!(names(&down), ["notes.txt", "report.bin"]);
    assert_eq!(std::fs::read(down.join("report.bin")).unwrap(), published);

    // about: the file system's figures, through statvfs@openssh.com (no df over a shell).
    let about = r.ok(&["about", "--json", &Rclone::remote("")]);
    let about: serde_json::Value = serde_json::from_str(&about).expect("about's JSON");
    let vfs = rustix::fs::statvfs(&home).unwrap();
    assert_eq!(
        about["total"].as_u64(),
        Some(vfs.f_blocks * vfs.f_frsize),
        "{about}"
    );
    // rclone (github.com/pkg/sftp) counts the free blocks, reserved ones included.
    let free = about["free"].as_u64().expect("free bytes");
    let now_free = vfs.f_bfree * vfs.f_frsize;
    // Other tests write meanwhile; within 5% of the disk is the same disk.
    assert!(
        free.abs_diff(now_free) < vfs.f_blocks * vfs.f_frsize / 20,
        "{about}"
    );
}

#[tokio::test]
async fn an_upload_rclone_gives_up_midway_leaves_nothing_listed_or_on_disk() {
    let r = Rclone::start().await;
    let home = r.home();
    std::fs::create_dir_all(home.join("sub")).unwrap();
    let up = r.local.join("up");
    std::fs::create_dir_all(&up).unwrap();
    std::fs::write(up.join("z.bin"), pattern(8_000_000, 1)).unwrap();
    // A hard cutoff stops the transfer after 1 MiB: rclone's reader fails midway, and rclone
    // deletes the name without closing the upload's handle.
    let cut = r.run(&[
        "copy",
        "up",
        &Rclone::remote("sub"),
        "--max-transfer",
        "1M",
        "--cutoff-mode",
        "hard",
        "--transfers",
        "1",
    ]);
    assert!(!cut.status.success(), "the transfer was cut");
    assert!(
        text(&cut.stderr).contains("max transfer limit reached"),
        "{}",
        text(&cut.stderr)
    );
    // Nothing by that name, nothing hidden either, and nothing listed.
    wait_for("the partial upload to go", Duration::from_secs(20), || {
        names(&home.join("sub")).is_empty()
    });
    assert_eq!(r.ok(&["lsf", &Rclone::remote("sub")]), "");
    // rclone's own clean-up reached the server: the deletion discarded the upload.
    assert!(
        r.server
            .log()
            .contains("upload not completed; discarded by a deletion of its name"),
        "{}",
        r.server.log()
    );
    // The same copy without the cutoff then completes, whole.
    r.ok(&["copy", "up", &Rclone::remote("sub")]);
    assert_eq!(
        std::fs::read(home.join("sub/z.bin")).unwrap(),
        pattern(8_000_000, 1)
    );
}
