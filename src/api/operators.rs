//! `/v1/operators`: the people answering, who conversations are assigned to.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use super::pagination::{PageQuery, ListParams, Params};
use crate::domain::rfc3339;
use crate::api::error::{ApiError, ApiResult};
use crate::hub::AppState;
use crate::store::{OperatorRow, Page};

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, remove))
        .routes(routes!(deactivate))
        .routes(routes!(reactivate))
        .routes(routes!(sessions, sign_out_everywhere))
        .routes(routes!(import))
}

/// What a team import created.
#[derive(Serialize, utoipa::ToSchema)]
struct Imported {
    imported: usize,
    operators: Vec<OperatorView>,
}

/// Team import (admins): a CSV of `name,email,role` rows (a header line optional, at most 100
/// rows), all imported or none; each new operator is mailed an invitation to set a password.
/// Problems are listed per line in `errors`.
#[utoipa::path(post, path = "/v1/operators/import", tag = "operators", operation_id = "importOperators",
    request_body(content = String, content_type = "text/csv", description = "name,email,role per line"),
    responses((status = 201, description = "Imported", body = Imported), (status = 400, response = Problem), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 413, response = Problem), (status = 422, response = Problem)))]
async fn import(State(state): State<AppState>, auth: Auth, body: axum::body::Bytes) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::invalid("file", "must be UTF-8 text (CSV)"))?;
    let created = crate::team::import::import(&state.db, &state.keyring, auth.tenant_id, text).await.map_err(|e| match e {
        crate::team::import::ImportError::Invalid(rows) => ApiError::Rows(rows),
        crate::team::import::ImportError::Store(e) => ApiError::Store(e),
    })?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "operators.import", "tenant", Some(auth.tenant_id), Some(&format!("{} operator(s)", created.len()))).await;
    state.mail_wake.notify_one();
    let views: Vec<OperatorView> = created.into_iter().map(|row| OperatorView { invitation: Some("pending".into()), ..view(row) }).collect();
    Ok((StatusCode::CREATED, Json(Imported { imported: views.len(), operators: views })))
}

/// What changes on an operator; what is left out stays.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateOperator {
    /// `online` (takes new conversations), `away` or `offline`.
    #[schema(pattern = "^(online|away|offline)$")]
    availability: Option<String>,
    /// How many open and pending conversations automatic assignment gives them at most.
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    #[schema(minimum = 0, maximum = 1000)]
    capacity: Option<i64>,
    /// The daily summary mail: on or off.
    daily_summary: Option<bool>,
    /// `admin` or `agent` (admins only; a tenant keeps at least one active admin).
    #[schema(pattern = "^(admin|agent)$")]
    role: Option<String>,
    /// Closing lines under their mail replies (before the mailbox's own); `""` removes it.
    #[schema(max_length = 2000)]
    signature: Option<String>,
}

