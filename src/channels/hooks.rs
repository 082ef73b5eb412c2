//! Provider callbacks, mounted per kind under one path scheme: `/hooks/{hook name}/{channel
//! id}/…`. The kinds serve them (signature first); the hub lends them its port and its inbound
//! pipeline.

use std::sync::Arc;

use axum::Router;
use omnibridge_channel::{HookContext, InboundTx};

use super::Channels;
use super::media::Prefetching;
use crate::privacy::Keyring;
use crate::store::Db;

/// Every kind's callback routes, ready to merge into the hub's router. Kinds whose provider
/// forgets files soon get their messages' files fetched as soon as they are stored.
pub fn router(channels: &Arc<Channels>, db: &Db, keyring: &Arc<Keyring>, inbound: InboundTx, public_url: String) -> Router {
    let context = HookContext { host: channels.host(), inbound: inbound.clone(), public_url: public_url.clone() };
    let prefetching = HookContext {
        host: channels.host(),
        inbound: Arc::new(Prefetching { inner: inbound, db: db.clone(), keyring: keyring.clone(), channels: channels.clone() }),
        public_url,
    };
    let mut router = Router::new();
    for kind in channels.kinds().all() {
        if let Some(routes) = kind.routes() {
            let context = if kind.capabilities().fetch_media_at_once { prefetching.clone() } else { context.clone() };
            router = router.nest(&omnibridge_channel::kind::hook_prefix(kind), routes.with_state(context));
        }
    }
    router
}
