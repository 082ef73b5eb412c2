//! Abuse from the open internet: floods get 429 and the hub stays up for everyone else; huge
//! bodies get 413; a client that trickles its headers is cut off; guessing passwords locks the
//! account.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_widget_sessions_from_one_address_is_limited_and_others_are_served() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.limits.widget_sessions_per_ip_per_minute = 60).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let started = Instant::now();
    let attempts = (0..200).map(|i| {
        let (http, url) = (app.http.clone(), format!("{}/widget/v1/channels/{channel}/sessions", app.base));
        async move { http.post(url).json(&json!({"name": format!("Bot {i}")})).send().await.expect("request") }
    });
    let responses = futures_util::future::join_all(attempts).await;
    let flood = started.elapsed();
    let created = responses.iter().filter(|r| r.status() == StatusCode::CREATED).count();
    let limited: Vec<&reqwest::Response> = responses.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(created + limited.len(), 200, "every request is answered, created or limited");
    assert!((60..=70).contains(&created), "about a minute's worth gets through: {created} (in {flood:?})");
    assert!(limited.iter().all(|r| r.headers().get("retry-after").is_some()), "each 429 says when to come back");
    let problem: Value = responses.into_iter().find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).expect("a 429").json().await.expect("problem");
    assert_eq!((problem["code"].as_str(), problem["limit"].as_str()), (Some("rate_limited"), Some("widget_sessions_per_ip")), "{problem}");

    // Everyone else is still served, at once.
    let started = Instant::now();
    let health = app.http.get(format!("{}/healthz", app.base)).send().await.expect("healthz");
    let (status, _) = app.get("/v1/conversations", &admin).await;
    assert_eq!((health.status(), status), (StatusCode::OK, StatusCode::OK));
    assert!(started.elapsed() < Duration::from_secs(2), "answered in {:?}", started.elapsed());
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.lines().any(|l| l.starts_with("omnibridge_rate_limited_total") && l.contains("limit=\"widget_sessions_per_ip\"")), "limits show in /metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_mebibyte_body_is_refused_with_413() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, admin) = app.create_tenant("Shop");
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(10 * 1024 * 1024));
    let response = app
        .http
        .post(format!("{}/v1/contacts", app.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let problem: Value = response.json().await.expect("problem");
    assert_eq!(problem["code"], "body_too_large");
    // Nothing was taken, and the hub is fine.
    let (status, contacts) = app.get("/v1/contacts", &admin).await;
    assert_eq!((status, contacts["data"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    let health = app.http.get(format!("{}/healthz", app.base)).send().await.expect("healthz");
    assert_eq!(health.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_cut_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.http.header_read_timeout_secs = 1).await;
    let mut slow = tokio::net::TcpStream::connect(app.config.listen.as_str()).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n").await.expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 256];
    // One more header line, slowly, a byte at a time: the deadline is for all of them.
    let cut = tokio::time::timeout(Duration::from_secs(6), async {
        for b in b"X-Slow: 1" {
            if slow.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let _ = slow.read(&mut buf).await;
    })
    .await;
    assert!(cut.is_ok(), "the connection was closed by the hub");
    assert!(started.elapsed() < Duration::from_secs(5), "cut off in {:?}", started.elapsed());
    let health = app.http.get(format!("{}/healthz", app.base)).send().await.expect("healthz");
    assert_eq!(health.status(), StatusCode::OK, "others are served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_a_password_locks_the_account() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.limits.sign_in_failures_per_account = 3).await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, _) = app.post("/v1/operators", &admin, json!({"name": "Olga", "email": "olga@shop.example", "role": "admin", "password": "the right passphrase"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let login = |password: &'static str| app.call(reqwest::Method::POST, "/v1/auth/login", None, Some(json!({"email": "olga@shop.example", "password": password})));
    for _ in 0..3 {
        assert_eq!(login("a wrong guess!!").await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, problem) = login("the right passphrase").await;
    assert_eq!((status, problem["limit"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("sign_in_failures_per_account")), "{problem}");
}
