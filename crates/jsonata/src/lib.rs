//! JSONata, the query and transformation language for JSON, as jsonata-js 2.x defines it.
//!
//! An expression is compiled once ([`Expression::compile`]) and evaluated many times
//! ([`Expression::evaluate`]). The crate is pure: the current time, when an expression asks for
//! it, comes from [`Options::now_millis`]; the only clock it reads is the monotonic one that
//! enforces [`Options::time_limit_ms`].
//!
//! Module map: `parser` (tokens, Pratt parser, tree rewriting) builds an `ast`; `eval` walks
//! it over `value`s; `functions` holds the library, with `numfmt` (number pictures),
//! `datetime` (date pictures), `regex`, `signature` and `stepfn` (the Step Functions additions).

use std::sync::Arc;

use serde_json::{Map, Value};

mod ast;
mod datetime;
mod eval;
mod functions;
mod numfmt;
mod parser;
pub use parser::SURROGATE_BASE;
mod regex;
mod signature;
mod stepfn;
mod value;

/// An error with the reference implementation's code (`S0201`, `T2001`, `D3001`, ...).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// The reference implementation's code.
    pub code: String,
    /// The character offset in the expression where the error was found, when known.
    pub position: Option<usize>,
    /// The reference implementation's message.
    pub message: String,
}

impl Error {
    pub(crate) fn new(code: &str, position: Option<usize>, message: String) -> Self {
        Error { code: code.to_string(), position, message }
    }
}

