//! The web console at `/console`: a single page (`console/index.html`, `console.js`,
//! `console.css`, embedded in the binary) that reads and drives Baton through its own APIs
//! from the browser, and the few endpoints under `/console/api/` that those APIs lack:
//!
//! - `GET /console/api/overview`: the state machines, topics, functions and collections,
//!   and the header API keys go in.
//! - `GET /console/api/state-machines/{arn}/diagram.svg`: the machine drawn by `graph`.
//! - `GET /console/api/executions/{arn}/diagram.svg`: the definition the execution runs,
//!   its states coloured by what the history says happened to them.
//! - `GET /console/api/executions/{arn}/states`: per state, that status and the input and
//!   output of its latest visit.
//!
//! ARNs are one percent-encoded path segment. Errors are `{"code", "message"}`: a malformed
//! ARN is a 400, an unknown one a 404. The console goes through the same middleware as
//! every other path: with security rules, its API needs the same credentials.

use std::collections::{BTreeMap, HashMap};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use serde_json::{json, Value};

use super::AppState;

const INDEX_HTML: &str = include_str!("console/index.html");
const CONSOLE_JS: &str = include_str!("console/console.js");
const CONSOLE_CSS: &str = include_str!("console/console.css");

/// Where the page learns the header API keys are sent in.
const API_KEY_HEADER_MARK: &str = "{{api_key_header}}";

/// The console's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/assets/console.js", get(script))
        .route("/console/assets/console.css", get(style))
        .route("/console/api/overview", get(overview))
        .route("/console/api/state-machines/{arn}/diagram.svg", get(machine_diagram))
        .route("/console/api/executions/{arn}/diagram.svg", get(execution_diagram))
        .route("/console/api/executions/{arn}/states", get(execution_states))
        .route("/console/api/{*rest}", any(unknown))
}

// ----- the page ----------------------------------------------------------------------------

async fn index(State(state): State<AppState>) -> Response {
    // The header name is a token (no quotes or angle brackets), so it is safe in the page.
    let page = INDEX_HTML.replace(API_KEY_HEADER_MARK, &state.api_key_header);
    asset("text/html; charset=utf-8", page)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", CONSOLE_JS.to_owned())
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", CONSOLE_CSS.to_owned())
}

fn asset(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // The page comes with the binary: a new Baton may serve a new page.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

// ----- errors ------------------------------------------------------------------------------

/// An error answer: `{"code", "message"}` with its status.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    fn internal(what: &str, detail: impl std::fmt::Display) -> Self {
        // The detail goes to the log, never to the client.
        tracing::error!(error = %detail, "console: {what}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        gateway::error(self.status, self.code, self.message)
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        Self::internal("store failure", e)
    }
}

type ApiResult<T = Response> = Result<T, ApiError>;

async fn unknown(Path(rest): Path<String>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no console API at /console/api/{rest}"),
    )
}

/// The ARN in the path, decoded; a segment that is not UTF-8 once decoded is a 400.
fn arn_param(path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    path.map(|Path(arn)| arn).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_arn", format!("invalid ARN: {e}"))
    })
}

/// The parts of a Step Functions ARN of the resource type `kind`, or a 400.
fn check_arn<'a>(arn: &'a str, kind: &str, parts: &[usize]) -> ApiResult<Vec<&'a str>> {
    let split: Vec<&str> = arn.split(':').collect();
    let shaped = parts.contains(&split.len())
        && split[0] == "arn"
        && split[2] == "states"
        && split[5] == kind
        && split[6..].iter().all(|p| !p.is_empty());
    if !shaped {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_arn",
            format!("{arn:?} is not the ARN of a {kind}"),
        ));
    }
    Ok(split)
}

// ----- overview ----------------------------------------------------------------------------

/// How many state machines the overview lists at most.
const OVERVIEW_MACHINES: usize = 1000;

