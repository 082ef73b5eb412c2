//! `/v1/canned-responses`: replies operators reuse, with placeholders filled in for a
//! conversation (`{{contact.name}}`, `{{contact.email}}`, `{{contact.phone}}`,
//! `{{operator.name}}`, `{{channel.name}}`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Auth;
use crate::domain::rfc3339;
use crate::api::error::{ApiError, ApiResult};
use crate::events::present;
use crate::hub::AppState;
use crate::store::{self, canned::CannedRow};

pub const PLACEHOLDERS: &[&str] = &["contact.name", "contact.email", "contact.phone", "operator.name", "channel.name"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/canned-responses", get(list).post(create))
        .route("/v1/canned-responses/{id}", axum::routing::patch(update).delete(remove))
        .route("/v1/canned-responses/{id}/render", post(render))
}

fn view(r: &CannedRow) -> Value {
    json!({"id": r.id, "shortcut": r.shortcut, "text": r.text, "created_at": rfc3339(r.created_at), "updated_at": rfc3339(r.updated_at)})
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    shortcut: Option<String>,
    text: Option<String>,
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

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let rows = store::canned::list(&state.db, auth.tenant_id).await?;
    Ok(Json(json!({"data": rows.iter().map(view).collect::<Vec<_>>()})))
}

async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<Fields>) -> ApiResult<impl IntoResponse> {
    let (shortcut, text) = (body.shortcut.unwrap_or_default(), body.text.unwrap_or_default());
    check(&shortcut, &text)?;
    let now = store::now_micros();
    let row = CannedRow { id: Uuid::now_v7(), tenant_id: auth.tenant_id, shortcut, text, created_at: now, updated_at: now };
    store::canned::save(&state.db, &row).await.map_err(|e| match e.constraint() {
        Some(_) => ApiError::invalid("shortcut", "another canned response has this shortcut"),
        None => ApiError::Store(e),
    })?;
    Ok((StatusCode::CREATED, Json(view(&row))))
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<CannedRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("canned response"))?;
    store::canned::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("canned response"))
}

async fn update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<Fields>) -> ApiResult<impl IntoResponse> {
    let mut row = find(&state, &auth, &id).await?;
    if let Some(s) = body.shortcut {
        row.shortcut = s;
    }
    if let Some(t) = body.text {
        row.text = t;
    }
    check(&row.shortcut, &row.text)?;
    store::canned::save(&state.db, &row).await.map_err(|e| match e.constraint() {
        Some(_) => ApiError::invalid("shortcut", "another canned response has this shortcut"),
        None => ApiError::Store(e),
    })?;
    Ok(Json(view(&row)))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let row = find(&state, &auth, &id).await?;
    store::canned::delete(&state.db, auth.tenant_id, row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderFor {
    conversation_id: Uuid,
}

/// The text with the conversation's values in it, ready for the reply box.
async fn render(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<RenderFor>) -> ApiResult<impl IntoResponse> {
    let row = find(&state, &auth, &id).await?;
    let conversation = store::conversations::get(&state.db, auth.tenant_id, body.conversation_id)
        .await?
        .ok_or_else(|| ApiError::invalid("conversation_id", "no such conversation"))?;
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
    Ok(Json(json!({"text": text})))
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
