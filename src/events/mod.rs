//! Events: how a state change and its events commit together ([`outbox::UnitOfWork`]), the
//! in-process bus listeners hear committed events on, and the presenters that turn stored rows
//! into the views events and the API carry ([`present`]).

pub mod outbox;
pub mod present;

pub use outbox::{EventBus, UnitOfWork};
