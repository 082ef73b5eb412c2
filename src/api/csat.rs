//! The satisfaction survey behind the link sent on email, SMS and Telegram: `GET /csat/{token}`
//! shows one question, `POST /csat/{token}` (a form: `score` 1–5, `comment`) records the answer.
//! The token is random and only its hash is stored; the page carries no personal data.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use crate::hub::AppState;
use crate::store;

pub fn router() -> Router<AppState> {
    Router::new().route("/csat/{token}", get(page).post(submit))
}

fn html(status: StatusCode, body: String) -> Response {
    super::pages::page(status, "How did we do?", &body)
}

async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match store::csat::by_token(&state.db, &crate::inbox::csat::token_hash(&token)).await {
        Ok(Some(s)) if s.answered_at.is_none() => html(
            StatusCode::OK,
            "<h1>How did we do?</h1><form method=\"post\"><fieldset><legend>Your rating, 1 (poor) to 5 (great)</legend>\
             <label><input type=\"radio\" name=\"score\" value=\"1\" required> 1</label> <label><input type=\"radio\" name=\"score\" value=\"2\"> 2</label> \
             <label><input type=\"radio\" name=\"score\" value=\"3\"> 3</label> <label><input type=\"radio\" name=\"score\" value=\"4\"> 4</label> \
             <label><input type=\"radio\" name=\"score\" value=\"5\"> 5</label></fieldset>\
             <p><label for=\"comment\">Anything to add? (optional)</label><br><textarea id=\"comment\" name=\"comment\" rows=\"4\" cols=\"40\" maxlength=\"2000\"></textarea></p>\
             <button type=\"submit\">Send</button></form>"
                .into(),
        ),
        Ok(Some(_)) => html(StatusCode::OK, "<h1>Thank you</h1><p>You have rated this conversation already.</p>".into()),
        Ok(None) => html(StatusCode::NOT_FOUND, "<h1>Not found</h1><p>This survey link is not valid.</p>".into()),
        Err(_) => html(StatusCode::SERVICE_UNAVAILABLE, "<h1>Please try again shortly</h1>".into()),
    }
}

async fn submit(State(state): State<AppState>, Path(token): Path<String>, body: axum::body::Bytes) -> Response {
    let mut score = None;
    let mut comment = None;
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "score" => score = v.parse::<i64>().ok().filter(|s| (1..=5).contains(s)),
            "comment" => comment = Some(v.chars().take(2000).collect::<String>()),
            _ => {}
        }
    }
    let Some(score) = score else { return html(StatusCode::UNPROCESSABLE_ENTITY, "<h1>Please pick a rating from 1 to 5</h1>".into()) };
    let survey = match store::csat::by_token(&state.db, &crate::inbox::csat::token_hash(&token)).await {
        Ok(Some(s)) => s,
        Ok(None) => return html(StatusCode::NOT_FOUND, "<h1>Not found</h1><p>This survey link is not valid.</p>".into()),
        Err(_) => return html(StatusCode::SERVICE_UNAVAILABLE, "<h1>Please try again shortly</h1>".into()),
    };
    match crate::inbox::csat::answer(&state, &survey, score, comment.as_deref()).await {
        Ok(_) => html(StatusCode::OK, "<h1>Thank you</h1><p>Your rating was recorded.</p>".into()),
        Err(_) => html(StatusCode::SERVICE_UNAVAILABLE, "<h1>Please try again shortly</h1>".into()),
    }
}
