//! Durable `Event` (asynchronous) invocations.
//!
//! An `Event` invocation is written to the store's job queue before it is acknowledged
//! (`202 Accepted`), so a crash loses none. A [`Worker`] on every node claims due jobs
//! through leases and runs them; a node that dies mid-invocation leaves its lease to lapse
//! and another node runs the event again (at least once, as Lambda). A function error or a
//! throttle is retried on a schedule (Lambda's: twice, after a minute and after two more);
//! after the last attempt the job is kept as `failed`, with its last error, and listed by
//! [`Worker::failed`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};

use crate::{Error, Functions};

/// The job kind of an `Event` invocation in the store.
pub const KIND: &str = "function";

/// How the worker retries and how much it runs at once.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This node's id: the owner of its leases.
    pub node: String,
    /// The waits before each retry; their number is the number of retries.
    pub retry_delays: Vec<Duration>,
    /// How often to look for due jobs when nothing wakes the worker.
    pub poll: Duration,
    /// The most events run at once by this node.
    pub max_in_flight: usize,
    /// This node is the only one (SQLite): at start, take back the events a crashed
    /// process had claimed, without waiting for their leases to lapse.
    pub single_node: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            node: format!("node_{}", uuid::Uuid::new_v4().simple()),
            retry_delays: vec![Duration::from_secs(60), Duration::from_secs(120)],
            poll: Duration::from_millis(250),
            max_in_flight: 64,
            single_node: false,
        }
    }
}

/// The stored form of an event (a compatibility boundary: versioned).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "v")]
enum Stored {
    #[serde(rename = "1")]
    V1 { payload: String },
}

/// A failed event, as listed for people to inspect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedEvent {
    pub request_id: String,
    pub payload: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The `Event` invocations of this node: enqueue, and the worker that runs them.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<WorkerInner>,
}

struct WorkerInner {
    functions: Functions,
    store: store::Store,
    options: WorkerOptions,
    wake: Notify,
    in_flight: AtomicUsize,
    stop: watch::Sender<bool>,
}

impl Worker {
    /// Starts the worker's loop.
    pub fn start(functions: Functions, store: store::Store, options: WorkerOptions) -> Self {
        let (stop, _) = watch::channel(false);
        let worker = Self {
            inner: Arc::new(WorkerInner {
                functions,
                store,
                options,
                wake: Notify::new(),
                in_flight: AtomicUsize::new(0),
                stop,
            }),
        };
        tokio::spawn(worker.clone().run());
        worker
    }

    /// Stores an event for `function` and returns its request id; it runs soon after.
    pub async fn enqueue(&self, function: &str, payload: Vec<u8>) -> Result<String, Error> {
        self.enqueue_with_id(function, payload, crate::request_id()).await
    }

    /// Stores an event under the request id given: enqueuing the same id again stores
    /// nothing more (a caller that retries after a crash queues the event once).
    pub async fn enqueue_with_id(
        &self,
        function: &str,
        payload: Vec<u8>,
        request_id: String,
    ) -> Result<String, Error> {
        let name = self.inner.functions.resolve(function)?;
        if payload.len() > crate::MAX_EVENT_PAYLOAD {
            return Err(Error::PayloadTooLarge {
                size: payload.len(),
                limit: crate::MAX_EVENT_PAYLOAD,
                kind: "Event",
            });
        }
        crate::check_json(&payload)?;
        let now = crate::now_ms();
        let text = if payload.is_empty() { "{}".to_owned() } else { lossless(payload) };
        let stored = serde_json::to_string(&Stored::V1 { payload: text }).expect("serializable");
        self.inner
            .store
            .enqueue_job(&store::JobRecord {
                id: request_id.clone(),
                kind: KIND.into(),
                target: name,
                payload: stored,
                status: "pending".into(),
                attempts: 0,
                run_at_ms: now,
                lease_owner: None,
                lease_until_ms: 0,
                last_error: None,
                created_ms: now,
                updated_ms: now,
            })
            .await?;
        self.inner.wake.notify_one();
        Ok(request_id)
    }

