//! Mail as people write it: a conversation's participants (`/v1/conversations/{id}/participants`)
//! and forwards of a message or a whole conversation to an address
//! (`POST /v1/messages/{id}/forward`, `POST /v1/conversations/{id}/forward`).

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
use super::conversations::find;
use super::openapi::Problem;
use crate::domain::views::{MessageView, ParticipantView};
use crate::api::error::{ApiError, ApiResult};
use crate::events::outbox::UnitOfWork;
use crate::hub::AppState;
use crate::inbox::forward::{Forward, ForwardError, Forwarded, Forwarder};
use crate::inbox::participants::{self, Added};
use crate::store;

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(remove))
        .routes(routes!(forward_conversation))
        .routes(routes!(forward_message))
}

impl From<ForwardError> for ApiError {
    fn from(err: ForwardError) -> Self {
        match err {
            ForwardError::Invalid { field, detail } => ApiError::invalid(field, detail),
            ForwardError::Unknown { field, detail } => ApiError::unknown(field, detail),
            ForwardError::Refused(e) => e.into(),
            ForwardError::Store(e) => ApiError::Store(e),
            ForwardError::Crypto(e) => ApiError::Crypto(e),
            ForwardError::Keys(why) => ApiError::Unavailable(why),
        }
    }
}

/// One typed address, checked and normalized; the error names `field`.
fn one_address(field: &str, raw: &str) -> ApiResult<String> {
    let mut list = participants::valid_addresses(field, std::slice::from_ref(&raw.to_owned())).map_err(|(_, detail)| ApiError::invalid(field, detail))?;
    list.pop().ok_or_else(|| ApiError::invalid(field, "required"))
}

/// A conversation of a mail channel (participants are a mail matter).
async fn mail_conversation(state: &AppState, auth: &Auth, id: &str) -> ApiResult<store::ConversationRow> {
    let conversation = find(state, auth, id).await?;
    let channel = state.channels.get(conversation.channel_id).await?;
    if !channel.as_deref().and_then(|c| state.channels.kind_of(c)).is_some_and(|k| k.capabilities().carbon_copies) {
        return Err(ApiError::Conflict("the conversation is not on a mail channel: it has no participants".into()));
    }
    Ok(conversation)
}

/// A conversation's participants.
#[derive(Serialize, utoipa::ToSchema)]
struct ParticipantList {
    data: Vec<ParticipantView>,
}

/// The people copied into a mail conversation's replies besides the contact.
#[utoipa::path(get, path = "/v1/conversations/{id}/participants", tag = "conversations", operation_id = "listParticipants", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Participants", body = ParticipantList), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 410, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<ParticipantList>> {
    let conversation = find(&state, &auth, &id).await?;
    let key = state.keyring.data_key(&state.db, auth.tenant_id, conversation.contact_id).await?;
    let data = participants::list(&state.db, &key, conversation.id).await?;
    Ok(Json(ParticipantList { data }))
}

/// An address to copy in.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ParticipantCreate)]
struct NewParticipant {
    /// The mail address to copy into every reply from now on.
    address: String,
}

/// Copy an address into a mail conversation's replies from now on. Adding one that is there
/// already answers it (200).
#[utoipa::path(post, path = "/v1/conversations/{id}/participants", tag = "conversations", operation_id = "addParticipant", params(("id" = Uuid, Path)),
    request_body = NewParticipant,
    responses((status = 201, description = "Added", body = ParticipantView), (status = 200, description = "There already", body = ParticipantView),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 410, response = Problem), (status = 422, response = Problem)))]
async fn add(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<NewParticipant>) -> ApiResult<impl IntoResponse> {
    let address = one_address("address", &body.address)?;
    let conversation = mail_conversation(&state, &auth, &id).await?;
    let key = state.keyring.data_key(&state.db, auth.tenant_id, conversation.contact_id).await?;
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let added = participants::add_by_operator(work.tx(), &state.keyring, &key, auth.tenant_id, conversation.id, &address).await?;
    work.commit().await?;
    match added {
        Added::New(view) => Ok((StatusCode::CREATED, Json(view))),
        Added::Existing(view) => Ok((StatusCode::OK, Json(view))),
        Added::Full => Err(ApiError::Conflict(format!("a conversation keeps at most {} participants", participants::MAX_PARTICIPANTS))),
    }
}

