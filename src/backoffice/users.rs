//! `/api/v1/users`: partner accounts for staff: list, create (with a typed or generated
//! password, shown once), read, change, disable and enable, delete, set or generate a password,
//! add and remove SSH keys, set who may mail files (`mail_senders`). Every change goes through the account service, which checks the
//! values and ends the open sessions the change makes wrong, on every node.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::auth::Staffer;
use super::error::ApiError;
use super::request::{JsonBody, PathParam, QueryParams};
use super::AppState;
use crate::users::{
    check_mail_sender, InboxFtpPlain, NewUser, Password, ProtocolSet, PublicKey, UserChanges,
};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list).post(create))
        .route(
            "/api/v1/users/{name}",
            get(read).patch(update).delete(remove),
        )
        .route("/api/v1/users/{name}/disable", post(disable))
        .route("/api/v1/users/{name}/enable", post(enable))
        .route("/api/v1/users/{name}/password", post(set_password))
        .route(
            "/api/v1/users/{name}/keys",
            post(add_key).delete(remove_key),
        )
}

async fn list(State(state): State<AppState>, _staffer: Staffer) -> Result<Response, ApiError> {
    let users = state.core.users().list().await?;
    Ok(Json(json!({ "users": users })).into_response())
}

// No Debug: it holds a password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    name: String,
    customer: String,
    /// A typed password; without one, a password is generated and returned once.
    password: Option<String>,
    protocols: Option<Vec<String>>,
    #[serde(default)]
    require_tls: bool,
    format: Option<String>,
    max_upload_bytes: Option<u64>,
    /// `accept`, `require-rename` or `refuse`; absent or null follows the server's default.
    inbox_ftp_plain: Option<String>,
    /// Who may mail files: addresses or `*@domain`; absent, none.
    #[serde(default)]
    mail_senders: Vec<String>,
}

/// A plain-FTP inbox policy from a request.
fn inbox_ftp_plain(text: Option<String>) -> Result<Option<InboxFtpPlain>, ApiError> {
    text.map(|t| t.parse::<InboxFtpPlain>())
        .transpose()
        .map_err(ApiError::from)
}

fn protocols(list: Option<Vec<String>>) -> Result<Option<ProtocolSet>, ApiError> {
    list.map(|names| ProtocolSet::parse(&names.join(",")))
        .transpose()
        .map_err(ApiError::from)
}

async fn create(
    State(state): State<AppState>,
    staffer: Staffer,
    JsonBody(body): JsonBody<CreateUser>,
) -> Result<Response, ApiError> {
    // Checked before the account is made, so a bad pattern makes nothing.
    for pattern in &body.mail_senders {
        check_mail_sender(pattern)?;
    }
    let generated = body.password.is_none();
    let password = body.password.map_or_else(Password::generate, Password::new);
    let shown = generated.then(|| password.expose().to_owned());
    let mut user = state
        .core
        .accounts()
        .add(NewUser {
            name: body.name,
            customer: body.customer,
            password,
            protocols: protocols(body.protocols)?.unwrap_or_else(ProtocolSet::all),
            require_tls: body.require_tls,
            format: body.format.filter(|f| !f.is_empty()),
            max_upload_bytes: body.max_upload_bytes,
            inbox_ftp_plain: inbox_ftp_plain(body.inbox_ftp_plain)?,
        })
        .await?;
    if !body.mail_senders.is_empty() {
        let changes = UserChanges {
            mail_senders: Some(body.mail_senders),
            ..UserChanges::default()
        };
        user = state.core.accounts().update(&user.name, changes).await?;
    }
    tracing::info!(admin = %staffer.name, user = %user.name, mail_senders = %user.mail_senders.join(","), "user created");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user": user, "generated_password": shown })),
    )
        .into_response())
}

async fn read(
    State(state): State<AppState>,
    _staffer: Staffer,
    PathParam(name): PathParam<String>,
) -> Result<Response, ApiError> {
    let user = state.core.users().require(&name).await?;
    Ok(Json(json!({ "user": user })).into_response())
}

/// A field that may be absent (leave as is), `null` (clear) or a value.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    customer: Option<String>,
    protocols: Option<Vec<String>>,
    require_tls: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    format: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    max_upload_bytes: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    inbox_ftp_plain: Option<Option<String>>,
    enabled: Option<bool>,
    /// The whole new list of mail senders.
    mail_senders: Option<Vec<String>>,
}