/// Change an operator's availability, capacity, summary mail, signature or role: admins for
/// anyone, operators for themselves (their role only by an admin).
#[utoipa::path(patch, path = "/v1/operators/{id}", tag = "operators", operation_id = "updateOperator", params(("id" = Uuid, Path)), request_body = UpdateOperator,
    responses((status = 200, description = "The operator", body = OperatorView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn update(State(state): State<AppState>, auth: Auth, axum::extract::Path(id): axum::extract::Path<String>, JsonBody(body): JsonBody<UpdateOperator>) -> ApiResult<impl IntoResponse> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("operator"))?;
    if auth.role != crate::domain::Role::Admin && auth.operator_id != Some(id) {
        return Err(ApiError::Forbidden);
    }
    if let Some(role) = &body.role {
        auth.require_admin()?;
        let role = crate::domain::Role::parse(role).ok_or_else(|| ApiError::invalid("role", "must be admin or agent"))?;
        crate::team::operators::change_role(&state, auth.tenant_id, id, role, &auth.actor()).await?;
    }
    let row = state.db.operator(auth.tenant_id, id).await?.ok_or(ApiError::NotFound("operator"))?;
    let current = crate::store::team::availability(&state.db, auth.tenant_id).await?.into_iter().find(|a| a.id == id).ok_or(ApiError::NotFound("operator"))?;
    let availability = body.availability.unwrap_or(current.availability);
    if !["online", "away", "offline"].contains(&availability.as_str()) {
        return Err(ApiError::invalid("availability", "must be online, away or offline"));
    }
    let capacity = body.capacity.unwrap_or(current.capacity);
    if !(0..=1000).contains(&capacity) {
        return Err(ApiError::invalid("capacity", "must be from 0 to 1000"));
    }
    let daily_summary = body.daily_summary.unwrap_or(current.daily_summary);
    if body.signature.as_ref().is_some_and(|s| s.chars().count() > crate::inbox::signatures::MAX_SIGNATURE_CHARS) {
        return Err(ApiError::invalid("signature", format!("must be at most {} characters", crate::inbox::signatures::MAX_SIGNATURE_CHARS)));
    }
    let signature = match body.signature.as_deref().map(str::trim) {
        Some(s) if s.chars().count() > crate::inbox::signatures::MAX_SIGNATURE_CHARS => {
            return Err(ApiError::invalid("signature", format!("must be at most {} characters", crate::inbox::signatures::MAX_SIGNATURE_CHARS)));
        }
        Some(s) => {
            let signature = (!s.is_empty()).then_some(s);
            crate::store::team::set_signature(&state.db, auth.tenant_id, id, signature).await?;
            signature.map(str::to_owned)
        }
        None => row.signature.clone(),
    };
    crate::store::team::set_availability(&state.db, auth.tenant_id, id, &availability, capacity, daily_summary).await?;
    let mut view = view(row);
    view.availability = availability;
    view.capacity = capacity;
    view.daily_summary = daily_summary;
    view.signature = signature;
    if daily_summary && !current.daily_summary {
        state.mail_wake.notify_one();
    }
    Ok(Json(view))
}

/// An operator: a person answering conversations.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Operator)]
struct OperatorView {
    id: Uuid,
    name: String,
    email: Option<String>,
    /// `admin` or `agent`.
    role: String,
    /// `online`, `away` or `offline`.
    availability: String,
    capacity: i64,
    /// Whether they get the daily summary mail.
    daily_summary: bool,
    /// Closing lines under their mail replies.
    signature: Option<String>,
    /// `active`, `deactivated` (no sign-in, keys or assignments until reactivated) or `deleted`
    /// (personal data erased; kept so what they wrote still names its author).
    #[schema(value_type = String)]
    status: &'static str,
    /// For invited operators: `pending` (mail not sent yet), `sent`, `accepted`, `expired` or
    /// `failed` (the mail could not be sent; see `invitation_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    invitation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invitation_error: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

fn view(row: OperatorRow) -> OperatorView {
    OperatorView {
        id: row.id,
        name: row.name,
        email: row.email,
        role: row.role,
        availability: "offline".into(),
        capacity: 5,
        daily_summary: false,
        signature: row.signature.clone(),
        status: "active",
        invitation: None,
        invitation_error: None,
        created_at: rfc3339(row.created_at),
    }
}

/// A new operator.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OperatorCreate)]
struct CreateOperator {
    /// 1 to 200 characters, not only spaces.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: String,
    /// Needed to sign in.
    #[schema(pattern = "@")]
    email: Option<String>,
    #[schema(pattern = "^(admin|agent)$")]
    role: String,
    /// For signing in to the console (12 to 200 characters; needs `email`); stored as an
    /// argon2id hash.
    #[schema(min_length = 12, max_length = 200, format = Password)]
    password: Option<String>,
}

/// Add an operator (admins).
#[utoipa::path(post, path = "/v1/operators", tag = "operators", operation_id = "createOperator", request_body = CreateOperator,
    responses(
        (status = 201, description = "Created", body = OperatorView,
            links(("update" = (operation_id = "updateOperator", parameters(("id" = "$response.body#/id")))),
                  ("sessions" = (operation_id = "listOperatorSessions", parameters(("id" = "$response.body#/id")))),
                  ("deactivate" = (operation_id = "deactivateOperator", parameters(("id" = "$response.body#/id")))),
                  ("delete" = (operation_id = "deleteOperator", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem),
    ))]
async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<CreateOperator>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    if body.name.trim().is_empty() || body.name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "must be 1 to 200 characters, not only spaces"));
    }
    let name = body.name.trim();
    if !["admin", "agent"].contains(&body.role.as_str()) {
        return Err(ApiError::invalid("role", "must be admin or agent"));
    }
    let email = body.email.as_deref().map(|e| e.trim().to_lowercase());
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        return Err(ApiError::invalid("email", "must look like name@example.com"));
    }
    let hash = match &body.password {
        Some(password) => {
            super::signin::valid_password(password)?;
            if email.is_none() {
                return Err(ApiError::invalid("email", "an operator who signs in needs an email"));
            }
            Some(super::signin::hash_password(password)?)
        }
        None => None,
    };
    let row = state.db.insert_operator(auth.tenant_id, name, email.as_deref(), &body.role).await?;
    if let Some(hash) = hash {
        crate::store::sessions::set_password(&state.db, auth.tenant_id, row.id, &hash).await?;
    }
    Ok((StatusCode::CREATED, Json(view(row))))
}