async fn overview(State(state): State<AppState>) -> ApiResult {
    let store = state.engine.store();
    let mut machines = Vec::new();
    let mut after: Option<String> = None;
    while machines.len() < OVERVIEW_MACHINES {
        let page = store.machines(after.as_deref(), 100).await?;
        let full = page.len() == 100;
        after = page.last().map(|m| m.arn.clone());
        machines.extend(page.into_iter().map(
            |m| json!({"arn": m.arn, "name": m.name, "type": m.kind, "created_ms": m.created_ms}),
        ));
        if !full {
            break;
        }
    }
    machines.truncate(OVERVIEW_MACHINES);
    let topics = match &state.topics {
        Some(t) => t
            .topics()
            .await
            .map_err(|e| ApiError::internal("listing topics", e))?
            .iter()
            .map(|r| json!({"name": r.name, "arn": t.topic_arn(&r.name)}))
            .collect(),
        None => Vec::new(),
    };
    let functions = state.functions.as_ref().map(|f| f.names()).unwrap_or_default();
    let collections: Vec<Value> = state
        .resources
        .as_ref()
        .map(|r| r.describe().map(|c| json!({"name": c.name, "key": c.key})).collect())
        .unwrap_or_default();
    Ok(axum::Json(json!({
        "state_machines": machines,
        "topics": topics,
        "functions": functions,
        "collections": collections,
        "api_key_header": state.api_key_header,
    }))
    .into_response())
}

// ----- diagrams ----------------------------------------------------------------------------

async fn machine_diagram(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let arn = arn_param(path)?;
    let parts = check_arn(&arn, "stateMachine", &[7, 8])?;
    let store = state.engine.store();
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "state_machine_not_found",
            format!("no state machine {arn}"),
        )
    };
    let definition = if parts.len() == 7 {
        store.machine(&arn).await?.ok_or_else(not_found)?.definition
    } else {
        // A version (`...:NAME:3`): the revision it published.
        let version = store.version(&arn).await?.ok_or_else(not_found)?;
        store
            .revision(&version.revision_id)
            .await?
            .ok_or_else(|| ApiError::internal("reading a version", "its revision is missing"))?
            .definition
    };
    svg(&definition, &graph::Highlight::none())
}

async fn execution_diagram(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let arn = arn_param(path)?;
    let (definition, runs, _) = execution_runs(&state, &arn).await?;
    let highlight: graph::Highlight =
        runs.iter().map(|r| (r.name.clone(), r.status.graph())).collect();
    svg(&definition, &highlight)
}

async fn execution_states(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let arn = arn_param(path)?;
    let (_, runs, e) = execution_runs(&state, &arn).await?;
    let states: Vec<Value> = runs.iter().map(StateRun::to_json).collect();
    Ok(axum::Json(json!({
        "execution_arn": e.arn,
        "state_machine_arn": e.machine_arn,
        "status": e.status,
        "states": states,
    }))
    .into_response())
}

/// The definition an execution runs, what happened to each of its states, and its record.
async fn execution_runs(
    state: &AppState,
    arn: &str,
) -> ApiResult<(String, Vec<StateRun>, store::ExecutionRecord)> {
    check_arn(arn, "execution", &[8]).or_else(|_| check_arn(arn, "express", &[8]))?;
    let store = state.engine.store();
    let not_found = || {
        ApiError::new(StatusCode::NOT_FOUND, "execution_not_found", format!("no execution {arn}"))
    };
    let e = store.execution(arn).await?.ok_or_else(not_found)?;
    let revision = store
        .revision(&e.revision_id)
        .await?
        .ok_or_else(|| ApiError::internal("reading an execution", "its revision is missing"))?;
    let events = state.engine.history(arn).await.map_err(|err| match err {
        workflows::Error::ExecutionDoesNotExist(_) => not_found(),
        other => ApiError::internal("reading a history", other),
    })?;
    Ok((revision.definition, state_runs(&events), e))
}

