//! Nothing is acknowledged before it is on disk: the real server, run under `strace`, takes an
//! upload over FTP, FTPS and SFTP from curl, and the system calls it made show, for each, the
//! staged file's content synced before the file took its name (without replacing: one
//! `renameat2(RENAME_NOREPLACE)`), and the folder synced after, so that neither the content nor
//! the name can be lost to a power cut once the client was told the upload succeeded.

mod common;

use std::path::Path;
use std::process::Command;

use common::server::TestServer;
use common::{Backend, TestEnv};

const PASSWORD: &str = "durable-password";

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--fail"])
        .args(args)
        .output()
        .expect("run curl")
}

/// The paths a rename line names, in order: `renameat2(3</h/out>, ".a.part", 3</h/out>, "a")`
/// (strace's `-y` shows the folder of each descriptor) or `rename("/h/.a.part", "/h/a")`.
fn renamed_paths(line: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut folder: Option<String> = None;
    let mut rest = line.split_once('(').map_or("", |(_, r)| r);
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let end = rest.find('>').unwrap_or(rest.len());
            folder = Some(rest[1..end].to_string());
            rest = &rest[end.min(rest.len() - 1) + 1..];
        } else if c == '"' {
            let end = rest[1..].find('"').map_or(rest.len() - 1, |e| e + 1);
            let name = &rest[1..end];
            paths.push(match folder.take() {
                Some(dir) if !name.starts_with('/') => format!("{dir}/{name}"),
                _ => name.to_string(),
            });
            rest = &rest[end + 1..];
        } else {
            rest = &rest[c.len_utf8()..];
        }
    }
    paths
}

/// Checks the trace for the upload that became `target`: its staged file synced before the
/// rename onto `target`, the folder synced after. Returns what was wrong.
fn check_trace(trace: &str, target: &Path) -> Result<(), String> {
    let target = target.to_string_lossy();
    let folder = target.rsplit_once('/').map_or("", |(f, _)| f).to_string();
    let lines: Vec<&str> = trace.lines().collect();
    let (at, rename) = lines
        .iter()
        .enumerate()
        .find(|(_, l)| {
            l.contains("rename") && renamed_paths(l).get(1).map(String::as_str) == Some(&*target)
        })
        .ok_or_else(|| format!("no rename onto {target} in the trace"))?;
    if !rename.contains("renameat2(") || !rename.contains("RENAME_NOREPLACE") {
        return Err(format!(
            "the upload took its name by a rename that may replace: {rename}"
        ));
    }
    let paths = renamed_paths(rename);
    let staged = paths.first().ok_or("the rename names no file")?;
    let synced = |l: &&str| {
        (l.contains("fdatasync(") || l.contains("fsync(")) && l.contains(&format!("<{staged}>"))
    };
    if !lines[..at].iter().any(synced) {
        return Err(format!(
            "{staged} was not synced before it was renamed onto {target}"
        ));
    }
    let folder_synced = |l: &&str| l.contains("fsync(") && l.contains(&format!("<{folder}>)"));
    if !lines[at..].iter().any(folder_synced) {
        return Err(format!("{folder} was not synced after the rename"));
    }
    Ok(())
}

#[tokio::test]
async fn every_upload_is_synced_before_it_takes_its_name_and_the_folder_after() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let trace_path = env.dir.path().join("syscalls.trace");
    let trace_arg = trace_path.to_string_lossy().into_owned();
    let mut server = TestServer::start_wrapped(
        env,
        &[
            "strace",
            "-f",
            "-qq",
            "-y",
            "-e",
            "signal=none",
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2",
            "-o",
            &trace_arg,
        ],
        &[],
    );
    server.add_user("acme", PASSWORD, &[]);
    let home = server.env.home("acme");
    let local = server.env.dir.path().join("durable.csv");
    std::fs::write(&local, "id;x\n1;2\n").unwrap();
    let local = local.to_string_lossy().into_owned();
    let user = format!("acme:{PASSWORD}");
    let ftp = format!("ftp://127.0.0.1:{}", server.port("ftp"));
    let sftp = format!("sftp://127.0.0.1:{}", server.port("sftp"));
    let uploads = [
        (
            "ftp",
            vec!["-u", &user, "-T", &local, "--url"],
            format!("{ftp}/out/by-ftp.csv"),
        ),
        (
            "ftps",
            vec!["--ssl-reqd", "-k", "-u", &user, "-T", &local, "--url"],
            format!("{ftp}/out/by-ftps.csv"),
        ),
        (
            "sftp",
            vec!["-k", "-u", &user, "-T", &local, "--url"],
            format!("{sftp}/out/by-sftp.csv"),
        ),
    ];
    for (channel, args, url) in &uploads {
        let mut args = args.clone();
        args.push(url);
        let out = curl(&args);
        assert!(
            out.status.success(),
            "{channel} upload: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.log()
        );
    }
    // The trace is complete once the traced server has gone.
    server.stop(std::time::Duration::from_secs(20));
    let trace = std::fs::read_to_string(&trace_path).expect("the trace");
    let home = home.canonicalize().unwrap();
    let mut wrong = Vec::new();
    for channel in ["ftp", "ftps", "sftp"] {
        let target = home.join(format!("out/by-{channel}.csv"));
        assert!(target.is_file(), "{channel}: the upload is not there");
        if let Err(e) = check_trace(&trace, &target) {
            wrong.push(format!("{channel}: {e}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_trace_check_catches_a_missing_sync() {
    let target = Path::new("/h/out/a.csv");
    let good = "1 fdatasync(7</h/out/.a.csv.x.part>) = 0\n\
                1 renameat2(8</h/out>, \".a.csv.x.part\", 8</h/out>, \"a.csv\", RENAME_NOREPLACE) = 0\n\
                1 fsync(8</h/out>) = 0\n";
    assert_eq!(check_trace(good, target), Ok(()));
    let unsynced = good.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert!(check_trace(&unsynced, target).is_err());
    let no_folder = good.lines().take(2).collect::<Vec<_>>().join("\n");
    assert!(check_trace(&no_folder, target).is_err());
    let replacing = "1 fdatasync(7</h/out/.a.csv.x.part>) = 0\n\
                     1 rename(\"/h/out/.a.csv.x.part\", \"/h/out/a.csv\") = 0\n\
                     1 fsync(8</h/out>) = 0\n";
    assert!(check_trace(replacing, target).is_err());
}
