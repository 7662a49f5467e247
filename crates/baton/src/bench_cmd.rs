//! `baton bench`: a load generator for a Step Functions endpoint (Baton's own, or any other
//! that speaks the JSON 1.0 protocol), reporting throughput and latency.
//!
//! One run creates a state machine for the chosen workload under a unique name, checks with
//! one probe execution that the workload succeeds, then keeps `--concurrency` requests in
//! flight until `--duration` seconds have passed or `--count` requests have been sent:
//!
//! - **express**: an EXPRESS machine and `StartSyncExecution` per request. The latency is that
//!   of the call, which is the whole execution.
//! - **standard**: a STANDARD machine and `StartExecution` per request. The latency is that of
//!   the start call; afterwards the run waits (bounded by `--drain-timeout`) until
//!   `ListExecutions` with `statusFilter: RUNNING` is empty, and the end-to-end rate is over
//!   the whole time, from the first request to the moment no execution was running.
//!
//! A transition is a state entered and left, so the count per execution is: W1 = 10 (ten Pass
//! states), W2 and W3 = 5 (five HTTP Tasks), W4 = 41 (the Map state itself plus the one Pass
//! state of each of its 40 iterations). When the endpoint serves Baton's `/metrics`, the
//! transitions are the change of `baton_state_transitions_total` over the run (server-wide, so
//! other traffic on the same server is counted too); otherwise they are estimated as finished
//! executions times the count above.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

/// The role every benchmark state machine is created with.
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/bench";

/// How long one probe execution may take before the workload is declared broken.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// An unsigned AWS Signature Version 4 header. Baton does not check signatures, but servers that
/// host many services at one address (moto's, for one) read the service from its credential
/// scope, as they would from a real client's.
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/states/\
                             aws4_request, SignedHeaders=host, Signature=0";

/// How often the standard mode asks whether executions are still running.
const DRAIN_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The Step Functions endpoint, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    endpoint: String,
    /// The workload: w1 (10 Pass states), w2 (5 HTTP Tasks), w3 (w2 with ~250 KiB input) or
    /// w4 (an inline Map over 40 items).
    #[arg(long, value_enum, default_value_t = Workload::W1)]
    workload: Workload,
    /// express: StartSyncExecution per request; standard: StartExecution per request.
    #[arg(long, value_enum, default_value_t = Mode::Express)]
    mode: Mode,
    /// The number of requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Stop sending new requests after this many seconds (default 10, or 300 with --count).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many requests.
    #[arg(long)]
    count: Option<u64>,
    /// How long the standard mode waits for the started executions to finish, in seconds.
    #[arg(long, default_value_t = 120.0)]
    drain_timeout: f64,
    /// The server's process id (on Linux): its CPU time over the run (per transition too)
    /// and its peak resident memory (VmHWM) are reported.
    #[arg(long)]
    pid: Option<u32>,
    /// Print one JSON object line with the results instead of the summary.
    #[arg(long)]
    json: bool,
}

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// A chain of 10 Pass states with a 1 KiB input.
    W1,
    /// Five `http:invoke` Tasks in a chain, calling a no-op loopback receiver.
    W2,
    /// W2 with a ~250 KiB input.
    W3,
    /// An inline Map over 40 items whose ItemProcessor is one Pass state.
    W4,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Self::W1 => "w1",
            Self::W2 => "w2",
            Self::W3 => "w3",
            Self::W4 => "w4",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::W1 => "10 Pass states, 1 KiB input",
            Self::W2 => "5 http:invoke Tasks to a loopback receiver, 1 KiB input",
            Self::W3 => "5 http:invoke Tasks to a loopback receiver, ~250 KiB input",
            Self::W4 => "inline Map over 40 items, one Pass state per item",
        }
    }

    /// The transitions one execution makes (see the module documentation).
    fn transitions(self) -> u64 {
        match self {
            Self::W1 => 10,
            Self::W2 | Self::W3 => 5,
            Self::W4 => 41,
        }
    }

    fn needs_receiver(self) -> bool {
        matches!(self, Self::W2 | Self::W3)
    }

    /// The definition, with `receiver` the loopback receiver's URL for the HTTP workloads.
    fn definition(self, receiver: &str) -> Value {
        match self {
            Self::W1 => chain(10, "Pass", |_| json!({"Type": "Pass"})),
            Self::W2 | Self::W3 => chain(5, "Call", |_| {
                json!({
                    "Type": "Task",
                    "Resource": "arn:aws:states:::http:invoke",
                    "Parameters": {
                        "ApiEndpoint": receiver,
                        "Method": "POST",
                        "RequestBody.$": "$",
                    },
                    "ResultPath": null,
                })
            }),
            Self::W4 => json!({
                "Comment": "baton bench w4",
                "StartAt": "Fan",
                "States": {
                    "Fan": {
                        "Type": "Map",
                        "ItemsPath": "$.items",
                        "ItemProcessor": {
                            "ProcessorConfig": {"Mode": "INLINE"},
                            "StartAt": "Item",
                            "States": {"Item": {"Type": "Pass", "End": true}},
                        },
                        "End": true,
                    },
                },
            }),
        }
    }

    /// The execution input, serialized.
    fn input(self) -> String {
        match self {
            Self::W1 | Self::W2 => padded(1024),
            Self::W3 => padded(250 * 1024),
            Self::W4 => {
                let items: Vec<Value> = (0..40).map(|i| json!({"id": i, "sku": "item"})).collect();
                json!({"items": items}).to_string()
            }
        }
    }
}

