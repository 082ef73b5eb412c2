//! Sending to a visitor: push the reply to their open sockets. A visitor who is offline finds
//! the reply in their history when the widget reconnects, so the send still succeeds (`sent`);
//! with an open socket it is `delivered`.

use std::sync::Arc;

use async_trait::async_trait;
use omnibridge_channel::{AdapterError, Channel, DeliveryStatus, OutboundMessage, Receipt};
use uuid::Uuid;

use crate::protocol::{ServerFrame, WidgetMessage};
use crate::sockets::VisitorSockets;

pub struct WebchatChannel {
    sockets: VisitorSockets,
}

impl WebchatChannel {
    pub fn new(sockets: VisitorSockets) -> Self {
        Self { sockets }
    }
}

#[async_trait]
impl Channel for WebchatChannel {
    fn kind(&self) -> &'static str {
        crate::KIND
    }

    async fn healthcheck(&self) -> Result<(), AdapterError> {
        Ok(())
    }

    async fn send(&self, message: &OutboundMessage) -> Result<Receipt, AdapterError> {
        let visitor_id = Uuid::parse_str(&message.to.value)
            .map_err(|_| AdapterError::Permanent("web chat address is not a visitor id".into()))?;
        let frame = ServerFrame::Message {
            message: WidgetMessage {
                id: message.id,
                conversation_id: message.conversation_id,
                direction: "out".into(),
                text: message.text.clone(),
                author: "operator".into(),
                author_name: message.author_name.clone(),
                created_at: message.created_at.clone(),
            },
        };
        let json = serde_json::to_string(&frame).map_err(|e| AdapterError::Permanent(e.to_string()))?;
        let delivered = self.sockets.push(visitor_id, Arc::from(json));
        let status = if delivered { DeliveryStatus::Delivered } else { DeliveryStatus::Sent };
        Ok(Receipt { external_id: None, status })
    }
}
