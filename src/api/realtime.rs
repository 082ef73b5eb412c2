//! `GET /v1/realtime`: operators' live feed of their tenant's events over a websocket. The key
//! comes as a Bearer header or, for browsers (which cannot set headers on websockets), as
//! `?token=`. Each frame is one event as webhooks carry it, with its position in the event log
//! first: `{"seq","type","timestamp","data"}`.
//!
//! The socket follows the event log from a position the client holds: `?after=SEQ` replays every
//! event of the tenant after `SEQ` in order, none twice, then goes on live; without it the socket
//! starts at the end of the log. A socket whose client reads slowly falls behind and catches up
//! (from memory, or the database); it is never handed a gap. A position older than the log's
//! retention is refused before the upgrade with 410 (`cursor_expired`) — and a live socket that
//! falls that far behind is closed with code 4410 — telling the client to re-sync.
//!
//! A socket lasts only as long as its credential: when access ends anywhere (a key revoked, the
//! operator deactivated or signed out) the socket re-checks its key or session and closes with
//! 1008 if it no longer holds; it also re-checks every minute. One credential holds at most
//! [`crate::access::MAX_SOCKETS_PER_CREDENTIAL`] sockets, and a socket that stops answering pings is closed.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::events::log::{EventLog, LogError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::auth::{authenticate, hash_key};
use super::openapi::Problem;
use super::pagination::Params;
use crate::api::error::{ApiError, ApiResult};
use crate::hub::AppState;


/// What a socket was opened with, to check again.
#[derive(Clone)]
enum Credential {
    Key(String),
    Session([u8; 32]),
}

impl Credential {
    fn id(&self) -> [u8; 32] {
        match self {
            Credential::Key(secret) => hash_key(secret),
            Credential::Session(hash) => *hash,
        }
    }

    async fn holds(&self, state: &AppState) -> bool {
        match self {
            Credential::Key(secret) => state.db.api_key_by_hash(&hash_key(secret)).await.map(|k| k.is_some()).unwrap_or(true),
            Credential::Session(hash) => crate::store::sessions::find(&state.db, hash).await.map(|s| s.is_some()).unwrap_or(true),
        }
    }
}

/// The route, with its OpenAPI description generated from the handler below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upgrade))
}

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RealtimeQuery {
    /// The API key, for clients that cannot set headers on a websocket (browsers).
    token: Option<String>,
    /// Replay the events after this sequence number (the `seq` of the last frame received)
    /// before going live.
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<String>,
}

/// The tenant's events over a websocket.
///
/// Each text frame is an event as webhooks carry it, with its position `seq` in the event log
/// first. The key comes as a Bearer header or `?token=`. With `?after=SEQ` every event after
/// SEQ is replayed in order, none twice, then the socket goes live; a position older than the
/// log's retention gets 410 `cursor_expired` (a live socket that falls that far behind is
/// closed with code 4410). A socket closes with 1008 when its key or session ends.
#[utoipa::path(get, path = "/v1/realtime", tag = "realtime", operation_id = "realtime", params(RealtimeQuery),
    responses((status = 101, description = "Switching to the websocket"), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 410, response = Problem), (status = 422, response = Problem), (status = 426, response = Problem), (status = 429, response = Problem)))]
async fn upgrade(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Params(q): Params<RealtimeQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let header_token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let (tenant_id, credential) = match header_token.or(q.token.as_deref()) {
        Some(token) => {
            let mut auth = authenticate(&state, token.trim()).await?;
            auth.ip = Some(peer.ip());
            super::allow_list::check(&state, &auth).await?;
            (auth.tenant_id, Credential::Key(token.trim().to_owned()))
        }
        None => {
            // The console's session cookie; a page of another site may not open this socket.
            let token = super::signin::session_cookie(&headers).ok_or(ApiError::Unauthorized)?;
            let same_origin = match (headers.get("origin").and_then(|v| v.to_str().ok()), headers.get("host").and_then(|v| v.to_str().ok())) {
                (Some(origin), Some(host)) => origin.split("://").nth(1) == Some(host),
                (None, _) => true,
                _ => false,
            };
            if !same_origin {
                return Err(ApiError::Forbidden);
            }
            let hash = super::signin::session_hash(&token);
            let session = crate::store::sessions::find(&state.db, &hash).await?.ok_or(ApiError::Unauthorized)?;
            let role = crate::domain::Role::parse(&session.role).ok_or(ApiError::Unauthorized)?;
            let auth = super::auth::Auth {
                tenant_id: session.tenant_id,
                key_id: session.operator_id,
                operator_id: Some(session.operator_id),
                role,
                ip: Some(peer.ip()),
            };
            super::allow_list::check(&state, &auth).await?;
            let hash: [u8; 32] = hash.as_slice().try_into().map_err(|_| ApiError::Unauthorized)?;
            (auth.tenant_id, Credential::Session(hash))
        }
    };
    let log = state.bus.log().clone();
    let start = match q.after.as_deref() {
        Some(after) => {
            let after: i64 = after.parse().ok().filter(|a| *a >= 0).ok_or_else(|| ApiError::invalid("after", "a sequence number (seq of the last event received)"))?;
            log.check_kept(after).await?;
            let end = log.end().await?;
            if after > end {
                return Err(ApiError::invalid("after", format!("{after} is past the last event ({end})")));
            }
            after
        }
        None => log.head(),
    };
    // A request that is not a websocket handshake learns so once its credential holds.
    let Ok(ws) = ws else { return Ok(omnibridge_channel::problem::upgrade_required()) };
    if !state.socket_counts.enter(credential.id()) {
        return Err(ApiError::TooMany(format!("at most {} realtime connections per key or session", crate::access::MAX_SOCKETS_PER_CREDENTIAL)));
    }
    let shutdown = state.shutdown.clone();
    // A small read buffer: operators send little, and tungstenite's default (128 KiB) is allocated
    // for every socket.
    Ok(ws.max_message_size(16 * 1024).read_buffer_size(4 * 1024).on_upgrade(move |socket| async move {
        let id = credential.id();
        feed(socket, state.clone(), tenant_id, credential, start, shutdown).await;
        state.socket_counts.leave(id);
    }))
}