/// A page of operators.
#[derive(Serialize, utoipa::ToSchema)]
struct OperatorPage {
    data: Vec<OperatorView>,
    next_cursor: Option<Uuid>,
}

/// The tenant's operators, with availability, status and invitation.
#[utoipa::path(get, path = "/v1/operators", tag = "operators", operation_id = "listOperators", params(PageQuery),
    responses((status = 200, description = "A page of operators", body = OperatorPage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth, Params(q): Params<PageQuery>) -> ApiResult<Json<OperatorPage>> {
    let params = ListParams::of(&q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = state.db.operators(auth.tenant_id, cursor, limit + 1).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let states: HashMap<Uuid, crate::store::team::Availability> =
        crate::store::team::availability(&state.db, auth.tenant_id).await?.into_iter().map(|a| (a.id, a)).collect();
    let now = crate::store::now_micros();
    let invitations: HashMap<Uuid, (String, Option<String>)> = crate::store::invitations::states(&state.db, auth.tenant_id)
        .await?
        .into_iter()
        .map(|i| {
            let stage = match (i.used_at, i.sent_at, i.expires_at, &i.last_error) {
                (Some(_), ..) => "accepted",
                (None, Some(_), Some(expires), _) if expires <= now => "expired",
                (None, Some(_), ..) => "sent",
                (None, None, _, Some(_)) => "failed",
                _ => "pending",
            };
            (i.operator_id, (stage.to_owned(), i.last_error.filter(|_| stage == "failed")))
        })
        .collect();
    let views: Vec<OperatorView> = page
        .items
        .into_iter()
        .map(|row| {
            let mut view = view(row);
            if let Some(a) = states.get(&view.id) {
                (view.availability, view.capacity, view.daily_summary) = (a.availability.clone(), a.capacity, a.daily_summary);
                view.status = match (a.deleted_at, a.deactivated_at) {
                    (Some(_), _) => "deleted",
                    (None, Some(_)) => "deactivated",
                    _ => "active",
                };
            }
            if let Some((stage, error)) = invitations.get(&view.id) {
                (view.invitation, view.invitation_error) = (Some(stage.clone()), error.clone());
            }
            view
        })
        .collect();
    Ok(Json(OperatorPage { data: views, next_cursor: page.next_cursor }))
}

fn operator_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound("operator"))
}

/// Who takes over; the body is optional.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Deactivate {
    /// Who takes over their open conversations (another active operator); absent: they go back
    /// to the queue.
    reassign_to: Option<Uuid>,
}

/// An operator's status after a change.
#[derive(Serialize, utoipa::ToSchema)]
struct StatusChange {
    id: Uuid,
    /// `active` or `deactivated`.
    status: &'static str,
    /// Open conversations handed on (deactivation).
    #[serde(skip_serializing_if = "Option::is_none")]
    conversations_reassigned: Option<u64>,
}

/// Deactivate an operator (admins): sessions, keys and websockets end at once; their open
/// conversations go to a colleague or back to the queue.
#[utoipa::path(post, path = "/v1/operators/{id}/deactivate", tag = "operators", operation_id = "deactivateOperator", params(("id" = Uuid, Path)),
    request_body(content = Option<Deactivate>, description = "Optional"),
    responses((status = 200, description = "Deactivated", body = StatusChange), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn deactivate(State(state): State<AppState>, auth: Auth, axum::extract::Path(id): axum::extract::Path<String>, body: axum::body::Bytes) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let id = operator_id(&id)?;
    let body: Deactivate = if body.is_empty() { Deactivate::default() } else { omnibridge_channel::problem::parse_json(&body).map_err(|p| ApiError::invalid(p.field.as_deref().unwrap_or("body"), p.detail))? };
    let moved = crate::team::operators::deactivate(&state, auth.tenant_id, id, body.reassign_to, &auth.actor()).await?;
    Ok(Json(StatusChange { id, status: "deactivated", conversations_reassigned: Some(moved as u64) }))
}

