//! A local fake of Twilio's REST API for tests, speaking its documented wire format: Basic auth,
//! form bodies, the Message resource and error documents. It keeps Twilio's own opt-out rule: a
//! number that opted out gets error 21610.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::json;

/// One request to the Messages API.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// The `Authorization` header as sent.
    pub authorization: String,
    pub form: Vec<(String, String)>,
}

impl SentMessage {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A scripted answer for the next send.
#[derive(Debug, Clone)]
pub struct ScriptedError {
    pub status: u16,
    pub code: i64,
    pub message: String,
}

#[derive(Default)]
struct Inner {
    account_sid: String,
    auth_token: String,
    sent: Vec<SentMessage>,
    script: VecDeque<ScriptedError>,
    opted_out: HashSet<String>,
    media: Vec<(String, Vec<u8>)>,
    next_sid: u64,
    /// Messages taken, as the list endpoint shows them (newest last here).
    taken: Vec<serde_json::Value>,
    /// Takes a message, then answers only after this long (a send whose answer gets lost).
    hold_answers: Option<Duration>,
}

#[derive(Clone)]
pub struct FakeTwilio {
    inner: Arc<Mutex<Inner>>,
    pub addr: SocketAddr,
}

impl FakeTwilio {
    /// Starts the fake on a random local port for this account.
    pub async fn start(account_sid: &str, auth_token: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner { account_sid: account_sid.into(), auth_token: auth_token.into(), ..Inner::default() }));
        let app = Router::new()
            .route("/2010-04-01/Accounts/{account}/Messages.json", post(create_message).get(list_messages))
            .route("/2010-04-01/Accounts/{account_json}", get(account))
            .route("/2010-04-01/Accounts/{account}/Messages/{message}/Media/{media}", get(media))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Twilio");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { inner, addr }
    }

    /// What a tenant puts in `api_base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// Waits until at least `n` messages were sent; all of them.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let sent = self.sent();
            if sent.len() >= n || tokio::time::Instant::now() >= deadline {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The next sends answer these errors, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = ScriptedError>) {
        self.lock().script.extend(errors);
    }

    /// From now on every send is taken (and listed) at once, but answered only after `delay`:
    /// a hub killed meanwhile never learns that it went.
    pub fn hold_answers(&self, delay: Duration) {
        self.lock().hold_answers = Some(delay);
    }

    /// The number replied STOP: Twilio refuses sends to it with 21610 from now on.
    pub fn opt_out(&self, number: &str) {
        self.lock().opted_out.insert(number.to_owned());
    }

    /// Keeps a media item and returns its Twilio-style URL.
    pub fn add_media(&self, content_type: &str, data: &[u8]) -> String {
        let mut inner = self.lock();
        inner.media.push((content_type.to_owned(), data.to_vec()));
        let index = inner.media.len() - 1;
        format!("{}/2010-04-01/Accounts/{}/Messages/MM{index:032}/Media/ME{index:032}", self.base_url(), inner.account_sid)
    }
}

fn error(status: u16, code: i64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16()});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn authorized(inner: &Inner, headers: &HeaderMap, account: &str) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", inner.account_sid, inner.auth_token))
    );
    account == inner.account_sid && headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

async fn create_message(State(shared): State<Arc<Mutex<Inner>>>, Path(account): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let (response, hold) = {
        let mut inner = shared.lock().unwrap_or_else(|e| e.into_inner());
        (take_message(&mut inner, &account, &headers, &body), inner.hold_answers)
    };
    if let Some(delay) = hold {
        tokio::time::sleep(delay).await;
    }
    response
}

/// `GET …/Messages.json?To=&From=&PageSize=`: the newest messages first, in Twilio's page shape.
async fn list_messages(
    State(shared): State<Arc<Mutex<Inner>>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let inner = shared.lock().unwrap_or_else(|e| e.into_inner());
    if !authorized(&inner, &headers, &account) {
        return error(401, 20003, "Authenticate");
    }
    let size = query.get("PageSize").and_then(|s| s.parse::<usize>().ok()).unwrap_or(50).min(1000);
    let matches = |m: &&serde_json::Value, key: &str, field: &str| query.get(key).is_none_or(|want| m[field].as_str() == Some(want.as_str()));
    let messages: Vec<&serde_json::Value> = inner.taken.iter().rev().filter(|m| matches(m, "To", "to") && matches(m, "From", "from")).take(size).collect();
    let body = json!({"messages": messages, "page": 0, "page_size": size, "next_page_uri": null});
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn take_message(inner: &mut Inner, account: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    if !authorized(inner, headers, account) {
        return error(401, 20003, "Authenticate");
    }
    let form = crate::webhook::parse_form(body);
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let to = field("To").unwrap_or_default();
    if let Some(scripted) = inner.script.pop_front() {
        return error(scripted.status, scripted.code, &scripted.message);
    }
    if to.is_empty() {
        return error(400, 21604, "A 'To' phone number is required.");
    }
    if field("From").is_none() && field("MessagingServiceSid").is_none() {
        return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message");
    }
    if field("Body").map(|b| b.chars().count()).unwrap_or(0) > 1600 {
        return error(400, 21617, "The concatenated message body exceeds the 1600 character limit.");
    }
    if inner.opted_out.contains(&to) {
        return error(400, 21610, "Attempt to send to unsubscribed recipient");
    }
    inner.next_sid += 1;
    let sid = format!("SM{:032x}", inner.next_sid);
    let body_text = field("Body").unwrap_or_default();
    inner.sent.push(SentMessage { authorization, form: form.clone() });
    let resource = json!({
        "sid": sid, "account_sid": inner.account_sid, "to": to, "from": field("From"),
        "messaging_service_sid": field("MessagingServiceSid"), "body": body_text, "status": "queued",
        "num_segments": "1", "direction": "outbound-api", "error_code": null, "error_message": null,
        "uri": format!("/2010-04-01/Accounts/{}/Messages/{sid}.json", inner.account_sid),
    });
    inner.taken.push(resource.clone());
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], resource.to_string()).into_response()
}

async fn account(State(inner): State<Arc<Mutex<Inner>>>, Path(account_json): Path<String>, headers: HeaderMap) -> Response {
    let inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    let account = account_json.strip_suffix(".json").unwrap_or_default();
    if !authorized(&inner, &headers, account) {
        return error(401, 20003, "Authenticate");
    }
    let body = json!({"sid": inner.account_sid, "status": "active", "type": "Full"});
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn media(State(inner): State<Arc<Mutex<Inner>>>, Path((account, _message, media)): Path<(String, String, String)>, headers: HeaderMap) -> Response {
    let inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    if !authorized(&inner, &headers, &account) {
        return error(401, 20003, "Authenticate");
    }
    let index = media.strip_prefix("ME").and_then(|n| n.parse::<usize>().ok());
    match index.and_then(|i| inner.media.get(i)) {
        Some((content_type, data)) => (StatusCode::OK, [(header::CONTENT_TYPE, content_type.clone())], data.clone()).into_response(),
        None => error(404, 20404, "The requested resource was not found"),
    }
}
