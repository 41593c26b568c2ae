//! The read side of the stored orders: one shipment with its status history, and the searches
//! the backoffice and the track & trace API make. The tables are written by [`crate::orders`];
//! this module only reads them and knows nothing of HTTP.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::orders::postcode_key;

/// Most shipments one search returns.
pub const MAX_RESULTS: u32 = 500;

/// A stored shipment: its key and search columns, and the whole shipment as stored (order
/// fields, addresses, goods lines) in `data`.
#[derive(Debug, Clone, Serialize)]
pub struct StoredShipment {
    /// The customer the shipment belongs to.
    pub customer: String,
    /// `shipmentID`.
    #[serde(rename = "shipmentID")]
    pub shipment_id: String,
    /// `orderReference`, if any.
    #[serde(rename = "orderReference")]
    pub order_reference: Option<String>,
    /// `trackingNbr`, if any.
    #[serde(rename = "trackingNbr")]
    pub tracking_nbr: Option<String>,
    /// The delivery name.
    #[serde(rename = "deliveryName")]
    pub delivery_name: Option<String>,
    /// The delivery city.
    #[serde(rename = "deliveryCity")]
    pub delivery_city: Option<String>,
    /// The delivery date, `YYYY-MM-DD`.
    #[serde(rename = "deliveryDate")]
    pub delivery_date: Option<String>,
    /// Goods lines.
    #[serde(rename = "goodsLines")]
    pub goods_lines: i64,
    /// Colli over all goods lines.
    pub colli: i64,
    /// The latest status (internal ones included), if any.
    #[serde(rename = "lastStatus")]
    pub last_status: Option<String>,
    /// The shipment as stored: the TMS field names, `pickup` and `delivery` addresses and
    /// `goods` lines.
    pub data: serde_json::Value,
    /// The inbox ledger row of the file that last wrote it.
    #[serde(rename = "fileId")]
    pub file_id: i64,
    /// First stored, Unix seconds.
    #[serde(rename = "createdAt")]
    pub created_at: i64,
    /// Last changed, Unix seconds.
    #[serde(rename = "updatedAt")]
    pub updated_at: i64,
}

/// One status event of a shipment.
#[derive(Debug, Clone, Serialize)]
pub struct StatusEvent {
    /// When the status was reached, `YYYY-MM-DDTHH:MM:SS` as the sender wrote it.
    pub at: String,
    /// The status text, without the `_` of internal ones.
    pub status: String,
    /// Hidden from the shipper.
    pub internal: bool,
    /// Where (ours, optional).
    pub location: Option<String>,
    /// Who signed (ours, optional).
    pub signee: Option<String>,
    /// Remarks (ours, optional).
    pub remarks: Option<String>,
}

/// What to search shipments by; every given field must match.
#[derive(Debug, Clone, Default)]
pub struct ShipmentQuery {
    /// The customer, exactly.
    pub customer: Option<String>,
    /// The shipment ID, exactly.
    pub shipment_id: Option<String>,
    /// The delivery postcode, ignoring case and spaces.
    pub postcode: Option<String>,
    /// The latest status, exactly.
    pub status: Option<String>,
    /// Most results (capped at [`MAX_RESULTS`]).
    pub limit: u32,
}

