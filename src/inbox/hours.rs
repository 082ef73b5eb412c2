//! Business hours per channel and the automatic away message.
//!
//! A channel's hours are a time zone (IANA, e.g. `Europe/Berlin`), a weekly schedule of opening
//! intervals and a list of holidays. A contact who writes while the channel is closed gets the
//! channel's away message once per conversation, sent like any reply (through the door, purpose
//! `service`; marked `Auto-Submitted` on email). A durable consumer of the event log follows
//! `message.received` ([`AwayMessages`]), queueing the message in the transaction that moves its
//! position: under load it is sent late, never skipped, never twice.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::events::Event;
use crate::events::consumer::Consumer;

use crate::events::WorkError;
use crate::domain::events;
use crate::outgoing::{self, Draft};
use crate::events::outbox::UnitOfWork;
use crate::hub::AppState;
use crate::store;

pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A channel's hours as stored and as the API shows them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// An IANA time zone, such as `Europe/Berlin`.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// Per day (`mon` … `sun`): opening intervals `["09:00", "17:30"]`, each starting before it
    /// ends (`24:00` ends a day); a missing day is closed.
    #[serde(default)]
    #[schema(value_type = Weekly)]
    pub weekly: std::collections::BTreeMap<String, Vec<[String; 2]>>,
    /// Closed all day (in the channel's time zone).
    #[serde(default)]
    #[schema(value_type = Vec<String>, format = Date)]
    pub holidays: Vec<String>,
    /// Told once per conversation to a contact who writes while closed: 1 to 1600 characters,
    /// not only spaces.
    #[schema(min_length = 1, max_length = 1600, pattern = r"\S")]
    pub away_message: String,
}

/// Opening intervals per day of the week.
pub struct Weekly;

impl utoipa::PartialSchema for Weekly {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Type};
        let time = || ObjectBuilder::new().schema_type(Type::String).pattern(Some("^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"));
        let interval = || ArrayBuilder::new().prefix_items([time(), time()]).min_items(Some(2)).max_items(Some(2)).items(utoipa::openapi::schema::ArrayItems::False);
        let mut weekly = ObjectBuilder::new().additional_properties(Some(AdditionalProperties::FreeForm(false)));
        for day in DAYS {
            weekly = weekly.property(day, ArrayBuilder::new().items(interval()));
        }
        weekly.into()
    }
}

impl utoipa::ToSchema for Weekly {}


fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && (h < 24 || m == 0) && text.len() == 5).then_some(h * 60 + m)
}

impl BusinessHours {
    /// Checks every field; the error names it.
    pub fn validate(&self) -> Result<(), (String, String)> {
        jiff::tz::TimeZone::get(&self.time_zone).map_err(|_| ("time_zone".to_owned(), format!("{:?} is not an IANA time zone such as Europe/Berlin", self.time_zone)))?;
        for (day, intervals) in &self.weekly {
            if !DAYS.contains(&day.as_str()) {
                return Err((format!("weekly.{day}"), "days are mon, tue, wed, thu, fri, sat, sun".into()));
            }
            for (i, [from, to]) in intervals.iter().enumerate() {
                match (minutes(from), minutes(to)) {
                    (Some(a), Some(b)) if a < b => {}
                    _ => return Err((format!("weekly.{day}[{i}]"), "an interval is [\"HH:MM\", \"HH:MM\"], start before end (24:00 ends a day)".into())),
                }
            }
        }
        for (i, day) in self.holidays.iter().enumerate() {
            if day.parse::<jiff::civil::Date>().is_err() {
                return Err((format!("holidays[{i}]"), "a date such as 2026-12-25".into()));
            }
        }
        if self.away_message.trim().is_empty() || self.away_message.chars().count() > 1600 {
            return Err(("away_message".into(), "1 to 1600 characters".into()));
        }
        Ok(())
    }

    /// Whether the channel is open at `now` (microseconds since the epoch).
    pub fn is_open(&self, now: i64) -> bool {
        let Ok(tz) = jiff::tz::TimeZone::get(&self.time_zone) else { return true };
        let Ok(instant) = jiff::Timestamp::from_microsecond(now) else { return true };
        let local = instant.to_zoned(tz);
        let date = local.date();
        if self.holidays.iter().any(|h| h.parse::<jiff::civil::Date>().is_ok_and(|d| d == date)) {
            return false;
        }
        let day = DAYS[local.weekday().to_monday_zero_offset() as usize];
        let minute = local.hour() as u32 * 60 + local.minute() as u32;
        self.weekly.get(day).is_some_and(|intervals| {
            intervals.iter().any(|[from, to]| matches!((minutes(from), minutes(to)), (Some(a), Some(b)) if a <= minute && minute < b))
        })
    }
}

/// Sends the away message when a contact writes outside business hours.
pub struct AwayMessages(pub AppState);

