//! A local fake of the Graph API for tests, speaking Meta's wire format: Bearer tokens (401 with
//! code 190 otherwise), the WhatsApp and Messenger send endpoints and their answers, two-step
//! media download with a token-bound URL, media upload, paged message templates, and Graph's
//! error envelope for scripted failures. Webhooks are emitted as Meta does: serialised with
//! non-ASCII as `\uXXXX` and `/` as `\/`, then signed over those exact bytes.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// One call to a send endpoint (`POST /{v}/{id}/messages`).
#[derive(Debug, Clone)]
pub struct SentRequest {
    /// The id in the path: a phone number id, a page id, an Instagram account id.
    pub sender: String,
    pub authorization: String,
    /// The JSON body; for a multipart upload its text fields, as an object.
    pub body: Value,
    /// Files of a multipart request: (content type, bytes).
    pub files: Vec<(String, Vec<u8>)>,
}

/// A scripted failure for the next send: Graph's error envelope with this HTTP status.
#[derive(Debug, Clone)]
pub struct ScriptedError {
    pub http: u16,
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
}

impl ScriptedError {
    pub fn new(http: u16, code: i64, message: &str) -> Self {
        Self { http, code, subcode: None, message: message.to_owned() }
    }
}

#[derive(Default)]
struct Inner {
    token: String,
    version: String,
    sent: Vec<SentRequest>,
    script: VecDeque<ScriptedError>,
    /// media id → (mime type, bytes)
    media: HashMap<String, (String, Vec<u8>)>,
    media_downloads: usize,
    templates: Vec<Value>,
    next: u64,
}

/// The fake, running on a random local port.
#[derive(Clone)]
pub struct FakeGraph {
    inner: Arc<Mutex<Inner>>,
    pub addr: SocketAddr,
}

fn locked(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeGraph {
    /// Starts the fake; every call must carry `Bearer {token}`, under API `version` (`v21.0`).
    pub async fn start(token: &str, version: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner { token: token.to_owned(), version: version.to_owned(), ..Inner::default() }));
        let app = Router::new()
            .route("/_fake/media/{media_id}", get(media_bytes))
            .route("/_fake/cdn/{file_id}", get(cdn_bytes))
            .route("/{version}/{id}", get(object))
            .route("/{version}/{id}/messages", axum::routing::post(send))
            .route("/{version}/{id}/media", axum::routing::post(upload))
            .route("/{version}/{id}/message_templates", get(templates))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Graph API");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { inner, addr }
    }

    /// The base URL a channel's `graph_base_url` names.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<SentRequest> {
        locked(&self.inner).sent.clone()
    }

    /// The next sends fail with these errors, in order.
    pub fn fail_next(&self, error: ScriptedError) {
        locked(&self.inner).script.push_back(error);
    }

    /// A file the person sent, fetchable by `media_id`.
    pub fn add_media(&self, media_id: &str, mime_type: &str, data: &[u8]) {
        locked(&self.inner).media.insert(media_id.to_owned(), (mime_type.to_owned(), data.to_vec()));
    }

    /// A file on Meta's CDN (Messenger and Instagram attachments), served without a token; its
    /// URL.
    pub fn add_cdn_file(&self, file_id: &str, mime_type: &str, data: &[u8]) -> String {
        locked(&self.inner).media.insert(format!("cdn:{file_id}"), (mime_type.to_owned(), data.to_vec()));
        format!("{}/_fake/cdn/{file_id}?oh=signature&oe=expiry", self.base_url())
    }

    /// How many media files were downloaded (the second step).
    pub fn media_downloads(&self) -> usize {
        locked(&self.inner).media_downloads
    }

    /// The templates the WABA has (each as Graph lists it: `name`, `language`, `status`,
    /// `category`, `components`, `id`).
    pub fn set_templates(&self, templates: Vec<Value>) {
        locked(&self.inner).templates = templates;
    }
}

fn error(http: u16, code: i64, subcode: Option<i64>, message: &str) -> Response {
    let mut body = json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AFakeTrace"}});
    if let Some(subcode) = subcode {
        body["error"]["error_subcode"] = json!(subcode);
    }
    (StatusCode::from_u16(http).unwrap_or(StatusCode::BAD_REQUEST), axum::Json(body)).into_response()
}

