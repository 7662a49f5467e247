//! `GET /openapi.json`: an OpenAPI 3.1 description of what this `baton up` serves, built
//! once at start from the configuration.
//!
//! - Each resource collection: `/NAME` (list, create) and `/NAME/{id}` (read, head,
//!   replace, patch, delete) with the conditional headers, the condition-expression
//!   headers, and every answer with its `{"code", "message"}` error body. A collection's
//!   JSON Schema is its component schema (`#/components/schemas/NAME`), with the schema's
//!   own `#...` references moved under that component so they resolve in this document.
//! - Baton's own APIs: the Step Functions JSON protocol at `POST /`, the Lambda API, the
//!   topics API, `/health`, `/metrics` and this document.
//! - Operations of other parts (the gateway's routes, as they land) through
//!   [`ExtraOperation`]: `document` takes them, [`add_operations`] writes them.
//!
//! **Invariant:** every `$ref` the document holds points inside it.

use serde_json::{json, Map, Value};

use super::resources::{
    CollectionInfo, Resources, CONDITION_EXPRESSION, CONDITION_NAMES, CONDITION_VALUES,
    DEFAULT_LIMIT, MAX_LIMIT,
};
use super::sfn;
use crate::config::Config;

/// An operation described only by its path, methods and a summary: what the gateway's
/// routes need. `path` is in OpenAPI form (`/orders/{id}`); each `{param}` becomes a
/// path parameter.
#[derive(Debug, Clone)]
pub(crate) struct ExtraOperation {
    pub(crate) path: String,
    /// HTTP methods, any case (`GET`, `post`).
    pub(crate) methods: Vec<String>,
    pub(crate) summary: String,
}

impl ExtraOperation {
    /// A gateway route, when OpenAPI can say its path: patterns with `*` or `**` match more
    /// than a path template can, so they are left out.
    pub(crate) fn from_route(route: &gateway::routes::Route) -> Option<Self> {
        let path = route.pattern.as_str();
        if path.contains('*') {
            return None;
        }
        let methods = match &route.methods {
            Some(ms) => ms.iter().map(|m| m.as_str().to_owned()).collect(),
            None => ["GET", "POST", "PUT", "PATCH", "DELETE"].map(str::to_owned).to_vec(),
        };
        Some(Self {
            path: path.to_owned(),
            methods,
            summary: format!("Gateway route to {}", route.target.describe()),
        })
    }
}

/// The document: Baton's own APIs, the collections of `resources`, then `extra`.
pub(crate) fn document(config: &Config, resources: &Resources, extra: &[ExtraOperation]) -> Value {
    let mut paths = Map::new();
    let mut schemas = shared_schemas();
    native_paths(config, &mut paths);
    for c in resources.describe() {
        collection(&c, &mut paths, &mut schemas);
    }
    add_operations(&mut paths, extra);
    let mut tags = vec![
        json!({"name": "resources", "description": "REST collections of JSON documents"}),
        json!({"name": "stepfunctions", "description": "The AWS Step Functions API"}),
        json!({"name": "lambda", "description": "The Lambda API of the declared functions"}),
        json!({"name": "topics", "description": "Topics, subscriptions and webhooks"}),
        json!({"name": "operations", "description": "Health, metrics and this document"}),
    ];
    if !extra.is_empty() {
        tags.push(json!({"name": "routes", "description": "The gateway's routes"}));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Baton",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The APIs of this `baton up`: its resource collections, the Step \
                Functions API, the Lambda API of its functions, topics and webhooks, health \
                and metrics.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": shared_parameters(),
            "headers": shared_headers(),
            "responses": shared_responses(),
        },
    })
}

/// Writes `operations` into `paths`: one operation per method, with a path parameter for
/// each `{param}` of the path. An operation already there (a method of a path Baton
/// serves) is kept.
pub(crate) fn add_operations(paths: &mut Map<String, Value>, operations: &[ExtraOperation]) {
    for op in operations {
        let parameters: Vec<Value> = path_parameters(&op.path)
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        let item = paths.entry(op.path.clone()).or_insert_with(|| json!({}));
        let Some(item) = item.as_object_mut() else { continue };
        for method in &op.methods {
            let method = method.to_ascii_lowercase();
            if item.contains_key(&method) {
                continue;
            }
            let mut operation = json!({
                "tags": ["routes"],
                "summary": op.summary,
                "responses": {"default": {"description": "The route's answer"}},
            });
            if !parameters.is_empty() {
                operation["parameters"] = Value::Array(parameters.clone());
            }
            item.insert(method, operation);
        }
    }
}

