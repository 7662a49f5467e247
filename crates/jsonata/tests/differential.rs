//! Differential test against the reference implementation: seeded random expressions from a
//! small grammar (paths, operators, literals, conditionals, common functions) evaluated over
//! one input by Baton and by jsonata-js (`bench/peers/jsonata-js`, run with node), comparing
//! the result, undefined, or the error code.
//!
//! It needs `node` and `npm ci` in `bench/peers/jsonata-js`; without them it prints that it
//! was skipped, and fails instead when `JSONATA_DIFFERENTIAL=require` is set. `DIFF_SEED` and
//! `DIFF_CASES` change the seed (default 1) and the number of expressions (default 400).

#[allow(dead_code)] // Only `eq` is used here.
#[path = "support/cases.rs"]
mod cases;

use std::path::PathBuf;
use std::process::Command;

use jsonata::{Expression, Options};
use serde_json::{json, Map, Value};

/// Disagreements known and accepted. Each is a rule on the expression and both outcomes, and
/// says why when it applies.
///
/// 1. **Which error an array constructor reports when several of its items fail.** jsonata-js
///    2.x evaluates the items of `[a, b]` concurrently (`Promise.all`), so the error it throws
///    is whichever item's promise rejects first, which depends on how many `await`s each item
///    takes (`[$substring(1, 1, 2), false + {}]` gives T0410, `[$substring(b[0], 1, 2), false +
///    {}]` gives T2001). Baton reports the first failing item in source order. Accepted when
///    both sides fail with different codes and the expression holds an array constructor.
/// 2. **Non-finite results.** jsonata-js returns NaN or an infinity as is (`0 % 0`, `1/0`, or
///    inside an array or object) and only raises D1001 when one is used as an operand; Baton's
///    result is JSON, which cannot hold them, so it raises D1001.
fn known_difference(expr: &str, baton: &Outcome, js: &Outcome) -> Option<&'static str> {
    if matches!((baton, js), (Outcome::Error(code), Outcome::NonFinite) if code == "D1001") {
        return Some("non-finite numbers in jsonata-js's result");
    }
    let both_fail = matches!((baton, js), (Outcome::Error(_), Outcome::Error(_)));
    // A `[` that opens an array constructor rather than a predicate (`b[...]`).
    let constructor = expr
        .match_indices('[')
        .any(|(i, _)| i == 0 || !expr.as_bytes()[i - 1].is_ascii_alphanumeric());
    (both_fail && constructor && expr.contains(", "))
        .then_some("array items evaluated concurrently by jsonata-js")
}

/// A xorshift generator: the same seed gives the same expressions everywhere.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// A random expression at most `depth` levels deep.
fn expr(r: &mut Rng, depth: u32) -> String {
    const LEAVES: &[&str] = &[
        "1", "0", "-2", "2.5", "1e3", "\"ab\"", "\"\"", "true", "false", "null", "a", "b", "s",
        "o.x", "o.y", "b[0]", "b[-1]", "b[1..2]", "missing", "o.*", "$", "b[$ > 1]", "[]", "{}",
    ];
    const BINARY: &[&str] =
        &["+", "-", "*", "/", "%", "=", "!=", "<", "<=", ">", ">=", "&", "and", "or", "in"];
    const UNARY_FNS: &[&str] = &[
        "$string",
        "$number",
        "$length",
        "$sum",
        "$count",
        "$max",
        "$uppercase",
        "$boolean",
        "$not",
        "$exists",
        "$keys",
        "$reverse",
        "$abs",
        "$floor",
        "$round",
        "$type",
        "$append",
        "$distinct",
        "$sort",
        "$trim",
        "$string",
        "$average",
    ];
    if depth == 0 {
        return r.pick(LEAVES).to_string();
    }
    match r.below(8) {
        0 | 1 => r.pick(LEAVES).to_string(),
        2 | 3 => format!("({} {} {})", expr(r, depth - 1), r.pick(BINARY), expr(r, depth - 1)),
        4 => format!("{}({})", r.pick(UNARY_FNS), expr(r, depth - 1)),
        5 => format!("[{}, {}]", expr(r, depth - 1), expr(r, depth - 1)),
        6 => format!("({} ? {} : {})", expr(r, depth - 1), expr(r, depth - 1), expr(r, depth - 1)),
        _ => format!("$substring({}, {}, 2)", expr(r, depth - 1), r.pick(&["0", "1", "-1"])),
    }
}

