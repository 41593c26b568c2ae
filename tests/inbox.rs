//! The inbox against the real server on SQLite and PostgreSQL: files dropped in an inbox (the
//! way an admin's copy or another node puts them: written aside, renamed in) end in `done/` or
//! in `error/` with a report; the same file twice gives the same orders; tenancy; name
//! collisions; uploads over FTP and SFTP; the `import` and `files` commands.

mod common;

use std::process::Command;
use std::time::Duration;

use common::inbox::{
    count, drop_file, orders_csv, placed, status_csv, wait_gone, wait_placed, BAD_CSV,
};
use common::server::{wait_for, TestServer};
use common::{stderr, stdout, Backend, TestEnv};

const PASSWORD: &str = "alice-password";

async fn server_with_alice(backend: Backend) -> TestServer {
    let server = TestServer::start(backend, &[]).await;
    server.add_user("alice", PASSWORD, &[]);
    server
}

on_both_backends!(
    files_end_in_done_or_error_with_a_report,
    super::files_end_in_done_or_error_with_a_report
);
async fn files_end_in_done_or_error_with_a_report(backend: Backend) {
    let server = server_with_alice(backend).await;
    let home = server.env.home("alice");
    drop_file(&home.join("out"), "keep.csv", b"not for the inbox");
    std::fs::write(home.join("upload.csv.part"), "customerID\n").unwrap();
    std::fs::write(home.join(".hidden.csv"), "customerID\n").unwrap();
    drop_file(
        &home,
        "good.csv",
        orders_csv("1234", &["A1", "A2"]).as_bytes(),
    );
    drop_file(&home, "bad.csv", BAD_CSV.as_bytes());
    drop_file(&home, "notes.txt", b"hello");
    drop_file(&home, "foreign.csv", orders_csv("5678", &["F1"]).as_bytes());
    wait_placed(&home, 4);
    let (done, error) = placed(&home);
    assert_eq!(done, ["good.csv"]);
    assert_eq!(error, ["bad.csv", "foreign.csv", "notes.txt"]);

    let report = |name: &str| {
        std::fs::read_to_string(home.join("error").join(format!("{name}.error.txt")))
            .unwrap_or_else(|e| panic!("report of {name}: {e}"))
    };
    let bad = report("bad.csv");
    assert!(
        bad.starts_with("the file was rejected: 2 problems found"),
        "{bad}"
    );
    assert!(
        bad.contains("line 2, field deliveryDate, value \"31-02-2025\""),
        "{bad}"
    );
    assert!(bad.contains("line 3"), "{bad}");
    assert!(
        report("notes.txt").contains("\"txt\""),
        "{}",
        report("notes.txt")
    );
    let foreign = report("foreign.csv");
    assert!(
        foreign.contains("customerID") && foreign.contains("\"5678\"") && foreign.contains("F1"),
        "{foreign}"
    );
    // Temporary and hidden names and the sub-folders are left alone.
    assert!(home.join("upload.csv.part").exists());
    assert!(home.join(".hidden.csv").exists());
    assert!(home.join("out/keep.csv").exists());

    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        2
    );
    assert_eq!(
        count(
            &server.env,
            "SELECT CAST(SUM(colli) AS BIGINT) FROM shipments WHERE customer = '1234'"
        )
        .await,
        24
    );
    let listed = server
        .env
        .cli(&["files", "--state", "error", "--json"], None);
    assert!(listed.status.success());
    let rows: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let bad_row = rows.iter().find(|r| r["name"] == "bad.csv").unwrap();
    assert_eq!(
        bad_row["report"].as_str().unwrap().trim_end(),
        bad.trim_end()
    );
    assert_eq!(bad_row["placed_name"], "bad.csv");
}

