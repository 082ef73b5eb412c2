//! Data subjects' rights, end to end: access, erasure that leaves nothing readable, restriction,
//! rectification, objection, retention purges and the audit log.

use std::time::Duration;

use omnibridge_twilio_sms::testkit::FakeTwilio;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::receiver::Receiver;
use crate::sms::{ACCOUNT, CUSTOMER, TOKEN, customer_texts, sms_channel};

backend_tests!(
    an_access_request_returns_everything_held_about_the_contact,
    an_erasure_leaves_nothing_readable_and_keeps_the_opt_out,
    an_erased_visitors_token_stops_working_at_once,
    a_restricted_contact_gets_nothing_out_until_lifted,
    retention_purges_only_what_is_older,
    the_command_line_exports_erases_and_offboards,
);

const WAIT: Duration = Duration::from_secs(20);

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

/// Files a request and waits until it is carried out.
pub(crate) async fn request(app: &TestApp, admin: &str, body: Value) -> Value {
    let (status, filed) = app.post("/v1/privacy/requests", admin, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{filed}");
    assert_eq!(filed["status"], "pending");
    let id = filed["id"].as_str().expect("id").to_owned();
    let due = time::OffsetDateTime::parse(filed["due_at"].as_str().expect("due_at"), &time::format_description::well_known::Rfc3339).expect("time");
    let filed_at = time::OffsetDateTime::parse(filed["created_at"].as_str().expect("created_at"), &time::format_description::well_known::Rfc3339).expect("time");
    assert_eq!((due - filed_at).whole_days(), 30, "due a month after receipt");
    app.wait_for(admin, &format!("/v1/privacy/requests/{id}"), |r| r["status"] != "pending").await
}

/// Runs SQL with one bound id against the hub's own database (for what the API cannot show).
pub(crate) async fn blobs(app: &TestApp, sql: &str, id: &str) -> Vec<Vec<u8>> {
    let id = uuid::Uuid::parse_str(id).expect("uuid");
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.config.database_url).await.expect("sqlite");
            let out = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.replace("$1", "?"))).bind(id).fetch_all(&pool).await.expect("query");
            pool.close().await;
            out
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.config.database_url).await.expect("postgres");
            let out = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).bind(id).fetch_all(&pool).await.expect("query");
            pool.close().await;
            out
        }
    }
}

