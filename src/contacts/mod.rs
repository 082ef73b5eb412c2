//! Contacts: editing and rectifying one ([`edit`]); merging two into one and undoing it
//! ([`merge`]).

pub mod edit;
pub mod merge;
