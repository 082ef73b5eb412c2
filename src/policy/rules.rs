//! A tenant's routing rules: the documented instructions (Art. 28(3)(a)) on where its data may go.
//!
//! `{"rules": [{"destination": …, "categories": [...], "action": …}]}`. For each data category of
//! a transfer the first rule whose destination and categories match decides; categories no rule
//! matches fall to the region's defaults.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::Destination;
use super::registry::{Registry, TRANSFER_MECHANISMS, is_country_code};
use crate::domain::categories;

/// What happens to one category of data on its way to a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    /// The field is removed from the payload.
    Redact,
    /// The field is replaced by a stable keyed token.
    Pseudonymize,
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Redact => "redact",
            Self::Pseudonymize => "pseudonymize",
            Self::Block => "block",
        }
    }
}

/// Which destinations a rule speaks of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Any,
    AnyWebhook,
    Webhook(Uuid),
    Subprocessor(String),
    Country(String),
    Mechanism(String),
}

impl Selector {
    pub fn matches(&self, d: &Destination) -> bool {
        match self {
            Self::Any => true,
            Self::AnyWebhook => d.kind == "webhook",
            Self::Webhook(id) => d.kind == "webhook" && d.name == format!("webhook:{id}"),
            Self::Subprocessor(id) => d.name == format!("subprocessor:{id}"),
            Self::Country(c) => d.countries.iter().any(|x| x == c),
            Self::Mechanism(m) => d.mechanism.as_deref() == Some(m.as_str()),
        }
    }
}

/// One rule: what happens to some categories of data on their way to some destinations.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `*`, `webhook:*`, `webhook:<endpoint id>`, `subprocessor:<registry id>`,
    /// `country:<ISO 3166-1 alpha-2>` or `mechanism:<adequacy|dpf|scc|bcr|none>`.
    #[schema(pattern = "^(\\*|webhook:.+|subprocessor:.+|country:[A-Z]{2}|mechanism:(adequacy|dpf|scc|bcr|none))$")]
    pub destination: String,
    /// Data categories, or `*` for all; `contact.id` can be allowed or blocked, not rewritten.
    #[schema(value_type = Vec<DataCategory>, min_items = 1)]
    pub categories: Vec<String>,
    pub action: Action,
}

/// A category of personal data, as rules and the transfer log name it.
pub struct DataCategory;

impl utoipa::PartialSchema for DataCategory {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let names = std::iter::once("*").chain(crate::domain::categories::ALL.iter().copied());
        utoipa::openapi::schema::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String).enum_values(Some(names)).into()
    }
}

impl utoipa::ToSchema for DataCategory {}

/// A tenant's routing rules: for each data category of a transfer the first matching rule
/// decides; categories no rule matches fall to the region's defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Policy)]
pub struct PolicyDocument {
    #[schema(max_items = 200)]
    pub rules: Vec<Rule>,
}

/// A rule ready to match.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub index: usize,
    pub selector: Selector,
    /// Empty: every category.
    pub categories: Vec<String>,
    pub action: Action,
}

impl CompiledRule {
    pub fn applies(&self, d: &Destination, category: &str) -> bool {
        (self.categories.is_empty() || self.categories.iter().any(|c| c == category)) && self.selector.matches(d)
    }

    pub fn label(&self) -> String {
        format!("rules[{}]", self.index)
    }
}

/// A validation failure naming the field (`rules[2].destination`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub field: String,
    pub detail: String,
}

fn error(field: String, detail: impl Into<String>) -> RuleError {
    RuleError { field, detail: detail.into() }
}

/// Rules per document at most.
pub const MAX_RULES: usize = 200;

