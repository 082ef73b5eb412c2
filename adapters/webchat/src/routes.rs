//! The visitor-facing HTTP and websocket routes. Visitors authenticate with their token as a
//! Bearer header (or `?token=` on the websocket, where browsers cannot set headers); never with
//! an API key.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use omnibridge_channel::problem::{JsonBody, Params, Problem, parse_json};
use omnibridge_channel::{Address, AddressKind, InboundMessage, InboundTx, Sender, SinkError, Technical};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::backend::{TranscriptSent, Visitor, WidgetBackend, WidgetError};
use crate::kind::{Position, PrechatFields};
use crate::protocol::{PostMessage, ServerFrame, SessionRequest, SessionResponse, WidgetConfig, WidgetFile, WidgetMessage};
use crate::sockets::VisitorSockets;
use crate::token::{TokenHash, VisitorToken};

const WIDGET_JS: &str = include_str!("../assets/widget.js");

/// Everything the routes need.
#[derive(Clone)]
pub struct WidgetState {
    pub backend: Arc<dyn WidgetBackend>,
    pub inbound: InboundTx,
    pub sockets: VisitorSockets,
    /// The longest message a visitor may send, in characters.
    pub max_text_chars: usize,
    /// The most bytes of files one message may carry (all together, decoded).
    pub max_upload_bytes: usize,
    /// Cancelled when the hub shuts down; open sockets close.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// The widget's routes.
pub fn router(state: WidgetState) -> Router {
    let (router, _) = routes(state.max_upload_bytes).split_for_parts();
    router.layer(axum::middleware::from_fn_with_state(state.clone(), cors)).with_state(state)
}

/// The OpenAPI description of the widget's routes, generated from the handlers below.
pub fn description() -> utoipa::openapi::OpenApi {
    routes(0).split_for_parts().1
}

fn routes(max_upload_bytes: usize) -> OpenApiRouter<WidgetState> {
    // A message with files: the same body, on a route of its own that alone takes a larger body
    // than the rest of the widget API.
    let (schemas, paths, files) = routes!(post_files);
    OpenApiRouter::new()
        .routes(routes!(open_session))
        .routes(routes!(config))
        .routes(routes!(post_message, list_messages))
        .routes((schemas, paths, files.layer(axum::extract::DefaultBodyLimit::max(max_upload_bytes))))
        .routes(routes!(websocket))
        .routes(routes!(transcript))
        .routes(routes!(csat))
        .routes(routes!(widget_js))
}

/// The channel a widget request is about: named in the path (a new session), else by the
/// visitor token (header, or `?token=` on the websocket).
async fn channel_of(state: &WidgetState, path: &str, token: Option<String>) -> Option<Uuid> {
    if let Some(id) = path.strip_prefix("/widget/v1/channels/").and_then(|rest| rest.split('/').next()) {
        return Uuid::parse_str(id).ok();
    }
    state.backend.authenticate(TokenHash::of(token?.trim())).await.ok().map(|v| v.channel_id)
}

/// The widget runs on the tenant's own site, so its calls are cross-origin. They carry the
/// visitor token in a header, never cookies. A channel with `allowed_origins` answers only
/// browsers on those sites: a request whose `Origin` is not on the list gets 403 (and no
/// `Access-Control-Allow-Origin`, so the browser withholds any answer). A preflight carries no
/// token, so it is answered for any origin; the request itself is checked. Requests without
/// `Origin` (not from a browser page) are not a CORS matter.
async fn cors(State(state): State<WidgetState>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let preflight = request.method() == axum::http::Method::OPTIONS;
    let path = request.uri().path().to_owned();
    let bearer = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_owned);
    let token = bearer.or_else(|| request.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")).map(str::to_owned)));
    let mut allow = header::HeaderValue::from_static("*");
    if let (Some(origin), false) = (&origin, preflight)
        && path != "/widget.js"
        && let Some(channel) = channel_of(&state, &path, token).await
    {
        let allowed = match state.backend.allowed_origins(channel).await {
            Ok(list) => list,
            Err(err) => return Problem::from(err).into_response(),
        };
        if !allowed.is_empty() {
            if !allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
                return Problem::new(StatusCode::FORBIDDEN, "origin_not_allowed", format!("this chat does not answer pages on {origin}")).into_response();
            }
            allow = header::HeaderValue::from_str(origin).unwrap_or(allow);
        }
    }
    let mut response = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(request).await };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    headers.insert(header::VARY, header::HeaderValue::from_static("Origin"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, header::HeaderValue::from_static("GET, POST, OPTIONS"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::HeaderValue::from_static("authorization, content-type, idempotency-key"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, header::HeaderValue::from_static("600"));
    response
}

impl From<WidgetError> for Problem {
    fn from(err: WidgetError) -> Self {
        match err {
            WidgetError::Unauthorized => Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", err.to_string()),
            WidgetError::UnknownChannel => Problem::new(StatusCode::NOT_FOUND, "not_found", err.to_string()),
            WidgetError::Invalid { field, detail } => Problem::invalid(field, detail),
            WidgetError::Unknown { field, .. } => Problem::new(StatusCode::NOT_FOUND, "not_found", err.to_string()).with_field(field),
            WidgetError::Refused { code, detail } => Problem::new(StatusCode::CONFLICT, code, detail),
            WidgetError::RateLimited { retry_after } => {
                let secs = retry_after.as_secs().max(1);
                let mut problem = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", err.to_string()).with("retry_after", secs);
                problem.retry_after = Some(secs);
                problem
            }
            WidgetError::Unavailable(_) => {
                tracing::error!(error = %err, "widget backend unavailable");
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly")
            }
        }
    }
}

/// Where the transcript goes.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WidgetTranscriptRequest)]
struct TranscriptRequest {
    /// The visitor's address, when the conversation has none yet: it is asked to confirm first.
    #[schema(max_length = 254)]
    email: Option<String>,
}

/// What became of a transcript request.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WidgetTranscript)]
struct TranscriptAnswer {
    /// `queued`: on its way to an address the visitor proved is theirs; `confirmation_sent`: a
    /// link to confirm the address went to it first.
    status: TranscriptSent,
}

/// Email the visitor the transcript of their conversation.
#[utoipa::path(post, path = "/widget/v1/transcript", tag = "widget", operation_id = "widgetTranscript", security(("visitorToken" = [])),
    request_body = TranscriptRequest,
    responses((status = 202, description = "Queued, or a confirmation sent first", body = TranscriptAnswer), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem), (status = 503, response = Problem)))]
