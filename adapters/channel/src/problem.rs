//! RFC 9457 problem details, shared by the hub's API and every adapter's HTTP routes so that a
//! client sees one error format whichever door it knocked on.

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A problem document. `code` is a stable snake_case identifier clients may match on; `field`
/// names the offending input where there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds a client should wait before retrying, mirrored in the `Retry-After` header.
    #[serde(skip)]
    pub retry_after: Option<u64>,
    /// Extension members (RFC 9457 §3.2), e.g. the `rule` that blocked a transfer.
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// The answer to a plain request on a websocket route (one that is not a websocket handshake):
/// 426 with `Upgrade: websocket`, given once the request's credential holds.
pub fn upgrade_required() -> Response {
    let problem = Problem::new(StatusCode::UPGRADE_REQUIRED, "upgrade_required", "this is a websocket: open it with an Upgrade: websocket handshake");
    let mut response = problem.into_response();
    response.headers_mut().insert(header::UPGRADE, header::HeaderValue::from_static("websocket"));
    response
}

/// The problem's description in an API description: the schema `Problem`, and the response
/// `Problem` (`application/problem+json`) every error answer refers to.
impl utoipa::PartialSchema for Problem {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let text = |description: &str| ObjectBuilder::new().schema_type(Type::String).description(Some(description.to_owned()));
        ObjectBuilder::new()
            .description(Some("RFC 9457 problem details"))
            .property("type", text("a URI naming the kind of problem"))
            .property("title", text("the HTTP status in words"))
            .property("status", ObjectBuilder::new().schema_type(Type::Integer).description(Some("the HTTP status")))
            .property("detail", text("what went wrong, for people"))
            .property("code", text("a stable snake_case code clients may match on"))
            .property("field", text("the offending input, e.g. settings.greeting"))
            .required("type")
            .required("title")
            .required("status")
            .required("detail")
            .required("code")
            .into()
    }
}

impl utoipa::ToSchema for Problem {}

impl<'s> utoipa::ToResponse<'s> for Problem {
    fn response() -> (&'s str, utoipa::openapi::RefOr<utoipa::openapi::Response>) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
        ("Problem", ResponseBuilder::new().description("An RFC 9457 problem; `field` names the offending input").content("application/problem+json", content).build().into())
    }
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("urn:omnibridge:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            field: None,
            retry_after: None,
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds an extension member.
    pub fn with(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.insert(name.to_owned(), value.into());
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A 422 for one invalid field, the most common client error.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", detail).with_field(field)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// A handler's query parameters as one typed struct (`T`, which also describes them in the API
/// description with `utoipa::IntoParams`). Fields are text, checked by the handler so each refusal
/// names its parameter; a query string that is not even form-encoded is refused as 400
/// naming `query`.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Params(q))
            .map_err(|e| {
                let text = e.body_text();
                // "duplicate field `limit`": name the parameter when the message does.
                let field = text.split('`').nth(1).filter(|name| !name.is_empty()).unwrap_or("query").to_owned();
                Problem::new(StatusCode::BAD_REQUEST, "malformed_query", format!("{field}: {text}")).with_field(field)
            })
    }
}

/// A JSON body extractor whose rejections are problem documents naming the offending field
/// (`"text"`, `"settings.imap_port"`), and whose size limit answers 413.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "request body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "request body exceeds the configured limit")
            } else {
                Problem::new(StatusCode::BAD_REQUEST, "unreadable_body", rejection.body_text()).with_field("body")
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON, reporting the path of the first offending field.
// A problem is built once per refused request; boxing it would buy nothing.
#[allow(clippy::result_large_err)]
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // Every body is an object: serde would otherwise take an array for a struct's fields in order.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "body: must be a JSON object").with_field("body"));
    }
    if has_nul_escape(bytes) {
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "body: text may not contain U+0000").with_field("body"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(parsed) => Ok(parsed),
        // JSON has one kind of number: `3.0` is the integer 3 (as JSON Schema's `integer` says),
        // though serde reads it as a float. Such bodies are read again with whole floats as
        // integers; the common case pays nothing.
        Err(err) if err.inner().to_string().starts_with("invalid type: floating point") => {
            let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| refusal(String::new(), e))?;
            whole_floats_as_integers(&mut value);
            serde_path_to_error::deserialize(value).map_err(|err| refusal(err.path().to_string(), err.into_inner()))
        }
        Err(err) => Err(refusal(err.path().to_string(), err.into_inner())),
    }
}

