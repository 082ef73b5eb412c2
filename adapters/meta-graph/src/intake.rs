//! What every Meta kind's webhook route does the same way: refuse a request whose
//! `X-Hub-Signature-256` does not sign its body under the channel's app secret, and hand a
//! parsed batch to the hub — all messages submitted together (one group commit), then every
//! status — so that Meta's 200 comes only once all of it is durable, and a storage failure
//! answers 503 for Meta to send the batch again.

use axum::http::{HeaderMap, StatusCode};
use omnibridge_channel::problem::Problem;
use omnibridge_channel::{DeliveryReport, HookContext, InboundMessage, SinkError};
use uuid::Uuid;

use crate::signature;

pub fn unavailable() -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly")
}

/// 401 unless the request is signed with `app_secret`; a refusal is counted for `kind`.
#[allow(clippy::result_large_err, reason = "the problem is the route's answer, as for every other route")]
pub fn check_signature(cx: &HookContext, kind: &str, channel_id: Uuid, app_secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), Problem> {
    let given = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
    if signature::verify([app_secret], body, given) {
        return Ok(());
    }
    cx.host.signature_refused(kind, channel_id);
    Err(Problem::new(StatusCode::UNAUTHORIZED, "invalid_signature", "X-Hub-Signature-256 does not sign this body with the app secret"))
}

/// Stores `messages` and records `statuses`; `Err` (503) when the hub could not.
pub async fn hand_over(cx: &HookContext, channel_id: Uuid, messages: Vec<InboundMessage>, statuses: Vec<DeliveryReport>) -> Result<(), Problem> {
    for result in futures_util::future::join_all(messages.into_iter().map(|m| cx.inbound.accept(m))).await {
        match result {
            Ok(_) => {}
            Err(SinkError::Rejected(why)) => tracing::warn!(%channel_id, %why, "a message was rejected"),
            Err(SinkError::Unavailable(_)) => return Err(unavailable()),
        }
    }
    for report in statuses {
        cx.host.report(channel_id, report).await.map_err(|_| unavailable())?;
    }
    Ok(())
}
