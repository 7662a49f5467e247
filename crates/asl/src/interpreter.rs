//! The interpreter: one execution of a state machine, as a pure state machine of its own.
//!
//! [`Execution::start`] and [`Execution::step`] take an input (the start, a task's result, a
//! timer that fired) and the current time, advance every branch of control as far as it can go
//! without the outside world, and return the [`Action`]s for the caller to perform: run a
//! task, start a timer, or report that the execution ended.
//!
//! Branches of control (the root, each Parallel branch, each Map iteration) are *threads*
//! kept in a slab; a thread waiting on a task, a timer or its children is parked, and the
//! input that wakes it names the action it waits on.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::definition::{
    Assign, ChoiceCondition, Dynamic, IoPath, QueryLanguage, ResultPath, State, StateKind,
    StateMachine, Transition, WaitSpec,
};
use crate::error::names;
use crate::history::{not_truncated, payload, History};
use crate::query::{Query, QueryEnv};
use crate::{Env, Failure, Vars};

/// Identifies an action (a task or a timer) so that its completion finds its waiter.
pub type ActionId = u64;

/// Who runs the execution, for the context object and ARNs.
#[derive(Debug, Clone)]
pub struct ExecutionInfo {
    pub execution_arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub state_machine_name: String,
    pub role_arn: String,
    pub region: String,
    pub redrive_count: u32,
}

impl Default for ExecutionInfo {
    fn default() -> Self {
        let account = "123456789012";
        let region = "us-east-1";
        Self {
            execution_arn: format!("arn:aws:states:{region}:{account}:execution:machine:run"),
            name: "run".into(),
            state_machine_arn: format!("arn:aws:states:{region}:{account}:stateMachine:machine"),
            state_machine_name: "machine".into(),
            role_arn: format!("arn:aws:iam::{account}:role/baton"),
            region: region.into(),
            redrive_count: 0,
        }
    }
}

/// Limits and switches of one execution.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keep history events (ids are counted either way).
    pub record_history: bool,
    /// The largest payload a state may produce, in bytes (AWS: 256 KiB).
    pub max_payload_bytes: usize,
    /// Inline Map concurrency when `MaxConcurrency` is 0 (unbounded in AWS; 40 at a time).
    pub default_map_concurrency: usize,
    /// The most history events an execution may have (AWS: 25,000).
    pub max_history_events: u64,
    /// Seeds `States.UUID` and `States.MathRandom` (without a seed of its own): an execution
    /// replayed with the same seed and inputs makes the same values. `None`: the system's.
    pub random_seed: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            record_history: true,
            max_payload_bytes: 256 * 1024,
            default_map_concurrency: 40,
            max_history_events: 25_000,
            random_seed: None,
        }
    }
}

/// A task to run on behalf of the execution.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRequest {
    pub id: ActionId,
    /// The `Resource` of the Task state.
    pub resource: String,
    /// The task's input (after `InputPath` and `Parameters`, or `Arguments`).
    pub input: Value,
    /// The name of the Task state.
    pub state_name: String,
    /// `TimeoutSeconds`, if set (the interpreter times the task out itself).
    pub timeout_seconds: Option<u64>,
    /// `HeartbeatSeconds`, if set.
    pub heartbeat_seconds: Option<u64>,
    /// The task token, for `.waitForTaskToken` resources.
    pub task_token: Option<String>,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded { output: Value },
    Failed { error: Option<String>, cause: Option<String> },
    TimedOut { error: Option<String>, cause: Option<String> },
    Aborted { error: Option<String>, cause: Option<String> },
}

impl Outcome {
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Succeeded { .. } => "SUCCEEDED",
            Self::Failed { .. } => "FAILED",
            Self::TimedOut { .. } => "TIMED_OUT",
            Self::Aborted { .. } => "ABORTED",
        }
    }
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run a task and report [`Input::TaskSucceeded`] or [`Input::TaskFailed`].
    RunTask(TaskRequest),
    /// Report [`Input::TimerFired`] at this time (milliseconds since the epoch).
    StartTimer { id: ActionId, fire_at_millis: i64 },
    /// The task or timer is no longer awaited; the caller may cancel it.
    Cancel { id: ActionId },
    /// The execution ended.
    Finished(Outcome),
}

/// What happened outside.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    TaskSucceeded {
        id: ActionId,
        output: Value,
    },
    TaskFailed {
        id: ActionId,
        error: Option<String>,
        cause: Option<String>,
    },
    TaskHeartbeat {
        id: ActionId,
    },
    TimerFired {
        id: ActionId,
    },
    /// StopExecution.
    Stop {
        error: Option<String>,
        cause: Option<String>,
    },
}

type ThreadId = usize;

#[derive(Debug)]
struct Thread {
    machine: Arc<StateMachine>,
    state: usize,
    /// The raw input of the current state.
    input: Value,
    vars: Vars,
    parent: Option<(ThreadId, usize)>,
    phase: Phase,
    prev_event: u64,
    entered_event: u64,
    /// The event the state's entry followed: AWS links an `EvaluationFailed` event raised
    /// while a state is entered to it.
    entered_prev: u64,
    /// Whether the thread runs an iteration of a Distributed Map: its events belong to a
    /// child execution's history, which this execution does not keep.
    detached: bool,
    entered_time: i64,
    /// Attempts made per retrier of the current state.
    retries: Vec<u32>,
    /// `$$.Map.Item` for an iteration of a Map.
    map_item: Option<(usize, Value)>,
    /// Whether `input` is a state's output that passed the payload size check.
    input_checked: bool,
    /// `input` serialized as its history events show it, when it has been.
    input_payload: Option<String>,
}

#[derive(Debug)]
enum Phase {
    Enter,
    /// Run the state's body again after a retry delay.
    Resume,
    Task(Box<TaskWait>),
    Wait {
        timer: ActionId,
    },
    RetryDelay {
        timer: ActionId,
    },
    Join(Box<Join>),
    Done,
}

#[derive(Debug)]
struct TaskWait {
    action: ActionId,
    timeout_timer: Option<ActionId>,
    heartbeat: Option<(ActionId, u64)>,
    resource: String,
    family: Family,
}

/// The family of history events a task records: AWS names Lambda function and activity
/// tasks' events apart from other tasks' (`LambdaFunctionSucceeded`, `ActivityFailed`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Task,
    Lambda,
    Activity,
}

impl Family {
    fn of(resource: &str, rtype: &str, rname: &str) -> Self {
        if resource.starts_with("arn:aws:lambda:") {
            Self::Lambda
        } else if rtype == "states" && rname.starts_with("activity:") {
            Self::Activity
        } else {
            Self::Task
        }
    }

    /// The event type and details key of a Lambda or activity task's end: `Succeeded`,
    /// `Failed` or `TimedOut`.
    fn end(self, what: &str) -> (&'static str, &'static str) {
        match (self, what) {
            (Self::Lambda, "Succeeded") => {
                ("LambdaFunctionSucceeded", "lambdaFunctionSucceededEventDetails")
            }
            (Self::Lambda, "Failed") => {
                ("LambdaFunctionFailed", "lambdaFunctionFailedEventDetails")
            }
            (Self::Lambda, _) => ("LambdaFunctionTimedOut", "lambdaFunctionTimedOutEventDetails"),
            (_, "Succeeded") => ("ActivitySucceeded", "activitySucceededEventDetails"),
            (_, "Failed") => ("ActivityFailed", "activityFailedEventDetails"),
            (_, _) => ("ActivityTimedOut", "activityTimedOutEventDetails"),
        }
    }
}

#[derive(Debug)]
struct Join {
    map: bool,
    results: Vec<Option<Value>>,
    running: Vec<ThreadId>,
    pending_items: VecDeque<(usize, Value)>,
    max_concurrency: usize,
    failures: usize,
    tolerated_count: Option<u64>,
    tolerated_percentage: Option<f64>,
    /// For a Distributed Map, the id of its `MapRunStarted` event: its iterations run as
    /// child executions, whose events stay out of this history.
    map_run: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
enum Waiter {
    Task(ThreadId),
    TaskTimeout(ThreadId),
    Heartbeat(ThreadId),
    Timer(ThreadId),
    ExecutionTimeout,
}

/// One execution in progress.
#[derive(Debug)]
pub struct Execution {
    info: ExecutionInfo,
    options: Options,
    input: Value,
    /// `$$.Execution.StartTime`, formatted once (for a machine that may read `$$`).
    start_time: String,
    now: i64,
    threads: Vec<Option<Thread>>,
    free: Vec<ThreadId>,
    ready: VecDeque<ThreadId>,
    waits: HashMap<ActionId, Waiter>,
    next_action: ActionId,
    history: History,
    /// The status the execution ended with; the outcome itself went out in
    /// `Action::Finished`, not copied.
    ended: Option<&'static str>,
    actions: Vec<Action>,
    transitions: u64,
    /// The state of the execution's random generator, when it has a seed.
    rng: Option<u64>,
}

/// Where a state's output comes from, relative to the state's raw input: the raw input's size
/// check and history payload stand for the output's when it is the same document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The raw input itself, unchanged.
    Input,
    /// A part of the raw input (its JSON text is no longer than the input's).
    PartOfInput,
    /// Anything else.
    New,
}

impl Origin {
    /// The origin of `v`, selected from `raw` (a value of origin `self`).
    // Whether `v` is borrowed is what it says: a `&Value` would not tell.
    #[allow(clippy::ptr_arg)]
    fn of_selected(self, v: &Cow<'_, Value>, raw: &Value) -> Self {
        match (self, v) {
            (Self::New, _) | (_, Cow::Owned(_)) => Self::New,
            (_, Cow::Borrowed(v)) if std::ptr::eq(*v, raw) => self,
            _ => Self::PartOfInput,
        }
    }
}

/// The result of running a state's body up to its end.
enum Flow {
    /// The state finished with this output and goes on.
    Done { output: Value, assigned: Option<Vars>, next: Transition, origin: Origin },
    /// The state parked the thread (task, timer, children).
    Parked,
    /// The state failed.
    Fail(Failure),
    /// A Fail state ended the thread with this error (not catchable).
    Terminal(Failure),
}

