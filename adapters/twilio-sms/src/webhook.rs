//! The forms Twilio posts to us: an inbound message and a message's status callback.
//! (`https://www.twilio.com/docs/messaging/guides/webhook-request`; status values from
//! `https://www.twilio.com/docs/messaging/api/message-resource#message-status-values`.)

use omnibridge_channel::{
    Address, AddressKind, ConsentAction, ConsentSignal, InboundAttachment, InboundExtras, InboundMessage, Sender, Technical,
};
use uuid::Uuid;

use crate::keywords::{self, Keyword};
use crate::settings::TwilioSmsSettings;

/// A form field that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct FormError {
    pub field: String,
    pub detail: String,
}

fn missing(field: &str) -> FormError {
    FormError { field: field.to_owned(), detail: "is required".into() }
}

/// The body of a form POST as (name, value) pairs, in order, duplicates kept (the signature
/// covers all of them).
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn sid<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, FormError> {
    let value = get(params, name).filter(|v| !v.is_empty()).ok_or_else(|| missing(name))?;
    if value.len() > 64 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FormError { field: name.to_owned(), detail: "is not a Twilio id".into() });
    }
    Ok(value)
}

/// One MMS media item: where Twilio keeps it and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub url: String,
    pub content_type: String,
}

/// An inbound SMS or MMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    pub message_sid: String,
    pub account_sid: String,
    pub messaging_service_sid: Option<String>,
    pub from: String,
    pub to: String,
    pub body: String,
    pub media: Vec<Media>,
}

/// Twilio allows at most ten media items per message.
const MAX_MEDIA: usize = 10;

pub fn inbound(params: &[(String, String)]) -> Result<InboundSms, FormError> {
    let message_sid = match sid(params, "MessageSid") {
        Ok(sid) => sid,
        Err(err) => sid(params, "SmsSid").map_err(|_| err)?,
    };
    let from = get(params, "From").filter(|v| v.bytes().any(|b| b.is_ascii_digit())).ok_or_else(|| missing("From"))?;
    let num_media = match get(params, "NumMedia") {
        None | Some("") => 0,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_MEDIA)
            .ok_or_else(|| FormError { field: "NumMedia".into(), detail: format!("must be a number from 0 to {MAX_MEDIA}") })?,
    };
    let mut media = Vec::with_capacity(num_media);
    for i in 0..num_media {
        let url_field = format!("MediaUrl{i}");
        let url = get(params, &url_field).filter(|u| u.starts_with("https://") || u.starts_with("http://")).ok_or_else(|| missing(&url_field))?;
        let content_type = get(params, &format!("MediaContentType{i}")).unwrap_or("application/octet-stream");
        media.push(Media { url: url.to_owned(), content_type: content_type.to_owned() });
    }
    Ok(InboundSms {
        message_sid: message_sid.to_owned(),
        account_sid: sid(params, "AccountSid")?.to_owned(),
        messaging_service_sid: get(params, "MessagingServiceSid").filter(|v| !v.is_empty()).map(str::to_owned),
        from: from.to_owned(),
        to: get(params, "To").unwrap_or_default().to_owned(),
        body: get(params, "Body").unwrap_or_default().to_owned(),
        media,
    })
}

impl InboundSms {
    /// Whether the message was sent to this channel: to its Messaging Service (whichever pooled
    /// number received it) or to its number.
    pub fn is_for(&self, settings: &TwilioSmsSettings) -> bool {
        let by_service = settings.messaging_service_sid.is_some() && settings.messaging_service_sid == self.messaging_service_sid;
        let by_number = settings.from.as_deref().is_some_and(|from| Address::new(AddressKind::Phone, &self.to).value == from);
        by_service || by_number
    }

    /// The keyword the message is, if it is one.
    pub fn keyword(&self) -> Option<Keyword> {
        if !self.media.is_empty() {
            return None;
        }
        keywords::classify(&self.body).map(|(k, _)| k)
    }

    /// The message as the hub takes it: the sender's number in E.164, media left at Twilio to
    /// be fetched on demand, and an opt-out or opt-in keyword as a consent signal.
    pub fn to_inbound(&self, channel_id: Uuid) -> InboundMessage {
        let consent = keywords::classify(&self.body).filter(|_| self.media.is_empty()).and_then(|(keyword, word)| {
            let action = match keyword {
                Keyword::OptOut => ConsentAction::OptOut,
                Keyword::OptIn => ConsentAction::OptIn,
                Keyword::Help => return None,
            };
            Some(ConsentSignal { action, method: "sms_keyword".into(), keyword: word.into() })
        });
        InboundMessage {
            channel_id,
            external_id: self.message_sid.clone(),
            sender: Sender { address: Address::new(AddressKind::Phone, &self.from), display_name: None },
            text: self.body.clone(),
            technical: Technical::default(),
            extras: InboundExtras {
                attachments: self
                    .media
                    .iter()
                    .map(|m| InboundAttachment { filename: None, content_type: m.content_type.clone(), data: Vec::new(), size: 0, remote: Some(m.url.clone()) })
                    .collect(),
                consent,
                ..InboundExtras::default()
            },
        }
    }
}

/// Where a sent message stands, as a status callback reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Still on its way inside Twilio (`accepted`, `scheduled`, `queued`, `sending`).
    Pending,
    /// Handed to the carrier.
    Sent,
    Delivered,
    /// Read (channels with read receipts).
    Read,
    /// `undelivered` or `failed`: it will not arrive.
    Failed,
    /// `canceled` before it was sent.
    Canceled,
}

/// A status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    pub message_sid: String,
    pub account_sid: String,
    /// Twilio's own word for the status.
    pub status: String,
    pub progress: Progress,
    pub error_code: Option<String>,
}

