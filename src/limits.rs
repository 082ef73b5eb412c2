//! Rate limits: token buckets per client, in memory (each hub process counts for itself).
//!
//! - widget sessions per IP address and per channel, widget messages per visitor, transcript
//!   mails per visitor, per IP address and per channel,
//! - API requests per key (or console session), provider callbacks per channel,
//! - failed sign-ins per account from one address, per address, and per account from
//!   everywhere (a much larger budget): past the limit the attempt source is locked out until
//!   the bucket refills, so a stranger cannot lock an operator out from elsewhere for longer
//!   than the account-wide budget allows, and never for longer than `sign_in_lockout_secs`
//!   after the guessing stops.
//!
//! The API answers a refused request with `429` with `Retry-After` and a problem document naming the limit;
//! refusals are counted in `omnibridge_rate_limited_total{limit}`. Limits are per minute in
//! `[limits]`; a bucket holds a minute's worth, so a burst up to the limit passes at once.
//!
//! Clients choose their keys (any bearer token draws from a bucket of its own before it is
//! checked), so the buckets must stay cheap however many keys arrive: the map is split into
//! shards by a keyed hash (one lock per shard, O(1) per request), keys are stored as that hash,
//! a sweeper forgets full buckets (a full bucket says nothing a missing one does not), and each
//! shard is bounded by `limits.max_buckets`: past it, the shard's older generation of buckets is
//! dropped whole, an amortized O(1) eviction that never scans on the request path.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};


use crate::config::LimitsConfig;

/// What is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    WidgetSessionsPerIp,
    WidgetSessionsPerChannel,
    WidgetMessagesPerVisitor,
    TranscriptsPerVisitor,
    TranscriptsPerIp,
    TranscriptsPerChannel,
    ApiRequestsPerKey,
    ProviderCallbacksPerChannel,
    SignInFailuresPerAccountAndIp,
    SignInFailuresPerIp,
    SignInFailuresPerAccount,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Limit::WidgetSessionsPerIp => "widget_sessions_per_ip",
            Limit::WidgetSessionsPerChannel => "widget_sessions_per_channel",
            Limit::WidgetMessagesPerVisitor => "widget_messages_per_visitor",
            Limit::TranscriptsPerVisitor => "transcripts_per_visitor",
            Limit::TranscriptsPerIp => "transcripts_per_ip",
            Limit::TranscriptsPerChannel => "transcripts_per_channel",
            Limit::ApiRequestsPerKey => "api_requests_per_key",
            Limit::ProviderCallbacksPerChannel => "provider_callbacks_per_channel",
            Limit::SignInFailuresPerAccountAndIp => "sign_in_failures_per_account_and_ip",
            Limit::SignInFailuresPerIp => "sign_in_failures_per_ip",
            Limit::SignInFailuresPerAccount => "sign_in_failures_per_account",
        }
    }

    /// (bucket size, refill window).
    fn budget(self, c: &LimitsConfig) -> (f64, Duration) {
        let minute = Duration::from_secs(60);
        let hour = Duration::from_secs(3600);
        let lockout = Duration::from_secs(c.sign_in_lockout_secs.max(1));
        match self {
            Limit::WidgetSessionsPerIp => (c.widget_sessions_per_ip_per_minute as f64, minute),
            Limit::WidgetSessionsPerChannel => (c.widget_sessions_per_channel_per_minute as f64, minute),
            Limit::WidgetMessagesPerVisitor => (c.widget_messages_per_visitor_per_minute as f64, minute),
            Limit::TranscriptsPerVisitor => (c.transcripts_per_visitor_per_hour as f64, hour),
            Limit::TranscriptsPerIp => (c.transcripts_per_ip_per_hour as f64, hour),
            Limit::TranscriptsPerChannel => (c.transcripts_per_channel_per_hour as f64, hour),
            Limit::ApiRequestsPerKey => (c.api_requests_per_key_per_minute as f64, minute),
            Limit::ProviderCallbacksPerChannel => (c.provider_callbacks_per_channel_per_minute as f64, minute),
            Limit::SignInFailuresPerAccountAndIp => (c.sign_in_failures_per_account_and_ip as f64, lockout),
            Limit::SignInFailuresPerIp => (c.sign_in_failures_per_ip as f64, lockout),
            Limit::SignInFailuresPerAccount => (c.sign_in_failures_per_account as f64, lockout),
        }
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Refilled up to `now`.
    fn refill(&mut self, now: Instant, size: f64, per_sec: f64) {
        self.tokens = (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * per_sec).min(size);
        self.at = now;
    }
}

const SHARDS: usize = 64;

/// One shard: the buckets used since the last generation change, and the generation before.
#[derive(Default)]
struct Shard {
    current: HashMap<(Limit, u64), Bucket>,
    previous: HashMap<(Limit, u64), Bucket>,
}

pub struct RateLimits {
    config: LimitsConfig,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
    /// Buckets per generation per shard; a shard holds at most twice this.
    generation_cap: usize,
}

