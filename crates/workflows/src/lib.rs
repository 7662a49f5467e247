//! The durable executor: runs `asl` state machines on the store.
//!
//! - **Standard executions** live in *shards* (tokio tasks, one per core by default), each
//!   owning a set of executions in memory. An input (the start, a task's result, a timer, a
//!   stop) is applied by the pure interpreter; the step it makes (the input and the history
//!   events it produced) is written by the *committer*, which gathers the steps of every
//!   shard into one transaction (group commit). Only after the commit are the step's
//!   effects performed: tasks dispatched, timers armed, callers answered.
//! - **Recovery is replay.** An execution's steps are its log: a node that takes an
//!   execution over (at start, or because its owner's lease expired) replays the inputs
//!   through a fresh interpreter, which rebuilds the state exactly, then re-arms its timers
//!   and re-dispatches the tasks still outstanding with the same idempotency key.
//! - **Ownership** is a lease: each node heartbeats its row in `nodes`; executions of a node
//!   whose heartbeat lapsed are claimed by others. Every commit is fenced by ownership.
//! - **Messages** for an execution (SendTaskSuccess, StopExecution, a child's end) go to its
//!   durable inbox, then to the owning shard directly when it is here, or through the
//!   owner's inbox poll when it is elsewhere.
//! - **Express executions** run in memory in the caller's task ([`express`]).
//! - **Admission** ([`admission`]): a node admits the Standard executions started through
//!   it only up to a memory budget; past it a start waits briefly, then is throttled.
//!   Children and executions taken over are always admitted.

mod admission;
mod express;
mod history;
pub mod http_task;
pub mod lambda;
mod metrics;
mod persist;
mod shard;
pub mod sns;
mod tasks;
mod test_state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asl::{MachineType, StateMachine};
use serde_json::Value;
use store::{MachineRecord, Store};
use tokio::sync::{mpsc, oneshot, Notify};

pub use express::SyncRun;
pub use test_state::TestStateResult;

/// Errors the executor reports to its callers; the API layer maps them to AWS's types.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    ExecutionDoesNotExist(String),
    #[error("{0}")]
    ExecutionAlreadyExists(String),
    #[error("{0}")]
    InvalidDefinition(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    TaskDoesNotExist(String),
    #[error("{0}")]
    TaskTimedOut(String),
    #[error("{0}")]
    ExecutionNotRedrivable(String),
    #[error("{0}")]
    ActivityDoesNotExist(String),
    #[error("{0}")]
    Validation(String),
    /// The node holds as many Standard executions as its admission budget allows, and none
    /// ended within the wait: AWS's `ThrottlingException`, which SDKs retry.
    #[error("{0}")]
    Throttled(String),
    #[error("the executor is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The region and account in ARNs.
    pub region: String,
    pub account: String,
    /// This node's id in the store (unique per process).
    pub node_id: String,
    /// How long a node's ownership lasts without a heartbeat.
    pub lease: Duration,
    /// How often to look for executions whose owner is gone.
    pub claim_every: Duration,
    /// How often to read the inbox for messages from other nodes.
    pub inbox_every: Duration,
    /// Shards (executor tasks); 0 means one per core.
    pub shards: usize,
    /// The interpreter's limits (payload size, history events, Map concurrency).
    pub limits: asl::Options,
    /// The longest an Express execution may run.
    pub express_timeout: Duration,
    /// The default timeout of an `http:invoke` task without `TimeoutSeconds`.
    pub http_timeout: Duration,
    /// Take over every running execution at start, without waiting for leases to lapse:
    /// right when this node is the only one (SQLite).
    pub single_node: bool,
    /// How long finished executions are kept.
    pub retention: Duration,
    /// The memory the Standard executions started or redriven through this node (by the API,
    /// routes and topics; not child executions, nor those taken over) may hold, estimated as
    /// four times each one's input plus 4 KiB. A start past it waits for room up to
    /// `admission_wait`, then fails with [`Error::Throttled`].
    pub admission_bytes: usize,
    /// How long a start waits for admission room before it is throttled.
    pub admission_wait: Duration,
    /// What runs Lambda tasks; without one they fail with `Lambda.ResourceNotFoundException`.
    pub lambda: Option<lambda::Handle>,
    /// What publishes `sns:publish` tasks' messages; without one they fail with
    /// `SNS.NotFoundException`.
    pub sns: Option<sns::Handle>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            node_id: format!("node_{}", uuid::Uuid::new_v4().simple()),
            lease: Duration::from_secs(10),
            claim_every: Duration::from_secs(1),
            inbox_every: Duration::from_millis(100),
            shards: 0,
            limits: asl::Options::default(),
            express_timeout: Duration::from_secs(300),
            http_timeout: Duration::from_secs(60),
            single_node: false,
            retention: Duration::from_secs(90 * 24 * 3600),
            admission_bytes: 512 << 20,
            admission_wait: Duration::from_secs(1),
            lambda: None,
            sns: None,
        }
    }
}

