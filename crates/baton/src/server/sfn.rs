//! The Step Functions API: AWS's JSON 1.0 protocol (`POST /`, `X-Amz-Target:
//! AWSStepFunctions.<Action>`), with AWS's request and response shapes and error types.
//!
//! Timestamps are epoch seconds (numbers), as the protocol sends them. Signatures are not
//! checked. This layer parses and shapes; the executor and the store do the work.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use store::{ActivityRecord, MachineRecord};

use super::AppState;

pub(super) const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The actions `handle` dispatches, in its order (for the OpenAPI document; a test keeps
/// the two lists equal).
pub(super) const ACTIONS: &[&str] = &[
    "CreateStateMachine",
    "DescribeStateMachine",
    "UpdateStateMachine",
    "DeleteStateMachine",
    "ListStateMachines",
    "ValidateStateMachineDefinition",
    "StartExecution",
    "StartSyncExecution",
    "StopExecution",
    "DescribeExecution",
    "DescribeStateMachineForExecution",
    "ListExecutions",
    "GetExecutionHistory",
    "RedriveExecution",
    "SendTaskSuccess",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "CreateActivity",
    "DescribeActivity",
    "DeleteActivity",
    "ListActivities",
    "GetActivityTask",
    "PublishStateMachineVersion",
    "ListStateMachineVersions",
    "DeleteStateMachineVersion",
    "CreateStateMachineAlias",
    "DescribeStateMachineAlias",
    "UpdateStateMachineAlias",
    "DeleteStateMachineAlias",
    "ListStateMachineAliases",
    "TestState",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

/// An error as AWS's JSON protocol sends it: `{"__type", "message"}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, kind, message: message.into() }
    }

    fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    fn internal(detail: impl std::fmt::Display) -> Self {
        // The detail goes to the log, never to the client.
        tracing::error!(error = %detail, "internal error serving the Step Functions API");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "InternalServerError",
            message: "Internal error; see the server log".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"__type": self.kind, "message": self.message}).to_string();
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
        r.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(self.kind));
        r
    }
}

impl From<workflows::Error> for ApiError {
    fn from(e: workflows::Error) -> Self {
        use workflows::Error as E;
        match e {
            E::ExecutionDoesNotExist(m) => Self::new("ExecutionDoesNotExist", m),
            E::ExecutionAlreadyExists(m) => Self::new("ExecutionAlreadyExists", m),
            E::InvalidDefinition(m) => Self::new("InvalidDefinition", m),
            E::InvalidToken(m) => Self::new("InvalidToken", m),
            E::TaskDoesNotExist(m) => Self::new("TaskDoesNotExist", m),
            E::TaskTimedOut(m) => Self::new("TaskTimedOut", m),
            E::ExecutionNotRedrivable(m) => Self::new("ExecutionNotRedrivable", m),
            E::ActivityDoesNotExist(m) => Self::new("ActivityDoesNotExist", m),
            E::Validation(m) => Self::validation(m),
            E::Throttled(m) => Self::new("ThrottlingException", m),
            E::ShuttingDown => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                kind: "ServiceUnavailable",
                message: "The node is shutting down; retry".into(),
            },
            e @ (E::Store(_) | E::Internal(_)) => Self::internal(e),
        }
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        Self::internal(e)
    }
}

type ApiResult = Result<Value, ApiError>;

/// `POST /`: dispatches on `X-Amz-Target`.
pub(crate) async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(action) = target.strip_prefix("AWSStepFunctions.") else {
        return ApiError::new(
            "UnknownOperationException",
            format!("Unknown target {target:?}: expected X-Amz-Target: AWSStepFunctions.<Action>"),
        )
        .into_response();
    };
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return ApiError::new(
                    "SerializationException",
                    "The request body must be a JSON object",
                )
                .into_response()
            }
            Err(e) => {
                return ApiError::new(
                    "SerializationException",
                    format!("The request body is not valid JSON: {e}"),
                )
                .into_response()
            }
        }
    };
    let api = Api { state: &state, req: &request };
    let result = match action {
        "CreateStateMachine" => api.create_state_machine().await,
        "DescribeStateMachine" => api.describe_state_machine().await,
        "UpdateStateMachine" => api.update_state_machine().await,
        "DeleteStateMachine" => api.delete_state_machine().await,
        "ListStateMachines" => api.list_state_machines().await,
        "ValidateStateMachineDefinition" => api.validate_definition(),
        "StartExecution" => api.start_execution().await,
        "StartSyncExecution" => api.start_sync_execution().await,
        "StopExecution" => api.stop_execution().await,
        "DescribeExecution" => api.describe_execution().await,
        "DescribeStateMachineForExecution" => api.describe_machine_for_execution().await,
        "ListExecutions" => api.list_executions().await,
        "GetExecutionHistory" => api.get_execution_history().await,
        "RedriveExecution" => api.redrive_execution().await,
        "SendTaskSuccess" => api.send_task_success().await,
        "SendTaskFailure" => api.send_task_failure().await,
        "SendTaskHeartbeat" => api.send_task_heartbeat().await,
        "CreateActivity" => api.create_activity().await,
        "DescribeActivity" => api.describe_activity().await,
        "DeleteActivity" => api.delete_activity().await,
        "ListActivities" => api.list_activities().await,
        "GetActivityTask" => api.get_activity_task().await,
        "PublishStateMachineVersion" => api.publish_version().await,
        "ListStateMachineVersions" => api.list_versions().await,
        "DeleteStateMachineVersion" => api.delete_version().await,
        "CreateStateMachineAlias" => api.create_alias().await,
        "DescribeStateMachineAlias" => api.describe_alias().await,
        "UpdateStateMachineAlias" => api.update_alias().await,
        "DeleteStateMachineAlias" => api.delete_alias().await,
        "ListStateMachineAliases" => api.list_aliases().await,
        "TestState" => api.test_state().await,
        "TagResource" => api.tag_resource().await,
        "UntagResource" => api.untag_resource().await,
        "ListTagsForResource" => api.list_tags().await,
        other => Err(ApiError::new(
            "UnknownOperationException",
            format!("Baton does not implement the action {other}"),
        )),
    };
    match result {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut().insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
            r
        }
        Err(e) => e.into_response(),
    }
}