/// Everything the database holds, as bytes: the SQLite file and its log, or on PostgreSQL the
/// text of every row of every table.
pub(crate) async fn everything(app: &TestApp) -> Vec<u8> {
    match app.backend {
        Backend::Sqlite => {
            let mut bytes = std::fs::read(app.sqlite_path()).expect("database file");
            if let Ok(wal) = std::fs::read(format!("{}-wal", app.sqlite_path().display())) {
                bytes.extend(wal);
            }
            bytes
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.config.database_url).await.expect("postgres");
            let tables: Vec<String> = sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'").fetch_all(&pool).await.expect("tables");
            let mut out = Vec::new();
            for table in tables {
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT t::text FROM {table} t"))).fetch_all(&pool).await.expect("dump");
                for row in rows {
                    out.extend(row.into_bytes());
                    out.push(b'\n');
                }
            }
            pool.close().await;
            out
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a database dump still holds this value (raw in SQLite, hex text in PostgreSQL).
pub(crate) fn holds(dump: &[u8], backend: Backend, value: &[u8]) -> bool {
    let needle = match backend {
        Backend::Sqlite => value.to_vec(),
        Backend::Postgres => hex(value).into_bytes(),
    };
    dump.windows(needle.len()).any(|w| w == needle.as_slice())
}

async fn an_access_request_returns_everything_held_about_the_contact(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let receiver = Receiver::start().await;
    let (tenant, admin) = app.create_tenant("Shop");
    let (_, endpoint) = app
        .post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "country": "DE", "event_types": ["contact.updated", "privacy_request.completed"]}))
        .await;
    assert!(endpoint["id"].is_string(), "{endpoint}");
    let orders = sms_channel(&app, &admin, &twilio.base_url(), json!({})).await;
    let surveys = sms_channel(&app, &admin, &twilio.base_url(), json!({"from": "+14155550198"})).await;
    let (status, contact) = app.post("/v1/contacts", &admin, json!({"name": "Ada Lovelace", "email": "ada@example.org", "phone": CUSTOMER})).await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let contact_id = contact["id"].as_str().expect("id").to_owned();
    for (channel, text) in [(&orders, "Your order 1815 has shipped"), (&surveys, "How did we do?")] {
        let (status, started) = app.post("/v1/conversations", &admin, json!({"contact_id": contact_id, "channel_id": channel, "text": text})).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
    }
    twilio.wait_for_sent(2, WAIT).await;

    // Asked for by address, as a person would: "what do you hold about +1 415 555 0100?"
    let done = request(&app, &admin, json!({"type": "access", "address": {"kind": "phone", "value": CUSTOMER}})).await;
    assert_eq!((done["status"].as_str(), done["contact_id"].as_str()), (Some("completed"), Some(contact_id.as_str())), "{done}");
    let id = done["id"].as_str().expect("id");
    let response = app.http.get(format!("{}/v1/privacy/requests/{id}/export", app.base)).bearer_auth(&admin).send().await.expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    let bundle: Value = response.json().await.expect("json");
    assert_eq!(bundle["schema"], "omnibridge.access/1");
    assert_eq!(bundle["contact"]["email"], "ada@example.org");
    let conversations = bundle["conversations"].as_array().expect("conversations");
    assert_eq!(conversations.len(), 2);
    let channels: Vec<&str> = conversations.iter().filter_map(|c| c["channel_id"].as_str()).collect();
    assert!(channels.contains(&orders.as_str()) && channels.contains(&surveys.as_str()));
    let texts: Vec<&str> = conversations.iter().flat_map(|c| c["messages"].as_array().expect("messages")).filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.contains(&"Your order 1815 has shipped") && texts.contains(&"How did we do?"), "{texts:?}");
    let recipients = bundle["recipients"].as_array().expect("recipients");
    let to_twilio: Vec<&Value> = recipients.iter().filter(|r| r["destination"] == "subprocessor:twilio").collect();
    assert_eq!(to_twilio.len(), 2, "{recipients:?}");
    assert!(to_twilio.iter().all(|r| r["country"] == "US" && r["mechanism"] == "dpf" && r["message_id"].is_string()));
    // The export itself passed the door.
    let (_, log) = app.get(&format!("/v1/transfers?contact_id={contact_id}&destination=export:{id}"), &admin).await;
    assert_eq!(data(&log).len(), 1, "{log}");

    // Rectification tells the recipients; objection stops marketing everywhere.
    let done = request(&app, &admin, json!({"type": "rectification", "contact_id": contact_id, "fields": {"name": "Augusta Ada King"}})).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, shown) = app.get(&format!("/v1/contacts/{contact_id}"), &admin).await;
    assert_eq!(shown["name"], "Augusta Ada King");
    receiver.wait_until(WAIT, |r| r.iter().any(|x| x.json()["type"] == "contact.updated" && x.json()["data"]["name"] == "Augusta Ada King")).await;
    let done = request(&app, &admin, json!({"type": "objection", "contact_id": contact_id})).await;
    assert_eq!(done["result"]["marketing_objected_on"], 2, "{done}");
    let (status, problem) =
        app.post("/v1/conversations", &admin, json!({"contact_id": contact_id, "channel_id": orders, "text": "Sale!", "purpose": "marketing"})).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("consent_missing")));
    receiver.wait_until(WAIT, |r| r.iter().filter(|x| x.json()["type"] == "privacy_request.completed").count() >= 3).await;

    // Bad requests are refused, naming the field.
    for (body, field) in [
        (json!({"type": "forget", "contact_id": contact_id}), "type"),
        (json!({"type": "access"}), "contact_id"),
        (json!({"type": "rectification", "contact_id": contact_id}), "fields"),
        (json!({"type": "rectification", "contact_id": contact_id, "fields": {"email": "nope"}}), "email"),
        (json!({"type": "access", "contact_id": contact_id, "lift": true}), "lift"),
    ] {
        let (status, problem) = app.post("/v1/privacy/requests", &admin, body.clone()).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{body}: {problem}");
    }
    let (_, completed) = app.get("/v1/privacy/requests?status=completed", &admin).await;
    assert_eq!(data(&completed).len(), 3);
    let (_, overdue) = app.get("/v1/privacy/requests?overdue=true", &admin).await;
    assert!(data(&overdue).is_empty());

    // Every read of the contact is in the audit log, with who and from where.
    let (_, audit) = app.get(&format!("/v1/audit?target_id={contact_id}"), &admin).await;
    let entries = data(&audit);
    let actions: Vec<&str> = entries.iter().filter_map(|a| a["action"].as_str()).collect();
    assert!(actions.contains(&"contact.read") && actions.contains(&"contact.export") && actions.contains(&"privacy_request.access"), "{actions:?}");
    let read = data(&audit).into_iter().find(|a| a["action"] == "contact.read").expect("read");
    assert_eq!(read["ip"], "127.0.0.1");
    assert!(read["key_id"].is_string());
    // Exactly one entry per read, by whichever key reads.
    let reads = |audit: &Value| data(audit).iter().filter(|a| a["action"] == "contact.read").count();
    let before = reads(&audit);
    let agent = app.create_key(&tenant, "agent");
    for key in [&admin, &agent, &agent] {
        let (status, _) = app.get(&format!("/v1/contacts/{contact_id}"), key).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, audit) = app.get(&format!("/v1/audit?target_id={contact_id}&limit=200"), &admin).await;
    assert_eq!(reads(&audit), before + 3, "{audit}");
    let agent_reads = data(&audit).iter().filter(|a| a["action"] == "contact.read" && a["key_id"] != read["key_id"]).count();
    assert_eq!(agent_reads, 2);
}


