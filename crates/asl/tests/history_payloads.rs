//! Whole histories of machines that move, select, replace and rebuild their payloads, against
//! histories recorded before the interpreter reused payload strings between events
//! (`data/history_payloads.json`), and the 256 KiB payload limit on the ways a state makes an
//! output.
//!
//! Set `BATON_WRITE_GOLDEN=1` to rewrite the recorded histories (only from a revision whose
//! histories are known to be right).

use asl::{Action, Execution, ExecutionInfo, Input, MachineType, Options, Outcome, StateMachine};
use serde_json::{json, Value};

/// Runs `definition` on `input`, answering every task with `task_output`, and returns the
/// outcome and the history as GetExecutionHistory shows it.
fn run(definition: &Value, input: Value, task_output: &Value, options: Options) -> Value {
    let machine = StateMachine::compile(definition, MachineType::Standard).expect("valid machine");
    let (mut ex, mut actions) =
        Execution::start(machine, ExecutionInfo::default(), input, options, 1_000);
    let mut now = 1_000;
    let mut finished = None;
    while let Some(a) = actions.pop() {
        now += 1;
        let next = match a {
            Action::RunTask(r) => {
                ex.step(Input::TaskSucceeded { id: r.id, output: task_output.clone() }, now)
            }
            Action::StartTimer { id, .. } => ex.step(Input::TimerFired { id }, now),
            Action::Cancel { .. } => Vec::new(),
            Action::Finished(o) => {
                finished = Some(o);
                Vec::new()
            }
        };
        actions.extend(next);
    }
    let outcome = finished.expect("the execution ended");
    assert_eq!(ex.status(), Some(outcome.status()));
    let outcome = match outcome {
        Outcome::Succeeded { output } => json!({"status": "SUCCEEDED", "output": output}),
        Outcome::Failed { error, cause } => {
            json!({"status": "FAILED", "error": error, "cause": cause})
        }
        other => json!({"status": other.status()}),
    };
    let events: Vec<Value> = ex.history().events().iter().map(|e| e.to_json(true)).collect();
    json!({"outcome": outcome, "events": events})
}

fn pass_chain() -> Value {
    json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "InputPath": "$.doc", "Next": "C"},
        "C": {"Type": "Pass", "Parameters": {"x.$": "$.n", "name.$": "$$.State.Name", "in.$": "$$.Execution.Input.doc.n"}, "ResultPath": "$.p", "Next": "D"},
        "D": {"Type": "Pass", "Result": {"r": [1, 2.5, "s\"q"]}, "ResultPath": "$.r", "OutputPath": "$.p", "Next": "E"},
        "E": {"Type": "Pass", "ResultPath": null, "Next": "F"},
        "F": {"Type": "Pass", "InputPath": null, "Next": "G"},
        "G": {"Type": "Pass", "Result": 7, "Assign": {"seen.$": "$"}, "Next": "H"},
        "H": {"Type": "Pass", "Parameters": {"v.$": "$seen", "t.$": "States.Format('{}-{}', $, $$.Execution.Name)"}, "OutputPath": "$.v", "End": true}
    }})
}

fn choice_loop() -> Value {
    json!({"StartAt": "Inc", "States": {
        "Inc": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)", "k.$": "$.k"}, "Next": "Loop?"},
        "Loop?": {"Type": "Choice", "InputPath": "$", "OutputPath": "$",
            "Choices": [
                {"Variable": "$.n", "NumericLessThan": 3, "Next": "Inc"},
                {"Variable": "$$.State.Name", "StringEquals": "Nope", "Next": "Inc"},
                {"Variable": "$.n", "NumericEquals": 3, "Next": "Part"}
            ],
            "Default": "Done"},
        "Part": {"Type": "Choice", "InputPath": "$.k", "Choices": [{"Variable": "$.z", "IsPresent": true, "Next": "Done"}], "Default": "Wait"},
        "Wait": {"Type": "Wait", "Seconds": 1, "OutputPath": "$.z", "Next": "Done"},
        "Done": {"Type": "Succeed", "InputPath": "$"}
    }})
}

fn tasks_and_maps() -> Value {
    json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"a.$": "$.a", "token.$": "$$.Execution.Id"}, "ResultSelector": {"p.$": "$.Payload"},
              "ResultPath": "$.res", "Next": "T2"},
        "T2": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "ResultPath": null, "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$.items",
              "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "a.$": "$.a"},
              "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "I", "States": {
                  "I": {"Type": "Pass", "Next": "J"},
                  "J": {"Type": "Pass", "OutputPath": "$.v", "End": true}}},
              "ResultPath": "$.mapped", "Next": "P"},
        "P": {"Type": "Parallel", "Branches": [
                {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}},
                {"StartAt": "Y", "States": {"Y": {"Type": "Fail", "Error": "Boom", "Cause": "why"}}}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Q"}], "Next": "Q"},
        "Q": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input.err %}", "Next": "R"},
        "R": {"Type": "Pass", "QueryLanguage": "JSONata", "Next": "S"},
        "S": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "K", "States": {
                  "K": {"Type": "Pass", "End": true}}},
              "ItemsPath": "$$.Execution.Input.items", "End": true}
    }})
}

