//! `/summary/opt-out/{tenant_id}/{token}`: the one-click opt-out of the daily summary mail
//! (RFC 8058). Mail clients POST `List-Unsubscribe=One-Click`; a GET (someone following the link)
//! only shows a button, so link scanners turn nothing off.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use omnibridge_channel::problem::Problem;
use uuid::Uuid;

use crate::hub::AppState;
use crate::team::summary::OPT_OUT;

pub fn router() -> Router<AppState> {
    Router::new().route("/summary/opt-out/{tenant_id}/{token}", get(page).post(opt_out))
}

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "this opt-out link is not valid")
}

/// The tenant and operator a genuine link names.
fn resolve(state: &AppState, tenant_id: &str, token: &str) -> Option<(Uuid, Uuid)> {
    let tenant_id = Uuid::parse_str(tenant_id).ok()?;
    let operator_id = state.keyring.verify_link_token(OPT_OUT, tenant_id, tenant_id, token)?;
    Some((tenant_id, operator_id))
}

async fn page(State(state): State<AppState>, Path((tenant_id, token)): Path<(String, String)>) -> Result<Response, Problem> {
    resolve(&state, &tenant_id, &token).ok_or_else(not_found)?;
    Ok(Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Daily summary</title></head><body>\
         <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <p>Stop receiving the daily summary?</p><button type=\"submit\">Stop</button></form></body></html>",
    )
    .into_response())
}

async fn opt_out(State(state): State<AppState>, Path((tenant_id, token)): Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Result<Response, Problem> {
    let (tenant_id, operator_id) = resolve(&state, &tenant_id, &token).ok_or_else(not_found)?;
    if !super::unsubscribe::is_one_click(&headers, &body) {
        return Err(Problem::invalid("List-Unsubscribe", "the body must carry List-Unsubscribe=One-Click (RFC 8058)"));
    }
    crate::store::team::stop_summary(&state.db, tenant_id, operator_id)
        .await
        .map_err(|_| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly"))?;
    let actor = crate::privacy::audit::Actor { operator_id: Some(operator_id), ..Default::default() };
    crate::privacy::audit::record(&state.db, tenant_id, &actor, "summary.opt_out", "operator", Some(operator_id), Some("one-click")).await;
    Ok(Html("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Done</title></head>\
             <body><p>You will receive no more daily summaries. You can turn them on again in the console.</p></body></html>")
        .into_response())
}
