//! Runs the official JSONata test suite (shared/conformance/jsonata) and judges each case as
//! `shared/conformance/lib/jsonata_check.py` does. Cases listed in `known_failures.txt` may
//! fail; any other failure fails the test. `UPDATE_KNOWN=1` rewrites that file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use jsonata::{Expression, Options};
use serde_json::{Map, Value};

struct Case {
    id: String,
    expr: String,
    data: Option<Value>,
    bindings: Map<String, Value>,
    spec: Map<String, Value>,
}

fn load(dir: &Path) -> Vec<Case> {
    let mut datasets = BTreeMap::new();
    for e in std::fs::read_dir(dir.join("datasets")).expect("datasets") {
        let p = e.expect("entry").path();
        let name = p.file_stem().expect("stem").to_string_lossy().to_string();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).expect("read"))
            .expect("dataset json");
        datasets.insert(name, v);
    }
    let mut groups: Vec<PathBuf> = std::fs::read_dir(dir.join("groups"))
        .expect("groups")
        .map(|e| e.expect("entry").path())
        .collect();
    groups.sort();
    let mut cases = Vec::new();
    for g in groups {
        let gname = g.file_name().expect("name").to_string_lossy().to_string();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&g)
            .expect("group")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            let stem = f.file_stem().expect("stem").to_string_lossy().to_string();
            let text = std::fs::read_to_string(&f).expect("read");
            // Lone surrogates cannot be Rust strings: keep them as JSONata escapes instead.
            let raw: Value = serde_json::from_str(&text)
                .or_else(|_| serde_json::from_str(&text.replace("\\uD8", "\\\\uD8")))
                .expect("case json");
            let (items, is_list) = match raw {
                Value::Array(a) => (a, true),
                v => (vec![v], false),
            };
            for (i, c) in items.into_iter().enumerate() {
                let Value::Object(spec) = c else { continue };
                let id = if is_list {
                    format!("{gname}/{stem}[{i}]")
                } else {
                    format!("{gname}/{stem}")
                };
                let expr = if let Some(Value::String(file)) = spec.get("expr-file") {
                    match std::fs::read_to_string(g.join(file)) {
                        Ok(s) => s,
                        Err(_) => continue,
                    }
                } else if let Some(Value::String(e)) = spec.get("expr") {
                    e.clone()
                } else {
                    continue;
                };
                let data = if let Some(d) = spec.get("data") {
                    Some(d.clone())
                } else if let Some(Value::String(ds)) = spec.get("dataset") {
                    datasets.get(ds).cloned()
                } else {
                    None
                };
                let bindings = match spec.get("bindings") {
                    Some(Value::Object(b)) => b.clone(),
                    _ => Map::new(),
                };
                cases.push(Case { id, expr, data, bindings, spec });
            }
        }
    }
    cases
}

fn eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= f64::max(1e-12 * f64::max(x.abs(), y.abs()), 1e-15)
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| eq(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| eq(v, w))
        }
        _ => a == b,
    }
}

fn run_case(c: &Case) -> Result<Option<Value>, jsonata::Error> {
    let options = Options {
        now_millis: Some(1_700_000_000_000),
        time_limit_ms: Some(c.spec.get("timelimit").and_then(Value::as_u64).unwrap_or(10_000)),
        // SUITE_FORCE_DEPTH runs every case with one depth limit, as a batch CLI that is not
        // told each case's limit would.
        max_depth: std::env::var("SUITE_FORCE_DEPTH")
            .ok()
            .and_then(|d| d.parse().ok())
            .or_else(|| c.spec.get("depth").and_then(Value::as_u64).map(|d| d as usize)),
        step_functions: false,
    };
    let e = Expression::compile(&c.expr)?;
    // The suite runs on a thread with a large stack (see `official_suite`), as a CLI would.
    e.evaluate_with_stack_budget(c.data.as_ref(), &c.bindings, &options, 48 << 20)
}

