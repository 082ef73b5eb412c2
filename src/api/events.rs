//! `GET /v1/events?after=SEQ&limit=N&types=a,b`: the tenant's event log over HTTP, a polling
//! alternative to webhooks and the way a websocket client re-reads what it missed. Events come
//! in log order, each as webhooks carry it plus its position (`seq`) and id; an event about a
//! contact erased since is listed with its data redacted. `next_after` is the position to ask
//! after next time; `has_more` says whether asking at once would return more. A position older
//! than the log's retention is answered with 410 (`cursor_expired`): re-sync from the API and
//! follow from `next_after` of a fresh read.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use super::pagination::Params;
use crate::api::error::{ApiError, ApiResult};
use crate::domain::events;
use crate::hub::AppState;

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

const MAX_LIMIT: usize = 1000;

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// The position to read after; 0 or absent: the oldest event kept.
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<String>,
    /// At most this many events (default 100).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Comma-separated event types to list (all when absent).
    #[param(schema_with = type_list)]
    types: Option<String>,
}

/// A comma-separated list of event types (spaces and empty items allowed).
fn type_list() -> utoipa::openapi::schema::Object {
    super::pagination::comma_list(events::ALL.iter().copied())
}

/// An event type, as webhooks carry it.
pub(super) struct EventType;

impl utoipa::PartialSchema for EventType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String).enum_values(Some(events::ALL.iter().copied())).into()
    }
}

impl utoipa::ToSchema for EventType {}

/// An event as webhooks carry it, with its position in the log and its id.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
struct LoggedEvent {
    #[serde(default)]
    seq: i64,
    #[serde(default)]
    id: Uuid,
    #[serde(rename = "type")]
    #[schema(value_type = EventType)]
    kind: String,
    #[schema(format = DateTime)]
    timestamp: String,
    /// The resource; events of a conversation carry `sequence`, increasing per conversation.
    #[schema(value_type = Object)]
    data: Value,
}

/// A page of the log.
#[derive(Serialize, utoipa::ToSchema)]
struct EventPage {
    data: Vec<LoggedEvent>,
    /// Pass as `after` next time.
    next_after: i64,
    /// Whether asking at once would return more.
    has_more: bool,
}

/// The tenant's event log after a position, in order.
///
/// A polling alternative to webhooks, and how a websocket client re-reads what it missed.
/// Events about contacts erased since are listed with their data redacted. A position older
/// than the log keeps is answered with 410 (`cursor_expired`).
#[utoipa::path(get, path = "/v1/events", tag = "realtime", operation_id = "listEvents", params(EventsQuery),
    responses((status = 200, description = "Events and the position to read after next", body = EventPage), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 410, response = Problem), (status = 422, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth, Params(q): Params<EventsQuery>) -> ApiResult<Json<EventPage>> {
    let after: i64 = match q.after.as_deref() {
        None => 0,
        Some(text) => text.parse().ok().filter(|a| *a >= 0).ok_or_else(|| ApiError::invalid("after", "a sequence number (0 for the oldest kept)"))?,
    };
    let limit: usize = match q.limit.as_deref() {
        None => 100,
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
    let data = batch
        .events
        .iter()
        .filter_map(|event| {
            let mut item: LoggedEvent = serde_json::from_str(&event.payload).ok()?;
            item.seq = event.seq;
            item.id = event.id;
            Some(item)
        })
        .collect();
    Ok(Json(EventPage { data, next_after: batch.through, has_more }))
}
