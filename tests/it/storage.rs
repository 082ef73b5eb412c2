//! What is stored, and how: encryption at rest, deduplication of provider retries, migrations.

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(the_same_inbound_message_twice_is_stored_once);

async fn the_same_inbound_message_twice_is_stored_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_tenant, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({})).await;

    let (first_status, first) = app.visitor_says(&token, json!({"text": "only once", "external_id": "client-7"})).await;
    let (second_status, second) = app.visitor_says(&token, json!({"text": "only once", "external_id": "client-7"})).await;
    assert_eq!(first_status, StatusCode::CREATED);
    assert_eq!(second_status, StatusCode::OK, "a repeat is answered with the stored message");
    assert_eq!(first["id"], second["id"]);

    // The Idempotency-Key header works the same way, also when both arrive at once.
    let send = |key: &'static str| {
        app.http
            .post(format!("{}/widget/v1/messages", app.base))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&json!({"text": "concurrent"}))
            .send()
    };
    let (a, b) = tokio::join!(send("k-1"), send("k-1"));
    let (a, b) = (a.expect("a"), b.expect("b"));
    let statuses = [a.status().as_u16(), b.status().as_u16()];
    assert!(statuses.contains(&201), "{statuses:?}");
    let (a, b): (serde_json::Value, serde_json::Value) = (a.json().await.expect("a"), b.json().await.expect("b"));
    if statuses == [201, 201] {
        panic!("stored twice: {a} {b}");
    }

    let (_, list) = app.get("/v1/conversations", &admin).await;
    let conversation = list["data"][0]["id"].as_str().expect("id");
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    let texts: Vec<&str> = messages["data"].as_array().expect("data").iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["only once", "concurrent"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_file_holds_no_personal_data_in_plaintext() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let (_tenant, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    let email = "distinctive.visitor.4711@example.org";
    let text = "My secret order number is ZX-98127-QQ";
    let name = "Wilhelmina Quartermaine";
    let (token, _) = app.visitor(&channel, json!({"name": name, "email": email})).await;
    let (status, _) = app.visitor_says(&token, json!({"text": text})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = app.get("/v1/conversations", &admin).await;
    let conversation = list["data"][0]["id"].as_str().expect("id").to_owned();
    let reply = "Your parcel ZX-98127-QQ left the depot";
    app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": reply})).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // The API still shows everything in the clear…
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    assert_eq!(messages["data"][0]["text"], text);

    // …while neither the database nor its write-ahead log holds any of it, checked both while
    // the server runs (WAL populated) and after it stopped (checkpointed into the main file).
    let needles = [email, text, name, reply, "ZX-98127-QQ", "Quartermaine"];
    let db_path = app.sqlite_path();
    let check = |when: &str| {
        let mut checked = 0;
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{}{suffix}", db_path.display());
            let Ok(bytes) = std::fs::read(&path) else { continue };
            checked += bytes.len();
            for needle in needles {
                assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{when}: {path} contains {needle:?} in plaintext");
            }
        }
        assert!(checked > 0, "{when}: found database files to check");
    };
    check("while running");
    app.stop_server().await;
    check("after shutdown");
}
