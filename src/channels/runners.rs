//! Background work per channel: a channel whose adapter pulls messages in (an email mailbox; a
//! Telegram bot in polling mode) gets a task running `Channel::run` with the hub's inbound
//! sink — in exactly one hub process. A process runs a channel's task only while it holds the
//! channel's lease (`poller:<channel id>`, see [`crate::cluster`]); the supervisor renews the
//! leases every heartbeat, starts the tasks of leases it takes over from a dead process, and
//! stops a task whose lease it lost. Tasks follow the API: created, changed (restarted with the
//! new settings, also in the process that holds the lease) or deleted (stopped).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnibridge_channel::InboundTx;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Channels;
use crate::cluster::Cluster;
use crate::store::{self, Db};

/// Channel kinds whose adapter runs in the background.
const PULLING_KINDS: &[&str] = &[omnibridge_email::KIND, omnibridge_telegram::KIND];

fn lease(id: Uuid) -> String {
    format!("poller:{id}")
}

pub struct Runners {
    db: Db,
    channels: Arc<Channels>,
    cluster: Arc<Cluster>,
    /// Released at shutdown, so the ingest writer sees its last sender go and drains.
    inbound: Mutex<Option<InboundTx>>,
    tasks: Mutex<HashMap<Uuid, (CancellationToken, JoinHandle<()>)>>,
    stop: CancellationToken,
    wake: Notify,
}

impl Runners {
    pub fn new(db: Db, channels: Arc<Channels>, cluster: Arc<Cluster>, stop: CancellationToken) -> Self {
        Self { db, channels, cluster, inbound: Mutex::new(None), tasks: Mutex::new(HashMap::new()), stop, wake: Notify::new() }
    }

    /// Starts every pulling channel this process gets the lease of, feeding `inbound`.
    pub async fn start_all(&self, inbound: InboundTx) -> Result<(), store::StoreError> {
        *self.inbound.lock().unwrap_or_else(|e| e.into_inner()) = Some(inbound);
        self.reconcile().await
    }

    /// Renews and takes over leases every heartbeat (or when woken) until shutdown.
    pub async fn supervise(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.cluster.heartbeat) => {}
            }
            if let Err(err) = self.reconcile().await {
                tracing::warn!(error = %err, "checking channel pollers failed");
            }
        }
    }

    /// One round: every pulling channel runs here exactly when this process holds its lease.
    async fn reconcile(&self) -> Result<(), store::StoreError> {
        let mut pulling = Vec::new();
        for kind in PULLING_KINDS {
            pulling.extend(store::mailboxes::channels_of_kind(&self.db, kind).await?);
        }
        for &id in &pulling {
            let held = self.cluster.hold(&lease(id)).await;
            let running = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).get(&id).map(|(_, task)| !task.is_finished());
            match (held, running) {
                (true, Some(true)) => {}
                (true, _) => self.start(id).await,
                (false, Some(_)) => {
                    tracing::warn!(channel_id = %id, "another process holds this channel's lease now; stopping here");
                    self.stop_task(id);
                }
                (false, None) => {}
            }
        }
        let gone: Vec<Uuid> = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).keys().filter(|id| !pulling.contains(id)).copied().collect();
        for id in gone {
            self.stop(id).await;
        }
        Ok(())
    }

    /// (Re)starts a channel's background task with its current settings, here if this process
    /// holds (or can take) the lease; stops it if the channel is gone or does not pull.
    pub async fn restart(&self, id: Uuid) {
        self.stop_task(id);
        self.channels.invalidate(id);
        if self.cluster.hold(&lease(id)).await {
            self.start(id).await;
        }
    }

    async fn start(&self, id: Uuid) {
        self.stop_task(id);
        let Some(inbound) = self.inbound.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return };
        let info = match self.channels.get(id).await {
            Ok(Some(info)) if PULLING_KINDS.contains(&info.kind.as_str()) => info,
            Ok(_) => {
                self.cluster.release(&lease(id)).await;
                return;
            }
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
        tracing::info!(channel_id = %id, node_id = %crate::cluster::node_id(), "channel poller started");
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (token, task));
    }

    fn stop_task(&self, id: Uuid) {
        if let Some((token, _)) = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) {
            token.cancel();
        }
    }

    /// Stops a channel's task (deleted, or no longer pulling) and gives its lease up.
    pub async fn stop(&self, id: Uuid) {
        self.stop_task(id);
        self.cluster.release(&lease(id)).await;
    }

    /// Another process changed this channel: restart it here if it runs here.
    pub async fn changed_elsewhere(&self, id: Uuid) {
        self.channels.invalidate(id);
        let running = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&id);
        if running {
            self.restart(id).await;
        }
        self.wake.notify_one();
    }

    /// Stops every task, waits for them (bounded) and gives the leases up.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop.cancel();
        self.inbound.lock().unwrap_or_else(|e| e.into_inner()).take();
        let tasks: Vec<(Uuid, JoinHandle<()>)> = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(id, (_, t))| (id, t)).collect();
        let ids: Vec<Uuid> = tasks.iter().map(|(id, _)| *id).collect();
        let _ = tokio::time::timeout(grace, futures_util::future::join_all(tasks.into_iter().map(|(_, t)| t))).await;
        for id in ids {
            self.cluster.release(&lease(id)).await;
        }
    }
}
