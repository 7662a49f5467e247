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

/// The input of one step, as persisted. `V` is a task's output: owned when read back, borrowed
/// from the interpreter's input when written (see [`StepInput::encode_input`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub(crate) enum StepInput<V = Value> {
    /// The execution started (its input is in the execution's row), with the seed of its
    /// random values.
    Start {
        #[serde(default)]
        seed: Option<u64>,
    },
    TaskSucceeded {
        id: ActionId,
        output: V,
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
    /// The persisted form of an interpreter input, encoded without copying its output.
    pub(crate) fn encode_input(input: &Input) -> String {
        let step: StepInput<&Value> = match input {
            Input::TaskSucceeded { id, output } => StepInput::TaskSucceeded { id: *id, output },
            Input::TaskFailed { id, error, cause } => {
                StepInput::TaskFailed { id: *id, error: error.clone(), cause: cause.clone() }
            }
            Input::TaskHeartbeat { id } => StepInput::TaskHeartbeat { id: *id },
            Input::TimerFired { id } => StepInput::TimerFired { id: *id },
            Input::Stop { error, cause } => {
                StepInput::Stop { error: error.clone(), cause: cause.clone() }
            }
        };
        step.encode()
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

    pub(crate) fn decode(text: &str) -> Result<Self, String> {
        let v: Versioned<Self> =
            serde_json::from_str(text).map_err(|e| format!("unreadable step input: {e}"))?;
        if v.v != VERSION {
            return Err(format!("step input version {} is not known to this binary", v.v));
        }
        Ok(v.body)
    }
}

impl<V: Serialize> StepInput<V> {
    pub(crate) fn encode(&self) -> String {
        serde_json::to_string(&Versioned { v: VERSION, body: self }).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_input_encoded_without_a_copy_reads_back_as_itself() {
        let inputs = [
            Input::TaskSucceeded { id: 3, output: json!({"StatusCode": 200, "b": [1, "x"]}) },
            Input::TaskFailed { id: 4, error: Some("E".into()), cause: None },
            Input::TaskHeartbeat { id: 5 },
            Input::TimerFired { id: 6 },
            Input::Stop { error: None, cause: Some("why".into()) },
        ];
        for input in inputs {
            let text = StepInput::encode_input(&input);
            assert!(text.starts_with(r#"{"v":1,"kind":""#), "{text}");
            let read = StepInput::decode(&text).expect("decodes");
            assert_eq!(read.to_input(), Some(input));
        }
    }
}