fn svg(definition: &str, highlight: &graph::Highlight) -> ApiResult {
    let json: Value = serde_json::from_str(definition)
        .map_err(|e| ApiError::internal("reading a stored definition", e))?;
    let layout =
        graph::layout(&json).map_err(|e| ApiError::internal("laying out a definition", e))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        graph::render_svg(&layout, highlight),
    )
        .into_response())
}

// ----- the path an execution took ----------------------------------------------------------

/// What happened to one state of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunStatus {
    /// Entered and not yet left.
    Running,
    Succeeded,
    /// Failed, and the failure ended the execution (or the state is a Fail state).
    Failed,
    /// Failed, and a `Catch` moved on to its handler.
    Caught,
    /// Still running when the execution was stopped or timed out.
    Aborted,
}

impl RunStatus {
    fn name(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Caught => "caught",
            RunStatus::Aborted => "aborted",
        }
    }

    fn graph(self) -> graph::Status {
        match self {
            RunStatus::Running => graph::Status::Running,
            RunStatus::Succeeded => graph::Status::Succeeded,
            RunStatus::Failed => graph::Status::Failed,
            RunStatus::Caught => graph::Status::Caught,
            RunStatus::Aborted => graph::Status::Aborted,
        }
    }
}

/// One state's latest visit, and how often it was entered.
#[derive(Debug, Clone, PartialEq)]
struct StateRun {
    name: String,
    /// The state's type as its events name it (`Task`, `Choice`, ...).
    kind: String,
    status: RunStatus,
    entries: u64,
    input: Option<Value>,
    output: Option<Value>,
    error: Option<String>,
    cause: Option<String>,
    entered_ms: i64,
    exited_ms: Option<i64>,
    /// Whether the latest visit saw a failure (then leaving the state means it was caught).
    failed_in_visit: bool,
    /// Whether the latest visit has not left the state.
    open: bool,
}

impl StateRun {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name, "type": self.kind, "status": self.status.name(),
            "entries": self.entries, "input": self.input, "output": self.output,
            "error": self.error, "cause": self.cause,
            "entered_ms": self.entered_ms, "exited_ms": self.exited_ms,
        })
    }
}

/// The events that close a Parallel or Map state's block of branch events.
fn closes_block(kind: &str) -> bool {
    ["ParallelState", "MapState"].iter().any(|p| {
        kind.strip_prefix(p).is_some_and(|rest| ["Succeeded", "Failed", "Aborted"].contains(&rest))
    })
}

fn opens_block(kind: &str) -> bool {
    kind == "ParallelStateEntered" || kind == "MapStateEntered"
}

