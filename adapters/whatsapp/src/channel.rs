//! [`WhatsAppChannel`]: sends through `POST /{phone number id}/messages` (text, media uploaded
//! first, replies quoting a message, approved templates with their body parameters), fetches
//! the person's media in Meta's two steps, and lists the account's templates.
//!
//! Graph has no idempotency key: a send remembered in this process is not repeated
//! ([`RecentReceipts`]), and every send carries the hub's message id as
//! `biz_opaque_callback_data`, which Meta echoes in its statuses.

use async_trait::async_trait;
use omnibridge_channel::{AdapterError, Channel, FetchedFile, OutboundAttachment, OutboundMessage, Receipt, RecentReceipts, DeliveryStatus, Template};
use omnibridge_meta_graph::{Graph, classify};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::settings::WhatsAppConfig;

pub const KIND: &str = "whatsapp";
/// The longest text body WhatsApp takes.
pub const MAX_TEXT: usize = 4096;

pub struct WhatsAppChannel {
    pub id: Uuid,
    config: WhatsAppConfig,
    graph: Graph,
    recent: RecentReceipts,
}

impl WhatsAppChannel {
    pub fn new(id: Uuid, config: WhatsAppConfig, http: reqwest::Client) -> Self {
        let graph = Graph::new(http, &config.graph_base_url, &config.graph_api_version, &config.access_token);
        Self { id, config, graph, recent: RecentReceipts::new(1024) }
    }

    fn messages_path(&self) -> String {
        format!("{}/messages", self.config.phone_number_id)
    }

    async fn post(&self, mut body: Value, message: &OutboundMessage) -> Result<String, AdapterError> {
        body["messaging_product"] = json!("whatsapp");
        body["recipient_type"] = json!("individual");
        body["to"] = json!(message.to.value.trim_start_matches('+'));
        body["biz_opaque_callback_data"] = json!(message.id.to_string());
        if let Some(quoted) = &message.extras.quoted {
            body["context"] = json!({"message_id": quoted});
        }
        let answer = self.graph.post(&self.messages_path(), &body).await.map_err(classify)?;
        answer
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| AdapterError::Transient("Graph accepted the message without giving its id".into()))
    }

    /// Uploads a file; its media id.
    async fn upload(&self, file: &OutboundAttachment) -> Result<String, AdapterError> {
        let part = reqwest::multipart::Part::bytes(file.data.clone())
            .file_name(file.filename.clone())
            .mime_str(&file.content_type)
            .map_err(|_| AdapterError::Permanent(format!("{} is not a content type", file.content_type)))?;
        let form = reqwest::multipart::Form::new().text("messaging_product", "whatsapp").text("type", file.content_type.clone()).part("file", part);
        let answer = self.graph.post_multipart(&format!("{}/media", self.config.phone_number_id), form).await.map_err(classify)?;
        answer.get("id").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| AdapterError::Transient("Graph took the file without giving its id".into()))
    }
}

/// The WhatsApp message type a file is sent as, and whether it takes a caption.
fn media_type(content_type: &str) -> (&'static str, bool) {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "image/jpeg" | "image/png" => ("image", true),
        "video/mp4" | "video/3gpp" => ("video", true),
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => ("audio", false),
        _ => ("document", true),
    }
}

#[async_trait]
impl Channel for WhatsAppChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn healthcheck(&self) -> Result<(), AdapterError> {
        self.graph.get(&self.config.phone_number_id, &[("fields", "id,display_phone_number,verified_name")]).await.map(|_| ()).map_err(classify)
    }

    async fn send(&self, message: &OutboundMessage) -> Result<Receipt, AdapterError> {
        if let Some(receipt) = self.recent.get(message) {
            return Ok(receipt);
        }
        let mut ids = Vec::new();
        if let Some(template) = &message.extras.template {
            let parameters: Vec<Value> = template.parameters.iter().map(|p| json!({"type": "text", "text": p})).collect();
            let mut spec = json!({"name": template.name, "language": {"policy": "deterministic", "code": template.language}});
            if !parameters.is_empty() {
                spec["components"] = json!([{"type": "body", "parameters": parameters}]);
            }
            ids.push(self.post(json!({"type": "template", "template": spec}), message).await?);
        } else {
            let mut caption_used = false;
            for file in &message.extras.attachments {
                let media_id = self.upload(file).await?;
                let (kind, captioned) = media_type(&file.content_type);
                let mut object = json!({"id": media_id});
                if kind == "document" {
                    object["filename"] = json!(file.filename);
                }
                if captioned && !caption_used && !message.text.is_empty() {
                    object["caption"] = json!(message.text);
                    caption_used = true;
                }
                ids.push(self.post(json!({"type": kind, kind: object}), message).await?);
            }
            if !caption_used && !message.text.is_empty() {
                ids.push(self.post(json!({"type": "text", "text": {"preview_url": false, "body": message.text}}), message).await?);
            }
        }
        let receipt = Receipt { external_id: ids.into_iter().next(), status: DeliveryStatus::Sent };
        self.recent.remember(message, &receipt);
        Ok(receipt)
    }

    /// `remote` is a media id: its short-lived URL first, then the bytes with the same token.
    /// What arrives must be of the type Meta declared.
    async fn fetch_attachment(&self, remote: &str) -> Result<FetchedFile, AdapterError> {
        if remote.is_empty() || !remote.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(AdapterError::Permanent("not a media id".into()));
        }
        let meta = self.graph.get(remote, &[("phone_number_id", &self.config.phone_number_id)]).await.map_err(classify)?;
        let url = meta.get("url").and_then(Value::as_str).ok_or_else(|| AdapterError::Permanent("Graph gave no media URL".into()))?;
        let declared = meta.get("mime_type").and_then(Value::as_str).unwrap_or("application/octet-stream").to_owned();
        let (served, data) = self.graph.download(url, true).await.map_err(classify)?;
        let main = |t: &str| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if main(&served) != main(&declared) && main(&served) != "application/octet-stream" {
            return Err(AdapterError::Permanent(format!("the file is {} where {} was announced", main(&served), main(&declared))));
        }
        Ok(FetchedFile { content_type: declared, data })
    }

    async fn templates(&self) -> Result<Vec<Template>, AdapterError> {
        let items = self
            .graph
            .get_all(&format!("{}/message_templates", self.config.waba_id), &[("fields", "name,language,status,category,components"), ("limit", "100")])
            .await
            .map_err(classify)?;
        Ok(items
            .into_iter()
            .filter_map(|t| {
                Some(Template {
                    name: t.get("name")?.as_str()?.to_owned(),
                    language: t.get("language")?.as_str()?.to_owned(),
                    category: t.get("category").and_then(Value::as_str).unwrap_or("UTILITY").to_ascii_uppercase(),
                    status: t.get("status").and_then(Value::as_str).unwrap_or("PENDING").to_ascii_uppercase(),
                    components: t.get("components").cloned().unwrap_or(json!([])),
                })
            })
            .collect())
    }
}
