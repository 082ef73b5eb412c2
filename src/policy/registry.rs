//! The subprocessor registry and the adequacy list: data read from TOML, never hard-coded.
//!
//! `config/subprocessors.toml` (or the file `subprocessors.registry_file` names) says who
//! receives personal data when a channel sends, where they process it and on what ground it
//! may leave the EEA; `config/adequacy.toml` which countries need no safeguard.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::categories;

const BUILT_IN_REGISTRY: &str = include_str!("../../config/subprocessors.toml");
const BUILT_IN_ADEQUACY: &str = include_str!("../../config/adequacy.toml");

/// Chapter V transfer mechanisms a destination may declare.
pub const TRANSFER_MECHANISMS: &[&str] = &["adequacy", "dpf", "scc", "bcr", "none"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Subprocessor {
    pub id: String,
    pub legal_entity: String,
    pub service: String,
    pub processing_countries: Vec<String>,
    pub storage_region: String,
    pub transfer_mechanism: String,
    pub categories: Vec<String>,
    #[serde(default)]
    pub dpa_url: Option<String>,
    pub status: String,
    /// RFC 3339; required when `status` is `announced`.
    #[serde(default)]
    pub effective_at: Option<String>,
    #[serde(default)]
    pub channel_kind: Option<String>,
    #[serde(default)]
    pub provider_region: Option<String>,
}

/// Whether a subprocessor may be used now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    Active,
    /// Announced, not yet in effect.
    Announced { effective_at: String },
    Retired,
}

impl Subprocessor {
    pub fn effective_micros(&self) -> Option<i64> {
        let at = self.effective_at.as_deref()?;
        let t = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
        Some((t.unix_timestamp_nanos() / 1_000) as i64)
    }

    /// Its standing at `now` (microseconds): an announced one is active from its effective date.
    pub fn standing(&self, now: i64) -> Standing {
        match self.status.as_str() {
            "retired" => Standing::Retired,
            "announced" => match self.effective_micros() {
                Some(at) if at <= now => Standing::Active,
                _ => Standing::Announced { effective_at: self.effective_at.clone().unwrap_or_default() },
            },
            _ => Standing::Active,
        }
    }

