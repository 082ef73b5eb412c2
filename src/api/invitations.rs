//! The links in invitation mails: `GET /invitations/{token}` shows a form to set a password,
//! `POST` (a form, or JSON `{"password"}`) sets it — once; `GET|POST
//! /invitations/{token}/decline` removes the address. A spent, expired or unknown link is 410
//! Gone, the same for all three so a link reveals nothing about others.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use omnibridge_channel::problem::Problem;
use serde::Deserialize;

use crate::team::invitations::{self, LinkError};
use crate::hub::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/invitations/{token}", get(page).post(accept))
        .route("/invitations/{token}/decline", get(decline_page).post(decline))
}

fn html(status: StatusCode, body: &str) -> Response {
    super::pages::page(status, "omnibridge invitation", body)
}

const GONE_HTML: &str = "<h1>This link does not work any more</h1><p>It was used already or has expired. Ask your administrator for a new invitation.</p>";
const UNAVAILABLE_HTML: &str = "<h1>Please try again shortly</h1>";

fn wants_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

fn gone(json: bool) -> Response {
    if json {
        Problem::new(StatusCode::GONE, "invitation_gone", LinkError::Gone.to_string()).into_response()
    } else {
        html(StatusCode::GONE, GONE_HTML)
    }
}

fn unavailable(json: bool) -> Response {
    if json { Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly").into_response() } else { html(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE_HTML) }
}

async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match invitations::is_open(&state.db, &token).await {
        // An open link's token is one the hub made: URL-safe base64, nothing to escape.
        Ok(true) => html(
            StatusCode::OK,
            &format!("<h1>Welcome</h1><form method=\"post\"><p><label for=\"password\">Choose a password (12 characters or more)</label><br>\
             <input id=\"password\" name=\"password\" type=\"password\" minlength=\"12\" maxlength=\"200\" autocomplete=\"new-password\" required></p>\
             <button type=\"submit\">Set password</button></form>\
             <p><small>Not expecting this? <a href=\"/invitations/{token}/decline\" rel=\"nofollow\">Decline the invitation</a>.</small></p>"),
        ),
        Ok(false) => html(StatusCode::GONE, GONE_HTML),
        Err(_) => html(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE_HTML),
    }
}

#[derive(Deserialize)]
struct PasswordBody {
    password: String,
}

async fn accept(State(state): State<AppState>, Path(token): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let json = wants_json(&headers);
    let password = if json {
        match serde_json::from_slice::<PasswordBody>(&body) {
            Ok(b) => b.password,
            Err(_) => return Problem::invalid("password", "send {\"password\": \"…\"}").into_response(),
        }
    } else {
        form_urlencoded::parse(&body).find(|(k, _)| k == "password").map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    if let Err(err) = super::signin::valid_password(&password) {
        return if json { err.into_response() } else { html(StatusCode::UNPROCESSABLE_ENTITY, "<h1>Please choose a password of 12 to 200 characters</h1><p><a href=\"\">Back</a></p>") };
    }
    let hash = match super::signin::hash_password(&password) {
        Ok(h) => h,
        Err(_) => return unavailable(json),
    };
    match invitations::accept(&state.db, &token, &hash).await {
        Ok((tenant_id, operator_id, email)) => {
            let actor = crate::privacy::audit::Actor { operator_id: Some(operator_id), ..Default::default() };
            crate::privacy::audit::record(&state.db, tenant_id, &actor, "invitation.accept", "operator", Some(operator_id), None).await;
            if json {
                axum::Json(serde_json::json!({"operator_id": operator_id, "email": email})).into_response()
            } else {
                html(StatusCode::OK, "<h1>Your password is set</h1><p><a href=\"/console\">Sign in to the console</a>.</p>")
            }
        }
        Err(LinkError::Gone) => gone(json),
        Err(LinkError::Store(err)) => {
            tracing::error!(error = %err, "accepting an invitation failed");
            unavailable(json)
        }
    }
}

/// A GET only asks (link scanners must not decline for anyone).
async fn decline_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match crate::store::invitations::by_token(&state.db, &invitations::token_hash(&token)).await {
        Ok(Some(i)) if i.used_at.is_none() => html(
            StatusCode::OK,
            "<h1>Decline the invitation?</h1><p>Your address is removed from this team and will not be invited again.</p>\
             <form method=\"post\"><button type=\"submit\">Decline and remove my address</button></form>",
        ),
        Ok(_) => html(StatusCode::GONE, GONE_HTML),
        Err(_) => html(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE_HTML),
    }
}

async fn decline(State(state): State<AppState>, Path(token): Path<String>, headers: HeaderMap) -> Response {
    let json = wants_json(&headers);
    match invitations::decline(&state.db, &state.keyring, &token).await {
        Ok((tenant_id, operator_id)) => {
            crate::privacy::audit::record(&state.db, tenant_id, &Default::default(), "invitation.decline", "operator", Some(operator_id), None).await;
            if json {
                StatusCode::NO_CONTENT.into_response()
            } else {
                html(StatusCode::OK, "<h1>Done</h1><p>Your address was removed and will not be invited again.</p>")
            }
        }
        Err(LinkError::Gone) => gone(json),
        Err(LinkError::Store(err)) => {
            tracing::error!(error = %err, "declining an invitation failed");
            unavailable(json)
        }
    }
}
