//! The gateway's routes (`[[routes]]`) and the collections at `/NAME` and `/NAME/{id}`:
//! whatever Baton's own APIs do not answer comes here.
//!
//! - A collection route serves the collection as `/NAME` does, the id from a route
//!   parameter.
//! - An upstream route is a reverse proxy (`gateway::proxy`).
//! - A workflow route runs a state machine with the request as input: `sync`, a
//!   StartSyncExecution of an Express workflow whose output is the answer (the composite
//!   service); `async`, a StartExecution answered with 202 and a `Location` to poll.
//! - A function route invokes a function with API Gateway's HTTP API event (payload format
//!   2.0), and answers what it returns as API Gateway does.
//! - A static route serves a directory (`gateway::static_files`).
//!
//! Workflows and functions answer in the same shape: a JSON object with an integer
//! `statusCode` is an HTTP answer (`statusCode`, `headers`, `cookies`, `body`,
//! `isBase64Encoded`); any other value is a 200 with that JSON.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use gateway::routes::WorkflowMode;
use gateway::{Found, Identity, RequestId, Target};
use serde_json::{json, Map, Value};

use super::AppState;

/// The first path segments that are Baton's own: routes and collections cannot take them.
pub(crate) const RESERVED: &[&str] = &[
    "health",
    "metrics",
    "functions",
    "topics",
    "executions",
    "console",
    "auth",
    "openapi.json",
    "2015-03-31",
];

/// Request headers not passed to workflows and functions in their input: credentials do
/// not belong in an execution's history.
const SECRET_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// Everything Baton's own routes do not take.
pub(crate) async fn dispatch(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    match state.routes.find(req.method(), &path) {
        // A collection's own paths beat routes whose first segment is not a literal (a
        // static `/**`, say): only a route that names the path takes it from a collection.
        Found::Route { route, .. }
            if route.pattern.first_literal().is_none() && is_collection_path(&state, &path) => {}
        Found::Route { route, params, rest } => {
            return serve(&state, &route.target, &params, &rest, req).await;
        }
        // A collection's own path is still its own when a broad route (a static `/**`
        // for GET, say) matches it but not for this method.
        Found::MethodNotAllowed(_) if is_collection_path(&state, &path) => {}
        Found::MethodNotAllowed(allowed) => {
            let list: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            let mut r = gateway::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} {path}: allowed: {}", req.method(), list.join(", ")),
            );
            if let Ok(v) = HeaderValue::from_str(&list.join(", ")) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return r;
        }
        Found::Nothing => {}
    }
    // `/NAME` and `/NAME/{id}`.
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let Some(decoded) = segments.iter().map(|s| decode(s)).collect::<Option<Vec<String>>>() else {
        return invalid_path();
    };
    match decoded.as_slice() {
        [name] if !name.is_empty() => super::resources::serve(&state, name, None, req).await,
        [name, id] if !name.is_empty() && !id.is_empty() => {
            super::resources::serve(&state, name, Some(id), req).await
        }
        _ => gateway::error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("nothing is served at {path}"),
        ),
    }
}

/// Whether `path` is `/NAME` or `/NAME/{id}` of a declared collection.
fn is_collection_path(state: &AppState, path: &str) -> bool {
    let mut segments = path.trim_start_matches('/').split('/');
    let name = segments.next().and_then(decode).unwrap_or_default();
    segments.count() <= 1
        && state.resources.as_ref().is_some_and(|r| r.names().contains(&name.as_str()))
}

/// A percent-encoded path segment, decoded; `None` when it is not UTF-8.
fn decode(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment).decode_utf8().ok().map(|s| s.into_owned())
}

fn invalid_path() -> Response {
    gateway::error(
        StatusCode::BAD_REQUEST,
        "invalid_path",
        "a path segment is not UTF-8 once decoded",
    )
}