/// Reactivate a deactivated operator (admins).
#[utoipa::path(post, path = "/v1/operators/{id}/reactivate", tag = "operators", operation_id = "reactivateOperator", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Active again", body = StatusChange), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
async fn reactivate(State(state): State<AppState>, auth: Auth, axum::extract::Path(id): axum::extract::Path<String>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let id = operator_id(&id)?;
    crate::team::operators::reactivate(&state, auth.tenant_id, id, &auth.actor()).await?;
    Ok(Json(StatusChange { id, status: "active", conversations_reassigned: None }))
}

/// Delete an operator (admins): personal data erased, authorship kept as a former operator.
#[utoipa::path(delete, path = "/v1/operators/{id}", tag = "operators", operation_id = "deleteOperator", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 409, response = Problem)))]
async fn remove(State(state): State<AppState>, auth: Auth, axum::extract::Path(id): axum::extract::Path<String>) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    crate::team::operators::delete(&state, auth.tenant_id, operator_id(&id)?, &auth.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A console session, as its operator sees it (never its token).
#[derive(Serialize, utoipa::ToSchema)]
struct SessionView {
    /// A public id: a hash of the token's hash.
    id: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    #[schema(format = DateTime)]
    last_seen_at: Option<String>,
    user_agent: Option<String>,
}

/// An operator's sessions (one page).
#[derive(Serialize, utoipa::ToSchema)]
struct SessionList {
    data: Vec<SessionView>,
    /// Always null: every session is on the one page.
    next_cursor: Option<Uuid>,
}

/// How many sessions ended.
#[derive(Serialize, utoipa::ToSchema)]
struct SessionsEnded {
    sessions_ended: u64,
}

/// An operator's console sessions: admins for anyone, operators for themselves.
#[utoipa::path(get, path = "/v1/operators/{id}/sessions", tag = "operators", operation_id = "listOperatorSessions", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Sessions", body = SessionList), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn sessions(State(state): State<AppState>, auth: Auth, axum::extract::Path(id): axum::extract::Path<String>) -> ApiResult<impl IntoResponse> {
    let id = operator_id(&id)?;
    if auth.role != crate::domain::Role::Admin && auth.operator_id != Some(id) {
        return Err(ApiError::Forbidden);
    }
    state.db.operator(auth.tenant_id, id).await?.ok_or(ApiError::NotFound("operator"))?;
    let rows = crate::store::sessions::of_operator(&state.db, auth.tenant_id, id).await?;
    let data = rows
        .into_iter()
        .map(|s| {
            // A public id: a hash of the token's hash, never the token.
            let public: String = sha2::Digest::finalize(sha2::Digest::chain_update(<sha2::Sha256 as sha2::Digest>::new(), &s.token_hash))[..8].iter().map(|b| format!("{b:02x}")).collect();
            SessionView { id: public, created_at: rfc3339(s.created_at), expires_at: rfc3339(s.expires_at), last_seen_at: s.last_seen_at.map(rfc3339), user_agent: s.user_agent }
        })
        .collect();
    Ok(Json(SessionList { data, next_cursor: None }))
}

/// Sign an operator out everywhere: admins for anyone, operators for themselves.
#[utoipa::path(delete, path = "/v1/operators/{id}/sessions", tag = "operators", operation_id = "signOutEverywhere", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Signed out", body = SessionsEnded), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn sign_out_everywhere(State(state): State<AppState>, auth: Auth, axum::extract::Path(id): axum::extract::Path<String>) -> ApiResult<impl IntoResponse> {
    let id = operator_id(&id)?;
    if auth.role != crate::domain::Role::Admin && auth.operator_id != Some(id) {
        return Err(ApiError::Forbidden);
    }
    let ended = crate::team::operators::sign_out_everywhere(&state, auth.tenant_id, id, &auth.actor()).await?;
    Ok(Json(SessionsEnded { sessions_ended: ended as u64 }))
}
