//! Access that ends when it should: API keys named, expiring and revoked (on every process within
//! a second); operators deactivated (sessions, keys and sockets end at once, conversations move
//! on), reactivated, deleted; passwords reset by a link that works once.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use omnibridge_email::testservers::SmtpSink;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, ChildHub, TestApp, free_port, websocket};

backend_tests!(
    api_keys_are_named_listed_expire_and_are_revoked,
    a_deactivated_operator_loses_every_access_at_once_and_their_conversations_move_on,
    a_forgotten_password_is_reset_by_a_link_that_works_once,
    signing_out_closes_the_consoles_live_feed,
);

/// Waits for the websocket to be closed by the server; the close code.
async fn closed_with(socket: &mut crate::helpers::Socket, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return None,
            Ok(None) => return Some(1006),
            Ok(Some(Err(_))) => return Some(1006),
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => return Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005)),
            Ok(Some(Ok(_))) => {}
        }
    }
}

async fn api_keys_are_named_listed_expire_and_are_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, problem) = app.post("/v1/api-keys", &admin, json!({"name": "CRM", "role": "integration", "expires_at": "2001-01-01T00:00:00Z"})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("expires_at")), "{problem}");
    let (status, problem) = app.post("/v1/api-keys", &admin, json!({"role": "superuser"})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("role")), "{problem}");

    let (status, crm) = app.post("/v1/api-keys", &admin, json!({"name": "CRM", "role": "integration"})).await;
    assert_eq!(status, StatusCode::CREATED, "{crm}");
    let crm_key = crm["api_key"].as_str().expect("shown once").to_owned();
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(4);
    let soon = soon.format(&time::format_description::well_known::Rfc3339).expect("time");
    let (_, temporary) = app.post("/v1/api-keys", &admin, json!({"name": "Contractor", "role": "agent", "expires_at": soon})).await;
    let temporary_key = temporary["api_key"].as_str().expect("key").to_owned();
    assert_eq!(app.get("/v1/conversations", &crm_key).await.0, StatusCode::OK);
    assert_eq!(app.get("/v1/conversations", &temporary_key).await.0, StatusCode::OK);

    // Listed by name with when they were used; never the secret.
    let (_, list) = app.get("/v1/api-keys", &admin).await;
    assert!(!list.to_string().contains(&crm_key), "the secret is never listed");
    let listed = list["data"].as_array().expect("data").iter().find(|k| k["name"] == "CRM").cloned().expect("listed");
    assert_eq!((listed["role"].as_str(), listed["status"].as_str()), (Some("integration"), Some("active")));
    assert!(listed["last_used_at"].is_string(), "{listed}");
    assert!(crm_key.starts_with(listed["prefix"].as_str().expect("prefix")));
    // The key making the request cannot revoke itself: cleaning up the list locks nobody out.
    let own = list["data"].as_array().expect("data").iter().find(|k| admin.starts_with(k["prefix"].as_str().unwrap_or("-"))).cloned().expect("the admin key is listed");
    let (status, _) = app.call(Method::DELETE, &format!("/v1/api-keys/{}", own["id"].as_str().expect("id")), Some(&admin), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Nor does an admin deactivate, delete or demote the operator they act as.
    let (_, me) = app.get("/v1/auth/session", &admin).await;
    let me = me["operator_id"].as_str().expect("the first admin key acts as the tenant's first operator").to_owned();
    assert_eq!(app.post(&format!("/v1/operators/{me}/deactivate"), &admin, json!({})).await.0, StatusCode::CONFLICT);
    assert_eq!(app.call(Method::DELETE, &format!("/v1/operators/{me}"), Some(&admin), None).await.0, StatusCode::CONFLICT);
    assert_eq!(app.get("/v1/conversations", &admin).await.0, StatusCode::OK);

    // Revoked: refused within a second, listed as revoked.
    let id = crm["key_id"].as_str().expect("id");
    assert_eq!(app.call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&admin), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/conversations", &crm_key).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&admin), None).await.0, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/v1/api-keys", &admin).await;
    assert!(list["data"].as_array().expect("data").iter().any(|k| k["name"] == "CRM" && k["status"] == "revoked" && k["revoked_at"].is_string()));

    // Expired: refused once its time has passed.
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.get("/v1/conversations", &temporary_key).await.0 != StatusCode::UNAUTHORIZED {
        assert!(Instant::now() < deadline, "the expired key is still taken");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, list) = app.get("/v1/api-keys", &admin).await;
    assert!(list["data"].as_array().expect("data").iter().any(|k| k["name"] == "Contractor" && k["status"] == "expired"), "{list}");

    // The command line lists and revokes too.
    let tenant = app.get("/v1/auth/session", &admin).await.1["tenant_id"].as_str().expect("tenant").to_owned();
    let out = app.cli(&["key", "list", "--tenant", &tenant, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let admin_key = listed.as_array().expect("keys").iter().find(|k| k["role"] == "admin" && k["revoked"] == false).cloned().expect("the admin key");
    let out = app.cli(&["key", "revoke", "--tenant", &tenant, "--key", admin_key["id"].as_str().expect("id")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let started = Instant::now();
    while app.get("/v1/conversations", &admin).await.0 != StatusCode::UNAUTHORIZED {
        assert!(started.elapsed() < Duration::from_secs(3), "a key revoked from the command line is refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A console session: (cookie header, CSRF token).
async fn sign_in(app: &TestApp, email: &str, password: &str) -> Result<(String, String), StatusCode> {
    let response = app.http.post(format!("{}/v1/auth/login", app.base)).json(&json!({"email": email, "password": password})).send().await.expect("login");
    if response.status() != StatusCode::OK {
        return Err(response.status());
    }
    let cookie = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).expect("cookie").to_owned();
    let body: Value = response.json().await.expect("json");
    Ok((cookie, body["csrf_token"].as_str().expect("csrf").to_owned()))
}

async fn with_cookie(app: &TestApp, cookie: &str, path: &str) -> StatusCode {
    app.http.get(format!("{}{path}", app.base)).header("cookie", cookie).send().await.expect("request").status()
}

async fn a_deactivated_operator_loses_every_access_at_once_and_their_conversations_move_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let mut ids = Vec::new();
    for (name, email) in [("Olga", "olga@shop.example"), ("Pavel", "pavel@shop.example")] {
        let (status, op) = app.post("/v1/operators", &admin, json!({"name": name, "email": email, "role": "agent", "password": "a long passphrase"})).await;
        assert_eq!(status, StatusCode::CREATED, "{op}");
        ids.push(op["id"].as_str().expect("id").to_owned());
    }
    let (olga, pavel) = (ids[0].clone(), ids[1].clone());
    let (status, key) = app.post("/v1/api-keys", &admin, json!({"name": "Olga's script", "role": "agent", "operator_id": olga})).await;
    assert_eq!(status, StatusCode::CREATED);
    let olga_key = key["api_key"].as_str().expect("key").to_owned();
    let (cookie, _) = sign_in(&app, "olga@shop.example", "a long passphrase").await.expect("Olga signs in");
    let (_, sessions) = app.get(&format!("/v1/operators/{olga}/sessions"), &admin).await;
    assert_eq!(sessions["data"].as_array().map(Vec::len), Some(1), "{sessions}");

    // Olga holds a conversation and watches the feed.
    let channel = app.webchat_channel(&admin).await;
    let (visitor, _) = app.visitor(&channel, json!({"name": "Ana"})).await;
    app.visitor_says(&visitor, json!({"text": "hello"})).await;
    let list = app.wait_for(&admin, "/v1/conversations", |l| l["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    let conversation = list["data"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = app.patch(&format!("/v1/conversations/{conversation}"), &admin, json!({"assignee_id": olga})).await;
    assert_eq!(status, StatusCode::OK);
    let mut feed = websocket(&format!("{}/v1/realtime?token={olga_key}", app.ws_base)).await;

    // The tenant's only admin cannot be deactivated; Olga can.
    let (_, session) = app.get("/v1/auth/session", &admin).await;
    let first_admin = session["operator_id"].as_str().expect("the admin key's operator").to_owned();
    assert_eq!(app.post(&format!("/v1/operators/{first_admin}/deactivate"), &admin, json!({})).await.0, StatusCode::CONFLICT);
    let (status, done) = app.post(&format!("/v1/operators/{olga}/deactivate"), &admin, json!({"reassign_to": pavel})).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["conversations_reassigned"], 1);

    assert_eq!(closed_with(&mut feed, Duration::from_secs(3)).await, Some(1008), "her websocket closes at once");
    assert_eq!(app.get("/v1/conversations", &olga_key).await.0, StatusCode::UNAUTHORIZED, "her key stops working");
    assert_eq!(with_cookie(&app, &cookie, "/v1/conversations").await, StatusCode::UNAUTHORIZED, "her session ended");
    assert_eq!(sign_in(&app, "olga@shop.example", "a long passphrase").await.err(), Some(StatusCode::UNAUTHORIZED));
    let (_, moved) = app.get(&format!("/v1/conversations/{conversation}"), &admin).await;
    assert_eq!(moved["assignee_id"].as_str(), Some(pavel.as_str()), "Pavel took over: {moved}");

    let (_, team) = app.get("/v1/operators", &admin).await;
    assert!(team["data"].as_array().expect("data").iter().any(|o| o["id"] == olga.as_str() && o["status"] == "deactivated"), "{team}");
    // Back again: she signs in; her old key works again (it was never revoked).
    assert_eq!(app.post(&format!("/v1/operators/{olga}/reactivate"), &admin, json!({})).await.0, StatusCode::OK);
    let (cookie, csrf) = sign_in(&app, "olga@shop.example", "a long passphrase").await.expect("signs in again");
    assert_eq!(app.get("/v1/conversations", &olga_key).await.0, StatusCode::OK);
    // She signs herself out everywhere.
    let out = app.http.delete(format!("{}/v1/operators/{olga}/sessions", app.base)).header("cookie", &cookie).header("x-csrf-token", csrf).send().await.expect("sign out");
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(with_cookie(&app, &cookie, "/v1/conversations").await, StatusCode::UNAUTHORIZED);

    // She answers (with her key, as her), then is deleted: personal data erased, her key
    // revoked, and what she wrote still names its author, a former operator.
    let (status, written) = app.post(&format!("/v1/conversations/{conversation}/messages"), &olga_key, json!({"text": "On it."})).await;
    assert_eq!(status, StatusCode::CREATED, "{written}");
    assert_eq!(written["author_id"].as_str(), Some(olga.as_str()));
    assert_eq!(app.call(Method::DELETE, &format!("/v1/operators/{olga}"), Some(&admin), None).await.0, StatusCode::NO_CONTENT);
    let (_, team) = app.get("/v1/operators", &admin).await;
    assert!(!team.to_string().contains("olga@shop.example") && !team.to_string().contains("Olga"), "{team}");
    let former = team["data"].as_array().expect("data").iter().find(|o| o["id"] == olga.as_str()).cloned().expect("still listed");
    assert_eq!((former["name"].as_str(), former["status"].as_str(), &former["email"]), (Some("Former operator"), Some("deleted"), &Value::Null));
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    assert!(messages["data"].as_array().expect("data").iter().any(|m| m["text"] == "On it." && m["author_id"] == olga.as_str()), "{messages}");
    assert_eq!(app.get("/v1/conversations", &olga_key).await.0, StatusCode::UNAUTHORIZED);
    // An admin can change Pavel's role; the old admin can then be demoted too.
    assert_eq!(app.patch(&format!("/v1/operators/{pavel}"), &admin, json!({"role": "admin"})).await.0, StatusCode::OK);
    let (_, team) = app.get("/v1/operators", &admin).await;
    assert!(team["data"].as_array().expect("data").iter().any(|o| o["id"] == pavel.as_str() && o["role"] == "admin"));
}

async fn a_forgotten_password_is_reset_by_a_link_that_works_once(backend: Backend) {
    let smtp = SmtpSink::start();
    let port = smtp.port;
    let app = TestApp::spawn_with(backend, move |c| {
        c.mail.smtp_host = "127.0.0.1".into();
        c.mail.smtp_port = port;
        c.mail.smtp_tls = "none".into();
        c.mail.from_address = "team@hub.example".into();
    })
    .await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, _) = app.post("/v1/operators", &admin, json!({"name": "Olga", "email": "olga@shop.example", "role": "agent", "password": "the old passphrase"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (old_cookie, _) = sign_in(&app, "olga@shop.example", "the old passphrase").await.expect("signs in");

    // Unknown and known addresses get the same answer.
    for email in ["nobody@shop.example", "olga@shop.example"] {
        let (status, _) = app.call(Method::POST, "/v1/auth/password-reset", None, Some(json!({"email": email}))).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let mail = smtp.wait_for(1, Duration::from_secs(20));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 1, "only the real operator gets a mail");
    let text = omnibridge_email::parse::parse(&mail[0]).expect("mail").text;
    let link = text.split_whitespace().find(|w| w.contains("/password-reset/")).expect("a link").to_owned();
    assert_eq!(app.http.get(&link).send().await.expect("page").status(), StatusCode::OK);
    let short = app.http.post(&link).form(&[("password", "short")]).send().await.expect("post");
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY, "a weak password is refused and the link still works");
    let done = app.http.post(&link).form(&[("password", "a brand new passphrase")]).send().await.expect("post");
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(app.http.post(&link).form(&[("password", "yet another passphrase")]).send().await.expect("again").status(), StatusCode::GONE);

    assert_eq!(sign_in(&app, "olga@shop.example", "the old passphrase").await.err(), Some(StatusCode::UNAUTHORIZED));
    assert!(sign_in(&app, "olga@shop.example", "a brand new passphrase").await.is_ok());
    assert_eq!(with_cookie(&app, &old_cookie, "/v1/conversations").await, StatusCode::UNAUTHORIZED, "every earlier session ended");
}

/// Two processes on one PostgreSQL: a key revoked through one is refused by the other within a
/// second, and the other's websocket with that key closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_revoked_on_one_process_is_refused_by_another_within_a_second() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (_, admin) = app.create_tenant("Shop");
    let other = ChildHub::start(&app, free_port()).await;
    let (status, created) = app.post("/v1/api-keys", &admin, json!({"name": "CRM", "role": "integration"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let key = created["api_key"].as_str().expect("key").to_owned();
    let http = reqwest::Client::new();
    let on_other = || http.get(format!("{}/v1/conversations", other.base)).bearer_auth(&key).send();
    assert_eq!(on_other().await.expect("request").status(), StatusCode::OK, "the other process knows the key (and caches it)");
    let mut feed = websocket(&format!("{}/v1/realtime?token={key}", other.ws_base)).await;

    let id = created["key_id"].as_str().expect("id");
    assert_eq!(app.call(Method::DELETE, &format!("/v1/api-keys/{id}"), Some(&admin), None).await.0, StatusCode::NO_CONTENT);
    until(Duration::from_secs(1), "the other process still took the key", || async { on_other().await.expect("request").status() == StatusCode::UNAUTHORIZED }).await;
    assert_eq!(closed_with(&mut feed, Duration::from_secs(2)).await, Some(1008), "the other process closed the key's websocket");
}

/// The console's websocket lives on the session cookie: signing out closes it at once.
async fn signing_out_closes_the_consoles_live_feed(backend: Backend) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (status, _) = app.post("/v1/operators", &admin, json!({"name": "Olga", "email": "olga@shop.example", "role": "agent", "password": "a long passphrase"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (cookie, csrf) = sign_in(&app, "olga@shop.example", "a long passphrase").await.expect("signs in");
    let mut request = format!("{}/v1/realtime", app.ws_base).into_client_request().expect("request");
    request.headers_mut().insert("cookie", cookie.parse().expect("header"));
    let (mut feed, _) = tokio_tungstenite::connect_async(request).await.expect("the console's feed opens");
    let out = app.http.post(format!("{}/v1/auth/logout", app.base)).header("cookie", &cookie).header("x-csrf-token", csrf).send().await.expect("logout");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(closed_with(&mut feed, Duration::from_secs(3)).await, Some(1008), "the feed ends with the session");
}

/// A web chat visitor served by another process: merged into a known customer on this one, the
/// other process shows the visitor the customer's conversation at once (not when its session
/// cache expires, a minute later); erased on this one, the other refuses the visitor's token
/// at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_merged_or_erased_on_one_process_is_so_on_the_others_at_once() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (_, admin) = app.create_tenant("Bakery");
    let other = ChildHub::start(&app, free_port()).await;
    let chat = app.webchat_channel(&admin).await;
    let (token, said) = app.visitor_wrote(&chat, "Dora", "Is the bread fresh?").await;
    let http = reqwest::Client::new();
    let history_on_other = || http.get(format!("{}/widget/v1/messages", other.base)).bearer_auth(&token).send();
    let shown = history_on_other().await.expect("history");
    assert_eq!(shown.status(), StatusCode::OK, "the other process knows the session (and caches it)");
    let (_, conversation) = app.get(&format!("/v1/conversations/{}", said["conversation_id"].as_str().expect("conversation")), &admin).await;
    let dora = conversation["contact_id"].as_str().expect("contact").to_owned();
    let (status, ana) = app.post("/v1/contacts", &admin, json!({"name": "Ana", "email": "ana@example.com"})).await;
    assert_eq!(status, StatusCode::CREATED, "{ana}");
    let ana = ana["id"].as_str().expect("id").to_owned();
    // Well within the minute a cached session lasts, on a busy machine too.
    let at_once = Duration::from_secs(5);

    let (status, merged) = app.post(&format!("/v1/contacts/{ana}/merge"), &admin, json!({"other_id": dora, "reason": "Dora is Ana"})).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    until(at_once, "the other process still served the merged-away contact (an empty history)", || async {
        let page: Value = history_on_other().await.expect("history").json().await.expect("json");
        page["data"].as_array().is_some_and(|d| d.iter().any(|m| m["text"] == "Is the bread fresh?"))
    })
    .await;

    let erased = crate::privacy::request(&app, &admin, json!({"type": "erasure", "contact_id": ana})).await;
    assert_eq!(erased["status"], "completed", "{erased}");
    until(at_once, "the other process still took the erased visitor's token", || async {
        history_on_other().await.expect("history").status() == StatusCode::UNAUTHORIZED
    })
    .await;
}

/// Asks `done` every 20 ms until it holds; fails with `still` when `limit` passes first.
async fn until<F: std::future::Future<Output = bool>>(limit: Duration, still: &str, mut done: impl FnMut() -> F) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "{still} after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