async fn update(
    State(state): State<AppState>,
    staffer: Staffer,
    PathParam(name): PathParam<String>,
    JsonBody(body): JsonBody<UpdateUser>,
) -> Result<Response, ApiError> {
    let changes = UserChanges {
        customer: body.customer,
        protocols: protocols(body.protocols)?,
        require_tls: body.require_tls,
        format: body.format.map(|f| f.filter(|f| !f.is_empty())),
        max_upload_bytes: body.max_upload_bytes,
        inbox_ftp_plain: body.inbox_ftp_plain.map(inbox_ftp_plain).transpose()?,
        enabled: body.enabled,
        mail_senders: body.mail_senders,
    };
    let senders_changed = changes.mail_senders.is_some();
    let user = state.core.accounts().update(&name, changes).await?;
    if senders_changed {
        tracing::info!(admin = %staffer.name, user = %name, mail_senders = %user.mail_senders.join(","), "user changed; mail senders set");
    } else {
        tracing::info!(admin = %staffer.name, user = %name, "user changed");
    }
    Ok(Json(json!({ "user": user })).into_response())
}

async fn set_enabled(
    state: &AppState,
    staffer: &Staffer,
    name: &str,
    enabled: bool,
) -> Result<Response, ApiError> {
    let user = state.core.accounts().set_enabled(name, enabled).await?;
    tracing::info!(admin = %staffer.name, user = %name, enabled, "user enabled or disabled");
    Ok(Json(json!({ "user": user })).into_response())
}

async fn disable(
    State(state): State<AppState>,
    staffer: Staffer,
    PathParam(name): PathParam<String>,
) -> Result<Response, ApiError> {
    set_enabled(&state, &staffer, &name, false).await
}

async fn enable(
    State(state): State<AppState>,
    staffer: Staffer,
    PathParam(name): PathParam<String>,
) -> Result<Response, ApiError> {
    set_enabled(&state, &staffer, &name, true).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveQuery {
    #[serde(default)]
    keep_files: bool,
}

async fn remove(
    State(state): State<AppState>,
    staffer: Staffer,
    PathParam(name): PathParam<String>,
    QueryParams(query): QueryParams<RemoveQuery>,
) -> Result<Response, ApiError> {
    state
        .core
        .accounts()
        .remove(&name, query.keep_files)
        .await?;
    tracing::info!(admin = %staffer.name, user = %name, keep_files = query.keep_files, "user deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

// No Debug: it holds a password.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SetPassword {
    password: Option<String>,
}

async fn set_password(
    State(state): State<AppState>,
    staffer: Staffer,
    PathParam(name): PathParam<String>,
    body: Option<JsonBody<SetPassword>>,
) -> Result<Response, ApiError> {
    // No body at all asks for a generated password, like `{}`.
    let body = body.map(|JsonBody(body)| body).unwrap_or_default();
    let generated = body.password.is_none();
    let password = body.password.map_or_else(Password::generate, Password::new);
    let shown = generated.then(|| password.expose().to_owned());
    state.core.accounts().set_password(&name, password).await?;
    tracing::info!(admin = %staffer.name, user = %name, generated, "password set");
    Ok(Json(json!({ "generated_password": shown })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddKey {
    public_key: String,
}

async fn add_key(
    State(state): State<AppState>,
    staffer: Staffer,
    PathParam(name): PathParam<String>,
    JsonBody(body): JsonBody<AddKey>,
) -> Result<Response, ApiError> {
    let key = PublicKey::parse(&body.public_key).map_err(crate::users::UserError::from)?;
    let fingerprint = state.core.accounts().add_key(&name, &key).await?;
    tracing::info!(admin = %staffer.name, user = %name, %fingerprint, "SSH key added");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "fingerprint": fingerprint })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyQuery {
    fingerprint: String,
}

async fn remove_key(
    State(state): State<AppState>,
    staffer: Staffer,
    PathParam(name): PathParam<String>,
    QueryParams(query): QueryParams<KeyQuery>,
) -> Result<Response, ApiError> {
    state
        .core
        .accounts()
        .remove_key(&name, &query.fingerprint)
        .await?;
    tracing::info!(admin = %staffer.name, user = %name, fingerprint = %query.fingerprint, "SSH key removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}
