//! The HTTP client that posts webhooks: pooled keep-alive connections, a timeout, no redirects,
//! no proxies from the environment, and the SSRF guard in its resolver. Posting takes an egress
//! [`Permit`], so nothing reaches a receiver without the door's decision and transfer record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};

use crate::net::ssrf::{AddressPolicy, GuardedResolver, literal_ip};
use crate::egress::Permit;

/// One signed request, ready to go.
pub struct SignedRequest<'a> {
    pub url: &'a str,
    pub msg_id: &'a str,
    pub timestamp: i64,
    pub signature: String,
    pub body: Vec<u8>,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct PostResult {
    pub status: Option<u16>,
    pub retry_after: Option<String>,
    /// The start of the response body (lossy UTF-8).
    pub body: Option<String>,
    pub error: Option<PostError>,
    pub latency: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostError {
    Timeout,
    /// The URL points at an address the SSRF guard refuses.
    Forbidden(String),
    Connect(String),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Forbidden(e) => write!(f, "refused: {e}"),
            Self::Connect(e) => write!(f, "{e}"),
        }
    }
}

pub struct WebhookClient {
    http: reqwest::Client,
    policy: Arc<AddressPolicy>,
    body_max: usize,
}

impl WebhookClient {
    pub fn new(policy: AddressPolicy, timeout: Duration, body_max: usize) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
            .build()?;
        Ok(Self { http, policy, body_max })
    }

    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    pub async fn post(&self, _permit: &Permit, request: SignedRequest<'_>) -> PostResult {
        let started = Instant::now();
        let failed = |error: PostError| PostResult { status: None, retry_after: None, body: None, error: Some(error), latency: started.elapsed() };
        let url = match reqwest::Url::parse(request.url) {
            Ok(url) => url,
            Err(e) => return failed(PostError::Connect(format!("bad URL: {e}"))),
        };
        // Literal addresses never reach the resolver; check them here.
        if let Some(ip) = literal_ip(&url)
            && !self.policy.permits(ip)
        {
            return failed(PostError::Forbidden(format!("{ip} is a private or reserved address")));
        }
        let sent = self
            .http
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(concat!("omnibridge-webhooks/", env!("CARGO_PKG_VERSION"))))
            .header("webhook-id", request.msg_id)
            .header("webhook-timestamp", request.timestamp.to_string())
            .header("webhook-signature", request.signature)
            .body(request.body)
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return failed(PostError::Timeout),
            Err(e) => return failed(classify(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = Vec::new();
        let mut error = None;
        while body.len() < self.body_max {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) if e.is_timeout() => {
                    error = Some(PostError::Timeout);
                    break;
                }
                Err(_) => break,
            }
        }
        body.truncate(self.body_max);
        let body = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
        PostResult { status: Some(status), retry_after, body, error, latency: started.elapsed() }
    }
}

/// A connection error, with the SSRF guard's refusal told apart.
fn classify(e: &reqwest::Error) -> PostError {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<crate::net::ssrf::UrlError>() {
            return PostError::Forbidden(refused.to_string());
        }
        source = err.source();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    PostError::Connect(text)
}
