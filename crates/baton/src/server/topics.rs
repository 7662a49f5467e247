//! The topics API: `/topics`, their subscriptions, publishing, attempts and dead letters.
//!
//! Thin handlers over `events::topics::Topics`: they read JSON, call the service and map
//! its errors to a status and a stable code, `{"code", "message"}`. A client's mistake is
//! a 4xx; a store failure is a 500 whose detail is logged, not sent.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use events::topics::{Error, Publish, SubscriptionSpec, Topics};
use serde_json::{json, Value};

use super::AppState;

/// An error as the API answers it.
pub(super) struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Store(e) => {
                tracing::error!(error = %e, "topics: store failure");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = match &self.0 {
            Error::Store(_) => "internal error".to_owned(),
            e => e.to_string(),
        };
        (status, Json(json!({"code": self.0.code(), "message": message}))).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn topics(state: &AppState) -> Result<&Topics, ApiError> {
    state
        .topics
        .as_ref()
        .ok_or_else(|| ApiError(Error::NotFound("topics are not enabled on this server".into())))
}

fn body_json(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError(Error::Invalid(format!("the body is not valid JSON: {e}"))))
}

fn list_params(q: &HashMap<String, String>) -> Result<(Option<i64>, i64), ApiError> {
    let number = |key: &str| -> Result<Option<i64>, ApiError> {
        q.get(key)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError(Error::Invalid(format!("{key} must be an integer"))))
            })
            .transpose()
    };
    Ok((number("before")?, number("limit")?.unwrap_or(100)))
}

fn topic_json(t: &Topics, r: &store::TopicRecord) -> Value {
    json!({"name": r.name, "arn": t.topic_arn(&r.name), "created_ms": r.created_ms})
}

fn attempt_json(a: &store::AttemptRecord) -> Value {
    json!({
        "id": a.id, "delivery_id": a.delivery_id, "message_id": a.message_id,
        "attempt": a.attempt, "at_ms": a.at_ms, "status_code": a.status_code,
        "error": a.error, "latency_ms": a.latency_ms, "response": a.response,
    })
}

fn delivery_json(d: &store::DeliveryRecord) -> Value {
    json!({
        "id": d.id, "message_id": d.message_id, "subscription_id": d.subscription_id,
        "ordering_key": d.ordering_key, "status": d.status, "attempts": d.attempts,
        "last_error": d.last_error, "next_attempt_ms": d.next_attempt_ms,
        "created_ms": d.created_ms, "updated_ms": d.updated_ms,
    })
}

pub(super) async fn create_topic(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let t = topics(&state)?;
    let v = body_json(&body)?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError(Error::Invalid("\"name\" is required".into())))?;
    let r = t.create_topic(name).await?;
    Ok((StatusCode::CREATED, Json(topic_json(t, &r))).into_response())
}

pub(super) async fn list_topics(State(state): State<AppState>) -> ApiResult {
    let t = topics(&state)?;
    let list: Vec<Value> = t.topics().await?.iter().map(|r| topic_json(t, r)).collect();
    Ok(Json(json!({"topics": list})).into_response())
}

pub(super) async fn get_topic(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    let t = topics(&state)?;
    let r = t.topic(&name).await?;
    Ok(Json(topic_json(t, &r)).into_response())
}

pub(super) async fn delete_topic(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    topics(&state)?.delete_topic(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn subscribe(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let t = topics(&state)?;
    let v = body_json(&body)?;
    let invalid = |m: &str| ApiError(Error::Invalid(m.to_owned()));
    let obj = v.as_object().ok_or_else(|| invalid("the body must be a JSON object"))?;
    for key in obj.keys() {
        if !["endpoint", "filter_policy", "filter_policy_scope", "raw", "retry_schedule"]
            .contains(&key.as_str())
        {
            return Err(invalid(&format!("unknown field {key:?}")));
        }
    }
    let spec = SubscriptionSpec {
        endpoint: obj
            .get("endpoint")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("\"endpoint\" is required"))?
            .to_owned(),
        filter_policy: obj.get("filter_policy").cloned(),
        filter_policy_scope: match obj.get("filter_policy_scope") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid("\"filter_policy_scope\" must be a string")),
        },
        raw: match obj.get("raw") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("\"raw\" must be true or false")),
        },
        retry_schedule: match obj.get("retry_schedule") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value(v.clone())
                    .map_err(|_| invalid("\"retry_schedule\" must be an array of durations"))?,
            ),
        },
        secret: None,
    };
    let s = t.subscribe(&name, spec).await?;
    Ok((StatusCode::CREATED, Json(s)).into_response())
}

pub(super) async fn list_subscriptions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    let list = topics(&state)?.subscriptions(&name).await?;
    Ok(Json(json!({"subscriptions": list})).into_response())
}

pub(super) async fn get_subscription(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult {
    let s = topics(&state)?.subscription(&name, &id).await?;
    Ok(Json(s).into_response())
}

pub(super) async fn unsubscribe(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult {
    topics(&state)?.unsubscribe(&name, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn rotate_secret(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult {
    let s = topics(&state)?.rotate_secret(&name, &id).await?;
    Ok(Json(s).into_response())
}

pub(super) async fn enable(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult {
    let s = topics(&state)?.enable(&name, &id).await?;
    Ok(Json(s).into_response())
}

pub(super) async fn publish(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let t = topics(&state)?;
    match body_json(&body)? {
        // A batch, as SNS's PublishBatch: every message checked, then all committed together.
        Value::Array(items) => {
            let ids = t.publish_batch(&name, Publish::batch_from_json(&items)?).await?;
            let messages: Vec<Value> = ids.iter().map(|id| json!({"message_id": id})).collect();
            Ok((StatusCode::ACCEPTED, Json(json!({"messages": messages}))).into_response())
        }
        one => {
            let id = t.publish(&name, Publish::from_json(&one)?).await?;
            Ok((StatusCode::ACCEPTED, Json(json!({"message_id": id}))).into_response())
        }
    }
}

pub(super) async fn attempts(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let (before, limit) = list_params(&q)?;
    let list = topics(&state)?.attempts(&name, &id, before, limit).await?;
    Ok(Json(json!({"attempts": list.iter().map(attempt_json).collect::<Vec<_>>()})).into_response())
}

pub(super) async fn dead_letters(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let (before, limit) = list_params(&q)?;
    let list = topics(&state)?.dead_letters(&name, before, limit).await?;
    Ok(Json(json!({"dead_letters": list.iter().map(delivery_json).collect::<Vec<_>>()}))
        .into_response())
}

pub(super) async fn replay(
    State(state): State<AppState>,
    Path((name, delivery)): Path<(String, String)>,
) -> ApiResult {
    let t = topics(&state)?;
    let id: i64 = delivery
        .parse()
        .map_err(|_| ApiError(Error::NotFound(format!("delivery {delivery} does not exist"))))?;
    let d = t.replay(&name, id).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery_json(&d))).into_response())
}
