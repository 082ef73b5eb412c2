//! Backups, end to end: taken while messages arrive, checked, restored into a fresh place where a
//! second hub serves what was committed — without the contact erased after the backup.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, admin_query, postgres_admin_url, with_database};
use crate::privacy::{blobs, everything, holds};
use crate::receiver::Receiver;
use crate::sms::{customer_texts, sms_channel};
use omnibridge_twilio_sms::testkit::FakeTwilio;

backend_tests!(
    a_backup_taken_under_load_restores_without_what_was_erased_since,
    a_damaged_backup_is_refused_and_changes_nothing,
    a_tenant_moves_to_another_hub_and_leaves_nothing_behind,
    an_admin_exports_the_tenant_through_the_api_and_downloads_it_while_the_link_lasts,
);

const WAIT: Duration = Duration::from_secs(30);

fn ok(run: &std::process::Output) -> Value {
    assert!(run.status.success(), "the command failed: {}", String::from_utf8_lossy(&run.stderr));
    serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&run.stdout)))
}

/// Where a restore goes: a folder, and for PostgreSQL a database (not created yet).
fn restore_target(app: &TestApp, name: &str) -> (std::path::PathBuf, Option<String>) {
    let dir = app.dir.path().join(name);
    let url = match app.backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(with_database(&postgres_admin_url(), &format!("omnibridge_restore_{}", uuid::Uuid::now_v7().simple()))),
    };
    (dir, url)
}

fn restore_args<'a>(file: &'a str, dir: &'a str, url: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec!["backup", "restore", file, "--data-dir", dir, "--json"];
    if let Some(url) = url {
        args.extend(["--database-url", url]);
    }
    args
}

