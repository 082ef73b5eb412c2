//! Automatic assignment: each new conversation goes to an online operator with room for it
//! (fewer open and pending conversations than their capacity), taking turns — the one assigned
//! longest ago first. A channel given to a team is answered by that team's members only.
//! Nobody online: it waits in the unassigned queue.
//!
//! One task per cell listens for `conversation.created` after commit and assigns in its own
//! transaction, with `conversation.updated` for everyone watching.

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::events::WorkError;
use crate::events::outbox::UnitOfWork;
use crate::domain::events::{self, Event};
use crate::events::outbox;
use crate::events::present;
use crate::hub::AppState;
use crate::store;

pub async fn run(hub: AppState, stop: CancellationToken) {
    outbox::each_event(&hub.bus.clone(), events::CONVERSATION_CREATED, "automatic assignment", stop, |event| {
        let hub = hub.clone();
        async move {
            let Some(id) = conversation_id(&event) else { return };
            if let Err(err) = assign(&hub, event.tenant_id, id).await {
                tracing::error!(conversation_id = %id, error = %err, "automatic assignment failed");
            }
        }
    })
    .await
}

fn conversation_id(event: &Event) -> Option<Uuid> {
    event.conversation_id.or_else(|| {
        let payload: Value = serde_json::from_str(&event.payload).ok()?;
        payload["data"]["id"].as_str()?.parse().ok()
    })
}

async fn assign(hub: &AppState, tenant_id: Uuid, conversation_id: Uuid) -> Result<(), WorkError> {
    let Some(current) = store::conversations::get(&hub.db, tenant_id, conversation_id).await? else { return Ok(()) };
    if current.assignee_id.is_some() {
        return Ok(());
    }
    let key = hub.keyring.data_key(&hub.db, tenant_id, current.contact_id).await?;
    let mut work = UnitOfWork::begin(&hub.db, &hub.bus).await?;
    let Some(operator) = store::team::next_assignee(work.tx(), tenant_id, current.channel_id).await? else { return Ok(()) };
    let Some(row) = store::conversations::update(work.tx(), tenant_id, current.id, &current.status, Some(operator)).await? else {
        return Ok(());
    };
    let view = present::conversation(&row);
    let sequence = outbox::next_sequence(work.tx(), row.id).await?;
    let event = Event::in_conversation(tenant_id, events::CONVERSATION_UPDATED, row.contact_id, row.id, sequence, &view);
    work.append(Some(&key), event).await?;
    work.commit().await?;
    Ok(())
}
