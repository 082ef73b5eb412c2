//! The operator console: static files served by the hub itself at `/console`. The page talks
//! only to the public `/v1` API (signed in with a session cookie), so everything it does can be
//! done over the API too. A strict Content-Security-Policy allows nothing but this origin. The
//! API description for people, `/docs`, is served the same way.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::hub::AppState;

const INDEX: &str = include_str!("../../console/index.html");
const APP_JS: &str = include_str!("../../console/app.js");
const ORGANIZE_JS: &str = include_str!("../../console/organize.js");
const APP_CSS: &str = include_str!("../../console/app.css");
/// The API description for people (`/docs`), rendered from `/openapi.json` in the browser.
const DOCS: &str = include_str!("../../console/docs.html");
const DOCS_JS: &str = include_str!("../../console/docs.js");
const DOCS_CSS: &str = include_str!("../../console/docs.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { page("text/html; charset=utf-8", INDEX) }))
        .route("/console/app.js", get(|| async { page("text/javascript; charset=utf-8", APP_JS) }))
        .route("/console/organize.js", get(|| async { page("text/javascript; charset=utf-8", ORGANIZE_JS) }))
        .route("/console/app.css", get(|| async { page("text/css; charset=utf-8", APP_CSS) }))
        .route("/docs", get(|| async { page("text/html; charset=utf-8", DOCS) }))
        .route("/docs/docs.js", get(|| async { page("text/javascript; charset=utf-8", DOCS_JS) }))
        .route("/docs/docs.css", get(|| async { page("text/css; charset=utf-8", DOCS_CSS) }))
}

fn page(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
