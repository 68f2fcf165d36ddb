//! The clock is injected so expiry and grace-period rules can be tested without sleeping.

use chrono::{DateTime, SubsecRound as _, Timelike as _, Utc};
use std::sync::Mutex;

/// Where "now" comes from. Read it once per request.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// `time` truncated to the millisecond, as times are stored: the same as chrono's
/// `trunc_subsecs(3)`, which costs about ten times as much (it subtracts a duration through the
/// general date arithmetic; this only replaces the time of day's fraction). Every data-plane
/// check truncates its clock reading.
pub fn to_millis(time: DateTime<Utc>) -> DateTime<Utc> {
    let naive = time.naive_utc();
    let nanos = naive.nanosecond();
    // Never `None`: the fraction only gets smaller (a leap second's stays at or above 10^9).
    naive.with_nanosecond(nanos - nanos % 1_000_000).map_or_else(|| time.trunc_subsecs(3), |t| t.and_utc())
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, NaiveTime};

    #[test]
    fn to_millis_is_trunc_subsecs_3() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        for (secs, nanos) in
            [(0, 0), (59, 999_999_999), (1, 1), (3599, 123_456_789), (86_399, 1_000_000), (59, 1_234_567_891)]
        {
            let Some(time) = NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos) else {
                panic!("{secs} {nanos}");
            };
            let t = day.and_time(time).and_utc();
            assert_eq!(to_millis(t), t.trunc_subsecs(3), "{t:?}");
        }
        let now = Utc::now();
        assert_eq!(to_millis(now), now.trunc_subsecs(3));
    }
}
