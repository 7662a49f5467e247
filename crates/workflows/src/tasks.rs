//! Task dispatch: what a Task state's `Resource` means to Baton, and running it.
//!
//! A dispatched task runs as a tokio task of its own and reports its result to a [`Sink`]:
//! the owning shard for a Standard execution, the driver's channel for an Express one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asl::interpreter::ActionId;
use asl::{Input, TaskRequest};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::persist::ParentRef;
use crate::Engine;

/// What kind of work a resource names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// `arn:aws:states:::http:invoke`.
    Http,
    /// An activity ARN: a worker takes the task with GetActivityTask.
    Activity(String),
    /// `arn:aws:states:::states:startExecution`, with `.sync` (`Some(false)`), `.sync:2`
    /// (`Some(true)`) or neither.
    StartExecution { sync: Option<bool> },
    /// A Lambda function: a function ARN or `arn:aws:states:::lambda:invoke`.
    Lambda,
    /// `arn:aws:states:::sns:publish`.
    SnsPublish,
    /// Anything else.
    Unsupported,
}

/// Classifies a Task state's resource.
pub(crate) fn classify(resource: &str) -> Kind {
    let base = resource.strip_suffix(".waitForTaskToken").unwrap_or(resource);
    if base == "arn:aws:states:::http:invoke" {
        return Kind::Http;
    }
    if let Some(rest) = base.strip_prefix("arn:aws:states:::states:startExecution") {
        return match rest {
            "" => Kind::StartExecution { sync: None },
            ".sync" => Kind::StartExecution { sync: Some(false) },
            ".sync:2" => Kind::StartExecution { sync: Some(true) },
            _ => Kind::Unsupported,
        };
    }
    if crate::sns::is_sns_publish(base) {
        return Kind::SnsPublish;
    }
    if crate::lambda::is_lambda(base) {
        return Kind::Lambda;
    }
    let parts: Vec<&str> = base.split(':').collect();
    if parts.len() == 7 && parts[0] == "arn" && parts[2] == "states" && parts[5] == "activity" {
        return Kind::Activity(base.to_owned());
    }
    Kind::Unsupported
}

/// The token of a task: the execution and the action it completes. It is also the
/// idempotency key of the task's HTTP call and of its SNS message: the same attempt of the
/// same task always has the same one.
pub(crate) fn token(execution_arn: &str, id: ActionId) -> String {
    format!("{execution_arn}#{id}")
}

/// Reads a token made by [`token`] (or by the interpreter, in the same form).
pub(crate) fn parse_token(token: &str) -> Option<(String, ActionId)> {
    let (arn, id) = token.rsplit_once('#')?;
    if !arn.starts_with("arn:aws:states:") || !arn.contains(":execution:") {
        return None;
    }
    Some((arn.to_owned(), id.parse().ok()?))
}

/// Where a task's result goes.
#[derive(Clone)]
pub(crate) enum Sink {
    Shard(String),
    Channel(mpsc::UnboundedSender<Input>),
}

impl Sink {
    fn send(&self, engine: &Engine, input: Input) {
        match self {
            Self::Shard(arn) => {
                engine.send(arn, crate::shard::Msg::Input { arn: arn.clone(), input, inbox: None })
            }
            Self::Channel(tx) => {
                let _ = tx.send(input);
            }
        }
    }
}

/// Starts the work of a task, unless it is one that waits for a worker or a callback only
/// (an activity). `execution_arn` is the execution the task belongs to.
pub(crate) fn spawn(
    engine: &Engine,
    execution_arn: &str,
    req: Arc<TaskRequest>,
    sink: Sink,
) -> Option<JoinHandle<()>> {
    let kind = classify(&req.resource);
    let waits_for_token = req.resource.ends_with(".waitForTaskToken");
    match kind {
        Kind::Activity(_) => {
            engine.inner().activity_tasks.notify_waiters();
            None
        }
        kind => {
            let engine = engine.clone();
            let execution_arn = execution_arn.to_owned();
            Some(tokio::spawn(async move {
                let started = Instant::now();
                let result = perform(&engine, &execution_arn, &req, kind).await;
                engine.inner().metrics.task_latency.observe_duration(started.elapsed());
                let input = match result {
                    // The callback completes the task; the call's own result does not.
                    Ok(Some(_)) if waits_for_token => return,
                    Ok(Some(output)) => Input::TaskSucceeded { id: req.id, output },
                    // A `.sync` child reports through the inbox when it ends.
                    Ok(None) => return,
                    Err(f) => Input::TaskFailed { id: req.id, error: f.error, cause: f.cause },
                };
                sink.send(&engine, input);
            }))
        }
    }
}