async fn transcript(State(state): State<WidgetState>, visitor: AuthedVisitor, JsonBody(body): JsonBody<TranscriptRequest>) -> Result<Response, Problem> {
    if body.email.as_deref().is_some_and(|e| e.len() > 254 || !e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))) {
        return Err(Problem::invalid("email", "must look like name@example.com"));
    }
    let sent = state.backend.send_transcript(&visitor.0, body.email).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(TranscriptAnswer { status: sent })).into_response())
}

/// A rating of a resolved conversation.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WidgetCsat)]
struct CsatAnswer {
    /// The survey the `csat` frame of the socket named.
    survey_id: Uuid,
    /// From 1 (bad) to 5 (great).
    #[schema(minimum = 1, maximum = 5)]
    score: u8,
    #[schema(max_length = 2000)]
    comment: Option<String>,
}

/// The visitor's rating after a resolved conversation.
#[utoipa::path(post, path = "/widget/v1/csat", tag = "widget", operation_id = "widgetCsat", security(("visitorToken" = [])),
    request_body = CsatAnswer,
    responses((status = 204, description = "Recorded"), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem), (status = 503, response = Problem)))]
async fn csat(State(state): State<WidgetState>, visitor: AuthedVisitor, JsonBody(body): JsonBody<CsatAnswer>) -> Result<Response, Problem> {
    if !(1..=5).contains(&body.score) {
        return Err(Problem::invalid("score", "from 1 to 5"));
    }
    if body.comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
        return Err(Problem::invalid("comment", "at most 2000 characters"));
    }
    state.backend.answer_csat(&visitor.0, body.survey_id, body.score, body.comment).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The connection's technical data: client address and user agent, unless the browser sends
