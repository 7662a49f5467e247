//! Functions: user code run the way AWS Lambda runs it.
//!
//! A function is a command that starts a *runtime process*. The process polls the Lambda
//! Runtime API at the address in `AWS_LAMBDA_RUNTIME_API` for its next event and posts back
//! a response or an error, so a function built with an official Lambda runtime library (or
//! any custom runtime) runs here unchanged. Each process gets a Runtime API endpoint of its
//! own on the loopback interface, so Baton always knows which process took which event.
//!
//! [`Functions`] is the handle: [`Functions::invoke`] runs an event on a function and waits
//! for its response. Per function, a pool ([`pool`]) starts processes on demand up to the
//! function's concurrency limit, keeps idle ones warm for reuse, kills one that overruns its
//! timeout (`Sandbox.Timedout`) and replaces one that crashes (`Runtime.ExitError`). A
//! function in `exec` mode instead runs its command once per event (event on stdin, result
//! on stdout). Everything the processes print goes to the function's log ([`logs`]).
//!
//! [`events`] makes `Event` (asynchronous) invocations durable: they are stored first and
//! run by a worker on any node, retried twice as Lambda does, then kept as failed.

pub mod events;
mod exec;
pub mod logs;
mod metrics;
mod pool;
mod runtime_api;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

pub use logs::LogLine;

/// The largest request or response payload of a synchronous invocation: Lambda's 6 MB.
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;

/// The largest payload of an `Event` invocation: Lambda's 256 KiB.
pub const MAX_EVENT_PAYLOAD: usize = 256 * 1024;

/// How a function's code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A long-lived process that polls the Lambda Runtime API (the official runtimes).
    #[default]
    Runtime,
    /// The command runs once per event: the event JSON on stdin, the result on stdout.
    Exec,
}

/// The command that starts a function: a shell line, or a program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CommandLine {
    /// Run by `sh -c`.
    Shell(String),
    /// Run directly: the program, then its arguments.
    Argv(Vec<String>),
}

impl CommandLine {
    fn to_command(&self) -> tokio::process::Command {
        match self {
            Self::Shell(line) => {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c").arg(line);
                c
            }
            Self::Argv(argv) => {
                let mut c = tokio::process::Command::new(argv.first().map_or("", String::as_str));
                c.args(argv.iter().skip(1));
                c
            }
        }
    }
}

/// A function as declared in `baton.toml` under `[functions.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// The function's name; the table key in the configuration.
    #[serde(default)]
    pub name: String,
    /// What starts the runtime process (or, in `exec` mode, handles one event).
    pub command: CommandLine,
    /// `runtime` (the Lambda Runtime API, the default) or `exec`.
    #[serde(default)]
    pub mode: Mode,
    /// The working directory of the process; also `LAMBDA_TASK_ROOT`.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// Extra environment variables of the process.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `_HANDLER`: which handler the runtime should call, in the runtime's own terms.
    #[serde(default)]
    pub handler: Option<String>,
    /// How long one invocation may run, in seconds (Lambda's default: 3).
    #[serde(default = "defaults::timeout")]
    pub timeout_seconds: f64,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`: a note to the runtime, not enforced.
    #[serde(default = "defaults::memory")]
    pub memory_mb: u32,
    /// The most invocations (and processes) at once; more wait for a free process.
    #[serde(default = "defaults::concurrency")]
    pub max_concurrency: usize,
    /// Processes started with Baton and kept running while idle.
    #[serde(default)]
    pub warm: usize,
    /// How long a process beyond `warm` may stay idle before it is stopped, in seconds.
    #[serde(default = "defaults::idle")]
    pub idle_seconds: u64,
}

mod defaults {
    pub(super) fn timeout() -> f64 {
        3.0
    }
    pub(super) fn memory() -> u32 {
        128
    }
    pub(super) fn concurrency() -> usize {
        10
    }
    pub(super) fn idle() -> u64 {
        300
    }
}

impl FunctionSpec {
    /// A runtime-mode function with Lambda's defaults.
    pub fn new(name: impl Into<String>, command: CommandLine) -> Self {
        Self {
            name: name.into(),
            command,
            mode: Mode::Runtime,
            working_dir: None,
            env: BTreeMap::new(),
            handler: None,
            timeout_seconds: defaults::timeout(),
            memory_mb: defaults::memory(),
            max_concurrency: defaults::concurrency(),
            warm: 0,
            idle_seconds: defaults::idle(),
        }
    }

    /// The invocation timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_seconds.clamp(0.001, 900.0))
    }

    fn check(&self) -> Result<(), Error> {
        let bad = |why: &str| Err(Error::InvalidSpec { name: self.name.clone(), why: why.into() });
        if !valid_name(&self.name) {
            return bad("a function name is 1 to 64 letters, digits, '-' or '_'");
        }
        match &self.command {
            CommandLine::Shell(s) if s.trim().is_empty() => return bad("the command is empty"),
            CommandLine::Argv(a) if a.is_empty() || a[0].is_empty() => {
                return bad("the command is empty")
            }
            _ => {}
        }
        if !(self.timeout_seconds > 0.0 && self.timeout_seconds <= 900.0) {
            return bad("timeout_seconds must be more than 0 and at most 900");
        }
        if self.max_concurrency == 0 {
            return bad("max_concurrency must be at least 1");
        }
        if self.warm > self.max_concurrency {
            return bad("warm may not exceed max_concurrency");
        }
        Ok(())
    }
}

/// Whether `name` is a valid function name (Lambda's rule for the bare name).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the functions need to know of their surroundings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The region and account in function ARNs and `AWS_REGION`.
    pub region: String,
    pub account: String,
    /// Log lines kept per function.
    pub log_lines: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { region: "us-east-1".into(), account: "123456789012".into(), log_lines: 10_000 }
    }
}

/// The errors of this crate: an invocation that could not happen, or a bad declaration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No function of that name (the ARN it was asked as).
    #[error("Function not found: {0}")]
    NotFound(String),
    /// Every process is busy and none freed up in time.
    #[error("Rate Exceeded.")]
    TooManyRequests,
    /// The event is larger than the invocation type allows.
    #[error(
        "{size} byte payload is too large for the {kind} invocation type (limit {limit} bytes)"
    )]
    PayloadTooLarge { size: usize, limit: usize, kind: &'static str },
    /// The event is not JSON.
    #[error("Could not parse request body into json: {0}")]
    InvalidPayload(String),
    /// Baton is stopping and takes no new invocations.
    #[error("Baton is shutting down")]
    ShuttingDown,
    /// A function's declaration is wrong.
    #[error("function {name:?}: {why}")]
    InvalidSpec { name: String, why: String },
    /// The store failed (durable Event invocations).
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// The response of an invocation that ran: the function's payload, or its error.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The invocation's request id (`Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
    /// The response payload; for a function error, the error document
    /// (`{"errorMessage", "errorType", ...}`).
    pub payload: Vec<u8>,
    /// Whether the function failed (`X-Amz-Function-Error: Unhandled`).
    pub function_error: bool,
    /// How long the invocation ran in the function.
    pub duration: Duration,
}

