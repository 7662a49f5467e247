//! A local driver for one execution: performs the interpreter's actions in this process.
//!
//! Tasks run as commands (`--task RESOURCE=COMMAND`): the task's input JSON on stdin, the
//! result JSON on stdout. Timers run on the real clock, or on a virtual clock that jumps to
//! the next timer when nothing else can happen.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use asl::{Action, Execution, ExecutionInfo, Input, Options, Outcome, StateMachine, TaskRequest};
use serde_json::{json, Value};

/// Commands that stand in for task resources.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tasks {
    commands: HashMap<String, String>,
}

impl Tasks {
    pub(crate) fn insert(&mut self, resource: String, command: String) {
        self.commands.insert(resource, command);
    }

    /// Finds the command for a task: by exact resource, or by Lambda function name or ARN.
    fn command_for(&self, resource: &str, input: &Value) -> Option<&String> {
        if let Some(c) = self.commands.get(resource) {
            return Some(c);
        }
        let function = if is_lambda_invoke(resource) {
            input.get("FunctionName").and_then(Value::as_str).map(str::to_owned)?
        } else if resource.starts_with("arn:aws:lambda:") {
            resource.to_owned()
        } else {
            return None;
        };
        if let Some(c) = self.commands.get(&function) {
            return Some(c);
        }
        let name = functions::function_name(&function);
        self.commands.iter().find(|(k, _)| functions::function_name(k) == name).map(|(_, c)| c)
    }
}

fn is_lambda_invoke(resource: &str) -> bool {
    resource.starts_with("arn:aws:states:::lambda:invoke")
}

/// How one local execution ended, with its history when it was recorded.
pub(crate) struct Run {
    pub(crate) outcome: Outcome,
    pub(crate) history: asl::history::History,
}

fn wall_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Runs an execution to its end.
pub(crate) fn run(
    machine: Arc<StateMachine>,
    input: Value,
    tasks: &Tasks,
    virtual_time: bool,
    record_history: bool,
) -> Run {
    let start_wall = wall_millis();
    let start_instant = Instant::now();
    let mut virtual_now = start_wall;
    let now = |virtual_now: i64| {
        if virtual_time {
            virtual_now
        } else {
            start_wall + start_instant.elapsed().as_millis() as i64
        }
    };
    let options = Options { record_history, ..Options::default() };
    let (mut ex, actions) =
        Execution::start(machine, ExecutionInfo::default(), input, options, now(virtual_now));
    let mut queue: VecDeque<Action> = actions.into();
    let mut timers: BTreeSet<(i64, u64)> = BTreeSet::new();
    let mut timer_at: HashMap<u64, i64> = HashMap::new();
    loop {
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Finished(outcome) => {
                    return Run { outcome, history: ex.take_history() };
                }
                Action::StartTimer { id, fire_at_millis } => {
                    timers.insert((fire_at_millis, id));
                    timer_at.insert(id, fire_at_millis);
                }
                Action::Cancel { id } => {
                    if let Some(at) = timer_at.remove(&id) {
                        timers.remove(&(at, id));
                    }
                }
                Action::RunTask(req) => {
                    // A task with a timeout that the command outlives times out: its timer fires.
                    let deadline = req.timeout_seconds.map(Duration::from_secs);
                    let started = Instant::now();
                    let result = run_task(tasks, &req, deadline, now(virtual_now));
                    if virtual_time {
                        virtual_now += started.elapsed().as_millis() as i64;
                    }
                    let input = match result {
                        TaskResult::Ok(output) => Input::TaskSucceeded { id: req.id, output },
                        TaskResult::Err { error, cause } => {
                            Input::TaskFailed { id: req.id, error, cause }
                        }
                        // No result: the task's timeout timer fires from the loop below.
                        TaskResult::TimedOut => continue,
                    };
                    queue.extend(ex.step(input, now(virtual_now)));
                }
            }
        }
        let Some(&(at, id)) = timers.first() else {
            // Nothing can happen any more: the execution waits on something no one will send.
            let outcome = Outcome::Failed {
                error: Some("States.Runtime".into()),
                cause: Some(
                    "The execution is waiting for a task or callback that nothing will complete."
                        .into(),
                ),
            };
            return Run { outcome, history: ex.take_history() };
        };
        timers.remove(&(at, id));
        timer_at.remove(&id);
        if virtual_time {
            virtual_now = virtual_now.max(at);
        } else {
            let wait = at - now(virtual_now);
            if wait > 0 {
                std::thread::sleep(Duration::from_millis(wait as u64));
            }
        }
        queue.extend(ex.step(Input::TimerFired { id }, now(virtual_now)));
    }
}

