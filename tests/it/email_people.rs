//! Mail as people write it, end to end through a real Dovecot mailbox and a real aiosmtpd
//! receiver: the people copied into a customer's mail stay in the conversation, replies go to
//! all of them (each one decided and recorded by the door), operators add copies and blind
//! copies, signatures close every reply, forwards leave by the door; and a hub killed after the
//! SMTP server took a mail but before its answer was stored sends it again under the same
//! Message-ID, never as a second message.

use std::time::Duration;

use omnibridge_email::testservers::{Dovecot, SmtpSink};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::email::{crlf, settings};
use crate::helpers::{Backend, ChildHub, TestApp, free_port};

backend_tests!(a_mail_with_copies_is_answered_to_everyone_on_it, a_mail_whose_answer_was_lost_keeps_one_message_id,);

const WAIT: Duration = Duration::from_secs(20);

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

/// A header of a raw mail (unfolded), by name.
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let head = text.split("\n\n").next().unwrap_or_default().replace("\n ", " ").replace("\n\t", " ");
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// The mails the receiver got whose envelope goes to `address`.
fn mails_to(smtp: &SmtpSink, address: &str) -> Vec<Vec<u8>> {
    smtp.received().into_iter().filter(|m| header(m, "X-RcptTo").is_some_and(|r| r.contains(address))).collect()
}

fn wait_for_mail_to(smtp: &SmtpSink, address: &str) -> Vec<u8> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(mail) = mails_to(smtp, address).pop() {
            return mail;
        }
        assert!(std::time::Instant::now() < deadline, "no mail reached {address}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn message_becomes(app: &TestApp, key: &str, id: &str, status: &str) -> Value {
    app.wait_for(key, &format!("/v1/messages/{id}"), |m| m["status"] == status).await
}

