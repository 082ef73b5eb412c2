//! SMS through Twilio, end to end. Twilio cannot be reached from a test, so its side is played
//! by the official `twilio` Python package, which computes every `X-Twilio-Signature` the hub
//! must accept, and by a local fake of Twilio's REST API, reached through the channel's
//! `api_base_url` exactly as a Twilio region would be.

use std::time::Duration;

use omnibridge_twilio_sms::testkit::FakeTwilio;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    only_requests_signed_by_twilio_are_stored,
    sms_settings_are_validated_and_secrets_never_shown,
    replies_reach_twilio_and_delivery_status_flows_back,
    stop_blocks_every_send_until_start,
    an_unsubscribed_recipient_reported_by_twilio_is_blocked,
);

pub(crate) const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub(crate) const TOKEN: &str = "primary-auth-token-0001";
pub(crate) const OUR_NUMBER: &str = "+14155550199";
pub(crate) const CUSTOMER: &str = "+14155550100";
/// Where Twilio believes the hub is: behind a TLS-terminating proxy, on another host.
pub(crate) const PUBLIC: &str = "https://sms.shop.example";
const WAIT: Duration = Duration::from_secs(20);

/// The signature Twilio would send, computed by the official `twilio` package.
pub(crate) fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    use std::io::Write;
    let python = std::env::var("OMNIBRIDGE_TEST_PYTHON")
        .expect("OMNIBRIDGE_TEST_PYTHON must name a Python with the twilio package; scripts/test sets it up");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/twilio_sign.py");
    let map: serde_json::Map<String, Value> = params.iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect();
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the Python signer");
    child.stdin.take().expect("stdin").write_all(json!({"token": token, "url": url, "params": map}).to_string().as_bytes()).expect("write");
    let out = child.wait_with_output().expect("signer output");
    let answer: Value = serde_json::from_slice(&out.stdout).expect("the signer prints JSON");
    assert_eq!(answer["valid"], true, "the library accepts its own signature");
    answer["signature"].as_str().expect("signature").to_owned()
}

/// Posts a form to the hub as Twilio would: to `path` on the hub, signed for `signed_url`.
pub(crate) async fn post_form(app: &TestApp, path: &str, params: &[(&str, &str)], signature: Option<&str>) -> (StatusCode, String) {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter().copied()).finish();
    let mut request = app
        .http
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .header("user-agent", "TwilioProxy/1.1")
        .body(body);
    if let Some(signature) = signature {
        request = request.header("x-twilio-signature", signature);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

fn inbound_params<'a>(sid: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", OUR_NUMBER),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", CUSTOMER),
        ("ApiVersion", "2010-04-01"),
    ]
}

/// A customer texts the channel, signed correctly; the hub must answer 200 with TwiML.
pub(crate) async fn customer_texts(app: &TestApp, channel_id: &str, sid: &str, body: &str) {
    let path = format!("/hooks/twilio/{channel_id}/sms");
    let params = inbound_params(sid, body);
    let signature = twilio_signature(TOKEN, &format!("{PUBLIC}{path}"), &params);
    let (status, twiml) = post_form(app, &path, &params, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK, "{twiml}");
    assert!(twiml.contains("<Response></Response>"), "empty TwiML: {twiml}");
}

