//! Attacks on a running hub, each made as an attacker would: identity squatting, the transcript
//! mail relay, SSRF through a provider's media URL, a flood of made-up API keys against the rate
//! limiter, a stored password following a channel to another host, and more.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use omnibridge_email::testservers::{Dovecot, SmtpSink};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::email::{crlf, settings as email_settings};
use crate::helpers::{Backend, TestApp};

backend_tests!(
    a_typed_in_address_never_receives_mail_or_replies_meant_for_its_owner,
    a_visitor_cannot_mail_a_transcript_to_any_address,
    provider_media_is_fetched_only_from_the_provider_and_never_from_inside,
    channel_hosts_on_private_networks_are_refused,
    a_stored_password_never_follows_a_channel_to_another_host,
    a_flood_of_made_up_api_keys_stays_bounded_and_the_api_keeps_answering,
    an_erasure_leaves_no_corrected_values_and_no_quarantined_mail_behind,
    a_tenants_dead_endpoints_do_not_starve_other_tenants,
    a_session_flood_from_many_addresses_does_not_lock_out_other_visitors,
    one_visitor_cannot_hold_many_websockets,
    forwarded_addresses_count_only_from_trusted_proxies,
);

const WAIT: Duration = Duration::from_secs(20);

fn texts(mail: &[Vec<u8>]) -> Vec<String> {
    mail.iter().map(|m| omnibridge_email::parse::parse(m).map(|p| p.text).unwrap_or_default()).collect()
}

