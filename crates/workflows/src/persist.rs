//! What the executor writes to the store and reads back: a compatibility boundary.
//!
//! Every persisted payload carries a version (`"v": 1`). A step's input is the interpreter
//! input it applied; replaying the inputs of an execution's steps in order, at the times
//! they were applied, rebuilds the execution exactly.

use asl::interpreter::ActionId;
use asl::Input;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The current version of persisted payloads.
const VERSION: u32 = 1;

/// The input of one step, as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub(crate) enum StepInput {
    /// The execution started (its input is in the execution's row), with the seed of its
    /// random values.
    Start {
        #[serde(default)]
        seed: Option<u64>,
    },
    TaskSucceeded {
        id: ActionId,
        output: Value,
    },
    TaskFailed {
        id: ActionId,
        error: Option<String>,
        cause: Option<String>,
    },
    TaskHeartbeat {
        id: ActionId,
    },
    TimerFired {
        id: ActionId,
    },
    Stop {
        error: Option<String>,
        cause: Option<String>,
    },
    /// RedriveExecution: the step that ended the execution is undone, and it goes on from
    /// there as its `count`th redrive.
    Redrive {
        count: u32,
    },
}

#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    v: u32,
    #[serde(flatten)]
    body: T,
}

impl StepInput {
    pub(crate) fn from_input(input: &Input) -> Self {
        match input.clone() {
            Input::TaskSucceeded { id, output } => Self::TaskSucceeded { id, output },
            Input::TaskFailed { id, error, cause } => Self::TaskFailed { id, error, cause },
            Input::TaskHeartbeat { id } => Self::TaskHeartbeat { id },
            Input::TimerFired { id } => Self::TimerFired { id },
            Input::Stop { error, cause } => Self::Stop { error, cause },
        }
    }

    /// The interpreter input; `None` for the start and for a redrive.
    pub(crate) fn to_input(&self) -> Option<Input> {
        Some(match self.clone() {
            Self::Start { .. } | Self::Redrive { .. } => return None,
            Self::TaskSucceeded { id, output } => Input::TaskSucceeded { id, output },
            Self::TaskFailed { id, error, cause } => Input::TaskFailed { id, error, cause },
            Self::TaskHeartbeat { id } => Input::TaskHeartbeat { id },
            Self::TimerFired { id } => Input::TimerFired { id },
            Self::Stop { error, cause } => Input::Stop { error, cause },
        })
    }

    pub(crate) fn encode(&self) -> String {
        serde_json::to_string(&Versioned { v: VERSION, body: self }).unwrap_or_default()
    }

    pub(crate) fn decode(text: &str) -> Result<Self, String> {
        let v: Versioned<Self> =
            serde_json::from_str(text).map_err(|e| format!("unreadable step input: {e}"))?;
        if v.v != VERSION {
            return Err(format!("step input version {} is not known to this binary", v.v));
        }
        Ok(v.body)
    }
}

/// Who waits for a child execution to end: the parent's `states:startExecution.sync` task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ParentRef {
    pub(crate) execution_arn: String,
    pub(crate) action: ActionId,
    /// `.sync:2` returns the output as JSON, `.sync` as a string.
    pub(crate) output_as_json: bool,
}

impl ParentRef {
    pub(crate) fn encode(&self) -> String {
        serde_json::to_string(&Versioned { v: VERSION, body: self }).unwrap_or_default()
    }

    pub(crate) fn decode(text: &str) -> Option<Self> {
        serde_json::from_str::<Versioned<Self>>(text).ok().map(|v| v.body)
    }
}
