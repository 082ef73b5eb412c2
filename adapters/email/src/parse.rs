//! Inbound mail: raw RFC 5322 bytes → what the hub needs, with loop and noise signals.
//!
//! Built on mail-parser (any charset, any transfer encoding, HTML-only mail turned into text).
//! Classification follows RFC 3834: automatic mail (auto-replies, auto-generated notices) never
//! opens a conversation; delivery status notifications (RFC 3464 `multipart/report;
//! report-type=delivery-status`) are bounces of one of our messages. Mailing-list and bulk mail
//! may be imported but is flagged so nothing ever answers it automatically.
//!
//! The parser never panics, whatever the bytes (a property test feeds it arbitrary input).

use mail_parser::{Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};

/// The longest text kept from one mail (characters); longer bodies are cut with a marker.
const MAX_TEXT_CHARS: usize = 100_000;

/// A parsed inbound mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    /// `Message-ID` without angle brackets, if the mail has one.
    pub message_id: Option<String>,
    /// `In-Reply-To` then `References` (newest first), without brackets, deduplicated.
    pub thread_refs: Vec<String>,
    pub from_address: String,
    pub from_name: Option<String>,
    /// Every `To` and `Cc` address (for reply tokens in sub-addresses).
    pub recipients: Vec<String>,
    pub subject: Option<String>,
    /// The readable text: the text part, or the HTML part turned into text.
    pub text: String,
    /// Byte offset in `text` where quoted history starts, if any.
    pub quote_start: Option<usize>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub kind: MailKind,
    /// RFC 3834 signals: never send an automatic response to this mail.
    pub no_auto_reply: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailKind {
    /// A person writing: a conversation message.
    Conversation,
    /// Machine-generated (auto-reply, notice): not a conversation.
    Automatic { reason: String },
    /// A delivery status notification about one of our messages.
    Bounce(Bounce),
}

/// What a bounce says: which of our messages, the enhanced status code (RFC 3463: `5.1.1`
/// permanent, `4.2.2` transient), whether the server gave up or only delays, and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    pub original_message_id: Option<String>,
    pub status: Option<String>,
    /// `Action: delayed`: the server keeps trying; not a failure (yet).
    pub delayed: bool,
    pub reason: String,
}

impl Bounce {
    /// A `4.x.x` status: the condition may pass (a full mailbox, a greylisting server).
    pub fn is_transient(&self) -> bool {
        self.status.as_deref().is_some_and(|s| s.starts_with('4'))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a mail message")]
    NotAMessage,
    #[error("no sender address (From)")]
    NoSender,
}

/// Parses one raw mail.
pub fn parse(raw: &[u8]) -> Result<ParsedMail, ParseError> {
    let message = MessageParser::default().parse(raw).ok_or(ParseError::NotAMessage)?;
    if message.headers().is_empty() {
        return Err(ParseError::NotAMessage);
    }
    let from = first_address(message.from()).ok_or(ParseError::NoSender)?;
    let from_address = from.0.clone();
    let no_auto_reply = suppresses_auto_reply(&message, &from_address);
    let kind = classify(&message, &from_address);

    let (text, html) = bodies(&message);
    let quote_start = quote_start(&text);
    let mut thread_refs = Vec::new();
    for value in [message.in_reply_to(), message.references()] {
        for id in text_list(value) {
            let id = clean_id(&id);
            if !id.is_empty() && !thread_refs.contains(&id) {
                thread_refs.push(id);
            }
        }
    }
    // References lists oldest first; the newest is the best thread hint after In-Reply-To.
    if thread_refs.len() > 2 {
        let in_reply_to_count = text_list(message.in_reply_to()).len().min(thread_refs.len());
        thread_refs[in_reply_to_count..].reverse();
    }
    let recipients = message
        .to()
        .into_iter()
        .chain(message.cc())
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address().map(|s| s.trim().to_lowercase()))
        .collect();
    let attachments = message
        .attachments()
        .filter(|p| !matches!(p.body, PartType::Message(_)) || kind == MailKind::Conversation)
        .map(|p| Attachment {
            filename: p.attachment_name().map(str::to_owned),
            content_type: content_type(p),
            data: p.contents().to_vec(),
        })
        .collect();
    Ok(ParsedMail {
        message_id: message.message_id().map(clean_id).filter(|id| !id.is_empty()),
        thread_refs,
        from_address,
        from_name: from.1,
        recipients,
        subject: message.subject().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
        text,
        quote_start,
        html,
        attachments,
        kind,
        no_auto_reply,
    })
}