on_both_backends!(
    the_same_file_twice_gives_the_same_orders,
    super::the_same_file_twice_gives_the_same_orders
);
async fn the_same_file_twice_gives_the_same_orders(backend: Backend) {
    let server = server_with_alice(backend).await;
    let home = server.env.home("alice");
    let orders = orders_csv("1234", &["B1", "B2", "B3"]);
    let status = status_csv(&["B1", "B2", "B3"]);
    for round in 1..=2 {
        drop_file(&home, "orders.csv", orders.as_bytes());
        wait_gone(&home, "orders.csv");
        drop_file(&home, "status.csv", status.as_bytes());
        wait_gone(&home, "status.csv");
        wait_placed(&home, round * 2);
        assert_eq!(
            count(&server.env, "SELECT COUNT(*) FROM shipments").await,
            3
        );
        assert_eq!(
            count(
                &server.env,
                "SELECT CAST(SUM(goods_lines) AS BIGINT) FROM shipments"
            )
            .await,
            6
        );
        assert_eq!(
            count(&server.env, "SELECT COUNT(*) FROM status_events").await,
            3
        );
    }
    // The second copies got new names; the first ones were not overwritten.
    let (done, error) = placed(&home);
    assert!(error.is_empty(), "{error:?}");
    assert_eq!(done.len(), 4, "{done:?}");
    assert!(done.contains(&"orders.csv".to_owned()) && done.contains(&"status.csv".to_owned()));
    for name in &done {
        let content = std::fs::read_to_string(home.join("done").join(name)).unwrap();
        let expected = if name.starts_with("orders") {
            &orders
        } else {
            &status
        };
        assert_eq!(&content, expected, "{name}");
    }
    // A changed shipment replaces the stored one, goods lines included.
    let changed = orders.replace(";2;pallet;", ";7;pallet;");
    drop_file(&home, "orders.csv", changed.as_bytes());
    wait_placed(&home, 5);
    assert_eq!(
        count(
            &server.env,
            "SELECT CAST(SUM(colli) AS BIGINT) FROM shipments"
        )
        .await,
        51
    );
    assert_eq!(
        count(
            &server.env,
            "SELECT CAST(SUM(goods_lines) AS BIGINT) FROM shipments"
        )
        .await,
        6
    );
    assert_eq!(
        count(
            &server.env,
            "SELECT COUNT(*) FROM inbox_files WHERE state = 'done'"
        )
        .await,
        5
    );
}

#[tokio::test]
async fn uploads_over_ftp_and_sftp_end_in_done_with_their_orders() {
    let server = server_with_alice(Backend::Sqlite).await;
    let home = server.env.home("alice");
    let local = server.env.dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("ftp.csv"), orders_csv("1234", &["FTP1"])).unwrap();
    std::fs::write(
        local.join("sftp.csv"),
        orders_csv("1234", &["SFTP1", "SFTP2"]),
    )
    .unwrap();
    let ftp = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-T", "ftp.csv"])
        .arg(format!(
            "ftp://alice:{PASSWORD}@127.0.0.1:{}/",
            server.port("ftp")
        ))
        .current_dir(&local)
        .output()
        .unwrap();
    assert!(
        ftp.status.success(),
        "{}",
        String::from_utf8_lossy(&ftp.stderr)
    );
    let sftp = Command::new("curl")
        .args([
            "-sS",
            "-k",
            "--max-time",
            "30",
            "-u",
            &format!("alice:{PASSWORD}"),
        ])
        .args(["-T", "sftp.csv"])
        .arg(format!("sftp://127.0.0.1:{}/sftp.csv", server.port("sftp")))
        .current_dir(&local)
        .output()
        .unwrap();
    assert!(
        sftp.status.success(),
        "{}",
        String::from_utf8_lossy(&sftp.stderr)
    );
    wait_placed(&home, 2);
    let (done, error) = placed(&home);
    assert_eq!(done, ["ftp.csv", "sftp.csv"], "errors: {error:?}");
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        3
    );
    let log = server.log();
    assert!(log.contains("file arrived in inbox"), "{log}");
}

/// `--inbox-max-file-size` reaches the pipeline: a bigger file goes to error/ unread, saying why.
#[tokio::test]
async fn the_inbox_size_limit_is_configurable() {
    let env = TestEnv::new(Backend::Sqlite).await;
    env.add_user("alice", "1234", PASSWORD, &[]);
    let file = env.dir.path().join("week.csv");
    std::fs::write(&file, orders_csv("1234", &["L1", "L2", "L3"])).unwrap();
    let out = env.cli(
        &[
            "--inbox-max-file-size",
            "100",
            "import",
            file.to_str().unwrap(),
            "--user",
            "alice",
        ],
        None,
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("rejected"), "{text}");
    let report =
        std::fs::read_to_string(env.home("alice").join("error/week.csv.error.txt")).unwrap();
    assert!(report.contains("100"), "{report}");
    let config = env.cli(&["--inbox-workers", "3", "check-config"], None);
    assert!(stdout(&config).contains("inbox_workers = 3"));
}

