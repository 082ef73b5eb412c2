//! `GET /v1/events?after=SEQ&limit=N&types=a,b`: the tenant's event log over HTTP, a polling
//! alternative to webhooks and the way a websocket client re-reads what it missed. Events come
//! in log order, each as webhooks carry it plus its position (`seq`) and id; an event about a
//! contact erased since is listed with its data redacted. `next_after` is the position to ask
//! after next time; `has_more` says whether asking at once would return more. A position older
//! than the log's retention is answered with 410 (`cursor_expired`): re-sync from the API and
//! follow from `next_after` of a fresh read.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Auth;
use crate::api::error::{ApiError, ApiResult};
use crate::domain::events;
use crate::hub::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/events", get(list))
}

const MAX_LIMIT: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
    types: Option<String>,
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<EventsQuery>) -> ApiResult<Json<Value>> {
    let after: i64 = match q.after.as_deref() {
        None | Some("") => 0,
        Some(text) => text.parse().ok().filter(|a| *a >= 0).ok_or_else(|| ApiError::invalid("after", "a sequence number (0 for the oldest kept)"))?,
    };
    let limit: usize = match q.limit.as_deref() {
        None | Some("") => 100,
        Some(text) => text.parse().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| ApiError::invalid("limit", format!("1 to {MAX_LIMIT}")))?,
    };
    let mut types: Vec<&'static str> = Vec::new();
    for name in q.types.as_deref().unwrap_or_default().split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let known = events::known(name).ok_or_else(|| ApiError::invalid("types", format!("{name:?} is not an event type; known: {}", events::ALL.join(", "))))?;
        types.push(known);
    }
    // `after = 0` means "the oldest kept": start where retention left the log.
    let log = state.bus.log();
    let after = if after == 0 { crate::store::outbox::purged_through(&state.db).await? } else { after };
    let batch = log.read_tenant(auth.tenant_id, after, &types, limit).await?;
    let has_more = batch.events.len() == limit;
    let data: Vec<Value> = batch
        .events
        .iter()
        .map(|event| {
            let mut item = serde_json::from_str::<Value>(&event.payload).unwrap_or_else(|_| json!({}));
            if let Value::Object(map) = &mut item {
                map.insert("seq".into(), json!(event.seq));
                map.insert("id".into(), json!(event.id));
            }
            item
        })
        .collect();
    Ok(Json(json!({ "data": data, "next_after": batch.through, "has_more": has_more })))
}
