//! JSON Merge Patch (RFC 7396) and JSON Patch (RFC 6902).
//!
//! A JSON Patch is applied atomically: the operations run against a copy of the document,
//! which replaces it only when all of them succeed, so a failure leaves the document as it
//! was. The error names the failed operation by its index in the patch.
//!
//! RFC 6902 section 4 says members other than an operation's own are ignored. An operation
//! with a duplicated member is an error (appendix A.13); only [`parse_json_patch_text`] can
//! see one, since in a parsed `serde_json::Value` the last duplicate has already won.

use crate::json;
use crate::pointer::{self, array_index, Pointer};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Applies a JSON Merge Patch (RFC 7396 section 2) to a document. It cannot fail: any JSON
/// value is a merge patch.
pub fn apply_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else { return };
    for (name, value) in patch {
        if value.is_null() {
            target.shift_remove(name);
        } else {
            let slot = target.entry(name.clone()).or_insert(Value::Null);
            apply_merge_patch(slot, value);
        }
    }
}

/// Why a JSON Patch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("a JSON Patch document must be an array of operations")]
    NotAnArray,
    #[error("the JSON Patch document is not valid JSON: {0}")]
    Json(String),
    #[error("operation {index} ({op}) failed: {reason}")]
    Operation {
        /// The index of the failed operation in the patch, from 0.
        index: usize,
        /// The operation's `op`, or `?` when it has none.
        op: String,
        reason: Reason,
    },
}

/// What went wrong with one operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("an operation must be a JSON object")]
    NotAnObject,
    #[error("the member \"{0}\" is missing")]
    Missing(&'static str),
    #[error("the member \"{0}\" must be a string")]
    NotAString(&'static str),
    #[error("the member \"{0}\" appears more than once")]
    DuplicateMember(String),
    #[error("unknown operation; expected add, remove, replace, move, copy or test")]
    UnknownOp,
    #[error("the member \"{member}\" is not a JSON pointer: {error}")]
    Pointer { member: &'static str, error: pointer::Error },
    #[error("no value at \"{0}\"")]
    NotFound(String),
    #[error("the parent of \"{0}\" does not exist")]
    NoParent(String),
    #[error("the parent of \"{0}\" is neither an object nor an array")]
    NotAContainer(String),
    #[error("\"{0}\" is not a valid index of its array")]
    BadIndex(String),
    #[error("the whole document cannot be removed")]
    RemoveRoot,
    #[error("\"{from}\" cannot be moved into its own child \"{path}\"")]
    MoveIntoChild { from: String, path: String },
    #[error("the value at \"{0}\" is not the expected value")]
    TestFailed(String),
}

/// One JSON Patch operation, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Add { path: Pointer, value: Value },
    Remove { path: Pointer },
    Replace { path: Pointer, value: Value },
    Move { from: Pointer, path: Pointer },
    Copy { from: Pointer, path: Pointer },
    Test { path: Pointer, value: Value },
}

impl Operation {
    /// The operation's name, as `op` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Add { .. } => "add",
            Operation::Remove { .. } => "remove",
            Operation::Replace { .. } => "replace",
            Operation::Move { .. } => "move",
            Operation::Copy { .. } => "copy",
            Operation::Test { .. } => "test",
        }
    }

    fn parse(op: &Value) -> Result<Operation, Reason> {
        let Value::Object(m) = op else { return Err(Reason::NotAnObject) };
        let string = |member: &'static str| match m.get(member) {
            None => Err(Reason::Missing(member)),
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(Reason::NotAString(member)),
        };
        let pointer = |member: &'static str| {
            Pointer::parse(string(member)?).map_err(|error| Reason::Pointer { member, error })
        };
        let value = || m.get("value").cloned().ok_or(Reason::Missing("value"));
        Ok(match string("op")? {
            "add" => Operation::Add { path: pointer("path")?, value: value()? },
            "remove" => Operation::Remove { path: pointer("path")? },
            "replace" => Operation::Replace { path: pointer("path")?, value: value()? },
            "move" => Operation::Move { from: pointer("from")?, path: pointer("path")? },
            "copy" => Operation::Copy { from: pointer("from")?, path: pointer("path")? },
            "test" => Operation::Test { path: pointer("path")?, value: value()? },
            _ => return Err(Reason::UnknownOp),
        })
    }

    fn apply(&self, doc: &mut Value) -> Result<(), Reason> {
        match self {
            Operation::Add { path, value } => add(doc, path, value.clone()),
            Operation::Remove { path } => remove(doc, path).map(drop),
            Operation::Replace { path, value } => {
                let slot = path.get_mut(doc).ok_or_else(|| Reason::NotFound(path.to_string()))?;
                *slot = value.clone();
                Ok(())
            }
            Operation::Move { from, path } => {
                if from.is_proper_prefix_of(path) {
                    return Err(Reason::MoveIntoChild {
                        from: from.to_string(),
                        path: path.to_string(),
                    });
                }
                if from == path {
                    return from
                        .get(doc)
                        .map(drop)
                        .ok_or_else(|| Reason::NotFound(from.to_string()));
                }
                let value = remove(doc, from)?;
                add(doc, path, value)
            }
            Operation::Copy { from, path } => {
                let value = from.get(doc).ok_or_else(|| Reason::NotFound(from.to_string()))?;
                add(doc, path, value.clone())
            }
            Operation::Test { path, value } => match path.get(doc) {
                Some(current) if json::equal(current, value) => Ok(()),
                Some(_) => Err(Reason::TestFailed(path.to_string())),
                None => Err(Reason::NotFound(path.to_string())),
            },
        }
    }
}