enum TaskResult {
    Ok(Value),
    Err { error: Option<String>, cause: Option<String> },
    TimedOut,
}

fn run_task(
    tasks: &Tasks,
    req: &TaskRequest,
    deadline: Option<Duration>,
    now_ms: i64,
) -> TaskResult {
    // A Lambda task sends the event Step Functions would send and makes of the command's
    // answer what Step Functions makes of a function's (workflows::lambda, as `baton up`).
    let lambda = if workflows::lambda::is_lambda(&req.resource) {
        match workflows::lambda::call(&req.resource, &req.input) {
            Ok(call) => Some(call),
            Err(f) => return TaskResult::Err { error: f.error, cause: f.cause },
        }
    } else {
        None
    };
    let Some(command) = tasks.command_for(&req.resource, &req.input) else {
        return TaskResult::Err {
            error: Some("States.TaskFailed".into()),
            cause: Some(format!(
                "No task runner for resource '{}': pass --task RESOURCE=COMMAND to run it.",
                req.resource
            )),
        };
    };
    let stdin_text = match &lambda {
        Some(call) => String::from_utf8_lossy(&call.payload).into_owned(),
        None => req.input.to_string(),
    };
    let child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return TaskResult::Err {
                error: Some("States.TaskFailed".into()),
                cause: Some(format!("cannot start task command: {e}")),
            }
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(stdin_text.as_bytes());
    }
    let started = Instant::now();
    if let Some(limit) = deadline {
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if started.elapsed() >= limit => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return TaskResult::TimedOut;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break,
            }
        }
    }
    let out = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => {
            return TaskResult::Err {
                error: Some("States.TaskFailed".into()),
                cause: Some(format!("task command failed: {e}")),
            }
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed: Option<Value> = serde_json::from_str(stdout.trim()).ok();
    if let Some(call) = lambda {
        let request_id = uuid_like(req.id);
        let error_document = parsed
            .as_ref()
            .is_some_and(|v| v.get("errorType").is_some() || v.get("errorMessage").is_some());
        // A command that fails without an error document is a runtime that exited, as a
        // function in exec mode reports it.
        let payload = if out.status.success() || error_document {
            stdout.trim().as_bytes().to_vec()
        } else {
            json!({
                "errorType": "Runtime.ExitError",
                "errorMessage": format!(
                    "RequestId: {request_id} Error: Runtime exited with error: {}",
                    out.status
                ),
            })
            .to_string()
            .into_bytes()
        };
        let invoked = workflows::lambda::Invoked {
            request_id,
            payload,
            function_error: !out.status.success(),
            status: 200,
            log_result: None,
        };
        let limit = Options::default().max_payload_bytes;
        return match workflows::lambda::result(&call, Ok(invoked), now_ms, limit) {
            Ok(v) => TaskResult::Ok(v),
            Err(f) => TaskResult::Err { error: f.error, cause: f.cause },
        };
    }
    if !out.status.success() {
        let error = parsed
            .as_ref()
            .and_then(|v| v.get("errorType"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| "States.TaskFailed".into());
        let cause = match &parsed {
            Some(v) if v.get("errorType").is_some() || v.get("errorMessage").is_some() => v
                .get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string()),
            _ => format!("task command exited with {}", out.status),
        };
        return TaskResult::Err { error: Some(error), cause: Some(cause) };
    }
    match parsed {
        Some(result) => TaskResult::Ok(result),
        None => TaskResult::Err {
            error: Some("States.TaskFailed".into()),
            cause: Some("task command did not print a JSON value on stdout".into()),
        },
    }
}

fn uuid_like(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}
