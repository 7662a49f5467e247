//! The Amazon States Language (ASL), as AWS Step Functions runs it.
//!
//! This crate is pure: it does no I/O, reads no clock and spawns nothing. A definition is
//! validated ([`validate`]) and compiled ([`definition`]) once; an execution is then driven by
//! [`interpreter::Execution::step`], which takes an event (start, task result, timer fired) and
//! returns the actions for the caller to perform. Time is an input of every step.
//!
//! **Architecture invariant:** nothing here touches the outside world, so every behaviour is
//! testable by feeding events and checking actions.

pub mod choice;
pub mod definition;
pub mod error;
pub mod history;
pub mod interpreter;
pub mod intrinsics;
pub mod path;
pub mod query;
mod random;
pub mod template;
pub mod validate;

pub use definition::{DefinitionError, StateMachine};
pub use error::Failure;
pub use interpreter::{Action, Execution, ExecutionInfo, Input, Options, Outcome, TaskRequest};
pub use validate::MachineType;

/// The variables visible to a state (`$name` in JSONPath, `$name` in JSONata).
pub type Vars = serde_json::Map<String, serde_json::Value>;

/// What a JSONPath, an intrinsic function or a payload template is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// The state's effective input: `$`.
    pub input: &'a serde_json::Value,
    /// The context object: `$$`.
    pub context: &'a serde_json::Value,
    /// The workflow variables in scope: `$name`.
    pub vars: &'a Vars,
}