fn first_address(address: Option<&Address<'_>>) -> Option<(String, Option<String>)> {
    let addr = address?.iter().find(|a| a.address().is_some_and(|s| s.contains('@')))?;
    let email = addr.address()?.trim().to_lowercase();
    let name = addr.name().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    Some((email, name))
}

fn text_list(value: &HeaderValue<'_>) -> Vec<String> {
    match value.as_text_list() {
        Some(list) => list.iter().map(|s| s.to_string()).collect(),
        None => Vec::new(),
    }
}

fn clean_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_owned()
}

fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
            None => ct.ctype().to_lowercase(),
        },
        None => "application/octet-stream".into(),
    }
}

fn raw_header<'a>(message: &'a Message<'a>, name: &'a str) -> Option<&'a str> {
    message.header_raw(name).map(str::trim)
}

/// RFC 3834 §2 and common practice: signs that answering automatically would start a loop or
/// spam a list.
fn suppresses_auto_reply(message: &Message<'_>, from: &str) -> bool {
    let auto_submitted = raw_header(message, "Auto-Submitted").is_some_and(|v| !v.eq_ignore_ascii_case("no"));
    let precedence = raw_header(message, "Precedence")
        .is_some_and(|v| ["bulk", "list", "junk"].iter().any(|p| v.eq_ignore_ascii_case(p)));
    let list = message.header_raw("List-Id").is_some();
    let null_return_path = raw_header(message, "Return-Path").is_some_and(|v| v.trim_matches(|c: char| c == '<' || c == '>' || c.is_whitespace()).is_empty());
    let daemon = from.split('@').next().is_some_and(|local| local.eq_ignore_ascii_case("mailer-daemon"));
    let suppress = message.header_raw("X-Auto-Response-Suppress").is_some();
    auto_submitted || precedence || list || null_return_path || daemon || suppress
}

fn classify(message: &Message<'_>, from: &str) -> MailKind {
    if let Some(bounce) = delivery_report(message) {
        return bounce;
    }
    if let Some(value) = raw_header(message, "Auto-Submitted")
        && !value.eq_ignore_ascii_case("no")
    {
        return MailKind::Automatic { reason: format!("Auto-Submitted: {value}") };
    }
    if from.split('@').next().is_some_and(|local| local.eq_ignore_ascii_case("mailer-daemon")) {
        return MailKind::Automatic { reason: "sent by MAILER-DAEMON".into() };
    }
    if raw_header(message, "X-Autoreply").is_some() || raw_header(message, "X-Autorespond").is_some() {
        return MailKind::Automatic { reason: "marked as an auto-reply".into() };
    }
    MailKind::Conversation
}

/// A `multipart/report; report-type=delivery-status` message (RFC 3464), or the common bounce
/// without one (Exim's "Mail delivery failed", qmail, Exchange's plain notices): from the mailer
/// daemon or postmaster, naming a status code. The original's Message-ID comes from the returned
/// message or headers, else from the text, else from In-Reply-To.
fn delivery_report(message: &Message<'_>) -> Option<MailKind> {
    let is_report = message.root_part().content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct.attribute("report-type").is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    if !is_report {
        return plain_bounce(message);
    }
    let mut original = None;
    let mut status = None;
    for part in &message.parts {
        let Some(pct) = part.content_type() else { continue };
        let kind = format!("{}/{}", pct.ctype(), pct.subtype().unwrap_or_default()).to_ascii_lowercase();
        match (&part.body, kind.as_str()) {
            (PartType::Message(inner), _) => {
                original = original.or_else(|| inner.message_id().map(clean_id));
            }
            (_, "message/delivery-status" | "message/global-delivery-status") => {
                status = Some(String::from_utf8_lossy(part.contents()).into_owned());
            }
            (_, "text/rfc822-headers" | "message/rfc822-headers") => {
                // A header block without the blank line that ends it: add one, or the parser
                // drops the last field.
                let mut block = part.contents().to_vec();
                block.extend_from_slice(b"\r\n\r\n");
                let headers = MessageParser::default().parse(&block);
                original = original.or_else(|| headers.and_then(|h| h.message_id().map(clean_id)));
            }
            _ => {}
        }
    }
    let original = original.or_else(|| text_list(message.in_reply_to()).first().map(|s| clean_id(s)));
    let fields = status.as_deref().map(dsn_fields).unwrap_or_default();
    Some(MailKind::Bounce(Bounce {
        original_message_id: original.filter(|s| !s.is_empty()),
        status: fields.status.clone().or_else(|| fields.diagnostic.as_deref().and_then(enhanced_code)),
        delayed: fields.action.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("delayed")),
        reason: fields.reason().unwrap_or_else(|| "delivery failed (no diagnostic given)".into()),
    }))
}