/// The Bearer token check every Graph call starts with.
fn authorized(inner: &Inner, version: &str, headers: &HeaderMap) -> Result<String, Box<Response>> {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if version != inner.version {
        return Err(Box::new(error(400, 2635, None, "(#2635) You are calling a deprecated version of the Graph API")));
    }
    if given != format!("Bearer {}", inner.token) {
        return Err(Box::new(error(401, 190, Some(463), "Error validating access token: Session has expired")));
    }
    Ok(given)
}

async fn send(State(inner): State<Arc<Mutex<Inner>>>, Path((version, sender)): Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = locked(&inner);
    let authorization = match authorized(&inner, &version, &headers) {
        Ok(a) => a,
        Err(response) => return *response,
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (body, files) = if content_type.starts_with("multipart/form-data") { multipart(&content_type, &body) } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => (v, Vec::new()),
            Err(_) => return error(400, 100, None, "(#100) Invalid parameter"),
        }
    };
    if body.get("status").and_then(Value::as_str) == Some("read") || body.get("sender_action").is_some() {
        return axum::Json(json!({"success": true})).into_response();
    }
    if let Some(scripted) = inner.script.pop_front() {
        return error(scripted.http, scripted.code, scripted.subcode, &scripted.message);
    }
    inner.next += 1;
    let n = inner.next;
    let whatsapp = body.get("messaging_product").and_then(Value::as_str) == Some("whatsapp");
    let to = if whatsapp { body.get("to").cloned().unwrap_or(Value::Null) } else { body.pointer("/recipient/id").cloned().unwrap_or(Value::Null) };
    inner.sent.push(SentRequest { sender, authorization, body, files });
    if whatsapp {
        axum::Json(json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": format!("wamid.OUT{n}"), "message_status": "accepted"}]})).into_response()
    } else {
        axum::Json(json!({"recipient_id": to, "message_id": format!("m_OUT{n}")})).into_response()
    }
}

