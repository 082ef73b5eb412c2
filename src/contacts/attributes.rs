//! Custom attributes: fields a tenant adds to contacts and conversations ("plan", "order value",
//! "renewal date"), each with a type the hub checks — text, number, date, boolean, or one of a
//! list — so integrations and operators cannot store a wrong value. An attribute marked
//! personal is sealed under the contact's data key like the contact's own fields (and goes with
//! it on erasure); the others are stored as canonical JSON so the inbox can filter on them.

use std::collections::HashMap;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::privacy::{CryptoError, DataKey};
use crate::store::attributes::{self as rows, DefinitionRow};
use crate::store::{Conn, Db, StoreError, Tx};

pub const TYPES: &[&str] = &["text", "number", "date", "boolean", "list"];
pub const OWNERS: &[&str] = &["contact", "conversation"];

#[derive(Debug, thiserror::Error)]
pub enum AttributeError {
    /// `field` names the attribute (`custom_attributes.plan`) or the definition's field.
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

fn invalid(field: impl Into<String>, detail: impl Into<String>) -> AttributeError {
    AttributeError::Invalid { field: field.into(), detail: detail.into() }
}

/// What a value is sealed as: the attribute's definition names the column.
fn sealed_as(definition_id: Uuid) -> String {
    format!("attribute.{definition_id}")
}

/// What an attribute belongs to (the API's `applies_to`).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // named in the API description; values travel as the strings of OWNERS
pub enum AttributeOwner {
    Contact,
    Conversation,
}

/// An attribute's type (the API's `type`).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // named in the API description; values travel as the strings of TYPES
pub enum AttributeType {
    Text,
    Number,
    Date,
    Boolean,
    List,
}

/// A custom attribute's definition.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AttributeDefinition)]
pub struct DefinitionView {
    pub id: Uuid,
    #[schema(value_type = AttributeOwner)]
    pub applies_to: String,
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$")]
    pub key: String,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = AttributeType)]
    pub kind: String,
    /// The choices of a list attribute.
    pub options: Option<Vec<String>>,
    /// Sealed under the contact's key; cannot be filtered on.
    pub personal: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A definition as the API shows it.
pub fn view(d: &DefinitionRow) -> DefinitionView {
    DefinitionView {
        id: d.id,
        applies_to: d.applies_to.clone(),
        key: d.key.clone(),
        name: d.name.clone(),
        kind: d.kind.clone(),
        options: d.options.as_deref().and_then(|o| serde_json::from_str(o).ok()),
        personal: d.personal,
        created_at: crate::domain::rfc3339(d.created_at),
    }
}

/// Checks a new definition.
pub fn check_definition(applies_to: &str, key: &str, kind: &str, options: Option<&[String]>) -> Result<(), AttributeError> {
    if !OWNERS.contains(&applies_to) {
        return Err(invalid("applies_to", format!("must be one of {}", OWNERS.join(", "))));
    }
    let key_ok = (1..=40).contains(&key.len()) && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') && key.starts_with(|c: char| c.is_ascii_lowercase());
    if !key_ok {
        return Err(invalid("key", "1 to 40 characters: lower-case letters, digits and _, starting with a letter"));
    }
    if !TYPES.contains(&kind) {
        return Err(invalid("type", format!("must be one of {}", TYPES.join(", "))));
    }
    match (kind, options) {
        ("list", Some(options)) if !options.is_empty() && options.len() <= 100 && options.iter().all(|o| !o.trim().is_empty() && o.chars().count() <= 100) => Ok(()),
        ("list", _) => Err(invalid("options", "a list attribute needs 1 to 100 options of up to 100 characters")),
        (_, Some(_)) => Err(invalid("options", "only list attributes have options")),
        _ => Ok(()),
    }
}

