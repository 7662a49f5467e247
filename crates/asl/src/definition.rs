//! The compiled form of a state machine definition.
//!
//! [`StateMachine::compile`] turns a definition that [`crate::validate`] accepted into typed
//! states whose paths, templates and choice rules are parsed once, and whose transitions are
//! indices, so the interpreter does no parsing and no name lookups while it runs.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::choice;
use crate::path::{Path, ReferencePath};
use crate::query::Query;
use crate::template::Template;
use crate::validate::{self, MachineType};

/// Which language a state's expressions are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryLanguage {
    #[default]
    JsonPath,
    Jsonata,
}

impl QueryLanguage {
    fn parse(v: Option<&Value>, inherited: Self) -> Self {
        match v.and_then(Value::as_str) {
            Some("JSONata") => Self::Jsonata,
            Some("JSONPath") => Self::JsonPath,
            _ => inherited,
        }
    }
}

/// Why a definition was rejected: AWS's `InvalidDefinition` cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{cause}")]
pub struct DefinitionError {
    /// The diagnostics, when validation found them.
    pub diagnostics: Vec<validate::Diagnostic>,
    /// The text AWS puts in the `cause` of an `InvalidDefinition` error.
    pub cause: String,
}

impl DefinitionError {
    fn schema(message: impl Into<String>, location: impl Into<String>) -> Self {
        Self::from_diagnostics(vec![validate::Diagnostic::new(
            "SCHEMA_VALIDATION_FAILED",
            message,
            location,
        )])
    }

    fn from_diagnostics(diagnostics: Vec<validate::Diagnostic>) -> Self {
        let cause = validate::invalid_definition_cause(&diagnostics);
        Self { diagnostics, cause }
    }
}

/// A compiled state machine (the root machine, a Parallel branch or a Map's item processor).
#[derive(Debug)]
pub struct StateMachine {
    /// The index of the state to start at.
    pub start_at: usize,
    /// The states, in definition order.
    pub states: Vec<State>,
    /// Names to indices.
    pub index: HashMap<String, usize>,
    /// `TimeoutSeconds` of the whole execution (root machine only).
    pub timeout_seconds: Option<u64>,
    /// Whether an expression of the definition may read the context object (root machine
    /// only): it mentions `$$` or uses JSONata. Without, an execution keeps no copy of its
    /// input for `$$.Execution.Input`.
    pub reads_context: bool,
}

/// Where a state goes when it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Next(usize),
    End,
}

/// `InputPath` and `OutputPath`: absent means `$`, `null` means `{}`.
#[derive(Debug, Clone, PartialEq)]
pub enum IoPath {
    Identity,
    Empty,
    Path(Path),
}

/// `ResultPath`: absent means the result replaces the input, `null` discards the result.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultPath {
    Replace,
    Discard,
    Path(ReferencePath),
}

/// A value that is either fixed or computed at run time (`Seconds`/`SecondsPath`, ...).
#[derive(Debug, Clone)]
pub enum Dynamic<T> {
    Fixed(T),
    Path(Path),
    Query(Query),
}

/// A retrier of a `Retry` field.
#[derive(Debug, Clone)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub jitter_full: bool,
}

/// A catcher of a `Catch` field.
#[derive(Debug, Clone)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: usize,
    pub result_path: ResultPath,
    pub assign: Option<Assign>,
    pub output: Option<Query>,
}

/// An `Assign` block.
#[derive(Debug, Clone)]
pub enum Assign {
    /// JSONPath mode: a payload template evaluated against the state's result.
    Template(Template),
    /// JSONata mode: a value with `{% %}` expressions.
    Query(Query),
}

