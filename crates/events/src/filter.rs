//! SNS subscription filter policies: which published messages a subscription receives.
//!
//! A policy is a JSON object whose keys name message attributes (`FilterPolicyScope =
//! MessageAttributes`, the default) or message body properties (`MessageBody`, where keys
//! nest as the body's objects do). Every key must match (AND); a key matches when any of the
//! patterns in its array matches (OR); `"$or": [{...}, {...}]` makes alternatives of whole
//! sub-policies, at any level. Patterns, as SNS defines them:
//!
//! | pattern | matches |
//! |---|---|
//! | `"text"` | the string `text` |
//! | `300` | any number equal to 300 (`3.0e2` too), compared with five decimal digits |
//! | `true`, `false`, `null` | that JSON value (in the body or a `String.Array`) |
//! | `{"prefix": "p"}`, `{"suffix": "s"}` | strings that start or end so |
//! | `{"equals-ignore-case": "t"}` | strings equal to `t` ignoring case |
//! | `{"anything-but": v}` | values present and not `v`; `v` a string, a number, a list of them, or `{"prefix"\|"suffix": s}` or `{"equals-ignore-case": s or [s..]}` |
//! | `{"numeric": [">", 0, "<=", 150]}` | numbers in the range (`=`, `<`, `<=`, `>`, `>=`; a lower bound then an upper bound) |
//! | `{"exists": true}` / `false` | the key present / absent |
//! | `{"cidr": "10.0.0.0/24"}` | strings that are IP addresses in the network |
//!
//! Values are typed as SNS types them: a `String` attribute is a string, a `Number`
//! attribute a number, the elements of a `String.Array` (and of arrays in the body) are
//! matched one by one and the key matches if any element does, and `Binary` attributes are
//! ignored (as if absent). So `"300"` does not match a `Number` attribute 300, nor `300` a
//! `String` attribute `"300"`. A body that is not a JSON object matches no policy but the
//! empty one.
//!
//! Validation follows SNS, with its messages: at most 5 keys, at most 150 combinations
//! (the product of each array's length times its nesting depth, summed over `$or`
//! alternatives), no empty arrays, no nesting in the `MessageAttributes` scope, one operator
//! per match object, and each operator's own checks.
//!
//! Choices where SNS's documentation is silent or ambiguous (a reviewer should know):
//! `anything-but` on an array matches when *any* element is not excluded (as SNS's string
//! and numeric examples show); `anything-but` never matches an absent key or a `null`;
//! `exists: true` in the body means at least one scalar (including `null`) at that path, so
//! a key holding only an object or an empty array does not "exist"; keys under an array of
//! objects are matched independently (two keys may be satisfied by different elements); a
//! dotted policy key (`"a.b"`) is a key with a dot, not a path.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::attributes::{AttributeKind, MessageAttributes};
use crate::error::{Error, Result};
use crate::netguard::Cidr;

/// SNS's limit on the combinations of values in a policy.
pub const MAX_COMBINATIONS: u64 = 150;
/// SNS's limit on the keys of a policy (top-level keys; `$or` alternatives count separately).
pub const MAX_KEYS: usize = 5;
/// SNS's limit on the size of a policy's JSON text.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;
/// How deeply objects and `$or`s may nest: a guard for the evaluator's stack (SNS's
/// complexity limit already stops deep nesting of keys).
const MAX_NESTING: usize = 32;

/// The words that make an object a match expression rather than a nested key.
const OPERATORS: [&str; 8] = [
    "prefix",
    "suffix",
    "equals-ignore-case",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
    "wildcard",
];

/// What a policy is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterPolicyScope {
    /// The message attributes (the default, as in SNS).
    #[default]
    MessageAttributes,
    /// The message body, parsed as a JSON object.
    MessageBody,
}