async fn upload(State(inner): State<Arc<Mutex<Inner>>>, Path((version, _sender)): Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = locked(&inner);
    if let Err(response) = authorized(&inner, &version, &headers) {
        return *response;
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (_, files) = multipart(&content_type, &body);
    let Some((mime, data)) = files.into_iter().next() else { return error(400, 100, None, "(#100) The parameter file is required") };
    inner.next += 1;
    let id = format!("up{}", inner.next);
    inner.media.insert(id.clone(), (mime, data));
    axum::Json(json!({"id": id})).into_response()
}

async fn object(State(inner): State<Arc<Mutex<Inner>>>, Path((version, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let inner = locked(&inner);
    if let Err(response) = authorized(&inner, &version, &headers) {
        return *response;
    }
    match inner.media.get(&id) {
        Some((mime, data)) => axum::Json(json!({
            "messaging_product": "whatsapp",
            // The real URL is on another host; the fake's is its own, and needs the same token.
            "url": format!("http://{}/_fake/media/{id}", headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1")),
            "mime_type": mime,
            "file_size": data.len(),
            "id": id,
        }))
        .into_response(),
        None if id.starts_with("media") || id.starts_with("up") => error(400, 100, Some(33), "Unsupported get request. Object with ID does not exist"),
        None => axum::Json(json!({"id": id, "display_phone_number": "15550783881", "verified_name": "Fake Business", "name": "Fake Page"})).into_response(),
    }
}

async fn media_bytes(State(inner): State<Arc<Mutex<Inner>>>, Path(media_id): Path<String>, headers: HeaderMap) -> Response {
    let mut inner = locked(&inner);
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if given != format!("Bearer {}", inner.token) {
        return (StatusCode::UNAUTHORIZED, "").into_response();
    }
    let Some((mime, data)) = inner.media.get(&media_id).cloned() else { return (StatusCode::NOT_FOUND, "").into_response() };
    inner.media_downloads += 1;
    ([(header::CONTENT_TYPE, mime)], data).into_response()
}

async fn cdn_bytes(State(inner): State<Arc<Mutex<Inner>>>, Path(file_id): Path<String>) -> Response {
    let mut inner = locked(&inner);
    let Some((mime, data)) = inner.media.get(&format!("cdn:{file_id}")).cloned() else { return (StatusCode::NOT_FOUND, "").into_response() };
    inner.media_downloads += 1;
    ([(header::CONTENT_TYPE, mime)], data).into_response()
}

async fn templates(State(inner): State<Arc<Mutex<Inner>>>, Path((version, waba)): Path<(String, String)>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let inner = locked(&inner);
    if let Err(response) = authorized(&inner, &version, &headers) {
        return *response;
    }
    let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(25).clamp(1, 100);
    let start = query.get("after").and_then(|a| a.strip_prefix("c").and_then(|n| n.parse::<usize>().ok())).unwrap_or(0);
    let page: Vec<Value> = inner.templates.iter().skip(start).take(limit).cloned().collect();
    let end = start + page.len();
    let mut body = json!({"data": page, "paging": {"cursors": {"before": format!("c{start}"), "after": format!("c{end}")}}});
    if end < inner.templates.len() {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        body["paging"]["next"] = json!(format!("http://{host}/{version}/{waba}/message_templates?limit={limit}&after=c{end}"));
    }
    axum::Json(body).into_response()
}

/// A multipart/form-data body's text fields (as a JSON object; JSON-looking values parsed) and
/// files.
fn multipart(content_type: &str, body: &[u8]) -> (Value, Vec<(String, Vec<u8>)>) {
    let Some(boundary) = content_type.split("boundary=").nth(1).map(|b| b.trim_matches('"')) else { return (json!({}), Vec::new()) };
    let delimiter = format!("--{boundary}");
    let mut fields = serde_json::Map::new();
    let mut files = Vec::new();
    let mut rest = body;
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(head_end) = find(rest, b"\r\n\r\n") else { break };
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let content = &rest[head_end + 4..];
        let Some(end) = find(content, format!("\r\n{delimiter}").as_bytes()) else { break };
        let data = &content[..end];
        let name = head.split("name=\"").nth(1).and_then(|n| n.split('"').next()).unwrap_or_default().to_owned();
        if head.contains("filename=") {
            let mime = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_owned())).unwrap_or_default();
            files.push((mime, data.to_vec()));
        } else {
            let text = String::from_utf8_lossy(data).to_string();
            fields.insert(name, serde_json::from_str(&text).unwrap_or(Value::String(text)));
        }
        rest = &content[end..];
    }
    (Value::Object(fields), files)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `value` serialised as Meta sends webhooks: non-ASCII as `\uXXXX` (surrogate pairs beyond the
/// BMP), `/` as `\/`.
pub fn meta_json(value: &Value) -> Vec<u8> {
    let plain = serde_json::to_string(value).unwrap_or_default();
    let mut out = String::with_capacity(plain.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in plain.chars() {
        if in_string {
            if escaped {
                escaped = false;
                out.push(c);
                continue;
            }
            match c {
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                '/' => out.push_str("\\/"),
                c if !c.is_ascii() => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        } else {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out.into_bytes()
}

/// Posts `body` to a webhook URL as Meta does: the exact bytes, signed under `app_secret`.
/// Returns the status and the answer's body.
pub async fn post_signed(http: &reqwest::Client, url: &str, app_secret: &str, body: &[u8]) -> (u16, String) {
    let response = http
        .post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(crate::signature::HEADER, crate::signature::sign(app_secret, body))
        .body(body.to_vec())
        .send()
        .await
        .expect("the webhook answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_escapes_what_meta_escapes() {
        let value = json!({"text": "Olá! Preço 50€ / unidade 😮", "url": "https://x/y"});
        let text = String::from_utf8(meta_json(&value)).unwrap();
        assert_eq!(text, r#"{"text":"Ol\u00e1! Pre\u00e7o 50\u20ac \/ unidade \ud83d\ude2e","url":"https:\/\/x\/y"}"#);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    }
}
