//! The consent ledger: what a contact allowed, provable and enforced. Grants and withdrawals over
//! the API, marketing refused without a grant, and a chain that shows any edit.

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    marketing_needs_a_grant_and_the_ledger_proves_it,
    an_edited_consent_row_breaks_the_chain,
    a_browser_asking_not_to_be_tracked_is_not,
    the_widget_checkbox_is_recorded_with_its_notice,
);

async fn the_widget_checkbox_is_recorded_with_its_notice(backend: Backend) {
    // A tenant's own purpose besides the built-in ones.
    let app = TestApp::spawn_with(backend, |c| c.consent.purposes.push("surveys".into())).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let url = format!("/widget/v1/channels/{channel}/sessions");
    let bad = json!({"consent": {"purposes": ["spam"], "notice_version": "v3"}});
    let (status, problem) = app.call(reqwest::Method::POST, &url, None, Some(bad)).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("consent.purposes")), "{problem}");
    let (_, list) = app.get("/v1/contacts", &admin).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(0), "a refused session leaves nothing behind");

    let ticked = json!({"name": "Ana", "consent": {"purposes": ["marketing", "surveys"], "notice_version": "2026-03", "notice_url": "https://shop.example/privacy", "form_url": "https://shop.example/"}});
    let (status, session) = app.call(reqwest::Method::POST, &url, None, Some(ticked)).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    app.visitor_says(session["visitor_token"].as_str().expect("token"), json!({"text": "hi"})).await;
    let (_, list) = app.get("/v1/conversations", &admin).await;
    let contact = list["data"][0]["contact_id"].as_str().expect("contact").to_owned();
    let (_, history) = app.get(&format!("/v1/contacts/{contact}/consents?history=true"), &admin).await;
    let event = &history["data"][0];
    assert_eq!((event["method"].as_str(), event["action"].as_str(), event["purpose"].as_str()), (Some("widget_checkbox"), Some("grant"), Some("marketing")), "{history}");
    assert_eq!(event["notice_version"], "2026-03");
    assert_eq!(event["evidence"]["form_url"], "https://shop.example/");
    assert_eq!(history["data"][1]["purpose"], "surveys", "{history}");
    let start = json!({"contact_id": contact, "channel_id": channel, "text": "Sale!", "purpose": "marketing"});
    assert_eq!(app.post("/v1/conversations", &admin, start).await.0, StatusCode::CREATED);
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    match &app.db().await {
        omnibridge::store::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        omnibridge::store::Db::Pg(p) => sqlx::query_scalar(sql).fetch_one(p).await,
    }
    .expect("count")
}

async fn a_browser_asking_not_to_be_tracked_is_not(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let url = format!("{}/widget/v1/channels/{channel}/sessions", app.base);
    let session = app.http.post(&url).header("sec-gpc", "1").header("user-agent", "Distinctive-Browser/9").json(&json!({"name": "Ana"})).send().await.expect("session");
    assert_eq!(session.status(), StatusCode::CREATED);
    let token = session.json::<serde_json::Value>().await.expect("json")["visitor_token"].as_str().expect("token").to_owned();
    let sent = app
        .http
        .post(format!("{}/widget/v1/messages", app.base))
        .bearer_auth(&token)
        .header("sec-gpc", "1")
        .header("user-agent", "Distinctive-Browser/9")
        .json(&json!({"text": "hello"}))
        .send()
        .await
        .expect("message");
    assert_eq!(sent.status(), StatusCode::CREATED);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM visitor_sessions WHERE ip IS NOT NULL OR user_agent IS NOT NULL").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM message_technical").await, 0, "no IP or user agent kept with the message");

    let (_, list) = app.get("/v1/conversations", &admin).await;
    let contact = list["data"][0]["contact_id"].as_str().expect("contact").to_owned();
    let (_, consents) = app.get(&format!("/v1/contacts/{contact}/consents"), &admin).await;
    assert_eq!(consents["data"][0]["purpose"], "marketing", "{consents}");
    assert_eq!(consents["data"][0]["state"], "withdraw", "{consents}");
    let start = json!({"contact_id": contact, "channel_id": channel, "text": "Sale!", "purpose": "marketing"});
    assert_eq!(app.post("/v1/conversations", &admin, start).await.0, StatusCode::CONFLICT);

    // Without the signal, technical data is kept as before.
    let plain = app.http.post(&url).header("user-agent", "Plain/1").json(&json!({})).send().await.expect("session");
    assert_eq!(plain.status(), StatusCode::CREATED);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM visitor_sessions WHERE user_agent IS NOT NULL").await, 1);
}

