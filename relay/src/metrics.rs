//! Counters, gauges and histograms, rendered in Prometheus' text format at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A value that goes up and down (connections, open models).
#[derive(Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Removes one.
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that only goes up (operations committed).
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// A latency histogram with fixed buckets.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Everything the relay measures about itself.
pub struct Metrics {
    /// When the process started, for the ops/s average.
    started: Instant,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Authenticated sessions.
    pub sessions: Gauge,
    /// Models loaded in memory.
    pub open_models: Gauge,
    /// Operations durably committed.
    pub ops: Counter,
    /// From an operation's arrival to its durable commit.
    pub commit_latency: Histogram,
    /// Duration of each storage append.
    pub store_latency: Histogram,
    /// Messages refused by rate limiting.
    pub rate_limited: Counter,
    /// Frames refused as malformed, oversized or too deep.
    pub bad_frames: Counter,
    /// Batches sequenced after operations another relay had stored since this relay last read
    /// the model: how often relays contend for one model.
    pub interleaved_batches: Counter,
    /// Operations other relays stored, read and passed on to sessions here.
    pub ops_from_peers: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            connections: Gauge::default(),
            sessions: Gauge::default(),
            open_models: Gauge::default(),
            ops: Counter::default(),
            commit_latency: Histogram::default(),
            store_latency: Histogram::default(),
            rate_limited: Counter::default(),
            bad_frames: Counter::default(),
            interleaved_batches: Counter::default(),
            ops_from_peers: Counter::default(),
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        gauge(
            &mut out,
            "tandem_connections",
            "Open WebSocket connections.",
            self.connections.get(),
        );
        gauge(
            &mut out,
            "tandem_sessions",
            "Authenticated sessions.",
            self.sessions.get(),
        );
        gauge(
            &mut out,
            "tandem_open_models",
            "Models loaded in memory.",
            self.open_models.get(),
        );
        counter(
            &mut out,
            "tandem_ops_total",
            "Operations durably committed.",
            self.ops.get(),
        );
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let _ = writeln!(
            out,
            "# HELP tandem_ops_per_second Operations committed per second since start.\n# TYPE tandem_ops_per_second gauge\ntandem_ops_per_second {:.3}",
            self.ops.get() as f64 / elapsed
        );
        counter(
            &mut out,
            "tandem_rate_limited_total",
            "Messages refused by rate limiting.",
            self.rate_limited.get(),
        );
        counter(
            &mut out,
            "tandem_bad_frames_total",
            "Frames refused as malformed, oversized or too deep.",
            self.bad_frames.get(),
        );
        counter(
            &mut out,
            "tandem_interleaved_batches_total",
            "Batches sequenced after operations another relay stored since this relay last read the model.",
            self.interleaved_batches.get(),
        );
        counter(
            &mut out,
            "tandem_ops_from_peers_total",
            "Operations other relays stored, read and passed on to sessions here.",
            self.ops_from_peers.get(),
        );
        self.commit_latency.render(
            &mut out,
            "tandem_op_commit_seconds",
            "From an operation's arrival to its durable commit.",
        );
        self.store_latency.render(
            &mut out,
            "tandem_store_append_seconds",
            "Duration of each storage append.",
        );
        out
    }
}