impl Response {
    /// The `errorType` of a function error, if it carries one.
    pub fn error_type(&self) -> Option<String> {
        if !self.function_error {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&self.payload).ok()?;
        v.get("errorType")?.as_str().map(str::to_owned)
    }
}

/// A function error made by Baton itself (a timeout, a crash), as Lambda words it.
pub(crate) fn platform_error(request_id: &str, error_type: &str, what: &str) -> Vec<u8> {
    serde_json::json!({
        "errorType": error_type,
        "errorMessage": format!("RequestId: {request_id} Error: {what}"),
    })
    .to_string()
    .into_bytes()
}

/// The functions of this node: cheap to clone.
#[derive(Clone)]
pub struct Functions {
    inner: Arc<Inner>,
}

struct Inner {
    options: Options,
    pools: HashMap<String, Arc<pool::Pool>>,
}

impl Functions {
    /// Checks the declarations and starts each function's warm processes.
    pub fn start(specs: Vec<FunctionSpec>, options: Options) -> Result<Self, Error> {
        let mut pools = HashMap::new();
        for spec in specs {
            spec.check()?;
            let arn = function_arn(&options, &spec.name);
            let name = spec.name.clone();
            let pool = pool::Pool::start(spec, arn, &options);
            if pools.insert(name.clone(), pool).is_some() {
                return Err(Error::InvalidSpec { name, why: "declared twice".into() });
            }
        }
        Ok(Self { inner: Arc::new(Inner { options, pools }) })
    }

