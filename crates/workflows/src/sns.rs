//! `arn:aws:states:::sns:publish`: what Step Functions asks of SNS Publish and what it
//! makes of the answer.
//!
//! The parameters are SNS Publish's: `TopicArn` (or `TargetArn`: an SNS topic ARN,
//! `arn:aws:sns:REGION:ACCOUNT:NAME`, or just the topic's name), `Message` (a string as it
//! is; any other JSON as its compact text, as Step Functions serializes it), `Subject`,
//! `MessageAttributes` (`{Name: {DataType, StringValue | BinaryValue}}`) and
//! `MessageGroupId` (the ordering key). The result is Publish's response as the SDK shows
//! it (`MessageId`, `SdkHttpMetadata`, `SdkResponseMetadata`); a refusal becomes the
//! state's error, `SNS.<Exception>` (`SNS.NotFoundException` for a missing topic), with
//! the SDK's wording of the cause. Messages are published by whoever implements
//! [`Publisher`]; `baton up` gives Baton's topics.

use futures::future::BoxFuture;
use serde_json::{json, Value};

/// Publishes messages for the executor.
pub trait Publisher: Send + Sync + 'static {
    /// Publishes one message once it is durable; the answer is its message id.
    fn publish(&self, request: Request) -> BoxFuture<'static, Result<String, Refusal>>;
}

/// The [`Publisher`] the executor uses: cheap to clone.
#[derive(Clone)]
pub struct Handle(pub std::sync::Arc<dyn Publisher>);

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sns::Handle")
    }
}

/// One message a task publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The topic's name.
    pub topic: String,
    pub message: String,
    pub subject: Option<String>,
    pub attributes: Vec<Attribute>,
    /// `MessageGroupId`: messages with the same key reach each subscriber in order.
    pub ordering_key: Option<String>,
    /// The same for every dispatch of the same task attempt (the execution and the
    /// action), so a task run again after a crash publishes the same message.
    pub idempotency_key: String,
}

/// A message attribute: `DataType` and its `StringValue` (or `BinaryValue`, base64).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub data_type: String,
    pub value: String,
}

/// Why SNS refused a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    NotFound,
    InvalidParameter,
    Internal,
}

/// A publish SNS refused, with its message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
}

impl Refusal {
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// The state's error, as Step Functions reports an SNS exception.
    pub fn failure(&self, request_id: &str) -> asl::Failure {
        let (exception, status, code) = match self.kind {
            RefusalKind::NotFound => ("NotFoundException", 404, "NotFound"),
            RefusalKind::InvalidParameter => ("InvalidParameterException", 400, "InvalidParameter"),
            RefusalKind::Internal => ("InternalErrorException", 500, "InternalError"),
        };
        asl::Failure::new(
            format!("SNS.{exception}"),
            format!(
                "{} (Service: AmazonSNS; Status Code: {status}; Error Code: {code}; Request ID: \
                 {request_id}; Proxy: null)",
                self.message
            ),
        )
    }
}

/// Whether a resource publishes to SNS.
pub fn is_sns_publish(resource: &str) -> bool {
    resource.strip_suffix(".waitForTaskToken").unwrap_or(resource) == "arn:aws:states:::sns:publish"
}

/// The topic an SNS `TopicArn` names: `arn:aws:sns:REGION:ACCOUNT:NAME`, or the bare name.
pub fn topic_name(arn: &str) -> Option<&str> {
    if !arn.starts_with("arn:") {
        return (!arn.is_empty() && !arn.contains(':')).then_some(arn);
    }
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() == 6 && parts[2] == "sns" && !parts[5].is_empty()).then_some(parts[5])
}

/// The publish a task's effective input asks for; `key` is the task attempt's idempotency
/// key.
pub fn request(input: &Value, key: &str) -> Result<Request, Refusal> {
    let invalid = |m: String| Refusal::new(RefusalKind::InvalidParameter, m);
    let Some(params) = input.as_object() else {
        return Err(invalid("Invalid parameter: the parameters must be an object".into()));
    };
    if params.contains_key("PhoneNumber") {
        return Err(invalid("Invalid parameter: PhoneNumber Reason: SMS is not supported".into()));
    }
    let arn =
        match params.get("TopicArn").or_else(|| params.get("TargetArn")) {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(invalid("Invalid parameter: TopicArn".into())),
            None => return Err(invalid(
                "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"
                    .into(),
            )),
        };
    let topic = topic_name(arn).ok_or_else(|| invalid("Invalid parameter: TopicArn".into()))?;
    let message = match params.get("Message") {
        None | Some(Value::Null) => return Err(invalid("Invalid parameter: Empty message".into())),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    if message.is_empty() {
        return Err(invalid("Invalid parameter: Empty message".into()));
    }
    if params.get("MessageStructure").and_then(Value::as_str) == Some("json") {
        return Err(invalid(
            "Invalid parameter: MessageStructure Reason: json is not supported by Baton".into(),
        ));
    }
    let text = |name: &str| -> Result<Option<String>, Refusal> {
        match params.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!("Invalid parameter: {name}"))),
        }
    };
    let mut attributes = Vec::new();
    match params.get("MessageAttributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, a) in map {
                let bad = || {
                    invalid(format!(
                        "Invalid parameter: MessageAttributes Reason: attribute {name} needs a \
                         DataType and a StringValue or BinaryValue"
                    ))
                };
                let data_type = a.get("DataType").and_then(Value::as_str).ok_or_else(bad)?;
                let value = a
                    .get("StringValue")
                    .or_else(|| a.get("BinaryValue"))
                    .and_then(Value::as_str)
                    .ok_or_else(bad)?;
                attributes.push(Attribute {
                    name: name.clone(),
                    data_type: data_type.to_owned(),
                    value: value.to_owned(),
                });
            }
        }
        Some(_) => return Err(invalid("Invalid parameter: MessageAttributes".into())),
    }
    Ok(Request {
        topic: topic.to_owned(),
        message,
        subject: text("Subject")?,
        attributes,
        ordering_key: text("MessageGroupId")?,
        idempotency_key: key.to_owned(),
    })
}

