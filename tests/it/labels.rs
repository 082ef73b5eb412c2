//! Labels and saved views as a support team uses them: an admin defines labels, agents put them
//! on conversations and contacts in bulk, the inbox and search filter by them, integrations see
//! them in webhook payloads, and operators save filters as views of their own or for the team.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::receiver::Receiver;

backend_tests!(labels_sort_conversations_and_contacts_everywhere, saved_views_keep_an_operators_filters, custom_attributes_are_typed_and_personal_ones_sealed,);

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

fn ids(list: &Value) -> Vec<String> {
    data(list).iter().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect()
}

/// Three visitors write; returns (conversation id, contact id) each.
async fn three_conversations(app: &TestApp, admin: &str) -> Vec<(String, String)> {
    let channel = app.webchat_channel(admin).await;
    let mut out = Vec::new();
    for (name, text) in [("Ana", "I want a refund for the lamp"), ("Ben", "Refund please, the chair broke"), ("Cleo", "Where is my parcel?")] {
        let (token, _) = app.visitor(&channel, json!({"name": name})).await;
        let (_, said) = app.visitor_says(&token, json!({"text": text})).await;
        let conversation = said["conversation_id"].as_str().expect("conversation").to_owned();
        let (_, shown) = app.get(&format!("/v1/conversations/{conversation}"), admin).await;
        out.push((conversation, shown["contact_id"].as_str().expect("contact").to_owned()));
    }
    out
}