impl RateLimits {
    pub fn new(config: LimitsConfig) -> Self {
        let generation_cap = (config.max_buckets / SHARDS / 2).max(1);
        Self { config, hasher: RandomState::new(), shards: (0..SHARDS).map(|_| Mutex::default()).collect(), generation_cap }
    }

    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    fn with_bucket<T>(&self, limit: Limit, key: &str, f: impl FnOnce(&mut Bucket, f64) -> T) -> T {
        let (size, window) = limit.budget(&self.config);
        let per_sec = size / window.as_secs_f64();
        let hash = self.hash(key);
        let now = Instant::now();
        let mut shard = self.shards[(hash as usize) % SHARDS].lock().unwrap_or_else(|e| e.into_inner());
        let id = (limit, hash);
        let bucket = match shard.current.get(&id) {
            Some(bucket) => *bucket,
            None => {
                let found = shard.previous.remove(&id).unwrap_or(Bucket { tokens: size, at: now });
                if shard.current.len() >= self.generation_cap {
                    // Full: the older generation goes (amortized over the inserts that filled it).
                    shard.previous = std::mem::take(&mut shard.current);
                }
                found
            }
        };
        let mut bucket = bucket;
        bucket.refill(now, size, per_sec);
        let out = f(&mut bucket, per_sec);
        shard.current.insert(id, bucket);
        out
    }

    /// Takes one token; `Err(wait)` when there is none.
    pub fn take(&self, limit: Limit, key: &str) -> Result<(), Duration> {
        let (size, _) = limit.budget(&self.config);
        if size <= 0.0 {
            return Ok(()); // 0: unlimited
        }
        let result = self.with_bucket(limit, key, |b, per_sec| {
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                Ok(())
            } else {
                Err(Duration::from_secs_f64(((1.0 - b.tokens) / per_sec).max(1.0)))
            }
        });
        if result.is_err() {
            metrics::counter!("omnibridge_rate_limited_total", "limit" => limit.name()).increment(1);
        }
        result
    }

    /// Whether the bucket is empty (a lock-out), without taking from it.
    pub fn locked(&self, limit: Limit, key: &str) -> Option<Duration> {
        let (size, _) = limit.budget(&self.config);
        if size <= 0.0 {
            return None;
        }
        self.with_bucket(limit, key, |b, per_sec| (b.tokens < 1.0).then(|| Duration::from_secs_f64(((1.0 - b.tokens) / per_sec).max(1.0))))
    }

    /// How many buckets are held now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map(|s| s.current.len() + s.previous.len()).unwrap_or(0)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most buckets this process ever holds.
    pub fn capacity(&self) -> usize {
        self.generation_cap * 2 * SHARDS
    }

    /// Forgets the buckets that have refilled: they say nothing a missing bucket does not. One
    /// shard at a time, so requests wait for at most one shard's sweep.
    pub fn sweep(&self) {
        let now = Instant::now();
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            let Shard { current, previous } = &mut *shard;
            for map in [current, previous] {
                map.retain(|(limit, _), bucket| {
                    let (size, window) = limit.budget(&self.config);
                    let mut b = *bucket;
                    b.refill(now, size, size / window.as_secs_f64());
                    b.tokens < size
                });
            }
        }
        metrics::gauge!("omnibridge_rate_limit_buckets").set(self.len() as f64);
    }
}

/// Sweeps the buckets every few seconds until `shutdown`.
pub async fn sweeper(limits: std::sync::Arc<RateLimits>, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => limits.sweep(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_buckets: usize) -> LimitsConfig {
        let mut c = crate::config::Config::defaults().limits;
        c.max_buckets = max_buckets;
        c
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_within_the_bound_and_known_clients_keep_their_state() {
        let limits = RateLimits::new(config(64 * 1024));
        // A client that spent its whole budget (one that refills slowly: a token every three
        // minutes, so however slow the machine, a refused client stays refused while this runs).
        for _ in 0..5 {
            limits.take(Limit::SignInFailuresPerAccountAndIp, "busy").expect("within budget");
        }
        assert!(limits.take(Limit::SignInFailuresPerAccountAndIp, "busy").is_err());
        let started = Instant::now();
        for i in 0..300_000 {
            let _ = limits.take(Limit::ApiRequestsPerKey, &format!("random-token-{i}"));
            if i % 1000 == 0 {
                // The client keeps asking, and stays refused: its bucket is in use, not evicted.
                assert!(limits.take(Limit::SignInFailuresPerAccountAndIp, "busy").is_err(), "after {i} keys");
            }
        }
        assert!(limits.len() <= limits.capacity(), "{} buckets, bound {}", limits.len(), limits.capacity());
        assert!(limits.capacity() <= 64 * 1024);
        // Generous on a loaded machine: about 10 ms are expected for 300k keys.
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    }

    #[test]
    fn refilled_buckets_are_swept() {
        let mut c = config(10_000);
        c.api_requests_per_key_per_minute = 60_000_000; // a token per microsecond
        let limits = RateLimits::new(c);
        for i in 0..1000 {
            limits.take(Limit::ApiRequestsPerKey, &i.to_string()).expect("budget");
        }
        assert_eq!(limits.len(), 1000);
        std::thread::sleep(Duration::from_millis(5));
        limits.sweep();
        assert_eq!(limits.len(), 0, "full buckets carry nothing");
    }

    #[test]
    fn an_empty_bucket_refuses_with_a_wait() {
        let limits = RateLimits::new(config(1000));
        for _ in 0..5 {
            limits.take(Limit::SignInFailuresPerAccountAndIp, "a|1.2.3.4").expect("budget");
        }
        let wait = limits.locked(Limit::SignInFailuresPerAccountAndIp, "a|1.2.3.4").expect("locked");
        assert!(wait >= Duration::from_secs(1));
        assert!(limits.locked(Limit::SignInFailuresPerAccountAndIp, "a|5.6.7.8").is_none(), "another source is not locked");
    }
}
