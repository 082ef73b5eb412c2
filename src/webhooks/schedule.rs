//! When a failed delivery is tried again.
//!
//! The Standard Webhooks example schedule (0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h,
//! 24 h — ten attempts over about three days) with uniform ±20 % jitter, so retries after an
//! outage do not arrive as one wave. A receiver that is overloaded (429, timeout) gets at least
//! the overload penalty; a `Retry-After` is honoured within [scheduled, 2 × scheduled].

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetrySchedule {
    /// Delay before each attempt; the first is normally 0 (send at once).
    pub delays: Vec<Duration>,
    /// Fraction of each delay by which it is randomly moved either way.
    pub jitter: f64,
    pub overload_penalty: Duration,
}

/// Why the previous attempt failed, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The receiver asked us to slow down (429) or did not answer in time.
    Overloaded,
    Other,
}

impl RetrySchedule {
    pub fn attempts(&self) -> usize {
        self.delays.len()
    }

    /// The delay before attempt `made + 1`, after `made` attempts failed; `None` when the
    /// schedule is exhausted. `unit` is a uniform random number in [0, 1).
    pub fn next_delay(&self, made: usize, failure: Failure, retry_after: Option<Duration>, unit: f64) -> Option<Duration> {
        let scheduled = *self.delays.get(made)?;
        let factor = 1.0 + self.jitter * (2.0 * unit - 1.0);
        let mut delay = scheduled.mul_f64(factor.max(0.0));
        if failure == Failure::Overloaded {
            delay = delay.max(self.overload_penalty);
        }
        if let Some(asked) = retry_after {
            let floor = delay;
            let ceiling = scheduled.saturating_mul(2).max(floor);
            delay = asked.clamp(floor, ceiling);
        }
        Some(delay)
    }
}

/// Parses `Retry-After`: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, format).ok()?.assume_utc();
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

/// A uniform random number in [0, 1).
pub fn unit_random() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard() -> RetrySchedule {
        let secs = [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];
        RetrySchedule { delays: secs.iter().map(|s| Duration::from_secs(*s)).collect(), jitter: 0.2, overload_penalty: Duration::from_secs(60) }
    }

    #[test]
    fn follows_the_schedule_within_the_jitter() {
        let s = standard();
        assert_eq!(s.next_delay(1, Failure::Other, None, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(s.next_delay(2, Failure::Other, None, 0.0), Some(Duration::from_secs(240)));
        assert_eq!(s.next_delay(2, Failure::Other, None, 1.0), Some(Duration::from_secs(360)));
        assert_eq!(s.next_delay(10, Failure::Other, None, 0.5), None, "ten attempts, then exhausted");
    }

    #[test]
    fn overload_waits_at_least_the_penalty() {
        let s = standard();
        assert_eq!(s.next_delay(1, Failure::Overloaded, None, 0.5), Some(Duration::from_secs(60)));
        assert_eq!(s.next_delay(2, Failure::Overloaded, None, 0.5), Some(Duration::from_secs(300)));
    }

    #[test]
    fn retry_after_is_clamped_to_between_once_and_twice_the_schedule() {
        let s = standard();
        let at = |asked| s.next_delay(2, Failure::Other, Some(Duration::from_secs(asked)), 0.5);
        assert_eq!(at(10), Some(Duration::from_secs(300)));
        assert_eq!(at(450), Some(Duration::from_secs(450)));
        assert_eq!(at(99_999), Some(Duration::from_secs(600)));
    }

    #[test]
    fn parses_both_retry_after_forms() {
        let now = time::macros::datetime!(2026-11-23 10:00:00 UTC);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Mon, 23 Nov 2026 10:01:30 GMT", now), Some(Duration::from_secs(90)));
        assert_eq!(parse_retry_after("soon", now), None);
        assert!((0.0..1.0).contains(&unit_random()));
    }
}
