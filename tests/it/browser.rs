//! The console and the widget in a real browser: headless Chromium, driven by
//! `tests/browser/story.cjs` through playwright-core (installed by `scripts/test`), against the
//! real hub, a real IMAP server and a real SMTP receiver.

use std::path::PathBuf;
use std::time::Duration;

use omnibridge_email::testservers::{Dovecot, IMAP_PASSWORD, IMAP_USER, SmtpSink};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(an_operator_tells_visitors_apart_and_a_shop_brands_its_widget,);

/// Where the story saves its screenshots, for a person to look at.
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// Serves the shop's page with the widget embedded, on its own origin.
async fn shop_page(hub: &str, channel: &str) -> String {
    serve_page(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Shop</title><link rel=\"icon\" href=\"data:,\"></head><body><h1>The Shop</h1>\
         <script src=\"{hub}/widget.js\" data-channel=\"{channel}\" data-prechat=\"name,email\" \
         data-consent-notice=\"Send me offers by email\" data-notice-version=\"2026-11\" async></script></body></html>"
    ))
    .await
}

/// Serves one page on an origin of its own; returns its URL.
async fn serve_page(html: String) -> String {
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(html) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_and_a_visitor_talk_through_the_console_and_the_widget() {
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
    let result = run_story("story.cjs", story).await;
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

/// The API description reads in a browser at `/docs`: every documented operation, by tag,
/// searchable, each opening to its parameters and outlines; axe finds nothing serious.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_description_reads_in_a_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let result = run_story("docs.cjs", json!({"hub": app.base})).await;
    let documented: usize = omnibridge::api::openapi_document()["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|ops| ops.as_object().expect("ops").keys().filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str())).count())
        .sum();
    assert_eq!(result["operations"].as_u64(), Some(documented as u64), "every operation is listed: {result}");
    assert!(result["title"].as_str().is_some_and(|t| t.starts_with("omnibridge API")), "{result}");
    assert!(result["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == "backup") && t.iter().any(|x| x == "webhooks")), "{result}");
    assert_eq!(result["filtered"], json!(["/v1/tenant/exports", "/v1/tenant/exports", "/v1/tenant/exports/{id}"]), "{result}");
    assert!(result["request_outline"].as_str().is_some_and(|o| o.contains("\"key\": string")), "{result}");
    // The opened operation (creating a tenant export) lists the answers its description holds.
    let described: Vec<&String> = omnibridge::api::openapi_document()["paths"]["/v1/tenant/exports"]["post"]["responses"].as_object().expect("responses").keys().collect();
    assert!(described.contains(&&"202".to_owned()) && described.contains(&&"429".to_owned()), "{described:?}");
    assert_eq!(result["responses"], json!(described), "{result}");
    assert_eq!(result["axe"], json!([]), "{result}");
}

/// A visitor with 120 messages comes back: the widget shows the latest 50, and "Earlier
/// messages" brings the rest above them, a page at a time, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_visitor_pages_back_through_a_long_history() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, admin) = app.create_tenant("Shop");
    let chat = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&chat, json!({"name": "Paula"})).await;
    let said: Vec<String> = (1..=120).map(|n| format!("Message number {n}")).collect();
    for text in &said {
        let (status, body) = app.visitor_says(&token, json!({"text": text})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let page = shop_page(&app.base, &chat).await;
    let result = run_story("history.cjs", json!({"page": page, "channel": chat, "token": token})).await;
    assert_eq!(result["first_page"], json!(said[70..]), "the latest page, oldest first: {result}");
    assert_eq!(result["button"], "Earlier messages");
    assert_eq!(result["clicks"], 2, "two earlier pages of 50 and 20: {result}");
    assert_eq!(result["all"], json!(said), "every message once, in order: {result}");
}

/// Runs a browser story script with `story` (JSON); returns what it reported.
async fn run_story(script: &str, story: Value) -> Value {
    let node_path = std::env::var("OMNIBRIDGE_TEST_NODE_PATH")
        .expect("OMNIBRIDGE_TEST_NODE_PATH must name the node_modules with playwright-core; scripts/test installs it");
    let script = format!("{}/tests/browser/{script}", env!("CARGO_MANIFEST_DIR"));
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
    result
}

async fn an_operator_tells_visitors_apart_and_a_shop_brands_its_widget(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Bakery");
    let password = "correct horse battery staple";
    let (status, operator) =
        app.post("/v1/operators", &admin, json!({"name": "Olga Operator", "email": "olga@bakery.example", "role": "admin", "password": password})).await;
    assert_eq!(status, StatusCode::CREATED, "{operator}");
    let (_, session) = app.get("/v1/auth/session", &admin).await;
    let me = session["operator_id"].as_str().expect("operator").to_owned();
    app.patch(&format!("/v1/operators/{me}"), &admin, json!({"availability": "online"})).await;
    let chat = app.webchat_channel(&admin).await;
    let settings = json!({
        "display_name": "Die Bäckerei", "accent_color": "#c2185b", "language": "de", "greeting": "Hallo! Wie können wir helfen?",
        "prechat": {"fields": "name", "required": true}, "reply_time": "minutes",
    });
    let (status, body) = app.patch(&format!("/v1/channels/{chat}"), &admin, json!({"settings": settings})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (profile, text) in [
        (json!({"name": "Ana", "email": "ana@example.com"}), "Where is my parcel?"),
        (json!({"name": "Ben"}), "Do you bake on Sundays?"),
        (json!({"name": "Chloé"}), "Avez-vous du pain sans gluten ?"),
    ] {
        let (token, _) = app.visitor(&chat, profile).await;
        let (status, body) = app.visitor_says(&token, json!({"text": text})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let page = serve_page(format!(
        "<!doctype html><html lang=\"de\"><head><meta charset=\"utf-8\"><title>Bäckerei</title><link rel=\"icon\" href=\"data:,\"></head>\
         <body><main><h1>Die Bäckerei</h1></main><script src=\"{}/widget.js\" data-channel=\"{chat}\" async></script></body></html>",
        app.base
    ))
    .await;
    let shots = screenshots().join(match backend { Backend::Sqlite => "sqlite", Backend::Postgres => "postgres" });
    std::fs::create_dir_all(&shots).expect("screenshots");
    // An integration's webhook endpoint, for the console's "Send test event".
    let receiver = crate::receiver::Receiver::start().await;
    let (status, endpoint) = app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "country": "DE", "event_types": ["contact.erased"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let result = run_story(
        "inbox.cjs",
        json!({"hub": app.base, "page": page, "email": "olga@bakery.example", "password": password, "screenshots": shots, "webhook": receiver.url}),
    )
    .await;
    assert_eq!(result["test_event"], "Delivered (HTTP 200)", "{result}");
    let tests = receiver.of_type("webhook.test");
    assert_eq!(tests.len(), 1, "the console's test event reached the endpoint");
    assert!(crate::receiver::verify_with_official_library(endpoint["secret"].as_str().expect("secret"), &tests[0]).is_ok());

    let rows = result["rows"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    for (name, preview) in [("Ana", "Where is my parcel?"), ("Ben", "Do you bake on Sundays?"), ("Chloé", "Avez-vous du pain sans gluten ?")] {
        let row = rows.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("a row for {name}: {names:?}"));
        assert_eq!(row["preview"], preview);
        assert_eq!(row["unread"], "1", "{row}");
    }
    assert_eq!(result["unread_cleared"], true);
    assert_eq!(result["reply_status"], "delivered", "{result}");
    assert_eq!(result["reply_author"], "Olga Operator", "the widget names who answered");
    assert_eq!(result["new_marker"], true);
    assert!(result["notifications"].as_u64().is_some_and(|n| n >= 1), "{result}");
    assert!(result["merged"].as_str().is_some_and(|m| m.contains("Merged")), "{result}");
    assert_eq!(result["bubble_text"], "Chatten Sie mit uns");
    assert_eq!(result["bubble_colour"], "rgb(194, 24, 91)");
    assert_eq!(result["header"], "Die Bäckerei");
    assert!(result["presence"].as_str().is_some_and(|p| p.contains("Wir sind online")), "{result}");
    assert!(result["prechat_refusal"].as_str().is_some_and(|p| p.contains("Ihr Name") && p.contains("Pflichtfeld")), "{result}");
    assert_eq!(result["sent_without_name"], 0);
    assert_eq!(result["image_shown"], true);
    assert!(result["forbidden"].as_str().is_some_and(|f| f.contains("tool.exe") && f.contains("nicht gesendet")), "{result}");
    assert_eq!(result["keyboard_focus"], "omnibridge-name");
    assert_eq!(result["keyboard_next"], "omnibridge-input");
    assert_eq!(result["keyboard_sent"], true);
    // Labels, the saved view, the attribute and search, as the operator saw them.
    assert_eq!(result["bulk_count"], "2 selected");
    assert_eq!(result["labelled_rows"], json!(["Ben", "Chloé"]), "{result}");
    assert_eq!(result["chips"], json!(["Label: Bread questions"]));
    assert!(result["rows_unfiltered"].as_u64().is_some_and(|n| n > 2), "{result}");
    assert_eq!(result["rows_in_view"], json!(["Ben", "Chloé"]), "the saved view shows the labelled conversations");
    assert!(result["attribute_refusal"].as_str().is_some_and(|r| r.contains("custom_attributes.order_total")), "the refusal names the attribute: {result}");
    assert_eq!(result["attribute_shown"], "12.5");
    assert_eq!(result["search_focus"], "search-q");
    assert!(result["search_marks"].as_array().is_some_and(|m| m.iter().any(|w| w.as_str().is_some_and(|w| w.eq_ignore_ascii_case("parcel")))), "{result}");
    assert_eq!(result["inbox_hidden_while_searching"], true);
    assert_eq!(result["search_arrow"], "hit", "ArrowDown moves from the box to the first result");
    assert_eq!(result["search_opened"], true);
    assert!(result["prefix_found"].as_str().is_some_and(|t| t.contains("gluten")), "{result}");
    assert_eq!(result["search_left"], true);
    // ... and as the API and the event log (what webhooks carry) tell it.
    let (_, list) = app.get("/v1/conversations?label=Bread%20questions&limit=10", &admin).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(2), "{list}");
    let ben = list["data"].as_array().into_iter().flatten().find(|c| c["custom_attributes"]["order_total"] == json!(12.5)).expect("Ben's order total");
    assert_eq!(ben["labels"][0]["name"], "Bread questions");
    let (_, events) = app.get("/v1/events?types=conversation.updated&limit=1000", &admin).await;
    let updates = events["data"].as_array().cloned().unwrap_or_default();
    assert!(updates.iter().any(|e| e["data"]["id"] == ben["id"] && e["data"]["labels"][0]["name"] == "Bread questions"), "the label in a conversation.updated event");
    assert!(updates.iter().any(|e| e["data"]["id"] == ben["id"] && e["data"]["custom_attributes"]["order_total"] == json!(12.5)), "the attribute in a conversation.updated event");
    for page in ["sign-in", "inbox", "conversation", "widget", "organize", "search"] {
        assert_eq!(result["axe"][page], json!([]), "axe-core: serious or critical violations on the {page}: {}", result["axe"]);
    }
    for shot in ["console-laptop-light.png", "console-laptop-dark.png", "console-phone-light.png", "console-phone-dark.png", "widget-open.png", "console-view.png"] {
        assert!(shots.join(shot).metadata().is_ok_and(|m| m.len() > 1000), "{shot} was saved");
    }
}
