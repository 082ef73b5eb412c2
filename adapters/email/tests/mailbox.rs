//! The email channel against real servers: Dovecot for IMAP, aiosmtpd for SMTP (started by the
//! test, on free ports). Mail is delivered to the mailbox over IMAP APPEND, exactly as a mail
//! server would leave it, and the channel imports it as it would in production.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use omnibridge_channel::{
    Accepted, Address, AddressKind, Channel, ChannelHost, DeliveryReport, DeliveryStatus, HostError, HostedChannel, InboundMessage, InboundSink,
    OutboundExtras, OutboundMessage, SinkError,
};
use omnibridge_email::imap::Cursor;
use omnibridge_email::settings::{EmailSettings, ImapSettings, SmtpSettings};
use omnibridge_email::testservers::{Dovecot, IMAP_PASSWORD, IMAP_USER, SmtpSink};
use omnibridge_email::{EmailChannel, TlsMode};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The hub's side, in memory: cursor, quarantine, bounces (failure reports), health.
#[derive(Default)]
struct Store {
    cursor: Mutex<Option<Cursor>>,
    quarantined: Mutex<Vec<(u32, String)>>,
    bounces: Mutex<Vec<(String, String)>>,
    health: Mutex<Vec<Option<String>>>,
}

#[async_trait]
impl ChannelHost for Store {
    async fn channel(&self, _: &str, _: Uuid) -> Result<Option<HostedChannel>, HostError> {
        Ok(None)
    }
    async fn cursor(&self, _: Uuid) -> Result<Option<String>, HostError> {
        Ok(self.cursor.lock().expect("lock").map(|c| format!("{}:{}", c.uid_validity, c.last_uid)))
    }
    async fn save_cursor(&self, _: Uuid, cursor: &str) -> Result<(), HostError> {
        let (validity, uid) = cursor.split_once(':').expect("uidvalidity:uid");
        *self.cursor.lock().expect("lock") = Some(Cursor { uid_validity: validity.parse().expect("number"), last_uid: uid.parse().expect("number") });
        Ok(())
    }
    async fn quarantine(&self, _: Uuid, uid: i64, _raw: &[u8], error: &str) -> Result<(), HostError> {
        self.quarantined.lock().expect("lock").push((uid as u32, error.to_owned()));
        Ok(())
    }
    async fn report(&self, _: Uuid, report: DeliveryReport) -> Result<(), HostError> {
        assert_eq!(report.status, DeliveryStatus::Failed, "a bounce is a failure");
        self.bounces.lock().expect("lock").push((report.provider_id.unwrap_or_default(), report.failure.map(|f| f.reason().to_owned()).unwrap_or_default()));
        Ok(())
    }
    async fn auto_reply(&self, _: Uuid, _: &Accepted, _: &str) -> Result<(), HostError> {
        Ok(())
    }
    async fn health(&self, _: Uuid, last_error: Option<String>) {
        self.health.lock().expect("lock").push(last_error);
    }
    async fn template_status(&self, _: Uuid, _: &str, _: &str, _: &str) -> Result<(), HostError> {
        Ok(())
    }
    fn signature_refused(&self, _: &str, _: Uuid) {}
}

/// Records every call, duplicates included, so "imported once" is really checked.
#[derive(Default, Clone)]
struct Sink(Arc<Mutex<Vec<InboundMessage>>>);

#[async_trait]
impl InboundSink for Sink {
    async fn accept(&self, message: InboundMessage) -> Result<Accepted, SinkError> {
        self.0.lock().expect("lock").push(message);
        Ok(Accepted { message_id: Uuid::now_v7(), conversation_id: Uuid::nil(), contact_id: Uuid::nil(), duplicate: false, created_at: String::new() })
    }
}

