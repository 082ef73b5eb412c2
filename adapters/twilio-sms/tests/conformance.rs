//! The SDK's conformance kit, for the SMS kind: its description, the channel's lifecycle, an
//! idempotent send, failures classified, and forged callbacks refused before anything is
//! stored.

use std::sync::Arc;

use omnibridge_channel::testkit::{Expected, Forged, MemoryHost, check_failure_classified, check_forged_callbacks_refused, check_idempotent_send, check_kind, check_lifecycle};
use omnibridge_channel::{Address, AddressKind, Channel, ChannelKind, ChannelSetup, HostedChannel, OutboundMessage, Services};
use omnibridge_twilio_sms::testkit::{FakeTwilio, ScriptedError};
use omnibridge_twilio_sms::{TwilioSmsKind, signature};
use uuid::Uuid;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "secret-token";

fn message(text: &str) -> OutboundMessage {
    OutboundMessage {
        id: Uuid::now_v7(),
        channel_id: Uuid::now_v7(),
        conversation_id: Uuid::now_v7(),
        to: Address::new(AddressKind::Phone, "+14155550100"),
        text: text.into(),
        created_at: String::new(),
        author_name: None,
        extras: Default::default(),
    }
}

/// A channel built the way the hub builds it: through the kind.
fn build(fake: &FakeTwilio, host: &MemoryHost, id: Uuid) -> (serde_json::Value, Arc<dyn Channel>) {
    let settings = serde_json::json!({"account_sid": SID, "auth_token": TOKEN, "from": "+14155550199", "api_base_url": fake.base_url()});
    let settings = TwilioSmsKind.validate(settings).expect("valid settings");
    let services = Services { http: reqwest::Client::new(), guard: omnibridge_channel::AddressGuard::permit_all(), host: Arc::new(host.clone()) };
    let setup = ChannelSetup { channel_id: id, tenant_id: Uuid::nil(), settings: &settings, public_url: "https://hub.example.com", services: &services };
    let channel = TwilioSmsKind.build(setup).expect("built");
    (settings, channel)
}

#[tokio::test]
async fn the_sms_kind_passes_the_conformance_kit() {
    check_kind(&TwilioSmsKind);
    let fake = FakeTwilio::start(SID, TOKEN).await;
    let host = MemoryHost::default();
    let id = Uuid::now_v7();
    let (settings, sms) = build(&fake, &host, id);
    check_lifecycle(sms.clone()).await;
    let counter = fake.clone();
    check_idempotent_send(sms.as_ref(), &message("once"), move || counter.sent().len()).await;

    fake.fail_next([
        ScriptedError { status: 503, code: 20503, message: "Service unavailable".into() },
        ScriptedError { status: 400, code: 21211, message: "The 'To' number is not a valid phone number.".into() },
    ]);
    check_failure_classified(sms.as_ref(), &message("a"), Expected::Retryable).await;
    check_failure_classified(sms.as_ref(), &message("a"), Expected::Permanent).await;
    fake.opt_out("+14155550100");
    check_failure_classified(sms.as_ref(), &message("a"), Expected::OptedOut).await;

    host.add_channel(TwilioSmsKind.name(), HostedChannel { id, tenant_id: Uuid::nil(), settings, adapter: sms });
    let form = format!("MessageSid=SM1&AccountSid={SID}&From=%2B14155550100&To=%2B14155550199&Body=STOP");
    let url = format!("https://hub.example.com/hooks/twilio/{id}/sms");
    let params: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes()).into_owned().collect();
    let wrong = signature::compute("another-token", &url, &params);
    let form_header = ("content-type", "application/x-www-form-urlencoded".to_owned());
    let forged = vec![
        Forged { method: "POST", path: format!("/{id}/sms"), headers: vec![form_header.clone()], body: form.clone().into_bytes() },
        Forged { method: "POST", path: format!("/{id}/sms"), headers: vec![form_header.clone(), ("x-twilio-signature", wrong)], body: form.into_bytes() },
        Forged {
            method: "POST",
            path: format!("/{id}/status"),
            headers: vec![form_header, ("x-twilio-signature", "bm90IGEgc2lnbmF0dXJl".into())],
            body: format!("MessageSid=SM1&AccountSid={SID}&MessageStatus=delivered").into_bytes(),
        },
    ];
    check_forged_callbacks_refused(&TwilioSmsKind, host, forged).await;
}