async fn serve(
    state: &AppState,
    target: &Target,
    params: &BTreeMap<String, String>,
    rest: &str,
    req: Request,
) -> Response {
    match target {
        Target::Collection { name, id_param } => {
            let id = match id_param.as_ref().and_then(|p| params.get(p)) {
                Some(raw) => match decode(raw) {
                    Some(id) => Some(id),
                    None => return invalid_path(),
                },
                None => None,
            };
            super::resources::serve(state, name, id.as_deref(), req).await
        }
        Target::Upstream(upstream) => {
            let client_ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
            let identity = req.extensions().get::<Identity>().cloned();
            let forwarding = gateway::proxy::Forwarding {
                params,
                rest,
                client_ip,
                proto: state.scheme,
                identity: identity.as_ref(),
            };
            upstream.forward(req, forwarding).await
        }
        Target::Static(files) => files.serve(rest, req.method(), req.headers()).await,
        Target::Workflow { name, mode } => {
            workflow(state, name, *mode, params, req).await.unwrap_or_else(|r| r)
        }
        Target::Function(name) => function(state, name, params, req).await.unwrap_or_else(|r| r),
    }
}

/// The request's body, up to the configured limit (413 beyond).
async fn body(state: &AppState, body: Body) -> Result<Bytes, Response> {
    let limit = state.config.limits.max_request_bytes;
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        gateway::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    })
}

/// The request headers as one JSON object of lower-case names, repeated ones joined by
/// `,`, credentials left out.
fn header_object(headers: &HeaderMap) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for (name, value) in headers {
        if SECRET_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let Ok(v) = value.to_str() else { continue };
        match out.get_mut(name.as_str()) {
            Some(Value::String(s)) => {
                s.push(',');
                s.push_str(v);
            }
            _ => {
                out.insert(name.as_str().to_owned(), Value::String(v.to_owned()));
            }
        }
    }
    out
}

/// The query's parameters, repeated ones joined by `,` (as API Gateway does).
fn query_object(uri: &axum::http::Uri) -> Map<String, Value> {
    let pairs: Vec<(String, String)> =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|q| q.0)
            .unwrap_or_default();
    let mut out = Map::new();
    for (k, v) in pairs {
        match out.get_mut(&k) {
            Some(Value::String(s)) => {
                s.push(',');
                s.push_str(&v);
            }
            _ => {
                out.insert(k, Value::String(v));
            }
        }
    }
    out
}

/// A JSON body as JSON, any other text as a string, nothing as null.
fn body_value(headers: &HeaderMap, bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    let json_typed = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json"));
    if json_typed {
        if let Ok(v) = serde_json::from_slice(bytes) {
            return v;
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
    }
}

/// The input of a workflow route's execution.
fn workflow_input(
    parts: &axum::http::request::Parts,
    params: &BTreeMap<String, String>,
    bytes: &[u8],
) -> Value {
    let mut input = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "params": params,
        "query": query_object(&parts.uri),
        "headers": header_object(&parts.headers),
        "body": body_value(&parts.headers, bytes),
    });
    if let Some(id) = parts.extensions.get::<Identity>() {
        input["identity"] = json!(id);
    }
    if let Some(RequestId(id)) = parts.extensions.get::<RequestId>() {
        input["requestId"] = json!(id);
    }
    input
}

async fn workflow(
    state: &AppState,
    name: &str,
    mode: WorkflowMode,
    params: &BTreeMap<String, String>,
    req: Request,
) -> Result<Response, Response> {
    let (parts, raw) = req.into_parts();
    let bytes = body(state, raw).await?;
    let arn = state.machine_arn(name);
    let machine = state
        .cached_machine(&arn)
        .await
        .map_err(|e| internal("reading a state machine", &e))?
        .ok_or_else(|| {
            gateway::error(
                StatusCode::BAD_GATEWAY,
                "workflow_not_found",
                format!("the route's workflow {name:?} does not exist: create the state machine"),
            )
        })?;
    let input = workflow_input(&parts, params, &bytes);
    let express = machine.kind == "EXPRESS";
    let engine = &state.engine;
    match mode {
        WorkflowMode::Sync => {
            if !express {
                return Err(gateway::error(
                    StatusCode::BAD_GATEWAY,
                    "workflow_not_express",
                    format!("{name} is a Standard workflow: a sync route runs Express ones"),
                ));
            }
            let run = engine.start_sync(&machine, None, input).await.map_err(workflow_error)?;
            match run.status.as_str() {
                "SUCCEEDED" => Ok(http_answer(run.output.unwrap_or(Value::Null))),
                status => {
                    let code = if status == "TIMED_OUT" {
                        StatusCode::GATEWAY_TIMEOUT
                    } else {
                        StatusCode::BAD_GATEWAY
                    };
                    let body = json!({
                        "code": "workflow_failed",
                        "message": format!("the workflow {name} ended {status}"),
                        "executionArn": run.execution_arn,
                        "error": run.error,
                        "cause": run.cause,
                    });
                    Ok((code, axum::Json(body)).into_response())
                }
            }
        }
        WorkflowMode::Async => {
            let started = if express {
                engine.start_express(&machine, None, input)
            } else {
                engine.start_execution(&machine, None, input.to_string()).await
            }
            .map_err(workflow_error)?;
            let location = format!("/executions/{}", started.execution_arn);
            let body = json!({
                "executionArn": started.execution_arn,
                "startDate": started.start_ms as f64 / 1000.0,
                "status": "RUNNING",
            });
            let mut r = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
            // Express executions are not recorded: there is nothing to poll.
            if !express {
                if let Ok(v) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
            }
            Ok(r)
        }
    }
}

