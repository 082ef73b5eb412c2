//! Working as a team: who may reach the tenant's data from where.

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, websocket_status};

backend_tests!(
    requests_from_outside_the_allow_list_are_refused,
    new_conversations_are_shared_among_online_operators,
    canned_responses_fill_in_the_conversation,
    stats_count_what_the_team_did,
    outside_business_hours_a_contact_is_told_once,
    a_resolved_web_chat_asks_how_we_did,
    a_resolved_text_conversation_gets_a_rating_link,
    an_operator_sends_the_whole_transcript_by_email,
    two_conversations_of_a_contact_merge_into_one_thread,
    a_team_channel_is_answered_by_its_members,
);

async fn a_team_channel_is_answered_by_its_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let mut operators = Vec::new();
    for name in ["Ann", "Bob"] {
        let (_, op) = app.post("/v1/operators", &admin, json!({"name": name, "role": "agent"})).await;
        let id = op["id"].as_str().expect("id").to_owned();
        app.patch(&format!("/v1/operators/{id}"), &admin, json!({"availability": "online", "capacity": 10})).await;
        operators.push(id);
    }
    let billing = app.webchat_channel(&admin).await;
    let (status, problem) = app.post("/v1/teams", &admin, json!({"name": "Billing", "operator_ids": [uuid::Uuid::now_v7()]})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::NOT_FOUND, Some("operator_ids[0]")), "an operator of no one is not found");
    let (status, team) = app.post("/v1/teams", &admin, json!({"name": "Billing", "operator_ids": [operators[1]], "channel_ids": [billing]})).await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let (status, _) = app.post("/v1/teams", &admin, json!({"name": "Billing"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "team names are unique");

    for i in 0..4 {
        let (token, _) = app.visitor(&billing, json!({"name": format!("Payer {i}")})).await;
        app.visitor_says(&token, json!({"text": "my invoice"})).await;
    }
    let list = app.wait_for(&admin, "/v1/conversations?limit=50", |l| data(l).len() == 4 && data(l).iter().all(|c| c["assignee_id"].is_string())).await;
    assert!(data(&list).iter().all(|c| c["assignee_id"] == operators[1].as_str()), "only the team's member answers its channel: {list}");

    // Without the channel, the team no longer decides: everyone online takes turns again.
    let id = team["id"].as_str().expect("id");
    let (status, _) = app.put(&format!("/v1/teams/{id}"), &admin, json!({"name": "Billing", "operator_ids": [operators[1]]})).await;
    assert_eq!(status, StatusCode::OK);
    for i in 0..2 {
        let (token, _) = app.visitor(&billing, json!({"name": format!("Later {i}")})).await;
        app.visitor_says(&token, json!({"text": "hello"})).await;
    }
    let list = app.wait_for(&admin, "/v1/conversations?limit=50", |l| data(l).len() == 6 && data(l).iter().all(|c| c["assignee_id"].is_string())).await;
    assert!(data(&list).iter().any(|c| c["assignee_id"] == operators[0].as_str()), "{list}");
    let (status, teams) = app.get("/v1/teams", &admin).await;
    assert_eq!((status, data(&teams).len()), (StatusCode::OK, 1));
}

async fn two_conversations_of_a_contact_merge_into_one_thread(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let first_channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&first_channel, json!({"name": "Ana"})).await;
    app.visitor_says(&token, json!({"text": "one"})).await;
    let list = app.wait_for(&admin, "/v1/conversations", |l| data(l).len() == 1).await;
    let first = data(&list)[0]["id"].as_str().expect("id").to_owned();
    let contact = data(&list)[0]["contact_id"].as_str().expect("contact").to_owned();
    // An operator starts a second conversation with the same contact.
    let (status, started) = app.post("/v1/conversations", &admin, json!({"contact_id": contact, "channel_id": first_channel, "text": "two"})).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let second = started["id"].as_str().expect("id").to_owned();
    app.visitor_says(&token, json!({"text": "three"})).await;

    let (status, problem) = app.post(&format!("/v1/conversations/{first}/merge"), &admin, json!({"other_id": first})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("other_id")));

    let (status, merged) = app.post(&format!("/v1/conversations/{first}/merge"), &admin, json!({"other_id": second})).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    let (_, messages) = app.get(&format!("/v1/conversations/{first}/messages"), &admin).await;
    let texts: Vec<&str> = messages["data"].as_array().expect("data").iter().filter_map(|m| m["text"].as_str()).collect();
    let mut ordered = texts.clone();
    ordered.sort_by_key(|t| ["one", "two", "three"].iter().position(|x| x == t));
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(texts, ordered, "one thread, in order");
    let (_, closed) = app.get(&format!("/v1/conversations/{second}"), &admin).await;
    assert_eq!(closed["status"], "resolved");
    let (_, empty) = app.get(&format!("/v1/conversations/{second}/messages"), &admin).await;
    assert!(empty["data"].as_array().is_some_and(Vec::is_empty));
}