impl Execution {
    /// Starts an execution at time `now` (milliseconds since the epoch).
    pub fn start(
        machine: Arc<StateMachine>,
        info: ExecutionInfo,
        input: Value,
        options: Options,
        now: i64,
    ) -> (Self, Vec<Action>) {
        let mut ex = Self {
            info,
            history: History::new(options.record_history),
            options,
            // `$$.Execution.Input`, kept only for a machine that may read it.
            input: if machine.reads_context { input.clone() } else { Value::Null },
            start_time: if machine.reads_context { iso_millis(now) } else { String::new() },
            now,
            threads: Vec::new(),
            free: Vec::new(),
            ready: VecDeque::new(),
            waits: HashMap::new(),
            next_action: 1,
            ended: None,
            actions: Vec::new(),
            transitions: 0,
            rng: None,
        };
        ex.rng = ex.options.random_seed;
        let role = ex.info.role_arn.clone();
        // The first state's entry shows the same payload.
        let input_s = ex.history.record.then(|| payload_string(&input));
        let started = input_s.clone();
        ex.history.push(0, now, "ExecutionStarted", Some("executionStartedEventDetails"), || {
            let role = Value::String(role);
            details([
                ("input", started.into()),
                ("inputDetails", not_truncated()),
                ("roleArn", role),
            ])
        });
        if let Some(secs) = machine.timeout_seconds {
            let id = ex.new_action(Waiter::ExecutionTimeout);
            ex.actions.push(Action::StartTimer { id, fire_at_millis: now + secs as i64 * 1000 });
        }
        let start = machine.start_at;
        // The first state's entry follows no event (AWS records previousEventId 0 for it).
        let t = ex.spawn(machine, start, input, Vars::new(), None, 0, None);
        ex.th(t).input_payload = input_s;
        ex.ready.push_back(t);
        ex.run_seeded();
        let actions = std::mem::take(&mut ex.actions);
        (ex, actions)
    }

    /// Applies an input at time `now` and returns the actions it leads to.
    pub fn step(&mut self, input: Input, now: i64) -> Vec<Action> {
        self.now = now.max(self.now);
        if self.ended.is_some() {
            return Vec::new();
        }
        match input {
            Input::Stop { error, cause } => {
                let (e, c) = (error.clone(), cause.clone());
                self.history.push(
                    self.history.last_id(),
                    self.now,
                    "ExecutionAborted",
                    Some("executionAbortedEventDetails"),
                    || {
                        let mut d = Map::new();
                        if let Some(e) = e {
                            d.insert("error".into(), Value::String(e));
                        }
                        if let Some(c) = c {
                            d.insert("cause".into(), Value::String(c));
                        }
                        Value::Object(d)
                    },
                );
                self.finish(Outcome::Aborted { error, cause });
            }
            Input::TaskSucceeded { id, output } => {
                if let Some(Waiter::Task(t)) = self.waits.remove(&id) {
                    self.task_done(t, Ok(output));
                }
            }
            Input::TaskFailed { id, error, cause } => {
                if let Some(Waiter::Task(t)) = self.waits.remove(&id) {
                    self.task_done(t, Err(Failure::maybe(error, cause)));
                }
            }
            Input::TaskHeartbeat { id } => {
                if let Some(Waiter::Task(t)) = self.waits.get(&id).copied() {
                    self.heartbeat(t);
                }
            }
            Input::TimerFired { id } => match self.waits.remove(&id) {
                Some(Waiter::Timer(t)) => self.timer_fired(t),
                Some(Waiter::TaskTimeout(t)) => self.task_timed_out(t, names::TIMEOUT),
                Some(Waiter::Heartbeat(t)) => self.task_timed_out(t, names::HEARTBEAT_TIMEOUT),
                Some(Waiter::ExecutionTimeout) => {
                    self.history.push(
                        self.history.last_id(),
                        self.now,
                        "ExecutionTimedOut",
                        Some("executionTimedOutEventDetails"),
                        || json!({"error": names::TIMEOUT}),
                    );
                    self.finish(Outcome::TimedOut { error: None, cause: None });
                }
                _ => {}
            },
        }
        self.run_seeded();
        std::mem::take(&mut self.actions)
    }

    /// Runs the ready threads with the execution's own random generator, if it has one.
    fn run_seeded(&mut self) {
        if self.rng.is_none() {
            return self.run();
        }
        let mut rng = self.rng.take();
        crate::random::with_state(&mut rng, || self.run());
        self.rng = rng;
    }