    /// What tenants are told changed when this entry's fingerprint moves.
    pub fn fingerprint(&self, now: i64) -> String {
        let standing = match self.standing(now) {
            Standing::Active => "active",
            Standing::Announced { .. } => "announced",
            Standing::Retired => "retired",
        };
        format!(
            "{standing}|{}|{}|{}|{}|{}",
            self.effective_at.as_deref().unwrap_or(""),
            self.legal_entity,
            self.processing_countries.join(","),
            self.transfer_mechanism,
            self.categories.join(",")
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    subprocessor: Vec<Subprocessor>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdequacyDecision {
    pub country: String,
    pub decision: String,
    /// `all`, or `dpf`: only for recipients declaring the Data Privacy Framework.
    pub scope: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdequacyFile {
    eea: Vec<String>,
    #[serde(default)]
    decision: Vec<AdequacyDecision>,
}

/// The registry and the adequacy list, loaded once (and again when the file changes).
#[derive(Debug, Clone)]
pub struct Registry {
    pub subprocessors: Vec<Subprocessor>,
    eea: Vec<String>,
    adequacy: HashMap<String, AdequacyDecision>,
}

#[derive(Debug, thiserror::Error)]
#[error("subprocessor registry: {0}")]
pub struct RegistryError(pub String);

impl Registry {
    /// The built-in registry.
    pub fn built_in() -> Self {
        Self::parse(BUILT_IN_REGISTRY).expect("the built-in registry is valid")
    }

    /// The registry `path` names, or the built-in one when `path` is empty.
    pub fn load(path: &str) -> Result<Self, RegistryError> {
        if path.is_empty() {
            return Ok(Self::built_in());
        }
        let text = std::fs::read_to_string(Path::new(path)).map_err(|e| RegistryError(format!("{path}: {e}")))?;
        Self::parse(&text).map_err(|e| RegistryError(format!("{path}: {}", e.0)))
    }

    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let file: RegistryFile = toml::from_str(text).map_err(|e| RegistryError(e.to_string()))?;
        let adequacy: AdequacyFile = toml::from_str(BUILT_IN_ADEQUACY).map_err(|e| RegistryError(format!("adequacy list: {e}")))?;
        let mut seen = std::collections::HashSet::new();
        for (i, s) in file.subprocessor.iter().enumerate() {
            let at = |field: &str| format!("subprocessor[{i}] ({}).{field}", s.id);
            if s.id.is_empty() || !s.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(RegistryError(format!("{}: letters, digits, - and _ only", at("id"))));
            }
            if !seen.insert(s.id.clone()) {
                return Err(RegistryError(format!("{}: listed twice", at("id"))));
            }
            if !TRANSFER_MECHANISMS.contains(&s.transfer_mechanism.as_str()) {
                return Err(RegistryError(format!("{}: one of {}", at("transfer_mechanism"), TRANSFER_MECHANISMS.join(", "))));
            }
            if !["active", "announced", "retired"].contains(&s.status.as_str()) {
                return Err(RegistryError(format!("{}: active, announced or retired", at("status"))));
            }
            if s.status == "announced" && s.effective_micros().is_none() {
                return Err(RegistryError(format!("{}: an announced subprocessor needs an RFC 3339 effective_at", at("effective_at"))));
            }
            if let Some(c) = s.processing_countries.iter().find(|c| !is_country_code(c)) {
                return Err(RegistryError(format!("{}: {c:?} is not an ISO 3166-1 alpha-2 code", at("processing_countries"))));
            }
            if let Some(c) = s.categories.iter().find(|c| !categories::ALL.contains(&c.as_str())) {
                return Err(RegistryError(format!("{}: unknown data category {c:?}", at("categories"))));
            }
        }
        Ok(Self {
            subprocessors: file.subprocessor,
            eea: adequacy.eea,
            adequacy: adequacy.decision.into_iter().map(|d| (d.country.clone(), d)).collect(),
        })
    }

    pub fn get(&self, id: &str) -> Option<&Subprocessor> {
        self.subprocessors.iter().find(|s| s.id == id)
    }

    /// The subprocessor a channel of `kind` sends through, given its `region` setting.
    pub fn for_channel(&self, kind: &str, provider_region: Option<&str>) -> Option<&Subprocessor> {
        let mut found = self.subprocessors.iter().filter(|s| s.channel_kind.as_deref() == Some(kind));
        match provider_region {
            Some(region) => found.find(|s| s.provider_region.as_deref() == Some(region)),
            None => found.next(),
        }
    }

    pub fn in_eea(&self, country: &str) -> bool {
        self.eea.iter().any(|c| c == country)
    }

    pub fn adequacy(&self, country: &str) -> Option<&AdequacyDecision> {
        self.adequacy.get(country)
    }
}

pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_registry_names_real_providers() {
        let r = Registry::built_in();
        assert_eq!(r.for_channel("twilio_sms", Some("us1")).unwrap().id, "twilio");
        assert_eq!(r.for_channel("twilio_sms", Some("ie1")).unwrap().id, "twilio-ie1");
        assert_eq!(r.for_channel("telegram", None).unwrap().id, "telegram");
        assert!(r.for_channel("webchat", None).is_none());
        assert!(r.in_eea("DE") && r.in_eea("NO") && !r.in_eea("US"));
        assert_eq!(r.adequacy("US").unwrap().scope, "dpf");
    }

    #[test]
    fn a_broken_registry_is_refused_with_the_field() {
        let bad = r#"[[subprocessor]]
id = "x"
legal_entity = "X"
service = "s"
processing_countries = ["US"]
storage_region = "US"
transfer_mechanism = "handshake"
categories = []
status = "active"
"#;
        let err = Registry::parse(bad).unwrap_err().0;
        assert!(err.contains("transfer_mechanism"), "{err}");
        let announced = bad.replace("handshake", "scc").replace("\"active\"", "\"announced\"");
        assert!(Registry::parse(&announced).unwrap_err().0.contains("effective_at"));
    }

    #[test]
    fn an_announced_subprocessor_comes_into_effect_on_its_date() {
        let text = r#"[[subprocessor]]
id = "later"
legal_entity = "L"
service = "s"
processing_countries = ["DE"]
storage_region = "DE"
transfer_mechanism = "none"
categories = ["contact.phone"]
status = "announced"
effective_at = "2030-01-01T00:00:00Z"
"#;
        let r = Registry::parse(text).unwrap();
        let s = r.get("later").unwrap();
        let at = s.effective_micros().unwrap();
        assert!(matches!(s.standing(at - 1), Standing::Announced { .. }));
        assert_eq!(s.standing(at), Standing::Active);
        assert_ne!(s.fingerprint(at - 1), s.fingerprint(at));
    }
}