async fn email_channel(app: &TestApp, admin: &str, imap: &Dovecot, smtp: &SmtpSink) -> String {
    let (status, channel) = app.post("/v1/channels", admin, json!({"kind": "email", "name": "Support", "settings": email_settings(imap, smtp)})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    channel["id"].as_str().expect("id").to_owned()
}

/// Mallory opens the widget as ana@example.com. Ana's real mail must still be filed under Ana,
/// and the operator's answer to it must never show in Mallory's widget.
async fn a_typed_in_address_never_receives_mail_or_replies_meant_for_its_owner(backend: Backend) {
    let (imap, smtp) = (Dovecot::start(), SmtpSink::start());
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    email_channel(&app, &admin, &imap, &smtp).await;
    let chat = app.webchat_channel(&admin).await;
    let (mallory, _) = app.visitor(&chat, json!({"name": "Mallory", "email": "ana@example.com"})).await;
    app.visitor_says(&mallory, json!({"text": "hi, any news on my order?"})).await;
    let list = app.wait_for(&admin, "/v1/conversations", |l| l["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    let mallory_contact = list["data"][0]["contact_id"].as_str().expect("contact").to_owned();

    imap.deliver(
        "INBOX",
        &crlf("From: Ana Lima <ana@example.com>\nTo: support@shop.example\nSubject: Refund\nMessage-ID: <ana-7@example.com>\n\nMy IBAN is DE44 5001 0517 5407 3249 31.\n"),
    );
    let list = app.wait_for(&admin, "/v1/conversations", |l| l["data"].as_array().is_some_and(|d| d.len() == 2)).await;
    let by_mail = list["data"].as_array().expect("data").iter().find(|c| c["contact_id"] != mallory_contact.as_str()).cloned();
    let by_mail = by_mail.expect("the mail opened a conversation of another contact");
    let ana_contact = by_mail["contact_id"].as_str().expect("contact");
    let (_, ana) = app.get(&format!("/v1/contacts/{ana_contact}"), &admin).await;
    assert!(ana["identities"].as_array().expect("identities").iter().any(|i| i["address"] == "ana@example.com" && i["status"] == "verified"), "{ana}");

    // The operator answers Ana's mail: it goes to Ana by email, and nowhere near Mallory.
    let conversation = by_mail["id"].as_str().expect("id");
    let (status, _) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Your refund of 80 EUR is booked."})).await;
    assert_eq!(status, StatusCode::CREATED);
    let mail = smtp.wait_for(1, WAIT);
    assert!(texts(&mail)[0].contains("Your refund of 80 EUR"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, history) = app.get("/widget/v1/messages", &mallory).await;
    let history = history.to_string();
    assert!(!history.contains("refund") && !history.contains("IBAN"), "Mallory sees nothing of Ana's: {history}");

    // The two are suggested for a merge, for a person to decide.
    let (_, suggestions) = app.get("/v1/merge-suggestions", &admin).await;
    fn pair(s: &Value) -> [Option<&str>; 2] {
        [s["contact_id"].as_str(), s["other_id"].as_str()]
    }
    assert!(
        suggestions["data"].as_array().expect("data").iter().any(|s| pair(s).contains(&Some(ana_contact)) && pair(s).contains(&Some(mallory_contact.as_str()))),
        "{suggestions}"
    );
}

/// A visitor asks for transcripts to strangers' addresses, again and again. Only a confirmation
/// mail with the hub's own words goes out, and only a few.
async fn a_visitor_cannot_mail_a_transcript_to_any_address(backend: Backend) {
    let (imap, smtp) = (Dovecot::start(), SmtpSink::start());
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.transcripts_per_visitor_per_hour = 2;
        c.limits.transcripts_per_ip_per_hour = 3;
    })
    .await;
    let (_, admin) = app.create_tenant("Shop");
    email_channel(&app, &admin, &imap, &smtp).await;
    let chat = app.webchat_channel(&admin).await;
    let spam = "CHEAP PILLS at http://spam.example/buy";
    let (visitor, _) = app.visitor(&chat, json!({"name": spam})).await;
    app.visitor_says(&visitor, json!({"text": spam})).await;

    let ask = |token: String, to: &'static str| {
        let app = &app;
        async move {
            app.http
                .post(format!("{}/widget/v1/transcript", app.base))
                .bearer_auth(token)
                .json(&json!({"email": to}))
                .send()
                .await
                .expect("request")
        }
    };
    let first = ask(visitor.clone(), "victim1@example.net").await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(first.json::<Value>().await.expect("json")["status"], "confirmation_sent");
    assert_eq!(ask(visitor.clone(), "victim2@example.net").await.status(), StatusCode::ACCEPTED);
    let refused = ask(visitor.clone(), "victim3@example.net").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "per visitor");
    assert!(refused.headers().contains_key("retry-after"));
    // Another visitor from the same address: the address's budget is nearly spent too.
    let (other, _) = app.visitor(&chat, json!({})).await;
    app.visitor_says(&other, json!({"text": spam})).await;
    assert_eq!(ask(other.clone(), "victim4@example.net").await.status(), StatusCode::ACCEPTED);
    let refused = ask(other, "victim5@example.net").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json::<Value>().await.expect("json")["limit"], "transcripts_per_ip");

    let mail = smtp.wait_for(3, WAIT);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mail = if smtp.received().len() > mail.len() { smtp.received() } else { mail };
    assert_eq!(mail.len(), 3, "one confirmation per accepted request, nothing else");
    for (raw, text) in mail.iter().zip(texts(&mail)) {
        let raw = String::from_utf8_lossy(raw);
        assert!(!raw.contains("PILLS") && !raw.contains("spam.example"), "no visitor text anywhere in the mail: {raw}");
        assert!(text.contains("/transcripts/confirm/"), "{text}");
    }
}

/// A small HTTP server counting the requests it gets, answering `answer`.
async fn server(bind: &str, answer: impl Fn(&str) -> axum::response::Response + Clone + Send + Sync + 'static) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let answer = answer.clone();
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            answer(uri.path())
        }
    });
    let listener = tokio::net::TcpListener::bind(format!("{bind}:0")).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