/// The hub keeps visitor sessions it has just checked for a minute; an erasure (or deleting
/// the channel) ends the visitor's session at once all the same: their token is refused (401),
/// not answered 503 or 422.
async fn an_erased_visitors_token_stops_working_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let chat = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor_wrote(&chat, "Ada", "Please forget me").await;
    assert_eq!(app.visitor_history(&token, "").await.0, StatusCode::OK);
    let list = app.wait_for(&admin, "/v1/contacts", |l| data(l).len() == 1).await;
    let contact_id = data(&list)[0]["id"].as_str().expect("id").to_owned();
    let done = request(&app, &admin, json!({"type": "erasure", "contact_id": contact_id})).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(app.visitor_history(&token, "").await.0, StatusCode::UNAUTHORIZED);
    let (status, problem) = app.visitor_says(&token, json!({"text": "Still there?"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    let (_, contacts) = app.get("/v1/contacts", &admin).await;
    assert!(data(&contacts).is_empty(), "nothing new was stored for the erased visitor: {contacts}");

    // So does a deleted channel end its visitors' sessions.
    let (other, _) = app.visitor(&chat, json!({"name": "Bo"})).await;
    assert_eq!(app.visitor_history(&other, "").await.0, StatusCode::OK);
    let (status, _) = app.call(reqwest::Method::DELETE, &format!("/v1/channels/{chat}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.visitor_history(&other, "").await.0, StatusCode::UNAUTHORIZED);
    let (status, problem) = app.visitor_says(&other, json!({"text": "Hello?"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
}

async fn an_erasure_leaves_nothing_readable_and_keeps_the_opt_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let receiver = Receiver::start().await;
    let (_, admin) = app.create_tenant("Shop");
    app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "country": "DE", "event_types": ["contact.erased"]})).await;
    let channel = sms_channel(&app, &admin, &twilio.base_url(), json!({})).await;
    let text = "My locker code is QX-55-ZEBRA-918";
    customer_texts(&app, &channel, "SM00000000000000000000000000000001", text).await;
    let list = app.wait_for(&admin, "/v1/contacts", |l| data(l).len() == 1).await;
    let contact_id = data(&list)[0]["id"].as_str().expect("id").to_owned();
    let (status, _) = app.patch(&format!("/v1/contacts/{contact_id}"), &admin, json!({"name": "Wilhelmina Quartermaine", "email": "wilhelmina.q@example.org"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, conversations) = app.get("/v1/conversations", &admin).await;
    let conversation = data(&conversations)[0]["id"].as_str().expect("id").to_owned();
    let (status, _) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Your parcel is in locker 918"})).await;
    assert_eq!(status, StatusCode::CREATED);
    twilio.wait_for_sent(1, WAIT).await;
    customer_texts(&app, &channel, "SM00000000000000000000000000000002", "STOP").await;
    let (_, other) = app.post("/v1/contacts", &admin, json!({"name": "Otto Other", "phone": "+14155550111"})).await;
    let other_id = other["id"].as_str().expect("id").to_owned();

    // The ciphertexts that hold the contact's data, to look for afterwards.
    let mut sealed = blobs(&app, "SELECT text FROM messages WHERE contact_id = $1", &contact_id).await;
    sealed.extend(blobs(&app, "SELECT name FROM contacts WHERE id = $1", &contact_id).await);
    sealed.extend(blobs(&app, "SELECT address FROM identities WHERE contact_id = $1", &contact_id).await);
    sealed.extend(blobs(&app, "SELECT wrapped FROM data_keys WHERE contact_id = $1", &contact_id).await);
    assert!(sealed.len() >= 6, "{}", sealed.len());

    let done = request(&app, &admin, json!({"type": "erasure", "contact_id": contact_id})).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["result"]["messages"].as_u64().is_some_and(|n| n >= 3), "{done}");
    assert_eq!(done["result"]["data_key_destroyed"], true);
    let got = receiver.wait_until(WAIT, |r| !r.is_empty()).await;
    assert_eq!(got[0].json()["data"]["contact_id"], contact_id.as_str());

    let (status, _) = app.get(&format!("/v1/contacts/{contact_id}"), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, kept) = app.get(&format!("/v1/contacts/{other_id}"), &admin).await;
    assert_eq!((status, kept["name"].as_str()), (StatusCode::OK, Some("Otto Other")), "other contacts are untouched");

    let dump = everything(&app).await;
    for plain in ["Wilhelmina", "wilhelmina.q@example.org", CUSTOMER, "QX-55-ZEBRA-918", "locker 918"] {
        assert!(!holds(&dump, Backend::Sqlite, plain.as_bytes()), "{plain} is still stored");
    }
    for (i, blob) in sealed.iter().enumerate() {
        assert!(!holds(&dump, backend, blob), "ciphertext {i} of the erased contact is still stored");
    }

    // The number texts again later: a new contact, but the STOP still holds.
    let (status, again) = app.post("/v1/contacts", &admin, json!({"phone": CUSTOMER})).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    let (status, problem) = app.post("/v1/conversations", &admin, json!({"contact_id": again["id"], "channel_id": channel, "text": "Hello again"})).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("consent_missing")), "{problem}");
    assert_eq!(twilio.sent().len(), 1);
    let (_, chain) = app.get("/v1/consents/verify", &admin).await;
    assert_eq!(chain["ok"], true, "the consent chain survives the erasure: {chain}");
}

async fn a_restricted_contact_gets_nothing_out_until_lifted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let (tenant, admin) = app.create_tenant("Shop");
    let agent = app.create_key(&tenant, "agent");
    app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "country": "DE", "event_types": ["message.received", "contact.restricted"]}))
        .await;
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({"name": "Rita"})).await;
    app.visitor_says(&token, json!({"text": "first"})).await;
    receiver.wait_until(WAIT, |r| r.len() == 1).await;
    let (_, list) = app.get("/v1/conversations", &admin).await;
    let conversation = data(&list)[0]["id"].as_str().expect("id").to_owned();
    let contact_id = data(&list)[0]["contact_id"].as_str().expect("contact").to_owned();

    let done = request(&app, &admin, json!({"type": "restriction", "contact_id": contact_id})).await;
    assert_eq!(done["result"]["restricted"], true, "{done}");
    let got = receiver.wait_until(WAIT, |r| r.len() == 2).await;
    assert_eq!(got[1].json()["type"], "contact.restricted");

    let (status, _) = app.visitor_says(&token, json!({"text": "second"})).await;
    assert_eq!(status, StatusCode::CREATED, "their data is kept");
    let (status, problem) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "a reply"})).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("restricted")), "{problem}");
    let (_, for_agent) = app.get("/v1/conversations", &agent).await;
    assert!(data(&for_agent).is_empty(), "hidden from agents: {for_agent}");
    let (_, contacts_for_agent) = app.get("/v1/contacts", &agent).await;
    assert!(data(&contacts_for_agent).is_empty());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.requests().len(), 2, "no webhook but the restriction notice");

    let done = request(&app, &admin, json!({"type": "restriction", "contact_id": contact_id, "lift": true})).await;
    assert_eq!(done["result"]["restricted"], false);
    let (status, _) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "a reply"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, for_agent) = app.get("/v1/conversations", &agent).await;
    assert_eq!(data(&for_agent).len(), 1);
}