fn workflow_error(e: workflows::Error) -> Response {
    match e {
        workflows::Error::ShuttingDown => gateway::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the node is shutting down: retry",
        ),
        workflows::Error::Throttled(_) => {
            let mut r = gateway::error(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "this node holds as many running workflows as it may: retry",
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        e => {
            tracing::warn!(error = %e, "a workflow route cannot start its execution");
            gateway::error(StatusCode::BAD_GATEWAY, "workflow_error", e.to_string())
        }
    }
}

fn internal(what: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "{what}");
    gateway::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
}

/// `GET /executions/{arn}`: where an async workflow route's `Location` points.
pub(crate) async fn execution(State(state): State<AppState>, Path(arn): Path<String>) -> Response {
    let e = match state.engine.store().execution(&arn).await {
        Ok(Some(e)) => e,
        Ok(None) => {
            return gateway::error(
                StatusCode::NOT_FOUND,
                "execution_not_found",
                format!("no execution {arn}"),
            )
        }
        Err(e) => return internal("reading an execution", &e),
    };
    let mut body = json!({
        "executionArn": e.arn,
        "stateMachineArn": e.machine_arn,
        "name": e.name,
        "status": e.status,
        "startDate": e.start_ms as f64 / 1000.0,
    });
    if let Some(stop) = e.stop_ms {
        body["stopDate"] = json!(stop as f64 / 1000.0);
    }
    if let Some(o) = &e.output {
        body["output"] = serde_json::from_str(o).unwrap_or(Value::Null);
    }
    if let Some(err) = &e.error {
        body["error"] = json!(err);
    }
    if let Some(c) = &e.cause {
        body["cause"] = json!(c);
    }
    let mut r = axum::Json(body).into_response();
    if e.status == "RUNNING" {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

/// API Gateway's HTTP API event (payload format version 2.0).
fn function_event(
    state: &AppState,
    parts: &axum::http::request::Parts,
    params: &BTreeMap<String, String>,
    bytes: &[u8],
) -> Value {
    let headers = header_object(&parts.headers);
    let cookies: Vec<Value> = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(|c| Value::String(c.trim().to_owned()))
        .filter(|c| c.as_str().is_some_and(|s| !s.is_empty()))
        .collect();
    // Functions get the credentials (a Lambda authorizer-less API would pass them too).
    let mut headers = headers;
    if let Some(a) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        headers.insert("authorization".into(), json!(a));
    }
    let now = workflows::now_ms();
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), |r| r.0.clone());
    let route_key = format!("{} {}", parts.method, parts.uri.path());
    let (body, base64) = match std::str::from_utf8(bytes) {
        Ok(s) => (json!(s), false),
        Err(_) => (json!(base64::engine::general_purpose::STANDARD.encode(bytes)), true),
    };
    let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let source_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(String::new, |c| c.0.ip().to_string());
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": parts.uri.query().unwrap_or_default(),
        "headers": headers,
        "requestContext": {
            "accountId": state.config.account,
            "apiId": "baton",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": format!("{:?}", parts.version),
                "sourceIp": source_ip,
                "userAgent": parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "timeEpoch": now,
        },
        "isBase64Encoded": base64,
    });
    if !bytes.is_empty() {
        event["body"] = body;
    }
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    let query = query_object(&parts.uri);
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    if let Some(id) = parts.extensions.get::<Identity>() {
        event["requestContext"]["authorizer"] = json!({"baton": id});
    }
    event
}

