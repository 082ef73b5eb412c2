//! Contacts: editing and rectifying one ([`edit`]); merging two into one and undoing it
//! ([`merge`]); finding one by what an operator types ([`lookup`]).

pub mod attributes;
pub mod edit;
pub mod lookup;
pub mod merge;
