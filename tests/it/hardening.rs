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

/// Sends only the head of a POST announcing a `length`-byte JSON body; returns what the hub
/// answers.
async fn announce_body(app: &TestApp, path: &str, bearer: &str, length: usize) -> String {
    let mut stream = tokio::net::TcpStream::connect(app.config.listen.as_str()).await.expect("connect");
    let head = format!("POST {path} HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {bearer}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{\"text\": \"");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&answer).contains('}') {
                break;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_mebibyte_body_is_refused_with_413() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, admin) = app.create_tenant("Shop");
    // A 10 MiB body is announced; the hub answers before taking it (raw HTTP, so the client
    // does not race the hub's early answer with its upload).
    let answer = announce_body(&app, "/v1/contacts", &admin, 10 * 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let problem: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    assert_eq!(problem["code"], "body_too_large");
    // Nothing was taken, and the hub is fine.
    let (status, contacts) = app.get("/v1/contacts", &admin).await;
    assert_eq!((status, contacts["data"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    let health = app.http.get(format!("{}/healthz", app.base)).send().await.expect("healthz");
    assert_eq!(health.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    // The widget API takes much less: a visitor's 100 KiB "message" is refused.
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({})).await;
    let answer = announce_body(&app, "/widget/v1/messages", &token, 100 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
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
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.limits.sign_in_failures_per_account_and_ip = 3).await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, _) = app.post("/v1/operators", &admin, json!({"name": "Olga", "email": "olga@shop.example", "role": "admin", "password": "the right passphrase"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let login = |password: &'static str| app.call(reqwest::Method::POST, "/v1/auth/login", None, Some(json!({"email": "olga@shop.example", "password": password})));
    for _ in 0..3 {
        assert_eq!(login("a wrong guess!!").await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, problem) = login("the right passphrase").await;
    assert_eq!((status, problem["limit"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("sign_in_failures_per_account_and_ip")), "{problem}");
}

/// Values no log line may carry: they are personal data.
const NAME: &str = "Zebulon Quixotic";
const EMAIL: &str = "zq7731@example.org";
const PHONE: &str = "+4915112345678";
const TEXT: &str = "parcel 55XJ-QQ-9917 never came";
const REPLY: &str = "refund 88-LLAMA-21 is on its way";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_personal_data_reaches_the_logs_at_debug_level() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let receiver = crate::receiver::Receiver::start().await;
    let (_, admin) = app.create_tenant("Shop");
    app.stop_server().await;
    let log = app.dir.path().join("hub.log");
    let hub = crate::helpers::ChildHub::start_logging(&app, crate::helpers::free_port(), "debug", Some(&log)).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, key: String, body: Value| {
        let (http, base) = (http.clone(), hub.base.clone());
        async move {
            let res = http.request(method, format!("{base}{path}")).bearer_auth(key).json(&body).send().await.expect("request");
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let post = reqwest::Method::POST;
    let (_, channel) = call(post.clone(), "/v1/channels".into(), admin.clone(), json!({"kind": "webchat", "name": "Site"})).await;
    let channel = channel["id"].as_str().expect("channel").to_owned();
    let (status, _) = call(post.clone(), "/v1/webhooks/endpoints".into(), admin.clone(), json!({"url": receiver.url, "country": "DE", "event_types": ["message.received", "contact.created"]})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, session) = call(post.clone(), format!("/widget/v1/channels/{channel}/sessions"), String::new(), json!({"name": NAME, "email": EMAIL})).await;
    let visitor = session["visitor_token"].as_str().expect("token").to_owned();
    let (status, said) = call(post.clone(), "/widget/v1/messages".into(), visitor.clone(), json!({"text": TEXT})).await;
    assert_eq!(status, StatusCode::CREATED, "{said}");
    let conversation = said["conversation_id"].as_str().expect("conversation").to_owned();
    let (status, _) = call(post.clone(), format!("/v1/conversations/{conversation}/messages"), admin.clone(), json!({"text": REPLY})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(post.clone(), "/v1/contacts".into(), admin.clone(), json!({"name": NAME, "phone": PHONE, "email": EMAIL})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(post.clone(), "/v1/privacy/requests".into(), admin.clone(), json!({"type": "access", "address": {"kind": "phone", "value": PHONE}})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Refusals and bad input, which tend to quote what they refuse.
    call(post.clone(), "/v1/contacts".into(), admin.clone(), json!({"name": NAME, "email": format!("not-an-address {EMAIL}")})).await;
    call(post.clone(), "/v1/auth/login".into(), String::new(), json!({"email": EMAIL, "password": "wrong password!!"})).await;
    receiver.wait_until(Duration::from_secs(20), |r| r.iter().filter(|x| x.json()["type"] == "message.received").count() >= 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(hub);

    let logged = std::fs::read_to_string(&log).expect("the log");
    assert!(logged.lines().count() > 50, "the hub logged at debug level ({} lines)", logged.lines().count());
    for value in [NAME, EMAIL, PHONE, TEXT, REPLY, "Zebulon", "zq7731", "4915112345678", "55XJ-QQ", "88-LLAMA"] {
        let hits: Vec<&str> = logged.lines().filter(|l| l.contains(value)).take(3).collect();
        assert!(hits.is_empty(), "{value:?} appears in the logs:\n{}", hits.join("\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_widget_answers_only_the_sites_its_channel_allows() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, channel) = app.post("/v1/channels", &admin, json!({"kind": "webchat", "name": "Site", "settings": {"allowed_origins": ["https://shop.example"]}})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let channel = channel["id"].as_str().expect("id").to_owned();
    let session = |origin: &'static str| {
        app.http.post(format!("{}/widget/v1/channels/{channel}/sessions", app.base)).header("origin", origin).json(&json!({"name": "Ana"})).send()
    };
    let refused = session("https://evil.example").await.expect("request");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.headers().get("access-control-allow-origin").is_none(), "the browser gets nothing to read");
    assert_eq!(refused.json::<Value>().await.expect("problem")["code"], "origin_not_allowed");
    let opened = session("https://shop.example").await.expect("request");
    assert_eq!(opened.status(), StatusCode::CREATED);
    assert_eq!(opened.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("https://shop.example"));
    let token = opened.json::<Value>().await.expect("json")["visitor_token"].as_str().expect("token").to_owned();
    let say = |origin: &'static str| {
        app.http.post(format!("{}/widget/v1/messages", app.base)).bearer_auth(&token).header("origin", origin).json(&json!({"text": "hello"})).send()
    };
    assert_eq!(say("https://evil.example").await.expect("request").status(), StatusCode::FORBIDDEN, "a stolen token is no use on another site");
    assert_eq!(say("https://shop.example").await.expect("request").status(), StatusCode::CREATED);

    // A channel without a list answers any site.
    let open_channel = app.webchat_channel(&admin).await;
    let any = app.http.post(format!("{}/widget/v1/channels/{open_channel}/sessions", app.base)).header("origin", "https://anyone.example").json(&json!({})).send().await.expect("request");
    assert_eq!(any.status(), StatusCode::CREATED);
    assert_eq!(any.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("*"));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let email: omnibridge_email::EmailConfig = serde_json::from_value(json!({
        "imap_host": "imap.example", "imap_port": 993, "imap_tls": "implicit", "imap_username": "u", "imap_password": "IMAP-SECRET-1",
        "smtp_host": "smtp.example", "smtp_port": 465, "smtp_tls": "implicit", "smtp_username": "u", "smtp_password": "SMTP-SECRET-2",
        "from_address": "support@shop.example",
    }))
    .expect("email settings");
    let settings = email.clone().validate().expect("valid");
    let twilio: omnibridge_twilio_sms::TwilioSmsConfig =
        serde_json::from_value(json!({"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "TWILIO-SECRET-3", "from": "+14155550100"})).expect("twilio");
    let telegram: omnibridge_telegram::TelegramConfig = serde_json::from_value(json!({"bot_token": "123456789:AAH-TELEGRAM-SECRET-4_0123456789abcdef"})).expect("telegram");
    let shown = format!("{email:?} {settings:?} {twilio:?} {:?} {telegram:?} {:?}", twilio.clone().validate().expect("valid"), telegram.clone().validate().expect("valid"));
    for secret in ["IMAP-SECRET-1", "SMTP-SECRET-2", "TWILIO-SECRET-3", "TELEGRAM-SECRET-4"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("imap.example") && shown.contains("AC0123456789abcdef0123456789abcdef"), "the rest is shown: {shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_flooding_frames_is_closed() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({})).await;
    let mut socket = crate::helpers::websocket(&format!("{}/widget/v1/ws?token={token}", app.ws_base)).await;
    for i in 0..60 {
        if socket.send(Message::Text(format!("noise {i}").into())).await.is_err() {
            break;
        }
    }
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(frame) = socket.next().await {
            match frame {
                Ok(Message::Close(Some(close))) => return Some(u16::from(close.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("closed in time");
    assert_eq!(closed, Some(1008), "closed for policy violation");
}