async fn perform(
    engine: &Engine,
    execution_arn: &str,
    req: &TaskRequest,
    kind: Kind,
) -> Result<Option<Value>, asl::Failure> {
    match kind {
        Kind::Http => {
            let timeout = req
                .timeout_seconds
                .map_or(engine.config().http_timeout, Duration::from_secs)
                .min(engine.config().http_timeout.max(Duration::from_secs(1)));
            let key = token(execution_arn, req.id);
            crate::http_task::invoke_once(&engine.inner().http, &req.input, timeout, Some(&key))
                .await
                .map(Some)
        }
        Kind::StartExecution { sync } => start_child(engine, execution_arn, req, sync).await,
        Kind::Lambda => invoke_lambda(engine, req).await.map(Some),
        Kind::SnsPublish => publish_sns(engine, execution_arn, req).await.map(Some),
        Kind::Activity(_) => Ok(None),
        Kind::Unsupported => Err(asl::Failure::new(
            "States.TaskFailed",
            format!("Baton does not support the task resource '{}'", req.resource),
        )),
    }
}

async fn invoke_lambda(engine: &Engine, req: &TaskRequest) -> Result<Value, asl::Failure> {
    let call = crate::lambda::call(&req.resource, &req.input)?;
    let outcome = match &engine.config().lambda {
        Some(handle) => handle.0.invoke(call.clone()).await,
        None => Err(crate::lambda::InvokeFailure {
            error: "Lambda.ResourceNotFoundException".into(),
            cause: format!(
                "Function not found: {} (Service: AWSLambda; Status Code: 404; Error Code: \
                 ResourceNotFoundException): no functions are configured",
                call.function
            ),
        }),
    };
    let limit = engine.config().limits.max_payload_bytes;
    crate::lambda::result(&call, outcome, crate::now_ms(), limit)
}

async fn publish_sns(
    engine: &Engine,
    execution_arn: &str,
    req: &TaskRequest,
) -> Result<Value, asl::Failure> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let key = token(execution_arn, req.id);
    let outcome = match crate::sns::request(&req.input, &key) {
        Err(refused) => Err(refused),
        Ok(request) => match &engine.config().sns {
            Some(handle) => handle.0.publish(request).await,
            None => Err(crate::sns::Refusal::new(
                crate::sns::RefusalKind::NotFound,
                "Topic does not exist: no topics service is configured",
            )),
        },
    };
    crate::sns::result(outcome, &request_id, crate::now_ms())
}

async fn start_child(
    engine: &Engine,
    execution_arn: &str,
    req: &TaskRequest,
    sync: Option<bool>,
) -> Result<Option<Value>, asl::Failure> {
    let bad = |cause: String| asl::Failure::new("States.Runtime", cause);
    let machine_arn = req
        .input
        .get("StateMachineArn")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("The field 'StateMachineArn' is required".into()))?;
    let machine = engine
        .store()
        .machine(machine_arn)
        .await
        .map_err(|e| asl::Failure::new("States.TaskFailed", e.to_string()))?
        .ok_or_else(|| {
            asl::Failure::new(
                "StepFunctions.StateMachineDoesNotExistException",
                format!("State Machine Does Not Exist: '{machine_arn}'"),
            )
        })?;
    let input = match req.input.get("Input") {
        None => "{}".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    // What StartExecution refuses, the task fails with as AWS's integration does.
    let Ok(parsed) = serde_json::from_str::<Value>(&input) else {
        return Err(asl::Failure::new(
            "StepFunctions.InvalidExecutionInputException",
            format!("Invalid State Machine Execution Input: '{input}'"),
        ));
    };
    // A retried dispatch starts the same child: its default name comes from the parent.
    let name = match req.input.get("Name") {
        None => child_name(execution_arn, req.id),
        Some(Value::String(n)) if crate::valid_name(n) => n.clone(),
        Some(n) => {
            let n = n.as_str().map_or_else(|| n.to_string(), str::to_owned);
            return Err(asl::Failure::new(
                "StepFunctions.InvalidNameException",
                format!("Invalid Name: '{n}'"),
            ));
        }
    };
    let parent = sync.map(|output_as_json| ParentRef {
        execution_arn: execution_arn.to_owned(),
        action: req.id,
        output_as_json,
    });
    let started = if crate::kind_of(&machine) == asl::MachineType::Express {
        engine.start_express(&machine, Some(name), parsed)
    } else {
        let via = crate::Via::default();
        engine.start_child(&machine, Some(name), input, parent.clone(), via, false).await
    };
    let started = started.map_err(|e| match e {
        crate::Error::ExecutionAlreadyExists(m) => {
            asl::Failure::new("StepFunctions.ExecutionAlreadyExistsException", m)
        }
        e => asl::Failure::new("States.TaskFailed", e.to_string()),
    })?;
    if parent.is_some() {
        return Ok(None);
    }
    Ok(Some(json!({
        "ExecutionArn": started.execution_arn,
        "StartDate": asl::interpreter::iso_millis(started.start_ms),
    })))
}

