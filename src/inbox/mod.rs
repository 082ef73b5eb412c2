//! Working the inbox: automatic assignment ([`assignment`]), business hours and away messages
//! ([`hours`]), satisfaction surveys ([`csat`]), transcripts by email ([`transcripts`]), and the
//! hub's side of the web chat widget — visitor sessions, history, consent from the pre-chat
//! form ([`widget`]); mail conversations' other participants and who a reply goes to
//! ([`participants`]), the signatures under replies ([`signatures`]), and forwarding by mail
//! ([`forward`]).

pub mod assignment;
pub mod csat;
pub mod forward;
pub mod hours;
pub mod labels;
pub mod overview;
pub mod participants;
pub mod signatures;
pub mod transcripts;
pub mod widget;
