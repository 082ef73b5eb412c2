//! Every `/v1` route, called with no key, another tenant's key, an agent key and an admin key.
//! The table is checked against the OpenAPI document so a new route cannot skip this test.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, websocket_status};

backend_tests!(every_v1_route_enforces_keys_roles_and_tenants);

/// Expected statuses: [no key, other tenant, agent, admin].
/// One route: the statuses expected for no key, another tenant's admin, an agent and an admin
/// of the tenant. An integration key is checked too, after the admin (see [`integration`]).
struct Case {
    method: Method,
    template: &'static str,
    body: Option<Value>,
    expect: [u16; 4],
}

/// What an integration key gets. Integrations do inbox work like agents, and also manage
/// webhooks like admins; they run after the admin, so what the admin deleted is gone for them.
fn integration(case: &Case) -> u16 {
    let [_, _, agent, admin] = case.expect;
    let allowed_like = if case.template.starts_with("/v1/webhooks") { admin } else { agent };
    match (&case.method, allowed_like) {
        // Deleted already by the agent or the admin before it.
        (&Method::DELETE, 200..=299) => 404,
        // The same canned shortcut again.
        (&Method::POST, 201) if case.template == "/v1/canned-responses" => 409,
        // A shared view is found before the role is asked: the admin deleted it already.
        (&Method::DELETE, _) if case.template == "/v1/views/{view}" => 404,
        _ => allowed_like,
    }
}

