//! `GET /openapi.json`: the API description.
//!
//! Routes are moving to descriptions generated from the handlers themselves (utoipa): a module
//! whose router is an `OpenApiRouter` built with `routes!` cannot serve a route its description
//! lacks, nor describe one it does not serve, and its request and response types are the ones
//! the handlers use. [`documented`] lists those routers; their generated paths and schemas are
//! merged into the document kept in the repository (`openapi.json`), which still describes the
//! routes not moved yet. The merged document is committed as `docs/openapi.json`; a test fails
//! when it differs from what the code produces, so API changes show in reviews.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;

use crate::hub::AppState;

/// The part of the description still kept by hand.
const KEPT: &str = include_str!("openapi.json");

/// The routers whose description is generated from their handlers.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(super::exports::router()).merge(super::attributes::router()).merge(super::teams::router()).merge(super::canned::router()).merge(super::labels::router()).merge(super::hours::router()).merge(super::api_keys::router())
        .merge(super::events::router())
        .merge(super::ropa::router())
        .merge(super::stats::router())
        .merge(super::routing::router())
        .merge(super::ops::router())
        .merge(super::allow_list::router())
        .merge(super::privacy::router())
        .merge(super::webhooks::router())
        .merge(super::consents::router())
        .merge(super::signin::router())
        .merge(super::password_reset::router())
        .merge(super::operators::router())
        .merge(super::attachments::router())
        .merge(super::contacts::router())
        .merge(super::channels::router())
        .merge(super::links::router())
        .routes(utoipa_axum::routes!(serve))
}

/// The paths whose description is generated from their handlers.
pub fn generated_paths() -> Vec<String> {
    let (_, generated) = documented().split_for_parts();
    generated.paths.paths.keys().cloned().collect()
}

/// The whole description: the kept part with the generated paths and schemas merged in.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc: Value = serde_json::from_str(KEPT).expect("the kept OpenAPI document is JSON");
        let (_, generated) = documented().split_for_parts();
        let generated = serde_json::to_value(&generated).expect("the generated OpenAPI document serializes");
        merge(&mut doc, &generated);
        add_door_answers(&mut doc);
        doc
    })
}

/// Adds the generated paths and component schemas and responses; a generated one replaces a
/// kept one of the same name.
fn merge(doc: &mut Value, generated: &Value) {
    if let (Some(paths), Some(new)) = (doc.get_mut("paths").and_then(Value::as_object_mut), generated.get("paths").and_then(Value::as_object)) {
        for (path, item) in new {
            paths.insert(path.clone(), item.clone());
        }
    }
    for section in ["schemas", "responses"] {
        let Some(new) = generated.pointer(&format!("/components/{section}")).and_then(Value::as_object) else { continue };
        if let Some(kept) = doc.pointer_mut(&format!("/components/{section}")).and_then(Value::as_object_mut) {
            for (name, item) in new {
                kept.insert(name.clone(), item.clone());
            }
        }
    }
}

/// Answers the router's outer layers give before a handler runs (`api::router`), added to every
/// operation they apply to rather than repeated on each handler: the rate limit (429) on the
/// API and the widget API, a query string that cannot be read (400), and for a JSON body a
/// malformed one (400), one too large (413) and one of another type (415).
fn add_door_answers(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let limited = (path.starts_with("/v1/") && path != "/v1/auth/login") || path.starts_with("/widget/v1/");
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut() {
            if !["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let json_body = operation.pointer("/requestBody/content/application~1json").is_some();
            let query = operation.get("parameters").and_then(Value::as_array).is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { continue };
            let mut codes: Vec<&str> = Vec::new();
            if limited {
                codes.push("429");
            }
            if json_body {
                codes.extend(["400", "413", "415"]);
            }
            if query {
                codes.push("400");
            }
            for code in codes {
                responses.entry(code).or_insert_with(|| serde_json::json!({"$ref": "#/components/responses/Problem"}));
            }
        }
    }
}

/// This description (OpenAPI 3.1).
#[utoipa::path(get, path = "/openapi.json", tag = "ops", operation_id = "openapi", security(()),
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], axum::Json(document()))
}

/// The RFC 9457 problem every error answers with (`components/responses/Problem`).
pub struct Problem;

impl<'s> utoipa::ToResponse<'s> for Problem {
    fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
        ("Problem", ResponseBuilder::new().description("An RFC 9457 problem; `field` names the offending input").content("application/problem+json", content).build().into())
    }
}
