//! Where a tenant's data may go, and the proof of where it went: the routing policy, the
//! subprocessor registry and authorizations, the transfer log, region-pinned storage and the
//! record of processing.

use std::time::Duration;

use omnibridge_twilio_sms::testkit::FakeTwilio;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::receiver::{Receiver, verify_with_official_library};

backend_tests!(
    an_eu_tenants_webhook_gets_only_what_the_law_and_its_rules_allow,
    an_unapproved_subprocessor_receives_nothing,
    an_announced_subprocessor_is_unused_until_its_effective_date,
    the_record_of_processing_lists_exactly_the_subprocessors_in_use,
    policy_documents_are_validated_rule_by_rule,
);

const WAIT: Duration = Duration::from_secs(20);
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "primary-auth-token-0001";

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

/// The transfer records for one destination, once `n` exist.
async fn transfers_to(app: &TestApp, key: &str, destination: &str, n: usize) -> Vec<Value> {
    let list = app.wait_for(key, &format!("/v1/transfers?destination={destination}&limit=200"), |l| data(l).len() >= n).await;
    data(&list)
}

async fn an_eu_tenants_webhook_gets_only_what_the_law_and_its_rules_allow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let (_, admin) = app.create_tenant("Acme");
    // A receiver in the US with no transfer mechanism.
    let (status, endpoint) = app
        .post(
            "/v1/webhooks/endpoints",
            &admin,
            json!({"url": receiver.url, "event_types": ["contact.updated"], "country": "US", "transfer_mechanism": "none"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let endpoint_id = endpoint["id"].as_str().expect("id").to_owned();
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    let destination = format!("webhook:{endpoint_id}");

    let (status, contact) =
        app.post("/v1/contacts", &admin, json!({"name": "Ada Lovelace", "email": "ada@example.org", "phone": "+4915112345678"})).await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let contact_id = contact["id"].as_str().expect("id").to_owned();
    let (status, _) = app.patch(&format!("/v1/contacts/{contact_id}"), &admin, json!({"name": "Ada King"})).await;
    assert_eq!(status, StatusCode::OK);

    // Blocked: the delivery fails, the transfer log says why, the receiver hears nothing.
    let blocked = transfers_to(&app, &admin, &destination, 1).await;
    assert_eq!(blocked[0]["decision"], "block", "{blocked:?}");
    assert_eq!(blocked[0]["country"], "US");
    assert_eq!(blocked[0]["mechanism"], "none");
    assert!(blocked[0]["rule"].as_str().is_some_and(|r| r.contains("no transfer mechanism for US")), "{blocked:?}");
    assert!(blocked[0]["categories_sent"].as_array().is_some_and(Vec::is_empty));
    assert!(blocked[0]["categories_removed"].as_array().is_some_and(|c| c.contains(&json!("contact.email"))));
    let failed = app
        .wait_for(&admin, &format!("/v1/webhooks/endpoints/{endpoint_id}/deliveries?status=failed"), |l| !data(l).is_empty())
        .await;
    assert!(data(&failed)[0]["last_error"].as_str().is_some_and(|e| e.contains("no transfer mechanism")), "{failed}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.requests().is_empty(), "nothing may reach a receiver without a legal ground");

    // The receiver signs SCCs; the tenant's rules redact the email and phone for SCC
    // destinations and pseudonymize names for every webhook.
    let (status, _) = app.patch(&format!("/v1/webhooks/endpoints/{endpoint_id}"), &admin, json!({"transfer_mechanism": "scc"})).await;
    assert_eq!(status, StatusCode::OK);
    let rules = json!({"rules": [
        {"destination": "mechanism:scc", "categories": ["contact.email", "contact.phone"], "action": "redact"},
        {"destination": "webhook:*", "categories": ["contact.name"], "action": "pseudonymize"},
    ]});
    let (status, stored) = app.put("/v1/policy", &admin, rules.clone()).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let (_, shown) = app.get("/v1/policy", &admin).await;
    assert_eq!(shown, rules);

    for change in [json!({"name": "Ada Byron"}), json!({"under_minimum_age": true})] {
        let (status, _) = app.patch(&format!("/v1/contacts/{contact_id}"), &admin, change).await;
        assert_eq!(status, StatusCode::OK);
    }
    let got = receiver.wait_until(WAIT, |r| r.len() >= 2).await;
    for request in &got {
        verify_with_official_library(&secret, request).expect("the rewritten body is what was signed");
        let payload = request.json();
        let contact = &payload["data"];
        assert_eq!(contact["id"], contact_id.as_str());
        assert_eq!(contact["email"], Value::Null, "{payload}");
        assert_eq!(contact["phone"], Value::Null, "{payload}");
        for identity in contact["identities"].as_array().expect("identities") {
            assert_eq!(identity["address"], Value::Null, "{payload}");
        }
        assert!(contact["name"].as_str().is_some_and(|n| n.starts_with("pseu_")), "{payload}");
        let raw = String::from_utf8_lossy(&request.body);
        assert!(!raw.contains("ada@example.org") && !raw.contains("12345678") && !raw.contains("Byron"), "{raw}");
    }
    assert_eq!(got[0].json()["data"]["name"], got[1].json()["data"]["name"], "pseudonyms are stable");

    let records = transfers_to(&app, &admin, &destination, 3).await;
    let allowed: Vec<&Value> = records.iter().filter(|r| r["decision"] == "transform").collect();
    assert!(!allowed.is_empty(), "{records:?}");
    let t = allowed[0];
    assert_eq!(t["mechanism"], "scc");
    assert_eq!(t["contact_id"], contact_id.as_str());
    let removed: Vec<&str> = t["categories_removed"].as_array().expect("removed").iter().filter_map(Value::as_str).collect();
    assert_eq!(removed, ["contact.email", "contact.phone"]);
    assert_eq!(t["categories_pseudonymized"], json!(["contact.name"]));
    assert!(t["categories_sent"].as_array().is_some_and(|c| c.contains(&json!("contact.id"))));
    assert!(t["rule"].as_str().is_some_and(|r| r.contains("rules[0]") && r.contains("rules[1]")), "{t}");

    // The log filters by contact and exports as CSV.
    let (_, by_contact) = app.get(&format!("/v1/transfers?contact_id={contact_id}"), &admin).await;
    assert!(data(&by_contact).len() >= 3);
    let csv = app
        .http
        .get(format!("{}/v1/transfers?format=csv&destination={destination}", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap_or("").starts_with("text/csv"));
    let csv = csv.text().await.expect("text");
    let mut lines = csv.lines();
    assert!(lines.next().is_some_and(|h| h.starts_with("id,created_at,contact_id")));
    assert!(csv.contains(",block,") && csv.contains("contact.email;contact.phone"), "{csv}");
    let (status, problem) = app.get("/v1/transfers?since=yesterday", &admin).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("since")));
}

async fn sms_channel(app: &TestApp, admin: &str, twilio: &FakeTwilio, region: &str) -> String {
    let settings = json!({"account_sid": ACCOUNT, "auth_token": TOKEN, "from": "+14155550199", "api_base_url": twilio.base_url(), "region": region});
    let (status, channel) = app.post("/v1/channels", admin, json!({"kind": "twilio_sms", "name": "Texts", "settings": settings})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    channel["id"].as_str().expect("id").to_owned()
}

/// A contact with a phone number.
async fn customer(app: &TestApp, admin: &str) -> String {
    let (status, contact) = app.post("/v1/contacts", admin, json!({"phone": "+14155550100"})).await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    contact["id"].as_str().expect("id").to_owned()
}

/// An operator starts a conversation with the contact by SMS.
async fn text_the_customer(app: &TestApp, admin: &str, channel: &str, contact: &str, text: &str) -> (StatusCode, Value) {
    app.post("/v1/conversations", admin, json!({"contact_id": contact, "channel_id": channel, "text": text})).await
}

fn subprocessor<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["data"].as_array().and_then(|d| d.iter().find(|s| s["id"] == id)).unwrap_or(&Value::Null)
}

async fn an_unapproved_subprocessor_receives_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let (_, admin) = app.create_tenant("Acme");
    let channel = sms_channel(&app, &admin, &twilio, "us1").await;
    let contact = customer(&app, &admin).await;
    let (_, list) = app.get("/v1/subprocessors", &admin).await;
    let entry = subprocessor(&list, "twilio");
    assert_eq!(entry["authorization"], "pending", "{list}");
    assert_eq!(entry["legal_entity"].as_str().map(|e| e.starts_with("Twilio Inc.")), Some(true));
    assert_eq!(entry["channel_ids"], json!([channel]));

    let (status, problem) = text_the_customer(&app, &admin, &channel, &contact, "Your order shipped").await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "policy_blocked");
    assert_eq!(problem["rule"], "authorization");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("twilio is not approved")), "{problem}");

    // Approved: it goes out, and the log names Twilio, the US and the DPF.
    app.approve(&admin, "twilio").await;
    let (status, started) = text_the_customer(&app, &admin, &channel, &contact, "Your order shipped").await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(twilio.wait_for_sent(1, WAIT).await.len(), 1);
    let records = transfers_to(&app, &admin, "subprocessor:twilio", 1).await;
    assert_eq!((records[0]["decision"].as_str(), records[0]["country"].as_str()), (Some("allow"), Some("US")));
    assert_eq!(records[0]["mechanism"], "dpf");
    assert_eq!(records[0]["categories_sent"], json!(["contact.phone", "message.content"]));

    // An objection blocks it again.
    let (status, objected) =
        app.put("/v1/subprocessors/twilio/authorization", &admin, json!({"decision": "objected", "reason": "no US processing"})).await;
    assert_eq!((status, objected["authorization"].as_str()), (StatusCode::OK, Some("objected")));
    let (status, problem) = text_the_customer(&app, &admin, &channel, &contact, "One more thing").await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("policy_blocked")));
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("objected")), "{problem}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(twilio.sent().len(), 1, "the fake provider received nothing more");

    let (status, _) = app.put("/v1/subprocessors/acme-pigeons/authorization", &admin, json!({"decision": "approved"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem) = app.put("/v1/subprocessors/twilio/authorization", &admin, json!({"decision": "maybe"})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("decision")));
}

