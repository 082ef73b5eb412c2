//! `/v1/conversations`: the inbox. Listing, reading, changing status and assignee, and starting
//! an outbound conversation.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::messages;
use super::openapi::Problem;
use crate::outgoing::{self, Author, Draft};
use crate::egress::preflight::Outgoing;
use crate::inbox::overview::Summary;
use super::pagination::{ListParams, Params};
use crate::domain::patch::Patch;
use crate::events::outbox::UnitOfWork;
use crate::domain::events::{self, Event};
use crate::domain::views::{ConversationView, MessageView};
use crate::domain::{CONVERSATION_STATUSES, ConversationStatus};
use crate::api::error::{ApiError, ApiResult};
use crate::events::outbox;
use crate::events::present;
use crate::hub::AppState;
use crate::contacts::attributes;
use crate::store::{self, ConversationFilter, ConversationRow, Page};

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, start))
        .routes(routes!(show, update))
        .routes(routes!(typing))
        .routes(routes!(read))
        .routes(routes!(transcript))
        .routes(routes!(merge))
        .merge(messages::router())
}

/// The conversation to merge into this one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MergeWith {
    /// Another conversation of the same contact.
    other_id: Uuid,
}

/// A merge of two conversations.
#[derive(Serialize, utoipa::ToSchema)]
struct MergedConversation {
    /// The conversation merged into, as it is now.
    conversation: ConversationView,
    /// How many messages joined it.
    messages_moved: u64,
    /// The conversation merged (now resolved).
    merged: Uuid,
}

/// Merge another conversation of the same contact into this one: its messages join this
/// thread (in time order) and it is closed as merged. Both get `conversation.updated`.
#[utoipa::path(post, path = "/v1/conversations/{id}/merge", tag = "conversations", operation_id = "mergeConversation", params(("id" = Uuid, Path)),
    request_body = MergeWith,
    responses((status = 200, description = "Merged", body = MergedConversation), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 410, response = Problem), (status = 422, response = Problem)))]
async fn merge(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<MergeWith>) -> ApiResult<impl IntoResponse> {
    let into = find(&state, &auth, &id).await?;
    let other = store::conversations::get(&state.db, auth.tenant_id, body.other_id)
        .await?
        .ok_or_else(|| ApiError::unknown("other_id", "no such conversation"))?;
    if other.id == into.id {
        return Err(ApiError::invalid("other_id", "a conversation cannot be merged into itself"));
    }
    if other.contact_id != into.contact_id {
        return Err(ApiError::invalid("other_id", "only conversations of the same contact can be merged (merge the contacts first)"));
    }
    let key = state.keyring.data_key(&state.db, auth.tenant_id, into.contact_id).await?;
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let moved = store::conversations::merge(work.tx(), auth.tenant_id, into.id, other.id).await?;
    for cid in [other.id, into.id] {
        let row = store::conversations::get(work.tx(), auth.tenant_id, cid).await?.ok_or(ApiError::NotFound("conversation"))?;
        let view = present::conversation(&row);
        let sequence = outbox::next_sequence(work.tx(), row.id).await?;
        let event = Event::in_conversation(auth.tenant_id, events::CONVERSATION_UPDATED, row.contact_id, row.id, sequence, &view);
        work.append(Some(&key), event).await?;
    }
    work.commit().await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "conversation.merge", "conversation", Some(into.id), Some(&other.id.to_string())).await;
    let merged = store::conversations::get(&state.db, auth.tenant_id, into.id).await?.ok_or(ApiError::NotFound("conversation"))?;
    Ok(Json(MergedConversation { conversation: present::conversation(&merged), messages_moved: moved, merged: other.id }))
}

/// Where a transcript goes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TranscriptFor {
    /// Where to send it when the contact has no email address yet.
    email: Option<String>,
}

/// Work accepted, to be done in the background.
#[derive(Serialize, utoipa::ToSchema)]
struct Queued {
    /// `queued`.
    status: &'static str,
}

