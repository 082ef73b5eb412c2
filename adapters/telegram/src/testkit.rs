//! A local fake of the Telegram Bot API for tests, speaking its documented JSON: `getMe`,
//! `getUpdates` (a real long poll), `sendMessage`, `sendPhoto`, `sendDocument`, `getFile` and file
//! downloads, `setWebhook`, `deleteWebhook`; errors as `{"ok": false, "error_code",
//! "description", "parameters"}`. teloxide writes method names in PascalCase, Telegram accepts
//! any case, and so does the fake.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// One call the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    /// Lower-case method name: `sendmessage`, `sendphoto`, ….
    pub method: String,
    pub body: String,
}

impl Call {
    /// A parameter of the call, from a JSON or a multipart body.
    pub fn field(&self, name: &str) -> Option<String> {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&self.body) {
            return map.get(name).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
        }
        let marker = format!("name=\"{name}\"");
        let part = self.body.split(&marker).nth(1)?;
        let value = part.split_once("\r\n\r\n")?.1;
        Some(value.split("\r\n").next().unwrap_or_default().to_owned())
    }
}

/// A scripted error for the next send.
#[derive(Debug, Clone)]
pub struct ScriptedError {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<u32>,
}

#[derive(Default)]
struct Inner {
    token: String,
    updates: Vec<Value>,
    next_update_id: i64,
    calls: Vec<Call>,
    offsets: Vec<i64>,
    script: VecDeque<ScriptedError>,
    files: HashMap<String, (String, Vec<u8>)>,
    webhook: Option<(String, String)>,
    next_message_id: i64,
}

#[derive(Clone)]
pub struct FakeBotApi {
    inner: Arc<Mutex<Inner>>,
    arrived: Arc<Notify>,
    pub addr: SocketAddr,
}

type Shared = (Arc<Mutex<Inner>>, Arc<Notify>);

impl FakeBotApi {
    pub async fn start(token: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner { token: token.into(), next_update_id: 100, next_message_id: 1000, ..Inner::default() }));
        let arrived = Arc::new(Notify::new());
        let app = Router::new()
            .route("/{bot}/{method}", post(call))
            .route("/file/{bot}/{*path}", get(download))
            .with_state((inner.clone(), arrived.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Bot API");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { inner, arrived, addr }
    }

    /// What a tenant puts in `api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an update (given without `update_id`) for `getUpdates`; returns the full update.
    pub fn push_update(&self, kind: &str, message: Value) -> Value {
        let update = {
            let mut inner = self.lock();
            inner.next_update_id += 1;
            let update = json!({"update_id": inner.next_update_id, kind: message});
            inner.updates.push(update.clone());
            update
        };
        self.arrived.notify_waiters();
        update
    }

    /// Every call the bot made, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The calls to one method (lower-case, e.g. `sendmessage`).
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// Waits until there are at least `n` calls to `method`.
    pub async fn wait_for_calls(&self, method: &str, n: usize, timeout: Duration) -> Vec<Call> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let calls = self.calls_to(method);
            if calls.len() >= n || tokio::time::Instant::now() >= deadline {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The `offset` of every `getUpdates` call, in order.
    pub fn offsets(&self) -> Vec<i64> {
        self.lock().offsets.clone()
    }

    /// The registered webhook: (url, secret token).
    pub fn webhook(&self) -> Option<(String, String)> {
        self.lock().webhook.clone()
    }

    /// The next sends answer these errors, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = ScriptedError>) {
        self.lock().script.extend(errors);
    }

    /// Keeps a file the bot can fetch by `file_id`.
    pub fn add_file(&self, file_id: &str, path: &str, data: &[u8]) {
        self.lock().files.insert(file_id.to_owned(), (path.to_owned(), data.to_vec()));
    }
}

fn ok(result: Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], json!({"ok": true, "result": result}).to_string()).into_response()
}