async fn labels_sort_conversations_and_contacts_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let (tenant, admin) = app.create_tenant("Shop");
    let agent = app.create_key(&tenant, "agent");
    let (status, endpoint) = app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "country": "DE", "event_types": ["conversation.updated", "contact.updated", "label.created", "label.updated", "label.deleted"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let talks = three_conversations(&app, &admin).await;
    let (ana, ben, cleo) = (&talks[0], &talks[1], &talks[2]);

    // Admins define labels; agents may not.
    let (status, refund) = app.post("/v1/labels", &admin, json!({"name": "Refund", "color": "#C2410C"})).await;
    assert_eq!(status, StatusCode::CREATED, "{refund}");
    assert_eq!(refund["color"], "#c2410c");
    let refund_id = refund["id"].as_str().expect("id").to_owned();
    let (status, vip) = app.post("/v1/labels", &admin, json!({"name": "VIP"})).await;
    assert_eq!(status, StatusCode::CREATED, "{vip}");
    assert!(vip["color"].as_str().is_some_and(|c| c.starts_with('#') && c.len() == 7), "a colour is given: {vip}");
    assert_eq!(app.post("/v1/labels", &agent, json!({"name": "Agents' own"})).await.0, StatusCode::FORBIDDEN);
    // A name taken is a conflict (409); a malformed value is refused (422); both name the field.
    for (body, field, expected) in [
        (json!({"name": "Refund"}), "name", StatusCode::CONFLICT),
        (json!({"name": ""}), "name", StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "Late", "color": "orange"}), "color", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, problem) = app.post("/v1/labels", &admin, body.clone()).await;
        assert_eq!(status, expected, "{body}: {problem}");
        assert!(problem.to_string().contains(field), "{body}: {problem}");
    }

    // An agent labels two conversations and a contact at once.
    let (status, changed) = app.post(&format!("/v1/labels/{refund_id}/apply"), &agent, json!({"conversation_ids": [ana.0, ben.0], "contact_ids": [ana.1]})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["changed"]["conversations"].as_array().map(Vec::len), Some(2));
    let (_, filtered) = app.get("/v1/conversations?label=Refund", &agent).await;
    let mut expected = vec![ana.0.clone(), ben.0.clone()];
    expected.sort();
    let mut got = ids(&filtered);
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(data(&filtered)[0]["labels"][0]["name"], "Refund");
    let (_, shown) = app.get(&format!("/v1/conversations/{}", ana.0), &agent).await;
    assert_eq!(shown["labels"], json!([{"id": refund_id, "name": "Refund", "color": "#c2410c"}]));
    let (_, contact) = app.get(&format!("/v1/contacts/{}", ana.1), &agent).await;
    assert_eq!(contact["labels"][0]["name"], "Refund", "{contact}");
    for path in ["/v1/contacts?limit=10", "/v1/contacts?q=Ana"] {
        let (_, listed) = app.get(path, &agent).await;
        let row = data(&listed).into_iter().find(|c| c["id"] == ana.1.as_str()).unwrap_or_else(|| panic!("Ana in {path}: {listed}"));
        assert_eq!(row["labels"][0]["name"], "Refund", "{path}: {row}");
    }
    let (_, cleo_shown) = app.get(&format!("/v1/conversations/{}", cleo.0), &agent).await;
    assert_eq!(cleo_shown["labels"], json!([]));

    // Integrations see the labels in the events of the change.
    let got = receiver
        .wait_until(Duration::from_secs(20), |r| {
            r.iter().filter(|d| d.json()["type"] == "conversation.updated").count() >= 2 && r.iter().any(|d| d.json()["type"] == "contact.updated")
        })
        .await;
    let conversation_event = got.iter().map(|d| d.json()).find(|e| e["type"] == "conversation.updated" && e["data"]["id"] == ben.0.as_str()).expect("Ben's event");
    assert_eq!(conversation_event["data"]["labels"][0]["name"], "Refund");
    let contact_event = got.iter().map(|d| d.json()).find(|e| e["type"] == "contact.updated").expect("contact event");
    assert_eq!(contact_event["data"]["id"], ana.1.as_str());
    assert_eq!(contact_event["data"]["labels"][0]["name"], "Refund");

    // Filters combine with search and with each other.
    let found = app.wait_for(&agent, "/v1/search?q=refund&label=Refund", |r| data(r).len() == 2).await;
    assert_eq!(data(&found).len(), 2);
    let (_, vip_only) = app.get(&format!("/v1/search?q=refund&label={}", vip["id"].as_str().expect("id")), &agent).await;
    assert!(data(&vip_only).is_empty());
    app.wait_for(&agent, "/v1/search?q=ana&type=contacts&label=Refund", |r| data(r).len() == 1).await;
    let (status, problem) = app.get("/v1/conversations?label=Nope", &agent).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem.to_string().contains("label"), "{problem}");

    // Taking it off, renaming, and bulk changes limited to the tenant's own conversations.
    let (status, _) = app.post(&format!("/v1/labels/{refund_id}/remove"), &agent, json!({"conversation_ids": [ben.0]})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, filtered) = app.get("/v1/conversations?label=Refund", &agent).await;
    assert_eq!(ids(&filtered), std::slice::from_ref(&ana.0));
    let (status, renamed) = app.patch(&format!("/v1/labels/{refund_id}"), &admin, json!({"name": "Refunds"})).await;
    assert_eq!((status, renamed["name"].as_str()), (StatusCode::OK, Some("Refunds")));
    let (_, list) = app.get("/v1/labels", &agent).await;
    let listed = data(&list).into_iter().find(|l| l["id"] == refund_id.as_str()).expect("listed");
    assert_eq!((listed["name"].as_str(), listed["conversations"].as_i64(), listed["contacts"].as_i64()), (Some("Refunds"), Some(1), Some(1)));
    let (_, stranger) = app.create_tenant("Other shop");
    let (_, theirs) = app.post("/v1/labels", &stranger, json!({"name": "Theirs"})).await;
    let (status, problem) = app.post(&format!("/v1/labels/{}/apply", theirs["id"].as_str().expect("id")), &stranger, json!({"conversation_ids": [ana.0]})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::NOT_FOUND, Some("conversation_ids[0]")), "another tenant's conversation is not found: {problem}");
    assert_eq!(app.post(&format!("/v1/labels/{refund_id}/apply"), &stranger, json!({"conversation_ids": [cleo.0]})).await.0, StatusCode::NOT_FOUND);

    // Deleting a label takes it off everything.
    assert_eq!(app.call(reqwest::Method::DELETE, &format!("/v1/labels/{refund_id}"), Some(&admin), None).await.0, StatusCode::NO_CONTENT);
    let (_, shown) = app.get(&format!("/v1/conversations/{}", ana.0), &agent).await;
    assert_eq!(shown["labels"], json!([]));

    // Integrations keep the vocabulary: a label's definition, renaming and deletion are events.
    let got = receiver.wait_until(Duration::from_secs(20), |r| r.iter().any(|d| d.json()["type"] == "label.deleted")).await;
    let mut label_events: Vec<Value> =
        got.iter().map(|d| d.json()).filter(|e| e["data"]["id"] == refund_id.as_str() && e["type"].as_str().is_some_and(|t| t.starts_with("label."))).collect();
    label_events.sort_by_key(|e| e["timestamp"].as_str().unwrap_or_default().to_owned());
    let label_events: Vec<(String, Value)> = label_events
        .iter()
        .map(|e| (e["type"].as_str().unwrap_or_default().to_owned(), e["data"]["name"].clone()))
        .collect();
    assert_eq!(
        label_events,
        [("label.created".to_owned(), json!("Refund")), ("label.updated".to_owned(), json!("Refunds")), ("label.deleted".to_owned(), json!("Refunds"))],
        "in order"
    );
}

