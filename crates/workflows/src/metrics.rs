//! Counters and histograms of the executor, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A histogram with fixed buckets (seconds, or counts for batch sizes).
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// The sum, in millionths of the unit.
    sum_micros: AtomicU64,
}

const SECONDS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];
const SIZES: &[f64] = &[1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0];

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, value: f64) {
        for (b, bound) in self.buckets.iter().zip(self.bounds) {
            if value <= *bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    pub(crate) fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, bound) in self.buckets.iter().zip(self.bounds) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", b.load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// The executor's metrics.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) started: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) aborted: AtomicU64,
    pub(crate) transitions: AtomicU64,
    pub(crate) task_latency: Histogram,
    pub(crate) commit_latency: Histogram,
    pub(crate) commit_batch: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
            transitions: AtomicU64::new(0),
            task_latency: Histogram::new(SECONDS),
            commit_latency: Histogram::new(SECONDS),
            commit_batch: Histogram::new(SIZES),
        }
    }
}

impl Metrics {
    pub(crate) fn ended(&self, status: &str) {
        let c = match status {
            "SUCCEEDED" => &self.succeeded,
            "FAILED" => &self.failed,
            "TIMED_OUT" => &self.timed_out,
            _ => &self.aborted,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP baton_executions_started_total Executions started.\n\
             # TYPE baton_executions_started_total counter\n\
             baton_executions_started_total {}",
            self.started.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP baton_executions_ended_total Executions ended, by status.\n\
             # TYPE baton_executions_ended_total counter"
        );
        for (status, c) in [
            ("SUCCEEDED", &self.succeeded),
            ("FAILED", &self.failed),
            ("TIMED_OUT", &self.timed_out),
            ("ABORTED", &self.aborted),
        ] {
            let _ = writeln!(
                out,
                "baton_executions_ended_total{{status=\"{status}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP baton_state_transitions_total State transitions made.\n\
             # TYPE baton_state_transitions_total counter\n\
             baton_state_transitions_total {}",
            self.transitions.load(Ordering::Relaxed)
        );
        self.task_latency.render(&mut out, "baton_task_seconds", "Task run time.");
        self.commit_latency.render(&mut out, "baton_store_commit_seconds", "Store commit time.");
        self.commit_batch.render(
            &mut out,
            "baton_store_commit_batch_size",
            "Execution writes per store commit (group commit).",
        );
        out
    }
}
