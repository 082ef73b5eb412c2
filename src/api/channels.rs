//! `/v1/channels`: tenants create, change and delete channels at run time.
//!
//! A channel's settings are its kind's: the description of `POST /v1/channels` is built from
//! the registry of kinds, each describing its own settings ([`ChannelKind::settings_schema`]).

use std::borrow::Cow;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use omnibridge_channel::ChannelKind;
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use super::pagination::{ListParams, PageQuery, Params};
use crate::channels::{ChannelInfo, Kinds, settings};
use crate::api::error::{ApiError, ApiResult};
use crate::hub::AppState;
use crate::domain::rfc3339;
use crate::domain::views::ChannelView;
use crate::store::{self, Page};

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(quarantine))
        .routes(routes!(templates))
        .routes(routes!(sync_templates))
}

/// A message template as last synced from the provider.
#[derive(Serialize, utoipa::ToSchema)]
struct TemplateView {
    name: String,
    language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    category: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, …; only approved ones are sent.
    status: String,
    /// The provider's component definitions (header, body with `{{1}}` placeholders, footer,
    /// buttons), as it gave them.
    #[schema(value_type = Vec<Object>)]
    components: serde_json::Value,
    /// How many body parameters it takes.
    parameters: usize,
    #[schema(format = DateTime)]
    synced_at: String,
}

/// A channel's templates.
#[derive(Serialize, utoipa::ToSchema)]
struct TemplateList {
    data: Vec<TemplateView>,
}

fn template_view(row: &store::templates::TemplateRow) -> TemplateView {
    let template = row.template();
    TemplateView {
        parameters: template.body_parameters(),
        name: template.name,
        language: template.language,
        category: template.category,
        status: template.status,
        components: template.components,
        synced_at: rfc3339(row.synced_at),
    }
}

/// The channel's message templates as last synced (WhatsApp), for the template picker. A
/// channel whose kind has no templates has none.
#[utoipa::path(get, path = "/v1/channels/{id}/templates", tag = "channels", operation_id = "listChannelTemplates", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Templates", body = TemplateList), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn templates(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<TemplateList>> {
    let info = ChannelInfo::from_row(find(&state, &auth, &id).await?);
    if !state.channels.kind_of(&info).is_some_and(|k| k.capabilities().templates) {
        return Ok(Json(TemplateList { data: Vec::new() }));
    }
    let rows = store::templates::list(&state.db, info.id).await?;
    Ok(Json(TemplateList { data: rows.iter().map(template_view).collect() }))
}

/// Lists the templates at the provider again and keeps them. A channel whose kind has no
/// templates has nothing to sync: 409.
#[utoipa::path(post, path = "/v1/channels/{id}/templates/sync", tag = "channels", operation_id = "syncChannelTemplates", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Templates, as the provider lists them now", body = TemplateList), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem), (status = 409, response = Problem), (status = 502, response = Problem),
        (status = 503, response = Problem)))]
async fn sync_templates(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<TemplateList>> {
    let info = ChannelInfo::from_row(find(&state, &auth, &id).await?);
    if !state.channels.kind_of(&info).is_some_and(|k| k.capabilities().templates) {
        return Err(ApiError::Conflict(format!("a {} channel has no message templates to sync", info.kind)));
    }
    let rows = crate::channels::templates::sync(&state.channels, &state.db, &info).await?;
    Ok(Json(TemplateList { data: rows.iter().map(template_view).collect() }))
}

/// A new channel: its kind, a name, and the kind's settings. Described per kind (one variant
/// per registered kind, its settings the kind's own schema).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateChannel {
    kind: String,
    name: String,
    settings: Option<serde_json::Value>,
}

/// The component name of a kind's settings schema: `twilio_sms` → `TwilioSmsSettings`.
fn settings_schema_name(kind: &dyn ChannelKind) -> String {
    let pascal: String = kind.name().split('_').map(|word| {
        let mut chars = word.chars();
        chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
    }).collect();
    format!("{pascal}Settings")
}

