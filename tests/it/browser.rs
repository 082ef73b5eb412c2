//! The console and the widget in a real browser: headless Chromium, driven by
//! `tests/browser/story.cjs` through playwright-core (installed by `scripts/test`), against the
//! real hub, a real IMAP server and a real SMTP receiver.

use std::path::PathBuf;
use std::time::Duration;

use omnibridge_email::testservers::{Dovecot, IMAP_PASSWORD, IMAP_USER, SmtpSink};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

/// Where the story saves its screenshots, for a person to look at.
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// Serves the shop's page with the widget embedded, on its own origin.
async fn shop_page(hub: &str, channel: &str) -> String {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Shop</title><link rel=\"icon\" href=\"data:,\"></head><body><h1>The Shop</h1>\
         <script src=\"{hub}/widget.js\" data-channel=\"{channel}\" data-prechat=\"name,email\" \
         data-consent-notice=\"Send me offers by email\" data-notice-version=\"2026-11\" async></script></body></html>"
    );
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(html) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_and_a_visitor_talk_through_the_console_and_the_widget() {
    let node_path = std::env::var("OMNIBRIDGE_TEST_NODE_PATH")
        .expect("OMNIBRIDGE_TEST_NODE_PATH must name the node_modules with playwright-core; scripts/test installs it");
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, admin) = app.create_tenant("Shop");
    let password = "correct horse battery staple";
    let (status, operator) =
        app.post("/v1/operators", &admin, json!({"name": "Olga Operator", "email": "olga@shop.example", "role": "admin", "password": password})).await;
    assert_eq!(status, StatusCode::CREATED, "{operator}");
    let chat = app.webchat_channel(&admin).await;
    let settings = json!({
        "imap_host": "127.0.0.1", "imap_port": imap.port, "imap_tls": "none", "imap_username": IMAP_USER, "imap_password": IMAP_PASSWORD,
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none", "from_address": "support@shop.example",
        "from_name": "Shop Support", "poll_interval_secs": 5, "relay_country": "DE",
    });
    let (status, email) = app.post("/v1/channels", &admin, json!({"kind": "email", "name": "Support mail", "settings": settings})).await;
    assert_eq!(status, StatusCode::CREATED, "{email}");
    let (status, canned) = app.post("/v1/canned-responses", &admin, json!({"shortcut": "greet", "text": "Hello {{contact.name}}, Olga here."})).await;
    assert_eq!(status, StatusCode::CREATED, "{canned}");
    let page = shop_page(&app.base, &chat).await;

    let story = json!({
        "hub": app.base, "page": page, "email": "olga@shop.example", "password": password,
        "visitor_email": "vera@example.org", "email_channel": email["id"], "screenshots": screenshots(),
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/story.cjs");
    let story = story.to_string();
    let node = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node").arg(script).env("NODE_PATH", &node_path).env("OMNIBRIDGE_BROWSER_STORY", story).output()
    });
    let run = tokio::time::timeout(Duration::from_secs(180), node)
        .await
        .expect("the browser story finishes within three minutes")
        .expect("the node task")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap_or_else(|_| json!({"raw": stdout}));
    assert!(run.status.success(), "the browser story failed: {result}\n{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(result["errors"], json!([]), "no errors in any page's console");
    assert!(result["refusal"].as_str().is_some_and(|r| r.contains("Not sent") && r.contains("not agreed")), "{result}");
    assert_eq!(result["canned"], "Hello Vera Visitor, Olga here.");
    assert!(result["scheduled_words"].as_str().is_some_and(|w| w.contains("scheduled for")), "{result}");
    assert!(result["failed_words"].as_str().is_some_and(|w| w.contains("failed") && w.contains("will not go") && w.contains("5.1.1")), "the failure in words: {result}");
    assert!(result["failed_recipients"].as_str().is_some_and(|w| w.contains("cc once-lee@example.org")), "{result}");
    assert!(result["failed_retried"].as_str().is_some_and(|s| s == "sent" || s == "delivered"), "a failed message retried goes: {result}");
    assert!(result["retried"].as_str().is_some_and(|s| s == "sent" || s == "delivered"), "a canceled message retried goes: {result}");
    assert!(result["chart_bars"].as_u64().is_some_and(|n| n >= 2), "the stats chart has bars: {result}");
    assert!(result["stats_opened"].as_str().and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n >= 1), "conversations opened this week: {result}");
    assert_eq!(result["import_errors"], json!(["Line 3, email: \"otto-at-shop\" is not an email address"]));
    assert!(result["invitation_shown"].as_str().is_some_and(|s| ["pending", "sent"].contains(&s)), "{result}");
    let (_, team) = app.get("/v1/operators?limit=50", &admin).await;
    let team = team["data"].as_array().cloned().unwrap_or_default();
    assert!(team.iter().any(|o| o["email"] == "olga@shop.example" && o["availability"] == "away"), "the availability the operator picked: {team:?}");
    assert_eq!(team.iter().filter(|o| o["email"].as_str().is_some_and(|e| e == "nina@shop.example" || e == "otto@shop.example")).count(), 2);

    // The visitor confirms the address by the link mailed to it (no visitor text in that mail);
    // then the transcript follows.
    let texts = |mail: &[Vec<u8>]| mail.iter().filter_map(|m| omnibridge_email::parse::parse(m).ok().map(|p| p.text)).collect::<Vec<String>>();
    let mut link = None;
    for _ in 0..100 {
        link = texts(&smtp.received()).iter().flat_map(|t| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>()).find(|w| w.contains("/transcripts/confirm/"));
        if link.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let link = link.expect("a confirmation link was mailed");
    let confirmation = texts(&smtp.received()).into_iter().find(|t| t.contains(&link)).expect("the confirmation mail");
    assert!(!confirmation.contains("Hello from the browser") && !confirmation.contains("Vera"), "no visitor text: {confirmation}");
    let page = app.http.get(&link).send().await.expect("confirmation page");
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let confirmed = app.http.post(&link).send().await.expect("confirm");
    assert_eq!(confirmed.status(), reqwest::StatusCode::OK);
    assert!(confirmed.text().await.expect("page").contains("on its way"));
    assert_eq!(app.http.post(&link).send().await.expect("again").status(), reqwest::StatusCode::NOT_FOUND, "the link works once");

    // The transcript and the switched-channel reply went out as real mail.
    // (Besides them, the confirmation, the retried copy to Lee, the retried reminder and the two invitations of the
    // imported operators, through the same relay.)
    let mail: Vec<String> = smtp.wait_for(7, Duration::from_secs(20)).iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect();
    let transcript = mail.iter().find(|m| m.contains("Your conversation transcript")).expect("the transcript mail");
    assert!(transcript.contains("vera@example.org") && transcript.contains("Hello from the browser") && transcript.contains("Thanks Vera"), "{transcript}");
    let reply = mail.iter().find(|m| m.contains("Following up by email as promised")).expect("the reply by email");
    assert!(reply.contains("vera@example.org"), "{reply}");
    assert_eq!(mail.iter().filter(|m| m.contains("/invitations/")).count(), 2, "the imported operators are invited through the tenant's mailbox");
    for shot in ["console-inbox.png", "widget.png", "console-refusal.png", "console-team.png"] {
        assert!(screenshots().join(shot).metadata().is_ok_and(|m| m.len() > 1000), "{shot} was saved");
    }
}
