//! `baton exec`: run state machine executions locally and print their results as JSON.

use std::io::{BufRead, BufWriter, Write};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Map, Value};

use asl::{MachineType, Outcome, StateMachine};

use crate::runner::{self, Tasks};

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The definition: a file path, `-` for standard input, or inline JSON.
    #[arg(required_unless_present = "batch")]
    definition: Option<String>,
    /// The execution input: JSON text, or @FILE.
    #[arg(long, default_value = "{}")]
    input: String,
    /// Include the execution history in the result.
    #[arg(long)]
    history: bool,
    /// Let Wait states, retry intervals and timeouts pass instantly on a virtual clock.
    #[arg(long)]
    virtual_time: bool,
    /// Run a task resource as a command: RESOURCE=COMMAND (repeatable). RESOURCE is the
    /// `Resource` string or a Lambda function name or ARN.
    #[arg(long = "task", value_name = "RESOURCE=COMMAND")]
    tasks: Vec<String>,
    /// The kind of state machine.
    #[arg(long = "type", value_enum, default_value = "standard")]
    kind: crate::validate_cmd::Kind,
    /// Run every case of a JSON Lines file: {"id", "definition", "input", "type", "tasks"}.
    #[arg(long, conflicts_with = "definition")]
    batch: Option<String>,
}

pub(crate) fn run(args: ExecArgs) -> Result<u8> {
    let mut tasks = Tasks::default();
    for t in &args.tasks {
        let Some((resource, command)) = t.split_once('=') else {
            bail!("--task takes RESOURCE=COMMAND, got {t:?}");
        };
        tasks.insert(resource.to_owned(), command.to_owned());
    }
    if let Some(batch) = &args.batch {
        return run_batch(batch, &tasks, args.virtual_time, args.history);
    }
    let text = crate::input::definition_text(args.definition.as_deref().unwrap_or("-"))?;
    let definition: Value =
        serde_json::from_str(&text).context("the definition is not valid JSON")?;
    let input = crate::input::json_arg(&args.input, "--input")?;
    let result =
        execute(&definition, input, args.kind.into(), &tasks, args.virtual_time, args.history);
    let ok = result.get("status").and_then(Value::as_str) == Some("SUCCEEDED");
    println!("{}", serde_json::to_string(&result)?);
    Ok(if ok { 0 } else { 1 })
}

/// Runs one execution and shapes its result as the CLI prints it.
fn execute(
    definition: &Value,
    input: Value,
    kind: MachineType,
    tasks: &Tasks,
    virtual_time: bool,
    history: bool,
) -> Value {
    let machine = match StateMachine::compile(definition, kind) {
        Ok(m) => m,
        Err(e) => {
            return json!({"status": "CREATE_FAILED", "error": "InvalidDefinition", "cause": e.cause})
        }
    };
    let run = runner::run(machine, input, tasks, virtual_time, history);
    let mut out = Map::new();
    out.insert("status".into(), json!(run.outcome.status()));
    match run.outcome {
        Outcome::Succeeded { output } => {
            out.insert("output".into(), output);
        }
        Outcome::Failed { error, cause }
        | Outcome::TimedOut { error, cause }
        | Outcome::Aborted { error, cause } => {
            out.insert("error".into(), json!(error));
            out.insert("cause".into(), json!(cause));
        }
    }
    if history {
        let events: Vec<Value> = run.history.events().iter().map(|e| e.to_json(true)).collect();
        out.insert("events".into(), Value::Array(events));
    }
    Value::Object(out)
}

fn run_batch(path: &str, tasks: &Tasks, virtual_time: bool, history: bool) -> Result<u8> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read batch file {path}"))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut all_ok = true;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {} of {path}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let case: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                writeln!(
                    out,
                    "{}",
                    json!({"line": n + 1, "status": "INVALID_CASE", "cause": e.to_string()})
                )?;
                all_ok = false;
                continue;
            }
        };
        let kind = match case.get("type").and_then(Value::as_str) {
            Some("EXPRESS") => MachineType::Express,
            _ => MachineType::Standard,
        };
        let mut case_tasks = tasks.clone();
        if let Some(Value::Object(m)) = case.get("tasks") {
            for (k, v) in m {
                if let Some(c) = v.as_str() {
                    case_tasks.insert(k.clone(), c.to_owned());
                }
            }
        }
        let definition = match case.get("definition") {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        let input = case.get("input").cloned().unwrap_or(Value::Null);
        let mut result = execute(&definition, input, kind, &case_tasks, virtual_time, history);
        all_ok &= result.get("status").and_then(Value::as_str) == Some("SUCCEEDED");
        if let (Value::Object(r), Some(id)) = (&mut result, case.get("id")) {
            r.insert("id".into(), id.clone());
        }
        writeln!(out, "{}", serde_json::to_string(&result)?)?;
        out.flush()?;
    }
    Ok(if all_ok { 0 } else { 1 })
}