/// A schema given as JSON (a kind's, or one built here) in utoipa's terms.
fn schema_from_json(value: serde_json::Value) -> RefOr<Schema> {
    serde_json::from_value(value).unwrap_or_else(|_| RefOr::T(Schema::default()))
}

fn name_schema() -> serde_json::Value {
    json!({"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"})
}

impl utoipa::PartialSchema for CreateChannel {
    fn schema() -> RefOr<Schema> {
        let kinds = Kinds::described();
        let variants: Vec<serde_json::Value> = kinds
            .all()
            .map(|kind| {
                let settings = kind.settings_schema();
                let needs_settings = settings.get("required").and_then(serde_json::Value::as_array).is_some_and(|r| !r.is_empty());
                let mut required = vec!["kind", "name"];
                let reference = json!({"$ref": format!("#/components/schemas/{}", settings_schema_name(kind))});
                // Settings a kind can do without may be left out or null (its defaults).
                let settings_member = if needs_settings {
                    required.push("settings");
                    reference
                } else {
                    json!({"oneOf": [reference, {"type": "null"}]})
                };
                json!({
                    "type": "object",
                    "title": kind.name(),
                    "required": required,
                    "additionalProperties": false,
                    "properties": {
                        "kind": {"type": "string", "enum": [kind.name()]},
                        "name": name_schema(),
                        "settings": settings_member,
                    },
                })
            })
            .collect();
        schema_from_json(json!({"oneOf": variants, "description": "A channel of one of the kinds; secrets in its settings are stored sealed and never returned."}))
    }
}

impl utoipa::ToSchema for CreateChannel {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ChannelCreate")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for kind in Kinds::described().all() {
            schemas.push((settings_schema_name(kind), schema_from_json(kind.settings_schema())));
        }
    }
}

/// A change of a channel's name or settings.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ChannelUpdate)]
struct UpdateChannel {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: Option<String>,
    /// The kind's settings (see its `…Settings` schema), all of them: secrets left out keep
    /// their stored values, unless the host they are sent to changes.
    #[schema(value_type = Option<Object>)]
    settings: Option<serde_json::Value>,
}

fn valid_name(name: &str) -> ApiResult<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(name)
}

fn seal_secrets(state: &AppState, tenant_id: Uuid, channel_id: Uuid, secrets: Option<serde_json::Value>) -> ApiResult<Option<Vec<u8>>> {
    secrets
        .map(|s| state.keyring.seal_secrets(tenant_id, channel_id, s.to_string().as_bytes()))
        .transpose()
        .map_err(ApiError::from)
}

/// Create a channel (admins). Its hosts must not be private addresses (unless allowed), and the
/// channel starts at once; its health shows on `getChannel`.
#[utoipa::path(post, path = "/v1/channels", tag = "channels", operation_id = "createChannel", request_body = CreateChannel,
    responses(
        (status = 201, description = "Created", body = ChannelView,
            links(("get" = (operation_id = "getChannel", parameters(("id" = "$response.body#/id")))),
                  ("update" = (operation_id = "updateChannel", parameters(("id" = "$response.body#/id")))),
                  ("delete" = (operation_id = "deleteChannel", parameters(("id" = "$response.body#/id")))),
                  ("templates" = (operation_id = "listChannelTemplates", parameters(("id" = "$response.body#/id")))),
                  ("sync_templates" = (operation_id = "syncChannelTemplates", parameters(("id" = "$response.body#/id")))),
                  ("quarantine" = (operation_id = "listQuarantinedMail", parameters(("id" = "$response.body#/id")))),
                  ("hours" = (operation_id = "getBusinessHours", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem),
    ))]
async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<CreateChannel>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let name = valid_name(&body.name)?;
    let kind = settings::kind(state.channels.kinds(), &body.kind)?;
    let validated = settings::validate(kind, body.settings)?;
    settings::vet_destinations(kind, &validated.public, &state.outbound_policy).await?;
    let id = Uuid::now_v7();
    let secrets = seal_secrets(&state, auth.tenant_id, id, validated.secrets)?;
    let row = state.db.insert_channel(id, auth.tenant_id, &body.kind, name, &validated.public.to_string(), secrets.as_deref()).await?;
    state.runners.restart(row.id).await;
    let info = ChannelInfo::from_row(row);
    crate::channels::checkup::spawn(&state.channels, &state.db, &info);
    Ok((StatusCode::CREATED, Json(info.view())))
}