/// The problem for a body serde refused at `path`.
fn refusal(path: String, inner: serde_json::Error) -> Problem {
    if inner.is_syntax() || inner.is_eof() {
        return Problem::new(StatusCode::BAD_REQUEST, "malformed_json", format!("malformed JSON: {inner}")).with_field("body");
    }
    let field = missing_field(&inner.to_string()).map(|name| join_path(&path, &name)).unwrap_or(path);
    // The whole body, or a member without a name (`{"": 1}`): name the body.
    let field = if field == "." || field.is_empty() { "body".to_owned() } else { field };
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", format!("{field}: {inner}")).with_field(field)
}

/// Numbers such as `3.0` become the integers they are.
fn whole_floats_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15) {
                *n = serde_json::Number::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_floats_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(whole_floats_as_integers),
        _ => {}
    }
}

/// Whether JSON text holds the escape `\u0000` (a raw NUL cannot appear in valid JSON). No text
/// the hub keeps may contain U+0000: PostgreSQL cannot store it, and no channel carries it.
fn has_nul_escape(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// serde reports a missing field at its parent's path; the name is only in the message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

fn join_path(parent: &str, name: &str) -> String {
    if parent == "." || parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        text: String,
        settings: Option<Settings>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Settings {
        port: u16,
    }

    #[test]
    fn problems_name_the_offending_field() {
        let p = parse_json::<Body>(br#"{"text": 5}"#).expect_err("refused");
        assert_eq!((p.status, p.field.as_deref()), (422, Some("text")));
        let p = parse_json::<Body>(br#"{}"#).expect_err("refused");
        assert_eq!(p.field.as_deref(), Some("text"));
        let p = parse_json::<Body>(br#"{"text":"a","settings":{"port":"x"}}"#).expect_err("refused");
        assert_eq!(p.field.as_deref(), Some("settings.port"));
        let p = parse_json::<Body>(br#"{"text": "#).expect_err("refused");
        assert_eq!((p.status, p.code.as_str(), p.field.as_deref()), (400, "malformed_json", Some("body")));
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_is_that_integer() {
        let body = parse_json::<Body>(br#"{"text": "a", "settings": {"port": 993.0}}"#).expect("993.0 is 993");
        assert_eq!(body.settings.map(|s| s.port), Some(993));
        let p = parse_json::<Body>(br#"{"text": "a", "settings": {"port": 993.5}}"#).expect_err("not a whole number");
        assert_eq!((p.status, p.field.as_deref()), (422, Some("settings.port")));
        let p = parse_json::<Body>(br#"{"text": "a", "settings": {"port": 70000.0}}"#).expect_err("out of range");
        assert_eq!((p.status, p.field.as_deref()), (422, Some("settings.port")));
        let p = parse_json::<Body>(br#"{"text": 1.0, "settings": {"port": 1.0}}"#).expect_err("a number is not text");
        assert_eq!(p.field.as_deref(), Some("text"));
    }

    #[test]
    fn a_body_is_an_object_without_nul_characters() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            text: Option<String>,
        }
        let p = parse_json::<Strict>(br#"{"": 1}"#).expect_err("a member without a name is unknown");
        assert_eq!((p.status, p.field.as_deref()), (422, Some("body")));
        let p = parse_json::<Body>(br#"["a", null]"#).expect_err("an array is not an object");
        assert_eq!((p.status, p.field.as_deref()), (422, Some("body")));
        let p = parse_json::<Body>(br#"{"text": "a\u0000b"}"#).expect_err("NUL refused");
        assert_eq!((p.status, p.field.as_deref()), (422, Some("body")));
        // An escaped backslash followed by the letters is text, not a NUL.
        assert_eq!(parse_json::<Body>(br#"{"text": "a\\u0000b"}"#).expect("taken").text, "a\\u0000b");
    }
}
