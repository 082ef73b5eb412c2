//! The widget a shop owner configures: its look and greeting come from the channel's settings
//! (validated, naming the field), it says whether someone is there, its pre-chat form is
//! enforced by the hub, visitors send files under the same rules as operators, and the script
//! stays small.

use std::io::Write;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(a_widget_looks_and_greets_as_its_channel_says, visitors_send_files_under_the_attachment_rules,);

/// An 8×8 red PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAIAQMAAAD+wSzIAAAABlBMVEX/AAD///9BHTQRAAAADklEQVQI12P4z8DAwMAAAw4BAQbqZ+8AAAAASUVORK5CYII=";

async fn a_widget_looks_and_greets_as_its_channel_says(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    for (settings, field) in [
        (json!({"accent_color": "blue"}), "accent_color"),
        (json!({"language": "xx"}), "language"),
        (json!({"logo_url": "https://cdn.example/logo.png"}), "logo_url"),
        (json!({"prechat": {"fields": "none", "required": true}}), "prechat.required"),
        (json!({"consent": {"text": "", "notice_version": "1"}}), "consent.text"),
    ] {
        let (status, problem) = app.patch(&format!("/v1/channels/{channel}"), &admin, json!({"settings": settings})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], format!("settings.{field}"), "{problem}");
    }
    let settings = json!({
        "display_name": "Die Bäckerei", "accent_color": "#c2185b", "logo_url": format!("data:image/png;base64,{PNG}"),
        "greeting": "Hallo! Wie können wir helfen?", "language": "de", "position": "left", "reply_time": "hours",
        "prechat": {"fields": "name_email", "required": true},
        "consent": {"text": "Angebote per E-Mail", "notice_version": "2026-12", "purposes": ["marketing"]},
    });
    let (status, updated) = app.patch(&format!("/v1/channels/{channel}"), &admin, json!({"settings": settings})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");

    // No operator is online yet: away.
    let (status, config) = app.call(reqwest::Method::GET, &format!("/widget/v1/channels/{channel}/config"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["display_name"], "Die Bäckerei");
    assert_eq!(config["accent_color"], "#c2185b");
    assert_eq!(config["language"], "de");
    assert_eq!(config["position"], "left");
    assert_eq!(config["prechat"], json!({"fields": "name_email", "required": true}));
    assert_eq!(config["presence"], "away");
    let (_, me) = app.get("/v1/auth/session", &admin).await;
    let me = me["operator_id"].as_str().expect("operator").to_owned();
    app.patch(&format!("/v1/operators/{me}"), &admin, json!({"availability": "online"})).await;
    let (_, config) = app.call(reqwest::Method::GET, &format!("/widget/v1/channels/{channel}/config"), None, None).await;
    assert_eq!(config["presence"], "online");
    // Outside business hours: offline, with the away message.
    let closed = json!({"time_zone": "UTC", "weekly": {}, "away_message": "Wir sind morgen wieder da."});
    let (status, body) = app.put(&format!("/v1/channels/{channel}/business-hours"), &admin, closed).await;
    assert!(status.is_success(), "{body}");
    let (_, config) = app.call(reqwest::Method::GET, &format!("/widget/v1/channels/{channel}/config"), None, None).await;
    assert_eq!(config["presence"], "offline");
    assert_eq!(config["away_message"], "Wir sind morgen wieder da.");

    // The pre-chat form is required: the hub refuses a session without it, naming the field.
    let sessions = format!("/widget/v1/channels/{channel}/sessions");
    let (status, problem) = app.call(reqwest::Method::POST, &sessions, None, Some(json!({"name": "Vera"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "email");
    let (status, _) = app.call(reqwest::Method::POST, &sessions, None, Some(json!({"name": "Vera", "email": "vera@example.org"}))).await;
    assert_eq!(status, StatusCode::CREATED);

    // The script, styles and seven languages included, stays small.
    let script = app.http.get(format!("{}/widget.js", app.base)).send().await.expect("widget.js").bytes().await.expect("bytes");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&script).expect("gzip");
    let size = gz.finish().expect("gzip").len();
    println!("widget.js: {} bytes, {size} bytes gzipped", script.len());
    assert!(size <= 40 * 1024, "the widget is {size} bytes gzipped, over 40 KB");
}

async fn visitors_send_files_under_the_attachment_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({"name": "Vera"})).await;
    let (status, sent) = app
        .post("/widget/v1/files", &token, json!({"text": "The broken lid", "attachments": [{"filename": "lid.png", "content_type": "image/png", "data": PNG}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["attachments"][0]["filename"], "lid.png");
    // Files go to their own route; the messages route keeps its small body limit.
    let (status, _) = app.visitor_says(&token, json!({"attachments": [{"filename": "lid.png", "content_type": "image/png", "data": "x".repeat(100 * 1024)}]})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A picture alone is a message too.
    let (status, _) = app.post("/widget/v1/files", &token, json!({"attachments": [{"filename": "lid2.png", "content_type": "image/png", "data": PNG}]})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, refused) = app
        .visitor_says(&token, json!({"text": "run this", "attachments": [{"filename": "setup.exe", "content_type": "application/octet-stream", "data": "TVo="}]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["field"], "attachments[0]");
    assert!(refused["detail"].as_str().is_some_and(|d| d.contains("setup.exe") && d.contains("programs and scripts")), "{refused}");
    let big = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![0u8; 3 * 1024 * 1024 + 512 * 1024]);
    let (status, too_big) = app.post("/widget/v1/files", &token, json!({"attachments": [{"filename": "huge.pdf", "content_type": "application/pdf", "data": big}]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{too_big}");
    assert_eq!(too_big["field"], "attachments[0]");
    assert!(too_big["detail"].as_str().is_some_and(|d| d.contains("huge.pdf is too large") && d.contains("3 MB")), "{too_big}");

    // The operator sees the picture in the conversation and can download it.
    let (_, list) = app.get("/v1/conversations", &admin).await;
    let conversation = list["data"][0]["id"].as_str().expect("conversation").to_owned();
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    let with_file: Vec<Value> = messages["data"].as_array().cloned().unwrap_or_default().into_iter().filter(|m| !m["attachments"].as_array().is_none_or(Vec::is_empty)).collect();
    assert_eq!(with_file.len(), 2, "{messages}");
    let attachment = &with_file[0]["attachments"][0];
    assert_eq!(attachment["content_type"], "image/png");
    let file = app.http.get(format!("{}/v1/attachments/{}", app.base, attachment["id"].as_str().expect("id"))).bearer_auth(&admin).send().await.expect("download");
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.headers()["content-type"], "image/png");
}