/// A page of channels.
#[derive(Serialize, utoipa::ToSchema)]
struct ChannelPage {
    data: Vec<ChannelView>,
    next_cursor: Option<Uuid>,
}

/// The tenant's channels, oldest first.
#[utoipa::path(get, path = "/v1/channels", tag = "channels", operation_id = "listChannels", params(PageQuery),
    responses((status = 200, description = "A page of channels", body = ChannelPage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth, Params(q): Params<PageQuery>) -> ApiResult<Json<ChannelPage>> {
    let params = ListParams::of(&q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = state.db.channels(auth.tenant_id, cursor, limit + 1).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let data = page.items.into_iter().map(|r| ChannelInfo::from_row(r).view()).collect();
    Ok(Json(ChannelPage { data, next_cursor: page.next_cursor }))
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<crate::store::ChannelRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("channel"))?;
    state.db.channel_by_id(id).await?.filter(|c| c.tenant_id == auth.tenant_id).ok_or(ApiError::NotFound("channel"))
}

/// How a channel that pulls messages in (a mailbox) is doing.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ChannelHealth)]
struct Health {
    #[schema(inline)]
    status: HealthStatus,
    last_error: Option<String>,
    #[schema(format = DateTime)]
    checked_at: Option<String>,
}

/// `starting` before the first report, `ok` once the importer works, `error` with the last
/// error.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum HealthStatus {
    Starting,
    Ok,
    Error,
}

/// A channel as read by id.
#[derive(Serialize, utoipa::ToSchema)]
struct ChannelRead {
    #[serde(flatten)]
    channel: ChannelView,
    /// Channels that pull messages in (mailboxes), or that reported on their health.
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<Health>,
}

/// A channel, with its background health for channels that pull messages in.
#[utoipa::path(get, path = "/v1/channels/{id}", tag = "channels", operation_id = "getChannel", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The channel", body = ChannelRead), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<ChannelRead>> {
    let info = ChannelInfo::from_row(find(&state, &auth, &id).await?);
    let health = store::mailboxes::health(&state.db, info.id).await?;
    let reports = state.channels.kind_of(&info).is_some_and(|k| k.capabilities().pulls) || health.is_some();
    let health = reports.then(|| match health {
        None => Health { status: HealthStatus::Starting, last_error: None, checked_at: None },
        Some((None, at)) => Health { status: HealthStatus::Ok, last_error: None, checked_at: Some(rfc3339(at)) },
        Some((Some(error), at)) => Health { status: HealthStatus::Error, last_error: Some(error), checked_at: Some(rfc3339(at)) },
    });
    Ok(Json(ChannelRead { channel: info.view(), health }))
}

/// A mail the channel could not import.
#[derive(Serialize, utoipa::ToSchema)]
struct QuarantinedMail {
    id: Uuid,
    /// Its IMAP UID in the mailbox.
    uid: i64,
    error: String,
    /// Bytes.
    size: usize,
    #[schema(format = DateTime)]
    created_at: String,
}

/// A page of quarantined mail.
#[derive(Serialize, utoipa::ToSchema)]
struct QuarantinePage {
    data: Vec<QuarantinedMail>,
    next_cursor: Option<Uuid>,
}

