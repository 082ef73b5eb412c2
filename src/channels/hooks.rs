//! Provider callbacks, mounted per kind under one path scheme: `/hooks/{hook name}/{channel
//! id}/…`. The kinds serve them (signature first); the hub lends them its port and its inbound
//! pipeline.

use axum::Router;
use omnibridge_channel::{HookContext, InboundTx};

use super::Channels;

/// Every kind's callback routes, ready to merge into the hub's router.
pub fn router(channels: &Channels, inbound: InboundTx, public_url: String) -> Router {
    let context = HookContext { host: channels.host(), inbound, public_url };
    let mut router = Router::new();
    for kind in channels.kinds().all() {
        if let Some(routes) = kind.routes() {
            router = router.nest(&omnibridge_channel::kind::hook_prefix(kind), routes.with_state(context.clone()));
        }
    }
    router
}