/// Send the contact the transcript of the whole conversation (every channel it traveled;
/// private notes excluded) by email.
#[utoipa::path(post, path = "/v1/conversations/{id}/transcript", tag = "conversations", operation_id = "sendTranscript", params(("id" = Uuid, Path)),
    request_body = TranscriptFor,
    responses((status = 202, description = "Queued", body = Queued), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 410, response = Problem), (status = 422, response = Problem),
        (status = 503, response = Problem)))]
async fn transcript(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<TranscriptFor>) -> ApiResult<impl IntoResponse> {
    let conversation = find(&state, &auth, &id).await?;
    if body.email.as_deref().is_some_and(|e| !e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))) {
        return Err(ApiError::invalid("email", "must look like name@example.com"));
    }
    let key = state.keyring.data_key(&state.db, auth.tenant_id, conversation.contact_id).await?;
    let mut lines = Vec::new();
    let mut after = None;
    loop {
        let rows = store::messages::for_conversation(&state.db, auth.tenant_id, conversation.id, after, 500).await?;
        let page = Page::from_rows(rows, 500, |r| r.id);
        for m in page.items.iter().filter(|m| !m.private && m.purpose != "transcripts") {
            let text = key.open(crate::events::present::fields::MESSAGE_TEXT, m.id, &m.text)?;
            lines.push(crate::inbox::transcripts::Line { direction: m.direction.clone(), at: crate::domain::rfc3339(m.created_at), text });
        }
        after = page.next_cursor;
        if after.is_none() {
            break;
        }
    }
    let source = state.channels.get(conversation.channel_id).await?;
    let public_url = state.config.public_base_url();
    let transcripts = crate::inbox::transcripts::Transcripts::of(&state, &public_url);
    let recipient = match body.email {
        Some(email) => crate::inbox::transcripts::Recipient::Given(email),
        None => crate::inbox::transcripts::Recipient::OnRecord,
    };
    transcripts
        .send(auth.tenant_id, conversation.contact_id, conversation.id, source.as_deref(), "Your conversation with us:", &lines, recipient)
        .await
        .map_err(|e| match e {
            crate::inbox::transcripts::TranscriptError::Invalid { field, detail } => ApiError::invalid(field, detail),
            crate::inbox::transcripts::TranscriptError::Refused { code: "consent_missing", detail } => ApiError::ConsentMissing(detail),
            crate::inbox::transcripts::TranscriptError::Refused { code: "policy_blocked", detail } => ApiError::PolicyBlocked { rule: "policy".into(), reason: detail },
            crate::inbox::transcripts::TranscriptError::Refused { detail, .. } => ApiError::Conflict(detail),
            crate::inbox::transcripts::TranscriptError::Unavailable(why) => ApiError::Unavailable(why),
            e @ crate::inbox::transcripts::TranscriptError::RateLimited(_) => ApiError::Conflict(e.to_string()),
        })?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "conversation.transcript", "conversation", Some(conversation.id), None).await;
    Ok((StatusCode::ACCEPTED, Json(Queued { status: "queued" })))
}

/// Whether the operator is typing.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Typing {
    typing: bool,
}

/// An operator is typing: web chat visitors see an indicator (other channels have none).
#[utoipa::path(post, path = "/v1/conversations/{id}/typing", tag = "conversations", operation_id = "typing", params(("id" = Uuid, Path)),
    request_body = Typing,
    responses((status = 204, description = "Passed on where the channel shows it"), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 410, response = Problem), (status = 422, response = Problem)))]