    /// How the execution ended (`SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`), once it has.
    /// The outcome with its output or error is the payload of the `Action::Finished` that
    /// ended it.
    pub fn status(&self) -> Option<&'static str> {
        self.ended
    }

    /// The history so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Moves the recorded history out.
    pub fn take_history(&mut self) -> History {
        std::mem::take(&mut self.history)
    }

    /// Moves the events recorded so far out, keeping the count of ids: a durable driver
    /// persists each step's events this way.
    pub fn take_events(&mut self) -> Vec<crate::history::HistoryEvent> {
        self.history.take()
    }

    /// Switches the recording of history events on or off from now on. A driver that
    /// rebuilds an execution by replaying its persisted inputs replays without recording,
    /// then records what comes after.
    pub fn set_record_history(&mut self, record: bool) {
        self.history.record = record;
    }

    /// The id of the newest history event.
    pub fn last_event_id(&self) -> u64 {
        self.history.last_id()
    }

    /// Records a redrive (RedriveExecution). The caller has rebuilt the execution up to just
    /// before the step that ended it; event ids go on after `last_event_id`, the id of the
    /// newest persisted event, and `$$.Execution.RedriveCount` becomes `redrive_count`. What
    /// was outstanding at that point (the failed task, timers) is the caller's to perform
    /// again.
    pub fn redrive(&mut self, last_event_id: u64, redrive_count: u32, now: i64) {
        self.now = now.max(self.now);
        self.history.set_last_id(last_event_id);
        self.info.redrive_count = redrive_count;
        self.history.push(
            last_event_id,
            self.now,
            "ExecutionRedriven",
            Some("executionRedrivenEventDetails"),
            || json!({ "redriveCount": redrive_count }),
        );
    }

    /// The execution's context information.
    pub fn info(&self) -> &ExecutionInfo {
        &self.info
    }

    /// State transitions made so far.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    // ----- threads -------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn spawn(
        &mut self,
        machine: Arc<StateMachine>,
        state: usize,
        input: Value,
        vars: Vars,
        parent: Option<(ThreadId, usize)>,
        prev_event: u64,
        map_item: Option<(usize, Value)>,
    ) -> ThreadId {
        let n = machine.states[state].retry.len();
        let detached = parent.is_some_and(|(p, _)| self.th(p).detached);
        let t = Thread {
            machine,
            state,
            input,
            vars,
            parent,
            phase: Phase::Enter,
            prev_event,
            entered_event: 0,
            entered_prev: prev_event,
            detached,
            entered_time: self.now,
            retries: vec![0; n],
            map_item,
            input_checked: false,
            input_payload: None,
        };
        match self.free.pop() {
            Some(id) => {
                self.threads[id] = Some(t);
                id
            }
            None => {
                self.threads.push(Some(t));
                self.threads.len() - 1
            }
        }
    }

    fn raw(&self, t: ThreadId) -> Value {
        self.raw_ref(t).clone()
    }

    /// The raw input of thread `t`'s current state.
    fn raw_ref(&self, t: ThreadId) -> &Value {
        &self.threads[t].as_ref().expect("live thread").input
    }

    fn th(&mut self, t: ThreadId) -> &mut Thread {
        self.threads[t].as_mut().expect("live thread")
    }

    fn new_action(&mut self, w: Waiter) -> ActionId {
        let id = self.next_action;
        self.next_action += 1;
        self.waits.insert(id, w);
        id
    }

    fn event(
        &mut self,
        t: ThreadId,
        kind: &'static str,
        key: Option<&'static str>,
        details: impl FnOnce() -> Value,
    ) -> u64 {
        let th = self.th(t);
        if th.detached {
            return th.prev_event;
        }
        let prev = th.prev_event;
        let id = self.history.push(prev, self.now, kind, key, details);
        self.th(t).prev_event = id;
        id
    }

    fn run(&mut self) {
        while let Some(t) = self.ready.pop_front() {
            if self.ended.is_some() {
                self.ready.clear();
                return;
            }
            if self.options.max_history_events > 0
                && self.history.last_id() >= self.options.max_history_events
            {
                let limit = self.options.max_history_events;
                let f = Failure::runtime(format!(
                    "The execution reached the maximum number of history events ({limit})."
                ));
                let prev = self.history.last_id();
                let (e, c) = (f.error.clone(), f.cause.clone());
                self.history.push(
                    prev,
                    self.now,
                    "ExecutionFailed",
                    Some("executionFailedEventDetails"),
                    || error_details(e, c, None),
                );
                self.finish(Outcome::Failed { error: f.error, cause: f.cause });
                return;
            }
            if self.threads.get(t).is_some_and(Option::is_some) {
                self.advance(t);
            }
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        for id in self.waits.keys().copied().collect::<Vec<_>>() {
            self.actions.push(Action::Cancel { id });
        }
        self.waits.clear();
        self.ready.clear();
        self.ended = Some(outcome.status());
        self.actions.push(Action::Finished(outcome));
    }

    // ----- the context object --------------------------------------------------------------

    fn context(&self, t: &Thread, with_item: bool, token: Option<&str>) -> Value {
        let state = &t.machine.states[t.state];
        let mut c = Map::new();
        c.insert(
            "Execution".into(),
            json!({
                "Id": self.info.execution_arn,
                "Input": self.input,
                "Name": self.info.name,
                "RoleArn": self.info.role_arn,
                "StartTime": self.start_time,
                "RedriveCount": self.info.redrive_count,
            }),
        );
        let mut st = json!({"EnteredTime": iso_millis(t.entered_time), "Name": state.name});
        if matches!(state.kind, StateKind::Task(_)) {
            st["RetryCount"] = json!(t.retries.iter().sum::<u32>());
        }
        c.insert("State".into(), st);
        c.insert(
            "StateMachine".into(),
            json!({"Id": self.info.state_machine_arn, "Name": self.info.state_machine_name}),
        );
        if let Some(token) = token {
            c.insert("Task".into(), json!({ "Token": token }));
        }
        if with_item {
            if let Some((i, v)) = &t.map_item {
                c.insert("Map".into(), json!({"Item": {"Index": i, "Value": v}}));
            }
        }
        Value::Object(c)
    }

    /// The context object for an expression that reads it (`reads`), null for one that
    /// does not.
    fn context_if(&self, t: &Thread, reads: bool) -> Value {
        if reads {
            self.context(t, false, None)
        } else {
            Value::Null
        }
    }

    // ----- running a state -----------------------------------------------------------------

    fn advance(&mut self, t: ThreadId) {
        let now = self.now;
        let record = self.history.record;
        let th = self.th(t);
        let machine = th.machine.clone();
        let state = &machine.states[th.state];
        if matches!(th.phase, Phase::Enter) {
            th.entered_time = now;
            th.entered_prev = th.prev_event;
            // The previous state's exit (or the execution's start) may have serialized the
            // input already; the state's exit reuses the string when its output is the input.
            let cached = th.input_payload.take();
            let input_s = record.then(|| cached.unwrap_or_else(|| payload_string(&th.input)));
            th.input_payload = input_s.clone();
            let id = self.event(t, state.entered_event(), Some("stateEnteredEventDetails"), || {
                let name = Value::String(state.name.clone());
                details([
                    ("input", input_s.into()),
                    ("inputDetails", not_truncated()),
                    ("name", name),
                ])
            });
            self.th(t).entered_event = id;
        }
        self.th(t).phase = Phase::Done;
        let flow = self.body(t, state);
        self.after(t, state, flow);
    }

    fn after(&mut self, t: ThreadId, state: &State, flow: Flow) {
        match flow {
            Flow::Parked => {}
            Flow::Done { output, assigned, next, origin } => {
                self.exit_state(t, state, output, assigned, next, origin)
            }
            Flow::Fail(f) => self.handle_failure(t, state, f),
            Flow::Terminal(f) => self.thread_failed(t, f),
        }
    }

    fn runtime_error(&mut self, t: ThreadId, f: Failure) -> Failure {
        let th = self.th(t);
        let name = th.machine.states[th.state].name.clone();
        let entered = th.entered_event;
        Failure {
            cause: Some(format!(
                "An error occurred while executing the state '{name}' (entered at the event id #{entered}). {}",
                f.cause.unwrap_or_default()
            )),
            ..f
        }
    }

    fn body(&mut self, t: ThreadId, state: &State) -> Flow {
        match self.body_inner(t, state) {
            Ok(flow) => flow,
            Err(f) => self.state_error(t, state, f),
        }
    }

    /// The flow of a state whose processing failed: the failure with the state's cause
    /// prefix, after its `EvaluationFailed` event if a JSONata evaluation failed.
    fn state_error(&mut self, t: ThreadId, state: &State, f: Failure) -> Flow {
        let f = self.runtime_error(t, f);
        self.evaluation_failed(t, state, &f);
        Flow::Fail(f)
    }

    /// Records the `EvaluationFailed` event of a JSONata evaluation that failed in a state,
    /// and a Map state's `MapStateFailed` after it.
    fn evaluation_failed(&mut self, t: ThreadId, state: &State, f: &Failure) {
        if f.error.as_deref() != Some(names::QUERY_EVALUATION_ERROR) {
            return;
        }
        let th = self.th(t);
        // A failure while the state is being entered follows the event before its entry,
        // except a Wait state's: AWS evaluates its Timestamp or Seconds once entered.
        let on_entry = th.prev_event == th.entered_event;
        if on_entry && !matches!(state.kind, StateKind::Wait(_)) {
            th.prev_event = th.entered_prev;
        }
        let (error, cause, location) = (f.error.clone(), f.cause.clone(), f.location.clone());
        let name = state.name.clone();
        self.event(t, "EvaluationFailed", Some("evaluationFailedEventDetails"), || {
            let mut d = error_details(error, cause, None);
            if let Some(l) = location {
                d["location"] = Value::String(l);
            }
            d["state"] = Value::String(name);
            d
        });
        if on_entry && matches!(state.kind, StateKind::Map(_)) {
            self.event(t, "MapStateFailed", None, || Value::Null);
        }
    }

    fn body_inner(&mut self, t: ThreadId, state: &State) -> Result<Flow, Failure> {
        let jsonata = state.language == QueryLanguage::Jsonata;
        match &state.kind {
            StateKind::Pass { result } => {
                if jsonata {
                    let raw = self.raw(t);
                    let (out, origin) = match result {
                        Some(r) => (r.clone(), Origin::New),
                        None => (raw.clone(), Origin::Input),
                    };
                    return self.finish_jsonata(
                        t,
                        state,
                        &raw,
                        Some(&out),
                        None,
                        out.clone(),
                        origin,
                    );
                }
                // The effective input is made even with a `Result`: its paths may fail.
                let eff = self.effective_input(t, state)?;
                let (result, origin) = match result {
                    Some(r) => (r.clone(), Origin::New),
                    None => {
                        let origin = Origin::Input.of_selected(&eff, self.raw_ref(t));
                        let result = match detach(eff, self.raw_ref(t)) {
                            Some(eff) => eff,
                            // The whole raw input passes on; unless a `ResultPath` puts it
                            // into the raw input, nothing reads the raw input after it.
                            None => {
                                let last = matches!(state.result_path, ResultPath::Replace);
                                self.own_input(t, last)
                            }
                        };
                        (result, origin)
                    }
                };
                self.finish_jsonpath(t, state, result, origin)
            }
            StateKind::Succeed => {
                if jsonata {
                    let raw = self.raw(t);
                    let out = raw.clone();
                    return self.finish_jsonata(t, state, &raw, None, None, out, Origin::Input);
                }
                let raw = self.raw_ref(t);
                let eff = self.select_io(t, &state.input_path, raw)?;
                let origin = Origin::Input.of_selected(&eff, raw);
                let eff = detach(eff, raw);
                // The thread ends here: its raw input is not read again.
                let eff = eff.unwrap_or_else(|| self.own_input(t, true));
                let (output, origin) = self.apply_output(t, &state.output_path, eff, origin)?;
                Ok(Flow::Done { output, assigned: None, next: Transition::End, origin })
            }
            StateKind::Fail { error, cause } => {
                let error = self.dynamic_string(t, error.as_ref(), "Error")?;
                let cause = self.dynamic_string(t, cause.as_ref(), "Cause")?;
                Ok(Flow::Terminal(Failure::maybe(error, cause)))
            }
            StateKind::Choice { choices, default } => self.choice(t, state, choices, *default),
            StateKind::Wait(spec) => {
                let eff = if jsonata {
                    self.raw(t)
                } else {
                    self.apply_io(t, &state.input_path, self.raw(t))?
                };
                let fire_at = self.wait_deadline(t, spec, &eff)?;
                let timer = self.new_action(Waiter::Timer(t));
                self.actions.push(Action::StartTimer { id: timer, fire_at_millis: fire_at });
                self.th(t).phase = Phase::Wait { timer };
                Ok(Flow::Parked)
            }
            StateKind::Task(spec) => {
                let task_input = if jsonata {
                    match &state.arguments {
                        Some(q) => self.eval_query(t, q, None, None, "Arguments")?,
                        None => self.raw(t),
                    }
                } else {
                    let eff = self.apply_io(t, &state.input_path, self.raw(t))?;
                    let token = spec
                        .resource
                        .ends_with(".waitForTaskToken")
                        .then(|| self.task_token(self.next_action));
                    let input = match &state.parameters {
                        Some(p) => {
                            let th = self.threads[t].as_ref().unwrap();
                            let ctx = if p.reads_context() {
                                self.context(th, false, token.as_deref())
                            } else {
                                Value::Null
                            };
                            p.evaluate(&Env { input: &eff, context: &ctx, vars: &th.vars })?
                        }
                        None => eff,
                    };
                    input
                };
                let timeout =
                    self.dynamic_u64(t, spec.timeout_seconds.as_ref(), "TimeoutSeconds")?;
                let heartbeat =
                    self.dynamic_u64(t, spec.heartbeat_seconds.as_ref(), "HeartbeatSeconds")?;
                self.schedule_task(t, state, &spec.resource, task_input, timeout, heartbeat);
                Ok(Flow::Parked)
            }
            StateKind::Parallel { branches } => {
                let eff = if jsonata {
                    match &state.arguments {
                        Some(q) => self.eval_query(t, q, None, None, "Arguments")?,
                        None => self.raw(t),
                    }
                } else {
                    let eff = self.apply_io(t, &state.input_path, self.raw(t))?;
                    self.apply_parameters(t, state, eff)?
                };
                self.event(t, "ParallelStateStarted", None, || Value::Null);
                let started = self.th(t).prev_event;
                let vars = self.th(t).vars.clone();
                let mut running = Vec::with_capacity(branches.len());
                for (i, b) in branches.iter().enumerate() {
                    let c = self.spawn(
                        b.clone(),
                        b.start_at,
                        eff.clone(),
                        vars.clone(),
                        Some((t, i)),
                        started,
                        None,
                    );
                    running.push(c);
                    self.ready.push_back(c);
                }
                self.th(t).phase = Phase::Join(Box::new(Join {
                    map: false,
                    results: vec![None; branches.len()],
                    running,
                    pending_items: VecDeque::new(),
                    max_concurrency: usize::MAX,
                    failures: 0,
                    tolerated_count: None,
                    tolerated_percentage: None,
                    map_run: None,
                }));
                if branches.is_empty() {
                    return Ok(self.join_complete(t, state));
                }
                Ok(Flow::Parked)
            }
            StateKind::Map(spec) => self.start_map(t, state, spec),
        }
    }

    /// The token of a `.waitForTaskToken` task: the execution and the task's action id.
    fn task_token(&self, action: ActionId) -> String {
        format!("{}#{}", self.info.execution_arn, action)
    }

    fn schedule_task(
        &mut self,
        t: ThreadId,
        state: &State,
        resource: &str,
        task_input: Value,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
    ) {
        let (rtype, rname) = resource_parts(resource);
        let family = Family::of(resource, &rtype, &rname);
        let region = self.info.region.clone();
        if self.history.record {
            let input_s = payload(&task_input);
            if family == Family::Activity {
                let r = resource.to_owned();
                self.event(t, "ActivityScheduled", Some("activityScheduledEventDetails"), || {
                    let mut d =
                        json!({"input": input_s, "inputDetails": not_truncated(), "resource": r});
                    if let Some(s) = timeout {
                        d["timeoutInSeconds"] = json!(s);
                    }
                    if let Some(s) = heartbeat {
                        d["heartbeatInSeconds"] = json!(s);
                    }
                    d
                });
                self.event(t, "ActivityStarted", Some("activityStartedEventDetails"), || json!({}));
            } else if family == Family::Lambda {
                let r = resource.to_owned();
                self.event(t, "LambdaFunctionScheduled", Some("lambdaFunctionScheduledEventDetails"), || {
                    let mut d = json!({"input": input_s, "inputDetails": not_truncated(), "resource": r});
                    if let Some(s) = timeout {
                        d["timeoutInSeconds"] = json!(s);
                    }
                    d
                });
                self.event(t, "LambdaFunctionStarted", None, || Value::Null);
            } else {
                let (rt, rn) = (rtype.clone(), rname.clone());
                self.event(t, "TaskScheduled", Some("taskScheduledEventDetails"), || {
                    let mut d = json!({"parameters": input_s, "region": region, "resource": rn, "resourceType": rt});
                    if let Some(s) = timeout {
                        d["timeoutInSeconds"] = json!(s);
                    }
                    if let Some(s) = heartbeat {
                        d["heartbeatInSeconds"] = json!(s);
                    }
                    d
                });
                let (rt, rn) = (rtype, rname);
                self.event(
                    t,
                    "TaskStarted",
                    Some("taskStartedEventDetails"),
                    || json!({"resource": rn, "resourceType": rt}),
                );
            }
        } else {
            self.event(t, "", None, || Value::Null);
            self.event(t, "", None, || Value::Null);
        }
        let action = self.new_action(Waiter::Task(t));
        let timeout_timer = timeout.map(|s| {
            let id = self.new_action(Waiter::TaskTimeout(t));
            self.actions
                .push(Action::StartTimer { id, fire_at_millis: self.now + s as i64 * 1000 });
            id
        });
        let hb = heartbeat.map(|s| {
            let id = self.new_action(Waiter::Heartbeat(t));
            self.actions
                .push(Action::StartTimer { id, fire_at_millis: self.now + s as i64 * 1000 });
            (id, s)
        });
        let token = resource.ends_with(".waitForTaskToken").then(|| self.task_token(action));
        self.actions.push(Action::RunTask(TaskRequest {
            id: action,
            resource: resource.to_owned(),
            input: task_input,
            state_name: state.name.clone(),
            timeout_seconds: timeout,
            heartbeat_seconds: heartbeat,
            task_token: token,
        }));
        self.th(t).phase = Phase::Task(Box::new(TaskWait {
            action,
            timeout_timer,
            heartbeat: hb,
            resource: resource.to_owned(),
            family,
        }));
    }

    fn clear_task_timers(&mut self, w: &TaskWait) {
        if let Some(id) = w.timeout_timer {
            self.waits.remove(&id);
            self.actions.push(Action::Cancel { id });
        }
        if let Some((id, _)) = w.heartbeat {
            self.waits.remove(&id);
            self.actions.push(Action::Cancel { id });
        }
    }

    fn task_done(&mut self, t: ThreadId, result: Result<Value, Failure>) {
        let Phase::Task(w) = std::mem::replace(&mut self.th(t).phase, Phase::Done) else { return };
        self.clear_task_timers(&w);
        let (rtype, rname) = resource_parts(&w.resource);
        let machine = self.th(t).machine.clone();
        let state = &machine.states[self.th(t).state];
        match result {
            Ok(output) => {
                if self.history.record {
                    let out = payload(&output);
                    if w.family != Family::Task {
                        let (kind, key) = w.family.end("Succeeded");
                        self.event(
                            t,
                            kind,
                            Some(key),
                            || json!({"output": out, "outputDetails": not_truncated()}),
                        );
                    } else {
                        self.event(t, "TaskSucceeded", Some("taskSucceededEventDetails"), || {
                            json!({"output": out, "outputDetails": not_truncated(), "resource": rname, "resourceType": rtype})
                        });
                    }
                } else {
                    self.event(t, "", None, || Value::Null);
                }
                let flow = self.task_result(t, state, output);
                self.after(t, state, flow);
            }
            Err(f) => {
                let (e, c) = (f.error.clone(), f.cause.clone());
                if w.family != Family::Task {
                    let (kind, key) = w.family.end("Failed");
                    self.event(t, kind, Some(key), || error_details(e, c, None));
                } else {
                    self.event(t, "TaskFailed", Some("taskFailedEventDetails"), || {
                        error_details(e, c, Some((rname, rtype)))
                    });
                }
                self.handle_failure(t, state, f);
            }
        }
    }

    fn task_result(&mut self, t: ThreadId, state: &State, output: Value) -> Flow {
        let r = if state.language == QueryLanguage::Jsonata {
            let raw = self.raw(t);
            self.finish_jsonata(t, state, &raw, Some(&output), None, output.clone(), Origin::New)
        } else {
            self.finish_jsonpath(t, state, output, Origin::New)
        };
        r.unwrap_or_else(|f| self.state_error(t, state, f))
    }

    fn heartbeat(&mut self, t: ThreadId) {
        let now = self.now;
        let hb = match &self.th(t).phase {
            Phase::Task(w) => w.heartbeat,
            _ => None,
        };
        if let Some((old, secs)) = hb {
            self.waits.remove(&old);
            self.actions.push(Action::Cancel { id: old });
            let id = self.new_action(Waiter::Heartbeat(t));
            self.actions.push(Action::StartTimer { id, fire_at_millis: now + secs as i64 * 1000 });
            if let Phase::Task(w) = &mut self.th(t).phase {
                w.heartbeat = Some((id, secs));
            }
        }
    }

    fn task_timed_out(&mut self, t: ThreadId, error: &str) {
        let Phase::Task(w) = std::mem::replace(&mut self.th(t).phase, Phase::Done) else { return };
        self.waits.remove(&w.action);
        self.actions.push(Action::Cancel { id: w.action });
        self.clear_task_timers(&w);
        let (rtype, rname) = resource_parts(&w.resource);
        let err = error.to_owned();
        if w.family != Family::Task {
            let (kind, key) = w.family.end("TimedOut");
            self.event(t, kind, Some(key), || json!({ "error": err }));
        } else {
            self.event(
                t,
                "TaskTimedOut",
                Some("taskTimedOutEventDetails"),
                || json!({"error": err, "resource": rname, "resourceType": rtype}),
            );
        }
        let machine = self.th(t).machine.clone();
        let state = &machine.states[self.th(t).state];
        self.handle_failure(t, state, Failure::maybe(Some(error.to_owned()), None));
    }

    fn timer_fired(&mut self, t: ThreadId) {
        match std::mem::replace(&mut self.th(t).phase, Phase::Done) {
            Phase::Wait { .. } => {
                let machine = self.th(t).machine.clone();
                let state = &machine.states[self.th(t).state];
                let flow = if state.language == QueryLanguage::Jsonata {
                    let raw = self.raw(t);
                    self.finish_jsonata(t, state, &raw, None, None, raw.clone(), Origin::Input)
                } else {
                    self.apply_io(t, &state.input_path, self.raw(t)).and_then(|eff| {
                        let assigned = self.assign_jsonpath(t, state, &eff)?;
                        let out = self.apply_io(t, &state.output_path, eff)?;
                        let (next, origin) = (state.transition, Origin::New);
                        Ok(Flow::Done { output: out, assigned, next, origin })
                    })
                };
                let flow = flow.unwrap_or_else(|f| self.state_error(t, state, f));
                self.after(t, state, flow);
            }
            Phase::RetryDelay { .. } => {
                self.th(t).phase = Phase::Resume;
                self.ready.push_back(t);
            }
            other => self.th(t).phase = other,
        }
    }

    // ----- input and output processing -----------------------------------------------------

    fn apply_io(&self, t: ThreadId, p: &IoPath, v: Value) -> Result<Value, Failure> {
        match p {
            IoPath::Identity => Ok(v),
            _ => self.select_io(t, p, &v).map(Cow::into_owned),
        }
    }

    /// Applies an `InputPath` or `OutputPath` to `v` without copying what it selects when it
    /// can: the identity and a definite path on the input borrow from `v`.
    fn select_io<'v>(
        &self,
        t: ThreadId,
        p: &IoPath,
        v: &'v Value,
    ) -> Result<Cow<'v, Value>, Failure> {
        match p {
            IoPath::Identity => Ok(Cow::Borrowed(v)),
            IoPath::Empty => Ok(Cow::Owned(Value::Object(Map::new()))),
            // A path on the input reads neither `$$` nor variables: no context to build.
            IoPath::Path(path) if path.reads_input() => {
                path.lookup_in(v).map_err(|miss| Failure::runtime(path.invalid_path_cause(&miss)))
            }
            IoPath::Path(path) => {
                let th = self.threads[t].as_ref().expect("live thread");
                let ctx = self.context_if(th, path.is_context_path());
                path.select_or_fail(&Env { input: v, context: &ctx, vars: &th.vars })
                    .map(Cow::Owned)
            }
        }
    }

    /// The effective input of a JSONPath state (`InputPath`, then `Parameters`), borrowed
    /// from the thread's raw input when neither makes a new value.
    fn effective_input(&self, t: ThreadId, state: &State) -> Result<Cow<'_, Value>, Failure> {
        let th = self.threads[t].as_ref().expect("live thread");
        let eff = self.select_io(t, &state.input_path, &th.input)?;
        match &state.parameters {
            Some(p) => {
                let ctx = self.context_if(th, p.reads_context());
                p.evaluate(&Env { input: &eff, context: &ctx, vars: &th.vars }).map(Cow::Owned)
            }
            None => Ok(eff),
        }
    }

    /// The raw input of thread `t` as an owned value, moved out of the thread when `last_use`
    /// says nothing reads it again (the state's output replaces it), copied otherwise.
    fn own_input(&mut self, t: ThreadId, last_use: bool) -> Value {
        if last_use {
            std::mem::take(&mut self.th(t).input)
        } else {
            self.raw(t)
        }
    }

    fn apply_parameters(&self, t: ThreadId, state: &State, eff: Value) -> Result<Value, Failure> {
        match &state.parameters {
            Some(p) => {
                let th = self.threads[t].as_ref().unwrap();
                let ctx = self.context_if(th, p.reads_context());
                p.evaluate(&Env { input: &eff, context: &ctx, vars: &th.vars })
            }
            None => Ok(eff),
        }
    }

    /// ResultSelector, Assign, ResultPath, OutputPath: the end of a JSONPath state with a result.
    fn finish_jsonpath(
        &mut self,
        t: ThreadId,
        state: &State,
        result: Value,
        origin: Origin,
    ) -> Result<Flow, Failure> {
        let (result, origin) = match &state.result_selector {
            Some(sel) => {
                let th = self.threads[t].as_ref().unwrap();
                let ctx = self.context_if(th, sel.reads_context());
                (sel.evaluate(&Env { input: &result, context: &ctx, vars: &th.vars })?, Origin::New)
            }
            None => (result, origin),
        };
        let assigned = self.assign_jsonpath(t, state, &result)?;
        let raw = match &state.result_path {
            // A path may not apply to the input (States.ResultPathMatchFailure), and a
            // Catch then applies its own ResultPath to the input as it was.
            ResultPath::Path(_) => self.threads[t].as_ref().unwrap().input.clone(),
            ResultPath::Replace | ResultPath::Discard => std::mem::take(&mut self.th(t).input),
        };
        let origin = match &state.result_path {
            ResultPath::Replace => origin,
            ResultPath::Discard => Origin::Input,
            ResultPath::Path(_) => Origin::New,
        };
        let combined = apply_result_path(&state.result_path, raw, result)?;
        let (output, origin) = self.apply_output(t, &state.output_path, combined, origin)?;
        Ok(Flow::Done { output, assigned, next: state.transition, origin })
    }

    /// Applies an `OutputPath` to `v`, a value of origin `origin`: the output and its origin.
    fn apply_output(
        &self,
        t: ThreadId,
        p: &IoPath,
        v: Value,
        origin: Origin,
    ) -> Result<(Value, Origin), Failure> {
        match p {
            IoPath::Identity => Ok((v, origin)),
            _ => {
                let selected = self.select_io(t, p, &v)?;
                let origin = origin.of_selected(&selected, &v);
                Ok((selected.into_owned(), origin))
            }
        }
    }

    fn assign_jsonpath(
        &self,
        t: ThreadId,
        state: &State,
        subject: &Value,
    ) -> Result<Option<Vars>, Failure> {
        self.assign_with(t, state.assign.as_ref(), subject, None, None)
    }

    fn assign_with(
        &self,
        t: ThreadId,
        assign: Option<&Assign>,
        subject: &Value,
        result: Option<&Value>,
        error_output: Option<&Value>,
    ) -> Result<Option<Vars>, Failure> {
        let Some(assign) = assign else { return Ok(None) };
        let th = self.threads[t].as_ref().unwrap();
        let reads = match assign {
            Assign::Template(tpl) => tpl.reads_context(),
            Assign::Query(_) => true,
        };
        let ctx = self.context_if(th, reads);
        let v = match assign {
            Assign::Template(tpl) => {
                tpl.evaluate(&Env { input: subject, context: &ctx, vars: &th.vars })?
            }
            Assign::Query(q) => {
                let env = QueryEnv {
                    input: subject,
                    result,
                    error_output,
                    context: &ctx,
                    vars: &th.vars,
                    now_millis: self.now,
                };
                q.evaluate(&env, "Assign")?
            }
        };
        match v {
            Value::Object(m) => Ok(Some(m)),
            _ => Ok(None),
        }
    }

    /// Assign and Output of a JSONata state.
    #[allow(clippy::too_many_arguments)]
    fn finish_jsonata(
        &mut self,
        t: ThreadId,
        state: &State,
        raw: &Value,
        result: Option<&Value>,
        error_output: Option<&Value>,
        default_output: Value,
        default_origin: Origin,
    ) -> Result<Flow, Failure> {
        let assigned = self.assign_with(t, state.assign.as_ref(), raw, result, error_output)?;
        let (output, origin) = match &state.output {
            Some(q) => (self.eval_query(t, q, result, error_output, "Output")?, Origin::New),
            None => (default_output, default_origin),
        };
        Ok(Flow::Done { output, assigned, next: state.transition, origin })
    }

    fn eval_query(
        &self,
        t: ThreadId,
        q: &Query,
        result: Option<&Value>,
        error_output: Option<&Value>,
        field: &str,
    ) -> Result<Value, Failure> {
        self.with_query_env(t, result, error_output, |env| q.evaluate(env, field))
    }

    /// Runs `f` with what a JSONata expression of thread `t`'s state sees.
    fn with_query_env<R>(
        &self,
        t: ThreadId,
        result: Option<&Value>,
        error_output: Option<&Value>,
        f: impl FnOnce(&QueryEnv<'_>) -> R,
    ) -> R {
        let th = self.threads[t].as_ref().unwrap();
        let ctx = self.context(th, false, None);
        f(&QueryEnv {
            input: &th.input,
            result,
            error_output,
            context: &ctx,
            vars: &th.vars,
            now_millis: self.now,
        })
    }

    fn eval_query_optional(
        &self,
        t: ThreadId,
        q: &Query,
        field: &str,
    ) -> Result<Option<Value>, Failure> {
        self.with_query_env(t, None, None, |env| q.evaluate_optional(env, field))
    }

    fn select_path(&self, t: ThreadId, p: &crate::path::Path, input: &Value) -> Option<Value> {
        let th = self.threads[t].as_ref().unwrap();
        let ctx = self.context_if(th, p.is_context_path());
        p.select(&Env { input, context: &ctx, vars: &th.vars })
    }

    fn dynamic_string(
        &self,
        t: ThreadId,
        d: Option<&Dynamic<String>>,
        field: &str,
    ) -> Result<Option<String>, Failure> {
        Ok(match d {
            None => None,
            Some(Dynamic::Fixed(s)) => Some(s.clone()),
            Some(Dynamic::Path(p)) => {
                let input = self.raw(t);
                match self.select_path(t, p, &input) {
                    Some(Value::String(s)) => Some(s),
                    Some(other) => Some(other.to_string()),
                    None => {
                        return Err(Failure::runtime(
                            p.not_found_cause(&format!("{field}Path"), &input),
                        ))
                    }
                }
            }
            Some(Dynamic::Query(q)) => match self.eval_query_optional(t, q, field)? {
                Some(Value::String(s)) => Some(s),
                Some(other) => Some(other.to_string()),
                None => None,
            },
        })
    }

    fn dynamic_u64(
        &self,
        t: ThreadId,
        d: Option<&Dynamic<u64>>,
        field: &str,
    ) -> Result<Option<u64>, Failure> {
        Ok(match d {
            None => None,
            Some(Dynamic::Fixed(n)) => Some(*n),
            Some(Dynamic::Path(p)) => {
                let input = self.threads[t].as_ref().unwrap().input.clone();
                let v = self.select_path(t, p, &input);
                match v.as_ref().and_then(Value::as_u64) {
                    Some(n) => Some(n),
                    None => {
                        return Err(Failure::runtime(format!(
                            "The {field}Path parameter does not reference a valid positive integer: {} == {}",
                            p.text(),
                            v.map(|v| v.to_string()).unwrap_or_else(|| "null".into())
                        )))
                    }
                }
            }
            Some(Dynamic::Query(q)) => {
                let v = self.eval_query(t, q, None, None, field)?;
                match v.as_u64() {
                    Some(n) => Some(n),
                    None => return Err(unexpected_type(q, field, "integer", &v)),
                }
            }
        })
    }

    fn wait_deadline(&self, t: ThreadId, spec: &WaitSpec, eff: &Value) -> Result<i64, Failure> {
        match spec {
            WaitSpec::Seconds(Dynamic::Fixed(s)) => Ok(self.now + s * 1000),
            WaitSpec::Seconds(Dynamic::Path(p)) => {
                let v = self.select_path(t, p, eff);
                let text = p.text();
                match v {
                    Some(Value::Number(n)) => {
                        if let Some(i) = n.as_i64() {
                            if i < 0 {
                                return Err(Failure::runtime(format!(
                                    "The SecondsPath parameter references a negative value: {text} == {i}"
                                )));
                            }
                            Ok(self.now + i * 1000)
                        } else {
                            Err(Failure::runtime(format!(
                                "The SecondsPath parameter cannot be parsed as a long value: {text} == {n}"
                            )))
                        }
                    }
                    Some(other) => Err(Failure::runtime(format!(
                        "The SecondsPath parameter cannot be parsed as a long value: {text} == {}",
                        display_plain(&other)
                    ))),
                    None => Err(Failure::runtime(format!(
                        "The SecondsPath parameter does not reference an input value: {text}"
                    ))),
                }
            }
            WaitSpec::Seconds(Dynamic::Query(q)) => {
                let v = self.eval_query(t, q, None, None, "Seconds")?;
                match v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)) {
                    Some(i) if i >= 0 => Ok(self.now + i * 1000),
                    _ => Err(unexpected_type(q, "Seconds", "integer", &v)),
                }
            }
            WaitSpec::Timestamp(Dynamic::Fixed(s)) => parse_timestamp(s).ok_or_else(|| {
                Failure::runtime(format!(
                    "The Timestamp parameter does not reference a valid ISO-8601 extended offset date-time format string: {s}"
                ))
            }),
            WaitSpec::Timestamp(Dynamic::Path(p)) => {
                let v = self.select_path(t, p, eff);
                let text = p.text();
                match v {
                    Some(Value::String(s)) => parse_timestamp(&s).ok_or_else(|| {
                        Failure::runtime(format!(
                            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {text} == {s}"
                        ))
                    }),
                    Some(other) => Err(Failure::runtime(format!(
                        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {text} == {}",
                        display_plain(&other)
                    ))),
                    None => Err(Failure::runtime(format!(
                        "The TimestampPath parameter does not reference an input value: {text}"
                    ))),
                }
            }
            WaitSpec::Timestamp(Dynamic::Query(q)) => {
                let v = self.eval_query(t, q, None, None, "Timestamp")?;
                let s = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                parse_timestamp(&s).ok_or_else(|| {
                    Failure::query(format!(
                        "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {s}"
                    ))
                    .at("Timestamp")
                })
            }
        }
    }

    fn choice(
        &mut self,
        t: ThreadId,
        state: &State,
        choices: &[crate::definition::ChoiceBranch],
        default: Option<usize>,
    ) -> Result<Flow, Failure> {
        let jsonata = state.language == QueryLanguage::Jsonata;
        let th = self.threads[t].as_ref().expect("live thread");
        let raw = &th.input;
        let eff =
            if jsonata { Cow::Borrowed(raw) } else { self.select_io(t, &state.input_path, raw)? };
        let mut chosen = None;
        for c in choices {
            let hit = match &c.condition {
                ChoiceCondition::Rule(r) => {
                    let ctx = self.context_if(th, r.reads_context());
                    r.evaluate(&Env { input: &eff, context: &ctx, vars: &th.vars })?
                }
                ChoiceCondition::Query(q) => {
                    let v = self.eval_query(t, q, None, None, "Condition")?;
                    match v {
                        Value::Bool(b) => b,
                        other => return Err(unexpected_type(q, "Condition", "boolean", &other)),
                    }
                }
            };
            if hit {
                chosen = Some(c);
                break;
            }
        }
        let next = match (chosen, default) {
            (Some(c), _) => c.next,
            (None, Some(d)) => d,
            (None, None) => {
                return Ok(Flow::Fail(Failure::new(names::NO_CHOICE_MATCHED, "No Matches!")))
            }
        };
        // State-level Assign first, then the rule's, which wins on conflicts.
        let subject = if jsonata { raw } else { &*eff };
        let mut assigned = self.assign_with(t, state.assign.as_ref(), subject, None, None)?;
        if let Some(c) = chosen {
            let rule_assigned = self.assign_with(t, c.assign.as_ref(), &eff, None, None)?;
            if let Some(r) = rule_assigned {
                assigned.get_or_insert_with(Vars::new).extend(r);
            }
        }
        let query = chosen.and_then(|c| c.output.as_ref()).or(state.output.as_ref());
        let (output, origin) = match (jsonata, query) {
            (true, Some(q)) => (self.eval_query(t, q, None, None, "Output")?, Origin::New),
            _ => {
                let origin = Origin::Input.of_selected(&eff, raw);
                // The state's output replaces its raw input, which nothing reads after this.
                let eff = detach(eff, raw);
                let eff = eff.unwrap_or_else(|| self.own_input(t, true));
                if jsonata {
                    (eff, origin)
                } else {
                    self.apply_output(t, &state.output_path, eff, origin)?
                }
            }
        };
        Ok(Flow::Done { output, assigned, next: Transition::Next(next), origin })
    }

    // ----- Map -----------------------------------------------------------------------------

    fn start_map(
        &mut self,
        t: ThreadId,
        state: &State,
        spec: &crate::definition::MapSpec,
    ) -> Result<Flow, Failure> {
        let jsonata = state.language == QueryLanguage::Jsonata;
        let (eff, items) = if jsonata {
            let raw = self.raw(t);
            let items = match &spec.items {
                Some(q) => {
                    // AWS has a text of its own for an `Items` that returns a function.
                    let v = self.with_query_env(t, None, None, |env| {
                        q.evaluate_rejecting_functions(env, "Items")
                    })?;
                    match v {
                        Value::Array(a) => a,
                        other => return Err(unexpected_type(q, "Items", "array", &other)),
                    }
                }
                None => match &raw {
                    Value::Array(a) => a.clone(),
                    other => {
                        return Err(Failure::query(format!(
                            "Map state input must be an array but was: {other}"
                        )))
                    }
                },
            };
            (raw, items)
        } else {
            let raw = self.raw_ref(t);
            let eff = self.select_io(t, &state.input_path, raw)?;
            let items = match self.select_io(t, &spec.items_path, &eff)? {
                Cow::Owned(Value::Array(a)) => a,
                Cow::Borrowed(Value::Array(a)) => a.clone(),
                other => {
                    return Err(Failure::runtime(format!(
                        "Item must be an array. Item was: {}",
                        other
                    )))
                }
            };
            // Only the paths of these fields read the effective input after the items.
            let reads_eff = spec.item_selector.is_some()
                || matches!(spec.max_concurrency, Dynamic::Path(_))
                || matches!(spec.tolerated_failure_count, Some(Dynamic::Path(_)))
                || matches!(spec.tolerated_failure_percentage, Some(Dynamic::Path(_)));
            (if reads_eff { eff.into_owned() } else { Value::Null }, items)
        };
        let max_concurrency = match &spec.max_concurrency {
            Dynamic::Fixed(n) => *n,
            Dynamic::Path(p) => {
                let v = self.select_path(t, p, &eff);
                match v.as_ref().and_then(as_integer).and_then(|n| u64::try_from(n).ok()) {
                    Some(n) => n,
                    None => {
                        return Err(Failure::runtime(format!(
                            "The MaxConcurrencyPath field refers to value \"{}\" which is not a valid integer: {}",
                            v.map(|v| display_plain(&v)).unwrap_or_else(|| "null".into()),
                            p.text()
                        )))
                    }
                }
            }
            Dynamic::Query(q) => {
                let v = self.eval_query(t, q, None, None, "MaxConcurrency")?;
                v.as_u64().unwrap_or(0)
            }
        };
        // Item inputs: the ItemSelector sees the effective input and `$$.Map.Item`.
        let mut inputs = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let input = if let Some(sel) = &spec.item_selector {
                let th = self.threads[t].as_ref().unwrap();
                let mut ctx = Value::Null;
                if sel.reads_context() {
                    ctx = self.context(th, false, None);
                    ctx["Map"] = json!({"Item": {"Index": i, "Value": item}});
                }
                sel.evaluate(&Env { input: &eff, context: &ctx, vars: &th.vars })?
            } else if let Some(q) = &spec.item_selector_query {
                let th = self.threads[t].as_ref().unwrap();
                let mut ctx = self.context(th, false, None);
                ctx["Map"] = json!({"Item": {"Index": i, "Value": item}});
                q.evaluate(
                    &QueryEnv {
                        input: &th.input,
                        result: None,
                        error_output: None,
                        context: &ctx,
                        vars: &th.vars,
                        now_millis: self.now,
                    },
                    "ItemSelector",
                )?
            } else {
                item
            };
            inputs.push((i, input));
        }
        let inputs = match &spec.item_batcher {
            Some(b) => batch_items(b, inputs),
            None => inputs,
        };
        let n = inputs.len();
        self.event(
            t,
            "MapStateStarted",
            Some("mapStateStartedEventDetails"),
            || json!({ "length": n }),
        );
        // AWS checks the tolerated failure thresholds after the MapStateStarted event.
        let tolerated_count = match &spec.tolerated_failure_count {
            None => None,
            Some(Dynamic::Fixed(n)) => {
                if *n < 0 {
                    return Err(Failure::runtime("ToleratedFailureCount cannot be negative."));
                }
                Some(*n as u64)
            }
            Some(Dynamic::Path(p)) => {
                let v = self.select_path(t, p, &eff);
                match v.as_ref().and_then(as_integer) {
                    Some(n) if n < 0 => return Err(Failure::runtime("ToleratedFailureCount cannot be negative.")),
                    Some(n) => Some(n as u64),
                    None => {
                        return Err(Failure::runtime(format!(
                            "The ToleratedFailureCountPath field refers to value \"{}\" which is not a valid integer: {}",
                            v.map(|v| display_plain(&v)).unwrap_or_else(|| "null".into()),
                            p.text()
                        )))
                    }
                }
            }
            Some(Dynamic::Query(q)) => {
                self.eval_query(t, q, None, None, "ToleratedFailureCount")?.as_u64()
            }
        };
        let tolerated_percentage = match &spec.tolerated_failure_percentage {
            None => None,
            Some(Dynamic::Fixed(n)) => {
                if !(0.0..=100.0).contains(n) {
                    return Err(Failure::runtime(
                        "ToleratedFailurePercentage must be between 0 and 100.",
                    ));
                }
                Some(*n)
            }
            Some(Dynamic::Path(p)) => {
                let v = self.select_path(t, p, &eff);
                match v.as_ref().and_then(as_float) {
                    Some(n) if !(0.0..=100.0).contains(&n) => {
                        return Err(Failure::runtime("ToleratedFailurePercentage must be between 0 and 100."))
                    }
                    Some(n) => Some(n),
                    None => {
                        return Err(Failure::runtime(format!(
                            "The ToleratedFailurePercentagePath field refers to value \"{}\" which is not a valid float: {}",
                            v.map(|v| display_plain(&v)).unwrap_or_else(|| "null".into()),
                            p.text()
                        )))
                    }
                }
            }
            Some(Dynamic::Query(q)) => {
                self.eval_query(t, q, None, None, "ToleratedFailurePercentage")?.as_f64()
            }
        };
        let max = if max_concurrency == 0 {
            self.options.default_map_concurrency.max(1)
        } else {
            max_concurrency as usize
        };
        let map_run = if spec.distributed {
            // A Map Run's ARN: the state machine's, its label (or the state's name) and an
            // id unique within the execution.
            let arn = format!(
                "{}/{}:{:08x}-0000-4000-8000-{:012x}",
                self.info.state_machine_arn.replacen(":stateMachine:", ":mapRun:", 1),
                spec.label.as_deref().unwrap_or(&state.name),
                self.history.last_id() + 1,
                self.next_action,
            );
            Some(self.event(
                t,
                "MapRunStarted",
                Some("mapRunStartedEventDetails"),
                || json!({ "mapRunArn": arn }),
            ))
        } else {
            None
        };
        self.th(t).phase = Phase::Join(Box::new(Join {
            map: true,
            results: vec![None; n],
            running: Vec::new(),
            pending_items: inputs.into(),
            max_concurrency: max,
            failures: 0,
            tolerated_count,
            tolerated_percentage,
            map_run,
        }));
        if n == 0 {
            self.map_run_succeeded(t);
            return Ok(self.join_complete(t, state));
        }
        self.fill_map(t, state);
        Ok(Flow::Parked)
    }

    fn fill_map(&mut self, t: ThreadId, state: &State) {
        let StateKind::Map(spec) = &state.kind else { return };
        loop {
            let Phase::Join(j) = &mut self.th(t).phase else { return };
            if j.running.len() >= j.max_concurrency {
                return;
            }
            let Some((i, input)) = j.pending_items.pop_front() else { return };
            let distributed = j.map_run.is_some();
            let started = if distributed {
                0
            } else {
                self.event(
                    t,
                    "MapIterationStarted",
                    Some("mapIterationStartedEventDetails"),
                    || json!({"index": i, "name": state.name}),
                )
            };
            let vars = self.th(t).vars.clone();
            let p = spec.processor.clone();
            let start = p.start_at;
            let c = self.spawn(p, start, input, vars, Some((t, i)), started, None);
            if distributed {
                self.th(c).detached = true;
            }
            if let Phase::Join(j) = &mut self.th(t).phase {
                j.running.push(c);
            }
            self.ready.push_back(c);
        }
    }

    /// Records the `MapRunSucceeded` event of a Distributed Map whose iterations all ended.
    fn map_run_succeeded(&mut self, t: ThreadId) {
        let Phase::Join(j) = &self.th(t).phase else { return };
        let Some(started) = j.map_run else { return };
        self.th(t).prev_event = started;
        self.event(t, "MapRunSucceeded", None, || Value::Null);
    }

    fn join_complete(&mut self, t: ThreadId, state: &State) -> Flow {
        let Phase::Join(j) = std::mem::replace(&mut self.th(t).phase, Phase::Done) else {
            return Flow::Parked;
        };
        let kind = if j.map { "MapStateSucceeded" } else { "ParallelStateSucceeded" };
        let last = self.history.last_id();
        self.th(t).prev_event = last;
        self.event(t, kind, None, || Value::Null);
        // The state's exit follows the same event as its MapStateSucceeded or
        // ParallelStateSucceeded event does. For a Distributed Map that is its MapRunSucceeded
        // event; AWS is inconsistent there (a race on its side: one definition recorded with two
        // inputs gives both), and 11 of the corpus' 17 recordings follow MapRunSucceeded, the
        // others MapRunStarted. Baton follows the majority.
        self.th(t).prev_event = last;
        let results =
            Value::Array(j.results.into_iter().map(|r| r.unwrap_or(Value::Null)).collect());
        let flow = if state.language == QueryLanguage::Jsonata {
            let raw = self.raw(t);
            self.finish_jsonata(t, state, &raw, Some(&results), None, results.clone(), Origin::New)
        } else {
            self.finish_jsonpath(t, state, results, Origin::New)
        };
        flow.unwrap_or_else(|f| self.state_error(t, state, f))
    }

    // ----- ends of states and threads ------------------------------------------------------

    fn exit_state(
        &mut self,
        t: ThreadId,
        state: &State,
        output: Value,
        assigned: Option<Vars>,
        next: Transition,
        origin: Origin,
    ) {
        let record = self.history.record;
        let limit = self.options.max_payload_bytes;
        let th = self.th(t);
        // The history payload of the output: the input's when the output is the input.
        let cached = th.input_payload.take().filter(|_| origin == Origin::Input);
        let out_s = record.then(|| cached.unwrap_or_else(|| payload_string(&output)));
        let over = limit > 0
            && match &out_s {
                Some(s) => s.len() > limit,
                // An input that passed the check, or a part of it, passes it again.
                None if th.input_checked && origin != Origin::New => false,
                None => payload_exceeds(&output, limit),
            };
        if over {
            let f = Failure::new(
                names::DATA_LIMIT_EXCEEDED,
                format!(
                    "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                    state.name
                ),
            );
            self.thread_failed(t, f);
            return;
        }
        if !matches!(state.kind, StateKind::Fail { .. }) {
            let out = Value::from(out_s.clone());
            let assigned_s = if record {
                // An empty Assign leaves no assignedVariables in the event, as on AWS.
                assigned.as_ref().filter(|a| !a.is_empty()).map(|a| {
                    Value::Object(a.iter().map(|(k, v)| (k.clone(), payload(v))).collect())
                })
            } else {
                None
            };
            self.event(t, state.exited_event(), Some("stateExitedEventDetails"), || {
                let mut d = Map::new();
                if let Some(a) = assigned_s {
                    d.insert("assignedVariables".into(), a);
                    d.insert("assignedVariablesDetails".into(), not_truncated());
                }
                d.insert("name".into(), Value::String(state.name.clone()));
                d.insert("output".into(), out);
                d.insert("outputDetails".into(), not_truncated());
                Value::Object(d)
            });
        }
        self.transitions += 1;
        if let Some(a) = assigned {
            self.th(t).vars.extend(a);
        }
        match next {
            Transition::Next(n) => {
                let th = self.th(t);
                th.state = n;
                th.input = output;
                th.input_checked = true;
                th.input_payload = out_s;
                th.phase = Phase::Enter;
                let retries = th.machine.states[n].retry.len();
                th.retries.clear();
                th.retries.resize(retries, 0);
                self.ready.push_back(t);
            }
            Transition::End => self.thread_succeeded(t, output, out_s),
        }
    }

    /// Ends thread `t` with `output`, whose history payload `output_s` is, when it has been
    /// made.
    fn thread_succeeded(&mut self, t: ThreadId, output: Value, output_s: Option<String>) {
        let th = self.threads[t].take().expect("live thread");
        self.free.push(t);
        match th.parent {
            None => {
                let record = self.history.record;
                let out = record.then(|| output_s.unwrap_or_else(|| payload_string(&output)));
                self.history.push(
                    th.prev_event,
                    self.now,
                    "ExecutionSucceeded",
                    Some("executionSucceededEventDetails"),
                    || details([("output", out.into()), ("outputDetails", not_truncated())]),
                );
                self.finish(Outcome::Succeeded { output });
            }
            Some((p, slot)) => {
                let pm = self.th(p).machine.clone();
                let pstate = &pm.states[self.th(p).state];
                let Phase::Join(j) = &mut self.th(p).phase else { return };
                j.running.retain(|&c| c != t);
                j.results[slot] = Some(output);
                let map = j.map;
                let distributed = j.map_run.is_some();
                if map && !distributed {
                    self.th(p).prev_event = th.prev_event;
                    self.event(
                        p,
                        "MapIterationSucceeded",
                        Some("mapIterationSucceededEventDetails"),
                        || json!({"index": slot, "name": pstate.name}),
                    );
                    // The next iteration starts after the last event of this one, not after
                    // its MapIterationSucceeded event.
                    self.th(p).prev_event = th.prev_event;
                }
                if map {
                    self.fill_map(p, pstate);
                }
                let Phase::Join(j) = &self.th(p).phase else { return };
                if j.running.is_empty() && j.pending_items.is_empty() {
                    if !distributed {
                        self.th(p).prev_event = th.prev_event;
                    }
                    self.map_run_succeeded(p);
                    let flow = self.join_complete(p, pstate);
                    self.after(p, pstate, flow);
                }
            }
        }
    }

    fn thread_failed(&mut self, t: ThreadId, f: Failure) {
        let th = self.threads[t].take().expect("live thread");
        self.free.push(t);
        match th.parent {
            None => {
                let (e, c) = (f.error.clone(), f.cause.clone());
                self.history.push(
                    th.prev_event,
                    self.now,
                    "ExecutionFailed",
                    Some("executionFailedEventDetails"),
                    || error_details(e, c, None),
                );
                self.finish(Outcome::Failed { error: f.error, cause: f.cause });
            }
            Some((p, slot)) => {
                let pm = self.th(p).machine.clone();
                let pstate = &pm.states[self.th(p).state];
                let Phase::Join(j) = &mut self.th(p).phase else { return };
                j.running.retain(|&c| c != t);
                let map = j.map;
                if map {
                    j.failures += 1;
                    let total = j.results.len();
                    let tolerated = j.tolerated_count.is_some_and(|c| j.failures as u64 <= c)
                        || j.tolerated_percentage.is_some_and(|pct| {
                            (j.failures as f64) * 100.0 / (total.max(1) as f64) <= pct
                        });
                    let name = pstate.name.clone();
                    let map_run = j.map_run;
                    match map_run {
                        Some(started) => self.th(p).prev_event = started,
                        None => {
                            self.th(p).prev_event = th.prev_event;
                            self.event(
                                p,
                                "MapIterationFailed",
                                Some("mapIterationFailedEventDetails"),
                                || json!({"index": slot, "name": name}),
                            );
                        }
                    }
                    if tolerated {
                        if map_run.is_none() {
                            self.th(p).prev_event = th.prev_event;
                        }
                        if let Phase::Join(j) = &mut self.th(p).phase {
                            j.results[slot] = Some(json!({"Error": f.error, "Cause": f.cause}));
                        }
                        self.fill_map(p, pstate);
                        let Phase::Join(j) = &self.th(p).phase else { return };
                        if j.running.is_empty() && j.pending_items.is_empty() {
                            self.map_run_succeeded(p);
                            let flow = self.join_complete(p, pstate);
                            self.after(p, pstate, flow);
                        }
                        return;
                    }
                }
                let f = if map && (pstate_tolerance(&self.th(p).phase)) {
                    Failure::new(
                        names::EXCEEDED_TOLERATED_FAILURE_THRESHOLD,
                        "The specified tolerated failure threshold was exceeded",
                    )
                } else {
                    f
                };
                let distributed = self.abort_children(p);
                if !distributed {
                    self.th(p).prev_event = th.prev_event;
                }
                self.th(p).phase = Phase::Done;
                // A retried Map or Parallel state starts again with no Failed event between.
                if self.retry(p, pstate, &f) {
                    return;
                }
                if distributed {
                    let (e, c) = (f.error.clone(), f.cause.clone());
                    self.event(p, "MapRunFailed", Some("mapRunFailedEventDetails"), || {
                        error_details(e, c, None)
                    });
                }
                let kind = if map { "MapStateFailed" } else { "ParallelStateFailed" };
                self.event(p, kind, None, || Value::Null);
                self.catch_or_fail(p, pstate, f);
            }
        }
    }

    /// Stops the running children of a Map or Parallel state; returns whether they were
    /// the iterations of a Distributed Map.
    fn abort_children(&mut self, p: ThreadId) -> bool {
        let Phase::Join(j) = &mut self.th(p).phase else { return false };
        let running = std::mem::take(&mut j.running);
        j.pending_items.clear();
        let distributed = j.map_run.is_some();
        for c in running {
            self.abort_thread(c);
        }
        distributed
    }

    fn abort_thread(&mut self, c: ThreadId) {
        let Some(th) = self.threads[c].as_mut() else { return };
        let phase = std::mem::replace(&mut th.phase, Phase::Done);
        match phase {
            Phase::Task(w) => {
                self.waits.remove(&w.action);
                self.actions.push(Action::Cancel { id: w.action });
                self.clear_task_timers(&w);
            }
            Phase::Wait { timer } | Phase::RetryDelay { timer } => {
                self.waits.remove(&timer);
                self.actions.push(Action::Cancel { id: timer });
            }
            Phase::Join(mut j) => {
                for g in std::mem::take(&mut j.running) {
                    self.abort_thread(g);
                }
            }
            _ => {}
        }
        self.threads[c] = None;
        self.free.push(c);
        self.ready.retain(|&r| r != c);
    }

    /// Retry, then Catch, then fail the thread.
    fn handle_failure(&mut self, t: ThreadId, state: &State, f: Failure) {
        if !self.retry(t, state, &f) {
            self.catch_or_fail(t, state, f);
        }
    }

    /// Schedules the state's next attempt if a retrier matches the failure and has attempts
    /// left; returns whether it did.
    fn retry(&mut self, t: ThreadId, state: &State, f: &Failure) -> bool {
        let name = f.error_name();
        if let Some(i) = state.retry.iter().position(|r| error_matches(&r.error_equals, name)) {
            let r = &state.retry[i];
            let attempts = self.th(t).retries[i];
            if attempts < r.max_attempts {
                let mut delay = r.interval_seconds * r.backoff_rate.powi(attempts as i32);
                if let Some(max) = r.max_delay_seconds {
                    delay = delay.min(max);
                }
                if r.jitter_full {
                    delay *= jitter_fraction(self.history.last_id(), attempts);
                }
                self.th(t).retries[i] += 1;
                let timer = self.new_action(Waiter::Timer(t));
                self.actions.push(Action::StartTimer {
                    id: timer,
                    fire_at_millis: self.now + (delay * 1000.0).round() as i64,
                });
                self.th(t).phase = Phase::RetryDelay { timer };
                return true;
            }
        }
        false
    }

    /// Catch, or fail the thread.
    fn catch_or_fail(&mut self, t: ThreadId, state: &State, f: Failure) {
        let name = f.error_name().to_owned();
        if let Some(c) = state.catch.iter().find(|c| error_matches(&c.error_equals, &name)) {
            let error_output = json!({
                "Error": f.error.clone().unwrap_or_default(),
                "Cause": f.cause.clone().unwrap_or_default(),
            });
            let r = if state.language == QueryLanguage::Jsonata {
                let raw = self.raw(t);
                self.assign_with(t, c.assign.as_ref(), &raw, None, Some(&error_output)).and_then(
                    |assigned| {
                        let output = match &c.output {
                            Some(q) => {
                                self.eval_query(t, q, None, Some(&error_output), "Output")?
                            }
                            None => error_output.clone(),
                        };
                        Ok((output, assigned))
                    },
                )
            } else {
                self.assign_with(t, c.assign.as_ref(), &error_output, None, None).and_then(
                    |assigned| {
                        let raw = std::mem::take(&mut self.th(t).input);
                        Ok((
                            apply_result_path(&c.result_path, raw, error_output.clone())?,
                            assigned,
                        ))
                    },
                )
            };
            match r {
                Ok((output, assigned)) => {
                    let next = Transition::Next(c.next);
                    self.exit_state(t, state, output, assigned, next, Origin::New);
                }
                Err(f) => {
                    let f = self.runtime_error(t, f);
                    self.evaluation_failed(t, state, &f);
                    self.thread_failed(t, f);
                }
            }
            return;
        }
        self.thread_failed(t, f);
    }
}