/// Expressions that read `$$` (or not) in every field that may.
fn context_reads() -> Value {
    json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"name.$": "$$.State.Name", "plain.$": "$.a", "start.$": "$$.Execution.StartTime"},
              "Parameters": {"f.$": "States.Format('{}/{}', States.JsonToString($$.Execution.Input), $$.StateMachine.Name)", "a.$": "$.a"},
              "Next": "T"},
        "T": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
              "Parameters": {"name.$": "$name", "entered.$": "$$.State.EnteredTime", "retries.$": "$$.State.RetryCount"},
              "ResultSelector": {"p.$": "$.Payload", "who.$": "$$.Execution.Name", "n.$": "$start"},
              "ResultPath": "$.t", "OutputPath": "$", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [
                {"Variable": "$name", "StringEquals": "zzz", "Next": "O"},
                {"Not": {"Variable": "$$.Execution.Input.a", "NumericEquals": 1}, "Next": "O"},
                {"And": [{"Variable": "$.a", "NumericEqualsPath": "$$.Execution.Input.a"}, {"Variable": "$plain", "IsPresent": true}], "Next": "V"}],
              "Default": "O"},
        "V": {"Type": "Pass", "InputPath": "$name", "ResultPath": "$", "Next": "O"},
        "O": {"Type": "Pass", "InputPath": "$$.Execution", "OutputPath": "$.Input", "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$.list", "ItemSelector": {"v.$": "$$.Map.Item.Value", "plain.$": "$.a"},
              "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "I", "States": {
                  "I": {"Type": "Pass", "Parameters": {"ctx.$": "$$.State.Name", "v.$": "$.v"}, "End": true}}},
              "End": true}
    }})
}

/// Maps whose fields read the effective input after the items (or not).
fn map_fields() -> Value {
    json!({"StartAt": "A", "States": {
        "A": {"Type": "Map", "InputPath": "$.m", "ItemsPath": "$.items", "MaxConcurrencyPath": "$.mc",
              "ToleratedFailureCountPath": "$.tc", "ToleratedFailurePercentagePath": "$.tp",
              "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "I", "States": {
                  "I": {"Type": "Pass", "End": true}}},
              "ResultPath": "$.out", "Next": "B"},
        "B": {"Type": "Map", "InputPath": "$.m", "ItemsPath": "$.items", "MaxConcurrency": 1,
              "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "J", "States": {
                  "J": {"Type": "Pass", "Result": "x", "End": true}}},
              "Next": "C"},
        "C": {"Type": "Map", "ItemsPath": "$", "ItemSelector": {"v.$": "$$.Map.Item.Value", "all.$": "$"},
              "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "K", "States": {
                  "K": {"Type": "Pass", "End": true}}},
              "End": true}
    }})
}

fn cases() -> Vec<(&'static str, Value, Value, Value)> {
    let doc =
        json!({"n": 1, "f": 1.25, "s": "a\u{1}\"b\\c\u{e9}", "list": [1, -2, 3.5e300, null, true]});
    vec![
        ("pass_chain", pass_chain(), json!({"doc": doc, "x": [doc, doc]}), json!({})),
        ("choice_loop", choice_loop(), json!({"n": 0, "k": {"y": 1, "z": {"w": 2}}}), json!({})),
        ("choice_loop_default", choice_loop(), json!({"n": 5, "k": {}}), json!({})),
        ("choice_loop_wait", choice_loop(), json!({"n": 2, "k": {"y": 1}}), json!({})),
        (
            "tasks_and_maps",
            tasks_and_maps(),
            json!({"a": 1, "items": [{"q": 1}, "two", 3.0, [4]], "doc": doc}),
            json!({"Payload": {"ok": true, "s": "\n"}}),
        ),
        (
            "context_reads",
            context_reads(),
            json!({"a": 1, "list": [1, {"b": 2}]}),
            json!({"Payload": 5}),
        ),
        (
            "map_fields",
            map_fields(),
            json!({"m": {"items": [1, [2], {"c": 3}], "mc": 2, "tc": 0, "tp": 50}}),
            json!({}),
        ),
        ("map_fields_bad", map_fields(), json!({"m": {"items": {"not": "array"}}}), json!({})),
        (
            "context_reads_other",
            context_reads(),
            json!({"a": 2, "list": []}),
            json!({"Payload": 6}),
        ),
    ]
}

fn histories(record: bool) -> Value {
    let mut out = serde_json::Map::new();
    for (name, def, input, task_output) in cases() {
        let options = Options { record_history: record, ..Default::default() };
        out.insert(name.to_owned(), run(&def, input, &task_output, options));
    }
    Value::Object(out)
}

