//! Storing what an accepted file holds: shipments upserted by (customer, `shipmentID`) with
//! their order's fields and goods lines, and status events added once each.
//!
//! Everything runs inside the caller's transaction, in multi-row statements (a million rows is
//! a few thousand statements, not a million): on PostgreSQL a batch of shipments is one JSON
//! parameter expanded by the statement, on SQLite every value is bound as itself (SQLite's JSON
//! functions cost more than its inserts). A shipment sent again replaces the stored one,
//! goods lines included, so the same file twice gives the same rows; the same status event twice
//! is stored once. This module knows the tables and the model, not files or the ledger.

use std::collections::HashMap;

use sqlx::{Any, Transaction};

use crate::ledger::{now_secs, Counts};
use crate::model::{Order, Shipment, ShipmentRef, StatusUpdate};
use crate::parse::{Batch, Parsed};

mod stored;

/// Status events per INSERT on PostgreSQL (11 parameters a row, far below its limit).
const POSTGRES_BATCH: usize = 1000;
/// Status events per INSERT on SQLite: its driver looks parameters up by name, a walk that grows
/// with their number, so a statement costs the square of its parameters.
const SQLITE_BATCH: usize = 32;
/// Shipments per upsert statement on PostgreSQL. They travel as one JSON parameter (see
/// `stored`), so the number of parameters does not grow with the batch.
pub const SHIPMENT_BATCH: usize = 2000;
/// Shipments per upsert statement on SQLite, each value its own anonymous parameter (2,048 of
/// them). Fewer rows a statement cost more round trips to the driver's thread; more gained
/// nothing measurable.
const SQLITE_SHIPMENTS: usize = 128;

/// Writes `parsed` for `customer` inside `tx`, crediting the rows to ledger row `file_id`.
///
/// # Errors
/// The database error; the caller rolls back.
pub async fn store(
    tx: &mut Transaction<'_, Any>,
    customer: &str,
    file_id: i64,
    parsed: &Parsed,
) -> Result<Counts, sqlx::Error> {
    let now = now_secs();
    let mut counts = Counts {
        orders: parsed.orders.len() as u64,
        ..Counts::default()
    };
    // A shipment ID appears once per file (the parsers merge its rows); should it not, the last
    // one wins rather than failing the upsert.
    let mut last: HashMap<&str, usize> = HashMap::new();
    let all = with_orders(&parsed.orders);
    for (i, (_, s)) in all.iter().enumerate() {
        last.insert(s.shipment_id.as_str(), i);
    }
    let unique: Vec<(&Order, &Shipment)> = all
        .iter()
        .enumerate()
        .filter(|(i, (_, s))| last.get(s.shipment_id.as_str()) == Some(i))
        .map(|(_, pair)| *pair)
        .collect();
    let stored = store_shipments(tx, customer, file_id, now, unique).await?;
    counts.shipments = stored.shipments;
    counts.goods_lines = stored.goods_lines;
    counts.status_updates =
        store_updates(tx, customer, file_id, now, &parsed.status_updates).await?;
    Ok(counts)
}

/// Upserts shipments whose IDs are all different, each with the order it belongs to, in
/// statements of [`SHIPMENT_BATCH`] (PostgreSQL) or [`SQLITE_SHIPMENTS`]; returns the shipments
/// and goods lines written.
///
/// # Errors
/// The database error; the caller rolls back.
pub async fn store_shipments(
    tx: &mut Transaction<'_, Any>,
    customer: &str,
    file_id: i64,
    now: i64,
    mut shipments: Vec<(&Order, &Shipment)>,
) -> Result<Counts, sqlx::Error> {
    // In key order the primary-key index grows at its end instead of at random pages, which
    // keeps a big file's transaction in a small page cache.
    shipments.sort_unstable_by(|a, b| a.1.shipment_id.cmp(&b.1.shipment_id));
    let counts = Counts {
        shipments: shipments.len() as u64,
        goods_lines: shipments.iter().map(|(_, s)| s.goods.len() as u64).sum(),
        ..Counts::default()
    };
    if tx.backend_name() == "SQLite" {
        upsert_sqlite(tx, customer, file_id, now, &shipments).await?;
        return Ok(counts);
    }
    let mut rows = String::new();
    for chunk in shipments.chunks(SHIPMENT_BATCH) {
        rows.clear();
        rows.push('[');
        for (i, (order, shipment)) in chunk.iter().enumerate() {
            if i > 0 {
                rows.push(',');
            }
            stored::shipment_row(&mut rows, customer, order, shipment);
        }
        rows.push(']');
        upsert_postgres(tx, customer, file_id, now, &rows).await?;
    }
    Ok(counts)
}

