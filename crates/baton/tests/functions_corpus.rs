//! The Lambda cases of the ASL conformance corpus (`lambda-echo`), run the way users run
//! them: on `baton up`, through the Step Functions API, with real functions. Each function a
//! case names is declared in the configuration as the test function built with the
//! official Rust Lambda runtime (`crates/test-function`), behaving as the case's
//! `task_resource_behaviour` describes (identity, raise, constant, large output, sleep), and runs
//! on the Lambda Runtime API under Baton's supervision.
//!
//! The recorded functions ran on AWS's Python runtime, whose error documents carry a
//! `requestId` and a Python `stackTrace`; ours come from the Rust runtime, with neither. So a
//! Lambda error document in a recorded or an actual value (a string holding a JSON object
//! with `errorType` and `errorMessage`, as a caught error's `Cause` is) is compared by its
//! `errorType` and `errorMessage` only: what Baton carries from the function to the state.
//!
//! Cases name the same functions with different behaviours, so each case's functions are
//! renamed to be its own (`NAME_cN`) in the definition and input, and named back in the
//! results before they are judged. Results are judged by the corpus' rules (`common::judge`);
//! the cases listed in `functions_corpus_known_failures.txt` may fail, any other failure
//! fails the test.

mod common;
mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{temp_dir, test_function, Baton};

/// The environment that makes the test function behave as `b` describes, or `None` for a
/// behaviour it does not know.
fn behaviour_env(b: &Value) -> Option<Vec<(&'static str, String)>> {
    let env = match b.get("behaviour")?.as_str()? {
        "identity" => vec![("BATON_TEST_BEHAVIOUR", "identity".to_owned())],
        "raise" => vec![
            ("BATON_TEST_BEHAVIOUR", "raise".to_owned()),
            ("ERROR_TYPE", b.get("errorType")?.as_str()?.to_owned()),
            ("ERROR_MESSAGE", b.get("errorMessage")?.as_str()?.to_owned()),
        ],
        "constant" => vec![
            ("BATON_TEST_BEHAVIOUR", "constant".to_owned()),
            ("CONSTANT", b.get("returns")?.to_string()),
        ],
        "sleep_then_identity" => vec![
            ("BATON_TEST_BEHAVIOUR", "sleep_then_identity".to_owned()),
            ("SLEEP_SECONDS", b.get("sleep_seconds")?.as_u64()?.to_string()),
        ],
        "large_output" => vec![
            ("BATON_TEST_BEHAVIOUR", "large_output".to_owned()),
            // The recorded size counts the JSON string's quotes.
            ("SIZE", (b.get("returns_size_bytes")?.as_u64()? - 2).to_string()),
        ],
        _ => return None,
    };
    Some(env)
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

struct Case {
    case: Value,
    /// `(original name, this case's name)` of each function.
    names: Vec<(String, String)>,
    definition: String,
    input: String,
}

impl Case {
    /// Names the case's functions back in a result.
    fn unrename(&self, v: &Value) -> Value {
        let mut text = v.to_string();
        for (original, renamed) in &self.names {
            text = text.replace(renamed, original);
        }
        serde_json::from_str(&text).unwrap()
    }
}

/// Runs a case to its end: `{"status", "output" | "error", "cause"}` as `baton exec` prints.
async fn run(baton: &Baton, i: usize, c: &Case) -> Value {
    let kind = c.case["state_machine_type"].as_str().unwrap_or("STANDARD");
    let (status, v) = baton
        .call(
            "CreateStateMachine",
            json!({"name": format!("case{i}"), "definition": c.definition, "type": kind,
                   "roleArn": "arn:aws:iam::111111111111:role/test"}),
        )
        .await;
    if status != 200 {
        return json!({"status": "CREATE_FAILED", "error": v["__type"], "cause": v["message"]});
    }
    let machine = v["stateMachineArn"].as_str().unwrap().to_owned();
    let described = if kind == "EXPRESS" {
        baton.ok("StartSyncExecution", json!({"stateMachineArn": machine, "input": c.input})).await
    } else {
        let v =
            baton.ok("StartExecution", json!({"stateMachineArn": machine, "input": c.input})).await;
        let arn = v["executionArn"].as_str().unwrap();
        baton.finished(arn, Duration::from_secs(120)).await
    };
    let parse = |k: &str| {
        described[k].as_str().map_or(Value::Null, |s| serde_json::from_str(s).unwrap_or(json!(s)))
    };
    json!({
        "status": described["status"],
        "output": parse("output"),
        "error": described["error"],
        "cause": described["cause"],
    })
}

/// `v` with every Lambda error document reduced to its `errorType` and `errorMessage`.
fn error_documents_reduced(v: &Value) -> Value {
    match v {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(doc))
                if doc.contains_key("errorType") && doc.contains_key("errorMessage") =>
            {
                let reduced =
                    json!({"errorType": doc["errorType"], "errorMessage": doc["errorMessage"]});
                Value::String(reduced.to_string())
            }
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(error_documents_reduced).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), error_documents_reduced(v))).collect())
        }
        _ => v.clone(),
    }
}

#[tokio::test]
async fn lambda_cases_of_the_corpus_on_baton_functions() {
    let Some(all) = common::load_cases() else { return };
    let binary = test_function();
    let mut config = String::from("[limits]\nfunction_log_lines = 100\n");
    let mut cases = Vec::new();
    for case in all {
        if case["category"] != "lambda-echo" || common::is_nondeterministic(&case) {
            continue;
        }
        let Some(Value::Object(behaviours)) = case.get("task_resource_behaviour") else {
            continue;
        };
        let i = cases.len();
        let mut definition = case["definition"].to_string();
        let mut input = case["input"].to_string();
        let mut names = Vec::new();
        let mut runnable = true;
        let mut declared = String::new();
        for (arn, b) in behaviours {
            let Some(env) = behaviour_env(b) else {
                runnable = false;
                break;
            };
            let original = functions::function_name(arn).to_owned();
            let renamed = format!("{original}_c{i}");
            definition = definition.replace(&original, &renamed);
            input = input.replace(&original, &renamed);
            let env: Vec<String> =
                env.iter().map(|(k, v)| format!("{k} = {}", toml_string(v))).collect();
            declared.push_str(&format!(
                "[functions.{renamed}]\ncommand = [{}]\ntimeout_seconds = 30\nenv = {{ {} }}\n\n",
                toml_string(&binary.display().to_string()),
                env.join(", ")
            ));
            names.push((original, renamed));
        }
        if !runnable {
            continue;
        }
        config.push_str(&declared);
        cases.push(Case { case, names, definition, input });
    }
    assert!(cases.len() > 50, "the corpus has its Lambda cases ({} found)", cases.len());

    let data = temp_dir("fn-corpus");
    let baton = Baton::start_with_config(&data, &config);
    let results =
        futures::future::join_all(cases.iter().enumerate().map(|(i, c)| run(&baton, i, c))).await;
    let known = common::known_failures(include_str!("functions_corpus_known_failures.txt"));
    let verdicts: Vec<(&Value, Result<(), String>)> = cases
        .iter()
        .zip(&results)
        .map(|(c, r)| {
            let mut expected = c.case.clone();
            expected["expected"] = error_documents_reduced(&c.case["expected"]);
            let actual = error_documents_reduced(&c.unrename(r));
            (&c.case, common::judge(&expected, Some(&actual)))
        })
        .collect();
    common::report("Lambda cases on baton up", &verdicts, &known);
}
