//! Runs every definition of the ASL conformance corpus through the validator:
//!
//! - a `CREATE_FAILED` case must produce exactly the recorded `cause`;
//! - a `VALIDATE` case must produce exactly the recorded ValidateStateMachineDefinition
//!   response;
//! - every other case's definition must produce no diagnostic at all.
//!
//! Case ids listed in `validate_known_failures.txt` may differ; the test fails on any other
//! difference and reports listed cases that now pass.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use asl::validate::{invalid_definition_cause, validate_response, validate_text, MachineType};
use serde_json::{json, Map, Value};

fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/conformance/asl/cases"))
}

fn known_failures() -> BTreeSet<String> {
    let text = include_str!("validate_known_failures.txt");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The recording sorted object keys; put the keys of a definition back in the order the
/// corpus' templates wrote them, which the Python-formatted causes (Map `Label` checks)
/// show. Keys this order does not name keep their sorted order.
fn template_order(value: &Value) -> Value {
    const ORDER: [&str; 10] = [
        "Comment",
        "QueryLanguage",
        "ProcessorConfig",
        "Mode",
        "ExecutionType",
        "StartAt",
        "States",
        "Type",
        "Next",
        "End",
    ];
    let rank = |key: &str| match key {
        "Label" => 90,
        "Next" => 98,
        "End" => 99,
        _ => ORDER.iter().position(|k| *k == key).map_or(50, |i| i * 5),
    };
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by_key(|(key, _)| rank(key));
            let mut out = Map::new();
            for (key, item) in entries {
                out.insert(key.clone(), template_order(item));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(template_order).collect()),
        other => other.clone(),
    }
}

fn machine_type(case: &Value) -> MachineType {
    let kind = case
        .get("state_machine_type")
        .or_else(|| case["expected"].get("state_machine_type"))
        .and_then(Value::as_str);
    match kind {
        Some("EXPRESS") => MachineType::Express,
        _ => MachineType::Standard,
    }
}

/// Checks one case; `Err` explains the difference.
fn check(case: &Value) -> Result<&'static str, String> {
    let expected = &case["expected"];
    let kind = machine_type(case);
    let definition = template_order(&case["definition"]);
    match expected["status"].as_str() {
        Some("CREATE_FAILED") => {
            let diagnostics = validate_text(&definition.to_string(), kind);
            if diagnostics.is_empty() {
                return Err("accepted a definition AWS rejects".into());
            }
            let cause = invalid_definition_cause(&diagnostics);
            if Some(cause.as_str()) == expected["cause"].as_str() {
                Ok("create_failed")
            } else {
                Err(format!("cause {cause:?}, expected {:?}", expected["cause"]))
            }
        }
        Some("VALIDATE") => {
            let text = match &definition {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let response = validate_response(&text, kind);
            let recorded = json!({
                "result": expected["result"],
                "diagnostics": expected["diagnostics"],
                "truncated": expected["truncated"],
            });
            if response == recorded {
                Ok("validate")
            } else {
                Err(format!("response {response}, expected {recorded}"))
            }
        }
        _ => {
            let diagnostics = validate_text(&definition.to_string(), kind);
            if diagnostics.is_empty() {
                Ok("valid")
            } else {
                Err(format!(
                    "rejected a valid definition: {}",
                    invalid_definition_cause(&diagnostics)
                ))
            }
        }
    }
}

#[test]
fn corpus() {
    let dir = corpus_dir();
    let Ok(entries) = fs::read_dir(&dir) else {
        println!("note: no corpus at {}, skipping", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let known = known_failures();
    let mut passed = std::collections::BTreeMap::<&str, usize>::new();
    let mut totals = std::collections::BTreeMap::<&str, usize>::new();
    let mut unexpected = Vec::new();
    let mut now_passing = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("readable case");
        let case: Value = serde_json::from_str(&text).expect("case is JSON");
        let id = case["id"].as_str().unwrap_or_default().to_owned();
        let group = match case["expected"]["status"].as_str() {
            Some("CREATE_FAILED") => "create_failed",
            Some("VALIDATE") => "validate",
            _ => "valid",
        };
        *totals.entry(group).or_default() += 1;
        match check(&case) {
            Ok(group) => {
                *passed.entry(group).or_default() += 1;
                if known.contains(&id) {
                    now_passing.push(id);
                }
            }
            Err(why) if !known.contains(&id) => unexpected.push(format!("{id}: {why}")),
            Err(_) => {}
        }
    }
    for (group, total) in &totals {
        println!("{group}: {} of {total} as recorded", passed.get(group).copied().unwrap_or(0));
    }
    for id in &now_passing {
        println!("listed in validate_known_failures.txt but passes now: {id}");
    }
    assert!(
        unexpected.is_empty(),
        "{} case(s) differ:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}
