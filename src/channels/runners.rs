//! Background work per channel: a channel whose adapter pulls messages in (an email mailbox; a
//! Telegram bot in polling mode) gets a task running `Channel::run` with the hub's inbound
//! sink. Tasks start with the hub and follow the API: created, changed (restarted with the new
//! settings) or deleted (stopped).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnibridge_channel::InboundTx;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Channels;
use crate::store::{self, Db};

/// Channel kinds whose adapter runs in the background.
const PULLING_KINDS: &[&str] = &[omnibridge_email::KIND, omnibridge_telegram::KIND];

pub struct Runners {
    db: Db,
    channels: Arc<Channels>,
    /// Released at shutdown, so the ingest writer sees its last sender go and drains.
    inbound: Mutex<Option<InboundTx>>,
    tasks: Mutex<HashMap<Uuid, (CancellationToken, JoinHandle<()>)>>,
    stop: CancellationToken,
}

impl Runners {
    pub fn new(db: Db, channels: Arc<Channels>, stop: CancellationToken) -> Self {
        Self { db, channels, inbound: Mutex::new(None), tasks: Mutex::new(HashMap::new()), stop }
    }

    /// Starts every pulling channel, feeding `inbound`.
    pub async fn start_all(&self, inbound: InboundTx) -> Result<(), store::StoreError> {
        *self.inbound.lock().unwrap_or_else(|e| e.into_inner()) = Some(inbound);
        for kind in PULLING_KINDS {
            for id in store::mailboxes::channels_of_kind(&self.db, kind).await? {
                self.restart(id).await;
            }
        }
        Ok(())
    }

    /// (Re)starts a channel's background task with its current settings; stops it if the
    /// channel is gone or does not pull.
    pub async fn restart(&self, id: Uuid) {
        self.stop(id);
        let Some(inbound) = self.inbound.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return };
        self.channels.invalidate(id);
        let info = match self.channels.get(id).await {
            Ok(Some(info)) if PULLING_KINDS.contains(&info.kind.as_str()) => info,
            Ok(_) => return,
            Err(err) => {
                tracing::error!(channel_id = %id, error = %err, "loading a channel to start it failed");
                return;
            }
        };
        let Some(adapter) = self.channels.receiver(&info) else { return };
        let token = self.stop.child_token();
        let task = tokio::spawn({
            let token = token.clone();
            async move {
                if let Err(err) = adapter.run(inbound, token).await {
                    tracing::error!(channel_id = %id, error = %err, "channel stopped with an error");
                }
            }
        });
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (token, task));
    }

    pub fn stop(&self, id: Uuid) {
        if let Some((token, _)) = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) {
            token.cancel();
        }
    }

    /// Stops every task and waits for them (bounded).
    pub async fn shutdown(&self, grace: Duration) {
        self.stop.cancel();
        self.inbound.lock().unwrap_or_else(|e| e.into_inner()).take();
        let tasks: Vec<_> = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, (_, t))| t).collect();
        let _ = tokio::time::timeout(grace, futures_util::future::join_all(tasks)).await;
    }
}