fn ts(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// Names of state machines, executions and activities: 1 to 80 characters, none of
/// whitespace, brackets, wildcards, the punctuation AWS lists, or control characters.
fn encode_token(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_token(t: &str) -> Result<Value, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ApiError::new("InvalidToken", format!("Invalid Token: '{t}'")))
}

struct Api<'a> {
    state: &'a AppState,
    req: &'a Value,
}

impl Api<'_> {
    fn engine(&self) -> &workflows::Engine {
        &self.state.engine
    }

    fn store(&self) -> &store::Store {
        self.state.engine.store()
    }

    fn opt_str(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.req.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("The field '{field}' must be a string"),
            )),
        }
    }

    fn str(&self, field: &str) -> Result<&str, ApiError> {
        self.opt_str(field)?.ok_or_else(|| {
            ApiError::validation(format!(
                "1 validation error detected: Value null at '{field}' failed to satisfy \
                 constraint: Member must not be null"
            ))
        })
    }

    fn max_results(&self, default: i64) -> Result<i64, ApiError> {
        match self.req.get("maxResults").and_then(Value::as_i64) {
            None | Some(0) => Ok(default),
            Some(n) if (1..=1000).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::validation(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy \
                 constraint: Member must have value less than or equal to 1000"
            ))),
        }
    }

    fn machine_arn(&self, name: &str) -> String {
        self.state.machine_arn(name)
    }

    fn activity_arn(&self, name: &str) -> String {
        let c = &self.state.config;
        format!("arn:aws:states:{}:{}:activity:{name}", c.region, c.account)
    }

    /// Checks that `arn` is a States ARN of the resource type `kind`.
    fn check_arn(arn: &str, kinds: &[&str]) -> Result<(), ApiError> {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() < 7 || parts[0] != "arn" || parts[2] != "states" {
            return Err(ApiError::new("InvalidArn", format!("Invalid Arn: '{arn}'")));
        }
        if !kinds.contains(&parts[5]) {
            return Err(ApiError::new(
                "InvalidArn",
                format!("Invalid Arn: 'Resource type not valid in this context: {}'", parts[5]),
            ));
        }
        Ok(())
    }

    async fn machine(&self, arn: &str) -> Result<MachineRecord, ApiError> {
        Self::check_arn(arn, &["stateMachine"])?;
        self.store().machine(arn).await?.ok_or_else(|| does_not_exist(arn))
    }

    /// A state machine for starting executions: from the short-lived cache when there.
    async fn cached_machine(&self, arn: &str) -> Result<MachineRecord, ApiError> {
        Self::check_arn(arn, &["stateMachine"])?;
        self.state.cached_machine(arn).await?.ok_or_else(|| does_not_exist(arn))
    }

    /// Forgets a cached state machine after this node changed it.
    fn forget_machine(&self, arn: &str) {
        if let Ok(mut cache) = self.state.machines.lock() {
            cache.remove(arn);
        }
    }

    /// What a `stateMachineArn` names: the machine, one of its versions (`...:NAME:3`), or
    /// an alias (`...:NAME:prod`), which picks a version by its routing weights. The record
    /// returned carries the revision that would run.
    async fn target(&self, arn: &str) -> Result<(MachineRecord, workflows::Via), ApiError> {
        Self::check_arn(arn, &["stateMachine"])?;
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() == 7 {
            return Ok((self.cached_machine(arn).await?, workflows::Via::default()));
        }
        let base = parts[..7].join(":");
        let qualifier = parts[7..].join(":");
        let mut via = workflows::Via::default();
        let version_arn = if qualifier.chars().all(|c| c.is_ascii_digit()) {
            arn.to_owned()
        } else {
            let alias = self.store().alias(arn).await?.ok_or_else(|| does_not_exist(arn))?;
            via.alias_arn = Some(alias.arn.clone());
            pick_route(&alias.routing).ok_or_else(|| does_not_exist(arn))?
        };
        let version =
            self.store().version(&version_arn).await?.ok_or_else(|| does_not_exist(arn))?;
        let mut m = self.machine(&base).await?;
        let revision = self.store().revision(&version.revision_id).await?.ok_or_else(|| {
            ApiError::internal(format!("revision {} is missing", version.revision_id))
        })?;
        m.revision_id = revision.id;
        m.definition = revision.definition;
        m.role_arn = revision.role_arn;
        m.description = version.description;
        m.created_ms = version.created_ms;
        via.version_arn = Some(version.arn);
        Ok((m, via))
    }

    async fn execution(&self, arn: &str) -> Result<store::ExecutionRecord, ApiError> {
        Self::check_arn(arn, &["execution", "express"])?;
        self.store().execution(arn).await?.ok_or_else(|| {
            ApiError::new("ExecutionDoesNotExist", format!("Execution Does Not Exist: '{arn}'"))
        })
    }

    fn kind(&self) -> Result<&'static str, ApiError> {
        match self.opt_str("type")? {
            None | Some("STANDARD") => Ok("STANDARD"),
            Some("EXPRESS") => Ok("EXPRESS"),
            Some(other) => Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'type' failed to satisfy \
                 constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
            ))),
        }
    }

    fn check_definition(&self, definition: &str, kind: &str) -> Result<(), ApiError> {
        asl::StateMachine::compile_str(definition, workflows::machine_type(kind))
            .map(|_| ())
            .map_err(|e| ApiError::new("InvalidDefinition", e.cause))
    }

    fn check_role(role: &str) -> Result<(), ApiError> {
        let parts: Vec<&str> = role.split(':').collect();
        if parts.len() < 6 || parts[0] != "arn" || parts[2] != "iam" {
            return Err(ApiError::new("InvalidArn", format!("Invalid Arn: '{role}'")));
        }
        Ok(())
    }

    fn tags_from(v: Option<&Value>) -> Result<Vec<(String, String)>, ApiError> {
        let mut out = Vec::new();
        for t in v.and_then(Value::as_array).into_iter().flatten() {
            let key = t.get("key").and_then(Value::as_str);
            let value = t.get("value").and_then(Value::as_str).unwrap_or("");
            let Some(key) = key else {
                return Err(ApiError::validation("A tag must have a key"));
            };
            out.push((key.to_owned(), value.to_owned()));
        }
        Ok(out)
    }

    fn tags_json(tags: &[(String, String)]) -> String {
        Value::Array(tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect()).to_string()
    }

    // ----- state machines ------------------------------------------------------------------

    async fn create_state_machine(&self) -> ApiResult {
        let name = self.str("name")?;
        let definition = self.str("definition")?;
        let role = self.str("roleArn")?;
        let kind = self.kind()?;
        if !workflows::valid_name(name) {
            return Err(ApiError::new("InvalidName", format!("Invalid Name: '{name}'")));
        }
        Self::check_role(role)?;
        self.check_definition(definition, kind)?;
        let arn = self.machine_arn(name);
        let now = now_ms();
        let record = MachineRecord {
            arn: arn.clone(),
            name: name.to_owned(),
            kind: kind.to_owned(),
            revision_id: uuid::Uuid::new_v4().to_string(),
            definition: definition.to_owned(),
            role_arn: role.to_owned(),
            description: String::new(),
            logging: self
                .req
                .get("loggingConfiguration")
                .cloned()
                .unwrap_or_else(|| json!({"level": "OFF", "includeExecutionData": false}))
                .to_string(),
            tracing: self
                .req
                .get("tracingConfiguration")
                .cloned()
                .unwrap_or_else(|| json!({"enabled": false}))
                .to_string(),
            created_ms: now,
            updated_ms: now,
            tags: Self::tags_json(&Self::tags_from(self.req.get("tags"))?),
        };
        if !self.store().create_machine(&record).await? {
            // The same request again is answered as the first was; a different one conflicts.
            let existing = self.machine(&arn).await?;
            if existing.definition == record.definition
                && existing.role_arn == record.role_arn
                && existing.kind == record.kind
            {
                return Ok(
                    json!({"stateMachineArn": arn, "creationDate": ts(existing.created_ms)}),
                );
            }
            return Err(ApiError::new(
                "StateMachineAlreadyExists",
                format!("State Machine Already Exists: '{arn}'"),
            ));
        }
        let mut out = json!({"stateMachineArn": arn, "creationDate": ts(now)});
        if self.req.get("publish").and_then(Value::as_bool).unwrap_or(false) {
            let description = self.opt_str("versionDescription")?.unwrap_or("");
            let v =
                self.store().publish_version(&arn, &record.revision_id, description, now).await?;
            out["stateMachineVersionArn"] = json!(v.arn);
        }
        Ok(out)
    }

    async fn describe_state_machine(&self) -> ApiResult {
        let arn = self.str("stateMachineArn")?;
        let (m, via) = self.target(arn).await?;
        let mut out = describe_machine(&m);
        if let Some(version) = &via.version_arn {
            out["stateMachineArn"] = json!(version);
            out["description"] = json!(m.description);
        }
        Ok(out)
    }

    async fn update_state_machine(&self) -> ApiResult {
        let mut m = self.machine(self.str("stateMachineArn")?).await?;
        let definition = self.opt_str("definition")?;
        let role = self.opt_str("roleArn")?;
        let logging = self.req.get("loggingConfiguration");
        let tracing_config = self.req.get("tracingConfiguration");
        if definition.is_none() && role.is_none() && logging.is_none() && tracing_config.is_none() {
            return Err(ApiError::new(
                "MissingRequiredParameter",
                "Either the definition, the role ARN, the LoggingConfiguration, or the \
                 TracingConfiguration must be specified",
            ));
        }
        let mut new_revision = false;
        if let Some(d) = definition {
            self.check_definition(d, &m.kind)?;
            new_revision |= d != m.definition;
            m.definition = d.to_owned();
        }
        if let Some(r) = role {
            Self::check_role(r)?;
            new_revision |= r != m.role_arn;
            m.role_arn = r.to_owned();
        }
        if let Some(l) = logging {
            m.logging = l.to_string();
        }
        if let Some(t) = tracing_config {
            m.tracing = t.to_string();
        }
        if new_revision {
            m.revision_id = uuid::Uuid::new_v4().to_string();
        }
        m.updated_ms = now_ms();
        self.forget_machine(&m.arn);
        if !self.store().update_machine(&m, new_revision).await? {
            return Err(ApiError::new(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{}'", m.arn),
            ));
        }
        let mut out = json!({"updateDate": ts(m.updated_ms), "revisionId": m.revision_id});
        if self.req.get("publish").and_then(Value::as_bool).unwrap_or(false) {
            let description = self.opt_str("versionDescription")?.unwrap_or("");
            let v = self
                .store()
                .publish_version(&m.arn, &m.revision_id, description, m.updated_ms)
                .await?;
            out["stateMachineVersionArn"] = json!(v.arn);
        }
        Ok(out)
    }

    async fn delete_state_machine(&self) -> ApiResult {
        let arn = self.str("stateMachineArn")?;
        Self::check_arn(arn, &["stateMachine"])?;
        self.forget_machine(arn);
        self.store().delete_machine(arn).await?;
        Ok(json!({}))
    }

    async fn list_state_machines(&self) -> ApiResult {
        let limit = self.max_results(100)?;
        let after = match self.opt_str("nextToken")? {
            Some(t) => decode_token(t)?.get("after").and_then(Value::as_str).map(str::to_owned),
            None => None,
        };
        let (rows, more) = page(self.store().machines(after.as_deref(), limit + 1).await?, limit);
        let list: Vec<Value> = rows
            .iter()
            .map(|m| {
                json!({"stateMachineArn": m.arn, "name": m.name, "type": m.kind,
                       "creationDate": ts(m.created_ms)})
            })
            .collect();
        let mut out = json!({"stateMachines": list});
        if let (true, Some(last)) = (more, rows.last()) {
            out["nextToken"] = json!(encode_token(&json!({"after": last.arn})));
        }
        Ok(out)
    }

    fn validate_definition(&self) -> ApiResult {
        let definition = self.str("definition")?;
        let kind = workflows::machine_type(self.kind()?);
        Ok(asl::validate::validate_response(definition, kind))
    }

    // ----- executions ----------------------------------------------------------------------

    fn execution_input(&self) -> Result<String, ApiError> {
        let input = self.opt_str("input")?.unwrap_or("{}");
        let max = self.state.config.limits.max_payload_bytes;
        if input.len() > max {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value at 'input' failed to satisfy constraint: \
                 Member must have length less than or equal to {max}"
            )));
        }
        if serde_json::from_str::<Value>(input).is_err() {
            return Err(ApiError::new(
                "InvalidExecutionInput",
                format!("Invalid State Machine Execution Input: '{input}'"),
            ));
        }
        Ok(input.to_owned())
    }

    fn execution_name(&self) -> Result<Option<String>, ApiError> {
        match self.opt_str("name")? {
            Some(n) if !workflows::valid_name(n) => {
                Err(ApiError::new("InvalidName", format!("Invalid Name: '{n}'")))
            }
            n => Ok(n.map(str::to_owned)),
        }
    }

    async fn start_execution(&self) -> ApiResult {
        let (m, via) = self.target(self.str("stateMachineArn")?).await?;
        let input = self.execution_input()?;
        let name = self.execution_name()?;
        let started = if m.kind == "EXPRESS" {
            let value = serde_json::from_str(&input).unwrap_or(Value::Null);
            self.engine().start_express(&m, name, value)?
        } else {
            self.engine().start_execution_via(&m, name, input, via).await?
        };
        Ok(json!({"executionArn": started.execution_arn, "startDate": ts(started.start_ms)}))
    }

    async fn start_sync_execution(&self) -> ApiResult {
        let (m, _) = self.target(self.str("stateMachineArn")?).await?;
        if m.kind != "EXPRESS" {
            return Err(ApiError::new(
                "StateMachineTypeNotSupported",
                "This operation is not supported by this type of state machine",
            ));
        }
        let input = self.execution_input()?;
        let name = self.execution_name()?;
        let value: Value = serde_json::from_str(&input).unwrap_or(Value::Null);
        let run = self.engine().start_sync(&m, name, value).await?;
        let mut out = json!({
            "executionArn": run.execution_arn,
            "stateMachineArn": run.state_machine_arn,
            "name": run.name,
            "startDate": ts(run.start_ms),
            "stopDate": ts(run.stop_ms),
            "status": run.status,
            "input": input,
            "inputDetails": {"included": true},
            "billingDetails": {
                "billedMemoryUsedInMB": 64,
                "billedDurationInMilliseconds": (run.stop_ms - run.start_ms).max(100),
            },
        });
        if let Some(o) = &run.output {
            out["output"] = json!(o.to_string());
            out["outputDetails"] = json!({"included": true});
        }
        if let Some(e) = &run.error {
            out["error"] = json!(e);
        }
        if let Some(c) = &run.cause {
            out["cause"] = json!(c);
        }
        Ok(out)
    }

    async fn stop_execution(&self) -> ApiResult {
        let arn = self.str("executionArn")?;
        Self::check_arn(arn, &["execution"])?;
        let error = self.opt_str("error")?.map(str::to_owned);
        let cause = self.opt_str("cause")?.map(str::to_owned);
        let stop = self.engine().stop_execution(arn, error, cause).await?;
        Ok(json!({"stopDate": ts(stop)}))
    }

    async fn describe_execution(&self) -> ApiResult {
        let e = self.execution(self.str("executionArn")?).await?;
        let mut out = json!({
            "executionArn": e.arn,
            "stateMachineArn": e.machine_arn,
            "name": e.name,
            "status": e.status,
            "startDate": ts(e.start_ms),
            "input": e.input,
            "inputDetails": {"included": true},
            "redriveCount": e.redrive_count,
        });
        if let Some(s) = e.stop_ms {
            out["stopDate"] = ts(s);
        }
        if let Some(o) = &e.output {
            out["output"] = json!(o);
            out["outputDetails"] = json!({"included": true});
        }
        if let Some(x) = &e.error {
            out["error"] = json!(x);
        }
        if let Some(x) = &e.cause {
            out["cause"] = json!(x);
        }
        if let Some(v) = &e.version_arn {
            out["stateMachineVersionArn"] = json!(v);
        }
        if let Some(a) = &e.alias_arn {
            out["stateMachineAliasArn"] = json!(a);
        }
        let (status, reason) = match e.status.as_str() {
            "RUNNING" => ("NOT_REDRIVABLE", "Execution is RUNNING and cannot be redriven"),
            "SUCCEEDED" => ("NOT_REDRIVABLE", "Execution is SUCCEEDED and cannot be redriven"),
            _ => ("REDRIVABLE", ""),
        };
        out["redriveStatus"] = json!(status);
        if !reason.is_empty() {
            out["redriveStatusReason"] = json!(reason);
        }
        Ok(out)
    }

    async fn describe_machine_for_execution(&self) -> ApiResult {
        let e = self.execution(self.str("executionArn")?).await?;
        let revision =
            self.store().revision(&e.revision_id).await?.ok_or_else(|| {
                ApiError::internal(format!("revision {} is missing", e.revision_id))
            })?;
        let machine = self.store().machine(&e.machine_arn).await?;
        let name = e.machine_arn.rsplit(':').next().unwrap_or_default();
        let mut out = json!({
            "stateMachineArn": e.machine_arn,
            "name": name,
            "definition": revision.definition,
            "roleArn": revision.role_arn,
            "updateDate": ts(revision.created_ms),
            "revisionId": revision.id,
        });
        if let Some(m) = machine {
            out["loggingConfiguration"] = serde_json::from_str(&m.logging).unwrap_or(Value::Null);
            out["tracingConfiguration"] = serde_json::from_str(&m.tracing).unwrap_or(Value::Null);
        }
        Ok(out)
    }

    async fn list_executions(&self) -> ApiResult {
        let m = self.machine(self.str("stateMachineArn")?).await?;
        if m.kind == "EXPRESS" {
            return Err(ApiError::new(
                "StateMachineTypeNotSupported",
                "This operation is not supported by this type of state machine",
            ));
        }
        let status = self.opt_str("statusFilter")?;
        if let Some(s) = status {
            if !["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
                .contains(&s)
            {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{s}' at 'statusFilter' failed to \
                     satisfy constraint: Member must satisfy enum value set: [SUCCEEDED, \
                     TIMED_OUT, PENDING_REDRIVE, ABORTED, FAILED, RUNNING]"
                )));
            }
        }
        let limit = self.max_results(100)?;
        let after = match self.opt_str("nextToken")? {
            Some(t) => {
                let v = decode_token(t)?;
                match (v.get("ms").and_then(Value::as_i64), v.get("arn").and_then(Value::as_str)) {
                    (Some(ms), Some(arn)) => Some((ms, arn.to_owned())),
                    _ => {
                        return Err(ApiError::new("InvalidToken", format!("Invalid Token: '{t}'")))
                    }
                }
            }
            None => None,
        };
        let (rows, more) = page(
            self.store()
                .executions(
                    &m.arn,
                    status,
                    after.as_ref().map(|(ms, a)| (*ms, a.as_str())),
                    limit + 1,
                )
                .await?,
            limit,
        );
        let list: Vec<Value> = rows
            .iter()
            .map(|e| {
                let mut x = json!({
                    "executionArn": e.arn, "stateMachineArn": e.machine_arn, "name": e.name,
                    "status": e.status, "startDate": ts(e.start_ms), "redriveCount": e.redrive_count,
                });
                if let Some(s) = e.stop_ms {
                    x["stopDate"] = ts(s);
                }
                x
            })
            .collect();
        let mut out = json!({"executions": list});
        if let (true, Some(last)) = (more, rows.last()) {
            out["nextToken"] = json!(encode_token(&json!({"ms": last.start_ms, "arn": last.arn})));
        }
        Ok(out)
    }

    async fn get_execution_history(&self) -> ApiResult {
        let e = self.execution(self.str("executionArn")?).await?;
        let limit = self.max_results(100)? as usize;
        let reverse = self.req.get("reverseOrder").and_then(Value::as_bool).unwrap_or(false);
        let include = self.req.get("includeExecutionData").and_then(Value::as_bool).unwrap_or(true);
        let offset = match self.opt_str("nextToken")? {
            Some(t) => decode_token(t)?.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize,
            None => 0,
        };
        let events = self.engine().history(&e.arn).await?;
        let total = events.len();
        let ordered: Box<dyn Iterator<Item = &Value>> =
            if reverse { Box::new(events.iter().rev()) } else { Box::new(events.iter()) };
        let page: Vec<Value> = ordered
            .skip(offset)
            .take(limit)
            .cloned()
            .map(|mut ev| {
                if !include {
                    strip_data(&mut ev);
                }
                ev
            })
            .collect();
        let mut out = json!({"events": page});
        if offset + limit < total {
            out["nextToken"] = json!(encode_token(&json!({"offset": offset + limit})));
        }
        Ok(out)
    }

    async fn redrive_execution(&self) -> ApiResult {
        let arn = self.str("executionArn")?;
        Self::check_arn(arn, &["execution"])?;
        let at = self.engine().redrive(arn).await?;
        Ok(json!({"redriveDate": ts(at)}))
    }

    // ----- tasks ---------------------------------------------------------------------------

    async fn send_task_success(&self) -> ApiResult {
        let token = self.str("taskToken")?;
        let output = self.str("output")?;
        let output: Value = serde_json::from_str(output)
            .map_err(|_| ApiError::new("InvalidOutput", format!("Invalid Output: '{output}'")))?;
        self.engine().send_task(token, workflows::TaskReport::Success(output)).await?;
        Ok(json!({}))
    }

    async fn send_task_failure(&self) -> ApiResult {
        let token = self.str("taskToken")?;
        let error = self.opt_str("error")?.map(str::to_owned);
        let cause = self.opt_str("cause")?.map(str::to_owned);
        self.engine().send_task(token, workflows::TaskReport::Failure { error, cause }).await?;
        Ok(json!({}))
    }

    async fn send_task_heartbeat(&self) -> ApiResult {
        let token = self.str("taskToken")?;
        self.engine().send_task(token, workflows::TaskReport::Heartbeat).await?;
        Ok(json!({}))
    }

    // ----- activities ----------------------------------------------------------------------

    async fn create_activity(&self) -> ApiResult {
        let name = self.str("name")?;
        if !workflows::valid_name(name) {
            return Err(ApiError::new("InvalidName", format!("Invalid Name: '{name}'")));
        }
        let record = ActivityRecord {
            arn: self.activity_arn(name),
            name: name.to_owned(),
            created_ms: now_ms(),
            tags: Self::tags_json(&Self::tags_from(self.req.get("tags"))?),
        };
        let a = self.store().create_activity(&record).await?;
        Ok(json!({"activityArn": a.arn, "creationDate": ts(a.created_ms)}))
    }

    async fn activity(&self) -> Result<ActivityRecord, ApiError> {
        let arn = self.str("activityArn")?;
        Self::check_arn(arn, &["activity"])?;
        self.store().activity(arn).await?.ok_or_else(|| {
            ApiError::new("ActivityDoesNotExist", format!("Activity Does Not Exist: '{arn}'"))
        })
    }

    async fn describe_activity(&self) -> ApiResult {
        let a = self.activity().await?;
        Ok(json!({"activityArn": a.arn, "name": a.name, "creationDate": ts(a.created_ms)}))
    }

    async fn delete_activity(&self) -> ApiResult {
        let arn = self.str("activityArn")?;
        Self::check_arn(arn, &["activity"])?;
        self.store().delete_activity(arn).await?;
        Ok(json!({}))
    }

    async fn list_activities(&self) -> ApiResult {
        let limit = self.max_results(100)?;
        let after = match self.opt_str("nextToken")? {
            Some(t) => decode_token(t)?.get("after").and_then(Value::as_str).map(str::to_owned),
            None => None,
        };
        let (rows, more) = page(self.store().activities(after.as_deref(), limit + 1).await?, limit);
        let list: Vec<Value> = rows
            .iter()
            .map(
                |a| json!({"activityArn": a.arn, "name": a.name, "creationDate": ts(a.created_ms)}),
            )
            .collect();
        let mut out = json!({"activities": list});
        if let (true, Some(last)) = (more, rows.last()) {
            out["nextToken"] = json!(encode_token(&json!({"after": last.arn})));
        }
        Ok(out)
    }

    async fn get_activity_task(&self) -> ApiResult {
        let arn = self.str("activityArn")?;
        Self::check_arn(arn, &["activity"])?;
        let worker = self.opt_str("workerName")?.unwrap_or("worker");
        let task = self.engine().get_activity_task(arn, worker, Duration::from_secs(60)).await?;
        Ok(match task {
            Some((token, input)) => json!({"taskToken": token, "input": input}),
            None => json!({}),
        })
    }

    // ----- TestState -----------------------------------------------------------------------

    async fn test_state(&self) -> ApiResult {
        let definition = self.str("definition")?;
        let state: Value = serde_json::from_str(definition).map_err(|e| {
            ApiError::new(
                "InvalidDefinition",
                format!("Invalid State Machine Definition: 'the state is not valid JSON: {e}'"),
            )
        })?;
        let input = self.opt_str("input")?.unwrap_or("{}");
        let input: Value = serde_json::from_str(input).map_err(|_| {
            ApiError::new("InvalidExecutionInput", format!("Invalid input: '{input}'"))
        })?;
        let role = self
            .opt_str("roleArn")?
            .map(str::to_owned)
            .unwrap_or_else(|| format!("arn:aws:iam::{}:role/baton", self.state.config.account));
        let r = self.engine().test_state(&state, input, &role).await?;
        let mut out = json!({"status": r.status});
        if let Some(o) = &r.output {
            out["output"] = json!(o.to_string());
        }
        if let Some(e) = &r.error {
            out["error"] = json!(e);
        }
        if let Some(c) = &r.cause {
            out["cause"] = json!(c);
        }
        if let Some(n) = &r.next_state {
            out["nextState"] = json!(n);
        }
        if matches!(self.opt_str("inspectionLevel")?, Some("DEBUG" | "TRACE")) {
            out["inspectionData"] = r.inspection;
        }
        Ok(out)
    }

    // ----- versions and aliases ------------------------------------------------------------

    async fn publish_version(&self) -> ApiResult {
        let m = self.machine(self.str("stateMachineArn")?).await?;
        if let Some(expected) = self.opt_str("revisionId")? {
            if expected != m.revision_id {
                return Err(ApiError::new(
                    "ConflictException",
                    format!(
                        "Failed to publish the State Machine version for revision {expected}. \
                         The current State Machine revision is {}.",
                        m.revision_id
                    ),
                ));
            }
        }
        let description = self.opt_str("description")?.unwrap_or("");
        let v = self.store().publish_version(&m.arn, &m.revision_id, description, now_ms()).await?;
        Ok(json!({"stateMachineVersionArn": v.arn, "creationDate": ts(v.created_ms)}))
    }

    async fn list_versions(&self) -> ApiResult {
        let m = self.machine(self.str("stateMachineArn")?).await?;
        let limit = self.max_results(100)?;
        let before = match self.opt_str("nextToken")? {
            Some(t) => decode_token(t)?.get("before").and_then(Value::as_i64),
            None => None,
        };
        let (rows, more) = page(self.store().versions(&m.arn, before, limit + 1).await?, limit);
        let list: Vec<Value> = rows
            .iter()
            .map(|v| json!({"stateMachineVersionArn": v.arn, "creationDate": ts(v.created_ms)}))
            .collect();
        let mut out = json!({"stateMachineVersions": list});
        if let (true, Some(last)) = (more, rows.last()) {
            out["nextToken"] = json!(encode_token(&json!({"before": last.version})));
        }
        Ok(out)
    }

    async fn delete_version(&self) -> ApiResult {
        let arn = self.str("stateMachineVersionArn")?;
        Self::check_arn(arn, &["stateMachine"])?;
        let base: String = arn.split(':').take(7).collect::<Vec<_>>().join(":");
        for alias in self.store().aliases(&base).await? {
            if alias.routing.contains(&format!("\"{arn}\"")) {
                return Err(ApiError::new(
                    "ConflictException",
                    format!(
                        "Version to be deleted must not be referenced by an alias. Current list \
                         of aliases referencing this version: [{}]",
                        alias.name
                    ),
                ));
            }
        }
        self.store().delete_version(arn).await?;
        Ok(json!({}))
    }

    /// Reads and checks `routingConfiguration`: one or two versions of one machine whose
    /// weights add up to 100.
    async fn routing(&self) -> Result<(String, Value), ApiError> {
        let Some(Value::Array(routes)) = self.req.get("routingConfiguration") else {
            return Err(ApiError::validation("routingConfiguration must list 1 or 2 versions"));
        };
        if routes.is_empty() || routes.len() > 2 {
            return Err(ApiError::validation("routingConfiguration must list 1 or 2 versions"));
        }
        let mut machine = None;
        let mut total = 0;
        for r in routes {
            let (Some(v), Some(w)) = (
                r.get("stateMachineVersionArn").and_then(Value::as_str),
                r.get("weight").and_then(Value::as_i64),
            ) else {
                return Err(ApiError::validation(
                    "each route needs a stateMachineVersionArn and a weight",
                ));
            };
            let version = self.store().version(v).await?.ok_or_else(|| {
                ApiError::new("ResourceNotFound", format!("Resource not found: '{v}'"))
            })?;
            if machine.get_or_insert(version.machine_arn.clone()) != &version.machine_arn {
                return Err(ApiError::validation(
                    "the routed versions must be of one state machine",
                ));
            }
            total += w;
        }
        if total != 100 {
            return Err(ApiError::validation("the routing weights must add up to 100"));
        }
        Ok((machine.unwrap_or_default(), Value::Array(routes.clone())))
    }

    async fn create_alias(&self) -> ApiResult {
        let name = self.str("name")?;
        if !workflows::valid_name(name) || name.chars().all(|c| c.is_ascii_digit()) {
            return Err(ApiError::new("InvalidName", format!("Invalid Name: '{name}'")));
        }
        let (machine, routing) = self.routing().await?;
        let now = now_ms();
        let alias = store::AliasRecord {
            arn: format!("{machine}:{name}"),
            machine_arn: machine,
            name: name.to_owned(),
            description: self.opt_str("description")?.unwrap_or("").to_owned(),
            routing: routing.to_string(),
            created_ms: now,
            updated_ms: now,
        };
        if !self.store().create_alias(&alias).await? {
            let existing = self.store().alias(&alias.arn).await?;
            match existing {
                Some(e) if e.routing == alias.routing && e.description == alias.description => {
                    return Ok(
                        json!({"stateMachineAliasArn": e.arn, "creationDate": ts(e.created_ms)}),
                    );
                }
                _ => {
                    return Err(ApiError::new(
                        "ConflictException",
                        format!("Alias already exists: '{}'", alias.arn),
                    ))
                }
            }
        }
        Ok(json!({"stateMachineAliasArn": alias.arn, "creationDate": ts(now)}))
    }

    async fn alias_record(&self) -> Result<store::AliasRecord, ApiError> {
        let arn = self.str("stateMachineAliasArn")?;
        Self::check_arn(arn, &["stateMachine"])?;
        self.store().alias(arn).await?.ok_or_else(|| {
            ApiError::new("ResourceNotFound", format!("Resource not found: '{arn}'"))
        })
    }

    async fn describe_alias(&self) -> ApiResult {
        let a = self.alias_record().await?;
        Ok(json!({
            "stateMachineAliasArn": a.arn,
            "name": a.name,
            "description": a.description,
            "routingConfiguration": serde_json::from_str::<Value>(&a.routing).unwrap_or_default(),
            "creationDate": ts(a.created_ms),
            "updateDate": ts(a.updated_ms),
        }))
    }

    async fn update_alias(&self) -> ApiResult {
        let mut a = self.alias_record().await?;
        if let Some(d) = self.opt_str("description")? {
            a.description = d.to_owned();
        }
        if self.req.get("routingConfiguration").is_some() {
            let (machine, routing) = self.routing().await?;
            if machine != a.machine_arn {
                return Err(ApiError::validation(
                    "the routed versions must be of the alias's machine",
                ));
            }
            a.routing = routing.to_string();
        }
        a.updated_ms = now_ms();
        self.store().update_alias(&a).await?;
        Ok(json!({"updateDate": ts(a.updated_ms)}))
    }

    async fn delete_alias(&self) -> ApiResult {
        let a = self.alias_record().await?;
        self.store().delete_alias(&a.arn).await?;
        Ok(json!({}))
    }

    async fn list_aliases(&self) -> ApiResult {
        let m = self.machine(self.str("stateMachineArn")?).await?;
        let list: Vec<Value> = self
            .store()
            .aliases(&m.arn)
            .await?
            .iter()
            .map(|a| json!({"stateMachineAliasArn": a.arn, "creationDate": ts(a.created_ms)}))
            .collect();
        Ok(json!({"stateMachineAliases": list}))
    }

    // ----- tags ----------------------------------------------------------------------------

    async fn current_tags(&self, arn: &str) -> Result<Vec<(String, String)>, ApiError> {
        let tags = if let Some(m) = self.store().machine(arn).await? {
            m.tags
        } else if let Some(a) = self.store().activity(arn).await? {
            a.tags
        } else {
            return Err(ApiError::new("ResourceNotFound", format!("Resource not found: '{arn}'")));
        };
        let v: Value = serde_json::from_str(&tags).unwrap_or(Value::Array(vec![]));
        Self::tags_from(Some(&v))
    }

    async fn tag_resource(&self) -> ApiResult {
        let arn = self.str("resourceArn")?;
        let mut tags = self.current_tags(arn).await?;
        for (k, v) in Self::tags_from(self.req.get("tags"))? {
            tags.retain(|t| t.0 != k);
            tags.push((k, v));
        }
        self.store().set_tags(arn, &Self::tags_json(&tags)).await?;
        Ok(json!({}))
    }

    async fn untag_resource(&self) -> ApiResult {
        let arn = self.str("resourceArn")?;
        let mut tags = self.current_tags(arn).await?;
        let keys: Vec<&str> = self
            .req
            .get("tagKeys")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        tags.retain(|t| !keys.contains(&t.0.as_str()));
        self.store().set_tags(arn, &Self::tags_json(&tags)).await?;
        Ok(json!({}))
    }

    async fn list_tags(&self) -> ApiResult {
        let arn = self.str("resourceArn")?;
        let tags = self.current_tags(arn).await?;
        Ok(
            json!({"tags": serde_json::from_str::<Value>(&Self::tags_json(&tags)).unwrap_or_default()}),
        )
    }
}