/// The reference implementation's message for an error code (without inserts).
pub(crate) fn message(code: &str) -> &'static str {
    match code {
        "S0101" => "String literal must be terminated by a matching quote",
        "S0102" => "Number out of range",
        "S0103" => "Unsupported escape sequence",
        "S0104" => "The escape sequence \\u must be followed by 4 hex digits",
        "S0105" => "Quoted property name must be terminated with a backquote (`)",
        "S0106" => "Comment has no closing tag",
        "S0201" => "Syntax error",
        "S0202" => "Expected token",
        "S0203" => "Expected token before end of expression",
        "S0204" => "Unknown operator",
        "S0205" => "Unexpected token",
        "S0206" => "Unknown expression type",
        "S0207" => "Unexpected end of expression",
        "S0208" => "Parameter of function definition must be a variable name (start with $)",
        "S0209" => "A predicate cannot follow a grouping expression in a step",
        "S0210" => "Each step can only have one grouping expression",
        "S0211" => "The symbol cannot be used as a unary operator",
        "S0212" => "The left side of := must be a variable name (start with $)",
        "S0213" => "The literal value cannot be used as a step within a path expression",
        "S0214" => "The right side of @ or # must be a variable name (start with $)",
        "S0215" => "A context variable binding must precede any predicates on a step",
        "S0216" => "A context variable binding must precede the 'order-by' clause on a step",
        "S0217" => "The object representing the 'parent' cannot be derived from this expression",
        "S0301" => "Empty regular expressions are not allowed",
        "S0302" => "No terminating / in regular expression",
        "S0402" => "Choice groups containing parameterized types are not supported",
        "S0401" => "Type parameters can only be applied to functions and arrays",
        "S0500" => "Attempted to evaluate an expression containing syntax error(s)",
        "T0410" => "Argument of function does not match function signature",
        "T0411" => "Context value is not a compatible type with argument of function",
        "T0412" => "Argument of function must be an array of the required type",
        "D1001" => "Number out of range",
        "D1002" => "Cannot negate a non-numeric value",
        "T1003" => "Key in object structure must evaluate to a string",
        "D1004" => "Regular expression matches zero length string",
        "T1005" => "Attempted to invoke a non-function. Did you mean ${{token}}?",
        "T1006" => "Attempted to invoke a non-function",
        "T1007" => "Attempted to partially apply a non-function. Did you mean ${{token}}?",
        "T1008" => "Attempted to partially apply a non-function",
        "D1009" => "Multiple key definitions evaluate to same key",
        "D1010" => "Attempted to access the Javascript object prototype",
        "T1010" => "The matcher function argument passed to function does not return the correct object structure",
        "T2001" => "The left side of the arithmetic operator must evaluate to a number",
        "T2002" => "The right side of the arithmetic operator must evaluate to a number",
        "T2003" => "The left side of the range operator (..) must evaluate to an integer",
        "T2004" => "The right side of the range operator (..) must evaluate to an integer",
        "D2005" => "The left side of := must be a variable name (start with $)",
        "T2006" => "The right side of the function application operator ~> must be a function",
        "T2007" => "Type mismatch when comparing values in order-by clause",
        "T2008" => "The expressions within an order-by clause must evaluate to numeric or string values",
        "T2009" => "The values either side of the operator must be of the same data type",
        "T2010" => "The expressions either side of operator must evaluate to numeric or string values",
        "T2011" => "The insert/update clause of the transform expression must evaluate to an object",
        "T2012" => "The delete clause of the transform expression must evaluate to a string or array of strings",
        "T2013" => "The transform expression clones the input object using the $clone() function.  This has been overridden in the current scope by a non-function.",
        "D2014" => "The size of the sequence allocated by the range operator (..) must not exceed 1e7.",
        "D3001" => "Attempting to invoke string function on Infinity or NaN",
        "D3010" => "Second argument of replace function cannot be an empty string",
        "D3011" => "Fourth argument of replace function must evaluate to a positive number",
        "D3012" => "Attempted to replace a matched string with a non-string value",
        "D3020" => "Third argument of split function must evaluate to a positive number",
        "D3030" => "Unable to cast value to a number",
        "D3040" => "Third argument of match function must evaluate to a positive number",
        "D3050" => "The second argument of reduce function must be a function with at least two arguments",
        "D3060" => "The sqrt function cannot be applied to a negative number",
        "D3061" => "The power function has resulted in a value that cannot be represented as a JSON number",
        "D3070" => "The single argument form of the sort function can only be applied to an array of strings or an array of numbers.  Use the second argument to specify a comparison function",
        "D3080" => "The picture string must only contain a maximum of two sub-pictures",
        "D3081" => "The sub-picture must not contain more than one instance of the 'decimal-separator' character",
        "D3082" => "The sub-picture must not contain more than one instance of the 'percent' character",
        "D3083" => "The sub-picture must not contain more than one instance of the 'per-mille' character",
        "D3084" => "The sub-picture must not contain both a 'percent' and a 'per-mille' character",
        "D3085" => "The mantissa part of a sub-picture must contain at least one character that is either an 'optional digit character' or a member of the 'decimal digit family'",
        "D3086" => "The sub-picture must not contain a passive character that is preceded by an active character and that is followed by another active character",
        "D3087" => "The sub-picture must not contain a 'grouping-separator' character that appears adjacent to a 'decimal-separator' character",
        "D3088" => "The sub-picture must not contain a 'grouping-separator' at the end of the integer part",
        "D3089" => "The sub-picture must not contain two adjacent instances of the 'grouping-separator' character",
        "D3090" => "The integer part of the sub-picture must not contain a member of the 'decimal digit family' that is followed by an instance of the 'optional digit character'",
        "D3091" => "The fractional part of the sub-picture must not contain an instance of the 'optional digit character' that is followed by a member of the 'decimal digit family'",
        "D3092" => "A sub-picture that contains a 'percent' or 'per-mille' character must not contain a character treated as an 'exponent-separator'",
        "D3093" => "The exponent part of the sub-picture must comprise only of one or more characters that are members of the 'decimal digit family'",
        "D3100" => "The radix of the formatBase function must be between 2 and 36",
        "D3110" => "The argument of the toMillis function must be an ISO 8601 formatted timestamp",
        "D3120" => "Syntax error in expression passed to function eval",
        "D3121" => "Dynamic error evaluating the expression passed to function eval",
        "D3130" => "Formatting or parsing an integer as a sequence starting with a character is not supported by this implementation",
        "D3131" => "In a decimal digit pattern, all digits must be from the same decimal group",
        "D3132" => "Unknown component specifier in date/time picture string",
        "D3133" => "The 'name' modifier can only be applied to months and days in the date/time picture string, not the component",
        "D3134" => "The timezone integer format specifier cannot have more than four digits",
        "D3135" => "No matching closing bracket ']' in date/time picture string",
        "D3136" => "The date/time picture string is missing specifiers required to parse the timestamp",
        "D3137" => "$error() function evaluated",
        "D3138" => "The $single() function expected exactly 1 matching result.  Instead it matched more.",
        "D3139" => "The $single() function expected exactly 1 matching result.  Instead it matched 0.",
        "D3140" => "Malformed URL passed to ${{functionName}}()",
        "D3141" => "$assert() statement failed",
        "U1001" => "Stack overflow error",
        _ => "Error",
    }
}

