//! What a diagram shows, read from the definition's JSON: the states of each scope (the
//! machine, each Parallel branch, each Map's item processor) and their transitions, with
//! the short texts that label them.
//!
//! The reader is lenient on purpose: it walks whatever JSON it is given, draws a state
//! whose `Type` it does not know as a plain box, and turns a transition to a state that does
//! not exist into a placeholder node plus a warning, so an invalid definition still shows
//! what is wrong with it.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::layout::{EdgeKind, NodeKind, Retry};
use crate::text::{one_line, truncate};
use crate::Error;

/// The longest condition or error list an edge label shows, in characters.
const LABEL_CHARS: usize = 34;
/// The longest detail line (a resource, a path) a state shows, in characters.
const DETAIL_CHARS: usize = 40;

/// One scope's states and transitions.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    pub(crate) nodes: Vec<Item>,
    pub(crate) edges: Vec<Transition>,
    /// The Start marker, in the machine's scope only.
    pub(crate) start: Option<usize>,
    /// The End marker, in the machine's scope only.
    pub(crate) end: Option<usize>,
}

/// A state, a marker or a placeholder for a missing state.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) kind: NodeKind,
    pub(crate) name: String,
    pub(crate) state_type: Option<String>,
    pub(crate) detail: Option<String>,
    pub(crate) resource: Option<String>,
    pub(crate) comment: Option<String>,
    pub(crate) retry: Vec<Retry>,
    /// Parallel branches or a Map's item processor, each with its label.
    pub(crate) children: Vec<(String, Scope)>,
}

impl Item {
    fn new(kind: NodeKind, name: &str) -> Self {
        Item {
            kind,
            name: name.to_owned(),
            state_type: None,
            detail: None,
            resource: None,
            comment: None,
            retry: Vec::new(),
            children: Vec::new(),
        }
    }
}

/// A transition between two items of one scope.
#[derive(Debug)]
pub(crate) struct Transition {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) kind: EdgeKind,
    pub(crate) label: Option<String>,
}

/// Reads the machine's scope, collecting warnings about what could not be drawn as written.
pub(crate) fn read(definition: &Value, warnings: &mut Vec<String>) -> Result<Scope, Error> {
    let obj = definition.as_object().ok_or(Error::NotAnObject)?;
    let states = obj.get("States").and_then(Value::as_object).ok_or(Error::NoStates)?;
    Ok(read_scope(obj, states, true, warnings))
}

/// Reads a nested scope (a branch or an item processor); one that is not a definition is an
/// empty scope and a warning.
fn read_nested(value: &Value, what: &str, warnings: &mut Vec<String>) -> Scope {
    let states = value.as_object().and_then(|o| Some((o, o.get("States")?.as_object()?)));
    match states {
        Some((obj, states)) => read_scope(obj, states, false, warnings),
        None => {
            warnings.push(format!("{what} has no States object"));
            Scope::default()
        }
    }
}