/// One state.
#[derive(Debug)]
pub struct State {
    pub name: String,
    pub language: QueryLanguage,
    pub kind: StateKind,
    pub transition: Transition,
    pub input_path: IoPath,
    pub output_path: IoPath,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub assign: Option<Assign>,
    /// JSONata `Arguments`.
    pub arguments: Option<Query>,
    /// JSONata `Output`.
    pub output: Option<Query>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

impl State {
    /// The prefix of history event types for this state (`Pass`, `Task`, ...).
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            StateKind::Pass { .. } => "Pass",
            StateKind::Task(_) => "Task",
            StateKind::Choice { .. } => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed => "Succeed",
            StateKind::Fail { .. } => "Fail",
            StateKind::Parallel { .. } => "Parallel",
            StateKind::Map(_) => "Map",
        }
    }

    /// The type of the history event that enters the state, e.g. `PassStateEntered`.
    pub fn entered_event(&self) -> &'static str {
        match self.kind {
            StateKind::Pass { .. } => "PassStateEntered",
            StateKind::Task(_) => "TaskStateEntered",
            StateKind::Choice { .. } => "ChoiceStateEntered",
            StateKind::Wait(_) => "WaitStateEntered",
            StateKind::Succeed => "SucceedStateEntered",
            StateKind::Fail { .. } => "FailStateEntered",
            StateKind::Parallel { .. } => "ParallelStateEntered",
            StateKind::Map(_) => "MapStateEntered",
        }
    }

    /// The type of the history event that leaves the state, e.g. `PassStateExited`.
    pub fn exited_event(&self) -> &'static str {
        match self.kind {
            StateKind::Pass { .. } => "PassStateExited",
            StateKind::Task(_) => "TaskStateExited",
            StateKind::Choice { .. } => "ChoiceStateExited",
            StateKind::Wait(_) => "WaitStateExited",
            StateKind::Succeed => "SucceedStateExited",
            StateKind::Fail { .. } => "FailStateExited",
            StateKind::Parallel { .. } => "ParallelStateExited",
            StateKind::Map(_) => "MapStateExited",
        }
    }
}

/// What a state does.
#[derive(Debug)]
pub enum StateKind {
    Pass { result: Option<Value> },
    Task(Box<TaskSpec>),
    Choice { choices: Vec<ChoiceBranch>, default: Option<usize> },
    Wait(WaitSpec),
    Succeed,
    Fail { error: Option<Dynamic<String>>, cause: Option<Dynamic<String>> },
    Parallel { branches: Vec<Arc<StateMachine>> },
    Map(Box<MapSpec>),
}

/// A Task state's own fields.
#[derive(Debug)]
pub struct TaskSpec {
    pub resource: String,
    pub timeout_seconds: Option<Dynamic<u64>>,
    pub heartbeat_seconds: Option<Dynamic<u64>>,
    pub credentials: Option<Value>,
}

/// A Wait state's duration or deadline.
#[derive(Debug)]
pub enum WaitSpec {
    Seconds(Dynamic<i64>),
    Timestamp(Dynamic<String>),
}

/// One rule of a Choice state.
#[derive(Debug)]
pub struct ChoiceBranch {
    pub condition: ChoiceCondition,
    pub next: usize,
    pub assign: Option<Assign>,
    pub output: Option<Query>,
}

/// A Choice rule's test.
#[derive(Debug)]
pub enum ChoiceCondition {
    Rule(choice::Rule),
    Query(Query),
}

/// A Map state's own fields.
#[derive(Debug)]
pub struct MapSpec {
    pub processor: Arc<StateMachine>,
    pub items_path: IoPath,
    pub items: Option<Query>,
    pub item_selector: Option<Template>,
    pub item_selector_query: Option<Query>,
    pub max_concurrency: Dynamic<u64>,
    pub tolerated_failure_count: Option<Dynamic<i64>>,
    pub tolerated_failure_percentage: Option<Dynamic<f64>>,
    pub item_batcher: Option<Value>,
    pub distributed: bool,
    pub label: Option<String>,
}

impl StateMachine {
    /// Validates and compiles a definition.
    pub fn compile(definition: &Value, kind: MachineType) -> Result<Arc<Self>, DefinitionError> {
        let diagnostics = validate::validate(definition, kind);
        if !diagnostics.is_empty() {
            return Err(DefinitionError::from_diagnostics(diagnostics));
        }
        let language =
            QueryLanguage::parse(definition.get("QueryLanguage"), QueryLanguage::JsonPath);
        let mut machine = Compiler.machine(definition, language, "")?;
        machine.reads_context = may_read_context(definition);
        Ok(Arc::new(machine))
    }