/// Why a lookup failed.
#[derive(Debug, thiserror::Error)]
#[error("order lookup failed: {0}")]
pub struct LookupError(#[from] sqlx::Error);

// The latest event naming the shipment by its ID or its tracking number.
const LAST_STATUS: &str = "(SELECT e.status FROM status_events e WHERE e.customer = s.customer \
     AND ((e.ref_kind = 'shipmentID' AND e.shipment_ref = s.shipment_id) \
       OR (e.ref_kind = 'trackingNbr' AND e.shipment_ref = s.tracking_nbr)) \
     ORDER BY e.at DESC, e.id DESC LIMIT 1)";

fn columns() -> String {
    format!(
        "s.customer, s.shipment_id, s.order_reference, s.tracking_nbr, s.delivery_name, \
         s.delivery_city, s.delivery_date, s.goods_lines, s.colli, s.data, s.file_id, \
         s.created_at, s.updated_at, {LAST_STATUS} AS last_status"
    )
}

/// The shipment `shipment_id` of `customer`, if stored.
///
/// # Errors
/// [`LookupError`] when the database fails.
pub async fn shipment(
    pool: &AnyPool,
    customer: &str,
    shipment_id: &str,
) -> Result<Option<StoredShipment>, LookupError> {
    let row = sqlx::query(&format!(
        "SELECT {} FROM shipments s WHERE s.customer = $1 AND s.shipment_id = $2",
        columns()
    ))
    .bind(customer)
    .bind(shipment_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(shipment_of))
}

/// Shipments matching `query`, newest change first.
///
/// # Errors
/// [`LookupError`] when the database fails.
pub async fn search(
    pool: &AnyPool,
    query: &ShipmentQuery,
) -> Result<Vec<StoredShipment>, LookupError> {
    let mut sql = format!("SELECT {} FROM shipments s WHERE 1 = 1", columns());
    let mut binds: Vec<String> = Vec::new();
    let mut condition = |sql: &mut String, expr: &str, value: String| {
        binds.push(value);
        sql.push_str(&format!(" AND {expr} = ${}", binds.len()));
    };
    if let Some(customer) = &query.customer {
        condition(&mut sql, "s.customer", customer.clone());
    }
    if let Some(id) = &query.shipment_id {
        condition(&mut sql, "s.shipment_id", id.clone());
    }
    if let Some(postcode) = &query.postcode {
        condition(&mut sql, "s.delivery_postcode", postcode_key(postcode));
    }
    if let Some(status) = &query.status {
        condition(&mut sql, LAST_STATUS, status.clone());
    }
    let limit = query.limit.clamp(1, MAX_RESULTS);
    sql.push_str(&format!(
        " ORDER BY s.updated_at DESC, s.shipment_id LIMIT {limit}"
    ));
    let mut q = sqlx::query(&sql);
    for value in binds {
        q = q.bind(value);
    }
    let rows = q.fetch_all(pool).await?;
    Ok(rows.iter().map(shipment_of).collect())
}

/// The status history of a shipment, oldest first: the events naming its ID or its tracking
/// number. Internal statuses only when `internal` is true.
///
/// # Errors
/// [`LookupError`] when the database fails.
pub async fn history(
    pool: &AnyPool,
    shipment: &StoredShipment,
    internal: bool,
) -> Result<Vec<StatusEvent>, LookupError> {
    let rows = sqlx::query(
        "SELECT at, status, internal, location, signee, remarks FROM status_events \
         WHERE customer = $1 AND ((ref_kind = 'shipmentID' AND shipment_ref = $2) \
           OR (ref_kind = 'trackingNbr' AND $3 <> '' AND shipment_ref = $3)) \
         ORDER BY at, id",
    )
    .bind(&shipment.customer)
    .bind(&shipment.shipment_id)
    // A shipment without a tracking number matches no event by tracking number.
    .bind(shipment.tracking_nbr.clone().unwrap_or_default())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| StatusEvent {
            at: row.try_get("at").unwrap_or_default(),
            status: row.try_get("status").unwrap_or_default(),
            internal: row.try_get::<i64, _>("internal").unwrap_or(0) != 0,
            location: row.try_get("location").ok().flatten(),
            signee: row.try_get("signee").ok().flatten(),
            remarks: row.try_get("remarks").ok().flatten(),
        })
        .filter(|event| internal || !event.internal)
        .collect())
}

fn shipment_of(row: &AnyRow) -> StoredShipment {
    let data: String = row.try_get("data").unwrap_or_default();
    StoredShipment {
        customer: row.try_get("customer").unwrap_or_default(),
        shipment_id: row.try_get("shipment_id").unwrap_or_default(),
        order_reference: row.try_get("order_reference").ok().flatten(),
        tracking_nbr: row.try_get("tracking_nbr").ok().flatten(),
        delivery_name: row.try_get("delivery_name").ok().flatten(),
        delivery_city: row.try_get("delivery_city").ok().flatten(),
        delivery_date: row.try_get("delivery_date").ok().flatten(),
        goods_lines: row.try_get("goods_lines").unwrap_or(0),
        colli: row.try_get("colli").unwrap_or(0),
        last_status: row.try_get("last_status").ok().flatten(),
        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        file_id: row.try_get("file_id").unwrap_or(0),
        created_at: row.try_get("created_at").unwrap_or(0),
        updated_at: row.try_get("updated_at").unwrap_or(0),
    }
}