async fn marketing_needs_a_grant_and_the_ledger_proves_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let (visitor, _) = app.visitor(&channel, json!({"name": "Ana"})).await;
    app.visitor_says(&visitor, json!({"text": "hi"})).await;
    let (_, list) = app.get("/v1/conversations", &admin).await;
    let visitor_contact = list["data"][0]["contact_id"].as_str().expect("contact").to_owned();
    let (_, visitor_view) = app.get(&format!("/v1/contacts/{visitor_contact}"), &admin).await;
    let webchat_address = visitor_view["identities"][0]["address"].as_str().expect("address").to_owned();

    // A proactive marketing message without a grant: 409, nothing queued.
    let start = json!({"contact_id": visitor_contact, "channel_id": channel, "text": "Spring sale!", "purpose": "marketing"});
    let (status, problem) = app.post("/v1/conversations", &admin, start.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "consent_missing");
    // Service messages need none.
    let service = json!({"contact_id": visitor_contact, "channel_id": channel, "text": "Your order shipped"});
    assert_eq!(app.post("/v1/conversations", &admin, service).await.0, StatusCode::CREATED);

    // Bad requests name the field; an address that is not the contact's is refused.
    let path = format!("/v1/contacts/{visitor_contact}/consents");
    for (body, field) in [
        (json!({"channel": "fax", "address": "x", "purpose": "marketing", "action": "grant"}), "channel"),
        (json!({"channel": "webchat", "address": webchat_address, "purpose": "spam", "action": "grant"}), "purpose"),
        (json!({"channel": "webchat", "address": webchat_address, "purpose": "marketing", "action": "maybe"}), "action"),
        (json!({"channel": "email", "address": "ana@example.com", "purpose": "marketing", "action": "grant"}), "address"),
    ] {
        let (status, problem) = app.post(&path, &admin, body).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{problem}");
    }

    // The grant, with its evidence and notice version, opens marketing.
    let grant = json!({"channel": "webchat", "address": webchat_address, "purpose": "marketing", "action": "grant",
        "evidence": {"form_url": "https://shop.example/chat", "checkbox": "newsletter"}, "notice_version": "v3",
        "notice_url": "https://shop.example/privacy"});
    let (status, event) = app.post(&path, &admin, grant).await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    assert_eq!(event["action"], "grant");
    assert_eq!(event["notice_version"], "v3");
    // A contact flagged under the minimum age gets no marketing, grant or not.
    let contact_path = format!("/v1/contacts/{visitor_contact}");
    let (status, flagged) = app.patch(&contact_path, &admin, json!({"under_minimum_age": true})).await;
    assert_eq!((status, flagged["under_minimum_age"].as_bool()), (StatusCode::OK, Some(true)), "{flagged}");
    let (status, problem) = app.post("/v1/conversations", &admin, start.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("minimum age for marketing (16)")), "{problem}");
    let (status, unflagged) = app.patch(&contact_path, &admin, json!({"under_minimum_age": false})).await;
    assert_eq!((status, unflagged["under_minimum_age"].as_bool()), (StatusCode::OK, Some(false)), "{unflagged}");
    assert_eq!(app.post("/v1/conversations", &admin, start.clone()).await.0, StatusCode::CREATED);

    // An objection to everything closes it again; the current state shows the newest word.
    let object = json!({"channel": "webchat", "address": webchat_address, "purpose": "*", "action": "object", "legal_basis": "legitimate_interest"});
    assert_eq!(app.post(&path, &admin, object).await.0, StatusCode::CREATED);
    assert_eq!(app.post("/v1/conversations", &admin, start).await.0, StatusCode::CONFLICT);
    let (_, current) = app.get(&path, &admin).await;
    let states: Vec<(String, String)> = current["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| (c["purpose"].as_str().unwrap_or_default().to_owned(), c["state"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert!(states.contains(&("marketing".into(), "grant".into())) && states.contains(&("*".into(), "object".into())), "{current}");
    let (_, history) = app.get(&format!("{path}?history=true"), &admin).await;
    assert_eq!(history["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(history["data"][0]["evidence"]["checkbox"], "newsletter");

    let (status, verdict) = app.get("/v1/consents/verify", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verdict, json!({"ok": true, "events": 2}));

    // The receipt lists what is granted now, under which notice.
    let (status, receipt) = app.get(&format!("{path}/receipt"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["version"], "KI-CR-v1.1.0");
    assert_eq!(receipt["piiPrincipalId"], visitor_contact.as_str());
    assert_eq!(receipt["piiControllers"][0]["piiController"], "Shop");
    assert_eq!(receipt["services"][0]["service"], "webchat");
    assert_eq!(receipt["services"][0]["purposes"][0]["purpose"], "marketing");
    assert_eq!(receipt["policyUrl"], "https://shop.example/privacy");
}

async fn an_edited_consent_row_breaks_the_chain(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (tenant, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let (visitor, _) = app.visitor(&channel, json!({})).await;
    app.visitor_says(&visitor, json!({"text": "hi"})).await;
    let (_, list) = app.get("/v1/conversations", &admin).await;
    let contact = list["data"][0]["contact_id"].as_str().expect("contact").to_owned();
    let (_, view) = app.get(&format!("/v1/contacts/{contact}"), &admin).await;
    let address = view["identities"][0]["address"].as_str().expect("address").to_owned();
    let path = format!("/v1/contacts/{contact}/consents");
    for action in ["grant", "withdraw", "grant"] {
        let (status, _) = app.post(&path, &admin, json!({"channel": "webchat", "address": address, "purpose": "marketing", "action": action})).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(app.get("/v1/consents/verify", &admin).await.1, json!({"ok": true, "events": 3}));
    let out = app.cli(&["consent", "verify", "--tenant", &tenant]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Someone with database access turns the withdrawal into a grant.
    let db = app.db().await;
    let sql = "UPDATE consent_events SET action = 'grant' WHERE seq = 2";
    match &db {
        omnibridge::store::Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        omnibridge::store::Db::Pg(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .expect("tamper");
    let (_, verdict) = app.get("/v1/consents/verify", &admin).await;
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert_eq!(verdict["broken_at"]["seq"], 2, "{verdict}");
    assert!(verdict["broken_at"]["reason"].as_str().is_some_and(|r| r.contains("edited")), "{verdict}");

    // The CLI says the same, with a failing exit status.
    let out = app.cli(&["consent", "verify", "--tenant", &tenant]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken at event 2"), "{}", String::from_utf8_lossy(&out.stderr));
}
