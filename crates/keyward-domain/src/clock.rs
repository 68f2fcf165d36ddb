//! The clock is injected so expiry and grace-period rules can be tested without sleeping.

use chrono::{DateTime, SubsecRound as _, Timelike as _, Utc};
use std::sync::Mutex;

/// Where "now" comes from. Read it once per request.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// The same instant as [`now`](Self::now), as a [`Reading`]. A clock that reads the system's
    /// time gives it without making a `DateTime` first.
    fn reading(&self) -> Reading {
        Reading::from_datetime(self.now())
    }
}

/// A clock reading: nanoseconds since the Unix epoch.
///
/// What the data plane takes once per check: making a `DateTime` of the system's time costs
/// about as much again as reading it (the calendar date of the day), and a check only compares
/// times in milliseconds; a `DateTime` is made of a reading only where one is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reading(i64);

impl Reading {
    /// `time` as a reading (times outside the years 1677–2262 are clamped to them).
    pub fn from_datetime(time: DateTime<Utc>) -> Reading {
        let clamped = time.timestamp_nanos_opt().unwrap_or(if time.timestamp() < 0 { i64::MIN } else { i64::MAX });
        Reading(clamped)
    }

    /// Milliseconds since the Unix epoch (rounded down), the precision times are stored in.
    pub fn unix_millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }
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

    fn reading(&self) -> Reading {
        let nanos = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(since) => Reading(nanos(since)),
            Err(before) => Reading(-nanos(before.duration())),
        }
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

    #[test]
    fn readings_are_the_instants_of_the_clock() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        for (secs, nanos) in [(0, 0), (59, 999_999_999), (3599, 123_456_789), (86_399, 1_000_000)] {
            let Some(time) = NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos) else {
                panic!("{secs} {nanos}");
            };
            for t in [day.and_time(time).and_utc(), day.and_time(time).and_utc() - chrono::Duration::days(30_000)] {
                let reading = Reading::from_datetime(t);
                assert_eq!(reading.to_datetime(), t);
                assert_eq!(reading.unix_millis(), t.timestamp_millis(), "{t:?}");
                assert_eq!(reading.to_datetime().trunc_subsecs(3), to_millis(t));
            }
        }
        assert!(Reading::from_datetime(DateTime::<Utc>::MAX_UTC) > Reading::from_datetime(Utc::now()));
        assert!(Reading::from_datetime(DateTime::<Utc>::MIN_UTC) < Reading::from_datetime(DateTime::UNIX_EPOCH));
        // The system clock's reading is its `now`, without the `DateTime`.
        let (before, reading, after) = (SystemClock.now(), SystemClock.reading(), SystemClock.now());
        assert!(Reading::from_datetime(before) <= reading && reading <= Reading::from_datetime(after));
        // A manual clock reads what it was set to.
        let manual = ManualClock::new(day.and_time(NaiveTime::MIN).and_utc());
        assert_eq!(manual.reading().to_datetime(), manual.now());
    }
}
