//! Search over everything the hub holds, without a plaintext index.
//!
//! Message text, subjects and contact details are sealed per contact, so an ordinary full-text
//! index (SQL full-text search, an embedded engine's files) would keep in the clear exactly
//! what encryption at rest and crypto-shredding promise not to. Instead every term (see
//! [`terms`]: folded words, their prefixes, CJK n-grams, phone suffixes) is stored only as the
//! first 64 bits of an HMAC under a per-tenant search key derived from the key hierarchy
//! (`Keyring::search_hasher`). The index maps those hashes to document numbers; nothing else.
//!
//! What the index reveals to someone holding the database but not the keys: how many
//! documents a tenant has, how many terms each has, and how often each (unknown) term occurs —
//! term frequencies, from which a patient attacker with knowledge of the language could guess
//! common words, as with any deterministic encryption. It does not reveal which words, and
//! hashes do not correlate across tenants. That is the cost of finding a word in a million
//! messages in milliseconds; the alternative (opening every message on every search) does not
//! scale past a few thousand. Erasure removes a contact's documents and their terms in its own
//! transaction (the database deletes them with the messages, subjects and contact they index),
//! so what remains cannot even be counted against that person.
//!
//! - [`terms`]: folding, tokens, index terms, query parsing, highlights.
//! - [`index`]: keeping the index (the `search` consumer of the event log, the backfill).
//! - [`query`]: running a search.

pub mod index;
pub mod query;
pub mod terms;

pub use index::{Backfilled, Indexer, backfill};
pub use query::{Found, Results, Search, SearchError, run};
