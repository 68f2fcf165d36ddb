//! `GET /metrics`: the node's counters in the Prometheus text exposition format (0.0.4).
//!
//! The service keeps its own counters ([`keyward_service::metrics::Snapshot`]); this module adds
//! the request-latency histograms, one per method and matched route template (never the raw
//! path, so the number of series is bounded by the routes), and renders both by hand. The
//! histograms belong to the router built by [`crate::app`]: no global registry, so tests run
//! many apps in one process.

use axum::http::Method;
use keyward_service::metrics::Snapshot;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (`+Inf` is implied).
const BUCKETS: [f64; 14] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Method labels; anything else is `other`, so a client cannot invent series.
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"];

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

fn method_index(method: &Method) -> usize {
    METHODS[..METHODS.len() - 1].iter().position(|m| *m == method.as_str()).unwrap_or(METHODS.len() - 1)
}

/// One latency histogram: per-bucket counts (not cumulative; the last slot is `+Inf`) and the
/// sum in nanoseconds.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let slot = BUCKETS.iter().position(|le| secs <= *le).unwrap_or(BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// The histograms of one route, one per method label.
#[derive(Default)]
pub struct RouteHistograms {
    by_method: [Histogram; METHODS.len()],
}

impl RouteHistograms {
    /// Records one request of this route.
    pub fn observe(&self, method: &Method, elapsed: Duration) {
        self.by_method[method_index(method)].observe(elapsed);
    }
}

/// Request latency by method and route template.
#[derive(Default)]
pub struct HttpMetrics {
    routes: RwLock<HashMap<String, Arc<RouteHistograms>>>,
}

impl HttpMetrics {
    /// The histograms of `route` (a matched route template, or [`UNMATCHED`]), made on first
    /// use. The data plane's fast path looks its routes up once, not per request.
    pub fn route(&self, route: &str) -> Arc<RouteHistograms> {
        let found = self.routes.read().get(route).cloned();
        match found {
            Some(h) => h,
            None => self.routes.write().entry(route.to_owned()).or_default().clone(),
        }
    }

