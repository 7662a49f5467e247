//! The checks behind [`super::validate`]: the schema of every object of a definition, then
//! the graph of transitions of every (sub-)state machine.
//!
//! Messages and locations are AWS's where they are known (the conformance corpus, and
//! messages measured against ValidateStateMachineDefinition); elsewhere they follow the same
//! patterns (`Field 'X' is not supported`, `These fields are required: [...]`, ...).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::{python, timestamp, Diagnostic, MachineType};
use crate::intrinsics::Call;
use crate::path::{Path, ReferencePath};
use crate::template::{invalid_dynamic_value_message, Template};

const SCHEMA: &str = "SCHEMA_VALIDATION_FAILED";
const TRANSITION: &str = "MISSING_TRANSITION_TARGET";

const STATE_TYPES: [&str; 8] =
    ["Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"];

/// Fields a state of any type may have.
const COMMON_FIELDS: [&str; 3] = ["Type", "Comment", "QueryLanguage"];

/// Fields only JSONPath states support.
const JSONPATH_ONLY: [&str; 16] = [
    "InputPath",
    "OutputPath",
    "ResultPath",
    "Parameters",
    "ResultSelector",
    "Result",
    "ItemsPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "SecondsPath",
    "TimestampPath",
    "MaxConcurrencyPath",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCountPath",
    "ErrorPath",
    "CausePath",
];

/// Fields only JSONata states support.
const JSONATA_ONLY: [&str; 3] = ["Arguments", "Output", "Items"];

/// The comparison operators of a JSONPath choice rule.
const COMPARISONS: [&str; 39] = [
    "StringEquals",
    "StringEqualsPath",
    "StringLessThan",
    "StringLessThanPath",
    "StringGreaterThan",
    "StringGreaterThanPath",
    "StringLessThanEquals",
    "StringLessThanEqualsPath",
    "StringGreaterThanEquals",
    "StringGreaterThanEqualsPath",
    "StringMatches",
    "NumericEquals",
    "NumericEqualsPath",
    "NumericLessThan",
    "NumericLessThanPath",
    "NumericGreaterThan",
    "NumericGreaterThanPath",
    "NumericLessThanEquals",
    "NumericLessThanEqualsPath",
    "NumericGreaterThanEquals",
    "NumericGreaterThanEqualsPath",
    "BooleanEquals",
    "BooleanEqualsPath",
    "TimestampEquals",
    "TimestampEqualsPath",
    "TimestampLessThan",
    "TimestampLessThanPath",
    "TimestampGreaterThan",
    "TimestampGreaterThanPath",
    "TimestampLessThanEquals",
    "TimestampLessThanEqualsPath",
    "TimestampGreaterThanEquals",
    "TimestampGreaterThanEqualsPath",
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
];

/// The largest value of the second counts (`TimeoutSeconds`, `Seconds`, ...).
const MAX_SECONDS: i64 = 99_999_999;

/// The query language of a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    JsonPath,
    Jsonata,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::JsonPath => "JSONPath",
            Lang::Jsonata => "JSONata",
        }
    }
}

/// Which kind of object holds `StartAt` and `States`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MachineKind {
    Root,
    Branch,
    Processor,
}

/// One transition out of a state, for the graph checks.
struct Transition {
    target: String,
    /// The field naming the target (`Next`, `Default`), for the message.
    field: &'static str,
    location: String,
}

/// One state, for the graph checks.
struct Node {
    name: String,
    location: String,
    terminal: bool,
    transitions: Vec<Transition>,
}

/// One state machine (the definition, a branch, an item processor), for the graph checks.
struct Scope {
    location: String,
    start: Option<String>,
    nodes: Vec<Node>,
}

/// The fields of an object that passed the field-name checks.
struct Fields<'v> {
    object: &'v Map<String, Value>,
    accepted: HashSet<&'v str>,
}

impl<'v> Fields<'v> {
    fn get(&self, key: &str) -> Option<&'v Value> {
        if self.accepted.contains(key) {
            self.object.get(key)
        } else {
            None
        }
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

struct Checker<'a> {
    definition: &'a Value,
    kind: MachineType,
    /// The top-level query language, which every state inherits unless it sets its own
    /// (states inside a Map or Parallel inherit it too, not their parent's).
    root_lang: Lang,
    diagnostics: Vec<Diagnostic>,
    scopes: Vec<Scope>,
}

/// Runs every check; see [`super::validate`].
pub(crate) fn check(definition: &Value, kind: MachineType) -> Vec<Diagnostic> {
    let root_lang = match definition.get("QueryLanguage") {
        Some(Value::String(s)) if s == "JSONata" => Lang::Jsonata,
        _ => Lang::JsonPath,
    };
    let mut checker =
        Checker { definition, kind, root_lang, diagnostics: Vec::new(), scopes: Vec::new() };
    let mut names = HashSet::new();
    checker.machine(definition, "", MachineKind::Root, &mut names);
    if checker.diagnostics.is_empty() {
        checker.graph();
    }
    checker.diagnostics
}

fn child(location: &str, key: &str) -> String {
    format!("{location}/{key}")
}

fn shown(location: &str) -> String {
    if location.is_empty() {
        "/".to_owned()
    } else {
        location.to_owned()
    }
}

/// Whether a string is a JSONata expression, `{% ... %}`.
fn is_expression(text: &str) -> bool {
    text.len() >= 4 && text.starts_with("{%") && text.ends_with("%}")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NULL",
        Value::Bool(_) => "BOOLEAN",
        Value::Number(n) if n.is_f64() => "NUMBER",
        Value::Number(_) => "INTEGER",
        Value::String(_) => "STRING",
        Value::Array(_) => "ARRAY",
        Value::Object(_) => "OBJECT",
    }
}

/// Whether a variable name is valid: a letter or `_`, then letters, digits or `_`, at most
/// 80 characters.
fn valid_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && name.chars().count() <= 80
}

