//! JSONata, the query and transformation language for JSON, as jsonata-js 2.x defines it.
//!
//! An expression is compiled once ([`Expression::compile`]) and evaluated many times
//! ([`Expression::evaluate`]). The crate is pure: the current time, when an expression asks for
//! it, comes from [`Options::now_millis`].

use serde_json::{Map, Value};

/// An error with the reference implementation's code (`S0201`, `T2001`, `D3001`, ...).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// The reference implementation's error code.
    pub code: String,
    /// The character offset in the expression where the error was found, when known.
    pub position: Option<usize>,
    /// The reference implementation's message.
    pub message: String,
}

/// How an evaluation runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The current time in milliseconds since the epoch, for `$now()` and `$millis()`.
    pub now_millis: Option<i64>,
    /// Give up with an error after this many milliseconds of evaluation.
    pub time_limit_ms: Option<u64>,
    /// Give up with an error past this depth of nested evaluation.
    pub max_depth: Option<usize>,
    /// The Step Functions dialect: no `$eval`; `$partition`, `$range`, `$hash`, `$random`,
    /// `$uuid` and `$parse` are added.
    pub step_functions: bool,
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub struct Expression {
    source: String,
}

impl Expression {
    /// Parses an expression.
    pub fn compile(source: &str) -> Result<Self, Error> {
        Ok(Self { source: source.to_owned() })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the expression against `input` (absent when `None`) with the given variable
    /// bindings (names without the `$`). `Ok(None)` is JSONata's undefined.
    pub fn evaluate(
        &self,
        _input: Option<&Value>,
        _bindings: &Map<String, Value>,
        _options: &Options,
    ) -> Result<Option<Value>, Error> {
        Err(Error {
            code: "D0000".into(),
            position: None,
            message: "JSONata evaluation is not implemented yet".into(),
        })
    }
}
