//! The SDK's conformance kit, for the email kind, against real Dovecot and a real SMTP
//! receiver: its description, the channel's lifecycle, an idempotent send, failures
//! classified, and no provider callbacks to forge (mail comes in by IMAP).

use std::sync::Arc;
use std::time::Duration;

use omnibridge_channel::testkit::{Expected, MemoryHost, check_failure_classified, check_forged_callbacks_refused, check_idempotent_send, check_kind, check_lifecycle};
use omnibridge_channel::{Address, AddressKind, Channel, ChannelKind, ChannelSetup, OutboundMessage, Services};
use omnibridge_email::EmailKind;
use omnibridge_email::testservers::{Dovecot, IMAP_PASSWORD, IMAP_USER, SmtpSink};
use serde_json::json;
use uuid::Uuid;

fn build(dovecot: &Dovecot, smtp_port: u16) -> Arc<dyn Channel> {
    let settings = EmailKind
        .validate(json!({
            "imap_host": "127.0.0.1", "imap_port": dovecot.port, "imap_tls": "none", "imap_username": IMAP_USER, "imap_password": IMAP_PASSWORD,
            "smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_tls": "none", "from_address": "support@shop.example",
        }))
        .expect("valid settings");
    let services = Services { http: reqwest::Client::new(), guard: omnibridge_channel::AddressGuard::permit_all(), host: Arc::new(MemoryHost::default()) };
    let setup = ChannelSetup { channel_id: Uuid::now_v7(), tenant_id: Uuid::nil(), settings: &settings, public_url: "https://hub.example.com", services: &services };
    EmailKind.build(setup).expect("built")
}

fn mail(to: &str) -> OutboundMessage {
    OutboundMessage {
        id: Uuid::now_v7(),
        channel_id: Uuid::nil(),
        conversation_id: Uuid::nil(),
        to: Address::new(AddressKind::Email, to),
        text: "Your parcel left our warehouse.".into(),
        created_at: String::new(),
        author_name: None,
        extras: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_email_kind_passes_the_conformance_kit() {
    check_kind(&EmailKind);
    let dovecot = Dovecot::start();
    let smtp = SmtpSink::start();
    let channel = build(&dovecot, smtp.port);
    check_lifecycle(channel.clone()).await;
    check_idempotent_send(channel.as_ref(), &mail("ana@example.com"), || smtp.received().len()).await;
    assert_eq!(smtp.wait_for(1, Duration::from_secs(5)).len(), 1);

    check_failure_classified(channel.as_ref(), &mail("rejected@example.com"), Expected::Permanent).await;
    check_failure_classified(channel.as_ref(), &mail("later@example.com"), Expected::Retryable).await;
    let not_mail = OutboundMessage { to: Address::new(AddressKind::Phone, "+14155550100"), ..mail("x@example.com") };
    check_failure_classified(channel.as_ref(), &not_mail, Expected::Permanent).await;
    check_failure_classified(build(&dovecot, 1).as_ref(), &mail("ana@example.com"), Expected::Retryable).await;

    check_forged_callbacks_refused(&EmailKind, MemoryHost::default(), Vec::new()).await;
}
