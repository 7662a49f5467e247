//! Runs the official JSONata test suite (shared/conformance/jsonata) and judges each case as
//! `shared/conformance/lib/jsonata_check.py` does. Cases listed in `known_failures.txt` may
//! fail; any other failure fails the test. `UPDATE_KNOWN=1` rewrites that file.

// The benchmark example reads `Case::escaped_surrogates`; the suite has no use for it.
#[allow(dead_code)]
#[path = "support/cases.rs"]
mod cases;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use jsonata::{Expression, Options};
use serde_json::Value;

use cases::{eq, load, Case};

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
        // The suite runs on a thread with a large stack (see `official_suite`), as a CLI would.
        stack_budget: Some(48 << 20),
    };
    let e = Expression::compile(&c.expr)?;
    e.evaluate(c.data.as_ref(), &c.bindings, &options)
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
