//! Shared pieces of the tests that run the ASL conformance corpus (`../shared/conformance/asl`):
//! where the corpus lives, how cases are loaded and run through `baton exec --batch`, how a
//! known-failures list is read, and the corpus' rules for comparing JSON values.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// The directory of case files, `ASL_CORPUS_DIR` or the shared corpus next to the repository.
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("ASL_CORPUS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/asl/cases")
    })
}

/// Every case of the corpus in file-name order, or `None` (after a note) when there is no
/// corpus here.
pub fn load_cases() -> Option<Vec<Value>> {
    let dir = corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("note: no ASL corpus at {}; skipping", dir.display());
        return None;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    Some(
        names
            .iter()
            .map(|n| serde_json::from_str(&std::fs::read_to_string(dir.join(n)).unwrap()).unwrap())
            .collect(),
    )
}

/// Whether the case carries one of the flags that make its result depend on chance or on
/// the clock.
pub fn is_nondeterministic(case: &Value) -> bool {
    case["flags"]
        .as_array()
        .is_some_and(|a| a.iter().any(|f| f == "nondeterministic" || f == "time_dependent_input"))
}

/// The batch line that runs `case`, without Lambda functions.
pub fn batch_line(case: &Value) -> Value {
    json!({
        "id": case["id"], "definition": case["definition"], "input": case["input"],
        "type": case.get("state_machine_type").cloned().unwrap_or(json!("STANDARD")),
    })
}

/// Runs the batch lines through `baton exec --batch --virtual-time` plus `extra_args`, and
/// returns the results by case id.
pub fn run_batch(lines: &[Value], extra_args: &[&str]) -> BTreeMap<String, Value> {
    let mut batch = String::new();
    for line in lines {
        batch.push_str(&line.to_string());
        batch.push('\n');
    }
    let file = tempfile_path("asl-corpus.jsonl");
    std::fs::File::create(&file).unwrap().write_all(batch.as_bytes()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["exec", "--batch"])
        .arg(&file)
        .arg("--virtual-time")
        .args(extra_args)
        .output()
        .expect("run baton exec --batch");
    let _ = std::fs::remove_file(&file);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Some((v.get("id")?.as_str()?.to_owned(), v)))
        .collect()
}

/// The case ids of a known-failures file: one a line, `#` starts a comment line.
pub fn known_failures(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Tallies verdicts per category against a known-failures list, prints a line per category
/// and a summary, lists the known failures that pass now, and panics on any unexpected
/// failure.
pub fn report(title: &str, verdicts: &[(&Value, Result<(), String>)], known: &BTreeSet<String>) {
    let mut by_category: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    for (case, verdict) in verdicts {
        let id = case["id"].as_str().unwrap().to_owned();
        let entry =
            by_category.entry(case["category"].as_str().unwrap_or("?").to_owned()).or_default();
        entry.1 += 1;
        match verdict {
            Ok(()) => {
                entry.0 += 1;
                if known.contains(&id) {
                    fixed.push(id);
                }
            }
            Err(why) if !known.contains(&id) => unexpected.push(format!("{id}: {why}")),
            Err(_) => {}
        }
    }
    let passed: usize = by_category.values().map(|v| v.0).sum();
    let total: usize = by_category.values().map(|v| v.1).sum();
    let per_category: Vec<String> =
        by_category.iter().map(|(cat, (p, t))| format!("{cat} {p}/{t}")).collect();
    println!("{title}: {passed}/{total} cases pass ({})", per_category.join(", "));
    if !fixed.is_empty() {
        println!(
            "listed as known failures but passing now (remove them):\n  {}",
            fixed.join("\n  ")
        );
    }
    assert!(
        unexpected.is_empty(),
        "{} unexpected failures:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}

/// Matches a recorded string holding `<placeholder>` parts against an actual string: each
/// placeholder stands for any non-empty text.
fn placeholder_match(exp: &str, act: &str) -> Option<bool> {
    static PLACEHOLDER: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let ph = PLACEHOLDER.get_or_init(|| regex::Regex::new(r"<[A-Za-z_\-:0-9]+>").unwrap());
    if !ph.is_match(exp) {
        return None;
    }
    let pattern: Vec<String> = ph.split(exp).map(regex::escape).collect();
    let rx = regex::Regex::new(&format!("(?s)^{}$", pattern.join(".+?"))).ok()?;
    Some(rx.is_match(act))
}

/// The account id that the recording put into ARNs in place of AWS's own.
const RECORDED_ACCOUNT: &str = "111111111111";

/// The account id that `baton exec` runs as: the account field of its state machine ARN.
pub fn baton_account() -> &'static str {
    static ACCOUNT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ACCOUNT.get_or_init(|| {
        let arn = asl::ExecutionInfo::default().state_machine_arn;
        arn.split(':').nth(4).unwrap_or_default().to_owned()
    })
}

/// The recorded string with baton's account id in every ARN whose account field is the
/// recording's placeholder account, or `None` when it has no such ARN. Only the account field
/// (the fifth of `arn:partition:service:region:account:resource`) is rewritten: the same
/// digits elsewhere in a string stay as recorded.
fn with_baton_account(exp: &str) -> Option<String> {
    static ARN_ACCOUNT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let rx = ARN_ACCOUNT.get_or_init(|| {
        regex::Regex::new(&format!(r"\barn:([^:\s]+):([^:\s]+):([^:\s]*):{RECORDED_ACCOUNT}:"))
            .unwrap()
    });
    rx.is_match(exp).then(|| {
        let account = baton_account();
        rx.replace_all(exp, |c: &regex::Captures<'_>| {
            format!("arn:{}:{}:{}:{account}:", &c[1], &c[2], &c[3])
        })
        .into_owned()
    })
}

/// Matches a recorded string as it stands, or with baton's account id in place of the
/// recording's: a definition may name the placeholder account itself (a Task's `Resource`),
/// and baton then echoes it.
fn str_match(exp: &str, act: &Value) -> bool {
    str_match_as_recorded(exp, act)
        || with_baton_account(exp).is_some_and(|exp| str_match_as_recorded(&exp, act))
}

fn str_match_as_recorded(exp: &str, act: &Value) -> bool {
    let Value::String(a) = act else { return false };
    if exp == a {
        return true;
    }
    if ["date", "<timestamp>", "snf_role_arn", "sfn_role_arn"].contains(&exp) {
        return true;
    }
    if let Some(m) = placeholder_match(exp, a) {
        return m;
    }
    // A JSON text in a string (history details such as `assignedVariables` hold them), whose
    // recording put placeholders inside: `"\"date\""` against `"\"2024-11-06T09:42:03Z\""`.
    match (serde_json::from_str::<Value>(exp), serde_json::from_str::<Value>(a)) {
        (Ok(e @ (Value::String(_) | Value::Object(_) | Value::Array(_))), Ok(a)) => matches(&e, &a),
        _ => false,
    }
}

const IGNORED: [&str; 2] = ["SdkHttpMetadata", "SdkResponseMetadata"];

/// Whether an actual value matches a recorded one under the corpus' rules: objects by their
/// keys, numbers by value, and placeholders in recorded strings matching any text. The
/// recording also replaced AWS's account id in ARNs with `111111111111`; where a recorded ARN
/// holds it in its account field, baton's own account id matches there.
pub fn matches(exp: &Value, act: &Value) -> bool {
    match (exp, act) {
        (Value::Object(e), Value::Object(a)) => {
            let ek: BTreeSet<&str> =
                e.keys().map(String::as_str).filter(|k| !IGNORED.contains(k)).collect();
            let ak: BTreeSet<&str> =
                a.keys().map(String::as_str).filter(|k| !IGNORED.contains(k)).collect();
            ek == ak && ek.iter().all(|k| matches(&e[*k], &a[*k]))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| matches(x, y))
        }
        (Value::String(e), a) => str_match(e, a),
        (Value::Bool(e), Value::Bool(a)) => e == a,
        (Value::Number(e), Value::Number(a)) => {
            let (x, y) = (e.as_f64().unwrap_or(f64::NAN), a.as_f64().unwrap_or(f64::NAN));
            (x - y).abs() <= 1e-9 * x.abs().max(1.0)
        }
        (e, a) => e == a,
    }
}

