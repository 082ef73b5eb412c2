//! Email channel.
pub mod parse;
