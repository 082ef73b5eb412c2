//! Files people send that the provider keeps (MMS media, Telegram files, WhatsApp media):
//! fetched through the channel's adapter, then kept sealed under the contact's key like any
//! other attachment. Fetched on first download — or, for kinds whose provider forgets them
//! (WhatsApp media ids expire), as soon as the message is stored ([`Prefetching`]).

use std::sync::Arc;

use async_trait::async_trait;
use omnibridge_channel::{Accepted, FetchedFile, InboundMessage, InboundSink, InboundTx, SinkError};

use super::Channels;
use crate::events::present::fields;
use crate::privacy::{DataKey, Keyring};
use crate::store::attachments::AttachmentRow;
use crate::store::{self, Db};

/// Why a file could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0}")]
    Gone(&'static str),
    #[error("the provider did not hand over the file: {0}")]
    Provider(String),
}

/// Fetches the content of `row` (an attachment left at the provider, `remote`) and keeps it.
pub async fn fetch_and_keep(db: &Db, channels: &Channels, row: &AttachmentRow, remote: &str, key: &DataKey) -> Result<FetchedFile, MediaError> {
    let message = store::messages::get(db, row.tenant_id, row.message_id).await.ok().flatten().ok_or(MediaError::Gone("the message is gone"))?;
    let channel = channels.get(message.channel_id).await.ok().flatten().ok_or(MediaError::Gone("the channel is gone"))?;
    let source = channels.file_source(&channel).ok_or(MediaError::Gone("the channel cannot fetch this file"))?;
    let file = source.fetch_attachment(remote).await.map_err(|err| {
        tracing::warn!(attachment_id = %row.id, error = %err, "fetching an attachment from the provider failed");
        MediaError::Provider(err.to_string())
    })?;
    let sealed = key.seal_bytes(fields::ATTACHMENT_DATA, row.id, &file.data).map_err(|_| MediaError::Gone("sealing failed"))?;
    let kept = async {
        let mut tx = db.begin().await?;
        store::attachments::store_fetched(&mut tx, row.id, &sealed, &file.content_type, file.data.len() as i64).await?;
        tx.commit().await
    };
    if let Err(err) = kept.await {
        tracing::warn!(attachment_id = %row.id, error = %err, "keeping a fetched attachment failed");
    }
    Ok(file)
}

/// An inbound sink that fetches a stored message's files from the provider right away.
pub struct Prefetching {
    pub inner: InboundTx,
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub channels: Arc<Channels>,
}

impl Prefetching {
    async fn fetch_all(db: Db, keyring: Arc<Keyring>, channels: Arc<Channels>, accepted: Accepted) {
        let rows = match store::attachments::full_for_message(&db, accepted.message_id).await {
            Ok(rows) => rows,
            Err(err) => return tracing::warn!(message_id = %accepted.message_id, error = %err, "listing a message's files failed"),
        };
        for row in rows {
            let (None, Some(remote)) = (&row.data, &row.remote) else { continue };
            let Ok(key) = keyring.data_key(&db, row.tenant_id, row.contact_id).await else { continue };
            // A failure is logged; the file is fetched again on first download.
            let _ = fetch_and_keep(&db, &channels, &row, remote, &key).await;
        }
    }
}

#[async_trait]
impl InboundSink for Prefetching {
    async fn accept(&self, message: InboundMessage) -> Result<Accepted, SinkError> {
        let remote = message.extras.attachments.iter().any(|a| a.remote.is_some() && a.data.is_empty());
        let accepted = self.inner.accept(message).await?;
        if remote && !accepted.duplicate {
            tokio::spawn(Self::fetch_all(self.db.clone(), self.keyring.clone(), self.channels.clone(), accepted.clone()));
        }
        Ok(accepted)
    }
}
