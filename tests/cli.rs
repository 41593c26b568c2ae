//! The command line as an operator uses it: `user ...` and `check-config` on the same store as
//! `serve`, clear errors with the documented exit codes, and nothing half-written after a failure.

mod common;

use common::{run_cli, stderr, stdout, Backend, TestEnv};

fn homes(env: &TestEnv) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.data_dir().join("homes"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn add_then_list_shows_the_user_and_its_home(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let out = env.cli(
        &[
            "user",
            "add",
            "alice",
            "--customer",
            "1234",
            "--password-stdin",
        ],
        Some("alice-password\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("user alice added"));
    for folder in ["out", "done", "error"] {
        assert!(env.home("alice").join(folder).is_dir());
    }
    let out = env.cli(&["user", "list"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = stdout(&out);
    assert!(
        listing.contains("alice") && listing.contains("1234"),
        "{listing}"
    );

    let out = env.cli(&["user", "list", "--json"], None);
    let users: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(users[0]["name"], "alice");
    assert_eq!(users[0]["customer"], "1234");
    assert_eq!(
        users[0]["protocols"],
        serde_json::json!(["ftp", "ftps", "sftp"])
    );
    assert!(users[0].get("password_hash").is_none());
    assert!(!stdout(&out).contains("argon2"));
}
on_both_backends!(
    add_then_list_shows_the_user_and_its_home,
    super::add_then_list_shows_the_user_and_its_home
);

#[tokio::test]
async fn generated_password_is_printed_once_and_works() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let out = env.cli(
        &[
            "user",
            "add",
            "bob",
            "--customer",
            "77",
            "--generate-password",
            "--require-tls",
            "--protocols",
            "ftps,sftp",
            "--format",
            "CSV",
            "--max-upload",
            "1000",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("password for bob: "))
        .expect("password line")
        .to_string();
    assert_eq!(password.len(), 20);
    let store = env.store().await;
    let user = store
        .authenticate(
            "bob",
            freightdrop::users::Password::new(password),
            freightdrop::users::Protocol::Ftps,
        )
        .await
        .unwrap();
    assert!(user.require_tls);
    assert_eq!(user.format.as_deref(), Some("csv"));
    assert_eq!(user.max_upload_bytes, Some(1000));
    // The login recorder writes in the background, soon after the login.
    let mut shown = serde_json::Value::Null;
    for _ in 0..100 {
        let show = env.cli(&["user", "show", "bob", "--json"], None);
        shown = serde_json::from_slice(&show.stdout).unwrap();
        if shown["last_login_at"].is_i64() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(shown["protocols"], serde_json::json!(["ftps", "sftp"]));
    assert!(shown["last_login_at"].is_i64());
}

#[tokio::test]
async fn wrong_calls_exit_non_zero_and_write_nothing() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let add = |name: &str, extra: &[&str], stdin: Option<&str>| {
        let mut args = vec!["user", "add", name, "--customer", "1234"];
        args.extend_from_slice(extra);
        env.cli(&args, stdin)
    };
    // (name, extra flags, stdin, expected exit code, text the error must contain)
    type Case<'a> = (&'a str, &'a [&'a str], Option<&'a str>, i32, &'a str);
    let cases: [Case; 8] = [
        (
            "../evil",
            &["--generate-password"],
            None,
            2,
            "invalid user name",
        ),
        (
            ".hidden",
            &["--generate-password"],
            None,
            2,
            "invalid user name",
        ),
        (
            "carol",
            &["--password-stdin"],
            Some("short\n"),
            2,
            "too short",
        ),
        ("carol", &["--password-stdin"], Some(""), 2, "no password"),
        ("carol", &[], None, 2, "--password-stdin"),
        (
            "carol",
            &["--generate-password", "--protocols", "ftp,scp"],
            None,
            2,
            "invalid protocol",
        ),
        (
            "carol",
            &["--generate-password", "--format", "pdf"],
            None,
            2,
            "invalid format",
        ),
        (
            "carol",
            &["--password-stdin", "--generate-password"],
            None,
            2,
            "cannot be used with",
        ),
    ];
    for (name, extra, stdin, code, text) in cases {
        let out = add(name, extra, stdin);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{name} {extra:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(text),
            "{name} {extra:?}: {}",
            stderr(&out)
        );
    }
    assert!(homes(&env).is_empty(), "{:?}", homes(&env));
    let out = env.cli(&["user", "list", "--json"], None);
    assert_eq!(stdout(&out).trim(), "[]");

    let out = add("carol", &["--generate-password"], None);
    assert!(out.status.success());
    let again = add("carol", &["--generate-password"], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already exists"));

    for args in [
        &["user", "show", "nobody"][..],
        &["user", "disable", "nobody"],
        &["user", "remove", "nobody"],
        &["user", "key", "remove", "carol", "SHA256:nope"],
    ] {
        let out = env.cli(args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("no "), "{args:?}: {}", stderr(&out));
    }
    let out = env.cli(&["user", "frobnicate"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(homes(&env), ["carol"]);
}

#[tokio::test]
async fn passwd_disable_enable_keys_and_remove() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let out = env.cli(
        &["user", "add", "dan", "--customer", "9", "--password-stdin"],
        Some("first-password\n"),
    );
    assert!(out.status.success());
    let out = env.cli(
        &["user", "passwd", "dan", "--password-stdin"],
        Some("second-password\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let store = env.store().await;
    use freightdrop::users::{Password, Protocol};
    assert!(store
        .authenticate("dan", Password::new("first-password"), Protocol::Ftp)
        .await
        .is_err());
    store
        .authenticate("dan", Password::new("second-password"), Protocol::Ftp)
        .await
        .unwrap();

    assert!(env.cli(&["user", "disable", "dan"], None).status.success());
    assert!(store
        .authenticate("dan", Password::new("second-password"), Protocol::Ftp)
        .await
        .is_err());
    assert!(env.cli(&["user", "enable", "dan"], None).status.success());
    store
        .authenticate("dan", Password::new("second-password"), Protocol::Ftp)
        .await
        .unwrap();

    let key_file = env.dir.path().join("dan.pub");
    std::fs::write(&key_file, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKzTs/vll4hWUms0+zrEAFEYkLCAumkTGriSiS3SD9CI dan@laptop\n").unwrap();
    let out = env.cli(
        &["user", "key", "add", "dan", key_file.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let fingerprint = "SHA256:MJxKP0iAxtYrWEdWjRa61Zm3ZNyDUsKcI38V0NPxp5Y";
    assert!(stdout(&env.cli(&["user", "show", "dan"], None)).contains(fingerprint));
    let bad_key = env.dir.path().join("bad.pub");
    std::fs::write(&bad_key, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
    let out = env.cli(
        &["user", "key", "add", "dan", bad_key.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("private key"));
    let out = env.cli(&["user", "key", "remove", "dan", fingerprint], None);
    assert!(out.status.success(), "{}", stderr(&out));

    std::fs::write(env.home("dan").join("orders.csv"), "x").unwrap();
    let out = env.cli(&["user", "remove", "dan", "--keep-files"], None);
    assert!(out.status.success());
    assert!(env.home("dan").join("orders.csv").is_file());
    let out = env.cli(
        &[
            "user",
            "add",
            "dan",
            "--customer",
            "9",
            "--generate-password",
        ],
        None,
    );
    assert!(out.status.success());
    let out = env.cli(&["user", "remove", "dan"], None);
    assert!(out.status.success());
    assert!(!env.home("dan").exists());
}

#[test]
fn configuration_sources_and_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("freightdrop.toml");
    std::fs::write(
        &file,
        "data_dir = \"from-file\"\nidle_timeout = 30\nftp_addr = \"127.0.0.1:2121\"\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let out = run_cli(
        &["check-config"],
        None,
        &[("FREIGHTDROP_CONFIG", config)],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("data_dir = from-file"), "{text}");
    assert!(
        text.contains("database_url = sqlite://from-file/freightdrop.db"),
        "{text}"
    );
    assert!(text.contains("idle_timeout = 30"));
    assert!(text.contains("ftp_addr = 127.0.0.1:2121"));

    // env over file, flag over env
    let out = run_cli(
        &["check-config", "--idle-timeout", "7"],
        None,
        &[
            ("FREIGHTDROP_CONFIG", config),
            ("FREIGHTDROP_IDLE_TIMEOUT", "9"),
            ("FREIGHTDROP_DATA_DIR", "from-env"),
        ],
        dir.path(),
    );
    let text = stdout(&out);
    assert!(text.contains("idle_timeout = 7"), "{text}");
    assert!(text.contains("data_dir = from-env"), "{text}");

    // store flags work after the subcommand too, so `user add` and `serve` agree
    let out = run_cli(
        &["user", "list", "--data-dir", "elsewhere"],
        None,
        &[],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("elsewhere/freightdrop.db").is_file());
}

#[test]
fn bad_configuration_values_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 10] = [
        (&["--ftp-addr", "nowhere"], &[], "--ftp-addr"),
        (&["--inbox-workers", "0"], &[], "--inbox-workers"),
        (
            &["--inbox-max-file-size", "0"],
            &[],
            "--inbox-max-file-size",
        ),
        (&[], &[("FREIGHTDROP_INBOX_SETTLE", "0")], "--inbox-settle"),
        (
            &["--http-trusted-proxies", "10.0.0.0/99"],
            &[],
            "--http-trusted-proxies",
        ),
        (
            &[],
            &[("FREIGHTDROP_PASSIVE_PORTS", "9-1")],
            "--passive-ports",
        ),
        (
            &[],
            &[("FREIGHTDROP_IDLE_TIMEOUT", "soon")],
            "--idle-timeout",
        ),
        (&["--log-format", "xml"], &[], "--log-format"),
        (&["--tls-cert", "/c.pem"], &[], "--tls-key"),
        (&["--config", "/nonexistent.toml"], &[], "/nonexistent.toml"),
    ];
    for (args, env, key) in cases {
        let mut all = vec!["check-config"];
        all.extend_from_slice(args);
        let out = run_cli(&all, None, env, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}");
        assert!(
            stderr(&out).contains(key),
            "{args:?} {env:?}: {}",
            stderr(&out)
        );
    }
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "idle_timeout = \"soon\"\n").unwrap();
    let out = run_cli(
        &["check-config", "--config", file.to_str().unwrap()],
        None,
        &[],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("idle_timeout"), "{}", stderr(&out));
}