/// Parses a JSON Patch document into its operations, checking every one before any runs.
pub fn parse_json_patch(patch: &Value) -> Result<Vec<Operation>, Error> {
    let Value::Array(ops) = patch else { return Err(Error::NotAnArray) };
    ops.iter()
        .enumerate()
        .map(|(index, op)| {
            Operation::parse(op).map_err(|reason| Error::Operation {
                index,
                op: op.get("op").and_then(Value::as_str).unwrap_or("?").to_owned(),
                reason,
            })
        })
        .collect()
}

/// Parses a JSON Patch document from its text. Unlike [`parse_json_patch`], it sees and
/// refuses an operation with a duplicated member.
pub fn parse_json_patch_text(text: &str) -> Result<Vec<Operation>, Error> {
    let value: Value = serde_json::from_str(text).map_err(|e| Error::Json(e.to_string()))?;
    if !value.is_array() {
        return Err(Error::NotAnArray);
    }
    let raw: Vec<RawOp> = serde_json::from_str(text).map_err(|e| Error::Json(e.to_string()))?;
    raw.into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let (op, duplicate) = match raw {
                RawOp::Object(m, duplicate) => (Value::Object(m), duplicate),
                RawOp::Other => (Value::Null, None),
            };
            let result = match duplicate {
                Some(member) => Err(Reason::DuplicateMember(member)),
                None => Operation::parse(&op),
            };
            result.map_err(|reason| Error::Operation {
                index,
                op: op.get("op").and_then(Value::as_str).unwrap_or("?").to_owned(),
                reason,
            })
        })
        .collect()
}

/// One element of a patch as written: an object and its first duplicated member, if any,
/// or something else (which [`Operation::parse`] refuses).
enum RawOp {
    Object(Map<String, Value>, Option<String>),
    Other,
}

impl<'de> Deserialize<'de> for RawOp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawOp, D::Error> {
        d.deserialize_any(RawOpVisitor)
    }
}

struct RawOpVisitor;