pub(crate) async fn sms_channel(app: &TestApp, admin: &str, api_base_url: &str, extra: Value) -> String {
    let mut settings = json!({
        "account_sid": ACCOUNT, "auth_token": TOKEN, "from": OUR_NUMBER,
        "api_base_url": api_base_url, "public_base_url": PUBLIC,
        "help_reply": "Shop support: reply STOP to opt out. Help: support@shop.example",
    });
    if let (Some(map), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    let (status, channel) = app.post("/v1/channels", admin, json!({"kind": "twilio_sms", "name": "Texts", "settings": settings})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    // The tenant has approved Twilio as its subprocessor (unapproved, nothing is sent).
    app.approve(admin, "twilio").await;
    channel["id"].as_str().expect("id").to_owned()
}

pub(crate) async fn only_conversation(app: &TestApp, key: &str) -> String {
    let list = app.wait_for(key, "/v1/conversations", |l| l["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    list["data"][0]["id"].as_str().expect("id").to_owned()
}

async fn messages(app: &TestApp, key: &str, conversation_id: &str) -> Vec<Value> {
    let (status, list) = app.get(&format!("/v1/conversations/{conversation_id}/messages"), key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["data"].as_array().cloned().unwrap_or_default()
}

pub(crate) async fn reply(app: &TestApp, key: &str, conversation_id: &str, text: &str) -> (StatusCode, Value) {
    app.post(&format!("/v1/conversations/{conversation_id}/messages"), key, json!({"text": text})).await
}

/// Waits until the message leaves `queued`; its final view.
pub(crate) async fn settled(app: &TestApp, key: &str, conversation_id: &str, message_id: &str) -> Value {
    let path = format!("/v1/conversations/{conversation_id}/messages");
    let list = app
        .wait_for(key, &path, |l| l["data"].as_array().into_iter().flatten().any(|m| m["id"] == message_id && m["status"] != "queued" && m["status"] != "sending"))
        .await;
    list["data"].as_array().into_iter().flatten().find(|m| m["id"] == message_id).cloned().expect("the message")
}

async fn only_requests_signed_by_twilio_are_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel_id = sms_channel(&app, &admin, "http://127.0.0.1:9", json!({})).await;
    let path = format!("/hooks/twilio/{channel_id}/sms");
    let url = format!("{PUBLIC}{path}");
    let params = inbound_params("SM00000000000000000000000000000001", "Hi, is my order on its way?");
    let good = twilio_signature(TOKEN, &url, &params);

    // Each forgery is refused with 403 before anything is stored.
    let mut tampered = params.clone();
    tampered[5] = ("Body", "Hi, please refund me");
    let forgeries = [
        ("a tampered parameter", tampered, good.clone()),
        ("a wrong token", params.clone(), twilio_signature("not-our-token", &url, &params)),
        ("another URL", params.clone(), twilio_signature(TOKEN, &format!("https://evil.example{path}"), &params)),
        ("the hub's own address instead of the public one", params.clone(), twilio_signature(TOKEN, &format!("{}{path}", app.base), &params)),
    ];
    for (what, form, signature) in &forgeries {
        let (status, body) = post_form(&app, &path, form, Some(signature)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
        let problem: Value = serde_json::from_str(&body).expect("problem JSON");
        assert_eq!(problem["code"], "invalid_signature", "{what}");
    }
    let (status, _) = post_form(&app, &path, &params, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no signature at all");
    let (_, list) = app.get("/v1/conversations", &admin).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(0), "nothing was stored: {list}");

    // The genuine request is stored; Twilio retrying it stores nothing more.
    let (status, twiml) = post_form(&app, &path, &params, Some(&good)).await;
    assert_eq!(status, StatusCode::OK, "{twiml}");
    assert_eq!(twiml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>");
    let (status, _) = post_form(&app, &path, &params, Some(&good)).await;
    assert_eq!(status, StatusCode::OK);
    // Twilio may sign the URL with the default port written out.
    let with_port = twilio_signature(TOKEN, &format!("https://sms.shop.example:443{path}"), &params);
    let (status, _) = post_form(&app, &path, &params, Some(&with_port)).await;
    assert_eq!(status, StatusCode::OK, "the :443 form of the URL is the same URL");
    let conversation = only_conversation(&app, &admin).await;
    let stored = messages(&app, &admin, &conversation).await;
    assert_eq!(stored.len(), 1, "one MessageSid, one message: {stored:?}");
    assert_eq!(stored[0]["text"], "Hi, is my order on its way?");
    let contact_id = stored[0]["contact_id"].as_str().expect("contact");
    let (_, contact) = app.get(&format!("/v1/contacts/{contact_id}"), &admin).await;
    assert_eq!(contact["identities"][0]["kind"], "phone");
    assert_eq!(contact["identities"][0]["address"], CUSTOMER);

    // During a token rotation Twilio signs with the new token; both are accepted.
    let (status, body) = app.patch(&format!("/v1/channels/{channel_id}"), &admin, json!({"settings": {
        "account_sid": ACCOUNT, "from": OUR_NUMBER, "api_base_url": "http://127.0.0.1:9", "public_base_url": PUBLIC,
        "secondary_auth_token": "rotated-auth-token-0002"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let params = inbound_params("SM00000000000000000000000000000002", "Thanks!");
    let signed_with_new = twilio_signature("rotated-auth-token-0002", &url, &params);
    let (status, body) = post_form(&app, &path, &params, Some(&signed_with_new)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A pooled number of the channel's Messaging Service is the channel's too.
    let pooled = sms_channel(&app, &admin, "http://127.0.0.1:9", json!({"from": null, "messaging_service_sid": "MG0123456789abcdef0123456789abcdef"})).await;
    let pooled_path = format!("/hooks/twilio/{pooled}/sms");
    let mut params = inbound_params("SM00000000000000000000000000000003", "From the pool");
    params[6] = ("To", "+14155550177");
    params.push(("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"));
    let signature = twilio_signature(TOKEN, &format!("{PUBLIC}{pooled_path}"), &params);
    let (status, body) = post_form(&app, &pooled_path, &params, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A message for another sender is named as such, and not stored.
    let mut params = inbound_params("SM00000000000000000000000000000004", "Wrong door");
    params[6] = ("To", "+14155550111");
    let signature = twilio_signature(TOKEN, &url, &params);
    let (status, body) = post_form(&app, &path, &params, Some(&signature)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("\"field\":\"To\""), "{body}");
}

async fn sms_settings_are_validated_and_secrets_never_shown(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    for (settings, field) in [
        (json!({"account_sid": "AC123", "auth_token": TOKEN, "from": OUR_NUMBER}), "settings.account_sid"),
        (json!({"account_sid": ACCOUNT, "auth_token": TOKEN, "from": "415-555-0199"}), "settings.from"),
        (json!({"account_sid": ACCOUNT, "auth_token": TOKEN}), "settings.from"),
        (json!({"account_sid": ACCOUNT, "from": OUR_NUMBER}), "settings.auth_token"),
        (json!({"account_sid": ACCOUNT, "auth_token": TOKEN, "from": OUR_NUMBER, "api_base_url": "api.twilio.com"}), "settings.api_base_url"),
        (json!({"account_sid": ACCOUNT, "auth_token": TOKEN, "from": OUR_NUMBER, "region": "eu1"}), "settings.region"),
    ] {
        let (status, problem) = app.post("/v1/channels", &admin, json!({"kind": "twilio_sms", "name": "Texts", "settings": settings})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let id = sms_channel(&app, &admin, "https://api.dublin.ie1.twilio.com", json!({"secondary_auth_token": "second-token"})).await;
    let (status, channel) = app.get(&format!("/v1/channels/{id}"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(channel["settings"]["api_base_url"], "https://api.dublin.ie1.twilio.com");
    let shown = channel.to_string();
    assert!(!shown.contains(TOKEN) && !shown.contains("second-token"), "secrets never come back: {shown}");
}

async fn replies_reach_twilio_and_delivery_status_flows_back(backend: Backend) {
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel_id = sms_channel(&app, &admin, &twilio.base_url(), json!({})).await;

    // An MMS: the photo stays at Twilio until someone opens it.
    let photo = twilio.add_media("image/jpeg", b"\xff\xd8\xff a photo of the parcel");
    let path = format!("/hooks/twilio/{channel_id}/sms");
    let mut params = inbound_params("MM00000000000000000000000000000001", "The parcel arrived damaged");
    params[2] = ("NumMedia", "1");
    params.push(("MediaUrl0", &photo));
    params.push(("MediaContentType0", "image/jpeg"));
    let signature = twilio_signature(TOKEN, &format!("{PUBLIC}{path}"), &params);
    let (status, body) = post_form(&app, &path, &params, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let conversation = only_conversation(&app, &admin).await;
    let inbound = messages(&app, &admin, &conversation).await;
    let attachment = &inbound[0]["attachments"][0];
    assert_eq!(attachment["content_type"], "image/jpeg", "{inbound:?}");
    let response = app
        .http
        .get(format!("{}/v1/attachments/{}", app.base, attachment["id"].as_str().expect("id")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), b"\xff\xd8\xff a photo of the parcel");

    // Too long for one SMS: refused up front, naming the field.
    let (status, problem) = reply(&app, &admin, &conversation, &"x".repeat(1601)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "text");

    // The operator's reply reaches Twilio with the right fields.
    let (status, sent) = reply(&app, &admin, &conversation, "Sorry to hear that! A replacement is on its way.").await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let message_id = sent["id"].as_str().expect("id").to_owned();
    let requests = twilio.wait_for_sent(1, WAIT).await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.field("To"), Some(CUSTOMER));
    assert_eq!(request.field("From"), Some(OUR_NUMBER));
    assert_eq!(request.field("Body"), Some("Sorry to hear that! A replacement is on its way."));
    let callback = request.field("StatusCallback").expect("a status callback URL").to_owned();
    assert_eq!(callback, format!("{PUBLIC}/hooks/twilio/{channel_id}/status?message_id={message_id}"));
    let sent = settled(&app, &admin, &conversation, &message_id).await;
    assert_eq!(sent["status"], "sent");
    let sid = sent["external_id"].as_str().expect("Twilio's sid").to_owned();
    assert!(sid.starts_with("SM"));

    // Twilio reports delivery on the URL it was given; the message becomes delivered.
    let status_path = callback.strip_prefix(PUBLIC).expect("our URL").to_owned();
    let report = [("MessageSid", sid.as_str()), ("MessageStatus", "delivered"), ("AccountSid", ACCOUNT), ("To", CUSTOMER), ("From", OUR_NUMBER), ("ApiVersion", "2010-04-01")];
    let (status, _) = post_form(&app, &status_path, &report, Some("bm90IGEgc2lnbmF0dXJl")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "status callbacks are signed like inbound messages");
    let signature = twilio_signature(TOKEN, &callback, &report);
    let (status, body) = post_form(&app, &status_path, &report, Some(&signature)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let delivered = settled(&app, &admin, &conversation, &message_id).await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");

    // An undelivered report fails a message, with Twilio's error code.
    let (_, second) = reply(&app, &admin, &conversation, "Tracking number follows.").await;
    let second_id = second["id"].as_str().expect("id").to_owned();
    let requests = twilio.wait_for_sent(2, WAIT).await;
    let callback = requests[1].field("StatusCallback").expect("callback").to_owned();
    let sid = settled(&app, &admin, &conversation, &second_id).await["external_id"].as_str().expect("sid").to_owned();
    let report = [("MessageSid", sid.as_str()), ("MessageStatus", "undelivered"), ("ErrorCode", "30003"), ("AccountSid", ACCOUNT)];
    let signature = twilio_signature(TOKEN, &callback, &report);
    let (status, _) = post_form(&app, callback.strip_prefix(PUBLIC).expect("ours"), &report, Some(&signature)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let failed = app
        .wait_for(&admin, &format!("/v1/conversations/{conversation}/messages"), |l| {
            l["data"].as_array().into_iter().flatten().any(|m| m["id"] == second_id.as_str() && m["status"] == "failed")
        })
        .await;
    let failed = failed["data"].as_array().into_iter().flatten().find(|m| m["id"] == second_id.as_str()).expect("message");
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("30003")), "{failed}");
}

async fn stop_blocks_every_send_until_start(backend: Backend) {
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel_id = sms_channel(&app, &admin, &twilio.base_url(), json!({})).await;
    customer_texts(&app, &channel_id, "SM00000000000000000000000000000011", "Where is my order?").await;
    let conversation = only_conversation(&app, &admin).await;

    // HELP gets the channel's help text.
    customer_texts(&app, &channel_id, "SM00000000000000000000000000000012", "help").await;
    let sent = twilio.wait_for_sent(1, WAIT).await;
    assert_eq!(sent[0].field("Body"), Some("Shop support: reply STOP to opt out. Help: support@shop.example"));

    // STOP: the keyword stays in the conversation, and nothing is sent any more.
    customer_texts(&app, &channel_id, "SM00000000000000000000000000000013", " Stop ").await;
    assert!(messages(&app, &admin, &conversation).await.iter().any(|m| m["text"] == " Stop "), "the keyword message is kept");
    let (status, problem) = reply(&app, &admin, &conversation, "Your order ships tomorrow.").await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("consent_missing")), "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("SMS keyword")), "{problem}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(twilio.sent().len(), 1, "nothing reached Twilio after STOP");

    // START: replies flow again.
    customer_texts(&app, &channel_id, "SM00000000000000000000000000000014", "START").await;
    let (_, queued) = reply(&app, &admin, &conversation, "Welcome back! Your order ships tomorrow.").await;
    let sent = settled(&app, &admin, &conversation, queued["id"].as_str().expect("id")).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let requests = twilio.wait_for_sent(2, WAIT).await;
    assert_eq!(requests[1].field("Body"), Some("Welcome back! Your order ships tomorrow."));

    // A repeated STOP webhook (same MessageSid) is one message and one withdrawal.
    customer_texts(&app, &channel_id, "SM00000000000000000000000000000013", " Stop ").await;
    let (_, queued) = reply(&app, &admin, &conversation, "Still reachable.").await;
    assert_eq!(settled(&app, &admin, &conversation, queued["id"].as_str().expect("id")).await["status"], "sent");
    let texts: Vec<Value> = messages(&app, &admin, &conversation).await.into_iter().filter(|m| m["text"] == " Stop ").collect();
    assert_eq!(texts.len(), 1);
}

async fn an_unsubscribed_recipient_reported_by_twilio_is_blocked(backend: Backend) {
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel_id = sms_channel(&app, &admin, &twilio.base_url(), json!({})).await;
    customer_texts(&app, &channel_id, "SM00000000000000000000000000000021", "Hello").await;
    let conversation = only_conversation(&app, &admin).await;

    // The customer texted STOP to Twilio's own opt-out handling; Twilio refuses with 21610.
    twilio.opt_out(CUSTOMER);
    let (_, queued) = reply(&app, &admin, &conversation, "Hi there").await;
    let failed = settled(&app, &admin, &conversation, queued["id"].as_str().expect("id")).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("21610")), "{failed}");

    // The hub now knows: the next reply is blocked before it reaches Twilio.
    let (status, problem) = reply(&app, &admin, &conversation, "Are you there?").await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("consent_missing")), "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("provider")), "{problem}");
    assert!(twilio.sent().is_empty(), "Twilio received no message");
}