#[test]
fn histories_match_the_recorded_ones() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/history_payloads.json");
    let actual = histories(true);
    if std::env::var_os("BATON_WRITE_GOLDEN").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
    }
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (name, exp) in expected.as_object().unwrap() {
        assert_eq!(&actual[name], exp, "{name}");
    }
    assert_eq!(actual, expected);
}

#[test]
fn outcomes_do_not_depend_on_history() {
    let with = histories(true);
    let without = histories(false);
    for (name, w) in with.as_object().unwrap() {
        assert_eq!(w["outcome"], without[name]["outcome"], "{name}");
        assert_eq!(without[name]["events"], json!([]), "{name}");
    }
}

/// The outcome of `definition` on `input` with a payload limit of `limit` bytes.
fn limited(
    definition: &Value,
    input: Value,
    task_output: &Value,
    limit: usize,
    record: bool,
) -> Value {
    let options =
        Options { record_history: record, max_payload_bytes: limit, ..Default::default() };
    run(definition, input, task_output, options)["outcome"].clone()
}

fn assert_limit_exceeded(outcome: &Value, state: &str) {
    assert_eq!(outcome["status"], "FAILED", "{outcome}");
    assert_eq!(outcome["error"], "States.DataLimitExceeded", "{outcome}");
    let cause = format!("The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit.");
    assert_eq!(outcome["cause"], cause.as_str());
}

const BIG: usize = 256 * 1024;

#[test]
fn a_pass_with_parameters_over_the_limit_fails() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"one.$": "$.s", "two.$": "$.s"}, "End": true}}});
    let input = json!({"s": "x".repeat(BIG / 2)});
    for record in [false, true] {
        assert_limit_exceeded(&limited(&def, input.clone(), &json!({}), BIG, record), "B");
    }
}

#[test]
fn a_task_result_over_the_limit_fails() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "ResultPath": "$.r", "End": true}}});
    let result = json!({"big": "\u{1}".repeat(BIG / 6 + 1)});
    for record in [false, true] {
        assert_limit_exceeded(&limited(&def, json!({}), &result, BIG, record), "T");
        // The same result under ResultPath null leaves the small input as the output.
        let discard = json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "ResultPath": null, "End": true}}});
        assert_eq!(limited(&discard, json!({}), &result, BIG, record)["status"], "SUCCEEDED");
    }
}

#[test]
fn a_map_whose_joined_output_is_over_the_limit_fails() {
    let def = json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "I",
              "States": {"I": {"Type": "Pass", "End": true}}}, "End": true}}});
    // Every item is under the limit; the joined array is not.
    let items: Vec<Value> = (0..5).map(|_| json!("y".repeat(BIG / 4))).collect();
    for record in [false, true] {
        assert_limit_exceeded(&limited(&def, json!(items), &json!({}), BIG, record), "M");
        let fewer = json!(items[..3]);
        assert_eq!(limited(&def, fewer, &json!({}), BIG, record)["status"], "SUCCEEDED");
    }
}

#[test]
fn an_execution_input_over_the_limit_fails_the_first_state_that_passes_it_on() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": true}}});
    for record in [false, true] {
        let input = json!({"s": "z".repeat(BIG)});
        assert_limit_exceeded(&limited(&def, input, &json!({}), BIG, record), "A");
    }
}

#[test]
fn the_limit_is_exact_in_bytes() {
    // Floats, escapes and non-ASCII text: the size check must count what serialization
    // writes, no more and no less.
    let result = json!({"f": [0.1, -1.5e-300, 1.7976931348623157e308, 3.0, -0.0], "i": [u64::MAX, i64::MIN],
        "s": "tab\t quote\" back\\ nul\u{0} \u{1f} é 😀", "k\n": null});
    let exact = serde_json::to_string(&result).unwrap().len();
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": result, "Next": "B"},
        "B": {"Type": "Pass", "End": true}}});
    for record in [false, true] {
        assert_eq!(limited(&def, json!({}), &json!({}), exact, record)["status"], "SUCCEEDED");
        assert_limit_exceeded(&limited(&def, json!({}), &json!({}), exact - 1, record), "A");
    }
}

#[test]
fn the_execution_input_is_in_the_context_wherever_it_is_read() {
    let input = json!({"a": [1, 2], "b": "c"});
    let nested = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.a",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "I", "States": {
            "I": {"Type": "Pass", "Parameters": {"in.$": "$$.Execution.Input.b"}, "End": true}}},
        "End": true}}});
    let jsonata = json!({"StartAt": "J", "States": {"J": {"Type": "Pass", "QueryLanguage": "JSONata",
        "Output": "{% $states.context.Execution.Input %}", "End": true}}});
    for record in [false, true] {
        let options = || Options { record_history: record, ..Default::default() };
        let out = run(&nested, input.clone(), &json!({}), options())["outcome"].clone();
        assert_eq!(out["output"], json!([{"in": "c"}, {"in": "c"}]));
        let out = run(&jsonata, input.clone(), &json!({}), options())["outcome"].clone();
        assert_eq!(out["output"], input);
    }
}