fn pstate_tolerance(phase: &Phase) -> bool {
    match phase {
        Phase::Join(j) => j.tolerated_count.is_some() || j.tolerated_percentage.is_some(),
        _ => false,
    }
}

/// Whether an `ErrorEquals` list matches an error name, with AWS's wildcard rules.
pub fn error_matches(list: &[String], error: &str) -> bool {
    list.iter().any(|e| {
        e == error
            || (e == names::ALL && error != names::DATA_LIMIT_EXCEEDED && error != names::RUNTIME)
            || (e == names::TASK_FAILED
                && error != names::TIMEOUT
                && error != names::DATA_LIMIT_EXCEEDED
                && error != names::RUNTIME
                && !error.is_empty()
                && !error.starts_with("States."))
    })
}

fn jitter_fraction(seed: u64, attempt: u32) -> f64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(attempt).wrapping_add(0xD1B5_4A32_D192_ED03);
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// An owned copy of `v`, a value selected from a thread's raw input `raw`, or `None` when it
/// is `raw` itself: the caller then moves or copies the raw input as it needs.
fn detach(v: Cow<'_, Value>, raw: &Value) -> Option<Value> {
    match v {
        Cow::Owned(v) => Some(v),
        Cow::Borrowed(v) if std::ptr::eq(v, raw) => None,
        Cow::Borrowed(v) => Some(v.clone()),
    }
}

