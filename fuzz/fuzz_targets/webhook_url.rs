#![no_main]
//! A webhook endpoint URL as a tenant gives it, and allow-list entries.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(url) = omnibridge::webhooks::ssrf::parse_url(text, false) {
            let _ = omnibridge::webhooks::ssrf::literal_ip(&url);
        }
        let _ = omnibridge::webhooks::ssrf::Cidr::parse(text);
    }
});