/// Global Privacy Control (`Sec-GPC: 1`) or Do Not Track (`DNT: 1`); then none is kept.
struct ClientMeta(Technical);

impl<S: Send + Sync> FromRequestParts<S> for ClientMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        let flag = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "1");
        if flag("sec-gpc") || flag("dnt") {
            return Ok(Self(Technical { ip: None, user_agent: None, do_not_track: true }));
        }
        Ok(Self(Technical { ip, user_agent, do_not_track: false }))
    }
}

/// A visitor authenticated by `Authorization: Bearer <visitor token>`.
struct AuthedVisitor(Visitor);

impl FromRequestParts<WidgetState> for AuthedVisitor {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &WidgetState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing visitor token"))?;
        Ok(Self(state.backend.authenticate(TokenHash::of(token.trim())).await?))
    }
}

/// The accent colour when the channel sets none.
const DEFAULT_ACCENT: &str = "#2f6fdf";
/// The most files one message may carry.
const MAX_FILES: usize = 5;

/// The widget's look, greeting and pre-chat form, and whether someone is there to answer.
/// Public, like the script.
#[utoipa::path(get, path = "/widget/v1/channels/{channel_id}/config", tag = "widget", operation_id = "widgetConfig", security(()),
    params(("channel_id" = Uuid, Path)),
    responses((status = 200, description = "The widget's setup", body = WidgetConfig), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 503, response = Problem)))]
async fn config(State(state): State<WidgetState>, Path(channel_id): Path<String>) -> Result<Response, Problem> {
    let channel_id = Uuid::parse_str(&channel_id).map_err(|_| WidgetError::UnknownChannel)?;
    let setup = state.backend.setup(channel_id).await?;
    let s = setup.settings;
    let body = WidgetConfig {
        display_name: s.display_name,
        accent_color: s.accent_color.unwrap_or_else(|| DEFAULT_ACCENT.into()),
        logo_url: s.logo_url,
        greeting: s.greeting,
        prechat: s.prechat,
        position: s.position.unwrap_or(Position::Right),
        language: s.language,
        consent: s.consent,
        reply_time: s.reply_time,
        presence: setup.presence,
        away_message: setup.away_message,
        max_upload_bytes: state.max_upload_bytes,
    };
    Ok(([(header::CACHE_CONTROL, "no-cache")], Json(body)).into_response())
}

/// Decodes and checks a message's files; a refusal names the file and says why in words.
fn valid_files(list: &[crate::protocol::PostAttachment], max_bytes: usize) -> Result<Vec<omnibridge_channel::InboundAttachment>, (String, String)> {
    if list.len() > MAX_FILES {
        return Err(("attachments".to_owned(), format!("at most {MAX_FILES} files at once")));
    }
    let mut total = 0usize;
    let mut out = Vec::with_capacity(list.len());
    for (i, file) in list.iter().enumerate() {
        let field = format!("attachments[{i}]");
        if !omnibridge_channel::files::is_plain_filename(&file.filename) {
            return Err((format!("{field}.filename"), "the file needs a name of 1 to 200 characters".to_owned()));
        }
        let content_type = file.content_type.trim().to_ascii_lowercase();
        if !content_type.contains('/') || content_type.len() > 100 || content_type.contains(char::is_whitespace) {
            return Err((format!("{field}.content_type"), "must be a file type such as image/png".to_owned()));
        }
        if omnibridge_channel::files::is_executable(&file.filename, &content_type) {
            return Err((field, format!("{} cannot be sent: programs and scripts are not accepted", file.filename.trim())));
        }
        let data = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, file.data.trim())
            .map_err(|_| (format!("{field}.data"), "must be standard base64".to_owned()))?;
        total += data.len();
        if total > max_bytes {
            return Err((field, format!("{} is too large: files may be at most {} MB together", file.filename.trim(), max_bytes / (1024 * 1024))));
        }
        out.push(omnibridge_channel::InboundAttachment { filename: Some(file.filename.trim().to_owned()), content_type, size: data.len(), data, remote: None });
    }
    Ok(out)
}