/// The characters a Map `Label` must not contain.
fn invalid_label_char(c: char) -> bool {
    c.is_whitespace()
        || matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
        || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
}

impl Checker<'_> {
    fn push(&mut self, code: &str, message: impl Into<String>, location: &str) {
        self.diagnostics.push(Diagnostic::new(code, message, shown(location)));
    }

    fn schema(&mut self, message: impl Into<String>, location: &str) {
        self.push(SCHEMA, message, location);
    }

    fn required(&mut self, object: &Map<String, Value>, keys: &[&str], location: &str) {
        let missing: Vec<&str> =
            keys.iter().copied().filter(|k| !object.contains_key(*k)).collect();
        if !missing.is_empty() {
            self.schema(format!("These fields are required: [{}]", missing.join(", ")), location);
        }
    }

    fn not_supported(&mut self, key: &str, location: &str) {
        self.schema(format!("Field '{key}' is not supported"), location);
    }

    fn expected(&mut self, kind: &str, location: &str) {
        self.schema(format!("Expected value of type {kind}"), location);
    }

    fn one_of(&mut self, allowed: &[&str], location: &str) {
        self.schema(
            format!("Value should be one of the following: [{}]", allowed.join(", ")),
            location,
        );
    }

    /// Checks the field names of an object: unknown ones, and ones of the other query
    /// language (`only_for` names the language a field needs, if any).
    fn fields<'v>(
        &mut self,
        object: &'v Map<String, Value>,
        location: &str,
        allowed: &[&str],
        lang: Lang,
        only_for: impl Fn(&str) -> Option<Lang>,
    ) -> Fields<'v> {
        let mut accepted = HashSet::new();
        for key in object.keys() {
            if !allowed.contains(&key.as_str()) {
                self.not_supported(key, location);
            } else if let Some(needed) = only_for(key).filter(|needed| *needed != lang) {
                self.schema(
                    format!(
                        "The QueryLanguage is set to '{}', but field '{key}' is only supported for the '{}' QueryLanguage",
                        lang.name(),
                        needed.name()
                    ),
                    location,
                );
            } else {
                accepted.insert(key.as_str());
            }
        }
        Fields { object, accepted }
    }

    /// At most one of the fields may be present; with `one_required`, exactly one.
    fn exclusive(
        &mut self,
        fields: &Fields<'_>,
        keys: &[&str],
        one_required: bool,
        location: &str,
    ) {
        let count = keys.iter().filter(|k| fields.object.contains_key(**k)).count();
        if count > 1 {
            self.schema(
                format!("There should only be one of the following fields: [{}]", keys.join(", ")),
                location,
            );
        } else if count == 0 && one_required {
            self.schema(
                format!(
                    "This object should have only one of the following fields: [{}]",
                    keys.join(", ")
                ),
                location,
            );
        }
    }

    fn string_field(&mut self, fields: &Fields<'_>, key: &str, location: &str) -> Option<String> {
        match fields.get(key)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.expected("String", &child(location, key));
                None
            }
        }
    }

    /// An integer field with its range; in JSONata states a `{% %}` expression stands in.
    fn integer_field(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        location: &str,
        lang: Lang,
        min: i64,
        max: Option<i64>,
    ) -> Option<i64> {
        let value = fields.get(key)?;
        let at = child(location, key);
        let number = match value {
            Value::String(s) if lang == Lang::Jsonata && is_expression(s) => return None,
            Value::Number(n) => n,
            _ => {
                self.expected("Integer", &at);
                return None;
            }
        };
        let integer = match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(i), _, _) => i,
            (None, Some(_), _) => i64::MAX,
            (None, None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => f as i64,
            _ => {
                self.expected("Integer", &at);
                return None;
            }
        };
        if integer < min {
            self.schema(format!("Minimum value is {min}"), &at);
            None
        } else if max.is_some_and(|max| integer > max) {
            self.schema(format!("Maximum value is {}", max.unwrap_or_default()), &at);
            None
        } else {
            Some(integer)
        }
    }

    /// A number field with its range; in JSONata states a `{% %}` expression stands in.
    fn number_field(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        location: &str,
        lang: Lang,
        min: (f64, &str),
        max: Option<(f64, &str)>,
    ) {
        let Some(value) = fields.get(key) else {
            return;
        };
        let at = child(location, key);
        match value {
            Value::String(s) if lang == Lang::Jsonata && is_expression(s) => {}
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(f64::MAX);
                if f < min.0 {
                    self.schema(format!("Minimum value is {}", min.1), &at);
                } else if let Some((_, text)) = max.filter(|(max, _)| f > *max) {
                    self.schema(format!("Maximum value is {text}"), &at);
                }
            }
            _ => self.expected("Number", &at),
        }
    }

    fn path_ok(&self, text: &str) -> bool {
        text.starts_with('$') && Path::parse(text).is_ok()
    }

    fn intrinsic_ok(&self, text: &str) -> bool {
        text.starts_with("States.") && Call::parse(text).is_ok()
    }

    /// A JSONPath field: `InputPath`, `ItemsPath`, `SecondsPath`, ...; `nullable` for the
    /// fields where `null` means "nothing", `intrinsic` where an intrinsic call may stand in.
    fn path_field(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        location: &str,
        nullable: bool,
        intrinsic: bool,
    ) {
        let Some(value) = fields.get(key) else {
            return;
        };
        let at = child(location, key);
        match value {
            Value::Null if nullable => {}
            Value::String(s) => {
                if intrinsic && s.starts_with("States.") {
                    if !self.intrinsic_ok(s) {
                        self.schema(invalid_dynamic_value_message(key), &at);
                    }
                } else if !self.path_ok(s) {
                    self.schema("Value must be a valid JSONPath.", &at);
                }
            }
            _ => self.expected("String", &at),
        }
    }

    /// `ResultPath`: a reference path (or `null`).
    fn result_path_field(&mut self, fields: &Fields<'_>, location: &str) {
        let Some(value) = fields.get("ResultPath") else {
            return;
        };
        let at = child(location, "ResultPath");
        match value {
            Value::Null => {}
            Value::String(s) if !self.path_ok(s) => {
                self.schema("Value must be a valid JSONPath.", &at);
            }
            Value::String(s) => {
                if let Err(reason) = ReferencePath::parse(s) {
                    self.schema(format!("Value is not a Reference Path: {reason}"), &at);
                }
            }
            _ => self.expected("String", &at),
        }
    }

    /// A JSONPath payload template (`Parameters`, `ResultSelector`, `ItemSelector`).
    fn jsonpath_template(&mut self, value: &Value, location: &str) {
        let before = self.diagnostics.len();
        self.template_values(value, location);
        if self.diagnostics.len() == before {
            if let Err(reason) = Template::compile(value) {
                self.schema(reason, location);
            }
        }
    }

    fn template_values(&mut self, value: &Value, location: &str) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    if key.ends_with(".$") {
                        self.dynamic_value(key, item, location);
                    } else {
                        self.template_values(item, &child(location, key));
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.template_values(item, &format!("{location}[{i}]"));
                }
            }
            _ => {}
        }
    }

    /// The value of a `.$` key: a path or an intrinsic call.
    fn dynamic_value(&mut self, key: &str, value: &Value, location: &str) {
        match value {
            Value::String(s) if self.path_ok(s) || self.intrinsic_ok(s) => {}
            Value::String(_) => self.schema(
                invalid_dynamic_value_message(key),
                location,
            ),
            other => self.schema(
                format!(
                    "The value for the field '{key}' must be a STRING that contains a JSONPath but was an {}",
                    type_name(other)
                ),
                location,
            ),
        }
    }

    /// A JSONata value (`Arguments`, `Output`, an `Assign` value): every string that opens
    /// an expression must close it.
    fn jsonata_value(&mut self, value: &Value, location: &str) {
        match value {
            Value::String(s) if s.starts_with("{%") && !is_expression(s) => {
                self.schema("JSONata string must start with {% and end with %}", location);
            }
            Value::Object(map) => {
                for (key, item) in map {
                    self.jsonata_value(item, &child(location, key));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.jsonata_value(item, &format!("{location}[{i}]"));
                }
            }
            _ => {}
        }
    }

    /// A value of the state's language: a payload template or a JSONata value.
    fn payload(&mut self, value: &Value, location: &str, lang: Lang) {
        match lang {
            Lang::JsonPath => self.jsonpath_template(value, location),
            Lang::Jsonata => self.jsonata_value(value, location),
        }
    }

    fn assign(&mut self, value: &Value, location: &str, lang: Lang) {
        let Some(map) = value.as_object() else {
            self.expected("Object", location);
            return;
        };
        for (key, item) in map {
            let dynamic = lang == Lang::JsonPath && key.ends_with(".$");
            let name = if dynamic { &key[..key.len() - 2] } else { key.as_str() };
            if name == "states" {
                self.push(
                    "RESERVED_VARIABLE_NAME",
                    "Cannot assign to reserved variable '$states'.",
                    location,
                );
            } else if !valid_variable_name(name) {
                self.push(
                    "INVALID_VARIABLE_NAME",
                    format!("Invalid variable name '{name}': the variable name contains invalid characters."),
                    location,
                );
            }
            if dynamic {
                self.dynamic_value(key, item, location);
            } else {
                self.payload(item, &child(location, key), lang);
            }
        }
    }

    fn query_language_value(&mut self, value: &Value, location: &str) -> Option<Lang> {
        match value.as_str() {
            Some("JSONPath") => Some(Lang::JsonPath),
            Some("JSONata") => Some(Lang::Jsonata),
            _ => {
                self.one_of(&["JSONPath", "JSONata"], location);
                None
            }
        }
    }

    /// A state machine: the definition itself, a Parallel branch or a Map's item processor.
    /// `names` holds the state names seen so far in the same naming scope.
    fn machine(
        &mut self,
        value: &Value,
        location: &str,
        kind: MachineKind,
        names: &mut HashSet<String>,
    ) {
        let Some(object) = value.as_object() else {
            self.expected("Object", location);
            return;
        };
        self.required(object, &["States", "StartAt"], location);
        let mut accepted = HashSet::new();
        for key in object.keys() {
            let allowed = match key.as_str() {
                "Comment" | "StartAt" | "States" => true,
                "QueryLanguage" | "TimeoutSeconds" | "Version" => kind == MachineKind::Root,
                "ProcessorConfig" => kind == MachineKind::Processor,
                _ => false,
            };
            if allowed {
                accepted.insert(key.as_str());
            } else {
                self.not_supported(key, location);
            }
        }
        let fields = Fields { object, accepted };
        self.string_field(&fields, "Comment", location);
        if let Some(version) = fields.get("Version") {
            if version.as_str() != Some("1.0") {
                self.one_of(&["1.0"], &child(location, "Version"));
            }
        }
        if let Some(lang) = fields.get("QueryLanguage") {
            self.query_language_value(lang, &child(location, "QueryLanguage"));
        }
        self.integer_field(
            &fields,
            "TimeoutSeconds",
            location,
            Lang::JsonPath,
            0,
            Some(MAX_SECONDS),
        );
        let start = self.string_field(&fields, "StartAt", location);
        let scope = self.scopes.len();
        self.scopes.push(Scope { location: location.to_owned(), start, nodes: Vec::new() });
        let mut nodes = Vec::new();
        match fields.get("States") {
            Some(Value::Object(states)) => {
                for (name, state) in states {
                    let at = format!("{location}/States/{name}");
                    if name.is_empty() || name.chars().count() > 80 {
                        self.push(
                            "INVALID_STATE_NAME",
                            format!("State name \"{name}\" exceeds the 80-character limit allowed by the service"),
                            &at,
                        );
                    }
                    if !names.insert(name.clone()) {
                        self.push(
                            "DUPLICATE_STATE_NAME",
                            format!("Duplicate State name: {name}"),
                            &at,
                        );
                    }
                    if let Some(node) = self.state(name, state, &at, names) {
                        nodes.push(node);
                    }
                }
            }
            Some(_) => self.expected("Object", &child(location, "States")),
            None => {}
        }
        self.scopes[scope].nodes = nodes;
    }

    fn state_language(&mut self, object: &Map<String, Value>, location: &str) -> Lang {
        let Some(value) = object.get("QueryLanguage") else {
            return self.root_lang;
        };
        match self.query_language_value(value, &child(location, "QueryLanguage")) {
            Some(Lang::JsonPath) if self.root_lang == Lang::Jsonata => {
                self.schema(
                    "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
                    location,
                );
                Lang::JsonPath
            }
            Some(lang) => lang,
            None => self.root_lang,
        }
    }

    fn state(
        &mut self,
        name: &str,
        value: &Value,
        location: &str,
        names: &mut HashSet<String>,
    ) -> Option<Node> {
        let Some(object) = value.as_object() else {
            self.expected("Object", location);
            return None;
        };
        let Some(kind) = object.get("Type") else {
            self.required(object, &["Type"], location);
            return None;
        };
        let Some(kind) = kind.as_str() else {
            self.expected("String", &child(location, "Type"));
            return None;
        };
        if !STATE_TYPES.contains(&kind) {
            self.one_of(&STATE_TYPES, &child(location, "Type"));
            return None;
        }
        let lang = self.state_language(object, location);
        let transitions: &[&str] = match kind {
            "Choice" => &["Assign", "Choices", "Default", "InputPath", "OutputPath", "Output"],
            "Succeed" => &["InputPath", "OutputPath", "Output"],
            "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
            _ => &["Next", "End", "Assign", "InputPath", "OutputPath", "Output"],
        };
        let specific: &[&str] = match kind {
            "Pass" => &["Result", "ResultPath", "Parameters"],
            "Task" => &[
                "ResultPath",
                "Parameters",
                "Arguments",
                "Resource",
                "Credentials",
                "ResultSelector",
                "Retry",
                "Catch",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
            ],
            "Wait" => &["Seconds", "Timestamp", "SecondsPath", "TimestampPath"],
            "Parallel" => &[
                "ResultPath",
                "Parameters",
                "Arguments",
                "ResultSelector",
                "Retry",
                "Catch",
                "Branches",
            ],
            "Map" => &[
                "ResultPath",
                "Parameters",
                "ResultSelector",
                "Retry",
                "Catch",
                "ItemProcessor",
                "Iterator",
                "ItemsPath",
                "Items",
                "ItemSelector",
                "ItemReader",
                "ItemBatcher",
                "ResultWriter",
                "MaxConcurrency",
                "MaxConcurrencyPath",
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentagePath",
                "ToleratedFailureCount",
                "ToleratedFailureCountPath",
                "Label",
            ],
            _ => &[],
        };
        let allowed: Vec<&str> =
            COMMON_FIELDS.iter().chain(transitions).chain(specific).copied().collect();
        let fields = self.fields(object, location, &allowed, lang, state_field_language);
        self.string_field(&fields, "Comment", location);

        let mut node = Node {
            name: name.to_owned(),
            location: location.to_owned(),
            terminal: matches!(kind, "Succeed" | "Fail"),
            transitions: Vec::new(),
        };
        if transitions.contains(&"Next") {
            self.next_end(&fields, location, &mut node);
        }
        self.path_field(&fields, "InputPath", location, true, false);
        self.path_field(&fields, "OutputPath", location, true, false);
        self.result_path_field(&fields, location);
        for key in ["Parameters", "ResultSelector"] {
            if let Some(template) = fields.get(key) {
                self.jsonpath_template(template, &child(location, key));
            }
        }
        for key in ["Arguments", "Output"] {
            if let Some(value) = fields.get(key) {
                self.jsonata_value(value, &child(location, key));
            }
        }
        if let Some(assign) = fields.get("Assign") {
            self.assign(assign, &child(location, "Assign"), lang);
        }
        if let Some(retry) = fields.get("Retry") {
            self.retry(retry, &child(location, "Retry"), lang);
        }
        if let Some(catch) = fields.get("Catch") {
            self.catch(catch, &child(location, "Catch"), lang, &mut node);
        }
        match kind {
            "Task" => self.task(&fields, location, lang),
            "Choice" => self.choice(&fields, location, lang, &mut node),
            "Wait" => self.wait(&fields, location, lang),
            "Fail" => self.fail(&fields, location, lang),
            "Parallel" => self.parallel(&fields, location, names),
            "Map" => self.map(&fields, location, lang, names),
            _ => {}
        }
        Some(node)
    }

    fn next_end(&mut self, fields: &Fields<'_>, location: &str, node: &mut Node) {
        let next = self.string_field(fields, "Next", location);
        let end = match fields.get("End") {
            Some(Value::Bool(end)) => *end,
            Some(_) => {
                self.expected("Boolean", &child(location, "End"));
                false
            }
            None => false,
        };
        if next.is_some() && end {
            self.schema("There should only be one of the following fields: [Next, End]", location);
        } else if !fields.object.contains_key("Next") && !end {
            self.schema(
                "This object should have only one of the following fields: [Next, End]",
                location,
            );
        }
        node.terminal = end;
        if let Some(target) = next {
            node.transitions.push(Transition {
                target,
                field: "Next",
                location: child(location, "Next"),
            });
        }
    }

    /// `ErrorEquals` of a retrier or catcher; returns whether it is `["States.ALL"]`.
    fn error_equals(&mut self, value: Option<&Value>, location: &str) -> bool {
        let Some(value) = value else {
            return false;
        };
        let Some(items) = value.as_array() else {
            self.expected("Array", location);
            return false;
        };
        if items.is_empty() {
            self.schema("Value cannot be empty", location);
            return false;
        }
        let mut all = false;
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some("States.ALL") => all = true,
                Some(_) => {}
                None => self.expected("String", &format!("{location}[{i}]")),
            }
        }
        if all && items.len() > 1 {
            self.schema(
                "Error name 'States.ALL' must appear alone in the ErrorEquals array",
                location,
            );
            return false;
        }
        all
    }

    fn retry(&mut self, value: &Value, location: &str, lang: Lang) {
        let Some(items) = value.as_array() else {
            self.expected("Array", location);
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let at = format!("{location}[{i}]");
            let Some(object) = item.as_object() else {
                self.expected("Object", &at);
                continue;
            };
            self.required(object, &["ErrorEquals"], &at);
            let allowed = [
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ];
            let fields = self.fields(object, &at, &allowed, lang, |_| None);
            self.string_field(&fields, "Comment", &at);
            let all = self.error_equals(fields.get("ErrorEquals"), &child(&at, "ErrorEquals"));
            if all && i + 1 != items.len() {
                self.schema("A Retrier with 'States.ALL' must be the last Retrier", &at);
            }
            self.integer_field(&fields, "IntervalSeconds", &at, lang, 0, Some(MAX_SECONDS));
            self.integer_field(&fields, "MaxAttempts", &at, lang, 0, Some(MAX_SECONDS));
            self.integer_field(&fields, "MaxDelaySeconds", &at, lang, 1, Some(31_622_400));
            self.number_field(&fields, "BackoffRate", &at, lang, (1.0, "1.0"), None);
            if let Some(jitter) = fields.get("JitterStrategy") {
                if !matches!(jitter.as_str(), Some("FULL" | "NONE")) {
                    self.one_of(&["FULL", "NONE"], &child(&at, "JitterStrategy"));
                }
            }
        }
    }

    fn catch(&mut self, value: &Value, location: &str, lang: Lang, node: &mut Node) {
        let Some(items) = value.as_array() else {
            self.expected("Array", location);
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let at = format!("{location}[{i}]");
            let Some(object) = item.as_object() else {
                self.expected("Object", &at);
                continue;
            };
            self.required(object, &["ErrorEquals", "Next"], &at);
            let allowed = ["ErrorEquals", "Next", "ResultPath", "Output", "Assign", "Comment"];
            let fields = self.fields(object, &at, &allowed, lang, state_field_language);
            self.string_field(&fields, "Comment", &at);
            let all = self.error_equals(fields.get("ErrorEquals"), &child(&at, "ErrorEquals"));
            if all && i + 1 != items.len() {
                self.schema("A Catcher with 'States.ALL' must be the last Catcher", &at);
            }
            if let Some(target) = self.string_field(&fields, "Next", &at) {
                node.transitions.push(Transition {
                    target,
                    field: "Next",
                    location: child(&at, "Next"),
                });
            }
            self.result_path_field(&fields, &at);
            if let Some(output) = fields.get("Output") {
                self.jsonata_value(output, &child(&at, "Output"));
            }
            if let Some(assign) = fields.get("Assign") {
                self.assign(assign, &child(&at, "Assign"), lang);
            }
        }
    }

    fn task(&mut self, fields: &Fields<'_>, location: &str, lang: Lang) {
        if !fields.object.contains_key("Resource") {
            self.required(fields.object, &["Resource"], location);
        }
        if let Some(resource) = self.string_field(fields, "Resource", location) {
            self.resource(&resource, &child(location, "Resource"));
        }
        self.exclusive(fields, &["TimeoutSeconds", "TimeoutSecondsPath"], false, location);
        self.exclusive(fields, &["HeartbeatSeconds", "HeartbeatSecondsPath"], false, location);
        let timeout =
            self.integer_field(fields, "TimeoutSeconds", location, lang, 1, Some(MAX_SECONDS));
        let heartbeat =
            self.integer_field(fields, "HeartbeatSeconds", location, lang, 1, Some(MAX_SECONDS));
        if let (Some(timeout), Some(heartbeat)) = (timeout, heartbeat) {
            if heartbeat >= timeout {
                self.schema(
                    "HeartbeatSeconds must be smaller than TimeoutSeconds",
                    &child(location, "HeartbeatSeconds"),
                );
            }
        }
        self.path_field(fields, "TimeoutSecondsPath", location, false, false);
        self.path_field(fields, "HeartbeatSecondsPath", location, false, false);
        if let Some(credentials) = fields.get("Credentials") {
            let at = child(location, "Credentials");
            match credentials.as_object() {
                None => self.expected("Object", &at),
                Some(object) => {
                    let dynamic = lang == Lang::JsonPath && object.contains_key("RoleArn.$");
                    match object.get("RoleArn") {
                        None if !dynamic => {
                            self.schema("The field 'RoleArn' is required but was missing", &at);
                        }
                        Some(Value::String(_)) | None => {}
                        Some(_) => self.expected("String", &child(&at, "RoleArn")),
                    }
                    if let (true, Some(value)) = (dynamic, object.get("RoleArn.$")) {
                        self.dynamic_value("RoleArn.$", value, &at);
                    }
                }
            }
        }
    }

    fn resource(&mut self, resource: &str, location: &str) {
        let valid = resource.starts_with("arn:")
            && resource.split(':').count() >= 6
            && !resource.chars().any(char::is_whitespace);
        if !valid {
            self.schema("Value is not a valid resource ARN", location);
            return;
        }
        if self.kind == MachineType::Express {
            if resource.ends_with(".sync") || resource.contains(".sync:") {
                self.schema(
                    "Express state machine does not support '.sync' service integration",
                    location,
                );
            } else if resource.ends_with(".waitForTaskToken") {
                self.schema(
                    "Express state machine does not support '.waitForTaskToken' service integration ",
                    location,
                );
            } else if resource.split(':').nth(2) == Some("states")
                && resource.split(':').nth(5) == Some("activity")
            {
                self.schema("Express state machine does not support Activity ARN", location);
            }
        }
    }

    fn choice(&mut self, fields: &Fields<'_>, location: &str, lang: Lang, node: &mut Node) {
        if !fields.object.contains_key("Choices") {
            self.required(fields.object, &["Choices"], location);
        }
        if let Some(choices) = fields.get("Choices") {
            let at = child(location, "Choices");
            match choices.as_array() {
                None => self.expected("Array", &at),
                Some(rules) if rules.is_empty() => self.schema("Value cannot be empty", &at),
                Some(rules) => {
                    for (i, rule) in rules.iter().enumerate() {
                        self.choice_rule(rule, &format!("{at}[{i}]"), lang, Some(&mut *node));
                    }
                }
            }
        }
        if let Some(target) = self.string_field(fields, "Default", location) {
            node.transitions.push(Transition {
                target,
                field: "Default",
                location: child(location, "Default"),
            });
        }
    }

    /// A choice rule; `node` is the Choice state for a top-level rule, `None` for a nested
    /// one (inside `And`, `Or`, `Not`).
    fn choice_rule(&mut self, value: &Value, location: &str, lang: Lang, node: Option<&mut Node>) {
        let Some(object) = value.as_object() else {
            self.expected("Object", location);
            return;
        };
        let top = node.is_some();
        let mut allowed: Vec<&str> = vec!["Variable", "And", "Or", "Not", "Condition", "Comment"];
        allowed.extend(COMPARISONS);
        if top {
            allowed.extend(["Next", "Assign", "Output"]);
        }
        let fields = self.fields(object, location, &allowed, lang, |key| match key {
            "Condition" | "Output" => Some(Lang::Jsonata),
            "Variable" | "And" | "Or" | "Not" => Some(Lang::JsonPath),
            key if COMPARISONS.contains(&key) => Some(Lang::JsonPath),
            _ => None,
        });
        self.string_field(&fields, "Comment", location);
        match lang {
            Lang::Jsonata => {
                self.required(object, &["Condition"], location);
                match fields.get("Condition") {
                    Some(Value::String(s)) if is_expression(s) => {}
                    Some(Value::Bool(_)) | None => {}
                    Some(Value::String(_)) => self.schema(
                        "JSONata string must start with {% and end with %}",
                        &child(location, "Condition"),
                    ),
                    Some(_) => self.expected("String", &child(location, "Condition")),
                }
            }
            Lang::JsonPath => self.jsonpath_rule(&fields, location),
        }
        if let Some(node) = node {
            self.required(object, &["Next"], location);
            if let Some(target) = self.string_field(&fields, "Next", location) {
                node.transitions.push(Transition {
                    target,
                    field: "Next",
                    location: child(location, "Next"),
                });
            }
            if let Some(assign) = fields.get("Assign") {
                self.assign(assign, &child(location, "Assign"), lang);
            }
            if let Some(output) = fields.get("Output") {
                self.jsonata_value(output, &child(location, "Output"));
            }
        }
    }

    fn jsonpath_rule(&mut self, fields: &Fields<'_>, location: &str) {
        let selectors = ["And", "Or", "Not", "Variable"];
        let count = selectors.iter().filter(|k| fields.object.contains_key(**k)).count();
        if count != 1 {
            self.schema(
                "The object must have only one of the following fields, [And, Or, Not, Variable, Condition]",
                location,
            );
            return;
        }
        for key in ["And", "Or"] {
            let Some(value) = fields.get(key) else {
                continue;
            };
            let at = child(location, key);
            match value.as_array() {
                None => self.expected("Array", &at),
                Some(rules) if rules.is_empty() => self.schema("Value cannot be empty", &at),
                Some(rules) => {
                    for (i, rule) in rules.iter().enumerate() {
                        self.choice_rule(rule, &format!("{at}[{i}]"), Lang::JsonPath, None);
                    }
                }
            }
        }
        if let Some(rule) = fields.get("Not") {
            self.choice_rule(rule, &child(location, "Not"), Lang::JsonPath, None);
        }
        if !fields.has("Variable") {
            return;
        }
        self.path_field(fields, "Variable", location, false, false);
        let present: Vec<&str> =
            COMPARISONS.iter().copied().filter(|k| fields.object.contains_key(*k)).collect();
        if present.len() != 1 {
            let message = if present.is_empty() {
                "This object should have only one of the following fields"
            } else {
                "There should only be one of the following fields"
            };
            self.schema(format!("{message}: [{}]", COMPARISONS.join(", ")), location);
            return;
        }
        let key = present[0];
        let Some(value) = fields.get(key) else {
            return;
        };
        let at = child(location, key);
        if key.ends_with("Path") {
            self.path_field(fields, key, location, false, false);
        } else if key.starts_with("String") {
            if !value.is_string() {
                self.expected("String", &at);
            }
        } else if key.starts_with("Numeric") {
            if !value.is_number() {
                self.expected("Number", &at);
            }
        } else if key.starts_with("Timestamp") {
            match value.as_str() {
                Some(text) if timestamp::is_rfc3339(text) => {}
                Some(_) => self.schema("String does not match RFC3339 timestamp", &at),
                None => self.expected("String", &at),
            }
        } else if !value.is_boolean() {
            self.expected("Boolean", &at);
        }
    }

    fn wait(&mut self, fields: &Fields<'_>, location: &str, lang: Lang) {
        self.exclusive(
            fields,
            &["SecondsPath", "Seconds", "TimestampPath", "Timestamp"],
            true,
            location,
        );
        self.integer_field(fields, "Seconds", location, lang, 0, Some(MAX_SECONDS));
        if let Some(value) = fields.get("Timestamp") {
            let at = child(location, "Timestamp");
            match value.as_str() {
                Some(text) if lang == Lang::Jsonata && is_expression(text) => {}
                Some(text) if timestamp::is_rfc3339(text) => {}
                Some(_) => self.schema("String does not match RFC3339 timestamp", &at),
                None => self.expected("String", &at),
            }
        }
        self.path_field(fields, "SecondsPath", location, false, false);
        self.path_field(fields, "TimestampPath", location, false, false);
    }

    fn fail(&mut self, fields: &Fields<'_>, location: &str, lang: Lang) {
        self.exclusive(fields, &["Error", "ErrorPath"], false, location);
        self.exclusive(fields, &["Cause", "CausePath"], false, location);
        for key in ["Error", "Cause"] {
            if let Some(value) = fields.get(key) {
                match value {
                    Value::String(_) => self.payload(value, &child(location, key), lang),
                    _ => self.expected("String", &child(location, key)),
                }
            }
        }
        self.path_field(fields, "ErrorPath", location, false, true);
        self.path_field(fields, "CausePath", location, false, true);
    }

    fn parallel(&mut self, fields: &Fields<'_>, location: &str, names: &mut HashSet<String>) {
        if !fields.object.contains_key("Branches") {
            self.required(fields.object, &["Branches"], location);
        }
        let Some(branches) = fields.get("Branches") else {
            return;
        };
        let at = child(location, "Branches");
        match branches.as_array() {
            None => self.expected("Array", &at),
            Some(branches) if branches.is_empty() => self.schema("Value cannot be empty", &at),
            Some(branches) => {
                for (i, branch) in branches.iter().enumerate() {
                    self.machine(branch, &format!("{at}[{i}]"), MachineKind::Branch, names);
                }
            }
        }
    }

    fn map(
        &mut self,
        fields: &Fields<'_>,
        location: &str,
        lang: Lang,
        names: &mut HashSet<String>,
    ) {
        self.exclusive(fields, &["ItemProcessor", "Iterator"], true, location);
        for key in ["ItemProcessor", "Iterator"] {
            let Some(processor) = fields.get(key) else {
                continue;
            };
            let at = child(location, key);
            let distributed = self.processor_config(processor, &at);
            if distributed {
                // A distributed Map runs its processor as child executions of their own.
                let mut own = HashSet::new();
                self.machine(processor, &at, MachineKind::Processor, &mut own);
            } else {
                self.machine(processor, &at, MachineKind::Processor, names);
            }
        }
        self.path_field(fields, "ItemsPath", location, false, false);
        if let Some(items) = fields.get("Items") {
            match items {
                Value::Array(_) => self.jsonata_value(items, &child(location, "Items")),
                Value::String(s) if is_expression(s) => {}
                _ => self.expected("Array", &child(location, "Items")),
            }
        }
        if let Some(selector) = fields.get("ItemSelector") {
            self.payload(selector, &child(location, "ItemSelector"), lang);
        }
        for (value, path) in [
            ("MaxConcurrency", "MaxConcurrencyPath"),
            ("ToleratedFailurePercentage", "ToleratedFailurePercentagePath"),
            ("ToleratedFailureCount", "ToleratedFailureCountPath"),
        ] {
            self.exclusive(fields, &[value, path], false, location);
            self.path_field(fields, path, location, false, false);
        }
        self.integer_field(fields, "MaxConcurrency", location, lang, 0, None);
        self.integer_field(fields, "ToleratedFailureCount", location, lang, 0, None);
        self.number_field(
            fields,
            "ToleratedFailurePercentage",
            location,
            lang,
            (0.0, "0"),
            Some((100.0, "100")),
        );
        self.item_reader(fields, location, lang);
        self.item_batcher(fields, location, lang);
        self.result_writer(fields, location, lang);
        if let Some(label) = fields.get("Label") {
            self.label(label, &child(location, "Label"));
        }
    }

    /// Checks an item processor's `ProcessorConfig`; returns whether the Map is distributed.
    fn processor_config(&mut self, processor: &Value, location: &str) -> bool {
        let Some(config) = processor.get("ProcessorConfig") else {
            return false;
        };
        let at = child(location, "ProcessorConfig");
        let Some(object) = config.as_object() else {
            self.expected("Object", &at);
            return false;
        };
        let fields = self.fields(object, &at, &["Mode", "ExecutionType"], Lang::JsonPath, |_| None);
        let distributed = match fields.get("Mode") {
            None => false,
            Some(Value::String(mode)) if mode == "INLINE" => false,
            Some(Value::String(mode)) if mode == "DISTRIBUTED" => true,
            _ => {
                self.one_of(&["INLINE", "DISTRIBUTED"], &child(&at, "Mode"));
                return false;
            }
        };
        match fields.get("ExecutionType") {
            None if distributed => self.required(object, &["ExecutionType"], &at),
            None => {}
            Some(_) if !distributed => self.not_supported("ExecutionType", &at),
            Some(Value::String(kind)) if kind == "STANDARD" || kind == "EXPRESS" => {}
            Some(_) => self.one_of(&["STANDARD", "EXPRESS"], &child(&at, "ExecutionType")),
        }
        distributed
    }

    /// The fields of a distributed Map's `ItemReader` / `ResultWriter` / `ItemBatcher`, with
    /// the language-specific `Parameters` / `Arguments`.
    fn sub_object<'v>(
        &mut self,
        fields: &Fields<'v>,
        key: &str,
        location: &str,
        lang: Lang,
        allowed: &[&str],
    ) -> Option<(Fields<'v>, String)> {
        let value = fields.get(key)?;
        let at = child(location, key);
        let Some(object) = value.as_object() else {
            self.expected("Object", &at);
            return None;
        };
        let inner = self.fields(object, &at, allowed, lang, |key| match key {
            "Parameters" => Some(Lang::JsonPath),
            "Arguments" => Some(Lang::Jsonata),
            key if key.ends_with("Path") => Some(Lang::JsonPath),
            _ => None,
        });
        if let Some(parameters) = inner.get("Parameters") {
            self.jsonpath_template(parameters, &child(&at, "Parameters"));
        }
        if let Some(arguments) = inner.get("Arguments") {
            self.jsonata_value(arguments, &child(&at, "Arguments"));
        }
        Some((inner, at))
    }

    fn item_reader(&mut self, fields: &Fields<'_>, location: &str, lang: Lang) {
        let allowed = ["Resource", "ReaderConfig", "Parameters", "Arguments"];
        if let Some((inner, at)) = self.sub_object(fields, "ItemReader", location, lang, &allowed) {
            self.required(inner.object, &["Resource"], &at);
            if let Some(resource) = self.string_field(&inner, "Resource", &at) {
                self.resource(&resource, &child(&at, "Resource"));
            }
        }
    }

    fn item_batcher(&mut self, fields: &Fields<'_>, location: &str, lang: Lang) {
        let allowed = [
            "MaxItemsPerBatch",
            "MaxItemsPerBatchPath",
            "MaxInputBytesPerBatch",
            "MaxInputBytesPerBatchPath",
            "BatchInput",
        ];
        if let Some((inner, at)) = self.sub_object(fields, "ItemBatcher", location, lang, &allowed)
        {
            self.exclusive(&inner, &["MaxItemsPerBatch", "MaxItemsPerBatchPath"], false, &at);
            self.exclusive(
                &inner,
                &["MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath"],
                false,
                &at,
            );
            self.integer_field(&inner, "MaxItemsPerBatch", &at, lang, 0, None);
            self.integer_field(&inner, "MaxInputBytesPerBatch", &at, lang, 0, None);
            self.path_field(&inner, "MaxItemsPerBatchPath", &at, false, false);
            self.path_field(&inner, "MaxInputBytesPerBatchPath", &at, false, false);
            if let Some(input) = inner.get("BatchInput") {
                self.payload(input, &child(&at, "BatchInput"), lang);
            }
        }
    }

    fn result_writer(&mut self, fields: &Fields<'_>, location: &str, lang: Lang) {
        let allowed = ["Resource", "Parameters", "Arguments", "WriterConfig"];
        if let Some((inner, at)) = self.sub_object(fields, "ResultWriter", location, lang, &allowed)
        {
            if let Some(resource) = self.string_field(&inner, "Resource", &at) {
                self.resource(&resource, &child(&at, "Resource"));
            }
        }
    }

    /// The Map `Label` checks, reported as the corpus recorded them: a Python `ValueError`
    /// naming the whole definition.
    fn label(&mut self, value: &Value, location: &str) {
        let Some(label) = value.as_str() else {
            self.expected("String", location);
            return;
        };
        let problem = if label.is_empty() {
            "Label cannot be empty".to_owned()
        } else if label.chars().count() > 40 {
            "Label cannot exceed 40 characters".to_owned()
        } else if let Some(c) = label.chars().find(|c| invalid_label_char(*c)) {
            format!("Label contains invalid character: {}", python::repr(&c.to_string()))
        } else {
            return;
        };
        let cause = format!(
            "Error=ValueError Args=[{}] in definition '{}'.",
            python::repr(&problem),
            python::dumps(self.definition)
        );
        let mut diagnostic = Diagnostic::new(SCHEMA, problem, location);
        diagnostic.cause = Some(cause);
        self.diagnostics.push(diagnostic);
    }

    /// The graph checks of every state machine: `StartAt` and transition targets exist,
    /// every state is reachable, some state ends the execution.
    fn graph(&mut self) {
        for scope in std::mem::take(&mut self.scopes) {
            let index: HashMap<&str, usize> =
                scope.nodes.iter().enumerate().map(|(i, n)| (n.name.as_str(), i)).collect();
            let start = scope.start.as_deref().and_then(|s| index.get(s).copied());
            let mut reachable = vec![false; scope.nodes.len()];
            match (start, &scope.start) {
                (Some(start), _) => {
                    let mut queue = vec![start];
                    reachable[start] = true;
                    while let Some(i) = queue.pop() {
                        for t in &scope.nodes[i].transitions {
                            if let Some(&j) = index.get(t.target.as_str()) {
                                if !reachable[j] {
                                    reachable[j] = true;
                                    queue.push(j);
                                }
                            }
                        }
                    }
                }
                (None, Some(name)) => self.push(
                    TRANSITION,
                    format!("Missing 'StartAt' target: {name}"),
                    &child(&scope.location, "StartAt"),
                ),
                (None, None) => {}
            }
            for (i, node) in scope.nodes.iter().enumerate() {
                if start.is_some() && !reachable[i] {
                    self.push(
                        TRANSITION,
                        format!("State \"{}\" is not reachable.", node.name),
                        &node.location,
                    );
                }
                for t in &node.transitions {
                    if !index.contains_key(t.target.as_str()) {
                        self.push(
                            TRANSITION,
                            format!("Missing '{}' target: {}", t.field, t.target),
                            &t.location,
                        );
                    }
                }
            }
            if !scope.nodes.is_empty() && !scope.nodes.iter().any(|n| n.terminal) {
                self.diagnostics.push(Diagnostic::new(
                    "MISSING_END_STATE",
                    "Workflow has no terminal state",
                    "",
                ));
            }
        }
    }
}

/// The query language a state field needs, if only one supports it.
fn state_field_language(key: &str) -> Option<Lang> {
    if JSONPATH_ONLY.contains(&key) {
        Some(Lang::JsonPath)
    } else if JSONATA_ONLY.contains(&key) {
        Some(Lang::Jsonata)
    } else {
        None
    }
}
