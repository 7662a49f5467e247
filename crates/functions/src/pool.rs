//! One function's processes: starting them on demand, handing them events, supervising
//! them.
//!
//! An invocation is a [`Job`]. It goes straight to a process parked in its Runtime API's
//! `next` call when there is one; otherwise it waits in the queue, and a new process starts
//! when the queue is longer than the number of processes still starting, up to
//! `max_concurrency` (one that has just answered counts as starting: it is about to ask for
//! the next event). A process that takes a job has it *in flight* until it posts a
//! response or an error, overruns the timeout (it is killed: `Sandbox.Timedout`) or exits
//! (`Runtime.ExitError`; a process that exits before it ever asked for an event fails the
//! oldest waiting job instead, so a runtime that cannot start fails its callers rather than
//! loop). Idle processes beyond `warm` stop after `idle_seconds`.

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{oneshot, Notify, Semaphore};

use crate::logs::Logs;
use crate::{platform_error, Error, FunctionSpec, Mode, Options, Response};

/// An invocation on its way to a process.
pub(crate) struct Job {
    pub(crate) request_id: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) client_context: Option<String>,
    pub(crate) reply: oneshot::Sender<Result<Response, Error>>,
}

/// What the Runtime API hands a runtime for one invocation.
pub(crate) struct Event {
    pub(crate) request_id: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) client_context: Option<String>,
    pub(crate) deadline_ms: i64,
}

/// A job a process has taken.
pub(crate) struct InFlight {
    pub(crate) request_id: String,
    pub(crate) reply: oneshot::Sender<Result<Response, Error>>,
    pub(crate) started: Instant,
    timer: tokio::task::JoinHandle<()>,
}

/// What the Runtime API of one process shares with the pool.
pub(crate) struct Sandbox {
    pub(crate) id: u64,
    pub(crate) pool: Arc<Pool>,
    /// The job this process is running.
    pub(crate) current: Mutex<Option<InFlight>>,
    /// What the runtime posted to `init/error`, if it did.
    pub(crate) init_error: Mutex<Option<Vec<u8>>>,
    /// Tells the supervisor to kill the process.
    kill: Notify,
}

struct Entry {
    sandbox: Arc<Sandbox>,
    /// Whether the process has asked for an event yet.
    ready: bool,
    /// It has answered its last event and not yet asked for the next: it will take a
    /// queued job in a moment, so none need start for it.
    returning: bool,
}

struct Parked {
    id: u64,
    since: Instant,
    tx: oneshot::Sender<Job>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    parked: VecDeque<Parked>,
    sandboxes: HashMap<u64, Entry>,
    next_id: u64,
    closed: bool,
    /// When a process last failed before it was ready: warm processes are not restarted
    /// in a tight loop.
    last_init_failure: Option<Instant>,
}

/// One function's processes.
pub(crate) struct Pool {
    spec: FunctionSpec,
    pub(crate) arn: String,
    region: String,
    logs: Logs,
    state: Mutex<State>,
    /// `exec` mode: one permit per concurrent run.
    exec_slots: Semaphore,
    metrics: crate::metrics::Metrics,
}

impl Pool {
    pub(crate) fn start(spec: FunctionSpec, arn: String, options: &Options) -> Arc<Self> {
        let pool = Arc::new(Self {
            exec_slots: Semaphore::new(spec.max_concurrency),
            spec,
            arn,
            region: options.region.clone(),
            logs: Logs::new(options.log_lines),
            state: Mutex::default(),
            metrics: crate::metrics::Metrics::default(),
        });
        if pool.spec.mode == Mode::Runtime {
            for _ in 0..pool.spec.warm {
                pool.spawn_sandbox(&mut pool.lock());
            }
            tokio::spawn(maintain(Arc::downgrade(&pool)));
        }
        pool
    }

