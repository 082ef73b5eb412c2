#![no_main]
//! What a website visitor's browser posts to the widget API.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<omnibridge_webchat::PostMessage>(data);
    let _ = serde_json::from_slice::<omnibridge_webchat::SessionRequest>(data);
});
