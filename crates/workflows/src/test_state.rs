//! TestState: runs one state on an input, as Step Functions' TestState does, and says what
//! it did: its output and the state it would go to, or its failure, and whether a retrier
//! or a catcher of the state would take that failure.
//!
//! The state runs in a machine of its own: it is the start, and every state it can go to
//! is a stand-in `Succeed` state, so the interpreter's own semantics decide everything. A
//! task runs once, for real; a Wait state does not wait.

use std::collections::BTreeSet;

use asl::{Action, Execution, ExecutionInfo, Input, MachineType, StateMachine};
use serde_json::{json, Map, Value};

use crate::tasks::{self, Kind, Sink};
use crate::{now_ms, Engine, Error, Result};

/// What TestState reports.
#[derive(Debug, Clone, PartialEq)]
pub struct TestStateResult {
    /// `SUCCEEDED`, `FAILED`, `RETRIABLE` or `CAUGHT_ERROR`.
    pub status: String,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub next_state: Option<String>,
    /// The state's input and, for a task, the task's result.
    pub inspection: Value,
}

/// The name the tested state runs under (its own name is not part of the request).
const SUBJECT: &str = "TestState";

/// Names of the states a state may go to: `Next`, `Default`, each choice's and catcher's.
fn targets(state: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |v: Option<&Value>| {
        if let Some(Value::String(s)) = v {
            out.insert(s.clone());
        }
    };
    add(state.get("Next"));
    add(state.get("Default"));
    for list in ["Choices", "Catch"] {
        for c in state.get(list).and_then(Value::as_array).into_iter().flatten() {
            add(c.get("Next"));
        }
    }
    out
}

impl Engine {
    /// Runs one state definition on `input` (TestState).
    pub async fn test_state(
        &self,
        state: &Value,
        input: Value,
        role_arn: &str,
    ) -> Result<TestStateResult> {
        let Value::Object(_) = state else {
            return Err(Error::InvalidDefinition(
                "Invalid State Machine Definition: 'the state definition must be a JSON object'"
                    .into(),
            ));
        };
        let kind = state.get("Type").and_then(Value::as_str).unwrap_or_default();
        if matches!(kind, "Map" | "Parallel") {
            return Err(Error::Validation(format!("TestState does not support {kind} states")));
        }
        let resource = state.get("Resource").and_then(Value::as_str).unwrap_or_default();
        if kind == "Task"
            && (resource.ends_with(".waitForTaskToken")
                || resource.contains(".sync")
                || matches!(tasks::classify(resource), Kind::Activity(_)))
        {
            return Err(Error::Validation(
                "TestState does not support activities, .sync or .waitForTaskToken tasks".into(),
            ));
        }
        let names = targets(state);
        let mut states = Map::new();
        states.insert(SUBJECT.into(), state.clone());
        for n in &names {
            states.insert(n.clone(), json!({"Type": "Succeed"}));
        }
        let definition = json!({"StartAt": SUBJECT, "States": states});
        let machine = StateMachine::compile(&definition, MachineType::Express)
            .map_err(|e| Error::InvalidDefinition(e.cause))?;
        let info = ExecutionInfo {
            role_arn: role_arn.to_owned(),
            region: self.config().region.clone(),
            ..ExecutionInfo::default()
        };
        let options = asl::Options { record_history: true, ..self.config().limits.clone() };
        let (mut exec, mut actions) =
            Execution::start(machine, info, input.clone(), options, now_ms());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut task_result = None;
        let mut failure = None;
        // Drive the state: tasks once, timers at once (a Wait does not wait); a retry timer
        // means the failure is retriable, and the test stops there.
        let mut outcome = None;
        for _ in 0..64 {
            let mut next = Vec::new();
            for action in std::mem::take(&mut actions) {
                match action {
                    Action::RunTask(req) => {
                        let id = req.id;
                        if tasks::spawn(self, "", req.into(), Sink::Channel(tx.clone())).is_none() {
                            return Err(Error::Validation("TestState cannot run this task".into()));
                        }
                        let got = tokio::time::timeout(self.config().http_timeout, rx.recv()).await;
                        let got = match got {
                            Ok(Some(i)) => i,
                            _ => Input::TaskFailed {
                                id,
                                error: Some("States.Timeout".into()),
                                cause: Some("The task did not answer in time".into()),
                            },
                        };
                        match &got {
                            Input::TaskSucceeded { output, .. } => {
                                task_result = Some(output.clone())
                            }
                            Input::TaskFailed { error, cause, .. } => {
                                failure = Some((error.clone(), cause.clone()))
                            }
                            _ => {}
                        }
                        next.extend(exec.step(got, now_ms()));
                    }
                    Action::StartTimer { id, .. } => {
                        if let Some((error, cause)) = failure.clone() {
                            // Only a retrier waits after a failure.
                            outcome = Some(TestStateResult {
                                status: "RETRIABLE".into(),
                                output: None,
                                error,
                                cause,
                                next_state: None,
                                inspection: inspection(&input, task_result.as_ref()),
                            });
                            break;
                        }
                        next.extend(exec.step(Input::TimerFired { id }, now_ms()));
                    }
                    Action::Cancel { .. } => {}
                    Action::Finished(_) => {}
                }
            }
            if outcome.is_some() || next.is_empty() {
                break;
            }
            actions = next;
        }
        if let Some(o) = outcome {
            return Ok(o);
        }
        Ok(read_outcome(&exec, &names, &input, task_result.as_ref(), failure))
    }
}

fn inspection(input: &Value, result: Option<&Value>) -> Value {
    let mut d = json!({"input": input.to_string()});
    if let Some(r) = result {
        d["result"] = json!(r.to_string());
    }
    d
}

/// Reads what the state did from the history of its one-state machine.
fn read_outcome(
    exec: &Execution,
    names: &BTreeSet<String>,
    input: &Value,
    task_result: Option<&Value>,
    failure: Option<(Option<String>, Option<String>)>,
) -> TestStateResult {
    let mut result = TestStateResult {
        status: "SUCCEEDED".into(),
        output: None,
        error: None,
        cause: None,
        next_state: None,
        inspection: inspection(input, task_result),
    };
    let parse = |s: Option<&Value>| {
        s.and_then(Value::as_str).and_then(|s| serde_json::from_str::<Value>(s).ok())
    };
    for e in exec.history().events() {
        let d = &e.details;
        if e.kind.ends_with("StateEntered") {
            let name = d.get("name").and_then(Value::as_str).unwrap_or_default();
            if name != SUBJECT && names.contains(name) {
                result.next_state = Some(name.to_owned());
                result.output = parse(d.get("input"));
                if let Some((error, cause)) = &failure {
                    result.status = "CAUGHT_ERROR".into();
                    result.error = error.clone();
                    result.cause = cause.clone();
                }
                break;
            }
        }
        if e.kind.ends_with("StateExited") && d.get("name").and_then(Value::as_str) == Some(SUBJECT)
        {
            result.output = parse(d.get("output"));
        }
        if e.kind == "ExecutionFailed" || e.kind == "ExecutionTimedOut" {
            result.status = "FAILED".into();
            result.output = None;
            result.error = d.get("error").and_then(Value::as_str).map(str::to_owned);
            result.cause = d.get("cause").and_then(Value::as_str).map(str::to_owned);
        }
    }
    if result.status == "SUCCEEDED" {
        result.inspection["afterResultPath"] = json!(result.output.as_ref().map(Value::to_string));
    }
    result
}
