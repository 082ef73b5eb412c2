//! A thin client for Twilio's Messages API on the hub's HTTP client (reqwest).
//!
//! `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic auth (account
//! SID and auth token) and a form body; answers are the Message resource, errors Twilio's error
//! document (`code`, `message`, `more_info`, `status`). The base URL is a setting so a tenant can
//! use a Twilio region and a test a local fake.

use std::time::Duration;

use serde::Deserialize;

/// How long one API call may take before it counts as a transient failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct NewMessage<'a> {
    pub to: &'a str,
    pub from: Option<&'a str>,
    pub messaging_service_sid: Option<&'a str>,
    pub body: &'a str,
    pub status_callback: Option<&'a str>,
    pub media_urls: &'a [String],
}

/// The parts of Twilio's Message resource the hub uses.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageResource {
    pub sid: String,
    pub status: String,
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// One message of a list page.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedMessage {
    pub sid: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub status: String,
}

#[derive(Debug, Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<ListedMessage>,
}

#[derive(Debug, Deserialize)]
struct ErrorDocument {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    more_info: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered with an error.
    #[error("Twilio answered {status}{}: {message}", code.map(|c| format!(" (error {c})")).unwrap_or_default())]
    Api { status: u16, code: Option<i64>, message: String, more_info: Option<String>, retry_after: Option<Duration> },
    /// No answer: connection refused, timed out, reset.
    #[error("could not reach Twilio: {0}")]
    Network(String),
    /// An answer that is not what the API documents.
    #[error("unexpected answer from Twilio: {0}")]
    Decode(String),
}

/// Twilio's error code for "the recipient replied STOP to this sender".
pub const UNSUBSCRIBED_RECIPIENT: i64 = 21610;

pub struct TwilioClient {
    http: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: String,
}

impl TwilioClient {
    pub fn new(http: reqwest::Client, base_url: &str, account_sid: &str, auth_token: &str) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
        }
    }

    pub fn messages_url(&self) -> String {
        format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base_url, self.account_sid)
    }

    /// Creates (sends) a message.
    pub async fn create_message(&self, message: &NewMessage<'_>) -> Result<MessageResource, TwilioError> {
        let mut form: Vec<(&str, &str)> = vec![("To", message.to), ("Body", message.body)];
        if let Some(from) = message.from {
            form.push(("From", from));
        }
        if let Some(sid) = message.messaging_service_sid {
            form.push(("MessagingServiceSid", sid));
        }
        if let Some(url) = message.status_callback {
            form.push(("StatusCallback", url));
        }
        for url in message.media_urls {
            form.push(("MediaUrl", url));
        }
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let response = self
            .http
            .post(self.messages_url())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| TwilioError::Network(without_url(&e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(|e| TwilioError::Network(without_url(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| TwilioError::Decode(e.to_string()));
        }
        let doc: Option<ErrorDocument> = serde_json::from_slice(&bytes).ok();
        Err(TwilioError::Api {
            status: status.as_u16(),
            code: doc.as_ref().and_then(|d| d.code),
            message: doc
                .as_ref()
                .and_then(|d| d.message.clone())
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned()),
            more_info: doc.and_then(|d| d.more_info),
            retry_after,
        })
    }

    /// Downloads an MMS media item. Twilio's own media URLs get the account's credentials (media
    /// may be protected by HTTP auth); other hosts get none.
    /// Fetches an MMS media item. Only URLs of this account's media on the API host are fetched
    /// (the inbound form is the sender's to write, so anything else could point anywhere);
    /// Twilio answers them with a redirect to its media store, which the client follows under
    /// the hub's address guard. Credentials never follow a redirect to another host.
    pub async fn fetch_media(&self, url: &str, max_bytes: usize) -> Result<(String, Vec<u8>), TwilioError> {
        let account_media = format!("{}/2010-04-01/Accounts/{}/", self.base_url, self.account_sid);
        let path_ok = url.strip_prefix(&account_media).is_some_and(|rest| !rest.contains("..") && !rest.contains('@') && !rest.contains('#'));
        if !path_ok || reqwest::Url::parse(url).is_err() {
            return Err(TwilioError::Decode("media is fetched only from this account's media on the Twilio API host".into()));
        }
        let request = self.http.get(url).timeout(REQUEST_TIMEOUT).basic_auth(&self.account_sid, Some(&self.auth_token));
        let response = request.send().await.map_err(|e| TwilioError::Network(without_url(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(TwilioError::Api {
                status: status.as_u16(),
                code: None,
                message: "the media could not be fetched".into(),
                more_info: None,
                retry_after: None,
            });
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        if response.content_length().is_some_and(|len| len as usize > max_bytes) {
            return Err(TwilioError::Decode(format!("the media is larger than {max_bytes} bytes")));
        }
        let bytes = response.bytes().await.map_err(|e| TwilioError::Network(without_url(&e)))?;
        if bytes.len() > max_bytes {
            return Err(TwilioError::Decode(format!("the media is larger than {max_bytes} bytes")));
        }
        Ok((content_type, bytes.to_vec()))
    }
}

/// reqwest's errors name the URL, which carries the account SID; keep it out of messages.
fn without_url(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(err);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { kind.to_owned() } else { format!("{kind}: {detail}") }
}

impl TwilioClient {
    /// Fetches the account: proves the credentials work against this base URL.
    /// The newest messages (one page of 50) the account sent to `to`, from `from` when given:
    /// what reconciling a send whose answer was lost looks through.
    pub async fn recent_messages(&self, to: &str, from: Option<&str>) -> Result<Vec<ListedMessage>, TwilioError> {
        let mut query = vec![("To", to), ("PageSize", "50")];
        if let Some(from) = from {
            query.push(("From", from));
        }
        let response = self
            .http
            .get(self.messages_url())
            .query(&query)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| TwilioError::Network(without_url(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let doc: Option<ErrorDocument> = response.json().await.ok();
            return Err(TwilioError::Api {
                status: status.as_u16(),
                code: doc.as_ref().and_then(|d| d.code),
                message: doc.and_then(|d| d.message).unwrap_or_else(|| status.to_string()),
                more_info: None,
                retry_after: None,
            });
        }
        let page: MessagePage = response.json().await.map_err(|e| TwilioError::Decode(e.to_string()))?;
        Ok(page.messages)
    }

    pub async fn check_account(&self) -> Result<(), TwilioError> {
        let response = self
            .http
            .get(format!("{}/2010-04-01/Accounts/{}.json", self.base_url, self.account_sid))
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| TwilioError::Network(without_url(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let doc: Option<ErrorDocument> = response.json().await.ok();
        Err(TwilioError::Api {
            status: status.as_u16(),
            code: doc.as_ref().and_then(|d| d.code),
            message: doc.and_then(|d| d.message).unwrap_or_else(|| status.to_string()),
            more_info: None,
            retry_after: None,
        })
    }
}