/// Stop copying a participant into the conversation's replies.
#[utoipa::path(delete, path = "/v1/conversations/{id}/participants/{participant_id}", tag = "conversations", operation_id = "removeParticipant",
    params(("id" = Uuid, Path), ("participant_id" = Uuid, Path)),
    responses((status = 204, description = "Removed"), (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn remove(State(state): State<AppState>, auth: Auth, Path((id, participant_id)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let conversation = find(&state, &auth, &id).await?;
    let participant_id = Uuid::parse_str(&participant_id).map_err(|_| ApiError::NotFound("participant"))?;
    if !store::participants::remove(&state.db, conversation.id, participant_id).await? {
        return Err(ApiError::NotFound("participant"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Where a forward goes, and a note above it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Forward)]
struct ForwardRequest {
    /// The mail address it goes to.
    to: String,
    /// A note above the forwarded messages.
    #[schema(max_length = 20000)]
    text: Option<String>,
    /// The mail channel it leaves by; the conversation's own when that is a mail channel.
    channel_id: Option<Uuid>,
}

fn forwarder(state: &AppState) -> Forwarder<'_> {
    Forwarder { db: &state.db, keyring: &state.keyring, channels: &state.channels, door: &state.door, bus: &state.bus, send_wake: &state.send_wake }
}

fn valid_note(text: Option<&str>) -> ApiResult<Option<&str>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(note) if note.chars().count() > 20_000 => Err(ApiError::invalid("text", "must be at most 20000 characters")),
        note => Ok(note),
    }
}

/// Forward the whole conversation (without private notes) to an address, by mail. The forward
/// is a message of the conversation, queued like a reply.
#[utoipa::path(post, path = "/v1/conversations/{id}/forward", tag = "conversations", operation_id = "forwardConversation", params(("id" = Uuid, Path)),
    request_body = ForwardRequest,
    responses((status = 201, description = "The forward, queued", body = MessageView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 410, response = Problem), (status = 422, response = Problem),
        (status = 503, response = Problem)))]
async fn forward_conversation(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<ForwardRequest>) -> ApiResult<impl IntoResponse> {
    let to = one_address("to", &body.to)?;
    let note = valid_note(body.text.as_deref())?;
    let conversation = find(&state, &auth, &id).await?;
    let forward = Forward {
        tenant_id: auth.tenant_id,
        operator_id: auth.operator_id,
        conversation: &conversation,
        what: Forwarded::Conversation,
        to: &to,
        note,
        channel_id: body.channel_id,
    };
    let view = forwarder(&state).forward(forward).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Forward one message, with its files, to an address, by mail.
#[utoipa::path(post, path = "/v1/messages/{id}/forward", tag = "messages", operation_id = "forwardMessage", params(("id" = Uuid, Path)),
    request_body = ForwardRequest,
    responses((status = 201, description = "The forward, queued", body = MessageView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 410, response = Problem), (status = 422, response = Problem),
        (status = 503, response = Problem)))]
async fn forward_message(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<ForwardRequest>) -> ApiResult<impl IntoResponse> {
    let to = one_address("to", &body.to)?;
    let note = valid_note(body.text.as_deref())?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("message"))?;
    let message = store::messages::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("message"))?;
    // The conversation's access rules decide who may see (and so forward) its messages.
    let conversation = find(&state, &auth, &message.conversation_id.to_string()).await?;
    if message.private {
        return Err(ApiError::Conflict("a private note stays inside the team; it is not forwarded".into()));
    }
    let forward = Forward {
        tenant_id: auth.tenant_id,
        operator_id: auth.operator_id,
        conversation: &conversation,
        what: Forwarded::Message(&message),
        to: &to,
        note,
        channel_id: body.channel_id,
    };
    let view = forwarder(&state).forward(forward).await?;
    Ok((StatusCode::CREATED, Json(view)))
}
