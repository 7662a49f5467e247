//! The ASL conformance corpus (`../shared/conformance/asl`), run through `baton exec --batch
//! --virtual-time` exactly as a user would run it, and judged by the corpus' rules: status,
//! then output (SUCCEEDED), error and cause (FAILED, TIMED_OUT) or error (CREATE_FAILED), as
//! JSON values, with the recording's placeholders matching any value.
//!
//! Unlike the shared checker, the Lambda cases run too: each function is a small shell
//! command that behaves as the case's `task_resource_behaviour` describes.
//!
//! The test fails when a case not listed in `tests/asl_known_failures.txt` fails, and prints
//! the listed cases that pass now, so the list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn corpus_dir() -> PathBuf {
    std::env::var_os("ASL_CORPUS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/asl/cases")
    })
}

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

fn str_match(exp: &str, act: &Value) -> bool {
    let Value::String(a) = act else { return false };
    if exp == a {
        return true;
    }
    if ["date", "<timestamp>", "snf_role_arn", "sfn_role_arn"].contains(&exp) {
        return true;
    }
    placeholder_match(exp, a).unwrap_or(false)
}

const IGNORED: [&str; 2] = ["SdkHttpMetadata", "SdkResponseMetadata"];

fn matches(exp: &Value, act: &Value) -> bool {
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

fn replace_literals(v: &Value, replacements: Option<&Value>) -> Value {
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

fn judge(case: &Value, res: Option<&Value>) -> Result<(), String> {
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

#[test]
fn asl_corpus() {
    let dir = corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("note: no ASL corpus at {}; skipping", dir.display());
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut cases = Vec::new();
    let mut batch = String::new();
    for n in &names {
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(n)).unwrap()).unwrap();
        let flags: Vec<&str> = case["flags"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if flags.iter().any(|f| *f == "nondeterministic" || *f == "time_dependent_input") {
            continue;
        }
        if case["expected"]["status"] == "VALIDATE" {
            continue;
        }
        let mut line = json!({
            "id": case["id"], "definition": case["definition"], "input": case["input"],
            "type": case.get("state_machine_type").cloned().unwrap_or(json!("STANDARD")),
        });
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
        batch.push_str(&line.to_string());
        batch.push('\n');
        cases.push(case);
    }
    let file = tempfile_path("asl-corpus.jsonl");
    std::fs::File::create(&file).unwrap().write_all(batch.as_bytes()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["exec", "--batch"])
        .arg(&file)
        .arg("--virtual-time")
        .output()
        .expect("run baton exec --batch");
    let _ = std::fs::remove_file(&file);
    let results: BTreeMap<String, Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Some((v.get("id")?.as_str()?.to_owned(), v)))
        .collect();

    let known: BTreeSet<String> = include_str!("asl_known_failures.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let mut by_category: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap().to_owned();
        let verdict = judge(case, results.get(&id));
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
    for (cat, (p, t)) in &by_category {
        println!("{cat}: {p}/{t}");
    }
    println!("ASL corpus: {passed}/{total} cases pass");
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

fn tempfile_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("baton-{}-{name}", std::process::id()))
}