    /// Records one request. `route` is the matched route template, or [`UNMATCHED`].
    pub fn observe(&self, method: &Method, route: &str, elapsed: Duration) {
        self.route(route).observe(method, elapsed);
    }
}

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the service's counters and the request histograms.
pub fn render(snapshot: &Snapshot, http: &HttpMetrics) -> String {
    let mut out = String::with_capacity(8 * 1024);
    header(
        &mut out,
        "keyward_verifications_total",
        "counter",
        "Data-plane checks (verify, forward-auth) by result code.",
    );
    for (code, n) in &snapshot.verifications {
        let _ = writeln!(out, "keyward_verifications_total{{code=\"{}\"}} {n}", escape(code));
    }
    let counters: [(&str, &str, u64); 4] = [
        ("keyward_cache_hits_total", "Verification cache lookups answered from memory.", snapshot.cache_hits),
        ("keyward_cache_misses_total", "Verification cache lookups that read the database.", snapshot.cache_misses),
        (
            "keyward_usage_dropped_total",
            "Usage records dropped because the queue was full (or could not be written).",
            snapshot.usage_dropped,
        ),
        (
            "keyward_usage_written_total",
            "Checks written to the usage log (identical checks of one batch share a record).",
            snapshot.usage_written,
        ),
    ];
    for (name, help, value) in counters {
        header(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    let gauges: [(&str, &str, u64); 5] = [
        ("keyward_cached_keys", "Keys held in the verification cache.", snapshot.cached_keys as u64),
        (
            "keyward_usage_queue_depth",
            "Distinct usage records waiting to be written.",
            snapshot.usage_queue_depth as u64,
        ),
        (
            "keyward_usage_queue_capacity",
            "Distinct usage records held pending at most.",
            snapshot.usage_queue_capacity as u64,
        ),
        ("keyward_db_connections", "Open database connections.", u64::from(snapshot.db_connections)),
        ("keyward_db_idle_connections", "Idle database connections.", u64::from(snapshot.db_idle_connections)),
    ];
    for (name, help, value) in gauges {
        header(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
    render_histograms(&mut out, http);
    out
}

fn render_histograms(out: &mut String, http: &HttpMetrics) {
    const NAME: &str = "keyward_http_request_duration_seconds";
    header(out, NAME, "histogram", "HTTP request latency by method and route template.");
    let mut routes: Vec<(String, Arc<RouteHistograms>)> =
        http.routes.read().iter().map(|(route, h)| (route.clone(), h.clone())).collect();
    routes.sort_by(|a, b| a.0.cmp(&b.0));
    for (route, histograms) in routes {
        let route = escape(&route);
        for (method, h) in METHODS.iter().zip(&histograms.by_method) {
            let counts: Vec<u64> = h.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
            let count: u64 = counts.iter().sum();
            if count == 0 {
                continue;
            }
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            let mut cumulative = 0;
            for (le, n) in BUCKETS.iter().zip(&counts) {
                cumulative += n;
                let _ = writeln!(out, "{NAME}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{NAME}_bucket{{{labels},le=\"+Inf\"}} {count}");
            let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(out, "{NAME}_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "{NAME}_count{{{labels}}} {count}");
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labelled_by_template() {
        let http = HttpMetrics::default();
        http.observe(&Method::GET, "/v1/keys/{id}", Duration::from_micros(50));
        http.observe(&Method::GET, "/v1/keys/{id}", Duration::from_millis(3));
        http.observe(&Method::GET, "/v1/keys/{id}", Duration::from_secs(7));
        http.observe(&Method::from_bytes(b"BREW").unwrap(), UNMATCHED, Duration::from_millis(1));
        let text = render(&Snapshot::default(), &http);
        let series = |suffix: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("keyward_http_request_duration_seconds{suffix}")))
                .unwrap_or_else(|| panic!("no {suffix} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        let labels = "method=\"GET\",route=\"/v1/keys/{id}\"";
        assert_eq!(series(&format!("_bucket{{{labels},le=\"0.0001\"}}")), "1");
        assert_eq!(series(&format!("_bucket{{{labels},le=\"0.0025\"}}")), "1");
        assert_eq!(series(&format!("_bucket{{{labels},le=\"0.005\"}}")), "2");
        assert_eq!(series(&format!("_bucket{{{labels},le=\"5\"}}")), "2");
        assert_eq!(series(&format!("_bucket{{{labels},le=\"+Inf\"}}")), "3");
        assert_eq!(series(&format!("_count{{{labels}}}")), "3");
        let sum: f64 = series(&format!("_sum{{{labels}}}")).parse().unwrap();
        assert!((sum - 7.00305).abs() < 1e-9, "{sum}");
        assert_eq!(series("_count{method=\"other\",route=\"unmatched\"}"), "1");
        assert!(!text.contains("method=\"POST\""), "no empty series");
    }

    #[test]
    fn every_family_has_help_and_type() {
        let snapshot = Snapshot { verifications: vec![("valid", 2), ("not_found", 0)], ..Snapshot::default() };
        let text = render(&snapshot, &HttpMetrics::default());
        assert!(text.contains("keyward_verifications_total{code=\"valid\"} 2\n"));
        assert!(text.contains("keyward_verifications_total{code=\"not_found\"} 0\n"));
        for name in [
            "keyward_verifications_total",
            "keyward_cache_hits_total",
            "keyward_cache_misses_total",
            "keyward_cached_keys",
            "keyward_usage_queue_depth",
            "keyward_usage_queue_capacity",
            "keyward_usage_dropped_total",
            "keyward_usage_written_total",
            "keyward_db_connections",
            "keyward_db_idle_connections",
            "keyward_http_request_duration_seconds",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