/// Writes one batch of a streamed file inside `tx`: its shipments (whose IDs differ within the
/// batch; a later batch may upsert one again), renames and status events. Returns the status
/// events added.
///
/// # Errors
/// The database error; the caller rolls back.
pub async fn store_batch(
    tx: &mut Transaction<'_, Any>,
    customer: &str,
    file_id: i64,
    now: i64,
    batch: &Batch,
) -> Result<u64, sqlx::Error> {
    store_shipments(tx, customer, file_id, now, with_orders(&batch.orders)).await?;
    store_updates(tx, customer, file_id, now, &batch.status_updates).await
}

/// Every shipment of `orders` beside its order.
fn with_orders(orders: &[Order]) -> Vec<(&Order, &Shipment)> {
    orders
        .iter()
        .flat_map(|o| o.shipments.iter().map(move |s| (o, s)))
        .collect()
}

/// Applies the shipment renames of `updates` (`orgShipmentID`), then adds their status events
/// in multi-row statements; returns the events added (a known one is not added again).
async fn store_updates(
    tx: &mut Transaction<'_, Any>,
    customer: &str,
    file_id: i64,
    now: i64,
    updates: &[StatusUpdate],
) -> Result<u64, sqlx::Error> {
    for update in updates {
        if let Some(original) = &update.org_shipment_id {
            rename_shipment(tx, customer, original, &update.shipment).await?;
        }
    }
    let size = if tx.backend_name() == "SQLite" {
        SQLITE_BATCH
    } else {
        POSTGRES_BATCH
    };
    let mut added = 0;
    for chunk in updates.chunks(size) {
        added += insert_events(tx, customer, file_id, now, chunk).await?;
    }
    Ok(added)
}

/// The head of every shipment upsert: the columns it writes.
macro_rules! insert_columns {
    () => {
        "INSERT INTO shipments (customer, shipment_id, order_reference, tracking_nbr, \
         order_date, delivery_date, delivery_name, delivery_city, delivery_country, \
         delivery_postcode, goods_lines, colli, data, file_id, created_at, updated_at) "
    };
}

/// The tail of every shipment upsert: what it does on a known key (`created_at` stays).
macro_rules! on_conflict {
    () => {
        " ON CONFLICT (customer, shipment_id) DO UPDATE SET \
         order_reference = excluded.order_reference, tracking_nbr = excluded.tracking_nbr, \
         order_date = excluded.order_date, delivery_date = excluded.delivery_date, \
         delivery_name = excluded.delivery_name, delivery_city = excluded.delivery_city, \
         delivery_country = excluded.delivery_country, \
         delivery_postcode = excluded.delivery_postcode, goods_lines = excluded.goods_lines, \
         colli = excluded.colli, data = excluded.data, file_id = excluded.file_id, \
         updated_at = excluded.updated_at"
    };
}

/// Values per row of the SQLite upsert, in the order of `insert_columns!`.
const SQLITE_COLUMNS: usize = 16;

/// The SQLite upsert of `rows` shipments: a multi-row VALUES of anonymous `?` parameters. The
/// driver finds a numbered parameter (`$1`) by a walk through all the names, so a statement of
/// many numbered parameters costs the square of them; anonymous ones are taken in order.
fn sqlite_upsert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; SQLITE_COLUMNS].join(","));
    let mut sql = String::with_capacity(rows * (row.len() + 1) + 1024);
    sql.push_str(insert_columns!());
    sql.push_str("VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&row);
    }
    sql.push_str(on_conflict!());
    sql
}

/// Upserts `shipments` on SQLite in statements of [`SQLITE_SHIPMENTS`], every value bound as
/// itself: the database parses no JSON (the batch-as-JSON form cost it more than the inserts).
/// The values of the next statement are made while the database runs the current one.
async fn upsert_sqlite(
    tx: &mut Transaction<'_, Any>,
    customer: &str,
    file_id: i64,
    now: i64,
    shipments: &[(&Order, &Shipment)],
) -> Result<(), sqlx::Error> {
    static FULL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let rows = SQLITE_SHIPMENTS;
    let full = FULL.get_or_init(|| sqlite_upsert_sql(rows)).as_str();
    let rest = sqlite_upsert_sql(shipments.len() % rows);
    let sql = |len: usize| if len == rows { full } else { rest.as_str() };
    let mut chunks = shipments.chunks(rows);
    let Some(first) = chunks.next() else {
        return Ok(());
    };
    let mut pending = sqlite_upsert(sql(first.len()), customer, file_id, now, first);
    for chunk in chunks {
        let running = pending.execute(&mut **tx);
        let next = async {
            // Lets `running` hand its statement to the database thread first, whichever of
            // the two is polled first.
            tokio::task::yield_now().await;
            sqlite_upsert(sql(chunk.len()), customer, file_id, now, chunk)
        };
        let (done, next) = tokio::join!(running, next);
        done?;
        pending = next;
    }
    pending.execute(&mut **tx).await?;
    Ok(())
}

