//! `/api/v1/openapi.json`: the OpenAPI document of the REST API, kept beside the handlers in
//! `openapi.json` and checked against the served routes by the tests.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::auth::Staffer;
use super::AppState;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(document))
}

async fn document(_staffer: Staffer) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}