/// The stack [`Expression::evaluate`] allows itself: safe on a 2 MiB thread. Non-tail
/// recursion gets about 500 levels deep in a release build within it.
pub const DEFAULT_STACK_BUDGET: usize = 1536 * 1024;

/// The depth limit when [`Options::max_depth`] is unset.
pub const DEFAULT_MAX_DEPTH: usize = 1000;

/// How an evaluation runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The current time in milliseconds since the epoch, for `$now()` and `$millis()`.
    pub now_millis: Option<i64>,
    /// Give up with an error (U1001) after this many milliseconds of evaluation.
    pub time_limit_ms: Option<u64>,
    /// Give up with an error (U1001) past this depth of nested evaluation (1000 when unset).
    pub max_depth: Option<usize>,
    /// The Step Functions dialect: no `$eval`; `$partition`, `$range`, `$hash`, `$random`,
    /// `$uuid` and `$parse` are added.
    pub step_functions: bool,
    /// The bytes of the calling thread's stack an evaluation may use before failing with
    /// U1001 ([`DEFAULT_STACK_BUDGET`] when unset). Raise it only on a thread whose stack the
    /// caller knows to be larger, leaving a margin of at least 512 KiB below its size.
    pub stack_budget: Option<usize>,
}

/// The result of [`Expression::evaluate_detailed`]: a JSON value, or one of the two results
/// that have no JSON form, told apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluated {
    /// A JSON value.
    Value(Value),
    /// JSONata's undefined: the expression returned nothing.
    Undefined,
    /// A function (a lambda, a built-in or a partial application).
    Function,
}

impl Evaluated {
    /// The value as [`Expression::evaluate`] gives it: a function, like undefined, is `None`.
    pub fn into_option(self) -> Option<Value> {
        match self {
            Self::Value(v) => Some(v),
            Self::Undefined | Self::Function => None,
        }
    }
}

/// A compiled expression. Cheap to clone and to share between threads.
#[derive(Debug, Clone)]
pub struct Expression {
    source: String,
    ast: Arc<ast::Node>,
}

impl Expression {
    /// Parses an expression.
    pub fn compile(source: &str) -> Result<Self, Error> {
        let ast = parser::parse(source)?;
        Ok(Self { source: source.to_owned(), ast: Arc::new(ast) })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the expression against `input` (absent when `None`) with the given variable
    /// bindings (names without the `$`). `Ok(None)` is JSONata's undefined.
    ///
    /// The input and the bindings are converted into the evaluator's own values on every call;
    /// to evaluate against the same data many times, convert it once into a [`Document`] and
    /// use [`Expression::evaluate_document`].
    ///
    /// Evaluation uses at most [`Options::stack_budget`] bytes of the calling thread's stack
    /// ([`DEFAULT_STACK_BUDGET`] by default, safe on a 2 MiB thread): deeper recursion fails
    /// with U1001.
    pub fn evaluate(
        &self,
        input: Option<&Value>,
        bindings: &Map<String, Value>,
        options: &Options,
    ) -> Result<Option<Value>, Error> {
        self.evaluate_detailed(input, bindings, options).map(Evaluated::into_option)
    }

    /// [`Expression::evaluate`], telling a function result apart from undefined: a caller that
    /// rejects functions (Step Functions does, with a message of its own) needs to. Functions
    /// inside an array or an object still turn into `null` items and absent members.
    pub fn evaluate_detailed(
        &self,
        input: Option<&Value>,
        bindings: &Map<String, Value>,
        options: &Options,
    ) -> Result<Evaluated, Error> {
        let input = input.map(value::from_json).unwrap_or_default();
        let bindings = bindings.iter().map(|(k, v)| (k.as_str(), value::from_json(v)));
        self.run(input, bindings, options)
    }

    /// [`Expression::evaluate_detailed`] on data converted beforehand: nothing is converted
    /// but the result. Evaluation never changes a document (a transform works on a copy), so
    /// one document serves any number of evaluations.
    pub fn evaluate_document(
        &self,
        input: Option<&Document>,
        bindings: &[(&str, &Document)],
        options: &Options,
    ) -> Result<Evaluated, Error> {
        let input = input.map(|d| d.0.clone()).unwrap_or_default();
        self.run(input, bindings.iter().map(|(k, d)| (*k, d.0.clone())), options)
    }

    fn run<'b>(
        &self,
        input: value::Value,
        bindings: impl Iterator<Item = (&'b str, value::Value)>,
        options: &Options,
    ) -> Result<Evaluated, Error> {
        let ev =
            eval::Evaluator::new(options, options.stack_budget.unwrap_or(DEFAULT_STACK_BUDGET));
        let root = eval::new_frame(None);
        root.bind(value::Str::from("$"), input.clone());
        for (k, v) in bindings {
            root.bind(value::Str::from(k), v);
        }
        let ctx = match &input {
            value::Value::Array(_) => {
                value::Value::array_flags(vec![input], value::SEQ | value::OUTER)
            }
            _ => input,
        };
        let result = ev.eval(&self.ast, &ctx, &root)?;
        let out = match &result {
            value::Value::Function(_) => Ok(Evaluated::Function),
            v => value::to_json(v).map(|j| j.map_or(Evaluated::Undefined, Evaluated::Value)),
        };
        drop(result);
        drop(ev);
        out
    }
}

/// JSON data converted once into the evaluator's own values, for evaluating against many
/// times ([`Expression::evaluate_document`]) without converting it on every call. Cheap to
/// clone (its parts are shared); not `Send`, as the evaluator's values are reference-counted
/// for one thread.
#[derive(Clone)]
pub struct Document(value::Value);

impl Document {
    /// Converts a JSON value.
    pub fn from_json(v: &Value) -> Self {
        Self(value::from_json(v))
    }