const REGISTRY_HEAD: &str = r#"
[[subprocessor]]
id = "twilio"
legal_entity = "Twilio Inc."
service = "SMS, US1"
processing_countries = ["US"]
storage_region = "US"
transfer_mechanism = "dpf"
categories = ["contact.phone", "message.content"]
status = "active"
channel_kind = "twilio_sms"
provider_region = "us1"
"#;

fn ie1_entry(status: &str, effective_at: &str) -> String {
    format!(
        r#"
[[subprocessor]]
id = "twilio-ie1"
legal_entity = "Twilio Ireland Limited"
service = "SMS, IE1"
processing_countries = ["IE"]
storage_region = "EU"
transfer_mechanism = "none"
categories = ["contact.phone", "message.content"]
status = "{status}"
effective_at = "{effective_at}"
channel_kind = "twilio_sms"
provider_region = "ie1"
"#
    )
}

async fn an_announced_subprocessor_is_unused_until_its_effective_date(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let registry = dir.path().join("subprocessors.toml");
    std::fs::write(&registry, REGISTRY_HEAD).expect("write registry");
    let path = registry.display().to_string();
    let app = TestApp::spawn_with(backend, |c| {
        c.subprocessors.registry_file = path;
        c.subprocessors.check_interval_secs = 1;
    })
    .await;
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let receiver = Receiver::start().await;
    let (_, admin) = app.create_tenant("Acme");
    let (status, _) =
        app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "event_types": ["subprocessors.changed"], "country": "DE"})).await;
    assert_eq!(status, StatusCode::CREATED);

    // Twilio announces its Irish region for the far future: the tenant is told …
    std::fs::write(&registry, format!("{REGISTRY_HEAD}{}", ie1_entry("announced", "2999-01-01T00:00:00Z"))).expect("write");
    let got = receiver.wait_until(WAIT, |r| !r.is_empty()).await;
    let change = &got[0].json()["data"]["changes"][0];
    assert_eq!((change["id"].as_str(), change["change"].as_str()), (Some("twilio-ie1"), Some("announced")), "{change}");
    assert_eq!(change["effective_at"], "2999-01-01T00:00:00Z");
    let (_, list) = app.get("/v1/subprocessors", &admin).await;
    assert_eq!(subprocessor(&list, "twilio-ie1")["in_effect"], false);

    // … and even approved, it is not used before that date.
    let channel = sms_channel(&app, &admin, &twilio, "ie1").await;
    let contact = customer(&app, &admin).await;
    app.approve(&admin, "twilio-ie1").await;
    let (status, problem) = text_the_customer(&app, &admin, &channel, &contact, "Hello from Dublin").await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("policy_blocked")), "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("not used before 2999-01-01")), "{problem}");
    assert!(twilio.sent().is_empty());

    // The date comes (here: the announcement is moved into the past): in effect, told, used.
    std::fs::write(&registry, format!("{REGISTRY_HEAD}{}", ie1_entry("announced", "2020-01-01T00:00:00Z"))).expect("write");
    let got = receiver.wait_until(WAIT, |r| r.len() >= 2).await;
    assert_eq!(got[1].json()["data"]["changes"][0]["change"], "in_effect", "{}", got[1].json());
    let (status, started) = text_the_customer(&app, &admin, &channel, &contact, "Hello from Dublin").await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(twilio.wait_for_sent(1, WAIT).await.len(), 1);
    assert_eq!(receiver.requests().len(), 2, "each change is told once");
}