/// How executions are started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// A STANDARD machine, StartExecution per request.
    Standard,
    /// An EXPRESS machine, StartSyncExecution per request.
    Express,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Express => "express",
        }
    }
}

/// A definition of `n` states named `{prefix}1..{prefix}n`, each leading to the next.
fn chain(n: usize, prefix: &str, state: impl Fn(usize) -> Value) -> Value {
    let mut states = serde_json::Map::new();
    for i in 1..=n {
        let mut s = state(i);
        if i == n {
            s["End"] = json!(true);
        } else {
            s["Next"] = json!(format!("{prefix}{}", i + 1));
        }
        states.insert(format!("{prefix}{i}"), s);
    }
    json!({"Comment": "baton bench", "StartAt": format!("{prefix}1"), "States": states})
}

/// A JSON object of exactly `len` bytes when serialized (for `len` of at least 64).
fn padded(len: usize) -> String {
    let frame = json!({"id": "bench", "payload": ""}).to_string();
    let pad = len.saturating_sub(frame.len());
    json!({"id": "bench", "payload": "x".repeat(pad)}).to_string()
}

/// What a call to the endpoint can end in, other than a response the caller accepts.
#[derive(Debug)]
enum CallError {
    /// The endpoint answered with an error (`__type` is the AWS error type).
    Api { status: u16, kind: String, message: String },
    /// The request did not get an answer.
    Transport(String),
}

impl CallError {
    /// The key this error is counted under.
    fn key(&self) -> String {
        match self {
            Self::Api { status, kind, .. } => format!("HTTP {status} {kind}"),
            Self::Transport(e) => format!("transport: {e}"),
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api { status, kind, message } => write!(f, "HTTP {status} {kind}: {message}"),
            Self::Transport(e) => write!(f, "no answer: {e}"),
        }
    }
}

