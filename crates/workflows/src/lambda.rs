//! Lambda tasks: what Step Functions sends a function and what it makes of the answer.
//!
//! Two resources invoke a function. A function ARN (`arn:aws:lambda:...:function:NAME`)
//! sends the state's input as the event, and the task's result is the function's payload.
//! The service integration `arn:aws:states:::lambda:invoke` takes `FunctionName` and
//! `Payload` from its parameters and returns Lambda's Invoke response (`Payload`,
//! `StatusCode`, `ExecutedVersion`, the SDK metadata). Either way a function error becomes
//! the state's error: its `errorType`, with the error document as the cause (or
//! `Lambda.Unknown` when it carries no type), so `Retry` and `Catch` match the function's
//! own errors. Functions themselves are run by whoever implements [`Invoker`]; `baton up`
//! gives Baton's functions.

use futures::future::BoxFuture;
use serde_json::{json, Value};

/// Runs Lambda invocations for the executor.
pub trait Invoker: Send + Sync + 'static {
    /// Runs one invocation: synchronously, or, when `asynchronous`, by queuing an `Event`
    /// invocation and answering at once.
    fn invoke(&self, call: Call) -> BoxFuture<'static, Result<Invoked, InvokeFailure>>;
}

/// The [`Invoker`] the executor uses: cheap to clone.
#[derive(Clone)]
pub struct Handle(pub std::sync::Arc<dyn Invoker>);

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("lambda::Handle")
    }
}

/// The answer of an invocation that Lambda accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoked {
    pub request_id: String,
    /// The response payload (empty for an `Event` invocation).
    pub payload: Vec<u8>,
    /// Whether the payload is the function's error document.
    pub function_error: bool,
    /// 200, or 202 for an `Event` invocation.
    pub status: u16,
    /// The end of the invocation's log, base64-encoded, when the call asked for it.
    pub log_result: Option<String>,
}

/// An invocation Lambda refused (no such function, throttled, too large): the error
/// Step Functions reports, e.g. `Lambda.ResourceNotFoundException`, and its cause.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeFailure {
    pub error: String,
    pub cause: String,
}

/// One invocation a task asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function's name or ARN.
    pub function: String,
    /// The event, as JSON text.
    pub payload: Vec<u8>,
    /// An `Event` invocation: queued, answered at once.
    pub asynchronous: bool,
    /// `LogType: Tail`: the answer carries the end of the invocation's log.
    pub log_tail: bool,
    /// `arn:aws:states:::lambda:invoke`: the result is Invoke's response, not the payload.
    pub integration: bool,
}

/// Whether a resource invokes a Lambda function.
pub fn is_lambda(resource: &str) -> bool {
    let base = resource.strip_suffix(".waitForTaskToken").unwrap_or(resource);
    base == "arn:aws:states:::lambda:invoke" || base.starts_with("arn:aws:lambda:")
}

/// The invocation a Lambda task's resource and effective input ask for.
pub fn call(resource: &str, input: &Value) -> Result<Call, asl::Failure> {
    let base = resource.strip_suffix(".waitForTaskToken").unwrap_or(resource);
    if base.starts_with("arn:aws:lambda:") {
        return Ok(Call {
            function: base.to_owned(),
            payload: input.to_string().into_bytes(),
            asynchronous: false,
            log_tail: false,
            integration: false,
        });
    }
    let bad = |cause: String| asl::Failure::new("States.Runtime", cause);
    let Some(params) = input.as_object() else {
        return Err(bad("The parameters of a lambda:invoke task must be an object".into()));
    };
    let function = match params.get("FunctionName") {
        Some(Value::String(f)) => f.clone(),
        Some(_) => return Err(bad("The field 'FunctionName' must be a string".into())),
        None => return Err(bad("The field 'FunctionName' is required".into())),
    };
    // A string payload is the event's JSON text as it is; no payload (or null) is an
    // empty event.
    let payload = match params.get("Payload") {
        None | Some(Value::Null) => b"{}".to_vec(),
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(v) => v.to_string().into_bytes(),
    };
    let asynchronous = match params.get("InvocationType").and_then(Value::as_str) {
        None | Some("RequestResponse") => false,
        Some("Event") => true,
        Some(other) => {
            return Err(asl::Failure::new(
                "Lambda.InvalidParameterValueException",
                format!(
                    "Unsupported invocation type {other:?} (Service: Lambda, Status Code: 400)"
                ),
            ))
        }
    };
    let log_tail = match params.get("LogType").and_then(Value::as_str) {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(other) => {
            return Err(asl::Failure::new(
                "Lambda.InvalidParameterValueException",
                format!("Unsupported log type {other:?} (Service: Lambda, Status Code: 400)"),
            ))
        }
    };
    Ok(Call { function, payload, asynchronous, log_tail, integration: true })
}

