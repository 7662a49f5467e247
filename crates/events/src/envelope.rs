//! What a subscriber receives: the SNS-shaped notification (enveloped delivery) or the
//! message itself (raw delivery).
//!
//! The envelope is the JSON SNS posts to HTTP/S endpoints, with its fields in SNS's order:
//! `Type` (`"Notification"`), `MessageId`, `TopicArn`, `Subject` (only when the publisher
//! gave one), `Message`, `Timestamp` (ISO-8601 UTC with milliseconds and `Z`),
//! `UnsubscribeURL` (only when Baton has one to offer) and `MessageAttributes` (only when
//! there are some; each `{"Type", "Value"}`, `Binary` values in base64).
//!
//! SNS's own signature fields (`SignatureVersion`, `Signature`, `SigningCertURL`) are left
//! out on purpose: they are an RSA signature under a certificate only AWS can issue, so no
//! receiver could check ours. Authenticity comes from the Standard Webhooks headers (see
//! [`crate::webhook`]), which sign the exact bytes of the body, envelope or raw.

use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value};

use crate::attributes::MessageAttributes;
use crate::error::{Error, Result};

/// The earliest time an envelope can show: 0000-01-01T00:00:00.000Z.
const MIN_MS: i64 = -62_167_219_200_000;
/// The latest: 9999-12-31T23:59:59.999Z.
const MAX_MS: i64 = 253_402_300_799_999;

/// One message as one subscription receives it.
#[derive(Debug, Clone, Copy)]
pub struct Notification<'a> {
    /// The message's id (the same one the `webhook-id` header carries).
    pub message_id: &'a str,
    /// The topic's ARN.
    pub topic_arn: &'a str,
    /// The publisher's subject, if any.
    pub subject: Option<&'a str>,
    /// The message, as published.
    pub message: &'a str,
    /// When the message was published, in ms since the epoch.
    pub timestamp_ms: i64,
    /// The message's attributes.
    pub attributes: &'a MessageAttributes,
    /// Where the subscriber can unsubscribe, if Baton offers such a link.
    pub unsubscribe_url: Option<&'a str>,
}