fn judge(c: &Case, r: &Result<Option<Value>, jsonata::Error>) -> bool {
    let want_code = c.spec.get("code").and_then(Value::as_str).map(str::to_string).or_else(|| {
        c.spec.get("error").and_then(|e| e.get("code")).and_then(Value::as_str).map(str::to_string)
    });
    if c.spec.contains_key("code") || c.spec.contains_key("error") {
        return match r {
            Err(e) => want_code.is_none_or(|w| w == e.code),
            Ok(_) => false,
        };
    }
    if c.spec.get("undefinedResult").and_then(Value::as_bool) == Some(true) {
        return matches!(r, Ok(None));
    }
    if let Some(want) = c.spec.get("result") {
        return matches!(r, Ok(Some(v)) if eq(want, v));
    }
    false
}

#[test]
fn official_suite() {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(run_suite)
        .expect("spawn the suite thread")
        .join()
        .expect("the suite passes");
}

fn run_suite() {
    let dir =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/conformance/jsonata"));
    if !dir.exists() {
        println!("note: {} is absent; skipping the JSONata suite", dir.display());
        return;
    }
    let known_path =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/known_failures.txt"));
    let known: BTreeSet<String> = std::fs::read_to_string(&known_path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let cases = load(&dir);
    let verbose = std::env::var("SUITE_VERBOSE").is_ok();
    let filter = std::env::var("SUITE_FILTER").ok();
    let start = Instant::now();
    let mut failed = Vec::new();
    let mut passed = 0;
    let mut total = 0;
    for c in &cases {
        if filter.as_ref().is_some_and(|f| !c.id.contains(f.as_str())) {
            continue;
        }
        total += 1;
        let r = run_case(c);
        if judge(c, &r) {
            passed += 1;
        } else {
            if verbose {
                println!(
                    "FAIL {}: {}\n  got {:?}\n  want {:?}",
                    c.id,
                    c.expr,
                    r,
                    c.spec.get("result").or(c.spec.get("code"))
                );
            }
            failed.push(c.id.clone());
        }
    }
    println!("jsonata suite: {passed}/{total} passed in {:.2?}", start.elapsed());
    if std::env::var("UPDATE_KNOWN").is_ok() {
        let mut text = String::new();
        for f in &failed {
            text.push_str(f);
            text.push('\n');
        }
        std::fs::write(&known_path, text).expect("write known failures");
        return;
    }
    let failed_set: BTreeSet<&String> = failed.iter().collect();
    let now_passing: Vec<&String> =
        known.iter().filter(|k| !failed_set.contains(k) && filter.is_none()).collect();
    if !now_passing.is_empty() {
        println!("now passing (trim known_failures.txt): {now_passing:?}");
    }
    let unexpected: Vec<&String> = failed.iter().filter(|f| !known.contains(*f)).collect();
    assert!(unexpected.is_empty(), "unexpected failures: {unexpected:?}");
}

/// Mean evaluation time per case (compile once, evaluate many times). Run with
/// `cargo test -p jsonata --release --test suite -- --ignored --nocapture timing`.
#[test]
#[ignore]
fn timing() {
    let dir =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/conformance/jsonata"));
    if !dir.exists() {
        return;
    }
    let cases = load(&dir);
    let options = Options { now_millis: Some(0), ..Options::default() };
    let mut times = Vec::new();
    for c in &cases {
        let Ok(e) = Expression::compile(&c.expr) else { continue };
        if c.spec.contains_key("timelimit")
            || e.evaluate(c.data.as_ref(), &c.bindings, &options).is_err()
        {
            continue;
        }
        let n = 200;
        let t = Instant::now();
        for _ in 0..n {
            let _ = e.evaluate(c.data.as_ref(), &c.bindings, &options);
        }
        times.push((t.elapsed().as_secs_f64() * 1e6 / n as f64, c.id.clone()));
    }
    let no_data: Vec<f64> = cases
        .iter()
        .filter(|c| c.data.is_none())
        .filter_map(|c| times.iter().find(|t| t.1 == c.id).map(|t| t.0))
        .collect();
    let mut nd = no_data.clone();
    nd.sort_by(f64::total_cmp);
    if !nd.is_empty() {
        println!("{} cases without input: median {:.2} µs", nd.len(), nd[nd.len() / 2]);
    }
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    let median = times[times.len() / 2].0;
    let mean: f64 = times.iter().map(|t| t.0).sum::<f64>() / times.len() as f64;
    println!("{} cases: median {median:.2} µs, mean {mean:.2} µs per evaluation", times.len());
    for t in times.iter().rev().take(8) {
        println!("  slowest: {:.1} µs {}", t.0, t.1);
    }
}