/// Open a visitor session (no API key): the pre-chat fields are optional, and so is the body.
#[utoipa::path(post, path = "/widget/v1/channels/{channel_id}/sessions", tag = "widget", operation_id = "openVisitorSession", security(()),
    params(("channel_id" = Uuid, Path)),
    request_body(content = Option<SessionRequest>, content_type = "application/json"),
    responses((status = 201, description = "The session; the token is shown only here", body = SessionResponse), (status = 400, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem),
        (status = 503, response = Problem)))]
async fn open_session(
    State(state): State<WidgetState>,
    Path(channel_id): Path<String>,
    ClientMeta(technical): ClientMeta,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let channel_id = Uuid::parse_str(&channel_id).map_err(|_| WidgetError::UnknownChannel)?;
    // The pre-chat fields are optional, and so is the body (none, or `null`).
    let mut request: SessionRequest =
        if body.iter().all(u8::is_ascii_whitespace) { SessionRequest::default() } else { parse_json::<Option<SessionRequest>>(&body)?.unwrap_or_default() };
    // A form's field left empty was not given.
    request.email = request.email.filter(|e| !e.trim().is_empty());
    if let Some(email) = &request.email
        && !looks_like_email(email) {
            return Err(Problem::invalid("email", "email must look like name@example.com"));
        }
    if request.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(Problem::invalid("name", "name must be at most 200 characters"));
    }
    if let Some(consent) = &request.consent {
        if consent.purposes.is_empty() || consent.purposes.len() > 10 || consent.purposes.iter().any(|p| p.is_empty() || p.len() > 50) {
            return Err(Problem::invalid("consent.purposes", "consent.purposes must list 1 to 10 purposes"));
        }
        if consent.notice_version.trim().is_empty() || consent.notice_version.len() > 100 {
            return Err(Problem::invalid("consent.notice_version", "consent.notice_version must be 1 to 100 characters"));
        }
        for (field, value) in [("consent.notice_url", &consent.notice_url), ("consent.form_url", &consent.form_url)] {
            if value.as_deref().is_some_and(|u| u.len() > 500 || !(u.starts_with("https://") || u.starts_with("http://"))) {
                return Err(Problem::invalid(field, format!("{field} must be an http(s) URL of at most 500 characters")));
            }
        }
    }
    // The channel's pre-chat form: required fields must be there.
    let setup = state.backend.setup(channel_id).await?;
    if setup.settings.prechat.required {
        if request.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(Problem::invalid("name", "name is required before the chat starts"));
        }
        if setup.settings.prechat.fields == PrechatFields::NameEmail && request.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
            return Err(Problem::invalid("email", "email is required before the chat starts"));
        }
    }
    let token = VisitorToken::issue()
        .map_err(|_| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "no randomness available"))?;
    let visitor = state.backend.open_session(channel_id, request, technical, token.hash()).await?;
    let body = SessionResponse { visitor_token: token.as_str().to_owned(), visitor_id: visitor.visitor_id };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn looks_like_email(s: &str) -> bool {
    let s = s.trim();
    match s.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace) && s.len() <= 254,
        None => false,
    }
}