fn apply_result_path(rp: &ResultPath, raw: Value, result: Value) -> Result<Value, Failure> {
    match rp {
        ResultPath::Replace => Ok(result),
        ResultPath::Discard => Ok(raw),
        ResultPath::Path(p) => p.assign(raw, result),
    }
}

fn batch_items(batcher: &Value, inputs: Vec<(usize, Value)>) -> Vec<(usize, Value)> {
    let max_items =
        batcher.get("MaxItemsPerBatch").and_then(Value::as_u64).unwrap_or(u64::MAX).max(1) as usize;
    let batch_input = batcher.get("BatchInput").cloned();
    inputs
        .chunks(max_items)
        .enumerate()
        .map(|(i, chunk)| {
            let mut m = Map::new();
            if let Some(Value::Object(b)) = &batch_input {
                m.insert("BatchInput".into(), Value::Object(b.clone()));
            }
            m.insert("Items".into(), Value::Array(chunk.iter().map(|(_, v)| v.clone()).collect()));
            (i, Value::Object(m))
        })
        .collect()
}

fn error_details(
    error: Option<String>,
    cause: Option<String>,
    resource: Option<(String, String)>,
) -> Value {
    let mut d = Map::new();
    if let Some(c) = cause {
        d.insert("cause".into(), Value::String(c));
    }
    if let Some(e) = error {
        d.insert("error".into(), Value::String(e));
    }
    if let Some((name, ty)) = resource {
        d.insert("resource".into(), Value::String(name));
        d.insert("resourceType".into(), Value::String(ty));
    }
    Value::Object(d)
}