/// Each state's latest visit from a history (events as GetExecutionHistory shows them), in
/// the order states were first entered.
///
/// A state is running from its `...StateEntered` to its `...StateExited`. A failure event
/// (`TaskFailed`, `ExecutionFailed`, `ParallelStateFailed`, ...) belongs to the state whose
/// entry precedes it in its branch of control, found by following `previousEventId` back:
/// the branches' own events are skipped for a Parallel's or Map's failure, and a Parallel or
/// Map block that ended is skipped on the way to a failure after it. A failed state that
/// is later left was caught. A Fail state fails when entered. States still running when the
/// execution is stopped or times out are aborted; a redrive sets the failed or aborted
/// states it left off in (other than Fail states) running again.
fn state_runs(events: &[Value]) -> Vec<StateRun> {
    let kind_of = |e: &Value| e.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    let by_id: HashMap<u64, &Value> =
        events.iter().filter_map(|e| Some((e.get("id")?.as_u64()?, e))).collect();
    let mut runs: Vec<StateRun> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for e in events {
        let kind = kind_of(e);
        let ms =
            e.get("timestamp").and_then(Value::as_f64).map_or(0, |s| (s * 1000.0).round() as i64);
        if let Some(state_type) = kind.strip_suffix("StateEntered") {
            let d = details(e);
            let Some(name) = d.and_then(|d| d.get("name")).and_then(Value::as_str) else {
                continue;
            };
            let at = *index.entry(name.to_owned()).or_insert_with(|| {
                runs.push(StateRun {
                    name: name.to_owned(),
                    kind: state_type.to_owned(),
                    status: RunStatus::Running,
                    entries: 0,
                    input: None,
                    output: None,
                    error: None,
                    cause: None,
                    entered_ms: ms,
                    exited_ms: None,
                    failed_in_visit: false,
                    open: true,
                });
                runs.len() - 1
            });
            let run = &mut runs[at];
            run.entries += 1;
            run.status = RunStatus::Running;
            run.input = d.and_then(|d| d.get("input")).map(payload);
            run.output = None;
            run.error = None;
            run.cause = None;
            run.entered_ms = ms;
            run.exited_ms = None;
            run.failed_in_visit = false;
            run.open = true;
            if state_type == "Fail" {
                run.status = RunStatus::Failed;
                run.failed_in_visit = true;
            }
        } else if kind.ends_with("StateExited") {
            let d = details(e);
            let Some(&at) =
                d.and_then(|d| d.get("name")).and_then(Value::as_str).and_then(|n| index.get(n))
            else {
                continue;
            };
            let run = &mut runs[at];
            run.status = if run.failed_in_visit { RunStatus::Caught } else { RunStatus::Succeeded };
            run.output = d.and_then(|d| d.get("output")).map(payload);
            run.exited_ms = Some(ms);
            run.open = false;
        } else if kind == "ExecutionRedriven" {
            // The execution goes on where it ended: what ended it runs again.
            for run in runs.iter_mut().filter(|r| {
                r.open
                    && r.kind != "Fail"
                    && matches!(r.status, RunStatus::Failed | RunStatus::Aborted)
            }) {
                run.status = RunStatus::Running;
                run.exited_ms = None;
                run.error = None;
                run.cause = None;
                run.failed_in_visit = false;
            }
        } else if kind == "ExecutionAborted" || kind == "ExecutionTimedOut" {
            for run in runs.iter_mut().filter(|r| r.status == RunStatus::Running) {
                run.status = RunStatus::Aborted;
                run.exited_ms = Some(ms);
            }
        } else if kind.ends_with("Failed") || kind.ends_with("TimedOut") {
            let Some(name) = owner(e, &by_id) else { continue };
            let Some(&at) = index.get(&name) else { continue };
            let run = &mut runs[at];
            run.status = RunStatus::Failed;
            run.failed_in_visit = true;
            if let Some(d) = details(e) {
                if let Some(x) = d.get("error").and_then(Value::as_str) {
                    run.error = Some(x.to_owned());
                }
                if let Some(x) = d.get("cause").and_then(Value::as_str) {
                    run.cause = Some(x.to_owned());
                }
            }
        }
    }
    runs
}

/// The state a failure event belongs to (see [`state_runs`]).
fn owner(failure: &Value, by_id: &HashMap<u64, &Value>) -> Option<String> {
    let kind = failure.get("type").and_then(Value::as_str)?;
    // A Parallel's or Map's own failure: its branches' states are not its owner.
    let block = kind == "ParallelStateFailed" || kind == "MapStateFailed";
    let mut depth = 0usize;
    let mut at = failure.get("previousEventId").and_then(Value::as_u64)?;
    // Bounded by the history: ids only go back.
    for _ in 0..by_id.len() {
        let e = by_id.get(&at)?;
        let k = e.get("type").and_then(Value::as_str)?;
        if closes_block(k) {
            depth += 1;
        } else if opens_block(k) && depth > 0 {
            depth -= 1;
        } else if depth == 0 && k.ends_with("StateEntered") && (!block || opens_block(k)) {
            return details(e)?.get("name").and_then(Value::as_str).map(str::to_owned);
        } else if depth == 0 && !block && k.ends_with("StateExited") {
            return None;
        }
        let previous = e.get("previousEventId").and_then(Value::as_u64)?;
        if previous == 0 || previous >= at {
            return None;
        }
        at = previous;
    }
    None
}

