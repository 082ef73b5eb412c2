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
