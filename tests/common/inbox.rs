//! Helpers for the inbox tests: order files, dropping a file into an inbox the way an admin's
//! copy or another node does (written aside, renamed in), where a file ended up, and counts from
//! the order tables.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::Row;

use super::server::wait_for;
use super::TestEnv;

/// A good CSV order file for `customer` with one shipment per ID, two goods lines each.
pub fn orders_csv(customer: &str, ids: &[&str]) -> String {
    let mut text = String::from(
        "customerID;shipmentID;orderReference;deliveryName;deliveryPostcode;deliveryCity;\
         deliveryCountry;deliveryDate;colli;packing;weight\n",
    );
    for id in ids {
        for (colli, packing) in [(10, "carton"), (2, "pallet")] {
            text.push_str(&format!(
                "{customer};{id};PO-{id};Philips;7418 EV;Deventer;NL;2025-06-02;{colli};{packing};525.5\n"
            ));
        }
    }
    text
}

/// A status-update CSV: one `delivered` event per shipment ID.
pub fn status_csv(ids: &[&str]) -> String {
    let mut text = String::from("shipmentID,status,location\n");
    for id in ids {
        text.push_str(&format!("{id},+2025-06-02 14:20 delivered,Deventer\n"));
    }
    text
}

/// A CSV with a bad date and a missing quantity: two problems.
pub const BAD_CSV: &str = "customerID;shipmentID;deliveryName;deliveryDate;colli\n\
1234;S9001;Philips;31-02-2025;5\n\
1234;S9002;Philips;2025-06-02;\n";

/// Puts `content` into `dir` as `name`: written to a hidden temporary name, then renamed.
pub fn drop_file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let temp = dir.join(format!(".{name}.{}.tmp", super::unique()));
    std::fs::write(&temp, content).expect("write temp file");
    let path = dir.join(name);
    std::fs::rename(&temp, &path).expect("rename into inbox");
    path
}

/// The plain file names in `dir`, sorted (hidden ones and folders left out).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Files in `done/` and in `error/` (reports left out) of a home.
pub fn placed(home: &Path) -> (Vec<String>, Vec<String>) {
    let done = names_in(&home.join("done"));
    let error = names_in(&home.join("error"))
        .into_iter()
        .filter(|n| !n.ends_with(".error.txt"))
        .collect();
    (done, error)
}

/// Waits until the inbox of `home` holds no file named `name` any more.
pub fn wait_gone(home: &Path, name: &str) {
    let path = home.join(name);
    wait_for(
        &format!("{name} to leave the inbox"),
        Duration::from_secs(60),
        || !path.exists(),
    );
}

/// Waits until `done/` and `error/` of `home` together hold `n` files.
pub fn wait_placed(home: &Path, n: usize) {
    wait_for(
        &format!("{n} files in done/ and error/ of {}", home.display()),
        Duration::from_secs(90),
        || {
            let (done, error) = placed(home);
            done.len() + error.len() >= n
        },
    );
}

/// A number from the database: the first column of the first row of `sql`.
pub async fn count(env: &TestEnv, sql: &str) -> i64 {
    let store = env.store().await;
    let row = sqlx::query(sql)
        .fetch_one(store.db().pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n: i64 = row.try_get(0).expect("a number");
    store.db().close().await;
    n
}
