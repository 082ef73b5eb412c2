#![no_main]
//! A Twilio webhook body (form-encoded), as an inbound message and as a status callback.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let params = omnibridge_twilio_sms::webhook::parse_form(data);
    let _ = omnibridge_twilio_sms::webhook::inbound(&params);
    let _ = omnibridge_twilio_sms::webhook::status(&params);
});
