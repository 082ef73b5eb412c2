//! The inbox an operator sees: rows that tell conversations apart (who, the last message,
//! waiting since, unread for this operator), read markers, and finding a contact by what one
//! types rather than by id.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(inbox_rows_tell_conversations_apart, contacts_are_found_by_email_phone_or_name, an_id_in_the_body_that_names_nothing_is_404_naming_it,
    a_visitor_reads_a_long_history_a_page_at_a_time,);

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

async fn inbox_rows_tell_conversations_apart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    for (name, text) in [("Ana", "Where is my parcel?"), ("Ben", "Do you ship to Norway?"), ("Chloé", "Mon colis est arrivé abîmé.\n\nPhotos suivent.")] {
        let (token, _) = app.visitor(&channel, json!({"name": name})).await;
        let (status, body) = app.visitor_says(&token, json!({"text": text})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, plain) = app.get("/v1/conversations", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(data(&plain)[0].get("summary").is_none(), "summaries only when asked for");
    let (_, inbox) = app.get("/v1/conversations?include=summary", &admin).await;
    let rows = data(&inbox);
    assert_eq!(rows.len(), 3);
    let row = |name: &str| rows.iter().find(|r| r["summary"]["contact_name"] == name).cloned().unwrap_or_else(|| panic!("no row for {name}: {inbox}"));
    assert_eq!(row("Ana")["summary"]["last_message"]["preview"], "Where is my parcel?");
    assert_eq!(row("Chloé")["summary"]["last_message"]["preview"], "Mon colis est arrivé abîmé. Photos suivent.");
    assert_eq!(row("Ben")["summary"]["last_message"]["direction"], "in");
    for name in ["Ana", "Ben", "Chloé"] {
        assert_eq!(row(name)["summary"]["unread"], 1, "{name}");
        assert!(row(name)["summary"]["waiting_since"].is_string(), "{name} waits for an answer");
    }

    // The operator opens Ana's conversation and answers: read, and no longer waiting.
    let ana = row("Ana")["id"].as_str().expect("id").to_owned();
    assert_eq!(app.post(&format!("/v1/conversations/{ana}/read"), &admin, json!({})).await.0, StatusCode::NO_CONTENT);
    let (status, reply) = app.post(&format!("/v1/conversations/{ana}/messages"), &admin, json!({"text": "It ships today."})).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let (_, inbox) = app.get("/v1/conversations?include=summary", &admin).await;
    let ana_row = data(&inbox).into_iter().find(|r| r["id"] == ana.as_str()).expect("Ana");
    assert_eq!(ana_row["summary"]["unread"], 0);
    assert!(ana_row["summary"]["waiting_since"].is_null(), "answered: {ana_row}");
    assert_eq!(ana_row["summary"]["last_message"]["preview"], "It ships today.");
    assert_eq!(ana_row["summary"]["last_message"]["author"], "operator");
    // Unread counts are each operator's own: a colleague has not read it.
    let (_, me) = app.get("/v1/auth/session", &admin).await;
    let tenant = me["tenant_id"].as_str().expect("tenant").to_owned();
    let (status, colleague) = app.post("/v1/operators", &admin, json!({"name": "Olga", "role": "agent"})).await;
    assert_eq!(status, StatusCode::CREATED, "{colleague}");
    let (status, key) = app.post("/v1/api-keys", &admin, json!({"name": "Olga", "role": "agent", "operator_id": colleague["id"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let olga = key["api_key"].as_str().expect("key").to_owned();
    let (_, theirs) = app.get("/v1/conversations?include=summary", &olga).await;
    let ana_row = data(&theirs).into_iter().find(|r| r["id"] == ana.as_str()).expect("Ana");
    assert_eq!(ana_row["summary"]["unread"], 1, "{tenant}: the colleague's own count");
    // A key that belongs to no operator reads nothing.
    let integration = app.create_key(&tenant, "integration");
    assert_eq!(app.post(&format!("/v1/conversations/{ana}/read"), &integration, json!({})).await.0, StatusCode::CONFLICT);
}

async fn contacts_are_found_by_email_phone_or_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, ana) = app.post("/v1/contacts", &admin, json!({"name": "Ana Lima", "email": "ana@example.com", "phone": "+49 170 1234567"})).await;
    assert_eq!(status, StatusCode::CREATED, "{ana}");
    let (_, ben) = app.post("/v1/contacts", &admin, json!({"name": "Ben Okafor", "email": "ben@example.com"})).await;
    let ana_id = ana["id"].as_str().expect("id");
    let found = |list: &Value| data(list).iter().map(|c| c["id"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>();
    let (status, by_email) = app.get("/v1/contacts?q=ANA@example.com", &admin).await;
    assert_eq!(status, StatusCode::OK, "{by_email}");
    assert_eq!(found(&by_email), vec![ana_id.to_owned()]);
    assert_eq!(data(&by_email)[0]["name"], "Ana Lima");
    let (_, by_phone) = app.get("/v1/contacts?q=%2B491701234567", &admin).await;
    assert_eq!(found(&by_phone), vec![ana_id.to_owned()], "{by_phone}");
    let (_, by_name) = app.get("/v1/contacts?q=okaf", &admin).await;
    assert_eq!(found(&by_name), vec![ben["id"].as_str().expect("id").to_owned()]);
    let (_, nobody) = app.get("/v1/contacts?q=carla@example.com", &admin).await;
    assert!(data(&nobody).is_empty());
    // Too short to look for, spaces aside, or given empty: refused, not a list of everyone.
    for short in ["a", "%20a%20", "%C2%85a", ""] {
        let (status, problem) = app.get(&format!("/v1/contacts?q={short}"), &admin).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("q")), "q={short}");
    }
}

async fn an_id_in_the_body_that_names_nothing_is_404_naming_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (_, other) = app.create_tenant("Other shop");
    let channel = app.webchat_channel(&admin).await;
    let elsewhere = app.webchat_channel(&other).await;
    let (token, _) = app.visitor(&channel, json!({"name": "Ana"})).await;
    app.visitor_says(&token, json!({"text": "Hello"})).await;
    let (_, list) = app.get("/v1/conversations", &admin).await;
    let conversation = list["data"][0]["id"].as_str().expect("conversation").to_owned();
    let contact = list["data"][0]["contact_id"].as_str().expect("contact").to_owned();
    let nothing = "01a24d00-0000-7000-8000-000000000000";
    let cases = [
        ("/v1/conversations".to_owned(), json!({"contact_id": nothing, "channel_id": channel, "text": "hi"}), "contact_id"),
        ("/v1/conversations".to_owned(), json!({"contact_id": contact, "channel_id": elsewhere, "text": "hi"}), "channel_id"),
        (format!("/v1/conversations/{conversation}/messages"), json!({"text": "hi", "channel_id": nothing}), "channel_id"),
        (format!("/v1/conversations/{conversation}/merge"), json!({"other_id": nothing}), "other_id"),
        (format!("/v1/contacts/{contact}/merge"), json!({"other_id": nothing, "reason": "same person"}), "other_id"),
        (format!("/v1/contacts/{contact}/links"), json!({"channel_id": elsewhere}), "channel_id"),
        (format!("/v1/conversations/{conversation}/forward"), json!({"to": "lead@example.com", "channel_id": nothing}), "channel_id"),
    ];
    for (path, body, field) in cases {
        let (status, problem) = app.post(&path, &admin, body.clone()).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::NOT_FOUND, Some(field)), "POST {path} {body}: {problem}");
        assert_eq!(problem["code"], "not_found");
    }
    // What the conversation and contact hold is untouched.
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    assert_eq!(data(&messages).len(), 1, "{messages}");
}