/// Send a visitor message. Idempotent on `external_id` or the `Idempotency-Key` header: a
/// repeat answers 200 with the stored message.
#[utoipa::path(post, path = "/widget/v1/messages", tag = "widget", operation_id = "visitorSend", security(("visitorToken" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Like `external_id`: the same key stores the message once")),
    request_body = PostMessage,
    responses((status = 201, description = "Stored", body = WidgetMessage), (status = 200, description = "Already stored", body = WidgetMessage),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem),
        (status = 503, response = Problem)))]
async fn post_message(
    State(state): State<WidgetState>,
    AuthedVisitor(visitor): AuthedVisitor,
    ClientMeta(technical): ClientMeta,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PostMessage>,
) -> Result<Response, Problem> {
    let text = body.text.trim();
    // Base64 takes 4 bytes for 3: three fifths of the body leaves room for the text around.
    let files = valid_files(&body.attachments, state.max_upload_bytes / 5 * 3).map_err(|(field, detail)| Problem::invalid(&field, detail))?;
    if text.is_empty() && files.is_empty() {
        return Err(Problem::invalid("text", "text must not be empty"));
    }
    let shown: Vec<WidgetFile> = files.iter().map(|f| WidgetFile { filename: f.filename.clone(), content_type: f.content_type.clone(), size: f.size as i64 }).collect();
    if text.chars().count() > state.max_text_chars {
        return Err(Problem::invalid("text", format!("text must be at most {} characters", state.max_text_chars)));
    }
    let idempotency_key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let external_id = match body.external_id.or(idempotency_key) {
        Some(id) if id.is_empty() || id.len() > 200 => {
            return Err(Problem::invalid("external_id", "external_id must be 1 to 200 characters"));
        }
        // Namespaced per visitor so one visitor's ids can never collide with another's.
        Some(id) => format!("{}:{id}", visitor.visitor_id),
        None => format!("{}:{}", visitor.visitor_id, Uuid::now_v7()),
    };
    let inbound = InboundMessage {
        channel_id: visitor.channel_id,
        external_id,
        sender: Sender { address: Address::new(AddressKind::Webchat, &visitor.visitor_id.to_string()), display_name: None },
        text: text.to_owned(),
        technical,
        extras: omnibridge_channel::InboundExtras { attachments: files, ..Default::default() },
    };
    let accepted = state.inbound.accept(inbound).await.map_err(|err| match err {
        SinkError::Rejected(detail) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "rejected", detail),
        SinkError::Unavailable(detail) => {
            tracing::warn!(%detail, "ingest unavailable");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly")
        }
    })?;
    let stored = if accepted.duplicate {
        // Answer with what was stored the first time, not with this request's copy.
        state
            .backend
            .message(&visitor, accepted.message_id)
            .await?
            .ok_or_else(|| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "message not readable yet"))?
    } else {
        WidgetMessage {
            seq: crate::protocol::micros_of(&accepted.created_at).unwrap_or_default(),
            id: accepted.message_id,
            conversation_id: accepted.conversation_id,
            direction: "in".into(),
            text: text.to_owned(),
            author: "contact".into(),
            author_name: None,
            attachments: shown,
            status: None,
            created_at: accepted.created_at,
        }
    };
    let status = if accepted.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(stored)).into_response())
}

/// A message with files: the body of `POST /widget/v1/messages`, on a route that alone takes
/// a larger body (`max_upload_bytes` of the widget's config).
#[utoipa::path(post, path = "/widget/v1/files", tag = "widget", operation_id = "visitorSendFiles", security(("visitorToken" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Like `external_id`: the same key stores the message once")),
    request_body = PostMessage,
    responses((status = 201, description = "Stored", body = WidgetMessage), (status = 200, description = "Already stored", body = WidgetMessage),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem),
        (status = 503, response = Problem)))]
async fn post_files(
    state: State<WidgetState>,
    visitor: AuthedVisitor,
    meta: ClientMeta,
    headers: HeaderMap,
    body: JsonBody<PostMessage>,
) -> Result<Response, Problem> {
    post_message(state, visitor, meta, headers, body).await
}

