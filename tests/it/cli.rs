//! The binary as a user runs it: zero configuration, and the CLI beside a running server.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_starts_with_no_configuration_and_the_cli_works_beside_it() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let bin = env!("CARGO_BIN_EXE_omnibridge");
    // Nothing configured but the port (the default 8080 may be taken on a test machine).
    let clean_env = |cmd: &mut Command| {
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OMNIBRIDGE_")) {
            cmd.env_remove(name);
        }
        cmd.current_dir(dir.path()).env("OMNIBRIDGE_LISTEN", format!("127.0.0.1:{port}"));
    };
    let mut serve = Command::new(bin);
    serve.arg("serve").stdout(Stdio::null()).stderr(Stdio::null());
    clean_env(&mut serve);
    let _server = Server(serve.spawn().expect("spawn serve"));

    let client = reqwest::Client::new();
    let mut health = None;
    for _ in 0..200 {
        if let Ok(res) = client.get(format!("http://127.0.0.1:{port}/healthz")).send().await {
            health = Some(res.json::<Value>().await.expect("json"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(health.expect("serve answers /healthz")["status"], "ok");
    assert!(dir.path().join("data/omnibridge.db").exists(), "the default SQLite database is created under ./data");
    assert!(dir.path().join("data/master.key").exists(), "a master key is generated into the data directory");

    // The CLI reads the same defaults and works while the server runs.
    let mut create = Command::new(bin);
    create.args(["tenant", "create", "Acme", "--region", "eu", "--json"]);
    clean_env(&mut create);
    let out = create.output().expect("tenant create");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).expect("exactly one JSON object");
    let keys: Vec<&String> = created.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["api_key", "tenant_id"]);
    let key = created["api_key"].as_str().expect("key");
    let res = client.get(format!("http://127.0.0.1:{port}/v1/conversations")).bearer_auth(key).send().await.expect("list");
    assert_eq!(res.status(), 200, "the running server accepts the key the CLI just made");

    // A CLI mistake is a clear message, not a panic.
    let mut bad = Command::new(bin);
    bad.args(["key", "create", "--tenant", created["tenant_id"].as_str().expect("id"), "--role", "overlord"]);
    clean_env(&mut bad);
    let out = bad.output().expect("key create");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--role") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_bad_configuration_lists_every_problem() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "listen = \"nowhere\"\n[http]\nmax_body_bytes = 0\nunknown = 1\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_omnibridge")).args(["--config", file.to_str().expect("path"), "migrate"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in ["listen", "http.max_body_bytes", "http.unknown"] {
        assert!(stderr.contains(expected), "{expected} missing from: {stderr}");
    }
}

crate::backend_tests!(rotating_the_master_key_keeps_every_message_readable, after_a_rotation_the_old_master_key_opens_nothing_new);

async fn rotating_the_master_key_keeps_every_message_readable(backend: crate::helpers::Backend) {
    use serde_json::json;
    let mut app = crate::helpers::TestApp::spawn(backend).await;
    let (tenant, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({"name": "Ana Lima", "email": "ana@example.org"})).await;
    for text in ["first words", "second words"] {
        app.visitor_says(&token, json!({"text": text})).await;
    }
    let list = app.wait_for(&admin, "/v1/conversations", |l| l["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    let conversation = list["data"][0]["id"].as_str().expect("id").to_owned();
    let contact = list["data"][0]["contact_id"].as_str().expect("contact").to_owned();
    let messages_path = format!("/v1/conversations/{conversation}/messages");
    let before = app.wait_for(&admin, &messages_path, |l| l["data"].as_array().is_some_and(|d| d.len() == 2)).await;
    let old_key = app.config.master_key.clone().expect("a key");
    let new_key: String = (0..32).map(|i| format!("{:02x}", (i * 7 + 3) as u8)).collect();

    // Rotated while the hub runs: it keeps serving.
    let out = app.cli(&["keys", "rotate-master", "--new-key", &new_key]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, during) = app.get(&messages_path, &admin).await;
    assert_eq!((status, &during["data"]), (reqwest::StatusCode::OK, &before["data"]));

    // Restarted with the new key: every message and the contact read as before.
    app.config.master_key = Some(new_key.clone());
    app.restart().await;
    let (_, after) = app.get(&messages_path, &admin).await;
    assert_eq!(after["data"], before["data"], "every message readable after the rotation");
    let (_, shown) = app.get(&format!("/v1/contacts/{contact}"), &admin).await;
    assert_eq!((shown["name"].as_str(), shown["email"].as_str()), (Some("Ana Lima"), Some("ana@example.org")));
    // The same address still finds the same contact (blind indexes did not change).
    let (status, found) = app.post("/v1/privacy/requests", &admin, json!({"type": "access", "address": {"kind": "email", "value": "ana@example.org"}})).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{found}");

    // The old key opens nothing any more, and says so.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_omnibridge"))
        .args(["export", "--tenant", &tenant, "--contact", &contact, "--out", "/dev/null"])
        .env("OMNIBRIDGE_DATABASE_URL", &app.config.database_url)
        .env("OMNIBRIDGE_MASTER_KEY", &old_key)
        .env("OMNIBRIDGE_LOG__LEVEL", "warn")
        .current_dir(app.dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("master key was rotated"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Rows an attacker holding a copy of the database would read: (tenant, contact, wrapped key)
/// and (message id, contact, sealed text).
async fn stolen_rows(db: &omnibridge::store::Db) -> (Vec<(uuid::Uuid, uuid::Uuid, Vec<u8>)>, Vec<(uuid::Uuid, uuid::Uuid, Vec<u8>)>, Vec<(i64, Vec<u8>, i64)>) {
    const KEYS: &str = "SELECT tenant_id, contact_id, wrapped FROM data_keys WHERE wrapped IS NOT NULL";
    const MESSAGES: &str = "SELECT id, contact_id, text FROM messages";
    const ROOTS: &str = "SELECT CAST(id AS BIGINT), wrapped, rotated_at FROM key_root";
    match db {
        omnibridge::store::Db::Sqlite(p) => (
            sqlx::query_as(KEYS).fetch_all(p).await.expect("keys"),
            sqlx::query_as(MESSAGES).fetch_all(p).await.expect("messages"),
            sqlx::query_as(ROOTS).fetch_all(p).await.expect("roots"),
        ),
        omnibridge::store::Db::Pg(p) => (
            sqlx::query_as(KEYS).fetch_all(p).await.expect("keys"),
            sqlx::query_as(MESSAGES).fetch_all(p).await.expect("messages"),
            sqlx::query_as(ROOTS).fetch_all(p).await.expect("roots"),
        ),
    }
}

/// Someone who has the old master key and a copy of the database taken after the rotation
/// opens no root, no data key and no message written after the rotation — not of a contact
/// created afterwards, nor of one from before (whose key was re-wrapped).
async fn after_a_rotation_the_old_master_key_opens_nothing_new(backend: crate::helpers::Backend) {
    use omnibridge::privacy::{Keyring, parse_master_key, root};
    use serde_json::json;
    let mut app = crate::helpers::TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let (before_token, _) = app.visitor(&channel, json!({"name": "Ana Lima"})).await;
    app.visitor_says(&before_token, json!({"text": "written before"})).await;
    let old_key = app.config.master_key.clone().expect("a key");
    let old_master = parse_master_key(&old_key).expect("key");

    // Before the rotation the old master opens everything: the check below can fail.
    let (keys, messages, _) = stolen_rows(&app.db().await).await;
    let old_ring = Keyring::new(old_master.clone());
    assert!(keys.iter().all(|(t, c, w)| old_ring.unwrap_data_key(*t, *c, w).is_ok()));
    assert_eq!(messages.len(), 1);

    let new_key: String = (0..32).map(|i| format!("{:02x}", (i * 11 + 5) as u8)).collect();
    let out = app.cli(&["keys", "rotate-master", "--new-key", &new_key]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    app.config.master_key = Some(new_key.clone());
    app.restart().await;
    // Written after the rotation: by the contact from before, and by a new one.
    app.visitor_says(&before_token, json!({"text": "written after, old contact"})).await;
    let (after_token, _) = app.visitor(&channel, json!({"name": "Bo Berg"})).await;
    app.visitor_says(&after_token, json!({"text": "written after, new contact"})).await;
    app.wait_for(&admin, "/v1/conversations", |l| l["data"].as_array().is_some_and(|d| d.len() == 2)).await;

    let (keys, messages, roots) = stolen_rows(&app.db().await).await;
    assert_eq!(keys.len(), 2);
    assert_eq!(messages.len(), 3);
    let stored: Vec<root::StoredRoot> = roots.into_iter().map(|(generation, wrapped, created_at)| root::StoredRoot { generation, wrapped, created_at }).collect();
    assert!(root::open(&old_master, &stored).is_err(), "the old master opens no stored root");
    // The attacker's best guess: the old master is generation 1's root, as it was before.
    let old_ring = Keyring::new(old_master);
    for (tenant, contact, wrapped) in &keys {
        assert!(old_ring.unwrap_data_key(*tenant, *contact, wrapped).is_err(), "contact {contact}'s key opens with the old master");
    }
    // The new master opens everything, so the rows are the real ones.
    let new_ring = Keyring::with_generations(root::open(&parse_master_key(&new_key).expect("key"), &stored).expect("new master opens the roots"));
    let mut texts = Vec::new();
    for (id, contact, sealed) in &messages {
        let (tenant, _, wrapped) = keys.iter().find(|k| k.1 == *contact).expect("key of the message's contact");
        let key = new_ring.unwrap_data_key(*tenant, *contact, wrapped).expect("the new master opens the key");
        texts.push(key.open("message.text", *id, sealed).expect("opens"));
    }
    texts.sort();
    assert_eq!(texts, ["written after, new contact", "written after, old contact", "written before"]);
}

/// Runs the binary with nothing configured but a data folder, through pipes.
fn piped(dir: &std::path::Path, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omnibridge"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OMNIBRIDGE_") || n == "NO_COLOR" || n == "RUST_LOG") {
        cmd.env_remove(name);
    }
    cmd.args(args)
        .env("OMNIBRIDGE_DATA_DIR", dir.join("data"))
        .env("OMNIBRIDGE_DATABASE_URL", format!("sqlite://{}", dir.join("data/omnibridge.db").display()))
        .envs(extra.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.output().expect("run omnibridge")
}

#[test]
fn through_pipes_stdout_holds_only_the_result_and_nothing_is_coloured() {
    let dir = tempfile::tempdir().expect("dir");
    // Migrations run first, and a master key is generated (a warning): none of it on stdout.
    // Without --region the tenant goes to the default region.
    let created = piped(dir.path(), &["tenant", "create", "Pipes", "--json"], &[]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let stdout = String::from_utf8(created.stdout).expect("utf-8");
    let parsed: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout:?}"));
    assert_eq!(stdout.trim_end().lines().count(), 1);
    let tenant = parsed["tenant_id"].as_str().expect("tenant_id").to_owned();
    assert!(parsed["api_key"].as_str().is_some_and(|k| k.starts_with("obk_")));
    assert!(!created.stderr.contains(&0x1b), "no ANSI codes on stderr when it is not a terminal");
    assert!(!String::from_utf8_lossy(&created.stderr).contains("INFO"), "one-shot commands log at warn by default");

    // A command that warns (a master key generated), and one with a progress bar: plain text.
    let seeded = piped(dir.path(), &["seed", "--tenant", &tenant, "--messages", "200", "--conversations", "20", "--contacts", "10"], &[]);
    assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
    let stderr = String::from_utf8_lossy(&seeded.stderr);
    assert!(stderr.contains("WARN") && stderr.contains("master key"), "{stderr}");
    assert!(!seeded.stderr.contains(&0x1b) && !seeded.stdout.contains(&0x1b), "no ANSI codes in pipes: {stderr:?}");
    assert!(!stderr.contains('\r'), "no progress bar drawn into a pipe: {stderr:?}");
    let summary: Value = serde_json::from_slice(&seeded.stdout).expect("the seed summary is JSON");
    assert_eq!(summary["messages"], 200);

    // Exit codes: 2 for wrong usage or configuration, 1 for a failure.
    assert_eq!(piped(dir.path(), &["no-such-command"], &[]).status.code(), Some(2));
    assert_eq!(piped(dir.path(), &["serve"], &[("OMNIBRIDGE_LISTEN", "not an address")]).status.code(), Some(2));
    let failed = piped(dir.path(), &["consent", "verify", "--tenant", "00000000-0000-0000-0000-000000000000"], &[]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("no such tenant"));

    // Grouped help and completions.
    let help = String::from_utf8(piped(dir.path(), &["--help"], &[]).stdout).expect("utf-8");
    for heading in ["Run:", "Tenants and access:", "Privacy:", "Data:", "Shell:"] {
        assert!(help.contains(heading), "{help}");
    }
    assert!(!help.contains('\u{1b}'));
    for shell in ["bash", "zsh", "fish"] {
        let script = piped(dir.path(), &["completions", shell], &[]);
        assert!(script.status.success());
        assert!(String::from_utf8_lossy(&script.stdout).contains("omnibridge"), "{shell}");
    }
}

/// On a terminal (a pseudo-terminal made by util-linux's `script`) logs are coloured, unless
/// NO_COLOR is set.
#[test]
fn on_a_terminal_colour_follows_no_color() {
    let coloured = |no_color: &str| {
        let dir = tempfile::tempdir().expect("dir");
        let command = format!(
            "{} erase --tenant 00000000-0000-0000-0000-000000000000 --contact 00000000-0000-0000-0000-000000000000",
            env!("CARGO_BIN_EXE_omnibridge")
        );
        let mut cmd = Command::new("script");
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("OMNIBRIDGE_") || n == "NO_COLOR" || n == "RUST_LOG") {
            cmd.env_remove(name);
        }
        // A fresh data folder: the master key is generated, which is worth a warning.
        let out = cmd
            .args(["-qec", &command, "/dev/null"])
            .env("OMNIBRIDGE_DATA_DIR", dir.path().join("data"))
            .env("OMNIBRIDGE_DATABASE_URL", format!("sqlite://{}", dir.path().join("data/omnibridge.db").display()))
            .env("NO_COLOR", no_color)
            .stdin(Stdio::null())
            .output()
            .expect("run script (util-linux)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("WARN") && text.contains("no such tenant"), "{text:?}");
        text.contains("\u{1b}[")
    };
    assert!(coloured(""), "a terminal gets colour");
    assert!(!coloured("1"), "NO_COLOR turns it off");
}
