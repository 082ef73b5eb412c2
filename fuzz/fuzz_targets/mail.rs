#![no_main]
//! Raw mail as an IMAP server hands it over.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = omnibridge_email::parse::parse(data);
});