/// A page of the visitor's conversation.
#[derive(Serialize, utoipa::ToSchema)]
struct WidgetHistory {
    /// Oldest first.
    data: Vec<WidgetMessage>,
    /// When there are earlier messages: pass it as `cursor` for the page before this one.
    next_cursor: Option<Uuid>,
}

/// A page of the visitor's conversation: the latest first, then earlier pages.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// `next_cursor` of the previous page: the messages before it.
    #[param(value_type = Option<Uuid>)]
    cursor: Option<String>,
    /// Per page (default 50).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// Messages per history page, by default and at most.
const HISTORY_PAGE: usize = 50;
const HISTORY_PAGE_MAX: usize = 200;

/// The visitor's conversation, a page at a time: the latest messages, oldest first, and a
/// cursor for the ones before them.
#[utoipa::path(get, path = "/widget/v1/messages", tag = "widget", operation_id = "visitorMessages", security(("visitorToken" = [])), params(HistoryQuery),
    responses((status = 200, description = "Messages", body = WidgetHistory), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem), (status = 503, response = Problem)))]
async fn list_messages(State(state): State<WidgetState>, AuthedVisitor(visitor): AuthedVisitor, Params(query): Params<HistoryQuery>) -> Result<Json<WidgetHistory>, Problem> {
    let before = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(Uuid::parse_str(text).map_err(|_| WidgetError::Invalid { field: "cursor", detail: "must be a next_cursor of an earlier page".into() })?),
    };
    let limit = match query.limit.as_deref() {
        None => HISTORY_PAGE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=HISTORY_PAGE_MAX).contains(n))
            .ok_or_else(|| WidgetError::Invalid { field: "limit", detail: format!("must be an integer from 1 to {HISTORY_PAGE_MAX}") })?,
    };
    // One more than asked tells whether there is a page before this one.
    let mut data: Vec<WidgetMessage> = state.backend.history(&visitor, before, limit + 1).await?;
    let next_cursor = if data.len() > limit {
        data.remove(0);
        data.first().map(|m| m.id)
    } else {
        None
    };
    Ok(Json(WidgetHistory { data, next_cursor }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct WsQuery {
    /// The visitor token, for browsers (which cannot set headers on a websocket).
    token: Option<String>,
    /// The `seq` of the last message the widget has: what followed is replayed first.
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<String>,
}

/// Close code telling a widget that fell behind to reconnect with `?after=` its last `seq`.
pub const RESYNC: u16 = 4409;

/// The visitor's websocket: frames of JSON with a `type` — `ready`, `message` (a reply, with
/// its `seq`), `typing`, `csat` (a survey to answer) and `replayed` (after what `?after=`
/// asked for). A widget that fell behind is closed with code 4409 and reconnects with `?after=`.
#[utoipa::path(get, path = "/widget/v1/ws", tag = "widget", operation_id = "visitorSocket", security(("visitorToken" = [])), params(WsQuery),
    responses((status = 101, description = "Switching to the websocket"), (status = 400, response = Problem), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem), (status = 426, response = Problem), (status = 503, response = Problem)))]
