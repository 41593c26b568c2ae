//! The pipeline on a SQLite database and a temp homes folder, driven directly: poison files
//! (too big, too slow) go to `error/` with the reason, and a property test that, whatever files
//! arrive and wherever processing is cut off (a crash), every file ends in exactly one place and
//! no shipment is doubled once a restarted process has recovered.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use inbox_processor::examine::Limits;
use inbox_processor::{Ledger, Outcome, Pipeline, Settings, Uploader};
use proptest::prelude::*;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

const GOOD: &str = "customerID;shipmentID;deliveryName;colli\n1234;G1;Philips;10\n1234;G2;ASML;3\n";
const BAD: &str = "customerID;shipmentID;deliveryName;colli\n1234;B1;Philips;ten\n";
const STATUS: &str = "shipmentID,status\nG1,+2025-06-02 14:20 delivered\n";

struct World {
    _dir: tempfile::TempDir,
    homes: PathBuf,
    pool: AnyPool,
}

impl World {
    async fn new() -> World {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        );
        let options = AnyConnectOptions::from_str(&url).expect("url");
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .expect("open database");
        MIGRATIONS.run(&pool).await.expect("migrate");
        let homes = dir.path().join("homes");
        for sub in ["done", "error", "out"] {
            std::fs::create_dir_all(homes.join("alice").join(sub)).expect("home");
        }
        World {
            _dir: dir,
            homes,
            pool,
        }
    }

    fn inbox(&self) -> PathBuf {
        self.homes.join("alice")
    }

    fn pipeline(&self, settings: Settings) -> Pipeline {
        Pipeline::new(Ledger::new(self.pool.clone()), &self.homes, settings)
    }

    async fn number(&self, sql: &str) -> i64 {
        let row = sqlx::query(sql).fetch_one(&self.pool).await.expect(sql);
        row.try_get(0).expect("a number")
    }
}

fn alice() -> Uploader {
    Uploader {
        user: "alice".into(),
        customer: "1234".into(),
        format: None,
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| !n.starts_with('.') && !n.ends_with(".error.txt"))
        .collect();
    names.sort();
    names
}

fn quick(lease: Duration, limits: Limits) -> Settings {
    Settings {
        lease,
        limits,
        ..Settings::default()
    }
}

#[tokio::test]
async fn poison_files_go_to_error_with_the_reason() {
    let world = World::new().await;
    let inbox = world.inbox();
    let small = quick(
        Duration::from_secs(10),
        Limits {
            max_bytes: 20,
            timeout: Duration::from_secs(60),
        },
    );
    std::fs::write(inbox.join("big.csv"), GOOD).expect("write");
    let outcome = world
        .pipeline(small)
        .process(&alice(), "big.csv", None)
        .await;
    assert!(matches!(outcome, Ok(Outcome::Finished(_))), "{outcome:?}");
    let report = std::fs::read_to_string(inbox.join("error/big.csv.error.txt")).expect("report");
    assert!(
        report.contains("more than the limit of 20 bytes"),
        "{report}"
    );

    let hasty = quick(
        Duration::from_secs(10),
        Limits {
            max_bytes: 1 << 30,
            timeout: Duration::from_millis(1),
        },
    );
    let mut slow = String::from("customerID;shipmentID;deliveryName;colli\n");
    for n in 0..100_000 {
        slow.push_str(&format!("1234;S{n};Philips;1\n"));
    }
    std::fs::write(inbox.join("slow.csv"), slow).expect("write");
    let outcome = world
        .pipeline(hasty.clone())
        .process(&alice(), "slow.csv", None)
        .await;
    assert!(matches!(outcome, Ok(Outcome::Finished(_))), "{outcome:?}");
    let report = std::fs::read_to_string(inbox.join("error/slow.csv.error.txt")).expect("report");
    assert!(report.contains("longer than the limit of 1 ms"), "{report}");

    // The in-memory parsers (XML here) are held to the same limit.
    let mut slow = String::from("<orders><order><customerID>1234</customerID><shipments>");
    for n in 0..100_000 {
        slow.push_str(&format!(
            "<shipment><shipmentID>S{n}</shipmentID><deliveryName>Philips</deliveryName>\
             <goods><good><quantity>1</quantity></good></goods></shipment>"
        ));
    }
    slow.push_str("</shipments></order></orders>");
    std::fs::write(inbox.join("slow.xml"), slow).expect("write");
    let outcome = world
        .pipeline(hasty)
        .process(&alice(), "slow.xml", None)
        .await;
    assert!(matches!(outcome, Ok(Outcome::Finished(_))), "{outcome:?}");
    let report = std::fs::read_to_string(inbox.join("error/slow.xml.error.txt")).expect("report");
    assert!(report.contains("longer than the limit of 1 ms"), "{report}");
    assert_eq!(
        names(&inbox.join("error")),
        ["big.csv", "slow.csv", "slow.xml"]
    );
    assert_eq!(world.number("SELECT COUNT(*) FROM shipments").await, 0);
    assert_eq!(
        world
            .number(
                "SELECT COUNT(*) FROM inbox_files WHERE state = 'error' AND closed_at IS NOT NULL"
            )
            .await,
        3
    );
}

