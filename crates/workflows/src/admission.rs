//! Admission: how much of its memory a node lets running Standard executions take.
//!
//! A running Standard execution lives in its node's memory, so a node admits the executions
//! started (or redriven) through it only up to a budget, `Config::admission_bytes`. Each
//! holds an estimate of its size, [`INPUT_COPIES`] times its input plus [`RUN_OVERHEAD`],
//! as permits (KiB) of a fair semaphore, and gives them back when its run leaves memory
//! (the permit lives in the shard's `Run`). Past the budget a start waits up to
//! `Config::admission_wait`, then is throttled, as AWS throttles StartExecution.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{Error, Result};

/// What an execution in memory is charged beyond its input: its interpreter state, record
/// and maps, roughly.
const RUN_OVERHEAD: usize = 4096;

/// How many times its input an execution is charged: a running execution holds its input
/// as text (its record) and parsed (its state), and a task's request and the step in
/// flight hold more (W3, 250 KiB inputs: the server's memory grew by about four times the
/// inputs its executions held).
const INPUT_COPIES: usize = 4;

/// The budget and what it refused.
pub(crate) struct Admission {
    room: Arc<Semaphore>,
    /// The whole budget in KiB: at least one, and what one execution may always take.
    total_kib: u32,
    wait: Duration,
    throttled: AtomicU64,
}

impl Admission {
    pub(crate) fn new(bytes: usize, wait: Duration) -> Self {
        let total_kib = u32::try_from(bytes / 1024).unwrap_or(u32::MAX).max(1);
        Self {
            room: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            wait,
            throttled: AtomicU64::new(0),
        }
    }

    /// Room for an execution with an input of `input_len` bytes, held until the permit is
    /// dropped: at once when there is room, else after a wait for some, or
    /// [`Error::Throttled`].
    pub(crate) async fn admit(&self, input_len: usize) -> Result<OwnedSemaphorePermit> {
        let kib = (input_len.saturating_mul(INPUT_COPIES) + RUN_OVERHEAD).div_ceil(1024);
        let kib = u32::try_from(kib).unwrap_or(u32::MAX).min(self.total_kib);
        match tokio::time::timeout(self.wait, self.room.clone().acquire_many_owned(kib)).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Error::ShuttingDown),
            Err(_) => {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                Err(Error::Throttled("Rate exceeded".into()))
            }
        }
    }

    /// Its metrics, in the Prometheus text format.
    pub(crate) fn render(&self, out: &mut String) {
        let used = self.total_kib as usize - self.room.available_permits();
        let _ = writeln!(
            out,
            "# HELP baton_executions_throttled_total Starts refused with ThrottlingException: \
             the node's admission budget was full for the whole wait.\n\
             # TYPE baton_executions_throttled_total counter\n\
             baton_executions_throttled_total {}\n\
             # HELP baton_admission_used_bytes Admission budget held by the Standard executions \
             started through this node (an estimate: four times each one's input plus 4 KiB).\n\
             # TYPE baton_admission_used_bytes gauge\n\
             baton_admission_used_bytes {}\n\
             # HELP baton_admission_limit_bytes The admission budget (limits.execution_memory_kib).\n\
             # TYPE baton_admission_limit_bytes gauge\n\
             baton_admission_limit_bytes {}",
            self.throttled.load(Ordering::Relaxed),
            used * 1024,
            self.total_kib as usize * 1024
        );
    }
}