impl FromStr for FilterPolicyScope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "MessageAttributes" => Ok(FilterPolicyScope::MessageAttributes),
            "MessageBody" => Ok(FilterPolicyScope::MessageBody),
            _ => Err(invalid(format!(
                "FilterPolicyScope: Invalid value [{s}]. Please use either MessageBody or \
                 MessageAttributes"
            ))),
        }
    }
}

impl fmt::Display for FilterPolicyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FilterPolicyScope::MessageAttributes => "MessageAttributes",
            FilterPolicyScope::MessageBody => "MessageBody",
        })
    }
}

/// A validated filter policy, ready to match messages.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterPolicy {
    scope: FilterPolicyScope,
    root: Rules,
}

/// One level of a policy: keys that must all match, and groups of `$or` alternatives of
/// which, in each group, one must match.
#[derive(Debug, Clone, PartialEq)]
struct Rules {
    keys: Vec<(String, Field)>,
    ors: Vec<Vec<Rules>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    /// A nested object (body scope only).
    Nested(Rules),
    /// A non-empty list of patterns, any of which may match.
    Patterns(Vec<Pattern>),
}

#[derive(Debug, Clone, PartialEq)]
enum Pattern {
    Exact(Literal),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(String),
    AnythingBut(AnythingBut),
    Numeric(Range),
    Exists(bool),
    Cidr(Cidr),
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
enum AnythingBut {
    Values(Vec<Literal>),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(Vec<String>),
}

/// A numeric condition: an equality, or a range with optional bounds.
#[derive(Debug, Clone, PartialEq)]
enum Range {
    Equals(f64),
    Between { lower: Option<(f64, bool)>, upper: Option<(f64, bool)> },
}

fn invalid(message: String) -> Error {
    Error::FilterPolicy(message)
}

fn policy_error(message: impl fmt::Display) -> Error {
    invalid(format!("FilterPolicy: {message}"))
}

impl FilterPolicy {
    /// Parses and validates a policy's JSON text. `{}` is the policy that matches everything.
    pub fn parse(json: &str, scope: FilterPolicyScope) -> Result<Self> {
        if json.len() > MAX_POLICY_BYTES {
            return Err(policy_error("Filter policy can not be larger than 256 KB"));
        }
        let value: Value = serde_json::from_str(json)
            .map_err(|e| policy_error(format_args!("failed to parse JSON. {e}")))?;
        FilterPolicy::from_value(&value, scope)
    }

    /// Validates a policy already parsed as JSON.
    pub fn from_value(value: &Value, scope: FilterPolicyScope) -> Result<Self> {
        let Value::Object(object) = value else {
            return Err(policy_error("Filter policy must be a JSON object"));
        };
        let root = parse_rules(object, scope, 0)?;
        if key_count(&root) > MAX_KEYS {
            return Err(policy_error("Filter policy can not have more than 5 keys"));
        }
        if combinations(&root, 1) > MAX_COMBINATIONS {
            return Err(policy_error("Filter policy is too complex"));
        }
        Ok(FilterPolicy { scope, root })
    }

    /// What the policy matches against.
    pub fn scope(&self) -> FilterPolicyScope {
        self.scope
    }

    /// The policy's combinations, as SNS counts them for its limit of 150.
    pub fn combinations(&self) -> u64 {
        combinations(&self.root, 1)
    }

    /// Whether a message with this body and these attributes passes, by the policy's scope.
    pub fn matches(&self, body: &str, attributes: &MessageAttributes) -> bool {
        match self.scope {
            FilterPolicyScope::MessageAttributes => self.matches_attributes(attributes),
            FilterPolicyScope::MessageBody => self.matches_body(body),
        }
    }

    /// Whether a message with these attributes passes (whatever the policy's scope).
    pub fn matches_attributes(&self, attributes: &MessageAttributes) -> bool {
        eval_attributes(&self.root, attributes)
    }