fn does_not_exist(arn: &str) -> ApiError {
    ApiError::new("StateMachineDoesNotExist", format!("State Machine Does Not Exist: '{arn}'"))
}

/// Picks a version from an alias's routing, by weight.
fn pick_route(routing: &str) -> Option<String> {
    let routes: Vec<Value> = serde_json::from_str(routing).ok()?;
    let roll = (uuid::Uuid::new_v4().as_u128() % 100) as i64;
    let mut acc = 0;
    for r in &routes {
        acc += r.get("weight").and_then(Value::as_i64).unwrap_or(0);
        if roll < acc {
            return r.get("stateMachineVersionArn").and_then(Value::as_str).map(str::to_owned);
        }
    }
    routes.last()?.get("stateMachineVersionArn").and_then(Value::as_str).map(str::to_owned)
}

fn describe_machine(m: &MachineRecord) -> Value {
    json!({
        "stateMachineArn": m.arn,
        "name": m.name,
        "status": "ACTIVE",
        "definition": m.definition,
        "roleArn": m.role_arn,
        "type": m.kind,
        "creationDate": ts(m.created_ms),
        "loggingConfiguration": serde_json::from_str::<Value>(&m.logging).unwrap_or_default(),
        "tracingConfiguration": serde_json::from_str::<Value>(&m.tracing).unwrap_or_default(),
        "revisionId": m.revision_id,
    })
}

/// GetExecutionHistory with `includeExecutionData: false`: no inputs, outputs or variables.
fn strip_data(event: &mut Value) {
    if let Value::Object(o) = event {
        for (k, v) in o.iter_mut() {
            if k.ends_with("EventDetails") {
                if let Value::Object(d) = v {
                    strip_fields(d);
                }
            }
        }
    }
}

fn strip_fields(d: &mut Map<String, Value>) {
    for k in ["input", "output", "parameters", "assignedVariables"] {
        d.remove(k);
    }
}

use workflows::now_ms;

/// One page of a listing read with `limit + 1` rows: the page, and whether more follow.
fn page<T>(mut rows: Vec<T>, limit: i64) -> (Vec<T>, bool) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    (rows, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_list_is_what_handle_dispatches() {
        let source = include_str!("sfn.rs");
        let dispatched: Vec<&str> = source
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split_once("\" => api.").map(|(a, _)| a))
            .collect();
        assert_eq!(dispatched, ACTIONS);
    }

    #[test]
    fn page_tokens_round_trip() {
        let v = json!({"offset": 100});
        assert_eq!(decode_token(&encode_token(&v)).unwrap(), v);
        assert!(decode_token("%%%").is_err());
    }
}
