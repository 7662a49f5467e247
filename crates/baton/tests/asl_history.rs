//! The execution histories of the ASL conformance corpus (`../shared/conformance/asl`): every
//! deterministic case that recorded AWS's GetExecutionHistory runs through `baton exec
//! --batch --virtual-time --history`, and its events are compared with the recording as JSON
//! values: the event types in order, `id`, `previousEventId` and the details objects.
//!
//! Timestamps are not compared (the recording removed them). The recording decoded the JSON
//! strings that AWS puts into event details (`input`, `output`, ...) where they parse, so an
//! actual string is decoded wherever the recording holds a non-string in its place. The case's
//! `snapshot_replacements` apply to the actual events, and the recording's placeholders match
//! any value. The recording also replaced AWS's account id with `111111111111` (in
//! `mapRunArn`, `$$.Execution.Id`, `$$.StateMachine.Id`...): where a recorded ARN holds it in
//! its account field, and only there, the account id that `baton exec` runs as matches. Cases that need a Lambda function, those flagged `nondeterministic` or
//! `time_dependent_input`, and those whose recording hid the order of Parallel branches' events
//! behind placeholder ids are skipped.
//!
//! The test fails when a case not listed in `tests/asl_history_known_failures.txt` fails, and
//! prints the listed cases that pass now, so the list only shrinks.

mod common;

use serde_json::{json, Value};

/// The actual value with each JSON string decoded where the recorded value in its place is
/// not a string.
fn decode_like(exp: &Value, act: &Value) -> Value {
    match (exp, act) {
        (Value::String(_), _) => act.clone(),
        (_, Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| act.clone()),
        (Value::Object(e), Value::Object(a)) => Value::Object(
            a.iter()
                .map(|(k, v)| {
                    (k.clone(), e.get(k).map_or_else(|| v.clone(), |x| decode_like(x, v)))
                })
                .collect(),
        ),
        (Value::Array(e), Value::Array(a)) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| e.get(i).map_or_else(|| v.clone(), |x| decode_like(x, v)))
                .collect(),
        ),
        _ => act.clone(),
    }
}

/// Whether the recording replaced the ids of some events with a placeholder (`[0]`): it does
/// for the events of Parallel branches, whose interleaving varies from run to run.
fn has_interleaving_placeholders(case: &Value) -> bool {
    case["expected"]["events"]
        .as_array()
        .is_some_and(|events| events.iter().any(|e| !e["id"].is_u64()))
}

/// An event without its timestamp.
fn without_timestamp(event: &Value) -> Value {
    let mut e = event.clone();
    if let Value::Object(o) = &mut e {
        o.remove("timestamp");
    }
    e
}

fn judge(case: &Value, res: Option<&Value>) -> Result<(), String> {
    let expected = case["expected"]["events"].as_array().ok_or("no recorded events")?;
    let res = res.ok_or("no result")?;
    let actual = res["events"].as_array().ok_or_else(|| format!("no events: {res}"))?;
    let reps = case.get("snapshot_replacements");
    let types = |events: &[Value]| -> Vec<String> {
        events.iter().map(|e| e["type"].as_str().unwrap_or("?").to_owned()).collect()
    };
    if types(expected) != types(actual) {
        return Err(format!(
            "event types differ:\n    expected {:?}\n    actual   {:?}",
            types(expected),
            types(actual)
        ));
    }
    for (exp, act) in expected.iter().zip(actual) {
        let act = common::replace_literals(&decode_like(exp, &without_timestamp(act)), reps);
        if !common::matches(exp, &act) {
            return Err(format!(
                "event {} differs:\n    expected {exp}\n    actual   {act}",
                exp["id"]
            ));
        }
    }
    Ok(())
}

#[test]
fn asl_history_corpus() {
    let Some(all) = common::load_cases() else { return };
    let cases: Vec<Value> = all
        .into_iter()
        .filter(|c| c["expected"]["events"].is_array())
        .filter(|c| !common::is_nondeterministic(c) && !has_interleaving_placeholders(c))
        .filter(|c| c["category"] != "lambda-echo" && c.get("task_resource_behaviour").is_none())
        .collect();
    let lines: Vec<Value> = cases.iter().map(common::batch_line).collect();
    let results = common::run_batch(&lines, &["--history"]);
    let known = common::known_failures(include_str!("asl_history_known_failures.txt"));
    let verdicts: Vec<(&Value, Result<(), String>)> =
        cases.iter().map(|c| (c, judge(c, results.get(c["id"].as_str().unwrap())))).collect();
    if std::env::var_os("ASL_HISTORY_VERBOSE").is_some() {
        for (case, verdict) in &verdicts {
            if let Err(why) = verdict {
                println!("FAIL {}: {why}", case["id"].as_str().unwrap_or("?"));
            }
        }
    }
    common::report("ASL history corpus", &verdicts, &known);
}

/// The recording's placeholder account matches baton's account in an ARN's account field, and
/// only there.
#[test]
fn placeholder_account_matches_in_the_arn_account_field_only() {
    let account = common::baton_account();
    assert_ne!(account, "111111111111");
    let recorded =
        json!("arn:<partition>:states:<region>:111111111111:stateMachine:<ArnPart_0idx>");
    let ours = json!(format!("arn:aws:states:us-east-1:{account}:stateMachine:machine"));
    assert!(common::matches(&recorded, &ours));
    // Inside a longer text, as `States.Format` writes it.
    let recorded = json!("snd={Id=arn:aws:states:us-east-1:111111111111:stateMachine:m}.");
    assert!(common::matches(
        &recorded,
        &json!(format!("snd={{Id=arn:aws:states:us-east-1:{account}:stateMachine:m}}."))
    ));
    // The recorded account itself still matches (a definition may name it).
    assert!(common::matches(&recorded, &recorded));
    // Another account does not, nor do the same digits outside an ARN's account field.
    let other = json!("arn:aws:states:us-east-1:210987654321:stateMachine:machine");
    assert!(!common::matches(
        &json!("arn:aws:states:us-east-1:111111111111:stateMachine:machine"),
        &other
    ));
    assert!(!common::matches(&json!("111111111111"), &json!(account)));
    assert!(!common::matches(
        &json!("arn:aws:states:us-east-1:222222222222:stateMachine:111111111111:x"),
        &json!(format!("arn:aws:states:us-east-1:222222222222:stateMachine:{account}:x")),
    ));
}