impl Sink {
    fn all(&self) -> Vec<InboundMessage> {
        self.0.lock().expect("lock").clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<InboundMessage> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.all();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "the channel imported {} mails, expected {n}", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn settings(imap: &Dovecot, smtp_port: u16) -> EmailSettings {
    EmailSettings {
        imap: ImapSettings {
            host: "127.0.0.1".into(),
            port: imap.port,
            tls: TlsMode::None,
            username: IMAP_USER.into(),
            password: IMAP_PASSWORD.into(),
            mailbox: "INBOX".into(),
            extra_roots: Vec::new(),
        },
        smtp: SmtpSettings { host: "127.0.0.1".into(), port: smtp_port, tls: TlsMode::None, username: None, password: None, ca_pem: None },
        from_address: "support@shop.example".into(),
        from_name: Some("Shop Support".into()),
        reply_domain: None,
        poll_interval: Duration::from_secs(1),
    }
}

struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn run(channel: Arc<EmailChannel>, sink: &Sink) -> Running {
    let shutdown = CancellationToken::new();
    let inbound: Arc<dyn InboundSink> = Arc::new(sink.clone());
    let task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            channel.run(inbound, shutdown).await.expect("run");
        }
    });
    Running { shutdown, task }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task).await.expect("the importer stops promptly").expect("no panic");
    }
}

