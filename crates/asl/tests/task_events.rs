//! The history event families of tasks: activities and Lambda functions record their own
//! event types, other tasks `Task*`.

use asl::{Action, Execution, ExecutionInfo, Input, MachineType, Options, StateMachine};
use serde_json::{json, Value};

/// Starts `definition` on `input` up to its first task: the execution and the task's id.
fn start_task(definition: &Value, input: Value) -> (Execution, u64) {
    let machine = StateMachine::compile(definition, MachineType::Standard).unwrap();
    let (ex, actions) =
        Execution::start(machine, ExecutionInfo::default(), input, Options::default(), 0);
    let id = actions
        .iter()
        .find_map(|a| match a {
            Action::RunTask(r) => Some(r.id),
            _ => None,
        })
        .expect("the task runs");
    (ex, id)
}

/// Runs a one-Task machine whose task succeeds with `{}` and returns its events.
fn events(task: Value) -> Vec<Value> {
    let (mut ex, id) = start_task(&json!({"StartAt": "T", "States": {"T": task}}), json!({}));
    ex.step(Input::TaskSucceeded { id, output: json!({}) }, 10);
    ex.history().events().iter().map(|e| e.to_json(true)).collect()
}

#[test]
fn activity_tasks_record_activity_events() {
    let arn = "arn:aws:states:us-east-1:123456789012:activity:jobs";
    let ev = events(json!({"Type": "Task", "Resource": arn, "HeartbeatSeconds": 30, "End": true}));
    let types: Vec<&str> = ev.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types[2..5],
        ["ActivityScheduled", "ActivityStarted", "ActivitySucceeded"],
        "{types:?}"
    );
    let d = &ev[2]["activityScheduledEventDetails"];
    assert_eq!(d["resource"], arn);
    assert_eq!(d["input"], "{}");
    assert_eq!(d["heartbeatInSeconds"], 30);
    assert!(ev[2].get("taskScheduledEventDetails").is_none());
}

#[test]
fn other_tasks_keep_task_events() {
    let ev = events(json!({"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
        "Parameters": {"ApiEndpoint": "http://127.0.0.1:9/", "Method": "GET"}, "End": true}));
    let types: Vec<&str> = ev.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types[2..5], ["TaskScheduled", "TaskStarted", "TaskSucceeded"], "{types:?}");
    assert_eq!(ev[4]["taskSucceededEventDetails"]["resourceType"], "http");
}

#[test]
fn a_caught_result_path_failure_keeps_the_state_input() {
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "ResultPath": "$.a.b",
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Done"}],
              "End": true},
        "Done": {"Type": "Pass", "End": true}}});
    let (mut ex, id) = start_task(&definition, json!({"a": 1, "keep": "me"}));
    let outcome = ex
        .step(Input::TaskSucceeded { id, output: json!({"x": 2}) }, 10)
        .into_iter()
        .find_map(|a| match a {
            Action::Finished(o) => Some(o),
            _ => None,
        })
        .expect("the execution ends");
    let asl::Outcome::Succeeded { output } = outcome else { panic!("{outcome:?}") };
    assert_eq!((&output["a"], &output["keep"]), (&json!(1), &json!("me")), "{output}");
    assert_eq!(output["err"]["Error"], "States.ResultPathMatchFailure", "{output}");
}