    /// Validates and compiles a definition given as text.
    pub fn compile_str(text: &str, kind: MachineType) -> Result<Arc<Self>, DefinitionError> {
        let diagnostics = validate::validate_text(text, kind);
        if !diagnostics.is_empty() {
            return Err(DefinitionError::from_diagnostics(diagnostics));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            DefinitionError::schema(format!("Definition is not valid JSON: {e}"), "/")
        })?;
        Self::compile(&value, kind)
    }

    /// Looks up a state by name.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.index.get(name).map(|&i| &self.states[i])
    }
}

/// Whether anything in a definition may read the context object: a string (or key) that
/// mentions `$$`, which every JSONPath, template and intrinsic reading it does, or JSONata,
/// whose expressions may reach `$states.context` in ways a text search cannot rule out.
fn may_read_context(v: &Value) -> bool {
    let mentions = |s: &str| s.contains("$$") || s == "JSONata";
    match v {
        Value::String(s) => mentions(s),
        Value::Array(a) => a.iter().any(may_read_context),
        Value::Object(m) => m.iter().any(|(k, v)| mentions(k) || may_read_context(v)),
        _ => false,
    }
}

struct Compiler;

type Result<T, E = DefinitionError> = std::result::Result<T, E>;

fn obj<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| DefinitionError::schema("Expected an object", at))
}

fn uint(v: &Value, at: &str) -> Result<u64> {
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
        .ok_or_else(|| DefinitionError::schema("Expected a non-negative integer", at))
}

impl Compiler {
    fn machine(&self, def: &Value, language: QueryLanguage, at: &str) -> Result<StateMachine> {
        let def = obj(def, if at.is_empty() { "/" } else { at })?;
        let states_v = def
            .get("States")
            .and_then(Value::as_object)
            .ok_or_else(|| DefinitionError::schema("These fields are required: [States]", at))?;
        let index: HashMap<String, usize> =
            states_v.keys().enumerate().map(|(i, k)| (k.clone(), i)).collect();
        let lookup = |name: &Value, loc: &str| -> Result<usize> {
            name.as_str().and_then(|n| index.get(n).copied()).ok_or_else(|| {
                DefinitionError::schema(
                    format!("Missing 'Next' target: {}", name.as_str().unwrap_or("")),
                    loc,
                )
            })
        };
        let start_at =
            lookup(def.get("StartAt").unwrap_or(&Value::Null), &format!("{at}/StartAt"))?;
        let mut states = Vec::with_capacity(states_v.len());
        for (name, sv) in states_v {
            let loc = format!("{at}/States/{name}");
            states.push(self.state(name, sv, language, &loc, &lookup)?);
        }
        let timeout_seconds =
            def.get("TimeoutSeconds").map(|v| uint(v, "/TimeoutSeconds")).transpose()?;
        Ok(StateMachine { start_at, states, index, timeout_seconds, reads_context: false })
    }

