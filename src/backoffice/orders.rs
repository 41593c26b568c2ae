//! `/api/v1/orders`: the stored shipments for staff, searched by customer, shipment ID,
//! delivery postcode and latest status; one shipment with its whole status history (internal
//! statuses included, marked).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use inbox_processor::lookup::{self, ShipmentQuery};
use serde::Deserialize;
use serde_json::json;

use super::auth::Staffer;
use super::error::ApiError;
use super::request::{PathParam, QueryParams};
use super::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orders", get(search))
        .route("/api/v1/orders/{customer}/{shipment_id}", get(read))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    customer: Option<String>,
    shipment_id: Option<String>,
    postcode: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
}

fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

async fn search(
    State(state): State<AppState>,
    _staffer: Staffer,
    QueryParams(query): QueryParams<SearchQuery>,
) -> Result<Response, ApiError> {
    let shipments = lookup::search(
        state.db.pool(),
        &ShipmentQuery {
            customer: given(query.customer),
            shipment_id: given(query.shipment_id),
            postcode: given(query.postcode),
            status: given(query.status),
            limit: query.limit.unwrap_or(100),
        },
    )
    .await
    .map_err(ApiError::internal)?;
    Ok(Json(json!({ "orders": shipments })).into_response())
}

async fn read(
    State(state): State<AppState>,
    _staffer: Staffer,
    PathParam((customer, shipment_id)): PathParam<(String, String)>,
) -> Result<Response, ApiError> {
    let shipment = lookup::shipment(state.db.pool(), &customer, &shipment_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no shipment {shipment_id:?} of customer {customer:?}"
            ))
        })?;
    let history = lookup::history(state.db.pool(), &shipment, true)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "order": shipment, "history": history })).into_response())
}
