//! JSONPath as Step Functions evaluates it (`InputPath`, `OutputPath`, `.$` fields, `ResultPath`).
//!
//! Paths are rooted at the input (`$`), the context object (`$$`) or a variable (`$name`).

use serde_json::Value;

use crate::{Env, Failure};

/// A compiled JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    text: String,
}

impl Path {
    /// Parses a path; the error is a short reason for the validator.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(Self { text: text.to_owned() })
    }

    /// The path as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Selects the value the path names, or `None` when the path matches nothing.
    pub fn select(&self, _env: &Env<'_>) -> Option<Value> {
        None
    }
}

/// A reference path (`ResultPath`): names one place in a document, to write a value there.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferencePath {
    text: String,
}

impl ReferencePath {
    /// Parses a reference path; the error is a short reason for the validator.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(Self { text: text.to_owned() })
    }

    /// The path as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Writes `value` into `target` at this path and returns the result.
    pub fn assign(&self, _target: Value, value: Value) -> Result<Value, Failure> {
        Ok(value)
    }
}
