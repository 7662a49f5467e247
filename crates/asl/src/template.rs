//! Payload templates: `Parameters`, `ResultSelector`, `ItemSelector` (JSONPath mode), where a
//! key ending in `.$` takes its value from a path or an intrinsic function call.
//!
//! A template is compiled once: every `.$` value is parsed into a [`Path`] or an intrinsic
//! [`Call`], and every subtree without `.$` keys is kept as one literal to copy. Evaluating then
//! only walks the dynamic parts.

use serde_json::{Map, Value};

use crate::intrinsics::Call;
use crate::path::Path;
use crate::{Env, Failure};

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    root: Node,
    /// Whether a `.$` field reads the context object (`$$`).
    reads_context: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A subtree without `.$` keys, copied as is.
    Literal(Value),
    /// An object with at least one dynamic field somewhere below.
    Object(Vec<(String, Field)>),
    /// An array with at least one dynamic element somewhere below.
    Array(Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Node(Node),
    /// `"key.$": "$.path"`; the key keeps its `.$` for error messages.
    Path {
        key: String,
        path: Path,
    },
    /// `"key.$": "States.Format(...)"`.
    Call(Call),
}

impl Template {
    /// Compiles a template; the error is a short reason for the validator (AWS's wording, e.g.
    /// `The value for the field 'x.$' must be a valid JSONPath or a valid intrinsic function
    /// call`).
    pub fn compile(raw: &Value) -> Result<Self, String> {
        let root = compile_node(raw)?;
        Ok(Self { reads_context: node_reads_context(&root), root })
    }

    /// Whether evaluating the template reads the context object (`$$`): without, it needs
    /// none built.
    pub fn reads_context(&self) -> bool {
        self.reads_context
    }

    /// Whether the template has no `.$` field anywhere (it evaluates to itself).
    pub fn is_literal(&self) -> bool {
        matches!(self.root, Node::Literal(_))
    }

    /// Evaluates the template against an environment.
    pub fn evaluate(&self, env: &Env<'_>) -> Result<Value, Failure> {
        eval_node(&self.root, env)
    }
}

/// Whether a key takes its value from a path or an intrinsic call.
pub fn is_dynamic_key(key: &str) -> bool {
    key.len() > 2 && key.ends_with(".$")
}

/// AWS's validation wording for a `.$` field whose value is neither a path nor a call.
pub fn invalid_dynamic_value_message(key: &str) -> String {
    format!("The value for the field '{key}' must be a valid JSONPath or a valid intrinsic function call")
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Bool(_) => "BOOLEAN",
        Value::Number(n) if n.is_f64() => "NUMBER",
        Value::Number(_) => "INTEGER",
        Value::String(_) => "STRING",
        Value::Array(_) => "ARRAY",
        Value::Object(_) => "OBJECT",
    }
}

/// Compiles the value of a `.$` field.
fn compile_dynamic(key: &str, value: &Value) -> Result<Field, String> {
    let Value::String(text) = value else {
        return Err(format!(
            "The value for the field '{key}' must be a STRING that contains a JSONPath but was an {}",
            json_type_name(value)
        ));
    };
    if text.starts_with('$') {
        let path = Path::parse(text).map_err(|_| invalid_dynamic_value_message(key))?;
        Ok(Field::Path { key: key.to_owned(), path })
    } else if text.starts_with("States.") {
        let call = Call::parse(text).map_err(|_| invalid_dynamic_value_message(key))?;
        Ok(Field::Call(call))
    } else {
        Err(invalid_dynamic_value_message(key))
    }
}

fn compile_node(raw: &Value) -> Result<Node, String> {
    match raw {
        Value::Object(m) => {
            let mut fields = Vec::with_capacity(m.len());
            let mut dynamic = false;
            for (k, v) in m {
                if is_dynamic_key(k) {
                    dynamic = true;
                    let name = k[..k.len() - 2].to_owned();
                    fields.push((name, compile_dynamic(k, v)?));
                } else {
                    let node = compile_node(v)?;
                    dynamic |= !matches!(node, Node::Literal(_));
                    fields.push((k.clone(), Field::Node(node)));
                }
            }
            if dynamic {
                Ok(Node::Object(fields))
            } else {
                Ok(Node::Literal(raw.clone()))
            }
        }
        Value::Array(a) => {
            let nodes = a.iter().map(compile_node).collect::<Result<Vec<_>, _>>()?;
            if nodes.iter().all(|n| matches!(n, Node::Literal(_))) {
                Ok(Node::Literal(raw.clone()))
            } else {
                Ok(Node::Array(nodes))
            }
        }
        other => Ok(Node::Literal(other.clone())),
    }
}

fn node_reads_context(node: &Node) -> bool {
    match node {
        Node::Literal(_) => false,
        Node::Array(items) => items.iter().any(node_reads_context),
        Node::Object(fields) => fields.iter().any(|(_, f)| match f {
            Field::Node(n) => node_reads_context(n),
            Field::Path { path, .. } => path.is_context_path(),
            Field::Call(c) => c.reads_context(),
        }),
    }
}

fn eval_node(node: &Node, env: &Env<'_>) -> Result<Value, Failure> {
    match node {
        Node::Literal(v) => Ok(v.clone()),
        Node::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for n in items {
                out.push(eval_node(n, env)?);
            }
            Ok(Value::Array(out))
        }
        Node::Object(fields) => {
            let mut out = Map::with_capacity(fields.len());
            for (name, field) in fields {
                let v = match field {
                    Field::Node(n) => eval_node(n, env)?,
                    Field::Path { key, path } => match path.lookup(env) {
                        Ok(v) => v.into_owned(),
                        Err(_) => {
                            return Err(Failure::runtime(path.not_found_cause(key, env.input)))
                        }
                    },
                    Field::Call(call) => call.evaluate(env)?,
                };
                out.insert(name.clone(), v);
            }
            Ok(Value::Object(out))
        }
    }
}