    fn state(
        &self,
        name: &str,
        sv: &Value,
        inherited: QueryLanguage,
        at: &str,
        lookup: &dyn Fn(&Value, &str) -> Result<usize>,
    ) -> Result<State> {
        let s = obj(sv, at)?;
        let language = QueryLanguage::parse(s.get("QueryLanguage"), inherited);
        let field = |k: &str| s.get(k);
        let loc = |k: &str| format!("{at}/{k}");
        let transition = match (field("Next"), field("End")) {
            (Some(n), _) => Transition::Next(lookup(n, &loc("Next"))?),
            _ => Transition::End,
        };
        let io_path = |k: &str| -> Result<IoPath> {
            Ok(match field(k) {
                None => IoPath::Identity,
                Some(Value::Null) => IoPath::Empty,
                Some(Value::String(p)) => {
                    IoPath::Path(Path::parse(p).map_err(|e| DefinitionError::schema(e, loc(k)))?)
                }
                Some(_) => return Err(DefinitionError::schema("Expected a string", loc(k))),
            })
        };
        let template = |k: &str| -> Result<Option<Template>> {
            field(k)
                .map(|v| Template::compile(v).map_err(|e| DefinitionError::schema(e, loc(k))))
                .transpose()
        };
        let query = |k: &str| -> Result<Option<Query>> {
            field(k)
                .map(|v| Query::compile(v).map_err(|e| DefinitionError::schema(e, loc(k))))
                .transpose()
        };
        let result_path = result_path(field("ResultPath"), &loc("ResultPath"))?;
        let state_assign = assign(field("Assign"), language, &loc("Assign"))?;
        let retry = match field("Retry") {
            Some(Value::Array(rs)) => rs.iter().map(retrier).collect(),
            _ => Vec::new(),
        };
        let catch = match field("Catch") {
            Some(Value::Array(cs)) => cs
                .iter()
                .enumerate()
                .map(|(i, c)| self.catcher(c, language, &format!("{at}/Catch[{i}]"), lookup))
                .collect::<Result<_>>()?,
            _ => Vec::new(),
        };
        let ty = field("Type").and_then(Value::as_str).unwrap_or("");
        let kind = match ty {
            "Pass" => StateKind::Pass { result: field("Result").cloned() },
            "Succeed" => StateKind::Succeed,
            "Fail" => StateKind::Fail {
                error: dynamic_string(s, "Error", "ErrorPath", language, at)?,
                cause: dynamic_string(s, "Cause", "CausePath", language, at)?,
            },
            "Task" => StateKind::Task(Box::new(TaskSpec {
                resource: field("Resource").and_then(Value::as_str).unwrap_or("").to_owned(),
                timeout_seconds: dynamic_uint(s, "TimeoutSeconds", "TimeoutSecondsPath", at)?,
                heartbeat_seconds: dynamic_uint(s, "HeartbeatSeconds", "HeartbeatSecondsPath", at)?,
                credentials: field("Credentials").cloned(),
            })),
            "Wait" => StateKind::Wait(if let Some(d) = dynamic_int(s, "Seconds", "SecondsPath", at)? {
                WaitSpec::Seconds(d)
            } else {
                WaitSpec::Timestamp(
                    dynamic_string(s, "Timestamp", "TimestampPath", language, at)?
                        .ok_or_else(|| DefinitionError::schema("Wait needs a duration", at))?,
                )
            }),
            "Choice" => {
                let mut choices = Vec::new();
                if let Some(Value::Array(cs)) = field("Choices") {
                    for (i, c) in cs.iter().enumerate() {
                        let cl = format!("{at}/Choices[{i}]");
                        let condition = match c.get("Condition") {
                            Some(q) => ChoiceCondition::Query(
                                Query::compile(q).map_err(|e| DefinitionError::schema(e, &cl))?,
                            ),
                            None => ChoiceCondition::Rule(
                                choice::Rule::parse(c).map_err(|e| DefinitionError::schema(e, &cl))?,
                            ),
                        };
                        choices.push(ChoiceBranch {
                            condition,
                            next: lookup(c.get("Next").unwrap_or(&Value::Null), &format!("{cl}/Next"))?,
                            assign: assign(c.get("Assign"), language, &cl)?,
                            output: c
                                .get("Output")
                                .map(|v| Query::compile(v).map_err(|e| DefinitionError::schema(e, &cl)))
                                .transpose()?,
                        });
                    }
                }
                let default = field("Default").map(|d| lookup(d, &loc("Default"))).transpose()?;
                StateKind::Choice { choices, default }
            }
            "Parallel" => {
                let mut branches = Vec::new();
                if let Some(Value::Array(bs)) = field("Branches") {
                    for (i, b) in bs.iter().enumerate() {
                        let bl = format!("{at}/Branches[{i}]");
                        let lang = QueryLanguage::parse(b.get("QueryLanguage"), language);
                        branches.push(Arc::new(self.machine(b, lang, &bl)?));
                    }
                }
                StateKind::Parallel { branches }
            }
            "Map" => {
                let (proc_v, proc_loc) = match field("ItemProcessor") {
                    Some(p) => (p, loc("ItemProcessor")),
                    None => (field("Iterator").unwrap_or(&Value::Null), loc("Iterator")),
                };
                let lang = QueryLanguage::parse(proc_v.get("QueryLanguage"), language);
                let processor = Arc::new(self.machine(proc_v, lang, &proc_loc)?);
                let distributed = proc_v
                    .pointer("/ProcessorConfig/Mode")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m == "DISTRIBUTED");
                let (item_selector, item_selector_query) = {
                    let sel = field("ItemSelector").or_else(|| field("Parameters"));
                    match (sel, language) {
                        (None, _) => (None, None),
                        (Some(v), QueryLanguage::JsonPath) => (
                            Some(Template::compile(v).map_err(|e| DefinitionError::schema(e, at))?),
                            None,
                        ),
                        (Some(v), QueryLanguage::Jsonata) => (
                            None,
                            Some(Query::compile(v).map_err(|e| DefinitionError::schema(e, at))?),
                        ),
                    }
                };
                let max_concurrency = match (field("MaxConcurrency"), field("MaxConcurrencyPath")) {
                    (Some(Value::String(q)), _) => Dynamic::Query(
                        Query::compile(&Value::String(q.clone()))
                            .map_err(|e| DefinitionError::schema(e, loc("MaxConcurrency")))?,
                    ),
                    (Some(v), _) => Dynamic::Fixed(uint(v, &loc("MaxConcurrency"))?),
                    (None, Some(Value::String(p))) => Dynamic::Path(
                        Path::parse(p).map_err(|e| DefinitionError::schema(e, loc("MaxConcurrencyPath")))?,
                    ),
                    _ => Dynamic::Fixed(0),
                };
                StateKind::Map(Box::new(MapSpec {
                    processor,
                    items_path: io_path("ItemsPath")?,
                    items: query("Items")?,
                    item_selector,
                    item_selector_query,
                    max_concurrency,
                    tolerated_failure_count: dynamic_int(
                        s,
                        "ToleratedFailureCount",
                        "ToleratedFailureCountPath",
                        at,
                    )?,
                    tolerated_failure_percentage: dynamic_float(
                        s,
                        "ToleratedFailurePercentage",
                        "ToleratedFailurePercentagePath",
                        at,
                    )?,
                    item_batcher: field("ItemBatcher").cloned(),
                    distributed,
                    label: field("Label").and_then(Value::as_str).map(str::to_owned),
                }))
            }
            other => {
                return Err(DefinitionError::schema(
                    format!("The value for the field 'Type' must be one of [Choice, Fail, Map, Parallel, Pass, Succeed, Task, Wait], but was '{other}'"),
                    loc("Type"),
                ))
            }
        };
        let (parameters, arguments) = match language {
            QueryLanguage::JsonPath if !matches!(kind, StateKind::Map(_)) => {
                (template("Parameters")?, None)
            }
            QueryLanguage::JsonPath => (None, None),
            QueryLanguage::Jsonata => (None, query("Arguments")?),
        };
        Ok(State {
            name: name.to_owned(),
            language,
            kind,
            transition,
            input_path: io_path("InputPath")?,
            output_path: io_path("OutputPath")?,
            parameters,
            result_selector: template("ResultSelector")?,
            result_path,
            assign: state_assign,
            arguments,
            output: query("Output")?,
            retry,
            catch,
        })
    }

    fn catcher(
        &self,
        c: &Value,
        language: QueryLanguage,
        at: &str,
        lookup: &dyn Fn(&Value, &str) -> Result<usize>,
    ) -> Result<Catcher> {
        Ok(Catcher {
            error_equals: strings(c.get("ErrorEquals")),
            next: lookup(c.get("Next").unwrap_or(&Value::Null), &format!("{at}/Next"))?,
            result_path: result_path(c.get("ResultPath"), &format!("{at}/ResultPath"))?,
            assign: assign(c.get("Assign"), language, at)?,
            output: c
                .get("Output")
                .map(|v| Query::compile(v).map_err(|e| DefinitionError::schema(e, at)))
                .transpose()?,
        })
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn retrier(r: &Value) -> Retrier {
    Retrier {
        error_equals: strings(r.get("ErrorEquals")),
        interval_seconds: r.get("IntervalSeconds").and_then(Value::as_f64).unwrap_or(1.0),
        max_attempts: r
            .get("MaxAttempts")
            .and_then(Value::as_u64)
            .map_or(3, |m| m.min(u32::MAX as u64) as u32),
        backoff_rate: r.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0),
        max_delay_seconds: r.get("MaxDelaySeconds").and_then(Value::as_f64),
        jitter_full: r.get("JitterStrategy").and_then(Value::as_str) == Some("FULL"),
    }
}