fn read_scope(
    obj: &Map<String, Value>,
    states: &Map<String, Value>,
    top: bool,
    warnings: &mut Vec<String>,
) -> Scope {
    let mut scope = Scope::default();
    if top {
        scope.start = Some(scope.nodes.len());
        scope.nodes.push(Item::new(NodeKind::Start, "Start"));
    }
    let first_state = scope.nodes.len();
    for (name, state) in states {
        scope.nodes.push(read_state(name, state, warnings));
    }
    if top {
        scope.end = Some(scope.nodes.len());
        scope.nodes.push(Item::new(NodeKind::End, "End"));
    }
    // The index of each state's node by name, for lookups only (never iterated).
    let names: HashMap<&str, usize> =
        states.keys().enumerate().map(|(i, name)| (name.as_str(), first_state + i)).collect();
    let mut targets = Targets { names, missing: Vec::new() };

    match obj.get("StartAt").and_then(Value::as_str) {
        Some(start_at) => {
            let to = targets.resolve(&mut scope, start_at, "StartAt", warnings);
            if let Some(from) = scope.start {
                scope.edges.push(Transition { from, to, kind: EdgeKind::Start, label: None });
            }
        }
        None if top => warnings.push("the definition has no StartAt".to_owned()),
        None => warnings.push("a nested definition has no StartAt".to_owned()),
    }

    for (i, (name, state)) in states.iter().enumerate() {
        let from = first_state + i;
        let Some(state) = state.as_object() else { continue };
        let state_type = state.get("Type").and_then(Value::as_str).unwrap_or("");
        let mut link = |scope: &mut Scope, to: &str, kind, label, field: &str| {
            let to = targets.resolve(scope, to, &format!("{name}.{field}"), warnings);
            scope.edges.push(Transition { from, to, kind, label });
        };
        if state_type == "Choice" {
            if let Some(rules) = state.get("Choices").and_then(Value::as_array) {
                for rule in rules {
                    let Some(next) = rule.get("Next").and_then(Value::as_str) else { continue };
                    let label = condition(rule).map(|c| truncate(&one_line(&c), LABEL_CHARS));
                    link(&mut scope, next, EdgeKind::Choice, label, "Choices");
                }
            }
            if let Some(default) = state.get("Default").and_then(Value::as_str) {
                link(&mut scope, default, EdgeKind::Default, Some("Default".to_owned()), "Default");
            }
        }
        if let Some(next) = state.get("Next").and_then(Value::as_str) {
            link(&mut scope, next, EdgeKind::Next, None, "Next");
        }
        if let Some(catchers) = state.get("Catch").and_then(Value::as_array) {
            for catcher in catchers {
                let Some(next) = catcher.get("Next").and_then(Value::as_str) else { continue };
                let errors = catcher.get("ErrorEquals").and_then(Value::as_array);
                let names: Vec<&str> =
                    errors.into_iter().flatten().filter_map(Value::as_str).collect();
                let label = (!names.is_empty()).then(|| truncate(&names.join(", "), LABEL_CHARS));
                link(&mut scope, next, EdgeKind::Catch, label, "Catch");
            }
        }
        let ends = state.get("End") == Some(&Value::Bool(true))
            || state_type == "Succeed"
            || state_type == "Fail";
        if let (true, Some(to)) = (ends, scope.end) {
            scope.edges.push(Transition { from, to, kind: EdgeKind::End, label: None });
        }
    }
    scope
}

/// Resolves transition targets to node indices, adding one placeholder per missing name.
struct Targets<'a> {
    names: HashMap<&'a str, usize>,
    missing: Vec<(String, usize)>,
}

impl Targets<'_> {
    fn resolve(
        &mut self,
        scope: &mut Scope,
        name: &str,
        field: &str,
        warnings: &mut Vec<String>,
    ) -> usize {
        if let Some(&i) = self.names.get(name) {
            return i;
        }
        warnings.push(format!("{field} names a state that does not exist: {name:?}"));
        if let Some((_, i)) = self.missing.iter().find(|(n, _)| n == name) {
            return *i;
        }
        let i = scope.nodes.len();
        scope.nodes.push(Item::new(NodeKind::Missing, name));
        self.missing.push((name.to_owned(), i));
        i
    }
}

fn read_state(name: &str, state: &Value, warnings: &mut Vec<String>) -> Item {
    let mut item = Item::new(NodeKind::State, name);
    let Some(state) = state.as_object() else {
        warnings.push(format!("state {name:?} is not an object"));
        item.state_type = Some("?".to_owned());
        return item;
    };
    let state_type = state.get("Type").and_then(Value::as_str);
    item.state_type = Some(state_type.unwrap_or("?").to_owned());
    item.comment = state.get("Comment").and_then(Value::as_str).map(str::to_owned);
    item.retry = state
        .get("Retry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| Retry {
            errors: r
                .get("ErrorEquals")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect(),
            max_attempts: match r.get("MaxAttempts") {
                None => Some(3),
                Some(v) => v.as_u64(),
            },
        })
        .collect();
    let detail = match state_type {
        Some("Task") => {
            item.resource = state.get("Resource").and_then(Value::as_str).map(str::to_owned);
            item.resource.as_deref().map(|r| task_detail(r, state))
        }
        Some("Wait") => wait_detail(state),
        Some("Fail") => fail_detail(state),
        Some("Parallel") => {
            let branches = state.get("Branches").and_then(Value::as_array);
            for (i, branch) in branches.into_iter().flatten().enumerate() {
                let what = format!("branch {} of {name:?}", i + 1);
                let scope = read_nested(branch, &what, warnings);
                item.children.push((format!("Branch {}", i + 1), scope));
            }
            let n = item.children.len();
            Some(if n == 1 { "1 branch".to_owned() } else { format!("{n} branches") })
        }
        Some("Map") => {
            let (label, processor) = match (state.get("ItemProcessor"), state.get("Iterator")) {
                (Some(p), _) => ("Item processor", Some(p)),
                (None, Some(p)) => ("Iterator", Some(p)),
                (None, None) => ("Item processor", None),
            };
            match processor {
                Some(p) => {
                    let what = format!("the {} of {name:?}", label.to_lowercase());
                    item.children.push((label.to_owned(), read_nested(p, &what, warnings)));
                }
                None => warnings.push(format!("Map state {name:?} has no ItemProcessor")),
            }
            map_detail(state)
        }
        Some("Pass" | "Choice" | "Succeed") => None,
        Some(other) => {
            warnings.push(format!("state {name:?} has an unknown Type {other:?}"));
            None
        }
        None => {
            warnings.push(format!("state {name:?} has no Type"));
            None
        }
    };
    item.detail = detail.map(|d| truncate(&one_line(&d), DETAIL_CHARS));
    item
}

