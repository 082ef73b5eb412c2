//! Routing policy: where a tenant's personal data may go, decided per data category.
//!
//! The egress door asks [`Policies::decide`] before every transfer. The answer comes from, in
//! order: the tenant's authorization of the subprocessor (Art. 28(2): approved, in effect, not
//! objected to, allowed to receive those categories), then per category the first of the
//! tenant's rules that matches ([`rules`]), then the defaults of the tenant's home region — for
//! `gdpr` regions Chapter V: inside the EEA or covered by an adequacy decision, or with SCC, BCR
//! or (for US organisations) the DPF; no mechanism, no transfer.
//!
//! The registry of subprocessors and the adequacy list are data ([`registry`]); what changes in
//! the registry is announced to tenants ([`notices`]); the tenant's record of processing is
//! generated from all of it ([`ropa`]).

pub mod notices;
pub mod recipients;
pub mod registry;
pub mod ropa;
pub mod rules;
pub mod transform;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use self::registry::{Registry, Standing};
use self::rules::{Action, CompiledRule, PolicyDocument};
use omnibridge_channel::{AddressKind, ChannelKind, DataDestination};

use crate::channels::Kinds;
use crate::config::Config;
use crate::domain::categories;
use crate::store::{self, Db, StoreError};

/// Where personal data is about to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `channel` (a channel send), `webhook`, `export`.
    pub kind: &'static str,
    /// How rules and the transfer log name it: `subprocessor:twilio`,
    /// `subprocessor:email-relay:<channel id>`, `webhook:<endpoint id>`, `hub:webchat`.
    pub name: String,
    /// Countries where the recipient processes the data (ISO 3166-1 alpha-2).
    pub countries: Vec<String>,
    /// The declared transfer mechanism.
    pub mechanism: Option<String>,
    /// A registry subprocessor the tenant must have authorized.
    pub registry_id: Option<String>,
    /// False when the data reaches no third party (the hub's own web chat, to the person).
    pub third_party: bool,
}

impl Destination {
    pub fn webhook(id: Uuid, country: Option<String>, mechanism: Option<String>) -> Self {
        Self {
            kind: "webhook",
            name: format!("webhook:{id}"),
            countries: country.into_iter().collect(),
            mechanism,
            registry_id: None,
            third_party: true,
        }
    }

    /// Where a channel's sends go, as its kind says: the hub itself (web chat), the relay the
    /// tenant named in the settings (email), or the kind's registry subprocessor. A kind this
    /// hub does not know, or one the registry does not list, goes nowhere: nobody approved it.
    pub fn channel(registry: &Registry, kind: Option<&dyn ChannelKind>, kind_name: &str, channel_id: Uuid, settings: &serde_json::Value) -> Self {
        let text = |key: &str| settings.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let unapproved = || Self {
            kind: "channel",
            name: format!("subprocessor:{kind_name}"),
            countries: Vec::new(),
            mechanism: None,
            registry_id: Some(kind_name.to_owned()),
            third_party: true,
        };
        let Some(kind) = kind else { return unapproved() };
        match kind.destination() {
            DataDestination::Hub => Self {
                kind: "channel",
                name: format!("hub:{kind_name}"),
                countries: Vec::new(),
                mechanism: None,
                registry_id: None,
                third_party: false,
            },
            DataDestination::TenantRelay { country_setting, mechanism_setting, .. } => Self {
                kind: "channel",
                name: format!("subprocessor:{kind_name}-relay:{channel_id}"),
                countries: text(country_setting).into_iter().collect(),
                mechanism: text(mechanism_setting),
                registry_id: None,
                third_party: true,
            },
            DataDestination::Registry => match registry.for_channel(kind_name, text("region").as_deref()) {
                Some(s) => Self {
                    kind: "channel",
                    name: format!("subprocessor:{}", s.id),
                    countries: s.processing_countries.clone(),
                    mechanism: Some(s.transfer_mechanism.clone()),
                    registry_id: Some(s.id.clone()),
                    third_party: true,
                },
                None => unapproved(),
            },
        }
    }
}

/// The data categories a channel send carries: the recipient's address on that channel, the
/// text, and files when there are any.
pub fn channel_categories(address: AddressKind, attachments: bool) -> Vec<&'static str> {
    let mut out = vec![categories::of_address(address), categories::MESSAGE_CONTENT];
    if attachments {
        out.push(categories::MESSAGE_ATTACHMENTS);
    }
    out
}

/// A tenant's answer to a subprocessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    Approved,
    Objected,
}

/// Everything the decision needs about one tenant.
#[derive(Debug, Clone)]
pub struct TenantPolicy {
    pub region: String,
    pub gdpr: bool,
    pub rules: Vec<CompiledRule>,
    pub authorizations: HashMap<String, Authorization>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Allowed with some categories redacted or pseudonymized.
    Transform,
    Block,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Transform => "transform",
            Self::Block => "block",
        }
    }
}