/// The task's result, or its failure, from the invocation's outcome. A response larger
/// than `max_bytes` (the payload limit; 0 for none) fails the task with
/// `States.DataLimitExceeded`, which a Catch can name.
pub fn result(
    call: &Call,
    outcome: Result<Invoked, InvokeFailure>,
    now_ms: i64,
    max_bytes: usize,
) -> Result<Value, asl::Failure> {
    let invoked = outcome.map_err(|f| asl::Failure::new(f.error, f.cause))?;
    if max_bytes > 0 && invoked.payload.len() > max_bytes {
        return Err(asl::Failure::new(
            asl::error::names::DATA_LIMIT_EXCEEDED,
            "The state/task 'lambda' returned a result with a size exceeding the maximum number \
             of bytes service limit.",
        ));
    }
    let text = String::from_utf8_lossy(&invoked.payload);
    if invoked.function_error {
        let error_type = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("errorType").and_then(Value::as_str).map(str::to_owned));
        return Err(match error_type {
            Some(t) => asl::Failure::new(t, text.into_owned()),
            None => asl::Failure::new(
                "Lambda.Unknown",
                format!(
                    "The cause could not be determined because Lambda did not return an error \
                     type. Returned payload: {text}"
                ),
            ),
        });
    }
    let payload = if text.trim().is_empty() {
        if call.integration {
            Value::String(String::new())
        } else {
            Value::Null
        }
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone().into_owned()))
    };
    if !call.integration {
        return Ok(payload);
    }
    let date = http_date(now_ms);
    let length = invoked.payload.len().to_string();
    let trace: String =
        invoked.request_id.chars().filter(char::is_ascii_hexdigit).take(24).collect();
    let mut headers = json!({
        "Connection": "keep-alive",
        "Content-Length": length,
        "Content-Type": "application/json",
        "Date": date,
        "X-Amzn-Trace-Id": format!("Root=1-{:08x}-{trace:0<24}", now_ms / 1000),
        "x-amzn-Remapped-Content-Length": "0",
        "x-amzn-RequestId": invoked.request_id,
    });
    if !call.asynchronous {
        headers["X-Amz-Executed-Version"] = json!("$LATEST");
    }
    if let Some(log) = &invoked.log_result {
        headers["X-Amz-Log-Result"] = json!(log);
    }
    let all: serde_json::Map<String, Value> =
        headers.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), json!([v]))).collect();
    let mut out = json!({
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": all,
            "HttpHeaders": headers,
            "HttpStatusCode": invoked.status,
        },
        "SdkResponseMetadata": {"RequestId": invoked.request_id},
        "StatusCode": invoked.status,
    });
    if !call.asynchronous {
        out["ExecutedVersion"] = json!("$LATEST");
    }
    if let Some(log) = invoked.log_result {
        out["LogResult"] = json!(log);
    }
    Ok(out)
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn http_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let iso = asl::interpreter::iso_millis(ms);
    // iso: YYYY-MM-DDTHH:MM:SS.mmmZ
    let (y, m, d) = (&iso[0..4], &iso[5..7], &iso[8..10]);
    let month =
        m.parse::<usize>().ok().and_then(|m| MONTHS.get(m.wrapping_sub(1))).unwrap_or(&"Jan");
    format!(
        "{}, {d} {month} {y} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(payload: &str) -> Result<Invoked, InvokeFailure> {
        Ok(Invoked {
            request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into(),
            payload: payload.as_bytes().to_vec(),
            function_error: false,
            status: 200,
            log_result: None,
        })
    }

    #[test]
    fn a_function_arn_sends_the_input_and_returns_the_payload() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:f";
        let c = call(arn, &json!({"a": 1})).unwrap();
        assert_eq!((c.function.as_str(), c.payload.as_slice()), (arn, br#"{"a":1}"#.as_slice()));
        assert!(!c.integration);
        assert_eq!(result(&c, ok(r#"{"b":2}"#), 0, 0).unwrap(), json!({"b": 2}));
    }

    #[test]
    fn the_integration_wraps_the_payload() {
        let c = call(
            "arn:aws:states:::lambda:invoke",
            &json!({"FunctionName": "f", "Payload": {"x": true}}),
        )
        .unwrap();
        assert_eq!(c.payload, br#"{"x":true}"#);
        let r = result(&c, ok(r#""HelloWorld!""#), 784_111_777_000, 0).unwrap();
        assert_eq!(r["Payload"], "HelloWorld!");
        assert_eq!(r["StatusCode"], 200);
        assert_eq!(r["ExecutedVersion"], "$LATEST");
        assert_eq!(r["SdkResponseMetadata"]["RequestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(r["SdkHttpMetadata"]["HttpHeaders"]["Content-Length"], "13");
        assert_eq!(r["SdkHttpMetadata"]["HttpHeaders"]["Date"], "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            r["SdkHttpMetadata"]["AllHttpHeaders"]["Content-Type"],
            json!(["application/json"])
        );
        // A string payload is sent as it is; no payload is an empty event.
        let c =
            call("arn:aws:states:::lambda:invoke", &json!({"FunctionName": "f", "Payload": "[1]"}))
                .unwrap();
        assert_eq!(c.payload, b"[1]");
        let c = call("arn:aws:states:::lambda:invoke", &json!({"FunctionName": "f"})).unwrap();
        assert_eq!(c.payload, b"{}");
        let c = call(
            "arn:aws:states:::lambda:invoke",
            &json!({"FunctionName": "f", "InvocationType": "Event"}),
        )
        .unwrap();
        assert!(c.asynchronous);
    }

    #[test]
    fn bad_parameters_fail_the_task() {
        let e = call("arn:aws:states:::lambda:invoke", &json!({"Payload": 1})).unwrap_err();
        assert_eq!(e.error.as_deref(), Some("States.Runtime"));
        let e = call(
            "arn:aws:states:::lambda:invoke",
            &json!({"FunctionName": "f", "InvocationType": "Nope"}),
        )
        .unwrap_err();
        assert_eq!(e.error.as_deref(), Some("Lambda.InvalidParameterValueException"));
    }

    #[test]
    fn function_errors_become_the_states_error() {
        let c = call("arn:aws:lambda:us-east-1:1:function:f", &json!({})).unwrap();
        let doc = r#"{"errorMessage":"Some exception was raised.","errorType":"Exception"}"#;
        let failed = Ok(Invoked {
            request_id: "r".into(),
            payload: doc.as_bytes().to_vec(),
            function_error: true,
            status: 200,
            log_result: None,
        });
        let e = result(&c, failed, 0, 0).unwrap_err();
        assert_eq!((e.error.as_deref(), e.cause.as_deref()), (Some("Exception"), Some(doc)));
        let untyped = Ok(Invoked {
            request_id: "r".into(),
            payload: br#"{"errorMessage":"x"}"#.to_vec(),
            function_error: true,
            status: 200,
            log_result: None,
        });
        let e = result(&c, untyped, 0, 0).unwrap_err();
        assert_eq!(e.error.as_deref(), Some("Lambda.Unknown"));
        assert!(e.cause.unwrap().ends_with(r#"Returned payload: {"errorMessage":"x"}"#));
        let refused = Err(InvokeFailure {
            error: "Lambda.ResourceNotFoundException".into(),
            cause: "Function not found".into(),
        });
        assert_eq!(
            result(&c, refused, 0, 0).unwrap_err().error.as_deref(),
            Some("Lambda.ResourceNotFoundException")
        );
    }

    #[test]
    fn results_over_the_payload_limit_fail_the_task() {
        let c = call("arn:aws:lambda:us-east-1:1:function:f", &json!({})).unwrap();
        let big = format!("\"{}\"", "a".repeat(300));
        let e = result(&c, ok(&big), 0, 256).unwrap_err();
        assert_eq!(e.error.as_deref(), Some("States.DataLimitExceeded"));
        assert!(result(&c, ok(&big), 0, 1024).is_ok());
    }

    #[test]
    fn resources_are_recognised() {
        assert!(is_lambda("arn:aws:states:::lambda:invoke"));
        assert!(is_lambda("arn:aws:states:::lambda:invoke.waitForTaskToken"));
        assert!(is_lambda("arn:aws:lambda:us-east-1:1:function:f"));
        assert!(!is_lambda("arn:aws:states:::http:invoke"));
    }
}
