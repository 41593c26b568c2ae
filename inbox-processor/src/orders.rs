//! Storing what an accepted file holds: shipments upserted by (customer, `shipmentID`) with
//! their order's fields and goods lines, and status events added once each.
//!
//! Everything runs inside the caller's transaction, in multi-row statements (a million rows is
//! a few thousand statements, not a million). A shipment sent again replaces the stored one,
//! goods lines included, so the same file twice gives the same rows; the same status event twice
//! is stored once. This module knows the tables and the model, not files or the ledger.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::{Any, Transaction};

use crate::ledger::{now_secs, Counts};
use crate::model::{Decimal, Order, Shipment, ShipmentRef, StatusUpdate};
use crate::parse::Parsed;

/// Rows per INSERT on PostgreSQL (15 or 11 parameters a row, far below its limit).
const POSTGRES_BATCH: usize = 1000;
/// Rows per INSERT on SQLite: its driver looks parameters up by name, a walk that grows with
/// their number, so a statement costs the square of its parameters; a few hundred is the best
/// trade against the per-statement cost.
const SQLITE_BATCH: usize = 32;

/// A shipment as stored in `shipments.data`: its order's fields, then its own, in the TMS field
/// names.
#[derive(Serialize)]
struct StoredShipment<'a> {
    #[serde(rename = "customerID")]
    customer_id: &'a str,
    #[serde(rename = "CN", skip_serializing_if = "Option::is_none")]
    cn: Option<&'a str>,
    #[serde(rename = "orderReference", skip_serializing_if = "Option::is_none")]
    order_reference: Option<&'a str>,
    #[serde(rename = "orderDate", skip_serializing_if = "Option::is_none")]
    order_date: Option<chrono::NaiveDate>,
    #[serde(rename = "orderType", skip_serializing_if = "Option::is_none")]
    order_type: Option<&'a str>,
    #[serde(rename = "orderRemarks", skip_serializing_if = "Option::is_none")]
    remarks: Option<&'a str>,
    #[serde(rename = "freightCost", skip_serializing_if = "Option::is_none")]
    freight_cost: Option<Decimal>,
    #[serde(
        rename = "freightCostCurrency",
        skip_serializing_if = "Option::is_none"
    )]
    freight_cost_currency: Option<&'a str>,
    #[serde(flatten)]
    shipment: &'a Shipment,
}

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
    let batch = if tx.backend_name() == "SQLite" {
        SQLITE_BATCH
    } else {
        POSTGRES_BATCH
    };
    let mut counts = Counts {
        orders: parsed.orders.len() as u64,
        ..Counts::default()
    };
    // A shipment ID appears once per file (the parsers merge its rows); should it not, the last
    // one wins rather than failing the upsert.
    let mut last: HashMap<&str, usize> = HashMap::new();
    let all: Vec<(&Order, &Shipment)> = parsed
        .orders
        .iter()
        .flat_map(|o| o.shipments.iter().map(move |s| (o, s)))
        .collect();
    for (i, (_, s)) in all.iter().enumerate() {
        last.insert(s.shipment_id.as_str(), i);
    }
    let mut unique: Vec<(&Order, &Shipment)> = all
        .iter()
        .enumerate()
        .filter(|(i, (_, s))| last.get(s.shipment_id.as_str()) == Some(i))
        .map(|(_, pair)| *pair)
        .collect();
    // In key order the primary-key index grows at its end instead of at random pages, which
    // keeps a big file's transaction in a small page cache.
    unique.sort_unstable_by(|a, b| a.1.shipment_id.cmp(&b.1.shipment_id));
    for chunk in unique.chunks(batch) {
        upsert_shipments(tx, customer, file_id, now, chunk).await?;
        counts.shipments += chunk.len() as u64;
        counts.goods_lines += chunk.iter().map(|(_, s)| s.goods.len() as u64).sum::<u64>();
    }
    for update in &parsed.status_updates {
        if let Some(original) = &update.org_shipment_id {
            rename_shipment(tx, customer, original, &update.shipment).await?;
        }
    }
    for chunk in parsed.status_updates.chunks(batch) {
        counts.status_updates += insert_events(tx, customer, file_id, now, chunk).await?;
    }
    Ok(counts)
}

