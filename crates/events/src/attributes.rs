//! SNS message attributes: a name, a data type and a value, as `Publish` takes them.
//!
//! The data type is `String`, `Number`, `String.Array` or `Binary`, optionally followed by a
//! custom label after a dot (`Number.float`, `String.json`); `String.Array` is its own type.
//! Filter policies see `String` values as strings, `Number` values as numbers, the elements
//! of a `String.Array` (a JSON array of strings, numbers, booleans and nulls) one by one, and
//! never `Binary` values.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use crate::error::{Error, Result};

/// A message's attributes by name.
pub type MessageAttributes = BTreeMap<String, MessageAttribute>;

/// The base type an attribute's data type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKind {
    /// `String` or `String.<label>`.
    String,
    /// `Number` or `Number.<label>`: the value is a decimal number in a string.
    Number,
    /// `String.Array`: the value is a JSON array.
    StringArray,
    /// `Binary` or `Binary.<label>`: bytes, ignored by filter policies.
    Binary,
}

impl AttributeKind {
    /// The kind a data type names, if it names one.
    pub fn of(data_type: &str) -> Option<Self> {
        if data_type == "String.Array" {
            return Some(AttributeKind::StringArray);
        }
        let (base, label) = match data_type.split_once('.') {
            Some((b, l)) => (b, Some(l)),
            None => (data_type, None),
        };
        if label.is_some_and(str::is_empty) {
            return None;
        }
        match base {
            "String" => Some(AttributeKind::String),
            "Number" => Some(AttributeKind::Number),
            "Binary" => Some(AttributeKind::Binary),
            _ => None,
        }
    }
}

/// One message attribute, validated as SNS validates it at publish time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttribute {
    data_type: String,
    kind: AttributeKind,
    value: AttributeValue,
}

/// The value of an attribute: text, or bytes for `Binary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// `StringValue`: the text of a `String`, `Number` or `String.Array` attribute.
    Text(String),
    /// `BinaryValue`: the bytes of a `Binary` attribute.
    Bytes(Vec<u8>),
}

impl MessageAttribute {
    /// An attribute of `data_type` with `value`, checked: a `Number` must be a number, a
    /// `String.Array` a JSON array of scalars, and `Binary` must carry bytes.
    pub fn new(data_type: &str, value: AttributeValue) -> Result<Self> {
        let kind = AttributeKind::of(data_type).ok_or_else(|| {
            Error::Attribute(format!(
                "The message attribute has an invalid data type: {data_type}. \
                 Valid types are String, String.Array, Number and Binary"
            ))
        })?;
        match (&kind, &value) {
            (AttributeKind::Binary, AttributeValue::Bytes(_)) => {}
            (AttributeKind::Binary, AttributeValue::Text(_)) => {
                return Err(Error::Attribute(format!(
                    "The message attribute of type {data_type} must carry a binary value"
                )))
            }
            (_, AttributeValue::Bytes(_)) => {
                return Err(Error::Attribute(format!(
                    "The message attribute of type {data_type} must carry a string value"
                )))
            }
            (AttributeKind::Number, AttributeValue::Text(text)) => {
                if parse_number(text).is_none() {
                    return Err(Error::Attribute(format!(
                        "Could not cast message attribute value to number: {text}"
                    )));
                }
            }
            (AttributeKind::StringArray, AttributeValue::Text(text)) => {
                if string_array(text).is_none() {
                    return Err(Error::Attribute(format!(
                        "The message attribute of type String.Array must be a JSON array of \
                         strings, numbers, true, false or null: {text}"
                    )));
                }
            }
            (AttributeKind::String, AttributeValue::Text(_)) => {}
        }
        Ok(MessageAttribute { data_type: data_type.to_owned(), kind, value })
    }

    /// A `String` attribute.
    pub fn string(value: impl Into<String>) -> Self {
        let value = AttributeValue::Text(value.into());
        MessageAttribute { data_type: "String".into(), kind: AttributeKind::String, value }
    }

    /// A `Number` attribute; the text must be a decimal number.
    pub fn number(value: impl Into<String>) -> Result<Self> {
        MessageAttribute::new("Number", AttributeValue::Text(value.into()))
    }

    /// A `String.Array` attribute; the text must be a JSON array of scalars.
    pub fn string_array(json: impl Into<String>) -> Result<Self> {
        MessageAttribute::new("String.Array", AttributeValue::Text(json.into()))
    }

