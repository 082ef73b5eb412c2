//! Mail to operators through a real SMTP receiver: team import (a CSV of operators in,
//! invitation mails out, each link working once) and the daily summary with its one-click
//! opt-out.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use omnibridge_email::testservers::SmtpSink;

backend_tests!(
    a_csv_with_one_bad_line_imports_nobody,
    a_hundred_operators_are_invited_and_each_link_works_once,
    an_invitee_can_decline_and_is_not_invited_again,
    an_operator_who_opted_in_gets_the_daily_summary_and_can_stop_it,
);

async fn app_with_relay(backend: Backend, smtp: &SmtpSink) -> TestApp {
    let port = smtp.port;
    TestApp::spawn_with(backend, move |c| {
        c.team.daily_summary_hour = 0;
        c.mail.smtp_host = "127.0.0.1".into();
        c.mail.smtp_port = port;
        c.mail.smtp_tls = "none".into();
        c.mail.from_address = "team@hub.example".into();
    })
    .await
}

fn operators(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

/// The set-password link in an invitation mail (quoted-printable soft breaks undone).
fn invitation_link(mail: &[u8]) -> String {
    let text = String::from_utf8_lossy(mail).replace("=\r\n", "").replace("=\n", "");
    let start = text.find("/invitations/").expect("the mail has an invitation link");
    let token: String = text[start + "/invitations/".len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    format!("/invitations/{token}")
}

fn recipient(mail: &[u8]) -> String {
    let text = String::from_utf8_lossy(mail);
    let line = text.lines().find(|l| l.to_ascii_lowercase().starts_with("to:")).expect("a To header");
    line[3..].trim().trim_matches(|c| c == '<' || c == '>').to_owned()
}

async fn a_csv_with_one_bad_line_imports_nobody(backend: Backend) {
    let smtp = SmtpSink::start();
    let app = app_with_relay(backend, &smtp).await;
    let (tenant, admin) = app.create_tenant("Shop");
    let csv = "name,email,role\nAda Lovelace,ada@shop.example,admin\nBob Builder,bob@shop.example,agent\nCarol,carol-at-shop.example,agent\nDan,dan@shop.example,agent\n";
    let file = app.dir.path().join("team.csv");
    std::fs::write(&file, csv).expect("write the CSV");

    let out = app.cli(&["operators", "import", "--tenant", &tenant, file.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a file with a bad line is refused");
    assert!(stderr.contains("line 4, email"), "the problem names line 4 and its field: {stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");

    // The console's upload goes through the API: the same answer, every problem listed.
    let response = app.http.post(format!("{}/v1/operators/import", app.base)).bearer_auth(&admin).header("content-type", "text/csv").body(csv).send().await.expect("import");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.expect("problem JSON");
    assert_eq!(problem["errors"], json!([{"line": 4, "field": "email", "detail": "\"carol-at-shop.example\" is not an email address"}]), "{problem}");
    assert_eq!(problem["field"], "line 4: email");

    let (_, list) = app.get("/v1/operators", &admin).await;
    assert_eq!(operators(&list).len(), 1, "only the administrator: nothing half-imported: {list}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(smtp.received().is_empty(), "no invitation went out");
}

async fn a_hundred_operators_are_invited_and_each_link_works_once(backend: Backend) {
    let smtp = SmtpSink::start();
    let app = app_with_relay(backend, &smtp).await;
    let (tenant, admin) = app.create_tenant("Big Shop");
    let mut csv = String::from("name,email,role\n");
    for i in 0..100 {
        csv.push_str(&format!("\"Agent {i:03}, Support\",agent{i:03}@shop.example,{}\n", if i == 0 { "admin" } else { "agent" }));
    }
    let file = app.dir.path().join("team.csv");
    std::fs::write(&file, &csv).expect("write the CSV");

    let out = app.cli(&["operators", "import", "--tenant", &tenant, file.to_str().expect("path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 100, "one line per imported operator");

    let (_, list) = app.get("/v1/operators?limit=200", &admin).await;
    let imported: Vec<Value> = operators(&list).into_iter().filter(|o| o["email"].as_str().is_some_and(|e| e.ends_with("@shop.example"))).collect();
    assert_eq!(imported.len(), 100, "{list}");
    assert_eq!(imported.iter().find(|o| o["email"] == "agent000@shop.example").expect("the first")["name"], "Agent 000, Support");

    let mails = smtp.wait_for(100, std::time::Duration::from_secs(60));
    assert_eq!(mails.len(), 100, "one invitation per operator");
    // Each left through the egress door, which recorded the transfer to the relay.
    let (_, log) = app.get("/v1/transfers?destination=hub:mail-relay&limit=200", &admin).await;
    let recorded = log["data"].as_array().expect("transfers");
    assert_eq!(recorded.len(), 100, "one transfer record per invitation: {log}");
    assert!(recorded.iter().all(|t| t["decision"] == "allow"), "{log}");
    let mut recipients: Vec<String> = mails.iter().map(|m| recipient(m)).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 100, "each operator got exactly one mail");

    for mail in &mails {
        let link = invitation_link(mail);
        let page = app.http.get(format!("{}{link}", app.base)).send().await.expect("page");
        assert_eq!(page.status(), StatusCode::OK);
        let (status, accepted) = app.call(reqwest::Method::POST, &link, None, Some(json!({"password": "correct horse battery"}))).await;
        assert_eq!(status, StatusCode::OK, "{accepted}");
        assert_eq!(accepted["email"].as_str(), Some(recipient(mail).as_str()), "the link is the addressee's own");
        let (status, again) = app.call(reqwest::Method::POST, &link, None, Some(json!({"password": "another password!!"}))).await;
        assert_eq!((status, again["type"].as_str().map(|t| t.ends_with("invitation_gone"))), (StatusCode::GONE, Some(true)), "{again}");
    }
    let spent = app.http.get(format!("{}{}", app.base, invitation_link(&mails[0]))).send().await.expect("page");
    assert_eq!(spent.status(), StatusCode::GONE);

    // The password set through the link signs the invitee in; the second one did not stick.
    let (status, _) = app.call(reqwest::Method::POST, "/v1/auth/login", None, Some(json!({"email": recipient(&mails[7]), "password": "correct horse battery"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(reqwest::Method::POST, "/v1/auth/login", None, Some(json!({"email": recipient(&mails[7]), "password": "another password!!"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, list) = app.get("/v1/operators?limit=200", &admin).await;
    assert!(operators(&list).iter().filter(|o| o["email"].as_str().is_some_and(|e| e.ends_with("@shop.example"))).all(|o| o["invitation"] == "accepted"), "{list}");
}

async fn an_invitee_can_decline_and_is_not_invited_again(backend: Backend) {
    let smtp = SmtpSink::start();
    let app = app_with_relay(backend, &smtp).await;
    let (_, admin) = app.create_tenant("Shop");
    let import = |csv: &'static str| {
        app.http.post(format!("{}/v1/operators/import", app.base)).bearer_auth(&admin).header("content-type", "text/csv").body(csv).send()
    };
    let response = import("Eve,eve@elsewhere.example,agent\n").await.expect("import");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("JSON");
    assert_eq!(created["imported"], 1);

    // The running hub mails it at once.
    let mails = smtp.wait_for(1, std::time::Duration::from_secs(20));
    let decline = format!("{}/decline", invitation_link(&mails[0]));
    let page = app.http.get(format!("{}{decline}", app.base)).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK, "a GET only asks");
    let (_, list) = app.get("/v1/operators", &admin).await;
    assert_eq!(operators(&list).len(), 2);

    let declined = app.http.post(format!("{}{decline}", app.base)).send().await.expect("decline");
    assert_eq!(declined.status(), StatusCode::OK);
    let (_, list) = app.get("/v1/operators", &admin).await;
    assert_eq!(operators(&list).len(), 1, "the invitee's address is gone: {list}");

    let response = import("Eve again,EVE@elsewhere.example,agent\n").await.expect("import");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["detail"], "this address asked not to be invited", "{problem}");
}

async fn an_operator_who_opted_in_gets_the_daily_summary_and_can_stop_it(backend: Backend) {
    let smtp = SmtpSink::start();
    let app = app_with_relay(backend, &smtp).await;
    let (_, admin) = app.create_tenant("Shop");
    let (_, operator) = app.post("/v1/operators", &admin, json!({"name": "Ann", "email": "ann@shop.example", "role": "agent"})).await;
    let id = operator["id"].as_str().expect("id").to_owned();
    app.patch(&format!("/v1/operators/{id}"), &admin, json!({"availability": "online"})).await;
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({"name": "Ana"})).await;
    app.visitor_says(&token, json!({"text": "hello"})).await;
    let list = app.wait_for(&admin, "/v1/conversations", |l| operators(l).first().is_some_and(|c| c["assignee_id"] == id.as_str())).await;
    let conversation = operators(&list)[0]["id"].as_str().expect("id").to_owned();
    let (status, _) = app.patch(&format!("/v1/conversations/{conversation}"), &admin, json!({"status": "resolved"})).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(smtp.received().is_empty(), "nobody opted in yet");

    let (status, updated) = app.patch(&format!("/v1/operators/{id}"), &admin, json!({"daily_summary": true})).await;
    assert_eq!((status, updated["daily_summary"].as_bool()), (StatusCode::OK, Some(true)), "{updated}");
    let mail = smtp.wait_for(1, std::time::Duration::from_secs(20)).remove(0);
    assert_eq!(recipient(&mail), "ann@shop.example");
    let text = String::from_utf8_lossy(&mail).replace("=\r\n", "").replace("=\n", "");
    assert!(text.contains("Resolved by you: 1"), "{text}");
    assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{text}");
    let start = text.find("List-Unsubscribe: <").expect("List-Unsubscribe") + "List-Unsubscribe: <".len();
    let url = text[start..].split('>').next().expect("url").replace(['\r', '\n', ' '], "");
    assert!(url.starts_with(&app.base), "{url}");

    let page = app.http.get(&url).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK, "following the link only asks");
    let (_, list) = app.get("/v1/operators", &admin).await;
    assert!(operators(&list).iter().any(|o| o["id"] == id.as_str() && o["daily_summary"] == true));
    let stopped = app.http.post(&url).header("content-type", "application/x-www-form-urlencoded").body("List-Unsubscribe=One-Click").send().await.expect("one click");
    assert_eq!(stopped.status(), StatusCode::OK);
    let (_, list) = app.get("/v1/operators", &admin).await;
    assert!(operators(&list).iter().any(|o| o["id"] == id.as_str() && o["daily_summary"] == false), "{list}");
    let forged = app.http.post(url.replace(&url[url.len() - 6..], "AAAAAA")).body("List-Unsubscribe=One-Click").send().await.expect("forged");
    assert_eq!(forged.status(), StatusCode::NOT_FOUND);
    assert_eq!(smtp.received().len(), 1, "one summary a day");
}
