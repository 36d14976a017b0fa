//! Prometheus metrics (`GET /metrics`): counters kept in the process (messages by source and
//! outcome, rule hits by tag, deliveries by outcome, HTTP requests by route and status, ingest
//! latency), and gauges read from the database at scrape time (mailbox sync lag, outbox depth).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    /// (source, outcome) → messages.
    messages: BTreeMap<(String, &'static str), u64>,
    /// tag → hits.
    rule_hits: BTreeMap<String, u64>,
    /// (webhook, outcome) → deliveries.
    deliveries: BTreeMap<(String, &'static str), u64>,
    /// (route, status) → requests.
    requests: BTreeMap<(String, u16), u64>,
    /// source → ingest latency.
    latency: BTreeMap<String, Histogram>,
    /// listener → connections closed at once because the listener was full.
    refused: BTreeMap<&'static str, u64>,
}

/// Distinct label values one metric keeps; later ones are counted under `other`, so no input
/// can grow the registry (label values come from config, rules and a few fixed sets, but a
/// bug or an unexpected source must not turn into unbounded memory).
const MAX_LABEL_VALUES: usize = 200;

/// `value`, or `other` once `map` already holds [`MAX_LABEL_VALUES`] other values.
fn bounded<K: Ord, V>(map: &BTreeMap<K, V>, key: K, other: impl FnOnce() -> K) -> K {
    if map.len() >= MAX_LABEL_VALUES && !map.contains_key(&key) {
        other()
    } else {
        key
    }
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(|| Mutex::new(Registry::default()));

fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut g = match REGISTRY.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    f(&mut g)
}

/// Count messages of a committed batch: `outcome` is ingested, sighting, duplicate or failed.
pub fn messages(source: &str, outcome: &'static str, n: usize) {
    if n > 0 {
        with(|r| {
            let key = bounded(&r.messages, (source.to_string(), outcome), || {
                ("other".into(), outcome)
            });
            *r.messages.entry(key).or_default() += n as u64
        });
    }
}

pub fn rule_hit(tag: &str) {
    with(|r| {
        let key = bounded(&r.rule_hits, tag.to_string(), || "other".into());
        *r.rule_hits.entry(key).or_default() += 1
    });
}

pub fn delivery(webhook: &str, outcome: &'static str) {
    with(|r| {
        let key = bounded(&r.deliveries, (webhook.to_string(), outcome), || {
            ("other".into(), outcome)
        });
        *r.deliveries.entry(key).or_default() += 1
    });
}

pub fn request(route: &str, status: u16) {
    with(|r| {
        let key = bounded(&r.requests, (route.to_string(), status), || {
            ("other".into(), status)
        });
        *r.requests.entry(key).or_default() += 1
    });
}

/// A connection closed as soon as it was accepted: the listener had `max_connections` open.
pub fn connection_refused(listener: &'static str) {
    with(|r| *r.refused.entry(listener).or_default() += 1);
}

/// Seconds from an input's arrival to its commit.
pub fn latency(source: &str, seconds: f64) {
    with(|r| r.latency(source, seconds));
}

impl Registry {
    fn latency(&mut self, source: &str, seconds: f64) {
        let r = self;
        let key = bounded(&r.latency, source.to_string(), || "other".into());
        let h = r.latency.entry(key).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }
}

/// A label value, escaped for the text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The text exposition of the in-process metrics plus the database gauges given.
pub fn render(
    mailbox_lag: &[(String, String, f64)],
    outbox: &[(String, i64)],
    events: i64,
) -> String {
    let mut out = String::new();
    with(|r| {
        out.push_str("# HELP keepwarm_messages_total Inputs committed, by source and outcome.\n");
        out.push_str("# TYPE keepwarm_messages_total counter\n");
        for ((source, outcome), n) in &r.messages {
            let _ = writeln!(
                out,
                "keepwarm_messages_total{{source=\"{}\",outcome=\"{outcome}\"}} {n}",
                label(source)
            );
        }
        out.push_str("# HELP keepwarm_rule_hits_total Tags suggested on new messages, by tag.\n");
        out.push_str("# TYPE keepwarm_rule_hits_total counter\n");
        for (tag, n) in &r.rule_hits {
            let _ = writeln!(
                out,
                "keepwarm_rule_hits_total{{tag=\"{}\"}} {n}",
                label(tag)
            );
        }
        out.push_str(
            "# HELP keepwarm_deliveries_total Webhook delivery attempts, by webhook and outcome.\n",
        );
        out.push_str("# TYPE keepwarm_deliveries_total counter\n");
        for ((hook, outcome), n) in &r.deliveries {
            let _ = writeln!(
                out,
                "keepwarm_deliveries_total{{webhook=\"{}\",outcome=\"{outcome}\"}} {n}",
                label(hook)
            );
        }
        out.push_str("# HELP keepwarm_http_requests_total HTTP requests, by route and status.\n");
        out.push_str("# TYPE keepwarm_http_requests_total counter\n");
        for ((route, status), n) in &r.requests {
            let _ = writeln!(
                out,
                "keepwarm_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                label(route)
            );
        }
        out.push_str("# HELP keepwarm_ingest_latency_seconds From an input's arrival to its commit, by source.\n");
        out.push_str("# TYPE keepwarm_ingest_latency_seconds histogram\n");
        for (source, h) in &r.latency {
            let s = label(source);
            for (b, c) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(
                    out,
                    "keepwarm_ingest_latency_seconds_bucket{{source=\"{s}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "keepwarm_ingest_latency_seconds_bucket{{source=\"{s}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "keepwarm_ingest_latency_seconds_sum{{source=\"{s}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "keepwarm_ingest_latency_seconds_count{{source=\"{s}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP keepwarm_http_connections_refused_total Connections closed at once: the listener was full.\n");
        out.push_str("# TYPE keepwarm_http_connections_refused_total counter\n");
        for (listener, n) in &r.refused {
            let _ = writeln!(
                out,
                "keepwarm_http_connections_refused_total{{listener=\"{listener}\"}} {n}"
            );
        }
    });
    out.push_str("# HELP keepwarm_mailbox_sync_lag_seconds Seconds since each folder's last complete sync.\n");
    out.push_str("# TYPE keepwarm_mailbox_sync_lag_seconds gauge\n");
    for (account, folder, lag) in mailbox_lag {
        let _ = writeln!(
            out,
            "keepwarm_mailbox_sync_lag_seconds{{account=\"{}\",folder=\"{}\"}} {lag}",
            label(account),
            label(folder)
        );
    }
    out.push_str("# HELP keepwarm_outbox_deliveries Webhook deliveries by state.\n");
    out.push_str("# TYPE keepwarm_outbox_deliveries gauge\n");
    for (state, n) in outbox {
        let _ = writeln!(
            out,
            "keepwarm_outbox_deliveries{{state=\"{}\"}} {n}",
            label(state)
        );
    }
    out.push_str("# HELP keepwarm_outbox_events Events written to the outbox.\n");
    out.push_str("# TYPE keepwarm_outbox_events gauge\n");
    let _ = writeln!(out, "keepwarm_outbox_events {events}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_with_escaped_labels_and_cumulative_buckets() {
        messages("imap", "ingested", 3);
        rule_hit("price-sensitive");
        latency("test-source", 0.02);
        latency("test-source", 3.0);
        let text = render(
            &[("a\"b".into(), "INBOX".into(), 12.5)],
            &[("pending".into(), 4)],
            9,
        );
        assert!(text.contains("keepwarm_messages_total{source=\"imap\",outcome=\"ingested\"}"));
        assert!(text.contains("keepwarm_rule_hits_total{tag=\"price-sensitive\"}"));
        assert!(text.contains(
            "keepwarm_ingest_latency_seconds_bucket{source=\"test-source\",le=\"0.025\"} 1"
        ));
        assert!(
            text.contains(
                "keepwarm_ingest_latency_seconds_bucket{source=\"test-source\",le=\"5\"} 2"
            )
        );
        assert!(text.contains("keepwarm_ingest_latency_seconds_count{source=\"test-source\"} 2"));
        assert!(text.contains(
            "keepwarm_mailbox_sync_lag_seconds{account=\"a\\\"b\",folder=\"INBOX\"} 12.5"
        ));
        assert!(text.contains("keepwarm_outbox_deliveries{state=\"pending\"} 4"));
        assert!(text.contains("keepwarm_outbox_events 9"));
    }

    #[test]
    fn label_values_are_bounded() {
        let mut r = Registry::default();
        for i in 0..(MAX_LABEL_VALUES + 50) {
            r.latency(&format!("flood-{i}"), 0.1);
        }
        assert_eq!(r.latency.len(), MAX_LABEL_VALUES + 1);
        assert_eq!(r.latency["other"].count, 50);
        assert_eq!(r.latency["flood-3"].count, 1);
    }
}