/// Validates a policy document from its JSON, naming the first bad field.
pub fn parse(value: &Value, registry: &Registry) -> Result<PolicyDocument, RuleError> {
    let Some(object) = value.as_object() else { return Err(error("rules".into(), "the body must be an object with \"rules\"")) };
    if let Some(other) = object.keys().find(|k| *k != "rules") {
        // A member without a name (`{"": 1}`) is named as the body it is in.
        let field = if other.is_empty() { "body".to_owned() } else { other.clone() };
        return Err(error(field, "unknown field; the document has only \"rules\""));
    }
    let Some(rules) = object.get("rules").and_then(Value::as_array) else {
        return Err(error("rules".into(), "must be an array of rules"));
    };
    if rules.len() > MAX_RULES {
        return Err(error("rules".into(), format!("at most {MAX_RULES} rules")));
    }
    let mut out = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let at = |field: &str| format!("rules[{i}].{field}");
        let Some(rule) = rule.as_object() else { return Err(error(format!("rules[{i}]"), "must be an object")) };
        if let Some(other) = rule.keys().find(|k| !["destination", "categories", "action"].contains(&k.as_str())) {
            let field = if other.is_empty() { format!("rules[{i}]") } else { at(other) };
            return Err(error(field, "unknown field; a rule has destination, categories and action"));
        }
        let destination = rule.get("destination").and_then(Value::as_str).ok_or_else(|| error(at("destination"), "required, a string"))?;
        selector(destination, registry).map_err(|detail| error(at("destination"), detail.to_string()))?;
        let list = rule.get("categories").and_then(Value::as_array).ok_or_else(|| error(at("categories"), "required, an array"))?;
        if list.is_empty() {
            return Err(error(at("categories"), "name at least one category, or \"*\""));
        }
        let mut cats = Vec::new();
        for (j, c) in list.iter().enumerate() {
            let c = c.as_str().ok_or_else(|| error(format!("rules[{i}].categories[{j}]"), "must be a string"))?;
            if c != "*" && !categories::ALL.contains(&c) {
                return Err(error(format!("rules[{i}].categories[{j}]"), format!("unknown category {c:?}; known: *, {}", categories::ALL.join(", "))));
            }
            cats.push(c.to_owned());
        }
        let action_text = rule.get("action").and_then(Value::as_str).ok_or_else(|| error(at("action"), "required, a string"))?;
        let action = match action_text {
            "allow" => Action::Allow,
            "redact" => Action::Redact,
            "pseudonymize" => Action::Pseudonymize,
            "block" => Action::Block,
            other => return Err(error(at("action"), format!("{other:?}: must be allow, redact, pseudonymize or block"))),
        };
        if matches!(action, Action::Redact | Action::Pseudonymize) && cats.iter().any(|c| c == categories::CONTACT_ID) {
            return Err(error(at("categories"), "contact.id identifies the payload's subject: it can be allowed or blocked, not rewritten"));
        }
        out.push(Rule { destination: destination.to_owned(), categories: cats, action });
    }
    Ok(PolicyDocument { rules: out })
}

/// A destination pattern that does not parse, with what the valid ones look like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(String);

/// Parses a destination pattern.
pub fn selector(text: &str, registry: &Registry) -> Result<Selector, SelectorError> {
    let bad = || {
        SelectorError(format!(
            "{text:?}: use \"*\", \"webhook:*\", \"webhook:<endpoint id>\", \"subprocessor:<id>\", \"country:<ISO 3166 code>\" or \"mechanism:<{}>\"",
            TRANSFER_MECHANISMS.join("|")
        ))
    };
    if text == "*" {
        return Ok(Selector::Any);
    }
    let (kind, rest) = text.split_once(':').ok_or_else(bad)?;
    match kind {
        "webhook" if rest == "*" => Ok(Selector::AnyWebhook),
        "webhook" => rest.parse().map(Selector::Webhook).map_err(|_| bad()),
        "subprocessor" => {
            let relay = rest.strip_prefix("email-relay:").is_some_and(|id| id.parse::<Uuid>().is_ok());
            if relay || registry.get(rest).is_some() {
                Ok(Selector::Subprocessor(rest.to_owned()))
            } else {
                Err(SelectorError(format!("{text:?}: no subprocessor {rest:?} in the registry (GET /v1/subprocessors lists them)")))
            }
        }
        "country" if is_country_code(rest) => Ok(Selector::Country(rest.to_owned())),
        "mechanism" if TRANSFER_MECHANISMS.contains(&rest) => Ok(Selector::Mechanism(rest.to_owned())),
        _ => Err(bad()),
    }
}

