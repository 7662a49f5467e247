//! Runs the recorded AWS executions that only use JSONPath-mode Pass states (no variables)
//! through the path and template modules: InputPath, Parameters (paths and intrinsic calls),
//! Result, ResultPath and OutputPath, then compares with AWS's output or failure.
//!
//! The corpus lives in `../shared/conformance/asl/cases` (localstack snapshot tests validated
//! against AWS); the test skips itself when the corpus is not there.

use std::path::PathBuf;

use asl::path::{Path, ReferencePath};
use asl::template::Template;
use asl::{Env, Failure, Vars};
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

/// The recorded placeholders (`<uuid:1>`, `<ArnPart_0idx>`, ...) match any non-empty text.
fn str_match(exp: &str, act: &str) -> bool {
    if exp == act || matches!(exp, "date" | "<timestamp>" | "snf_role_arn" | "sfn_role_arn") {
        return true;
    }
    let mut parts = Vec::new();
    let (b, mut lit_start, mut i) = (exp.as_bytes(), 0, 0);
    while i < b.len() {
        if b[i] == b'<' {
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b"_-:".contains(&b[j])) {
                j += 1;
            }
            if j < b.len() && b[j] == b'>' && j > i + 1 {
                parts.push(&exp[lit_start..i]);
                lit_start = j + 1;
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    if parts.is_empty() {
        return false;
    }
    parts.push(&exp[lit_start..]);
    act.starts_with(parts[0]) && glob_rest(&parts[1..], &act[parts[0].len()..])
}

/// Matches `.+?` followed by each literal in turn.
fn glob_rest(parts: &[&str], act: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else { return act.is_empty() };
    let mut from = 1;
    while from <= act.len() {
        if !act.is_char_boundary(from) {
            from += 1;
            continue;
        }
        match act[from..].find(first) {
            Some(k) => {
                let at = from + k;
                if glob_rest(rest, &act[at + first.len()..]) {
                    return true;
                }
                from = at + 1;
            }
            None => return false,
        }
    }
    false
}

fn matches(exp: &Value, act: &Value) -> bool {
    match (exp, act) {
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len() && e.iter().all(|(k, v)| a.get(k).is_some_and(|w| matches(v, w)))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| matches(x, y))
        }
        (Value::String(e), Value::String(a)) => str_match(e, a),
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (e.as_f64().unwrap_or(f64::NAN), a.as_f64().unwrap_or(f64::NAN));
            (e - a).abs() <= 1e-9 * e.abs().max(1.0)
        }
        _ => exp == act,
    }
}

fn replace_literals(v: &Value, case: &Value) -> Value {
    let Some(reps) = case["snapshot_replacements"].as_array() else { return v.clone() };
    let mut text = serde_json::to_string(v).unwrap();
    for r in reps {
        text = text.replace(r["pattern"].as_str().unwrap(), r["replacement"].as_str().unwrap());
    }
    serde_json::from_str(&text).unwrap()
}

fn context_for(case: &Value, input: &Value) -> Value {
    let mut sm = "statemachine_5eed0001".to_owned();
    let mut exec = "00000000-0000-4000-8000-000000000002".to_owned();
    for r in case["snapshot_replacements"].as_array().into_iter().flatten() {
        match r["replacement"].as_str() {
            Some("<ArnPart_0idx>") => sm = r["pattern"].as_str().unwrap().to_owned(),
            Some("<ExecArnPart_0idx>") => exec = r["pattern"].as_str().unwrap().to_owned(),
            _ => {}
        }
    }
    json!({
        "Execution": {
            "Id": format!("arn:aws:states:us-east-1:111111111111:execution:{sm}:{exec}"),
            "Input": input,
            "Name": exec,
            "RedriveCount": 0,
            "RoleArn": "arn:aws:iam::111111111111:role/sfn_role_arn",
            "StartTime": "2024-01-01T00:00:00.000Z",
        },
        "StateMachine": {
            "Id": format!("arn:aws:states:us-east-1:111111111111:stateMachine:{sm}"),
            "Name": sm,
        },
        "State": {"EnteredTime": "2024-01-01T00:00:00.000Z", "Name": case["definition"]["StartAt"]},
    })
}

enum Outcome {
    Output(Value),
    Failed(Failure),
    CreateFailed,
}

