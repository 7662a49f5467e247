//! JSONata values in definitions: any JSON value whose strings may be `{% expression %}`.
//!
//! A [`Query`] is compiled once; evaluating it hands each expression to the `jsonata` crate
//! with `$states` and the workflow variables bound, as Step Functions does.

use jsonata::{Document, Evaluated};
use serde_json::{Map, Value};

use crate::{Failure, Vars};

/// A compiled JSONata-mode value.
#[derive(Debug, Clone)]
pub enum Query {
    /// A plain JSON value with no expression inside.
    Literal(Value),
    /// `"{% expression %}"`.
    Expr(Box<jsonata::Expression>),
    /// An object some of whose values hold expressions.
    Object(Vec<(String, Query)>),
    /// An array some of whose items hold expressions.
    Array(Vec<Query>),
}

/// What an expression sees: `$states` and the variables.
#[derive(Debug, Clone, Copy)]
pub struct QueryEnv<'a> {
    /// `$states.input`.
    pub input: &'a Value,
    /// `$states.result`, for fields evaluated after a task.
    pub result: Option<&'a Value>,
    /// `$states.errorOutput`, in a Catch.
    pub error_output: Option<&'a Value>,
    /// `$states.context`.
    pub context: &'a Value,
    /// Workflow variables.
    pub vars: &'a Vars,
    /// The current time, for `$now()` and `$millis()`.
    pub now_millis: i64,
}

impl Query {
    /// Whether a string is a whole `{% ... %}` expression.
    pub fn is_expression(s: &str) -> bool {
        let t = s.trim();
        t.len() >= 4 && t.starts_with("{%") && t.ends_with("%}")
    }

    /// Compiles a value; the error is a validator's message.
    pub fn compile(v: &Value) -> Result<Self, String> {
        Ok(match v {
            Value::String(s) if Self::is_expression(s) => {
                let t = s.trim();
                let src = &t[2..t.len() - 2];
                let expr = jsonata::Expression::compile(src).map_err(|e| {
                    format!("The JSONata expression '{}' is invalid: {}", src.trim(), e.message)
                })?;
                Self::Expr(Box::new(expr))
            }
            Value::Object(m) => {
                let parts = m
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), Self::compile(v)?)))
                    .collect::<Result<Vec<_>, String>>()?;
                if parts.iter().all(|(_, q)| matches!(q, Self::Literal(_))) {
                    Self::Literal(v.clone())
                } else {
                    Self::Object(parts)
                }
            }
            Value::Array(a) => {
                let parts = a.iter().map(Self::compile).collect::<Result<Vec<_>, String>>()?;
                if parts.iter().all(|q| matches!(q, Self::Literal(_))) {
                    Self::Literal(v.clone())
                } else {
                    Self::Array(parts)
                }
            }
            other => Self::Literal(other.clone()),
        })
    }

    /// Evaluates the value. `field` names it in error causes (`Output`, `Assign`, ...).
    pub fn evaluate(&self, env: &QueryEnv<'_>, field: &str) -> Result<Value, Failure> {
        match self {
            Self::Literal(v) => Ok(v.clone()),
            _ => self.eval_in(env, &bindings(env).as_slice(), field),
        }
    }

    /// Evaluates the value like [`Query::evaluate`], but fails an expression that returns a
    /// function with AWS's own text for it ("returned an unsupported result type"), as AWS
    /// does for a Map's `Items`. Elsewhere a function counts as undefined: the corpus records
    /// no text of its own for another field.
    pub fn evaluate_rejecting_functions(
        &self,
        env: &QueryEnv<'_>,
        field: &str,
    ) -> Result<Value, Failure> {
        let Self::Expr(e) = self else { return self.evaluate(env, field) };
        match eval_expr(e, env, &bindings(env).as_slice(), field)? {
            Evaluated::Value(v) => Ok(v),
            Evaluated::Undefined => Err(undefined(e, field)),
            Evaluated::Function => Err(Failure::query(format!(
                "The JSONata expression '{}' specified for the field '{field}' returned an unsupported result type.",
                e.source().trim()
            ))
            .at(field)),
        }
    }

    /// Evaluates a value that may be undefined (an expression returning nothing).
    pub fn evaluate_optional(
        &self,
        env: &QueryEnv<'_>,
        field: &str,
    ) -> Result<Option<Value>, Failure> {
        match self {
            Self::Expr(e) => {
                eval_expr(e, env, &bindings(env).as_slice(), field).map(Evaluated::into_option)
            }
            other => other.evaluate(env, field).map(Some),
        }
    }

    fn eval_in(
        &self,
        env: &QueryEnv<'_>,
        b: &[(&str, &Document)],
        field: &str,
    ) -> Result<Value, Failure> {
        match self {
            Self::Literal(v) => Ok(v.clone()),
            Self::Expr(e) => {
                eval_expr(e, env, b, field)?.into_option().ok_or_else(|| undefined(e, field))
            }
            Self::Object(parts) => {
                let mut out = Map::with_capacity(parts.len());
                for (k, q) in parts {
                    out.insert(k.clone(), q.eval_in(env, b, &format!("{field}/{k}"))?);
                }
                Ok(Value::Object(out))
            }
            Self::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, q) in items.iter().enumerate() {
                    out.push(q.eval_in(env, b, &format!("{field}[{i}]"))?);
                }
                Ok(Value::Array(out))
            }
        }
    }

    /// The expression's text, when this is a single expression.
    pub fn expression_text(&self) -> Option<&str> {
        match self {
            Self::Expr(e) => Some(e.source().trim()),
            _ => None,
        }
    }
}