async fn saved_views_keep_an_operators_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, olga) = app.post("/v1/operators", &admin, json!({"name": "Olga", "role": "agent"})).await;
    assert_eq!(status, StatusCode::CREATED, "{olga}");
    let (_, key) = app.post("/v1/api-keys", &admin, json!({"name": "Olga", "role": "agent", "operator_id": olga["id"]})).await;
    let agent = key["api_key"].as_str().expect("key").to_owned();
    let talks = three_conversations(&app, &admin).await;
    let (_, label) = app.post("/v1/labels", &admin, json!({"name": "Refund"})).await;
    app.post(&format!("/v1/labels/{}/apply", label["id"].as_str().expect("id")), &admin, json!({"conversation_ids": [talks[0].0, talks[1].0]})).await;
    app.patch(&format!("/v1/conversations/{}", talks[1].0), &admin, json!({"status": "resolved"})).await;

    // Olga saves "open refunds" for herself.
    let (status, view) = app.post("/v1/views", &agent, json!({"name": "Open refunds", "filters": {"status": "open", "label": "Refund"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["shared"], false);
    let view_id = view["id"].as_str().expect("id").to_owned();
    let (_, listed) = app.get(&format!("/v1/conversations?view={view_id}"), &agent).await;
    assert_eq!(ids(&listed), [talks[0].0.clone()]);
    // A parameter of the request wins over the view's.
    let (_, resolved) = app.get(&format!("/v1/conversations?view={view_id}&status=resolved"), &agent).await;
    assert_eq!(ids(&resolved), [talks[1].0.clone()]);

    // Shared views are an admin's to make; everyone sees them; a private one is its owner's.
    assert_eq!(app.post("/v1/views", &agent, json!({"name": "Team", "shared": true, "filters": {}})).await.0, StatusCode::FORBIDDEN);
    let (status, team) = app.post("/v1/views", &admin, json!({"name": "Unassigned", "shared": true, "filters": {"assignee": "none"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let (_, mine) = app.get("/v1/views", &agent).await;
    let names: Vec<String> = data(&mine).iter().filter_map(|v| v["name"].as_str().map(str::to_owned)).collect();
    assert_eq!(names, ["Open refunds", "Unassigned"]);
    let (_, admins) = app.get("/v1/views", &admin).await;
    assert!(data(&admins).iter().all(|v| v["name"] != "Open refunds"), "another operator's view stays theirs: {admins}");
    assert_eq!(app.get(&format!("/v1/conversations?view={view_id}"), &admin).await.0, StatusCode::UNPROCESSABLE_ENTITY);

    // Filters are checked when saved, naming the filter.
    for (filters, field) in [(json!({"status": "someday"}), "filters.status"), (json!({"colour": "red"}), "filters"), (json!({"channel_id": "x"}), "filters.channel_id")] {
        let (status, problem) = app.post("/v1/views", &agent, json!({"name": "Bad", "filters": filters})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains(field), "{field}: {problem}");
    }
    for (filters, field) in [(json!({"team": "x"}), "filters.team"), (json!({"since": "last week"}), "filters.since"), (json!({"attr.Plan": "gold"}), "filters")] {
        let (status, problem) = app.post("/v1/views", &agent, json!({"name": "Bad", "filters": filters})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains(field), "{field}: {problem}");
    }

    // Team, contact and date range filters combine with the others.
    let (_, channel) = app.get(&format!("/v1/conversations/{}", talks[0].0), &admin).await;
    let (status, team) = app.post("/v1/teams", &admin, json!({"name": "Chat desk", "channel_ids": [channel["channel_id"]]})).await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let (_, on_team) = app.get(&format!("/v1/conversations?team={}&status=open", team["id"].as_str().expect("team")), &agent).await;
    assert_eq!(ids(&on_team).len(), 2, "{on_team}");
    let (_, other) = app.post("/v1/teams", &admin, json!({"name": "Mail desk"})).await;
    let (_, none) = app.get(&format!("/v1/conversations?team={}", other["id"].as_str().expect("team")), &agent).await;
    assert!(ids(&none).is_empty(), "{none}");
    let (status, problem) = app.get(&format!("/v1/conversations?team={}", uuid::Uuid::now_v7()), &agent).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem.to_string().contains("team"), "{problem}");
    let (_, of_contact) = app.get(&format!("/v1/conversations?contact_id={}", talks[2].1), &agent).await;
    assert_eq!(ids(&of_contact), [talks[2].0.clone()]);
    let (_, today) = app.get("/v1/conversations?since=2000-01-01&label=Refund", &agent).await;
    assert_eq!(ids(&today).len(), 2, "{today}");
    let (_, future) = app.get("/v1/conversations?since=2999-01-01", &agent).await;
    assert!(ids(&future).is_empty(), "{future}");
    let (_, past) = app.get("/v1/conversations?until=2000-01-01", &agent).await;
    assert!(ids(&past).is_empty(), "{past}");
    let (status, problem) = app.get("/v1/conversations?until=soon", &agent).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem.to_string().contains("until"), "{problem}");
    let (status, saved) = app.post("/v1/views", &agent, json!({"name": "Chat desk refunds", "filters": {"team": team["id"], "label": "Refund", "since": "2000-01-01"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let (_, listed) = app.get(&format!("/v1/conversations?view={}", saved["id"].as_str().expect("id")), &agent).await;
    assert_eq!(ids(&listed).len(), 2, "{listed}");

    let (status, renamed) = app.patch(&format!("/v1/views/{view_id}"), &agent, json!({"name": "Refunds to do"})).await;
    assert_eq!((status, renamed["name"].as_str()), (StatusCode::OK, Some("Refunds to do")));
    assert_eq!(app.call(reqwest::Method::DELETE, &format!("/v1/views/{view_id}"), Some(&admin), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.call(reqwest::Method::DELETE, &format!("/v1/views/{view_id}"), Some(&agent), None).await.0, StatusCode::NO_CONTENT);
}

async fn custom_attributes_are_typed_and_personal_ones_sealed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let (tenant, admin) = app.create_tenant("Shop");
    let agent = app.create_key(&tenant, "agent");
    app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "country": "DE", "event_types": ["conversation.updated", "contact.updated", "label.created", "label.updated", "label.deleted"]})).await;
    let talks = three_conversations(&app, &admin).await;
    let (conversation, contact) = &talks[0];

    for body in [
        json!({"applies_to": "conversation", "key": "plan", "type": "list", "options": ["free", "gold"]}),
        json!({"applies_to": "conversation", "key": "seats", "type": "number"}),
        json!({"applies_to": "conversation", "key": "renewal", "type": "date"}),
        json!({"applies_to": "contact", "key": "birthday", "name": "Birthday", "type": "date", "personal": true}),
        json!({"applies_to": "contact", "key": "company", "type": "text"}),
    ] {
        let (status, created) = app.post("/v1/attributes", &admin, body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}: {created}");
    }
    assert_eq!(app.post("/v1/attributes", &agent, json!({"applies_to": "contact", "key": "x", "type": "text"})).await.0, StatusCode::FORBIDDEN);
    for (body, field) in [
        (json!({"applies_to": "conversation", "key": "tone", "type": "colour"}), "type"),
        (json!({"applies_to": "conversation", "key": "tier", "type": "list"}), "options"),
        (json!({"applies_to": "ticket", "key": "plan", "type": "text"}), "applies_to"),
        (json!({"applies_to": "contact", "key": "Bad Key", "type": "text"}), "key"),
    ] {
        let (status, problem) = app.post("/v1/attributes", &admin, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        assert!(problem.to_string().contains(field), "{field}: {problem}");
    }
    // A key taken on the same kind of record is a conflict.
    {
        let (status, problem) = app.post("/v1/attributes", &admin, json!({"applies_to": "conversation", "key": "plan", "type": "text"})).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::CONFLICT, Some("key")), "{problem}");
    }

    // Set through the API, shown on reads, sent with the change.
    let (status, updated) = app.patch(&format!("/v1/conversations/{conversation}"), &agent, json!({"custom_attributes": {"plan": "gold", "seats": 5, "renewal": "2027-03-01"}})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["custom_attributes"], json!({"plan": "gold", "seats": 5, "renewal": "2027-03-01"}));
    let (_, shown) = app.get(&format!("/v1/conversations/{conversation}"), &agent).await;
    assert_eq!(shown["custom_attributes"]["plan"], "gold");
    let got = receiver.wait_until(Duration::from_secs(20), |r| r.iter().any(|d| d.json()["data"]["custom_attributes"]["plan"] == "gold")).await;
    assert!(got.iter().any(|d| d.json()["type"] == "conversation.updated"));

    // A wrong value is refused with the attribute named, and nothing of the change is kept.
    for (change, field) in [
        (json!({"seats": "five"}), "custom_attributes.seats"),
        (json!({"plan": "platinum", "seats": 6}), "custom_attributes.plan"),
        (json!({"renewal": "next spring"}), "custom_attributes.renewal"),
        (json!({"nope": 1}), "custom_attributes.nope"),
    ] {
        let (status, problem) = app.patch(&format!("/v1/conversations/{conversation}"), &agent, json!({"custom_attributes": change})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{change}: {problem}");
        assert!(problem.to_string().contains(field), "{field}: {problem}");
    }
    let (_, shown) = app.get(&format!("/v1/conversations/{conversation}"), &agent).await;
    assert_eq!(shown["custom_attributes"]["seats"], 5, "{shown}");

    // The inbox filters on a value.
    let (_, gold) = app.get("/v1/conversations?attr.plan=gold", &agent).await;
    assert_eq!(ids(&gold), std::slice::from_ref(conversation));
    let (_, five) = app.get("/v1/conversations?attr.seats=5", &agent).await;
    assert_eq!(ids(&five), std::slice::from_ref(conversation));
    let (status, problem) = app.get("/v1/conversations?attr.plan=platinum", &agent).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem.to_string().contains("attr.plan"), "{problem}");

    // A personal attribute is sealed under the contact's key; a plain one is not.
    let (status, person) = app.patch(&format!("/v1/contacts/{contact}"), &agent, json!({"custom_attributes": {"birthday": "1987-11-23", "company": "Quillfeather Ltd"}})).await;
    assert_eq!(status, StatusCode::OK, "{person}");
    let (_, shown) = app.get(&format!("/v1/contacts/{contact}"), &agent).await;
    assert_eq!(shown["custom_attributes"], json!({"birthday": "1987-11-23", "company": "Quillfeather Ltd"}));
    let dump = crate::privacy::everything(&app).await;
    assert!(!crate::privacy::holds(&dump, Backend::Sqlite, b"1987-11-23"), "a personal attribute is stored sealed");
    assert!(crate::privacy::holds(&dump, Backend::Sqlite, b"Quillfeather"), "a plain attribute is stored as it is");
    let (status, problem) = app.get("/v1/conversations?attr.birthday=1987-11-23", &agent).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // null removes a value.
    let (_, person) = app.patch(&format!("/v1/contacts/{contact}"), &agent, json!({"custom_attributes": {"company": null}})).await;
    assert_eq!(person["custom_attributes"], json!({"birthday": "1987-11-23"}));
}