async fn typing(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<Typing>) -> ApiResult<impl IntoResponse> {
    let conversation = find(&state, &auth, &id).await?;
    let Some(channel) = state.channels.get(conversation.channel_id).await? else { return Ok(StatusCode::NO_CONTENT) };
    let Some(kind) = state.channels.kind_of(&channel).filter(|k| k.capabilities().live_sessions) else { return Ok(StatusCode::NO_CONTENT) };
    if store::privacy::is_restricted(&state.db, conversation.contact_id).await? {
        return Ok(StatusCode::NO_CONTENT);
    }
    let address_kind = kind.address_kind();
    if let Some(identity) = store::contacts::identity_for_kind(&state.db, auth.tenant_id, conversation.contact_id, address_kind.as_str()).await? {
        let key = state.keyring.data_key(&state.db, auth.tenant_id, conversation.contact_id).await?;
        let address = key.open(crate::events::present::fields::IDENTITY_ADDRESS, conversation.contact_id, &identity.address)?;
        state.channels.typing(&channel, &omnibridge_channel::Address::new(address_kind, &address), body.typing);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A conversation of the caller's tenant, or 404 (also for other tenants' ids).
pub async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<ConversationRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("conversation"))?;
    store::conversations::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("conversation"))
}

/// The filters of the inbox. Besides these, `attr.KEY=VALUE` filters on a conversation
/// attribute (described as its own parameter).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the parameters; the handler reads them as a map, for `attr.KEY`
struct ConversationQuery {
    /// `open`, `pending`, `resolved` or `snoozed`.
    #[param(value_type = Option<String>, pattern = "^(open|pending|resolved|snoozed)$")]
    status: Option<String>,
    /// On this channel (the one it currently travels on).
    #[param(value_type = Option<Uuid>)]
    channel_id: Option<String>,
    /// An operator's id, `me` or `none` (unassigned).
    #[param(value_type = Option<String>, pattern = "^(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")]
    assignee: Option<String>,
    /// With this label (its id or its name).
    label: Option<String>,
    /// On one of this team's channels.
    #[param(value_type = Option<Uuid>)]
    team: Option<String>,
    /// The contact's conversations.
    #[param(value_type = Option<Uuid>)]
    contact_id: Option<String>,
    /// Last message at or after: an RFC 3339 time or a date.
    #[param(schema_with = super::pagination::time_or_date)]
    since: Option<String>,
    /// Last message before: an RFC 3339 time or a date.
    #[param(schema_with = super::pagination::time_or_date)]
    until: Option<String>,
    /// A saved view's id: its filters apply where the request gives none.
    #[param(value_type = Option<Uuid>)]
    view: Option<String>,
    /// `summary`: add what an inbox row shows — the contact's name and address, the last
    /// message's preview, waiting since, the calling operator's unread count.
    #[param(value_type = Option<String>, pattern = "^summary$")]
    include: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>)]
    cursor: Option<String>,
    /// Per page (default 50).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// A conversation in a list.
#[derive(Serialize, utoipa::ToSchema)]
struct ConversationItem {
    #[serde(flatten)]
    conversation: ConversationView,
    /// With `include=summary` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<Summary>,
}

/// A page of conversations.
#[derive(Serialize, utoipa::ToSchema)]
struct ConversationPage {
    data: Vec<ConversationItem>,
    next_cursor: Option<Uuid>,
}

