//! The daily summary mail, for operators who opted in (`PATCH /v1/operators/{id}
//! {"daily_summary": true}`): what they handled in the last 24 hours, what waits now, and the
//! satisfaction ratings — figures only, no contact's data. It goes out once a day, from the
//! configured hour (UTC), with a one-click opt-out (RFC 8058 `List-Unsubscribe` and
//! `List-Unsubscribe-Post`).

use uuid::Uuid;

use crate::config::Config;
use crate::team::mailer::{Mailers, OperatorMail};
use crate::privacy::Keyring;
use crate::store::{self, Db, StoreError, team::SummaryRecipient};

/// The purpose the opt-out link's token is made for.
pub const OPT_OUT: &str = "daily-summary-opt-out";

const DAY: i64 = 86_400 * 1_000_000;

/// Today (UTC) as YYYY-MM-DD, and whether the summary hour has come.
fn today(config: &Config) -> (String, bool) {
    let now = time::OffsetDateTime::now_utc();
    (format!("{:04}-{:02}-{:02}", now.year(), u8::from(now.month()), now.day()), now.hour() >= config.team.daily_summary_hour)
}

/// The one-click opt-out URL for an operator.
pub fn opt_out_url(config: &Config, keyring: &Keyring, tenant_id: Uuid, operator_id: Uuid) -> String {
    format!("{}/summary/opt-out/{tenant_id}/{}", config.public_base_url(), keyring.link_token(OPT_OUT, tenant_id, tenant_id, operator_id))
}

async fn text(db: &Db, who: &SummaryRecipient) -> Result<String, StoreError> {
    let to = store::now_micros();
    let from = to - DAY;
    let timings = store::conversations::timings(db, who.tenant_id, from, to).await?;
    let within = |t: i64| t >= from && t < to;
    let mine = |a: Option<Uuid>| a == Some(who.id);
    let handled = timings.iter().filter(|t| mine(t.assignee_id) && (within(t.created_at) || t.resolved_at.is_some_and(within))).count();
    let resolved = timings.iter().filter(|t| mine(t.assignee_id) && t.resolved_at.is_some_and(within)).count();
    let team_resolved = timings.iter().filter(|t| t.resolved_at.is_some_and(within)).count();
    let open = store::conversations::open_now(db, who.tenant_id).await?;
    let waiting_mine = open.iter().filter(|(_, a)| mine(*a)).count();
    let unassigned = open.iter().filter(|(_, a)| a.is_none()).count();
    let surveys = store::csat::answered(db, who.tenant_id, from, to).await?;
    let average = |scores: Vec<i64>| {
        if scores.is_empty() { "no ratings".to_owned() } else { format!("{:.1} of 5 ({} ratings)", scores.iter().sum::<i64>() as f64 / scores.len() as f64, scores.len()) }
    };
    let own_csat = average(surveys.iter().filter(|s| s.operator_id == Some(who.id)).filter_map(|s| s.score).collect());
    let team_csat = average(surveys.iter().filter_map(|s| s.score).collect());
    Ok(format!(
        "Hello {name},\n\nYour day at {tenant} (the last 24 hours):\n\n\
         Conversations you handled: {handled}\nResolved by you: {resolved}\nResolved by the team: {team_resolved}\n\n\
         Waiting now:\nOpen and assigned to you: {waiting_mine}\nOpen and unassigned: {unassigned}\n\n\
         Satisfaction: you {own_csat}; the team {team_csat}.\n",
        name = who.name,
        tenant = who.tenant_name,
    ))
}

/// Sends the summaries due now; returns how many went.
pub async fn send_due(db: &Db, keyring: &Keyring, door: &crate::egress::Door, config: &Config) -> Result<usize, StoreError> {
    let (day, hour_has_come) = today(config);
    if !hour_has_come {
        return Ok(0);
    }
    let mut sent = 0;
    let mut mailers = Mailers::new(db, keyring, door, config);
    for who in store::team::summary_due(db, &day).await? {
        if !store::team::claim_summary(db, who.id, &day).await? {
            continue;
        }
        let mailer = match mailers.of(who.tenant_id).await {
            Ok(m) => m,
            Err(err) => {
                tracing::warn!(operator_id = %who.id, error = %err, "no daily summary: no way to send mail");
                continue; // stays claimed for today: no retry storm without a relay
            }
        };
        let url = opt_out_url(config, keyring, who.tenant_id, who.id);
        let mail = OperatorMail {
            to: who.email.clone(),
            subject: format!("Your day at {}", who.tenant_name),
            text: format!("{}\nTo stop these mails: {url}\n", text(db, &who).await?),
            headers: vec![("List-Unsubscribe", format!("<{url}>")), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into())],
        };
        match mailer.send(&mail).await {
            Ok(()) => sent += 1,
            Err(err) => {
                tracing::warn!(operator_id = %who.id, error = %err, "a daily summary could not be sent; it will be retried");
                store::team::unclaim_summary(db, who.id).await?;
            }
        }
    }
    Ok(sent)
}
