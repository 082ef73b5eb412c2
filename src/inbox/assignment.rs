//! Automatic assignment: each new conversation goes to an online operator with room for it
//! (fewer open and pending conversations than their capacity), taking turns — the one assigned
//! longest ago first. A channel given to a team is answered by that team's members only.
//! Nobody online: it waits in the unassigned queue.
//!
//! A durable consumer of the event log assigns each `conversation.created`, in the same
//! transaction as its position, with `conversation.updated` for everyone watching: a burst of
//! new conversations is assigned late, never skipped, and never twice.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::events::WorkError;
use crate::events::consumer::Consumer;
use crate::events::outbox::UnitOfWork;
use crate::domain::events::{self, Event};
use crate::events::outbox;
use crate::events::present;
use crate::hub::AppState;
use crate::store;

pub struct Assignment(pub AppState);

impl Consumer for Assignment {
    fn name(&self) -> &'static str {
        "assignment"
    }

    fn wants(&self, event: &Event) -> bool {
        event.event_type == events::CONVERSATION_CREATED
    }

    async fn handle(&self, work: &mut UnitOfWork, events: &[Arc<Event>]) -> Result<(), WorkError> {
        for event in events {
            if let Some(id) = conversation_id(event) {
                assign(&self.0, work, event.tenant_id, id).await?;
            }
        }
        Ok(())
    }
}

fn conversation_id(event: &Event) -> Option<Uuid> {
    event.conversation_id.or_else(|| {
        let payload: Value = serde_json::from_str(&event.payload).ok()?;
        payload["data"]["id"].as_str()?.parse().ok()
    })
}

async fn assign(hub: &AppState, work: &mut UnitOfWork, tenant_id: Uuid, conversation_id: Uuid) -> Result<(), WorkError> {
    let Some(current) = store::conversations::get(work.tx(), tenant_id, conversation_id).await? else { return Ok(()) };
    if current.assignee_id.is_some() {
        return Ok(());
    }
    let key = match hub.keyring.data_key(work.tx(), tenant_id, current.contact_id).await {
        Ok(key) => key,
        Err(_) => return Ok(()), // the contact was erased meanwhile
    };
    let Some(operator) = store::team::next_assignee(work.tx(), tenant_id, current.channel_id).await? else { return Ok(()) };
    let Some(row) = store::conversations::update(work.tx(), tenant_id, current.id, &current.status, Some(operator)).await? else {
        return Ok(());
    };
    let view = present::conversation(&row);
    let sequence = outbox::next_sequence(work.tx(), row.id).await?;
    let event = Event::in_conversation(tenant_id, events::CONVERSATION_UPDATED, row.contact_id, row.id, sequence, &view);
    work.append(Some(&key), event).await?;
    Ok(())
}