/// The names of a path's `{param}` segments.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
}

/// `#/components/schemas/NAME`.
fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn parameter_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

fn response_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

/// A JSON body of this schema.
fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// An answer with a JSON body.
fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": json_content(schema)})
}

/// `x-condition-expression` as `X-Condition-Expression`.
fn header_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn shared_schemas() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "Error".into(),
        json!({
            "type": "object",
            "description": "An error: a stable code and a message. Some carry more members \
                (`violations` for schema_violation, `condition`, `failed` and `span` for \
                condition_failed, `operation` for a patch that cannot apply).",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
            },
        }),
    );
    m.insert(
        "JsonPatch".into(),
        json!({
            "type": "array",
            "description": "RFC 6902 JSON Patch, applied atomically.",
            "items": {
                "type": "object",
                "required": ["op", "path"],
                "properties": {
                    "op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
                    "path": {"type": "string"},
                    "from": {"type": "string"},
                    "value": {},
                },
            },
        }),
    );
    m.insert(
        "MergePatch".into(),
        json!({
            "type": "object",
            "description": "RFC 7396 JSON Merge Patch: members to set, null to remove.",
        }),
    );
    m.insert(
        "AwsError".into(),
        json!({
            "type": "object",
            "description": "An error of the AWS JSON protocols; X-Amzn-ErrorType names it too.",
            "required": ["__type", "message"],
            "properties": {"__type": {"type": "string"}, "message": {"type": "string"}},
        }),
    );
    m.insert(
        "LambdaError".into(),
        json!({
            "type": "object",
            "description": "A Lambda API error; X-Amzn-ErrorType names it \
                (ResourceNotFoundException, TooManyRequestsException, ...).",
            "required": ["message"],
            "properties": {
                "Type": {"type": "string"},
                "message": {"type": "string"},
                "Reason": {"type": "string"},
            },
        }),
    );
    m.insert(
        "Topic".into(),
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "arn": {"type": "string"},
                "created_ms": {"type": "integer"},
            },
        }),
    );
    m.insert(
        "SubscriptionRequest".into(),
        json!({
            "type": "object",
            "required": ["endpoint"],
            "additionalProperties": false,
            "properties": {
                "endpoint": {
                    "type": "string",
                    "description": "A webhook URL, function:NAME, a Lambda function ARN or a \
                        state machine ARN",
                },
                "filter_policy": {"type": "object"},
                "filter_policy_scope": {"enum": ["MessageAttributes", "MessageBody"]},
                "raw": {"type": "boolean"},
                "retry_schedule": {"type": "array", "items": {"type": "string"}},
            },
        }),
    );
    m.insert(
        "Subscription".into(),
        json!({
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "topic": {"type": "string"},
                "endpoint": {"type": "string"},
                "filter_policy": {"type": "object"},
                "filter_policy_scope": {"type": "string"},
                "raw": {"type": "boolean"},
                "retry_schedule": {"type": "array", "items": {"type": "string"}},
                "status": {"enum": ["active", "disabled"]},
                "created_ms": {"type": "integer"},
                "secret": {
                    "type": "string",
                    "description": "The signing secret (whsec_...), only when it is made",
                },
            },
        }),
    );
    m.insert(
        "Publish".into(),
        json!({
            "type": "object",
            "required": ["message"],
            "additionalProperties": false,
            "properties": {
                "message": {"description": "Any JSON value"},
                "subject": {"type": "string"},
                "attributes": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["Type", "Value"],
                        "properties": {
                            "Type": {"enum": ["String", "Number", "String.Array", "Binary"]},
                            "Value": {"type": "string"},
                        },
                    },
                },
                "ordering_key": {"type": "string"},
                "id": {"type": "string"},
            },
        }),
    );
    m.insert(
        "Delivery".into(),
        json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "message_id": {"type": "string"},
                "subscription_id": {"type": "string"},
                "ordering_key": {"type": ["string", "null"]},
                "status": {"type": "string"},
                "attempts": {"type": "integer"},
                "last_error": {"type": ["string", "null"]},
                "next_attempt_ms": {"type": ["integer", "null"]},
                "created_ms": {"type": "integer"},
                "updated_ms": {"type": "integer"},
            },
        }),
    );
    m.insert(
        "Attempt".into(),
        json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "delivery_id": {"type": "integer"},
                "message_id": {"type": "string"},
                "attempt": {"type": "integer"},
                "at_ms": {"type": "integer"},
                "status_code": {"type": ["integer", "null"]},
                "error": {"type": ["string", "null"]},
                "latency_ms": {"type": "integer"},
                "response": {"type": ["string", "null"]},
            },
        }),
    );
    m
}

