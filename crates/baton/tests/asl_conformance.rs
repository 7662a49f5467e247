//! The ASL conformance corpus (`../shared/conformance/asl`), run through `baton exec --batch
//! --virtual-time` exactly as a user would run it, and judged by the corpus' rules: status,
//! then output (SUCCEEDED), error and cause (FAILED, TIMED_OUT) or error (CREATE_FAILED), as
//! JSON values, with the recording's placeholders matching any value (and baton's account id
//! matching where a recorded ARN holds the recording's placeholder account `111111111111`).
//!
//! Unlike the shared checker, the Lambda cases run too: each function is a small shell
//! command that behaves as the case's `task_resource_behaviour` describes.
//!
//! The test fails when a case not listed in `tests/asl_known_failures.txt` fails, and prints
//! the listed cases that pass now, so the list only shrinks.

mod common;

use serde_json::{json, Value};

use common::judge;

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A shell command that behaves as one recorded Lambda function does, or `None` when the
/// behaviour cannot run quickly here.
fn function_command(b: &Value) -> Option<String> {
    match b.get("behaviour")?.as_str()? {
        "identity" => Some("cat".into()),
        "constant" => Some(format!(
            "cat >/dev/null; printf %s {}",
            shell_quote(&b.get("returns")?.to_string())
        )),
        "raise" => {
            let err = json!({
                "errorMessage": b.get("errorMessage").cloned().unwrap_or(Value::Null),
                "errorType": b.get("errorType").cloned().unwrap_or(Value::Null),
            });
            Some(format!("cat >/dev/null; printf %s {}; exit 1", shell_quote(&err.to_string())))
        }
        "large_output" => {
            let n = b.get("returns_size_bytes")?.as_u64()?;
            Some(format!(
                "cat >/dev/null; printf '\"'; head -c {} /dev/zero | tr '\\000' a; printf '\"'",
                n - 2
            ))
        }
        _ => None,
    }
}

#[test]
fn asl_corpus() {
    let Some(all) = common::load_cases() else { return };
    let mut cases = Vec::new();
    let mut lines = Vec::new();
    for case in all {
        if common::is_nondeterministic(&case) || case["expected"]["status"] == "VALIDATE" {
            continue;
        }
        let mut line = common::batch_line(&case);
        if let Some(Value::Object(behaviours)) = case.get("task_resource_behaviour") {
            let mut tasks = serde_json::Map::new();
            let mut runnable = true;
            for (resource, b) in behaviours {
                match function_command(b) {
                    Some(c) => {
                        tasks.insert(resource.clone(), Value::String(c));
                    }
                    None => runnable = false,
                }
            }
            if !runnable {
                continue;
            }
            line["tasks"] = Value::Object(tasks);
        }
        lines.push(line);
        cases.push(case);
    }
    let results = common::run_batch(&lines, &[]);
    let known = common::known_failures(include_str!("asl_known_failures.txt"));
    let verdicts: Vec<(&Value, Result<(), String>)> =
        cases.iter().map(|c| (c, judge(c, results.get(c["id"].as_str().unwrap())))).collect();
    common::report("ASL corpus", &verdicts, &known);
}
