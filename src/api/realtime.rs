//! `GET /v1/realtime`: operators' live feed of their tenant's events over a websocket. The key
//! comes as a Bearer header or, for browsers (which cannot set headers on websockets), as
//! `?token=`. Each frame is one event, exactly as webhooks carry it: `{"type","timestamp","data"}`.

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::auth::authenticate;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/realtime", get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let header_token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let tenant_id = match header_token.or(q.get("token").map(String::as_str)) {
        Some(token) => {
            let mut auth = authenticate(&state, token.trim()).await?;
            auth.ip = Some(peer.ip());
            super::allow_list::check(&state, &auth).await?;
            auth.tenant_id
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
            let session = crate::store::sessions::find(&state.db, &super::signin::session_hash(&token)).await?.ok_or(ApiError::Unauthorized)?;
            let role = crate::domain::Role::parse(&session.role).ok_or(ApiError::Unauthorized)?;
            let auth = super::auth::Auth {
                tenant_id: session.tenant_id,
                key_id: session.operator_id,
                operator_id: Some(session.operator_id),
                role,
                ip: Some(peer.ip()),
            };
            super::allow_list::check(&state, &auth).await?;
            auth.tenant_id
        }
    };
    let shutdown = state.shutdown.clone();
    Ok(ws.max_message_size(16 * 1024).on_upgrade(move |socket| feed(socket, state, tenant_id, shutdown)))
}

async fn feed(mut socket: WebSocket, state: AppState, tenant_id: Uuid, shutdown: CancellationToken) {
    let mut events = state.bus.subscribe();
    let mut budget = omnibridge_channel::FrameRate::new(omnibridge_channel::CLIENT_FRAMES_PER_SECOND);
    metrics::gauge!("omnibridge_realtime_connections").increment(1.0);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            event = events.recv() => match event {
                Ok(event) if event.tenant_id == tenant_id => {
                    if socket.send(Message::Text(event.payload.as_ref().into())).await.is_err() { break }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => tracing::warn!(missed, "realtime listener lagged; events skipped"),
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) if !budget.allow() => {
                    let close = axum::extract::ws::CloseFrame { code: 1008, reason: "too many frames".into() };
                    let _ = socket.send(Message::Close(Some(close))).await;
                    break;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    metrics::gauge!("omnibridge_realtime_connections").decrement(1.0);
}