/// Events handed to a socket per read of the log.
const BATCH: usize = 256;

/// The frame of an event: its payload with `seq` in front.
pub fn frame(seq: i64, payload: &str) -> String {
    match payload.strip_prefix('{') {
        Some(rest) => format!("{{\"seq\":{seq},{rest}"),
        None => payload.to_owned(),
    }
}

async fn feed(mut socket: WebSocket, state: AppState, tenant_id: Uuid, credential: Credential, start: i64, shutdown: CancellationToken) {
    let log: std::sync::Arc<EventLog> = state.bus.log().clone();
    let mut head = log.watch();
    let mut position = start;
    // Whether the log may hold more than the last read returned.
    let mut behind = true;
    let mut ended = state.revocations.subscribe();
    let mut recheck = tokio::time::interval(std::time::Duration::from_secs(60));
    recheck.tick().await;
    let mut ping = tokio::time::interval(omnibridge_channel::PING_EVERY);
    ping.tick().await;
    let mut liveness = omnibridge_channel::Liveness::default();
    let mut budget = omnibridge_channel::FrameRate::new(omnibridge_channel::CLIENT_FRAMES_PER_SECOND);
    metrics::gauge!("omnibridge_realtime_connections").increment(1.0);
    // Why the server ends the socket, if it does.
    let close: Option<(u16, &'static str)> = loop {
        if behind {
            match log.read(position, BATCH).await {
                Ok(batch) => {
                    let mut failed = false;
                    for event in batch.events.iter().filter(|e| e.tenant_id == tenant_id) {
                        if socket.send(Message::Text(frame(event.seq, &event.payload).into())).await.is_err() {
                            failed = true;
                            break;
                        }
                    }
                    if failed {
                        break None;
                    }
                    behind = batch.through > position && batch.through < log.head();
                    position = batch.through;
                }
                Err(LogError::Gone { .. }) => break Some((4410, "events missed; re-sync and reconnect without after")),
                Err(err) => {
                    tracing::warn!(error = %err, "reading the event log for a realtime socket failed");
                    break Some((1011, "try again"));
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break None,
            ended_in = ended.recv() => {
                // This tenant's, or unknown ones (fallen behind): check again.
                let concerns_us = match ended_in {
                    Ok(tenant) => tenant == tenant_id,
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => break None,
                };
                if concerns_us && !credential.holds(&state).await {
                    break Some((1008, "access ended"));
                }
            }
            _ = recheck.tick() => {
                if !credential.holds(&state).await {
                    break Some((1008, "access ended"));
                }
            }
            _ = ping.tick() => {
                if liveness.is_gone() {
                    break Some((1001, "idle"));
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
            }
            changed = head.changed(), if !behind => match changed {
                Ok(()) => behind = true,
                Err(_) => break None,
            },
            // More to read: once the other arms had their turn.
            _ = std::future::ready(()), if behind => {}
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                Some(Ok(_)) if !budget.allow() => break Some((1008, "too many frames")),
                Some(Ok(_)) => liveness.heard(),
            },
        }
    };
    if let Some((code, reason)) = close {
        let _ = socket.send(Message::Close(Some(axum::extract::ws::CloseFrame { code, reason: reason.into() }))).await;
    }
    metrics::gauge!("omnibridge_realtime_connections").decrement(1.0);
}