async fn a_visitor_reads_a_long_history_a_page_at_a_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let chat = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&chat, json!({"name": "Paula"})).await;
    let said: Vec<String> = (1..=75).map(|n| format!("line {n}")).collect();
    for text in &said {
        app.visitor_says(&token, json!({"text": text})).await;
    }
    let texts = |page: &Value| data(page).iter().map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>();
    // The latest 50, oldest first; then the 25 before them; then nothing more.
    let (status, latest) = app.visitor_history(&token, "").await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(texts(&latest), said[25..]);
    let cursor = latest["next_cursor"].as_str().expect("a cursor to the earlier page").to_owned();
    let (_, earlier) = app.visitor_history(&token, &format!("?cursor={cursor}")).await;
    assert_eq!(texts(&earlier), said[..25]);
    assert!(earlier["next_cursor"].is_null(), "{earlier}");
    // A page size of its own; what cannot be read is refused, naming the parameter.
    let (_, ten) = app.visitor_history(&token, "?limit=10").await;
    assert_eq!(texts(&ten), said[65..]);
    for (query, field) in [("?limit=0", "limit"), ("?limit=201", "limit"), ("?cursor=yesterday", "cursor"), ("?cursor=", "cursor")] {
        let (status, problem) = app.visitor_history(&token, query).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{query}: {problem}");
    }
}
