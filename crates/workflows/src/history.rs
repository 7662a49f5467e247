//! GetExecutionHistory: the events of a Standard execution, made again by replaying its
//! steps with history recording on.
//!
//! Only the steps' inputs are stored; the interpreter is deterministic given them, their
//! times and the execution's random seed, so the replay makes the very events the execution
//! made. A redrive step shows as AWS shows it: the events up to the failure, then
//! `ExecutionRedriven`, then what the rerun did.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use asl::{Execution, ExecutionInfo, StateMachine};
use serde_json::Value;
use store::{ExecutionRecord, StepRecord};

use crate::persist::StepInput;
use crate::{Engine, Error, Result};

/// The history of an execution, each event as GetExecutionHistory shows it with data.
/// A paging client reads one history many times: the newest few are kept, by execution
/// and number of steps (a history only grows by steps).
pub(crate) type Cache = Mutex<HashMap<String, (i64, Arc<Vec<Value>>)>>;

pub(crate) async fn history(engine: &Engine, arn: &str) -> Result<Arc<Vec<Value>>> {
    let store = engine.store();
    let record = store.execution(arn).await?.ok_or_else(|| {
        Error::ExecutionDoesNotExist(format!("Execution Does Not Exist: '{arn}'"))
    })?;
    let cache = &engine.inner().histories;
    if let Some((steps, events)) = cache.lock().ok().and_then(|c| c.get(arn).cloned()) {
        if steps == record.next_seq {
            return Ok(events);
        }
    }
    let log = Log::load(engine, record).await?;
    let events =
        replay(engine, &log).map_err(|e| Error::Internal(format!("cannot replay {arn}: {e}")))?;
    let steps = &log.steps;
    let events = Arc::new(events);
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 64 {
            c.clear();
        }
        c.insert(arn.to_owned(), (steps.len() as i64, events.clone()));
    }
    Ok(events)
}

/// What replaying an execution takes: its row, the machine its revision compiles to, its
/// steps, and the seed of its random values (kept in the start step).
pub(crate) struct Log {
    pub(crate) record: ExecutionRecord,
    pub(crate) role_arn: String,
    pub(crate) machine: Arc<StateMachine>,
    pub(crate) steps: Vec<StepRecord>,
    pub(crate) seed: Option<u64>,
    pub(crate) input: Value,
}

impl Log {
    /// Reads the rest of the log of the execution whose row is `record`.
    pub(crate) async fn load(engine: &Engine, record: ExecutionRecord) -> Result<Self> {
        let store = engine.store();
        let revision = store.revision(&record.revision_id).await?.ok_or_else(|| {
            Error::Internal(format!("revision {} is missing", record.revision_id))
        })?;
        let kind = match store.machine(&record.machine_arn).await? {
            Some(m) => crate::kind_of(&m),
            None => asl::MachineType::Standard,
        };
        let machine = engine.compile(&revision.id, &revision.definition, kind)?;
        let steps = store.steps(&record.arn).await?;
        let bad = |e: String| Error::Internal(format!("cannot replay {}: {e}", record.arn));
        let seed = match steps.first().map(|s| StepInput::decode(&s.input)).transpose() {
            Ok(Some(StepInput::Start { seed })) => seed,
            Ok(_) => return Err(bad("the first step is not the start".into())),
            Err(e) => return Err(bad(e)),
        };
        let input = serde_json::from_str(&record.input).map_err(|e| bad(e.to_string()))?;
        Ok(Self { role_arn: revision.role_arn, machine, steps, seed, input, record })
    }
}

fn replay(engine: &Engine, log: &Log) -> Result<Vec<Value>, String> {
    let Log { record, role_arn, machine, steps, seed, input } = log;
    let seed = *seed;
    // The replay starts as the execution did: before any redrive.
    let info =
        ExecutionInfo { redrive_count: 0, ..crate::shard::info_for(engine, record, role_arn) };
    let options = |record_history| asl::Options {
        record_history,
        random_seed: seed,
        ..engine.config().limits.clone()
    };
    let start = |record_history| {
        Execution::start(
            machine.clone(),
            info.clone(),
            input.clone(),
            options(record_history),
            record.start_ms,
        )
        .0
    };
    let mut exec = start(true);
    let mut events: Vec<Value> = exec.take_events().iter().map(|e| e.to_json(true)).collect();
    // The steps in effect: a redrive undoes the one before it.
    let mut effective: Vec<(StepInput, &StepRecord)> = Vec::new();
    for step in steps.iter().skip(1) {
        let input = StepInput::decode(&step.input)?;
        match &input {
            StepInput::Redrive { count } => {
                effective.pop().ok_or("a redrive with no step to undo")?;
                // Rebuild the execution as it was before the step that ended it.
                exec = start(false);
                for (earlier, s) in &effective {
                    apply(&mut exec, earlier, s);
                }
                exec.set_record_history(true);
                exec.redrive(step.first_event.max(1) as u64 - 1, *count, step.at_ms);
            }
            other => apply(&mut exec, other, step),
        }
        events.extend(exec.take_events().iter().map(|e| e.to_json(true)));
        effective.push((input, step));
    }
    Ok(events)
}

fn apply(exec: &mut Execution, input: &StepInput, step: &StepRecord) {
    match input {
        StepInput::Redrive { count } => {
            exec.redrive(step.first_event.max(1) as u64 - 1, *count, step.at_ms)
        }
        other => {
            if let Some(i) = other.to_input() {
                exec.step(i, step.at_ms);
            }
        }
    }
}
