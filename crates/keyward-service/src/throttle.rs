//! Throttling of failed logins, per account and per client address, so passwords cannot be
//! guessed at speed. Kept in memory: each node throttles on its own, which bounds a cluster's
//! guessing rate at nodes × limit.

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;
use std::collections::HashMap;

pub(crate) struct LoginThrottle {
    max_per_account: u32,
    max_per_address: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<DateTime<Utc>>>>,
}

impl LoginThrottle {
    pub(crate) fn new(max_per_account: u32, window: Duration) -> Self {
        LoginThrottle {
            max_per_account,
            max_per_address: max_per_account.saturating_mul(4),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(email: &str, address: Option<&str>) -> [(String, bool); 2] {
        [(format!("account:{email}"), true), (format!("address:{}", address.unwrap_or("-")), false)]
    }

    /// `Some(seconds)` to wait when either counter is exhausted.
    pub(crate) fn check(&self, email: &str, address: Option<&str>, now: DateTime<Utc>) -> Option<u64> {
        let mut map = self.failures.lock();
        let mut wait: Option<u64> = None;
        for (key, is_account) in Self::keys(email, address) {
            let Some(times) = map.get_mut(&key) else {
                continue;
            };
            times.retain(|t| *t + self.window > now);
            let max = if is_account { self.max_per_account } else { self.max_per_address };
            if times.len() >= max as usize {
                let oldest = times.first().copied().unwrap_or(now);
                let secs = (oldest + self.window - now).num_seconds().max(1) as u64;
                wait = Some(wait.map_or(secs, |w| w.max(secs)));
            }
        }
        map.retain(|_, t| !t.is_empty());
        wait
    }

    pub(crate) fn record_failure(&self, email: &str, address: Option<&str>, now: DateTime<Utc>) {
        let mut map = self.failures.lock();
        for (key, _) in Self::keys(email, address) {
            map.entry(key).or_default().push(now);
        }
    }

    pub(crate) fn record_success(&self, email: &str) {
        self.failures.lock().remove(&format!("account:{email}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_unlocks_after_the_window() {
        let t = LoginThrottle::new(3, Duration::seconds(60));
        let now = Utc::now();
        for _ in 0..3 {
            assert_eq!(t.check("a", Some("1.2.3.4"), now), None);
            t.record_failure("a", Some("1.2.3.4"), now);
        }
        assert!(t.check("a", Some("9.9.9.9"), now).is_some(), "per account");
        assert_eq!(t.check("b", Some("1.2.3.4"), now), None, "address limit is higher");
        assert_eq!(t.check("a", Some("1.2.3.4"), now + Duration::seconds(61)), None);
        for i in 0..12 {
            t.record_failure(&format!("user{i}"), Some("5.5.5.5"), now);
        }
        assert!(t.check("fresh", Some("5.5.5.5"), now).is_some(), "per address");
    }
}