fn child_name(execution_arn: &str, id: ActionId) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in execution_arn.bytes().chain(id.to_le_bytes()) {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
    }
    let x = format!("{h:032x}");
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

/// The message a `.sync` parent receives when its child ends: DescribeExecution's shape.
pub(crate) fn child_result(
    child: &store::ExecutionRecord,
    end: &store::ExecutionEnd,
    parent: &ParentRef,
) -> crate::persist::StepInput {
    let json_out = parent.output_as_json;
    let parse = |s: &str| serde_json::from_str(s).unwrap_or(Value::Null);
    let mut d = json!({
        "ExecutionArn": child.arn,
        "StateMachineArn": child.machine_arn,
        "Name": child.name,
        "Status": end.status,
        "StartDate": child.start_ms,
        "StopDate": end.stop_ms,
        "Input": if json_out { parse(&child.input) } else { Value::String(child.input.clone()) },
    });
    if let Some(o) = &end.output {
        d["Output"] = if json_out { parse(o) } else { Value::String(o.clone()) };
    }
    if end.status == "SUCCEEDED" {
        crate::persist::StepInput::TaskSucceeded { id: parent.action, output: d }
    } else {
        if let Some(e) = &end.error {
            d["Error"] = Value::String(e.clone());
        }
        if let Some(c) = &end.cause {
            d["Cause"] = Value::String(c.clone());
        }
        crate::persist::StepInput::TaskFailed {
            id: parent.action,
            error: Some("States.TaskFailed".into()),
            cause: Some(d.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_classified() {
        assert_eq!(classify("arn:aws:states:::http:invoke"), Kind::Http);
        assert_eq!(
            classify("arn:aws:states:us-east-1:1:activity:work"),
            Kind::Activity("arn:aws:states:us-east-1:1:activity:work".into())
        );
        assert_eq!(
            classify("arn:aws:states:::states:startExecution.sync:2"),
            Kind::StartExecution { sync: Some(true) }
        );
        assert_eq!(classify("arn:aws:states:::lambda:invoke.waitForTaskToken"), Kind::Lambda);
        assert_eq!(classify("arn:aws:states:::sns:publish"), Kind::SnsPublish);
        assert_eq!(classify("arn:aws:states:::sns:publish.waitForTaskToken"), Kind::SnsPublish);
        assert_eq!(classify("arn:aws:states:::sqs:sendMessage"), Kind::Unsupported);
    }

    #[test]
    fn tokens_round_trip() {
        let arn = "arn:aws:states:us-east-1:1:execution:m:e";
        assert_eq!(parse_token(&token(arn, 42)), Some((arn.to_owned(), 42)));
        assert_eq!(parse_token("nonsense"), None);
        assert_eq!(parse_token("arn:aws:states:x#notanumber"), None);
    }

    #[test]
    fn child_names_are_stable() {
        assert_eq!(child_name("a", 1), child_name("a", 1));
        assert_ne!(child_name("a", 1), child_name("a", 2));
        assert_eq!(child_name("a", 1).len(), 36);
    }
}
