//! The notification interceptor: which operations put a `before` and/or `after` event in
//! the store's outbox, for the topic named in the rule.
//!
//! A `before` event is committed before the operation runs (if it cannot be, the request
//! is refused with a 503 and nothing runs); an `after` event is committed once the
//! operation has produced its response and before that response is sent, so a client that
//! saw the answer knows its event is in the outbox. A request whose handler never
//! completes (the client went away) gets no `after` event.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::pattern::PathPattern;
use crate::request_id::RequestId;
use crate::{error, Identity};

/// The JSON document: `{"rules": [...]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSpec {
    pub rules: Vec<NotificationRule>,
}

/// One rule: matching requests emit events to `topic`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationRule {
    pub path: String,
    /// Method names; `["*"]` (the default) for all.
    #[serde(default)]
    pub methods: Vec<String>,
    pub topic: String,
    /// `before`, `after` or both (`["after"]` when unset).
    #[serde(default)]
    pub phases: Vec<Phase>,
    /// Put the request body in the events.
    #[serde(default)]
    pub request_body: bool,
    /// Put the response body in the `after` event.
    #[serde(default)]
    pub response_body: bool,
}

/// When an event is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Before,
    After,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::After => "after",
        }
    }
}

/// A notification configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid notification rules: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Pattern(#[from] crate::pattern::PatternError),
    #[error("invalid notification rules: {0}")]
    Invalid(String),
}

struct Rule {
    pattern: PathPattern,
    methods: Option<Vec<Method>>,
    spec: NotificationRule,
}

/// The compiled rules, with the store their events go to.
pub struct Notifier {
    rules: Vec<Rule>,
    store: store::Store,
    max_body: usize,
}

impl Notifier {
    /// Parses the JSON rules. Request bodies longer than `max_body` are refused (413) on
    /// the operations whose events carry them.
    pub fn from_json(
        text: &str,
        store: store::Store,
        max_body: usize,
    ) -> Result<Self, ConfigError> {
        let spec: NotificationSpec = serde_json::from_str(text)?;
        let mut rules = Vec::new();
        for mut r in spec.rules {
            let methods = if r.methods.is_empty() || r.methods.iter().any(|m| m == "*") {
                None
            } else {
                let ms = r.methods.iter().map(|m| {
                    Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                        .map_err(|_| ConfigError::Invalid(format!("unknown method {m:?}")))
                });
                Some(ms.collect::<Result<Vec<_>, _>>()?)
            };
            if r.topic.is_empty() {
                return Err(ConfigError::Invalid(format!("{}: empty topic", r.path)));
            }
            if r.phases.is_empty() {
                r.phases.push(Phase::After);
            }
            rules.push(Rule { pattern: PathPattern::parse(&r.path)?, methods, spec: r });
        }
        Ok(Self { rules, store, max_body })
    }
}

/// What every event of one request shares.
struct Context<'a> {
    method: &'a Method,
    path: &'a str,
    identity: Option<Identity>,
    request_id: Option<String>,
    request_body: Option<Value>,
}

fn body_value(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn event(
    cx: &Context<'_>,
    rule: &Rule,
    params: &BTreeMap<String, String>,
    phase: Phase,
    after: Option<(StatusCode, &Option<Value>)>,
) -> store::OutboxRecord {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let mut body = json!({
        "id": id,
        "time": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "phase": phase.as_str(),
        "method": cx.method.as_str(),
        "path": cx.path,
        "pattern": rule.pattern.as_str(),
        "params": params,
        "identity": cx.identity,
        "request_id": cx.request_id,
    });
    let mut attributes = json!({
        "phase": {"Type": "String", "Value": phase.as_str()},
        "method": {"Type": "String", "Value": cx.method.as_str()},
    });
    if let Some((status, response)) = after {
        body["status"] = json!(status.as_u16());
        attributes["status"] = json!({"Type": "Number", "Value": status.as_u16().to_string()});
        if rule.spec.response_body {
            body["response_body"] = response.clone().unwrap_or(Value::Null);
        }
    }
    if rule.spec.request_body {
        body["request_body"] = cx.request_body.clone().unwrap_or(Value::Null);
    }
    store::OutboxRecord {
        seq: 0,
        message_id: id,
        topic: rule.spec.topic.clone(),
        body: body.to_string(),
        attributes: attributes.to_string(),
        subject: None,
        ordering_key: None,
        created_ms: now.timestamp_millis(),
    }
}

/// The layer (inside security, so the caller's identity is known).
pub async fn layer(State(n): State<Arc<Notifier>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let matched: Vec<(&Rule, BTreeMap<String, String>)> = n
        .rules
        .iter()
        .filter(|r| r.methods.as_ref().is_none_or(|ms| ms.contains(&method)))
        .filter_map(|r| r.pattern.matches(&path).map(|p| (r, p)))
        .collect();
    if matched.is_empty() {
        return next.run(req).await;
    }
    let mut cx = Context {
        method: &method,
        path: &path,
        identity: req.extensions().get::<Identity>().cloned(),
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        request_body: None,
    };
    let req = if matched.iter().any(|(r, _)| r.spec.request_body) {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, n.max_body).await else {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge",
                format!("the request body is larger than {} bytes", n.max_body),
            );
        };
        cx.request_body = (!bytes.is_empty()).then(|| body_value(&bytes));
        Request::from_parts(parts, Body::from(bytes))
    } else {
        req
    };
    let before: Vec<store::OutboxRecord> = matched
        .iter()
        .filter(|(r, _)| r.spec.phases.contains(&Phase::Before))
        .map(|(r, p)| event(&cx, r, p, Phase::Before, None))
        .collect();
    if !before.is_empty() {
        if let Err(e) = n.store.publish_batch(&before).await {
            tracing::warn!(error = %e, %path, "cannot record a before event: the request is refused");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "NotificationUnavailable",
                "the operation's event cannot be recorded; try again later",
            );
        }
    }
    let afters: Vec<&(&Rule, BTreeMap<String, String>)> =
        matched.iter().filter(|(r, _)| r.spec.phases.contains(&Phase::After)).collect();
    if afters.is_empty() {
        return next.run(req).await;
    }
    let resp = next.run(req).await;
    let status = resp.status();
    let (resp, response_body) = if afters.iter().any(|(r, _)| r.spec.response_body) {
        let (parts, body) = resp.into_parts();
        match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => {
                let value = (!bytes.is_empty()).then(|| body_value(&bytes));
                (Response::from_parts(parts, Body::from(bytes)), value)
            }
            Err(e) => {
                // The response never completed: no after event.
                tracing::warn!(error = %e, %path, "the response failed: no after event");
                return error(StatusCode::BAD_GATEWAY, "ResponseFailed", "the response failed");
            }
        }
    } else {
        (resp, None)
    };
    let records: Vec<store::OutboxRecord> = afters
        .iter()
        .map(|(r, p)| event(&cx, r, p, Phase::After, Some((status, &response_body))))
        .collect();
    if let Err(e) = n.store.publish_batch(&records).await {
        // The operation happened; refusing now would mislead the client.
        tracing::error!(error = %e, %path, request_id = ?cx.request_id, "cannot record an after event");
    }
    resp
}
