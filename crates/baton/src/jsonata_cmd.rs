//! `baton jsonata`: evaluate JSONata expressions, one or a batch.

use std::io::{BufRead, BufWriter, Write};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Map, Value};

#[derive(Debug, Args)]
pub(crate) struct JsonataArgs {
    /// The expression.
    #[arg(required_unless_present = "batch")]
    expression: Option<String>,
    /// The input document: JSON text, or @FILE.
    #[arg(long)]
    input: Option<String>,
    /// Variable bindings: a JSON object (names without `$`).
    #[arg(long)]
    bindings: Option<String>,
    /// Evaluate every case of a JSON Lines file: {"id", "expr", "data", "bindings"}.
    #[arg(long, conflicts_with = "expression")]
    batch: Option<String>,
}

/// Evaluation runs on a thread with a large stack, so deep expressions report errors.
const STACK_BYTES: usize = 512 * 1024 * 1024;

pub(crate) fn run(args: JsonataArgs) -> Result<u8> {
    std::thread::Builder::new()
        .name("jsonata".into())
        .stack_size(STACK_BYTES)
        .spawn(move || run_inner(args))
        .context("cannot start the evaluation thread")?
        .join()
        .map_err(|_| anyhow::anyhow!("the evaluation thread panicked"))?
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn evaluate(
    expr: &str,
    data: Option<&Value>,
    bindings: &Map<String, Value>,
) -> Result<Option<Value>, jsonata::Error> {
    let compiled = jsonata::Expression::compile(expr)?;
    let options =
        jsonata::Options { now_millis: Some(now_millis()), ..jsonata::Options::default() };
    compiled.evaluate(data, bindings, &options)
}

fn run_inner(args: JsonataArgs) -> Result<u8> {
    if let Some(batch) = &args.batch {
        return run_batch(batch);
    }
    let expr = args.expression.unwrap_or_default();
    let data = args.input.as_deref().map(|i| crate::input::json_arg(i, "--input")).transpose()?;
    let bindings = match args
        .bindings
        .as_deref()
        .map(|b| crate::input::json_arg(b, "--bindings"))
        .transpose()?
    {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => bail!("--bindings must be a JSON object"),
    };
    match evaluate(&expr, data.as_ref(), &bindings) {
        Ok(Some(v)) => {
            println!("{}", serde_json::to_string(&v)?);
            Ok(0)
        }
        Ok(None) => Ok(0),
        Err(e) => {
            println!("{}", json!({"code": e.code, "position": e.position, "message": e.message}));
            Ok(1)
        }
    }
}

fn run_batch(path: &str) -> Result<u8> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read batch file {path}"))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {} of {path}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let case: Value = match serde_json::from_str(&line)
            .or_else(|_| serde_json::from_str(&map_lone_surrogates(&line)))
        {
            Ok(v) => v,
            Err(e) => {
                let error =
                    json!({"code": "S0000", "message": format!("line {} is not JSON: {e}", n + 1)});
                writeln!(out, "{}", json!({"line": n + 1, "error": error}))?;
                continue;
            }
        };
        let id = case.get("id").cloned().unwrap_or(Value::Null);
        let expr = case.get("expr").and_then(Value::as_str).unwrap_or("");
        let bindings = case.get("bindings").and_then(Value::as_object).cloned().unwrap_or_default();
        let result = match evaluate(expr, case.get("data"), &bindings) {
            Ok(Some(v)) => json!({"id": id, "result": v}),
            Ok(None) => json!({"id": id, "undefined": true}),
            Err(e) => {
                json!({"id": id, "error": {"code": e.code, "position": e.position, "message": e.message}})
            }
        };
        writeln!(out, "{result}")?;
    }
    out.flush()?;
    Ok(0)
}

/// JSON text may escape a lone UTF-16 surrogate (`"\\ud800"`), which no Rust string can
/// hold. Such escapes become the private-use characters the `jsonata` crate uses for lone
/// surrogates in its own string literals, so the expression behaves as the reference's.
fn map_lone_surrogates(line: &str) -> String {
    let b = line.as_bytes();
    let hex = |i: usize| -> Option<u32> {
        let h = line.get(i..i + 4)?;
        u32::from_str_radix(h, 16).ok()
    };
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'u') {
            if let Some(u) = hex(i + 2) {
                let is_high = (0xD800..0xDC00).contains(&u);
                let next_low = b.get(i + 6) == Some(&b'\\')
                    && b.get(i + 7) == Some(&b'u')
                    && hex(i + 8).is_some_and(|l| (0xDC00..0xE000).contains(&l));
                if (0xD800..0xE000).contains(&u) && !(is_high && next_low) {
                    if let Some(c) = char::from_u32(jsonata::SURROGATE_BASE + (u - 0xD800)) {
                        out.push(c);
                        i += 6;
                        continue;
                    }
                }
                if is_high && next_low {
                    out.push_str(&line[i..i + 12]);
                    i += 12;
                    continue;
                }
            }
        }
        if b[i] == b'\\' && i + 1 < b.len() {
            out.push_str(&line[i..i + 2]);
            i += 2;
            continue;
        }
        let ch = line[i..].chars().next().unwrap_or('?');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}