fn shared_parameters() -> Value {
    let header = |name: &str, description: &str| {
        json!({"name": name, "in": "header", "required": false, "description": description,
               "schema": {"type": "string"}})
    };
    json!({
        "IfMatch": header("If-Match",
            "Entity tags (or *): the request proceeds only if the document's current tag is \
             one of them (strong comparison)"),
        "IfNoneMatch": header("If-None-Match",
            "Entity tags (or *): 304 for GET and HEAD, 412 otherwise, if the current tag is \
             one of them (weak comparison); `*` on PUT creates only"),
        "IfModifiedSince": header("If-Modified-Since",
            "An HTTP-date: 304 if the document has not changed since (GET and HEAD)"),
        "IfUnmodifiedSince": header("If-Unmodified-Since",
            "An HTTP-date: 412 if the document changed since"),
        "ConditionExpression": header(&header_case(CONDITION_EXPRESSION),
            "A DynamoDB condition expression on the stored document; 412 condition_failed if \
             it does not hold"),
        "ConditionNames": header(&header_case(CONDITION_NAMES),
            "A JSON object of the expression's #name placeholders"),
        "ConditionValues": header(&header_case(CONDITION_VALUES),
            "A JSON object of the expression's :value placeholders (plain JSON values)"),
        "Limit": {
            "name": "limit", "in": "query", "required": false,
            "description": "The page size",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                       "default": DEFAULT_LIMIT},
        },
        "Cursor": {
            "name": "cursor", "in": "query", "required": false,
            "description": "next_cursor of the previous page (opaque, sealed; only for the \
                same filters)",
            "schema": {"type": "string"},
        },
        "Before": {
            "name": "before", "in": "query", "required": false,
            "description": "Only entries with a smaller id (the next page)",
            "schema": {"type": "integer"},
        },
        "TopicLimit": {
            "name": "limit", "in": "query", "required": false,
            "schema": {"type": "integer", "default": 100},
        },
        "TopicName": {
            "name": "name", "in": "path", "required": true, "schema": {"type": "string"},
        },
        "SubscriptionId": {
            "name": "id", "in": "path", "required": true, "schema": {"type": "string"},
        },
    })
}

fn shared_headers() -> Value {
    let string =
        |description: &str| json!({"description": description, "schema": {"type": "string"}});
    json!({
        "ETag": string("The document's strong entity tag"),
        "Last-Modified": string("When the document was last written (HTTP-date)"),
        "Location": string("The document's URL"),
        "Link": string("<...>; rel=\"next\": the next page, when there is one"),
        "Accept-Patch": string("The patch media types accepted"),
        "Retry-After": string("Seconds to wait before retrying"),
    })
}

fn shared_responses() -> Value {
    let error = |description: &str| json_response(description, schema_ref("Error"));
    json!({
        "NotModified": {
            "description": "Not modified (If-None-Match or If-Modified-Since)",
            "headers": {"ETag": header_ref("ETag"), "Last-Modified": header_ref("Last-Modified")},
        },
        "BadRequest": error(
            "A malformed request: invalid_json, invalid_precondition, invalid_condition, \
             invalid_cursor, invalid_limit, invalid_id, invalid_patch"),
        "NotFound": error("not_found or collection_not_found"),
        "Conflict": error("already_exists, or patch_test_failed for a failed JSON Patch test"),
        "PreconditionFailed": error(
            "precondition_failed (If-Match, If-None-Match, If-Unmodified-Since) or \
             condition_failed (the condition expression)"),
        "UnsupportedMediaType": {
            "description": "unsupported_media_type",
            "headers": {"Accept-Patch": header_ref("Accept-Patch")},
            "content": json_content(schema_ref("Error")),
        },
        "UnprocessableContent": error(
            "invalid_document, invalid_key, key_mismatch, schema_violation (with \
             violations), or invalid_patch (a patch that cannot apply)"),
        "PreconditionRequired": error(
            "precondition_required: the collection requires If-Match or If-Unmodified-Since"),
        "WriteContention": {
            "description": "write_contention: too many concurrent writers; retry",
            "headers": {"Retry-After": header_ref("Retry-After")},
            "content": json_content(schema_ref("Error")),
        },
    })
}