/// A Step Functions client on the JSON 1.0 protocol.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(endpoint: &str, pool: usize) -> Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool)
            .timeout(Duration::from_secs(300))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self { http, base: endpoint.trim_end_matches('/').to_owned() })
    }

    /// Calls `action` with a serialized request body and returns the parsed response.
    async fn call_raw(&self, action: &str, body: String) -> Result<Value, CallError> {
        let response = self
            .http
            .post(format!("{}/", self.base))
            .header("x-amz-target", format!("AWSStepFunctions.{action}"))
            .header("content-type", "application/x-amz-json-1.0")
            .header("authorization", AUTHORIZATION)
            .body(body)
            .send()
            .await
            .map_err(|e| CallError::Transport(error_chain(&e)))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| CallError::Transport(error_chain(&e)))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let kind = value
            .get("__type")
            .and_then(Value::as_str)
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
            .unwrap_or_else(|| "UnknownError".to_owned());
        let message = value
            .get("message")
            .or_else(|| value.get("Message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
        Err(CallError::Api { status: status.as_u16(), kind, message })
    }

    async fn call(&self, action: &str, body: &Value) -> Result<Value, CallError> {
        self.call_raw(action, body.to_string()).await
    }

    /// Baton's counters from `/metrics`, or `None` when the endpoint has none.
    async fn metrics(&self) -> Option<Metrics> {
        let response = self.http.get(format!("{}/metrics", self.base)).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let text = response.text().await.ok()?;
        let transitions = metric(&text, "baton_state_transitions_total")?;
        let succeeded =
            metric(&text, "baton_executions_ended_total{status=\"SUCCEEDED\"}").unwrap_or(0);
        Some(Metrics { transitions, succeeded })
    }
}

/// The chain of an error's causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The value of a sample line `name value` in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse::<f64>().ok().map(|v| v as u64)
    })
}

/// Baton's server-wide counters at one moment.
#[derive(Debug, Clone, Copy)]
struct Metrics {
    transitions: u64,
    succeeded: u64,
}

/// What the workers saw.
#[derive(Debug, Default)]
struct Tally {
    /// The latency of every answered call, in microseconds.
    latencies_us: Vec<u64>,
    /// Calls that succeeded (for express: the execution also succeeded).
    ok: u64,
    /// Everything else, by kind.
    errors: BTreeMap<String, u64>,
    /// When the last call ended.
    last_end: Option<Instant>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.ok += other.ok;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.last_end = self.last_end.max(other.last_end);
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

impl Latency {
    /// The nearest-rank percentiles of samples in microseconds.
    pub(crate) fn of(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1] as f64 / 1000.0
        };
        Self { p50: at(0.50), p99: at(0.99), max: at(1.0) }
    }
}

pub(crate) fn run(args: BenchArgs) -> Result<u8> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let json_out = args.json;
    let (workload, mode) = (args.workload, args.mode);
    match runtime.block_on(bench(args)) {
        Ok(report) => {
            if json_out {
                println!("{report}");
            } else {
                print_summary(&report);
            }
            Ok(0)
        }
        Err(e) => {
            if json_out {
                let line = json!({
                    "workload": workload.name(),
                    "mode": mode.name(),
                    "error": format!("{e:#}"),
                });
                println!("{line}");
            }
            Err(e)
        }
    }
}

/// Starts the no-op HTTP receiver the HTTP workloads call, and returns its URL.
async fn start_receiver() -> Result<String> {
    async fn answer(_body: axum::body::Bytes) -> axum::Json<Value> {
        axum::Json(json!({}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the loopback receiver")?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().fallback(answer);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("baton bench: the loopback receiver stopped: {e}");
        }
    });
    Ok(format!("http://{addr}/"))
}

