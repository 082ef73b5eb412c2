//! `GET /v1/search`: messages, conversations or contacts by what they say, over all history.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::openapi::Problem;
use super::pagination::{ListParams, Params};
use crate::api::error::{ApiError, ApiResult};
use crate::domain::{CONVERSATION_STATUSES, Role};
use crate::hub::AppState;
use crate::search::{self, Found, Search, SearchError};
use crate::store::search::{SearchFilter, Target};

/// The route, with its OpenAPI description generated from the handler below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(find))
}

impl From<SearchError> for ApiError {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::Query(detail) => ApiError::invalid("q", detail),
            SearchError::Store(e) => ApiError::Store(e),
            SearchError::Key(e) => ApiError::Key(e),
            SearchError::Crypto(e) => ApiError::Crypto(e),
        }
    }
}

/// Search results are one page of at most this many.
const MAX_LIMIT: usize = 100;

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// What to search for (at most 500 characters).
    #[param(required, value_type = String, min_length = 1, max_length = 500)]
    q: Option<String>,
    /// What to find: `messages` (the default), `conversations` or `contacts`.
    #[serde(rename = "type")]
    #[param(value_type = Option<String>, pattern = "^(messages|conversations|contacts)$")]
    kind: Option<String>,
    /// Only conversations on this channel.
    #[param(value_type = Option<Uuid>)]
    channel_id: Option<String>,
    /// Only in this conversation.
    #[param(value_type = Option<Uuid>)]
    conversation_id: Option<String>,
    /// Only this contact's conversations.
    #[param(value_type = Option<Uuid>)]
    contact_id: Option<String>,
    /// Only conversations in this status: `open`, `pending`, `resolved` or `snoozed`.
    #[param(value_type = Option<String>, pattern = "^(open|pending|resolved|snoozed)$")]
    status: Option<String>,
    /// An operator's id, `me` or `none`.
    #[param(value_type = Option<String>, pattern = "^(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")]
    assignee: Option<String>,
    /// Only conversations (or contacts) with this label (its id or name).
    label: Option<String>,
    /// On one of this team's channels.
    #[param(value_type = Option<Uuid>)]
    team: Option<String>,
    /// Created at or after: an RFC 3339 time or a date.
    #[param(schema_with = super::pagination::time_or_date)]
    since: Option<String>,
    /// Created before: an RFC 3339 time or a date.
    #[param(schema_with = super::pagination::time_or_date)]
    until: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>, pattern = "^[1-9][0-9]{0,17}$")]
    cursor: Option<String>,
    /// Per page (default 25).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// A page of results.
#[derive(Serialize, utoipa::ToSchema)]
struct SearchPage {
    data: Vec<Found>,
    next_cursor: Option<String>,
}

/// Search messages, conversations or contacts.
///
/// Words in message text and subjects; contacts' names, email addresses, phone numbers (with or
/// without country code) and other addresses. Every word must match; a word of three
/// characters or more also finds words it begins; "quoted words" must appear together.
/// Chinese, Japanese and Korean text is matched by characters. Over all history, newest first.
/// Restricted contacts are left out except for admins. The index holds only keyed hashes of the
/// words.
#[utoipa::path(get, path = "/v1/search", tag = "search", operation_id = "search", params(SearchQuery),
    responses((status = 200, description = "Results", body = SearchPage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 410, response = Problem), (status = 422, response = Problem)))]
async fn find(State(state): State<AppState>, auth: Auth, Params(q): Params<SearchQuery>) -> ApiResult<Json<SearchPage>> {
    let params = ListParams::of(&q);
    let text = params.raw("q").ok_or_else(|| ApiError::invalid("q", "what to search for is required"))?;
    if text.chars().count() > 500 {
        return Err(ApiError::invalid("q", "at most 500 characters"));
    }
    let target = match params.one_of("type", &["messages", "conversations", "contacts"])?.as_deref() {
        Some("conversations") => Target::Conversations,
        Some("contacts") => Target::Contacts,
        _ => Target::Messages,
    };
    let limit = params.limit_within(25, MAX_LIMIT)?;
    let cursor = params
        .given("cursor")
        .map(|c| c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| ApiError::invalid("cursor", "must be a next_cursor of an earlier page")))
        .transpose()?;
    let mut filter = SearchFilter {
        channel_id: params.uuid("channel_id")?,
        conversation_id: params.uuid("conversation_id")?,
        contact_id: params.uuid("contact_id")?,
        status: params.one_of("status", CONVERSATION_STATUSES)?,
        since: params.time("since")?,
        until: params.time("until")?,
        hide_restricted: auth.role != Role::Admin,
        label_id: super::conversations::label_filter(&state, &auth, params.raw("label")).await?,
        team_id: super::conversations::team_filter(&state, &auth, &params).await?,
        ..Default::default()
    };
    (filter.unassigned, filter.assignee_id) = super::conversations::assignee_filter(&auth, &params)?;
    let results = search::run(&state.db, &state.keyring, Search { tenant_id: auth.tenant_id, text, target, filter, cursor, limit }).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "search", "search", None, None).await;
    Ok(Json(SearchPage { data: results.items, next_cursor: results.next_cursor.map(|c| c.to_string()) }))
}