    /// The names of the functions, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.pools.keys().cloned().collect();
        names.sort();
        names
    }

    /// The declaration of a function.
    pub fn spec(&self, name: &str) -> Option<&FunctionSpec> {
        self.inner.pools.get(name).map(|p| p.spec())
    }

    /// The ARN of a function of this node's region and account.
    pub fn arn(&self, name: &str) -> String {
        function_arn(&self.inner.options, name)
    }

    /// The function a name or ARN (`name`, `name:qualifier`, `account:function:name`,
    /// `arn:aws:lambda:region:account:function:name[:qualifier]`) refers to.
    pub fn resolve(&self, name_or_arn: &str) -> Result<String, Error> {
        let name = function_name(name_or_arn);
        if self.inner.pools.contains_key(name) {
            Ok(name.to_owned())
        } else {
            Err(Error::NotFound(self.arn(name)))
        }
    }

    /// Runs `payload` (JSON text) on the function and waits for its response. A function
    /// error is a [`Response`] with `function_error`; an [`Error`] means the function did
    /// not run.
    pub async fn invoke(
        &self,
        function: &str,
        payload: Vec<u8>,
        client_context: Option<String>,
    ) -> Result<Response, Error> {
        self.invoke_inner(function, None, payload, client_context).await
    }

    /// [`Functions::invoke`] under a given request id (a stored `Event` invocation keeps
    /// its id across attempts).
    pub async fn invoke_as(
        &self,
        function: &str,
        request_id: Option<&str>,
        payload: Vec<u8>,
    ) -> Result<Response, Error> {
        self.invoke_inner(function, request_id, payload, None).await
    }

    async fn invoke_inner(
        &self,
        function: &str,
        request_id: Option<&str>,
        payload: Vec<u8>,
        client_context: Option<String>,
    ) -> Result<Response, Error> {
        let name = self.resolve(function)?;
        if payload.len() > MAX_SYNC_PAYLOAD {
            return Err(Error::PayloadTooLarge {
                size: payload.len(),
                limit: MAX_SYNC_PAYLOAD,
                kind: "RequestResponse",
            });
        }
        check_json(&payload)?;
        let pool = &self.inner.pools[&name];
        let request_id = request_id.map_or_else(crate::request_id, str::to_owned);
        pool.invoke(request_id, payload, client_context).await
    }

    /// The function's log lines after sequence number `after` (all kept lines for 0).
    pub fn logs(&self, function: &str, after: u64) -> Result<Vec<LogLine>, Error> {
        let name = self.resolve(function)?;
        Ok(self.inner.pools[&name].logs().after(after))
    }

    /// The log lines of one invocation, for `X-Amz-Log-Type: Tail`.
    pub fn invocation_logs(&self, function: &str, request_id: &str) -> Vec<LogLine> {
        match self.resolve(function) {
            Ok(name) => self.inner.pools[&name].logs().of_request(request_id),
            Err(_) => Vec::new(),
        }
    }

    /// Processes running per function (for metrics and tests).
    pub fn processes(&self, function: &str) -> usize {
        self.inner.pools.get(function).map_or(0, |p| p.processes())
    }

    /// The functions' counters in the Prometheus text format.
    pub fn metrics(&self) -> String {
        let names = self.names();
        let rows: Vec<(&str, &metrics::Metrics, usize)> = names
            .iter()
            .map(|n| {
                let pool = &self.inner.pools[n];
                (n.as_str(), pool.metrics(), pool.processes())
            })
            .collect();
        metrics::render(&rows)
    }

    /// Stops every process; invocations still waiting fail with [`Error::ShuttingDown`].
    pub async fn shutdown(&self) {
        for pool in self.inner.pools.values() {
            pool.shutdown().await;
        }
    }
}

/// `arn:aws:lambda:<region>:<account>:function:<name>`.
pub fn function_arn(options: &Options, name: &str) -> String {
    format!("arn:aws:lambda:{}:{}:function:{name}", options.region, options.account)
}

/// The bare function name of a name, partial ARN or ARN, without a qualifier.
pub fn function_name(s: &str) -> &str {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..] => name,
        [_, "function", name, ..] => name,
        [name, ..] => name,
        [] => s,
    }
}

fn check_json(payload: &[u8]) -> Result<(), Error> {
    if payload.is_empty() {
        return Ok(());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(payload)
        .map(|_| ())
        .map_err(|e| Error::InvalidPayload(e.to_string()))
}

/// Milliseconds since the Unix epoch, for `Lambda-Runtime-Deadline-Ms` and log lines.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new request id, in Lambda's form (a UUID).
pub(crate) fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_out_of_arns() {
        assert_eq!(function_name("f"), "f");
        assert_eq!(function_name("f:$LATEST"), "f");
        assert_eq!(function_name("123456789012:function:f"), "f");
        assert_eq!(function_name("arn:aws:lambda:us-east-1:123456789012:function:f"), "f");
        assert_eq!(function_name("arn:aws:lambda:us-east-1:123456789012:function:f:prod"), "f");
    }

    #[test]
    fn specs_are_checked() {
        let ok = FunctionSpec::new("echo", CommandLine::Shell("cat".into()));
        assert!(ok.check().is_ok());
        let mut bad = ok.clone();
        bad.name = "no spaces".into();
        assert!(bad.check().is_err());
        let mut bad = ok.clone();
        bad.timeout_seconds = 0.0;
        assert!(bad.check().is_err());
        let mut bad = ok.clone();
        bad.warm = 11;
        assert!(bad.check().is_err());
        let mut bad = ok;
        bad.command = CommandLine::Argv(vec![]);
        assert!(bad.check().is_err());
    }

    #[test]
    fn function_errors_have_a_type() {
        let r = Response {
            request_id: "r".into(),
            payload: platform_error("r", "Sandbox.Timedout", "Task timed out after 3.00 seconds"),
            function_error: true,
            duration: Duration::ZERO,
        };
        assert_eq!(r.error_type().as_deref(), Some("Sandbox.Timedout"));
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        assert_eq!(v["errorMessage"], "RequestId: r Error: Task timed out after 3.00 seconds");
    }
}