    /// A `Binary` attribute.
    pub fn binary(bytes: impl Into<Vec<u8>>) -> Self {
        let value = AttributeValue::Bytes(bytes.into());
        MessageAttribute { data_type: "Binary".into(), kind: AttributeKind::Binary, value }
    }

    /// The data type as given (`Number.float` stays `Number.float`).
    pub fn data_type(&self) -> &str {
        &self.data_type
    }

    /// The base type.
    pub fn kind(&self) -> AttributeKind {
        self.kind
    }

    /// The value.
    pub fn value(&self) -> &AttributeValue {
        &self.value
    }

    /// The value as SNS shows it in a notification's `MessageAttributes`: the text, or the
    /// bytes in base64.
    pub fn rendered_value(&self) -> String {
        match &self.value {
            AttributeValue::Text(t) => t.clone(),
            AttributeValue::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b),
        }
    }

    /// The values a filter policy compares: one for `String` and `Number`, the elements of a
    /// `String.Array`, none for `Binary`.
    pub(crate) fn filter_values(&self) -> Vec<Value> {
        match (&self.kind, &self.value) {
            (AttributeKind::String, AttributeValue::Text(t)) => vec![Value::String(t.clone())],
            (AttributeKind::Number, AttributeValue::Text(t)) => {
                parse_number(t).map(|n| vec![n]).unwrap_or_default()
            }
            (AttributeKind::StringArray, AttributeValue::Text(t)) => {
                string_array(t).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}

/// A `Number` attribute's text as a JSON number, if it is a finite decimal number.
fn parse_number(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) {
        return None;
    }
    let n: f64 = trimmed.parse().ok()?;
    serde_json::Number::from_f64(n).map(Value::Number)
}

/// A `String.Array` attribute's elements, if its text is a JSON array of scalars.
fn string_array(text: &str) -> Option<Vec<Value>> {
    match serde_json::from_str::<Value>(text).ok()? {
        Value::Array(items) if items.iter().all(|v| !v.is_array() && !v.is_object()) => Some(items),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_base_type() {
        assert_eq!(AttributeKind::of("String"), Some(AttributeKind::String));
        assert_eq!(AttributeKind::of("String.json"), Some(AttributeKind::String));
        assert_eq!(AttributeKind::of("String.Array"), Some(AttributeKind::StringArray));
        assert_eq!(AttributeKind::of("Number.float"), Some(AttributeKind::Number));
        assert_eq!(AttributeKind::of("Binary"), Some(AttributeKind::Binary));
        assert_eq!(AttributeKind::of("Number."), None);
        assert_eq!(AttributeKind::of("string"), None);
        assert_eq!(AttributeKind::of(""), None);
    }

    #[test]
    fn validates_values_as_publish_does() {
        assert!(MessageAttribute::number("3.0e2").is_ok());
        assert!(MessageAttribute::number("-12").is_ok());
        assert!(MessageAttribute::number("twelve").is_err());
        assert!(MessageAttribute::number("").is_err());
        assert!(MessageAttribute::number("NaN").is_err());
        assert!(MessageAttribute::number("inf").is_err());
        assert!(MessageAttribute::string_array(r#"["a", 1, true, null]"#).is_ok());
        assert!(MessageAttribute::string_array(r#"["a", ["b"]]"#).is_err());
        assert!(MessageAttribute::string_array(r#"{"a": 1}"#).is_err());
        assert!(MessageAttribute::new("Binary", AttributeValue::Text("x".into())).is_err());
        assert!(MessageAttribute::new("String", AttributeValue::Bytes(vec![1])).is_err());
        let err = MessageAttribute::new("Blob", AttributeValue::Text("x".into())).unwrap_err();
        assert!(err.to_string().contains("invalid data type: Blob"), "{err}");
    }

    #[test]
    fn filter_values_by_kind() {
        let n = MessageAttribute::number("3.0e2").unwrap();
        assert_eq!(n.filter_values(), vec![serde_json::json!(300.0)]);
        assert_eq!(n.data_type(), "Number");
        let s = MessageAttribute::string("x");
        assert_eq!(s.filter_values(), vec![Value::String("x".into())]);
        let a = MessageAttribute::string_array(r#"["x", 2]"#).unwrap();
        assert_eq!(a.filter_values(), vec![serde_json::json!("x"), serde_json::json!(2)]);
        let b = MessageAttribute::binary(vec![0xde, 0xad]);
        assert!(b.filter_values().is_empty());
        assert_eq!(b.rendered_value(), "3q0=");
        assert_eq!(b.kind(), AttributeKind::Binary);
    }
}
