//! The track & trace API: `GET /api/order?ShipmentID=..&Postcode=..&ts=..&sig=..`, signed with
//! an API user's secret, answered in XML (or JSON on request). Not built yet.

use axum::Router;

use super::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
}