async fn the_record_of_processing_lists_exactly_the_subprocessors_in_use(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let receiver = Receiver::start().await;
    let (tenant, admin) = app.create_tenant("Acme Retail GmbH");
    app.webchat_channel(&admin).await;
    let sms = sms_channel(&app, &admin, &twilio, "us1").await;
    app.approve(&admin, "twilio").await;
    // Approved but unused: no channel sends through it.
    app.approve(&admin, "telegram").await;
    let (_, endpoint) =
        app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "country": "US", "transfer_mechanism": "scc"})).await;
    let hook = format!("webhook:{}", endpoint["id"].as_str().expect("id"));

    let (status, ropa) = app.get("/v1/ropa", &admin).await;
    assert_eq!(status, StatusCode::OK, "{ropa}");
    let mut ids: Vec<&str> = ropa["subprocessors"].as_array().expect("subprocessors").iter().filter_map(|s| s["id"].as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["twilio", hook.as_str()]);
    assert_eq!(ropa["controller"]["name"], "Acme Retail GmbH");
    assert_eq!(ropa["controller"]["region"], "eu");
    let activities = ropa["activities"].as_array().expect("activities");
    let sms_activity = activities.iter().find(|a| a["channel_id"] == sms.as_str()).expect("the SMS channel is an activity");
    assert!(sms_activity["recipients"].as_array().is_some_and(|r| r.iter().any(|x| x.as_str().is_some_and(|x| x.starts_with("twilio")))));
    let transfers: Vec<&str> = ropa["transfers"].as_array().expect("transfers").iter().filter_map(|t| t["mechanism"].as_str()).collect();
    assert_eq!(transfers.len(), 2, "{ropa}");
    assert!(transfers.contains(&"dpf") && transfers.contains(&"scc"));
    assert!(ropa["security_measures"].as_array().is_some_and(|m| m.iter().any(|x| x.as_str().is_some_and(|x| x.contains("XChaCha20")))));

    let md = app.http.get(format!("{}/v1/ropa?format=md", app.base)).bearer_auth(&admin).send().await.expect("md").text().await.expect("text");
    assert!(md.contains("# Record of processing activities") && md.contains("Twilio Inc.") && !md.contains("Telegram FZ-LLC"), "{md}");

    // The same record from the command line.
    let out = app.cli(&["ropa", "--tenant", &tenant, "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut cli_ids: Vec<&str> = cli["subprocessors"].as_array().expect("subprocessors").iter().filter_map(|s| s["id"].as_str()).collect();
    cli_ids.sort();
    assert_eq!(cli_ids, ids);
    let out = app.cli(&["ropa", "--tenant", &tenant, "--format", "csv"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("section,name,"));
    let out = app.cli(&["ropa", "--tenant", &uuid::Uuid::now_v7().to_string()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no such tenant"));
}

async fn policy_documents_are_validated_rule_by_rule(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (tenant, admin) = app.create_tenant("Acme");
    let agent = app.create_key(&tenant, "agent");
    let good = json!({"rules": [{"destination": "*", "categories": ["technical.ip"], "action": "block"}]});
    app.put("/v1/policy", &admin, good.clone()).await;
    for (doc, field) in [
        (json!({"rules": [{"destination": "moon", "categories": ["*"], "action": "allow"}]}), "rules[0].destination"),
        (json!({"rules": [good["rules"][0].clone(), {"destination": "*", "categories": ["contact.shoe"], "action": "allow"}]}), "rules[1].categories[0]"),
        (json!({"rules": [{"destination": "country:US", "categories": ["*"], "action": "encrypt"}]}), "rules[0].action"),
        (json!({"rules": [{"destination": "subprocessor:nobody", "categories": ["*"], "action": "allow"}]}), "rules[0].destination"),
        (json!({"rules": "all"}), "rules"),
    ] {
        let (status, problem) = app.put("/v1/policy", &admin, doc.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{doc}: {problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (_, kept) = app.get("/v1/policy", &admin).await;
    assert_eq!(kept, good, "a refused document changes nothing");
    let (status, _) = app.put("/v1/policy", &agent, good).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Everything that identifies one tenant's data in a database file: its tenant, channel,
/// contact and conversation ids and the blind indexes of its people's addresses.
async fn identifiers(url: &str, tenant: &str) -> Vec<Vec<u8>> {
    let pool = sqlx::SqlitePool::connect(url).await.expect("open region database");
    let tenant_id = uuid::Uuid::parse_str(tenant).expect("uuid");
    let mut out: Vec<Vec<u8>> = Vec::new();
    for table in ["channels", "contacts", "conversations", "messages"] {
        let ids: Vec<uuid::Uuid> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT id FROM {table} WHERE tenant_id = ?"))).bind(tenant_id).fetch_all(&pool).await.expect("ids");
        assert!(!ids.is_empty(), "the tenant has {table} in its region");
        for id in ids {
            out.push(id.as_bytes().to_vec());
            out.push(id.to_string().into_bytes());
        }
    }
    let indexes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT address_index FROM identities WHERE tenant_id = ?").bind(tenant_id).fetch_all(&pool).await.expect("indexes");
    assert!(!indexes.is_empty());
    out.extend(indexes);
    out.push(tenant_id.as_bytes().to_vec());
    out.push(tenant.as_bytes().to_vec());
    pool.close().await;
    out
}

fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("database file");
    for suffix in ["-wal", "-journal"] {
        if let Ok(more) = std::fs::read(format!("{}{suffix}", path.display())) {
            bytes.extend(more);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A tenant's day: a visitor writes, the operator answers, the visitor reads the answer.
async fn exchange_messages(app: &TestApp, admin: &str, visitor: &str) {
    let channel = app.webchat_channel(admin).await;
    let (token, _) = app.visitor(&channel, json!({"name": visitor, "email": format!("{}@example.org", visitor.to_lowercase())})).await;
    let (status, _) = app.visitor_says(&token, json!({"text": format!("Hello, this is {visitor}")})).await;
    assert_eq!(status, StatusCode::CREATED);
    let list = app.wait_for(admin, "/v1/conversations", |l| data(l).len() == 1).await;
    let conversation = data(&list)[0]["id"].as_str().expect("id").to_owned();
    let (status, reply) = app.post(&format!("/v1/conversations/{conversation}/messages"), admin, json!({"text": format!("Hi {visitor}")})).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let (status, history) = app.visitor_history(&token, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(history.to_string().contains(&format!("Hi {visitor}")), "{history}");
}

/// A hub whose `eu` and `us` regions have their own databases, and a tenant in each that has
/// exchanged messages with a visitor: (hub, (eu tenant, key), (us tenant, key)).
async fn two_regions_talking(backend: Backend, eu_url: &str, us_url: &str) -> (TestApp, (String, String), (String, String)) {
    let (eu, us) = (eu_url.to_owned(), us_url.to_owned());
    let app = TestApp::spawn_with(backend, move |c| {
        c.regions.get_mut("eu").expect("eu").database_url = Some(eu);
        c.regions.get_mut("us").expect("us").database_url = Some(us);
    })
    .await;
    let eu_tenant = app.create_tenant_in("Euro GmbH", "eu");
    let us_tenant = app.create_tenant_in("Yankee Inc", "us");
    exchange_messages(&app, &eu_tenant.1, "Margarethe").await;
    exchange_messages(&app, &us_tenant.1, "Jolene").await;
    (app, eu_tenant, us_tenant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_region_database_holds_only_its_own_tenants_data() {
    let regions = tempfile::tempdir().expect("dir");
    let eu_path = regions.path().join("eu.db");
    let us_path = regions.path().join("us.db");
    let (eu_url, us_url) = (format!("sqlite://{}", eu_path.display()), format!("sqlite://{}", us_path.display()));
    let (mut app, (eu_tenant, eu_admin), (us_tenant, us_admin)) = two_regions_talking(Backend::Sqlite, &eu_url, &us_url).await;
    // Each key sees its own tenant only, wherever its data lives.
    let (_, eu_list) = app.get("/v1/conversations", &eu_admin).await;
    let (_, us_list) = app.get("/v1/conversations", &us_admin).await;
    assert_eq!((data(&eu_list).len(), data(&us_list).len()), (1, 1));
    assert_ne!(data(&eu_list)[0]["id"], data(&us_list)[0]["id"]);
    app.stop_server().await;

    let eu_ids = identifiers(&eu_url, &eu_tenant).await;
    let us_ids = identifiers(&us_url, &us_tenant).await;
    let (eu_file, us_file, main_file) = (file_bytes(&eu_path), file_bytes(&us_path), file_bytes(&app.sqlite_path()));
    for id in &eu_ids {
        assert!(!contains(&us_file, id), "the us database holds an identifier of the eu tenant");
    }
    for id in &us_ids {
        assert!(!contains(&eu_file, id), "the eu database holds an identifier of the us tenant");
    }
    // The main database is only the directory: tenant ids and regions, none of their data.
    let directory: Vec<Vec<u8>> = [&eu_tenant, &us_tenant]
        .iter()
        .flat_map(|t| [uuid::Uuid::parse_str(t).expect("uuid").as_bytes().to_vec(), t.as_bytes().to_vec()])
        .collect();
    for id in eu_ids.iter().chain(&us_ids).filter(|id| !directory.contains(id)) {
        assert!(!contains(&main_file, id), "the main database holds a tenant's data");
    }
    assert!(!contains(&us_file, b"Euro GmbH") && !contains(&eu_file, b"Yankee Inc"));
    assert!(!contains(&main_file, b"Euro GmbH") && !contains(&main_file, b"Yankee Inc"), "tenant names stay in their regions");
}

/// How many rows of `table` in the database at `url` belong to tenants other than `tenant`
/// (or, with `tenant` None, to anyone).
async fn foreign_rows(url: &str, table: &str, tenant: Option<&str>) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.expect("open region database");
    let tenant = tenant.map(|t| uuid::Uuid::parse_str(t).expect("uuid"));
    let column = if table == "tenants" { "id" } else { "tenant_id" };
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE $1::uuid IS NULL OR {column} <> $1");
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tenant).fetch_one(&pool).await.expect("count");
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_region_database_holds_only_its_own_tenants_data_on_postgres() {
    use crate::helpers::{admin_query, postgres_admin_url, with_database};
    let stem = format!("omnibridge_test_{}", uuid::Uuid::now_v7().simple());
    let (eu_db, us_db) = (format!("{stem}_eu"), format!("{stem}_us"));
    for db in [&eu_db, &us_db] {
        admin_query(format!("CREATE DATABASE {db}")).await;
    }
    let (eu_url, us_url) = (with_database(&postgres_admin_url(), &eu_db), with_database(&postgres_admin_url(), &us_db));
    let (mut app, (eu_tenant, _), (us_tenant, _)) = two_regions_talking(Backend::Postgres, &eu_url, &us_url).await;
    app.stop_server().await;

    for table in ["tenants", "channels", "contacts", "identities", "conversations", "messages", "outbox", "transfers"] {
        let (eu_in_us, us_in_eu) = (foreign_rows(&us_url, table, Some(&us_tenant)).await, foreign_rows(&eu_url, table, Some(&eu_tenant)).await);
        assert_eq!((eu_in_us, us_in_eu), (0, 0), "{table}: rows of the other region's tenant");
        assert_eq!(foreign_rows(&app.config.database_url, table, None).await, 0, "{table}: the main database is only the directory");
    }
    assert!(foreign_rows(&eu_url, "messages", None).await >= 2, "the eu tenant's messages are in the eu database");
    drop(app);
    for db in [&eu_db, &us_db] {
        admin_query(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
    }
}
