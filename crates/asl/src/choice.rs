//! Choice rules of the JSONPath query language: comparisons, type tests, `And`/`Or`/`Not`.

use serde_json::Value;

use crate::{Env, Failure};

/// A compiled choice rule (without its `Next`, which the state holds).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    raw: Value,
}

impl Rule {
    /// Compiles a rule from its JSON; `Next`, `Assign`, `Comment` are ignored here.
    pub fn parse(raw: &Value) -> Result<Self, String> {
        Ok(Self { raw: raw.clone() })
    }

    /// Evaluates the rule.
    pub fn evaluate(&self, _env: &Env<'_>) -> Result<bool, Failure> {
        Ok(false)
    }
}