async fn websocket(
    State(state): State<WidgetState>,
    Params(query): Params<WsQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Problem> {
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let token = query.token.as_deref().or(bearer).ok_or(WidgetError::Unauthorized)?;
    // Given empty, `after` is refused rather than taken as absent, as every typed parameter.
    let after = match query.after.as_deref() {
        None => None,
        Some(text) => Some(text.parse::<i64>().ok().filter(|a| *a >= 0).ok_or_else(|| {
            Problem::invalid("after", "after: the seq of the last message received (a whole number)")
        })?),
    };
    let visitor = state.backend.authenticate(TokenHash::of(token.trim())).await?;
    // A request that is not a websocket handshake learns so once its credential holds.
    let Ok(upgrade) = upgrade else { return Ok(omnibridge_channel::problem::upgrade_required()) };
    let Some(frames) = state.sockets.subscribe(visitor.visitor_id) else {
        return Err(Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_connections",
            format!("at most {} open chat windows per visitor", crate::sockets::MAX_SOCKETS_PER_VISITOR),
        ));
    };
    // Subscribed before reading what was missed, so nothing falls between the two.
    let missed = match after {
        Some(after) => Some(state.backend.history_after(&visitor, after).await?),
        None => None,
    };
    // A small read buffer: tungstenite's default (128 KiB) is allocated for every socket, and a
    // hub holds ten thousand of them; larger messages still arrive in several reads.
    Ok(upgrade.max_message_size(64 * 1024).read_buffer_size(4 * 1024).on_upgrade(move |socket| serve_socket(socket, frames, missed, state.sockets, visitor, state.shutdown)))
}

async fn serve_socket(
    mut socket: WebSocket,
    mut frames: tokio::sync::broadcast::Receiver<crate::sockets::Frame>,
    missed: Option<Vec<WidgetMessage>>,
    sockets: VisitorSockets,
    visitor: Visitor,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut budget = omnibridge_channel::FrameRate::new(omnibridge_channel::CLIENT_FRAMES_PER_SECOND);
    let mut ping = tokio::time::interval(omnibridge_channel::PING_EVERY);
    ping.tick().await;
    let mut liveness = omnibridge_channel::Liveness::default();
    let ready = serde_json::to_string(&ServerFrame::Ready { visitor_id: visitor.visitor_id }).unwrap_or_default();
    let mut replayed = std::collections::HashSet::new();
    let mut open = socket.send(Message::Text(ready.into())).await.is_ok();
    if let Some(missed) = missed.filter(|_| open) {
        let mut last = 0;
        for message in missed {
            replayed.insert(message.id);
            last = last.max(message.seq);
            let frame = serde_json::to_string(&ServerFrame::Message { seq: message.seq, message }).unwrap_or_default();
            if socket.send(Message::Text(frame.into())).await.is_err() {
                open = false;
                break;
            }
        }
        let done = serde_json::to_string(&ServerFrame::Replayed { seq: last }).unwrap_or_default();
        open = open && socket.send(Message::Text(done.into())).await.is_ok();
    }
    if open {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ping.tick() => {
                    if liveness.is_gone() {
                        let close = axum::extract::ws::CloseFrame { code: 1001, reason: "idle".into() };
                        let _ = socket.send(Message::Close(Some(close))).await;
                        break;
                    }
                    if socket.send(Message::Ping(Default::default())).await.is_err() { break }
                }
                frame = frames.recv() => match frame {
                    Ok(frame) if frame.message.is_some_and(|id| replayed.contains(&id)) => {}
                    Ok(frame) => if socket.send(Message::Text(frame.json.as_ref().into())).await.is_err() { break },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Frames were missed: the widget reconnects with ?after= and reads them.
                        let close = axum::extract::ws::CloseFrame { code: RESYNC, reason: "fell behind; reconnect with ?after=<last seq>".into() };
                        let _ = socket.send(Message::Close(Some(close))).await;
                        break;
                    }
                    Err(_) => break,
                },
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) if !budget.allow() => {
                        let close = axum::extract::ws::CloseFrame { code: 1008, reason: "too many frames".into() };
                        let _ = socket.send(Message::Close(Some(close))).await;
                        break;
                    }
                    Some(Ok(_)) => liveness.heard(),
                },
            }
        }
    }
    drop(frames);
    sockets.release(visitor.visitor_id);
}

/// The embeddable chat widget script.
#[utoipa::path(get, path = "/widget.js", tag = "widget", operation_id = "widgetScript", security(()),
    responses((status = 200, description = "JavaScript", content_type = "text/javascript", body = String)))]
async fn widget_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")],
        WIDGET_JS,
    )
}
