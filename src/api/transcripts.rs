//! The page behind the link of a transcript confirmation mail: `GET /transcripts/confirm/{token}`
//! asks (so a mail scanner following links confirms nothing), `POST` confirms, and the
//! transcript goes to the address. The token is random, single-use and expiring; only its hash
//! is stored, and the page shows no personal data.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use crate::hub::AppState;
use crate::store;
use crate::inbox::transcripts::{TranscriptError, Transcripts, token_hash};

pub fn router() -> Router<AppState> {
    Router::new().route("/transcripts/confirm/{token}", get(page).post(confirm))
}

fn html(status: StatusCode, body: &str) -> Response {
    super::pages::page(status, "Chat transcript", body)
}

const INVALID: &str = "<h1>This link does not work</h1><p>It was used already, has expired, or was never valid.</p>";

async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match store::confirmations::by_token(&state.db, &token_hash(&token)).await {
        Ok(Some(c)) if c.confirmed_at.is_none() && c.expires_at > store::now_micros() => html(
            StatusCode::OK,
            "<h1>Send the chat transcript here?</h1><p>Confirm that this address is yours, and the transcript of your chat follows by email.</p>\
             <form method=\"post\"><button type=\"submit\">Yes, send it</button></form>",
        ),
        Ok(_) => html(StatusCode::NOT_FOUND, INVALID),
        Err(_) => html(StatusCode::SERVICE_UNAVAILABLE, "<h1>Please try again shortly</h1>"),
    }
}

async fn confirm(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let public_url = state.config.public_base_url();
    let transcripts = Transcripts::of(&state, &public_url);
    match transcripts.confirm(&token).await {
        Ok(Some(())) => html(StatusCode::OK, "<h1>Confirmed</h1><p>The transcript is on its way.</p>"),
        Ok(None) => html(StatusCode::NOT_FOUND, INVALID),
        Err(TranscriptError::Refused { .. }) => html(StatusCode::CONFLICT, "<h1>Confirmed</h1><p>The transcript cannot be sent to this address.</p>"),
        Err(err) => {
            tracing::warn!(error = %err, "a transcript confirmation failed");
            html(StatusCode::SERVICE_UNAVAILABLE, "<h1>Please try again shortly</h1>")
        }
    }
}