/// Baton's own APIs.
fn native_paths(config: &Config, paths: &mut Map<String, Value>) {
    let aws_json = sfn::CONTENT_TYPE;
    let targets: Vec<String> =
        sfn::ACTIONS.iter().map(|a| format!("AWSStepFunctions.{a}")).collect();
    paths.insert(
        "/".into(),
        json!({"post": {
            "tags": ["stepfunctions"],
            "operationId": "stepFunctions",
            "summary": "The Step Functions API (AWS JSON 1.0 protocol)",
            "description": "The action is named by X-Amz-Target; the body is its request as \
                AWS documents it. Signatures are not checked.",
            "parameters": [{
                "name": "X-Amz-Target", "in": "header", "required": true,
                "schema": {"enum": targets},
            }],
            "requestBody": {"required": true,
                            "content": {aws_json: {"schema": {"type": "object"}}}},
            "responses": {
                "200": {"description": "The action's response",
                        "content": {aws_json: {"schema": {"type": "object"}}}},
                "400": {"description": "An AWS error (__type: ValidationException, \
                            StateMachineDoesNotExist, ...)",
                        "content": {aws_json: {"schema": schema_ref("AwsError")}}},
            },
        }}),
    );

    // The Lambda API: the function's name is one of the declared functions (or an ARN).
    let mut name_schema = json!({"type": "string"});
    if !config.functions.is_empty() {
        name_schema["examples"] = json!(config.functions.keys().collect::<Vec<_>>());
    }
    let name_param = json!({
        "name": "name", "in": "path", "required": true,
        "description": "A declared function's name, or its ARN",
        "schema": name_schema,
    });
    let lambda_error = |d: &str| json_response(d, schema_ref("LambdaError"));
    let functions_list = json!({"type": "object", "properties": {"Functions": {"type": "array"}}});
    paths.insert(
        "/2015-03-31/functions/".into(),
        json!({"get": {
            "tags": ["lambda"], "operationId": "listFunctions", "summary": "ListFunctions",
            "responses": {"200": json_response("The declared functions", functions_list)},
        }}),
    );
    paths.insert(
        "/2015-03-31/functions/{name}".into(),
        json!({
            "parameters": [name_param],
            "get": {
                "tags": ["lambda"], "operationId": "getFunction", "summary": "GetFunction",
                "responses": {
                    "200": json_response("The function's configuration", json!({"type": "object"})),
                    "404": lambda_error("ResourceNotFoundException"),
                },
            },
        }),
    );
    let header = |name: &str, schema: Value, description: &str| {
        json!({"name": name, "in": "header", "required": false, "schema": schema,
               "description": description})
    };
    let string = json!({"type": "string"});
    paths.insert(
        "/2015-03-31/functions/{name}/invocations".into(),
        json!({
            "parameters": [name_param],
            "post": {
                "tags": ["lambda"], "operationId": "invoke", "summary": "Invoke",
                "parameters": [
                    header("X-Amz-Invocation-Type",
                        json!({"enum": ["RequestResponse", "Event", "DryRun"],
                               "default": "RequestResponse"}),
                        "Event: queued durably, 202; DryRun: 204"),
                    header("X-Amz-Log-Type", json!({"enum": ["None", "Tail"]}),
                        "Tail: the end of the log in X-Amz-Log-Result"),
                    header("X-Amz-Client-Context", string.clone(), "Base64 JSON client context"),
                ],
                "requestBody": {"content": json_content(json!({}))},
                "responses": {
                    "200": {
                        "description": "The function's response (X-Amz-Function-Error: \
                            Unhandled when it failed)",
                        "headers": {
                            "X-Amz-Function-Error": {"schema": string.clone()},
                            "X-Amz-Executed-Version": {"schema": string.clone()},
                            "X-Amz-Log-Result": {"schema": string.clone()},
                        },
                        "content": json_content(json!({})),
                    },
                    "202": {"description": "An Event invocation, stored"},
                    "204": {"description": "DryRun: the function exists"},
                    "400": lambda_error("InvalidRequestContentException"),
                    "404": lambda_error("ResourceNotFoundException"),
                    "413": lambda_error("RequestTooLargeException"),
                    "429": lambda_error("TooManyRequestsException"),
                    "503": lambda_error("ServiceException: the node is shutting down"),
                },
            },
        }),
    );
    paths.insert(
        "/functions/{name}/logs".into(),
        json!({
            "parameters": [name_param],
            "get": {
                "tags": ["lambda"], "operationId": "functionLogs",
                "summary": "A function's log lines after a sequence number",
                "parameters": [{"name": "after", "in": "query", "required": false,
                                "schema": {"type": "integer", "minimum": 0}}],
                "responses": {
                    "200": json_response("Lines and the next sequence number", json!({
                        "type": "object",
                        "properties": {"lines": {"type": "array"}, "next": {"type": "integer"}},
                    })),
                    "404": lambda_error("ResourceNotFoundException"),
                },
            },
        }),
    );
    paths.insert(
        "/functions/{name}/failed-events".into(),
        json!({
            "parameters": [name_param],
            "get": {
                "tags": ["lambda"], "operationId": "failedEvents",
                "summary": "The Event invocations that failed after their retries",
                "responses": {
                    "200": json_response("The failed events", json!({
                        "type": "object", "properties": {"events": {"type": "array"}},
                    })),
                    "404": lambda_error("ResourceNotFoundException"),
                },
            },
        }),
    );

    topics_paths(paths);

    paths.insert(
        "/health".into(),
        json!({"get": {
            "tags": ["operations"], "operationId": "health",
            "summary": "Ready when the store answers",
            "responses": {
                "200": json_response("Ready", json!({"type": "object",
                    "properties": {"status": {"const": "ok"}}})),
                "503": json_response("The store does not answer", json!({"type": "object",
                    "properties": {"status": {"const": "unavailable"}, "reason": string}})),
            },
        }}),
    );
    paths.insert(
        "/metrics".into(),
        json!({"get": {
            "tags": ["operations"], "operationId": "metrics",
            "summary": "Prometheus metrics",
            "responses": {"200": {"description": "Prometheus text format 0.0.4",
                "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {
            "tags": ["operations"], "operationId": "openapi",
            "summary": "This document",
            "responses": {"200": json_response("OpenAPI 3.1", json!({"type": "object"}))},
        }}),
    );
}

/// The topics API (`server/topics.rs`); its errors are `{"code", "message"}`.
fn topics_paths(paths: &mut Map<String, Value>) {
    let error = |d: &str| json_response(d, schema_ref("Error"));
    let op = |id: &str, summary: &str, responses: Value| {
        json!({"tags": ["topics"], "operationId": id, "summary": summary,
               "responses": responses})
    };
    let list_of = |member: &str, item: &str| {
        let array = json!({"type": "array", "items": schema_ref(item)});
        json!({"type": "object", "properties": {member: array}})
    };
    let name = parameter_ref("TopicName");
    let id = parameter_ref("SubscriptionId");
    let paging = json!([parameter_ref("Before"), parameter_ref("TopicLimit")]);

    let mut create = op(
        "createTopic",
        "Create a topic",
        json!({
            "201": json_response("Created", schema_ref("Topic")),
            "400": error("InvalidParameter"),
            "409": error("Conflict: the topic exists"),
        }),
    );
    create["requestBody"] = json!({"required": true, "content": json_content(json!({
        "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}},
    }))});
    paths.insert(
        "/topics".into(),
        json!({
            "post": create,
            "get": op("listTopics", "The topics", json!({
                "200": json_response("The topics", list_of("topics", "Topic")),
            })),
        }),
    );
    paths.insert(
        "/topics/{name}".into(),
        json!({
            "parameters": [name],
            "get": op("getTopic", "A topic", json!({
                "200": json_response("The topic", schema_ref("Topic")),
                "404": error("NotFound"),
            })),
            "delete": op("deleteTopic", "Delete a topic", json!({
                "204": {"description": "Deleted"},
                "404": error("NotFound"),
            })),
        }),
    );
    let mut subscribe = op(
        "subscribe",
        "Subscribe an endpoint",
        json!({
            "201": json_response("Subscribed; the answer carries the signing secret, only here",
                schema_ref("Subscription")),
            "400": error("InvalidParameter"),
            "404": error("NotFound"),
        }),
    );
    subscribe["requestBody"] =
        json!({"required": true, "content": json_content(schema_ref("SubscriptionRequest"))});
    paths.insert(
        "/topics/{name}/subscriptions".into(),
        json!({
            "parameters": [name],
            "post": subscribe,
            "get": op("listSubscriptions", "A topic's subscriptions", json!({
                "200": json_response("The subscriptions", list_of("subscriptions", "Subscription")),
                "404": error("NotFound"),
            })),
        }),
    );
    let one = |id_: &str, summary: &str| {
        op(
            id_,
            summary,
            json!({
                "200": json_response("The subscription", schema_ref("Subscription")),
                "404": error("NotFound"),
            }),
        )
    };
    paths.insert(
        "/topics/{name}/subscriptions/{id}".into(),
        json!({
            "parameters": [name, id],
            "get": one("getSubscription", "A subscription"),
            "delete": op("unsubscribe", "Unsubscribe", json!({
                "204": {"description": "Unsubscribed"},
                "404": error("NotFound"),
            })),
        }),
    );
    paths.insert(
        "/topics/{name}/subscriptions/{id}/rotate-secret".into(),
        json!({
            "parameters": [name, id],
            "post": one("rotateSecret", "A new signing secret; the old one signs for 24 h more"),
        }),
    );
    paths.insert(
        "/topics/{name}/subscriptions/{id}/enable".into(),
        json!({
            "parameters": [name, id],
            "post": one("enableSubscription", "Enable a subscription a 410 disabled"),
        }),
    );
    let mut attempts = op(
        "attempts",
        "A subscription's delivery attempts, newest first",
        json!({
            "200": json_response("The attempts", list_of("attempts", "Attempt")),
            "400": error("InvalidParameter"),
            "404": error("NotFound"),
        }),
    );
    attempts["parameters"] = paging.clone();
    paths.insert(
        "/topics/{name}/subscriptions/{id}/attempts".into(),
        json!({"parameters": [name, id], "get": attempts}),
    );
    let mut publish = op(
        "publish",
        "Publish a message",
        json!({
            "202": json_response("Committed to the outbox", json!({
                "type": "object", "properties": {"message_id": {"type": "string"}},
            })),
            "400": error("InvalidParameter"),
            "404": error("NotFound"),
        }),
    );
    publish["requestBody"] =
        json!({"required": true, "content": json_content(schema_ref("Publish"))});
    paths.insert("/topics/{name}/messages".into(), json!({"parameters": [name], "post": publish}));
    let mut dead = op(
        "deadLetters",
        "Deliveries that exhausted their retries",
        json!({
            "200": json_response("The dead letters", list_of("dead_letters", "Delivery")),
            "400": error("InvalidParameter"),
            "404": error("NotFound"),
        }),
    );
    dead["parameters"] = paging;
    paths.insert("/topics/{name}/dead-letters".into(), json!({"parameters": [name], "get": dead}));
    paths.insert(
        "/topics/{name}/dead-letters/{delivery}/replay".into(),
        json!({
            "parameters": [name, {"name": "delivery", "in": "path", "required": true,
                                  "schema": {"type": "integer"}}],
            "post": op("replay", "Deliver a dead letter again", json!({
                "202": json_response("Queued again", schema_ref("Delivery")),
                "404": error("NotFound"),
            })),
        }),
    );
}

/// A collection's paths and component schemas.
fn collection(
    c: &CollectionInfo<'_>,
    paths: &mut Map<String, Value>,
    schemas: &mut Map<String, Value>,
) {
    let name = c.name;
    let document = match c.schema {
        Some(schema) => embed(schema, &format!("#/components/schemas/{name}")),
        None => json!({
            "type": "object",
            "description": format!("A document of {name}: any JSON object."),
        }),
    };
    schemas.insert(name.to_owned(), document);
    // Collection names are [a-z0-9_-]+: with a dot, these cannot clash with one.
    let page = format!("{name}.page");
    schemas.insert(
        page.clone(),
        json!({
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": {"type": "array", "items": schema_ref(name)},
                "next_cursor": {"type": ["string", "null"]},
            },
        }),
    );
    let doc = schema_ref(name);
    let with_doc = |description: &str| {
        json!({
            "description": description,
            "headers": {"ETag": header_ref("ETag"), "Last-Modified": header_ref("Last-Modified")},
            "content": json_content(doc.clone()),
        })
    };
    let op = |verb: &str, summary: String, parameters: Vec<Value>, responses: Value| {
        let mut o = json!({
            "tags": ["resources"],
            "operationId": format!("{verb}_{name}"),
            "summary": summary,
            "responses": responses,
        });
        if !parameters.is_empty() {
            o["parameters"] = Value::Array(parameters);
        }
        o
    };
    let p = parameter_ref;
    let r = response_ref;

    let mut list_params = vec![p("Limit"), p("Cursor")];
    list_params.extend(filters(c));
    let mut create = op(
        "create",
        format!("Create a document in {name} (its id from `{}`, or generated)", c.key),
        vec![],
        json!({
            "201": {
                "description": "Created",
                "headers": {"Location": header_ref("Location"), "ETag": header_ref("ETag"),
                            "Last-Modified": header_ref("Last-Modified")},
                "content": json_content(doc.clone()),
            },
            "400": r("BadRequest"),
            "409": r("Conflict"),
            "415": r("UnsupportedMediaType"),
            "422": r("UnprocessableContent"),
            "503": r("WriteContention"),
        }),
    );
    create["requestBody"] = json!({"required": true, "content": json_content(doc.clone())});
    paths.insert(
        format!("/{name}"),
        json!({
            "get": op(
                "list",
                format!("List the documents of {name}, in id order"),
                list_params,
                json!({
                    "200": {
                        "description": "A page",
                        "headers": {"Link": header_ref("Link")},
                        "content": json_content(schema_ref(&page)),
                    },
                    "400": r("BadRequest"),
                }),
            ),
            "post": create,
        }),
    );

    let reads = vec![p("IfMatch"), p("IfNoneMatch"), p("IfModifiedSince"), p("IfUnmodifiedSince")];
    let writes = vec![
        p("IfMatch"),
        p("IfNoneMatch"),
        p("IfUnmodifiedSince"),
        p("ConditionExpression"),
        p("ConditionNames"),
        p("ConditionValues"),
    ];
    // What every write may answer besides its success.
    let write_errors = |extra: &[(&str, Value)]| {
        let mut m = Map::new();
        m.insert("400".into(), r("BadRequest"));
        for (status, v) in extra {
            m.insert((*status).to_owned(), v.clone());
        }
        m.insert("412".into(), r("PreconditionFailed"));
        if c.require_conditional_writes {
            m.insert("428".into(), r("PreconditionRequired"));
        }
        m.insert("503".into(), r("WriteContention"));
        m
    };
    let read_responses = |ok: Value| {
        json!({
            "200": ok,
            "304": r("NotModified"),
            "400": r("BadRequest"),
            "404": r("NotFound"),
            "412": r("PreconditionFailed"),
        })
    };

    let mut put_responses = Map::new();
    put_responses.insert("200".into(), with_doc("Replaced"));
    put_responses.insert("201".into(), with_doc("Created"));
    put_responses.extend(write_errors(&[
        ("415", r("UnsupportedMediaType")),
        ("422", r("UnprocessableContent")),
    ]));
    let mut put = op(
        "put",
        format!("Create or replace a document of {name}"),
        writes.clone(),
        by_status(put_responses),
    );
    put["requestBody"] = json!({"required": true, "content": json_content(doc.clone())});

    let mut patch_responses = Map::new();
    patch_responses.insert("200".into(), with_doc("Patched"));
    patch_responses.extend(write_errors(&[
        ("404", r("NotFound")),
        ("409", r("Conflict")),
        ("415", r("UnsupportedMediaType")),
        ("422", r("UnprocessableContent")),
    ]));
    let mut patch = op(
        "patch",
        format!("Patch a document of {name}"),
        writes.clone(),
        by_status(patch_responses),
    );
    patch["requestBody"] = json!({"required": true, "content": {
        "application/merge-patch+json": {"schema": schema_ref("MergePatch")},
        "application/json-patch+json": {"schema": schema_ref("JsonPatch")},
    }});

    let mut delete_responses = Map::new();
    delete_responses.insert("204".into(), json!({"description": "Deleted"}));
    delete_responses.extend(write_errors(&[("404", r("NotFound"))]));
    let delete =
        op("delete", format!("Delete a document of {name}"), writes, by_status(delete_responses));

    let mut head_ok = with_doc("The document's validators");
    if let Some(o) = head_ok.as_object_mut() {
        o.remove("content");
    }
    paths.insert(
        format!("/{name}/{{id}}"),
        json!({
            "parameters": [{"name": "id", "in": "path", "required": true,
                            "description": format!("The document's id (its `{}` member)", c.key),
                            "schema": {"type": "string"}}],
            "get": op("read", format!("Read a document of {name}"), reads.clone(),
                      read_responses(with_doc("The document"))),
            "head": op("head", format!("A document of {name}'s validators"), reads,
                       read_responses(head_ok)),
            "put": put,
            "patch": patch,
            "delete": delete,
        }),
    );
}

/// Responses in the order of their status codes.
fn by_status(responses: Map<String, Value>) -> Value {
    let mut entries: Vec<(String, Value)> = responses.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Object(entries.into_iter().collect())
}

/// The list's equality filters: one query parameter per top-level property the schema
/// declares, or, without one, any member as a free-form parameter.
fn filters(c: &CollectionInfo<'_>) -> Vec<Value> {
    let description = "Only documents whose top-level member equals this (a number, boolean \
                       or null matches its JSON text)";
    let declared = c.schema.and_then(|s| s.get("properties")).and_then(Value::as_object);
    match declared {
        Some(properties) => properties
            .keys()
            .filter(|k| !matches!(k.as_str(), "limit" | "cursor"))
            .map(|k| {
                json!({"name": k, "in": "query", "required": false, "description": description,
                       "schema": {"type": "string"}})
            })
            .collect(),
        None => vec![json!({
            "name": "filter", "in": "query", "required": false,
            "description": format!("{description}: ?member=value for any member"),
            "style": "form", "explode": true,
            "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        })],
    }
}

/// A collection's schema placed at `at` (a JSON Pointer fragment, `#/components/...`):
/// its `#` and `#/...` references are moved under `at`, and its root `$id` dropped, so
/// they resolve in the OpenAPI document as they did in the schema's own file. Values
/// (`const`, `enum`, `default`, `examples`) are left as they are.
fn embed(schema: &Value, at: &str) -> Value {
    let mut out = schema.clone();
    if let Some(o) = out.as_object_mut() {
        o.remove("$id");
    }
    rebase(&mut out, at);
    out
}

fn rebase(v: &mut Value, at: &str) {
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                match (k.as_str(), &mut *child) {
                    ("$ref", Value::String(r)) if r == "#" || r.starts_with("#/") => {
                        *r = format!("{at}{}", &r[1..]);
                    }
                    ("const" | "enum" | "default" | "examples", _) => {}
                    _ => rebase(child, at),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rebase(i, at)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_inside_a_schema_are_moved_under_its_component() {
        let schema = json!({
            "$id": "https://example.com/order.json",
            "$defs": {"qty": {"type": "integer"}},
            "properties": {
                "qty": {"$ref": "#/$defs/qty"},
                "self": {"$ref": "#"},
                "anchor": {"$ref": "#named"},
                "$ref": {"type": "string"},
                "kind": {"const": {"$ref": "#/not/a/reference"}},
            },
        });
        let out = embed(&schema, "#/components/schemas/orders");
        assert!(out.get("$id").is_none());
        let p = &out["properties"];
        assert_eq!(p["qty"]["$ref"], "#/components/schemas/orders/$defs/qty");
        assert_eq!(p["self"]["$ref"], "#/components/schemas/orders");
        assert_eq!(p["anchor"]["$ref"], "#named");
        assert_eq!(p["$ref"], json!({"type": "string"}));
        assert_eq!(p["kind"]["const"]["$ref"], "#/not/a/reference");
    }

    #[test]
    fn extra_operations_get_path_parameters_and_keep_what_is_there() {
        let mut paths = Map::new();
        paths.insert("/health".into(), json!({"get": {"summary": "mine"}}));
        add_operations(
            &mut paths,
            &[
                ExtraOperation {
                    path: "/api/{service}/items/{id}".into(),
                    methods: vec!["GET".into(), "delete".into()],
                    summary: "Proxied".into(),
                },
                ExtraOperation {
                    path: "/health".into(),
                    methods: vec!["GET".into(), "POST".into()],
                    summary: "Route".into(),
                },
            ],
        );
        let item = &paths["/api/{service}/items/{id}"];
        assert_eq!(item["get"]["summary"], "Proxied");
        let names: Vec<&Value> =
            item["delete"]["parameters"].as_array().unwrap().iter().map(|p| &p["name"]).collect();
        assert_eq!(names, [&json!("service"), &json!("id")]);
        assert_eq!(paths["/health"]["get"]["summary"], "mine");
        assert_eq!(paths["/health"]["post"]["summary"], "Route");
    }

    #[test]
    fn header_names_are_capitalized() {
        assert_eq!(header_case(CONDITION_EXPRESSION), "X-Condition-Expression");
    }
}
