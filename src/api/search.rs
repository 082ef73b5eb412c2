//! `GET /v1/search`: messages, conversations or contacts by what they say, over all history.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use super::auth::Auth;
use super::pagination::ListParams;
use crate::api::error::{ApiError, ApiResult};
use crate::domain::{CONVERSATION_STATUSES, Role};
use crate::hub::AppState;
use crate::search::{self, Search, SearchError};
use crate::store::search::{SearchFilter, Target};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/search", get(find))
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

async fn find(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<impl IntoResponse> {
    let params = ListParams(q);
    let text = params.raw("q").ok_or_else(|| ApiError::invalid("q", "what to search for is required"))?;
    if text.len() > 500 {
        return Err(ApiError::invalid("q", "at most 500 bytes"));
    }
    let target = match params.one_of("type", &["messages", "conversations", "contacts"])?.as_deref() {
        Some("conversations") => Target::Conversations,
        Some("contacts") => Target::Contacts,
        _ => Target::Messages,
    };
    let limit = match params.raw("limit") {
        None => 25,
        Some(raw) => raw.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| ApiError::invalid("limit", format!("must be an integer from 1 to {MAX_LIMIT}")))?,
    };
    let cursor = params
        .raw("cursor")
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
    match params.raw("assignee") {
        None => {}
        Some("none") => filter.unassigned = true,
        Some("me") => filter.assignee_id = Some(auth.operator_id.ok_or_else(|| ApiError::invalid("assignee", "this key belongs to no operator"))?),
        Some(_) => filter.assignee_id = params.uuid("assignee").map_err(|_| ApiError::invalid("assignee", "must be an operator id, \"me\" or \"none\""))?,
    }
    let results = search::run(&state.db, &state.keyring, Search { tenant_id: auth.tenant_id, text, target, filter, cursor, limit }).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "search", "search", None, None).await;
    Ok(Json(serde_json::json!({
        "data": results.items,
        "next_cursor": results.next_cursor.map(|c| c.to_string()),
    })))
}