    /// A permit to run one `exec` process.
    pub(crate) async fn exec_slot(
        &self,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, tokio::sync::AcquireError> {
        self.exec_slots.acquire().await
    }

    pub(crate) fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    pub(crate) fn logs(&self) -> &Logs {
        &self.logs
    }

    pub(crate) fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    pub(crate) fn processes(&self) -> usize {
        self.lock().sandboxes.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one event and waits for the outcome.
    pub(crate) async fn invoke(
        self: &Arc<Self>,
        request_id: String,
        payload: Vec<u8>,
        client_context: Option<String>,
    ) -> Result<Response, Error> {
        let outcome = self.run(request_id, payload, client_context).await;
        self.metrics.record(&outcome);
        outcome
    }

    async fn run(
        self: &Arc<Self>,
        request_id: String,
        payload: Vec<u8>,
        client_context: Option<String>,
    ) -> Result<Response, Error> {
        if self.spec.mode == Mode::Exec {
            return crate::exec::run(self, request_id, payload).await;
        }
        let (tx, mut rx) = oneshot::channel();
        let job = Job { request_id: request_id.clone(), payload, client_context, reply: tx };
        self.dispatch(job)?;
        // A job that no process takes within the function's timeout is throttled.
        let wait = self.spec.timeout().max(Duration::from_secs(1));
        tokio::select! {
            r = &mut rx => return r.unwrap_or(Err(Error::ShuttingDown)),
            () = tokio::time::sleep(wait) => {}
        }
        {
            let mut state = self.lock();
            if let Some(i) = state.queue.iter().position(|j| j.request_id == request_id) {
                state.queue.remove(i);
                return Err(Error::TooManyRequests);
            }
        }
        rx.await.unwrap_or(Err(Error::ShuttingDown))
    }

    /// Hands a job to a parked process, or queues it (starting a process if needed).
    fn dispatch(self: &Arc<Self>, mut job: Job) -> Result<(), Error> {
        let mut state = self.lock();
        if state.closed {
            return Err(Error::ShuttingDown);
        }
        while let Some(p) = state.parked.pop_front() {
            match p.tx.send(job) {
                Ok(()) => return Ok(()),
                // That process stopped waiting (its connection closed): try the next.
                Err(j) => job = j,
            }
        }
        state.queue.push_back(job);
        self.grow(&mut state);
        Ok(())
    }

    /// Starts processes while queued jobs outnumber the processes still starting.
    fn grow(self: &Arc<Self>, state: &mut State) {
        let starting = state.sandboxes.values().filter(|e| !e.ready || e.returning).count();
        let mut missing = state.queue.len().saturating_sub(starting);
        while missing > 0 && state.sandboxes.len() < self.spec.max_concurrency && !state.closed {
            self.spawn_sandbox(state);
            missing -= 1;
        }
    }

    /// The Runtime API's `next`: the job for this process, waiting for one if need be.
    /// `None` when the process is being stopped.
    pub(crate) async fn next_job(self: &Arc<Self>, sandbox: &Arc<Sandbox>) -> Option<Job> {
        let rx = {
            let mut state = self.lock();
            let entry = state.sandboxes.get_mut(&sandbox.id)?;
            entry.ready = true;
            entry.returning = false;
            if let Some(job) = state.queue.pop_front() {
                return Some(job);
            }
            let (tx, rx) = oneshot::channel();
            state.parked.push_back(Parked { id: sandbox.id, since: Instant::now(), tx });
            rx
        };
        rx.await.ok()
    }

    /// Records that `sandbox` took `job`, arms its timeout, and logs its start; returns
    /// the event to give the runtime.
    pub(crate) fn begin(self: &Arc<Self>, sandbox: &Arc<Sandbox>, job: Job) -> Event {
        let Job { request_id, payload, client_context, reply } = job;
        let timeout = self.spec.timeout();
        let deadline_ms = crate::now_ms() + timeout.as_millis() as i64;
        let weak = Arc::downgrade(sandbox);
        let timer = {
            let request_id = request_id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                if let Some(sandbox) = weak.upgrade() {
                    sandbox.time_out(&request_id, timeout);
                }
            })
        };
        let flight =
            InFlight { request_id: request_id.clone(), reply, started: Instant::now(), timer };
        let previous = sandbox.current.lock().unwrap_or_else(|e| e.into_inner()).replace(flight);
        if let Some(p) = previous {
            // The runtime asked for another event without answering the last one.
            p.timer.abort();
            let _ = p.reply.send(Ok(Response {
                payload: platform_error(
                    &p.request_id,
                    "Runtime.InvalidResponse",
                    "the runtime asked for the next event without answering this one",
                ),
                request_id: p.request_id,
                function_error: true,
                duration: p.started.elapsed(),
            }));
        }
        self.logs.push(
            "platform",
            Some(request_id.clone()),
            format!("START RequestId: {request_id} Version: $LATEST"),
        );
        Event { request_id, payload, client_context, deadline_ms }
    }