fn error(code: u16, description: &str, retry_after: Option<u32>) -> Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(seconds) = retry_after {
        body["parameters"] = json!({"retry_after": seconds});
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn param(body: &str, name: &str) -> Option<Value> {
    serde_json::from_str::<Value>(body).ok().and_then(|v| v.get(name).cloned())
}

fn sent_message(inner: &mut Inner, chat_id: &Value, extra: Value) -> Value {
    inner.next_message_id += 1;
    let chat_id = chat_id.as_i64().or_else(|| chat_id.as_str().and_then(|s| s.parse().ok())).unwrap_or_default();
    let mut message = json!({"message_id": inner.next_message_id, "date": 1_700_000_000, "chat": {"id": chat_id, "type": "private", "first_name": "Customer"}});
    if let (Some(map), Some(extra)) = (message.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    message
}

async fn call(State((inner, arrived)): State<Shared>, Path((bot, method)): Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Response {
    let method = method.to_ascii_lowercase();
    let body = String::from_utf8_lossy(&body).into_owned();
    let _ = headers;
    {
        let inner = inner.lock().unwrap_or_else(|e| e.into_inner());
        if bot.strip_prefix("bot") != Some(inner.token.as_str()) {
            return error(401, "Unauthorized", None);
        }
    }
    if method == "getupdates" {
        let offset = param(&body, "offset").and_then(|v| v.as_i64()).unwrap_or(0);
        let timeout = param(&body, "timeout").and_then(|v| v.as_u64()).unwrap_or(0).min(2);
        {
            let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.webhook.is_some() {
                return error(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", None);
            }
            inner.offsets.push(offset);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        loop {
            let waiting = arrived.notified();
            let due: Vec<Value> = {
                let inner = inner.lock().unwrap_or_else(|e| e.into_inner());
                inner.updates.iter().filter(|u| u["update_id"].as_i64().unwrap_or_default() >= offset).cloned().collect()
            };
            if !due.is_empty() || tokio::time::Instant::now() >= deadline {
                return ok(Value::Array(due));
            }
            let _ = tokio::time::timeout_at(deadline, waiting).await;
        }
    }
    let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.calls.push(Call { method: method.clone(), body: body.clone() });
    let call = inner.calls.last().cloned().expect("just pushed");
    match method.as_str() {
        "getme" => ok(json!({"id": 1, "is_bot": true, "first_name": "Shop", "username": "shop_bot", "can_join_groups": true,
            "can_read_all_group_messages": false, "supports_inline_queries": false, "can_connect_to_business": false, "has_main_web_app": false})),
        "setwebhook" => {
            let url = call.field("url").unwrap_or_default();
            let secret = call.field("secret_token").unwrap_or_default();
            inner.webhook = Some((url, secret));
            ok(json!(true))
        }
        "deletewebhook" => {
            inner.webhook = None;
            ok(json!(true))
        }
        "sendmessage" | "sendphoto" | "senddocument" => {
            if let Some(scripted) = inner.script.pop_front() {
                inner.calls.pop();
                return error(scripted.code, &scripted.description, scripted.retry_after);
            }
            let chat_id = call.field("chat_id").map(Value::from).unwrap_or(Value::Null);
            let extra = match method.as_str() {
                "sendmessage" => json!({"text": call.field("text").unwrap_or_default()}),
                "sendphoto" => json!({"photo": [{"file_id": "sent-photo", "file_unique_id": "sp", "width": 1, "height": 1}]}),
                _ => json!({"document": {"file_id": "sent-doc", "file_unique_id": "sd"}}),
            };
            let message = sent_message(&mut inner, &chat_id, extra);
            ok(message)
        }
        "getfile" => {
            let file_id = call.field("file_id").unwrap_or_default();
            match inner.files.get(&file_id) {
                Some((path, data)) => ok(json!({"file_id": file_id, "file_unique_id": format!("u{file_id}"), "file_size": data.len(), "file_path": path})),
                None => error(400, "Bad Request: invalid file_id", None),
            }
        }
        _ => error(404, "Not Found: method not found", None),
    }
}

async fn download(State((inner, _)): State<Shared>, Path((bot, path)): Path<(String, String)>) -> Response {
    let inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    if bot.strip_prefix("bot") != Some(inner.token.as_str()) {
        return error(401, "Unauthorized", None);
    }
    match inner.files.values().find(|(p, _)| *p == path) {
        Some((_, data)) => (StatusCode::OK, data.clone()).into_response(),
        None => error(404, "Not Found", None),
    }
}
