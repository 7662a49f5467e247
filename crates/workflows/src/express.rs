//! Express executions: in memory, in the caller's task, nothing written to the store.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use asl::{Action, Execution, ExecutionInfo, Input, Outcome, StateMachine};
use serde_json::Value;
use store::MachineRecord;
use tokio::sync::mpsc;

use crate::tasks::{self, Sink};
use crate::{now_ms, Engine};

/// The end of an Express execution, as StartSyncExecution reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRun {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub start_ms: i64,
    pub stop_ms: i64,
    /// `SUCCEEDED`, `FAILED` or `TIMED_OUT`.
    pub status: String,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// The ARN of an Express execution: `...:express:MACHINE:NAME:ID`.
pub(crate) fn execution_arn(engine: &Engine, machine_name: &str, name: &str) -> String {
    let c = engine.config();
    let id = uuid::Uuid::new_v4();
    format!("arn:aws:states:{}:{}:express:{machine_name}:{name}:{id}", c.region, c.account)
}

/// Runs an Express execution to its end.
pub(crate) async fn run(
    engine: Engine,
    machine: &MachineRecord,
    compiled: Arc<StateMachine>,
    name: Option<String>,
    input: Value,
) -> SyncRun {
    let name = name.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let arn = execution_arn(&engine, &machine.name, &name);
    let info = ExecutionInfo {
        execution_arn: arn.clone(),
        name: name.clone(),
        state_machine_arn: machine.arn.clone(),
        state_machine_name: machine.name.clone(),
        role_arn: machine.role_arn.clone(),
        region: engine.config().region.clone(),
        redrive_count: 0,
    };
    let start_ms = now_ms();
    let options = asl::Options { record_history: false, ..engine.config().limits.clone() };
    let (mut exec, mut actions) =
        Execution::start(compiled, info, input.clone(), options, start_ms);
    let deadline = tokio::time::Instant::now() + engine.config().express_timeout;
    let (tx, mut rx) = mpsc::unbounded_channel::<Input>();
    let mut timers: BTreeSet<(i64, u64)> = BTreeSet::new();
    let mut running = HashMap::new();
    let outcome = 'run: loop {
        for action in std::mem::take(&mut actions) {
            match action {
                Action::RunTask(req) => {
                    let id = req.id;
                    if let Some(h) =
                        tasks::spawn(&engine, &arn, req.into(), Sink::Channel(tx.clone()))
                    {
                        running.insert(id, h);
                    }
                }
                Action::StartTimer { id, fire_at_millis } => {
                    timers.insert((fire_at_millis, id));
                }
                Action::Cancel { id } => {
                    timers.retain(|t| t.1 != id);
                    if let Some(h) = running.remove(&id) {
                        h.abort();
                    }
                }
                Action::Finished(outcome) => break 'run outcome,
            }
        }
        let next_timer = timers.first().copied();
        let sleep = async {
            match next_timer {
                Some((at, _)) => {
                    tokio::time::sleep(Duration::from_millis((at - now_ms()).max(0) as u64)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(input) = rx.recv() => {
                if let Input::TaskSucceeded { id, .. } | Input::TaskFailed { id, .. } = &input {
                    running.remove(id);
                }
                actions = exec.step(input, now_ms());
            }
            () = sleep => {
                if let Some(t) = next_timer {
                    timers.remove(&t);
                    actions = exec.step(Input::TimerFired { id: t.1 }, now_ms());
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                break 'run Outcome::TimedOut {
                    error: Some("States.Timeout".into()),
                    cause: Some("The execution exceeded the Express limit of its duration.".into()),
                };
            }
        }
    };
    for (_, h) in running {
        h.abort();
    }
    let stop_ms = now_ms();
    let status = outcome.status().to_owned();
    engine.inner().metrics.ended(&status);
    let t = exec.transitions();
    engine.inner().metrics.transitions.fetch_add(t, std::sync::atomic::Ordering::Relaxed);
    let (output, error, cause) = match outcome {
        Outcome::Succeeded { output } => (Some(output), None, None),
        Outcome::Failed { error, cause }
        | Outcome::TimedOut { error, cause }
        | Outcome::Aborted { error, cause } => (None, error, cause),
    };
    SyncRun {
        execution_arn: arn,
        state_machine_arn: machine.arn.clone(),
        name,
        start_ms,
        stop_ms,
        status,
        input,
        output,
        error,
        cause,
    }
}
