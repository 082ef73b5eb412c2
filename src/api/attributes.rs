//! `/v1/attributes`: the custom attributes a tenant defines for contacts and conversations
//! (admins define and delete; everyone reads). Values are set with `custom_attributes` on
//! `PATCH /v1/contacts/{id}` and `PATCH /v1/conversations/{id}`.

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
use crate::api::error::{ApiError, ApiResult};
use crate::contacts::attributes::{self, AttributeError};
use crate::hub::AppState;
use crate::store::{self, attributes::DefinitionRow, now_micros};

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(remove))
}

impl From<AttributeError> for ApiError {
    fn from(err: AttributeError) -> Self {
        match err {
            AttributeError::Invalid { field, detail } => ApiError::invalid(&field, detail),
            AttributeError::Store(e) => ApiError::Store(e),
            AttributeError::Crypto(e) => ApiError::Crypto(e),
        }
    }
}

/// The tenant's attribute definitions, all of them (one page).
#[derive(serde::Serialize, utoipa::ToSchema)]
struct DefinitionList {
    data: Vec<attributes::DefinitionView>,
    /// Always null: every definition is on the one page.
    next_cursor: Option<Uuid>,
}

/// List custom attribute definitions.
#[utoipa::path(get, path = "/v1/attributes", tag = "labels", operation_id = "listAttributes",
    responses((status = 200, description = "Definitions", body = DefinitionList), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<DefinitionList>> {
    let rows = attributes::definitions(&state.db, auth.tenant_id).await?;
    Ok(Json(DefinitionList { data: rows.iter().map(attributes::view).collect(), next_cursor: None }))
}

/// A new custom attribute: a list attribute with its options, or one of another type without.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDefinition {
    applies_to: String,
    key: String,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    options: Option<Vec<String>>,
    #[serde(default)]
    personal: bool,
}

impl utoipa::PartialSchema for NewDefinition {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        let text = || ObjectBuilder::new().schema_type(Type::String);
        let variant = |types: &[&str], options: bool| {
            let mut object = ObjectBuilder::new()
                .property("applies_to", text().enum_values(Some(attributes::OWNERS.iter().copied())))
                .required("applies_to")
                .property("key", text().pattern(Some("^[a-z][a-z0-9_]{0,39}$")).description(Some("Lower-case letters, digits and `_`, starting with a letter.")))
                .required("key")
                .property("name", ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::Array(vec![Type::String, Type::Null])).min_length(Some(1)).max_length(Some(80)).pattern(Some(r"\S"))
                    .description(Some("Shown to operators; default: the key with spaces.")))
                .property("type", text().enum_values(Some(types.iter().copied())))
                .required("type")
                .property("personal", ObjectBuilder::new().schema_type(Type::Boolean).description(Some("Sealed under the contact's key, and then not filterable.")))
                .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)));
            if options {
                let option = text().min_length(Some(1)).max_length(Some(100)).pattern(Some(r"\S"));
                object = object.property("options", ArrayBuilder::new().items(option).min_items(Some(1)).max_items(Some(100)).description(Some("The choices."))).required("options");
            }
            object
        };
        let others: Vec<&str> = attributes::TYPES.iter().copied().filter(|t| *t != "list").collect();
        OneOfBuilder::new().item(variant(&["list"], true)).item(variant(&others, false)).description(Some("A new custom attribute; only a list attribute has options.")).into()
    }
}

impl utoipa::ToSchema for NewDefinition {}

/// Define a custom attribute (admins).
#[utoipa::path(post, path = "/v1/attributes", tag = "labels", operation_id = "createAttribute", request_body = NewDefinition,
    responses(
        (status = 201, description = "Created", body = attributes::DefinitionView),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 413, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem),
    ))]
async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<NewDefinition>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    attributes::check_definition(&body.applies_to, &body.key, &body.kind, body.options.as_deref())?;
    let name = body.name.unwrap_or_else(|| body.key.replace('_', " "));
    if name.trim().is_empty() || name.chars().count() > 80 {
        return Err(ApiError::invalid("name", "must be 1 to 80 characters, not only spaces"));
    }
    let name = name.trim().to_owned();
    let row = DefinitionRow {
        id: Uuid::now_v7(),
        tenant_id: auth.tenant_id,
        applies_to: body.applies_to,
        key: body.key,
        name,
        kind: body.kind,
        options: body.options.map(|o| serde_json::to_string(&o).unwrap_or_default()),
        personal: body.personal,
        created_at: now_micros(),
    };
    if !store::attributes::insert(&state.db, &row).await? {
        return Err(ApiError::Taken { field: "key", detail: format!("a {} attribute with this key exists", row.applies_to) });
    }
    Ok((StatusCode::CREATED, Json(attributes::view(&row))))
}

/// Delete a custom attribute and every value of it (admins).
#[utoipa::path(delete, path = "/v1/attributes/{id}", tag = "labels", operation_id = "deleteAttribute",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("attribute"))?;
    if store::attributes::delete(&state.db, auth.tenant_id, id).await? { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound("attribute")) }
}
