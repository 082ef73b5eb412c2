//! A channel kind the hub has never heard of, registered with one line: messages come in
//! through the kind's own signed callback, become a conversation, and the operator's reply goes
//! out through the kind's adapter — the same path every built-in kind takes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use omnibridge_channel::kind::parse_settings;
use omnibridge_channel::problem::{JsonBody, Problem};
use omnibridge_channel::{
    AdapterError, Address, AddressKind, Capabilities, Channel, ChannelKind, ChannelSetup, DataDestination, DeliveryStatus, HookContext, InboundMessage,
    Medium, OutboundMessage, ProcessingRecord, Receipt, SecretSetting, Sender, SettingsError, Technical, categories,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(a_kind_from_outside_carries_messages_both_ways);

/// A pager network: pagers have numbers (handles), the network posts what a pager sends, and
/// the kind records what it is asked to deliver.
#[derive(Clone, Default)]
struct PagerKind {
    delivered: Arc<Mutex<Vec<OutboundMessage>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PagerSettings {
    network: String,
    secret: String,
}

impl ChannelKind for PagerKind {
    fn name(&self) -> &'static str {
        "pager"
    }

    fn medium(&self) -> Medium {
        Medium::Telegram
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { max_text: Some(80), ..Capabilities::default() }
    }

    fn secret_settings(&self) -> &'static [SecretSetting] {
        &[SecretSetting { name: "secret", sent_to: &[] }]
    }

    fn settings_schema(&self) -> Value {
        json!({"type": "object", "required": ["network", "secret"], "additionalProperties": false,
            "properties": {"network": {"type": "string"}, "secret": {"type": "string", "writeOnly": true}}})
    }

    fn validate(&self, settings: Value) -> Result<Value, SettingsError> {
        let parsed: PagerSettings = parse_settings(&settings)?;
        if parsed.network.is_empty() {
            return Err(SettingsError::new("network", "name the pager network"));
        }
        if parsed.secret.len() < 2 {
            return Err(SettingsError::new("secret", "the network's shared secret"));
        }
        Ok(settings)
    }

    fn destination(&self) -> DataDestination {
        DataDestination::Hub
    }

    fn processing_record(&self) -> ProcessingRecord {
        ProcessingRecord { processing: "paging", data_subjects: "people with pagers", categories: &[categories::CONTACT_HANDLE, categories::MESSAGE_CONTENT] }
    }

    fn build(&self, _setup: ChannelSetup<'_>) -> Result<Arc<dyn Channel>, SettingsError> {
        Ok(Arc::new(Pager { delivered: self.delivered.clone() }))
    }

    fn routes(&self) -> Option<Router<HookContext>> {
        Some(Router::new().route("/{channel_id}/page", post(page)))
    }
}

struct Pager {
    delivered: Arc<Mutex<Vec<OutboundMessage>>>,
}

#[async_trait]
impl Channel for Pager {
    fn kind(&self) -> &'static str {
        "pager"
    }

    async fn healthcheck(&self) -> Result<(), AdapterError> {
        Ok(())
    }

    async fn send(&self, message: &OutboundMessage) -> Result<Receipt, AdapterError> {
        self.delivered.lock().expect("lock").push(message.clone());
        Ok(Receipt { external_id: Some(format!("page-{}", message.id.simple())), status: DeliveryStatus::Delivered })
    }
}

#[derive(Deserialize)]
struct Page {
    id: String,
    from: String,
    text: String,
}