async fn bench(args: BenchArgs) -> Result<Value> {
    let workload = args.workload;
    let mode = args.mode;
    let client = Client::new(&args.endpoint, args.concurrency + 4)?;
    let receiver = if workload.needs_receiver() { start_receiver().await? } else { String::new() };

    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("bench-{}-{}-{}", workload.name(), mode.name(), &suffix[..12]);
    let kind = match mode {
        Mode::Standard => "STANDARD",
        Mode::Express => "EXPRESS",
    };
    let created = client
        .call(
            "CreateStateMachine",
            &json!({
                "name": name,
                "definition": workload.definition(&receiver).to_string(),
                "roleArn": ROLE_ARN,
                "type": kind,
            }),
        )
        .await
        .map_err(|e| anyhow!("CreateStateMachine failed: {e}"))?;
    let machine = created
        .get("stateMachineArn")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("CreateStateMachine answered without a stateMachineArn"))?
        .to_owned();

    let input = workload.input();
    let start_body = StartBody::new(&machine, &input);
    probe(&client, mode, &machine, &start_body).await?;

    let before = client.metrics().await;
    let cpu_before = args.pid.and_then(cpu_seconds);
    let duration = match (args.duration, args.count) {
        (Some(d), _) => d,
        (None, Some(_)) => 300.0,
        (None, None) => 10.0,
    };
    let action = match mode {
        Mode::Standard => "StartExecution",
        Mode::Express => "StartSyncExecution",
    };
    let began = Instant::now();
    let deadline = began + Duration::from_secs_f64(duration.max(0.0));
    let mut tally =
        drive(&client, action, mode, start_body, args.concurrency, deadline, args.count).await?;
    let calls_done = tally.last_end.unwrap_or(began);
    let call_secs = calls_done.duration_since(began).as_secs_f64().max(1e-9);
    let latency = Latency::of(&mut tally.latencies_us);
    let answered = tally.latencies_us.len() as u64;

    let mut report = json!({
        "endpoint": args.endpoint,
        "workload": workload.name(),
        "workload_description": workload.description(),
        "mode": mode.name(),
        "concurrency": args.concurrency,
        "input_bytes": input.len(),
        "requests": tally.ok + tally.error_count(),
        "requests_ok": tally.ok,
        "errors": tally.errors,
        "call": action,
        "call_seconds": round(call_secs, 3),
        "calls_per_s": round(answered as f64 / call_secs, 1),
        "p50_ms": round(latency.p50, 2),
        "p99_ms": round(latency.p99, 2),
        "max_ms": round(latency.max, 2),
        "transitions_per_execution": workload.transitions(),
    });

    let (finished, total_secs) = match mode {
        Mode::Express => (tally.ok, call_secs),
        Mode::Standard => {
            let drain = drain(&client, &machine, Duration::from_secs_f64(args.drain_timeout)).await;
            let end = drain.end;
            let total = end.duration_since(began).as_secs_f64().max(1e-9);
            let failed = count_status(&client, &machine, &["FAILED", "TIMED_OUT", "ABORTED"]).await;
            report["drain_seconds"] = json!(round(end.duration_since(calls_done).as_secs_f64(), 3));
            report["drain_timed_out"] = json!(drain.timed_out);
            report["still_running"] = json!(drain.running);
            report["executions_failed"] = json!(failed);
            if !drain.poll_errors.is_empty() {
                report["drain_poll_errors"] = json!(drain.poll_errors);
            }
            let started = tally.ok;
            let done = started.saturating_sub(drain.running).saturating_sub(failed);
            (done, total)
        }
    };
    let after = client.metrics().await;
    let cpu_after = args.pid.and_then(cpu_seconds);
    let (transitions, source) = match (before, after) {
        (Some(b), Some(a)) => (a.transitions.saturating_sub(b.transitions), "metrics"),
        _ => (finished * workload.transitions(), "estimate"),
    };
    if let (Some(b), Some(a)) = (before, after) {
        report["server_succeeded"] = json!(a.succeeded.saturating_sub(b.succeeded));
    }
    report["executions_succeeded"] = json!(finished);
    report["total_seconds"] = json!(round(total_secs, 3));
    report["executions_per_s"] = json!(round(finished as f64 / total_secs, 1));
    report["transitions"] = json!(transitions);
    report["transitions_source"] = json!(source);
    report["transitions_per_s"] = json!(round(transitions as f64 / total_secs, 1));
    if let Some(pid) = args.pid {
        report["peak_rss_kib"] = match peak_rss_kib(pid) {
            Some(k) => json!(k),
            None => Value::Null,
        };
        if let (Some(b), Some(a)) = (cpu_before, cpu_after) {
            let cpu = a - b;
            report["server_cpu_seconds"] = json!(round(cpu, 2));
            if transitions > 0 {
                report["server_cpu_us_per_transition"] =
                    json!(round(cpu * 1e6 / transitions as f64, 1));
            }
        }
    }
    Ok(report)
}