/// Applies a case's `snapshot_replacements` to an actual value, inside its JSON text.
pub fn replace_literals(v: &Value, replacements: Option<&Value>) -> Value {
    let Some(Value::Array(rs)) = replacements else { return v.clone() };
    let mut text = v.to_string();
    for r in rs {
        if let (Some(p), Some(rep)) = (r["pattern"].as_str(), r["replacement"].as_str()) {
            // Replace inside the JSON text, escaped as JSON would escape it.
            let p = serde_json::to_string(p).unwrap();
            let rep = serde_json::to_string(rep).unwrap();
            text = text.replace(&p[1..p.len() - 1], &rep[1..rep.len() - 1]);
        }
    }
    serde_json::from_str(&text).unwrap_or_else(|_| v.clone())
}

/// A path for a scratch file of this test process.
pub fn tempfile_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("baton-{}-{name}", std::process::id()))
}

/// Judges one result line (`{"status", "output" | "error", "cause"}`) against a case by the
/// corpus' rules: status, then output (SUCCEEDED), error and cause (FAILED, TIMED_OUT;
/// Lambda cases' causes carry the recording runtime's stack traces, so only their error is
/// compared) or error (CREATE_FAILED).
pub fn judge(case: &Value, res: Option<&Value>) -> Result<(), String> {
    let exp = &case["expected"];
    let res = res.ok_or("no result")?;
    let reps = case.get("snapshot_replacements");
    if res["status"] != exp["status"] {
        return Err(format!("status {} != {}", res["status"], exp["status"]));
    }
    match exp["status"].as_str() {
        Some("SUCCEEDED") => {
            let out = replace_literals(&res["output"], reps);
            if matches(&exp["output"], &out) {
                Ok(())
            } else {
                Err(format!("output differs: {out}"))
            }
        }
        Some("CREATE_FAILED") => {
            if res["error"] == exp["error"] {
                Ok(())
            } else {
                Err("error differs".into())
            }
        }
        _ => {
            let err = replace_literals(&res["error"], reps);
            if !matches(&exp["error"], &err) {
                return Err(format!("error {} != {}", res["error"], exp["error"]));
            }
            if case["category"] == "lambda-echo" {
                return Ok(());
            }
            let cause = replace_literals(&res["cause"], reps);
            if !exp["cause"].is_null() && !matches(&exp["cause"], &cause) {
                return Err(format!("cause differs: {}", res["cause"]));
            }
            Ok(())
        }
    }
}
