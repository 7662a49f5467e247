//! A function's log: what its processes print, line by line, and Baton's own `START`,
//! `END` and `REPORT` lines around each invocation, as Lambda writes them. The newest lines
//! are kept in memory, a bounded number per function.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// One line of a function's log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// Increasing per function: ask for the lines after the last one seen.
    pub seq: u64,
    /// When the line was read, in milliseconds since the epoch.
    pub time_ms: i64,
    /// `stdout`, `stderr`, or `platform` for Baton's own lines.
    pub stream: &'static str,
    /// The invocation running in the process when the line was read, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub text: String,
}

/// The kept lines of one function.
pub(crate) struct Logs {
    cap: usize,
    inner: Mutex<Ring>,
}

struct Ring {
    next_seq: u64,
    lines: VecDeque<LogLine>,
}

impl Logs {
    pub(crate) fn new(cap: usize) -> Self {
        Self { cap: cap.max(1), inner: Mutex::new(Ring { next_seq: 1, lines: VecDeque::new() }) }
    }

    /// Appends a line, dropping the oldest beyond the cap.
    pub(crate) fn push(&self, stream: &'static str, request_id: Option<String>, text: String) {
        let mut ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if stream != "platform" {
            tracing::debug!(target: "baton::function", stream, ?request_id, "{text}");
        }
        ring.lines.push_back(LogLine { seq, time_ms: crate::now_ms(), stream, request_id, text });
        while ring.lines.len() > self.cap {
            ring.lines.pop_front();
        }
    }

    /// The kept lines after `seq`.
    pub(crate) fn after(&self, seq: u64) -> Vec<LogLine> {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        ring.lines.iter().filter(|l| l.seq > seq).cloned().collect()
    }

    /// The kept lines of one invocation.
    pub(crate) fn of_request(&self, request_id: &str) -> Vec<LogLine> {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        ring.lines.iter().filter(|l| l.request_id.as_deref() == Some(request_id)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_lines_are_kept() {
        let logs = Logs::new(2);
        logs.push("stdout", None, "a".into());
        logs.push("stderr", Some("r1".into()), "b".into());
        logs.push("platform", Some("r1".into()), "c".into());
        let all = logs.after(0);
        assert_eq!(all.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(all[0].seq, 2);
        assert_eq!(logs.after(2).len(), 1);
        assert_eq!(logs.of_request("r1").len(), 2);
        assert!(logs.of_request("r2").is_empty());
    }
}