/// The outcome a caller reports for a task token.
#[derive(Debug, Clone)]
pub enum TaskReport {
    Success(Value),
    Failure { error: Option<String>, cause: Option<String> },
    Heartbeat,
}

/// A Standard execution that started (or was already running with that name and input).
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub execution_arn: String,
    pub start_ms: i64,
}

/// The version and alias an execution was started through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Via {
    pub version_arn: Option<String>,
    pub alias_arn: Option<String>,
}

/// The executor, cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) shards: Vec<mpsc::UnboundedSender<shard::Msg>>,
    pub(crate) commits: mpsc::Sender<shard::CommitJob>,
    pub(crate) machines: Mutex<HashMap<String, Arc<StateMachine>>>,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) http: http_task::Client,
    /// Woken when activity tasks are created, for GetActivityTask long polls.
    pub(crate) activity_tasks: Notify,
    pub(crate) stopping: tokio::sync::watch::Sender<bool>,
    pub(crate) histories: history::Cache,
    pub(crate) admission: admission::Admission,
}

/// Milliseconds since the epoch: the executor's (and its API's) one clock.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Engine {
    /// Starts the executor on `store`: its shards, the committer, the heartbeat, and the
    /// loops that claim orphaned executions and read the inbox.
    pub async fn start(config: Config, store: Store) -> Result<Self> {
        let n = if config.shards == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            config.shards
        };
        store.heartbeat(&config.node_id, now_ms() + config.lease.as_millis() as i64).await?;
        let (commit_tx, commit_rx) = mpsc::channel(1024);
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..n {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            receivers.push(rx);
        }
        let http = http_task::Client::new().map_err(Error::Internal)?;
        let (stopping, _) = tokio::sync::watch::channel(false);
        let admission = admission::Admission::new(config.admission_bytes, config.admission_wait);
        let engine = Self {
            inner: Arc::new(Inner {
                config,
                store,
                shards: senders,
                commits: commit_tx,
                machines: Mutex::new(HashMap::new()),
                metrics: metrics::Metrics::default(),
                http,
                activity_tasks: Notify::new(),
                stopping,
                histories: Mutex::default(),
                admission,
            }),
        };
        tokio::spawn(shard::committer(engine.clone(), commit_rx));
        for (i, rx) in receivers.into_iter().enumerate() {
            tokio::spawn(shard::Shard::new(engine.clone(), i, rx).run());
        }
        let single = engine.inner.config.single_node;
        engine.claim(if single { store::Orphans::All } else { store::Orphans::Sweep }).await?;
        tokio::spawn(shard::background(engine.clone()));
        Ok(engine)
    }

    /// The store the executor runs on.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The executor's configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The Prometheus text of the executor's metrics.
    pub fn metrics(&self) -> String {
        let mut out = self.inner.metrics.render();
        self.inner.admission.render(&mut out);
        out
    }

    /// The compiled machine of a revision (compiled once, then cached).
    pub fn compile(
        &self,
        revision_id: &str,
        definition: &str,
        kind: MachineType,
    ) -> Result<Arc<StateMachine>> {
        if let Some(m) = self.inner.machines.lock().map_err(poisoned)?.get(revision_id) {
            return Ok(m.clone());
        }
        let machine = StateMachine::compile_str(definition, kind)
            .map_err(|e| Error::InvalidDefinition(e.cause))?;
        let mut cache = self.inner.machines.lock().map_err(poisoned)?;
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(revision_id.to_owned(), machine.clone());
        Ok(machine)
    }

    /// The ARN of a state machine's execution.
    pub fn execution_arn(&self, machine_name: &str, name: &str) -> String {
        let c = &self.inner.config;
        format!("arn:aws:states:{}:{}:execution:{machine_name}:{name}", c.region, c.account)
    }

    /// Starts a Standard execution, answering once it is durable. Starting again with the
    /// same name and input while it runs returns the same execution, as AWS does.
    pub async fn start_execution(
        &self,
        machine: &MachineRecord,
        name: Option<String>,
        input: String,
    ) -> Result<Started> {
        self.start_child(machine, name, input, None, Via::default(), true).await
    }

    /// Starts a Standard execution of a version (`machine` carries the version's revision),
    /// possibly chosen through an alias.
    pub async fn start_execution_via(
        &self,
        machine: &MachineRecord,
        name: Option<String>,
        input: String,
        via: Via,
    ) -> Result<Started> {
        self.start_child(machine, name, input, None, via, true).await
    }

    pub(crate) async fn start_child(
        &self,
        machine: &MachineRecord,
        name: Option<String>,
        input: String,
        parent: Option<persist::ParentRef>,
        via: Via,
        admit: bool,
    ) -> Result<Started> {
        let compiled = self.compile(&machine.revision_id, &machine.definition, kind_of(machine))?;
        // A child (`admit` false) is not refused: its parent holds room already, and
        // waiting for more could wait for the parent itself.
        let admission =
            if admit { Some(self.inner.admission.admit(input.len()).await?) } else { None };
        let name = name.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let arn = self.execution_arn(&machine.name, &name);
        // No look-up first: the insert of the new row finds a taken name, and only then is
        // the existing execution read (the same request again gets the same answer).
        let record = store::ExecutionRecord {
            arn: arn.clone(),
            machine_arn: machine.arn.clone(),
            name,
            revision_id: machine.revision_id.clone(),
            status: "RUNNING".into(),
            input,
            output: None,
            error: None,
            cause: None,
            start_ms: now_ms(),
            stop_ms: None,
            owner: Some(self.inner.config.node_id.clone()),
            next_seq: 0,
            event_count: 0,
            redrive_count: 0,
            parent: parent.map(|p| p.encode()),
            version_arn: via.version_arn,
            alias_arn: via.alias_arn,
        };
        let (reply, rx) = oneshot::channel();
        let role_arn = machine.role_arn.clone();
        self.send(
            &arn,
            shard::Msg::Start {
                record: Box::new(record),
                role_arn,
                machine: compiled,
                admission,
                reply,
            },
        );
        match rx.await.map_err(|_| Error::ShuttingDown)? {
            Ok(started) => {
                self.inner.metrics.started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(started)
            }
            Err(shard::StartError::Exists(input)) => self
                .existing(&arn, &input)
                .await?
                .ok_or_else(|| Error::ExecutionAlreadyExists(already_exists(&arn))),
            Err(shard::StartError::Failed(e)) => Err(e),
        }
    }

    async fn existing(&self, arn: &str, input: &str) -> Result<Option<Started>> {
        let Some(e) = self.inner.store.execution(arn).await? else {
            return Ok(None);
        };
        if e.status == "RUNNING" && same_json(&e.input, input) {
            return Ok(Some(Started { execution_arn: e.arn, start_ms: e.start_ms }));
        }
        Err(Error::ExecutionAlreadyExists(already_exists(arn)))
    }

    /// Runs an Express execution to its end in this task (StartSyncExecution).
    pub async fn start_sync(
        &self,
        machine: &MachineRecord,
        name: Option<String>,
        input: Value,
    ) -> Result<SyncRun> {
        let compiled = self.compile(&machine.revision_id, &machine.definition, kind_of(machine))?;
        self.inner.metrics.started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(express::run(self.clone(), machine, compiled, name, input).await)
    }

    /// Starts an Express execution in the background (StartExecution on an Express
    /// machine): at most once on this node, not recorded.
    pub fn start_express(
        &self,
        machine: &MachineRecord,
        name: Option<String>,
        input: Value,
    ) -> Result<Started> {
        let compiled = self.compile(&machine.revision_id, &machine.definition, kind_of(machine))?;
        let name = name.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let arn = express::execution_arn(self, &machine.name, &name);
        let start_ms = now_ms();
        let engine = self.clone();
        let machine = machine.clone();
        self.inner.metrics.started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(async move {
            express::run(engine, &machine, compiled, Some(name), input).await;
        });
        Ok(Started { execution_arn: arn, start_ms })
    }

    /// Stops a running execution (StopExecution) and returns its stop time.
    pub async fn stop_execution(
        &self,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<i64> {
        let Some(e) = self.inner.store.execution(arn).await? else {
            return Err(Error::ExecutionDoesNotExist(format!("Execution Does Not Exist: '{arn}'")));
        };
        if e.status != "RUNNING" {
            return Ok(e.stop_ms.unwrap_or_else(now_ms));
        }
        let input = persist::StepInput::Stop { error, cause };
        self.deliver(arn, input).await?;
        // The owner applies the stop; wait until it is durable.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.inner.store.execution(arn).await? {
                if e.status != "RUNNING" {
                    return Ok(e.stop_ms.unwrap_or_else(now_ms));
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Ok(now_ms());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Leaves an input in an execution's inbox and tells its shard, if it is here.
    async fn deliver(&self, arn: &str, input: persist::StepInput) -> Result<()> {
        let message = input.encode();
        let id = self.inner.store.push_inbox(arn, &message, now_ms()).await?;
        if let Some(input) = input.to_input() {
            self.send(arn, shard::Msg::Input { arn: arn.to_owned(), input, inbox: Some(id) });
        }
        Ok(())
    }

    /// SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat.
    pub async fn send_task(&self, token: &str, report: TaskReport) -> Result<()> {
        let Some((arn, id)) = tasks::parse_token(token) else {
            return Err(Error::InvalidToken("Invalid token".into()));
        };
        if self.inner.store.token_execution(token).await?.is_none() {
            return Err(match self.inner.store.execution(&arn).await? {
                Some(_) => Error::TaskTimedOut(
                    "Task Timed Out: 'Provided task does not exist anymore'".into(),
                ),
                None => Error::TaskDoesNotExist("Task does not exist".into()),
            });
        }
        let input = match report {
            TaskReport::Success(output) => persist::StepInput::TaskSucceeded { id, output },
            TaskReport::Failure { error, cause } => {
                persist::StepInput::TaskFailed { id, error, cause }
            }
            TaskReport::Heartbeat => persist::StepInput::TaskHeartbeat { id },
        };
        self.deliver(&arn, input).await
    }

    /// GetActivityTask: waits up to `wait` for a task of the activity; `(token, input)`.
    pub async fn get_activity_task(
        &self,
        activity_arn: &str,
        worker: &str,
        wait: Duration,
    ) -> Result<Option<(String, String)>> {
        if self.inner.store.activity(activity_arn).await?.is_none() {
            return Err(Error::ActivityDoesNotExist(format!(
                "Activity Does Not Exist: '{activity_arn}'"
            )));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.inner.activity_tasks.notified();
            if let Some(task) = self.inner.store.claim_activity_task(activity_arn, worker).await? {
                return Ok(Some(task));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline || *self.inner.stopping.borrow() {
                return Ok(None);
            }
            // Tasks made on other nodes are found by polling; ours wake the wait at once.
            let nap = (deadline - now).min(Duration::from_millis(500));
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    /// The history events of an execution, oldest first, as GetExecutionHistory shows them
    /// with execution data.
    pub async fn history(&self, arn: &str) -> Result<Arc<Vec<Value>>> {
        history::history(self, arn).await
    }

    /// RedriveExecution: runs a failed, timed out or aborted execution again from where it
    /// stopped. Returns the redrive time.
    pub async fn redrive(&self, arn: &str) -> Result<i64> {
        let Some(e) = self.inner.store.execution(arn).await? else {
            return Err(Error::ExecutionDoesNotExist(format!("Execution Does Not Exist: '{arn}'")));
        };
        if e.status == "RUNNING" || e.status == "SUCCEEDED" {
            return Err(Error::ExecutionNotRedrivable(format!(
                "Execution is {}: '{arn}'",
                e.status
            )));
        }
        // Brought back into memory like a new start, so admitted like one.
        let admission = self.inner.admission.admit(e.input.len()).await?;
        let count = e.redrive_count as u32 + 1;
        let node = &self.inner.config.node_id;
        if !self.inner.store.reopen_execution(arn, node, i64::from(count)).await? {
            return Err(Error::ExecutionNotRedrivable(format!(
                "Execution is not redrivable: '{arn}'"
            )));
        }
        let (reply, rx) = oneshot::channel();
        self.send(arn, shard::Msg::Redrive { arn: arn.to_owned(), count, admission, reply });
        match rx.await.map_err(|_| Error::ShuttingDown)? {
            Ok(started) => Ok(started.start_ms),
            Err(shard::StartError::Failed(why)) => {
                // Put the row back as it was: the execution did not run again.
                self.inner.store.restore_execution(&e).await?;
                Err(Error::ExecutionNotRedrivable(format!("{why}")))
            }
            Err(shard::StartError::Exists(_)) => {
                Err(Error::ExecutionNotRedrivable(format!("Execution is running: '{arn}'")))
            }
        }
    }

    /// Stops taking work, lets in-flight commits finish, and hands every execution this node
    /// owns back to the store for another node (or the next start) to carry on.
    pub async fn shutdown(&self) {
        let _ = self.inner.stopping.send(true);
        let mut waits = Vec::new();
        for s in &self.inner.shards {
            let (tx, rx) = oneshot::channel();
            if s.send(shard::Msg::Shutdown { done: tx }).is_ok() {
                waits.push(rx);
            }
        }
        for w in waits {
            let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
        }
        if let Err(e) = self.inner.store.release(&self.inner.config.node_id).await {
            tracing::warn!(error = %e, "could not hand back executions at shutdown");
        }
    }

    pub(crate) fn send(&self, arn: &str, msg: shard::Msg) {
        let i = shard_of(arn, self.inner.shards.len());
        let _ = self.inner.shards[i].send(msg);
    }

    /// Claims executions whose owner is gone (or all running ones, at a single node's start)
    /// and hands them to their shards to replay.
    pub(crate) async fn claim(&self, which: store::Orphans) -> Result<usize> {
        let mut total = 0;
        loop {
            let arns = self
                .inner
                .store
                .claim_orphans(&self.inner.config.node_id, now_ms(), which, 500)
                .await?;
            total += arns.len();
            let n = arns.len();
            for arn in arns {
                tracing::info!(execution = %arn, "taking over execution");
                self.send(&arn, shard::Msg::Adopt { arn: arn.clone() });
            }
            if n < 500 {
                return Ok(total);
            }
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

/// Whether `name` may name a state machine, an execution or an activity, as AWS has it: 1 to
/// 80 characters, none of them whitespace, a control character or punctuation AWS keeps
/// out of names (the list below).
pub fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=80).contains(&n)
        && !name.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
                || ('\u{7f}'..='\u{9f}').contains(&c)
        })
}

/// A machine's `STANDARD` or `EXPRESS` as the interpreter's type.
pub fn kind_of(machine: &MachineRecord) -> MachineType {
    machine_type(&machine.kind)
}

/// `STANDARD` or `EXPRESS` (as the API and the store spell it) as the interpreter's type.
pub fn machine_type(kind: &str) -> MachineType {
    if kind == "EXPRESS" {
        MachineType::Express
    } else {
        MachineType::Standard
    }
}

fn already_exists(arn: &str) -> String {
    format!("Execution Already Exists: '{arn}'")
}

fn same_json(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> Error {
    Error::Internal("a lock was poisoned".into())
}

fn shard_of(arn: &str, n: usize) -> usize {
    // FNV-1a: stable across processes, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in arn.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % n.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_follow_aws_rules() {
        assert!(super::valid_name("order-42_ok"));
        assert!(!super::valid_name(""));
        assert!(!super::valid_name("has space"));
        assert!(!super::valid_name("a:b"));
        assert!(!super::valid_name(&"x".repeat(81)));
    }
}
