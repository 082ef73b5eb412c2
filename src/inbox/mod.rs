//! Working the inbox: automatic assignment ([`assignment`]), business hours and away messages
//! ([`hours`]), satisfaction surveys ([`csat`]), transcripts by email ([`transcripts`]), and the
//! hub's side of the web chat widget — visitor sessions, history, consent from the pre-chat
//! form ([`widget`]).

pub mod assignment;
pub mod csat;
pub mod hours;
pub mod transcripts;
pub mod widget;