/// A value checked against its definition, as canonical JSON.
pub fn canonical(d: &DefinitionRow, value: &Value) -> Result<Value, AttributeError> {
    let field = format!("custom_attributes.{}", d.key);
    let wrong = |what: &str| invalid(field.clone(), format!("must be {what}"));
    Ok(match d.kind.as_str() {
        "text" => match value.as_str() {
            Some(s) if s.chars().count() <= 1000 => Value::String(s.to_owned()),
            _ => return Err(wrong("text of at most 1000 characters")),
        },
        "number" => match value {
            // One spelling per number (5 and 5.0 are the same value), so filters find it.
            Value::Number(n) => match n.as_f64().filter(|f| f.is_finite()) {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
                Some(f) => serde_json::Number::from_f64(f).map(Value::Number).ok_or_else(|| wrong("a number"))?,
                None => return Err(wrong("a number")),
            },
            _ => return Err(wrong("a number")),
        },
        "boolean" => match value {
            Value::Bool(_) => value.clone(),
            _ => return Err(wrong("true or false")),
        },
        "date" => {
            let text = value.as_str().ok_or_else(|| wrong("a date such as 2026-01-31"))?;
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(text, &format).map_err(|_| wrong("a date such as 2026-01-31"))?;
            Value::String(text.to_owned())
        }
        _ => {
            let options: Vec<String> = d.options.as_deref().and_then(|o| serde_json::from_str(o).ok()).unwrap_or_default();
            match value.as_str() {
                Some(s) if options.iter().any(|o| o == s) => Value::String(s.to_owned()),
                _ => return Err(wrong(&format!("one of {}", options.join(", ")))),
            }
        }
    })
}

/// A value typed into a filter (`attr.plan=gold`, `attr.seats=5`) as the canonical JSON stored.
pub fn filter_value(d: &DefinitionRow, typed: &str) -> Result<String, AttributeError> {
    if d.personal {
        return Err(invalid(format!("attr.{}", d.key), "a personal attribute is sealed and cannot be filtered on"));
    }
    let value = match d.kind.as_str() {
        "number" => typed.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number).unwrap_or(Value::Null),
        "boolean" => match typed {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::Null,
        },
        _ => Value::String(typed.to_owned()),
    };
    let checked = canonical(d, &value).map_err(|e| match e {
        AttributeError::Invalid { detail, .. } => invalid(format!("attr.{}", d.key), detail),
        other => other,
    })?;
    Ok(checked.to_string())
}

/// Writes the attributes of a change (`null` removes one) for an owner, in `tx`. Keys the
/// tenant has not defined for that kind of owner are refused, naming them.
pub async fn write(tx: &mut Tx, definitions: &[DefinitionRow], applies_to: &str, owner_id: Uuid, key: &DataKey, change: &Map<String, Value>) -> Result<(), AttributeError> {
    let mut checked = Vec::with_capacity(change.len());
    for (name, value) in change {
        let Some(d) = definitions.iter().find(|d| d.applies_to == applies_to && &d.key == name) else {
            return Err(invalid(format!("custom_attributes.{name}"), format!("no {applies_to} attribute with this key; define it first (POST /v1/attributes)")));
        };
        let stored = if value.is_null() { None } else { Some(canonical(d, value)?.to_string()) };
        checked.push((d, stored));
    }
    for (d, stored) in checked {
        match (stored, d.personal) {
            (None, _) => rows::set(tx, applies_to, owner_id, d.id, None, None).await?,
            (Some(json), true) => {
                let sealed = key.seal(&sealed_as(d.id), owner_id, &json)?;
                rows::set(tx, applies_to, owner_id, d.id, None, Some(&sealed)).await?
            }
            (Some(json), false) => rows::set(tx, applies_to, owner_id, d.id, Some(&json), None).await?,
        }
    }
    Ok(())
}

/// The attributes of owners, opened: owner → (key → value). `keys` opens personal ones.
pub async fn read<'a>(conn: impl Into<Conn<'a>>, definitions: &[DefinitionRow], applies_to: &str, owners: &[Uuid], keys: &HashMap<Uuid, DataKey>) -> Result<HashMap<Uuid, Map<String, Value>>, AttributeError> {
    let mut out: HashMap<Uuid, Map<String, Value>> = owners.iter().map(|o| (*o, Map::new())).collect();
    for row in rows::values(conn, applies_to, owners).await? {
        let Some(d) = definitions.iter().find(|d| d.id == row.definition_id) else { continue };
        let json = match (row.value, row.sealed, keys.get(&row.owner_id)) {
            (Some(json), _, _) => json,
            (None, Some(sealed), Some(key)) => key.open(&sealed_as(d.id), row.owner_id, &sealed)?,
            _ => continue,
        };
        out.entry(row.owner_id).or_default().insert(d.key.clone(), serde_json::from_str(&json).unwrap_or(Value::Null));
    }
    Ok(out)
}

/// The tenant's definitions.
pub async fn definitions(db: &Db, tenant_id: Uuid) -> Result<Vec<DefinitionRow>, StoreError> {
    rows::definitions(db, tenant_id).await
}