/// One step of the property test: a file `f<slot>` of a kind arrives and is processed, cut off
/// after `cut` microseconds if given.
#[derive(Debug, Clone)]
struct Step {
    slot: u8,
    kind: u8,
    cut: Option<u64>,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..3, 0u8..4, proptest::option::of(0u64..4000)).prop_map(|(slot, kind, cut)| Step {
        slot,
        kind,
        cut,
    })
}

async fn run_steps(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let world = World::new().await;
    let inbox = world.inbox();
    let lease = Duration::from_millis(100);
    let limits = Settings::default().limits;
    let first = world.pipeline(quick(lease, limits));
    let mut dropped = 0usize;
    let mut good = 0usize;
    for step in &steps {
        let (ext, content) = match step.kind {
            0 => ("csv", GOOD),
            1 => ("csv", BAD),
            2 => ("txt", GOOD),
            _ => ("csv", STATUS),
        };
        let name = format!("f{}.{ext}", step.slot);
        if inbox.join(&name).exists() {
            continue;
        }
        let temp = inbox.join(format!(".{name}.part"));
        std::fs::write(&temp, content).expect("write");
        std::fs::rename(&temp, inbox.join(&name)).expect("rename");
        dropped += 1;
        good += usize::from(step.kind == 0);
        let uploader = alice();
        let work = first.process(&uploader, &name, None);
        match step.cut {
            Some(micros) => {
                let _ = tokio::time::timeout(Duration::from_micros(micros), work).await;
            }
            None => {
                let _ = work.await;
            }
        }
    }
    // A restarted process (a new claim owner) recovers what the cut-off steps left.
    tokio::time::sleep(lease + Duration::from_millis(50)).await;
    let second = world.pipeline(quick(lease, limits));
    for _ in 0..50 {
        let mut pending: Vec<String> = names(&inbox);
        for row in second.ledger().open_rows().await.expect("open rows") {
            pending.push(row.name);
        }
        if pending.is_empty() {
            break;
        }
        for name in pending {
            if let Ok(Outcome::Busy { .. }) = second.process(&alice(), &name, None).await {
                tokio::time::sleep(lease).await;
            }
        }
    }
    let done = names(&inbox.join("done"));
    let error = names(&inbox.join("error"));
    prop_assert!(
        names(&inbox).is_empty(),
        "left in the inbox: {:?}",
        names(&inbox)
    );
    prop_assert_eq!(
        done.len() + error.len(),
        dropped,
        "done {:?} error {:?}",
        done,
        error
    );
    for name in &error {
        let report = inbox.join("error").join(format!("{name}.error.txt"));
        prop_assert!(report.exists(), "no report for {}", name);
    }
    prop_assert_eq!(
        world
            .number("SELECT COUNT(*) FROM inbox_files WHERE closed_at IS NULL")
            .await,
        0
    );
    let shipments = world.number("SELECT COUNT(*) FROM shipments").await;
    prop_assert_eq!(shipments, if good > 0 { 2 } else { 0 });
    prop_assert!(world.number("SELECT COUNT(*) FROM status_events").await <= 1);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_file_ends_in_exactly_one_place(steps in proptest::collection::vec(step(), 1..10)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_steps(steps))?;
    }
}