/// What an evaluation gave, in a form both sides produce.
#[derive(Debug)]
enum Outcome {
    Value(Value),
    Undefined,
    Error(String),
    /// jsonata-js's result is or holds NaN or an infinity.
    NonFinite,
}

fn same(a: &Outcome, b: &Outcome) -> bool {
    match (a, b) {
        (Outcome::Value(x), Outcome::Value(y)) => cases::eq(x, y),
        (Outcome::Undefined, Outcome::Undefined) => true,
        (Outcome::Error(x), Outcome::Error(y)) => x == y,
        _ => false,
    }
}

#[test]
fn agrees_with_jsonata_js() {
    let peer = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/peers/jsonata-js"));
    let node_ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !node_ok || !peer.join("node_modules/jsonata").is_dir() {
        let why = "SKIPPED differential test: needs node and `npm ci` in bench/peers/jsonata-js";
        assert!(std::env::var("JSONATA_DIFFERENTIAL").as_deref() != Ok("require"), "{why}");
        eprintln!("{why}");
        println!("{why}");
        return;
    }
    let seed = std::env::var("DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1u64);
    let n = std::env::var("DIFF_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(400usize);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let exprs: Vec<String> = (0..n).map(|_| expr(&mut rng, 3)).collect();
    let input = json!({"a": 1, "b": [1, 2, 3], "s": "hello", "o": {"x": 1.5, "y": "z"}, "n": null});

    let file = std::env::temp_dir().join(format!("jsonata-diff-{}.json", std::process::id()));
    std::fs::write(&file, json!({"input": input, "exprs": exprs}).to_string()).expect("write");
    let out = Command::new("node").arg(peer.join("eval.mjs")).arg(&file).output();
    let _ = std::fs::remove_file(&file);
    let out = out.expect("run node");
    assert!(out.status.success(), "eval.mjs failed: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<Outcome> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("eval.mjs line");
            if let Some(code) = v.get("error") {
                Outcome::Error(code.as_str().unwrap_or_default().to_string())
            } else if v.get("nonfinite").is_some() {
                Outcome::NonFinite
            } else if let Some(value) = v.get("value") {
                Outcome::Value(value.clone())
            } else {
                Outcome::Undefined
            }
        })
        .collect();
    assert_eq!(theirs.len(), exprs.len(), "one line per expression from eval.mjs");

    let options = Options { now_millis: Some(0), ..Options::default() };
    let values = theirs.iter().filter(|o| matches!(o, Outcome::Value(_))).count();
    let errors = theirs.iter().filter(|o| matches!(o, Outcome::Error(_))).count();
    let (mut unexpected, mut known) = (Vec::new(), 0);
    for (e, want) in exprs.iter().zip(&theirs) {
        let got = match Expression::compile(e)
            .and_then(|x| x.evaluate(Some(&input), &Map::new(), &options))
        {
            Ok(Some(v)) => Outcome::Value(v),
            Ok(None) => Outcome::Undefined,
            Err(err) => Outcome::Error(err.code),
        };
        if same(&got, want) {
            continue;
        }
        match known_difference(e, &got, want) {
            Some(_) => known += 1,
            None => unexpected.push(format!("{e}\n    Baton {got:?}\n    jsonata-js {want:?}")),
        }
    }
    println!(
        "differential: {} expressions (seed {seed}): jsonata-js gave {values} values, {errors} \
         errors; {known} known differences, {} disagreements",
        exprs.len(),
        unexpected.len()
    );
    assert!(unexpected.is_empty(), "disagreements with jsonata-js:\n  {}", unexpected.join("\n  "));
}

/// A disagreement the differential test found (seed 15, 3000 cases): NaN is not a number to
/// jsonata-js's arithmetic operators, which raise T2001 or T2002 for it. Runs without node.
#[test]
fn nan_is_not_an_arithmetic_operand() {
    let code = |src: &str| {
        Expression::compile(src)
            .and_then(|e| e.evaluate(None, &Map::new(), &Options::default()))
            .map_err(|e| e.code)
    };
    assert_eq!(code("(0 % 0) * 6"), Err("T2001".to_string()));
    assert_eq!(code("6 * (0 % 0)"), Err("T2002".to_string()));
    assert_eq!(code("$boolean((3 % 0) * 6)"), Err("T2001".to_string()));
}
