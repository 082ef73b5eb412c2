//! The processor's record of processing activities for one controller (GDPR Art. 30(2)),
//! generated from live configuration — tenant, channels, subprocessors in use, webhook
//! endpoints, retention, security settings — never written by hand, so it cannot drift.
//!
//! (a) processor and controller, (b) categories of processing per channel, (c) transfers to
//! third countries with their mechanism, (d) the security measures in force. Rendered as JSON,
//! Markdown or CSV.

use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Policies;
use super::recipients::{self, RecipientView};
use crate::config::Config;
use crate::domain::categories;
use crate::domain::rfc3339;
use crate::store::{self, Db, StoreError};

/// The record of processing activities a processor keeps (Art. 30(2)).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ropa {
    #[schema(format = DateTime)]
    pub generated_at: String,
    /// Who processes: name, address and contact of the processor.
    #[schema(value_type = Object)]
    pub processor: Value,
    /// On whose behalf: the tenant.
    #[schema(value_type = Object)]
    pub controller: Value,
    pub activities: Vec<Activity>,
    /// Subprocessors and recipients the controller's data goes to today.
    pub subprocessors: Vec<RecipientView>,
    /// Transfers to third countries, per recipient.
    #[schema(value_type = Vec<Object>)]
    pub transfers: Vec<Value>,
    /// How long each kind of data is kept.
    #[schema(value_type = Object)]
    pub retention: Value,
    pub security_measures: Vec<String>,
}

/// One processing activity: a channel and what it processes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Activity {
    pub channel_id: Option<Uuid>,
    pub name: String,
    pub processing: String,
    pub data_subjects: String,
    pub data_categories: Vec<String>,
    pub recipients: Vec<String>,
}

/// Builds the record; `progress` hears each step (the CLI shows them).
pub async fn build(db: &Db, policies: &Policies, config: &Config, tenant_id: Uuid, progress: &(dyn Fn(&str) + Sync)) -> Result<Option<Ropa>, StoreError> {
    progress("tenant");
    let Some(tenant) = db.tenant(tenant_id).await? else { return Ok(None) };
    progress("recipients");
    let all = recipients::list(db, policies, tenant_id).await?;
    let used: Vec<RecipientView> = all.iter().filter(|r| r.in_use()).cloned().collect();
    progress("channels");
    let mut activities = Vec::new();
    let mut security = vec![
        "Personal data encrypted at rest: XChaCha20-Poly1305 under a random data key per contact, wrapped by a per-tenant key derived (HKDF-SHA256) from the master key; erasure destroys the data key".to_owned(),
        "Addresses looked up by keyed blind index (HMAC-SHA256 per tenant), never in plaintext".to_owned(),
        "API keys stored as SHA-256 hashes; roles admin, agent, integration; every query scoped by tenant".to_owned(),
        "Channel secrets (provider tokens, mail passwords) sealed under the tenant key and never returned".to_owned(),
        "Consent records append-only and hash-chained (SHA-256) per tenant".to_owned(),
        "Every transfer decided by the routing policy and written to the transfer log".to_owned(),
        format!(
            "Webhooks signed (Standard Webhooks, HMAC-SHA256); receivers on private networks refused (SSRF guard){}",
            if config.webhooks.https_only { "; HTTPS only" } else { "" }
        ),
    ];
    let mut after = None;
    loop {
        let page = db.channels(tenant_id, after, 200).await?;
        after = page.last().map(|c| c.id);
        let done = page.len() < 200;
        for c in &page {
            let kind = policies.kinds().get(&c.kind);
            let (processing, subjects, cats) = kind.map_or(("messaging", "end users", &[categories::MESSAGE_CONTENT][..]), |k| {
                let record = k.processing_record();
                (record.processing, record.data_subjects, record.categories)
            });
            let settings: Value = serde_json::from_str(&c.settings).unwrap_or_default();
            let recipients: Vec<String> =
                used.iter().filter(|r| r.channel_ids.contains(&c.id)).map(|r| format!("{} ({})", r.id, r.legal_entity)).collect();
            // Mailboxes say how they reach their servers.
            if kind.is_some_and(|k| k.medium() == omnibridge_channel::Medium::Email) {
                let tls = |k: &str| settings.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_owned();
                security.push(format!("Email channel {:?}: IMAP TLS {}, SMTP TLS {}", c.name, tls("imap_tls"), tls("smtp_tls")));
            }
            activities.push(Activity {
                channel_id: Some(c.id),
                name: format!("{} channel {:?}", c.kind, c.name),
                processing: processing.into(),
                data_subjects: subjects.into(),
                data_categories: cats.iter().map(|s| s.to_string()).collect(),
                recipients,
            });
        }
        if done {
            break;
        }
    }
    let hooks: Vec<String> = used.iter().filter(|r| r.kind == "webhook").map(|r| r.id.clone()).collect();
    if !hooks.is_empty() {
        activities.push(Activity {
            channel_id: None,
            name: "webhook notifications".into(),
            processing: "notifying the controller's systems of conversations, messages, contacts and consent".into(),
            data_subjects: "all of the above".into(),
            data_categories: vec!["as the routing policy lets through per endpoint".into()],
            recipients: hooks,
        });
    }
    progress("transfers");
    let transfers = used
        .iter()
        .filter(|r| r.processing_countries.iter().any(|c| !policies.registry().in_eea(c)))
        .map(|r| {
            json!({
                "recipient": r.id,
                "countries": r.processing_countries,
                "mechanism": r.transfer_mechanism,
                "documentation": r.dpa_url,
            })
        })
        .collect();
    let ropa = Ropa {
        generated_at: rfc3339(store::now_micros()),
        processor: json!({
            "name": config.processor.name,
            "contact": config.processor.contact,
            "dpo": config.processor.dpo,
            "representative": config.processor.representative,
        }),
        controller: json!({ "tenant_id": tenant.id, "name": tenant.name, "region": tenant.region }),
        activities,
        subprocessors: used,
        transfers,
        retention: json!({
            "webhook_payloads_days": config.webhooks.payload_retention_days,
            "messages": "kept until erased by the controller's request",
            "consent_records": "kept for the life of the tenant (proof of consent, Art. 7(1))",
        }),
        security_measures: security,
    };
    progress("done");
    Ok(Some(ropa))
}