/// Runs a machine of JSONPath Pass states.
fn run(case: &Value) -> Outcome {
    let def = &case["definition"];
    let input = case["input"].clone();
    let context = context_for(case, &input);
    let vars = Vars::new();
    let mut name = def["StartAt"].as_str().unwrap().to_owned();
    let mut value = input;
    let mut entered_event = 2;
    loop {
        let state = &def["States"][&name];
        let fail = |f: Failure| {
            let cause = format!(
                "An error occurred while executing the state '{name}' (entered at the event id #{entered_event}). {}",
                f.cause.clone().unwrap_or_default()
            );
            Outcome::Failed(Failure { cause: Some(cause), ..f })
        };
        // Compile first, as CreateStateMachine would.
        let params = match state.get("Parameters") {
            Some(p) => match Template::compile(p) {
                Ok(t) => Some(t),
                Err(_) => return Outcome::CreateFailed,
            },
            None => None,
        };
        let input_path = match state.get("InputPath") {
            Some(Value::String(p)) => Some(Path::parse(p).unwrap()),
            Some(Value::Null) => None,
            _ => Some(Path::parse("$").unwrap()),
        };
        let effective = match &input_path {
            None => json!({}),
            Some(p) => {
                let env = Env { input: &value, context: &context, vars: &vars };
                match p.select_or_fail(&env) {
                    Ok(v) => v,
                    Err(f) => return fail(f),
                }
            }
        };
        let result = if let Some(t) = &params {
            let env = Env { input: &effective, context: &context, vars: &vars };
            match t.evaluate(&env) {
                Ok(v) => v,
                Err(f) => return fail(f),
            }
        } else if let Some(r) = state.get("Result") {
            r.clone()
        } else {
            effective
        };
        let combined = match state.get("ResultPath") {
            Some(Value::Null) => value,
            Some(Value::String(p)) => {
                match ReferencePath::parse(p).unwrap().assign(value, result) {
                    Ok(v) => v,
                    Err(f) => return fail(f),
                }
            }
            _ => result,
        };
        let output = match state.get("OutputPath") {
            Some(Value::Null) => json!({}),
            Some(Value::String(p)) => {
                let env = Env { input: &combined, context: &context, vars: &vars };
                match Path::parse(p).unwrap().select_or_fail(&env) {
                    Ok(v) => v,
                    Err(f) => return fail(f),
                }
            }
            _ => combined,
        };
        value = output;
        match state.get("Next").and_then(Value::as_str) {
            Some(n) => {
                name = n.to_owned();
                entered_event += 2;
            }
            None => return Outcome::Output(value),
        }
    }
}

/// Cases that need more than the path and template modules.
const NEEDS_INTERPRETER: &[&str] = &[
    // The 256 KiB payload limit (States.DataLimitExceeded).
    "error_handling.test_states_errors.test_start_large_input.get_execution_history",
];

fn eligible(case: &Value) -> bool {
    if NEEDS_INTERPRETER.contains(&case["id"].as_str().unwrap_or("")) {
        return false;
    }
    let def = &case["definition"];
    if def.get("QueryLanguage").and_then(Value::as_str) == Some("JSONata") {
        return false;
    }
    let Some(states) = def["States"].as_object() else { return false };
    let flags = case["flags"].to_string();
    if flags.contains("nondeterministic") || flags.contains("time_dependent_input") {
        return false;
    }
    if !matches!(
        case["expected"]["status"].as_str(),
        Some("SUCCEEDED" | "FAILED" | "CREATE_FAILED")
    ) {
        return false;
    }
    states.values().all(|s| {
        s["Type"] == "Pass" && s.get("Assign").is_none() && s.get("QueryLanguage").is_none()
    })
}

#[test]
fn pass_state_cases_match_aws() {
    let Some(dir) = corpus_dir() else {
        eprintln!("conformance corpus not found; skipping");
        return;
    };
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    let (mut run_count, mut failures) = (0, Vec::new());
    let mut by_category = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for path in names {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if !eligible(&case) {
            continue;
        }
        run_count += 1;
        let exp = &case["expected"];
        let ok = match (run(&case), exp["status"].as_str().unwrap()) {
            (Outcome::Output(out), "SUCCEEDED") => {
                let out = replace_literals(&out, &case);
                let ok = matches(&exp["output"], &out);
                if !ok {
                    failures.push(format!("{}: output {out} != {}", case["id"], exp["output"]));
                }
                ok
            }
            (Outcome::Failed(f), "FAILED") => {
                let err = f.error.clone().map(Value::String).unwrap_or(Value::Null);
                let cause = replace_literals(&json!(f.cause), &case);
                let ok = matches(&exp["error"], &err) && matches(&exp["cause"], &cause);
                if !ok {
                    failures.push(format!(
                        "{}: failure {err} {cause} != {} {}",
                        case["id"], exp["error"], exp["cause"]
                    ));
                }
                ok
            }
            (Outcome::CreateFailed, "CREATE_FAILED") => true,
            (_, status) => {
                failures.push(format!("{}: expected {status}", case["id"]));
                false
            }
        };
        let e = by_category.entry(case["category"].as_str().unwrap().to_owned()).or_default();
        e.1 += 1;
        if ok {
            e.0 += 1;
        }
    }
    eprintln!("pass-state corpus cases: {run_count}; by category (passed, run): {by_category:?}");
    assert!(run_count > 100, "expected more than 100 eligible cases, found {run_count}");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