pub fn status(params: &[(String, String)]) -> Result<StatusCallback, FormError> {
    let status = get(params, "MessageStatus").or_else(|| get(params, "SmsStatus")).filter(|s| !s.is_empty()).ok_or_else(|| missing("MessageStatus"))?;
    let progress = match status {
        "accepted" | "scheduled" | "queued" | "sending" | "receiving" | "received" => Progress::Pending,
        "sent" => Progress::Sent,
        "delivered" | "partially_delivered" => Progress::Delivered,
        "read" => Progress::Read,
        "undelivered" | "failed" => Progress::Failed,
        "canceled" => Progress::Canceled,
        other => return Err(FormError { field: "MessageStatus".into(), detail: format!("unknown status {other:?}") }),
    };
    Ok(StatusCallback {
        message_sid: sid(params, "MessageSid")?.to_owned(),
        account_sid: sid(params, "AccountSid")?.to_owned(),
        status: status.to_owned(),
        progress,
        error_code: get(params, "ErrorCode").filter(|c| !c.is_empty()).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_mms_form_parses_with_its_media() {
        let body = b"ToCountry=US&MediaContentType0=image%2Fjpeg&NumMedia=1&Body=Look+at+this&From=%2B14155550100&To=%2B14155550199\
&MessageSid=MM0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef\
&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC1%2FMessages%2FMM1%2FMedia%2FME1&MessagingServiceSid=MG0123456789abcdef0123456789abcdef";
        let sms = inbound(&parse_form(body)).expect("valid");
        assert_eq!(sms.from, "+14155550100");
        assert_eq!(sms.body, "Look at this");
        assert_eq!(sms.media, vec![Media { url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1".into(), content_type: "image/jpeg".into() }]);
        assert_eq!(sms.messaging_service_sid.as_deref(), Some("MG0123456789abcdef0123456789abcdef"));
    }

    #[test]
    fn missing_and_malformed_fields_are_named() {
        let err = inbound(&parse_form(b"From=%2B14155550100&AccountSid=AC1")).expect_err("no sid");
        assert_eq!(err.field, "MessageSid");
        let err = inbound(&parse_form(b"MessageSid=SM1&AccountSid=AC1&From=%2B1415&NumMedia=2&MediaUrl0=https%3A%2F%2Fx")).expect_err("media");
        assert_eq!(err.field, "MediaUrl1");
        let err = inbound(&parse_form(b"MessageSid=SM1&AccountSid=AC1&From=%2B1415&NumMedia=99")).expect_err("too many");
        assert_eq!(err.field, "NumMedia");
        let err = inbound(&parse_form(b"MessageSid=SM%20%3B&AccountSid=AC1&From=%2B1415")).expect_err("odd sid");
        assert_eq!(err.field, "MessageSid");
    }

    #[test]
    fn status_callbacks_map_twilio_words_to_progress() {
        let cb = status(&parse_form(b"MessageSid=SM1&AccountSid=AC1&MessageStatus=undelivered&ErrorCode=30003")).expect("valid");
        assert_eq!((cb.progress, cb.error_code.as_deref()), (Progress::Failed, Some("30003")));
        let cb = status(&parse_form(b"MessageSid=SM1&AccountSid=AC1&MessageStatus=delivered")).expect("valid");
        assert_eq!(cb.progress, Progress::Delivered);
        assert_eq!(status(&parse_form(b"MessageSid=SM1&AccountSid=AC1&MessageStatus=exploded")).expect_err("unknown").field, "MessageStatus");
    }

    fn settings(from: Option<&str>, service: Option<&str>) -> TwilioSmsSettings {
        TwilioSmsSettings {
            account_sid: "AC1".into(),
            auth_token: "t".into(),
            secondary_auth_token: None,
            from: from.map(Into::into),
            messaging_service_sid: service.map(Into::into),
            region: "us1".into(),
            api_base_url: String::new(),
            public_base_url: None,
            help_reply: None,
        }
    }

    #[test]
    fn a_pooled_number_belongs_to_its_messaging_service() {
        let sms = inbound(&parse_form(b"MessageSid=SM1&AccountSid=AC1&From=%2B14155550100&To=%2B14155550177&MessagingServiceSid=MG9&Body=hi"))
            .expect("valid");
        assert!(sms.is_for(&settings(None, Some("MG9"))));
        assert!(sms.is_for(&settings(Some("+14155550199"), Some("MG9"))));
        assert!(!sms.is_for(&settings(Some("+14155550199"), None)));
        assert!(sms.is_for(&settings(Some("+14155550177"), None)));
        assert!(!sms.is_for(&settings(None, Some("MG8"))));
    }

    #[test]
    fn keywords_become_consent_signals_and_help_does_not() {
        let sms = |body: &str| inbound(&parse_form(format!("MessageSid=SM1&AccountSid=AC1&From=%2B14155550100&Body={body}").as_bytes())).expect("valid");
        let stop = sms("Stop").to_inbound(Uuid::nil());
        assert_eq!(stop.extras.consent.map(|c| (c.action, c.keyword)), Some((ConsentAction::OptOut, "STOP".to_owned())));
        assert_eq!(stop.text, "Stop", "the keyword message itself is kept as written");
        assert_eq!(sms("unstop").to_inbound(Uuid::nil()).extras.consent.map(|c| c.action), Some(ConsentAction::OptIn));
        assert_eq!(sms("HELP").to_inbound(Uuid::nil()).extras.consent, None);
        assert_eq!(sms("HELP").keyword(), Some(Keyword::Help));
        assert_eq!(sms("stop+please").to_inbound(Uuid::nil()).extras.consent, None);
    }

    proptest! {
        #[test]
        fn any_body_parses_or_fails_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let params = parse_form(&body);
            let _ = inbound(&params);
            let _ = status(&params);
        }
    }
}
