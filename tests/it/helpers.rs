//! `TestApp`: a running hub with its own database, plus small clients for the API, the widget
//! and the command line.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use omnibridge::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from `async fn $name(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::Backend::Postgres).await })*
        }
    };
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn with_database(admin_url: &str, db: &str) -> String {
    match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => format!("{admin_url}/{db}"),
    }
}

pub async fn admin_query(sql: String) {
    use sqlx::Executor;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_admin_url()).await.expect("PostgreSQL is reachable for tests");
    conn.execute(sqlx::AssertSqlSafe(sql)).await.expect("admin statement");
}

pub struct TestApp {
    pub base: String,
    pub ws_base: String,
    pub http: reqwest::Client,
    pub config: Config,
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pg_database: Option<String>,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    /// Channel kinds served besides the built-in ones.
    kinds: Vec<std::sync::Arc<dyn omnibridge_channel::ChannelKind>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with test settings, then `configure` on top.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_with_kinds(backend, Vec::new(), configure).await
    }

    /// Spawns a hub that also serves channels of `kinds`.
    pub async fn spawn_with_kinds(backend: Backend, kinds: Vec<std::sync::Arc<dyn omnibridge_channel::ChannelKind>>, configure: impl FnOnce(&mut Config)) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::defaults();
        let pg_database = match backend {
            Backend::Sqlite => {
                config.database_url = format!("sqlite://{}", dir.path().join("omnibridge.db").display());
                None
            }
            Backend::Postgres => {
                let name = format!("omnibridge_test_{}", uuid::Uuid::now_v7().simple());
                admin_query(format!("CREATE DATABASE {name}")).await;
                config.database_url = with_database(&postgres_admin_url(), &name);
                Some(name)
            }
        };
        config.data_dir = dir.path().join("data");
        config.master_key = Some((0..32).map(|_| format!("{:02x}", rand_byte())).collect());
        config.delivery.poll_interval_ms = 200;
        config.database.max_connections = 8;
        // Webhook receivers in tests listen on loopback; retries come in seconds, not hours.
        config.webhooks.allow_private_cidrs = vec!["127.0.0.0/8".into(), "::1".into()];
        // So do the fake providers, Dovecot and the SMTP receiver.
        config.outbound.allow_private_cidrs = vec!["127.0.0.0/8".into(), "::1".into()];
        config.webhooks.retry_schedule_secs = vec![0, 1, 1, 1, 1];
        config.webhooks.timeout_secs = 2;
        config.webhooks.overload_penalty_secs = 1;
        config.webhooks.poll_interval_ms = 100;
        config.webhooks.lease_secs = 1;
        // Tests drive many visitors and requests from one address in bursts; the rate-limit
        // tests set the limits they check.
        config.limits.widget_sessions_per_ip_per_minute = 0;
        config.limits.widget_sessions_per_channel_per_minute = 0;
        config.limits.widget_messages_per_visitor_per_minute = 0;
        config.limits.api_requests_per_key_per_minute = 0;
        config.limits.provider_callbacks_per_channel_per_minute = 0;
        configure(&mut config);
        let mut app = Self {
            base: String::new(),
            ws_base: String::new(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client"),
            config,
            backend,
            dir,
            pg_database,
            shutdown: CancellationToken::new(),
            handle: None,
            kinds,
        };
        app.start().await;
        app
    }

    async fn start(&mut self) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        self.base = format!("http://{addr}");
        self.ws_base = format!("ws://{addr}");
        self.config.listen = addr.to_string();
        self.shutdown = CancellationToken::new();
        let server = self.kinds.iter().fold(omnibridge::Server::new(self.config.clone()), |server, kind| server.with_kind(kind.clone()));
        self.handle = Some(tokio::spawn(server.run(listener, self.shutdown.clone())));
        for _ in 0..200 {
            if self.http.get(format!("{}/healthz", self.base)).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the hub did not come up");
    }

    /// Stops the hub gracefully and starts it again on the same database.
    pub async fn restart(&mut self) {
        self.stop_server().await;
        self.start().await;
    }

    pub async fn stop_server(&mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(15), handle)
                .await
                .expect("the hub stops within the grace period")
                .expect("the hub task did not panic")
                .expect("the hub stopped cleanly");
        }
    }

    /// A direct connection to this hub's database, for assertions the API does not expose.
    pub async fn db(&self) -> omnibridge::store::Db {
        omnibridge::store::Db::connect_without_migrating(&omnibridge::db_options(&self.config)).await.expect("database")
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("omnibridge.db")
    }

    /// Runs the real `omnibridge` binary against this hub's database and key.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_command(args).output().expect("run the omnibridge binary")
    }

    /// The same, without blocking the runtime (while the hub keeps serving).
    pub async fn cli_async(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::from(self.cli_command(args)).output().await.expect("run the omnibridge binary")
    }

    /// The `omnibridge` command with this hub's configuration in its environment.
    pub fn cli_command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_omnibridge"));
        for (name, region) in &self.config.regions {
            if let Some(url) = &region.database_url {
                command.env(format!("OMNIBRIDGE_REGIONS__{}__DATABASE_URL", name.to_uppercase()), url);
            }
        }
        command
            .args(args)
            .env("OMNIBRIDGE_SUBPROCESSORS__REGISTRY_FILE", &self.config.subprocessors.registry_file)
            .env("OMNIBRIDGE_DATABASE_URL", &self.config.database_url)
            .env("OMNIBRIDGE_MASTER_KEY", self.config.master_key.as_deref().unwrap_or_default())
            .env("OMNIBRIDGE_DATA_DIR", &self.config.data_dir)
            .env("OMNIBRIDGE_LOG__LEVEL", "warn")
            .env("OMNIBRIDGE_PUBLIC_URL", self.config.public_url.clone().unwrap_or_else(|| self.base.clone()))
            .env("OMNIBRIDGE_MAIL__SMTP_HOST", &self.config.mail.smtp_host)
            .env("OMNIBRIDGE_MAIL__SMTP_PORT", self.config.mail.smtp_port.to_string())
            .env("OMNIBRIDGE_MAIL__SMTP_TLS", &self.config.mail.smtp_tls)
            .env("OMNIBRIDGE_MAIL__FROM_ADDRESS", &self.config.mail.from_address)
            .current_dir(self.dir.path());
        command
    }

    /// Creates a tenant with the CLI; returns (tenant id, admin key).
    pub fn create_tenant(&self, name: &str) -> (String, String) {
        self.create_tenant_in(name, "eu")
    }

    /// Creates a tenant pinned to `region`; returns (tenant id, admin key).
    pub fn create_tenant_in(&self, name: &str, region: &str) -> (String, String) {
        let out = self.cli(&["tenant", "create", name, "--region", region, "--json"]);
        assert!(out.status.success(), "tenant create failed: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
        (v["tenant_id"].as_str().expect("tenant_id").into(), v["api_key"].as_str().expect("api_key").into())
    }

    pub fn create_key(&self, tenant_id: &str, role: &str) -> String {
        let out = self.cli(&["key", "create", "--tenant", tenant_id, "--role", role, "--json"]);
        assert!(out.status.success(), "key create failed: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
        v["api_key"].as_str().expect("api_key").into()
    }

    /// Sends a request; `key` as Bearer; returns status and JSON body (Null when empty).
    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let bytes = res.bytes().await.expect("body");
        let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())) };
        (status, json)
    }

    /// Runs one statement on the hub's database with `$1` bound to the uuid `id` (to age a row,
    /// as time would).
    pub async fn execute(&self, sql: &str, id: &str) {
        let id = uuid::Uuid::parse_str(id).expect("uuid");
        match self.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.config.database_url).await.expect("sqlite");
                sqlx::query(sqlx::AssertSqlSafe(sql.replace("$1", "?"))).bind(id).execute(&pool).await.expect("execute");
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.config.database_url).await.expect("postgres");
                sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).bind(id).execute(&pool).await.expect("execute");
                pool.close().await;
            }
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(key), Some(body)).await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(key), Some(body)).await
    }

    /// The tenant approves a subprocessor from the registry (Art. 28(2)).
    pub async fn approve(&self, key: &str, subprocessor: &str) {
        let (status, body) = self.put(&format!("/v1/subprocessors/{subprocessor}/authorization"), key, serde_json::json!({"decision": "approved"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["authorization"], "approved", "{body}");
    }

    /// Polls `GET path` until it answers 200 with a body for which `done` holds; panics with
    /// the last answer after 20 s.
    pub async fn wait_for(&self, key: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.get(path, key).await;
            if status == StatusCode::OK && done(&body) {
                return body;
            }
            assert!(std::time::Instant::now() < deadline, "{path} never got there; last answer {status}: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates a web chat channel; returns its id.
    pub async fn webchat_channel(&self, key: &str) -> String {
        let (status, body) = self.post("/v1/channels", key, json!({"kind": "webchat", "name": "Site"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").into()
    }

    /// Opens a visitor session; returns (visitor token, visitor id).
    pub async fn visitor(&self, channel_id: &str, profile: Value) -> (String, String) {
        let (status, body) = self.call(Method::POST, &format!("/widget/v1/channels/{channel_id}/sessions"), None, Some(profile)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (body["visitor_token"].as_str().expect("token").into(), body["visitor_id"].as_str().expect("id").into())
    }

    /// A visitor named `name` opens the widget of `channel_id` and writes `text`; returns their
    /// token and the message as the widget answered it.
    pub async fn visitor_wrote(&self, channel_id: &str, name: &str, text: &str) -> (String, Value) {
        let (token, _) = self.visitor(channel_id, json!({"name": name})).await;
        let (status, message) = self.visitor_says(&token, json!({"text": text})).await;
        assert_eq!(status, StatusCode::CREATED, "{message}");
        (token, message)
    }

    pub async fn visitor_says(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.post("/widget/v1/messages", token, body).await
    }

    /// The visitor's history as the widget reads it; `query` such as `?cursor=…` or empty.
    pub async fn visitor_history(&self, token: &str, query: &str) -> (StatusCode, Value) {
        self.call(Method::GET, &format!("/widget/v1/messages{query}"), Some(token), None).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(name) = self.pg_database.take() {
            // A thread with its own runtime: Drop may run inside the test's runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(admin_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
            })
            .join();
        }
    }
}

/// Logs to the test's output (shown for failing tests); `RUST_LOG` picks the level.
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

fn rand_byte() -> u8 {
    let mut b = [0u8; 1];
    getrandom::fill(&mut b).expect("randomness");
    b[0]
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a websocket; panics with the refusal's status if the handshake fails.
pub async fn websocket(url: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap_or_else(|e| panic!("websocket {url}: {e}"));
    socket
}

/// The HTTP status a websocket handshake was answered with (101 when it succeeded).
pub async fn websocket_status(url: &str, bearer: Option<&str>) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("request");
    if let Some(key) = bearer {
        request.headers_mut().insert("authorization", format!("Bearer {key}").parse().expect("header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("websocket {url}: {e}"),
    }
}

/// The next JSON text frame that satisfies `pred`, within `within`.
pub async fn next_frame(socket: &mut Socket, within: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next()).await.ok()??.ok()?;
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).ok()?;
            if pred(&value) {
                return Some(value);
            }
        }
    }
}

/// The real `omnibridge serve` binary as a child process on this app's database: what an
/// operator runs, and what a crash test can kill -9.
pub struct ChildHub {
    pub base: String,
    pub ws_base: String,
    child: std::process::Child,
}

impl ChildHub {
    /// Starts the binary on `port` with the app's database, key and test webhook settings.
    pub async fn start(app: &TestApp, port: u16) -> Self {
        Self::start_logging(app, port, "warn", None).await
    }

    /// The same, logging at `level` into `log` (standard error otherwise).
    pub async fn start_logging(app: &TestApp, port: u16, level: &str, log: Option<&std::path::Path>) -> Self {
        let schedule: Vec<String> = app.config.webhooks.retry_schedule_secs.iter().map(u64::to_string).collect();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_omnibridge"))
            .arg("serve")
            .env("OMNIBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("OMNIBRIDGE_DATABASE_URL", &app.config.database_url)
            .env("OMNIBRIDGE_MASTER_KEY", app.config.master_key.as_deref().unwrap_or_default())
            .env("OMNIBRIDGE_DATA_DIR", &app.config.data_dir)
            .env("OMNIBRIDGE_LOG__LEVEL", level)
            .env("RUST_LOG", level)
            .env("OMNIBRIDGE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("OMNIBRIDGE_WEBHOOKS__ALLOW_PRIVATE_CIDRS", app.config.webhooks.allow_private_cidrs.join(","))
            .env("OMNIBRIDGE_OUTBOUND__ALLOW_PRIVATE_CIDRS", app.config.outbound.allow_private_cidrs.join(","))
            .env("OMNIBRIDGE_WEBHOOKS__RETRY_SCHEDULE_SECS", schedule.join(","))
            .env("OMNIBRIDGE_WEBHOOKS__TIMEOUT_SECS", app.config.webhooks.timeout_secs.to_string())
            .env("OMNIBRIDGE_WEBHOOKS__POLL_INTERVAL_MS", "100")
            .env("OMNIBRIDGE_WEBHOOKS__LEASE_SECS", app.config.webhooks.lease_secs.to_string())
            .env("OMNIBRIDGE_DELIVERY__POLL_INTERVAL_MS", app.config.delivery.poll_interval_ms.to_string())
            .env("OMNIBRIDGE_DELIVERY__LEASE_SECS", app.config.delivery.lease_secs.to_string())
            .env("OMNIBRIDGE_CLUSTER__LEASE_SECS", app.config.cluster.lease_secs.to_string())
            .env("OMNIBRIDGE_LIMITS__WIDGET_SESSIONS_PER_IP_PER_MINUTE", app.config.limits.widget_sessions_per_ip_per_minute.to_string())
            .env("OMNIBRIDGE_LIMITS__WIDGET_SESSIONS_PER_CHANNEL_PER_MINUTE", app.config.limits.widget_sessions_per_channel_per_minute.to_string())
            .env("OMNIBRIDGE_LIMITS__WIDGET_MESSAGES_PER_VISITOR_PER_MINUTE", app.config.limits.widget_messages_per_visitor_per_minute.to_string())
            .env("OMNIBRIDGE_LIMITS__API_REQUESTS_PER_KEY_PER_MINUTE", app.config.limits.api_requests_per_key_per_minute.to_string())
            .env("OMNIBRIDGE_CLUSTER__HEARTBEAT_SECS", app.config.cluster.heartbeat_secs.to_string())
            .current_dir(app.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(match log {
                Some(path) => std::process::Stdio::from(std::fs::File::create(path).expect("log file")),
                None => std::process::Stdio::inherit(),
            })
            .spawn()
            .expect("start omnibridge serve");
        // Owned at once, so a hub that never comes up is still killed (on drop).
        let hub = Self { base: format!("http://127.0.0.1:{port}"), ws_base: format!("ws://127.0.0.1:{port}"), child };
        let http = reqwest::Client::new();
        for _ in 0..400 {
            if http.get(format!("{}/readyz", hub.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return hub;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("omnibridge serve did not come up on port {port}");
    }

    /// The message as this hub shows it once its status is `status` (the last answer after
    /// twenty seconds, for the caller's assertion to report).
    pub async fn message_once(&self, key: &str, id: &str, status: &str) -> Value {
        let http = reqwest::Client::new();
        let mut message = Value::Null;
        for _ in 0..400 {
            let response = http.get(format!("{}/v1/messages/{id}", self.base)).bearer_auth(key).send().await.expect("message");
            message = response.json().await.expect("json");
            if message["status"] == status {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        message
    }

    /// SIGKILL: no shutdown, no flushing, no goodbye.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("kill -9 the hub");
        let _ = self.child.wait();
    }
}

impl Drop for ChildHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