/// The variables and `$states`, converted once for all the expressions of one evaluation.
struct Bindings<'a>(Vec<(&'a str, Document)>);

impl Bindings<'_> {
    fn as_slice(&self) -> Vec<(&str, &Document)> {
        self.0.iter().map(|(k, d)| (*k, d)).collect()
    }
}

fn bindings<'a>(env: &QueryEnv<'a>) -> Bindings<'a> {
    let input = Document::from_json(env.input);
    let result = env.result.map(Document::from_json);
    let error_output = env.error_output.map(Document::from_json);
    let context = Document::from_json(env.context);
    let mut states = vec![("input", &input)];
    if let Some(r) = &result {
        states.push(("result", r));
    }
    if let Some(e) = &error_output {
        states.push(("errorOutput", e));
    }
    states.push(("context", &context));
    let mut b = Vec::with_capacity(env.vars.len() + 1);
    b.extend(env.vars.iter().map(|(k, v)| (k.as_str(), Document::from_json(v))));
    // Bound last, so it wins over a variable of the same name, as before.
    b.push(("states", Document::object(states)));
    Bindings(b)
}

/// `States.QueryEvaluationError` for an expression that returned nothing.
fn undefined(e: &jsonata::Expression, field: &str) -> Failure {
    Failure::query(format!(
        "The JSONata expression '{}' specified for the field '{field}' returned nothing (undefined).",
        e.source().trim(),
    ))
    .at(field)
}

/// Evaluates one expression; a function result stays told apart from undefined, for the
/// fields whose AWS texts differ.
fn eval_expr(
    e: &jsonata::Expression,
    env: &QueryEnv<'_>,
    b: &[(&str, &Document)],
    field: &str,
) -> Result<Evaluated, Failure> {
    let options = jsonata::Options {
        now_millis: Some(env.now_millis),
        time_limit_ms: None,
        max_depth: None,
        step_functions: true,
        stack_budget: None,
    };
    e.evaluate_document(None, b, &options).map_err(|err| {
        Failure::query(format!(
            "The JSONata expression '{}' specified for the field '{field}' threw an error during evaluation. {}: {}",
            e.source().trim(),
            err.code,
            err.message
        ))
        .at(field)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval(value: Value, reject_functions: bool) -> Result<Value, Failure> {
        let q = Query::compile(&value).unwrap();
        let env = QueryEnv {
            input: &json!([1, 2]),
            result: None,
            error_output: None,
            context: &json!({}),
            vars: &Vars::new(),
            now_millis: 0,
        };
        if reject_functions {
            q.evaluate_rejecting_functions(&env, "Items")
        } else {
            q.evaluate(&env, "Items")
        }
    }

    #[test]
    fn a_function_result_has_its_own_text_where_asked_for() {
        let f = eval(json!("{% $fn := function($x){$x} %}"), true).unwrap_err();
        assert_eq!(f.error_name(), "States.QueryEvaluationError");
        assert_eq!(
            f.cause.as_deref(),
            Some("The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' returned an unsupported result type.")
        );
        assert_eq!(f.location.as_deref(), Some("Items"));
        // Elsewhere a function counts as undefined.
        let f = eval(json!("{% $sum %}"), false).unwrap_err();
        assert!(f.cause.unwrap().ends_with("returned nothing (undefined)."));
        // Undefined and values are as in `evaluate`.
        let f = eval(json!("{% $nothing %}"), true).unwrap_err();
        assert!(f.cause.unwrap().ends_with("returned nothing (undefined)."));
        assert_eq!(eval(json!("{% $states.input %}"), true).unwrap(), json!([1, 2]));
        assert_eq!(eval(json!([1]), true).unwrap(), json!([1]));
    }
}
