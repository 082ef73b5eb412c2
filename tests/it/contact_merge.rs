//! Contact merge and unmerge: the person who mailed and the person who texted turn out to be
//! one; later the merge turns out wrong and is undone, exactly. A visitor merged mid-chat keeps
//! writing into the one conversation.

use std::time::Duration;

use omnibridge_email::testservers::{Dovecot, SmtpSink};
use omnibridge_twilio_sms::testkit::FakeTwilio;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::email::{crlf, settings};
use crate::helpers::{Backend, TestApp};
use crate::receiver::Receiver;
use crate::sms::{ACCOUNT, CUSTOMER, TOKEN, customer_texts, sms_channel};

backend_tests!(an_sms_contact_merged_into_an_email_contact_and_unmerged_exactly, a_visitor_merged_while_chatting_keeps_talking_in_one_conversation);

const WAIT: Duration = Duration::from_secs(20);

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

/// What an operator sees of a contact: the contact, and each of its conversations with messages.
async fn everything_about(app: &TestApp, admin: &str, contact: &str) -> (Value, Vec<(Value, Vec<Value>)>) {
    let (status, shown) = app.get(&format!("/v1/contacts/{contact}"), admin).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let (_, all) = app.get("/v1/conversations?limit=100", admin).await;
    let mut conversations = Vec::new();
    for conversation in data(&all).into_iter().filter(|c| c["contact_id"] == contact) {
        let (_, messages) = app.get(&format!("/v1/conversations/{}/messages", conversation["id"].as_str().expect("id")), admin).await;
        conversations.push((conversation, data(&messages)));
    }
    conversations.sort_by_key(|(c, _)| c["id"].as_str().unwrap_or_default().to_owned());
    (shown, conversations)
}

async fn an_sms_contact_merged_into_an_email_contact_and_unmerged_exactly(backend: Backend) {
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let receiver = Receiver::start().await;
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, endpoint) =
        app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "country": "DE", "event_types": ["contact.merged", "contact.unmerged"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let (status, mailbox) = app.post("/v1/channels", &admin, json!({"kind": "email", "name": "Support inbox", "settings": settings(&imap, &smtp)})).await;
    assert_eq!(status, StatusCode::CREATED, "{mailbox}");
    let sms = sms_channel(&app, &admin, &twilio.base_url(), json!({})).await;

    // Ana mails from her address (with a receipt attached) and texts from her phone: two contacts.
    imap.deliver(
        "INBOX",
        &crlf(
            "From: Ana Lima <ana@example.com>\nTo: support@shop.example\nSubject: Parcel\nMessage-ID: <ana-1@example.com>\n\
             MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain; charset=utf-8\n\n\
             Order 1234 has not arrived.\n--XX\nContent-Type: application/pdf; name=\"receipt.pdf\"\n\
             Content-Disposition: attachment; filename=\"receipt.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--XX--\n",
        ),
    );
    customer_texts(&app, &sms, "SM00000000000000000000000000000001", "It's Ana again, any news on 1234?").await;
    let list = app.wait_for(&admin, "/v1/conversations", |l| data(l).len() == 2).await;
    let by_channel = |channel: &str| data(&list).into_iter().find(|c| c["channel_id"] == channel).expect("conversation");
    let email_contact = by_channel(mailbox["id"].as_str().expect("id"))["contact_id"].as_str().expect("contact").to_owned();
    let sms_contact = by_channel(&sms)["contact_id"].as_str().expect("contact").to_owned();
    assert_ne!(email_contact, sms_contact);
    // The email conversation's message has its attachment before anything moves.
    let before_email = everything_about(&app, &admin, &email_contact).await;
    let before_sms = everything_about(&app, &admin, &sms_contact).await;
    assert_eq!(before_email.1.len(), 1);
    assert_eq!(before_email.1[0].1[0]["attachments"][0]["filename"], "receipt.pdf");

    // Someone types Ana's number into a form: the hub suggests the two are one.
    let (_, typed) = app.post("/v1/contacts", &admin, json!({"name": "A. Lima", "phone": CUSTOMER})).await;
    let (_, suggestions) = app.get("/v1/merge-suggestions", &admin).await;
    assert!(
        data(&suggestions).iter().any(|s| s["contact_id"] == typed["id"] && s["other_id"] == sms_contact.as_str() && s["kind"] == "phone"),
        "{suggestions}"
    );

    // Merge the SMS contact into the email contact.
    let (status, problem) = app.post(&format!("/v1/contacts/{email_contact}/merge"), &admin, json!({"other_id": email_contact, "reason": "x"})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("other_id")));
    let (status, merged) =
        app.post(&format!("/v1/contacts/{email_contact}/merge"), &admin, json!({"other_id": sms_contact, "reason": "Ana confirmed both on the phone"})).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["reason"], "Ana confirmed both on the phone");
    assert!(merged["merged_by"].as_str().is_some_and(|b| b.starts_with("operator:") || b.starts_with("key:")), "{merged}");
    assert_eq!(merged["moved"]["conversations"].as_array().map(Vec::len), Some(1));
    assert_eq!(merged["moved"]["messages"], 1, "the SMS conversation's message went with it");

    let (one, conversations) = everything_about(&app, &admin, &email_contact).await;
    let kinds: Vec<&str> = one["identities"].as_array().expect("identities").iter().filter_map(|i| i["kind"].as_str()).collect();
    assert!(kinds.contains(&"email") && kinds.contains(&"phone"), "one contact with both identities: {one}");
    assert_eq!(conversations.len(), 2, "and both conversations");
    let texts: Vec<&str> = conversations.iter().flat_map(|(_, m)| m.iter()).filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.contains(&"Order 1234 has not arrived.") && texts.contains(&"It's Ana again, any news on 1234?"), "{texts:?}");
    let (_, contacts) = app.get("/v1/contacts?limit=100", &admin).await;
    assert!(!data(&contacts).iter().any(|c| c["id"] == sms_contact.as_str()), "the merged contact leaves the list");
    let (_, gone) = app.get(&format!("/v1/contacts/{sms_contact}"), &admin).await;
    assert_eq!(gone["merged_into"], email_contact.as_str());
    let events = receiver.wait_until(WAIT, |r| r.iter().any(|x| x.json()["type"] == "contact.merged")).await;
    let event = events.iter().find(|x| x.json()["type"] == "contact.merged").expect("contact.merged").json();
    assert_eq!((event["data"]["contact_id"].as_str(), event["data"]["other_id"].as_str()), (Some(email_contact.as_str()), Some(sms_contact.as_str())));

    // The merge was wrong: undo it. Both contacts are exactly as they were.
    let merge_id = merged["id"].as_str().expect("merge id");
    let (status, undone) = app.post(&format!("/v1/contacts/{email_contact}/unmerge"), &admin, json!({"merge_id": merge_id})).await;
    assert_eq!(status, StatusCode::OK, "{undone}");
    assert!(undone["undone_at"].is_string());
    assert_eq!(everything_about(&app, &admin, &email_contact).await, before_email, "the email contact is restored exactly");
    assert_eq!(everything_about(&app, &admin, &sms_contact).await, before_sms, "the SMS contact is restored exactly");
    let (_, contacts) = app.get("/v1/contacts?limit=100", &admin).await;
    assert!(data(&contacts).iter().any(|c| c["id"] == sms_contact.as_str()));
    let (status, _) = app.post(&format!("/v1/contacts/{email_contact}/unmerge"), &admin, json!({"merge_id": merge_id})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a merge is undone once");
    let (_, history) = app.get(&format!("/v1/contacts/{sms_contact}/merges"), &admin).await;
    assert_eq!(data(&history).len(), 1);
    assert!(data(&history)[0]["undone_by"].is_string());
    assert_eq!(data(&history)[0]["moved"]["messages"], 1, "the history tells what the merge moved");
    assert_eq!(undone["moved"]["messages"], 1, "and the undo what went back");
    receiver.wait_until(WAIT, |r| r.iter().any(|x| x.json()["type"] == "contact.unmerged")).await;

    // Ana texts again: it reaches the SMS contact's own conversation, as before the merge.
    customer_texts(&app, &sms, "SM00000000000000000000000000000002", "Thanks!").await;
    let sms_conversation = before_sms.1[0].0["id"].as_str().expect("id").to_owned();
    app.wait_for(&admin, &format!("/v1/conversations/{sms_conversation}/messages"), |l| data(l).iter().any(|m| m["text"] == "Thanks!")).await;
}