/// An inbound MMS whose media URL points inside the hub's network — directly, or by a redirect
/// from the provider's host — is never fetched from there.
async fn provider_media_is_fetched_only_from_the_provider_and_never_from_inside(backend: Backend) {
    use crate::sms::{ACCOUNT, CUSTOMER, OUR_NUMBER, PUBLIC, TOKEN, post_form, twilio_signature};
    // The hub may reach the provider (a fake on 127.0.0.1) but nothing else on loopback.
    let app = TestApp::spawn_with(backend, |c| c.outbound.allow_private_cidrs = vec!["127.0.0.1/32".into()]).await;
    let (internal, internal_hits) = server("127.0.0.2", |_| axum::response::IntoResponse::into_response("the metadata service's secret")).await;
    let target = format!("{internal}/latest/meta-data/iam");
    let redirect_to = target.clone();
    let (provider, _) = server("127.0.0.1", move |_| {
        axum::response::Response::builder().status(302).header("location", redirect_to.clone()).body(axum::body::Body::empty()).expect("response")
    })
    .await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = crate::sms::sms_channel(&app, &admin, &provider, json!({})).await;
    let path = format!("/hooks/twilio/{channel}/sms");
    let on_provider = format!("{provider}/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/ME1");
    for (sid, media) in [("SM00000000000000000000000000000001", target.as_str()), ("SM00000000000000000000000000000002", on_provider.as_str())] {
        let params = [
            ("MessageSid", sid),
            ("AccountSid", ACCOUNT),
            ("From", CUSTOMER),
            ("To", OUR_NUMBER),
            ("Body", "see picture"),
            ("NumMedia", "1"),
            ("MediaUrl0", media),
            ("MediaContentType0", "image/jpeg"),
        ];
        let signature = twilio_signature(TOKEN, &format!("{PUBLIC}{path}"), &params);
        let (status, body) = post_form(&app, &path, &params, Some(&signature)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let list = app.wait_for(&admin, "/v1/conversations", |l| l["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    let conversation = list["data"][0]["id"].as_str().expect("id");
    let messages = app.wait_for(&admin, &format!("/v1/conversations/{conversation}/messages"), |l| l["data"].as_array().is_some_and(|d| d.len() == 2)).await;
    for message in messages["data"].as_array().expect("data") {
        let attachment = message["attachments"][0]["id"].as_str().expect("an attachment is listed");
        let response = app.http.get(format!("{}/v1/attachments/{attachment}", app.base)).bearer_auth(&admin).send().await.expect("download");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_ne!(status, StatusCode::OK, "{body}");
        assert!(!body.contains("secret"), "{body}");
    }
    assert_eq!(internal_hits.load(Ordering::SeqCst), 0, "nothing inside was ever asked");
}

/// A tenant cannot point a channel at the hub's own network.
async fn channel_hosts_on_private_networks_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let sms = json!({"kind": "twilio_sms", "name": "Texts", "settings": {
        "account_sid": crate::sms::ACCOUNT, "auth_token": "t", "from": "+14155550199", "api_base_url": "http://169.254.169.254"}});
    let (status, problem) = app.post("/v1/channels", &admin, sms).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("settings.api_base_url")), "{problem}");
    let mut mail = json!({"kind": "email", "name": "Mail", "settings": {
        "imap_host": "10.0.0.7", "imap_port": 993, "imap_tls": "implicit", "imap_username": "u", "imap_password": "p",
        "smtp_host": "mail.example.com", "smtp_port": 587, "smtp_tls": "starttls", "from_address": "support@shop.example"}});
    let (status, problem) = app.post("/v1/channels", &admin, mail.clone()).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("settings.imap_host")), "{problem}");
    mail["settings"]["imap_host"] = json!("fec0::1");
    let (status, problem) = app.post("/v1/channels", &admin, mail).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("settings.imap_host")), "{problem}");
}

