//! The track & trace API: `GET /api/order?ShipmentID=..&Postcode=..&ts=..&sig=..`, signed with
//! an API user's secret, answered in XML (or JSON on request). This is the HTTP edge only: it
//! reads the parameters (names in any case), picks the format, blocks addresses that keep
//! failing signatures, and maps [`crate::tracking`]'s answer to a status. Every refusal gets the
//! same 401 body, whichever check failed.

use std::net::IpAddr;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::request::Client;
use super::AppState;
use crate::metrics::TrackResult;
use crate::tracking::view::OrderView;
use crate::tracking::{xml, Refusal, TrackError, TrackRequest};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/order", get(order))
}

/// The one answer to every refused request.
const UNAUTHORIZED: &str = "not authorized";

/// The parameters, by their contract names; matched ignoring case.
const PARAMETERS: [&str; 4] = ["ShipmentID", "Postcode", "ts", "sig"];

/// The longest parameter value looked at; longer ones are a wrong call.
const MAX_VALUE_LEN: usize = 256;

/// What the reply is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Xml,
    Json,
}

async fn order(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    client: Client,
) -> Response {
    let format = negotiate(&headers);
    let peer: Option<IpAddr> = Some(client.ip);
    let failures = state.tracking.failures();
    let metrics = &state.core.metrics();
    if peer.is_some_and(|ip| failures.is_blocked(ip)) {
        metrics.tracking(TrackResult::Blocked);
        return too_many(
            &state,
            format,
            "too many failed requests from this address; try again later",
        );
    }
    let [shipment_id, postcode, ts, sig] = match parameters(&uri) {
        Ok(values) => values,
        Err(message) => {
            metrics.tracking(TrackResult::BadRequest);
            return reply(format, StatusCode::BAD_REQUEST, &message);
        }
    };
    let request = TrackRequest {
        shipment_id: &shipment_id,
        postcode: &postcode,
        ts: &ts,
        sig: &sig,
    };
    let now = chrono::Utc::now().timestamp();
    match state.tracking.track(&request, now).await {
        Ok(tracked) => {
            metrics.tracking(TrackResult::Answered);
            if let Some(ip) = peer {
                failures.forgive(ip);
            }
            tracing::info!(
                api_user = tracked.api_user,
                shipment = shipment_id,
                "track & trace answered"
            );
            let view = OrderView::of(&tracked);
            match format {
                Format::Xml => with_type(StatusCode::OK, format, xml::order(&view)),
                Format::Json => match serde_json::to_string(&view) {
                    Ok(body) => with_type(StatusCode::OK, format, body),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot write the track & trace JSON");
                        reply(format, StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                    }
                },
            }
        }
        Err(TrackError::Refused(Refusal::SignerBlocked)) => {
            metrics.tracking(TrackResult::Blocked);
            tracing::info!(peer = ?peer, reason = %Refusal::SignerBlocked, "track & trace refused");
            too_many(
                &state,
                format,
                "too many requests for unknown shipments; try again later",
            )
        }
        Err(TrackError::Refused(refusal)) => {
            metrics.tracking(TrackResult::Refused);
            // Only an answered request forgives the address: a good signature with a guessed
            // shipment ID is counted against its API user instead.
            if refusal.is_bad_signature() {
                if let Some(ip) = peer.filter(|ip| failures.record(*ip)) {
                    tracing::warn!(
                        peer = %ip,
                        "address blocked after repeated failed track & trace signatures"
                    );
                }
            }
            tracing::info!(peer = ?peer, reason = %refusal, "track & trace refused");
            reply(format, StatusCode::UNAUTHORIZED, UNAUTHORIZED)
        }
        Err(TrackError::Unavailable(detail)) => {
            metrics.tracking(TrackResult::Unavailable);
            tracing::error!(error = detail, "track & trace failed");
            reply(
                format,
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily unavailable; try again later",
            )
        }
    }
}