fn result_path(v: Option<&Value>, at: &str) -> Result<ResultPath> {
    Ok(match v {
        None => ResultPath::Replace,
        Some(Value::Null) => ResultPath::Discard,
        Some(Value::String(p)) if p == "$" => ResultPath::Replace,
        Some(Value::String(p)) => {
            ResultPath::Path(ReferencePath::parse(p).map_err(|e| DefinitionError::schema(e, at))?)
        }
        Some(_) => return Err(DefinitionError::schema("Expected a string", at)),
    })
}

fn assign(v: Option<&Value>, language: QueryLanguage, at: &str) -> Result<Option<Assign>> {
    v.map(|v| match language {
        QueryLanguage::JsonPath => Template::compile(v).map(Assign::Template),
        QueryLanguage::Jsonata => Query::compile(v).map(Assign::Query),
    })
    .transpose()
    .map_err(|e| DefinitionError::schema(e, at))
}

fn path_field(s: &Map<String, Value>, k: &str, at: &str) -> Result<Option<Path>> {
    match s.get(k) {
        Some(Value::String(p)) => {
            Path::parse(p).map(Some).map_err(|e| DefinitionError::schema(e, format!("{at}/{k}")))
        }
        _ => Ok(None),
    }
}

fn query_string(v: &Value) -> Option<Query> {
    match v {
        Value::String(s) if Query::is_expression(s) => Query::compile(v).ok(),
        _ => None,
    }
}