    /// Whether a message with this body passes (whatever the policy's scope). A body that is
    /// not a JSON object passes only the empty policy.
    pub fn matches_body(&self, body: &str) -> bool {
        if self.is_empty() {
            return true;
        }
        match serde_json::from_str::<Value>(body) {
            Ok(value) => self.matches_body_value(&value),
            Err(_) => false,
        }
    }

    /// [`FilterPolicy::matches_body`] on a body already parsed.
    pub fn matches_body_value(&self, body: &Value) -> bool {
        if self.is_empty() {
            return true;
        }
        match body {
            Value::Object(_) => eval_body(&self.root, &[body]),
            _ => false,
        }
    }

    fn is_empty(&self) -> bool {
        self.root.keys.is_empty() && self.root.ors.is_empty()
    }
}

// ---------------------------------------------------------------------------------------
// Parsing and validation.

fn parse_rules(
    object: &Map<String, Value>,
    scope: FilterPolicyScope,
    depth: usize,
) -> Result<Rules> {
    if depth > MAX_NESTING {
        return Err(policy_error("Filter policy is too deeply nested"));
    }
    let mut rules = Rules { keys: Vec::new(), ors: Vec::new() };
    for (key, value) in object {
        if key == "$or" {
            if let Some(alternatives) = or_alternatives(value) {
                let group = alternatives
                    .into_iter()
                    .map(|alt| parse_rules(alt, scope, depth + 1))
                    .collect::<Result<Vec<_>>>()?;
                rules.ors.push(group);
                continue;
            }
        }
        let field = match value {
            Value::Object(inner) => {
                if scope == FilterPolicyScope::MessageAttributes {
                    return Err(invalid(
                        "Filter policy scope MessageAttributes does not support nested filter \
                         policy"
                            .into(),
                    ));
                }
                if inner.is_empty() {
                    return Err(policy_error(format_args!(
                        "\"{key}\" must not be an empty object"
                    )));
                }
                Field::Nested(parse_rules(inner, scope, depth + 1)?)
            }
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(policy_error("Empty arrays are not allowed"));
                }
                Field::Patterns(items.iter().map(parse_pattern).collect::<Result<_>>()?)
            }
            _ => return Err(policy_error(format_args!("\"{key}\" must be an object or an array"))),
        };
        rules.keys.push((key.clone(), field));
    }
    Ok(rules)
}

/// The alternatives of an `"$or"`, if SNS would read it as one: an array of at least two
/// objects, none of which has an operator as a key. Otherwise `"$or"` is a plain key.
fn or_alternatives(value: &Value) -> Option<Vec<&Map<String, Value>>> {
    let Value::Array(items) = value else { return None };
    if items.len() < 2 {
        return None;
    }
    items
        .iter()
        .map(|item| match item {
            Value::Object(o) if !o.keys().any(|k| OPERATORS.contains(&k.as_str())) => Some(o),
            _ => None,
        })
        .collect()
}

fn literal(value: &Value) -> Option<Literal> {
    match value {
        Value::String(s) => Some(Literal::Str(s.clone())),
        Value::Number(n) => n.as_f64().map(Literal::Num),
        Value::Bool(b) => Some(Literal::Bool(*b)),
        Value::Null => Some(Literal::Null),
        _ => None,
    }
}

fn parse_pattern(value: &Value) -> Result<Pattern> {
    if let Some(lit) = literal(value) {
        return Ok(Pattern::Exact(lit));
    }
    let Value::Object(object) = value else {
        return Err(policy_error("Match value must be String, number, true, false, or null"));
    };
    let mut entries = object.iter();
    let (Some((operator, operand)), None) = (entries.next(), entries.next()) else {
        return Err(policy_error("Only one key allowed in match expression"));
    };
    let string_operand = |op: &str| match operand {
        Value::String(s) => Ok(s.clone()),
        _ => Err(policy_error(format_args!("{op} match pattern must be a string"))),
    };
    match operator.as_str() {
        "prefix" => Ok(Pattern::Prefix(string_operand("prefix")?)),
        "suffix" => Ok(Pattern::Suffix(string_operand("suffix")?)),
        "equals-ignore-case" => {
            Ok(Pattern::EqualsIgnoreCase(string_operand("equals-ignore-case")?))
        }
        "anything-but" => parse_anything_but(operand).map(Pattern::AnythingBut),
        "numeric" => parse_numeric(operand).map(Pattern::Numeric),
        "exists" => match operand {
            Value::Bool(b) => Ok(Pattern::Exists(*b)),
            _ => Err(policy_error("exists match pattern must be either true or false.")),
        },
        "cidr" => parse_cidr(operand).map(Pattern::Cidr),
        other => Err(policy_error(format_args!("Unrecognized match type {other}"))),
    }
}