impl Notification<'_> {
    /// The envelope as JSON, fields in SNS's order.
    pub fn to_json(&self) -> Result<Value> {
        let mut out = Map::new();
        out.insert("Type".into(), "Notification".into());
        out.insert("MessageId".into(), self.message_id.into());
        out.insert("TopicArn".into(), self.topic_arn.into());
        if let Some(subject) = self.subject {
            out.insert("Subject".into(), subject.into());
        }
        out.insert("Message".into(), self.message.into());
        out.insert("Timestamp".into(), timestamp(self.timestamp_ms)?.into());
        if let Some(url) = self.unsubscribe_url {
            out.insert("UnsubscribeURL".into(), url.into());
        }
        if !self.attributes.is_empty() {
            let attributes = self
                .attributes
                .iter()
                .map(|(name, attribute)| {
                    let mut rendered = Map::new();
                    rendered.insert("Type".into(), attribute.data_type().into());
                    rendered.insert("Value".into(), attribute.rendered_value().into());
                    (name.clone(), Value::Object(rendered))
                })
                .collect();
            out.insert("MessageAttributes".into(), Value::Object(attributes));
        }
        Ok(Value::Object(out))
    }

    /// The body to send: the envelope's JSON text, or the message alone when `raw`.
    pub fn body(&self, raw: bool) -> Result<String> {
        if raw {
            Ok(raw_body(self.message).to_owned())
        } else {
            Ok(self.to_json()?.to_string())
        }
    }

    /// The headers SNS sends with a notification besides the webhook ones, so receivers
    /// written for SNS find what they look for.
    pub fn sns_headers(&self, subscription_arn: &str, raw: bool) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "text/plain; charset=UTF-8".into()),
            ("x-amz-sns-message-type", "Notification".into()),
            ("x-amz-sns-message-id", self.message_id.into()),
            ("x-amz-sns-topic-arn", self.topic_arn.into()),
            ("x-amz-sns-subscription-arn", subscription_arn.into()),
            ("x-amz-sns-rawdelivery", raw.to_string()),
        ]
    }

    /// The event a function subscribed to the topic receives, as SNS invokes Lambda:
    /// `{"Records": [{"EventVersion", "EventSubscriptionArn", "EventSource": "aws:sns",
    /// "Sns": {...}}]}`, where `Sns` is the notification with Lambda's spelling
    /// (`SigningCertUrl`, `UnsubscribeUrl`), `Subject` null when there is none and
    /// `MessageAttributes` always present. Baton does not sign with SNS certificates: the
    /// signature fields are empty strings, so typed parsers of the event still accept it.
    pub fn lambda_event(&self, subscription_arn: &str) -> Result<Value> {
        let mut sns = Map::new();
        sns.insert("Type".into(), "Notification".into());
        sns.insert("MessageId".into(), self.message_id.into());
        sns.insert("TopicArn".into(), self.topic_arn.into());
        sns.insert("Subject".into(), self.subject.map_or(Value::Null, Value::from));
        sns.insert("Message".into(), self.message.into());
        sns.insert("Timestamp".into(), timestamp(self.timestamp_ms)?.into());
        sns.insert("SignatureVersion".into(), "1".into());
        sns.insert("Signature".into(), "".into());
        sns.insert("SigningCertUrl".into(), "".into());
        sns.insert("UnsubscribeUrl".into(), self.unsubscribe_url.unwrap_or("").into());
        let attributes: Map<String, Value> = self
            .attributes
            .iter()
            .map(|(name, attribute)| {
                let mut rendered = Map::new();
                rendered.insert("Type".into(), attribute.data_type().into());
                rendered.insert("Value".into(), attribute.rendered_value().into());
                (name.clone(), Value::Object(rendered))
            })
            .collect();
        sns.insert("MessageAttributes".into(), Value::Object(attributes));
        let mut record = Map::new();
        record.insert("EventVersion".into(), "1.0".into());
        record.insert("EventSubscriptionArn".into(), subscription_arn.into());
        record.insert("EventSource".into(), "aws:sns".into());
        record.insert("Sns".into(), Value::Object(sns));
        let mut event = Map::new();
        event.insert("Records".into(), Value::Array(vec![Value::Object(record)]));
        Ok(Value::Object(event))
    }
}

/// The body of a raw delivery: the message, byte for byte.
pub fn raw_body(message: &str) -> &str {
    message
}