/// Compiles a stored (already validated) document; rules that no longer parse (a subprocessor
/// removed from the registry) are kept as never matching.
pub fn compile(doc: &PolicyDocument, registry: &Registry) -> Vec<CompiledRule> {
    doc.rules
        .iter()
        .enumerate()
        .filter_map(|(index, r)| {
            let selector = selector(&r.destination, registry).ok()?;
            let categories = if r.categories.iter().any(|c| c == "*") { Vec::new() } else { r.categories.clone() };
            Some(CompiledRule { index, selector, categories, action: r.action })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Policy-shaped documents with arbitrary values in every place.
    fn document() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let text = prop_oneof![
            "\\PC{0,30}",
            prop::sample::select(vec!["*", "webhook:*", "subprocessor:twilio", "country:US", "mechanism:scc", "contact.email", "allow", "redact", "pseudonymize", "block"]).prop_map(str::to_owned),
        ];
        let value = prop_oneof![text.clone().prop_map(Value::from), any::<i64>().prop_map(Value::from), Just(Value::Null), prop::collection::vec(text.clone().prop_map(Value::from), 0..4).prop_map(Value::from)];
        let rule = prop::collection::btree_map(prop::sample::select(vec!["destination", "categories", "action", "note", "x"]).prop_map(str::to_owned), value, 0..5)
            .prop_map(|m| Value::Object(m.into_iter().collect()));
        prop::collection::vec(rule, 0..5).prop_map(|rules| json!({"rules": rules}))
    }

    proptest::proptest! {
        #[test]
        fn any_policy_document_parses_or_names_its_field(doc in document()) {
            match parse(&doc, &Registry::built_in()) {
                Ok(parsed) => { let _ = compile(&parsed, &Registry::built_in()); }
                Err(e) => proptest::prop_assert!(!e.field.is_empty()),
            }
        }
    }

    #[test]
    fn errors_name_the_rule_and_field() {
        let r = Registry::built_in();
        let cases = [
            (json!({"rules": [{"destination": "nowhere", "categories": ["*"], "action": "allow"}]}), "rules[0].destination"),
            (json!({"rules": [{"destination": "*", "categories": ["*"], "action": "allow"}, {"destination": "*", "categories": ["contact.shoe"], "action": "allow"}]}), "rules[1].categories[0]"),
            (json!({"rules": [{"destination": "country:usa", "categories": ["*"], "action": "allow"}]}), "rules[0].destination"),
            (json!({"rules": [{"destination": "*", "categories": ["*"], "action": "shred"}]}), "rules[0].action"),
            (json!({"rules": [{"destination": "*", "categories": [], "action": "allow"}]}), "rules[0].categories"),
            (json!({"rules": [{"destination": "subprocessor:acme", "categories": ["*"], "action": "allow"}]}), "rules[0].destination"),
            (json!({"rules": [{"destination": "*", "categories": ["contact.id"], "action": "redact"}]}), "rules[0].categories"),
            (json!({"rules": [{"destination": "*", "categories": ["*"], "action": "allow", "why": 1}]}), "rules[0].why"),
            (json!({"rule": []}), "rule"),
            (json!({"rules": [], "": 1}), "body"),
            (json!({"rules": [{"destination": "*", "categories": ["*"], "action": "allow", "": 1}]}), "rules[0]"),
        ];
        for (doc, field) in cases {
            assert_eq!(parse(&doc, &r).unwrap_err().field, field, "{doc}");
        }
    }

    #[test]
    fn selectors_match_their_destinations() {
        let r = Registry::built_in();
        let id = Uuid::now_v7();
        let hook = Destination::webhook(id, Some("US".into()), Some("scc".into()));
        assert!(selector("*", &r).unwrap().matches(&hook));
        assert!(selector("webhook:*", &r).unwrap().matches(&hook));
        assert!(selector(&format!("webhook:{id}"), &r).unwrap().matches(&hook));
        assert!(!selector(&format!("webhook:{}", Uuid::now_v7()), &r).unwrap().matches(&hook));
        assert!(selector("country:US", &r).unwrap().matches(&hook));
        assert!(selector("mechanism:scc", &r).unwrap().matches(&hook));
        assert!(!selector("subprocessor:twilio", &r).unwrap().matches(&hook));
    }
}
