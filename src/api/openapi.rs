//! `GET /openapi.json`: the API description, generated from the handlers themselves (utoipa).
//!
//! Every API module's router is an `OpenApiRouter` built with `routes!`, so a module cannot serve
//! a route its description lacks, nor describe one it does not serve, and the request and
//! response types described are the ones the handlers use. [`documented`] lists those routers;
//! the web chat adapter describes its widget API the same way ([`omnibridge_webchat::description`]).
//! What no handler can say is added here: the document's header and security schemes, the
//! events integrations receive (`webhooks`), and the answers the router's outer layers give
//! before any handler runs. The document is committed as `docs/openapi.json`; a test fails when
//! it differs from what the code produces, so API changes show in reviews.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::domain::events;
use crate::hub::AppState;

pub use omnibridge_channel::problem::Problem;

/// The routers whose description is generated from their handlers: every route of the API.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Header::openapi())
        .merge(super::conversations::router())
        .merge(super::mail::router())
        .merge(super::search::router())
        .merge(super::realtime::router())
        .merge(super::exports::router())
        .merge(super::attributes::router())
        .merge(super::teams::router())
        .merge(super::canned::router())
        .merge(super::labels::router())
        .merge(super::hours::router())
        .merge(super::api_keys::router())
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

/// What the document says of itself, and the parts every operation shares.
#[derive(OpenApi)]
#[openapi(
    info(title = "omnibridge", description = "Omnichannel bridge server. /v1 takes an API key as Bearer token; /widget takes a visitor token. Errors are RFC 9457 application/problem+json."),
    servers((url = "/")),
    security(("apiKey" = [])),
    modifiers(&SecuritySchemes),
    components(schemas(Problem, WebhookEvent), responses(Problem))
)]
struct Header;

/// `apiKey`: an API key (or an operator's session token) as Bearer; `visitorToken`: the web
/// chat visitor's token.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("apiKey", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        components.add_security_scheme(
            "visitorToken",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("visitor token from POST /widget/v1/channels/{channel_id}/sessions")).build(),
            ),
        );
    }
}

/// What a webhook endpoint receives (Standard Webhooks): the event's type, when it happened,
/// and the resource.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Event)]
#[allow(dead_code)] // describes the payload the webhook sender writes
struct WebhookEvent {
    #[serde(rename = "type")]
    #[schema(value_type = super::events::EventType)]
    kind: String,
    #[schema(format = DateTime)]
    timestamp: String,
    /// The resource; events of a conversation carry `sequence`, increasing per conversation.
    #[schema(value_type = Object)]
    data: Value,
}

/// The whole description.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, mut api) = documented().split_for_parts();
        api.merge(omnibridge_webchat::description());
        api.info.version = env!("CARGO_PKG_VERSION").to_owned();
        let mut doc = serde_json::to_value(&api).expect("the generated OpenAPI document serializes");
        doc["webhooks"] = webhooks();
        add_door_answers(&mut doc);
        spell_out_white_space_in_patterns(&mut doc);
        doc
    })
}

/// The events an endpoint receives, one entry per event type (OpenAPI 3.1 `webhooks`).
fn webhooks() -> Value {
    events::ALL
        .iter()
        .map(|name| {
            let operation = json!({"post": {
                "summary": "What an endpoint receives: POST with webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks v1); answer 2xx",
                "description": events::describe(name),
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}},
                "responses": {"200": {"description": "Received"}, "410": {"description": "Gone: the endpoint is disabled"}},
            }});
            ((*name).to_owned(), operation)
        })
        .chain(std::iter::once((crate::webhooks::test_event::TEST_EVENT.to_owned(), test_event())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The event "Send test event" delivers (`POST /v1/webhooks/endpoints/{id}/test`): no
/// subscription chooses it, and it carries no personal data.
fn test_event() -> Value {
    json!({"post": {
        "summary": "What an endpoint receives when a test event is sent to it: signed like every delivery; answer 2xx",
        "description": "A test event sent on request (POST /v1/webhooks/endpoints/{id}/test): data.endpoint_id and a message. Verify its signature as you would any other event's.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"const": crate::webhooks::test_event::TEST_EVENT},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": {"type": "object", "required": ["endpoint_id", "message"], "properties": {
                    "endpoint_id": {"type": "string", "format": "uuid"},
                    "message": {"type": "string"},
                }},
            },
        }}}},
        "responses": {"200": {"description": "Received"}, "410": {"description": "Gone: the endpoint is disabled"}},
    }})
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
                responses.entry(code).or_insert_with(|| json!({"$ref": "#/components/responses/Problem"}));
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

/// What the hub trims and counts as a space: Unicode White_Space, as `char::is_whitespace`.
const WHITE_SPACE: &str = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// JSON Schema patterns are ECMA-262 regular expressions, whose `\s` is not the whitespace the
/// hub trims: ECMA counts U+FEFF and leaves out U+0085, and Python's counts U+001C–U+001F. The
/// handlers' patterns write `\s` and `\S` meaning the hub's; the description spells them out as
/// character classes, so clients and validators in every regex dialect agree with the hub.
fn spell_out_white_space_in_patterns(node: &mut Value) {
    match node {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(pattern) if key == "pattern" => *pattern = spell_out_white_space(pattern),
                    _ => spell_out_white_space_in_patterns(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(spell_out_white_space_in_patterns),
        _ => {}
    }
}

/// `\s` as the class of [`WHITE_SPACE`] (inside a class, its members), `\S` outside a class as
/// its complement; everything else as written.
fn spell_out_white_space(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('s') if in_class => out.push_str(WHITE_SPACE),
                Some('s') => out.push_str(&format!("[{WHITE_SPACE}]")),
                Some('S') if !in_class => out.push_str(&format!("[^{WHITE_SPACE}]")),
                Some(escaped) => {
                    out.push('\\');
                    out.push(escaped);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_space_is_spelled_out_as_the_hub_trims_it() {
        assert_eq!(spell_out_white_space(r"^\S{1,50}$"), format!("^[^{WHITE_SPACE}]{{1,50}}$"));
        assert_eq!(spell_out_white_space(r"\S\s*\S"), format!("[^{WHITE_SPACE}][{WHITE_SPACE}]*[^{WHITE_SPACE}]"));
        assert_eq!(spell_out_white_space(r"[^\s\u0000-\u001f]"), format!(r"[^{WHITE_SPACE}\u0000-\u001f]"));
        assert_eq!(spell_out_white_space(r"^\d+\.\[x\]$"), r"^\d+\.\[x\]$");
        // The class holds exactly what the hub counts as white space, in the range it spells.
        let class: Vec<char> = (0..=0x3000u32).filter_map(char::from_u32).filter(|c| c.is_whitespace()).collect();
        let spelled: Vec<char> = ['\t', '\n', '\u{b}', '\u{c}', '\r', ' ', '\u{85}', '\u{a0}', '\u{1680}']
            .into_iter()
            .chain('\u{2000}'..='\u{200a}')
            .chain(['\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}'])
            .collect();
        assert_eq!(class, spelled);
        assert!(!char::from_u32(0x10ffff).is_some_and(char::is_whitespace) && (0x3001..=0x10ffffu32).filter_map(char::from_u32).all(|c| !c.is_whitespace()));
    }
}