async fn page(State(cx): State<HookContext>, Path(channel_id): Path<Uuid>, headers: HeaderMap, JsonBody(page): JsonBody<Page>) -> Result<StatusCode, Problem> {
    let channel = cx.host.channel("pager", channel_id).await.ok().flatten().ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "not_found", "no pager channel"))?;
    let secret = channel.settings["secret"].as_str().unwrap_or_default();
    if headers.get("x-pager-secret").and_then(|v| v.to_str().ok()) != Some(secret) {
        cx.host.signature_refused("pager", channel_id);
        return Err(Problem::new(StatusCode::FORBIDDEN, "invalid_secret", "wrong pager secret"));
    }
    let message = InboundMessage {
        channel_id,
        external_id: page.id,
        sender: Sender { address: Address::new(AddressKind::Telegram, &page.from), display_name: None },
        text: page.text,
        technical: Technical::default(),
        extras: Default::default(),
    };
    cx.inbound.accept(message).await.map_err(|e| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()))?;
    Ok(StatusCode::OK)
}

async fn a_kind_from_outside_carries_messages_both_ways(backend: Backend) {
    let pager = PagerKind::default();
    let app = TestApp::spawn_with_kinds(backend, vec![Arc::new(pager.clone())], |_| {}).await;
    let (_, admin) = app.create_tenant("Shop");

    // Settings are checked by the kind; the secret is never shown.
    let (status, problem) = app.post("/v1/channels", &admin, json!({"kind": "pager", "name": "Pagers", "settings": {"network": "", "secret": "s3"}})).await;
    assert_eq!((status.as_u16(), problem["field"].as_str()), (422, Some("settings.network")), "{problem}");
    let (status, channel) = app.post("/v1/channels", &admin, json!({"kind": "pager", "name": "Pagers", "settings": {"network": "north", "secret": "s3"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    assert_eq!(channel["settings"], json!({"network": "north"}), "the secret is kept sealed");
    let channel_id = channel["id"].as_str().expect("id").to_owned();

    // In: through the kind's own callback, mounted under /hooks/pager; a wrong secret stores nothing.
    let page = |secret: &str, id: &str, text: &str| {
        app.http
            .post(format!("{}/hooks/pager/{channel_id}/page", app.base))
            .header("x-pager-secret", secret)
            .json(&json!({"id": id, "from": "555-0100", "text": text}))
            .send()
    };
    assert_eq!(page("wrong", "p0", "forged").await.expect("answer").status(), StatusCode::FORBIDDEN);
    assert_eq!(page("s3", "p1", "Call me back").await.expect("answer").status(), StatusCode::OK);
    assert_eq!(page("s3", "p1", "Call me back").await.expect("answer").status(), StatusCode::OK, "a repeat is accepted and stored once");
    let list = app.wait_for(&admin, "/v1/conversations", |b| b["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    let conversation = list["data"][0]["id"].as_str().expect("conversation").to_owned();
    let messages = app.wait_for(&admin, &format!("/v1/conversations/{conversation}/messages"), |b| b["data"].as_array().is_some_and(|d| !d.is_empty())).await;
    assert_eq!(messages["data"].as_array().expect("list").len(), 1, "{messages}");
    assert_eq!(messages["data"][0]["text"], "Call me back");

    // Out: the kind's text limit is checked before queueing; a reply that fits reaches the pager.
    let path = format!("/v1/conversations/{conversation}/messages");
    let (status, problem) = app.post(&path, &admin, json!({"text": "x".repeat(81)})).await;
    assert_eq!((status.as_u16(), problem["field"].as_str()), (422, Some("text")), "{problem}");
    let (status, reply) = app.post(&path, &admin, json!({"text": "On my way"})).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let reply_id = reply["id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let delivered = pager.delivered.lock().expect("lock").clone();
        if let Some(sent) = delivered.first() {
            assert_eq!((sent.to.value.as_str(), sent.text.as_str()), ("555-0100", "On my way"));
            assert_eq!(sent.id.to_string(), reply_id);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the reply never reached the pager");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let list = app.wait_for(&admin, &path, |l| l["data"].as_array().is_some_and(|d| d.iter().any(|m| m["id"] == reply_id.as_str() && m["status"] == "delivered"))).await;
    assert!(list["data"].as_array().expect("list").iter().any(|m| m["id"] == reply_id.as_str() && m["status"] == "delivered"), "{list}");
}