#[tokio::test]
async fn import_and_files_commands() {
    let env = TestEnv::new(Backend::Sqlite).await;
    env.add_user("alice", "1234", PASSWORD, &[]);
    let local = env.dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let good = local.join("week.csv");
    std::fs::write(&good, orders_csv("1234", &["I1", "I2"])).unwrap();
    let bad = local.join("broken.csv");
    std::fs::write(&bad, BAD_CSV).unwrap();

    let dry = env.cli(
        &[
            "import",
            bad.to_str().unwrap(),
            "--user",
            "alice",
            "--dry-run",
        ],
        None,
    );
    assert_eq!(dry.status.code(), Some(1));
    assert!(
        stdout(&dry).contains("would be rejected"),
        "{}",
        stdout(&dry)
    );
    assert!(stdout(&dry).contains("deliveryDate"), "{}", stdout(&dry));

    let imported = env.cli(&["import", good.to_str().unwrap(), "--user", "alice"], None);
    assert!(imported.status.success(), "{}", common::stderr(&imported));
    let text = stdout(&imported);
    assert!(text.contains("week.csv: accepted as csv"), "{text}");
    assert!(
        text.contains("2 orders, 2 shipments, 4 goods lines"),
        "{text}"
    );
    assert!(text.contains("moved to done/week.csv"), "{text}");
    assert!(env.home("alice").join("done/week.csv").exists());
    assert!(good.exists(), "the original stays where it was");

    let rejected = env.cli(&["import", bad.to_str().unwrap(), "--user", "alice"], None);
    assert_eq!(rejected.status.code(), Some(1));
    assert!(stdout(&rejected).contains("report in error/broken.csv.error.txt"));
    assert!(env
        .home("alice")
        .join("error/broken.csv.error.txt")
        .exists());

    let again = env.cli(&["import", good.to_str().unwrap(), "--user", "alice"], None);
    assert!(again.status.success());
    let (done, _) = placed(&env.home("alice"));
    assert_eq!(done.len(), 2, "{done:?}");
    assert_eq!(count(&env, "SELECT COUNT(*) FROM shipments").await, 2);

    let listed = env.cli(&["files", "--user", "alice"], None);
    assert!(listed.status.success());
    let table = stdout(&listed);
    assert!(
        table.contains("done/week.csv") && table.contains("error/broken.csv"),
        "{table}"
    );
    let errors = env.cli(&["files", "--state", "error", "--json"], None);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&errors)).unwrap();
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    let wrong = env.cli(&["files", "--state", "lost"], None);
    assert_eq!(wrong.status.code(), Some(2));
    let nobody = env.cli(
        &["import", good.to_str().unwrap(), "--user", "nobody"],
        None,
    );
    assert_eq!(nobody.status.code(), Some(1));
}

#[tokio::test]
async fn a_file_found_by_the_start_scan_is_processed() {
    let env = TestEnv::new(Backend::Sqlite).await;
    env.add_user("alice", "1234", PASSWORD, &[]);
    let home = env.home("alice");
    // Written in place while no server runs: only the start-up scan can find it.
    std::fs::write(home.join("early.csv"), orders_csv("1234", &["E1"])).unwrap();
    let server = TestServer::start_in(env, &[]);
    wait_for("early.csv in done/", Duration::from_secs(30), || {
        home.join("done/early.csv").exists()
    });
    assert!(!home.join("early.csv").exists());
    drop(server);
}

/// `rows` order rows of customer 1234, shipment `S{n}` on row n, ten shipments an order.
fn big_csv(rows: usize) -> String {
    let mut text = String::from(
        "customerID;shipmentID;orderReference;deliveryName;deliveryCity;colli;packing;weight\n",
    );
    for n in 0..rows {
        text.push_str(&format!(
            "1234;S{n};PO-{};Philips;Deventer;2;carton;10.5\n",
            n / 10
        ));
    }
    text
}

on_both_backends!(
    a_bad_row_after_many_good_batches_rejects_the_whole_file,
    super::a_bad_row_after_many_good_batches_rejects_the_whole_file
);
/// Streaming commits batches as the file is read; a problem near the end must still leave
/// nothing stored.
async fn a_bad_row_after_many_good_batches_rejects_the_whole_file(backend: Backend) {
    let server = server_with_alice(backend).await;
    let home = server.env.home("alice");
    let mut text = big_csv(35_000);
    text.push_str("1234;LAST;PO-X;Philips;Deventer;many;carton;1\n");
    text.push_str("1234;AFTER;PO-X;Philips;Deventer;1;carton;1\n");
    drop_file(&home, "big.csv", text.as_bytes());
    wait_placed(&home, 1);
    let (done, error) = placed(&home);
    assert!(done.is_empty(), "{done:?}");
    assert_eq!(error, ["big.csv"]);
    // The report is written just after the move.
    let report = home.join("error/big.csv.error.txt");
    wait_for("the report", Duration::from_secs(30), || report.exists());
    let report = std::fs::read_to_string(report).expect("the report");
    assert!(
        report.starts_with("the file was rejected: 1 problem found"),
        "{report}"
    );
    assert!(report.contains("line 35002, field quantity"), "{report}");
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        0
    );
    assert_eq!(
        count(
            &server.env,
            "SELECT COUNT(*) FROM inbox_files WHERE state = 'error' AND shipments = 0"
        )
        .await,
        1
    );
}

