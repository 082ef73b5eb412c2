//! A webhook receiver on 127.0.0.1 that records every request as received (raw body bytes and
//! headers) and answers from a script, plus verification with the official Python library.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// Answers only after this long (longer than the hub's timeout: a timeout).
    Hang(Duration),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook bodies are JSON")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or_default()
    }
}

#[derive(Default)]
struct Inner {
    requests: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    /// Answer once the script is used up.
    fallback: Mutex<Option<u16>>,
    arrived: Notify,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new().fallback(receive).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// Replies for the next requests, in order; 200 (or the fallback) after that.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.script.lock().expect("lock").extend(replies);
    }

    pub fn answer_from_now_on(&self, status: u16) {
        *self.inner.fallback.lock().expect("lock") = Some(status);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.inner.requests.lock().expect("lock").clone()
    }

    /// Requests of one event type.
    pub fn of_type(&self, event_type: &str) -> Vec<Received> {
        self.requests().into_iter().filter(|r| r.json()["type"] == event_type).collect()
    }

    /// Waits until `done` holds for the requests so far; panics after `within`.
    pub async fn wait_until(&self, within: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.inner.arrived.notified();
            let requests = self.requests();
            if done(&requests) {
                return requests;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the receiver did not get what was expected within {within:?}; it got {} requests", requests.len());
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let headers = headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned())).collect();
    inner.requests.lock().expect("lock").push(Received { headers, body: body.to_vec(), at: Instant::now() });
    inner.arrived.notify_waiters();
    let reply = inner.script.lock().expect("lock").pop_front();
    let fallback = inner.fallback.lock().expect("lock").unwrap_or(200);
    match reply {
        Some(Reply::Status(code)) => status(code),
        Some(Reply::Hang(duration)) => {
            tokio::time::sleep(duration).await;
            status(200)
        }
        None => status(fallback),
    }
}

fn status(code: u16) -> Response {
    (StatusCode::from_u16(code).unwrap_or(StatusCode::OK), format!("answered {code}")).into_response()
}

/// Verifies a captured request with the official `standardwebhooks` Python package, the way an
/// integration would; Ok(event type) or Err(the library's complaint).
pub fn verify_with_official_library(secret: &str, request: &Received) -> Result<String, String> {
    use base64::Engine;
    use std::io::Write;
    let python = std::env::var("OMNIBRIDGE_TEST_PYTHON").expect(
        "OMNIBRIDGE_TEST_PYTHON must name a Python with the standardwebhooks package; scripts/test sets it up",
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/verify_webhook.py");
    let input = json!({
        "secret": secret,
        "body": base64::engine::general_purpose::STANDARD.encode(&request.body),
        "headers": request.headers,
    });
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the Python verifier");
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("write");
    let out = child.wait_with_output().expect("verifier output");
    let verdict: Value = serde_json::from_slice(&out.stdout).expect("the verifier prints JSON");
    if verdict["ok"] == true {
        Ok(verdict["type"].as_str().unwrap_or_default().to_owned())
    } else {
        Err(verdict["error"].as_str().unwrap_or_default().to_owned())
    }
}
