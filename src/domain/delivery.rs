//! The life of an outbound message, the same for every channel:
//!
//! ```text
//! scheduled ─┐
//!            ├→ queued → sending → sent → delivered → read
//!            │      ↑       │
//!            │      └───────┴→ failed{permanent|transient} ──(retry)→ queued
//!            │              └→ unknown (the provider's answer was lost) ──(retry)→ queued
//!            └→ canceled
//! ```
//!
//! Providers report out of order and twice, so their reports only move a message forward
//! (`sent` < `delivered` < `read`; a failure only before delivery; delivery evidence after a
//! failure wins). The hub's own moves — a retry, a cancel, a reconciliation — are explicit and
//! checked here too. No I/O: the send worker, the reports and the API ask this module.

use std::fmt;

/// Where an outbound message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Waits for its `send_at`; can be edited or canceled until then.
    Scheduled,
    /// Waits for the send worker (first attempt, or another after a transient failure).
    Queued,
    /// Handed to the provider; its answer not recorded yet.
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
    /// Canceled before it went.
    Canceled,
    /// The provider's answer was lost and the provider cannot be asked: it may have arrived.
    /// Surfaced for a person to decide; never resent on its own.
    Unknown,
}

impl Status {
    pub const ALL: [Status; 9] =
        [Self::Scheduled, Self::Queued, Self::Sending, Self::Sent, Self::Delivered, Self::Read, Self::Failed, Self::Canceled, Self::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// How far along the line to the person it is; `None` for the ends off the line.
    fn rank(self) -> Option<u8> {
        match self {
            Self::Scheduled | Self::Queued | Self::Sending | Self::Unknown => Some(0),
            Self::Sent => Some(1),
            Self::Delivered => Some(2),
            Self::Read => Some(3),
            Self::Failed | Self::Canceled => None,
        }
    }

    /// A provider's report of `reported` about a message at `self`: the status it moves to, if
    /// it moves. A late or repeated report moves nothing (it stays in the history).
    pub fn on_report(self, reported: Status) -> Option<Status> {
        match (self, reported) {
            (Self::Canceled, _) | (_, Self::Scheduled | Self::Queued | Self::Sending | Self::Canceled | Self::Unknown) => None,
            (Self::Failed, Self::Failed) => None,
            // A failure after delivery (another device of the person) does not undo it.
            (current, Self::Failed) => current.rank().is_some_and(|r| r < 2).then_some(Self::Failed),
            // Delivery evidence after a failure wins; a late "sent" does not.
            (Self::Failed, reported) => reported.rank().is_some_and(|r| r >= 2).then_some(reported),
            (current, reported) => match (current.rank(), reported.rank()) {
                (Some(c), Some(r)) if r > c => Some(reported),
                _ => None,
            },
        }
    }

    /// Whether an operator may send the message again: it failed, or nobody knows whether it
    /// arrived, or it was canceled.
    pub fn may_retry(self) -> bool {
        matches!(self, Self::Failed | Self::Unknown | Self::Canceled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether sending again may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Never will (a bad address, a refused content, no consent): stops and says why.
    Permanent,
    /// Might later (a rate limit, an outage, a full mailbox): retried with backoff until the
    /// attempts run out.
    Transient,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permanent => "permanent",
            Self::Transient => "transient",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "permanent" => Some(Self::Permanent),
            "transient" => Some(Self::Transient),
            _ => None,
        }
    }
}

/// Why a message failed: its class, the provider's code (Twilio `30003`, Meta `131026`, SMTP
/// `5.1.1`) or the hub's (`consent_missing`, `window_closed`), the reason in words, and who
/// said so (the provider's name, or `hub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: FailureClass,
    pub code: Option<String>,
    pub reason: String,
    pub provider: String,
}

impl Failure {
    pub fn hub(code: &str, reason: impl Into<String>) -> Self {
        Self { class: FailureClass::Permanent, code: Some(code.to_owned()), reason: reason.into(), provider: "hub".into() }
    }

    /// A provider's failure: the code is the first word of its reason when that word is a code
    /// (digits, or an SMTP enhanced status `d.d.d`), as adapters write them.
    pub fn from_provider(class: FailureClass, reason: &str, provider: &str) -> Self {
        Self { class, code: provider_code(reason), reason: reason.to_owned(), provider: provider.to_owned() }
    }
}

impl Failure {
    /// An adapter's classified error, said by `provider`.
    pub fn from_adapter(err: &omnibridge_channel::AdapterError, provider: &str) -> Self {
        let class = if err.is_retryable() { FailureClass::Transient } else { FailureClass::Permanent };
        let reason = crate::domain::without_addresses(err.reason());
        let reason = if reason.is_empty() { "the provider reported a failure without a reason".to_owned() } else { reason };
        Self::from_provider(class, &reason, provider)
    }
}

/// `131026 Message undeliverable` → `131026`; `5.1.1 user unknown` → `5.1.1`; words → none.
pub fn provider_code(reason: &str) -> Option<String> {
    let first = reason.split(|c: char| c.is_whitespace() || c == ':').find(|w| !w.is_empty())?;
    let numeric = !first.is_empty() && first.chars().all(|c| c.is_ascii_digit());
    let enhanced = {
        let parts: Vec<&str> = first.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()))
    };
    (numeric || enhanced).then(|| first.to_owned())
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    fn apply(start: Status, reports: &[Status]) -> Status {
        reports.iter().fold(start, |status, r| status.on_report(*r).unwrap_or(status))
    }

    #[test]
    fn reports_never_move_a_message_back() {
        assert_eq!(apply(Sent, &[Delivered, Sent]), Delivered);
        assert_eq!(apply(Sent, &[Read, Delivered, Sent]), Read);
        assert_eq!(apply(Sent, &[Failed, Sent]), Failed);
        assert_eq!(apply(Sent, &[Failed, Delivered]), Delivered, "delivery evidence after a failure wins");
        assert_eq!(apply(Sent, &[Delivered, Failed]), Delivered);
        assert_eq!(apply(Sending, &[Delivered]), Delivered, "a status may overtake the send's own answer");
        assert_eq!(apply(Canceled, &[Sent, Delivered]), Canceled);
        assert_eq!(Read.on_report(Read), None, "a repeated report is no change");
        assert_eq!(Sent.on_report(Queued), None);
    }

    #[test]
    fn any_order_of_sent_delivered_read_ends_at_read() {
        let all = [Sent, Delivered, Read];
        for a in 0..3 {
            for b in 0..3 {
                for c in 0..3 {
                    if a != b && b != c && a != c {
                        assert_eq!(apply(Queued, &[all[a], all[b], all[c], all[a]]), Read);
                    }
                }
            }
        }
    }

    #[test]
    fn statuses_read_back() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("received"), None);
    }

    #[test]
    fn codes_are_the_providers_first_word() {
        assert_eq!(provider_code("131026 Message undeliverable").as_deref(), Some("131026"));
        assert_eq!(provider_code("5.1.1 <x@example.com>: user unknown").as_deref(), Some("5.1.1"));
        assert_eq!(provider_code("30003: Unreachable destination handset").as_deref(), Some("30003"));
        assert_eq!(provider_code("window_closed: 131047 Re-engagement").as_deref(), None);
        assert_eq!(provider_code("delivery failed").as_deref(), None);
        assert_eq!(provider_code("").as_deref(), None);
    }
}
