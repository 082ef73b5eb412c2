//! The hub's shared state, handed to every request handler and worker.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::access::{AllowLists, AuthCache, SocketCounts, VisitorSessions};
use crate::channels::Channels;
use crate::channels::runners::Runners;
use crate::config::Config;
use crate::events::outbox::EventBus;
use crate::policy::Policies;
use crate::privacy::Keyring;
use crate::store::Db;
use crate::webhooks::WebhookClient;

pub type AppState = Arc<Hub>;

pub struct Hub {
    pub config: Arc<Config>,
    pub db: Db,
    pub keyring: Arc<Keyring>,
    /// Tenants' routing policies and the subprocessor registry, for the egress door and the API.
    pub policies: Arc<Policies>,
    pub channels: Arc<Channels>,
    /// The door out: what may leave (preflight, before queueing) is asked here.
    pub door: crate::egress::Door,
    pub bus: EventBus,
    /// Wakes the send worker when an outbound message is queued.
    pub send_wake: Arc<Notify>,
    /// Wakes the privacy-request worker when a request is filed.
    pub privacy_wake: Arc<Notify>,
    /// Wakes the operator mailer (invitations, daily summaries) when operators are imported or
    /// opt in to the summary.
    pub mail_wake: Arc<Notify>,
    /// Wakes the webhook delivery worker when deliveries are queued by hand (retry, recover).
    pub webhook_ready: Arc<Notify>,
    /// The guarded webhook HTTP client; its address policy also vets new endpoint URLs.
    pub webhooks: Arc<WebhookClient>,
    /// Background tasks of channels that pull messages in (email importers).
    pub runners: Arc<Runners>,
    pub auth_cache: AuthCache,
    /// Tenants' IP allow-lists, cached.
    pub ip_allow: AllowLists,
    pub metrics: Option<PrometheusHandle>,
    /// Token buckets for abusive clients.
    pub limits: Arc<crate::limits::RateLimits>,
    /// This process among the others on the same database: leases, announcements.
    pub cluster: Arc<crate::cluster::Cluster>,
    pub shutdown: CancellationToken,
    /// Where connections on a tenant's behalf may go (vets channel hosts at configuration).
    pub outbound_policy: Arc<crate::net::ssrf::AddressPolicy>,
    /// The tenants in which someone's access ended (a key revoked, an operator deactivated or
    /// signed out): that tenant's open websockets re-check their credentials.
    pub revocations: tokio::sync::broadcast::Sender<uuid::Uuid>,
    /// Open realtime sockets per key or session.
    pub socket_counts: SocketCounts,
    /// Web chat visitors' sessions, cached for the widget's requests.
    pub visitor_sessions: VisitorSessions,
}

impl Hub {
    /// What is cached about these contacts is stale: their web chat sessions changed hands (a
    /// merge, an unmerge) or ended with their data key (an erasure). Forgotten in this process
    /// at once, and announced to the others.
    pub async fn contacts_changed(&self, contacts: &[uuid::Uuid]) {
        for &contact_id in contacts {
            self.contact_changed_here(contact_id);
            self.cluster.announce(crate::cluster::Change::Contact(contact_id)).await;
        }
    }

    /// In this process only (an announcement from another process): the contact's cached data
    /// key and visitor sessions go; the next request reads them as stored now.
    pub fn contact_changed_here(&self, contact_id: uuid::Uuid) {
        self.keyring.forget(contact_id);
        self.visitor_sessions.forget_contact(contact_id);
    }
}