on_both_backends!(
    rows_of_one_shipment_far_apart_give_one_shipment,
    super::rows_of_one_shipment_far_apart_give_one_shipment
);
/// Rows of one shipment in different batches are merged (goods lines, values given on one row
/// only, order values given late), and a conflict on a late row is reported once.
async fn rows_of_one_shipment_far_apart_give_one_shipment(backend: Backend) {
    let server = server_with_alice(backend).await;
    let home = server.env.home("alice");
    let header = "customerID;shipmentID;orderReference;orderDate;deliveryName;deliveryCity;\
                  colli;packing\n";
    let mut text = String::from(header);
    text.push_str("1234;FAR;PO-F;;Philips;;1;carton\n");
    for n in 0..25_000 {
        text.push_str(&format!("1234;N{n};PO-N;;ASML;Veldhoven;1;pallet\n"));
    }
    // Goods line 2 of FAR, its city, and the order's date, 25,000 rows later.
    text.push_str("1234;FAR;PO-F;2025-06-02;;Deventer;4;pallet\n");
    drop_file(&home, "far.csv", text.as_bytes());
    wait_placed(&home, 1);
    let (done, error) = placed(&home);
    assert_eq!(done, ["far.csv"], "error: {error:?}");
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        25_001
    );
    assert_eq!(
        count(
            &server.env,
            "SELECT goods_lines FROM shipments WHERE shipment_id = 'FAR'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &server.env,
            "SELECT colli FROM shipments WHERE shipment_id = 'FAR'"
        )
        .await,
        5
    );
    assert_eq!(
        count(
            &server.env,
            "SELECT COUNT(*) FROM shipments WHERE shipment_id = 'FAR' \
             AND delivery_city = 'Deventer' AND order_date = '2025-06-02' \
             AND data LIKE '%\"orderDate\":\"2025-06-02\"%'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &server.env,
            "SELECT COUNT(*) FROM inbox_files WHERE state = 'done' AND orders = 2 \
             AND shipments = 25001 AND goods_lines = 25002"
        )
        .await,
        1
    );

    // The same shipment far apart with a conflicting city: one problem, on the late row.
    let mut text = String::from(header);
    text.push_str("1234;C1;PO-C;;Philips;Deventer;1;carton\n");
    for n in 0..12_000 {
        text.push_str(&format!("1234;M{n};PO-M;;ASML;Veldhoven;1;pallet\n"));
    }
    text.push_str("1234;C1;PO-C;;;Eindhoven;1;carton\n");
    drop_file(&home, "conflict.csv", text.as_bytes());
    wait_placed(&home, 2);
    // The report is written just after the move.
    let report = home.join("error/conflict.csv.error.txt");
    wait_for("the report", Duration::from_secs(30), || report.exists());
    let report = std::fs::read_to_string(report).expect("the report");
    assert!(
        report.starts_with("the file was rejected: 1 problem found"),
        "{report}"
    );
    assert!(
        report.contains("line 12003, field deliveryCity, value \"Eindhoven\": conflicts with \"Deventer\" given for shipment C1 at line 2"),
        "{report}"
    );
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        25_001
    );
}

on_both_backends!(
    a_big_file_is_accepted_with_the_right_counts,
    super::a_big_file_is_accepted_with_the_right_counts
);
async fn a_big_file_is_accepted_with_the_right_counts(backend: Backend) {
    let server = server_with_alice(backend).await;
    let home = server.env.home("alice");
    drop_file(&home, "big.csv", big_csv(200_000).as_bytes());
    wait_placed(&home, 1);
    let (done, error) = placed(&home);
    assert_eq!(done, ["big.csv"], "error: {error:?}");
    assert_eq!(
        count(&server.env, "SELECT COUNT(*) FROM shipments").await,
        200_000
    );
    assert_eq!(
        count(
            &server.env,
            "SELECT CAST(SUM(colli) AS BIGINT) FROM shipments WHERE customer = '1234'"
        )
        .await,
        400_000
    );
    assert_eq!(
        count(
            &server.env,
            "SELECT COUNT(*) FROM inbox_files WHERE state = 'done' AND orders = 20000 \
             AND shipments = 200000 AND goods_lines = 200000"
        )
        .await,
        1
    );
}