/// Conversations, newest first. Restricted contacts' (Art. 18) are left out except for admins.
#[utoipa::path(get, path = "/v1/conversations", tag = "conversations", operation_id = "listConversations",
    params(ConversationQuery,
        ("attr.KEY" = Option<String>, Query, description = "Only conversations whose (not personal) attribute KEY has this value, e.g. `attr.plan=gold`")),
    responses((status = 200, description = "A page of conversations", body = ConversationPage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth, Params(mut q): Params<HashMap<String, String>>) -> ApiResult<Json<ConversationPage>> {
    // A saved view's filters, where the request does not say otherwise.
    if let Some(view) = q.get("view").cloned() {
        for (name, value) in saved_view_filters(&state, &auth, &view).await? {
            q.entry(name).or_insert(value);
        }
    }
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let mut filter = ConversationFilter {
        status: params.one_of("status", CONVERSATION_STATUSES)?,
        channel_id: params.uuid("channel_id")?,
        label_id: label_filter(&state, &auth, params.raw("label")).await?,
        attribute: attribute_filter(&state, &auth, &params).await?,
        team_id: team_filter(&state, &auth, &params).await?,
        contact_id: params.uuid("contact_id")?,
        since: params.time("since")?,
        until: params.time("until")?,
        ..Default::default()
    };
    (filter.unassigned, filter.assignee_id) = assignee_filter(&auth, &params)?;
    let rows = store::conversations::list(&state.db, auth.tenant_id, &filter, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    // Restricted contacts (Art. 18) are hidden from everyone but admins.
    let hidden: std::collections::HashSet<uuid::Uuid> = if auth.role == crate::domain::Role::Admin {
        Default::default()
    } else {
        store::privacy::restricted_among(&state.db, &page.items.iter().map(|r| r.contact_id).collect::<Vec<_>>()).await?.into_iter().collect()
    };
    let visible: Vec<ConversationRow> = page.items.iter().filter(|c| !hidden.contains(&c.contact_id)).cloned().collect();
    let mut labels = crate::inbox::labels::labels_by_owner(&state.db, store::labels::Labelled::Conversations, &visible.iter().map(|c| c.id).collect::<Vec<_>>()).await?;
    let definitions = attributes::definitions(&state.db, auth.tenant_id).await?;
    let mut keys = HashMap::new();
    if definitions.iter().any(|d| d.personal && d.applies_to == "conversation") {
        for c in &visible {
            if let Ok(key) = state.keyring.data_key(&state.db, auth.tenant_id, c.contact_id).await {
                keys.insert(c.id, key);
            }
        }
    }
    let mut custom = attributes::read(&state.db, &definitions, "conversation", &visible.iter().map(|c| c.id).collect::<Vec<_>>(), &keys).await?;
    // `include=summary`: what an inbox row shows (who, the last message, waiting, unread).
    let mut summaries = match params.given("include") {
        None => None,
        Some(v) if v.split(',').all(|w| w.trim() == "summary") => {
            Some(crate::inbox::overview::summaries(&state.db, &state.keyring, auth.tenant_id, auth.operator_id, &visible).await?)
        }
        Some(_) => return Err(ApiError::invalid("include", "must be summary")),
    };
    let data = visible
        .iter()
        .map(|c| ConversationItem {
            conversation: ConversationView { labels: Some(labels.remove(&c.id).unwrap_or_default()), custom_attributes: custom.remove(&c.id), ..present::conversation(c) },
            summary: summaries.as_mut().map(|s| s.remove(&c.id).unwrap_or_default()),
        })
        .collect();
    Ok(Json(ConversationPage { data, next_cursor: page.next_cursor }))
}

/// One `attr.KEY=VALUE` filter on a conversation attribute: (definition, canonical value).
async fn attribute_filter(state: &AppState, auth: &Auth, params: &ListParams) -> ApiResult<Option<(Uuid, String)>> {
    let mut given = params.0.iter().filter(|(k, _)| k.starts_with("attr."));
    let Some((name, value)) = given.next() else { return Ok(None) };
    if given.next().is_some() {
        return Err(ApiError::invalid(name, "one attribute filter at a time"));
    }
    let key = &name["attr.".len()..];
    let definitions = attributes::definitions(&state.db, auth.tenant_id).await?;
    let d = definitions.iter().find(|d| d.applies_to == "conversation" && d.key == key).ok_or_else(|| ApiError::invalid(name, "no conversation attribute with this key"))?;
    Ok(Some((d.id, attributes::filter_value(d, value)?)))
}

/// `team=ID`: conversations on the team's channels.
pub async fn team_filter(state: &AppState, auth: &Auth, params: &ListParams) -> ApiResult<Option<Uuid>> {
    let Some(id) = params.uuid("team")? else { return Ok(None) };
    let teams = store::team::teams(&state.db, auth.tenant_id).await?;
    if teams.iter().any(|t| t.row.id == id) { Ok(Some(id)) } else { Err(ApiError::invalid("team", "no team with this id")) }
}

/// `assignee`: nobody (`none`), the caller (`me`) or an operator's id, as
/// `(unassigned, operator)`. Given empty, it is refused rather than taken as absent.
pub fn assignee_filter(auth: &Auth, params: &ListParams) -> ApiResult<(bool, Option<Uuid>)> {
    match params.given("assignee") {
        None => Ok((false, None)),
        Some("none") => Ok((true, None)),
        Some("me") => auth.operator_id.map(|id| (false, Some(id))).ok_or_else(|| ApiError::invalid("assignee", "this key belongs to no operator")),
        Some(given) => Uuid::parse_str(given).map(|id| (false, Some(id))).map_err(|_| ApiError::invalid("assignee", "must be an operator id, \"me\" or \"none\"")),
    }
}

/// A label named by id or by name (`label=refund`), for filters.
pub async fn label_filter(state: &AppState, auth: &Auth, given: Option<&str>) -> ApiResult<Option<Uuid>> {
    let Some(given) = given else { return Ok(None) };
    let found = match Uuid::parse_str(given) {
        Ok(id) => store::labels::get(&state.db, auth.tenant_id, id).await?,
        Err(_) => store::labels::by_name(&state.db, auth.tenant_id, given).await?,
    };
    found.map(|l| Some(l.id)).ok_or_else(|| ApiError::invalid("label", "no label with this id or name"))
}

/// The filters of a saved view the caller sees (their own or a shared one), as query values.
async fn saved_view_filters(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Vec<(String, String)>> {
    let row = match Uuid::parse_str(id) {
        Ok(id) => store::labels::view(&state.db, auth.tenant_id, id).await?,
        Err(_) => None,
    };
    let row = row.filter(|v| v.operator_id.is_none() || v.operator_id == auth.operator_id).ok_or_else(|| ApiError::invalid("view", "no saved view with this id"))?;
    let filters: serde_json::Value = serde_json::from_str(&row.filters).unwrap_or_default();
    Ok(filters
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))).collect())
        .unwrap_or_default())
}

