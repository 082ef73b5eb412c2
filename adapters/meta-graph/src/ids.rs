//! Meta ids are opaque strings: most arrive as JSON strings, some as numbers (template ids,
//! app ids), and some exceed 2^53, so they are never read through a float.

use serde::{Deserialize, Deserializer};

/// Deserializes a string or an integer into a `String`.
pub fn string_or_number<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Unsigned(u64),
        Signed(i64),
    }
    Ok(match Id::deserialize(de)? {
        Id::Text(s) => s,
        Id::Unsigned(n) => n.to_string(),
        Id::Signed(n) => n.to_string(),
    })
}

/// The same, for optional fields.
pub fn opt_string_or_number<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "string_or_number")] String);
    Ok(Option::<Wrap>::deserialize(de)?.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::string_or_number")]
        id: String,
    }

    #[test]
    fn large_numbers_and_strings_both_read_exactly() {
        let t: T = serde_json::from_str(r#"{"id":27681414235104944}"#).unwrap();
        assert_eq!(t.id, "27681414235104944");
        let t: T = serde_json::from_str(r#"{"id":"1689556908129832"}"#).unwrap();
        assert_eq!(t.id, "1689556908129832");
    }
}
