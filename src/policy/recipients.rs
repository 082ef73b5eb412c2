//! Everyone a tenant's data may go to: the registry's subprocessors with the tenant's answer to
//! each, and the recipients the tenant configured itself (each email channel's SMTP relay, each
//! webhook endpoint). `GET /v1/subprocessors` lists them; the record of processing is built on
//! them.

use serde::Serialize;
use uuid::Uuid;

use super::registry::Standing;
use super::{Authorization, Policies};
use crate::domain::categories;
use crate::store::{self, Db, StoreError};

/// A recipient of the tenant's data: a subprocessor of the registry, a mailbox's SMTP relay or
/// a webhook endpoint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Subprocessor)]
pub struct RecipientView {
    /// As policy rules name it after `subprocessor:` / `webhook:`.
    pub id: String,
    /// `subprocessor` (from the registry), `email_relay` or `webhook`.
    #[schema(value_type = RecipientKind)]
    pub kind: &'static str,
    pub legal_entity: String,
    pub service: String,
    pub processing_countries: Vec<String>,
    pub storage_region: Option<String>,
    pub transfer_mechanism: Option<String>,
    pub categories: Vec<String>,
    pub dpa_url: Option<String>,
    /// Registry status: `active`, `announced`, `retired`; the tenant's own: `active`/`disabled`.
    pub status: String,
    #[schema(format = DateTime)]
    pub effective_at: Option<String>,
    /// Whether it may be used now (announced ones only from their effective date).
    pub in_effect: bool,
    /// `approved`, `objected`, `pending` (registry entries), `configured` (the tenant's own).
    #[schema(value_type = AuthorizationState)]
    pub authorization: &'static str,
    /// The tenant's channels that send through it.
    pub channel_ids: Vec<Uuid>,
}

/// What kind of recipient (`RecipientView::kind`).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // named in the API description; values travel as strings
pub enum RecipientKind {
    Subprocessor,
    EmailRelay,
    Webhook,
}

/// The tenant's answer to a recipient (`RecipientView::authorization`).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // named in the API description; values travel as strings
pub enum AuthorizationState {
    Approved,
    Objected,
    Pending,
    Configured,
}

impl RecipientView {
    /// Whether the tenant's data goes there today: a channel uses it (or it is an enabled
    /// endpoint), it is in effect and, for registry entries, approved.
    pub fn in_use(&self) -> bool {
        let wired = self.kind == "webhook" && self.status == "active" || !self.channel_ids.is_empty();
        wired && self.in_effect && self.authorization != "pending" && self.authorization != "objected"
    }
}

/// Every recipient of the tenant's data, registry entries first.
pub async fn list(db: &Db, policies: &Policies, tenant_id: Uuid) -> Result<Vec<RecipientView>, StoreError> {
    let registry = policies.registry();
    let policy = policies.tenant(db, tenant_id).await?;
    let now = store::now_micros();
    let mut channels = Vec::new();
    let mut after = None;
    loop {
        let page = db.channels(tenant_id, after, 200).await?;
        after = page.last().map(|c| c.id);
        let done = page.len() < 200;
        channels.extend(page);
        if done {
            break;
        }
    }
    let mut out: Vec<RecipientView> = Vec::new();
    for s in &registry.subprocessors {
        let channel_ids = channels
            .iter()
            .filter(|c| {
                let settings: serde_json::Value = serde_json::from_str(&c.settings).unwrap_or_default();
                let region = settings.get("region").and_then(|v| v.as_str());
                registry.for_channel(&c.kind, region).is_some_and(|x| x.id == s.id)
            })
            .map(|c| c.id)
            .collect();
        out.push(RecipientView {
            id: s.id.clone(),
            kind: "subprocessor",
            legal_entity: s.legal_entity.clone(),
            service: s.service.clone(),
            processing_countries: s.processing_countries.clone(),
            storage_region: Some(s.storage_region.clone()),
            transfer_mechanism: Some(s.transfer_mechanism.clone()),
            categories: s.categories.clone(),
            dpa_url: s.dpa_url.clone(),
            status: s.status.clone(),
            effective_at: s.effective_at.clone(),
            in_effect: s.standing(now) == Standing::Active,
            authorization: match policy.authorizations.get(&s.id) {
                Some(Authorization::Approved) => "approved",
                Some(Authorization::Objected) => "objected",
                None => "pending",
            },
            channel_ids,
        });
    }
    // Relays the tenant named in a channel's settings (a mailbox's SMTP server).
    for c in &channels {
        let Some(kind) = policies.kinds().get(&c.kind) else { continue };
        let omnibridge_channel::DataDestination::TenantRelay { country_setting, mechanism_setting, operator_setting, host_setting } = kind.destination() else { continue };
        let settings: serde_json::Value = serde_json::from_str(&c.settings).unwrap_or_default();
        let text = |k: &str| settings.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        out.push(RecipientView {
            id: format!("{}-relay:{}", c.kind, c.id),
            kind: "email_relay",
            legal_entity: text(operator_setting).or_else(|| text(host_setting)).unwrap_or_default(),
            service: format!("SMTP relay of email channel {:?}", c.name),
            processing_countries: text(country_setting).into_iter().collect(),
            storage_region: None,
            transfer_mechanism: text(mechanism_setting),
            categories: super::channel_categories(kind.address_kind(), true).into_iter().map(String::from).collect(),
            dpa_url: None,
            status: "active".into(),
            effective_at: None,
            in_effect: true,
            authorization: "configured",
            channel_ids: vec![c.id],
        });
    }
    let mut after = None;
    loop {
        let page = store::webhooks::endpoints(db, tenant_id, after, 200).await?;
        after = page.last().map(|e| e.id);
        let done = page.len() < 200;
        for e in page {
            let host = reqwest::Url::parse(&e.url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
            out.push(RecipientView {
                id: format!("webhook:{}", e.id),
                kind: "webhook",
                legal_entity: if e.description.is_empty() { host } else { e.description.clone() },
                service: "webhook receiver (event notifications)".into(),
                processing_countries: e.country.clone().into_iter().collect(),
                storage_region: None,
                transfer_mechanism: e.transfer_mechanism.clone(),
                categories: categories::ALL.iter().map(|c| c.to_string()).collect(),
                dpa_url: None,
                status: if e.disabled { "disabled".into() } else { "active".into() },
                effective_at: None,
                in_effect: true,
                authorization: "configured",
                channel_ids: Vec::new(),
            });
        }
        if done {
            break;
        }
    }
    Ok(out)
}
