#![no_main]
//! A Telegram Bot API update (webhook body or one element of getUpdates).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(update) = serde_json::from_slice::<omnibridge_telegram::bot_types::Update>(data) {
        let _ = omnibridge_telegram::update::to_inbound(uuid::Uuid::nil(), &update);
    }
});