/// The upsert of `chunk` as SQL `sql` (from [`sqlite_upsert_sql`]) with its values bound.
fn sqlite_upsert<'q>(
    sql: &'q str,
    customer: &'q str,
    file_id: i64,
    now: i64,
    chunk: &[(&'q Order, &'q Shipment)],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    let mut query = sqlx::query(sql);
    for (order, s) in chunk {
        let mut data = String::with_capacity(256);
        stored::shipment_json(&mut data, customer, order, s);
        let colli: u64 = s.goods.iter().map(|g| u64::from(g.quantity.get())).sum();
        query = query
            .bind(customer)
            .bind(s.shipment_id.as_str())
            .bind(order.order_reference.as_deref())
            .bind(s.tracking_nbr.as_deref())
            .bind(order.order_date.map(|d| d.to_string()))
            .bind(s.delivery_date.map(|d| d.to_string()))
            .bind(s.delivery.name.as_deref())
            .bind(s.delivery.city.as_deref())
            .bind(s.delivery.country.as_deref())
            .bind(s.delivery.postcode.as_deref().map(postcode_key))
            .bind(i64::try_from(s.goods.len()).unwrap_or(i64::MAX))
            .bind(i64::try_from(colli).unwrap_or(i64::MAX))
            .bind(data)
            .bind(file_id)
            .bind(now)
            .bind(now);
    }
    query
}

/// Upserts the shipments of `rows`, a JSON array of `stored::shipment_row`s, in one statement
/// on PostgreSQL.
async fn upsert_postgres(
    tx: &mut Transaction<'_, Any>,
    customer: &str,
    file_id: i64,
    now: i64,
    rows: &str,
) -> Result<(), sqlx::Error> {
    // `json`, not `jsonb`: `e->11` keeps the object's text as written.
    const POSTGRES: &str = concat!(
        insert_columns!(),
        "SELECT $1, e->>0, e->>1, e->>2, e->>3, e->>4, e->>5, e->>6, e->>7, e->>8, \
         (e->>9)::bigint, (e->>10)::bigint, (e->11)::text, $2, $3, $3 \
         FROM json_array_elements($4::json) AS e",
        on_conflict!()
    );
    sqlx::query(POSTGRES)
        .bind(customer)
        .bind(file_id)
        .bind(now)
        .bind(rows)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A postcode as it is searched: upper case, without spaces (`7418 ev` and `7418EV` are one).
pub fn postcode_key(postcode: &str) -> String {
    postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// `orgShipmentID`: the shipment known as `original` takes the update's ID, unless that ID is
/// taken already (then the update is only an event).
async fn rename_shipment(
    tx: &mut Transaction<'_, Any>,
    customer: &str,
    original: &str,
    target: &ShipmentRef,
) -> Result<(), sqlx::Error> {
    let ShipmentRef::ShipmentId(new_id) = target else {
        return Ok(());
    };
    if new_id == original {
        return Ok(());
    }
    sqlx::query(
        "UPDATE shipments SET shipment_id = $1 WHERE customer = $2 AND shipment_id = $3 \
         AND NOT EXISTS (SELECT 1 FROM shipments WHERE customer = $2 AND shipment_id = $1)",
    )
    .bind(new_id.clone())
    .bind(customer.to_owned())
    .bind(original.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_events(
    tx: &mut Transaction<'_, Any>,
    customer: &str,
    file_id: i64,
    now: i64,
    chunk: &[StatusUpdate],
) -> Result<u64, sqlx::Error> {
    const COLS: usize = 11;
    let mut sql = String::from(
        "INSERT INTO status_events (customer, ref_kind, shipment_ref, at, status, internal, \
         location, signee, remarks, file_id, created_at) VALUES ",
    );
    for i in 0..chunk.len() {
        if i > 0 {
            sql.push(',');
        }
        let params: Vec<String> = (1..=COLS).map(|c| format!("${}", i * COLS + c)).collect();
        sql.push('(');
        sql.push_str(&params.join(","));
        sql.push(')');
    }
    sql.push_str(
        " ON CONFLICT (customer, ref_kind, shipment_ref, at, status, internal) DO NOTHING",
    );
    let mut query = sqlx::query(&sql);
    for update in chunk {
        let (kind, reference) = match &update.shipment {
            ShipmentRef::ShipmentId(id) => ("shipmentID", id.clone()),
            ShipmentRef::TrackingNbr(nbr) => ("trackingNbr", nbr.clone()),
        };
        query = query
            .bind(customer.to_owned())
            .bind(kind)
            .bind(reference)
            .bind(update.at.format("%Y-%m-%d %H:%M:%S").to_string())
            .bind(update.text.clone())
            .bind(i64::from(update.internal))
            .bind(update.location.as_deref().map(str::to_owned))
            .bind(update.signee.as_deref().map(str::to_owned))
            .bind(update.remarks.as_deref().map(str::to_owned))
            .bind(file_id)
            .bind(now);
    }
    Ok(query.execute(&mut **tx).await?.rows_affected())
}