/// The task's result, or its failure, from the publish's outcome.
pub fn result(
    outcome: Result<String, Refusal>,
    request_id: &str,
    now_ms: i64,
) -> Result<Value, asl::Failure> {
    let message_id = outcome.map_err(|r| r.failure(request_id))?;
    let body_length = (message_id.len() + request_id.len() + 250).to_string();
    let headers = json!({
        "Content-Length": body_length,
        "Content-Type": "text/xml",
        "Date": crate::lambda::http_date(now_ms),
        "x-amzn-RequestId": request_id,
    });
    let all: serde_json::Map<String, Value> =
        headers.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), json!([v]))).collect();
    Ok(json!({
        "MessageId": message_id,
        "SdkHttpMetadata": {
            "AllHttpHeaders": all,
            "HttpHeaders": headers,
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_named_by_arn_or_name() {
        assert_eq!(topic_name("arn:aws:sns:us-east-1:123456789012:orders"), Some("orders"));
        assert_eq!(topic_name("orders"), Some("orders"));
        assert_eq!(topic_name("arn:aws:sqs:us-east-1:123456789012:q"), None);
        assert_eq!(topic_name("arn:aws:sns:us-east-1:123456789012:orders:sub"), None);
        assert_eq!(topic_name(""), None);
    }

    #[test]
    fn parameters_become_a_publish() {
        let input = json!({
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders",
            "Message": {"order": 42},
            "Subject": "New order",
            "MessageAttributes": {"store": {"DataType": "String", "StringValue": "corp"}},
            "MessageGroupId": "customer-7",
        });
        let r = request(&input, "k").unwrap();
        assert_eq!(r.topic, "orders");
        assert_eq!(r.message, r#"{"order":42}"#);
        assert_eq!(r.subject.as_deref(), Some("New order"));
        assert_eq!(
            r.attributes,
            vec![Attribute {
                name: "store".into(),
                data_type: "String".into(),
                value: "corp".into()
            }]
        );
        assert_eq!(r.ordering_key.as_deref(), Some("customer-7"));
        assert_eq!(request(&json!({"TopicArn": "t", "Message": "hi"}), "k").unwrap().message, "hi");
    }

    #[test]
    fn bad_parameters_are_invalid_parameter_exceptions() {
        for input in [
            json!({"Message": "m"}),
            json!({"TopicArn": "arn:aws:sqs:r:a:q", "Message": "m"}),
            json!({"TopicArn": "t"}),
            json!({"TopicArn": "t", "Message": ""}),
            json!({"TopicArn": "t", "Message": "m", "MessageAttributes": {"a": {"DataType": "String"}}}),
        ] {
            let e = request(&input, "k").unwrap_err();
            assert_eq!(e.kind, RefusalKind::InvalidParameter, "{input}");
            assert_eq!(e.failure("r").error.as_deref(), Some("SNS.InvalidParameterException"));
        }
    }

    #[test]
    fn the_result_has_the_sdk_shape() {
        let v = result(Ok("msg_1".into()), "req-1", 0).unwrap();
        assert_eq!(v["MessageId"], "msg_1");
        assert_eq!(v["SdkHttpMetadata"]["HttpStatusCode"], 200);
        assert_eq!(v["SdkHttpMetadata"]["HttpHeaders"]["x-amzn-RequestId"], "req-1");
        assert_eq!(v["SdkHttpMetadata"]["AllHttpHeaders"]["x-amzn-RequestId"], json!(["req-1"]));
        assert_eq!(v["SdkResponseMetadata"]["RequestId"], "req-1");
        let f = result(Err(Refusal::new(RefusalKind::NotFound, "Topic does not exist")), "r", 0)
            .unwrap_err();
        assert_eq!(f.error.as_deref(), Some("SNS.NotFoundException"));
        assert!(f
            .cause
            .unwrap_or_default()
            .starts_with("Topic does not exist (Service: AmazonSNS; Status Code: 404"));
    }
}