    /// The events of `function` that failed for good, newest first.
    pub async fn failed(&self, function: &str, limit: i64) -> Result<Vec<FailedEvent>, Error> {
        let name = self.inner.functions.resolve(function)?;
        let jobs = self.inner.store.jobs(KIND, &name, "failed", limit).await?;
        Ok(jobs
            .into_iter()
            .map(|j| FailedEvent {
                payload: match serde_json::from_str(&j.payload) {
                    Ok(Stored::V1 { payload }) => payload,
                    Err(_) => j.payload,
                },
                request_id: j.id,
                attempts: j.attempts,
                last_error: j.last_error,
                created_ms: j.created_ms,
                updated_ms: j.updated_ms,
            })
            .collect())
    }

    /// Stops claiming new events.
    pub fn stop(&self) {
        let _ = self.inner.stop.send(true);
    }

    async fn run(self) {
        let mut stop = self.inner.stop.subscribe();
        if self.inner.options.single_node {
            match self.inner.store.release_foreign_jobs(KIND, &self.inner.options.node).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "Event invocations taken back after a restart"),
                Err(e) => tracing::warn!(error = %e, "cannot take back earlier Event invocations"),
            }
        }
        let lease = self.lease();
        loop {
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(self.inner.options.poll) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let free = self
                .inner
                .options
                .max_in_flight
                .saturating_sub(self.inner.in_flight.load(Ordering::SeqCst));
            if free == 0 {
                continue;
            }
            let now = crate::now_ms();
            let claimed = self
                .inner
                .store
                .claim_jobs(
                    KIND,
                    &self.inner.options.node,
                    now,
                    now + lease.as_millis() as i64,
                    free as i64,
                )
                .await;
            let jobs = match claimed {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim Event invocations");
                    continue;
                }
            };
            if jobs.len() == free {
                // There may be more: look again at once.
                self.inner.wake.notify_one();
            }
            for job in jobs {
                self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
                let worker = self.clone();
                tokio::spawn(async move {
                    worker.attempt(job).await;
                    worker.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
                    worker.inner.wake.notify_one();
                });
            }
        }
    }

    /// How long a claim lasts: longer than any function may run.
    fn lease(&self) -> Duration {
        let f = &self.inner.functions;
        let longest = f
            .names()
            .iter()
            .filter_map(|n| f.spec(n).map(crate::FunctionSpec::timeout))
            .max()
            .unwrap_or(Duration::ZERO);
        longest + Duration::from_secs(60)
    }

    async fn attempt(&self, job: store::JobRecord) {
        let node = &self.inner.options.node;
        let store = &self.inner.store;
        let payload = match serde_json::from_str(&job.payload) {
            Ok(Stored::V1 { payload }) => payload,
            Err(e) => {
                let why = format!("unreadable stored event: {e}");
                let _ = store.fail_job_attempt(&job.id, node, None, &why, crate::now_ms()).await;
                return;
            }
        };
        let outcome =
            self.inner.functions.invoke_as(&job.target, Some(&job.id), payload.into_bytes()).await;
        let error = match outcome {
            Ok(r) if !r.function_error => {
                if let Err(e) = store.complete_job(&job.id, node).await {
                    tracing::warn!(error = %e, id = %job.id, "cannot record a finished Event invocation");
                }
                return;
            }
            Ok(r) => String::from_utf8_lossy(&r.payload).into_owned(),
            Err(Error::ShuttingDown) => {
                // Not the event's fault: hand it back for another node (or the next start).
                let _ = store.release_job(&job.id, node).await;
                return;
            }
            Err(e @ Error::NotFound(_)) => {
                let _ = store
                    .fail_job_attempt(&job.id, node, None, &e.to_string(), crate::now_ms())
                    .await;
                return;
            }
            Err(e) => e.to_string(),
        };
        let delays = &self.inner.options.retry_delays;
        let next = usize::try_from(job.attempts)
            .ok()
            .and_then(|n| delays.get(n))
            .map(|d| crate::now_ms() + d.as_millis() as i64);
        tracing::info!(function = %job.target, id = %job.id, attempt = job.attempts + 1, retry = next.is_some(), "Event invocation failed");
        if let Err(e) = store.fail_job_attempt(&job.id, node, next, &error, crate::now_ms()).await {
            tracing::warn!(error = %e, id = %job.id, "cannot record a failed Event invocation");
        }
    }
}

fn lossless(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
