//! Working as a team: who may reach the tenant's data from where.

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, websocket_status};

backend_tests!(
    requests_from_outside_the_allow_list_are_refused,
    new_conversations_are_shared_among_online_operators,
    canned_responses_fill_in_the_conversation,
);

fn data(list: &serde_json::Value) -> Vec<serde_json::Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

async fn new_conversations_are_shared_among_online_operators(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let mut operators = Vec::new();
    for (name, availability) in [("Ann", "online"), ("Bob", "online"), ("Cid", "offline")] {
        let (status, op) = app.post("/v1/operators", &admin, json!({"name": name, "role": "agent"})).await;
        assert_eq!(status, StatusCode::CREATED, "{op}");
        let id = op["id"].as_str().expect("id").to_owned();
        let (status, updated) = app.patch(&format!("/v1/operators/{id}"), &admin, json!({"availability": availability, "capacity": 10})).await;
        assert_eq!((status, updated["availability"].as_str()), (StatusCode::OK, Some(availability)), "{updated}");
        operators.push(id);
    }
    let (status, problem) = app.patch(&format!("/v1/operators/{}", operators[0]), &admin, json!({"availability": "busy"})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("availability")));

    let channel = app.webchat_channel(&admin).await;
    for i in 0..10 {
        let (token, _) = app.visitor(&channel, json!({"name": format!("Visitor {i}")})).await;
        app.visitor_says(&token, json!({"text": "hello"})).await;
    }
    let list = app
        .wait_for(&admin, "/v1/conversations?limit=50", |l| data(l).len() == 10 && data(l).iter().all(|c| c["assignee_id"].is_string()))
        .await;
    let count = |id: &str| data(&list).iter().filter(|c| c["assignee_id"] == id).count();
    assert_eq!((count(&operators[0]), count(&operators[1]), count(&operators[2])), (5, 5, 0));
    let (_, team) = app.get("/v1/operators", &admin).await;
    assert!(data(&team).iter().any(|o| o["availability"] == "online"), "{team}");
}

async fn canned_responses_fill_in_the_conversation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, canned) = app.post("/v1/canned-responses", &admin, json!({"shortcut": "greet", "text": "Hi {{contact.name}}, {{operator.name}} from {{channel.name}} here."})).await;
    assert_eq!(status, StatusCode::CREATED, "{canned}");
    let id = canned["id"].as_str().expect("id").to_owned();
    for (body, field) in [
        (json!({"shortcut": "bad", "text": "Hi {{contact.shoe}}"}), "text"),
        (json!({"shortcut": "greet", "text": "again"}), "shortcut"),
        (json!({"shortcut": "two words", "text": "x"}), "shortcut"),
    ] {
        let (status, problem) = app.post("/v1/canned-responses", &admin, body).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{problem}");
    }
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({"name": "Ana"})).await;
    app.visitor_says(&token, json!({"text": "hello"})).await;
    let (_, list) = app.get("/v1/conversations", &admin).await;
    let conversation = data(&list)[0]["id"].as_str().expect("id").to_owned();
    let (status, rendered) = app.post(&format!("/v1/canned-responses/{id}/render"), &admin, json!({"conversation_id": conversation})).await;
    assert_eq!(status, StatusCode::OK, "{rendered}");
    assert_eq!(rendered["text"], "Hi Ana, Administrator from Site here.");
    let (_, all) = app.get("/v1/canned-responses", &admin).await;
    assert_eq!(data(&all).len(), 1);
}

async fn requests_from_outside_the_allow_list_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (tenant, admin) = app.create_tenant("Shop");
    let (_, other) = app.create_tenant("Other");

    let (status, problem) = app.put("/v1/ip-allow-list", &admin, json!({"cidrs": ["10.0.0.0/8", "not-a-net"]})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cidrs[1]")));
    let (status, problem) = app.put("/v1/ip-allow-list", &admin, json!({"cidrs": ["10.0.0.0/8"]})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cidrs")), "no locking yourself out by mistake");
    let (status, _) = app.put("/v1/ip-allow-list", &admin, json!({"cidrs": ["127.0.0.0/8", "10.0.0.0/8"]})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/v1/conversations", &admin).await;
    assert_eq!(status, StatusCode::OK, "the office network is allowed");

    // Only the head office now: this address is outside.
    let (status, shown) = app.put("/v1/ip-allow-list", &admin, json!({"cidrs": ["10.0.0.0/8"], "force": true})).await;
    assert_eq!((status, shown["cidrs"].clone()), (StatusCode::OK, json!(["10.0.0.0/8"])));
    let (status, problem) = app.get("/v1/conversations", &admin).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::FORBIDDEN, Some("ip_not_allowed")), "{problem}");
    let realtime = format!("{}/v1/realtime", app.ws_base);
    assert_eq!(websocket_status(&realtime, Some(&admin)).await, 403);
    let (status, _) = app.get("/v1/conversations", &other).await;
    assert_eq!(status, StatusCode::OK, "other tenants are not affected");

    // The refusal is on record.
    let db = app.db().await;
    let refused = omnibridge::store::privacy::audit(&db, tenant.parse().expect("uuid"), None, Some("access.ip_refused"), None, 10).await.expect("audit");
    assert!(!refused.is_empty());
    assert_eq!(refused[0].detail.as_deref(), Some("127.0.0.1"));
}
