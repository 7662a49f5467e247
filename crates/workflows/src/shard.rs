//! Shards own Standard executions in memory; the committer makes their steps durable.
//!
//! A shard handles a burst of messages (starts, inputs, timers), stepping each execution by
//! the pure interpreter and collecting, per execution, the step records and the effects
//! those steps call for. It then hands every execution's pending write to the committer in
//! one job. When the job's commit returns, the shard performs the effects (dispatch tasks,
//! arm timers, answer callers). An execution keeps stepping while its previous write is in
//! flight; what it produces waits for the next commit.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asl::interpreter::ActionId;
use asl::{Action, Execution, ExecutionInfo, Input, Outcome, StateMachine, TaskRequest};
use serde_json::Value;
use store::{ActivityTaskRecord, ExecutionEnd, ExecutionRecord, ExecutionWrite, StepRecord};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tokio::task::JoinHandle;

use crate::history::Log;
use crate::persist::{ParentRef, StepInput};
use crate::tasks::{self, Kind, Sink};
use crate::{now_ms, Engine, Error, Started};

/// Why a start did not happen.
#[derive(Debug)]
pub(crate) enum StartError {
    /// An execution of that ARN exists (with this input, as asked).
    Exists(String),
    Failed(Error),
}

type StartReply = oneshot::Sender<Result<Started, StartError>>;

/// A redrive's part of an adoption: its count, its admission room, whom to answer.
struct Redrive {
    count: u32,
    admission: OwnedSemaphorePermit,
    reply: StartReply,
}

