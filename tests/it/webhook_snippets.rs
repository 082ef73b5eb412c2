//! The README's webhook verification snippets (Python, Node.js, Rust, each with the official
//! Standard Webhooks library), run as written against real deliveries from a hub — one of them
//! the "send test event" delivery — and against a forged one.

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::receiver::{Receiver, Received};

#[path = "../support/verify_webhook_snippet.rs"]
mod verify_webhook_snippet;

const WAIT: Duration = Duration::from_secs(20);

/// The code block that follows `<!-- snippet: NAME` in the README.
fn snippet(name: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let start = readme.find(&format!("<!-- snippet: {name}")).unwrap_or_else(|| panic!("the README has no snippet {name}"));
    let rest = &readme[start..];
    let open = rest.find("```").expect("a code block");
    let body = &rest[open..];
    let first_line_end = body.find('\n').expect("fence line");
    let close = body[first_line_end..].find("\n```").expect("the block ends");
    body[first_line_end + 1..first_line_end + close + 1].to_owned()
}

/// Runs a snippet with a driver that reads {secret, body (base64), headers} on stdin and prints
/// {"ok": true, "type": …} or {"ok": false, "error": …}.
fn run(program: &str, envs: &[(&str, String)], source: &str, file: &std::path::Path, secret: &str, request: &Received, body: &[u8]) -> Value {
    std::fs::write(file, source).expect("write");
    let input = json!({"secret": secret, "body": base64::engine::general_purpose::STANDARD.encode(body), "headers": request.headers});
    let mut child = std::process::Command::new(program)
        .arg(file)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("write");
    let out = child.wait_with_output().expect("output");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{program} printed {:?}, stderr {:?}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn python(secret: &str, request: &Received, body: &[u8], dir: &std::path::Path) -> Value {
    let source = format!(
        "{}\nimport base64, json, sys\nreq = json.load(sys.stdin)\ntry:\n    event = verified_event(req['secret'], base64.b64decode(req['body']), req['headers'])\n    print(json.dumps({{'ok': True, 'type': event['type']}}))\nexcept Exception as e:\n    print(json.dumps({{'ok': False, 'error': repr(e)}}))\n",
        snippet("verify-webhook-python")
    );
    let python = std::env::var("OMNIBRIDGE_TEST_PYTHON").expect("OMNIBRIDGE_TEST_PYTHON (scripts/test sets it)");
    run(&python, &[], &source, &dir.join("verify.py"), secret, request, body)
}

fn node(secret: &str, request: &Received, body: &[u8], dir: &std::path::Path) -> Value {
    let source = format!(
        "{}\nlet input = '';\nprocess.stdin.on('data', (c) => (input += c));\nprocess.stdin.on('end', () => {{\n  const req = JSON.parse(input);\n  try {{\n    const event = verifiedEvent(req.secret, Buffer.from(req.body, 'base64').toString('utf8'), req.headers);\n    console.log(JSON.stringify({{ ok: true, type: event.type }}));\n  }} catch (e) {{\n    console.log(JSON.stringify({{ ok: false, error: String(e) }}));\n  }}\n}});\n",
        snippet("verify-webhook-node")
    );
    let node_path = std::env::var("OMNIBRIDGE_TEST_NODE_PATH").expect("OMNIBRIDGE_TEST_NODE_PATH (scripts/test sets it)");
    run("node", &[("NODE_PATH", node_path)], &source, &dir.join("verify.js"), secret, request, body)
}

fn rust(secret: &str, request: &Received, body: &[u8]) -> Value {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &request.headers {
        if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(name.as_str()), http::HeaderValue::try_from(value.as_str())) {
            headers.insert(name, value);
        }
    }
    match verify_webhook_snippet::verified_event(secret, body, &headers) {
        Ok(event) => json!({"ok": true, "type": event["type"]}),
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_snippets_verify_real_deliveries_and_refuse_forged_ones() {
    // The Rust snippet in the README is the module compiled here.
    let compiled = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/verify_webhook_snippet.rs")).expect("source");
    assert_eq!(snippet("verify-webhook-rust"), compiled, "the README's Rust snippet is tests/support/verify_webhook_snippet.rs");

    let receiver = Receiver::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, admin) = app.create_tenant("Snippets");
    let (status, endpoint) = app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "country": "DE", "event_types": ["message.received"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let (id, secret) = (endpoint["id"].as_str().expect("id").to_owned(), endpoint["secret"].as_str().expect("secret").to_owned());

    // "Send test event": a delivery of webhook.test, although the endpoint subscribed to
    // message.received only; followed like any delivery.
    let (status, test) = app.post(&format!("/v1/webhooks/endpoints/{id}/test"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{test}");
    assert_eq!(test["event_type"], "webhook.test");
    let channel = app.webchat_channel(&admin).await;
    let (visitor, _) = app.visitor(&channel, json!({"name": "Hook"})).await;
    app.visitor_says(&visitor, json!({"text": "Hello, webhook"})).await;
    let requests = receiver
        .wait_until(WAIT, |r| r.iter().any(|d| d.json()["type"] == "webhook.test") && r.iter().any(|d| d.json()["type"] == "message.received"))
        .await;
    app.wait_for(&admin, &format!("/v1/webhooks/deliveries/{}", test["id"].as_str().expect("id")), |d| d["status"] == "delivered").await;

    let dir = tempfile::tempdir().expect("dir");
    for request in &requests {
        let kind = request.json()["type"].as_str().expect("type").to_owned();
        for (language, verdict) in [
            ("python", python(&secret, request, &request.body, dir.path())),
            ("node", node(&secret, request, &request.body, dir.path())),
            ("rust", rust(&secret, request, &request.body)),
        ] {
            assert_eq!(verdict, json!({"ok": true, "type": kind}), "{language} verifies a real {kind} delivery");
        }
        // One byte changed: every snippet refuses it.
        let mut forged = request.body.clone();
        let at = forged.iter().position(|b| *b == b'"').expect("a quote");
        forged.insert(at + 1, b'x');
        for (language, verdict) in [
            ("python", python(&secret, request, &forged, dir.path())),
            ("node", node(&secret, request, &forged, dir.path())),
            ("rust", rust(&secret, request, &forged)),
        ] {
            assert_eq!(verdict["ok"], false, "{language} accepted a forged {kind} delivery: {verdict}");
        }
        // Nor does another endpoint's secret open it.
        assert_eq!(rust("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", request, &request.body)["ok"], false);
    }
}