/// Mail the channel could not import, newest first (admins; the raw mail stays sealed in the
/// store).
#[utoipa::path(get, path = "/v1/channels/{id}/quarantine", tag = "channels", operation_id = "listQuarantinedMail", params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, description = "Quarantined mail", body = QuarantinePage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn quarantine(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, Params(q): Params<PageQuery>) -> ApiResult<Json<QuarantinePage>> {
    auth.require_admin()?;
    let channel = find(&state, &auth, &id).await?;
    let params = ListParams::of(&q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = store::mailboxes::quarantined(&state.db, channel.id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let data = page
        .items
        .iter()
        .map(|r| QuarantinedMail { id: r.id, uid: r.uid, error: r.error.clone(), size: r.raw.len().saturating_sub(40), created_at: rfc3339(r.created_at) })
        .collect();
    Ok(Json(QuarantinePage { data, next_cursor: page.next_cursor }))
}

/// Change a channel's name or settings (admins); it restarts with them.
#[utoipa::path(patch, path = "/v1/channels/{id}", tag = "channels", operation_id = "updateChannel", params(("id" = Uuid, Path)), request_body = UpdateChannel,
    responses((status = 200, description = "The channel", body = ChannelView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateChannel>,
) -> ApiResult<Json<ChannelView>> {
    auth.require_admin()?;
    let current = find(&state, &auth, &id).await?;
    let name = match &body.name {
        Some(name) => valid_name(name)?.to_owned(),
        None => current.name.clone(),
    };
    let (settings, secrets) = match body.settings {
        Some(mut settings) => {
            let kind = settings::kind(state.channels.kinds(), &current.kind)?;
            // Secrets left out of a change keep their stored values: nobody has to send a
            // password again to change a port.
            if let Some(sealed) = &current.secrets {
                let opened = state.keyring.open_for_tenant(auth.tenant_id, crate::privacy::tenant_sealed::CHANNEL_SECRETS, current.id, sealed)?;
                if let Ok(serde_json::Value::Object(stored)) = serde_json::from_slice::<serde_json::Value>(&opened) {
                    let public: serde_json::Value = serde_json::from_str(&current.settings).unwrap_or_default();
                    settings::keep_stored_secrets(kind, &public, &stored, &mut settings)?;
                }
            }
            let validated = settings::validate(kind, Some(settings))?;
            settings::vet_destinations(kind, &validated.public, &state.outbound_policy).await?;
            (validated.public.to_string(), seal_secrets(&state, auth.tenant_id, current.id, validated.secrets)?)
        }
        None => (current.settings.clone(), current.secrets.clone()),
    };
    let row = state
        .db
        .update_channel(auth.tenant_id, current.id, &name, &settings, secrets.as_deref())
        .await?
        .ok_or(ApiError::NotFound("channel"))?;
    state.channels.invalidate(row.id);
    state.runners.restart(row.id).await;
    state.cluster.announce(crate::cluster::Change::Channel(row.id)).await;
    let info = ChannelInfo::from_row(row);
    crate::channels::checkup::spawn(&state.channels, &state.db, &info);
    Ok(Json(info.view()))
}

/// Delete a channel (admins); its conversations and messages stay.
#[utoipa::path(delete, path = "/v1/channels/{id}", tag = "channels", operation_id = "deleteChannel", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let current = find(&state, &auth, &id).await?;
    // Built before the row goes: the adapter needs the settings to undo its registration.
    let adapter = state.channels.get(current.id).await?.and_then(|info| state.channels.adapter(&info));
    if !state.db.delete_channel(auth.tenant_id, current.id).await? {
        return Err(ApiError::NotFound("channel"));
    }
    if let Some(adapter) = adapter {
        crate::channels::retire(current.id, adapter.as_ref()).await;
    }
    state.channels.invalidate(current.id);
    state.runners.stop(current.id).await;
    state.cluster.announce(crate::cluster::Change::Channel(current.id)).await;
    Ok(StatusCode::NO_CONTENT)
}