    /// Completes the job in flight on `sandbox` if it is `request_id`; `false` if it is not.
    pub(crate) fn finish(
        &self,
        sandbox: &Sandbox,
        request_id: &str,
        payload: Vec<u8>,
        function_error: bool,
    ) -> bool {
        let flight = {
            let mut current = sandbox.current.lock().unwrap_or_else(|e| e.into_inner());
            match current.as_ref() {
                Some(f) if f.request_id == request_id => current.take(),
                _ => None,
            }
        };
        let Some(flight) = flight else { return false };
        flight.timer.abort();
        if let Some(e) = self.lock().sandboxes.get_mut(&sandbox.id) {
            e.returning = true;
        }
        let duration = flight.started.elapsed();
        self.report(request_id, duration);
        let _ = flight.reply.send(Ok(Response {
            request_id: flight.request_id,
            payload,
            function_error,
            duration,
        }));
        true
    }

    fn report(&self, request_id: &str, duration: Duration) {
        let rid = Some(request_id.to_owned());
        self.logs.push("platform", rid.clone(), format!("END RequestId: {request_id}"));
        self.logs.push(
            "platform",
            rid,
            format!(
                "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tMemory Size: {} MB",
                duration.as_secs_f64() * 1000.0,
                self.spec.memory_mb
            ),
        );
    }

    /// Starts one process with its own Runtime API endpoint.
    fn spawn_sandbox(self: &Arc<Self>, state: &mut State) {
        state.next_id += 1;
        let id = state.next_id;
        let sandbox = Arc::new(Sandbox {
            id,
            pool: self.clone(),
            current: Mutex::new(None),
            init_error: Mutex::new(None),
            kill: Notify::new(),
        });
        state
            .sandboxes
            .insert(id, Entry { sandbox: sandbox.clone(), ready: false, returning: false });
        tokio::spawn(supervise(sandbox));
    }

    /// Forgets a process that ended, fails what it owed, and starts others if jobs wait.
    fn ended(self: &Arc<Self>, sandbox: &Sandbox, status: String) {
        let mut state = self.lock();
        let was_ready = state.sandboxes.remove(&sandbox.id).is_some_and(|e| e.ready);
        state.parked.retain(|p| p.id != sandbox.id);
        let flight = sandbox.current.lock().unwrap_or_else(|e| e.into_inner()).take();
        match flight {
            // Baton is stopping: the invocation did not fail, it was cut off. Its caller
            // hears so (an Event invocation is handed back to run again).
            Some(f) if state.closed => {
                f.timer.abort();
                let _ = f.reply.send(Err(Error::ShuttingDown));
            }
            Some(f) => self.exited_in_flight(f, &status),
            None if !was_ready && !state.closed => {
                self.failed_to_start(&mut state, sandbox, &status)
            }
            None => {}
        }
        self.grow(&mut state);
    }