/// `("lambda", "invoke")` for `arn:aws:states:::lambda:invoke`, and so on.
pub fn resource_parts(resource: &str) -> (String, String) {
    if let Some(rest) = resource.strip_prefix("arn:aws:states:::") {
        if let Some((service, action)) = rest.split_once(':') {
            return (service.to_owned(), action.to_owned());
        }
        return (rest.to_owned(), String::new());
    }
    let parts: Vec<&str> = resource.split(':').collect();
    if parts.len() >= 6 {
        return (parts[2].to_owned(), parts[5..].join(":"));
    }
    (String::new(), resource.to_owned())
}

/// An event's details object of `fields` in their order, the values moved in (`json!` would
/// copy them: a payload string is as long as the payload).
fn details<const N: usize>(fields: [(&str, Value); N]) -> Value {
    let mut m = Map::with_capacity(N);
    for (k, v) in fields {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
}

/// `v` serialized as history event details show it, into a buffer sized once from the
/// length's bound (growing it step by step cost more than the walk).
fn payload_string(v: &Value) -> String {
    let mut buf = Vec::with_capacity(payload_bound(v).min(1 << 20));
    match serde_json::to_writer(&mut buf, v) {
        // serde_json writes valid UTF-8.
        Ok(()) => String::from_utf8(buf).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Whether `v`'s JSON text is longer than `limit` bytes. A walk bounds the length without
/// formatting anything (a float takes at most 24 bytes, an escaped byte at most 6), and only a
/// bound over the limit is checked exactly.
fn payload_exceeds(v: &Value, limit: usize) -> bool {
    payload_bound(v) > limit && payload_len(v) > limit
}

/// An upper bound of the length of `v`'s JSON text.
fn payload_bound(v: &Value) -> usize {
    fn string_bound(s: &str) -> usize {
        // A sum rather than a filtered count: it vectorizes.
        let escaped: usize =
            s.bytes().map(|b| usize::from(b < 0x20 || b == b'"' || b == b'\\')).sum();
        s.len() + 2 + 5 * escaped
    }
    match v {
        Value::Null | Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => digits(u),
            (None, Some(i)) => 1 + digits(i.unsigned_abs()),
            (None, None) => 24,
        },
        Value::String(s) => string_bound(s),
        Value::Array(a) => {
            2 + a.len().saturating_sub(1) + a.iter().map(payload_bound).sum::<usize>()
        }
        Value::Object(m) => {
            let fields: usize = m.iter().map(|(k, v)| string_bound(k) + 1 + payload_bound(v)).sum();
            2 + m.len().saturating_sub(1) + fields
        }
    }
}

/// The number of decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

fn payload_len(v: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// `States.QueryEvaluationError` for an expression whose result has the wrong type.
fn unexpected_type(q: &Query, field: &str, expected: &str, v: &Value) -> Failure {
    Failure::query(format!(
        "The JSONata expression '{}' specified for the field '{field}' returned an unexpected result type. Expected '{expected}', but was '{}' for value: {v}",
        q.expression_text().unwrap_or(""),
        json_type(v),
    ))
    .at(field)
}

/// An integer, or a string holding one (AWS accepts both in `...Path` fields).
fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A number, or a string holding one.
fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The JSON type name AWS uses in messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn display_plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Milliseconds since the epoch as `2024-01-01T00:00:00.000Z`.
pub fn iso_millis(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Parses an RFC 3339 timestamp to milliseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .filter(|_| s.contains('T'))
        .map(|d| d.timestamp_millis())
}
