use standardwebhooks::Webhook;

/// The event if the request comes from the hub, unaltered and recent; an error otherwise.
/// `body` is the raw request body, as received.
pub fn verified_event(secret: &str, body: &[u8], headers: &http::HeaderMap) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    Webhook::new(secret)?.verify(body, headers)?;
    Ok(serde_json::from_slice(body)?)
}
