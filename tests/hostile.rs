//! Hostile files through the real server (issue 12, findings 2 and 3): zip bombs as xlsx and
//! ods, an oversized xls, deep and wide XML, 50 MB lines, five million empty lines and a
//! four-million-block TTM file, uploaded over FTP. Each must end in `error/` with a reason a
//! person can act on, the server's peak memory (`VmHWM` of its `/proc/<pid>/status`) must stay
//! bounded, and an FTP login must answer within 2 s while they are processed.
//!
//! The files are generated at test time by `tests/hostile/make_files.py` (some unpack to
//! hundreds of megabytes; nothing big is committed).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::curl::{ftp_url, timed};
use common::server::{wait_for, TestServer};
use common::Backend;

const PASSWORD: &str = "alice-password";

/// The server's peak memory may not pass this (ours: the inbox bound is 512 MiB for one file,
/// and none of these files should come near it).
const MAX_PEAK_BYTES: u64 = 640 * 1024 * 1024;

/// Each file and what its report must say.
const FILES: &[(&str, &str)] = &[
    ("bomb.xlsx", "the workbook unpacks to more than 512 MiB"),
    ("bomb.ods", "the workbook unpacks to more than 512 MiB"),
    ("big.xls", "an .xls workbook of more than 128 MiB"),
    ("deep.xml", "elements are nested more than 100 deep"),
    ("wide.xml", "the value is longer than 1048576 bytes"),
    ("line.csv", "this line is longer than 1048576 bytes"),
    ("line.ttm", "this line is longer than 1048576 bytes"),
    (
        "empty.csv",
        "the file holds no orders and no status updates",
    ),
    ("empty.ttm", "no `<!-- start order` block found"),
    ("blocks.ttm", "required field is missing"),
];

/// The peak resident memory of process `pid`, in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM figure");
    kib * 1024
}

/// How long an FTP login (and a listing) takes.
fn ftp_login(server: &TestServer) -> Duration {
    timed(
        10,
        &["--list-only", &ftp_url(server, "alice", PASSWORD, "")],
        "login",
    )
}

fn upload(server: &TestServer, local: &Path, names: &[&str]) {
    let glob = format!("{{{}}}", names.join(","));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "300", "-T", &glob])
        .arg(ftp_url(server, "alice", PASSWORD, ""))
        .current_dir(local)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "upload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn hostile_files_go_to_error_within_bounded_memory_and_logins_still_answer() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("alice", PASSWORD, &[]);
    let pid = server.pid().expect("the server's pid");
    let local = server.env.dir.path().join("hostile");
    std::fs::create_dir_all(&local).expect("local dir");
    let made = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/make_files.py"))
        .arg(&local)
        .output()
        .expect("python3");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let before = peak_memory(pid);

    let names: Vec<&str> = FILES.iter().map(|(name, _)| *name).collect();
    upload(&server, &local, &names);

    let error = server.env.home("alice").join("error");
    let mut slowest = Duration::ZERO;
    wait_for(
        "every hostile file in error/",
        Duration::from_secs(240),
        || {
            slowest = slowest.max(ftp_login(&server));
            names.iter().all(|name| error.join(name).exists())
        },
    );
    assert!(
        slowest < Duration::from_secs(2),
        "an FTP login took {slowest:?} while hostile files were processed"
    );
    for (name, reason) in FILES {
        let report = std::fs::read_to_string(error.join(format!("{name}.error.txt")))
            .unwrap_or_else(|e| panic!("report of {name}: {e}"));
        assert!(report.contains(reason), "{name}: {report}");
    }
    let peak = peak_memory(pid);
    assert!(
        peak < MAX_PEAK_BYTES,
        "the server peaked at {} MiB (was {} MiB before the files)",
        peak >> 20,
        before >> 20
    );
    // Still serving.
    ftp_login(&server);
}
