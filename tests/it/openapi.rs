//! The OpenAPI document describes what the router serves.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let res = app.http.get(format!("{}/openapi.json", app.base)).send().await.expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000").replace("{channel_id}", "00000000-0000-0000-0000-000000000000");
        for method in ops.as_object().expect("ops").keys().filter(|m| *m != "parameters") {
            let res = app.http.request(method.to_uppercase().parse().expect("method"), format!("{}{concrete}", app.base)).send().await.expect("request");
            // Unauthenticated or empty calls are refused, but never as "no such route" or
            // "method not allowed".
            let body: Value = res.json().await.unwrap_or(Value::Null);
            assert_ne!(body["detail"], "no such route", "{method} {path} is documented but not served");
            assert_ne!(body["code"], "method_not_allowed", "{method} {path} is documented but not served");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_endpoints_answer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, health) = app.call(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(health["status"], "ok");
    let (status, ready) = app.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["database"], "sqlite");
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("omnibridge_http_requests_total"), "{metrics}");
    // The widget calls the hub from the tenant's site: preflights succeed and answers carry CORS.
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/widget/v1/messages", app.base))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(preflight.headers()["access-control-allow-headers"].to_str().expect("ascii").contains("authorization"));
    let js = app.http.get(format!("{}/widget.js", app.base)).send().await.expect("widget.js");
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.text().await.expect("text").contains("/widget/v1"));
}

/// The description as the code produces it is committed (`docs/openapi.json`), so API changes
/// show in reviews: regenerate it with `OMNIBRIDGE_UPDATE_OPENAPI=1` and commit the result.
#[test]
fn the_committed_description_is_what_the_code_produces() {
    let produced = serde_json::to_string_pretty(omnibridge::api::openapi_document()).expect("json") + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    if std::env::var_os("OMNIBRIDGE_UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &produced).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == produced,
        "docs/openapi.json differs from what the code produces; run \
         OMNIBRIDGE_UPDATE_OPENAPI=1 cargo nextest run -E 'test(the_committed_description_is_what_the_code_produces)' and commit it"
    );
}

/// The description is valid OpenAPI 3.1, by the `openapi-spec-validator` package.
#[test]
fn the_description_passes_the_openapi_validator() {
    let python = std::env::var("OMNIBRIDGE_TEST_PYTHON").expect("OMNIBRIDGE_TEST_PYTHON (scripts/test sets it)");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(omnibridge::api::openapi_document()).expect("json")).expect("write");
    let out = std::process::Command::new(python).args(["-m", "openapi_spec_validator"]).arg(&file).output().expect("run openapi-spec-validator");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// Two types described under one name would make one of them describe the other's answers:
/// utoipa keeps the last schema registered under a name. Every type deriving `ToSchema` in the
/// hub and its adapters has a name of its own (its own, or the one `#[schema(as = …)]` gives).
#[test]
fn no_two_described_types_share_a_name() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut files = Vec::new();
    for dir in ["src", "adapters"] {
        collect_rust_files(&std::path::Path::new(root).join(dir), &mut files);
    }
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut clashes = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("source");
        let mut rest = source.as_str();
        while let Some(at) = rest.find("ToSchema") {
            rest = &rest[at + "ToSchema".len()..];
            // Only derives: the attributes up to the item, then its name.
            let Some(close) = rest.find(")]") else { break };
            if rest[..close].contains('(') || !rest[..close].chars().all(|c| c.is_alphanumeric() || ", :_".contains(c)) {
                continue;
            }
            let Some(item) = ["struct ", "enum "].iter().filter_map(|k| rest.find(k).map(|i| (i, k.len()))).min() else { break };
            let attributes = &rest[..item.0];
            let name: String = rest[item.0 + item.1..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let name = attributes
                .split("schema(as = ")
                .nth(1)
                .map(|s| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect::<String>())
                .map(|s| s.rsplit("::").next().unwrap_or_default().to_owned())
                .unwrap_or(name);
            let place = format!("{}", file.display());
            if let Some(first) = seen.insert(name.clone(), place.clone()) {
                clashes.push(format!("{name}: {first} and {place}"));
            }
        }
    }
    assert!(seen.len() > 100, "the scan found the described types ({} found)", seen.len());
    assert!(clashes.is_empty(), "described under one name:\n{}", clashes.join("\n"));
}

fn collect_rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            if !path.ends_with("target") {
                collect_rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A plain HTTP request on a websocket route is told to upgrade (426, problem JSON, `Upgrade:
/// websocket`) once its credential holds; without one it is refused first (401).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_request_on_a_websocket_route_is_told_to_upgrade() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, key) = app.create_tenant("Sockets");
    let plain = app.http.get(format!("{}/v1/realtime", app.base)).bearer_auth(&key).send().await.expect("request");
    assert_eq!(plain.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(plain.headers()["upgrade"], "websocket");
    assert!(plain.headers()["content-type"].to_str().expect("ascii").starts_with("application/problem+json"));
    let problem: Value = plain.json().await.expect("problem");
    assert_eq!(problem["code"], "upgrade_required");
    for path in ["/v1/realtime", "/widget/v1/ws"] {
        let anonymous = app.http.get(format!("{}{path}", app.base)).send().await.expect("request");
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // A visitor's socket with `after` given empty is refused, naming it, before anything else.
    let chat = app.webchat_channel(&key).await;
    let (token, _) = app.visitor(&chat, serde_json::json!({})).await;
    let empty = app.http.get(format!("{}/widget/v1/ws?after=", app.base)).bearer_auth(&token).send().await.expect("request");
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.json::<Value>().await.expect("problem")["field"], "after");
}

/// A described field whose parts must all hold (`allOf`) can hold only if the parts agree on its
/// type: a documented enum field once came out as "a string and an object", which no value is,
/// so generated clients could neither send nor read it.
#[test]
fn no_schema_asks_for_two_types_at_once() {
    let doc = omnibridge::api::openapi_document();
    let doc = serde_json::to_value(doc).expect("json");
    let mut found = Vec::new();
    contradictions(&doc, &doc, "#", &mut found);
    assert!(found.is_empty(), "allOf with parts of different types: {found:#?}");
}

fn contradictions(doc: &Value, here: &Value, at: &str, found: &mut Vec<String>) {
    match here {
        Value::Object(map) => {
            if let Some(Value::Array(parts)) = map.get("allOf") {
                let types: Vec<Vec<String>> = parts.iter().filter_map(|p| types_of(doc, p)).collect();
                let agreed = types.iter().fold(None::<Vec<String>>, |acc, t| {
                    Some(match acc {
                        None => t.clone(),
                        Some(a) => a.into_iter().filter(|x| t.contains(x) || (x == "integer" && t.contains(&"number".to_owned()))).collect(),
                    })
                });
                if agreed.is_some_and(|a| a.is_empty()) {
                    found.push(format!("{at}: {types:?}"));
                }
            }
            for (key, value) in map {
                contradictions(doc, value, &format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| contradictions(doc, v, &format!("{at}/{i}"), found)),
        _ => {}
    }
}

/// The types a schema allows (following a `$ref` into the components), or None for any.
fn types_of(doc: &Value, schema: &Value) -> Option<Vec<String>> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return types_of(doc, &doc["components"]["schemas"][name]);
    }
    match &schema["type"] {
        Value::String(t) => Some(vec![t.clone()]),
        Value::Array(ts) => Some(ts.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect()),
        _ => None,
    }
}
