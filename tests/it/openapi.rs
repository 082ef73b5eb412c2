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