/// The `...EventDetails` object of an event.
fn details(e: &Value) -> Option<&serde_json::Map<String, Value>> {
    e.as_object()?
        .iter()
        .find(|(k, _)| k.ends_with("EventDetails"))
        .and_then(|(_, v)| v.as_object())
}

/// A payload as history events carry it (a JSON string), as JSON when it is JSON.
fn payload(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events from `(id, previous, type, details)`.
    fn history(rows: &[(u64, u64, &str, Value)]) -> Vec<Value> {
        rows.iter()
            .map(|(id, prev, kind, d)| {
                let mut e = json!({"id": id, "previousEventId": prev, "type": kind, "timestamp": *id as f64});
                if !d.is_null() {
                    e["someEventDetails"] = d.clone();
                }
                e
            })
            .collect()
    }

    fn statuses(runs: &[StateRun]) -> Vec<(&str, &str)> {
        runs.iter().map(|r| (r.name.as_str(), r.status.name())).collect()
    }

    fn entered(name: &str, input: &str) -> Value {
        json!({"name": name, "input": input})
    }

    fn exited(name: &str, output: &str) -> Value {
        json!({"name": name, "output": output})
    }

    #[test]
    fn a_caught_task_then_its_handler() {
        let runs = state_runs(&history(&[
            (1, 0, "ExecutionStarted", Value::Null),
            (2, 0, "TaskStateEntered", entered("Task", "{\"a\":1}")),
            (3, 2, "TaskScheduled", Value::Null),
            (4, 3, "TaskStarted", Value::Null),
            (5, 4, "TaskFailed", json!({"error": "Exception", "cause": "boom"})),
            (6, 5, "TaskStateExited", exited("Task", "{\"a\":1,\"e\":true}")),
            (7, 6, "PassStateEntered", entered("Fallback", "{}")),
            (8, 7, "PassStateExited", exited("Fallback", "{}")),
            (9, 8, "ExecutionSucceeded", Value::Null),
        ]));
        assert_eq!(statuses(&runs), [("Task", "caught"), ("Fallback", "succeeded")]);
        assert_eq!(runs[0].input, Some(json!({"a": 1})));
        assert_eq!(runs[0].output, Some(json!({"a": 1, "e": true})));
        assert_eq!(
            (runs[0].error.as_deref(), runs[0].cause.as_deref()),
            (Some("Exception"), Some("boom"))
        );
    }

    #[test]
    fn a_failing_branch_fails_its_parallel_which_is_caught() {
        let runs = state_runs(&history(&[
            (1, 0, "ExecutionStarted", Value::Null),
            (2, 0, "ParallelStateEntered", entered("P", "{}")),
            (3, 2, "ParallelStateStarted", Value::Null),
            (4, 3, "PassStateEntered", entered("Fine", "{}")),
            (5, 4, "PassStateExited", exited("Fine", "{}")),
            (6, 3, "FailStateEntered", entered("Branch1", "{}")),
            (7, 6, "ParallelStateFailed", json!({"error": "E"})),
            (8, 7, "ParallelStateExited", exited("P", "{}")),
            (9, 8, "PassStateEntered", entered("Caught", "{}")),
            (10, 9, "PassStateExited", exited("Caught", "{}")),
            (11, 10, "ExecutionSucceeded", Value::Null),
        ]));
        assert_eq!(
            statuses(&runs),
            [
                ("P", "caught"),
                ("Fine", "succeeded"),
                ("Branch1", "failed"),
                ("Caught", "succeeded")
            ]
        );
        assert_eq!(runs[0].error.as_deref(), Some("E"));
    }

    #[test]
    fn an_uncaught_failure_after_a_finished_inner_parallel_blames_the_failing_task() {
        let runs = state_runs(&history(&[
            (1, 0, "ExecutionStarted", Value::Null),
            (2, 0, "ParallelStateEntered", entered("Inner", "{}")),
            (3, 2, "ParallelStateStarted", Value::Null),
            (4, 3, "PassStateEntered", entered("A", "{}")),
            (5, 4, "PassStateExited", exited("A", "{}")),
            (6, 5, "ParallelStateSucceeded", Value::Null),
            (7, 6, "ParallelStateExited", exited("Inner", "[{}]")),
            (8, 7, "TaskStateEntered", entered("T", "[{}]")),
            (9, 8, "TaskScheduled", Value::Null),
            (10, 9, "TaskFailed", json!({"error": "X"})),
            (11, 10, "ExecutionFailed", json!({"error": "X"})),
        ]));
        assert_eq!(statuses(&runs), [("Inner", "succeeded"), ("A", "succeeded"), ("T", "failed")]);
    }

    #[test]
    fn a_stopped_execution_aborts_what_runs_and_a_loop_keeps_the_latest_visit() {
        let runs = state_runs(&history(&[
            (1, 0, "ExecutionStarted", Value::Null),
            (2, 0, "PassStateEntered", entered("Count", "{\"n\":0}")),
            (3, 2, "PassStateExited", exited("Count", "{\"n\":1}")),
            (4, 3, "PassStateEntered", entered("Count", "{\"n\":1}")),
            (5, 4, "PassStateExited", exited("Count", "{\"n\":2}")),
            (6, 5, "WaitStateEntered", entered("Nap", "{}")),
            (7, 6, "ExecutionAborted", json!({"error": "stop"})),
        ]));
        assert_eq!(statuses(&runs), [("Count", "succeeded"), ("Nap", "aborted")]);
        assert_eq!((runs[0].entries, runs[0].output.clone()), (2, Some(json!({"n": 2}))));
    }

    #[test]
    fn a_redrive_runs_again_what_ended_the_execution() {
        let mut rows = vec![
            (1, 0, "ExecutionStarted", Value::Null),
            (2, 0, "PassStateEntered", entered("First", "{}")),
            (3, 2, "PassStateExited", exited("First", "{}")),
            (4, 3, "TaskStateEntered", entered("Call", "{}")),
            (5, 4, "TaskFailed", json!({"error": "Boom"})),
            (6, 5, "ExecutionFailed", json!({"error": "Boom"})),
        ];
        let runs = state_runs(&history(&rows));
        assert_eq!(statuses(&runs), [("First", "succeeded"), ("Call", "failed")]);
        rows.push((7, 6, "ExecutionRedriven", Value::Null));
        let runs = state_runs(&history(&rows));
        assert_eq!(statuses(&runs), [("First", "succeeded"), ("Call", "running")]);
        assert_eq!(runs[1].error, None);
        rows.push((8, 7, "TaskSucceeded", Value::Null));
        rows.push((9, 8, "TaskStateExited", exited("Call", "{}")));
        let runs = state_runs(&history(&rows));
        assert_eq!(statuses(&runs), [("First", "succeeded"), ("Call", "succeeded")]);
    }

    #[test]
    fn odd_histories_give_what_they_can() {
        let runs = state_runs(&[
            json!({"type": "TaskFailed", "id": 1, "previousEventId": 1}),
            json!("not an event"),
            json!({"type": "PassStateEntered", "id": 2, "previousEventId": 9,
                   "x": {"name": "S", "input": "not json"}}),
        ]);
        assert_eq!(statuses(&runs), []);
        let runs = state_runs(&[json!({"type": "PassStateEntered", "id": 2,
                   "stateEnteredEventDetails": {"name": "S", "input": "not json"}})]);
        assert_eq!(runs[0].input, Some(json!("not json")));
    }
}