async fn a_mail_with_copies_is_answered_to_everyone_on_it(backend: Backend) {
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let mut mailbox = settings(&imap, &smtp);
    mailbox["signature"] = json!("Shop Support · shop.example");
    let (status, channel) = app.post("/v1/channels", &admin, json!({"kind": "email", "name": "Support", "settings": mailbox})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let (_, me) = app.get("/v1/auth/session", &admin).await;
    let me = me["operator_id"].as_str().expect("the admin key's operator").to_owned();
    let (status, operator) = app.patch(&format!("/v1/operators/{me}"), &admin, json!({"signature": "Olga, customer care"})).await;
    assert_eq!(status, StatusCode::OK, "{operator}");
    assert_eq!(operator["signature"], "Olga, customer care");

    // Ben wrote once before, and since then asked for no more mail from the shop.
    imap.deliver("INBOX", &crlf("From: Ben <ben@example.com>\nTo: support@shop.example\nSubject: Hi\nMessage-ID: <ben-0@example.com>\n\nHello.\n"));
    let first = app.wait_for(&admin, "/v1/conversations", |l| data(l).len() == 1).await;
    let ben = data(&first)[0]["contact_id"].as_str().expect("Ben").to_owned();
    let withdrawal = json!({"channel": "email", "address": "ben@example.com", "purpose": "service", "action": "withdraw"});
    let (status, body) = app.post(&format!("/v1/contacts/{ben}/consents"), &admin, withdrawal).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Ana writes to the shop and a colleague, with Ben and the shop's own reply address in copy.
    imap.deliver(
        "INBOX",
        &crlf(
            "From: Ana Lima <ana@example.com>\nTo: support@shop.example, Carla <carla@example.com>\n\
             Cc: Ben <ben@example.com>, support+old@reply.shop.example\nSubject: Where is my parcel?\n\
             Message-ID: <ana-1@example.com>\n\nOrder 1234 has not arrived.\n",
        ),
    );
    let all = app.wait_for(&admin, "/v1/conversations", |l| data(l).len() == 2).await;
    let conversation = data(&all).into_iter().find(|c| c["contact_id"] != ben.as_str()).expect("Ana's conversation");
    let conversation = conversation["id"].as_str().expect("id").to_owned();
    let participants = app.wait_for(&admin, &format!("/v1/conversations/{conversation}/participants"), |l| data(l).len() == 2).await;
    let addresses: Vec<Value> = data(&participants).iter().map(|p| p["address"].clone()).collect();
    assert_eq!(addresses, vec![json!("carla@example.com"), json!("ben@example.com")], "everyone but the sender and the shop: {participants}");
    assert!(data(&participants).iter().all(|p| p["source"] == "mail"));

    // Typed addresses are checked, and copies are a mail matter.
    let (status, bad) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "x", "cc": ["not an address"]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["field"], "cc[0]");
    let (status, bad) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "x", "private": true, "bcc": ["a@example.com"]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["field"], "bcc");

    // The reply goes to Ana, Carla in copy and the shop's archive in blind copy; not to Ben.
    let (status, reply) = app
        .post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "It ships today.", "bcc": ["archive@shop-records.example"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["text"], "It ships today.\n\n-- \nOlga, customer care\n\nShop Support · shop.example", "signatures close the reply");
    let roles: Vec<(Value, Value)> = reply["recipients"].as_array().expect("recipients").iter().map(|r| (r["role"].clone(), r["address"].clone())).collect();
    assert_eq!(
        roles,
        vec![(json!("cc"), json!("carla@example.com")), (json!("cc"), json!("ben@example.com")), (json!("bcc"), json!("archive@shop-records.example"))]
    );
    let reply_id = reply["id"].as_str().expect("id").to_owned();
    let sent = message_becomes(&app, &admin, &reply_id, "sent").await;
    let mail = wait_for_mail_to(&smtp, "ana@example.com");
    let envelope = header(&mail, "X-RcptTo").expect("envelope");
    assert!(envelope.contains("carla@example.com") && envelope.contains("archive@shop-records.example"), "{envelope}");
    assert!(!envelope.contains("ben@example.com"), "Ben withdrew: {envelope}");
    assert_eq!(header(&mail, "To").as_deref(), Some("ana@example.com"));
    assert_eq!(header(&mail, "Cc").as_deref(), Some("carla@example.com"));
    assert_eq!(header(&mail, "Bcc"), None, "blind copies are in the envelope only");
    let parsed = omnibridge_email::parse::parse(&mail).expect("a well-formed mail");
    assert!(parsed.text.ends_with("-- \nOlga, customer care\n\nShop Support · shop.example"), "{}", parsed.text);
    let outcome = |address: &str| sent["recipients"].as_array().and_then(|l| l.iter().find(|r| r["address"] == address).cloned()).expect("recipient");
    assert_eq!(outcome("carla@example.com")["status"], "sent", "{sent}");
    assert_eq!(outcome("archive@shop-records.example")["status"], "sent");
    assert_eq!(outcome("ben@example.com")["status"], "refused");
    assert!(outcome("ben@example.com")["reason"].as_str().is_some_and(|r| r.contains("consent")), "{sent}");
    // Each recipient is a transfer of its own: three allowed, Ben's refused.
    let transfers = app.wait_for(&admin, "/v1/transfers?limit=200", |l| data(l).iter().filter(|t| t["message_id"] == reply_id.as_str()).count() == 4).await;
    let mine: Vec<Value> = data(&transfers).into_iter().filter(|t| t["message_id"] == reply_id.as_str()).collect();
    assert_eq!(mine.iter().filter(|t| t["decision"] == "block").count(), 1, "{mine:?}");
    assert!(mine.iter().any(|t| t["decision"] == "block" && t["contact_id"] == ben.as_str()), "{mine:?}");

    // Ana answers all, copying in Dan: he joins the conversation.
    let our_id = header(&mail, "Message-ID").expect("Message-ID");
    imap.deliver(
        "INBOX",
        &crlf(&format!(
            "From: ana@example.com\nTo: support@shop.example\nCc: carla@example.com, dan@example.com\nSubject: Re: Where is my parcel?\n\
             Message-ID: <ana-2@example.com>\nIn-Reply-To: {our_id}\n\nThanks! Dan will collect it.\n"
        )),
    );
    app.wait_for(&admin, &format!("/v1/conversations/{conversation}/participants"), |l| data(l).len() == 3).await;

    // The operator names the copies of one reply; an address copied in stays from then on.
    let (status, added) = app.post(&format!("/v1/conversations/{conversation}/participants"), &admin, json!({"address": "Erin@Example.com"})).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["address"], "erin@example.com");
    let (status, _) = app.post(&format!("/v1/conversations/{conversation}/participants"), &admin, json!({"address": "erin@example.com"})).await;
    assert_eq!(status, StatusCode::OK, "there already");
    let (status, only_dan) = app
        .post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Dan, it is at the front desk.", "cc": ["dan@example.com"], "signature": false}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{only_dan}");
    assert_eq!(only_dan["text"], "Dan, it is at the front desk.");
    message_becomes(&app, &admin, only_dan["id"].as_str().expect("id"), "sent").await;
    let to_dan = wait_for_mail_to(&smtp, "dan@example.com");
    assert_eq!(header(&to_dan, "Cc").as_deref(), Some("dan@example.com"));
    let erin = added["id"].as_str().expect("id");
    assert_eq!(app.call(reqwest::Method::DELETE, &format!("/v1/conversations/{conversation}/participants/{erin}"), Some(&admin), None).await.0, StatusCode::NO_CONTENT);

    // Forwarding Ana's first mail to the warehouse: a new thread, through the door.
    let messages = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await.1;
    let first = data(&messages).into_iter().find(|m| m["external_id"] == "ana-1@example.com").expect("Ana's mail");
    let (status, forward) = app
        .post(&format!("/v1/messages/{}/forward", first["id"].as_str().expect("id")), &admin, json!({"to": "warehouse@partner.example", "text": "Please check parcel 1234."}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{forward}");
    assert_eq!(forward["recipients"][0]["role"], "to");
    message_becomes(&app, &admin, forward["id"].as_str().expect("id"), "sent").await;
    let forwarded = wait_for_mail_to(&smtp, "warehouse@partner.example");
    assert_eq!(header(&forwarded, "To").as_deref(), Some("warehouse@partner.example"));
    assert_eq!(header(&forwarded, "Subject").as_deref(), Some("Fwd: Where is my parcel?"));
    assert_eq!(header(&forwarded, "In-Reply-To"), None, "a thread of its own");
    assert!(!header(&forwarded, "X-RcptTo").unwrap_or_default().contains("ana@example.com"), "the customer does not get the forward");
    let text = omnibridge_email::parse::parse(&forwarded).expect("mail").text;
    assert!(text.starts_with("Please check parcel 1234."), "{text}");
    assert!(text.contains("---------- Forwarded message ----------\nFrom: Ana Lima <ana@example.com>"), "{text}");
    assert!(text.contains("Order 1234 has not arrived."), "{text}");
    let (status, bad) = app.post(&format!("/v1/conversations/{conversation}/forward"), &admin, json!({"to": "nobody"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["field"], "to");
    let (status, whole) = app.post(&format!("/v1/conversations/{conversation}/forward"), &admin, json!({"to": "lead@shop.example"})).await;
    assert_eq!(status, StatusCode::CREATED, "{whole}");
    let lead = wait_for_mail_to(&smtp, "lead@shop.example");
    let text = omnibridge_email::parse::parse(&lead).expect("mail").text;
    assert!(text.contains("Order 1234 has not arrived.") && text.contains("Thanks! Dan will collect it.") && text.contains("It ships today."), "{text}");

    // Ana's contact is merged into her CRM record: the participants and copies move with the
    // conversation and stay readable.
    let ana = app.get(&format!("/v1/conversations/{conversation}"), &admin).await.1["contact_id"].as_str().expect("Ana").to_owned();
    let (_, crm) = app.post("/v1/contacts", &admin, json!({"name": "A. Lima"})).await;
    let crm = crm["id"].as_str().expect("id").to_owned();
    let (status, merged) = app.post(&format!("/v1/contacts/{crm}/merge"), &admin, json!({"other_id": ana, "reason": "same person"})).await;
    assert!(status.is_success(), "{merged}");
    let (status, participants) = app.get(&format!("/v1/conversations/{conversation}/participants"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{participants}");
    assert!(participants.to_string().contains("carla@example.com"), "{participants}");
    let (status, moved) = app.get(&format!("/v1/messages/{reply_id}"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert!(moved.to_string().contains("archive@shop-records.example"), "{moved}");

    // Ben is erased: his address leaves the conversations and messages he was copied on.
    let done = crate::privacy::request(&app, &admin, json!({"type": "erasure", "contact_id": ben})).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, participants) = app.get(&format!("/v1/conversations/{conversation}/participants"), &admin).await;
    assert!(!participants.to_string().contains("ben@example.com"), "{participants}");
    let (_, after) = app.get(&format!("/v1/messages/{reply_id}"), &admin).await;
    assert!(!after.to_string().contains("ben@example.com"), "{after}");
}

async fn a_mail_whose_answer_was_lost_keeps_one_message_id(backend: Backend) {
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let mut app = TestApp::spawn_with(backend, |c| c.delivery.lease_secs = 2).await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, channel) = app.post("/v1/channels", &admin, json!({"kind": "email", "name": "Support", "settings": settings(&imap, &smtp)})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    imap.deliver("INBOX", &crlf("From: hold-ana@example.com\nTo: support@shop.example\nSubject: Parcel\nMessage-ID: <hold-1@example.com>\n\nWhere is it?\n"));
    let conversations = app.wait_for(&admin, "/v1/conversations", |l| data(l).len() == 1).await;
    let conversation = data(&conversations)[0]["id"].as_str().expect("id").to_owned();
    app.stop_server().await;

    // The SMTP server takes the mail but its answer never comes: the hub is killed meanwhile.
    let mut hub = ChildHub::start(&app, free_port()).await;
    let sent = app
        .http
        .post(format!("{}/v1/conversations/{conversation}/messages", hub.base))
        .bearer_auth(&admin)
        .json(&json!({"text": "On its way."}))
        .send()
        .await
        .expect("reply");
    assert_eq!(sent.status(), StatusCode::CREATED);
    let id = sent.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    smtp.wait_for(1, WAIT);
    hub.kill_9();

    // Started again, the hub sends the mail again under the same Message-ID: mail clients and
    // threading see one message.
    let hub = ChildHub::start(&app, free_port()).await;
    let message = hub.message_once(&admin, &id, "sent").await;
    assert_eq!(message["status"], "sent", "{message}");
    let received = smtp.received();
    assert_eq!(received.len(), 2, "SMTP cannot be asked whether the first went: handed over again");
    let mut ids: Vec<String> = received.iter().filter_map(|m| header(m, "Message-ID")).collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "one Message-ID however often it was handed over: {ids:?}");
    assert_eq!(message["external_id"].as_str().map(|e| format!("<{e}>")), ids.first().cloned());
}
