//! rclone (a sync client many partners script with) against the real server over FTP and FTPS:
//! nested `mkdir`, `copy` up and down, `lsf`, `check`, `move` between folders and into `done/`,
//! its "not found" answers, and the server's policies as rclone meets them. rclone's FTP library
//! recognises "not found" only from a `550` without a `150` before it (issue 19 item 1): against
//! a server that answers `150` first, every one of these fails from the nested `mkdir` on.

mod common;

use std::path::Path;

use common::rclone::Rclone;
use common::server::TestServer;
use common::Backend;

const PASSWORD: &str = "rick-password";

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn rclone_copies_checks_and_moves_over_ftp_and_ftps() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("rick", PASSWORD, &[]);
    let home = server.env.home("rick");
    let local = tempfile::tempdir().unwrap();
    let up = local.path().join("up");
    std::fs::create_dir(&up).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(up.join("big.bin"), &big).unwrap();
    std::fs::write(up.join("order.csv"), "id;qty\n1;4\n").unwrap();
    let up_arg = up.to_str().unwrap();
    for (mode, tls) in [("plain", false), ("tls", true)] {
        let rclone = Rclone::new(&server, "rick", PASSWORD, tls);
        let nested = format!("fd:out/{mode}/a/b");
        rclone.ok(&["mkdir", &nested]);
        assert!(home.join(format!("out/{mode}/a/b")).is_dir(), "{mode}");

        rclone.ok(&["copy", up_arg, &nested]);
        let there = home.join(format!("out/{mode}/a/b"));
        assert_eq!(std::fs::read(there.join("big.bin")).unwrap(), big, "{mode}");
        assert_eq!(
            std::fs::read_to_string(there.join("order.csv")).unwrap(),
            "id;qty\n1;4\n"
        );
        assert_eq!(
            rclone.ok(&["lsf", &nested]),
            "big.bin\norder.csv\n",
            "{mode}"
        );

        let check = rclone.run(&["check", up_arg, &nested]);
        let said = String::from_utf8_lossy(&check.stderr);
        assert!(check.status.success(), "{mode} check: {said}");
        assert!(said.contains("0 differences found"), "{mode}: {said}");

        // A folder moved to a new name: one rename on the server.
        let moved = format!("fd:out/{mode}/moved");
        rclone.ok(&["move", &nested, &moved]);
        assert_eq!(
            names(&home.join(format!("out/{mode}/moved"))),
            ["big.bin", "order.csv"]
        );
        assert!(!there.exists(), "{mode}: the source folder is gone");

        let back = local.path().join(format!("back-{mode}"));
        rclone.ok(&["copy", &moved, back.to_str().unwrap()]);
        assert_eq!(std::fs::read(back.join("big.bin")).unwrap(), big, "{mode}");
        assert_eq!(names(&back), ["big.bin", "order.csv"]);

        // The partner procedure: a fetched file is moved to done/.
        rclone.ok(&[
            "moveto",
            &format!("{moved}/order.csv"),
            &format!("fd:done/{mode}-order.csv"),
        ]);
        assert!(home.join(format!("done/{mode}-order.csv")).is_file());
        assert_eq!(names(&home.join(format!("out/{mode}/moved"))), ["big.bin"]);
    }
}

#[tokio::test]
async fn rclone_hears_not_found_and_meets_the_reserved_folders() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("rick", PASSWORD, &[]);
    let home = server.env.home("rick");
    let local = tempfile::tempdir().unwrap();
    let into = local.path().join("into");
    for tls in [false, true] {
        let rclone = Rclone::new(&server, "rick", PASSWORD, tls);
        // rclone's exit code 3 is "directory not found", 4 "file not found".
        for args in [
            vec!["lsf", "fd:out/nothing"],
            vec!["cat", "fd:out/missing.csv"],
            vec!["copy", "fd:out/missing.csv", into.to_str().unwrap()],
        ] {
            let out = rclone.run(&args);
            assert_eq!(
                out.status.code(),
                Some(3),
                "{args:?} (tls {tls}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
            assert!(out.stdout.is_empty());
        }
        assert!(!into.exists(), "nothing was copied");
        // The reserved folders can't be removed.
        for args in [["rmdir", "fd:done"], ["purge", "fd:error"]] {
            let out = rclone.run(&args);
            assert!(!out.status.success(), "{args:?} succeeded");
        }
        for folder in ["out", "done", "error"] {
            assert!(home.join(folder).is_dir(), "{folder} is still there");
        }
    }
    // The server never lets a rename replace a file; rclone deletes the destination itself
    // first, so its `moveto` onto a taken name still succeeds (as the README says). The sizes
    // differ: rclone takes files of one size and time for the same and only drops the source.
    let rclone = Rclone::new(&server, "rick", PASSWORD, false);
    for (name, text) in [("old.csv", "old\n"), ("new.csv", "newer\n")] {
        let file = local.path().join(name);
        std::fs::write(&file, text).unwrap();
        rclone.ok(&["copyto", file.to_str().unwrap(), &format!("fd:out/{name}")]);
    }
    rclone.ok(&["moveto", "fd:out/new.csv", "fd:out/old.csv"]);
    assert_eq!(names(&home.join("out")), ["old.csv"]);
    assert_eq!(
        std::fs::read_to_string(home.join("out/old.csv")).unwrap(),
        "newer\n"
    );
}

#[tokio::test]
async fn rclone_over_ftps_serves_a_tls_required_user_and_plain_ftp_does_not() {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user("tina", PASSWORD, &["--require-tls"]);
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("secret.csv");
    std::fs::write(&file, "secret\n").unwrap();
    let out = Rclone::new(&server, "tina", PASSWORD, false).run(&["lsf", "fd:out"]);
    assert!(
        !out.status.success(),
        "a plain login of a TLS-required user"
    );
    let rclone = Rclone::new(&server, "tina", PASSWORD, true);
    rclone.ok(&["copyto", file.to_str().unwrap(), "fd:out/in/secret.csv"]);
    assert_eq!(
        std::fs::read_to_string(server.env.home("tina").join("out/in/secret.csv")).unwrap(),
        "secret\n"
    );
    assert_eq!(rclone.ok(&["lsf", "fd:out/in"]), "secret.csv\n");
}