/// A 429 with `message` and a `Retry-After` of the block time.
fn too_many(state: &AppState, format: Format, message: &str) -> Response {
    let mut response = reply(format, StatusCode::TOO_MANY_REQUESTS, message);
    let retry = state
        .core
        .config()
        .login_policy
        .block_for
        .as_secs()
        .to_string();
    if let Ok(value) = HeaderValue::from_str(&retry) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The four parameters in contract order, names matched ignoring case.
///
/// # Errors
/// The message for a 400: a missing, empty, repeated or overlong parameter, or a query that is
/// not `application/x-www-form-urlencoded`.
fn parameters(uri: &Uri) -> Result<[String; 4], String> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| "the query string is not valid URL encoding".to_owned())?;
    let mut values: [Option<String>; 4] = Default::default();
    for (name, value) in pairs {
        let Some(index) = PARAMETERS
            .iter()
            .position(|p| p.eq_ignore_ascii_case(&name))
        else {
            continue;
        };
        let contract = PARAMETERS[index];
        if values[index].is_some() {
            return Err(format!("parameter {contract} is given more than once"));
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(format!("parameter {contract} is too long"));
        }
        values[index] = Some(value);
    }
    let mut out: [String; 4] = Default::default();
    for (index, value) in values.into_iter().enumerate() {
        match value {
            Some(value) if !value.trim().is_empty() => out[index] = value,
            _ => return Err(format!("missing parameter {}", PARAMETERS[index])),
        }
    }
    Ok(out)
}

/// JSON when the `Accept` header names JSON before any XML type; XML otherwise.
fn negotiate(headers: &HeaderMap) -> Format {
    for value in headers.get_all(header::ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        for media in text.split(',') {
            let media = media
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if media == "application/json" || media.ends_with("+json") {
                return Format::Json;
            }
            if media == "application/xml" || media == "text/xml" || media.ends_with("+xml") {
                return Format::Xml;
            }
        }
    }
    Format::Xml
}

/// An error reply: `<error>message</error>` or `{"error": message}`.
fn reply(format: Format, status: StatusCode, message: &str) -> Response {
    let body = match format {
        Format::Xml => xml::error(message),
        Format::Json => serde_json::json!({ "error": message }).to_string(),
    };
    with_type(status, format, body)
}

fn with_type(status: StatusCode, format: Format, body: String) -> Response {
    let content_type = match format {
        Format::Xml => "application/xml; charset=utf-8",
        Format::Json => "application/json",
    };
    (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (header::VARY, "Accept"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Result<[String; 4], String> {
        parameters(&format!("/api/order?{query}").parse().unwrap())
    }

    #[test]
    fn parameter_names_are_matched_ignoring_case() {
        let got = params("shipmentid=S1&POSTCODE=7418%20ev&Ts=1&SIG=ab&other=x").unwrap();
        assert_eq!(got, ["S1", "7418 ev", "1", "ab"]);
    }

    #[test]
    fn a_missing_or_empty_parameter_is_named() {
        assert_eq!(
            params("ShipmentID=S1&ts=1&sig=ab").unwrap_err(),
            "missing parameter Postcode"
        );
        assert_eq!(
            params("ShipmentID=&Postcode=1&ts=1&sig=ab").unwrap_err(),
            "missing parameter ShipmentID"
        );
        assert_eq!(
            parameters(&"/api/order".parse().unwrap()).unwrap_err(),
            "missing parameter ShipmentID"
        );
    }

    #[test]
    fn a_repeated_parameter_is_refused() {
        assert_eq!(
            params("ShipmentID=S1&shipmentID=S2&Postcode=1&ts=1&sig=ab").unwrap_err(),
            "parameter ShipmentID is given more than once"
        );
    }

    #[test]
    fn json_only_when_asked_for_first() {
        let accept = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
            negotiate(&headers)
        };
        assert_eq!(negotiate(&HeaderMap::new()), Format::Xml);
        assert_eq!(accept("application/json"), Format::Json);
        assert_eq!(accept("text/html, application/json;q=0.9"), Format::Json);
        assert_eq!(accept("application/xml, application/json"), Format::Xml);
        assert_eq!(accept("*/*"), Format::Xml);
    }
}