/// A bounce in plain text: sent by the mailer daemon or postmaster, with a subject that says
/// so, naming a status code.
fn plain_bounce(message: &Message<'_>) -> Option<MailKind> {
    let from = message.from().and_then(|f| f.first()).and_then(|a| a.address()).unwrap_or_default().to_ascii_lowercase();
    let local = from.split('@').next().unwrap_or_default();
    if !matches!(local, "mailer-daemon" | "postmaster" | "mail-daemon") {
        return None;
    }
    let subject = message.subject().unwrap_or_default().to_ascii_lowercase();
    const SUBJECTS: &[&str] = &["undeliver", "delivery status notification", "mail delivery failed", "returned mail", "delivery failure", "failure notice", "could not be delivered"];
    if !SUBJECTS.iter().any(|s| subject.contains(s)) {
        return None;
    }
    let text = message.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    let status = enhanced_code(&text);
    let original = text
        .lines()
        .find_map(|line| {
            let (key, value) = line.trim().split_once(':')?;
            key.trim().eq_ignore_ascii_case("message-id").then(|| clean_id(value.trim()))
        })
        .or_else(|| text_list(message.in_reply_to()).first().map(|s| clean_id(s)))
        .or_else(|| text_list(message.references()).last().map(|s| clean_id(s)));
    // The server's words: the line carrying the code, else the first non-empty line.
    let reason = status
        .as_deref()
        .and_then(|code| text.lines().find(|l| l.contains(code)))
        .or_else(|| text.lines().find(|l| !l.trim().is_empty()))
        .map(|l| l.trim().chars().take(300).collect::<String>())
        .unwrap_or_else(|| "delivery failed".into());
    Some(MailKind::Bounce(Bounce { original_message_id: original.filter(|s| !s.is_empty()), status, delayed: false, reason }))
}

/// The fields of a delivery-status body that say what happened.
#[derive(Debug, Default)]
struct DsnFields {
    action: Option<String>,
    status: Option<String>,
    diagnostic: Option<String>,
}

impl DsnFields {
    /// `Diagnostic-Code` ("smtp; 550 5.1.1 <x@y>: user unknown" → the server's words), else
    /// `Status` with `Action`.
    fn reason(&self) -> Option<String> {
        if let Some(code) = &self.diagnostic {
            return Some(code.split_once(';').map(|(_, rest)| rest.trim().to_owned()).unwrap_or_else(|| code.clone()));
        }
        self.status.as_ref().map(|status| match &self.action {
            Some(action) => format!("{action} ({status})"),
            None => format!("status {status}"),
        })
    }
}

fn dsn_fields(status: &str) -> DsnFields {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    };
    DsnFields {
        action: field("Action"),
        // "5.1.1", or "5.1.1 (bad destination mailbox address)".
        status: field("Status").and_then(|s| enhanced_code(&s)),
        diagnostic: field("Diagnostic-Code"),
    }
}

/// The first RFC 3463 enhanced status code in `text`: class 2, 4 or 5, then two numbers.
fn enhanced_code(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.')).find_map(|word| {
        let parts: Vec<&str> = word.split('.').collect();
        let valid = parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..].iter().all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()));
        valid.then(|| word.to_owned())
    })
}

/// The readable text (text part, or HTML turned into text) and the HTML, if any.
fn bodies(message: &Message<'_>) -> (String, Option<String>) {
    let html = message.html_bodies().next().and_then(|p| match &p.body {
        PartType::Html(h) => Some(h.to_string()),
        _ => None,
    });
    // mail-parser converts HTML to text when a mail has no text part.
    let mut text = message.body_text(0).map(|t| t.replace("\r\n", "\n")).unwrap_or_default();
    if text.chars().count() > MAX_TEXT_CHARS {
        text = text.chars().take(MAX_TEXT_CHARS).collect::<String>() + "\n[…]";
    }
    (text.trim_end().to_owned(), html)
}