/// Messages to a shard.
pub(crate) enum Msg {
    Start {
        record: Box<ExecutionRecord>,
        role_arn: String,
        machine: Arc<StateMachine>,
        /// The room it holds in the node's admission budget, if it was admitted.
        admission: Option<OwnedSemaphorePermit>,
        reply: StartReply,
    },
    Input {
        arn: String,
        input: Input,
        inbox: Option<i64>,
    },
    Adopt {
        arn: String,
    },
    /// Runs an ended execution again (its row is RUNNING and ours already).
    Redrive {
        arn: String,
        count: u32,
        admission: OwnedSemaphorePermit,
        reply: StartReply,
    },
    Replayed {
        arn: String,
        result: Result<Box<Run>, String>,
    },
    Committed {
        arns: Vec<String>,
        result: Result<Vec<bool>, String>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// A batch of writes for the committer, and where to report.
pub(crate) struct CommitJob {
    writes: Vec<ExecutionWrite>,
    arns: Vec<String>,
    reply: mpsc::UnboundedSender<Msg>,
}

/// Something to do once the steps that asked for it are durable.
enum Effect {
    /// Shared with the execution's outstanding waits: a task's input is not copied.
    Dispatch(Arc<TaskRequest>),
    ArmTimer(ActionId, i64),
    Cancel(ActionId),
    Started,
}

/// What an execution's steps have produced and not yet committed.
#[derive(Default)]
struct Pending {
    steps: Vec<StepRecord>,
    effects: Vec<Effect>,
    inbox_done: Vec<i64>,
    tokens_added: Vec<String>,
    tokens_removed: Vec<String>,
    activity_tasks: Vec<ActivityTaskRecord>,
    messages: Vec<(String, String)>,
    end: Option<ExecutionEnd>,
}

impl Pending {
    /// Nothing to write: no step, effect, consumed message or end.
    fn is_empty(&self) -> bool {
        self.steps.is_empty()
            && self.effects.is_empty()
            && self.inbox_done.is_empty()
            && self.end.is_none()
    }
}

/// A task or timer the execution waits on.
#[derive(Debug, Clone)]
enum Outstanding {
    Task { req: Arc<TaskRequest>, token: Option<String> },
    Timer(i64),
}

/// One execution in memory.
pub(crate) struct Run {
    exec: Execution,
    record: ExecutionRecord,
    parent: Option<ParentRef>,
    next_seq: i64,
    pending: Pending,
    /// The effects of the write in flight, and the status it ends the execution with.
    inflight: Option<(Vec<Effect>, Option<String>)>,
    /// The first write inserts the execution's row.
    create: bool,
    outstanding: HashMap<ActionId, Outstanding>,
    running: HashMap<ActionId, JoinHandle<()>>,
    recent_inbox: VecDeque<i64>,
    start_replies: Vec<StartReply>,
    ended: bool,
    dirty: bool,
    transitions: u64,
    /// The id of the newest event of the steps recorded so far.
    events_before: i64,
    /// Its room in the admission budget, given back when the run leaves memory.
    _admission: Option<OwnedSemaphorePermit>,
}

impl Run {
    /// Applies the actions of one step: records what must be durable, queues effects.
    /// When `replaying`, only the waits are tracked: the rest is durable already.
    fn absorb(&mut self, actions: Vec<Action>, replaying: bool) {
        let arn = self.record.arn.clone();
        for action in actions {
            match action {
                Action::RunTask(req) => {
                    let req = Arc::new(req);
                    let mut token = req.task_token.clone();
                    if let Kind::Activity(activity) = tasks::classify(&req.resource) {
                        let t = tasks::token(&arn, req.id);
                        if !replaying {
                            self.pending.activity_tasks.push(ActivityTaskRecord {
                                token: t.clone(),
                                activity_arn: activity,
                                input: req.input.to_string(),
                                created_ms: now_ms(),
                            });
                        }
                        token = Some(t);
                    }
                    if let (Some(t), false) = (&token, replaying) {
                        self.pending.tokens_added.push(t.clone());
                    }
                    self.outstanding
                        .insert(req.id, Outstanding::Task { req: Arc::clone(&req), token });
                    if !replaying {
                        self.pending.effects.push(Effect::Dispatch(req));
                    }
                }
                Action::StartTimer { id, fire_at_millis } => {
                    self.outstanding.insert(id, Outstanding::Timer(fire_at_millis));
                    if !replaying {
                        self.pending.effects.push(Effect::ArmTimer(id, fire_at_millis));
                    }
                }
                Action::Cancel { id } => {
                    self.forget(id, replaying);
                    if !replaying {
                        self.pending.effects.push(Effect::Cancel(id));
                    }
                }
                Action::Finished(outcome) => {
                    self.ended = true;
                    if replaying {
                        continue;
                    }
                    let end = end_of(&outcome, now_ms());
                    if let Some(parent) = &self.parent {
                        let msg = tasks::child_result(&self.record, &end, parent);
                        self.pending.messages.push((parent.execution_arn.clone(), msg.encode()));
                    }
                    self.pending.end = Some(end);
                    let ids: Vec<ActionId> = self.outstanding.keys().copied().collect();
                    for id in ids {
                        self.forget(id, false);
                        self.pending.effects.push(Effect::Cancel(id));
                    }
                }
            }
        }
    }

    /// The wait on `id` is over.
    fn forget(&mut self, id: ActionId, replaying: bool) {
        if let Some(Outstanding::Task { token: Some(t), .. }) = self.outstanding.remove(&id) {
            if !replaying {
                self.pending.tokens_removed.push(t);
            }
        }
    }

    /// Applies one input and records the step.
    fn step(&mut self, input: Input, at_ms: i64, replaying: bool) {
        if self.ended {
            return;
        }
        // Encoded before the interpreter takes the input (a replayed step is stored already).
        let persisted = (!replaying).then(|| StepInput::encode_input(&input));
        match &input {
            Input::TaskSucceeded { id, .. }
            | Input::TaskFailed { id, .. }
            | Input::TimerFired { id } => {
                if self.outstanding.contains_key(id) {
                    self.forget(*id, replaying);
                }
                self.running.remove(id);
            }
            _ => {}
        }
        let actions = self.exec.step(input, at_ms);
        self.absorb(actions, replaying);
        if let Some(encoded) = persisted {
            self.record_step(encoded, at_ms);
        }
    }

    /// Records the step just made: its encoded input and the range of event ids it made
    /// (the events themselves are made again by replay when the history is read).
    fn record_step(&mut self, input: String, at_ms: i64) {
        let last = self.exec.last_event_id() as i64;
        self.pending.steps.push(StepRecord {
            seq: self.next_seq,
            at_ms,
            input,
            first_event: self.events_before + 1,
            last_event: last,
        });
        self.events_before = last;
        self.next_seq += 1;
    }

    fn take_write(&mut self) -> (ExecutionWrite, Vec<Effect>) {
        let p = std::mem::take(&mut self.pending);
        let write = ExecutionWrite {
            arn: self.record.arn.clone(),
            create: self.create.then(|| self.record.clone()),
            steps: p.steps,
            next_seq: self.next_seq,
            event_count: self.exec.last_event_id() as i64,
            end: p.end,
            inbox_done: p.inbox_done,
            tokens_added: p.tokens_added,
            tokens_removed: p.tokens_removed,
            activity_tasks: p.activity_tasks,
            messages: p.messages,
        };
        (write, p.effects)
    }

    /// Adds the transitions made since the last count to the metrics.
    fn count_transitions(&mut self, metrics: &crate::metrics::Metrics) {
        let t = self.exec.transitions();
        metrics.transitions.fetch_add(t.saturating_sub(self.transitions), Ordering::Relaxed);
        self.transitions = t;
    }

    fn abort_tasks(&mut self) {
        for (_, h) in self.running.drain() {
            h.abort();
        }
    }
}

fn end_of(outcome: &Outcome, stop_ms: i64) -> ExecutionEnd {
    let (status, output, error, cause) = match outcome {
        Outcome::Succeeded { output } => ("SUCCEEDED", Some(output.to_string()), None, None),
        Outcome::Failed { error, cause } => ("FAILED", None, error.clone(), cause.clone()),
        Outcome::TimedOut { error, cause } => ("TIMED_OUT", None, error.clone(), cause.clone()),
        Outcome::Aborted { error, cause } => ("ABORTED", None, error.clone(), cause.clone()),
    };
    ExecutionEnd { status: status.into(), output, error, cause, stop_ms }
}

/// The context of an execution, as the interpreter sees it.
pub(crate) fn info_for(engine: &Engine, record: &ExecutionRecord, role_arn: &str) -> ExecutionInfo {
    let machine_name = record.machine_arn.rsplit(':').next().unwrap_or_default().to_owned();
    ExecutionInfo {
        execution_arn: record.arn.clone(),
        name: record.name.clone(),
        state_machine_arn: record.machine_arn.clone(),
        state_machine_name: machine_name,
        role_arn: role_arn.to_owned(),
        region: engine.config().region.clone(),
        redrive_count: record.redrive_count as u32,
    }
}

/// A shard: a set of executions and their timers.
pub(crate) struct Shard {
    engine: Engine,
    index: usize,
    rx: mpsc::UnboundedReceiver<Msg>,
    me: mpsc::UnboundedSender<Msg>,
    runs: HashMap<String, Run>,
    loading: HashMap<String, Vec<Msg>>,
    timers: BTreeSet<(i64, String, ActionId)>,
    dirty: Vec<String>,
    committing: bool,
    stopping: Option<oneshot::Sender<()>>,
    /// Executions whose replay failed, and how many times in a row.
    replay_failures: HashMap<String, u32>,
}

impl Shard {
    pub(crate) fn new(engine: Engine, index: usize, rx: mpsc::UnboundedReceiver<Msg>) -> Self {
        let me = engine.inner().shards[index].clone();
        Self {
            engine,
            index,
            rx,
            me,
            runs: HashMap::new(),
            loading: HashMap::new(),
            timers: BTreeSet::new(),
            dirty: Vec::new(),
            committing: false,
            stopping: None,
            replay_failures: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        tracing::debug!(shard = self.index, "shard started");
        loop {
            let next_timer = self.timers.first().map(|t| t.0);
            let sleep = async {
                match next_timer {
                    Some(at) => {
                        let wait = (at - now_ms()).max(0) as u64;
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                msg = self.rx.recv() => {
                    let Some(msg) = msg else { return };
                    self.handle(msg);
                    // Take whatever else is queued: one commit for the whole burst.
                    let mut n = 0;
                    while n < 4096 {
                        match self.rx.try_recv() {
                            Ok(msg) => self.handle(msg),
                            Err(_) => break,
                        }
                        n += 1;
                    }
                }
                () = sleep => self.fire_timers(),
            }
            self.flush();
            if let Some(done) = self.stopping.take() {
                if !self.committing && self.dirty.is_empty() {
                    for (_, mut run) in self.runs.drain() {
                        run.abort_tasks();
                    }
                    let _ = done.send(());
                    return;
                }
                self.stopping = Some(done);
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = now_ms();
        while let Some(first) = self.timers.first().cloned() {
            if first.0 > now {
                break;
            }
            self.timers.remove(&first);
            let (_, arn, id) = first;
            self.input(&arn, Input::TimerFired { id }, None);
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Start { record, role_arn, machine, admission, reply } => {
                self.start(*record, &role_arn, machine, admission, reply)
            }
            Msg::Input { arn, input, inbox } => {
                if let Some(buffer) = self.loading.get_mut(&arn) {
                    buffer.push(Msg::Input { arn, input, inbox });
                } else {
                    self.input(&arn, input, inbox);
                }
            }
            Msg::Adopt { arn } => self.adopt(arn, None),
            Msg::Redrive { arn, count, admission, reply } => {
                self.adopt(arn, Some(Redrive { count, admission, reply }))
            }
            Msg::Replayed { arn, result } => self.replayed(arn, result),
            Msg::Committed { arns, result } => self.committed(arns, result),
            Msg::Shutdown { done } => self.stopping = Some(done),
        }
    }

    fn start(
        &mut self,
        record: ExecutionRecord,
        role_arn: &str,
        machine: Arc<StateMachine>,
        admission: Option<OwnedSemaphorePermit>,
        reply: StartReply,
    ) {
        if self.stopping.is_some() {
            let _ = reply.send(Err(StartError::Failed(Error::ShuttingDown)));
            return;
        }
        if let Some(run) = self.runs.get_mut(&record.arn) {
            // Started twice before the first commit: the same input joins the first start.
            if run.create && run.record.input == record.input {
                run.start_replies.push(reply);
            } else {
                let _ = reply.send(Err(StartError::Exists(record.input)));
            }
            return;
        }
        let input: Value = match serde_json::from_str(&record.input) {
            Ok(v) => v,
            Err(e) => {
                let _ = reply.send(Err(StartError::Failed(Error::Internal(e.to_string()))));
                return;
            }
        };
        let info = info_for(&self.engine, &record, role_arn);
        let seed = uuid::Uuid::new_v4().as_u64_pair().0;
        let options = asl::Options {
            record_history: false,
            random_seed: Some(seed),
            ..self.engine.config().limits.clone()
        };
        let (exec, actions) = Execution::start(machine, info, input, options, record.start_ms);
        let parent = record.parent.as_deref().and_then(ParentRef::decode);
        let mut run = Run {
            exec,
            record,
            parent,
            next_seq: 0,
            pending: Pending::default(),
            inflight: None,
            create: true,
            outstanding: HashMap::new(),
            running: HashMap::new(),
            recent_inbox: VecDeque::new(),
            start_replies: vec![reply],
            ended: false,
            dirty: false,
            transitions: 0,
            events_before: 0,
            _admission: admission,
        };
        run.absorb(actions, false);
        let at = run.record.start_ms;
        let start: StepInput = StepInput::Start { seed: Some(seed) };
        run.record_step(start.encode(), at);
        run.pending.effects.push(Effect::Started);
        let arn = run.record.arn.clone();
        run.count_transitions(&self.engine.inner().metrics);
        self.runs.insert(arn.clone(), run);
        self.mark_dirty(&arn);
    }

    fn input(&mut self, arn: &str, input: Input, inbox: Option<i64>) {
        let Some(run) = self.runs.get_mut(arn) else {
            return;
        };
        if let Some(id) = inbox {
            if run.recent_inbox.contains(&id) {
                return;
            }
            run.recent_inbox.push_back(id);
            if run.recent_inbox.len() > 256 {
                run.recent_inbox.pop_front();
            }
            run.pending.inbox_done.push(id);
        }
        if run.ended {
            // Consume the message all the same, so that it does not come back.
            if inbox.is_some() {
                self.mark_dirty(arn);
            }
            return;
        }
        run.step(input, now_ms(), false);
        run.count_transitions(&self.engine.inner().metrics);
        self.mark_dirty(arn);
    }

    fn mark_dirty(&mut self, arn: &str) {
        if let Some(run) = self.runs.get_mut(arn) {
            if !run.dirty {
                run.dirty = true;
                self.dirty.push(arn.to_owned());
            }
        }
    }

    /// Sends every dirty execution's pending write to the committer, unless a commit of this
    /// shard is in flight (then they go with the next one).
    fn flush(&mut self) {
        if self.committing || self.dirty.is_empty() {
            return;
        }
        let mut writes = Vec::new();
        let mut arns = Vec::new();
        let mut keep = Vec::new();
        for arn in std::mem::take(&mut self.dirty) {
            let Some(run) = self.runs.get_mut(&arn) else { continue };
            if run.inflight.is_some() {
                keep.push(arn);
                continue;
            }
            run.dirty = false;
            if run.pending.is_empty() {
                continue;
            }
            let (write, effects) = run.take_write();
            let status = write.end.as_ref().map(|e| e.status.clone());
            run.inflight = Some((effects, status));
            writes.push(write);
            arns.push(arn);
        }
        self.dirty = keep;
        if writes.is_empty() {
            return;
        }
        self.committing = true;
        let job = CommitJob { writes, arns, reply: self.me.clone() };
        if let Err(e) = self.engine.inner().commits.try_send(job) {
            let job = match e {
                mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
            };
            let commits = self.engine.inner().commits.clone();
            tokio::spawn(async move {
                let reply = job.reply.clone();
                let arns = job.arns.clone();
                if commits.send(job).await.is_err() {
                    let _ =
                        reply.send(Msg::Committed { arns, result: Err("shutting down".into()) });
                }
            });
        }
    }

    fn committed(&mut self, arns: Vec<String>, result: Result<Vec<bool>, String>) {
        self.committing = false;
        let (applied, failed_commit) = match result {
            Ok(applied) => (applied, false),
            Err(e) => {
                tracing::error!(error = %e, "commit failed; the executions will be replayed");
                (vec![false; arns.len()], true)
            }
        };
        for (arn, ok) in arns.into_iter().zip(applied) {
            let Some(mut run) = self.runs.remove(&arn) else { continue };
            let (effects, ended) = run.inflight.take().unwrap_or_default();
            if !ok {
                self.drop_run(run, failed_commit);
                continue;
            }
            run.create = false;
            if let Some(status) = ended {
                self.engine.inner().metrics.ended(&status);
            }
            for effect in effects {
                self.perform(&mut run, effect);
            }
            if run.ended && run.pending.is_empty() {
                run.abort_tasks();
                self.remove_timers(&arn);
                continue;
            }
            let again = !run.pending.is_empty();
            self.runs.insert(arn.clone(), run);
            if again {
                self.mark_dirty(&arn);
            }
        }
    }

    /// Forgets an execution whose write was refused (it exists already, or another node owns
    /// it now) or failed.
    fn drop_run(&mut self, mut run: Run, commit_failed: bool) {
        run.abort_tasks();
        self.remove_timers(&run.record.arn);
        let arn = run.record.arn.clone();
        for reply in run.start_replies.drain(..) {
            let _ = reply.send(Err(if commit_failed {
                StartError::Failed(Error::Internal("the store did not take the write".into()))
            } else {
                StartError::Exists(run.record.input.clone())
            }));
        }
        if commit_failed && !run.create {
            // The durable state is intact: replay it after a pause.
            let me = self.me.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = me.send(Msg::Adopt { arn });
            });
        } else if !run.create {
            tracing::warn!(execution = %arn, "execution is owned by another node now");
        }
    }

    fn remove_timers(&mut self, arn: &str) {
        self.timers.retain(|t| t.1 != arn);
    }

    fn perform(&mut self, run: &mut Run, effect: Effect) {
        let arn = run.record.arn.clone();
        match effect {
            Effect::Started => {
                let started = Started { execution_arn: arn.clone(), start_ms: run.record.start_ms };
                for reply in run.start_replies.drain(..) {
                    let _ = reply.send(Ok(started.clone()));
                }
            }
            Effect::Dispatch(req) => {
                if !run.outstanding.contains_key(&req.id) {
                    return;
                }
                let id = req.id;
                if let Some(h) = tasks::spawn(&self.engine, &arn, req, Sink::Shard(arn.clone())) {
                    run.running.insert(id, h);
                }
            }
            Effect::ArmTimer(id, at) => {
                if run.outstanding.contains_key(&id) {
                    self.timers.insert((at, arn, id));
                }
            }
            Effect::Cancel(id) => {
                if let Some(h) = run.running.remove(&id) {
                    h.abort();
                }
                self.timers.retain(|t| !(t.1 == arn && t.2 == id));
            }
        }
    }

    fn adopt(&mut self, arn: String, redrive: Option<Redrive>) {
        if self.runs.contains_key(&arn) || self.loading.contains_key(&arn) {
            if let Some(Redrive { reply, .. }) = redrive {
                let _ = reply.send(Err(StartError::Failed(Error::ExecutionNotRedrivable(
                    format!("Execution is running: '{arn}'"),
                ))));
            }
            return;
        }
        self.loading.insert(arn.clone(), Vec::new());
        let engine = self.engine.clone();
        let me = self.me.clone();
        tokio::spawn(async move {
            let count = redrive.as_ref().map(|r| r.count);
            let mut result = replay(&engine, &arn, count).await.map(Box::new);
            if let Some(Redrive { reply, admission, .. }) = redrive {
                match &mut result {
                    Ok(run) => {
                        run.start_replies.push(reply);
                        run._admission = Some(admission);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(StartError::Failed(Error::Internal(e.clone()))));
                    }
                }
            }
            let _ = me.send(Msg::Replayed { arn, result });
        });
    }

    fn replayed(&mut self, arn: String, result: Result<Box<Run>, String>) {
        let buffered = self.loading.remove(&arn).unwrap_or_default();
        let mut run = match result {
            Ok(run) => {
                self.replay_failures.remove(&arn);
                *run
            }
            Err(e) => {
                // The store may be down for a while: try again, less and less often. The
                // execution stays this node's, so no other node replays it meanwhile.
                let n = self.replay_failures.entry(arn.clone()).or_insert(0);
                *n += 1;
                let wait = Duration::from_secs((1u64 << (*n).min(6)).min(60));
                tracing::error!(execution = %arn, error = %e, retry_in = ?wait, "cannot resume execution");
                let me = self.me.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = me.send(Msg::Adopt { arn });
                });
                return;
            }
        };
        if run.ended {
            return;
        }
        // Re-arm what the execution waits on; dispatch again the tasks still outstanding
        // (same action id, so the same idempotency key and token). A redrive first commits
        // its step, then does the same.
        let redriving = !run.pending.steps.is_empty();
        let waits: Vec<(ActionId, Outstanding)> =
            run.outstanding.iter().map(|(k, v)| (*k, v.clone())).collect();
        for (id, wait) in waits {
            let effect = match wait {
                Outstanding::Timer(at) => Effect::ArmTimer(id, at),
                Outstanding::Task { req, .. } => Effect::Dispatch(req),
            };
            if redriving {
                run.pending.effects.push(effect);
            } else {
                self.perform(&mut run, effect);
            }
        }
        if redriving {
            run.pending.effects.push(Effect::Started);
        }
        run.count_transitions(&self.engine.inner().metrics);
        self.runs.insert(arn.clone(), run);
        if redriving {
            self.mark_dirty(&arn);
        }
        for msg in buffered {
            self.handle(msg);
        }
    }
}

/// Rebuilds an execution from its steps.
///
/// A redrive step undoes the step before it in the effective log (the one that ended the
/// execution); with `redrive`, a new redrive is made at the end and recorded.
async fn replay(engine: &Engine, arn: &str, redrive: Option<u32>) -> Result<Run, String> {
    let store = engine.store();
    let record = store
        .execution(arn)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the execution is gone".to_owned())?;
    let Log { record, role_arn, machine, steps, seed, input } =
        Log::load(engine, record).await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    // The replay starts as the execution did: before any redrive.
    let info = ExecutionInfo { redrive_count: 0, ..info_for(engine, &record, &role_arn) };
    let options =
        asl::Options { record_history: false, random_seed: seed, ..engine.config().limits.clone() };
    let (exec, actions) = Execution::start(machine, info, input, options, record.start_ms);
    let parent = record.parent.as_deref().and_then(ParentRef::decode);
    let mut run = Run {
        exec,
        events_before: record.event_count,
        next_seq: record.next_seq,
        record,
        parent,
        pending: Pending::default(),
        inflight: None,
        create: false,
        outstanding: HashMap::new(),
        running: HashMap::new(),
        recent_inbox: VecDeque::new(),
        start_replies: Vec::new(),
        ended: false,
        dirty: false,
        transitions: 0,
        // Taken over: work the store has already accepted, never refused. (A redrive's room
        // is added by `Shard::adopt`.)
        _admission: None,
    };
    run.absorb(actions, true);
    let mut effective: Vec<(StepInput, &StepRecord)> = Vec::new();
    for step in steps.iter().skip(1) {
        let input = StepInput::decode(&step.input)?;
        if let StepInput::Redrive { .. } = input {
            effective.pop().ok_or("a redrive with no step to undo")?;
        }
        effective.push((input, step));
    }
    if redrive.is_some() && effective.pop().is_none() {
        return Err("the execution ended in its first step: running it again would end it \
                    the same way"
            .into());
    }
    for (input, step) in effective {
        match input {
            StepInput::Redrive { count } => {
                run.exec.redrive(step.first_event.max(1) as u64 - 1, count, step.at_ms);
                run.record.redrive_count = i64::from(count);
                run.ended = false;
            }
            other => {
                if let Some(input) = other.to_input() {
                    run.step(input, step.at_ms, true);
                }
            }
        }
    }
    if let Some(count) = redrive {
        let at = now_ms();
        run.exec.redrive(run.record.event_count as u64, count, at);
        run.record.redrive_count = i64::from(count);
        let redrive: StepInput = StepInput::Redrive { count };
        run.record_step(redrive.encode(), at);
    }
    tracing::info!(
        execution = %arn,
        steps = steps.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "replayed execution"
    );
    Ok(run)
}

/// The committer: takes every queued job, writes them in one transaction, and reports back.
/// On PostgreSQL as many such transactions run at once as there are shards (at most
/// [`PG_MAX_COMMITS_IN_FLIGHT`]), each on a connection of its own: a commit there waits
/// mostly for round trips and the log flush, not for CPU, and a shard has one job in flight
/// at a time, so two transactions never write one execution. On SQLite one at a time: the
/// writer thread groups whatever comes anyway.
pub(crate) async fn committer(engine: Engine, mut rx: mpsc::Receiver<CommitJob>) {
    let node = engine.config().node_id.clone();
    let lanes = match engine.store().backend() {
        store::Backend::Postgres => engine.inner().shards.len().clamp(1, PG_MAX_COMMITS_IN_FLIGHT),
        store::Backend::Sqlite => 1,
    };
    let room = Arc::new(tokio::sync::Semaphore::new(lanes));
    while let Some(first) = rx.recv().await {
        let Ok(lane) = room.clone().acquire_owned().await else { return };
        let mut jobs = vec![first];
        let mut total = jobs[0].writes.len();
        while total < 4096 {
            match rx.try_recv() {
                Ok(job) => {
                    total += job.writes.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let (engine, node) = (engine.clone(), node.clone());
        tokio::spawn(async move {
            commit_jobs(&engine, &node, jobs).await;
            drop(lane);
        });
    }
}

/// The most group commits a node runs at once on PostgreSQL (the store's pool has 16
/// connections, which the API's reads and the background loops share).
const PG_MAX_COMMITS_IN_FLIGHT: usize = 8;

async fn commit_jobs(engine: &Engine, node: &str, mut jobs: Vec<CommitJob>) {
    let writes: Vec<ExecutionWrite> =
        jobs.iter_mut().flat_map(|j| std::mem::take(&mut j.writes)).collect();
    let (started, count) = (Instant::now(), writes.len());
    let result = engine.store().commit(node, writes).await;
    let m = &engine.inner().metrics;
    m.commit_latency.observe_duration(started.elapsed());
    m.commit_batch.observe(count as f64);
    let mut results = match result {
        Ok(applied) => applied.into_iter().map(Ok).collect::<Vec<_>>(),
        Err(e) => vec![Err(e.to_string()); count],
    };
    for job in jobs {
        let mine: Vec<Result<bool, String>> = results.drain(..job.arns.len()).collect();
        let result = mine.into_iter().collect::<Result<Vec<bool>, String>>();
        let _ = job.reply.send(Msg::Committed { arns: job.arns, result });
    }
}

/// Every how many claims of lapsed owners' executions a claim reads every running execution
/// instead ([`store::Orphans::Sweep`]): for owners that never wrote a heartbeat or whose row
/// is gone (a node that died before its first heartbeat, a write that landed after its
/// node's shutdown handed everything back).
const SWEEP_EVERY: u64 = 60;

/// The node's background loops: heartbeat, takeover of orphans, the inbox, retention.
pub(crate) async fn background(engine: Engine) {
    let config = engine.config().clone();
    let mut stopping = engine.inner().stopping.subscribe();
    let mut heartbeat = tokio::time::interval(config.lease / 4);
    let mut claim = tokio::time::interval(config.claim_every);
    let mut inbox = tokio::time::interval(config.inbox_every);
    let mut purge = tokio::time::interval(Duration::from_secs(3600));
    for i in [&mut heartbeat, &mut claim, &mut inbox, &mut purge] {
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let mut claims: u64 = 0;
    loop {
        tokio::select! {
            _ = stopping.changed() => return,
            _ = heartbeat.tick() => {
                let until = now_ms() + config.lease.as_millis() as i64;
                if let Err(e) = engine.store().heartbeat(&config.node_id, until).await {
                    tracing::warn!(error = %e, "heartbeat failed");
                }
            }
            _ = claim.tick() => {
                claims += 1;
                let which = if claims.is_multiple_of(SWEEP_EVERY) {
                    store::Orphans::Sweep
                } else {
                    store::Orphans::Lapsed
                };
                if let Err(e) = engine.claim(which).await {
                    tracing::warn!(error = %e, "claiming orphaned executions failed");
                }
            }
            _ = inbox.tick() => {
                match engine.store().inbox_for(&config.node_id, 1000).await {
                    Ok(messages) => {
                        for m in messages {
                            match StepInput::decode(&m.message) {
                                Ok(input) => {
                                    if let Some(input) = input.to_input() {
                                        let arn = m.execution_arn.clone();
                                        engine.send(&arn, Msg::Input { arn: m.execution_arn, input, inbox: Some(m.id) });
                                    }
                                }
                                Err(e) => tracing::warn!(error = %e, "unreadable inbox message"),
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reading the inbox failed"),
                }
            }
            _ = purge.tick() => {
                let before = now_ms() - config.retention.as_millis() as i64;
                if let Err(e) = engine.store().purge_finished(before, 10_000).await {
                    tracing::warn!(error = %e, "purging finished executions failed");
                }
            }
        }
    }
}