impl Ropa {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn to_markdown(&self) -> String {
        let s = |v: &Value, k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
        let mut out = String::new();
        out.push_str("# Record of processing activities (GDPR Art. 30(2))\n\n");
        out.push_str(&format!("Generated {} from the hub's configuration.\n\n", self.generated_at));
        out.push_str("## (a) Processor and controller\n\n");
        out.push_str(&format!(
            "- Processor: {} (contact: {}; DPO: {}; representative: {})\n",
            s(&self.processor, "name"),
            or_none(&s(&self.processor, "contact")),
            or_none(&s(&self.processor, "dpo")),
            or_none(&s(&self.processor, "representative"))
        ));
        out.push_str(&format!(
            "- Controller: {} (tenant {}, home region {})\n\n",
            s(&self.controller, "name"),
            s(&self.controller, "tenant_id"),
            s(&self.controller, "region")
        ));
        out.push_str("## (b) Categories of processing\n\n| Activity | Processing | Data subjects | Data categories | Recipients |\n|---|---|---|---|---|\n");
        for a in &self.activities {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                cell(&a.name),
                cell(&a.processing),
                cell(&a.data_subjects),
                cell(&a.data_categories.join(", ")),
                cell(&or_none(&a.recipients.join(", ")))
            ));
        }
        out.push_str("\n## Subprocessors and recipients\n\n| Id | Legal entity | Service | Countries | Mechanism | Categories |\n|---|---|---|---|---|---|\n");
        for r in &self.subprocessors {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                cell(&r.id),
                cell(&r.legal_entity),
                cell(&r.service),
                cell(&r.processing_countries.join(", ")),
                cell(r.transfer_mechanism.as_deref().unwrap_or("")),
                cell(&r.categories.join(", "))
            ));
        }
        out.push_str("\n## (c) Transfers to third countries\n\n");
        if self.transfers.is_empty() {
            out.push_str("None.\n");
        }
        for t in &self.transfers {
            out.push_str(&format!(
                "- {}: {} — {}\n",
                s(t, "recipient"),
                t.get("countries").and_then(|c| c.as_array()).map(|c| c.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
                or_none(&s(t, "mechanism"))
            ));
        }
        out.push_str("\n## Retention\n\n");
        if let Some(map) = self.retention.as_object() {
            for (k, v) in map {
                out.push_str(&format!("- {k}: {}\n", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())));
            }
        }
        out.push_str("\n## (d) Security measures (Art. 32(1))\n\n");
        for m in &self.security_measures {
            out.push_str(&format!("- {m}\n"));
        }
        out
    }

    /// One row per (activity, recipient) and per recipient, for spreadsheets.
    pub fn to_csv(&self) -> String {
        let f = crate::events::present::csv_field;
        let mut out = String::from("section,name,processing,data_subjects,data_categories,recipient,countries,mechanism\r\n");
        for a in &self.activities {
            out.push_str(&format!(
                "activity,{},{},{},{},{},,\r\n",
                f(&a.name),
                f(&a.processing),
                f(&a.data_subjects),
                f(&a.data_categories.join(";")),
                f(&a.recipients.join(";"))
            ));
        }
        for r in &self.subprocessors {
            out.push_str(&format!(
                "subprocessor,{},{},,{},{},{},{}\r\n",
                f(&r.legal_entity),
                f(&r.service),
                f(&r.categories.join(";")),
                f(&r.id),
                f(&r.processing_countries.join(";")),
                f(r.transfer_mechanism.as_deref().unwrap_or(""))
            ));
        }
        for m in &self.security_measures {
            out.push_str(&format!("security,{},,,,,,\r\n", f(m)));
        }
        out
    }
}

fn or_none(s: &str) -> String {
    if s.is_empty() { "—".into() } else { s.to_owned() }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