/// The calling operator has read the conversation up to now (its unread count for them is
/// zero).
#[utoipa::path(post, path = "/v1/conversations/{id}/read", tag = "conversations", operation_id = "markConversationRead", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Read"), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
async fn read(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let conversation = find(&state, &auth, &id).await?;
    let operator = auth.operator_id.ok_or_else(|| ApiError::Conflict("this key belongs to no operator: only operators read".into()))?;
    store::reads::mark_read(&state.db, conversation.id, operator).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether free text may be sent now on a channel with a reply window, and until when.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReplyWindow)]
struct WindowView {
    /// `open` or `closed`.
    state: &'static str,
    #[schema(format = DateTime)]
    closes_at: Option<String>,
    /// Closed, but an operator may still write under the human-agent tag (Messenger,
    /// Instagram).
    human_agent: bool,
    #[schema(format = DateTime)]
    human_agent_until: Option<String>,
    /// Whether the channel sends templates (the way to write once the window is closed).
    templates: bool,
}

/// A conversation as read by id.
#[derive(Serialize, utoipa::ToSchema)]
struct ConversationRead {
    #[serde(flatten)]
    conversation: ConversationView,
    /// On channels with a reply window (WhatsApp, Messenger, Instagram).
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<WindowView>,
}

/// A conversation, with its labels, attributes and (where the channel has one) reply window.
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "conversations", operation_id = "getConversation", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The conversation", body = ConversationRead,
            links(("messages" = (operation_id = "listMessages", parameters(("id" = "$response.body#/id")))),
                  ("update" = (operation_id = "updateConversation", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem), (status = 410, response = Problem)))]
