//! Validation of definitions with the diagnostics AWS's CreateStateMachine and
//! ValidateStateMachineDefinition report.

use serde_json::Value;

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
    /// `SCHEMA_VALIDATION_FAILED`, ...
    pub code: String,
    /// What is wrong, e.g. `String does not match RFC3339 timestamp`.
    pub message: String,
    /// Where, as a JSON pointer-like location, e.g. `/States/WaitUntil/Timestamp`.
    pub location: String,
}

/// Validates a definition; an empty list means it is valid.
pub fn validate(_definition: &Value, _kind: MachineType) -> Vec<Diagnostic> {
    Vec::new()
}

/// The `cause` AWS gives for an `InvalidDefinition` error with these diagnostics.
pub fn invalid_definition_cause(diagnostics: &[Diagnostic]) -> String {
    let parts: Vec<String> =
        diagnostics.iter().map(|d| format!("{}: {} at {}", d.code, d.message, d.location)).collect();
    format!("Invalid State Machine Definition: '{}'", parts.join(", "))
}
