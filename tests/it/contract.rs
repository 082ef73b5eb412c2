//! The API contract, checked from outside by schemathesis (PyPI): a live hub on SQLite, an
//! admin key, every operation the description lists, with valid and invalid generated inputs,
//! then the sequences its response links declare (create → read → update → delete). It must find
//! no 5xx, no answer outside its schema, no undocumented status, no valid input refused and no
//! invalid input accepted, and every 4xx must be problem JSON naming the field
//! (`tests/support/contract_hooks.py`).

use std::path::Path;
use std::process::Command;

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_in_any_operation() {
    // The fuzzer sends thousands of requests with one key: the per-key rate limit would answer
    // most of them (429 is described on every operation, and tested in `hardening`).
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.limits.api_requests_per_key_per_minute = 0).await;
    let (_, key) = app.create_tenant("Contract");
    // `PUT /v1/ip-allow-list` can lock its tenant out on purpose: it is fuzzed with this one's key.
    let (_, allow_list_key) = app.create_tenant("Contract allow-list");
    // The widget's operations take a visitor's token, which no API answer links to: a visitor
    // of the tenant's web chat, whose token the configuration passes to those operations.
    let chat = app.webchat_channel(&key).await;
    let (visitor_token, _) = app.visitor(&chat, serde_json::json!({"name": "Fuzzy Visitor"})).await;
    let python = std::env::var("OMNIBRIDGE_TEST_PYTHON").expect("OMNIBRIDGE_TEST_PYTHON (scripts/test sets it)");
    let st = Path::new(&python).with_file_name("st");
    let support = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support");
    // A fixed seed by default keeps a red run reproducible; OMNIBRIDGE_CONTRACT_SEED explores.
    let seed = std::env::var("OMNIBRIDGE_CONTRACT_SEED").unwrap_or_else(|_| "20261206".into());
    let examples = std::env::var("OMNIBRIDGE_CONTRACT_EXAMPLES").unwrap_or_else(|_| "12".into());
    let mut command = Command::new(&st);
    command
        .arg("--no-color")
        .args(["--config-file", &format!("{support}/schemathesis.toml")])
        .arg("run")
        .arg(format!("{}/openapi.json", app.base))
        .args(["--url", &app.base])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        // Every check runs (schemathesis' default); the config file switches single checks off
        // for single operations, each with its reason.
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", &examples])
        .args(["--seed", &seed])
        // One worker: with two, hypothesis describes strategies from two threads at once, and
        // Python 3.11's AST constructor miscounts its recursion depth across threads (CPython
        // gh-106905), failing the run with a "Runtime Error" that is not about the API. One
        // worker is also the faster on two cores.
        .args(["--workers", "1"])
        .args(["--generation-database", "none"])
        // No text the hub keeps may hold U+0000 (PostgreSQL cannot store it): every JSON body
        // with one is refused at the door, naming `body`, which a JSON Schema cannot say.
        .args(["--generation-allow-x00", "false"])
        .args(["--request-timeout", "20"])
        .env("SCHEMATHESIS_HOOKS", "contract_hooks")
        .env("OMNIBRIDGE_CONTRACT_ALLOW_LIST_KEY", &allow_list_key)
        .env("OMNIBRIDGE_CONTRACT_VISITOR_TOKEN", &visitor_token)
        .env("PYTHONPATH", support)
        .current_dir(app.dir.path());
    let out = tokio::task::spawn_blocking(move || command.output()).await.expect("join").unwrap_or_else(|e| panic!("run {}: {e}", st.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The summary (operations, generated cases, what failed) stays in the test output.
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("API Operations"), "schemathesis printed no summary");
    assert!(out.status.success(), "schemathesis found problems (seed {seed}):\n{}", findings(&stdout));
    // Every operation ran, and the allow-list was fuzzed on its own tenant: the main one still
    // answers from anywhere.
    assert!(stdout.contains("134 selected / 134 total"), "every operation is fuzzed");
    let (status, list) = app.get("/v1/ip-allow-list", &key).await;
    assert_eq!((status, list["cidrs"].clone()), (reqwest::StatusCode::OK, serde_json::json!([])), "{list}");
    // The fuzzer's lists reached the allow-list's own tenant: it set one, or locked itself out.
    let (status, list) = app.get("/v1/ip-allow-list", &allow_list_key).await;
    let changed = list["code"] == "ip_not_allowed" || list["cidrs"].as_array().is_some_and(|c| !c.is_empty());
    assert!(changed, "the allow-list was fuzzed with its own tenant's key: {status} {list}");
}

/// What schemathesis found, from its output: its errors and failures (each failure with its
/// reproducing `curl`) up to the summary, for the failure message itself, which test runners
/// show in full, rather than somewhere in the output above it.
fn findings(stdout: &str) -> String {
    let from = [" ERRORS ", " FAILURES ", "Stateful tests"].iter().filter_map(|heading| stdout.find(heading)).min().unwrap_or(0);
    let to = stdout[from..].find(" SUMMARY ").map_or(stdout.len(), |at| from + at);
    let found = &stdout[from..to];
    const KEPT: usize = 12_000;
    match found.char_indices().nth(KEPT) {
        Some((cut, _)) => format!("{}\n… ({} more characters)", &found[..cut], found.len() - cut),
        None => found.to_owned(),
    }
}
