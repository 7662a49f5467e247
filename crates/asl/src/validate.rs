//! Validation of definitions with the diagnostics AWS's CreateStateMachine and
//! ValidateStateMachineDefinition report.
//!
//! [`validate`] walks a parsed definition and returns every problem it finds as a
//! [`Diagnostic`] with AWS's code, message and location. [`invalid_definition_cause`] turns
//! them into the `cause` of an `InvalidDefinition` error, and [`validate_response`] builds the
//! whole ValidateStateMachineDefinition response from the definition's text.
//!
//! Checks run in two phases, as AWS's do: the schema (fields, types, ranges, query language,
//! path and intrinsic syntax) and then, only when the schema holds, the graph of transitions
//! (missing targets, unreachable states, no terminal state). Path and intrinsic syntax are
//! delegated to [`crate::path`], [`crate::intrinsics`] and [`crate::template`].

use serde_json::{json, Map, Value};

mod duplicates;
mod python;
mod schema;
mod timestamp;

/// The kind of state machine: it changes what is allowed (`.sync` is Standard only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MachineType {
    #[default]
    Standard,
    Express,
}

/// One problem found in a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// `SCHEMA_VALIDATION_FAILED`, `MISSING_TRANSITION_TARGET`, ...
    pub code: String,
    /// What is wrong, e.g. `String does not match RFC3339 timestamp`.
    pub message: String,
    /// Where, as a JSON pointer-like location, e.g. `/States/WaitUntil/Timestamp`; empty when
    /// the problem has no location (AWS then omits it, or prints `null` in a cause).
    pub location: String,
    /// The complete `cause` text when the recorded service reports this problem in a format
    /// of its own rather than as a list of diagnostics (the Map `Label` checks, which the
    /// corpus recorded as a Python `ValueError` naming the whole definition).
    pub cause: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with no cause of its own.
    pub fn new(
        code: impl Into<String>,
        message: impl Into<String>,
        location: impl Into<String>,
    ) -> Self {
        Self { code: code.into(), message: message.into(), location: location.into(), cause: None }
    }
}

/// Validates a definition; an empty list means it is valid.
pub fn validate(definition: &Value, kind: MachineType) -> Vec<Diagnostic> {
    if definition.is_object() {
        schema::check(definition, kind)
    } else {
        vec![not_an_object()]
    }
}

/// Parses and validates a definition given as text, as both AWS APIs receive it; an empty
/// list means it is valid. Text that is not a JSON object is reported as AWS reports it, and
/// two states of one `States` object with the same name (which a parsed value cannot show)
/// as `DUPLICATE_STATE_NAME`. Prefer this to [`validate`] when the text is at hand.
pub fn validate_text(definition_text: &str, kind: MachineType) -> Vec<Diagnostic> {
    match serde_json::from_str::<Value>(definition_text) {
        Ok(value @ Value::Object(_)) => {
            let mut diagnostics = duplicates::duplicate_state_names(definition_text);
            diagnostics.extend(validate(&value, kind));
            diagnostics
        }
        Ok(_) => vec![not_an_object()],
        Err(_) if definition_text.trim().is_empty() => vec![not_an_object()],
        Err(error) => vec![Diagnostic::new("INVALID_JSON_DESCRIPTION", error.to_string(), "")],
    }
}

fn not_an_object() -> Diagnostic {
    Diagnostic::new("SCHEMA_VALIDATION_FAILED", "Definition must be a valid JSON object", "")
}

/// The `cause` AWS gives for an `InvalidDefinition` error with these diagnostics.
pub fn invalid_definition_cause(diagnostics: &[Diagnostic]) -> String {
    if let Some(cause) = diagnostics.iter().find_map(|d| d.cause.clone()) {
        return cause;
    }
    let parts: Vec<String> = diagnostics
        .iter()
        .map(|d| {
            let location = if d.location.is_empty() { "null" } else { d.location.as_str() };
            format!("{}: {} at {}", d.code, d.message, location)
        })
        .collect();
    format!("Invalid State Machine Definition: '{}'", parts.join(", "))
}

/// The ValidateStateMachineDefinition response for a definition given as text:
/// `{"result": "OK"|"FAIL", "diagnostics": [...], "truncated": false}`.
pub fn validate_response(definition_text: &str, kind: MachineType) -> Value {
    let diagnostics = validate_text(definition_text, kind);
    let result = if diagnostics.is_empty() { "OK" } else { "FAIL" };
    let diagnostics: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let mut entry = Map::new();
            entry.insert("severity".into(), json!("ERROR"));
            entry.insert("code".into(), json!(d.code));
            entry.insert("message".into(), json!(d.message));
            if !d.location.is_empty() {
                entry.insert("location".into(), json!(d.location));
            }
            Value::Object(entry)
        })
        .collect();
    json!({ "result": result, "diagnostics": diagnostics, "truncated": false })
}