    /// A process exited with a job in flight: the job fails with `Runtime.ExitError`.
    fn exited_in_flight(&self, f: InFlight, status: &str) {
        f.timer.abort();
        let duration = f.started.elapsed();
        self.report(&f.request_id, duration);
        let payload = platform_error(
            &f.request_id,
            "Runtime.ExitError",
            &format!("Runtime exited with error: {status}"),
        );
        let _ = f.reply.send(Ok(Response {
            request_id: f.request_id,
            payload,
            function_error: true,
            duration,
        }));
    }

    /// A process exited before it ever asked for an event: its start failed. The oldest
    /// waiting job fails with what it said, so callers hear of it instead of waiting.
    fn failed_to_start(&self, state: &mut State, sandbox: &Sandbox, status: &str) {
        state.last_init_failure = Some(Instant::now());
        let init = sandbox.init_error.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(job) = state.queue.pop_front() {
            let payload = init.unwrap_or_else(|| {
                platform_error(
                    &job.request_id,
                    "Runtime.ExitError",
                    &format!("Runtime exited without providing a reason: {status}"),
                )
            });
            let _ = job.reply.send(Ok(Response {
                request_id: job.request_id,
                payload,
                function_error: true,
                duration: Duration::ZERO,
            }));
        }
    }

    /// Stops every process and fails the jobs still queued.
    pub(crate) async fn shutdown(&self) {
        let sandboxes: Vec<Arc<Sandbox>> = {
            let mut state = self.lock();
            state.closed = true;
            for job in state.queue.drain(..) {
                let _ = job.reply.send(Err(Error::ShuttingDown));
            }
            state.parked.clear();
            state.sandboxes.values().map(|e| e.sandbox.clone()).collect()
        };
        for s in &sandboxes {
            s.kill.notify_one();
        }
        // Give the supervisors a moment to reap their processes.
        for _ in 0..100 {
            if self.lock().sandboxes.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The environment of a runtime process, Lambda's variables first, then the user's.
    pub(crate) fn environment(&self, runtime_api: &str) -> Vec<(String, String)> {
        let s = &self.spec;
        let mut env = vec![
            ("AWS_LAMBDA_RUNTIME_API".to_owned(), runtime_api.to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME".into(), s.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), s.memory_mb.to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME".into(), format!("/aws/lambda/{}", s.name)),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), format!("baton/{}", crate::request_id())),
            ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
            ("AWS_REGION".into(), self.region.clone()),
            ("AWS_DEFAULT_REGION".into(), self.region.clone()),
            ("AWS_EXECUTION_ENV".into(), "AWS_Lambda_baton".into()),
            ("_HANDLER".into(), s.handler.clone().unwrap_or_default()),
        ];
        if let Some(dir) = &s.working_dir {
            env.push(("LAMBDA_TASK_ROOT".into(), dir.display().to_string()));
        }
        for (k, v) in &s.env {
            if k != "AWS_LAMBDA_RUNTIME_API" {
                env.push((k.clone(), v.clone()));
            }
        }
        env
    }
}

impl Sandbox {
    /// The timeout of `request_id` fired: fail it and kill the process.
    fn time_out(&self, request_id: &str, timeout: Duration) {
        let flight = {
            let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
            match current.as_ref() {
                Some(f) if f.request_id == request_id => current.take(),
                _ => None,
            }
        };
        let Some(f) = flight else { return };
        let duration = f.started.elapsed();
        self.pool.report(request_id, duration);
        let what = format!("Task timed out after {:.2} seconds", timeout.as_secs_f64());
        self.pool.logs.push(
            "platform",
            Some(request_id.to_owned()),
            format!("{} {request_id} {what}", asl_like_timestamp()),
        );
        let _ = f.reply.send(Ok(Response {
            request_id: f.request_id,
            payload: platform_error(request_id, "Sandbox.Timedout", &what),
            function_error: true,
            duration,
        }));
        self.kill.notify_one();
    }

    /// The function this process belongs to.
    pub(crate) fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Asks the supervisor to stop the process (after an `init/error`).
    pub(crate) fn stop(&self) {
        self.kill.notify_one();
    }