/// A web chat visitor turns out to be a known customer and is merged into them while the widget
/// is open: the visitor's next message lands in the same conversation, now the customer's, and
/// the widget still shows all of it. Undone, the conversation and the session go back together.
async fn a_visitor_merged_while_chatting_keeps_talking_in_one_conversation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Bakery");
    let chat = app.webchat_channel(&admin).await;
    let (token, said) = app.visitor_wrote(&chat, "Dora", "Is the bread fresh?").await;
    let conversation = said["conversation_id"].as_str().expect("conversation").to_owned();
    let dora = whose(&app, &admin, &conversation).await;
    let (status, ana) = app.post("/v1/contacts", &admin, json!({"name": "Ana", "email": "ana@example.com"})).await;
    assert_eq!(status, StatusCode::CREATED, "{ana}");
    let ana = ana["id"].as_str().expect("id").to_owned();
    let texts = |page: &Value| data(page).iter().map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>();

    let (status, merged) = app.post(&format!("/v1/contacts/{ana}/merge"), &admin, json!({"other_id": dora, "reason": "Dora is Ana"})).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    let (status, body) = app.visitor_says(&token, json!({"text": "Still there?"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, list) = app.get("/v1/conversations?limit=100", &admin).await;
    assert_eq!(data(&list).len(), 1, "no second conversation for the merged-away contact: {list}");
    assert_eq!(whose(&app, &admin, &conversation).await, ana, "the conversation is Ana's now");
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    assert_eq!(texts(&messages), ["Is the bread fresh?", "Still there?"], "the new message joined the conversation");
    let (status, history) = app.visitor_history(&token, "").await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(texts(&history), ["Is the bread fresh?", "Still there?"], "the widget shows the whole conversation");

    let (status, undone) = app.post(&format!("/v1/contacts/{ana}/unmerge"), &admin, json!({"merge_id": merged["id"]})).await;
    assert_eq!(status, StatusCode::OK, "{undone}");
    let (status, body) = app.visitor_says(&token, json!({"text": "Hello again"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(whose(&app, &admin, &conversation).await, dora, "the conversation went back to Dora");
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    assert_eq!(texts(&messages), ["Is the bread fresh?", "Still there?", "Hello again"]);
    let (_, history) = app.visitor_history(&token, "").await;
    assert_eq!(texts(&history), ["Is the bread fresh?", "Still there?", "Hello again"]);
}

/// Whose conversation it is, as the API says.
async fn whose(app: &TestApp, admin: &str, conversation: &str) -> String {
    let (status, shown) = app.get(&format!("/v1/conversations/{conversation}"), admin).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    shown["contact_id"].as_str().unwrap_or_default().to_owned()
}