async fn retention_purges_only_what_is_older(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (tenant, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({})).await;
    let (_, old) = app.visitor_says(&token, json!({"text": "from last week"})).await;
    let (_, new) = app.visitor_says(&token, json!({"text": "from today"})).await;
    let old_id = old["id"].as_str().expect("id").to_owned();
    app.execute("UPDATE messages SET created_at = created_at - 604800000000 WHERE id = $1", &old_id).await;

    let (status, problem) = app.put("/v1/retention", &admin, json!({"messages_days": 0})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("messages_days")));
    let (status, _) = app.put("/v1/retention", &admin, json!({"messages_days": 3, "technical_data_days": 1})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, shown) = app.get("/v1/retention", &admin).await;
    assert_eq!(shown["messages_days"], 3);

    let dry = app.cli(&["purge", "--tenant", &tenant, "--dry-run"]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("messages: would delete 1"), "{}", String::from_utf8_lossy(&dry.stdout));
    let run = app.cli(&["purge", "--tenant", &tenant]);
    assert!(String::from_utf8_lossy(&run.stdout).contains("messages: deleted 1"), "{}", String::from_utf8_lossy(&run.stdout));

    let (_, list) = app.get("/v1/conversations", &admin).await;
    let conversation = data(&list)[0]["id"].as_str().expect("id").to_owned();
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    let ids: Vec<Value> = data(&messages).iter().map(|m| m["id"].clone()).collect();
    assert_eq!(ids, [new["id"].clone()], "the newer message stays, the older is gone");
}

