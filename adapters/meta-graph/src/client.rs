//! A Graph API client on the hub's HTTP client (pooled; every connection and redirect checked by
//! the outbound guard), at the base URL and API version a channel configures, so tests point it
//! at a local fake through the production code path. The access token rides in the
//! `Authorization` header, never in a URL that could be logged.
//!
//! Graph answers errors in one envelope (`{"error":{"code","error_subcode","message",
//! "error_data":{"details"}}}`), mostly with HTTP 400 whatever the cause: [`classify`] keys on
//! the code, never on the HTTP status or the wording, as Meta asks.

use std::time::Duration;

use omnibridge_channel::AdapterError;
use serde_json::Value;

pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_API_VERSION: &str = "v21.0";

/// The largest response body read (a media file included).
pub const MAX_RESPONSE_BYTES: usize = 25 * 1024 * 1024;

/// What went wrong talking to Graph.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with its error envelope.
    #[error("Graph error {code}{}: {message}", subcode.map(|s| format!("/{s}")).unwrap_or_default())]
    Api { http: u16, code: i64, subcode: Option<i64>, message: String, details: Option<String>, transient: bool },
    /// The request did not get an answer (connection, timeout).
    #[error("Graph unreachable: {0}")]
    Network(String),
    /// An answer that is not what Graph sends.
    #[error("unexpected answer from Graph: {0}")]
    Unexpected(String),
}

impl GraphError {
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A channel's way to Graph.
#[derive(Clone)]
pub struct Graph {
    http: reqwest::Client,
    base_url: String,
    version: String,
    token: String,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").field("base_url", &self.base_url).field("version", &self.version).field("token", &"…").finish()
    }
}

impl Graph {
    pub fn new(http: reqwest::Client, base_url: &str, version: &str, token: &str) -> Self {
        Self { http, base_url: base_url.trim_end_matches('/').to_owned(), version: version.trim_matches('/').to_owned(), token: token.to_owned() }
    }

