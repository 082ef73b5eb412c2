//! Sending to a visitor: push the reply to their open sockets. A visitor who is offline finds
//! the reply in their history when the widget reconnects, so the send still succeeds (`sent`);
//! with an open socket it is `delivered`.

use std::sync::Arc;

use async_trait::async_trait;
use omnibridge_channel::{AdapterError, Address, Channel, DeliveryStatus, OutboundMessage, Receipt, RecentReceipts};
use uuid::Uuid;

use crate::protocol::{ServerFrame, WidgetMessage};
use crate::sockets::{Frame, VisitorSockets};

pub struct WebchatChannel {
    sockets: VisitorSockets,
    /// Recently pushed attempts: a repeated send of one attempt is not pushed twice.
    recent: RecentReceipts,
}

const RECENT: usize = 4096;

impl WebchatChannel {
    pub fn new(sockets: VisitorSockets) -> Self {
        Self { sockets, recent: RecentReceipts::new(RECENT) }
    }

    /// Pushes a frame to the open widgets of the visitor `to` names; false when none is open.
    fn push(&self, to: &Address, frame: &ServerFrame) -> bool {
        let Ok(visitor_id) = Uuid::parse_str(&to.value) else { return false };
        let frame = serde_json::to_string(frame).unwrap_or_default();
        self.sockets.push(visitor_id, Frame { message: None, json: Arc::from(frame) })
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
        let seq = crate::protocol::micros_of(&message.created_at).unwrap_or_default();
        let frame = ServerFrame::Message {
            seq,
            message: WidgetMessage {
                seq,
                id: message.id,
                conversation_id: message.conversation_id,
                direction: "out".into(),
                text: message.text.clone(),
                author: "operator".into(),
                author_name: message.author_name.clone(),
                attachments: Vec::new(),
                status: None,
                created_at: message.created_at.clone(),
            },
        };
        if let Some(receipt) = self.recent.get(message) {
            return Ok(receipt);
        }
        let json = serde_json::to_string(&frame).map_err(|e| AdapterError::Permanent(e.to_string()))?;
        let delivered = self.sockets.push(visitor_id, Frame { message: Some(message.id), json: Arc::from(json) });
        let status = if delivered { DeliveryStatus::Delivered } else { DeliveryStatus::Sent };
        let receipt = Receipt { external_id: None, status };
        self.recent.remember(message, &receipt);
        Ok(receipt)
    }

    /// The hub keeps every web chat message and widgets show each id once: repeating a send is
    /// harmless.
    async fn reconcile(&self, _message: &OutboundMessage) -> Result<omnibridge_channel::Reconciled, AdapterError> {
        Ok(omnibridge_channel::Reconciled::NotSent)
    }

    /// Tells the visitor's open widgets that an operator is typing (or stopped). Carries no
    /// content.
    fn typing(&self, to: &Address, typing: bool) -> bool {
        self.push(to, &ServerFrame::Typing { typing })
    }

    /// Asks the visitor's open widgets the satisfaction question.
    fn offer_survey(&self, to: &Address, survey_id: Uuid) -> bool {
        self.push(to, &ServerFrame::Csat { survey_id })
    }
}

#[cfg(test)]
mod tests {
    use omnibridge_channel::testkit::{Expected, MemoryHost, check_failure_classified, check_forged_callbacks_refused, check_idempotent_send, check_kind, check_lifecycle};
    use omnibridge_channel::AddressKind;
    use std::sync::Mutex;

    use super::*;

    fn reply_to(visitor: Uuid) -> OutboundMessage {
        OutboundMessage {
            id: Uuid::now_v7(),
            channel_id: Uuid::now_v7(),
            conversation_id: Uuid::now_v7(),
            to: Address::new(AddressKind::Webchat, &visitor.to_string()),
            text: "hello".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            author_name: None,
            extras: Default::default(),
        }
    }

    #[tokio::test]
    async fn conforms_to_the_channel_contract() {
        let sockets = VisitorSockets::default();
        check_lifecycle(Arc::new(WebchatChannel::new(sockets.clone()))).await;

        let channel = WebchatChannel::new(sockets.clone());
        let visitor = Uuid::now_v7();
        let mut socket = sockets.subscribe(visitor).expect("a first socket");
        let pushed = Arc::new(Mutex::new(0usize));
        let counter = pushed.clone();
        let drain = tokio::spawn(async move {
            while socket.recv().await.is_ok() {
                *counter.lock().unwrap() += 1;
            }
        });
        check_idempotent_send(&channel, &reply_to(visitor), || *pushed.lock().unwrap()).await;
        drain.abort();

        // The rest of the kit: the kind describes itself; an address that is no visitor can
        // never be reached; there are no provider callbacks to forge (the widget's routes take
        // visitor tokens).
        let kind = crate::WebchatKind::new(sockets.clone());
        check_kind(&kind);
        let nobody = OutboundMessage { to: omnibridge_channel::Address::new(AddressKind::Webchat, "not-a-visitor"), ..reply_to(visitor) };
        check_failure_classified(&channel, &nobody, Expected::Permanent).await;
        check_forged_callbacks_refused(&kind, MemoryHost::default(), Vec::new()).await;
    }

    #[tokio::test]
    async fn an_offline_visitor_gets_sent_and_an_online_one_delivered() {
        let sockets = VisitorSockets::default();
        let channel = WebchatChannel::new(sockets.clone());
        let visitor = Uuid::now_v7();
        let offline = channel.send(&reply_to(visitor)).await.unwrap();
        assert_eq!(offline.status, DeliveryStatus::Sent);
        let _socket = sockets.subscribe(visitor).expect("a first socket");
        let online = channel.send(&reply_to(visitor)).await.unwrap();
        assert_eq!(online.status, DeliveryStatus::Delivered);
        let bad = OutboundMessage { to: Address::new(AddressKind::Webchat, "not-a-visitor"), ..reply_to(visitor) };
        assert!(matches!(channel.send(&bad).await, Err(AdapterError::Permanent(_))));
    }
}