async fn the_command_line_exports_erases_and_offboards(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (tenant, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({"name": "Cleo", "email": "cleo@example.org"})).await;
    app.visitor_says(&token, json!({"text": "a question from Cleo"})).await;
    let (_, contacts) = app.get("/v1/contacts", &admin).await;
    let contact = data(&contacts)[0]["id"].as_str().expect("id").to_owned();

    let out = app.dir.path().join("cleo.json");
    let run = app.cli(&["export", "--tenant", &tenant, "--contact", &contact, "--out", &out.display().to_string()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let bundle: Value = serde_json::from_slice(&std::fs::read(&out).expect("bundle")).expect("json");
    assert_eq!(bundle["contact"]["email"], "cleo@example.org");
    assert!(bundle.to_string().contains("a question from Cleo"));

    let run = app.cli(&["erase", "--tenant", &tenant, "--contact", &contact]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let erased: Value = serde_json::from_slice(&run.stdout).expect("json");
    assert_eq!((erased["messages"].as_u64(), erased["data_key_destroyed"].as_bool()), (Some(1), Some(true)));
    let (status, _) = app.get(&format!("/v1/contacts/{contact}"), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, requests) = app.get("/v1/privacy/requests?status=completed", &admin).await;
    assert_eq!(data(&requests)[0]["type"], "erasure", "the erasure is on record");
    let again = app.cli(&["erase", "--tenant", &tenant, "--contact", &contact]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("no such contact"));

    // What the team added around its inbox goes with the tenant too.
    let (_, label) = app.post("/v1/labels", &admin, json!({"name": "Refund"})).await;
    let (status, _) = app.post("/v1/attributes", &admin, json!({"applies_to": "conversation", "key": "plan", "type": "text"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.post("/v1/views", &admin, json!({"name": "Refunds", "shared": true, "filters": {"label": "Refund"}})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (token, _) = app.visitor(&channel, json!({"name": "Dora"})).await;
    let (_, said) = app.visitor_says(&token, json!({"text": "another question"})).await;
    let conversation = said["conversation_id"].as_str().expect("conversation").to_owned();
    app.post(&format!("/v1/labels/{}/apply", label["id"].as_str().expect("label")), &admin, json!({"conversation_ids": [conversation]})).await;
    let (status, _) = app.patch(&format!("/v1/conversations/{conversation}"), &admin, json!({"custom_attributes": {"plan": "gold"}})).await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for(&admin, "/v1/search?q=another", |r| r["data"].as_array().is_some_and(|d| d.len() == 1)).await;

    let refused = app.cli(&["tenant", "delete", &tenant]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    let run = app.cli(&["tenant", "delete", &tenant, "--yes"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let gone = app.cli(&["key", "create", "--tenant", &tenant, "--role", "agent"]);
    assert!(!gone.status.success() && String::from_utf8_lossy(&gone.stderr).contains("no such tenant"), "the tenant is gone");
    // And nothing of it stays in any table.
    let with_tenant_column = match app.backend {
        Backend::Sqlite => "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = 'tenant_id'",
        Backend::Postgres => "SELECT table_name::text FROM information_schema.columns WHERE column_name = 'tenant_id' AND table_schema = 'public'",
    };
    let tables: Vec<String> = match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.config.database_url).await.expect("sqlite");
            let out = sqlx::query_scalar(with_tenant_column).fetch_all(&pool).await.expect("tables");
            pool.close().await;
            out
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.config.database_url).await.expect("postgres");
            let out = sqlx::query_scalar(with_tenant_column).fetch_all(&pool).await.expect("tables");
            pool.close().await;
            out
        }
    };
    assert!(tables.len() > 20, "{tables:?}");
    for table in tables {
        let left = blobs(&app, &format!("SELECT tenant_id FROM {table} WHERE tenant_id = $1"), &tenant).await;
        assert!(left.is_empty(), "{} row(s) of the deleted tenant left in {table}", left.len());
    }
}