/// The body of a start request, serialized once: every request differs only by its execution
/// name, which is unique because some servers (moto's) name executions alike when no name is
/// given and then refuse the second as `ExecutionAlreadyExists`.
struct StartBody {
    /// Everything up to the name's value.
    head: String,
}

impl StartBody {
    fn new(machine: &str, input: &str) -> Self {
        let mut head = json!({"stateMachineArn": machine, "input": input}).to_string();
        head.pop();
        head.push_str(",\"name\":\"");
        Self { head }
    }

    /// A request body with a fresh execution name.
    fn next(&self) -> String {
        let name = uuid::Uuid::new_v4().simple();
        let mut body = String::with_capacity(self.head.len() + 34);
        body.push_str(&self.head);
        body.push_str(&format!("{name}\"}}"));
        body
    }
}

/// Runs one execution and fails unless it succeeds, so a broken workload is reported as such
/// rather than measured.
async fn probe(client: &Client, mode: Mode, machine: &str, start_body: &StartBody) -> Result<()> {
    match mode {
        Mode::Express => {
            let run = client
                .call_raw("StartSyncExecution", start_body.next())
                .await
                .map_err(|e| anyhow!("the probe StartSyncExecution failed: {e}"))?;
            check_succeeded(&run)
        }
        Mode::Standard => {
            let started = client
                .call_raw("StartExecution", start_body.next())
                .await
                .map_err(|e| anyhow!("the probe StartExecution failed: {e}"))?;
            let arn = started
                .get("executionArn")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("StartExecution answered without an executionArn"))?;
            let until = Instant::now() + PROBE_TIMEOUT;
            loop {
                let d = client
                    .call("DescribeExecution", &json!({"executionArn": arn}))
                    .await
                    .map_err(|e| anyhow!("the probe DescribeExecution failed: {e}"))?;
                if d.get("status").and_then(Value::as_str) != Some("RUNNING") {
                    return check_succeeded(&d);
                }
                if Instant::now() > until {
                    bail!("the probe execution {machine} still runs after {PROBE_TIMEOUT:?}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    .with_context(|| format!("the workload does not run on {machine}"))
}

fn check_succeeded(run: &Value) -> Result<()> {
    match run.get("status").and_then(Value::as_str) {
        Some("SUCCEEDED") => Ok(()),
        status => bail!(
            "the probe execution ended {}: {} {}",
            status.unwrap_or("without a status"),
            run.get("error").and_then(Value::as_str).unwrap_or_default(),
            run.get("cause").and_then(Value::as_str).unwrap_or_default()
        ),
    }
}

/// Keeps `concurrency` calls in flight until the deadline or the count is reached.
async fn drive(
    client: &Client,
    action: &'static str,
    mode: Mode,
    body: StartBody,
    concurrency: usize,
    deadline: Instant,
    count: Option<u64>,
) -> Result<Tally> {
    let issued = Arc::new(AtomicU64::new(0));
    let body = Arc::new(body);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let issued = issued.clone();
        let body = body.clone();
        workers.spawn(async move {
            let mut tally = Tally::default();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                if let Some(c) = count {
                    if issued.fetch_add(1, Ordering::Relaxed) >= c {
                        break;
                    }
                }
                let t0 = Instant::now();
                let result = client.call_raw(action, body.next()).await;
                let end = Instant::now();
                tally.last_end = Some(end);
                match result {
                    Ok(v) => {
                        tally.latencies_us.push(end.duration_since(t0).as_micros() as u64);
                        match (mode, v.get("status").and_then(Value::as_str)) {
                            (Mode::Standard, _) | (Mode::Express, Some("SUCCEEDED")) => {
                                tally.ok += 1;
                            }
                            (Mode::Express, status) => {
                                let key = format!(
                                    "execution {} {}",
                                    status.unwrap_or("without status"),
                                    v.get("error").and_then(Value::as_str).unwrap_or_default()
                                );
                                *tally.errors.entry(key).or_default() += 1;
                            }
                        }
                    }
                    Err(e @ CallError::Api { .. }) => {
                        tally.latencies_us.push(end.duration_since(t0).as_micros() as u64);
                        *tally.errors.entry(e.key()).or_default() += 1;
                    }
                    Err(e) => {
                        *tally.errors.entry(e.key()).or_default() += 1;
                    }
                }
            }
            tally
        });
    }
    let mut all = Tally::default();
    while let Some(t) = workers.join_next().await {
        all.merge(t.context("a load worker panicked")?);
    }
    Ok(all)
}

/// How the wait for standard executions ended.
struct Drain {
    end: Instant,
    timed_out: bool,
    running: u64,
    poll_errors: BTreeMap<String, u64>,
}

/// Waits until no execution of `machine` is running, or the timeout passes.
async fn drain(client: &Client, machine: &str, timeout: Duration) -> Drain {
    let until = Instant::now() + timeout;
    let ask = json!({"stateMachineArn": machine, "statusFilter": "RUNNING", "maxResults": 1});
    let mut poll_errors = BTreeMap::new();
    loop {
        match client.call("ListExecutions", &ask).await {
            Ok(v) => {
                let empty = v.get("executions").and_then(Value::as_array).is_none_or(Vec::is_empty);
                if empty {
                    return Drain {
                        end: Instant::now(),
                        timed_out: false,
                        running: 0,
                        poll_errors,
                    };
                }
            }
            Err(e) => *poll_errors.entry(e.key()).or_default() += 1,
        }
        if Instant::now() >= until {
            let end = Instant::now();
            let running = count_status(client, machine, &["RUNNING"]).await;
            return Drain { end, timed_out: true, running, poll_errors };
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// Counts the executions of `machine` in the given statuses (at most 100 pages each).
async fn count_status(client: &Client, machine: &str, statuses: &[&str]) -> u64 {
    let mut total = 0;
    for status in statuses {
        let mut token: Option<String> = None;
        for _ in 0..100 {
            let mut ask =
                json!({"stateMachineArn": machine, "statusFilter": status, "maxResults": 1000});
            if let Some(t) = &token {
                ask["nextToken"] = json!(t);
            }
            let Ok(page) = client.call("ListExecutions", &ask).await else { break };
            total += page.get("executions").and_then(Value::as_array).map_or(0, Vec::len) as u64;
            match page.get("nextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
    }
    total
}

/// The CPU time a process has used so far (user and system, all its threads), in seconds,
/// from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_ticks(&stat).map(|ticks| ticks as f64 / USER_HZ)
}

/// The clock ticks per second of `/proc`'s times: fixed at 100 in Linux's user ABI.
const USER_HZ: f64 = 100.0;

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field 2)
/// is in parentheses and may hold spaces and parentheses, so fields count from its last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    // The first field after the name is field 3; utime is field 14.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The peak resident set size of a process, from `/proc/PID/status`.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse().ok())
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

fn print_summary(r: &Value) {
    let g = |k: &str| r.get(k).cloned().unwrap_or(Value::Null);
    let standard = r["mode"] == "standard";
    println!(
        "baton bench: {} ({}), {} mode, against {}",
        g("workload").as_str().unwrap_or_default(),
        g("workload_description").as_str().unwrap_or_default(),
        g("mode").as_str().unwrap_or_default(),
        g("endpoint").as_str().unwrap_or_default()
    );
    println!(
        "  {} calls of {} with {} in flight, input {} bytes, over {} s",
        g("requests"),
        g("call").as_str().unwrap_or_default(),
        g("concurrency"),
        g("input_bytes"),
        g("call_seconds")
    );
    println!(
        "  {}/s: {}   latency p50 {} ms, p99 {} ms, max {} ms",
        g("call").as_str().unwrap_or_default(),
        g("calls_per_s"),
        g("p50_ms"),
        g("p99_ms"),
        g("max_ms")
    );
    if standard {
        println!(
            "  drain: {} s after the last start{}; {} failed, {} still running",
            g("drain_seconds"),
            if g("drain_timed_out") == json!(true) { " (timed out)" } else { "" },
            g("executions_failed"),
            g("still_running")
        );
    }
    println!(
        "  executions: {} succeeded in {} s: {}/s end to end",
        g("executions_succeeded"),
        g("total_seconds"),
        g("executions_per_s")
    );
    println!(
        "  transitions: {} ({} per execution; from {}): {}/s",
        g("transitions"),
        g("transitions_per_execution"),
        g("transitions_source").as_str().unwrap_or_default(),
        g("transitions_per_s")
    );
    if let Some(errors) = r.get("errors").and_then(Value::as_object) {
        for (k, v) in errors {
            println!("  error: {v} x {k}");
        }
    }
    if let Some(k) = r.get("peak_rss_kib").and_then(Value::as_u64) {
        println!("  server peak RSS: {:.1} MiB", k as f64 / 1024.0);
    }
    if let Some(cpu) = r.get("server_cpu_seconds") {
        println!(
            "  server CPU: {cpu} s ({} us per transition)",
            r.get("server_cpu_us_per_transition").unwrap_or(&Value::Null)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_have_the_promised_sizes() {
        assert_eq!(Workload::W1.input().len(), 1024);
        assert_eq!(Workload::W3.input().len(), 250 * 1024);
        let w4: Value = serde_json::from_str(&Workload::W4.input()).unwrap();
        assert_eq!(w4["items"].as_array().map(Vec::len), Some(40));
    }

    #[test]
    fn chains_link_every_state() {
        let d = Workload::W1.definition("");
        assert_eq!(d["StartAt"], "Pass1");
        assert_eq!(d["States"]["Pass9"]["Next"], "Pass10");
        assert_eq!(d["States"]["Pass10"]["End"], true);
        let d = Workload::W2.definition("http://127.0.0.1:1/");
        assert_eq!(d["States"].as_object().map(|s| s.len()), Some(5));
        assert_eq!(d["States"]["Call1"]["Parameters"]["ApiEndpoint"], "http://127.0.0.1:1/");
        assert_eq!(d["States"]["Call1"]["ResultPath"], Value::Null);
    }

    #[test]
    fn start_bodies_have_fresh_names() {
        let b = StartBody::new("arn:aws:states:us-east-1:1:stateMachine:m", "{\"a\":1}");
        let one: Value = serde_json::from_str(&b.next()).unwrap();
        let two: Value = serde_json::from_str(&b.next()).unwrap();
        assert_eq!(one["input"], "{\"a\":1}");
        assert_eq!(one["name"].as_str().map(str::len), Some(32));
        assert_ne!(one["name"], two["name"]);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        let l = Latency::of(&mut v);
        assert_eq!((l.p50, l.p99, l.max), (50.0, 99.0, 100.0));
    }

    #[test]
    fn cpu_times_are_read_past_any_command_name() {
        let line = "4242 (baton (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    1234 567 0 0 20 0 9 0 100 1000 200 18446744073709551615";
        assert_eq!(cpu_ticks(line), Some(1234 + 567));
        assert_eq!(cpu_ticks("4242 (baton) S 1"), None);
        assert!(cpu_seconds(std::process::id()).is_some(), "this process's own times are read");
    }

    #[test]
    fn metrics_lines_are_read() {
        let text = "# HELP x\nbaton_state_transitions_total 42\n\
                    baton_executions_ended_total{status=\"SUCCEEDED\"} 7\n";
        assert_eq!(metric(text, "baton_state_transitions_total"), Some(42));
        assert_eq!(metric(text, "baton_executions_ended_total{status=\"SUCCEEDED\"}"), Some(7));
        assert_eq!(metric(text, "missing"), None);
    }
}
