//! Extractors for what a request carries, with rejections as the API's JSON errors: a JSON
//! body, query parameters, and the peer address (for blocking repeated failed logins).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;

/// A JSON body; a malformed one is a 400 saying what is wrong with it.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match <axum::Json<T> as FromRequest<S>>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    /// No body (no `Content-Type`) is `None`; a body must be valid JSON.
    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_none()
        {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "the JSON body is too big",
        );
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::bad_request("send the body as JSON with 'Content-Type: application/json'")
        }
        other => {
            ApiError::bad_request(format!("the JSON body is not valid: {}", other.body_text()))
        }
    }
}

/// Path parameters; a malformed one (a file id that is not a number) is a 400.
#[derive(Debug)]
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(format!(
                "the address is not valid: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// Query parameters; unknown or malformed ones are a 400.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    ApiError::bad_request(format!(
        "the query parameters are not valid: {}",
        rejection.body_text()
    ))
}

/// Who sent the request: the client's address, and whether it came over HTTPS through a
/// trusted proxy. Forwarding headers are believed only from `--http-trusted-proxies`; from
/// anyone else they are ignored, so a client can't pick the address its failures count against.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client's address (unspecified in router tests without connection info, so such
    /// requests share one failure counter).
    pub ip: IpAddr,
    /// A trusted proxy said the client used HTTPS.
    pub https: bool,
    /// The host the client asked for, as a trusted proxy forwarded it.
    pub forwarded_host: Option<String>,
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        let config = state.core.config();
        let trusted = |ip: IpAddr| config.is_trusted_proxy(ip);
        if !trusted(peer) {
            return Ok(Self {
                ip: peer,
                https: false,
                forwarded_host: None,
            });
        }
        let header = |name: &str| {
            parts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",")
        };
        // The nearest address that is not one of our proxies is the client.
        let forwarded = header("x-forwarded-for");
        let ip = forwarded
            .split(',')
            .rev()
            .filter_map(|part| part.trim().parse::<IpAddr>().ok())
            .find(|ip| !trusted(*ip))
            .unwrap_or(peer);
        let proto = header("x-forwarded-proto");
        let host = header("x-forwarded-host");
        Ok(Self {
            ip,
            https: proto
                .split(',')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https")),
            forwarded_host: host
                .split(',')
                .next()
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_owned),
        })
    }
}