fn crlf(text: &str) -> Vec<u8> {
    text.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_is_imported_once_with_text_sender_and_attachments_across_restarts() {
    let dovecot = Dovecot::start();
    let store = Arc::new(Store::default());
    let sink = Sink::default();
    let id = Uuid::now_v7();
    dovecot.deliver(
        "INBOX",
        &crlf("From: Ana Lima <ana@example.com>\nTo: support@shop.example\nSubject: Where is my parcel?\nMessage-ID: <first@example.com>\n\nHello, order 1234 has not arrived.\n"),
    );
    let running = run(Arc::new(EmailChannel::new(id, settings(&dovecot, 1), store.clone(), omnibridge_channel::AddressGuard::permit_all())), &sink);
    let got = sink.wait_for(1).await;
    assert_eq!(got[0].external_id, "first@example.com");
    assert_eq!(got[0].sender.address, Address::new(AddressKind::Email, "ana@example.com"));
    assert_eq!(got[0].sender.display_name.as_deref(), Some("Ana Lima"));
    assert_eq!(got[0].text, "Hello, order 1234 has not arrived.");
    assert_eq!(got[0].extras.subject.as_deref(), Some("Where is my parcel?"));

    // Arriving while the channel waits (IDLE): HTML only, Latin-1, with an attachment.
    let mut html = crlf(
        "From: Bo <bo@example.org>\nTo: support@shop.example\nSubject: Rechnung\nMessage-ID: <second@example.org>\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/html; charset=iso-8859-1\n\n<p>Gr",
    );
    html.extend_from_slice(&[0xfc, 0xdf]);
    html.extend_from_slice(b"e aus <b>K\xf6ln</b></p>\r\n--XX\r\nContent-Type: application/pdf; name=\"rechnung.pdf\"\r\n\
        Content-Disposition: attachment; filename=\"rechnung.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n");
    dovecot.deliver("INBOX", &html);
    let got = sink.wait_for(2).await;
    assert_eq!(got[1].text, "Grüße aus Köln");
    assert_eq!(got[1].extras.attachments.len(), 1);
    assert_eq!(got[1].extras.attachments[0].filename.as_deref(), Some("rechnung.pdf"));
    assert_eq!(got[1].extras.attachments[0].data, b"%PDF-1.4\n");
    running.stop().await;

    // A restart picks up from the stored cursor: the two are not imported again.
    let running = run(Arc::new(EmailChannel::new(id, settings(&dovecot, 1), store.clone(), omnibridge_channel::AddressGuard::permit_all())), &sink);
    dovecot.deliver("INBOX", &crlf("From: ana@example.com\nSubject: Re: parcel\nMessage-ID: <third@example.com>\nIn-Reply-To: <out-1@shop.example>\n\nThanks!\n"));
    let got = sink.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = sink.all();
    assert_eq!(all.len(), 3, "nothing imported twice: {:?}", all.iter().map(|m| &m.external_id).collect::<Vec<_>>());
    assert_eq!(got[2].extras.thread_refs, vec!["out-1@shop.example"]);
    assert_eq!(store.cursor.lock().expect("lock").map(|c| c.last_uid), Some(3));
    running.stop().await;
    assert!(store.health.lock().expect("lock").iter().all(Option::is_none), "healthy throughout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_mail_and_bounces_are_not_conversations_and_broken_mail_is_quarantined() {
    let dovecot = Dovecot::start();
    let store = Arc::new(Store::default());
    let sink = Sink::default();
    dovecot.deliver("INBOX", &crlf("From: ana@example.com\nSubject: Out of office\nAuto-Submitted: auto-replied\nMessage-ID: <ooo@example.com>\n\nAway until Monday.\n"));
    dovecot.deliver(
        "INBOX",
        &crlf(
            "From: MAILER-DAEMON@mx.example\nTo: support@shop.example\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nNot delivered.\n\
             --B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; gone@example.com\n\
             Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown\n\
             --B\nContent-Type: text/rfc822-headers\n\nFrom: support@shop.example\nTo: gone@example.com\nMessage-ID: <reply-7@shop.example>\n\
             --B--\n",
        ),
    );
    dovecot.deliver("INBOX", b"\x00\x01garbage without any header\xff\xfe");
    dovecot.deliver("INBOX", &crlf("From: cy@example.net\nSubject: hi\nMessage-ID: <good@example.net>\n\nA real question.\n"));
    let running = run(Arc::new(EmailChannel::new(Uuid::now_v7(), settings(&dovecot, 1), store.clone(), omnibridge_channel::AddressGuard::permit_all())), &sink);
    let got = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.all().len(), 1, "only the person's mail is a conversation");
    assert_eq!(got[0].external_id, "good@example.net");
    let bounces = store.bounces.lock().expect("lock").clone();
    assert_eq!(bounces.len(), 1);
    assert_eq!(bounces[0].0, "reply-7@shop.example");
    assert!(bounces[0].1.contains("550 5.1.1"), "{bounces:?}");
    let quarantined = store.quarantined.lock().expect("lock").clone();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(quarantined[0].0, 3, "the broken mail, by UID");
    assert_eq!(store.cursor.lock().expect("lock").map(|c| c.last_uid), Some(4), "the mailbox moved on past the broken mail");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_are_sent_as_threaded_email() {
    let dovecot = Dovecot::start();
    let smtp = SmtpSink::start();
    let channel = EmailChannel::new(Uuid::now_v7(), settings(&dovecot, smtp.port), Arc::new(Store::default()), omnibridge_channel::AddressGuard::permit_all());
    let reply = OutboundMessage {
        id: Uuid::now_v7(),
        channel_id: channel.channel_id,
        conversation_id: Uuid::now_v7(),
        to: Address::new(AddressKind::Email, "ana@example.com"),
        text: "It ships today.\nTracking: 1Z999 <b>not html</b>".into(),
        created_at: String::new(),
        author_name: None,
        extras: OutboundExtras {
            thread_refs: vec!["second@example.com".into(), "first@example.com".into()],
            subject: Some("Where is my parcel?".into()),
            ..Default::default()
        },
    };
    let receipt = channel.send(&reply).await.expect("sent");
    let message_id = receipt.external_id.expect("our Message-ID");
    assert!(message_id.ends_with("@shop.example"), "{message_id}");
    let mails = smtp.wait_for(1, Duration::from_secs(10));
    let raw = String::from_utf8_lossy(&mails[0]).into_owned();
    let normalized = raw.replace("\r\n", "\n");
    let headers: HashMap<String, String> = normalized
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .replace("\n ", " ")
        .replace("\n\t", " ")
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned())))
        .collect();
    assert_eq!(headers["message-id"], format!("<{message_id}>"));
    assert_eq!(headers["in-reply-to"], "<second@example.com>");
    assert_eq!(headers["references"], "<first@example.com> <second@example.com>");
    assert_eq!(headers["subject"], "Re: Where is my parcel?");
    assert_eq!(headers["x-rcptto"], "ana@example.com");
    assert!(headers["from"].contains("support@shop.example"));
    assert!(headers["content-type"].starts_with("multipart/alternative"), "{}", headers["content-type"]);
    assert!(!headers.contains_key("auto-submitted"), "a person's reply is not automatic");
    assert!(raw.contains("&lt;b&gt;not html&lt;/b&gt;"), "the HTML part escapes the text");

    // The hub's own automatic mail says so, and marketing mail offers one-click unsubscribe.
    let automatic = OutboundMessage {
        id: Uuid::now_v7(),
        extras: OutboundExtras { automatic: true, unsubscribe_url: Some("https://hub.example/hooks/email/x/unsubscribe/t".into()), ..Default::default() },
        ..reply.clone()
    };
    channel.send(&automatic).await.expect("sent");
    let mails = smtp.wait_for(2, Duration::from_secs(10));
    let raw = mails.iter().map(|m| String::from_utf8_lossy(m).into_owned()).find(|m| m.contains("Auto-Submitted")).expect("automatic mail");
    assert!(raw.contains("Auto-Submitted: auto-replied"));
    assert!(raw.contains("List-Unsubscribe: <https://hub.example/hooks/email/x/unsubscribe/t>"));
    assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));

    // The server refuses a recipient for good (550): permanent, with the server's words; a busy
    // mailbox (451) is worth another try.
    let to = |address: &str| OutboundMessage { id: Uuid::now_v7(), to: Address::new(AddressKind::Email, address), ..reply.clone() };
    let refused = channel.send(&to("rejected@example.com")).await.expect_err("550");
    assert!(!refused.is_retryable(), "{refused}");
    assert!(refused.to_string().contains("550") && refused.to_string().contains("User unknown"), "{refused}");
    let busy = channel.send(&to("later@example.com")).await.expect_err("451");
    assert!(busy.is_retryable(), "{busy}");

    // Nobody listening: a transient failure, to be retried.
    let unreachable = EmailChannel::new(Uuid::now_v7(), settings(&dovecot, 1), Arc::new(Store::default()), omnibridge_channel::AddressGuard::permit_all());
    let error = unreachable.send(&reply).await.expect_err("nothing listens on port 1");
    assert!(error.is_retryable(), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_connect_and_bad_credentials_show_in_health() {
    let dovecot = Dovecot::start();
    let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&dovecot.cert_pem).collect::<Result<_, _>>().expect("pem");
    for (tls, port) in [(TlsMode::Implicit, dovecot.tls_port), (TlsMode::Starttls, dovecot.port), (TlsMode::None, dovecot.port)] {
        let mut s = settings(&dovecot, 1);
        s.imap.tls = tls;
        s.imap.port = port;
        s.imap.host = "localhost".into();
        s.imap.extra_roots = roots.clone();
        EmailChannel::new(Uuid::now_v7(), s, Arc::new(Store::default()), omnibridge_channel::AddressGuard::permit_all()).healthcheck().await.unwrap_or_else(|e| panic!("{tls:?}: {e}"));
    }
    // An untrusted certificate is refused.
    let mut untrusted = settings(&dovecot, 1);
    untrusted.imap.tls = TlsMode::Implicit;
    untrusted.imap.port = dovecot.tls_port;
    untrusted.imap.host = "localhost".into();
    assert!(EmailChannel::new(Uuid::now_v7(), untrusted, Arc::new(Store::default()), omnibridge_channel::AddressGuard::permit_all()).healthcheck().await.is_err());

    let store = Arc::new(Store::default());
    let mut wrong = settings(&dovecot, 1);
    wrong.imap.password = "wrong".into();
    let running = run(Arc::new(EmailChannel::new(Uuid::now_v7(), wrong, store.clone(), omnibridge_channel::AddressGuard::permit_all())), &Sink::default());
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.health.lock().expect("lock").is_empty() {
        assert!(Instant::now() < deadline, "no health report");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = store.health.lock().expect("lock").last().cloned().flatten().expect("an error");
    assert!(last.contains("login refused"), "{last}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_idle_is_polled() {
    let dovecot = Dovecot::start_without_idle();
    let mut session = omnibridge_email::imap::connect(&settings(&dovecot, 1).imap, &omnibridge_channel::AddressGuard::permit_all()).await.expect("login");
    assert!(!omnibridge_email::imap::supports_idle(&mut session).await.expect("capabilities"), "this server must not offer IDLE");
    let store = Arc::new(Store::default());
    let sink = Sink::default();
    let running = run(Arc::new(EmailChannel::new(Uuid::now_v7(), settings(&dovecot, 1), store.clone(), omnibridge_channel::AddressGuard::permit_all())), &sink);
    // Give the importer time to connect and settle into its polling sleep.
    tokio::time::sleep(Duration::from_millis(500)).await;
    dovecot.deliver("INBOX", &crlf("From: ana@example.com\nSubject: polled\nMessage-ID: <polled@example.com>\n\nFound by polling.\n"));
    let got = sink.wait_for(1).await;
    assert_eq!(got[0].external_id, "polled@example.com");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_uidvalidity_rescans_and_offers_the_same_message_ids() {
    let dovecot = Dovecot::start();
    let store = Arc::new(Store::default());
    let sink = Sink::default();
    let id = Uuid::now_v7();
    for n in 1..=2 {
        dovecot.deliver("INBOX", &crlf(&format!("From: ana@example.com\nSubject: {n}\nMessage-ID: <m{n}@example.com>\n\nMail {n}\n")));
    }
    let running = run(Arc::new(EmailChannel::new(id, settings(&dovecot, 1), store.clone(), omnibridge_channel::AddressGuard::permit_all())), &sink);
    sink.wait_for(2).await;
    running.stop().await;
    let server = store.cursor.lock().expect("lock").expect("cursor");

    // The stored cursor belongs to another numbering of the mailbox (the server was migrated or
    // restored since): its UIDs mean nothing now.
    *store.cursor.lock().expect("lock") = Some(Cursor { uid_validity: server.uid_validity.wrapping_add(7), last_uid: 2 });
    let running = run(Arc::new(EmailChannel::new(id, settings(&dovecot, 1), store.clone(), omnibridge_channel::AddressGuard::permit_all())), &sink);
    let got = sink.wait_for(4).await;
    running.stop().await;
    let after = store.cursor.lock().expect("lock").expect("cursor");
    assert_eq!(after, server, "the cursor follows the server's numbering again");
    // The mailbox is read again from the start; every mail keeps its Message-ID, which is what
    // the hub deduplicates on, so nothing is stored twice.
    let ids: Vec<&str> = got.iter().map(|m| m.external_id.as_str()).collect();
    assert_eq!(ids, ["m1@example.com", "m2@example.com", "m1@example.com", "m2@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_go_out_over_starttls_with_authentication() {
    let dovecot = Dovecot::start();
    let smtp = SmtpSink::start_tls(&dovecot, "mailer", "s3cret");
    let ca = String::from_utf8(dovecot.cert_pem.clone()).expect("pem");
    let mut s = settings(&dovecot, smtp.port);
    s.smtp = SmtpSettings {
        host: "localhost".into(),
        port: smtp.port,
        tls: TlsMode::Starttls,
        username: Some("mailer".into()),
        password: Some("s3cret".into()),
        ca_pem: Some(ca.clone()),
    };
    let channel = EmailChannel::new(Uuid::now_v7(), s.clone(), Arc::new(Store::default()), omnibridge_channel::AddressGuard::permit_all());
    let message = OutboundMessage {
        id: Uuid::now_v7(),
        channel_id: channel.channel_id,
        conversation_id: Uuid::now_v7(),
        to: Address::new(AddressKind::Email, "ana@example.com"),
        text: "Over TLS.".into(),
        created_at: String::new(),
        author_name: None,
        extras: OutboundExtras::default(),
    };
    channel.send(&message).await.expect("sent over STARTTLS with AUTH");
    smtp.wait_for(1, Duration::from_secs(10));

    // Without the certificate to trust, the TLS handshake fails before anything is said.
    let mut untrusted = s;
    untrusted.smtp.ca_pem = None;
    assert!(EmailChannel::new(Uuid::now_v7(), untrusted, Arc::new(Store::default()), omnibridge_channel::AddressGuard::permit_all()).send(&message).await.is_err());
    assert_eq!(smtp.received().len(), 1);
}