fn parse_anything_but(operand: &Value) -> Result<AnythingBut> {
    let value_of = |v: &Value| match v {
        Value::String(s) => Ok(Literal::Str(s.clone())),
        Value::Number(n) => n.as_f64().map(Literal::Num).ok_or_else(|| {
            policy_error("Inside anything but list, start|null|boolean is not supported.")
        }),
        _ => Err(policy_error("Inside anything but list, start|null|boolean is not supported.")),
    };
    match operand {
        Value::String(_) | Value::Number(_) => Ok(AnythingBut::Values(vec![value_of(operand)?])),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(policy_error("Empty arrays are not allowed"));
            }
            Ok(AnythingBut::Values(items.iter().map(value_of).collect::<Result<_>>()?))
        }
        Value::Object(object) => {
            let mut entries = object.iter();
            let (Some((operator, inner)), None) = (entries.next(), entries.next()) else {
                return Err(policy_error("Only one key allowed in match expression"));
            };
            let text = |op: &str| match inner {
                Value::String(s) => Ok(s.clone()),
                _ => Err(policy_error(format_args!("{op} match pattern must be a string"))),
            };
            match operator.as_str() {
                "prefix" => Ok(AnythingBut::Prefix(text("prefix")?)),
                "suffix" => Ok(AnythingBut::Suffix(text("suffix")?)),
                "equals-ignore-case" => match inner {
                    Value::String(s) => Ok(AnythingBut::EqualsIgnoreCase(vec![s.clone()])),
                    Value::Array(items) if !items.is_empty() => items
                        .iter()
                        .map(|v| match v {
                            Value::String(s) => Ok(s.clone()),
                            _ => Err(policy_error(
                                "Inside anything-but/ignore-case list, number|start|null|boolean \
                                 is not supported.",
                            )),
                        })
                        .collect::<Result<_>>()
                        .map(AnythingBut::EqualsIgnoreCase),
                    _ => Err(policy_error("equals-ignore-case match pattern must be a string")),
                },
                other => {
                    Err(policy_error(format_args!("Unsupported anything-but pattern: {other}")))
                }
            }
        }
        _ => Err(policy_error(
            "Value of anything-but must be an array or single string/number value.",
        )),
    }
}

