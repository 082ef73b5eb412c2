//! `GET /v1/stats?from=&to=`: how the team is doing — conversations opened and resolved, first
//! response time and resolution time (median and 90th percentile, in seconds), and the queue
//! now; in total, per channel and per operator.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use super::pagination::{ListParams, Params};
use crate::domain::rfc3339;
use crate::api::error::{ApiError, ApiResult};
use crate::hub::AppState;
use crate::store::{self, conversations::Timing};

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stats))
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// Durations in seconds: how many, their median and 90th percentile (null when none).
#[derive(Serialize, utoipa::ToSchema)]
struct Durations {
    count: usize,
    median: Option<f64>,
    p90: Option<f64>,
}

fn summary(mut values: Vec<f64>) -> Durations {
    values.sort_by(|a, b| a.total_cmp(b));
    Durations { count: values.len(), median: percentile(&values, 50.0), p90: percentile(&values, 90.0) }
}

/// The figures of one group of conversations over the period.
#[derive(Serialize, utoipa::ToSchema)]
struct Figures {
    conversations_opened: usize,
    conversations_resolved: usize,
    first_response_secs: Durations,
    resolution_secs: Durations,
}

/// The queue now: open conversations, and those of them nobody is assigned.
#[derive(Serialize, utoipa::ToSchema)]
struct Queue {
    open: usize,
    unassigned: usize,
}

/// Satisfaction surveys answered in the period: how many, and the average score (1 to 5).
#[derive(Serialize, utoipa::ToSchema)]
struct Csat {
    answers: usize,
    average: Option<f64>,
}

/// The whole tenant.
#[derive(Serialize, utoipa::ToSchema)]
struct TotalFigures {
    #[serde(flatten)]
    figures: Figures,
    queue: Queue,
    csat: Csat,
}

/// One channel.
#[derive(Serialize, utoipa::ToSchema)]
struct ChannelFigures {
    channel_id: Uuid,
    #[serde(flatten)]
    figures: Figures,
    queue: Queue,
    csat: Csat,
}

/// One operator (the conversations assigned to them).
#[derive(Serialize, utoipa::ToSchema)]
struct OperatorFigures {
    operator_id: Uuid,
    #[serde(flatten)]
    figures: Figures,
    csat: Csat,
    /// Open conversations assigned to them now.
    open_now: usize,
}

/// How the team is doing over a period.
#[derive(Serialize, utoipa::ToSchema)]
struct Stats {
    #[schema(format = DateTime)]
    from: String,
    #[schema(format = DateTime)]
    to: String,
    total: TotalFigures,
    by_channel: Vec<ChannelFigures>,
    by_operator: Vec<OperatorFigures>,
}

/// The figures for one group of conversations.
fn figures(items: &[&Timing], from: i64, to: i64) -> Figures {
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
    Figures { conversations_opened: opened, conversations_resolved: resolved, first_response_secs: summary(first_response), resolution_secs: summary(resolution) }
}

fn time_param(params: &ListParams, name: &str, default: i64) -> ApiResult<i64> {
    match params.0.get(name) {
        None => Ok(default),
        Some(text) => time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(|t| (t.unix_timestamp_nanos() / 1_000) as i64)
            .map_err(|_| ApiError::invalid(name, "must be an RFC 3339 time such as 2026-11-01T00:00:00Z")),
    }
}

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    /// The period's start, before `to` (default: 7 days before `to`).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// The period's end (default: now).
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
}

/// Team statistics.
///
/// Conversations opened and resolved, first response and resolution time (count, median, p90 in
/// seconds), satisfaction, the queue now; in total, by channel, by operator.
#[utoipa::path(get, path = "/v1/stats", tag = "operators", operation_id = "stats", params(StatsQuery),
    responses((status = 200, description = "The figures", body = Stats), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn stats(State(state): State<AppState>, auth: Auth, Params(q): Params<StatsQuery>) -> ApiResult<Json<Stats>> {
    let params = ListParams::of(&q);
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
        Csat { answers: scores.len(), average }
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
        Queue { open: open.iter().filter(|(c, _)| of(c)).count(), unassigned: open.iter().filter(|(c, a)| of(c) && a.is_none()).count() }
    };
    let total = TotalFigures { figures: figures(&all, from, to), queue: queue_of(None), csat: csat(&|_| true) };
    let by_channel = by_channel
        .iter()
        .map(|(id, items)| ChannelFigures { channel_id: *id, figures: figures(items, from, to), queue: queue_of(Some(*id)), csat: csat(&|s| s.channel_id == *id) })
        .collect();
    let by_operator = by_operator
        .iter()
        .map(|(id, items)| OperatorFigures {
            operator_id: *id,
            figures: figures(items, from, to),
            csat: csat(&|s| s.operator_id == Some(*id)),
            open_now: open.iter().filter(|(_, a)| *a == Some(*id)).count(),
        })
        .collect();
    Ok(Json(Stats { from: rfc3339(from), to: rfc3339(to), total, by_channel, by_operator }))
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
