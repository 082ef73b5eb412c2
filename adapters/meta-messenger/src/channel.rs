//! [`MessengerChannel`]: sends through `POST /{page id}/messages` — a `RESPONSE` inside the
//! 24-hour window, after it (the hub says so) a `MESSAGE_TAG` with `HUMAN_AGENT`; files are
//! uploaded with the message (multipart `filedata`), the text after them. Files people send are
//! fetched from Meta's CDN by their URL (no token), and must be of the type announced.

use async_trait::async_trait;
use omnibridge_channel::{AdapterError, Channel, DeliveryStatus, FetchedFile, OutboundAttachment, OutboundMessage, Receipt, RecentReceipts};
use omnibridge_meta_graph::{Graph, classify};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::kind::Platform;
use crate::settings::MessengerConfig;

pub struct MessengerChannel {
    pub id: Uuid,
    platform: Platform,
    config: MessengerConfig,
    graph: Graph,
    recent: RecentReceipts,
}

impl MessengerChannel {
    pub fn new(id: Uuid, platform: Platform, config: MessengerConfig, http: reqwest::Client) -> Self {
        let graph = Graph::new(http, &config.graph_base_url, &config.graph_api_version, &config.page_access_token);
        Self { id, platform, config, graph, recent: RecentReceipts::new(1024) }
    }

    fn path(&self) -> String {
        format!("{}/messages", self.config.page_id)
    }

    /// `messaging_type` and `tag` for this send.
    fn framing(message: &OutboundMessage) -> Vec<(&'static str, Value)> {
        if message.extras.human_agent {
            vec![("messaging_type", json!("MESSAGE_TAG")), ("tag", json!("HUMAN_AGENT"))]
        } else {
            vec![("messaging_type", json!("RESPONSE"))]
        }
    }

    fn message_id(answer: &Value) -> Result<String, AdapterError> {
        answer.get("message_id").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| AdapterError::Transient("Graph accepted the message without giving its id".into()))
    }

    async fn send_file(&self, message: &OutboundMessage, file: &OutboundAttachment) -> Result<String, AdapterError> {
        let essence = file.content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let kind = match essence.split('/').next().unwrap_or_default() {
            "image" => "image",
            "video" => "video",
            "audio" => "audio",
            _ => "file",
        };
        let part = reqwest::multipart::Part::bytes(file.data.clone())
            .file_name(file.filename.clone())
            .mime_str(&file.content_type)
            .map_err(|_| AdapterError::Permanent(format!("{} is not a content type", file.content_type)))?;
        let mut form = reqwest::multipart::Form::new()
            .text("recipient", json!({"id": message.to.value}).to_string())
            .text("message", json!({"attachment": {"type": kind, "payload": {"is_reusable": false}}}).to_string());
        for (name, value) in Self::framing(message) {
            form = form.text(name, value.as_str().unwrap_or_default().to_owned());
        }
        let answer = self.graph.post_multipart(&self.path(), form.part("filedata", part)).await.map_err(classify)?;
        Self::message_id(&answer)
    }
}

#[async_trait]
impl Channel for MessengerChannel {
    fn kind(&self) -> &'static str {
        self.platform.name()
    }

    async fn healthcheck(&self) -> Result<(), AdapterError> {
        self.graph.get(&self.config.page_id, &[("fields", "id,name")]).await.map(|_| ()).map_err(classify)
    }

    async fn send(&self, message: &OutboundMessage) -> Result<Receipt, AdapterError> {
        if let Some(receipt) = self.recent.get(message) {
            return Ok(receipt);
        }
        if message.extras.template.is_some() {
            return Err(AdapterError::Permanent(format!("{} channels have no templates", self.platform.name())));
        }
        let mut ids = Vec::new();
        for file in &message.extras.attachments {
            ids.push(self.send_file(message, file).await?);
        }
        if !message.text.is_empty() {
            let mut body = json!({"recipient": {"id": message.to.value}, "message": {"text": message.text}});
            for (name, value) in Self::framing(message) {
                body[name] = value;
            }
            let answer = self.graph.post(&self.path(), &body).await.map_err(classify)?;
            ids.push(Self::message_id(&answer)?);
        }
        let receipt = Receipt { external_id: ids.into_iter().next(), status: DeliveryStatus::Sent };
        self.recent.remember(message, &receipt);
        Ok(receipt)
    }

    /// `remote` is `{type}:{url}`, as the webhook gave it: the CDN URL, fetched without the
    /// token, must serve the announced type of file.
    async fn fetch_attachment(&self, remote: &str) -> Result<FetchedFile, AdapterError> {
        let (kind, url) = remote.split_once(':').ok_or_else(|| AdapterError::Permanent("not an attachment reference".into()))?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(AdapterError::Permanent("not an attachment URL".into()));
        }
        let (served, data) = self.graph.download(url, false).await.map_err(classify)?;
        let main = served.split('/').next().unwrap_or_default().trim().to_ascii_lowercase();
        if matches!(kind, "image" | "video" | "audio") && main != kind {
            return Err(AdapterError::Permanent(format!("the file is {served} where an {kind} was announced")));
        }
        Ok(FetchedFile { content_type: served.split(';').next().unwrap_or_default().trim().to_owned(), data })
    }
}
