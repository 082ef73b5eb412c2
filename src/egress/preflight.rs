//! Whether a message may leave, asked before it is queued: the door's own questions —
//! restriction (Art. 18), the recipient's consent for the purpose on the channel's medium, the
//! minimum age for marketing, the tenant's routing policy — plus the channel's reply window.
//! The API, the transcript sender, surveys and automatic answers all ask here; nothing is
//! recorded (the door records the transfer when the message actually leaves, asking again).

use omnibridge_channel::Address;
use uuid::Uuid;

use super::window::{Allowance, Window};
use super::{Door, EgressError, Recipient, Transfer};
use crate::channels::ChannelInfo;
use crate::events::present::fields;
use crate::store;

/// A message about to be queued.
#[derive(Clone, Copy)]
pub struct Outgoing<'a> {
    pub tenant_id: Uuid,
    pub contact_id: Uuid,
    pub channel: &'a ChannelInfo,
    /// `service`, `marketing`, `transcripts`, …
    pub purpose: &'a str,
    pub attachments: bool,
    /// The address it goes to when that is not the contact's address on the channel's kind (a
    /// transcript to a confirmed address).
    pub to: Option<&'a Address>,
    /// An approved template (which may leave outside the reply window).
    pub template: bool,
    /// Written by an operator (who may use a kind's human-agent allowance), not by the hub.
    pub human: bool,
}

impl Door {
    /// Asks what the door will ask when the message leaves; `Err` says why it may not.
    pub async fn preflight(&self, outgoing: &Outgoing<'_>) -> Result<(), EgressError> {
        let channel = outgoing.channel;
        let kind = self.policies.kinds().get(&channel.kind);
        let recipient = match kind {
            Some(kind) => {
                let index = match outgoing.to {
                    Some(to) => Some(self.keyring.blind_index(outgoing.tenant_id, to)),
                    None => self.contact_index(outgoing.tenant_id, outgoing.contact_id, kind.address_kind()).await?,
                };
                index.map(|address_index| Recipient { medium: kind.medium().as_str(), address_index, purpose: outgoing.purpose.to_owned() })
            }
            None => None,
        };
        let transfer = Transfer {
            tenant_id: outgoing.tenant_id,
            contact_id: Some(outgoing.contact_id),
            message_id: None,
            destination: self.policies.channel_destination(&channel.kind, channel.id, &channel.settings),
            categories: self.policies.channel_categories(&channel.kind, outgoing.attachments),
            recipient,
        };
        let verdict = self.decide_send(&transfer).await?;
        Self::refusal(verdict)?;
        if let Some(kind) = kind
            && !outgoing.template
            && let Some(window) = Window::of(&self.db, kind, outgoing.contact_id, channel.id).await?
            && window.allowance(store::now_micros(), outgoing.human) == Allowance::TemplateOnly
        {
            return Err(window.refusal(kind));
        }
        Ok(())
    }

    /// The blind index of the contact's address of `kind`, if they have one.
    async fn contact_index(&self, tenant_id: Uuid, contact_id: Uuid, kind: omnibridge_channel::AddressKind) -> Result<Option<Vec<u8>>, EgressError> {
        let Some(identity) = store::contacts::identity_for_kind(&self.db, tenant_id, contact_id, kind.as_str()).await? else { return Ok(None) };
        let key = self.keyring.data_key(&self.db, tenant_id, contact_id).await.map_err(|e| EgressError::Keys(e.to_string()))?;
        let value = key.open(fields::IDENTITY_ADDRESS, contact_id, &identity.address).map_err(|e| EgressError::Keys(e.to_string()))?;
        Ok(Some(self.keyring.blind_index(tenant_id, &Address { kind, value })))
    }
}