    /// The request id of the job in flight, for tagging log lines.
    fn current_request(&self) -> Option<String> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|f| f.request_id.clone())
    }
}

fn asl_like_timestamp() -> String {
    let ms = crate::now_ms();
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Runs one process: its Runtime API endpoint, the process itself, its output into the
/// log; when it ends, tells the pool.
async fn supervise(sandbox: Arc<Sandbox>) {
    let pool = sandbox.pool.clone();
    let status = match run_process(&sandbox).await {
        Ok(status) => status,
        Err(e) => {
            tracing::warn!(function = %pool.spec.name, error = %e, "cannot start the runtime process");
            pool.logs.push("platform", None, format!("cannot start the runtime process: {e}"));
            *sandbox.init_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(
                serde_json::json!({
                    "errorType": "Runtime.InvalidEntrypoint",
                    "errorMessage": format!("cannot start the runtime process: {e}"),
                })
                .to_string()
                .into_bytes(),
            );
            "failed to start".to_owned()
        }
    };
    pool.ended(&sandbox, status);
}

async fn run_process(sandbox: &Arc<Sandbox>) -> std::io::Result<String> {
    let pool = &sandbox.pool;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let api = listener.local_addr()?.to_string();
    let stop_server = Arc::new(Notify::new());
    let server = {
        let app = crate::runtime_api::router(sandbox.clone());
        let stop = stop_server.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await;
        })
    };
    let mut cmd = pool.spec.command.to_command();
    cmd.envs(pool.environment(&api))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = &pool.spec.working_dir {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            stop_server.notify_one();
            let _ = server.await;
            return Err(e);
        }
    };
    tracing::debug!(function = %pool.spec.name, pid = ?child.id(), %api, "runtime process started");
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pipe_lines(out, "stdout", Arc::downgrade(sandbox)));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pipe_lines(err, "stderr", Arc::downgrade(sandbox)));
    }
    let status = tokio::select! {
        s = child.wait() => s,
        () = sandbox.kill.notified() => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    stop_server.notify_one();
    server.abort();
    let status = match status {
        Ok(s) => describe_exit(s),
        Err(e) => e.to_string(),
    };
    tracing::debug!(function = %pool.spec.name, %status, "runtime process ended");
    Ok(status)
}

/// An exit status as Lambda words it: `exit status 1`, `signal: killed`.
pub(crate) fn describe_exit(s: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            let name = match sig {
                9 => "killed".to_owned(),
                15 => "terminated".to_owned(),
                11 => "segmentation fault".to_owned(),
                6 => "aborted".to_owned(),
                n => format!("signal {n}"),
            };
            return format!("signal: {name}");
        }
    }
    match s.code() {
        Some(c) => format!("exit status {c}"),
        None => s.to_string(),
    }
}

async fn pipe_lines(
    stream: impl AsyncRead + Unpin,
    name: &'static str,
    sandbox: std::sync::Weak<Sandbox>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Some(s) = sandbox.upgrade() else { break };
        s.pool.logs.push(name, s.current_request(), line);
    }
}

/// Every second: stop processes idle for longer than `idle_seconds` beyond the `warm` ones,
/// and bring the warm ones back up after a crash.
async fn maintain(pool: std::sync::Weak<Pool>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(pool) = pool.upgrade() else { return };
        let mut state = pool.lock();
        if state.closed {
            return;
        }
        let idle_limit = Duration::from_secs(pool.spec.idle_seconds);
        while state.sandboxes.len() > pool.spec.warm {
            let Some(p) = state.parked.front() else { break };
            if p.since.elapsed() < idle_limit {
                break;
            }
            let p = state.parked.pop_front().expect("checked above");
            if let Some(e) = state.sandboxes.get(&p.id) {
                e.sandbox.kill.notify_one();
            }
        }
        let calm = state.last_init_failure.is_none_or(|t| t.elapsed() > Duration::from_secs(10));
        while calm && state.sandboxes.len() < pool.spec.warm {
            pool.spawn_sandbox(&mut state);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
