//! The reply window some providers keep (WhatsApp, Messenger, Instagram): free-form messages
//! only for a while after the person last wrote on the channel; after it, where the kind has
//! one, an operator's (never an automatic) message under the human-agent allowance for a few
//! more days; after that, only an approved template. Asked before a message is queued
//! ([`super::Door::preflight`]) and again when it leaves (the send worker): a message queued
//! just inside the window may leave just outside it.

use omnibridge_channel::ChannelKind;
use uuid::Uuid;

use crate::store::{self, Db, StoreResult};

/// Where a contact stands with a channel's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When the person last wrote on the channel (microseconds), if ever.
    pub last_inbound: Option<i64>,
    /// When free-form messages stop (or stopped).
    pub closes_at: Option<i64>,
    /// When an operator's message under the human-agent allowance stops, where the kind has one.
    pub human_agent_until: Option<i64>,
}

/// What may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Anything.
    Free,
    /// An operator's message, marked as a human agent's; or a template.
    HumanAgent,
    /// Only a template (if the kind has them).
    TemplateOnly,
}

impl Window {
    /// The window of `kind` for the contact on the channel; `None` when the kind keeps none.
    pub async fn of(db: &Db, kind: &dyn ChannelKind, contact_id: Uuid, channel_id: Uuid) -> StoreResult<Option<Self>> {
        let capabilities = kind.capabilities();
        let Some(window) = capabilities.reply_window else { return Ok(None) };
        let last_inbound = store::messages::last_inbound_at(db, contact_id, channel_id).await?;
        Ok(Some(Self {
            last_inbound,
            closes_at: last_inbound.map(|at| at + window.as_micros() as i64),
            human_agent_until: capabilities.human_agent_window.and_then(|extra| last_inbound.map(|at| at + extra.as_micros() as i64)),
        }))
    }

    pub fn is_open(&self, now: i64) -> bool {
        self.closes_at.is_some_and(|at| now < at)
    }

    /// What an operator (`human`) or the hub may send at `now`.
    pub fn allowance(&self, now: i64, human: bool) -> Allowance {
        if self.is_open(now) {
            Allowance::Free
        } else if human && self.human_agent_until.is_some_and(|at| now < at) {
            Allowance::HumanAgent
        } else {
            Allowance::TemplateOnly
        }
    }

    /// The refusal of a free-form message outside the window, in words, for `kind`.
    pub fn refusal(&self, kind: &dyn ChannelKind) -> super::EgressError {
        let hours = kind.capabilities().reply_window.map_or(0, |w| w.as_secs() / 3600);
        let what = if kind.capabilities().templates { "only an approved template may be sent now" } else { "nothing may be sent until they write again" };
        let reason = match self.last_inbound {
            Some(_) => format!("window_closed: the contact last wrote on this channel more than {hours} hours ago; {what}"),
            None => format!("window_closed: the contact has not written on this channel; {what}"),
        };
        let closed_at = match kind.capabilities().human_agent_window {
            Some(_) => self.human_agent_until,
            None => self.closes_at,
        };
        super::EgressError::WindowClosed { reason, closed_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn open_then_human_agent_then_templates_only() {
        let w = Window { last_inbound: Some(0), closes_at: Some(24 * HOUR), human_agent_until: Some(7 * 24 * HOUR) };
        assert_eq!(w.allowance(HOUR, false), Allowance::Free);
        assert_eq!(w.allowance(25 * HOUR, true), Allowance::HumanAgent);
        assert_eq!(w.allowance(25 * HOUR, false), Allowance::TemplateOnly, "automatic answers get no human-agent allowance");
        assert_eq!(w.allowance(8 * 24 * HOUR, true), Allowance::TemplateOnly);
        let never = Window { last_inbound: None, closes_at: None, human_agent_until: None };
        assert_eq!(never.allowance(0, true), Allowance::TemplateOnly);
    }
}