/// The decision for one transfer, as the transfer log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    /// What each category gets.
    pub actions: Vec<(&'static str, Action)>,
    /// The rule (or default) that decided: for a block the one that blocked.
    pub rule: String,
    /// Why a block happened, in words.
    pub reason: Option<String>,
}

impl Verdict {
    /// A refusal decided before the policy (the recipient's consent).
    pub fn refused(cats: &[&'static str], rule: &str, reason: String) -> Self {
        Self::block(cats.iter().map(|c| (*c, Action::Block)).collect(), rule, reason)
    }

    fn block(actions: Vec<(&'static str, Action)>, rule: impl Into<String>, reason: String) -> Self {
        Self { decision: Decision::Block, actions, rule: rule.into(), reason: Some(reason) }
    }

    pub fn with(&self, action: Action) -> Vec<&'static str> {
        self.actions.iter().filter(|(_, a)| *a == action).map(|(c, _)| *c).collect()
    }

    /// Categories that leave as they are.
    pub fn sent(&self) -> Vec<&'static str> {
        if self.decision == Decision::Block { Vec::new() } else { self.with(Action::Allow) }
    }
}

/// Decides one transfer. `required`: the categories cannot be rewritten (a channel send needs
/// the address and the text as they are), so anything but `allow` blocks.
pub fn decide(policy: &TenantPolicy, registry: &Registry, dest: &Destination, cats: &[&'static str], required: bool, now: i64) -> Verdict {
    if let Some(id) = &dest.registry_id {
        let refusal = match registry.get(id) {
            None => Some(format!("{} is not in the subprocessor registry", dest.name)),
            Some(s) => match s.standing(now) {
                Standing::Retired => Some(format!("subprocessor {id} is retired")),
                Standing::Announced { effective_at } => Some(format!("subprocessor {id} is announced and not used before {effective_at}")),
                Standing::Active => match policy.authorizations.get(id) {
                    Some(Authorization::Objected) => Some(format!("the tenant objected to subprocessor {id}")),
                    None => Some(format!("subprocessor {id} is not approved by the tenant (PUT /v1/subprocessors/{id}/authorization)")),
                    Some(Authorization::Approved) => cats
                        .iter()
                        .find(|c| **c != categories::CONTACT_ID && !s.categories.iter().any(|x| x == *c))
                        .map(|c| format!("subprocessor {id} may not receive {c}")),
                },
            },
        };
        if let Some(reason) = refusal {
            return Verdict::block(cats.iter().map(|c| (*c, Action::Block)).collect(), "authorization", reason);
        }
    }
    let fallback = transfer_default(policy, registry, dest);
    let mut actions = Vec::with_capacity(cats.len());
    let mut deciding: Vec<String> = Vec::new();
    let mut blocked: Option<(String, String)> = None;
    for &category in cats {
        let (action, label) = match policy.rules.iter().find(|r| r.applies(dest, category)) {
            Some(rule) => (rule.action, rule.label()),
            None => fallback.clone(),
        };
        let refused = action == Action::Block || (required && action != Action::Allow);
        if refused && blocked.is_none() {
            let why = if action == Action::Block {
                format!("{category} to {} blocked by {label}", dest.name)
            } else {
                format!("{category} is needed to send through {} but {label} says {}", dest.name, action.as_str())
            };
            blocked = Some((label.clone(), why));
        }
        if !deciding.contains(&label) {
            deciding.push(label);
        }
        actions.push((category, if refused { Action::Block } else { action }));
    }
    if let Some((rule, reason)) = blocked {
        return Verdict::block(actions, rule, reason);
    }
    if cats.is_empty() {
        deciding.push("no personal data".into());
    }
    let decision = if actions.iter().all(|(_, a)| *a == Action::Allow) { Decision::Allow } else { Decision::Transform };
    Verdict { decision, actions, rule: deciding.join(", "), reason: None }
}

/// The region's default for a destination, with the ground it rests on.
fn transfer_default(policy: &TenantPolicy, registry: &Registry, dest: &Destination) -> (Action, String) {
    if !dest.third_party {
        return (Action::Allow, "default: no third party".into());
    }
    if !policy.gdpr {
        return (Action::Allow, format!("default: region {} has no transfer rules", policy.region));
    }
    if dest.countries.is_empty() {
        return (Action::Block, "default: the destination declares no country".into());
    }
    let mechanism = dest.mechanism.as_deref().unwrap_or("none");
    let mut grounds: Vec<String> = Vec::new();
    for country in &dest.countries {
        let ground = if registry.in_eea(country) {
            "EEA".to_owned()
        } else {
            match (registry.adequacy(country), mechanism) {
                (Some(d), _) if d.scope == "all" => format!("adequacy ({country})"),
                (Some(d), "dpf") if d.scope == "dpf" => format!("dpf ({country})"),
                (_, "scc" | "bcr") => format!("{mechanism} ({country})"),
                (_, "dpf") => return (Action::Block, format!("default: the DPF covers only certified US organisations, not {country}")),
                (_, "adequacy") => return (Action::Block, format!("default: no adequacy decision covers {country}")),
                _ => return (Action::Block, format!("default: no transfer mechanism for {country}")),
            }
        };
        if !grounds.contains(&ground) {
            grounds.push(ground);
        }
    }
    (Action::Allow, format!("default: {}", grounds.join(", ")))
}

/// Tenant policies, cached briefly; the registry, replaceable while running.
pub struct Policies {
    registry: RwLock<Arc<Registry>>,
    /// The channel kinds: where each one's sends go.
    kinds: Arc<Kinds>,
    config: Arc<Config>,
    cache: Mutex<HashMap<Uuid, (Arc<TenantPolicy>, Instant)>>,
}

/// How long another process's policy change may take to apply here.
const CACHE_TTL: Duration = Duration::from_secs(5);

impl Policies {
    pub fn new(registry: Registry, kinds: Arc<Kinds>, config: Arc<Config>) -> Self {
        Self { registry: RwLock::new(Arc::new(registry)), kinds, config, cache: Mutex::new(HashMap::new()) }
    }

    pub fn kinds(&self) -> &Kinds {
        &self.kinds
    }

    /// Where a channel's sends go ([`Destination::channel`]).
    pub fn channel_destination(&self, kind: &str, channel_id: Uuid, settings: &serde_json::Value) -> Destination {
        Destination::channel(&self.registry(), self.kinds.get(kind), kind, channel_id, settings)
    }

    /// The data categories a send on a channel of `kind` carries ([`channel_categories`]).
    pub fn channel_categories(&self, kind: &str, attachments: bool) -> Vec<&'static str> {
        channel_categories(self.kinds.get(kind).map_or(AddressKind::Telegram, |k| k.address_kind()), attachments)
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace_registry(&self, registry: Registry) {
        *self.registry.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(registry);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Forgets a tenant's cached policy (after this process changed it).
    pub fn invalidate(&self, tenant_id: Uuid) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(&tenant_id);
    }

    pub async fn tenant(&self, db: &Db, tenant_id: Uuid) -> Result<Arc<TenantPolicy>, StoreError> {
        if let Some((p, at)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&tenant_id)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(p.clone());
        }
        let region = db.tenant(tenant_id).await?.map(|t| t.region).unwrap_or_default();
        let document = store::policies::document(db, tenant_id).await?;
        let registry = self.registry();
        let rules = rules::compile(&document.unwrap_or_default(), &registry);
        let authorizations = store::policies::authorizations(db, tenant_id)
            .await?
            .into_iter()
            .map(|a| (a.subprocessor_id, if a.decision == "objected" { Authorization::Objected } else { Authorization::Approved }))
            .collect();
        let policy = Arc::new(TenantPolicy { gdpr: self.config.region_is_gdpr(&region), region, rules, authorizations });
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(tenant_id, (policy.clone(), Instant::now()));
        Ok(policy)
    }

    /// The verdict for one transfer of `tenant_id`'s data.
    pub async fn decide(&self, db: &Db, tenant_id: Uuid, dest: &Destination, cats: &[&'static str], required: bool) -> Result<Verdict, StoreError> {
        let policy = self.tenant(db, tenant_id).await?;
        Ok(decide(&policy, &self.registry(), dest, cats, required, store::now_micros()))
    }
}

/// The document as stored, or the empty one.
pub async fn document(db: &Db, tenant_id: Uuid) -> Result<PolicyDocument, StoreError> {
    Ok(store::policies::document(db, tenant_id).await?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eu(rules: &[serde_json::Value], approved: &[&str]) -> TenantPolicy {
        let registry = Registry::built_in();
        let doc = rules::parse(&serde_json::json!({ "rules": rules }), &registry).unwrap();
        TenantPolicy {
            region: "eu".into(),
            gdpr: true,
            rules: rules::compile(&doc, &registry),
            authorizations: approved.iter().map(|id| (id.to_string(), Authorization::Approved)).collect(),
        }
    }

    const HOOK_CATS: &[&str] = &[categories::CONTACT_ID, categories::CONTACT_EMAIL, categories::CONTACT_PHONE, categories::MESSAGE_CONTENT];

    #[test]
    fn eu_defaults_follow_chapter_v() {
        let r = Registry::built_in();
        let p = eu(&[], &[]);
        let at = |country: Option<&str>, m: Option<&str>| {
            decide(&p, &r, &Destination::webhook(Uuid::nil(), country.map(Into::into), m.map(Into::into)), HOOK_CATS, false, 0)
        };
        assert_eq!(at(Some("DE"), None).decision, Decision::Allow);
        assert_eq!(at(Some("GB"), Some("none")).decision, Decision::Allow);
        assert_eq!(at(Some("US"), Some("scc")).decision, Decision::Allow);
        assert_eq!(at(Some("US"), Some("dpf")).decision, Decision::Allow);
        assert_eq!(at(Some("IN"), Some("bcr")).decision, Decision::Allow);
        let none = at(Some("US"), Some("none"));
        assert_eq!(none.decision, Decision::Block);
        assert!(none.rule.contains("no transfer mechanism for US"), "{none:?}");
        assert_eq!(at(Some("IN"), Some("dpf")).decision, Decision::Block);
        assert_eq!(at(Some("IN"), Some("adequacy")).decision, Decision::Block);
        assert_eq!(at(None, Some("scc")).decision, Decision::Block);
        // Events without personal data go anywhere.
        let empty = decide(&p, &r, &Destination::webhook(Uuid::nil(), Some("US".into()), None), &[], false, 0);
        assert_eq!(empty.decision, Decision::Allow);
    }

    #[test]
    fn the_first_matching_rule_wins_per_category() {
        let r = Registry::built_in();
        let p = eu(
            &[
                serde_json::json!({"destination": "mechanism:scc", "categories": ["contact.email"], "action": "redact"}),
                serde_json::json!({"destination": "webhook:*", "categories": ["contact.email", "contact.phone"], "action": "pseudonymize"}),
            ],
            &[],
        );
        let v = decide(&p, &r, &Destination::webhook(Uuid::nil(), Some("US".into()), Some("scc".into())), HOOK_CATS, false, 0);
        assert_eq!(v.decision, Decision::Transform);
        assert_eq!(v.with(Action::Redact), vec![categories::CONTACT_EMAIL]);
        assert_eq!(v.with(Action::Pseudonymize), vec![categories::CONTACT_PHONE]);
        assert_eq!(v.sent(), vec![categories::CONTACT_ID, categories::MESSAGE_CONTENT]);
        assert!(v.rule.contains("rules[0]") && v.rule.contains("rules[1]") && v.rule.contains("default: scc (US)"), "{}", v.rule);
        // A rule can open what the default closes.
        let open = eu(&[serde_json::json!({"destination": "country:US", "categories": ["*"], "action": "allow"})], &[]);
        let v = decide(&open, &r, &Destination::webhook(Uuid::nil(), Some("US".into()), Some("none".into())), HOOK_CATS, false, 0);
        assert_eq!(v.decision, Decision::Allow);
    }

    #[test]
    fn subprocessors_need_approval_and_their_categories() {
        let r = Registry::built_in();
        let kinds = crate::channels::Kinds::described();
        let sms = Destination::channel(&r, kinds.get("twilio_sms"), "twilio_sms", Uuid::nil(), &serde_json::json!({}));
        assert_eq!(sms.name, "subprocessor:twilio");
        let cats = [categories::CONTACT_PHONE, categories::MESSAGE_CONTENT];
        let v = decide(&eu(&[], &[]), &r, &sms, &cats, true, 0);
        assert_eq!((v.decision, v.rule.as_str()), (Decision::Block, "authorization"));
        assert!(v.reason.unwrap().contains("not approved"));
        assert_eq!(decide(&eu(&[], &["twilio"]), &r, &sms, &cats, true, 0).decision, Decision::Allow);
        let v = decide(&eu(&[], &["twilio"]), &r, &sms, &[categories::CONTACT_EMAIL], true, 0);
        assert!(v.reason.unwrap().contains("may not receive contact.email"));
        // A needed category cannot be rewritten: the send is blocked, naming the rule.
        let p = eu(&[serde_json::json!({"destination": "subprocessor:twilio", "categories": ["message.content"], "action": "redact"})], &["twilio"]);
        let v = decide(&p, &r, &sms, &cats, true, 0);
        assert_eq!((v.decision, v.rule.as_str()), (Decision::Block, "rules[0]"));
        // Telegram processes outside the EEA without a mechanism: approved is not enough.
        let tg = Destination::channel(&r, kinds.get("telegram"), "telegram", Uuid::nil(), &serde_json::json!({}));
        let v = decide(&eu(&[], &["telegram"]), &r, &tg, &[categories::CONTACT_HANDLE], true, 0);
        assert_eq!(v.decision, Decision::Block);
        // The web chat reaches no third party.
        let chat = Destination::channel(&r, kinds.get("webchat"), "webchat", Uuid::nil(), &serde_json::json!({}));
        assert_eq!(decide(&eu(&[], &[]), &r, &chat, &cats, true, 0).decision, Decision::Allow);
    }
}
