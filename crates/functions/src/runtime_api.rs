//! The Lambda Runtime API (version 2018-06-01) that one runtime process polls: `next`
//! hands it an event, `response` and `error` complete it, `init/error` reports a start
//! that failed. Each process has its own endpoint, so every call is about that process.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::pool::Sandbox;
use crate::{platform_error, MAX_SYNC_PAYLOAD};

/// The routes of one process's Runtime API.
pub(crate) fn router(sandbox: Arc<Sandbox>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        // A response over the limit is read whole, then refused as Lambda refuses it.
        .layer(DefaultBodyLimit::max(MAX_SYNC_PAYLOAD + 1024 * 1024))
        .with_state(sandbox)
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (status, axum::Json(json!({"errorType": error_type, "errorMessage": message}))).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

async fn next(State(sandbox): State<Arc<Sandbox>>) -> Response {
    let pool = sandbox.pool().clone();
    let Some(job) = pool.next_job(&sandbox).await else {
        return api_error(StatusCode::GONE, "Runtime.Stopping", "this runtime is being stopped");
    };
    let event = pool.begin(&sandbox, job);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("content-type", "application/json");
    put("lambda-runtime-aws-request-id", &event.request_id);
    put("lambda-runtime-deadline-ms", &event.deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", &pool.arn);
    put("lambda-runtime-trace-id", &trace_id(&event.request_id, event.deadline_ms));
    if let Some(cc) = &event.client_context {
        put("lambda-runtime-client-context", cc);
    }
    let body = if event.payload.is_empty() { b"{}".to_vec() } else { event.payload };
    (StatusCode::OK, headers, body).into_response()
}

/// An X-Ray trace header in Lambda's form, derived from the request.
fn trace_id(request_id: &str, deadline_ms: i64) -> String {
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
    let root = format!("{:08x}", deadline_ms / 1000);
    format!(
        "Root=1-{root}-{:0<24};Parent={:0<16};Sampled=0",
        &hex[..hex.len().min(24)],
        &hex[hex.len().saturating_sub(16)..]
    )
}

async fn response(
    State(sandbox): State<Arc<Sandbox>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let pool = sandbox.pool().clone();
    if body.len() > MAX_SYNC_PAYLOAD {
        let payload = json!({
            "errorType": "Function.ResponseSizeTooLarge",
            "errorMessage": format!(
                "Response payload size exceeded maximum allowed payload size ({MAX_SYNC_PAYLOAD} bytes)."
            ),
        });
        if pool.finish(&sandbox, &id, payload.to_string().into_bytes(), true) {
            return api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "the response exceeds the payload limit",
            );
        }
    } else if pool.finish(&sandbox, &id, body.to_vec(), false) {
        return accepted();
    }
    api_error(StatusCode::BAD_REQUEST, "InvalidRequestID", "no invocation in flight has this id")
}

async fn error(
    State(sandbox): State<Arc<Sandbox>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pool = sandbox.pool().clone();
    let payload = error_document(&id, &headers, &body);
    if pool.finish(&sandbox, &id, payload, true) {
        accepted()
    } else {
        api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "no invocation in flight has this id",
        )
    }
}

/// The error a runtime posted, as the payload of the failed invocation: its JSON document
/// as it is, or one made from `Lambda-Runtime-Function-Error-Type` when it sent none.
fn error_document(request_id: &str, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let is_object = serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.is_object());
    if is_object {
        return body.to_vec();
    }
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Runtime.Unknown");
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        return platform_error(request_id, error_type, "the runtime reported an error");
    }
    json!({"errorType": error_type, "errorMessage": text}).to_string().into_bytes()
}

async fn init_error(
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let payload = error_document("init", &headers, &body);
    sandbox.pool().logs().push(
        "platform",
        None,
        format!("INIT_REPORT Status: error {}", String::from_utf8_lossy(&payload)),
    );
    *sandbox.init_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload);
    sandbox.stop();
    accepted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_documents_are_kept_or_made() {
        let h = HeaderMap::new();
        let doc = br#"{"errorMessage":"m","errorType":"E"}"#;
        assert_eq!(error_document("r", &h, doc), doc.to_vec());
        let mut h = HeaderMap::new();
        h.insert("lambda-runtime-function-error-type", HeaderValue::from_static("Custom"));
        let v: serde_json::Value =
            serde_json::from_slice(&error_document("r", &h, b"boom")).unwrap();
        assert_eq!(v, json!({"errorType": "Custom", "errorMessage": "boom"}));
        let v: serde_json::Value = serde_json::from_slice(&error_document("r", &h, b"")).unwrap();
        assert_eq!(v["errorType"], "Custom");
    }

    #[test]
    fn trace_ids_have_lambdas_shape() {
        let t = trace_id("8476a536-e9f4-11e8-9739-2dfe598c3fcd", 1_542_409_706_888);
        assert!(t.starts_with("Root=1-5bef4dea-"), "{t}");
        assert!(t.ends_with(";Sampled=0"));
    }
}