async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<ConversationRead>> {
    let conversation = find(&state, &auth, &id).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "conversation.read", "conversation", Some(conversation.id), None).await;
    let labels = crate::inbox::labels::labels_by_owner(&state.db, store::labels::Labelled::Conversations, &[conversation.id]).await?.remove(&conversation.id).unwrap_or_default();
    let definitions = attributes::definitions(&state.db, auth.tenant_id).await?;
    let key = state.keyring.data_key(&state.db, auth.tenant_id, conversation.contact_id).await?;
    let keys = HashMap::from([(conversation.id, key)]);
    let custom = attributes::read(&state.db, &definitions, "conversation", &[conversation.id], &keys).await?.remove(&conversation.id);
    let mut view = ConversationRead { conversation: ConversationView { labels: Some(labels), custom_attributes: custom, ..present::conversation(&conversation) }, window: None };
    // On channels with a reply window (WhatsApp, Messenger, Instagram): whether free text may
    // be sent now, and until when.
    if let Some(channel) = state.channels.get(conversation.channel_id).await?
        && let Some(kind) = state.channels.kind_of(&channel)
        && let Some(window) = crate::egress::window::Window::of(&state.db, kind, conversation.contact_id, channel.id).await?
    {
        let now = store::now_micros();
        let allowance = window.allowance(now, true);
        view.window = Some(WindowView {
            state: if window.is_open(now) { "open" } else { "closed" },
            closes_at: window.closes_at.map(crate::domain::rfc3339),
            human_agent: allowance == crate::egress::window::Allowance::HumanAgent,
            human_agent_until: window.human_agent_until.map(crate::domain::rfc3339),
            templates: kind.capabilities().templates,
        });
    }
    Ok(Json(view))
}

/// A change of status, assignee or attributes; what is left out stays as it is.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConversationUpdate)]
struct UpdateConversation {
    /// `open`, `pending`, `resolved` or `snoozed`.
    #[schema(pattern = "^(open|pending|resolved|snoozed)$")]
    status: Option<String>,
    /// The operator to assign; `null` unassigns.
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    assignee_id: Patch<Uuid>,
    /// Custom attributes to set (`null` removes one); the others are kept.
    #[schema(value_type = Option<Object>)]
    custom_attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Change a conversation's status, assignee or custom attributes. Resolving one offers the
/// contact a satisfaction survey where the tenant asks for them.
#[utoipa::path(patch, path = "/v1/conversations/{id}", tag = "conversations", operation_id = "updateConversation", params(("id" = Uuid, Path)),
    request_body = UpdateConversation,
    responses((status = 200, description = "The conversation", body = ConversationView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 410, response = Problem), (status = 422, response = Problem)))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateConversation>,
) -> ApiResult<impl IntoResponse> {
    let current = find(&state, &auth, &id).await?;
    let status = match body.status.as_deref() {
        Some(s) => ConversationStatus::parse(s)
            .ok_or_else(|| ApiError::invalid("status", format!("must be one of {}", CONVERSATION_STATUSES.join(", "))))?
            .as_str()
            .to_owned(),
        None => current.status.clone(),
    };
    let resolving = status == ConversationStatus::Resolved.as_str() && ConversationStatus::parse(&current.status) != Some(ConversationStatus::Resolved);
    let assignee_id = body.assignee_id.apply_copy(current.assignee_id);
    if let Some(operator) = assignee_id
        && state.db.operator(auth.tenant_id, operator).await?.is_none() {
            return Err(ApiError::invalid("assignee_id", "no operator with this id"));
        }
    let key = state.keyring.data_key(&state.db, auth.tenant_id, current.contact_id).await?;
    let definitions = match &body.custom_attributes {
        Some(_) => attributes::definitions(&state.db, auth.tenant_id).await?,
        None => Vec::new(),
    };
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let row = store::conversations::update(work.tx(), auth.tenant_id, current.id, &status, assignee_id)
        .await?
        .ok_or(ApiError::NotFound("conversation"))?;
    let mut view = present::conversation(&row);
    if let Some(change) = &body.custom_attributes {
        attributes::write(work.tx(), &definitions, "conversation", row.id, &key, change).await?;
        let keys = std::collections::HashMap::from([(row.id, key.clone())]);
        view.custom_attributes = attributes::read(work.tx(), &definitions, "conversation", &[row.id], &keys).await?.remove(&row.id);
    }
    let sequence = outbox::next_sequence(work.tx(), row.id).await?;
    let event = Event::in_conversation(auth.tenant_id, events::CONVERSATION_UPDATED, row.contact_id, row.id, sequence, &view);
    work.append(Some(&key), event).await?;
    if resolving {
        crate::inbox::csat::offer(&state, &mut work, &row).await?;
    }
    work.commit().await?;
    Ok(Json(view))
}

