//! A Lambda function written with the official Rust runtime (`lambda_runtime`), as any
//! user would write one. Baton's tests run it under `baton up` to show that an unmodified
//! Lambda runtime works there: it reads its events from the Runtime API named by
//! `AWS_LAMBDA_RUNTIME_API`, exactly as on AWS.
//!
//! What it does is chosen by `BATON_TEST_BEHAVIOUR` (for the conformance cases) and, for
//! the default `probe` behaviour, by the event itself:
//!
//! - `identity`: returns the event unchanged.
//! - `raise`: fails with `errorType` `$ERROR_TYPE` and `errorMessage` `$ERROR_MESSAGE`.
//! - `constant`: returns the JSON in `$CONSTANT`.
//! - `large_output`: returns a string of `$SIZE` letters.
//! - `sleep_then_identity`: sleeps `$SLEEP_SECONDS`, then returns the event.
//! - `probe` (default): `{"sleep_ms": N}` sleeps first; `{"fail": TYPE, "message": M}`
//!   fails with that type; `{"exit": CODE}` exits the process mid-invocation;
//!   otherwise it answers with what it sees: the event, its process id, the request id,
//!   the function name, `_HANDLER`, the memory size and the deadline.
//!
//! `BATON_TEST_INIT_EXIT=CODE` makes the process exit before it asks for an event (a
//! runtime whose start fails).

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};

/// A failure with a chosen error type, as a handler's own error.
#[derive(Debug)]
struct Failure {
    error_type: String,
    message: String,
}

impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Self {
        Diagnostic { error_type: f.error_type, error_message: f.message }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Failure> {
    let (payload, context) = event.into_parts();
    match env("BATON_TEST_BEHAVIOUR").as_deref().unwrap_or("probe") {
        "identity" => Ok(payload),
        "raise" => Err(Failure {
            error_type: env("ERROR_TYPE").unwrap_or_else(|| "Exception".into()),
            message: env("ERROR_MESSAGE").unwrap_or_default(),
        }),
        "constant" => {
            Ok(env("CONSTANT").and_then(|c| serde_json::from_str(&c).ok()).unwrap_or(Value::Null))
        }
        "sleep_then_identity" => {
            let secs = env("SLEEP_SECONDS").and_then(|s| s.parse().ok()).unwrap_or(0u64);
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            Ok(payload)
        }
        "large_output" => {
            let size = env("SIZE").and_then(|s| s.parse().ok()).unwrap_or(0usize);
            Ok(Value::String("a".repeat(size)))
        }
        _ => {
            if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            if let Some(code) = payload.get("exit").and_then(Value::as_i64) {
                eprintln!("exiting with {code} as asked");
                std::process::exit(i32::try_from(code).unwrap_or(1));
            }
            if let Some(t) = payload.get("fail").and_then(Value::as_str) {
                return Err(Failure {
                    error_type: t.to_owned(),
                    message: payload["message"].as_str().unwrap_or("failed as asked").to_owned(),
                });
            }
            println!("handling {}", context.request_id);
            Ok(json!({
                "event": payload,
                "pid": std::process::id(),
                "request_id": context.request_id,
                "function": env("AWS_LAMBDA_FUNCTION_NAME"),
                "function_arn": context.invoked_function_arn,
                "handler": env("_HANDLER"),
                "memory": env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
                "region": env("AWS_REGION"),
                "deadline_ms": context.deadline,
            }))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    if let Some(code) = env("BATON_TEST_INIT_EXIT").and_then(|c| c.parse().ok()) {
        eprintln!("failing to start as asked");
        std::process::exit(code);
    }
    lambda_runtime::run(service_fn(handle)).await
}
