//! Choice rules of the JSONPath query language: comparisons, type tests, `And`/`Or`/`Not`.
//!
//! AWS's semantics: a comparison whose `Variable` holds a value of the wrong type is simply
//! false (`StringEquals` against a number does not match); a `Variable` (or `...Path` operand)
//! that selects nothing is a `States.Runtime` failure, except under `IsPresent`. Strings compare
//! as Java strings (UTF-16 code units), numbers by value (`1 == 1.0`), timestamps as instants.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::path::Path;
use crate::{Env, Failure};

/// A compiled choice rule (without its `Next`, which the state holds).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test { variable: Path, test: Test },
}

/// The type a comparison operator works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// A literal; timestamps are parsed once.
    Literal(Value, Option<DateTime<FixedOffset>>),
    Path(Path),
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Compare(Ty, Op, Operand),
    Matches(Vec<GlobToken>),
    IsPresent(bool),
    IsNull(bool),
    IsNumeric(bool),
    IsString(bool),
    IsBoolean(bool),
    IsTimestamp(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum GlobToken {
    Char(char),
    Star,
}

/// The comparison operators, by name: type, operator, whether the operand is a path.
const COMPARISONS: [(&str, Ty, Op, bool); 32] = [
    ("StringEquals", Ty::String, Op::Eq, false),
    ("StringLessThan", Ty::String, Op::Lt, false),
    ("StringGreaterThan", Ty::String, Op::Gt, false),
    ("StringLessThanEquals", Ty::String, Op::Le, false),
    ("StringGreaterThanEquals", Ty::String, Op::Ge, false),
    ("StringEqualsPath", Ty::String, Op::Eq, true),
    ("StringLessThanPath", Ty::String, Op::Lt, true),
    ("StringGreaterThanPath", Ty::String, Op::Gt, true),
    ("StringLessThanEqualsPath", Ty::String, Op::Le, true),
    ("StringGreaterThanEqualsPath", Ty::String, Op::Ge, true),
    ("NumericEquals", Ty::Numeric, Op::Eq, false),
    ("NumericLessThan", Ty::Numeric, Op::Lt, false),
    ("NumericGreaterThan", Ty::Numeric, Op::Gt, false),
    ("NumericLessThanEquals", Ty::Numeric, Op::Le, false),
    ("NumericGreaterThanEquals", Ty::Numeric, Op::Ge, false),
    ("NumericEqualsPath", Ty::Numeric, Op::Eq, true),
    ("NumericLessThanPath", Ty::Numeric, Op::Lt, true),
    ("NumericGreaterThanPath", Ty::Numeric, Op::Gt, true),
    ("NumericLessThanEqualsPath", Ty::Numeric, Op::Le, true),
    ("NumericGreaterThanEqualsPath", Ty::Numeric, Op::Ge, true),
    ("BooleanEquals", Ty::Boolean, Op::Eq, false),
    ("BooleanEqualsPath", Ty::Boolean, Op::Eq, true),
    ("TimestampEquals", Ty::Timestamp, Op::Eq, false),
    ("TimestampLessThan", Ty::Timestamp, Op::Lt, false),
    ("TimestampGreaterThan", Ty::Timestamp, Op::Gt, false),
    ("TimestampLessThanEquals", Ty::Timestamp, Op::Le, false),
    ("TimestampGreaterThanEquals", Ty::Timestamp, Op::Ge, false),
    ("TimestampEqualsPath", Ty::Timestamp, Op::Eq, true),
    ("TimestampLessThanPath", Ty::Timestamp, Op::Lt, true),
    ("TimestampGreaterThanPath", Ty::Timestamp, Op::Gt, true),
    ("TimestampLessThanEqualsPath", Ty::Timestamp, Op::Le, true),
    ("TimestampGreaterThanEqualsPath", Ty::Timestamp, Op::Ge, true),
];

const TYPE_TESTS: [&str; 6] =
    ["IsPresent", "IsNull", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"];

/// Keys of a rule object that are not operators.
const IGNORED: [&str; 4] = ["Next", "Assign", "Comment", "Output"];

impl Rule {
    /// Compiles a rule from its JSON; `Next`, `Assign`, `Comment` are ignored here.
    pub fn parse(raw: &Value) -> Result<Self, String> {
        let Value::Object(m) = raw else {
            return Err("a choice rule must be an object".to_owned());
        };
        let ops: Vec<&String> =
            m.keys().filter(|k| !IGNORED.contains(&k.as_str()) && *k != "Variable").collect();
        if ops.is_empty() {
            return Err("a choice rule needs a comparison operator or And, Or, Not".to_owned());
        }
        if ops.len() > 1 {
            return Err(format!(
                "a choice rule must have exactly one operator, found: {}",
                ops.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        let op = ops[0].as_str();
        let value = &m[op];
        let kind = match op {
            "And" | "Or" => {
                if m.contains_key("Variable") {
                    return Err(format!("{op} cannot have a Variable"));
                }
                let Value::Array(items) = value else {
                    return Err(format!("{op} must be a non-empty array of rules"));
                };
                if items.is_empty() {
                    return Err(format!("{op} must be a non-empty array of rules"));
                }
                let rules = items.iter().map(Rule::parse).collect::<Result<Vec<_>, _>>()?;
                if op == "And" {
                    Kind::And(rules)
                } else {
                    Kind::Or(rules)
                }
            }
            "Not" => {
                if m.contains_key("Variable") {
                    return Err("Not cannot have a Variable".to_owned());
                }
                Kind::Not(Box::new(Rule::parse(value)?))
            }
            _ => {
                let Some(Value::String(var)) = m.get("Variable") else {
                    return Err(format!("{op} needs a Variable holding a JSONPath"));
                };
                let variable = Path::parse(var)
                    .map_err(|e| format!("invalid JSONPath in Variable '{var}': {e}"))?;
                Kind::Test { variable, test: parse_test(op, value)? }
            }
        };
        Ok(Self { kind })
    }

    /// Whether evaluating the rule reads the context object (`$$`).
    pub fn reads_context(&self) -> bool {
        match &self.kind {
            Kind::And(rules) | Kind::Or(rules) => rules.iter().any(Rule::reads_context),
            Kind::Not(r) => r.reads_context(),
            Kind::Test { variable, test } => {
                variable.is_context_path()
                    || matches!(test, Test::Compare(_, _, Operand::Path(p)) if p.is_context_path())
            }
        }
    }

    /// Evaluates the rule.
    pub fn evaluate(&self, env: &Env<'_>) -> Result<bool, Failure> {
        match &self.kind {
            Kind::And(rules) => {
                for r in rules {
                    if !r.evaluate(env)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Kind::Or(rules) => {
                for r in rules {
                    if r.evaluate(env)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Kind::Not(r) => Ok(!r.evaluate(env)?),
            Kind::Test { variable, test } => {
                let value = variable.lookup(env);
                if let Test::IsPresent(want) = test {
                    return Ok(value.is_ok() == *want);
                }
                let Ok(value) = value else {
                    return Err(Failure::runtime(invalid_path_cause(variable)));
                };
                eval_test(test, &value, env)
            }
        }
    }
}

/// AWS's cause when a choice rule's path selects nothing.
pub fn invalid_path_cause(path: &Path) -> String {
    format!(
        "Invalid path '{}': The choice state's condition path references an invalid value.",
        path.text()
    )
}

fn parse_test(op: &str, value: &Value) -> Result<Test, String> {
    if TYPE_TESTS.contains(&op) {
        let Value::Bool(b) = value else {
            return Err(format!("{op} must be true or false"));
        };
        return Ok(match op {
            "IsPresent" => Test::IsPresent(*b),
            "IsNull" => Test::IsNull(*b),
            "IsNumeric" => Test::IsNumeric(*b),
            "IsString" => Test::IsString(*b),
            "IsBoolean" => Test::IsBoolean(*b),
            _ => Test::IsTimestamp(*b),
        });
    }
    if op == "StringMatches" {
        let Value::String(p) = value else {
            return Err("StringMatches must be a string".to_owned());
        };
        return Ok(Test::Matches(parse_glob(p)));
    }
    let Some(&(_, ty, cmp, is_path)) = COMPARISONS.iter().find(|(n, ..)| *n == op) else {
        return Err(format!("unknown choice operator '{op}'"));
    };
    let operand = if is_path {
        let Value::String(p) = value else {
            return Err(format!("{op} must be a string holding a JSONPath"));
        };
        Operand::Path(Path::parse(p).map_err(|e| format!("invalid JSONPath in {op} '{p}': {e}"))?)
    } else {
        let ok = match ty {
            Ty::String => value.is_string(),
            Ty::Numeric => value.is_number(),
            Ty::Boolean => value.is_boolean(),
            Ty::Timestamp => value.as_str().is_some_and(|s| parse_timestamp(s).is_some()),
        };
        if !ok {
            let want = match ty {
                Ty::String => "a string",
                Ty::Numeric => "a number",
                Ty::Boolean => "a boolean",
                Ty::Timestamp => "an RFC3339 timestamp string",
            };
            return Err(format!("{op} must be {want}"));
        }
        let ts = if ty == Ty::Timestamp { value.as_str().and_then(parse_timestamp) } else { None };
        Operand::Literal(value.clone(), ts)
    };
    Ok(Test::Compare(ty, cmp, operand))
}

fn eval_test(test: &Test, value: &Value, env: &Env<'_>) -> Result<bool, Failure> {
    Ok(match test {
        Test::IsPresent(_) => unreachable!("handled by the caller"),
        Test::IsNull(b) => value.is_null() == *b,
        Test::IsNumeric(b) => value.is_number() == *b,
        Test::IsString(b) => value.is_string() == *b,
        Test::IsBoolean(b) => value.is_boolean() == *b,
        Test::IsTimestamp(b) => value.as_str().and_then(parse_timestamp).is_some() == *b,
        Test::Matches(glob) => value.as_str().is_some_and(|s| glob_match(glob, s)),
        Test::Compare(ty, op, operand) => {
            let ord = match operand {
                Operand::Literal(lit, ts) => compare(*ty, value, lit, *ts),
                Operand::Path(p) => match p.lookup(env) {
                    Ok(other) => compare(*ty, value, &other, None),
                    Err(_) => return Err(Failure::runtime(invalid_path_cause(p))),
                },
            };
            match ord {
                None => false,
                Some(o) => match op {
                    Op::Eq => o.is_eq(),
                    Op::Lt => o.is_lt(),
                    Op::Gt => o.is_gt(),
                    Op::Le => o.is_le(),
                    Op::Ge => o.is_ge(),
                },
            }
        }
    })
}

/// Compares a variable with an operand of the operator's type; `None` on a type mismatch.
fn compare(
    ty: Ty,
    var: &Value,
    operand: &Value,
    operand_ts: Option<DateTime<FixedOffset>>,
) -> Option<Ordering> {
    match ty {
        Ty::String => {
            let (a, b) = (var.as_str()?, operand.as_str()?);
            if a == b {
                return Some(Ordering::Equal);
            }
            Some(a.encode_utf16().cmp(b.encode_utf16()))
        }
        Ty::Numeric => {
            let (Value::Number(a), Value::Number(b)) = (var, operand) else { return None };
            if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
                Some(x.cmp(&y))
            } else if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
                Some(x.cmp(&y))
            } else {
                a.as_f64()?.partial_cmp(&b.as_f64()?)
            }
        }
        Ty::Boolean => {
            let (a, b) = (var.as_bool()?, operand.as_bool()?);
            Some(a.cmp(&b))
        }
        Ty::Timestamp => {
            let a = parse_timestamp(var.as_str()?)?;
            let b = match operand_ts {
                Some(t) => t,
                None => parse_timestamp(operand.as_str()?)?,
            };
            Some(a.cmp(&b))
        }
    }
}

/// An RFC3339 timestamp with a `T` between date and time and an offset (`Z` or `+hh:mm`).
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// Parses a `StringMatches` pattern: `*` matches any run of characters, `\*` a literal star and
/// `\\` a literal backslash.
fn parse_glob(p: &str) -> Vec<GlobToken> {
    let mut out = Vec::with_capacity(p.len());
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('*' | '\\')) => out.push(GlobToken::Char(e)),
                Some(e) => {
                    out.push(GlobToken::Char('\\'));
                    out.push(GlobToken::Char(e));
                }
                None => out.push(GlobToken::Char('\\')),
            },
            '*' => out.push(GlobToken::Star),
            c => out.push(GlobToken::Char(c)),
        }
    }
    out
}

/// Wildcard matching with backtracking to the last star (linear in practice).
fn glob_match(glob: &[GlobToken], s: &str) -> bool {
    let text: Vec<char> = s.chars().collect();
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some(GlobToken::Star) => {
                star = Some((g, t));
                g += 1;
            }
            Some(GlobToken::Char(c)) if *c == text[t] => {
                g += 1;
                t += 1;
            }
            _ => match star {
                Some((sg, st)) => {
                    g = sg + 1;
                    t = st + 1;
                    star = Some((sg, st + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|t| matches!(t, GlobToken::Star))
}
