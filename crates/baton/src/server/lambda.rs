//! The Lambda API for Baton's functions: `Invoke` (`POST
//! /2015-03-31/functions/{name}/invocations`), `GetFunction` and `ListFunctions`, with
//! Lambda's headers, status codes and error types (`x-amzn-ErrorType`), so boto3's Lambda
//! client and the AWS CLI work with `--endpoint-url`. Beside them, two of Baton's own:
//! a function's log (`GET /functions/{name}/logs?after=SEQ`) and its `Event` invocations
//! that failed for good (`GET /functions/{name}/failed-events`).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::AppState;

/// A Lambda API error: `x-amzn-ErrorType` names it, the body says it.
struct LambdaError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    reason: Option<&'static str>,
}

impl LambdaError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, message: message.into(), reason: None }
    }
}

impl IntoResponse for LambdaError {
    fn into_response(self) -> Response {
        let mut body = json!({"Type": "User", "message": self.message});
        if let Some(r) = self.reason {
            body["Reason"] = json!(r);
        }
        let mut r = (self.status, axum::Json(body)).into_response();
        r.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(self.kind));
        r.headers_mut()
            .insert("x-amzn-requestid", request_id_header(&uuid::Uuid::new_v4().to_string()));
        r
    }
}

impl From<functions::Error> for LambdaError {
    fn from(e: functions::Error) -> Self {
        use functions::Error as E;
        match e {
            E::NotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", e.to_string())
            }
            E::TooManyRequests => Self {
                reason: Some("ReservedFunctionConcurrentInvocationLimitExceeded"),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequestsException",
                    e.to_string(),
                )
            },
            E::PayloadTooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLargeException", e.to_string())
            }
            E::InvalidPayload(_) => {
                Self::new(StatusCode::BAD_REQUEST, "InvalidRequestContentException", e.to_string())
            }
            E::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceException",
                "The node is shutting down; retry",
            ),
            e @ (E::InvalidSpec { .. } | E::Store(_)) => {
                tracing::error!(error = %e, "internal error serving the Lambda API");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceException",
                    "Internal error; see the server log",
                )
            }
        }
    }
}

fn request_id_header(id: &str) -> HeaderValue {
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

fn not_configured(name: &str, state: &AppState) -> LambdaError {
    LambdaError::from(functions::Error::NotFound(functions::function_arn(
        &functions::Options {
            region: state.config.region.clone(),
            account: state.config.account.clone(),
            ..functions::Options::default()
        },
        functions::function_name(name),
    )))
}

/// `Invoke`.
pub(crate) async fn invoke(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match invoke_inner(&state, &name, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn invoke_inner(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, LambdaError> {
    let Some(functions) = &state.functions else { return Err(not_configured(name, state)) };
    let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let invocation_type = header("x-amz-invocation-type").unwrap_or("RequestResponse");
    let limit = functions::MAX_SYNC_PAYLOAD;
    let payload = axum::body::to_bytes(body, limit).await.map_err(|_| {
        LambdaError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
        )
    })?;
    let function = functions.resolve(name)?;
    match invocation_type {
        "RequestResponse" => {}
        "Event" => {
            let Some(events) = &state.function_events else {
                return Err(not_configured(name, state));
            };
            let id = events.enqueue(&function, payload.to_vec()).await?;
            return Ok((StatusCode::ACCEPTED, [("x-amzn-requestid", request_id_header(&id))])
                .into_response());
        }
        "DryRun" => return Ok(StatusCode::NO_CONTENT.into_response()),
        other => {
            return Err(LambdaError::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                format!("Unsupported invocation type: {other}"),
            ))
        }
    }
    let client_context = header("x-amz-client-context").and_then(|c| {
        let bytes = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
        String::from_utf8(bytes).ok()
    });
    let response = functions.invoke(&function, payload.to_vec(), client_context).await?;
    let mut out = (StatusCode::OK, response.payload.clone()).into_response();
    let h = out.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("x-amz-executed-version", HeaderValue::from_static("$LATEST"));
    h.insert("x-amzn-requestid", request_id_header(&response.request_id));
    if response.function_error {
        h.insert("x-amz-function-error", HeaderValue::from_static("Unhandled"));
    }
    if header("x-amz-log-type") == Some("Tail") {
        let lines = functions.invocation_logs(&function, &response.request_id);
        if let Ok(v) = HeaderValue::from_str(&crate::functions_cmd::log_tail(&lines)) {
            h.insert("x-amz-log-result", v);
        }
    }
    Ok(out)
}

fn configuration(state: &AppState, functions: &functions::Functions, name: &str) -> Value {
    let spec = functions.spec(name);
    json!({
        "FunctionName": name,
        "FunctionArn": functions.arn(name),
        "Runtime": "provided",
        "Role": format!("arn:aws:iam::{}:role/baton", state.config.account),
        "Handler": spec.and_then(|s| s.handler.clone()).unwrap_or_default(),
        "Timeout": spec.map_or(3.0, |s| s.timeout_seconds.ceil()) as u64,
        "MemorySize": spec.map_or(128, |s| s.memory_mb),
        "Version": "$LATEST",
        "State": "Active",
        "PackageType": "Zip",
        "Architectures": [std::env::consts::ARCH.replace("aarch64", "arm64")],
    })
}

/// `GetFunction`.
pub(crate) async fn get_function(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    let Some(functions) = &state.functions else {
        return not_configured(&name, &state).into_response();
    };
    match functions.resolve(&name) {
        Ok(name) => {
            let concurrency = functions.spec(&name).map_or(0, |s| s.max_concurrency);
            axum::Json(json!({
                "Configuration": configuration(&state, functions, &name),
                "Concurrency": {"ReservedConcurrentExecutions": concurrency},
            }))
            .into_response()
        }
        Err(e) => LambdaError::from(e).into_response(),
    }
}

/// `ListFunctions` (one page: a node declares few functions).
pub(crate) async fn list_functions(State(state): State<AppState>) -> Response {
    let list: Vec<Value> = match &state.functions {
        Some(f) => f.names().iter().map(|n| configuration(&state, f, n)).collect(),
        None => Vec::new(),
    };
    axum::Json(json!({"Functions": list})).into_response()
}

#[derive(Deserialize)]
pub(crate) struct LogsQuery {
    #[serde(default)]
    after: u64,
}

/// A function's log lines after `after`: `{"lines": [...], "next": SEQ}`.
pub(crate) async fn logs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Response {
    let Some(functions) = &state.functions else {
        return not_configured(&name, &state).into_response();
    };
    match functions.logs(&name, q.after) {
        Ok(lines) => {
            let next = lines.last().map_or(q.after, |l| l.seq);
            axum::Json(json!({"lines": lines, "next": next})).into_response()
        }
        Err(e) => LambdaError::from(e).into_response(),
    }
}

/// The `Event` invocations of a function that failed after their retries.
pub(crate) async fn failed_events(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    let Some(events) = &state.function_events else {
        return not_configured(&name, &state).into_response();
    };
    match events.failed(&name, 100).await {
        Ok(list) => axum::Json(json!({"events": list})).into_response(),
        Err(e) => LambdaError::from(e).into_response(),
    }
}