    /// `{base}/{version}/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}/{}", self.base_url, self.version, path.trim_start_matches('/'))
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, GraphError> {
        let request = self.http.get(self.url(path)).query(query);
        self.json(request).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, GraphError> {
        self.json(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn post_multipart(&self, path: &str, form: reqwest::multipart::Form) -> Result<Value, GraphError> {
        self.json(self.http.post(self.url(path)).multipart(form)).await
    }

    /// Every item of a paged collection: follows `paging.next` until it is absent (a short or
    /// empty page may still have one), staying on this Graph's base URL.
    pub async fn get_all(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<Value>, GraphError> {
        let mut items = Vec::new();
        let mut page = self.get(path, query).await?;
        for _ in 0..1_000 {
            if let Some(data) = page.get("data").and_then(Value::as_array) {
                items.extend(data.iter().cloned());
            }
            let Some(next) = page.pointer("/paging/next").and_then(Value::as_str) else { return Ok(items) };
            if !next.starts_with(&format!("{}/", self.base_url)) {
                return Err(GraphError::Unexpected("a next page on another host".into()));
            }
            page = self.json(self.http.get(next)).await?;
        }
        Err(GraphError::Unexpected("more than 1,000 pages".into()))
    }

    /// The bytes at `url` (a media URL Graph handed out), with the token, at most
    /// [`MAX_RESPONSE_BYTES`]; and the content type the server gave.
    pub async fn download(&self, url: &str, with_token: bool) -> Result<(String, Vec<u8>), GraphError> {
        let mut request = self.http.get(url);
        if with_token {
            request = request.bearer_auth(&self.token);
        }
        let response = request.send().await.map_err(|e| GraphError::Network(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            return Err(envelope(status.as_u16(), &body));
        }
        if response.content_length().is_some_and(|n| n as usize > MAX_RESPONSE_BYTES) {
            return Err(GraphError::Unexpected(format!("the file is larger than {MAX_RESPONSE_BYTES} bytes")));
        }
        let content_type = response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/octet-stream").to_owned();
        let bytes = read_limited(response).await?;
        Ok((content_type, bytes))
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> Result<Value, GraphError> {
        let response = request.bearer_auth(&self.token).timeout(Duration::from_secs(20)).send().await.map_err(|e| GraphError::Network(e.without_url().to_string()))?;
        let status = response.status();
        let body = read_limited(response).await?;
        if !status.is_success() {
            return Err(envelope(status.as_u16(), &body));
        }
        serde_json::from_slice(&body).map_err(|e| GraphError::Unexpected(format!("not JSON: {e}")))
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, GraphError> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| GraphError::Network(e.without_url().to_string()))? {
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(GraphError::Unexpected(format!("an answer larger than {MAX_RESPONSE_BYTES} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Graph's error envelope, or what the status says when the body is not one.
fn envelope(http: u16, body: &[u8]) -> GraphError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(error) = value.get("error") else {
        return GraphError::Api { http, code: 0, subcode: None, message: format!("HTTP {http}"), details: None, transient: http >= 500 };
    };
    GraphError::Api {
        http,
        code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
        subcode: error.get("error_subcode").and_then(Value::as_i64),
        message: error.get("message").and_then(Value::as_str).unwrap_or("").chars().take(300).collect(),
        details: error.pointer("/error_data/details").and_then(Value::as_str).map(|d| d.chars().take(300).collect()),
        transient: error.get("is_transient").and_then(Value::as_bool).unwrap_or(false),
    }
}

/// Codes that mean "the person's window for free-form messages is closed": WhatsApp's
/// re-engagement error, Messenger's "outside of allowed window".
pub fn is_window_closed(code: i64, subcode: Option<i64>) -> bool {
    code == 131047 || (code == 10 && matches!(subcode, Some(2018278) | Some(2534022))) || matches!(subcode, Some(2018278))
}

/// Graph's error as the send worker needs it: what to retry, what never will work, what is the
/// channel's configuration. The codes follow Meta's error-code tables.
pub fn classify(err: GraphError) -> AdapterError {
    let GraphError::Api { http, code, subcode, message, details, transient } = &err else {
        return match err {
            GraphError::Network(_) => AdapterError::Transient(err.to_string()),
            _ => AdapterError::Permanent(err.to_string()),
        };
    };
    let text = match details {
        Some(details) if !details.is_empty() => format!("{code} {message} ({details})"),
        _ => format!("{code} {message}"),
    };
    match code {
        // Throughput, pair rate and app limits: wait and retry.
        130429 | 131056 | 4 | 17 | 32 | 341 | 613 | 80007 => AdapterError::RateLimited { retry_after: Duration::from_secs(1) },
        // Something went wrong at Meta, service unavailable, account in maintenance.
        1 | 2 | 131000 | 131016 | 131057 => AdapterError::Transient(text),
        _ if is_window_closed(*code, *subcode) => AdapterError::Permanent(format!("window_closed: {text}")),
        // The person stopped marketing messages.
        131050 => AdapterError::MarketingOptedOut(format!("marketing_opted_out: {text}")),
        // The token expired or lacks a permission; the account is restricted.
        190 | 10 | 102 | 200..=299 | 368 | 131031 | 131042 => AdapterError::Config(text),
        _ if *http == 401 => AdapterError::Config(text),
        _ if *transient || *http >= 500 => AdapterError::Transient(text),
        _ => AdapterError::Permanent(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(http: u16, code: i64, subcode: Option<i64>) -> GraphError {
        GraphError::Api { http, code, subcode, message: "m".into(), details: None, transient: false }
    }

    #[test]
    fn codes_decide_not_http_statuses() {
        assert!(matches!(classify(api(400, 130429, None)), AdapterError::RateLimited { .. }));
        assert!(matches!(classify(api(400, 131056, None)), AdapterError::RateLimited { .. }));
        assert!(matches!(classify(api(400, 131000, None)), AdapterError::Transient(_)));
        assert!(matches!(classify(api(400, 131047, None)), AdapterError::Permanent(m) if m.starts_with("window_closed")));
        assert!(matches!(classify(api(400, 10, Some(2018278))), AdapterError::Permanent(m) if m.starts_with("window_closed")));
        assert!(matches!(classify(api(400, 131026, None)), AdapterError::Permanent(_)));
        assert!(matches!(classify(api(401, 190, Some(463))), AdapterError::Config(_)));
        assert!(matches!(classify(api(500, 0, None)), AdapterError::Transient(_)));
        assert!(matches!(classify(GraphError::Network("reset".into())), AdapterError::Transient(_)));
    }

    #[test]
    fn the_envelope_is_read_leniently() {
        let body = br#"{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"error_data":{"messaging_product":"whatsapp","details":"Recipient's phone number is not whitelisted"},"error_subcode":2655007,"fbtrace_id":"Akf6"}}"#;
        match envelope(400, body) {
            GraphError::Api { code, subcode, details, .. } => {
                assert_eq!(code, 131030);
                assert_eq!(subcode, Some(2655007));
                assert_eq!(details.as_deref(), Some("Recipient's phone number is not whitelisted"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(envelope(400, br#"{"error":{"code":100,"error_data":"oops"}}"#), GraphError::Api { code: 100, details: None, .. }));
        assert!(matches!(envelope(502, b"<html>"), GraphError::Api { code: 0, transient: true, .. }));
    }
}
