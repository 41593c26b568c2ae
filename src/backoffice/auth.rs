//! Who is asking: staff sign in on the login page and get a session cookie (HttpOnly,
//! SameSite=Strict, only its hash stored), scripts send a bearer token. Changes made with a
//! cookie must carry the session's CSRF token in `X-CSRF-Token`. Sign-in runs through the gate's
//! login sequence, so failed sign-ins are answered late and block the address together with its
//! failed FTP and SFTP logins.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::page;
use super::request::Client;
use super::AppState;
use crate::gate::{Door, Refusal};
use crate::staff::Credential;
use crate::users::Password;

/// The session cookie's name.
pub const COOKIE: &str = "fd_session";

/// The header a cookie-authenticated change must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/api/v1/session", get(session))
}

/// An authenticated staff member, from a session cookie or a bearer token.
#[derive(Debug, Clone)]
pub struct Staffer {
    /// The admin's name.
    pub name: String,
    /// The session's CSRF token (cookie sessions only).
    pub csrf: Option<String>,
}

impl FromRequestParts<AppState> for Staffer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    let (scheme, token) = v.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then_some(token)
                })
                .map(str::trim)
                .ok_or_else(ApiError::unauthenticated)?;
            return match state.staff.token_owner(&Credential::new(token)).await? {
                Some((_, true)) if parts.uri.path() != "/metrics" => Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "this token may only read /metrics",
                )),
                Some((name, _)) => Ok(Self { name, csrf: None }),
                None => Err(ApiError::unauthenticated()),
            };
        }
        let cookie = session_cookie(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        let session = state
            .staff
            .session(&cookie)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "missing or wrong X-CSRF-Token header: reload the page and try again",
                ));
            }
        }
        Ok(Self {
            name: session.admin,
            csrf: Some(session.csrf),
        })
    }
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<Credential> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| Credential::new(value))
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    #[serde(default)]
    failed: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<LoginQuery>,
) -> Response {
    if let Some(cookie) = session_cookie(&headers) {
        if let Ok(Some(_)) = state.staff.session(&cookie).await {
            return Redirect::to("/").into_response();
        }
    }
    let message = match query.failed.as_deref() {
        Some("blocked") => Some("Too many failed sign-ins from your address; try again later."),
        Some(_) => Some("Wrong name or password."),
        None => None,
    };
    page::login(message)
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let peer = client.ip;
    if !same_origin(&headers, client.forwarded_host.as_deref()) {
        return ApiError::new(StatusCode::FORBIDDEN, "cross-site sign-in refused").into_response();
    }
    // The gate's login sequence, shared with FTP and SFTP: turns per address, the block
    // check, the password, the failure record and the late refusal, counted as `http`.
    let checked = state
        .core
        .gate()
        .attempt(
            peer,
            &form.name,
            Door::Staff,
            state
                .staff
                .authenticate(&form.name, Password::new(form.password)),
        )
        .await;
    match checked {
        Ok(()) => {}
        Err(Refusal::Blocked) => return Redirect::to("/login?failed=blocked").into_response(),
        Err(Refusal::Denied(_) | Refusal::TooManySessions { .. }) => {
            return Redirect::to("/login?failed=1").into_response()
        }
        Err(Refusal::Unavailable) => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "staff accounts unavailable; try again later",
            )
            .into_response()
        }
    }
    let (cookie, _session) = match state.staff.open_session(&form.name).await {
        Ok(opened) => opened,
        Err(e) => return ApiError::from(e).into_response(),
    };
    tracing::info!(%peer, admin = %form.name, "backoffice sign-in");
    // Secure when a trusted proxy says the client came over HTTPS, so the browser never sends
    // the cookie over plain HTTP.
    let secure = if client.https { "; Secure" } else { "" };
    let set_cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        cookie.expose(),
        crate::staff::SESSION_SECONDS
    );
    ([(header::SET_COOKIE, set_cookie)], Redirect::to("/")).into_response()
}

/// A form post from another site is refused: when the browser names the origin, its host must
/// be the one the request was sent to (as a trusted proxy forwarded it, or as it arrived).
fn same_origin(headers: &HeaderMap, forwarded_host: Option<&str>) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    origin != "null"
        && (origin_host.eq_ignore_ascii_case(host)
            || forwarded_host.is_some_and(|h| origin_host.eq_ignore_ascii_case(h)))
}

async fn logout(State(state): State<AppState>, staffer: Staffer, headers: HeaderMap) -> Response {
    if let Some(cookie) = session_cookie(&headers) {
        if let Err(e) = state.staff.close_session(&cookie).await {
            return ApiError::from(e).into_response();
        }
    }
    tracing::info!(admin = %staffer.name, "backoffice sign-out");
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
        )],
        Json(json!({ "signedOut": true })),
    )
        .into_response()
}

async fn session(staffer: Staffer) -> Response {
    Json(json!({ "admin": staffer.name, "csrfToken": staffer.csrf })).into_response()
}