async fn every_v1_route_enforces_keys_roles_and_tenants(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (tenant, admin) = app.create_tenant("Acme");
    let agent = app.create_key(&tenant, "agent");
    let integration_key = app.create_key(&tenant, "integration");
    let (_, other) = app.create_tenant("Other Co");
    let channel = app.webchat_channel(&admin).await;
    // An endpoint nobody listens at: its deliveries fail and wait for retries.
    let (_, created) = app.post("/v1/webhooks/endpoints", &admin, json!({"url": "http://127.0.0.1:9/hook", "country": "DE"})).await;
    let endpoint = created["id"].as_str().expect("endpoint").to_owned();
    let (token, _) = app.visitor(&channel, json!({"name": "Ana"})).await;
    app.visitor_says(&token, json!({"text": "hi"})).await;
    let mut delivery = String::new();
    for _ in 0..100 {
        let (_, list) = app.get(&format!("/v1/webhooks/endpoints/{endpoint}/deliveries"), &admin).await;
        if let Some(id) = list["data"][0]["id"].as_str() {
            delivery = id.to_owned();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!delivery.is_empty(), "the message event was fanned out to the endpoint");
    let (_, list) = app.get("/v1/conversations", &admin).await;
    let conversation = list["data"][0]["id"].as_str().expect("conversation").to_owned();
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    let message = messages["data"][0]["id"].as_str().expect("message").to_owned();
    let contact = list["data"][0]["contact_id"].as_str().expect("contact").to_owned();
    let (_, filed) = app.post("/v1/privacy/requests", &admin, json!({"type": "access", "contact_id": contact})).await;
    let request = filed["id"].as_str().expect("privacy request").to_owned();
    let (_, canned) = app.post("/v1/canned-responses", &admin, json!({"shortcut": "hello", "text": "Hello {{contact.name}}"})).await;
    let canned = canned["id"].as_str().expect("canned").to_owned();
    let (_, operator) = app.post("/v1/operators", &admin, json!({"name": "Ops", "role": "agent"})).await;
    let operator = operator["id"].as_str().expect("operator").to_owned();
    app.wait_for(&admin, &format!("/v1/privacy/requests/{request}"), |r| r["status"] == "completed").await;
    let (_, label) = app.post("/v1/labels", &admin, json!({"name": "Refund"})).await;
    let label = label["id"].as_str().expect("label").to_owned();
    let (_, view) = app.post("/v1/views", &admin, json!({"name": "Open", "shared": true, "filters": {"status": "open"}})).await;
    let view = view["id"].as_str().expect("view").to_owned();
    let (_, attribute) = app.post("/v1/attributes", &admin, json!({"applies_to": "contact", "key": "plan", "type": "text"})).await;
    let attribute = attribute["id"].as_str().expect("attribute").to_owned();
    let (_, export) = app.post("/v1/tenant/exports", &admin, json!({"key": "11".repeat(32)})).await;
    let export = export["id"].as_str().expect("export").to_owned();

    let cases = vec![
        Case { method: Method::GET, template: "/v1/channels", body: None, expect: [401, 200, 200, 200] },
        Case { method: Method::POST, template: "/v1/channels", body: Some(json!({"kind": "webchat", "name": "New"})), expect: [401, 201, 403, 201] },
        Case { method: Method::GET, template: "/v1/channels/{channel}", body: None, expect: [401, 404, 200, 200] },
        Case { method: Method::PATCH, template: "/v1/channels/{channel}", body: Some(json!({"name": "Renamed"})), expect: [401, 404, 403, 200] },
        Case { method: Method::GET, template: "/v1/conversations", body: None, expect: [401, 200, 200, 200] },
        Case {
            method: Method::POST,
            template: "/v1/conversations",
            body: Some(json!({"contact_id": contact, "channel_id": channel, "text": "hello"})),
            expect: [401, 404, 201, 201],
        },
        Case { method: Method::GET, template: "/v1/conversations/{conversation}", body: None, expect: [401, 404, 200, 200] },
        Case { method: Method::PATCH, template: "/v1/conversations/{conversation}", body: Some(json!({"status": "pending"})), expect: [401, 404, 200, 200] },
        Case { method: Method::GET, template: "/v1/conversations/{conversation}/messages", body: None, expect: [401, 404, 200, 200] },
        Case {
            method: Method::POST,
            template: "/v1/conversations/{conversation}/messages",
            body: Some(json!({"text": "on it"})),
            expect: [401, 404, 201, 201],
        },
        Case { method: Method::GET, template: "/v1/contacts", body: None, expect: [401, 200, 200, 200] },
        // Without `q`: every caller that may search is told what is missing.
        Case { method: Method::GET, template: "/v1/search", body: None, expect: [401, 422, 422, 422] },
        Case { method: Method::POST, template: "/v1/contacts", body: Some(json!({"name": "Bo"})), expect: [401, 201, 201, 201] },
        Case { method: Method::GET, template: "/v1/contacts/{contact}", body: None, expect: [401, 404, 200, 200] },
        Case { method: Method::PATCH, template: "/v1/contacts/{contact}", body: Some(json!({"name": "Ana B."})), expect: [401, 404, 200, 200] },
        Case { method: Method::GET, template: "/v1/contacts/{contact}/consents", body: None, expect: [401, 404, 200, 200] },
        Case {
            method: Method::POST,
            template: "/v1/contacts/{contact}/merge",
            body: Some(json!({"other_id": contact, "reason": "same person"})),
            expect: [401, 404, 422, 422],
        },
        Case {
            method: Method::POST,
            template: "/v1/contacts/{contact}/unmerge",
            body: Some(json!({"merge_id": uuid::Uuid::now_v7()})),
            expect: [401, 404, 422, 422],
        },
        Case { method: Method::GET, template: "/v1/contacts/{contact}/merges", body: None, expect: [401, 404, 200, 200] },
        Case { method: Method::GET, template: "/v1/merge-suggestions", body: None, expect: [401, 200, 200, 200] },
        Case {
            method: Method::POST,
            template: "/v1/contacts/{contact}/consents",
            body: Some(json!({"channel": "email", "address": "nobody@example.com", "purpose": "marketing", "action": "grant"})),
            expect: [401, 404, 422, 422],
        },
        Case { method: Method::GET, template: "/v1/contacts/{contact}/consents/receipt", body: None, expect: [401, 404, 200, 200] },
        Case { method: Method::GET, template: "/v1/consents/verify", body: None, expect: [401, 200, 200, 200] },
        // A web chat channel cannot make deep links: the role passes, the body does not.
        Case {
            method: Method::POST,
            template: "/v1/contacts/{contact}/links",
            body: Some(json!({"channel_id": channel})),
            expect: [401, 404, 422, 422],
        },
        Case { method: Method::GET, template: "/v1/operators", body: None, expect: [401, 200, 200, 200] },
        Case { method: Method::POST, template: "/v1/operators", body: Some(json!({"name": "Eve", "role": "agent"})), expect: [401, 201, 403, 201] },
        Case { method: Method::GET, template: "/v1/channels/{channel}/quarantine", body: None, expect: [401, 404, 403, 200] },
        // A web chat channel keeps no message templates.
        Case { method: Method::GET, template: "/v1/channels/{channel}/templates", body: None, expect: [401, 404, 200, 200] },
        Case { method: Method::POST, template: "/v1/channels/{channel}/templates/sync", body: Some(json!({})), expect: [401, 404, 409, 409] },
        Case { method: Method::GET, template: "/v1/messages/{message}/deliveries", body: None, expect: [401, 404, 200, 200] },
        Case { method: Method::GET, template: "/v1/messages", body: None, expect: [401, 200, 200, 200] },
        // Participants and forwards are a mail matter; this conversation is a web chat.
        Case { method: Method::GET, template: "/v1/conversations/{conversation}/participants", body: None, expect: [401, 404, 200, 200] },
        Case { method: Method::POST, template: "/v1/conversations/{conversation}/read", body: None, expect: [401, 404, 409, 204] },
        Case {
            method: Method::POST,
            template: "/v1/conversations/{conversation}/participants",
            body: Some(json!({"address": "carla@example.com"})),
            expect: [401, 404, 409, 409],
        },
        Case { method: Method::DELETE, template: "/v1/conversations/{conversation}/participants/{attachment}", body: None, expect: [401, 404, 404, 404] },
        Case { method: Method::POST, template: "/v1/conversations/{conversation}/forward", body: Some(json!({"to": "lead@example.com"})), expect: [401, 404, 422, 422] },
        Case { method: Method::POST, template: "/v1/messages/{message}/forward", body: Some(json!({"to": "lead@example.com"})), expect: [401, 404, 422, 422] },
        Case { method: Method::GET, template: "/v1/messages/{message}", body: None, expect: [401, 404, 200, 200] },
        // The customer's own message: never scheduled, retried or canceled.
        Case { method: Method::PATCH, template: "/v1/messages/{message}", body: Some(json!({"text": "changed"})), expect: [401, 404, 409, 409] },
        Case { method: Method::POST, template: "/v1/messages/{message}/retry", body: Some(json!({})), expect: [401, 404, 409, 409] },
        Case { method: Method::POST, template: "/v1/messages/{message}/cancel", body: Some(json!({})), expect: [401, 404, 409, 409] },
        Case { method: Method::GET, template: "/v1/attachments/{attachment}", body: None, expect: [401, 404, 404, 404] },
        Case { method: Method::GET, template: "/v1/webhooks/event-types", body: None, expect: [401, 200, 403, 200] },
        Case { method: Method::GET, template: "/v1/webhooks/endpoints", body: None, expect: [401, 200, 403, 200] },
        Case {
            method: Method::POST,
            template: "/v1/webhooks/endpoints",
            body: Some(json!({"url": "http://127.0.0.1:9/other", "country": "DE"})),
            expect: [401, 201, 403, 201],
        },
        Case { method: Method::GET, template: "/v1/webhooks/endpoints/{endpoint}", body: None, expect: [401, 404, 403, 200] },
        Case {
            method: Method::PATCH,
            template: "/v1/webhooks/endpoints/{endpoint}",
            body: Some(json!({"description": "CRM"})),
            expect: [401, 404, 403, 200],
        },
        Case { method: Method::POST, template: "/v1/webhooks/endpoints/{endpoint}/rotate-secret", body: None, expect: [401, 404, 403, 200] },
        Case { method: Method::POST, template: "/v1/webhooks/endpoints/{endpoint}/test", body: None, expect: [401, 404, 403, 202] },
        Case { method: Method::GET, template: "/v1/webhooks/endpoints/{endpoint}/deliveries", body: None, expect: [401, 404, 403, 200] },
        Case {
            method: Method::POST,
            template: "/v1/webhooks/endpoints/{endpoint}/recover",
            body: Some(json!({"since": "2026-01-01T00:00:00Z"})),
            expect: [401, 404, 403, 202],
        },
        Case { method: Method::GET, template: "/v1/webhooks/deliveries/{delivery}", body: None, expect: [401, 404, 403, 200] },
        Case { method: Method::GET, template: "/v1/webhooks/deliveries/{delivery}/attempts", body: None, expect: [401, 404, 403, 200] },
        Case { method: Method::POST, template: "/v1/webhooks/deliveries/{delivery}/retry", body: None, expect: [401, 404, 403, 202] },
        Case { method: Method::DELETE, template: "/v1/webhooks/endpoints/{endpoint}", body: None, expect: [401, 404, 403, 204] },
        Case { method: Method::GET, template: "/v1/policy", body: None, expect: [401, 200, 403, 200] },
        Case { method: Method::PUT, template: "/v1/policy", body: Some(json!({"rules": []})), expect: [401, 200, 403, 200] },
        Case { method: Method::GET, template: "/v1/subprocessors", body: None, expect: [401, 200, 200, 200] },
        Case {
            method: Method::PUT,
            template: "/v1/subprocessors/{subprocessor}/authorization",
            body: Some(json!({"decision": "approved"})),
            expect: [401, 200, 403, 200],
        },
        Case { method: Method::GET, template: "/v1/transfers", body: None, expect: [401, 200, 403, 200] },
        Case { method: Method::GET, template: "/v1/ropa", body: None, expect: [401, 200, 403, 200] },
        Case { method: Method::GET, template: "/v1/privacy/requests", body: None, expect: [401, 200, 403, 200] },
        Case {
            method: Method::POST,
            template: "/v1/privacy/requests",
            body: Some(json!({"type": "access", "contact_id": contact})),
            expect: [401, 404, 403, 202],
        },
        Case { method: Method::GET, template: "/v1/privacy/requests/{request}", body: None, expect: [401, 404, 403, 200] },
        Case { method: Method::GET, template: "/v1/privacy/requests/{request}/export", body: None, expect: [401, 404, 403, 200] },
        Case { method: Method::GET, template: "/v1/retention", body: None, expect: [401, 200, 403, 200] },
        Case { method: Method::PUT, template: "/v1/retention", body: Some(json!({"messages_days": 365})), expect: [401, 200, 403, 200] },
        Case { method: Method::GET, template: "/v1/audit", body: None, expect: [401, 200, 403, 200] },
        Case {
            method: Method::POST,
            template: "/v1/conversations/{conversation}/typing",
            body: Some(json!({"typing": true})),
            expect: [401, 404, 204, 204],
        },
        Case { method: Method::GET, template: "/v1/canned-responses", body: None, expect: [401, 200, 200, 200] },
        Case {
            method: Method::POST,
            template: "/v1/canned-responses",
            body: Some(json!({"shortcut": "thanks", "text": "Thank you, {{contact.name}}!"})),
            // The agent's is the first "thanks" of the tenant; the admin's is then a duplicate.
            expect: [401, 201, 201, 409],
        },
        Case { method: Method::PATCH, template: "/v1/canned-responses/{canned}", body: Some(json!({"text": "Thanks!"})), expect: [401, 404, 200, 200] },
        Case {
            method: Method::POST,
            template: "/v1/canned-responses/{canned}/render",
            body: Some(json!({"conversation_id": conversation})),
            expect: [401, 404, 200, 200],
        },
        Case { method: Method::DELETE, template: "/v1/canned-responses/{canned}", body: None, expect: [401, 404, 204, 404] },
        Case { method: Method::PATCH, template: "/v1/operators/{operator}", body: Some(json!({"availability": "away"})), expect: [401, 404, 403, 200] },
        // Team import takes CSV; a JSON body is a file with a bad line.
        Case { method: Method::POST, template: "/v1/operators/import", body: Some(json!({"not": "csv"})), expect: [401, 422, 403, 422] },
        Case {
            method: Method::PUT,
            template: "/v1/channels/{channel}/business-hours",
            body: Some(json!({"time_zone": "UTC", "weekly": {"mon": [["09:00", "17:00"]]}, "away_message": "Closed"})),
            expect: [401, 404, 403, 200],
        },
        Case { method: Method::GET, template: "/v1/channels/{channel}/business-hours", body: None, expect: [401, 404, 200, 200] },
        Case {
            method: Method::POST,
            template: "/v1/conversations/{conversation}/transcript",
            body: Some(json!({"email": "ana@example.com"})),
            expect: [401, 404, 409, 409],
        },
        Case {
            method: Method::POST,
            template: "/v1/conversations/{conversation}/merge",
            body: Some(json!({"other_id": conversation})),
            expect: [401, 404, 422, 422],
        },
        Case { method: Method::GET, template: "/v1/stats", body: None, expect: [401, 200, 200, 200] },
        Case { method: Method::GET, template: "/v1/events", body: None, expect: [401, 200, 200, 200] },
        Case { method: Method::GET, template: "/v1/teams", body: None, expect: [401, 200, 200, 200] },
        Case { method: Method::POST, template: "/v1/teams", body: Some(json!({"name": ""})), expect: [401, 422, 403, 422] },
        Case { method: Method::GET, template: "/v1/teams/{attachment}", body: None, expect: [401, 404, 404, 404] },
        Case { method: Method::PUT, template: "/v1/teams/{attachment}", body: Some(json!({"name": "T"})), expect: [401, 404, 403, 404] },
        Case { method: Method::DELETE, template: "/v1/teams/{attachment}", body: None, expect: [401, 404, 403, 404] },
        Case { method: Method::GET, template: "/v1/ip-allow-list", body: None, expect: [401, 200, 403, 200] },
        Case { method: Method::PUT, template: "/v1/ip-allow-list", body: Some(json!({"cidrs": []})), expect: [401, 200, 403, 200] },
        Case { method: Method::POST, template: "/v1/keys", body: Some(json!({"role": "integration"})), expect: [401, 201, 403, 201] },
        Case { method: Method::GET, template: "/v1/api-keys", body: None, expect: [401, 200, 403, 200] },
        Case { method: Method::POST, template: "/v1/api-keys", body: Some(json!({"name": "CI", "role": "integration"})), expect: [401, 201, 403, 201] },
        Case { method: Method::DELETE, template: "/v1/api-keys/{attachment}", body: None, expect: [401, 404, 403, 404] },
        Case { method: Method::DELETE, template: "/v1/operators/{attachment}", body: None, expect: [401, 404, 403, 404] },
        Case { method: Method::POST, template: "/v1/operators/{attachment}/deactivate", body: None, expect: [401, 404, 403, 404] },
        Case { method: Method::POST, template: "/v1/operators/{attachment}/reactivate", body: None, expect: [401, 404, 403, 404] },
        Case { method: Method::POST, template: "/v1/operators/{attachment}/password-reset", body: None, expect: [401, 404, 403, 404] },
        Case { method: Method::GET, template: "/v1/operators/{operator}/sessions", body: None, expect: [401, 404, 403, 200] },
        Case { method: Method::DELETE, template: "/v1/operators/{operator}/sessions", body: None, expect: [401, 404, 403, 200] },
        // Asking for a reset link needs no key and tells nothing.
        Case { method: Method::POST, template: "/v1/auth/password-reset", body: Some(json!({"email": "nobody@example.com"})), expect: [202, 202, 202, 202] },
        // Signing in needs no key (and a wrong password gets nowhere); the rest is per session.
        Case {
            method: Method::POST,
            template: "/v1/auth/login",
            body: Some(json!({"email": "nobody@example.com", "password": "not the password"})),
            expect: [401, 401, 401, 401],
        },
        Case { method: Method::POST, template: "/v1/auth/logout", body: None, expect: [204, 204, 204, 204] },
        Case { method: Method::GET, template: "/v1/auth/session", body: None, expect: [401, 200, 200, 200] },
        Case { method: Method::GET, template: "/v1/labels", body: None, expect: [401, 200, 200, 200] },
        Case { method: Method::POST, template: "/v1/labels", body: Some(json!({"name": "VIP"})), expect: [401, 201, 403, 201] },
        Case { method: Method::PATCH, template: "/v1/labels/{label}", body: Some(json!({"color": "#123456"})), expect: [401, 404, 403, 200] },
        Case {
            method: Method::POST,
            template: "/v1/labels/{label}/apply",
            body: Some(json!({"conversation_ids": [conversation]})),
            expect: [401, 404, 200, 200],
        },
        Case {
            method: Method::POST,
            template: "/v1/labels/{label}/remove",
            body: Some(json!({"conversation_ids": [conversation]})),
            expect: [401, 404, 200, 200],
        },
        Case { method: Method::DELETE, template: "/v1/labels/{label}", body: None, expect: [401, 404, 403, 204] },
        Case { method: Method::GET, template: "/v1/attributes", body: None, expect: [401, 200, 200, 200] },
        Case {
            method: Method::POST,
            template: "/v1/attributes",
            body: Some(json!({"applies_to": "conversation", "key": "seats", "type": "number"})),
            expect: [401, 201, 403, 201],
        },
        Case { method: Method::DELETE, template: "/v1/attributes/{attribute}", body: None, expect: [401, 404, 403, 204] },
        Case { method: Method::GET, template: "/v1/views", body: None, expect: [401, 200, 200, 200] },
        Case { method: Method::POST, template: "/v1/views", body: Some(json!({"name": "Team", "shared": true, "filters": {}})), expect: [401, 201, 403, 201] },
        Case { method: Method::PATCH, template: "/v1/views/{view}", body: Some(json!({"name": "Renamed"})), expect: [401, 404, 403, 200] },
        Case { method: Method::DELETE, template: "/v1/views/{view}", body: None, expect: [401, 404, 403, 204] },
        Case { method: Method::GET, template: "/v1/tenant/exports", body: None, expect: [401, 200, 403, 200] },
        Case { method: Method::POST, template: "/v1/tenant/exports", body: Some(json!({"key": "22".repeat(32)})), expect: [401, 202, 403, 202] },
        Case { method: Method::GET, template: "/v1/tenant/exports/{export}", body: None, expect: [401, 404, 403, 200] },
        // Last, so the other routes can use the channel.
        Case { method: Method::DELETE, template: "/v1/channels/{channel}", body: None, expect: [401, 404, 403, 204] },
    ];

    let mut failures = Vec::new();
    for case in &cases {
        let path = case
            .template
            .replace("{channel}", &channel)
            .replace("{message}", &message)
            .replace("{conversation}", &conversation)
            .replace("{contact}", &contact)
            .replace("{endpoint}", &endpoint)
            .replace("{delivery}", &delivery)
            .replace("{subprocessor}", "twilio")
            .replace("{request}", &request)
            .replace("{canned}", &canned)
            .replace("{operator}", &operator)
            .replace("{label}", &label)
            .replace("{view}", &view)
            .replace("{attribute}", &attribute)
            .replace("{export}", &export)
            .replace("{attachment}", &uuid::Uuid::now_v7().to_string());
        let keys = [None, Some(other.as_str()), Some(agent.as_str()), Some(admin.as_str()), Some(integration_key.as_str())];
        let expect = [case.expect[0], case.expect[1], case.expect[2], case.expect[3], integration(case)];
        for (key, expected) in keys.into_iter().zip(expect) {
            let (status, body) = app.call(case.method.clone(), &path, key, case.body.clone()).await;
            if status.as_u16() != expected {
                failures.push(format!("{} {} with {:?}: expected {expected}, got {status} {body}", case.method, case.template, key.map(|k| &k[..10])));
            }
            if status.is_client_error() {
                assert!(body["code"].is_string(), "errors are problem documents: {body}");
            }
        }
    }

    // The realtime websocket: refused without a key, accepted for every key of any tenant
    // (each sees only its own tenant's events).
    let url = format!("{}/v1/realtime", app.ws_base);
    let statuses = [
        websocket_status(&url, None).await,
        websocket_status(&url, Some(&other)).await,
        websocket_status(&url, Some(&agent)).await,
        websocket_status(&url, Some(&admin)).await,
        websocket_status(&format!("{url}?token=not-a-key"), None).await,
    ];
    assert_eq!(statuses, [401, 101, 101, 101, 401]);
    assert!(failures.is_empty(), "authorization mismatches:\n{}", failures.join("\n"));

    // Every /v1 operation in the OpenAPI document is covered above.
    let doc: Value = omnibridge::api::openapi_document().clone();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(path, _)| path.starts_with("/v1/"))
        .flat_map(|(path, ops)| {
            let path = params_as_id(path);
            ops.as_object().expect("ops").keys().filter(|m| *m != "parameters").map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let mut tested: BTreeSet<String> = cases
        .iter()
        .map(|c| {
            let path = ["{channel}", "{conversation}", "{contact}", "{endpoint}", "{delivery}", "{attachment}", "{subprocessor}", "{request}", "{canned}", "{operator}", "{message}", "{label}", "{view}", "{attribute}", "{export}"]
                .iter()
                .fold(c.template.to_owned(), |path, name| path.replace(name, "{id}"));
            format!("{} {path}", c.method)
        })
        .collect();
    tested.insert("GET /v1/realtime".into());
    assert_eq!(documented, tested);
    // And the router itself: every `/v1` route its code declares is in the table, so a route
    // added without a row here (and without documentation) fails this test.
    assert_eq!(declared_v1_routes(), tested, "the routes the router declares");
}

/// A path with every `{…}` parameter written `{id}`.
fn params_as_id(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("{id}");
            }
            '}' => inside = false,
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

/// `METHOD /v1/...` for every `.route("/v1/…", …)` in the API's source, with `{…}` parameters
/// written `{id}`.
fn declared_v1_routes() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("src/api") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("source");
        // Routes described by their handlers: `#[utoipa::path(METHOD, path = "…")]`, served
        // through `routes!`, so the attribute is the route.
        let mut rest = source.as_str();
        while let Some(at) = rest.find("#[utoipa::path(") {
            rest = &rest[at + "#[utoipa::path(".len()..];
            let method = rest.split(',').next().unwrap_or_default().trim().to_uppercase();
            let Some(p) = rest.find("path = \"") else { break };
            let route = &rest[p + "path = \"".len()..];
            let route = &route[..route.find('"').unwrap_or(0)];
            if route.starts_with("/v1/") {
                routes.insert(format!("{method} {}", params_as_id(route)));
            }
        }
        let mut rest = source.as_str();
        while let Some(at) = rest.find(".route(\"") {
            rest = &rest[at + ".route(\"".len()..];
            let Some(end) = rest.find('"') else { break };
            let route = &rest[..end];
            // The method router: up to the parenthesis closing `.route(`.
            let mut depth = 1;
            let mut stop = end;
            for (i, c) in rest[end..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    stop = end + i;
                    break;
                }
            }
            let methods = &rest[end..stop];
            if !route.starts_with("/v1/") {
                continue;
            }
            let normalized: String = {
                let mut out = String::new();
                let mut in_param = false;
                for c in route.chars() {
                    match c {
                        '{' => {
                            in_param = true;
                            out.push_str("{id}");
                        }
                        '}' => in_param = false,
                        _ if in_param => {}
                        c => out.push(c),
                    }
                }
                out
            };
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = methods.match_indices(&format!("{method}(")).any(|(i, _)| i == 0 || !methods[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
                if called {
                    routes.insert(format!("{} {normalized}", method.to_uppercase()));
                }
            }
        }
    }
    routes
}