/// Where quoted history starts: an attribution line ("On … wrote:"), an Outlook separator, or a
/// block of `>` lines that runs to the end.
pub fn quote_start(text: &str) -> Option<usize> {
    let mut offset = 0;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let attribution = (trimmed.starts_with("On ") || trimmed.starts_with("Am ") || trimmed.starts_with("Le "))
            && (trimmed.ends_with("wrote:") || trimmed.ends_with("schrieb:") || trimmed.ends_with("écrit :"));
        let separator = trimmed.starts_with("-----Original Message-----") || trimmed.starts_with("________________________________");
        let quoted_to_end = trimmed.starts_with('>') && lines[i..].iter().all(|l| l.trim().is_empty() || l.trim_start().starts_with('>'));
        if (attribution || separator || quoted_to_end) && offset > 0 {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mail(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\r\n\r\n{body}").replace("\n", "\r\n").replace("\r\r\n", "\r\n").into_bytes()
    }

    #[test]
    fn a_plain_mail_becomes_text_sender_and_threading() {
        let raw = mail(
            "From: Ana Lima <Ana@Example.com>\nTo: support@shop.example\nSubject: Parcel\nMessage-ID: <abc@mail.example>\n\
             In-Reply-To: <out-2@hub.example>\nReferences: <out-1@hub.example> <out-2@hub.example>",
            "Where is it?\n\nOn Mon, 23 Nov 2026, Support wrote:\n> We shipped it.\n",
        );
        let parsed = parse(&raw).unwrap();
        assert_eq!(parsed.from_address, "ana@example.com");
        assert_eq!(parsed.from_name.as_deref(), Some("Ana Lima"));
        assert_eq!(parsed.message_id.as_deref(), Some("abc@mail.example"));
        assert_eq!(parsed.thread_refs, vec!["out-2@hub.example", "out-1@hub.example"]);
        assert_eq!(parsed.subject.as_deref(), Some("Parcel"));
        assert_eq!(parsed.recipients, vec!["support@shop.example"]);
        assert_eq!(parsed.kind, MailKind::Conversation);
        assert!(!parsed.no_auto_reply);
        let quote = parsed.quote_start.expect("quoted history is marked");
        assert_eq!(parsed.text[..quote].trim(), "Where is it?");
        assert!(parsed.text[quote..].contains("We shipped it."));
    }

    #[test]
    fn html_only_mail_and_other_charsets_become_text() {
        let html = mail(
            "From: a@b.example\nSubject: x\nContent-Type: text/html; charset=utf-8",
            "<html><body><p>Hello <b>there</b></p><script>evil()</script></body></html>",
        );
        let parsed = parse(&html).unwrap();
        assert!(parsed.text.contains("Hello") && parsed.text.contains("there"), "{:?}", parsed.text);
        assert!(!parsed.text.contains("evil"));
        assert!(parsed.html.is_some());

        let mut latin1 = b"From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr".to_vec();
        latin1.extend_from_slice(&[0xfc, 0xdf]); // ü ß
        latin1.extend_from_slice(b"e aus K\xf6ln\r\n");
        assert_eq!(parse(&latin1).unwrap().text, "Grüße aus Köln");
    }

    #[test]
    fn attachments_are_kept() {
        let raw = mail(
            "From: a@b.example\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX",
            "--XX\nContent-Type: text/plain\n\nsee attached\n--XX\nContent-Type: application/pdf; name=\"invoice.pdf\"\n\
             Content-Disposition: attachment; filename=\"invoice.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--XX--\n",
        );
        let parsed = parse(&raw).unwrap();
        assert_eq!(parsed.text, "see attached");
        assert_eq!(parsed.attachments.len(), 1);
        assert_eq!(parsed.attachments[0].filename.as_deref(), Some("invoice.pdf"));
        assert_eq!(parsed.attachments[0].content_type, "application/pdf");
        assert_eq!(parsed.attachments[0].data, b"%PDF-1.4\n");
    }

    #[test]
    fn automatic_mail_is_not_a_conversation() {
        let ooo = mail("From: a@b.example\nSubject: Out of office\nAuto-Submitted: auto-replied", "I am away.");
        let parsed = parse(&ooo).unwrap();
        assert!(matches!(parsed.kind, MailKind::Automatic { .. }));
        assert!(parsed.no_auto_reply);
        let explicit_no = mail("From: a@b.example\nAuto-Submitted: no", "hi");
        assert_eq!(parse(&explicit_no).unwrap().kind, MailKind::Conversation);
        for header in ["Precedence: bulk", "List-Id: <news.example>", "Return-Path: <>", "X-Auto-Response-Suppress: All"] {
            let parsed = parse(&mail(&format!("From: a@b.example\n{header}"), "hi")).unwrap();
            assert!(parsed.no_auto_reply, "{header}");
        }
        assert!(parse(&mail("From: MAILER-DAEMON@mx.example", "x")).unwrap().no_auto_reply);
    }

    #[test]
    fn a_delivery_status_notification_names_the_original_and_the_reason() {
        let raw = mail(
            "From: MAILER-DAEMON@mx.example\nTo: support@shop.example\nSubject: Undelivered Mail\nMIME-Version: 1.0\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"",
            "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\
             --B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; gone@example.com\n\
             Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <gone@example.com>: Recipient address rejected\n\
             --B\nContent-Type: text/rfc822-headers\n\nFrom: support@shop.example\nTo: gone@example.com\nSubject: Re: hi\nMessage-ID: <m-42@hub.example>\n\
             --B--\n",
        );
        match parse(&raw).unwrap().kind {
            MailKind::Bounce(bounce) => {
                assert_eq!(bounce.original_message_id.as_deref(), Some("m-42@hub.example"));
                assert!(bounce.reason.contains("550 5.1.1"), "{bounce:?}");
                assert_eq!(bounce.status.as_deref(), Some("5.1.1"));
                assert!(!bounce.is_transient() && !bounce.delayed);
            }
            other => panic!("not a bounce: {other:?}"),
        }
    }

    #[test]
    fn a_full_mailbox_is_transient_and_a_delay_is_no_failure() {
        let report = |action: &str, status: &str| {
            mail(
                "From: MAILER-DAEMON@mx.example\nTo: support@shop.example\nSubject: Delayed Mail\nMIME-Version: 1.0\n\
                 Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"",
                &format!(
                    "--B\nContent-Type: text/plain\n\nSee below.\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n\
                     Final-Recipient: rfc822; full@example.com\nAction: {action}\nStatus: {status}\n\
                     --B\nContent-Type: text/rfc822-headers\n\nMessage-ID: <m-43@hub.example>\n--B--\n"
                ),
            )
        };
        let MailKind::Bounce(full) = parse(&report("failed", "4.2.2")).unwrap().kind else { panic!("a bounce") };
        assert!(full.is_transient() && !full.delayed);
        assert_eq!(full.status.as_deref(), Some("4.2.2"));
        let MailKind::Bounce(delayed) = parse(&report("delayed", "4.4.7")).unwrap().kind else { panic!("a bounce") };
        assert!(delayed.delayed);
    }

    #[test]
    fn a_plain_text_bounce_is_recognised() {
        let raw = mail(
            "From: Mail Delivery System <Mailer-Daemon@mx.example>\nTo: support@shop.example\nSubject: Mail delivery failed: returning message to sender",
            "This message was created automatically by mail delivery software.\n\n\
             A message that you sent could not be delivered to one or more of its recipients.\n\n  gone@example.com\n\
             host mx.example [192.0.2.1]\n    SMTP error from remote mail server after RCPT TO:<gone@example.com>:\n\
             550 5.1.1 User unknown\n\n------ This is a copy of the message, including all the headers. ------\n\
             Message-ID: <m-44@hub.example>\nSubject: Re: hi\n",
        );
        let MailKind::Bounce(bounce) = parse(&raw).unwrap().kind else { panic!("a plain bounce is recognised") };
        assert_eq!(bounce.original_message_id.as_deref(), Some("m-44@hub.example"));
        assert_eq!(bounce.status.as_deref(), Some("5.1.1"));
        assert!(bounce.reason.contains("User unknown"), "{bounce:?}");
    }

    #[test]
    fn garbage_is_refused_not_guessed() {
        assert!(parse(b"").is_err());
        assert!(parse(b"\x00\x01\x02 no headers here").is_err());
        assert_eq!(parse(&mail("Subject: nobody sent this", "x")), Err(ParseError::NoSender));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_on_arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = parse(&raw);
        }

        #[test]
        fn never_panics_on_mangled_mail(
            header in "[A-Za-z-]{1,20}",
            value in "[ -~]{0,80}",
            body in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let mut raw = format!("From: a@b.example\r\n{header}: {value}\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n--B\r\n").into_bytes();
            raw.extend_from_slice(&body);
            let _ = parse(&raw);
        }
    }
}