    /// An object of the given members, in order, sharing their documents (a later member
    /// of the same name replaces an earlier one).
    pub fn object<'a>(members: impl IntoIterator<Item = (&'a str, &'a Document)>) -> Self {
        let mut m = value::ObjMap::default();
        for (k, d) in members {
            m.insert(value::Str::from(k), d.0.clone());
        }
        Self(value::Value::object(m))
    }
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match value::to_json(&self.0) {
            Ok(Some(v)) => write!(f, "Document({v})"),
            _ => f.write_str("Document(undefined)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(expr: &str, data: serde_json::Value) -> Result<Option<Value>, Error> {
        Expression::compile(expr)?.evaluate(Some(&data), &Map::new(), &Options::default())
    }

    fn sfn(expr: &str) -> Result<Option<Value>, Error> {
        let o = Options { step_functions: true, now_millis: Some(0), ..Options::default() };
        Expression::compile(expr)?.evaluate(None, &Map::new(), &o)
    }

    #[test]
    fn step_functions_dialect() {
        use serde_json::json;
        assert_eq!(sfn("$partition([1,2,3,4,5], 2)").unwrap(), Some(json!([[1, 2], [3, 4], [5]])));
        assert_eq!(sfn("$range(0, 10, 3)").unwrap(), Some(json!([0, 3, 6, 9])));
        assert_eq!(sfn("$range(5, 1, -2)").unwrap(), Some(json!([5, 3, 1])));
        assert_eq!(
            sfn("$hash('abc', 'SHA-256')").unwrap(),
            Some(json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        );
        assert_eq!(
            sfn("$hash('abc', 'MD5')").unwrap(),
            Some(json!("900150983cd24fb0d6963f7d28e17f72"))
        );
        assert_eq!(sfn("$parse('{\"a\": [1, 2]}').a[1]").unwrap(), Some(json!(2)));
        let r = sfn("$random()").unwrap().and_then(|v| v.as_f64()).unwrap();
        assert!((0.0..1.0).contains(&r));
        assert_eq!(sfn("$random(7)").unwrap(), sfn("$random(7)").unwrap());
        let u = sfn("$uuid()").unwrap().unwrap();
        assert_eq!(u.as_str().map(str::len), Some(36));
        assert_eq!(sfn("$eval('1')").unwrap_err().code, "T1006");
        assert_eq!(run("$eval('1 + 1')", Value::Null).unwrap(), Some(json!(2)));
        assert_eq!(run("$exists($uuid)", Value::Null).unwrap(), Some(json!(false)));
    }

    #[test]
    fn a_document_serves_many_evaluations_unchanged() {
        use serde_json::json;
        let data = json!({"order": {"items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}]}});
        let doc = Document::from_json(&data);
        let limit = Document::from_json(&json!(1));
        let o = Options::default();
        let eval = |expr: &str| {
            Expression::compile(expr).unwrap().evaluate_document(
                Some(&doc),
                &[("limit", &limit)],
                &o,
            )
        };
        // A transform changes a copy: the document itself keeps its members.
        let t = eval("order ~> |items|{'qty': qty * 10}, ['sku']|").unwrap();
        assert_eq!(t, Evaluated::Value(json!({"items": [{"qty": 20}, {"qty": 10}]})));
        assert_eq!(eval("$sum(order.items.qty)").unwrap(), Evaluated::Value(json!(3)));
        assert_eq!(eval("order.items[qty > $limit].sku").unwrap(), Evaluated::Value(json!("a")));
        // A singleton-keeping path marks arrays as jsonata-js does; later results are alike.
        assert_eq!(eval("order.items[].sku[]").unwrap(), Evaluated::Value(json!(["a", "b"])));
        assert_eq!(eval("order.items[0].sku").unwrap(), Evaluated::Value(json!("a")));
        assert_eq!(eval("$").unwrap(), Evaluated::Value(data.clone()));
        assert_eq!(eval("$nothing").unwrap(), Evaluated::Undefined);
        assert_eq!(eval("$sum").unwrap(), Evaluated::Function);
        // Same answers as converting on every call.
        let e = Expression::compile("order.items.(sku & qty)").unwrap();
        assert_eq!(
            e.evaluate_document(Some(&doc), &[], &o).unwrap().into_option(),
            e.evaluate(Some(&data), &Map::new(), &o).unwrap()
        );
        // An object of documents, as a caller builds `$states` from parts.
        let states = Document::object([("input", &doc), ("limit", &limit)]);
        let e = Expression::compile("$states.input.order.items[-1].sku & $states.limit").unwrap();
        assert_eq!(
            e.evaluate_document(None, &[("states", &states)], &o).unwrap(),
            Evaluated::Value(json!("b1"))
        );
        assert_eq!(format!("{limit:?}"), "Document(1)");
    }

    #[test]
    fn a_function_result_is_told_apart_from_undefined() {
        use serde_json::json;
        let detailed = |expr: &str| {
            Expression::compile(expr).unwrap().evaluate_detailed(
                Some(&json!({"a": 1})),
                &Map::new(),
                &Options::default(),
            )
        };
        for f in ["function($x){$x}", "$fn := function($x){$x}", "$sum", "$substring(?, 1)"] {
            assert_eq!(detailed(f).unwrap(), Evaluated::Function, "{f}");
            assert_eq!(run(f, json!({"a": 1})).unwrap(), None, "{f}");
        }
        assert_eq!(detailed("nothing").unwrap(), Evaluated::Undefined);
        assert_eq!(detailed("a").unwrap(), Evaluated::Value(json!(1)));
        assert_eq!(detailed("[a, $sum]").unwrap(), Evaluated::Value(json!([1, null])));
        assert_eq!(detailed("{'f': $sum}").unwrap(), Evaluated::Value(json!({})));
        assert_eq!(detailed("[$sum][0]").unwrap(), Evaluated::Function);
        assert_eq!(detailed("$error('no')").unwrap_err().code, "D3137");
    }

    #[test]
    fn now_comes_from_the_options() {
        let o = Options { now_millis: Some(1_500_000_000_000), ..Options::default() };
        let r = Expression::compile("$now()").unwrap().evaluate(None, &Map::new(), &o).unwrap();
        assert_eq!(r, Some(serde_json::json!("2017-07-14T02:40:00.000Z")));
    }

    #[test]
    fn evaluation_is_repeatable_and_does_not_share_state() {
        let e = Expression::compile("($x := $ + 1; [1..3].($x + $))").unwrap();
        for _ in 0..3 {
            let r = e.evaluate(Some(&serde_json::json!(1)), &Map::new(), &Options::default());
            assert_eq!(r.unwrap(), Some(serde_json::json!([3, 4, 5])));
        }
    }

    #[test]
    fn expression_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Expression>();
    }

    #[test]
    fn integral_results_are_integers() {
        assert_eq!(run("1 + 2", Value::Null).unwrap(), Some(serde_json::json!(3)));
        assert_eq!(run("1 / 4", Value::Null).unwrap(), Some(serde_json::json!(0.25)));
    }

    #[test]
    fn deep_recursion_is_an_error_not_a_crash() {
        let e = run("($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000))", Value::Null)
            .unwrap_err();
        assert_eq!(e.code, "U1001");
    }

    #[test]
    fn tail_calls_do_not_grow_the_stack() {
        let r = run(
            "($f := function($n, $acc){ $n = 0 ? $acc : $f($n - 1, $acc + 1) }; $f(20000, 0))",
            Value::Null,
        )
        .unwrap();
        assert_eq!(r, Some(serde_json::json!(20000)));
    }
}