/// The text of a JSONata expression without its `{% %}` delimiters.
fn jsonata(s: &str) -> Option<&str> {
    Some(s.trim().strip_prefix("{%")?.strip_suffix("%}")?.trim())
}

/// A string field's value, or a JSONata expression's text.
fn text_of(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    Some(jsonata(s).unwrap_or(s).to_owned())
}

/// What a Task runs, briefly: a service integration's `service:action`, a Lambda function's
/// name, an activity's name, or the resource itself.
fn task_detail(resource: &str, state: &Map<String, Value>) -> String {
    let parts: Vec<&str> = resource.split(':').collect();
    let is_arn = parts.len() >= 6 && parts[0] == "arn";
    if is_arn && parts[2] == "states" && parts[3].is_empty() && parts[4].is_empty() {
        let integration = parts[5..].join(":");
        if integration == "lambda:invoke" || integration.starts_with("lambda:invoke.") {
            let function = ["Parameters", "Arguments"]
                .iter()
                .filter_map(|f| state.get(*f)?.get("FunctionName")?.as_str())
                .find(|f| jsonata(f).is_none());
            if let Some(function) = function {
                return function_name(function);
            }
        }
        return integration;
    }
    if is_arn && parts[2] == "lambda" && parts[5] == "function" {
        return function_name(resource);
    }
    if is_arn && parts[2] == "states" && parts[5] == "activity" && parts.len() > 6 {
        return format!("activity:{}", parts[6..].join(":"));
    }
    resource.to_owned()
}

/// A Lambda function's name (with its qualifier, if any) from a name or an ARN.
fn function_name(function: &str) -> String {
    match function.split_once(":function:") {
        Some((_, rest)) => rest.to_owned(),
        None => function.to_owned(),
    }
}

fn wait_detail(state: &Map<String, Value>) -> Option<String> {
    if let Some(v) = state.get("Seconds") {
        return Some(match v.as_u64() {
            Some(n) => format!("{n} s"),
            None => format!("{} s", text_of(v).unwrap_or_else(|| v.to_string())),
        });
    }
    if let Some(p) = state.get("SecondsPath").and_then(Value::as_str) {
        return Some(format!("{p} s"));
    }
    let until = state.get("Timestamp").or_else(|| state.get("TimestampPath"));
    until.and_then(text_of).map(|t| format!("until {t}"))
}

fn fail_detail(state: &Map<String, Value>) -> Option<String> {
    state.get("Error").or_else(|| state.get("ErrorPath")).and_then(text_of)
}

