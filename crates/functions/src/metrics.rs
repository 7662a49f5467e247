//! Per-function counters, rendered in the Prometheus text format for `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Response};

/// How invocations ended: the label values of `baton_function_invocations_total`.
const OUTCOMES: [&str; 6] = ["success", "error", "timeout", "crash", "throttled", "refused"];

/// One function's counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    outcomes: [AtomicU64; 6],
    /// The time spent in the function, in microseconds, and the number of such times.
    duration_micros: AtomicU64,
    durations: AtomicU64,
}

impl Metrics {
    /// Counts one invocation's outcome.
    pub(crate) fn record(&self, outcome: &Result<Response, Error>) {
        let i = match outcome {
            Ok(r) if !r.function_error => 0,
            Ok(r) => match r.error_type().as_deref() {
                Some("Sandbox.Timedout") => 2,
                Some("Runtime.ExitError") => 3,
                _ => 1,
            },
            Err(Error::TooManyRequests) => 4,
            Err(_) => 5,
        };
        self.outcomes[i].fetch_add(1, Ordering::Relaxed);
        if let Ok(r) = outcome {
            self.duration_micros.fetch_add(r.duration.as_micros() as u64, Ordering::Relaxed);
            self.durations.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Renders every function's counters; `functions` is `(name, metrics, processes)`.
pub(crate) fn render(functions: &[(&str, &Metrics, usize)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP baton_function_invocations_total Function invocations by how they ended.\n\
         # TYPE baton_function_invocations_total counter"
    );
    for (name, m, _) in functions {
        for (i, outcome) in OUTCOMES.iter().enumerate() {
            let n = m.outcomes[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "baton_function_invocations_total{{function=\"{name}\",outcome=\"{outcome}\"}} {n}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP baton_function_duration_seconds Time spent in the function per invocation.\n\
         # TYPE baton_function_duration_seconds summary"
    );
    for (name, m, _) in functions {
        let sum = m.duration_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let count = m.durations.load(Ordering::Relaxed);
        let _ = writeln!(out, "baton_function_duration_seconds_sum{{function=\"{name}\"}} {sum}");
        let _ =
            writeln!(out, "baton_function_duration_seconds_count{{function=\"{name}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP baton_function_processes Runtime processes running.\n\
         # TYPE baton_function_processes gauge"
    );
    for (name, _, processes) in functions {
        let _ = writeln!(out, "baton_function_processes{{function=\"{name}\"}} {processes}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn outcomes_are_counted_by_kind() {
        let m = Metrics::default();
        let ok = |error: Option<&str>| {
            Ok(Response {
                request_id: "r".into(),
                payload: error.map_or(b"{}".to_vec(), |t| {
                    format!(r#"{{"errorType":"{t}","errorMessage":""}}"#).into_bytes()
                }),
                function_error: error.is_some(),
                duration: Duration::from_millis(2),
            })
        };
        m.record(&ok(None));
        m.record(&ok(Some("Sandbox.Timedout")));
        m.record(&ok(Some("Runtime.ExitError")));
        m.record(&ok(Some("Custom")));
        m.record(&Err(Error::TooManyRequests));
        let text = render(&[("f", &m, 2)]);
        for outcome in ["success", "timeout", "crash", "error", "throttled"] {
            let line = format!(
                "baton_function_invocations_total{{function=\"f\",outcome=\"{outcome}\"}} 1"
            );
            assert!(text.contains(&line), "{line} in\n{text}");
        }
        assert!(text.contains("baton_function_duration_seconds_count{function=\"f\"} 4"));
        assert!(text.contains("baton_function_processes{function=\"f\"} 2"));
    }
}