impl<'de> Visitor<'de> for RawOpVisitor {
    type Value = RawOp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON Patch operation")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawOp, A::Error> {
        let mut m = Map::new();
        let mut duplicate = None;
        while let Some(key) = map.next_key::<String>()? {
            let value: Value = map.next_value()?;
            if duplicate.is_none() && m.contains_key(&key) {
                duplicate = Some(key.clone());
            }
            m.insert(key, value);
        }
        Ok(RawOp::Object(m, duplicate))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawOp, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawOp::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawOp, E> {
        Ok(RawOp::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawOp, E> {
        Ok(RawOp::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawOp, E> {
        Ok(RawOp::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawOp, E> {
        Ok(RawOp::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<RawOp, E> {
        Ok(RawOp::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawOp, E> {
        Ok(RawOp::Other)
    }
}

/// Applies parsed operations atomically (see the module documentation).
pub fn apply_operations(doc: &mut Value, ops: &[Operation]) -> Result<(), Error> {
    let mut work = doc.clone();
    for (index, op) in ops.iter().enumerate() {
        op.apply(&mut work).map_err(|reason| Error::Operation {
            index,
            op: op.name().to_owned(),
            reason,
        })?;
    }
    *doc = work;
    Ok(())
}

/// Parses and applies a JSON Patch document atomically.
pub fn apply_json_patch(doc: &mut Value, patch: &Value) -> Result<(), Error> {
    apply_operations(doc, &parse_json_patch(patch)?)
}

fn add(doc: &mut Value, path: &Pointer, value: Value) -> Result<(), Reason> {
    let Some((parent, last)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent.get_mut(doc) {
        None => Err(Reason::NoParent(path.to_string())),
        Some(Value::Object(m)) => {
            m.insert(last.to_owned(), value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let index = if last == "-" { Some(a.len()) } else { array_index(last) };
            match index {
                Some(i) if i <= a.len() => {
                    a.insert(i, value);
                    Ok(())
                }
                _ => Err(Reason::BadIndex(path.to_string())),
            }
        }
        Some(_) => Err(Reason::NotAContainer(path.to_string())),
    }
}

fn remove(doc: &mut Value, path: &Pointer) -> Result<Value, Reason> {
    let Some((parent, last)) = path.split_last() else { return Err(Reason::RemoveRoot) };
    let removed = match parent.get_mut(doc) {
        Some(Value::Object(m)) => m.shift_remove(last),
        Some(Value::Array(a)) => match array_index(last) {
            Some(i) if i < a.len() => Some(a.remove(i)),
            _ => None,
        },
        _ => None,
    };
    removed.ok_or_else(|| Reason::NotFound(path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc_7396_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (target, patch, want) in cases {
            let mut doc = target.clone();
            apply_merge_patch(&mut doc, &patch);
            assert_eq!(doc, want, "{target} + {patch}");
        }
    }

    #[test]
    fn merge_patch_rfc_7396_section_3_example_keeps_member_order() {
        let mut doc = json!({
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged"
        });
        let patch = json!({
            "title": "Hello!",
            "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": null},
            "tags": ["example"]
        });
        apply_merge_patch(&mut doc, &patch);
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"title":"Hello!","author":{"givenName":"John"},"tags":["example"],"content":"This will be unchanged","phoneNumber":"+01-123-456-7890"}"#
        );
    }

    fn patched(doc: Value, patch: Value) -> Result<Value, Error> {
        let mut doc = doc;
        apply_json_patch(&mut doc, &patch).map(|()| doc)
    }

    fn op_error(index: usize, op: &str, reason: Reason) -> Result<Value, Error> {
        Err(Error::Operation { index, op: op.to_owned(), reason })
    }

    #[test]
    fn json_patch_rfc_6902_appendix_a() {
        // A.1 Adding an Object Member
        assert_eq!(
            patched(json!({"foo": "bar"}), json!([{"op": "add", "path": "/baz", "value": "qux"}])),
            Ok(json!({"baz": "qux", "foo": "bar"}))
        );
        // A.2 Adding an Array Element
        assert_eq!(
            patched(
                json!({"foo": ["bar", "baz"]}),
                json!([{"op": "add", "path": "/foo/1", "value": "qux"}])
            ),
            Ok(json!({"foo": ["bar", "qux", "baz"]}))
        );
        // A.3 Removing an Object Member
        assert_eq!(
            patched(json!({"baz": "qux", "foo": "bar"}), json!([{"op": "remove", "path": "/baz"}])),
            Ok(json!({"foo": "bar"}))
        );
        // A.4 Removing an Array Element
        assert_eq!(
            patched(
                json!({"foo": ["bar", "qux", "baz"]}),
                json!([{"op": "remove", "path": "/foo/1"}])
            ),
            Ok(json!({"foo": ["bar", "baz"]}))
        );
        // A.5 Replacing a Value
        assert_eq!(
            patched(
                json!({"baz": "qux", "foo": "bar"}),
                json!([{"op": "replace", "path": "/baz", "value": "boo"}])
            ),
            Ok(json!({"baz": "boo", "foo": "bar"}))
        );
        // A.6 Moving a Value
        assert_eq!(
            patched(
                json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
                json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}])
            ),
            Ok(json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}))
        );
        // A.7 Moving an Array Element
        assert_eq!(
            patched(
                json!({"foo": ["all", "grass", "cows", "eat"]}),
                json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}])
            ),
            Ok(json!({"foo": ["all", "cows", "eat", "grass"]}))
        );
        // A.8 Testing a Value: Success
        let doc = json!({"baz": "qux", "foo": ["a", 2, "c"]});
        assert_eq!(
            patched(
                doc.clone(),
                json!([
                    {"op": "test", "path": "/baz", "value": "qux"},
                    {"op": "test", "path": "/foo/1", "value": 2}
                ])
            ),
            Ok(doc)
        );
        // A.9 Testing a Value: Error
        assert_eq!(
            patched(json!({"baz": "qux"}), json!([{"op": "test", "path": "/baz", "value": "bar"}])),
            op_error(0, "test", Reason::TestFailed("/baz".into()))
        );
        // A.10 Adding a Nested Member Object
        assert_eq!(
            patched(
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}])
            ),
            Ok(json!({"foo": "bar", "child": {"grandchild": {}}}))
        );
        // A.11 Ignoring Unrecognized Elements
        assert_eq!(
            patched(
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}])
            ),
            Ok(json!({"foo": "bar", "baz": "qux"}))
        );
        // A.12 Adding to a Nonexistent Target
        assert_eq!(
            patched(
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/baz/bat", "value": "qux"}])
            ),
            op_error(0, "add", Reason::NoParent("/baz/bat".into()))
        );
        // A.14 ~ Escape Ordering
        let doc = json!({"/": 9, "~1": 10});
        assert_eq!(
            patched(doc.clone(), json!([{"op": "test", "path": "/~01", "value": 10}])),
            Ok(doc)
        );
        // A.15 Comparing Strings and Numbers
        assert_eq!(
            patched(
                json!({"/": 9, "~1": 10}),
                json!([{"op": "test", "path": "/~01", "value": "10"}])
            ),
            op_error(0, "test", Reason::TestFailed("/~01".into()))
        );
        // A.16 Adding an Array Value
        assert_eq!(
            patched(
                json!({"foo": ["bar"]}),
                json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}])
            ),
            Ok(json!({"foo": ["bar", ["abc", "def"]]}))
        );
    }

    #[test]
    fn json_patch_rfc_6902_appendix_a_13_duplicate_members() {
        // A.13 Invalid JSON Patch Document
        assert_eq!(
            parse_json_patch_text(
                r#"[{ "op": "add", "path": "/baz", "value": "qux", "op": "remove" }]"#
            ),
            Err(Error::Operation {
                index: 0,
                op: "remove".into(),
                reason: Reason::DuplicateMember("op".into())
            })
        );
        assert_eq!(
            parse_json_patch_text(
                r#"[{"op": "test", "path": "/a", "value": 1}, {"op": "remove", "path": "/a", "path": "/b"}]"#
            ),
            Err(Error::Operation {
                index: 1,
                op: "remove".into(),
                reason: Reason::DuplicateMember("path".into())
            })
        );
    }

    #[test]
    fn patch_text() {
        let ops = parse_json_patch_text(
            r#"[{"op": "add", "path": "/a", "value": {"b": [1, 2.5, null, true, "s"]}, "x": [[1], {}]},
                {"op": "remove", "path": "/a/b/0"}]"#,
        )
        .unwrap();
        let mut doc = json!({});
        apply_operations(&mut doc, &ops).unwrap();
        assert_eq!(doc, json!({"a": {"b": [2.5, null, true, "s"]}}));
        assert_eq!(parse_json_patch_text("{}"), Err(Error::NotAnArray));
        assert!(matches!(parse_json_patch_text("[{]"), Err(Error::Json(_))));
        assert!(matches!(parse_json_patch_text(""), Err(Error::Json(_))));
        for (text, reason) in [
            ("[1]", Reason::NotAnObject),
            ("[\"add\"]", Reason::NotAnObject),
            ("[[{\"op\": \"add\"}]]", Reason::NotAnObject),
            ("[null]", Reason::NotAnObject),
            ("[true]", Reason::NotAnObject),
            ("[-1.5]", Reason::NotAnObject),
            ("[{}]", Reason::Missing("op")),
        ] {
            assert_eq!(
                parse_json_patch_text(text),
                Err(Error::Operation { index: 0, op: "?".into(), reason }),
                "{text}"
            );
        }
    }

    #[test]
    fn failures_leave_the_document_unchanged() {
        let original = json!({"a": 1, "b": [1, 2]});
        let mut doc = original.clone();
        let err = apply_json_patch(
            &mut doc,
            &json!([
                {"op": "replace", "path": "/a", "value": 2},
                {"op": "add", "path": "/b/-", "value": 3},
                {"op": "remove", "path": "/c"}
            ]),
        )
        .unwrap_err();
        assert_eq!(doc, original);
        assert_eq!(err.to_string(), "operation 2 (remove) failed: no value at \"/c\"");
        // A malformed later operation stops the patch before anything runs.
        let err = apply_json_patch(
            &mut doc,
            &json!([{"op": "replace", "path": "/a", "value": 2}, {"op": "frobnicate", "path": "/a"}]),
        )
        .unwrap_err();
        assert_eq!(doc, original);
        assert_eq!(
            err.to_string(),
            "operation 1 (frobnicate) failed: unknown operation; expected add, remove, replace, \
             move, copy or test"
        );
    }

    #[test]
    fn malformed_operations() {
        let doc = json!({"a": 1});
        assert_eq!(patched(doc.clone(), json!({"op": "add"})), Err(Error::NotAnArray));
        assert_eq!(patched(doc.clone(), json!([])), Ok(doc.clone()));
        let cases = [
            (json!(1), "?", Reason::NotAnObject),
            (json!({"path": "/a"}), "?", Reason::Missing("op")),
            (json!({"op": 1, "path": "/a"}), "?", Reason::NotAString("op")),
            (json!({"op": "add", "value": 1}), "add", Reason::Missing("path")),
            (json!({"op": "add", "path": "/a"}), "add", Reason::Missing("value")),
            (json!({"op": "test", "path": "/a"}), "test", Reason::Missing("value")),
            (json!({"op": "replace", "path": "/a"}), "replace", Reason::Missing("value")),
            (json!({"op": "move", "path": "/a"}), "move", Reason::Missing("from")),
            (json!({"op": "copy", "path": "/a", "from": 3}), "copy", Reason::NotAString("from")),
            (json!({"op": "remove", "path": null}), "remove", Reason::NotAString("path")),
            (json!({"op": "ADD", "path": "/a", "value": 1}), "ADD", Reason::UnknownOp),
            (
                json!({"op": "remove", "path": "a"}),
                "remove",
                Reason::Pointer {
                    member: "path",
                    error: pointer::Error::NoLeadingSlash("a".into()),
                },
            ),
            (
                json!({"op": "copy", "path": "/b", "from": "/~2"}),
                "copy",
                Reason::Pointer { member: "from", error: pointer::Error::BadEscape("/~2".into()) },
            ),
        ];
        for (op, name, reason) in cases {
            assert_eq!(patched(doc.clone(), json!([op])), op_error(0, name, reason), "{op}");
        }
        // `null` is a value: adding it is not a missing member.
        assert_eq!(
            patched(doc, json!([{"op": "add", "path": "/b", "value": null}])),
            Ok(json!({"a": 1, "b": null}))
        );
    }

    #[test]
    fn add_edge_cases() {
        let doc = json!({"a": [1, 2], "s": "x"});
        let add = |path: &str, value: Value| {
            patched(doc.clone(), json!([{"op": "add", "path": path, "value": value}]))
        };
        assert_eq!(add("", json!([9])), Ok(json!([9])));
        assert_eq!(add("/a/0", json!(0)), Ok(json!({"a": [0, 1, 2], "s": "x"})));
        assert_eq!(add("/a/2", json!(3)), Ok(json!({"a": [1, 2, 3], "s": "x"})));
        assert_eq!(add("/a/-", json!(3)), Ok(json!({"a": [1, 2, 3], "s": "x"})));
        assert_eq!(add("/a/3", json!(3)), op_error(0, "add", Reason::BadIndex("/a/3".into())));
        assert_eq!(add("/a/01", json!(3)), op_error(0, "add", Reason::BadIndex("/a/01".into())));
        assert_eq!(add("/a/x", json!(3)), op_error(0, "add", Reason::BadIndex("/a/x".into())));
        assert_eq!(add("/s/x", json!(3)), op_error(0, "add", Reason::NotAContainer("/s/x".into())));
        // Adding an existing member replaces it in place.
        assert_eq!(
            serde_json::to_string(&add("/a", json!(0)).unwrap()).unwrap(),
            r#"{"a":0,"s":"x"}"#
        );
        assert_eq!(add("/", json!(0)), Ok(json!({"a": [1, 2], "s": "x", "": 0})));
    }

    #[test]
    fn remove_replace_edge_cases() {
        let doc = json!({"a": [1, 2], "b": {"c": 1}, "z": 0});
        let run = |op: Value| patched(doc.clone(), json!([op]));
        assert_eq!(
            run(json!({"op": "remove", "path": ""})),
            op_error(0, "remove", Reason::RemoveRoot)
        );
        assert_eq!(
            run(json!({"op": "remove", "path": "/a/-"})),
            op_error(0, "remove", Reason::NotFound("/a/-".into()))
        );
        assert_eq!(
            run(json!({"op": "remove", "path": "/a/2"})),
            op_error(0, "remove", Reason::NotFound("/a/2".into()))
        );
        // Removing keeps the order of the other members.
        assert_eq!(
            serde_json::to_string(&run(json!({"op": "remove", "path": "/a"})).unwrap()).unwrap(),
            r#"{"b":{"c":1},"z":0}"#
        );
        assert_eq!(run(json!({"op": "replace", "path": "", "value": 1})), Ok(json!(1)));
        assert_eq!(
            run(json!({"op": "replace", "path": "/a/-", "value": 1})),
            op_error(0, "replace", Reason::NotFound("/a/-".into()))
        );
        assert_eq!(
            run(json!({"op": "replace", "path": "/q", "value": 1})),
            op_error(0, "replace", Reason::NotFound("/q".into()))
        );
        assert_eq!(
            run(json!({"op": "replace", "path": "/a/1", "value": 5})),
            Ok(json!({"a": [1, 5], "b": {"c": 1}, "z": 0}))
        );
    }

    #[test]
    fn move_copy_test_edge_cases() {
        let doc = json!({"a": {"b": 1}, "l": [1, 2, 3]});
        let run = |op: Value| patched(doc.clone(), json!([op]));
        assert_eq!(
            run(json!({"op": "move", "from": "/a", "path": "/a/b/c"})),
            op_error(0, "move", Reason::MoveIntoChild { from: "/a".into(), path: "/a/b/c".into() })
        );
        assert_eq!(run(json!({"op": "move", "from": "/a", "path": "/a"})), Ok(doc.clone()));
        assert_eq!(
            run(json!({"op": "move", "from": "/x", "path": "/x"})),
            op_error(0, "move", Reason::NotFound("/x".into()))
        );
        assert_eq!(
            run(json!({"op": "move", "from": "/x", "path": "/y"})),
            op_error(0, "move", Reason::NotFound("/x".into()))
        );
        assert_eq!(
            run(json!({"op": "move", "from": "/a/b", "path": "/c"})),
            Ok(json!({"a": {}, "l": [1, 2, 3], "c": 1}))
        );
        assert_eq!(
            run(json!({"op": "move", "from": "/l/0", "path": "/l/-"})),
            Ok(json!({"a": {"b": 1}, "l": [2, 3, 1]}))
        );
        // The whole document moved under a new member is "into its own child".
        assert!(run(json!({"op": "move", "from": "", "path": "/n"})).is_err());
        assert_eq!(
            run(json!({"op": "copy", "from": "/a", "path": "/l/1"})),
            Ok(json!({"a": {"b": 1}, "l": [1, {"b": 1}, 2, 3]}))
        );
        assert_eq!(
            run(json!({"op": "copy", "from": "", "path": "/self"})),
            Ok(json!({"a": {"b": 1}, "l": [1, 2, 3], "self": {"a": {"b": 1}, "l": [1, 2, 3]}}))
        );
        assert_eq!(
            run(json!({"op": "copy", "from": "/nope", "path": "/x"})),
            op_error(0, "copy", Reason::NotFound("/nope".into()))
        );
        // `test` compares numbers by value and objects regardless of member order.
        assert_eq!(run(json!({"op": "test", "path": "/l/0", "value": 1.0})), Ok(doc.clone()));
        assert_eq!(
            run(json!({"op": "test", "path": "", "value": {"l": [1, 2, 3], "a": {"b": 1}}})),
            Ok(doc.clone())
        );
        assert_eq!(
            run(json!({"op": "test", "path": "/q", "value": null})),
            op_error(0, "test", Reason::NotFound("/q".into()))
        );
        assert_eq!(
            run(json!({"op": "test", "path": "/l", "value": [1, 2]})),
            op_error(0, "test", Reason::TestFailed("/l".into()))
        );
    }

    #[test]
    fn operations_apply_in_sequence() {
        assert_eq!(
            patched(
                json!({}),
                json!([
                    {"op": "add", "path": "/a", "value": []},
                    {"op": "add", "path": "/a/-", "value": 1},
                    {"op": "copy", "from": "/a/0", "path": "/a/-"},
                    {"op": "test", "path": "/a", "value": [1, 1]},
                    {"op": "move", "from": "/a", "path": "/b"},
                    {"op": "test", "path": "/b/1", "value": 1}
                ])
            ),
            Ok(json!({"b": [1, 1]}))
        );
    }
}