fn map_detail(state: &Map<String, Value>) -> Option<String> {
    let mut parts = Vec::new();
    let items = state.get("ItemsPath").or_else(|| state.get("Items"));
    if let Some(items) = items.and_then(text_of) {
        parts.push(items);
    }
    let mode = state.get("ItemProcessor").and_then(|p| p.get("ProcessorConfig")?.get("Mode"));
    if mode.and_then(Value::as_str) == Some("DISTRIBUTED") {
        parts.push("distributed".to_owned());
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// A short text of a choice rule: `$.x == "a"`, `$.n > $.m`, `$.x is present`, `not (...)`,
/// or a JSONata condition's expression. `None` for a rule this does not recognise.
fn condition(rule: &Value) -> Option<String> {
    let rule = rule.as_object()?;
    if let Some(c) = rule.get("Condition") {
        return text_of(c).or_else(|| Some(c.to_string()));
    }
    let group = |key: &str, word: &str| -> Option<String> {
        let parts: Vec<String> = rule
            .get(key)?
            .as_array()?
            .iter()
            .map(|r| match condition(r) {
                Some(c) if r.get("And").is_some() || r.get("Or").is_some() => format!("({c})"),
                Some(c) => c,
                None => "?".to_owned(),
            })
            .collect();
        Some(parts.join(&format!(" {word} ")))
    };
    if let Some(c) = group("And", "and") {
        return Some(c);
    }
    if let Some(c) = group("Or", "or") {
        return Some(c);
    }
    if let Some(inner) = rule.get("Not") {
        return Some(format!("not ({})", condition(inner).unwrap_or_else(|| "?".to_owned())));
    }
    let variable = rule.get("Variable").and_then(Value::as_str)?;
    for (key, value) in rule {
        if matches!(key.as_str(), "Variable" | "Next" | "Comment" | "Assign" | "Output") {
            continue;
        }
        let (operator, by_path) = match key.strip_suffix("Path") {
            Some(op) => (op, true),
            None => (key.as_str(), false),
        };
        let operand = if by_path {
            value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string())
        } else {
            value.to_string()
        };
        let comparison = [
            ("GreaterThanEquals", ">="),
            ("LessThanEquals", "<="),
            ("GreaterThan", ">"),
            ("LessThan", "<"),
            ("Equals", "=="),
        ]
        .into_iter()
        .find(|(suffix, _)| {
            operator.ends_with(suffix)
                && ["String", "Numeric", "Boolean", "Timestamp"]
                    .iter()
                    .any(|t| operator.strip_suffix(suffix) == Some(*t))
        });
        if let Some((_, symbol)) = comparison {
            return Some(format!("{variable} {symbol} {operand}"));
        }
        if operator == "StringMatches" {
            return Some(format!("{variable} matches {operand}"));
        }
        let yes = value.as_bool();
        let test = match (key.as_str(), yes) {
            ("IsNull", Some(true)) => "is null",
            ("IsNull", Some(false)) => "is not null",
            ("IsPresent", Some(true)) => "is present",
            ("IsPresent", Some(false)) => "is absent",
            ("IsString", Some(true)) => "is a string",
            ("IsString", Some(false)) => "is not a string",
            ("IsNumeric", Some(true)) => "is a number",
            ("IsNumeric", Some(false)) => "is not a number",
            ("IsBoolean", Some(true)) => "is a boolean",
            ("IsBoolean", Some(false)) => "is not a boolean",
            ("IsTimestamp", Some(true)) => "is a timestamp",
            ("IsTimestamp", Some(false)) => "is not a timestamp",
            _ => continue,
        };
        return Some(format!("{variable} {test}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn conditions_read_as_comparisons() {
        let c = |v: Value| condition(&v);
        assert_eq!(
            c(json!({"Variable": "$.x", "StringEquals": "a", "Next": "N"})).as_deref(),
            Some(r#"$.x == "a""#)
        );
        assert_eq!(
            c(json!({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.m"})).as_deref(),
            Some("$.n >= $.m")
        );
        assert_eq!(
            c(json!({"Not": {"Variable": "$.x", "IsPresent": true}})).as_deref(),
            Some("not ($.x is present)")
        );
        assert_eq!(
            c(json!({"And": [
                {"Variable": "$.a", "BooleanEquals": true},
                {"Or": [{"Variable": "$.b", "NumericLessThan": 1},
                        {"Variable": "$.b", "NumericGreaterThan": 9}]}
            ]}))
            .as_deref(),
            Some("$.a == true and ($.b < 1 or $.b > 9)")
        );
        assert_eq!(
            c(json!({"Condition": "{% $states.input.n > 3 %}"})).as_deref(),
            Some("$states.input.n > 3")
        );
        assert_eq!(c(json!({"Variable": "$.x", "Bogus": 1})), None);
    }

    #[test]
    fn tasks_show_a_short_resource() {
        let t = |r: &str, s: Value| task_detail(r, s.as_object().unwrap());
        assert_eq!(t("arn:aws:states:::lambda:invoke", json!({})), "lambda:invoke");
        assert_eq!(
            t(
                "arn:aws:states:::lambda:invoke",
                json!({"Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:1:function:resize:live"}})
            ),
            "resize:live"
        );
        assert_eq!(t("arn:aws:lambda:us-east-1:1:function:double", json!({})), "double");
        assert_eq!(
            t("arn:aws:states:::states:startExecution.sync:2", json!({})),
            "states:startExecution.sync:2"
        );
        assert_eq!(t("arn:aws:states:us-east-1:1:activity:approve", json!({})), "activity:approve");
        assert_eq!(t("my-resource", json!({})), "my-resource");
    }
}