/// `ms` since the epoch as SNS writes times: `2019-11-03T23:28:01.631Z`.
pub fn timestamp(ms: i64) -> Result<String> {
    if !(MIN_MS..=MAX_MS).contains(&ms) {
        return Err(Error::Timestamp(ms));
    }
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .ok_or(Error::Timestamp(ms))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::attributes::MessageAttribute;

    const WHEN: i64 = 1_572_823_681_631; // 2019-11-03T23:28:01.631Z

    fn example_attributes() -> MessageAttributes {
        let mut a = MessageAttributes::new();
        a.insert("store".into(), MessageAttribute::string("example_corp"));
        a.insert("price_usd".into(), MessageAttribute::number("210.75").unwrap());
        a.insert(
            "customer_interests".into(),
            MessageAttribute::string_array(r#"["soccer", "rugby", "hockey"]"#).unwrap(),
        );
        a.insert("blob".into(), MessageAttribute::binary(b"hi".to_vec()));
        a
    }

    #[test]
    fn lambda_events_have_the_sns_record_shape() {
        let attributes = MessageAttributes::new();
        let n = Notification {
            message_id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            topic_arn: "arn:aws:sns:us-east-2:123456789012:MyTopic",
            subject: None,
            message: "hello",
            timestamp_ms: WHEN,
            attributes: &attributes,
            unsubscribe_url: None,
        };
        let v = n.lambda_event("arn:aws:sns:us-east-2:123456789012:MyTopic:sub_1").unwrap();
        let record = &v["Records"][0];
        assert_eq!(record["EventSource"], "aws:sns");
        assert_eq!(record["EventVersion"], "1.0");
        assert_eq!(
            record["EventSubscriptionArn"],
            "arn:aws:sns:us-east-2:123456789012:MyTopic:sub_1"
        );
        assert_eq!(record["Sns"]["Type"], "Notification");
        assert_eq!(record["Sns"]["Subject"], Value::Null);
        assert_eq!(record["Sns"]["Message"], "hello");
        assert_eq!(record["Sns"]["Timestamp"], "2019-11-03T23:28:01.631Z");
        assert_eq!(record["Sns"]["MessageAttributes"], json!({}));
        assert_eq!(v["Records"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn envelope_matches_sns_shape_and_order() {
        let attributes = example_attributes();
        let n = Notification {
            message_id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            topic_arn: "arn:aws:sns:us-east-2:123456789012:MyTopic",
            subject: Some("Hello"),
            message: "message-body-with-transaction-details",
            timestamp_ms: WHEN,
            attributes: &attributes,
            unsubscribe_url: Some("http://localhost/unsubscribe"),
        };
        let v = n.to_json().unwrap();
        assert_eq!(
            v,
            json!({
                "Type": "Notification",
                "MessageId": "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "TopicArn": "arn:aws:sns:us-east-2:123456789012:MyTopic",
                "Subject": "Hello",
                "Message": "message-body-with-transaction-details",
                "Timestamp": "2019-11-03T23:28:01.631Z",
                "UnsubscribeURL": "http://localhost/unsubscribe",
                "MessageAttributes": {
                    "blob": {"Type": "Binary", "Value": "aGk="},
                    "customer_interests": {"Type": "String.Array", "Value": "[\"soccer\", \"rugby\", \"hockey\"]"},
                    "price_usd": {"Type": "Number", "Value": "210.75"},
                    "store": {"Type": "String", "Value": "example_corp"}
                }
            })
        );
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "Type",
                "MessageId",
                "TopicArn",
                "Subject",
                "Message",
                "Timestamp",
                "UnsubscribeURL",
                "MessageAttributes"
            ]
        );
        assert_eq!(serde_json::from_str::<Value>(&n.body(false).unwrap()).unwrap(), v);
        assert_eq!(n.body(true).unwrap(), "message-body-with-transaction-details");
    }

    #[test]
    fn optional_fields_are_left_out() {
        let none = MessageAttributes::new();
        let n = Notification {
            message_id: "msg_1",
            topic_arn: "arn:aws:sns:local:000000000000:t",
            subject: None,
            message: "{\"a\": 1}",
            timestamp_ms: 0,
            attributes: &none,
            unsubscribe_url: None,
        };
        assert_eq!(
            n.body(false).unwrap(),
            r#"{"Type":"Notification","MessageId":"msg_1","TopicArn":"arn:aws:sns:local:000000000000:t","Message":"{\"a\": 1}","Timestamp":"1970-01-01T00:00:00.000Z"}"#
        );
        assert_eq!(n.body(true).unwrap(), "{\"a\": 1}");
        let headers = n.sns_headers("arn:aws:sns:local:000000000000:t:sub", true);
        assert!(headers.contains(&("x-amz-sns-message-type", "Notification".into())));
        assert!(headers.contains(&("x-amz-sns-rawdelivery", "true".into())));
        assert!(headers.contains(&(
            "x-amz-sns-subscription-arn",
            "arn:aws:sns:local:000000000000:t:sub".into()
        )));
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(WHEN).unwrap(), "2019-11-03T23:28:01.631Z");
        assert_eq!(timestamp(1).unwrap(), "1970-01-01T00:00:00.001Z");
        assert_eq!(timestamp(-1).unwrap(), "1969-12-31T23:59:59.999Z");
        assert_eq!(timestamp(MAX_MS).unwrap(), "9999-12-31T23:59:59.999Z");
        assert_eq!(timestamp(MIN_MS).unwrap(), "0000-01-01T00:00:00.000Z");
        assert_eq!(timestamp(MAX_MS + 1), Err(Error::Timestamp(MAX_MS + 1)));
        assert!(timestamp(i64::MIN).is_err());
        assert!(timestamp(i64::MAX).is_err());
        let none = MessageAttributes::new();
        let n = Notification {
            message_id: "m",
            topic_arn: "t",
            subject: None,
            message: "",
            timestamp_ms: i64::MAX,
            attributes: &none,
            unsubscribe_url: None,
        };
        assert!(n.body(false).is_err());
        assert_eq!(n.body(true).unwrap(), "");
    }
}
