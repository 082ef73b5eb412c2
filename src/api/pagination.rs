//! Query-string parsing for lists: cursors, limits and filters, each error naming its parameter.

use std::collections::HashMap;

use serde::Serialize;
use uuid::Uuid;

use crate::api::error::ApiError;

pub use omnibridge_channel::problem::Params;

/// The query of a plain list: a page size and the cursor of the previous page.
#[derive(Serialize, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>)]
    pub cursor: Option<String>,
    /// Per page (default 50).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

/// A time parameter's schema: an RFC 3339 time or a date (see [`parse_time`]).
pub fn time_or_date() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String).format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime))))
        .item(ObjectBuilder::new().schema_type(Type::String).format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date))))
        .into()
}

/// A parameter's schema for a comma-separated list of these words (spaces and empty items
/// allowed, as the handlers read it).
pub fn comma_list<'a>(words: impl IntoIterator<Item = &'a str>) -> utoipa::openapi::schema::Object {
    let one = words.into_iter().map(|w| w.replace('.', "\\.")).collect::<Vec<_>>().join("|");
    let pattern = format!("^\\s*({one})?\\s*(,\\s*({one})?\\s*)*$");
    utoipa::openapi::schema::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String).pattern(Some(pattern)).build()
}

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

pub struct ListParams(pub HashMap<String, String>);

impl ListParams {
    /// The parameters of a typed query struct (its text fields; absent ones left out).
    pub fn of<T: Serialize>(query: &T) -> Self {
        let map = match serde_json::to_value(query) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned()))).collect(),
            _ => HashMap::new(),
        };
        Self(map)
    }

    pub fn limit(&self) -> Result<usize, ApiError> {
        self.limit_within(DEFAULT_LIMIT, MAX_LIMIT)
    }

    /// `limit`, from 1 to `max`; `default` when absent.
    pub fn limit_within(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.given("limit") {
            None => Ok(default),
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid("limit", format!("must be an integer from 1 to {max}"))),
            },
        }
    }

    pub fn cursor(&self) -> Result<Option<Uuid>, ApiError> {
        self.uuid("cursor")
    }

    /// A typed parameter given empty (`?cursor=`) is refused rather than taken as absent, as
    /// Stripe does: an empty value is more likely a client's mistake than a wish to leave it out.
    pub fn uuid(&self, name: &str) -> Result<Option<Uuid>, ApiError> {
        self.0.get(name).map(|v| Uuid::parse_str(v).map_err(|_| ApiError::invalid(name, "must be a UUID"))).transpose()
    }

    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v.clone())),
            Some(_) => Err(ApiError::invalid(name, format!("must be one of {}", allowed.join(", ")))),
        }
    }

    /// A time as microseconds since the epoch: RFC 3339, or a date (`2026-01-31`, midnight UTC).
    pub fn time(&self, name: &str) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.0.get(name) else { return Ok(None) };
        parse_time(text).map(Some).ok_or_else(|| ApiError::invalid(name, TIME_FORMATS))
    }

    /// A text parameter, absent when given empty.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.given(name).filter(|v| !v.is_empty())
    }

    /// A parameter as given, empty included: for typed ones, which refuse an empty value.
    pub fn given(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// What a time parameter accepts, as a refusal says it.
pub const TIME_FORMATS: &str = "must be an RFC 3339 time such as 2026-01-31T00:00:00Z, or a date such as 2026-01-31";

/// An RFC 3339 time or a date (its midnight, UTC), in microseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000) as i64);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() * 1_000_000)
}
