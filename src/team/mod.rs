//! The tenant's team: operators' lifecycle and the keys they hold ([`operators`]), importing a
//! team from CSV ([`import`]), invitations and password resets by mailed single-use links
//! ([`invitations`], [`password_reset`]), daily summaries ([`summary`]), and the hub's own mail
//! to operators ([`mailer`]).

pub mod import;
pub mod invitations;
pub mod mailer;
pub mod operators;
pub mod password_reset;
pub mod summary;