fn dynamic_string(
    s: &Map<String, Value>,
    k: &str,
    kp: &str,
    language: QueryLanguage,
    at: &str,
) -> Result<Option<Dynamic<String>>> {
    if let Some(v) = s.get(k) {
        if language == QueryLanguage::Jsonata {
            if let Some(q) = query_string(v) {
                return Ok(Some(Dynamic::Query(q)));
            }
        }
        return Ok(v.as_str().map(|x| Dynamic::Fixed(x.to_owned())));
    }
    Ok(path_field(s, kp, at)?.map(Dynamic::Path))
}

fn dynamic_uint(
    s: &Map<String, Value>,
    k: &str,
    kp: &str,
    at: &str,
) -> Result<Option<Dynamic<u64>>> {
    if let Some(v) = s.get(k) {
        if let Some(q) = query_string(v) {
            return Ok(Some(Dynamic::Query(q)));
        }
        return Ok(Some(Dynamic::Fixed(uint(v, &format!("{at}/{k}"))?)));
    }
    Ok(path_field(s, kp, at)?.map(Dynamic::Path))
}

fn dynamic_int(
    s: &Map<String, Value>,
    k: &str,
    kp: &str,
    at: &str,
) -> Result<Option<Dynamic<i64>>> {
    if let Some(v) = s.get(k) {
        if let Some(q) = query_string(v) {
            return Ok(Some(Dynamic::Query(q)));
        }
        let n = v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| DefinitionError::schema("Expected an integer", format!("{at}/{k}")))?;
        return Ok(Some(Dynamic::Fixed(n)));
    }
    Ok(path_field(s, kp, at)?.map(Dynamic::Path))
}

fn dynamic_float(
    s: &Map<String, Value>,
    k: &str,
    kp: &str,
    at: &str,
) -> Result<Option<Dynamic<f64>>> {
    if let Some(v) = s.get(k) {
        if let Some(q) = query_string(v) {
            return Ok(Some(Dynamic::Query(q)));
        }
        let n = v
            .as_f64()
            .ok_or_else(|| DefinitionError::schema("Expected a number", format!("{at}/{k}")))?;
        return Ok(Some(Dynamic::Fixed(n)));
    }
    Ok(path_field(s, kp, at)?.map(Dynamic::Path))
}
