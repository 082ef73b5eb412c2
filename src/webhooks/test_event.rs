//! "Send test event" (as Svix and Stripe offer): one delivery of a harmless `webhook.test` event
//! to one endpoint, on request, so an integrator can check their receiver and its signature
//! verification before real events flow. It goes through the same worker, signing, retries and
//! attempt log as every delivery, whatever event types the endpoint subscribed to; it carries no
//! personal data.

use serde_json::json;
use uuid::Uuid;

use crate::domain::rfc3339;
use crate::store::webhooks::{EndpointRow, NewDelivery, insert_deliveries};
use crate::store::{Db, StoreResult, now_micros};

/// The test event's type.
pub const TEST_EVENT: &str = "webhook.test";

/// Queues a test delivery to `endpoint`; returns the delivery's id. Wake the delivery worker
/// after.
pub async fn enqueue(db: &Db, endpoint: &EndpointRow) -> StoreResult<Uuid> {
    let now = now_micros();
    let (id, event_id) = (Uuid::now_v7(), Uuid::now_v7());
    let body = json!({
        "type": TEST_EVENT,
        "timestamp": rfc3339(now),
        "data": {
            "endpoint_id": endpoint.id,
            "message": "A test event sent on request from omnibridge. Verify its signature as you would any other event's.",
        },
    });
    let delivery = NewDelivery {
        id,
        tenant_id: endpoint.tenant_id,
        endpoint_id: endpoint.id,
        event_id,
        event_type: TEST_EVENT.to_owned(),
        contact_id: None,
        body: Some(body.to_string().into_bytes()),
        status: "pending",
        next_attempt_at: Some(now),
        last_error: None,
        lease_until: None,
    };
    let mut tx = db.begin().await?;
    insert_deliveries(&mut tx, &[delivery], now).await?;
    tx.commit().await?;
    Ok(id)
}
