//! The official JSONata suite's cases (shared/conformance/jsonata) and how results compare,
//! shared by the suite test, the differential test and the benchmark example (each includes
//! this file with `#[path]`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// One case of the suite: an expression, its input and bindings, and the case's whole spec
/// (the expected result or error code, the time and depth limits).
pub(crate) struct Case {
    /// `group/case` (with `[i]` for a file that holds a list of cases).
    pub(crate) id: String,
    /// The expression's source.
    pub(crate) expr: String,
    /// The input, absent when the case has none.
    pub(crate) data: Option<Value>,
    /// Variable bindings, names without the `$`.
    pub(crate) bindings: Map<String, Value>,
    /// The case's JSON object as the suite writes it.
    pub(crate) spec: Map<String, Value>,
    /// The case file holds lone surrogates, which were kept as JSONata escapes (`\\uD8..`):
    /// its expression is not the suite's text verbatim.
    pub(crate) escaped_surrogates: bool,
}

/// Loads every case of the suite in `dir` (`datasets/` and `groups/`), in file order.
pub(crate) fn load(dir: &Path) -> Vec<Case> {
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
            let (raw, escaped_surrogates): (Value, bool) = match serde_json::from_str(&text) {
                Ok(v) => (v, false),
                Err(_) => (
                    serde_json::from_str(&text.replace("\\uD8", "\\\\uD8")).expect("case json"),
                    true,
                ),
            };
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
                cases.push(Case { id, expr, data, bindings, spec, escaped_surrogates });
            }
        }
    }
    cases
}

/// Equality as the suite's checker judges it: numbers within a relative 1e-12.
pub(crate) fn eq(a: &Value, b: &Value) -> bool {
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