/// Changing where a channel connects without giving its password again would send the stored
/// password to the new host: refused, naming the secret.
async fn a_stored_password_never_follows_a_channel_to_another_host(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let settings = json!({
        "imap_host": "127.0.0.1", "imap_port": 1, "imap_tls": "none", "imap_username": "support", "imap_password": "the imap password",
        "smtp_host": "127.0.0.1", "smtp_port": 1, "smtp_tls": "none", "smtp_username": "support", "smtp_password": "the smtp password",
        "from_address": "support@shop.example",
    });
    let (status, channel) = app.post("/v1/channels", &admin, json!({"kind": "email", "name": "Mail", "settings": settings.clone()})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let path = format!("/v1/channels/{}", channel["id"].as_str().expect("id"));
    let without_secrets = |mut s: Value| {
        let map = s.as_object_mut().expect("object");
        map.remove("imap_password");
        map.remove("smtp_password");
        s
    };
    // Another port on the same host keeps the stored passwords.
    let mut same_host = without_secrets(settings.clone());
    same_host["imap_port"] = json!(2);
    let (status, body) = app.patch(&path, &admin, json!({"settings": same_host})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Another host without the password: refused.
    let mut moved = without_secrets(settings.clone());
    moved["imap_host"] = json!("localhost");
    let (status, problem) = app.patch(&path, &admin, json!({"settings": moved.clone()})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("settings.imap_password")), "{problem}");
    // With it: accepted (the SMTP password stays, its host did not change).
    moved["imap_password"] = json!("the new host's password");
    let (status, body) = app.patch(&path, &admin, json!({"settings": moved})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Unauthenticated clients send hundreds of thousands of made-up keys in the field; here a few
/// thousand against a small bound. The limiter keeps at most its bound of buckets, and the API
/// keeps answering real clients fast.
async fn a_flood_of_made_up_api_keys_stays_bounded_and_the_api_keeps_answering(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.limits.max_buckets = 2048;
        // A bucket that refills slowly is kept (a full one is forgotten): the flood fills the map.
        c.limits.api_requests_per_key_per_minute = 2;
    })
    .await;
    let (_, admin) = app.create_tenant("Shop");
    let base = app.base.clone();
    let http = app.http.clone();
    let sent = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (http, base, sent) = (http.clone(), base.clone(), sent.clone());
            tokio::spawn(async move {
                for i in 0..400 {
                    let status = http.get(format!("{base}/v1/conversations")).bearer_auth(format!("made-up-{w}-{i}")).send().await.expect("request").status();
                    assert_eq!(status, StatusCode::UNAUTHORIZED);
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    assert_eq!(sent.load(Ordering::Relaxed), 6400);
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.expect("metrics").text().await.expect("text");
    let buckets: f64 = metrics
        .lines()
        .find(|l| l.starts_with("omnibridge_rate_limit_buckets"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("the bucket count is in /metrics");
    assert!((1024.0..=2048.0).contains(&buckets), "{buckets} buckets held after 6400 keys; the bound is 2048");
    let started = Instant::now();
    let (status, _) = app.get("/v1/conversations", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(5), "a real client is answered: {:?}", started.elapsed());
}

/// Behind a trusted proxy, the client is who the proxy says; anyone else's forwarding headers
/// are ignored. Rate limits and the admin-only endpoints go by that client.
async fn forwarded_addresses_count_only_from_trusted_proxies(backend: Backend) {
    let open = TestApp::spawn_with(backend, |c| c.limits.widget_sessions_per_ip_per_minute = 2).await;
    let behind = TestApp::spawn_with(backend, |c| {
        c.limits.widget_sessions_per_ip_per_minute = 2;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    async fn sessions(app: &TestApp, channel: &str, forwarded_for: &str, n: usize) -> Vec<u16> {
        let mut out = Vec::new();
        for _ in 0..n {
            let response = app
                .http
                .post(format!("{}/widget/v1/channels/{channel}/sessions", app.base))
                .header("x-forwarded-for", forwarded_for)
                .json(&json!({}))
                .send()
                .await
                .expect("session");
            out.push(response.status().as_u16());
        }
        out
    }
    // Without trusted proxies, a client cannot pose as many by writing the header.
    let (_, admin) = open.create_tenant("Shop");
    let channel = open.webchat_channel(&admin).await;
    assert_eq!(sessions(&open, &channel, "203.0.113.1", 2).await, [201, 201]);
    assert_eq!(sessions(&open, &channel, "203.0.113.2", 1).await, [429], "the header was ignored: the same client");

    // Behind a trusted proxy, each forwarded client has its own budget.
    let (_, admin) = behind.create_tenant("Shop");
    let channel = behind.webchat_channel(&admin).await;
    assert_eq!(sessions(&behind, &channel, "203.0.113.1", 3).await, [201, 201, 429]);
    assert_eq!(sessions(&behind, &channel, "198.51.100.9, 203.0.113.2", 1).await, [201], "the right-most untrusted hop");

    // The hub's insides answer only an admin: here, a loopback client (no admin token set).
    let metrics = |app: &TestApp, forwarded_for: Option<&'static str>| {
        let mut request = app.http.get(format!("{}/metrics", app.base));
        if let Some(f) = forwarded_for {
            request = request.header("x-forwarded-for", f);
        }
        request.send()
    };
    assert_eq!(metrics(&behind, None).await.expect("metrics").status(), StatusCode::OK);
    assert_eq!(metrics(&behind, Some("203.0.113.1")).await.expect("metrics").status(), StatusCode::UNAUTHORIZED);
    let ready: Value = behind.http.get(format!("{}/readyz", behind.base)).header("x-forwarded-for", "203.0.113.1").send().await.expect("readyz").json().await.expect("json");
    assert_eq!(ready, json!({"status": "ready"}), "no nodes or leases for strangers");
    assert!(behind.http.get(format!("{}/healthz", behind.base)).header("x-forwarded-for", "203.0.113.1").send().await.expect("healthz").status().is_success());
}

/// With an admin token, /metrics needs it, even from loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_admin_token_when_one_is_set() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.server.admin_token = "scrape-me-0123456789".into()).await;
    let get = |token: Option<&'static str>| {
        let mut request = app.http.get(format!("{}/metrics", app.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };
    assert_eq!(get(None).await.expect("metrics").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some("wrong")).await.expect("metrics").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some("scrape-me-0123456789")).await.expect("metrics").status(), StatusCode::OK);
}

/// Sessions flooding a channel from many addresses of one network spend that network's budget;
/// a visitor from elsewhere still gets in.
async fn a_session_flood_from_many_addresses_does_not_lock_out_other_visitors(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
        c.limits.widget_sessions_per_ip_per_minute = 100;
        c.limits.widget_sessions_per_channel_per_minute = 20;
    })
    .await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let open = |from: String| {
        let request = app.http.post(format!("{}/widget/v1/channels/{channel}/sessions", app.base)).header("x-forwarded-for", from).json(&json!({}));
        async move { request.send().await.expect("session") }
    };
    let mut created = 0;
    for i in 1..=30 {
        if open(format!("203.0.113.{i}")).await.status() == StatusCode::CREATED {
            created += 1;
        }
    }
    assert_eq!(created, 20, "the network's budget");
    let refused = open("203.0.113.99".into()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json::<Value>().await.expect("problem")["limit"], "widget_sessions_per_channel");
    assert_eq!(open("198.51.100.7".into()).await.status(), StatusCode::CREATED, "a visitor from another network is served");
}

/// One visitor token cannot hold more than a few sockets open.
async fn one_visitor_cannot_hold_many_websockets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({})).await;
    let url = format!("{}/widget/v1/ws?token={token}", app.ws_base);
    let mut open = Vec::new();
    for _ in 0..omnibridge_webchat::sockets::MAX_SOCKETS_PER_VISITOR {
        open.push(crate::helpers::websocket(&url).await);
    }
    assert_eq!(crate::helpers::websocket_status(&url, None).await, 429, "one socket too many");
    drop(open.pop());
    let mut reopened = false;
    for _ in 0..50 {
        if crate::helpers::websocket_status(&url, None).await == 101 {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened, "a closed tab frees its place");
}

/// After an erasure nothing about the person stays readable: not the values a rectification
/// corrected (they were in plaintext in the request), not mail of theirs in quarantine, not why
/// they were merged.
async fn an_erasure_leaves_no_corrected_values_and_no_quarantined_mail_behind(backend: Backend) {
    use crate::privacy::{blobs, request};
    let (imap, smtp) = (Dovecot::start(), SmtpSink::start());
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = email_channel(&app, &admin, &imap, &smtp).await;
    imap.deliver("INBOX", &crlf("From: Zoe Quill <zoe.quill@example.org>\nTo: support@shop.example\nSubject: Hi\nMessage-ID: <zq-1@example.org>\n\nHello.\n"));
    // Mail from her that cannot be imported: it lands in quarantine, under no contact. (A header
    // line without a colon, then bytes that are not UTF-8.)
    imap.deliver("INBOX", b"\x00\x01 zoe.quill@example.org wrote this broken thing \xff\xfe");
    let list = app.wait_for(&admin, "/v1/conversations", |l| l["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    let contact = list["data"][0]["contact_id"].as_str().expect("contact").to_owned();
    app.wait_for(&admin, &format!("/v1/channels/{channel}/quarantine"), |l| l["data"].as_array().is_some_and(|d| d.len() == 1)).await;

    let done = request(&app, &admin, json!({"type": "rectification", "contact_id": contact, "fields": {"name": "Zoe Quillfeather-Secret"}})).await;
    assert_eq!(done["status"], "completed", "{done}");
    let as_bytes = if backend == Backend::Sqlite { "CAST(detail AS BLOB)" } else { "convert_to(detail, 'UTF8')" };
    let stored = blobs(&app, &format!("SELECT {as_bytes} FROM privacy_requests WHERE contact_id = $1"), &contact).await;
    assert!(!stored.is_empty());
    assert!(stored.iter().all(|d| !String::from_utf8_lossy(d).contains("Quillfeather")), "the corrected name is not kept in the clear once done");

    let done = request(&app, &admin, json!({"type": "erasure", "contact_id": contact})).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, quarantine) = app.get(&format!("/v1/channels/{channel}/quarantine"), &admin).await;
    assert_eq!(quarantine["data"].as_array().map(Vec::len), Some(0), "her quarantined mail went with her: {quarantine}");
}

/// One tenant's dead receivers — every request hangs until the timeout — do not hold up another
/// tenant's deliveries.
async fn a_tenants_dead_endpoints_do_not_starve_other_tenants(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.webhooks.max_in_flight = 4;
        c.webhooks.timeout_secs = 3;
    })
    .await;
    // A receiver that takes connections and never answers.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead_url = format!("http://{}/hook", dead.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = dead.accept().await {
            held.push(socket);
        }
    });
    let (_, noisy) = app.create_tenant("Noisy");
    for _ in 0..3 {
        let (status, _) = app.post("/v1/webhooks/endpoints", &noisy, json!({"url": dead_url, "country": "DE"})).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let chat = app.webchat_channel(&noisy).await;
    for i in 0..20 {
        let (visitor, _) = app.visitor(&chat, json!({})).await;
        app.visitor_says(&visitor, json!({"text": format!("message {i}")})).await;
    }
    // Once the noisy tenant's endpoints are failing (its backlog of 60 deliveries due, each
    // holding a slot for the 3 s timeout: about 45 s of work for 4 slots), a quiet tenant's event.
    app.wait_for(&noisy, "/v1/webhooks/endpoints", |l| {
        l["data"].as_array().is_some_and(|d| d.len() == 3 && d.iter().all(|e| e["failing_since"].is_string()))
    })
    .await;
    let receiver = crate::receiver::Receiver::start().await;
    let (_, quiet) = app.create_tenant("Quiet");
    let (status, _) = app.post("/v1/webhooks/endpoints", &quiet, json!({"url": receiver.url, "event_types": ["message.received"], "country": "DE"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let chat = app.webchat_channel(&quiet).await;
    let (visitor, _) = app.visitor(&chat, json!({})).await;
    let started = Instant::now();
    app.visitor_says(&visitor, json!({"text": "hello from a quiet tenant"})).await;
    receiver.wait_until(Duration::from_secs(30), |r| !r.is_empty()).await;
    // Without fairness it waits behind the backlog (about 35 s measured); with it, a slot frees
    // within one timeout. The bound leaves room for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(20), "delivered in {:?} despite another tenant's dead endpoints", started.elapsed());
}
