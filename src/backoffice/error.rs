//! Errors of the backoffice API as HTTP: a status code and a JSON body `{"error": "..."}` with a
//! message a person can act on. Core errors are mapped here, once; internal detail (SQL, paths)
//! goes to the log, never into a reply.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::outbox::OutboxError;
use crate::staff::StaffError;
use crate::users::UserError;

/// An API error: what the client is told.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is wrong; the message says how.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 for `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what)
    }

    /// 401: no valid session or token.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "sign in, or send 'Authorization: Bearer <token>' (freightdrop admin token NAME)",
        )
    }

    /// 500, with the cause logged and not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "backoffice request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server could not complete the request; the cause is in its log",
        )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::NotFound(_)
            | UserError::KeyNotFound { .. }
            | UserError::MailSenderNotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, e.to_string())
            }
            UserError::Exists(_)
            | UserError::KeyExists { .. }
            | UserError::MailSenderExists { .. } => Self::new(StatusCode::CONFLICT, e.to_string()),
            UserError::InvalidName(_)
            | UserError::InvalidCustomer(_)
            | UserError::InvalidProtocol(_)
            | UserError::InvalidFormat(_)
            | UserError::InvalidLimit
            | UserError::InvalidInboxFtpPlain(_)
            | UserError::InvalidMailSender(_)
            | UserError::Password(_)
            | UserError::Key(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            UserError::Home(_) | UserError::Db(_) => Self::internal(e),
        }
    }
}

impl From<OutboxError> for ApiError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::InvalidName(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            OutboxError::Exists(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
            OutboxError::NoHome => {
                Self::new(StatusCode::NOT_FOUND, "the user's home folder is missing")
            }
            OutboxError::TooBig => Self::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            OutboxError::Incomplete(_) => Self::bad_request(e.to_string()),
            OutboxError::Io(_) | OutboxError::Db(_) => Self::internal(e),
        }
    }
}

impl From<StaffError> for ApiError {
    fn from(e: StaffError) -> Self {
        match e {
            StaffError::Db(_) => Self::internal(e),
            StaffError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, e.to_string()),
            StaffError::Exists(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
            StaffError::InvalidName(_) | StaffError::Password(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}