impl Consumer for AwayMessages {
    fn name(&self) -> &'static str {
        "away_messages"
    }

    fn wants(&self, event: &Event) -> bool {
        event.event_type == events::MESSAGE_RECEIVED
    }

    async fn select(&self, db: &store::Db, events: Vec<Arc<Event>>) -> Result<Vec<Arc<Event>>, WorkError> {
        // Only messages in channels closed now.
        let mut closed: HashMap<Uuid, bool> = HashMap::new();
        let now = store::now_micros();
        let mut selected = Vec::new();
        for event in events {
            let Some(channel_id) = channel_of(&event) else { continue };
            let is_closed = match closed.get(&channel_id) {
                Some(known) => *known,
                None => {
                    let hours = store::hours::get(db, channel_id).await?.and_then(|d| serde_json::from_str::<BusinessHours>(&d).ok());
                    let known = hours.is_some_and(|h| !h.is_open(now));
                    closed.insert(channel_id, known);
                    known
                }
            };
            if is_closed {
                selected.push(event);
            }
        }
        Ok(selected)
    }

    async fn handle(&self, work: &mut UnitOfWork, events: &[Arc<Event>]) -> Result<(), WorkError> {
        // Each channel's hours are read once per batch.
        let mut hours: HashMap<Uuid, Option<BusinessHours>> = HashMap::new();
        let now = store::now_micros();
        for event in events {
            let Ok(payload) = serde_json::from_str::<Value>(&event.payload) else { continue };
            let message = &payload["data"];
            let id = |name: &str| message[name].as_str().and_then(|s| s.parse::<Uuid>().ok());
            let (Some(channel_id), Some(conversation_id), Some(contact_id)) = (id("channel_id"), id("conversation_id"), id("contact_id")) else { continue };
            if message["direction"] != "in" {
                continue;
            }
            let channel_hours = match hours.entry(channel_id) {
                std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let document = store::hours::get(work.tx(), channel_id).await?;
                    slot.insert(document.and_then(|d| serde_json::from_str::<BusinessHours>(&d).ok()))
                }
            };
            let Some(channel_hours) = channel_hours else { continue };
            if channel_hours.is_open(now) {
                continue;
            }
            let text = channel_hours.away_message.clone();
            queue_away(&self.0, work, event.tenant_id, channel_id, conversation_id, contact_id, &text).await?;
        }
        Ok(())
    }
}

/// The channel of an inbound message event (without parsing the whole payload twice for
/// outbound ones: those are not wanted).
fn channel_of(event: &Event) -> Option<Uuid> {
    let payload: Value = serde_json::from_str(&event.payload).ok()?;
    (payload["data"]["direction"] == "in").then(|| payload["data"]["channel_id"].as_str()?.parse().ok()).flatten()
}

async fn queue_away(hub: &AppState, work: &mut UnitOfWork, tenant_id: Uuid, channel_id: Uuid, conversation_id: Uuid, contact_id: Uuid, text: &str) -> Result<(), WorkError> {
    let Ok(key) = hub.keyring.data_key(work.tx(), tenant_id, contact_id).await else {
        return Ok(()); // the contact was erased meanwhile
    };
    if !store::hours::claim_away_notice(work.tx(), conversation_id).await? {
        return Ok(()); // told already
    }
    let draft = Draft::automatic(tenant_id, conversation_id, channel_id, &key, text, crate::consent::purposes::SERVICE);
    outgoing::queue(work, &hub.send_wake, draft).await?;
    Ok(())
}


#[cfg(test)]
mod tests {
    use super::*;

    fn hours(weekly: &[(&str, &str, &str)], holidays: &[&str]) -> BusinessHours {
        let mut map = std::collections::BTreeMap::new();
        for (day, from, to) in weekly {
            map.entry(day.to_string()).or_insert_with(Vec::new).push([from.to_string(), to.to_string()]);
        }
        BusinessHours { time_zone: "Europe/Berlin".into(), weekly: map, holidays: holidays.iter().map(|h| h.to_string()).collect(), away_message: "closed".into() }
    }

    fn at(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_microsecond()
    }

    #[test]
    fn opening_hours_follow_the_local_clock_and_holidays() {
        let h = hours(&[("mon", "09:00", "17:00"), ("sat", "10:00", "24:00")], &["2026-12-28"]);
        assert!(h.validate().is_ok());
        // Monday 2026-11-23, 08:30 UTC is 09:30 in Berlin (UTC+1): open.
        assert!(h.is_open(at("2026-11-23T08:30:00Z")));
        assert!(!h.is_open(at("2026-11-23T07:30:00Z")), "08:30 local: not yet");
        assert!(!h.is_open(at("2026-11-23T16:00:00Z")), "17:00 local: closed");
        assert!(h.is_open(at("2026-11-28T22:30:00Z")), "Saturday 23:30 local");
        assert!(!h.is_open(at("2026-11-24T10:00:00Z")), "Tuesday has no hours");
        assert!(!h.is_open(at("2026-12-28T10:00:00Z")), "a Monday that is a holiday");
    }

    #[test]
    fn bad_hours_name_the_field() {
        let mut h = hours(&[("mon", "17:00", "09:00")], &[]);
        assert_eq!(h.validate().unwrap_err().0, "weekly.mon[0]");
        h = hours(&[("monday", "09:00", "17:00")], &[]);
        assert_eq!(h.validate().unwrap_err().0, "weekly.monday");
        h = hours(&[], &["christmas"]);
        assert_eq!(h.validate().unwrap_err().0, "holidays[0]");
        h.holidays.clear();
        h.time_zone = "Mars/Olympus".into();
        assert_eq!(h.validate().unwrap_err().0, "time_zone");
    }
}
