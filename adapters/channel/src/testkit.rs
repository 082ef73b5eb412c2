//! A conformance kit every adapter's tests run (enable the `testkit` feature in
//! dev-dependencies): the behaviours the hub relies on, checked the same way for each channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    AdapterError, Accepted, Channel, ChannelHost, ChannelKind, DeliveryReport, HostError, HostedChannel, InboundMessage, InboundSink, OutboundMessage,
    SinkError, categories,
};

/// An [`InboundSink`] that records what it is given and accepts everything.
#[derive(Default, Clone)]
pub struct RecordingSink {
    pub received: Arc<Mutex<Vec<InboundMessage>>>,
}

impl RecordingSink {
    pub fn messages(&self) -> Vec<InboundMessage> {
        self.received.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl InboundSink for RecordingSink {
    async fn accept(&self, message: InboundMessage) -> Result<Accepted, SinkError> {
        let mut received = self.received.lock().unwrap_or_else(|e| e.into_inner());
        let duplicate = received.iter().any(|m| m.channel_id == message.channel_id && m.external_id == message.external_id);
        if !duplicate {
            received.push(message);
        }
        Ok(Accepted {
            message_id: Uuid::now_v7(),
            conversation_id: Uuid::nil(),
            contact_id: Uuid::nil(),
            duplicate,
            created_at: String::new(),
        })
    }
}

/// The channel reports healthy, and `run` returns within two seconds of shutdown.
pub async fn check_lifecycle(channel: Arc<dyn Channel>) {
    channel.healthcheck().await.expect("a correctly configured channel is healthy");
    let shutdown = CancellationToken::new();
    let sink: Arc<dyn InboundSink> = Arc::new(RecordingSink::default());
    let task = tokio::spawn({
        let (channel, shutdown) = (channel.clone(), shutdown.clone());
        async move { channel.run(sink, shutdown).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(2), task).await.expect("run stops promptly on shutdown");
    result.expect("run did not panic").expect("run ends cleanly on shutdown");
}

/// Sending the same message twice reaches the recipient once. `deliveries` counts what the
/// recipient (or the provider fake) has seen.
pub async fn check_idempotent_send(channel: &dyn Channel, message: &OutboundMessage, deliveries: impl Fn() -> usize) {
    let before = deliveries();
    channel.send(message).await.expect("first send succeeds");
    channel.send(message).await.expect("a repeated send succeeds too");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(deliveries() - before, 1, "the same message id reached the recipient once");
}

/// A [`ChannelHost`] in memory: cursors, health, quarantined input, delivery reports and
/// automatic replies, recorded for the test to look at. `channels` holds what `channel` finds.
#[derive(Default, Clone)]
pub struct MemoryHost {
    pub channels: Arc<Mutex<Vec<(String, HostedChannel)>>>,
    pub cursors: Arc<Mutex<std::collections::HashMap<Uuid, String>>>,
    pub health: Arc<Mutex<Option<String>>>,
    pub quarantined: Arc<Mutex<Vec<(i64, String)>>>,
    pub reports: Arc<Mutex<Vec<DeliveryReport>>>,
    pub replies: Arc<Mutex<Vec<String>>>,
    pub refused: Arc<Mutex<usize>>,
    /// Template status changes: (name, language, status).
    pub template_statuses: Arc<Mutex<Vec<(String, String, String)>>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryHost {
    /// Makes a channel findable by its callbacks.
    pub fn add_channel(&self, kind: &str, channel: HostedChannel) {
        locked(&self.channels).push((kind.to_owned(), channel));
    }

    pub fn reports(&self) -> Vec<DeliveryReport> {
        locked(&self.reports).clone()
    }

    pub fn quarantined(&self) -> Vec<(i64, String)> {
        locked(&self.quarantined).clone()
    }

    pub fn last_health(&self) -> Option<String> {
        locked(&self.health).clone()
    }
}

#[async_trait]
impl ChannelHost for MemoryHost {
    async fn channel(&self, kind: &str, id: Uuid) -> Result<Option<HostedChannel>, HostError> {
        Ok(locked(&self.channels).iter().find(|(k, c)| k == kind && c.id == id).map(|(_, c)| c.clone()))
    }

    async fn cursor(&self, channel_id: Uuid) -> Result<Option<String>, HostError> {
        Ok(locked(&self.cursors).get(&channel_id).cloned())
    }

    async fn save_cursor(&self, channel_id: Uuid, cursor: &str) -> Result<(), HostError> {
        locked(&self.cursors).insert(channel_id, cursor.to_owned());
        Ok(())
    }

    async fn health(&self, _channel_id: Uuid, last_error: Option<String>) {
        *locked(&self.health) = last_error;
    }

    async fn quarantine(&self, _channel_id: Uuid, reference: i64, _raw: &[u8], error: &str) -> Result<(), HostError> {
        locked(&self.quarantined).push((reference, error.to_owned()));
        Ok(())
    }

    async fn report(&self, _channel_id: Uuid, report: DeliveryReport) -> Result<(), HostError> {
        locked(&self.reports).push(report);
        Ok(())
    }

    async fn auto_reply(&self, _channel_id: Uuid, _accepted: &Accepted, text: &str) -> Result<(), HostError> {
        locked(&self.replies).push(text.to_owned());
        Ok(())
    }

    async fn template_status(&self, _channel_id: Uuid, name: &str, language: &str, status: &str) -> Result<(), HostError> {
        locked(&self.template_statuses).push((name.to_owned(), language.to_owned(), status.to_owned()));
        Ok(())
    }

    fn signature_refused(&self, _kind: &str, _channel_id: Uuid) {
        *locked(&self.refused) += 1;
    }
}

/// A kind describes itself consistently: a lower-case name, categories the hub knows (the
/// address category among them), secret and host settings named once, and settings checked
/// (an empty object is refused naming a setting, or accepted).
pub fn check_kind(kind: &dyn ChannelKind) {
    let name = kind.name();
    assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "kind name {name:?} is snake_case");
    assert!(kind.hook_name().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'), "hook name is a path segment");
    let record = kind.processing_record();
    assert!(!record.processing.is_empty() && !record.data_subjects.is_empty(), "the record of processing says what and whose");
    for category in record.categories {
        assert!(categories::ALL.contains(category), "{name}: unknown data category {category}");
    }
    let address = categories::of_address(kind.address_kind());
    assert!(record.categories.contains(&address), "{name}: the record lists the address category {address}");
    let secrets: Vec<&str> = kind.secret_settings().iter().map(|s| s.name).collect();
    for secret in kind.secret_settings() {
        for host in secret.sent_to {
            assert!(kind.host_settings().iter().any(|h| h.name == *host), "{name}: {} is sent to {host}, which is a host setting", secret.name);
        }
    }
    assert!(!kind.host_settings().iter().any(|h| secrets.contains(&h.name)), "{name}: a host setting is not secret");
    if let Err(err) = kind.validate(serde_json::json!({})) {
        assert!(!err.field.is_empty(), "{name}: a settings error names the setting");
    }
    let unknown = kind.validate(serde_json::json!({"no_such_setting_anywhere": 1}));
    assert!(unknown.is_err(), "{name}: unknown settings are refused");
}

/// What a failed send should be classified as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Retry later (network trouble, 5xx, rate limits).
    Retryable,
    /// The message can never go (bad address, refused content).
    Permanent,
    /// The person opted out at the provider.
    OptedOut,
    /// The channel's configuration is wrong (credentials).
    Config,
}

/// A send the provider fails is classified as expected, so the send worker retries exactly the
/// failures worth retrying.
pub async fn check_failure_classified(channel: &dyn Channel, message: &OutboundMessage, expected: Expected) {
    let err = channel.send(message).await.expect_err("the provider fails this send");
    let got = match &err {
        AdapterError::RateLimited { .. } | AdapterError::Transient(_) => Expected::Retryable,
        AdapterError::Permanent(_) => Expected::Permanent,
        AdapterError::RecipientOptedOut(_) | AdapterError::MarketingOptedOut(_) => Expected::OptedOut,
        AdapterError::Config(_) => Expected::Config,
    };
    assert_eq!(got, expected, "{err} is classified as {expected:?}");
    assert_eq!(err.is_retryable(), expected == Expected::Retryable);
}

/// A forged provider callback: a request to one of the kind's routes, without (or with a
/// wrong) signature or secret.
pub struct Forged {
    pub method: &'static str,
    /// Below `/hooks/{hook name}`, e.g. `/{channel id}/sms`.
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Every forged callback is refused (401 or 403) and leaves nothing behind: no message
/// accepted, no report, no reply. Kinds without callbacks pass with no forgeries to try.
pub async fn check_forged_callbacks_refused(kind: &dyn ChannelKind, host: MemoryHost, forged: Vec<Forged>) {
    let Some(routes) = kind.routes() else {
        assert!(forged.is_empty(), "{} serves no callbacks to forge", kind.name());
        return;
    };
    assert!(!forged.is_empty(), "{} serves callbacks: give forgeries to try", kind.name());
    let sink = RecordingSink::default();
    let context = crate::HookContext { host: Arc::new(host.clone()), inbound: Arc::new(sink.clone()), public_url: String::new() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().nest(&crate::kind::hook_prefix(kind), routes.with_state(context));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    for f in forged {
        let mut request = http.request(f.method.parse().expect("method"), format!("http://{addr}/hooks/{}{}", kind.hook_name(), f.path)).body(f.body);
        for (name, value) in f.headers {
            request = request.header(name, value);
        }
        let status = request.send().await.expect("the hook answers").status().as_u16();
        assert!(status == 401 || status == 403, "{} {}: a forged callback is refused, got {status}", f.method, f.path);
    }
    server.abort();
    assert!(sink.messages().is_empty(), "nothing forged was accepted");
    assert!(host.reports().is_empty(), "nothing forged was reported");
    assert!(locked(&host.replies).is_empty(), "nothing forged was answered");
    assert!(locked(&host.template_statuses).is_empty(), "nothing forged changed a template");
}
