//! Upgrades: a database written by an older release (`tests/fixtures/upgrade`, made by
//! `scripts/upgrade-fixtures` from the tag named in `RELEASE`) is opened by this build, migrated
//! forward, and serves what the old release stored — and what was added since works on it.

use std::io::Read;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, admin_query, postgres_admin_url, with_database};

backend_tests!(a_database_from_an_older_release_upgrades_and_serves_what_it_held);

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade").join(name)
}

fn gunzip(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(fixture(name)).expect("fixture")).read_to_end(&mut out).expect("gunzip");
    out
}

async fn a_database_from_an_older_release_upgrades_and_serves_what_it_held(backend: Backend) {
    let (name, expected) = match backend {
        Backend::Sqlite => ("sqlite", "expected-sqlite.json"),
        Backend::Postgres => ("postgres", "expected-postgres.json"),
    };
    let expected: Value = serde_json::from_slice(&std::fs::read(fixture(expected)).expect("expected")).expect("json");
    let master = std::fs::read_to_string(fixture("master.key")).expect("key").trim().to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let url = match backend {
        Backend::Sqlite => {
            let path = dir.path().join("old.db");
            std::fs::write(&path, gunzip("sqlite.db.gz")).expect("write");
            format!("sqlite://{}", path.display())
        }
        Backend::Postgres => {
            let db = format!("omnibridge_upgrade_{}", uuid::Uuid::now_v7().simple());
            admin_query(format!("CREATE DATABASE {db}")).await;
            let url = with_database(&postgres_admin_url(), &db);
            let sql = String::from_utf8(gunzip("postgres.sql.gz")).expect("sql");
            let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await.expect("load the old release's dump");
            pool.close().await;
            url
        }
    };
    let old_version: i64 = match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
            let v = sqlx::query_scalar("SELECT MAX(version) FROM omnibridge_migrations").fetch_one(&pool).await.expect("version");
            pool.close().await;
            v
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
            let v = sqlx::query_scalar("SELECT MAX(version) FROM omnibridge_migrations").fetch_one(&pool).await.expect("version");
            pool.close().await;
            v
        }
    };
    assert!(old_version < omnibridge::store::known_schema_version(), "the fixture predates this build's schema ({name})");

    // A backup of the old database restores with this build, migrated forward on the way.
    let run_cli = |args: &[&str]| {
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_omnibridge"))
            .args(args)
            .env("OMNIBRIDGE_DATABASE_URL", &url)
            .env("OMNIBRIDGE_MASTER_KEY", &master)
            .env("OMNIBRIDGE_DATA_DIR", dir.path().join("data"))
            .env("OMNIBRIDGE_LOG__LEVEL", "warn")
            .output()
            .expect("run omnibridge");
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        serde_json::from_slice::<Value>(&run.stdout).expect("json")
    };
    let file = dir.path().join("old.obk").display().to_string();
    let created = run_cli(&["backup", "create", "--out", &file, "--json"]);
    assert_eq!(created["manifest"]["schema_version"].as_i64(), Some(old_version), "a backup copies the database as it is");
    let restored_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(with_database(&postgres_admin_url(), &format!("omnibridge_upgrade_restored_{}", uuid::Uuid::now_v7().simple()))),
    };
    let target = dir.path().join("restored").display().to_string();
    let mut args = vec!["backup", "restore", file.as_str(), "--data-dir", target.as_str(), "--json"];
    if let Some(u) = &restored_url {
        args.extend(["--database-url", u.as_str()]);
    }
    let report = run_cli(&args);
    assert_eq!(report["migrations_applied"].as_i64(), Some(omnibridge::store::known_schema_version() - old_version), "{report}");
    assert_eq!(report["databases"][0]["schema_version"].as_i64(), Some(omnibridge::store::known_schema_version()));
    assert_eq!(report["databases"][0]["counts"]["messages"].as_i64(), Some(3));
    if let Some(u) = restored_url {
        admin_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", u.rsplit('/').next().expect("name"))).await;
    }

    let app = TestApp::spawn_with(backend, |c| {
        c.database_url = url.clone();
        c.master_key = Some(master.clone());
    })
    .await;
    let key = expected["api_key"].as_str().expect("key");
    let conversation = expected["conversation_id"].as_str().expect("conversation");
    let (status, messages) = app.get(&format!("/v1/conversations/{conversation}/messages"), key).await;
    assert_eq!(status, StatusCode::OK, "{messages}");
    let texts: Vec<&str> = messages["data"].as_array().expect("data").iter().filter_map(|m| m["text"].as_str()).collect();
    let wanted: Vec<&str> = expected["texts"].as_array().expect("texts").iter().filter_map(Value::as_str).collect();
    assert_eq!(texts, wanted, "what the old release stored opens with this build");
    let (_, contact) = app.get(&format!("/v1/contacts/{}", expected["contact_id"].as_str().expect("contact")), key).await;
    assert_eq!(contact["email"], expected["email"]);
    let (_, verify) = app.get("/v1/consents/verify", key).await;
    assert_eq!(verify, json!({"ok": true, "events": expected["consent_events"]}), "the old consent chain still verifies");
    let (_, endpoints) = app.get("/v1/webhooks/endpoints", key).await;
    assert_eq!(endpoints["data"].as_array().map(Vec::len), Some(1));
    // What came after the old release works on its data: search (backfilled at start), labels.
    app.wait_for(key, "/v1/search?q=rye", |r| r["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    let (status, label) = app.post("/v1/labels", key, json!({"name": "Regulars"})).await;
    assert_eq!(status, StatusCode::CREATED, "{label}");
    let (status, _) = app.post(&format!("/v1/labels/{}/apply", label["id"].as_str().expect("id")), key, json!({"conversation_ids": [conversation]})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, labelled) = app.get("/v1/conversations?label=Regulars", key).await;
    assert_eq!(labelled["data"][0]["id"], conversation);
    // And the upgraded database is at this build's schema.
    let db = app.db().await;
    let backup = omnibridge::store::snapshots::inspect(omnibridge::store::Conn::Pool(&db)).await.expect("inspect");
    assert_eq!(backup.schema_version, omnibridge::store::known_schema_version());
    db.close().await;
    drop(app);
    if backend == Backend::Postgres {
        let name = url.rsplit('/').next().expect("name").to_owned();
        admin_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    }
}
