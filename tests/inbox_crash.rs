//! The inbox's crash safety against the real server: a server killed (SIGKILL) right after the
//! commit or in the middle of a file, then restarted on the same data, leaves every file in
//! exactly one place and no order doubled; two servers sharing one PostgreSQL database and one
//! data dir process each file once.
//!
//! The pause points are the pipeline's test hooks (`FREIGHTDROP_TEST_PAUSE_AFTER_COMMIT` and
//! `FREIGHTDROP_TEST_PAUSE_BEFORE_COMMIT`), passed to the server through this process's
//! environment; the tests of this file therefore run one at a time.

mod common;

use std::time::Duration;

use common::inbox::{count, drop_file, orders_csv, placed, wait_placed};
use common::server::{wait_for, TestServer};
use common::{Backend, TestEnv};

const PASSWORD: &str = "alice-password";

/// Held by each test for its whole run: the hooks travel in the process environment.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn env_with_alice(backend: Backend) -> TestEnv {
    let env = TestEnv::new(backend).await;
    env.add_user("alice", "1234", PASSWORD, &[]);
    env
}

/// Starts a server whose pipeline stops for good at `hook` for the file `name`.
fn start_with_hook(env: TestEnv, hook: &str, name: &str) -> TestServer {
    std::env::set_var(hook, name);
    let server = TestServer::start_in(env, &[]);
    std::env::remove_var(hook);
    server
}

async fn ledger_rows(env: &TestEnv, name: &str, state: &str) -> i64 {
    count(
        env,
        &format!(
            "SELECT COUNT(*) FROM inbox_files WHERE file_name = '{name}' AND state = '{state}'"
        ),
    )
    .await
}

/// Blocks until the ledger has a row for `name` in `state`.
async fn wait_for_row(env: &TestEnv, name: &str, state: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ledger_rows(env, name, state).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no ledger row for {name} in state {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both_backends!(
    killed_between_commit_and_move,
    super::killed_between_commit_and_move
);
async fn killed_between_commit_and_move(backend: Backend) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let env = env_with_alice(backend).await;
    let home = env.home("alice");
    let mut server = start_with_hook(env, "FREIGHTDROP_TEST_PAUSE_AFTER_COMMIT", "crash.csv");
    drop_file(
        &home,
        "crash.csv",
        orders_csv("1234", &["C1", "C2"]).as_bytes(),
    );
    drop_file(&home, "other.csv", orders_csv("1234", &["O1"]).as_bytes());
    wait_for_row(&server.env, "crash.csv", "done").await;
    // other.csv runs in parallel; let it commit too, so the count below doesn't race it.
    wait_for_row(&server.env, "other.csv", "done").await;
    server.kill();
    assert!(home.join("crash.csv").exists(), "committed but not moved");
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        3
    );

    let server = TestServer::start_in(server.into_env(), &[]);
    wait_for("crash.csv in done/", Duration::from_secs(60), || {
        home.join("done/crash.csv").exists() && !home.join("crash.csv").exists()
    });
    let (done, error) = placed(&home);
    assert_eq!(done, ["crash.csv", "other.csv"]);
    assert!(error.is_empty());
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        3
    );
    // Moved, not processed again: still one ledger row, now closed.
    assert_eq!(
        count(
            &server.env,
            "SELECT COUNT(*) FROM inbox_files WHERE file_name = 'crash.csv' \
             AND closed_at IS NOT NULL AND attempts = 1"
        )
        .await,
        1
    );
    assert_eq!(ledger_rows(&server.env, "crash.csv", "done").await, 1);
}

on_both_backends!(killed_mid_file, super::killed_mid_file);
async fn killed_mid_file(backend: Backend) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let env = env_with_alice(backend).await;
    let home = env.home("alice");
    let mut server = start_with_hook(env, "FREIGHTDROP_TEST_PAUSE_BEFORE_COMMIT", "mid.csv");
    drop_file(
        &home,
        "mid.csv",
        orders_csv("1234", &["M1", "M2"]).as_bytes(),
    );
    wait_for_row(&server.env, "mid.csv", "processing").await;
    server.kill();
    assert!(home.join("mid.csv").exists());
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        0
    );

    // The dead server's claim runs out, then the file is processed again from the start.
    let server = TestServer::start_in(server.into_env(), &[]);
    wait_placed(&home, 1);
    let (done, error) = placed(&home);
    assert_eq!(done, ["mid.csv"], "errors: {error:?}");
    assert!(!home.join("mid.csv").exists());
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        2
    );
    assert_eq!(
        count(
            &server.env,
            "SELECT COUNT(*) FROM inbox_files WHERE file_name = 'mid.csv' AND attempts = 2"
        )
        .await,
        1
    );
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM inbox_files").await,
        1
    );
}

#[tokio::test]
async fn two_servers_on_one_database_process_each_file_once() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let env = env_with_alice(Backend::Postgres).await;
    let home = env.home("alice");
    let data_dir = env.data_dir();
    let second_env = TestEnv {
        dir: tempfile::tempdir().unwrap(),
        database_url: env.database_url.clone(),
    };
    let first = TestServer::start_in(env, &[]);
    let second = TestServer::start_in(second_env, &["--data-dir", data_dir.to_str().unwrap()]);
    const FILES: usize = 60;
    for i in 0..FILES {
        let ids = [format!("T{i}A"), format!("T{i}B")];
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        drop_file(
            &home,
            &format!("f{i:03}.csv"),
            orders_csv("1234", &ids).as_bytes(),
        );
    }
    wait_placed(&home, FILES);
    let (done, error) = placed(&home);
    assert_eq!(done.len(), FILES, "{done:?}");
    assert!(error.is_empty(), "{error:?}");
    assert!(done.iter().all(|n| n.len() == "f000.csv".len()), "{done:?}");
    let env = &first.env;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count(
        env,
        "SELECT COUNT(*) FROM inbox_files WHERE closed_at IS NULL",
    )
    .await
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "ledger rows left open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        count(env, "SELECT COUNT(*) FROM inbox_files").await,
        FILES as i64
    );
    assert_eq!(
        count(
            env,
            "SELECT COUNT(DISTINCT file_name) FROM inbox_files WHERE state = 'done'"
        )
        .await,
        FILES as i64
    );
    assert_eq!(
        count(env, "SELECT COUNT(*) FROM inbox_files WHERE attempts <> 1").await,
        0
    );
    assert_eq!(
        count(env, "SELECT COUNT(*) FROM shipments").await,
        2 * FILES as i64
    );
    let owners = count(env, "SELECT COUNT(DISTINCT claim_owner) FROM inbox_files").await;
    eprintln!("files were processed by {owners} server(s)");
    drop(second);
}