async fn function(
    state: &AppState,
    name: &str,
    params: &BTreeMap<String, String>,
    req: Request,
) -> Result<Response, Response> {
    let Some(functions) = &state.functions else {
        return Err(internal("a function route without functions", &name));
    };
    let (parts, raw) = req.into_parts();
    let bytes = body(state, raw).await?;
    let event = function_event(state, &parts, params, &bytes);
    let answer = functions.invoke(name, event.to_string().into_bytes(), None).await;
    let answer = match answer {
        Ok(a) => a,
        Err(functions::Error::TooManyRequests) => {
            return Err(gateway::error(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("{name} is running as many invocations as it may"),
            ))
        }
        Err(e) => {
            tracing::warn!(error = %e, function = name, "a function route's invocation failed");
            return Err(gateway::error(StatusCode::BAD_GATEWAY, "function_error", e.to_string()));
        }
    };
    if answer.function_error {
        tracing::info!(function = name, request_id = %answer.request_id, "the function failed");
        return Err(gateway::error(
            StatusCode::BAD_GATEWAY,
            "function_failed",
            format!("the function {name} failed (request {})", answer.request_id),
        ));
    }
    let value: Value = match serde_json::from_slice(&answer.payload) {
        Ok(v) => v,
        Err(_) => {
            return Err(gateway::error(
                StatusCode::BAD_GATEWAY,
                "function_answer_invalid",
                format!("the function {name} did not return JSON"),
            ))
        }
    };
    Ok(http_answer(value))
}

/// A workflow's output or a function's result as an HTTP answer.
fn http_answer(value: Value) -> Response {
    let status = value
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok());
    let Some(status) = status else {
        return (StatusCode::OK, axum::Json(value)).into_response();
    };
    let mut r = Response::builder().status(status);
    let mut typed = false;
    if let Some(Value::Object(headers)) = value.get("headers") {
        for (k, v) in headers {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            typed |= k.eq_ignore_ascii_case("content-type");
            r = r.header(k.as_str(), text);
        }
    }
    if let Some(Value::Array(cookies)) = value.get("cookies") {
        for c in cookies.iter().filter_map(Value::as_str) {
            r = r.header(header::SET_COOKIE, c);
        }
    }
    let body: Vec<u8> = match value.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if value.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(b) => b,
                Err(_) => {
                    return gateway::error(
                        StatusCode::BAD_GATEWAY,
                        "answer_invalid",
                        "isBase64Encoded is true but the body is not base64",
                    )
                }
            }
        }
        Some(Value::String(s)) => {
            if !typed {
                r = r.header(header::CONTENT_TYPE, "text/plain; charset=utf-8");
            }
            s.clone().into_bytes()
        }
        Some(other) => {
            if !typed {
                r = r.header(header::CONTENT_TYPE, "application/json");
            }
            other.to_string().into_bytes()
        }
    };
    r.body(Body::from(body)).unwrap_or_else(|_| {
        gateway::error(
            StatusCode::BAD_GATEWAY,
            "answer_invalid",
            "the answer's headers are not valid HTTP headers",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_with_a_status_code_are_http_answers() {
        let r = http_answer(json!({"statusCode": 404, "headers": {"x-a": 1}, "body": {"e": 1}}));
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()["x-a"], "1");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let r = http_answer(json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}));
        assert_eq!(r.status(), StatusCode::OK);
        let r = http_answer(json!({"student": {"id": "7"}}));
        assert_eq!(r.status(), StatusCode::OK);
        let r = http_answer(json!({"statusCode": 200, "headers": {"bad\nname": "x"}}));
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    }

    #[test]
    fn credentials_stay_out_of_workflow_input() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        h.insert(header::COOKIE, HeaderValue::from_static("s=1"));
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        let o = header_object(&h);
        assert_eq!(Value::Object(o), json!({"x-a": "1,2"}));
        assert_eq!(
            Value::Object(query_object(&"/p?a=1&b=x%20y&a=2".parse().unwrap())),
            json!({"a": "1,2", "b": "x y"})
        );
    }
}
