#![no_main]
//! A tenant's routing policy document (`PUT /v1/policy`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let registry = omnibridge::policy::registry::Registry::built_in();
        if let Ok(doc) = omnibridge::policy::rules::parse(&value, &registry) {
            let _ = omnibridge::policy::rules::compile(&doc, &registry);
        }
    }
});
