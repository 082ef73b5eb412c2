//! A mailbox as a channel, end to end: a real Dovecot holds the support inbox, a real aiosmtpd
//! receives what the hub sends; the test talks to them only over IMAP and SMTP, and to the hub
//! only over its API.

use std::time::Duration;

use omnibridge_email::testservers::{Dovecot, IMAP_PASSWORD, IMAP_USER, SmtpSink};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    a_support_mailbox_becomes_a_channel,
    email_settings_are_validated_and_secrets_never_shown,
    marketing_mail_offers_one_click_unsubscribe,
);

const WAIT: Duration = Duration::from_secs(20);

pub(crate) fn crlf(text: &str) -> Vec<u8> {
    text.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

pub(crate) fn settings(imap: &Dovecot, smtp: &SmtpSink) -> Value {
    json!({
        "imap_host": "127.0.0.1", "imap_port": imap.port, "imap_tls": "none",
        "imap_username": IMAP_USER, "imap_password": IMAP_PASSWORD,
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none",
        "from_address": "support@shop.example", "from_name": "Shop Support",
        "poll_interval_secs": 5, "reply_domain": "reply.shop.example",
        "relay_country": "DE", "relay_operator": "Shop GmbH",
    })
}


fn count(list: &Value) -> usize {
    list["data"].as_array().map(Vec::len).unwrap_or_default()
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

async fn a_support_mailbox_becomes_a_channel(backend: Backend) {
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let mut app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, channel) = app.post("/v1/channels", &admin, json!({"kind": "email", "name": "Support inbox", "settings": settings(&imap, &smtp)})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let channel_id = channel["id"].as_str().expect("id").to_owned();

    // 1. A customer writes: the mail becomes a conversation with the customer's text and address.
    imap.deliver(
        "INBOX",
        &crlf(
            "From: Ana Lima <ana@example.com>\nTo: support@shop.example\nSubject: Where is my parcel?\nMessage-ID: <ana-1@example.com>\n\
             MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain; charset=utf-8\n\n\
             Order 1234 has not arrived.\n--XX\nContent-Type: application/pdf; name=\"receipt.pdf\"\n\
             Content-Disposition: attachment; filename=\"receipt.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--XX--\n",
        ),
    );
    let conversations = app.wait_for(&admin, "/v1/conversations", |l| count(l) == 1).await;
    let conversation = conversations["data"][0]["id"].as_str().expect("id").to_owned();
    let contact = conversations["data"][0]["contact_id"].as_str().expect("contact").to_owned();
    let messages = app.wait_for(&admin, &format!("/v1/conversations/{conversation}/messages"), |l| count(l) == 1).await;
    assert_eq!(messages["data"][0]["text"], "Order 1234 has not arrived.");
    assert_eq!(messages["data"][0]["external_id"], "ana-1@example.com");
    let attachment = &messages["data"][0]["attachments"][0];
    assert_eq!(attachment["filename"], "receipt.pdf");
    assert_eq!(attachment["content_type"], "application/pdf");
    assert_eq!(attachment["size"], 9);
    let file = app
        .http
        .get(format!("{}/v1/attachments/{}", app.base, attachment["id"].as_str().expect("id")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("download");
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), b"%PDF-1.4\n");
    let (_, person) = app.get(&format!("/v1/contacts/{contact}"), &admin).await;
    assert!(person["identities"].to_string().contains("ana@example.com"), "{person}");
    let healthy = app.wait_for(&admin, &format!("/v1/channels/{channel_id}"), |c| c["health"]["status"] == "ok").await;
    assert!(healthy["settings"].get("imap_password").is_none(), "secrets are never returned: {healthy}");

    // 2. The operator answers: a real email reply, threaded to the customer's mail.
    let label = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"Tracking number 1Z999");
    let (status, bad) = app
        .post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "x", "attachments": [{"filename": "a.txt", "data": "***"}]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["field"], "attachments[0].data");
    let (status, reply) = app
        .post(
            &format!("/v1/conversations/{conversation}/messages"),
            &admin,
            json!({"text": "It ships today.", "attachments": [{"filename": "label.txt", "content_type": "text/plain", "data": label}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["attachments"][0]["filename"], "label.txt");
    let mails = smtp.wait_for(1, WAIT);
    let sent = &mails[0];
    assert_eq!(header(sent, "In-Reply-To").as_deref(), Some("<ana-1@example.com>"));
    assert_eq!(header(sent, "References").as_deref(), Some("<ana-1@example.com>"));
    assert_eq!(header(sent, "Subject").as_deref(), Some("Re: Where is my parcel?"));
    assert_eq!(header(sent, "X-RcptTo").as_deref(), Some("ana@example.com"));
    let parsed = omnibridge_email::parse::parse(sent).expect("the reply is a well-formed mail");
    assert_eq!(parsed.text, "It ships today.");
    assert_eq!(parsed.attachments.len(), 1, "the file travels with the reply");
    assert_eq!(parsed.attachments[0].filename.as_deref(), Some("label.txt"));
    assert_eq!(parsed.attachments[0].data, b"Tracking number 1Z999");
    let our_id = header(sent, "Message-ID").expect("Message-ID");
    let our_id = our_id.trim_matches(|c| c == '<' || c == '>').to_owned();
    let reply_address = header(sent, "Reply-To").expect("a reply address naming the conversation");
    assert!(reply_address.starts_with("support+") && reply_address.ends_with("@reply.shop.example"), "{reply_address}");
    let reply_id = reply["id"].as_str().expect("id").to_owned();
    app.wait_for(&admin, &format!("/v1/conversations/{conversation}/messages"), |l| {
        l["data"].as_array().is_some_and(|m| m.iter().any(|m| m["id"] == reply_id.as_str() && m["external_id"] == our_id.as_str()))
    })
    .await;

    // 3. The customer answers the reply: same conversation.
    imap.deliver(
        "INBOX",
        &crlf(&format!(
            "From: ana@example.com\nTo: support@shop.example\nSubject: Re: Where is my parcel?\nMessage-ID: <ana-2@example.com>\n\
             In-Reply-To: <{our_id}>\nReferences: <ana-1@example.com> <{our_id}>\n\nThank you!\n\nOn Mon, Support wrote:\n> It ships today.\n"
        )),
    );
    let messages = app.wait_for(&admin, &format!("/v1/conversations/{conversation}/messages"), |l| count(l) == 3).await;
    let answer = &messages["data"][2];
    let text = answer["text"].as_str().expect("text");
    let quote = answer["quote_start"].as_u64().expect("quoted history is marked") as usize;
    assert_eq!(text[..quote].trim(), "Thank you!");
    assert!(text[quote..].contains("It ships today."), "the quote is kept: {text}");

    // A mail client that drops the threading headers still lands in the conversation: the
    // reply address carries an unforgeable token.
    imap.deliver(
        "INBOX",
        &crlf(&format!("From: ana@example.com\nTo: {reply_address}\nSubject: one more thing\nMessage-ID: <ana-2b@example.com>\n\nAlso, gift wrap please.\n")),
    );
    app.wait_for(&admin, &format!("/v1/conversations/{conversation}/messages"), |l| count(l) == 4).await;

    // 4. A new mail that answers nothing starts a conversation of its own — also when it names a
    //    reply address whose token was tampered with.
    let at = reply_address.find('@').expect("@");
    let last = if reply_address[..at].ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}{}", &reply_address[..at - 1], &reply_address[at..]);
    imap.deliver(
        "INBOX",
        &crlf(&format!("From: ana@example.com\nTo: {forged}\nSubject: Another question\nMessage-ID: <ana-3@example.com>\n\nDo you ship to Norway?\n")),
    );
    app.wait_for(&admin, "/v1/conversations", |l| count(l) == 2).await;

    // 5. An auto-reply opens nothing; a bounce of our reply marks it failed with the reason.
    imap.deliver("INBOX", &crlf("From: ana@example.com\nSubject: Out of office\nAuto-Submitted: auto-replied\nMessage-ID: <ooo@example.com>\n\nAway.\n"));
    imap.deliver(
        "INBOX",
        &crlf(&format!(
            "From: MAILER-DAEMON@mx.example\nTo: support@shop.example\nSubject: Undelivered Mail\nMIME-Version: 1.0\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nNot delivered.\n\
             --B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; ana@example.com\n\
             Action: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full\n\
             --B\nContent-Type: text/rfc822-headers\n\nFrom: support@shop.example\nTo: ana@example.com\nMessage-ID: <{our_id}>\n--B--\n"
        )),
    );
    let messages = app.wait_for(&admin, &format!("/v1/conversations/{conversation}/messages"), |l| {
        l["data"].as_array().is_some_and(|m| m.iter().any(|m| m["id"] == reply_id.as_str() && m["status"] == "failed"))
    })
    .await;
    let failed = messages["data"].as_array().expect("list").iter().find(|m| m["id"] == reply_id.as_str()).expect("reply").clone();
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("552 5.2.2 Mailbox full")), "{failed}");
    assert_eq!((failed["failure"]["class"].as_str(), failed["failure"]["code"].as_str()), (Some("permanent"), Some("5.2.2")), "{failed}");

    //    A 4.x.x bounce (the server gave up on a temporary condition) is a transient failure,
    //    recorded, not resent blindly.
    let (_, second) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Tracking follows."})).await;
    let second_id = second["id"].as_str().expect("id").to_owned();
    let sent = app.wait_for(&admin, &format!("/v1/messages/{second_id}"), |m| m["status"] == "sent").await;
    let mails_before = smtp.wait_for(2, WAIT).len();
    let second_mail_id = sent["external_id"].as_str().expect("Message-ID").to_owned();
    let bounce = |id: &str, status: &str| {
        crlf(&format!(
            "From: MAILER-DAEMON@mx.example\nTo: support@shop.example\nSubject: Undelivered Mail\nMIME-Version: 1.0\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nNot delivered.\n\
             --B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; ana@example.com\n\
             Action: failed\nStatus: {status}\n\
             --B\nContent-Type: text/rfc822-headers\n\nMessage-ID: <{id}>\n--B--\n"
        ))
    };
    imap.deliver("INBOX", &bounce(&second_mail_id, "4.4.7"));
    let failed = app.wait_for(&admin, &format!("/v1/messages/{second_id}"), |m| m["status"] == "failed").await;
    assert_eq!((failed["failure"]["class"].as_str(), failed["failure"]["code"].as_str()), (Some("transient"), Some("4.4.7")), "{failed}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.received().len(), mails_before, "not resent on its own");

    //    A second hard bounce marks the address undeliverable on this channel: shown on the
    //    contact, and the next reply fails at once without reaching the relay.
    let (_, third) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Are you there?"})).await;
    let third_id = third["id"].as_str().expect("id").to_owned();
    let sent = app.wait_for(&admin, &format!("/v1/messages/{third_id}"), |m| m["status"] == "sent").await;
    imap.deliver("INBOX", &bounce(sent["external_id"].as_str().expect("Message-ID"), "5.1.1"));
    app.wait_for(&admin, &format!("/v1/messages/{third_id}"), |m| m["status"] == "failed").await;
    let contact_id = failed["contact_id"].as_str().expect("contact").to_owned();
    let (_, contact) = app.get(&format!("/v1/contacts/{contact_id}"), &admin).await;
    let marked = &contact["undeliverable"][0];
    assert_eq!((marked["channel_id"].as_str(), marked["hard_bounces"].as_i64(), marked["code"].as_str()), (Some(channel_id.as_str()), Some(2), Some("5.1.1")), "{contact}");
    assert!(marked["marked_at"].is_string(), "{contact}");
    let mails_before = smtp.received().len();
    let (_, fourth) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Hello?"})).await;
    let refused = app.wait_for(&admin, &format!("/v1/messages/{}", fourth["id"].as_str().expect("id")), |m| m["status"] == "failed").await;
    assert_eq!(refused["failure"]["code"], "undeliverable", "{refused}");
    assert_eq!(smtp.received().len(), mails_before, "nothing sent to a marked address");
    //    Ana writes from the address again: it works, and the next reply goes.
    imap.deliver("INBOX", &crlf(&format!("From: ana@example.com\nTo: {reply_address}\nSubject: back\nMessage-ID: <ana-9@example.com>\n\nMy mailbox works again.\n")));
    app.wait_for(&admin, &format!("/v1/conversations/{conversation}/messages"), |l| {
        l["data"].as_array().is_some_and(|m| m.iter().any(|m| m["text"] == "My mailbox works again."))
    })
    .await;
    let (_, fifth) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Welcome back."})).await;
    app.wait_for(&admin, &format!("/v1/messages/{}", fifth["id"].as_str().expect("id")), |m| m["status"] == "sent").await;

    // 6. A broken mail is quarantined and the next good mail still arrives.
    imap.deliver("INBOX", b"\x00\x01 this is not a mail \xff\xfe");
    imap.deliver("INBOX", &crlf("From: bo@example.org\nSubject: Hello\nMessage-ID: <bo-1@example.org>\n\nA question from Bo.\n"));
    app.wait_for(&admin, "/v1/conversations", |l| count(l) == 3).await;
    let quarantine = app.wait_for(&admin, &format!("/v1/channels/{channel_id}/quarantine"), |l| count(l) == 1).await;
    assert!(quarantine["data"][0]["error"].is_string());
    assert_eq!(count(&app.get("/v1/conversations", &admin).await.1), 3, "the auto-reply and the bounce opened nothing");

    // 7. A restart imports nothing twice, and goes on importing.
    let total_before: usize = total_messages(&app, &admin).await;
    app.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(total_messages(&app, &admin).await, total_before, "nothing imported twice after a restart");
    imap.deliver("INBOX", &crlf("From: cy@example.net\nSubject: After the restart\nMessage-ID: <cy-1@example.net>\n\nStill there?\n"));
    app.wait_for(&admin, "/v1/conversations", |l| count(l) == 4).await;
    assert_eq!(total_messages(&app, &admin).await, total_before + 1);
}

async fn total_messages(app: &TestApp, key: &str) -> usize {
    let (_, conversations) = app.get("/v1/conversations?limit=200", key).await;
    let mut total = 0;
    for c in conversations["data"].as_array().into_iter().flatten() {
        let (_, messages) = app.get(&format!("/v1/conversations/{}/messages?limit=200", c["id"].as_str().unwrap_or_default()), key).await;
        total += count(&messages);
    }
    total
}

async fn email_settings_are_validated_and_secrets_never_shown(backend: Backend) {
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let good = settings(&imap, &smtp);
    for (change, field) in [
        (json!({"imap_tls": "sometimes"}), "settings.imap_tls"),
        (json!({"from_address": "not an address"}), "settings.from_address"),
        (json!({"imap_port": 0}), "settings.imap_port"),
        (json!({"poll_interval_secs": 1}), "settings.poll_interval_secs"),
        (json!({"smtp_username": "only-user"}), "settings.smtp_password"),
        (json!({"imap_hostname": "typo"}), "settings.imap_hostname"),
    ] {
        let mut body = good.clone();
        for (k, v) in change.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (status, problem) = app.post("/v1/channels", &admin, json!({"kind": "email", "name": "Inbox", "settings": body})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{change}: {problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    // Wrong credentials: the channel is created, and its health says why nothing arrives.
    let mut wrong = good.clone();
    wrong["imap_password"] = json!("not-the-password");
    let (status, channel) = app.post("/v1/channels", &admin, json!({"kind": "email", "name": "Inbox", "settings": wrong})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let raw = channel.to_string();
    assert!(!raw.contains("not-the-password") && !raw.contains(IMAP_PASSWORD), "{raw}");
    let id = channel["id"].as_str().expect("id");
    let shown = app.wait_for(&admin, &format!("/v1/channels/{id}"), |c| c["health"]["status"] == "error").await;
    assert!(shown["health"]["last_error"].as_str().is_some_and(|e| e.contains("login")), "{shown}");
    let (_, list) = app.get("/v1/channels", &admin).await;
    assert!(!list.to_string().contains("not-the-password"));

    // Fixing the password alone: the other settings are sent as shown, the password once.
    let mut fixed = shown["settings"].clone();
    fixed["imap_password"] = json!(IMAP_PASSWORD);
    let (status, patched) = app.patch(&format!("/v1/channels/{id}"), &admin, json!({"settings": fixed})).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    app.wait_for(&admin, &format!("/v1/channels/{id}"), |c| c["health"]["status"] == "ok").await;
    // A change without secrets keeps the stored ones.
    let mut renamed = patched["settings"].clone();
    renamed["from_name"] = json!("Support team");
    let (status, patched) = app.patch(&format!("/v1/channels/{id}"), &admin, json!({"settings": renamed})).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["settings"]["from_name"], "Support team");
    imap.deliver("INBOX", &crlf("From: ana@example.com\nSubject: hi\nMessage-ID: <after-patch@example.com>\n\nStill reading?\n"));
    app.wait_for(&admin, "/v1/conversations", |l| count(l) == 1).await;
}

async fn marketing_mail_offers_one_click_unsubscribe(backend: Backend) {
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (_, channel) = app.post("/v1/channels", &admin, json!({"kind": "email", "name": "Inbox", "settings": settings(&imap, &smtp)})).await;
    let channel_id = channel["id"].as_str().expect("id").to_owned();
    imap.deliver("INBOX", &crlf("From: ana@example.com\nSubject: Hi\nMessage-ID: <m1@example.com>\n\nHello\n"));
    let conversations = app.wait_for(&admin, "/v1/conversations", |l| count(l) == 1).await;
    let conversation = conversations["data"][0]["id"].as_str().expect("id").to_owned();
    let contact = conversations["data"][0]["contact_id"].as_str().expect("contact").to_owned();
    let path = format!("/v1/conversations/{conversation}/messages");

    // Marketing needs the contact's consent: refused before it is queued, then granted.
    let (status, problem) = app.post(&path, &admin, json!({"text": "20% off this week", "purpose": "marketing"})).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("consent_missing")), "{problem}");
    let grant = json!({"channel": "email", "address": "Ana@Example.com", "purpose": "marketing", "action": "grant",
                       "evidence": {"form_url": "https://shop.example/newsletter"}, "notice_version": "2026-01"});
    let (status, event) = app.post(&format!("/v1/contacts/{contact}/consents"), &admin, grant).await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let (status, _) = app.post(&path, &admin, json!({"text": "20% off this week", "purpose": "marketing"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let mails = smtp.wait_for(1, WAIT);
    let link = header(&mails[0], "List-Unsubscribe").expect("marketing mail carries List-Unsubscribe");
    assert_eq!(header(&mails[0], "List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    let url = link.split(',').next().expect("the https link").trim().trim_matches(|c| c == '<' || c == '>').to_owned();
    let mailto = link.split(',').nth(1).expect("a mailto as well").trim().trim_matches(|c| c == '<' || c == '>').to_owned();
    let mailto = mailto.strip_prefix("mailto:").expect("mailto:").to_owned();
    assert!(mailto.starts_with("support+unsubscribe-") && mailto.ends_with("@reply.shop.example"), "{mailto}");
    assert!(url.starts_with(&format!("{}/hooks/email/{channel_id}/unsubscribe/", app.base)), "{url}");

    // Opening the link in a browser changes nothing; a forged link is refused.
    let page = app.http.get(&url).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("text").contains("<form method=\"post\""));
    let forged = format!("{}0", &url[..url.len() - 1]);
    let forged = if forged == url { format!("{}1", &url[..url.len() - 1]) } else { forged };
    let refused = app.http.post(&forged).form(&[("List-Unsubscribe", "One-Click")]).send().await.expect("post");
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let empty = app.http.post(&url).form(&[("other", "x")]).send().await.expect("post");
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The one-click POST, as a mail client sends it (both encodings), without a redirect.
    let clicked = app.http.post(&url).form(&[("List-Unsubscribe", "One-Click")]).send().await.expect("post");
    assert_eq!(clicked.status(), StatusCode::OK);
    let multipart = "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n";
    let again = app
        .http
        .post(&url)
        .header("content-type", "multipart/form-data; boundary=b")
        .body(multipart)
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), StatusCode::OK);

    // The ledger holds the withdrawal (once, however often the link is posted); no more
    // marketing mail to this contact; service mail still goes out.
    let (_, consents) = app.get(&format!("/v1/contacts/{contact}/consents?history=true"), &admin).await;
    let methods: Vec<&str> = consents["data"].as_array().expect("history").iter().filter_map(|e| e["method"].as_str()).collect();
    assert_eq!(methods, ["operator", "email_unsubscribe"], "{consents}");
    let (status, problem) = app.post(&path, &admin, json!({"text": "Last chance: 30% off", "purpose": "marketing"})).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("consent_missing")), "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("withdrew")), "{problem}");

    // Granted again, then the mailto variant: mail from the contact to that address withdraws.
    let grant = json!({"channel": "email", "address": "ana@example.com", "purpose": "marketing", "action": "grant"});
    assert_eq!(app.post(&format!("/v1/contacts/{contact}/consents"), &admin, grant).await.0, StatusCode::CREATED);
    imap.deliver("INBOX", &crlf(&format!("From: ana@example.com\nTo: {mailto}\nSubject: unsubscribe\nMessage-ID: <unsub@example.com>\n\nunsubscribe\n")));
    let history_path = format!("/v1/contacts/{contact}/consents?history=true");
    let history = app.wait_for(&admin, &history_path, |h| h["data"].as_array().is_some_and(|d| d.len() == 4)).await;
    assert_eq!(history["data"][3]["evidence"]["mechanism"], "mailto", "{history}");
    assert_eq!(history["data"][3]["action"], "withdraw");
    let (status, _) = app.post(&path, &admin, json!({"text": "Your order shipped."})).await;
    assert_eq!(status, StatusCode::CREATED);
    let mails = smtp.wait_for(2, WAIT);
    assert_eq!(mails.len(), 2, "the refused marketing mail was never sent");
    assert!(header(&mails[1], "List-Unsubscribe").is_none(), "service mail has no unsubscribe link");
}