/// An outbound conversation: its contact, the channel and the first message.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConversationStart)]
struct StartConversation {
    contact_id: Uuid,
    /// A channel on which the contact has an address.
    channel_id: Uuid,
    #[schema(min_length = 1, max_length = 20000)]
    text: String,
    /// A configured purpose (default `service`): consent is asked for it.
    purpose: Option<String>,
}

/// A conversation just started, with its first (queued) message.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = StartedConversation)]
struct Started {
    #[serde(flatten)]
    conversation: ConversationView,
    message: MessageView,
}

/// Start an outbound conversation with a contact, on a channel they can be reached on.
#[utoipa::path(post, path = "/v1/conversations", tag = "conversations", operation_id = "startConversation", request_body = StartConversation,
    responses((status = 201, description = "Started, with its first (queued) message", body = Started,
            links(("get" = (operation_id = "getConversation", parameters(("id" = "$response.body#/id")))),
                  ("messages" = (operation_id = "listMessages", parameters(("id" = "$response.body#/id")))),
                  ("update" = (operation_id = "updateConversation", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 410, response = Problem), (status = 422, response = Problem), (status = 503, response = Problem)))]
async fn start(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<StartConversation>) -> ApiResult<impl IntoResponse> {
    let text = messages::valid_text(&body.text)?;
    let purpose = messages::valid_purpose(&state, body.purpose.as_deref())?;
    let purpose = purpose.as_str();
    let contact = store::contacts::contact(&state.db, auth.tenant_id, body.contact_id)
        .await?
        .ok_or_else(|| ApiError::unknown("contact_id", "no contact with this id"))?;
    let key = state.keyring.data_key(&state.db, auth.tenant_id, contact.id).await?;
    let channel = messages::reachable_channel(&state, &auth, contact.id, body.channel_id).await?;
    if let Some(kind) = state.channels.kind_of(&channel) {
        kind.check_text(text).map_err(|e| ApiError::invalid("text", e.detail))?;
    }
    let outgoing = Outgoing { tenant_id: auth.tenant_id, contact_id: contact.id, channel: &channel, purpose, attachments: false, to: None, template: false, human: true };
    state.door.preflight(&outgoing).await?;
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let conversation = store::conversations::insert(work.tx(), auth.tenant_id, contact.id, channel.id).await?;
    let sequence = outbox::next_sequence(work.tx(), conversation.id).await?;
    let view = present::conversation(&conversation);
    let event = Event::in_conversation(auth.tenant_id, events::CONVERSATION_CREATED, contact.id, conversation.id, sequence, &view);
    work.append(Some(&key), event).await?;
    let draft = Draft { author: Author::Operator(auth.operator_id), ..Draft::automatic(auth.tenant_id, conversation.id, channel.id, &key, text, purpose) };
    let message = outgoing::queue(&mut work, &state.send_wake, draft).await?;
    work.commit().await?;
    Ok((StatusCode::CREATED, Json(Started { conversation: present::conversation(&conversation), message })))
}