async fn an_operator_sends_the_whole_transcript_by_email(backend: Backend) {
    use omnibridge_email::testservers::{Dovecot, IMAP_PASSWORD, IMAP_USER, SmtpSink};
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let chat = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&chat, json!({"name": "Ana"})).await;
    app.visitor_says(&token, json!({"text": "first question about parcel 77"})).await;
    app.visitor_says(&token, json!({"text": "second question about invoice 88"})).await;
    let list = app.wait_for(&admin, "/v1/conversations", |l| data(l).len() == 1).await;
    let conversation = data(&list)[0]["id"].as_str().expect("id").to_owned();
    app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "answer about both"})).await;
    app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "internal only", "private": true})).await;

    let (status, problem) = app.post(&format!("/v1/conversations/{conversation}/transcript"), &admin, json!({"email": "ana@example.org"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "no email channel yet: {problem}");
    let settings = json!({
        "imap_host": "127.0.0.1", "imap_port": imap.port, "imap_tls": "none", "imap_username": IMAP_USER, "imap_password": IMAP_PASSWORD,
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none", "from_address": "support@shop.example", "relay_country": "DE",
    });
    let (status, _) = app.post("/v1/channels", &admin, json!({"kind": "email", "name": "Mail", "settings": settings})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = app.post(&format!("/v1/conversations/{conversation}/transcript"), &admin, json!({})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("email")), "no address on record yet");
    let (status, queued) = app.post(&format!("/v1/conversations/{conversation}/transcript"), &admin, json!({"email": "ana@example.org"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let mail = String::from_utf8_lossy(&smtp.wait_for(1, std::time::Duration::from_secs(20))[0]).replace("=\r\n", "");
    for text in ["first question about parcel 77", "second question about invoice 88", "answer about both"] {
        assert!(mail.contains(text), "{text} missing from the transcript: {mail}");
    }
    assert!(!mail.contains("internal only"), "private notes stay private");
    assert!(mail.contains("Auto-Submitted"), "{mail}");
}

async fn a_resolved_text_conversation_gets_a_rating_link(backend: Backend) {
    use omnibridge_twilio_sms::testkit::FakeTwilio;
    let app = TestApp::spawn(backend).await;
    let twilio = FakeTwilio::start(crate::sms::ACCOUNT, crate::sms::TOKEN).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = crate::sms::sms_channel(&app, &admin, &twilio.base_url(), json!({})).await;
    let (_, contact) = app.post("/v1/contacts", &admin, json!({"phone": crate::sms::CUSTOMER})).await;
    let (status, started) = app.post("/v1/conversations", &admin, json!({"contact_id": contact["id"], "channel_id": channel, "text": "Your refund is done"})).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let conversation = started["id"].as_str().expect("id").to_owned();
    let (status, _) = app.patch(&format!("/v1/conversations/{conversation}"), &admin, json!({"status": "resolved"})).await;
    assert_eq!(status, StatusCode::OK);
    let sent = twilio.wait_for_sent(2, std::time::Duration::from_secs(20)).await;
    let body = sent[1].field("Body").expect("body").to_owned();
    let link = body.split_whitespace().find(|w| w.contains("/csat/")).expect("a rating link");
    let path = &link[link.find("/csat/").expect("path")..];

    let page = app.http.get(format!("{}{path}", app.base)).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("html").contains("How did we do?"));
    let answered = app.http.post(format!("{}{path}", app.base)).form(&[("score", "5"), ("comment", "great")]).send().await.expect("answer");
    assert!(answered.text().await.expect("html").contains("Thank you"));
    let again = app.http.get(format!("{}{path}", app.base)).send().await.expect("page").text().await.expect("html");
    assert!(again.contains("rated this conversation already"));
    let missing = app.http.get(format!("{}/csat/not-a-token", app.base)).send().await.expect("page");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let (_, stats) = app.get("/v1/stats", &admin).await;
    assert_eq!(stats["total"]["csat"]["average"], 5.0, "{stats}");
}

async fn a_resolved_web_chat_asks_how_we_did(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (_, me) = app.get("/v1/auth/session", &admin).await;
    let operator = me["operator_id"].as_str().expect("operator").to_owned();
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({"name": "Ana"})).await;
    let mut socket = crate::helpers::websocket(&format!("{}/widget/v1/ws?token={token}", app.ws_base)).await;
    app.visitor_says(&token, json!({"text": "my order is late"})).await;
    let list = app.wait_for(&admin, "/v1/conversations", |l| data(l).len() == 1).await;
    let conversation = data(&list)[0]["id"].as_str().expect("id").to_owned();
    let (status, _) = app.patch(&format!("/v1/conversations/{conversation}"), &admin, json!({"assignee_id": operator, "status": "resolved"})).await;
    assert_eq!(status, StatusCode::OK);

    let frame = crate::helpers::next_frame(&mut socket, std::time::Duration::from_secs(10), |f| f["type"] == "csat").await.expect("the widget is asked");
    let survey = frame["survey_id"].as_str().expect("survey").to_owned();
    let (status, problem) = app.post("/widget/v1/csat", &token, json!({"survey_id": survey, "score": 9})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("score")));
    let (status, _) = app.post("/widget/v1/csat", &token, json!({"survey_id": survey, "score": 4, "comment": "quick, thanks"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = app.post("/widget/v1/csat", &token, json!({"survey_id": survey, "score": 5})).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("already_answered")));

    let (_, stats) = app.get("/v1/stats", &admin).await;
    assert_eq!((stats["total"]["csat"]["answers"].as_u64(), stats["total"]["csat"]["average"].as_f64()), (Some(1), Some(4.0)), "{stats}");
    assert_eq!(stats["by_operator"][0]["csat"]["average"], 4.0);
    assert_eq!(stats["by_channel"][0]["csat"]["answers"], 1);
}

async fn outside_business_hours_a_contact_is_told_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let closed = app.webchat_channel(&admin).await;
    let hours = json!({"time_zone": "Europe/Berlin", "weekly": {}, "holidays": [], "away_message": "We are closed now; we answer from 9:00."});
    for (bad, field) in [
        (json!({"time_zone": "Mars/Olympus", "away_message": "x"}), "time_zone"),
        (json!({"time_zone": "UTC", "weekly": {"mon": [["17:00", "09:00"]]}, "away_message": "x"}), "weekly.mon[0]"),
    ] {
        let (status, problem) = app.put(&format!("/v1/channels/{closed}/business-hours"), &admin, bad).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{problem}");
    }
    let (status, _) = app.put(&format!("/v1/channels/{closed}/business-hours"), &admin, hours).await;
    assert_eq!(status, StatusCode::OK);
    let (_, shown) = app.get(&format!("/v1/channels/{closed}/business-hours"), &admin).await;
    assert_eq!(shown["open_now"], false);

    let (token, _) = app.visitor(&closed, json!({"name": "Night Owl"})).await;
    for text in ["anyone there?", "hello?"] {
        app.visitor_says(&token, json!({"text": text})).await;
    }
    let list = app.wait_for(&admin, "/v1/conversations", |l| data(l).len() == 1).await;
    let conversation = data(&list)[0]["id"].as_str().expect("id").to_owned();
    let away = |m: &serde_json::Value| m["author"] == "system" && m["direction"] == "out";
    app.wait_for(&admin, &format!("/v1/conversations/{conversation}/messages"), |l| data(l).iter().any(away)).await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    let notices: Vec<serde_json::Value> = data(&messages).into_iter().filter(|m| away(m)).collect();
    assert_eq!(notices.len(), 1, "told once, not per message: {messages}");
    assert_eq!(notices[0]["text"], "We are closed now; we answer from 9:00.");

    // A channel open around the clock says nothing.
    let open = app.webchat_channel(&admin).await;
    let always: serde_json::Map<String, serde_json::Value> =
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().map(|d| (d.to_string(), json!([["00:00", "24:00"]]))).collect();
    let (status, _) = app.put(&format!("/v1/channels/{open}/business-hours"), &admin, json!({"time_zone": "UTC", "weekly": always, "away_message": "closed"})).await;
    assert_eq!(status, StatusCode::OK);
    let (token, _) = app.visitor(&open, json!({"name": "Day Bird"})).await;
    app.visitor_says(&token, json!({"text": "hi"})).await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let (_, all) = app.get("/v1/conversations", &admin).await;
    let day = data(&all).into_iter().find(|c| c["channel_id"] == open.as_str()).expect("conversation");
    let (_, messages) = app.get(&format!("/v1/conversations/{}/messages", day["id"].as_str().expect("id")), &admin).await;
    assert!(!data(&messages).iter().any(away), "{messages}");
}

async fn stats_count_what_the_team_did(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (_, me) = app.get("/v1/auth/session", &admin).await;
    let operator = me["operator_id"].as_str().expect("the admin key belongs to an operator").to_owned();
    let channel = app.webchat_channel(&admin).await;
    for name in ["Ana", "Ben"] {
        let (token, _) = app.visitor(&channel, json!({"name": name})).await;
        app.visitor_says(&token, json!({"text": "hello"})).await;
    }
    let list = app.wait_for(&admin, "/v1/conversations", |l| data(l).len() == 2).await;
    let first = data(&list)[1]["id"].as_str().expect("id").to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (status, _) = app.post(&format!("/v1/conversations/{first}/messages"), &admin, json!({"text": "Hi Ana"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.patch(&format!("/v1/conversations/{first}"), &admin, json!({"assignee_id": operator, "status": "resolved"})).await;
    assert_eq!(status, StatusCode::OK);

    let (status, stats) = app.get("/v1/stats", &admin).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let total = &stats["total"];
    assert_eq!((total["conversations_opened"].as_u64(), total["conversations_resolved"].as_u64()), (Some(2), Some(1)), "{stats}");
    assert_eq!(total["first_response_secs"]["count"], 1);
    assert!(total["first_response_secs"]["median"].as_f64().is_some_and(|s| s >= 0.05), "{stats}");
    assert_eq!(total["resolution_secs"]["count"], 1);
    assert_eq!((total["queue"]["open"].as_u64(), total["queue"]["unassigned"].as_u64()), (Some(1), Some(1)));
    assert_eq!(stats["by_channel"][0]["channel_id"], channel.as_str());
    assert_eq!(stats["by_operator"][0]["operator_id"], operator.as_str());
    assert_eq!(stats["by_operator"][0]["conversations_resolved"], 1);
    let (status, problem) = app.get("/v1/stats?from=yesterday", &admin).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("from")));
    let (_, empty) = app.get("/v1/stats?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z", &admin).await;
    assert_eq!(empty["total"]["conversations_opened"], 0);
}

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
    for (body, field, expected) in [
        (json!({"shortcut": "bad", "text": "Hi {{contact.shoe}}"}), "text", StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"shortcut": "greet", "text": "again"}), "shortcut", StatusCode::CONFLICT),
        (json!({"shortcut": "two words", "text": "x"}), "shortcut", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, problem) = app.post("/v1/canned-responses", &admin, body).await;
        assert_eq!((status, problem["field"].as_str()), (expected, Some(field)), "{problem}");
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
