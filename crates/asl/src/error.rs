//! Runtime failures: an error name and a cause, as Step Functions reports them.

use std::fmt;

/// A failure raised while running a state: `States.Runtime`, `States.TaskFailed`, a custom
/// error from a Fail state or a task, and so on.
///
/// Modules that evaluate one field (a path, an intrinsic call, a template) report only the
/// tail of the cause, e.g. `Invalid path '$.x' : No results for path: $['x']`; the interpreter
/// prefixes it with `An error occurred while executing the state 'S' (entered at the event id
/// #N). ` as AWS does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error name (`States.Runtime`, ...). A Fail state may have none.
    pub error: Option<String>,
    /// The human-readable cause. A Fail state may have none.
    pub cause: Option<String>,
    /// For a failed JSONata evaluation, the field whose expression failed (`Output/result`,
    /// `Items`): AWS names it in the `EvaluationFailed` history event.
    pub location: Option<String>,
}

impl Failure {
    /// A failure with both an error name and a cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self { error: Some(error.into()), cause: Some(cause.into()), location: None }
    }

    /// An error name and a cause, either of which may be missing (a Fail state, a task).
    pub fn maybe(error: Option<String>, cause: Option<String>) -> Self {
        Self { error, cause, location: None }
    }

    /// The failure, naming the field whose evaluation failed.
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// `States.Runtime` with the given cause.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, cause)
    }

    /// `States.IntrinsicFailure` with the given cause.
    pub fn intrinsic(cause: impl Into<String>) -> Self {
        Self::new(names::INTRINSIC_FAILURE, cause)
    }

    /// `States.QueryEvaluationError` with the given cause.
    pub fn query(cause: impl Into<String>) -> Self {
        Self::new(names::QUERY_EVALUATION_ERROR, cause)
    }

    /// The error name, or the empty string when there is none.
    pub fn error_name(&self) -> &str {
        self.error.as_deref().unwrap_or("")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_name(), self.cause.as_deref().unwrap_or(""))
    }
}

impl std::error::Error for Failure {}

/// The predefined error names of the States Language.
pub mod names {
    /// Matches any error name except `States.DataLimitExceeded` and `States.Runtime`.
    pub const ALL: &str = "States.ALL";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const PERMISSIONS: &str = "States.Permissions";
    pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const RESULT_WRITER_FAILED: &str = "States.ResultWriterFailed";
    pub const RUNTIME: &str = "States.Runtime";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const EXCEEDED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
}
