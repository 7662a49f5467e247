//! The intrinsic functions (`States.Format`, `States.Array`, ... `States.UUID`).

use serde_json::Value;

use crate::{Env, Failure};

/// A parsed intrinsic function call, ready to evaluate many times.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    text: String,
}

impl Call {
    /// Parses a call such as `States.Format('Hello {}', $.name)`; the error is a short reason
    /// for the validator.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(Self { text: text.to_owned() })
    }

    /// The call as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates the call.
    pub fn evaluate(&self, _env: &Env<'_>) -> Result<Value, Failure> {
        Err(Failure::intrinsic(format!("not implemented: {}", self.text)))
    }
}