async fn upsert_shipments(
    tx: &mut Transaction<'_, Any>,
    customer: &str,
    file_id: i64,
    now: i64,
    chunk: &[(&Order, &Shipment)],
) -> Result<(), sqlx::Error> {
    const COLS: usize = 15;
    let mut sql = String::with_capacity(200 + chunk.len() * 80);
    sql.push_str(
        "INSERT INTO shipments (customer, shipment_id, order_reference, tracking_nbr, \
         order_date, delivery_date, delivery_name, delivery_city, delivery_country, delivery_postcode, \
         goods_lines, colli, data, file_id, created_at, updated_at) VALUES ",
    );
    for i in 0..chunk.len() {
        let b = i * COLS;
        if i > 0 {
            sql.push(',');
        }
        // created_at and updated_at share one parameter.
        sql.push_str(&format!(
            "(${},${},${},${},${},${},${},${},${},${},${},${},${},${},${n},${n})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8,
            b + 9,
            b + 10,
            b + 11,
            b + 12,
            b + 13,
            b + 14,
            n = b + 15,
        ));
    }
    sql.push_str(
        " ON CONFLICT (customer, shipment_id) DO UPDATE SET \
         order_reference = excluded.order_reference, tracking_nbr = excluded.tracking_nbr, \
         order_date = excluded.order_date, delivery_date = excluded.delivery_date, \
         delivery_name = excluded.delivery_name, delivery_city = excluded.delivery_city, \
         delivery_country = excluded.delivery_country, \
         delivery_postcode = excluded.delivery_postcode, goods_lines = excluded.goods_lines, \
         colli = excluded.colli, data = excluded.data, file_id = excluded.file_id, \
         updated_at = excluded.updated_at",
    );
    let mut query = sqlx::query(&sql);
    for (order, shipment) in chunk {
        let stored = StoredShipment {
            customer_id: customer,
            cn: order.cn.as_deref(),
            order_reference: order.order_reference.as_deref(),
            order_date: order.order_date,
            order_type: order.order_type.as_deref(),
            remarks: order.remarks.as_deref(),
            freight_cost: order.freight_cost,
            freight_cost_currency: order.freight_cost_currency.as_deref(),
            shipment,
        };
        let data = compact_json(&stored).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let colli: u64 = shipment
            .goods
            .iter()
            .map(|g| u64::from(g.quantity.get()))
            .sum();
        query = query
            .bind(customer.to_owned())
            .bind(shipment.shipment_id.clone())
            .bind(order.order_reference.as_deref().map(str::to_owned))
            .bind(shipment.tracking_nbr.as_deref().map(str::to_owned))
            .bind(order.order_date.map(|d| d.to_string()))
            .bind(shipment.delivery_date.map(|d| d.to_string()))
            .bind(shipment.delivery.name.as_deref().map(str::to_owned))
            .bind(shipment.delivery.city.as_deref().map(str::to_owned))
            .bind(shipment.delivery.country.as_deref().map(str::to_owned))
            .bind(shipment.delivery.postcode.as_deref().map(postcode_key))
            .bind(shipment.goods.len() as i64)
            .bind(i64::try_from(colli).unwrap_or(i64::MAX))
            .bind(data)
            .bind(file_id)
            .bind(now);
    }
    query.execute(&mut **tx).await?;
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

/// `value` as JSON without its empty (null) fields: most of a shipment's forty-odd fields are
/// usually absent, and leaving them out makes the stored rows a third of the size.
fn compact_json<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.retain(|_, v| !v.is_null());
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut tree = serde_json::to_value(value)?;
    strip(&mut tree);
    serde_json::to_string(&tree)
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
