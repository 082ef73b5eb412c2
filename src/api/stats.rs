//! `GET /v1/stats?from=&to=`: how the team is doing — conversations opened and resolved, first
//! response time and resolution time (median and 90th percentile, in seconds), and the queue
//! now; in total, per channel and per operator.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Auth;
use super::pagination::ListParams;
use crate::domain::rfc3339;
use crate::api::error::{ApiError, ApiResult};
use crate::hub::AppState;
use crate::store::{self, conversations::Timing};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/stats", get(stats))
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

fn summary(mut values: Vec<f64>) -> Value {
    values.sort_by(|a, b| a.total_cmp(b));
    json!({"count": values.len(), "median": percentile(&values, 50.0), "p90": percentile(&values, 90.0)})
}

/// The figures for one group of conversations.
fn figures(items: &[&Timing], from: i64, to: i64) -> Value {
    let within = |t: i64| t >= from && t < to;
    let opened = items.iter().filter(|t| within(t.created_at)).count();
    let resolved = items.iter().filter(|t| t.resolved_at.is_some_and(within)).count();
    let first_response: Vec<f64> = items
        .iter()
        .filter(|t| within(t.created_at))
        .filter_map(|t| match (t.first_in, t.first_reply) {
            (Some(i), Some(r)) if r >= i => Some((r - i) as f64 / 1e6),
            _ => None,
        })
        .collect();
    let resolution: Vec<f64> =
        items.iter().filter_map(|t| t.resolved_at.filter(|r| within(*r)).map(|r| (r - t.created_at).max(0) as f64 / 1e6)).collect();
    json!({
        "conversations_opened": opened,
        "conversations_resolved": resolved,
        "first_response_secs": summary(first_response),
        "resolution_secs": summary(resolution),
    })
}

fn time_param(params: &ListParams, name: &str, default: i64) -> ApiResult<i64> {
    match params.raw(name) {
        None => Ok(default),
        Some(text) => time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(|t| (t.unix_timestamp_nanos() / 1_000) as i64)
            .map_err(|_| ApiError::invalid(name, "must be an RFC 3339 time such as 2026-11-01T00:00:00Z")),
    }
}

async fn stats(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<impl IntoResponse> {
    let params = ListParams(q);
    let now = store::now_micros();
    let to = time_param(&params, "to", now)?;
    let from = time_param(&params, "from", to - 7 * 86_400 * 1_000_000)?;
    if from >= to {
        return Err(ApiError::invalid("from", "must be before to"));
    }
    let timings = store::conversations::timings(&state.db, auth.tenant_id, from, to).await?;
    let surveys = store::csat::answered(&state.db, auth.tenant_id, from, to).await?;
    let csat = |pick: &dyn Fn(&store::csat::SurveyRow) -> bool| {
        let scores: Vec<f64> = surveys.iter().filter(|s| pick(s)).filter_map(|s| s.score).map(|s| s as f64).collect();
        let average = (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
        json!({"answers": scores.len(), "average": average})
    };
    let open = store::conversations::open_now(&state.db, auth.tenant_id).await?;
    let all: Vec<&Timing> = timings.iter().collect();
    let mut by_channel: BTreeMap<Uuid, Vec<&Timing>> = BTreeMap::new();
    let mut by_operator: BTreeMap<Uuid, Vec<&Timing>> = BTreeMap::new();
    for t in &timings {
        by_channel.entry(t.channel_id).or_default().push(t);
        if let Some(a) = t.assignee_id {
            by_operator.entry(a).or_default().push(t);
        }
    }
    let queue_of = |channel: Option<Uuid>| {
        let of = |c: &Uuid| channel.is_none_or(|x| x == *c);
        json!({
            "open": open.iter().filter(|(c, _)| of(c)).count(),
            "unassigned": open.iter().filter(|(c, a)| of(c) && a.is_none()).count(),
        })
    };
    let mut total = figures(&all, from, to);
    total["queue"] = queue_of(None);
    total["csat"] = csat(&|_| true);
    let channels: Vec<Value> = by_channel
        .iter()
        .map(|(id, items)| {
            let mut v = figures(items, from, to);
            v["channel_id"] = json!(id);
            v["queue"] = queue_of(Some(*id));
            v["csat"] = csat(&|s| s.channel_id == *id);
            v
        })
        .collect();
    let operators: Vec<Value> = by_operator
        .iter()
        .map(|(id, items)| {
            let mut v = figures(items, from, to);
            v["operator_id"] = json!(id);
            v["csat"] = csat(&|s| s.operator_id == Some(*id));
            v["open_now"] = json!(open.iter().filter(|(_, a)| *a == Some(*id)).count());
            v
        })
        .collect();
    Ok(Json(json!({"from": rfc3339(from), "to": rfc3339(to), "total": total, "by_channel": channels, "by_operator": operators})))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(5.0));
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        assert_eq!(percentile(&[3.0], 90.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