fn parse_numeric(operand: &Value) -> Result<Range> {
    let Value::Array(items) = operand else {
        return Err(policy_error("Value of numeric must be an array."));
    };
    let describe = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let Some(first) = items.first() else {
        return Err(policy_error("Invalid member in numeric match: ]"));
    };
    let Value::String(op) = first else {
        return Err(policy_error(format_args!(
            "Invalid member in numeric match: {}",
            describe(first)
        )));
    };
    if !["<", "<=", "=", ">", ">="].contains(&op.as_str()) {
        return Err(policy_error(format_args!("Unrecognized numeric range operator: {op}")));
    }
    let number = |op: &str, v: Option<&Value>| {
        v.and_then(Value::as_f64).ok_or_else(|| {
            let name = if op == "=" { "equals" } else { op };
            policy_error(format_args!("Value of {name} must be numeric"))
        })
    };
    let value = number(op, items.get(1))?;
    let first_bound = (value, op.ends_with('='));
    let range = match op.as_str() {
        "=" => Range::Equals(value),
        "<" | "<=" => Range::Between { lower: None, upper: Some(first_bound) },
        _ => Range::Between { lower: Some(first_bound), upper: None },
    };
    if items.len() <= 2 {
        return Ok(range);
    }
    let Range::Between { lower: Some(lower), upper: None } = range else {
        return Err(policy_error("Too many elements in numeric expression"));
    };
    let second = &items[2];
    let Value::String(op2) = second else {
        return Err(policy_error(format_args!("Bad value in numeric range: {}", describe(second))));
    };
    if op2 != "<" && op2 != "<=" {
        return Err(policy_error(format_args!("Bad numeric range operator: {op2}")));
    }
    let top = number(op2, items.get(3))?;
    if top <= lower.0 {
        return Err(policy_error("Bottom must be less than top"));
    }
    if items.len() > 4 {
        return Err(policy_error("Too many terms in numeric range expression"));
    }
    Ok(Range::Between { lower: Some(lower), upper: Some((top, op2 == "<=")) })
}

fn parse_cidr(operand: &Value) -> Result<Cidr> {
    let Value::String(text) = operand else {
        return Err(policy_error("prefix match pattern must be a string"));
    };
    let Some((addr, bits)) = text.split_once('/').filter(|(_, b)| !b.contains('/')) else {
        return Err(policy_error("Malformed CIDR, one '/' required"));
    };
    let bits: u8 =
        bits.parse().map_err(|_| policy_error("Malformed CIDR, mask bits must be an integer"))?;
    let ip: IpAddr =
        addr.parse().map_err(|_| policy_error(format_args!("Nonstandard IP address: {addr}")))?;
    Cidr::masked(ip, bits)
        .ok_or_else(|| policy_error(format_args!("Nonstandard IP address: {addr}")))
}

/// The most top-level keys any one flattening of the `$or`s can have.
fn key_count(rules: &Rules) -> usize {
    rules.keys.len()
        + rules
            .ors
            .iter()
            .map(|group| group.iter().map(key_count).max().unwrap_or(0))
            .sum::<usize>()
}

/// SNS's complexity: each array's length times its depth, multiplied over the keys, with the
/// alternatives of an `$or` added up.
fn combinations(rules: &Rules, depth: u64) -> u64 {
    let mut total: u64 = 1;
    for (_, field) in &rules.keys {
        let factor = match field {
            Field::Nested(inner) => combinations(inner, depth + 1),
            Field::Patterns(patterns) => (patterns.len() as u64).saturating_mul(depth),
        };
        total = total.saturating_mul(factor);
    }
    for group in &rules.ors {
        let sum = group.iter().fold(0u64, |acc, alt| acc.saturating_add(combinations(alt, depth)));
        total = total.saturating_mul(sum);
    }
    total
}

// ---------------------------------------------------------------------------------------
// Evaluation.

fn eval_attributes(rules: &Rules, attributes: &MessageAttributes) -> bool {
    let keys_match = rules.keys.iter().all(|(key, field)| {
        let Field::Patterns(patterns) = field else {
            // Nested keys exist only in the body scope; an attribute never holds an object.
            return false;
        };
        let attribute = attributes.get(key).filter(|a| a.kind() != AttributeKind::Binary);
        let values = attribute.map(|a| a.filter_values()).unwrap_or_default();
        patterns.iter().any(|p| p.matches(attribute.is_some(), &values))
    });
    keys_match
        && rules.ors.iter().all(|group| group.iter().any(|alt| eval_attributes(alt, attributes)))
}

