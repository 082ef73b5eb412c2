//! `/v1/canned-responses`: replies operators reuse, with placeholders filled in for a
//! conversation (`{{contact.name}}`, `{{contact.email}}`, `{{contact.phone}}`,
//! `{{operator.name}}`, `{{channel.name}}`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use omnibridge_channel::problem::JsonBody;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use crate::domain::rfc3339;
use crate::api::error::{ApiError, ApiResult};
use crate::events::present;
use crate::hub::AppState;
use crate::store::{self, canned::CannedRow};

pub const PLACEHOLDERS: &[&str] = &["contact.name", "contact.email", "contact.phone", "operator.name", "channel.name"];

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(update, remove)).routes(routes!(render))
}

/// A reply operators reuse.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = CannedResponse)]
struct CannedView {
    id: Uuid,
    /// What an operator types after `/` to find it.
    shortcut: String,
    /// The text, with placeholders such as `{{contact.name}}`.
    text: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

fn view(r: &CannedRow) -> CannedView {
    CannedView { id: r.id, shortcut: r.shortcut.clone(), text: r.text.clone(), created_at: rfc3339(r.created_at), updated_at: rfc3339(r.updated_at) }
}

/// Every canned response of the tenant (one page).
#[derive(serde::Serialize, utoipa::ToSchema)]
struct CannedList {
    data: Vec<CannedView>,
}

/// A canned response filled in for a conversation.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Rendered {
    text: String,
}

/// A placeholder that is not closed or not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
struct PlaceholderError(String);

/// The placeholders in a text, each checked against the known ones.
fn placeholders(text: &str) -> Result<Vec<&str>, PlaceholderError> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| PlaceholderError("a {{ placeholder is not closed with }}".to_owned()))?;
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(PlaceholderError(format!("unknown placeholder {{{{{name}}}}}; known: {}", PLACEHOLDERS.join(", "))));
        }
        found.push(name);
        rest = &after[end + 2..];
    }
    Ok(found)
}

/// Fills the placeholders; a value that is unknown becomes the empty string.
pub fn fill(text: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(&value(after[..end].trim()).unwrap_or_default());
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A new canned response.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCanned {
    /// 1 to 50 characters without spaces, unique in the tenant.
    #[schema(pattern = r"^\S{1,50}$")]
    shortcut: String,
    /// 1 to 10,000 characters, not only spaces; placeholders: `{{contact.name}}`,
    /// `{{contact.email}}`, `{{contact.phone}}`, `{{operator.name}}`, `{{channel.name}}`.
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    text: String,
}

/// What changes on a canned response; what is left out stays.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CannedChange {
    #[schema(pattern = r"^\S{1,50}$")]
    shortcut: Option<String>,
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    text: Option<String>,
}

/// Another canned response of the tenant has the shortcut: 409, naming `shortcut`.
fn shortcut_taken(e: crate::store::StoreError) -> ApiError {
    match e.constraint() {
        Some(_) => ApiError::Taken { field: "shortcut", detail: "another canned response has this shortcut".into() },
        None => ApiError::Store(e),
    }
}

fn check(shortcut: &str, text: &str) -> ApiResult<()> {
    if shortcut.is_empty() || shortcut.chars().count() > 50 || shortcut.contains(char::is_whitespace) {
        return Err(ApiError::invalid("shortcut", "1 to 50 characters without spaces"));
    }
    if text.trim().is_empty() || text.chars().count() > 10_000 {
        return Err(ApiError::invalid("text", "1 to 10000 characters"));
    }
    placeholders(text).map(|_| ()).map_err(|why| ApiError::invalid("text", why.to_string()))
}

