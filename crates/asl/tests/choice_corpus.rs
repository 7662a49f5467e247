//! Runs the recorded `choice_operators` executions (AWS-validated) through the choice rules:
//! each case is a Choice state with one rule, and AWS's output names the branch it took.

use std::path::PathBuf;

use asl::choice::Rule;
use asl::{Env, Vars};
use serde_json::{json, Value};

fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("ASL_CORPUS_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/asl/cases")
        }
    };
    dir.is_dir().then_some(dir)
}

#[test]
fn choice_operator_cases_match_aws() {
    let Some(dir) = corpus_dir() else {
        eprintln!("conformance corpus not found; skipping");
        return;
    };
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("choice_operators."))
        .collect();
    paths.sort();
    let vars = Vars::new();
    let mut failures = Vec::new();
    for path in &paths {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let states = &case["definition"]["States"];
        let start = case["definition"]["StartAt"].as_str().unwrap();
        let choice = &states[start];
        assert_eq!(choice["Type"], "Choice");
        let input = &case["input"];
        let context = json!({"Execution": {"Input": input}});
        let env = Env { input, context: &context, vars: &vars };
        let mut next = choice["Default"].as_str().map(str::to_owned);
        for raw in choice["Choices"].as_array().unwrap() {
            let rule = Rule::parse(raw).unwrap_or_else(|e| panic!("{}: {e}", case["id"]));
            match rule.evaluate(&env) {
                Ok(true) => {
                    next = raw["Next"].as_str().map(str::to_owned);
                    break;
                }
                Ok(false) => {}
                Err(f) => {
                    failures.push(format!("{}: unexpected failure {f}", case["id"]));
                    next = None;
                    break;
                }
            }
        }
        let Some(next) = next else { continue };
        let output = &states[&next]["Result"];
        if output != &case["expected"]["output"] {
            failures.push(format!(
                "{}: took {next} on input {input}, AWS output {}",
                case["id"], case["expected"]["output"]
            ));
        }
    }
    eprintln!("choice_operators cases: {}", paths.len());
    assert!(paths.len() > 300);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
