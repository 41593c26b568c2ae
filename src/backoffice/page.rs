//! The staff page: a login page and one page of plain HTML, CSS and JavaScript built into the
//! binary (no CDN, no build step); the script works over the REST API. Every page carries a
//! strict Content-Security-Policy: scripts only from this server.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use super::auth::{session_cookie, Staffer};
use super::AppState;

const STYLE: &str = include_str!("assets/app.css");
const LOGIN: &str = include_str!("assets/login.html");
const APP: &str = include_str!("assets/app.html");
const SCRIPT: &str = include_str!("assets/app.js");

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(app))
        .route("/assets/app.js", get(script))
}

/// The login page, with `message` (fixed texts only) above the form.
pub fn login(message: Option<&str>) -> Response {
    let notice = message.map_or_else(String::new, |m| {
        format!("<div class=\"notice error\" id=\"login-error\">{m}</div>")
    });
    let page = LOGIN
        .replace("{{STYLE}}", STYLE)
        .replace("{{MESSAGE}}", &notice);
    (no_store(), Html(page)).into_response()
}

fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

async fn app(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let signed_in = match session_cookie(&headers) {
        Some(cookie) => matches!(state.staff.session(&cookie).await, Ok(Some(_))),
        None => false,
    };
    if !signed_in {
        return Redirect::to("/login").into_response();
    }
    (no_store(), Html(APP.replace("{{STYLE}}", STYLE))).into_response()
}

async fn script(_staffer: Staffer) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}