/// Canned responses.
#[utoipa::path(get, path = "/v1/canned-responses", tag = "operators", operation_id = "listCanned",
    responses((status = 200, description = "Canned responses", body = CannedList), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<CannedList>> {
    let rows = store::canned::list(&state.db, auth.tenant_id).await?;
    Ok(Json(CannedList { data: rows.iter().map(view).collect() }))
}

/// Create a canned response.
#[utoipa::path(post, path = "/v1/canned-responses", tag = "operators", operation_id = "createCanned", request_body = NewCanned,
    responses(
        (status = 201, description = "Created", body = CannedView,
            links(("update" = (operation_id = "updateCanned", parameters(("id" = "$response.body#/id")))),
                  ("delete" = (operation_id = "deleteCanned", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem),
    ))]
async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<NewCanned>) -> ApiResult<impl IntoResponse> {
    let (shortcut, text) = (body.shortcut, body.text);
    check(&shortcut, &text)?;
    let now = store::now_micros();
    let row = CannedRow { id: Uuid::now_v7(), tenant_id: auth.tenant_id, shortcut, text, created_at: now, updated_at: now };
    store::canned::save(&state.db, &row).await.map_err(shortcut_taken)?;
    Ok((StatusCode::CREATED, Json(view(&row))))
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<CannedRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("canned response"))?;
    store::canned::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("canned response"))
}

/// Change a canned response.
#[utoipa::path(patch, path = "/v1/canned-responses/{id}", tag = "operators", operation_id = "updateCanned", params(("id" = Uuid, Path)), request_body = CannedChange,
    responses(
        (status = 200, description = "Changed", body = CannedView),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem),
    ))]
async fn update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<CannedChange>) -> ApiResult<impl IntoResponse> {
    let mut row = find(&state, &auth, &id).await?;
    if let Some(s) = body.shortcut {
        row.shortcut = s;
    }
    if let Some(t) = body.text {
        row.text = t;
    }
    check(&row.shortcut, &row.text)?;
    store::canned::save(&state.db, &row).await.map_err(shortcut_taken)?;
    Ok(Json(view(&row)))
}

/// Delete a canned response.
#[utoipa::path(delete, path = "/v1/canned-responses/{id}", tag = "operators", operation_id = "deleteCanned", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let row = find(&state, &auth, &id).await?;
    store::canned::delete(&state.db, auth.tenant_id, row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The conversation to fill a canned response in for.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RenderFor {
    conversation_id: Uuid,
}

/// A canned response filled in for a conversation: the text with the conversation's values in
/// it, ready for the reply box.
#[utoipa::path(post, path = "/v1/canned-responses/{id}/render", tag = "operators", operation_id = "renderCanned", params(("id" = Uuid, Path)), request_body = RenderFor,
    responses(
        (status = 200, description = "The filled-in text", body = Rendered),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 413, response = Problem), (status = 422, response = Problem),
    ))]
async fn render(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<RenderFor>) -> ApiResult<impl IntoResponse> {
    let row = find(&state, &auth, &id).await?;
    let conversation = store::conversations::get(&state.db, auth.tenant_id, body.conversation_id)
        .await?
        .ok_or_else(|| ApiError::unknown("conversation_id", "no such conversation"))?;
    let contact_row = store::contacts::contact(&state.db, auth.tenant_id, conversation.contact_id).await?.ok_or(ApiError::NotFound("contact"))?;
    let key = state.keyring.data_key(&state.db, auth.tenant_id, conversation.contact_id).await?;
    let contact = present::contact(&contact_row, &[], &key)?;
    let operator = match auth.operator_id {
        Some(id) => state.db.operator(auth.tenant_id, id).await?.map(|o| o.name),
        None => None,
    };
    let channel = state.channels.get(conversation.channel_id).await?.map(|c| c.name.clone());
    let text = fill(&row.text, |name| match name {
        "contact.name" => contact.name.clone(),
        "contact.email" => contact.email.clone(),
        "contact.phone" => contact.phone.clone(),
        "operator.name" => operator.clone(),
        "channel.name" => channel.clone(),
        _ => None,
    });
    Ok(Json(Rendered { text }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_checked_and_filled() {
        assert_eq!(placeholders("Hi {{ contact.name }}, {{operator.name}} here").unwrap(), ["contact.name", "operator.name"]);
        assert!(placeholders("Hi {{contact.shoe}}").unwrap_err().to_string().contains("unknown placeholder"));
        assert!(placeholders("Hi {{contact.name").is_err());
        let filled = fill("Hi {{contact.name}}, {{operator.name}} here", |n| (n == "contact.name").then(|| "Ada".to_owned()));
        assert_eq!(filled, "Hi Ada,  here");
    }
}
