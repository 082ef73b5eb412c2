//! A JSON field that may be absent (keep), `null` (clear) or a value (set) — what PATCH needs
//! and `Option` cannot express.

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            Some(v) => Self::Set(v),
            None => Self::Clear,
        })
    }
}

impl Patch<String> {
    /// The value to store given the current one.
    pub fn apply<'a>(&'a self, current: Option<&'a str>) -> Option<&'a str> {
        match self {
            Self::Keep => current,
            Self::Clear => None,
            Self::Set(v) => Some(v),
        }
    }

    /// The value as given on create (absent and null both mean none).
    pub fn value(&self) -> Option<&str> {
        self.apply(None)
    }
}

impl<T: Copy> Patch<T> {
    pub fn apply_copy(&self, current: Option<T>) -> Option<T> {
        match self {
            Self::Keep => current,
            Self::Clear => None,
            Self::Set(v) => Some(*v),
        }
    }
}