/// Evaluates `rules` against the objects found at this level of the body (several when the
/// path went through arrays).
fn eval_body(rules: &Rules, nodes: &[&Value]) -> bool {
    let keys_match = rules.keys.iter().all(|(key, field)| {
        let mut found = Vec::new();
        for node in nodes {
            if let Some(child) = node.get(key) {
                flatten_into(child, &mut found);
            }
        }
        match field {
            Field::Nested(inner) => {
                let objects: Vec<&Value> = found.into_iter().filter(|v| v.is_object()).collect();
                eval_body(inner, &objects)
            }
            Field::Patterns(patterns) => {
                let scalars: Vec<Value> =
                    found.into_iter().filter(|v| !v.is_object()).cloned().collect();
                patterns.iter().any(|p| p.matches(!scalars.is_empty(), &scalars))
            }
        }
    });
    keys_match && rules.ors.iter().all(|group| group.iter().any(|alt| eval_body(alt, nodes)))
}

/// Pushes `value`, or the elements of arrays at any depth, without recursion.
fn flatten_into<'v>(value: &'v Value, out: &mut Vec<&'v Value>) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items.iter().rev()),
            other => out.push(other),
        }
    }
}

/// Numbers compare with five decimal digits, as SNS documents.
fn quantize(x: f64) -> f64 {
    (x * 1e5).round()
}

fn number_of(value: &Value) -> Option<f64> {
    value.as_f64()
}

fn literal_matches(literal: &Literal, value: &Value) -> bool {
    match (literal, value) {
        (Literal::Str(s), Value::String(v)) => s == v,
        (Literal::Num(n), Value::Number(_)) => {
            number_of(value).is_some_and(|v| quantize(v) == quantize(*n))
        }
        (Literal::Bool(b), Value::Bool(v)) => b == v,
        (Literal::Null, Value::Null) => true,
        _ => false,
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

impl Pattern {
    /// Whether the pattern matches a key that is `present` with these scalar `values`.
    fn matches(&self, present: bool, values: &[Value]) -> bool {
        match self {
            Pattern::Exists(expected) => present == *expected,
            _ => values.iter().any(|v| self.matches_value(v)),
        }
    }

    fn matches_value(&self, value: &Value) -> bool {
        let text = value.as_str();
        match self {
            Pattern::Exact(lit) => literal_matches(lit, value),
            Pattern::Prefix(p) => text.is_some_and(|t| t.starts_with(p.as_str())),
            Pattern::Suffix(s) => text.is_some_and(|t| t.ends_with(s.as_str())),
            Pattern::EqualsIgnoreCase(s) => text.is_some_and(|t| eq_ignore_case(t, s)),
            Pattern::AnythingBut(but) => match but {
                AnythingBut::Values(list) => {
                    !value.is_null() && !list.iter().any(|lit| literal_matches(lit, value))
                }
                AnythingBut::Prefix(p) => text.is_some_and(|t| !t.starts_with(p.as_str())),
                AnythingBut::Suffix(s) => text.is_some_and(|t| !t.ends_with(s.as_str())),
                AnythingBut::EqualsIgnoreCase(list) => {
                    text.is_some_and(|t| !list.iter().any(|s| eq_ignore_case(t, s)))
                }
            },
            Pattern::Numeric(range) => {
                value.is_number() && number_of(value).is_some_and(|v| range.contains(v))
            }
            Pattern::Exists(_) => true,
            Pattern::Cidr(net) => {
                text.and_then(|t| t.parse::<IpAddr>().ok()).is_some_and(|ip| net.contains(ip))
            }
        }
    }
}

impl Range {
    fn contains(&self, x: f64) -> bool {
        let x = quantize(x);
        match self {
            Range::Equals(n) => x == quantize(*n),
            Range::Between { lower, upper } => {
                let above = lower.is_none_or(|(b, inclusive)| {
                    let b = quantize(b);
                    if inclusive {
                        x >= b
                    } else {
                        x > b
                    }
                });
                let below = upper.is_none_or(|(t, inclusive)| {
                    let t = quantize(t);
                    if inclusive {
                        x <= t
                    } else {
                        x < t
                    }
                });
                above && below
            }
        }
    }
}

#[cfg(test)]
mod tests;
