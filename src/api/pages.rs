//! The few HTML pages the hub serves behind links in its mail (surveys, invitations, password
//! resets, transcript confirmations): one frame for all, with a strict Content-Security-Policy,
//! no referrer (the URL carries a token) and no caching.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

/// A page titled `title` (plain text) around `body` (HTML the caller wrote; nothing a visitor
/// typed).
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{title}</title></head>\
         <body style=\"font:16px sans-serif;max-width:30rem;margin:2rem auto\">{body}</body></html>"
    );
    (status, [(header::CONTENT_SECURITY_POLICY, CSP), (header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}
