//! The hub's error type, mapped to RFC 9457 problem documents in one place. Internal errors
//! are logged with their cause and answered as opaque 500s.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use omnibridge_channel::problem::Problem;

use crate::privacy::{CryptoError, KeyError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("this key's role may not do that")]
    Forbidden,
    /// The tenant's IP allow-list does not cover the caller.
    #[error("requests from {0} are not allowed for this tenant")]
    IpNotAllowed(std::net::IpAddr),
    /// A change through a console session without the session's CSRF token.
    #[error("missing or wrong X-CSRF-Token")]
    Csrf,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    /// The input names something that does not exist in this tenant (404, naming the field).
    #[error("{field}: {detail}")]
    Unknown { field: String, detail: String },
    /// The input is well-formed but taken by something else, such as a unique name (409,
    /// naming the field).
    #[error("{field}: {detail}")]
    Taken { field: &'static str, detail: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    /// Too many of something at once (connections); not a rate: no waiting helps until one ends.
    #[error("{0}")]
    TooMany(String),
    /// The recipient's consent does not allow this message (the reason names the withdrawal).
    #[error("{0}")]
    ConsentMissing(String),
    /// The contact's processing is restricted (Art. 18).
    #[error("{0}")]
    Restricted(String),
    /// The tenant's routing policy does not allow this transfer.
    #[error("policy_blocked: {reason} ({rule})")]
    PolicyBlocked { rule: String, reason: String },
    /// The channel's reply window has closed.
    #[error("{reason}")]
    WindowClosed { reason: String, closed_at: Option<i64> },
    /// Events after this position are no longer kept: the reader must re-sync.
    #[error("{detail}")]
    Gone { field: &'static str, detail: String, purged_through: i64 },
    /// A file (CSV import) with problems on some of its lines; nothing of it was taken.
    #[error("the file has {} problem(s); nothing was imported", .0.len())]
    Rows(Vec<crate::team::import::RowError>),
    /// Work the hub does on the caller's behalf failed (logged; answered as an opaque 500).
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl ApiError {
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::Invalid { field: field.to_owned(), detail: detail.into() }
    }

    /// An id in the body that names nothing of the tenant: 404, naming the field.
    pub fn unknown(field: &str, detail: impl Into<String>) -> Self {
        Self::Unknown { field: field.to_owned(), detail: detail.into() }
    }
}

impl From<ApiError> for Problem {
    fn from(err: ApiError) -> Self {
        match &err {
            ApiError::Unauthorized => Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", err.to_string()),
            ApiError::Forbidden => Problem::new(StatusCode::FORBIDDEN, "forbidden", err.to_string()),
            ApiError::IpNotAllowed(_) => Problem::new(StatusCode::FORBIDDEN, "ip_not_allowed", err.to_string()),
            ApiError::Csrf => Problem::new(StatusCode::FORBIDDEN, "csrf_token_missing", err.to_string()),
            ApiError::NotFound(_) => Problem::new(StatusCode::NOT_FOUND, "not_found", err.to_string()),
            ApiError::Invalid { field, detail } => Problem::invalid(field, format!("{field}: {detail}")),
            ApiError::Conflict(_) => Problem::new(StatusCode::CONFLICT, "conflict", err.to_string()),
            ApiError::Unknown { field, .. } => Problem::new(StatusCode::NOT_FOUND, "not_found", err.to_string()).with_field(field.clone()),
            ApiError::Taken { field, .. } => Problem::new(StatusCode::CONFLICT, "taken", err.to_string()).with_field(*field),
            ApiError::Rows(rows) => {
                let lines: Vec<String> = rows.iter().map(ToString::to_string).collect();
                let field = rows.first().map_or_else(|| "file".to_owned(), |r| format!("line {}: {}", r.line, r.field));
                Problem::invalid(&field, format!("{err}: {}", lines.join("; "))).with("errors", serde_json::to_value(rows).unwrap_or_default())
            }
            ApiError::Gone { field, purged_through, .. } => Problem::new(StatusCode::GONE, "cursor_expired", err.to_string())
                .with_field(*field)
                .with("purged_through", *purged_through),
            ApiError::Unavailable(_) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", err.to_string()),
            ApiError::TooMany(_) => Problem::new(StatusCode::TOO_MANY_REQUESTS, "too_many_connections", err.to_string()),
            ApiError::ConsentMissing(reason) => {
                Problem::new(StatusCode::CONFLICT, "consent_missing", reason.strip_prefix("consent_missing: ").unwrap_or(reason))
            }
            ApiError::Restricted(reason) => Problem::new(StatusCode::CONFLICT, "restricted", reason.strip_prefix("restricted: ").unwrap_or(reason)),
            ApiError::PolicyBlocked { rule, reason } => {
                Problem::new(StatusCode::CONFLICT, "policy_blocked", reason.clone()).with("rule", rule.clone())
            }
            ApiError::WindowClosed { reason, closed_at } => {
                Problem::new(StatusCode::CONFLICT, "window_closed", reason.strip_prefix("window_closed: ").unwrap_or(reason))
                    .with("window_closed_at", closed_at.map(crate::domain::rfc3339))
            }
            ApiError::Key(KeyError::Crypto(CryptoError::KeyDestroyed)) | ApiError::Crypto(CryptoError::KeyDestroyed) => {
                Problem::new(StatusCode::GONE, "erased", "this contact's data has been erased")
            }
            ApiError::Internal(_) | ApiError::Store(_) | ApiError::Key(_) | ApiError::Crypto(_) => {
                tracing::error!(error = %err, "internal error");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; it has been logged")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

impl From<crate::events::outbox::AppendError> for ApiError {
    fn from(e: crate::events::outbox::AppendError) -> Self {
        match e {
            crate::events::outbox::AppendError::Store(e) => Self::Store(e),
            crate::events::outbox::AppendError::Crypto(e) => Self::Crypto(e),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<crate::events::WorkError> for ApiError {
    fn from(err: crate::events::WorkError) -> Self {
        use crate::events::WorkError;
        match err {
            WorkError::Store(e) => Self::Store(e),
            WorkError::Key(e) => Self::Key(e),
            WorkError::Crypto(e) => Self::Crypto(e),
            WorkError::Append(e) => e.into(),
            WorkError::Vanished(what) => Self::NotFound(what),
            WorkError::Payload(detail) | WorkError::Refused(detail) => Self::Internal(detail),
        }
    }
}

impl From<crate::events::log::LogError> for ApiError {
    fn from(err: crate::events::log::LogError) -> Self {
        match err {
            crate::events::log::LogError::Store(e) => Self::Store(e),
            gone @ crate::events::log::LogError::Gone { purged_through, .. } => {
                Self::Gone { field: "after", detail: format!("after: {gone}"), purged_through }
            }
        }
    }
}

impl From<crate::contacts::edit::ContactError> for ApiError {
    fn from(err: crate::contacts::edit::ContactError) -> Self {
        use crate::contacts::edit::ContactError;
        match err {
            ContactError::Invalid { field, detail } => ApiError::invalid(field, detail),
            ContactError::NotFound => ApiError::NotFound("contact"),
            ContactError::Store(e) => ApiError::Store(e),
            ContactError::Key(e) => ApiError::Key(e),
            ContactError::Crypto(e) => ApiError::Crypto(e),
            ContactError::Append(e) => e.into(),
            ContactError::Attribute(e) => e.into(),
        }
    }
}

impl From<crate::access::Forbidden> for ApiError {
    fn from(_: crate::access::Forbidden) -> Self {
        ApiError::Forbidden
    }
}

impl From<crate::events::present::PresentError> for ApiError {
    fn from(err: crate::events::present::PresentError) -> Self {
        match err {
            crate::events::present::PresentError::Store(e) => ApiError::Store(e),
            crate::events::present::PresentError::Crypto(e) => ApiError::Crypto(e),
        }
    }
}

impl From<omnibridge_channel::SettingsError> for ApiError {
    fn from(err: omnibridge_channel::SettingsError) -> Self {
        ApiError::Invalid { field: err.field, detail: err.detail }
    }
}

impl From<crate::egress::EgressError> for ApiError {
    fn from(err: crate::egress::EgressError) -> Self {
        use crate::egress::EgressError;
        match err {
            EgressError::ConsentMissing(reason) => ApiError::ConsentMissing(reason),
            EgressError::Restricted(reason) => ApiError::Restricted(reason),
            EgressError::PolicyBlocked { rule, reason } => ApiError::PolicyBlocked { rule, reason },
            EgressError::WindowClosed { reason, closed_at } => ApiError::WindowClosed { reason, closed_at },
            EgressError::Store(e) => ApiError::Store(e),
            err @ (EgressError::Keys(_) | EgressError::Adapter(_)) => ApiError::Unavailable(err.to_string()),
        }
    }
}

impl From<crate::channels::templates::TemplateError> for ApiError {
    fn from(err: crate::channels::templates::TemplateError) -> Self {
        use crate::channels::templates::TemplateError;
        match err {
            TemplateError::Store(e) => ApiError::Store(e),
            TemplateError::Provider(e) => ApiError::Unavailable(format!("the provider did not list the templates: {e}")),
            other => ApiError::invalid(other.field(), other.to_string()),
        }
    }
}

impl From<crate::outgoing::OutboundError> for ApiError {
    fn from(err: crate::outgoing::OutboundError) -> Self {
        use crate::outgoing::OutboundError;
        match err {
            OutboundError::Store(e) => ApiError::Store(e),
            OutboundError::Crypto(e) => ApiError::Crypto(e),
            OutboundError::Taken => ApiError::Conflict("message id taken".into()),
        }
    }
}

impl From<crate::inbox::participants::ParticipantError> for ApiError {
    fn from(err: crate::inbox::participants::ParticipantError) -> Self {
        use crate::inbox::participants::ParticipantError;
        match err {
            ParticipantError::Store(e) => ApiError::Store(e),
            ParticipantError::Crypto(e) => ApiError::Crypto(e),
        }
    }
}

impl From<crate::team::operators::AccessError> for ApiError {
    fn from(err: crate::team::operators::AccessError) -> Self {
        use crate::team::operators::AccessError;
        match err {
            AccessError::Invalid { field, detail } => ApiError::invalid(field, detail),
            AccessError::Unknown { field, detail } => ApiError::Unknown { field: field.to_owned(), detail },
            AccessError::NotFound(what) => ApiError::NotFound(what),
            AccessError::Conflict(why) => ApiError::Conflict(why),
            AccessError::Store(e) => ApiError::Store(e),
            AccessError::Key(e) => ApiError::Key(e),
            AccessError::Append(e) => e.into(),
            AccessError::Random(e) => ApiError::Unavailable(format!("no randomness: {e}")),
        }
    }
}
