//! Checks of the settings every Meta channel has, each error naming its field.

use omnibridge_channel::SettingsError;

/// `graph_base_url` when none is given.
pub fn default_base_url() -> String {
    crate::DEFAULT_BASE_URL.to_owned()
}

/// `graph_api_version` when none is given.
pub fn default_version() -> String {
    crate::DEFAULT_API_VERSION.to_owned()
}

/// A Meta id: digits only.
pub fn check_id(field: &str, value: &str) -> Result<(), SettingsError> {
    if value.is_empty() || value.len() > 32 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SettingsError::new(field, "a Meta id: digits only, as the App Dashboard shows it"));
    }
    Ok(())
}

/// The Graph base URL and API version settings.
pub fn check_graph(base_url: &str, version: &str) -> Result<(), SettingsError> {
    let scheme_ok = base_url.starts_with("https://") || base_url.starts_with("http://");
    if !scheme_ok || base_url.len() < 10 || base_url.contains(['?', '#', ' ']) {
        return Err(SettingsError::new("graph_base_url", "an http(s) URL without query, like https://graph.facebook.com"));
    }
    let digits = version.strip_prefix('v').map(|v| v.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))).unwrap_or(false);
    if !digits || version.len() > 8 {
        return Err(SettingsError::new("graph_api_version", "a Graph API version like v21.0"));
    }
    Ok(())
}

/// A secret that must be there.
pub fn check_secret(field: &str, value: &str, min: usize) -> Result<(), SettingsError> {
    if value.trim().len() < min || value.len() > 1024 || value.chars().any(char::is_whitespace) {
        return Err(SettingsError::new(field, format!("at least {min} characters, no spaces")));
    }
    Ok(())
}

