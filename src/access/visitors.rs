//! Web chat visitors' sessions as this process last read them, by token, for up to a minute:
//! every widget request authenticates, and most would otherwise read the same row again.
//!
//! What gives a contact's sessions to another contact (a merge, an unmerge) or ends them (an
//! erasure) forgets that contact's sessions here at once and, through the cluster's
//! announcements, in the other processes (`Hub::contacts_changed`): the next request
//! reads the session as it is stored now, so a visitor merged mid-chat keeps writing into the
//! one conversation the operator sees.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use omnibridge_webchat::{TokenHash, Visitor};
use uuid::Uuid;

/// How long a session read from the database is trusted without asking again.
const TTL: Duration = Duration::from_secs(60);
/// Past this many cached sessions the cache starts over (a bound on memory, not a policy).
const MAX: usize = 100_000;

#[derive(Default)]
pub struct VisitorSessions(Mutex<HashMap<TokenHash, (Visitor, Instant)>>);

impl VisitorSessions {
    fn map(&self) -> MutexGuard<'_, HashMap<TokenHash, (Visitor, Instant)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session of this token, if it was read recently.
    pub fn get(&self, token: &TokenHash) -> Option<Visitor> {
        self.map().get(token).filter(|(_, at)| at.elapsed() < TTL).map(|(v, _)| v.clone())
    }

    pub fn insert(&self, token: TokenHash, visitor: Visitor) {
        let mut sessions = self.map();
        if sessions.len() > MAX {
            sessions.clear();
        }
        sessions.insert(token, (visitor, Instant::now()));
    }

    /// Forgets the sessions of a contact (merged, unmerged or erased).
    pub fn forget_contact(&self, contact_id: Uuid) {
        self.map().retain(|_, (v, _)| v.contact_id != contact_id);
    }

    /// Forgets the sessions on a channel (deleted).
    pub fn forget_channel(&self, channel_id: Uuid) {
        self.map().retain(|_, (v, _)| v.channel_id != channel_id);
    }
}
