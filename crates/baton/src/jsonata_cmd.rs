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
        let case: Value =
            serde_json::from_str(&line).with_context(|| format!("line {} is not JSON", n + 1))?;
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