/// Every message of every conversation, through the API: (text, created_at).
async fn all_messages(app: &TestApp, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app.get(&format!("/v1/conversations?limit=100{cursor}"), key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for conversation in page["data"].as_array().expect("data") {
            let id = conversation["id"].as_str().expect("id");
            let mut inner = String::new();
            loop {
                let (status, messages) = app.get(&format!("/v1/conversations/{id}/messages?limit=100{inner}"), key).await;
                assert_eq!(status, StatusCode::OK, "{messages}");
                out.extend(messages["data"].as_array().expect("data").iter().cloned());
                match messages["next_cursor"].as_str() {
                    Some(next) => inner = format!("&cursor={next}"),
                    None => break,
                }
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    out
}

async fn a_backup_taken_under_load_restores_without_what_was_erased_since(backend: Backend) {
    // Webhook deliveries fail while the first hub runs, so some are pending in the backup.
    let receiver = Receiver::start().await;
    receiver.answer_from_now_on(503);
    let mut app = TestApp::spawn_with(backend, |c| c.webhooks.retry_schedule_secs = vec![0, 3, 3, 3, 3, 3, 3, 3]).await;
    let (tenant, admin) = app.create_tenant("Bakery");
    let (leaving, leaving_key) = app.create_tenant("Leaving Deli");
    let (status, body) = app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "country": "DE", "event_types": ["message.received"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let channel = app.webchat_channel(&admin).await;
    let (ana, _) = app.visitor(&channel, json!({"name": "Ana"})).await;
    app.visitor_says(&ana, json!({"text": "Do you bake rye bread on Sundays?"})).await;
    let (ben, _) = app.visitor(&channel, json!({"name": "Ben Erasable", "email": "ben.erasable@example.org"})).await;
    app.visitor_says(&ben, json!({"text": "My door code is BENSECRET-4242"})).await;
    let contacts = app.wait_for(&admin, "/v1/contacts", |l| l["data"].as_array().is_some_and(|d| d.len() == 2)).await;
    let contact = |name: &str| contacts["data"].as_array().expect("data").iter().find(|c| c["name"] == name).expect("contact")["id"].as_str().expect("id").to_owned();
    let (ana_id, ben_id) = (contact("Ana"), contact("Ben Erasable"));
    let (_, view) = app.get(&format!("/v1/contacts/{ana_id}"), &admin).await;
    let address = view["identities"][0]["address"].as_str().expect("address").to_owned();
    for action in ["grant", "withdraw", "grant"] {
        let body = json!({"channel": "webchat", "address": address, "purpose": "marketing", "action": action});
        let (status, _) = app.post(&format!("/v1/contacts/{ana_id}/consents"), &admin, body).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    receiver.wait_until(WAIT, |r| !r.is_empty()).await;

    // Ana keeps writing while the backup is taken.
    let acknowledged: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let backup_started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = tokio_util::sync::CancellationToken::new();
    let load = {
        let (http, base, acknowledged, started, stop, ana) = (app.http.clone(), app.base.clone(), acknowledged.clone(), backup_started.clone(), stop.clone(), ana.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.is_cancelled() {
                n += 1;
                let text = format!("Load message number {n}");
                let before_backup = !started.load(std::sync::atomic::Ordering::SeqCst);
                let sent = http.post(format!("{base}/widget/v1/messages")).bearer_auth(&ana).json(&json!({"text": text})).send().await;
                if sent.is_ok_and(|r| r.status().is_success()) {
                    acknowledged.lock().expect("lock").push((text, before_backup));
                }
            }
        })
    };
    while acknowledged.lock().expect("lock").len() < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let file = app.dir.path().join("bakery.obk");
    let file_arg = file.display().to_string();
    backup_started.store(true, std::sync::atomic::Ordering::SeqCst);
    let created = ok(&app.cli_async(&["backup", "create", "--out", &file_arg, "--json"]).await);
    let during = acknowledged.lock().expect("lock").len();
    while acknowledged.lock().expect("lock").len() < during + 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    load.await.expect("load");
    let main = &created["manifest"]["databases"][0];
    let backed_up_messages = main["counts"]["messages"].as_i64().expect("message count");
    assert!(main["counts"]["webhook_deliveries_pending"].as_i64().expect("pending") > 0, "{main}");
    assert_eq!(main["tenants"][0]["name"], "Bakery");
    assert!(created["manifest"]["schema_version"].as_i64().expect("schema") >= 32);

    let verified = ok(&app.cli(&["backup", "verify", &file_arg, "--json"]));
    assert_eq!(verified["databases"][0]["sha256"], main["sha256"]);

    // Ben is erased after the backup: the journal remembers.
    let mut sealed = blobs(&app, "SELECT text FROM messages WHERE contact_id = $1", &ben_id).await;
    sealed.extend(blobs(&app, "SELECT wrapped FROM data_keys WHERE contact_id = $1", &ben_id).await);
    assert_eq!(sealed.len(), 2);
    ok(&app.cli(&["erase", "--tenant", &tenant, "--contact", &ben_id]));
    // And a tenant leaves after the backup.
    let run = app.cli(&["tenant", "delete", &leaving, "--yes"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let (dir, url) = restore_target(&app, "restored");
    let dir_arg = dir.display().to_string();
    let report = ok(&app.cli(&restore_args(&file_arg, &dir_arg, url.as_deref())));
    let applied = report["tombstones_applied"].as_array().expect("applied");
    assert!(
        applied.iter().any(|t| t["kind"] == "contact_erased" && t["contact_id"] == ben_id.as_str() && t["rows"].as_u64() > Some(0)),
        "Ben's erasure is done again: {report}"
    );
    assert!(
        applied.iter().any(|t| t["kind"] == "tenant_deleted" && t["tenant_id"] == leaving.as_str() && t["rows"].as_u64() > Some(0)),
        "the tenant deleted since is deleted again: {report}"
    );
    assert_eq!(report["databases"][0]["counts"]["messages"].as_i64(), Some(backed_up_messages - 1), "all but Ben's message");
    assert_eq!(report["databases"][0]["tenants"].as_array().map(Vec::len), Some(1), "{report}");
    // Restoring into a place that is not empty is refused.
    let again = app.cli(&restore_args(&file_arg, &dir_arg, url.as_deref()));
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("empty"), "{}", String::from_utf8_lossy(&again.stderr));

    // The first hub is gone; a second one serves the restored data.
    app.stop_server().await;
    let before = receiver.requests().len();
    receiver.answer_from_now_on(200);
    let restored_url = url.clone().unwrap_or_else(|| format!("sqlite://{}", dir.join("omnibridge.db").display()));
    let master = app.config.master_key.clone();
    let second = TestApp::spawn_with(backend, |c| {
        c.database_url = restored_url.clone();
        c.master_key = master;
        c.data_dir = dir.clone();
    })
    .await;
    let messages = all_messages(&second, &admin).await;
    assert_eq!(messages.len() as i64, backed_up_messages - 1, "every message in the backup but Ben's is readable");
    let texts: Vec<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts.len(), messages.len(), "every text opens");
    assert!(texts.contains(&"Do you bake rye bread on Sundays?"));
    for (text, before_backup) in acknowledged.lock().expect("lock").iter() {
        if *before_backup {
            assert!(texts.contains(&text.as_str()), "{text} was committed before the backup began");
        }
    }
    assert!(!texts.iter().any(|t| t.contains("BENSECRET")));
    let (status, _) = second.get(&format!("/v1/contacts/{ben_id}"), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "Ben stays erased");
    let (status, _) = second.get("/v1/conversations", &leaving_key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the tenant that left stays gone");
    let files = match backend {
        // Every file the restore wrote.
        Backend::Sqlite => std::fs::read_dir(&dir).expect("dir").flat_map(|e| std::fs::read(e.expect("entry").path()).unwrap_or_default()).collect(),
        Backend::Postgres => everything(&second).await,
    };
    for value in &sealed {
        assert!(!holds(&files, backend, value), "a sealed value of Ben's is back in the restored files");
    }
    let (_, verdict) = second.get("/v1/consents/verify", &admin).await;
    assert_eq!(verdict, json!({"ok": true, "events": 3}), "the consent chain verifies after the restore");
    // Deliveries pending in the backup go out from the restored hub.
    let resumed = receiver.wait_until(WAIT, |r| r[before..].iter().any(|d| d.json()["data"]["text"] == "Do you bake rye bread on Sundays?")).await;
    assert!(resumed.len() > before);
    drop(second);
    if let Some(url) = url {
        let name = url.rsplit('/').next().expect("name").to_owned();
        admin_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    }
}

async fn a_damaged_backup_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Florist");
    let channel = app.webchat_channel(&admin).await;
    let (visitor, _) = app.visitor(&channel, json!({"name": "Rosa"})).await;
    app.visitor_says(&visitor, json!({"text": "Are tulips in season?"})).await;
    let file = app.dir.path().join("florist.obk");
    let file_arg = file.display().to_string();
    ok(&app.cli(&["backup", "create", "--out", &file_arg, "--json"]));
    let refused = app.cli(&["backup", "create", "--out", &file_arg]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("already exists"));

    let mut bytes = std::fs::read(&file).expect("backup");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    let damaged = app.dir.path().join("damaged.obk");
    std::fs::write(&damaged, &bytes).expect("write");
    let cut = app.dir.path().join("cut.obk");
    std::fs::write(&cut, &bytes[..middle]).expect("write");
    let (dir, url) = restore_target(&app, "never");
    if let Some(url) = &url {
        admin_query(format!("CREATE DATABASE {}", url.rsplit('/').next().expect("name"))).await;
    }
    let dir_arg = dir.display().to_string();
    for (path, says) in [(&damaged, "damaged"), (&cut, "cut short")] {
        let path = path.display().to_string();
        let verify = app.cli(&["backup", "verify", &path]);
        assert!(!verify.status.success(), "verify accepts a {says} backup");
        assert!(String::from_utf8_lossy(&verify.stderr).contains(says), "{}", String::from_utf8_lossy(&verify.stderr));
        let restore = app.cli(&restore_args(&path, &dir_arg, url.as_deref()));
        assert!(!restore.status.success(), "restore accepts a {says} backup");
        assert!(String::from_utf8_lossy(&restore.stderr).contains(says), "{}", String::from_utf8_lossy(&restore.stderr));
        assert!(!dir.exists(), "a refused restore leaves nothing behind");
    }
    if let Some(url) = &url {
        // The database made to restore into stays empty.
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'").fetch_one(&pool).await.expect("count");
        pool.close().await;
        assert_eq!(tables, 0);
        let name = url.rsplit('/').next().expect("name").to_owned();
        admin_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    }
    // A backup from a newer omnibridge (a later schema) is refused before anything is written.
    let master = omnibridge::privacy::parse_master_key(app.config.master_key.as_deref().expect("key")).expect("key");
    let newer = app.dir.path().join("newer.obk");
    {
        use std::io::{Read, Write};
        let mut reader = omnibridge::backup::sealed::SealedReader::open(std::fs::File::open(&file).expect("open"), omnibridge::backup::sealed::Kind::Backup, &master).expect("opens");
        let mut plain = Vec::new();
        reader.read_to_end(&mut plain).expect("read");
        let len = u32::from_le_bytes(plain[..4].try_into().expect("len")) as usize;
        let mut manifest: Value = serde_json::from_slice(&plain[4..4 + len]).expect("manifest");
        manifest["schema_version"] = json!(omnibridge::store::known_schema_version() + 1);
        let json = serde_json::to_vec(&manifest).expect("json");
        let out = std::fs::File::create(&newer).expect("create");
        let mut writer = omnibridge::backup::sealed::SealedWriter::new(out, omnibridge::backup::sealed::Kind::Backup, omnibridge::backup::sealed::KeySource::Master, &master).expect("writer");
        writer.write_all(&(json.len() as u32).to_le_bytes()).expect("write");
        writer.write_all(&json).expect("write");
        writer.write_all(&plain[4 + len..]).expect("write");
        writer.finish().expect("finish");
    }
    let newer_arg = newer.display().to_string();
    let refused = app.cli(&restore_args(&newer_arg, &dir_arg, url.as_deref()));
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("newer omnibridge"), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(!dir.exists());
    // Under another key the backup does not open, and says so.
    let other = app.cli(&["backup", "verify", &file_arg, "--key", &"ab".repeat(32)]);
    assert!(String::from_utf8_lossy(&other.stderr).contains("key does not open"), "{}", String::from_utf8_lossy(&other.stderr));
    ok(&app.cli(&["backup", "verify", &file_arg, "--json"]));
}

/// What an integration sees of a tenant through the API.
async fn answers(app: &TestApp, key: &str) -> Value {
    let (_, conversations) = app.get("/v1/conversations?limit=100", key).await;
    let (_, contacts) = app.get("/v1/contacts?limit=100", key).await;
    let mut consents = Vec::new();
    for contact in contacts["data"].as_array().expect("contacts") {
        let (status, list) = app.get(&format!("/v1/contacts/{}/consents", contact["id"].as_str().expect("id")), key).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        consents.push(list);
    }
    let (_, transfers) = app.get("/v1/transfers?limit=100", key).await;
    let (_, verify) = app.get("/v1/consents/verify", key).await;
    json!({"conversations": conversations, "messages": all_messages(app, key).await, "contacts": contacts, "consents": consents, "transfers": transfers, "verify": verify})
}

async fn a_tenant_moves_to_another_hub_and_leaves_nothing_behind(backend: Backend) {
    let twilio = FakeTwilio::start(crate::sms::ACCOUNT, crate::sms::TOKEN).await;
    let old = TestApp::spawn(backend).await;
    let (tenant, admin) = old.create_tenant("Moving Bakery");
    let (_, stays_key) = old.create_tenant("Staying Florist");
    let channel = sms_channel(&old, &admin, &twilio.base_url(), json!({})).await;
    customer_texts(&old, &channel, "SM00000000000000000000000000000101", "Is the sourdough ready? Order MOVE-7781").await;
    let list = old.wait_for(&admin, "/v1/contacts", |l| l["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    let contact = list["data"][0]["id"].as_str().expect("id").to_owned();
    let (_, conversations) = old.get("/v1/conversations", &admin).await;
    let conversation = conversations["data"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = old.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Ready at noon"})).await;
    assert_eq!(status, StatusCode::CREATED);
    twilio.wait_for_sent(1, WAIT).await;
    let (_, view) = old.get(&format!("/v1/contacts/{contact}"), &admin).await;
    let address = view["identities"][0]["address"].as_str().expect("address").to_owned();
    let body = json!({"channel": "sms", "address": address, "purpose": "marketing", "action": "grant"});
    let (status, _) = old.post(&format!("/v1/contacts/{contact}/consents"), &admin, body).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = old.post("/v1/labels", &admin, json!({"name": "Regulars"})).await;
    assert_eq!(status, StatusCode::CREATED);
    old.wait_for(&admin, "/v1/transfers", |t| t["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    let before = answers(&old, &admin).await;
    assert_eq!(before["verify"]["ok"], true);

    let key = "5a".repeat(32);
    let file = old.dir.path().join("moving.export");
    let file_arg = file.display().to_string();
    let exported = ok(&old.cli(&["tenant", "export", "--tenant", &tenant, "--out", &file_arg, "--key", &key, "--json"]));
    assert!(exported["rows"]["messages"].as_u64() >= Some(2), "{exported}");

    // Another installation: its own database and master key.
    let new = TestApp::spawn(backend).await;
    let wrong = new.cli(&["tenant", "import", &file_arg, "--key", &"00".repeat(32)]);
    assert!(!wrong.status.success() && String::from_utf8_lossy(&wrong.stderr).contains("key does not open"), "{}", String::from_utf8_lossy(&wrong.stderr));
    let imported = ok(&new.cli(&["tenant", "import", &file_arg, "--key", &key, "--json"]));
    assert_eq!(imported["rows"], exported["rows"]);
    let twice = new.cli(&["tenant", "import", &file_arg, "--key", &key]);
    assert!(!twice.status.success() && String::from_utf8_lossy(&twice.stderr).contains("already exists"), "{}", String::from_utf8_lossy(&twice.stderr));
    let after = answers(&new, &admin).await;
    assert_eq!(after, before, "the moved tenant answers as before");
    // The running hub takes up the tenant's index keys (within seconds): its search finds
    // what the import indexed with them.
    new.wait_for(&admin, "/v1/search?q=sourdough", |r| r["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    // Secrets came along re-sealed: the channel still checks Twilio's signatures, and the
    // customer's number still finds their contact (the blind index key came along).
    customer_texts(&new, &channel, "SM00000000000000000000000000000102", "Thanks, see you at noon").await;
    new.wait_for(&admin, &format!("/v1/conversations/{conversation}/messages"), |m| m["data"].as_array().is_some_and(|d| d.len() == 3)).await;
    let (_, contacts) = new.get("/v1/contacts", &admin).await;
    assert_eq!(contacts["data"].as_array().map(Vec::len), Some(1), "no second contact for the same number");
    let (_, verify) = new.get("/v1/consents/verify", &admin).await;
    assert_eq!(verify, json!({"ok": true, "events": 1}));

    // The old installation lets the tenant go: nothing of it stays in its files.
    let mut sealed = blobs(&old, "SELECT text FROM messages WHERE tenant_id = $1", &tenant).await;
    sealed.extend(blobs(&old, "SELECT wrapped FROM data_keys WHERE tenant_id = $1", &tenant).await);
    sealed.extend(blobs(&old, "SELECT secrets FROM channels WHERE tenant_id = $1", &tenant).await);
    assert!(sealed.len() >= 4);
    ok_text(&old.cli(&["tenant", "delete", &tenant, "--yes"]));
    let files = everything(&old).await;
    for value in &sealed {
        assert!(!holds(&files, backend, value), "a sealed value of the deleted tenant is still in the files");
    }
    let id = uuid::Uuid::parse_str(&tenant).expect("uuid");
    let left = match backend {
        Backend::Sqlite => holds(&files, backend, id.as_bytes()),
        Backend::Postgres => files.windows(36).any(|w| w == tenant.as_bytes()),
    };
    assert!(!left, "the deleted tenant's id is still in the files");
    let (status, _) = old.get("/v1/conversations", &stays_key).await;
    assert_eq!(status, StatusCode::OK, "the other tenant is untouched");
}

fn ok_text(run: &std::process::Output) {
    assert!(run.status.success(), "the command failed: {}", String::from_utf8_lossy(&run.stderr));
}

async fn an_admin_exports_the_tenant_through_the_api_and_downloads_it_while_the_link_lasts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Cheese Shop");
    let channel = app.webchat_channel(&admin).await;
    let (visitor, _) = app.visitor(&channel, json!({"name": "Gouda Fan"})).await;
    app.visitor_says(&visitor, json!({"text": "Do you have aged gouda?"})).await;

    let (status, problem) = app.post("/v1/tenant/exports", &admin, json!({"key": "not a key"})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("key")), "{problem}");
    let key = "c4".repeat(32);
    let (status, started) = app.post("/v1/tenant/exports", &admin, json!({"key": key})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["id"].as_str().expect("id").to_owned();
    let ready = app.wait_for(&admin, &format!("/v1/tenant/exports/{id}"), |e| e["status"] != "pending").await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert!(ready["rows"].as_i64() > Some(5) && ready["bytes"].as_i64() > Some(0), "{ready}");
    let (_, listed) = app.get("/v1/tenant/exports", &admin).await;
    assert_eq!(listed["data"][0]["id"], id.as_str());

    // The link is the credential: no API key.
    let url = ready["download_url"].as_str().expect("download_url").to_owned();
    let response = reqwest::get(&url).await.expect("download");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-disposition"].to_str().expect("header").contains(".export"));
    let bytes = response.bytes().await.expect("body");
    assert_eq!(bytes.len() as i64, ready["bytes"].as_i64().expect("bytes"));
    let tampered = format!("{}0", &url[..url.len() - 1]);
    let tampered = if tampered == url { format!("{}1", &url[..url.len() - 1]) } else { tampered };
    assert_eq!(reqwest::get(&tampered).await.expect("download").status(), StatusCode::NOT_FOUND);

    // The file is what `tenant import` takes.
    let file = app.dir.path().join("cheese.export");
    std::fs::write(&file, &bytes).expect("write");
    let elsewhere = TestApp::spawn(backend).await;
    ok(&elsewhere.cli(&["tenant", "import", &file.display().to_string(), "--key", &key, "--json"]));
    assert_eq!(all_messages(&elsewhere, &admin).await, all_messages(&app, &admin).await);

    // Once the link has expired it answers 410, and the sweep deletes the file.
    app.execute("UPDATE tenant_exports SET expires_at = 1 WHERE id = $1", &id).await;
    let response = reqwest::get(&url).await.expect("download");
    assert_eq!(response.status(), StatusCode::GONE);
    let db = app.db().await;
    assert_eq!(omnibridge::backup::exports::sweep(&db, &app.config).await.expect("sweep"), 1);
    let left: Vec<_> = std::fs::read_dir(app.config.data_dir.join("exports")).expect("exports").flat_map(|d| std::fs::read_dir(d.expect("dir").path()).expect("files")).collect();
    assert!(left.is_empty(), "{left:?}");
    let (_, shown) = app.get(&format!("/v1/tenant/exports/{id}"), &admin).await;
    assert_eq!((shown["status"].as_str(), shown["download_url"].as_str()), (Some("expired"), None));
}
