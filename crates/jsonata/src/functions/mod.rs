//! The function library: the registry of built-in functions with their signatures, and the
//! value helpers the evaluator shares with it (truthiness, `append`, operators, `$string`).

mod array;
mod hof;
mod numeric;
mod object;
mod string;

pub(crate) use numeric::{next_random, round_half_even};

use std::sync::OnceLock;

use crate::ast::BinOp;
use crate::eval::{Env, Evaluator};
use crate::signature::Signature;
use crate::value::{Function, ObjMap, Value};
use crate::Error;

/// A built-in function's implementation.
pub(crate) type NativeFn = fn(&Evaluator<'_>, &[Value], &Value, &Env) -> Result<Value, Error>;

/// A built-in function.
pub(crate) struct Builtin {
    pub(crate) name: &'static str,
    pub(crate) signature: Signature,
    /// The number of parameters jsonata-js's implementation declares (used by `$map` & co).
    pub(crate) arity: usize,
    pub(crate) func: NativeFn,
    dialect: Dialect,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Dialect {
    Both,
    JsonataOnly,
    StepFunctionsOnly,
}

fn table() -> &'static [Builtin] {
    static TABLE: OnceLock<Vec<Builtin>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let defs: Vec<(&'static str, &'static str, usize, NativeFn, Dialect)> = vec![
            ("sum", "<a<n>:n>", 1, array::sum, Dialect::Both),
            ("count", "<a:n>", 1, array::count, Dialect::Both),
            ("max", "<a<n>:n>", 1, array::max, Dialect::Both),
            ("min", "<a<n>:n>", 1, array::min, Dialect::Both),
            ("average", "<a<n>:n>", 1, array::average, Dialect::Both),
            ("string", "<x-b?:s>", 1, string::string, Dialect::Both),
            ("substring", "<s-nn?:s>", 3, string::substring, Dialect::Both),
            ("substringBefore", "<s-s:s>", 2, string::substring_before, Dialect::Both),
            ("substringAfter", "<s-s:s>", 2, string::substring_after, Dialect::Both),
            ("lowercase", "<s-:s>", 1, string::lowercase, Dialect::Both),
            ("uppercase", "<s-:s>", 1, string::uppercase, Dialect::Both),
            ("length", "<s-:n>", 1, string::length, Dialect::Both),
            ("trim", "<s-:s>", 1, string::trim, Dialect::Both),
            ("pad", "<s-ns?:s>", 3, string::pad, Dialect::Both),
            ("match", "<s-f<s:o>n?:a<o>>", 3, string::match_, Dialect::Both),
            ("contains", "<s-(sf):b>", 2, string::contains, Dialect::Both),
            ("replace", "<s-(sf)(sf)n?:s>", 4, string::replace, Dialect::Both),
            ("split", "<s-(sf)n?:a<s>>", 3, string::split, Dialect::Both),
            ("join", "<a<s>s?:s>", 2, string::join, Dialect::Both),
            ("formatNumber", "<n-so?:s>", 3, crate::numfmt::format_number_fn, Dialect::Both),
            ("formatBase", "<n-n?:s>", 2, crate::numfmt::format_base_fn, Dialect::Both),
            ("formatInteger", "<n-s:s>", 2, crate::numfmt::format_integer_fn, Dialect::Both),
            ("parseInteger", "<s-s:n>", 2, crate::numfmt::parse_integer_fn, Dialect::Both),
            ("number", "<(nsb)-:n>", 1, numeric::number, Dialect::Both),
            ("floor", "<n-:n>", 1, numeric::floor, Dialect::Both),
            ("ceil", "<n-:n>", 1, numeric::ceil, Dialect::Both),
            ("round", "<n-n?:n>", 2, numeric::round, Dialect::Both),
            ("abs", "<n-:n>", 1, numeric::abs, Dialect::Both),
            ("sqrt", "<n-:n>", 1, numeric::sqrt, Dialect::Both),
            ("power", "<n-n:n>", 2, numeric::power, Dialect::Both),
            ("random", "<:n>", 0, numeric::random, Dialect::JsonataOnly),
            ("boolean", "<x-:b>", 1, object::boolean_fn, Dialect::Both),
            ("not", "<x-:b>", 1, object::not, Dialect::Both),
            ("map", "<af>", 2, hof::map, Dialect::Both),
            ("zip", "<a+>", 0, array::zip, Dialect::Both),
            ("filter", "<af>", 2, hof::filter, Dialect::Both),
            ("single", "<af?>", 2, hof::single, Dialect::Both),
            ("reduce", "<afj?:j>", 3, hof::reduce, Dialect::Both),
            ("sift", "<o-f?:o>", 2, hof::sift, Dialect::Both),
            ("keys", "<x-:a<s>>", 1, object::keys, Dialect::Both),
            ("lookup", "<x-s:x>", 2, object::lookup, Dialect::Both),
            ("append", "<xx:a>", 2, array::append_fn, Dialect::Both),
            ("exists", "<x:b>", 1, object::exists, Dialect::Both),
            ("spread", "<x-:a<o>>", 1, object::spread, Dialect::Both),
            ("merge", "<a<o>:o>", 1, object::merge, Dialect::Both),
            ("reverse", "<a:a>", 1, array::reverse, Dialect::Both),
            ("each", "<o-f:a>", 2, hof::each, Dialect::Both),
            ("error", "<s?:x>", 1, object::error, Dialect::Both),
            ("assert", "<bs?:x>", 2, object::assert, Dialect::Both),
            ("type", "<x:s>", 1, object::type_, Dialect::Both),
            ("sort", "<af?:a>", 2, hof::sort, Dialect::Both),
            ("shuffle", "<a:a>", 1, array::shuffle, Dialect::Both),
            ("distinct", "<x:x>", 1, array::distinct, Dialect::Both),
            ("base64encode", "<s-:s>", 1, string::base64encode, Dialect::Both),
            ("base64decode", "<s-:s>", 1, string::base64decode, Dialect::Both),
            ("encodeUrlComponent", "<s-:s>", 1, string::encode_url_component, Dialect::Both),
            ("encodeUrl", "<s-:s>", 1, string::encode_url, Dialect::Both),
            ("decodeUrlComponent", "<s-:s>", 1, string::decode_url_component, Dialect::Both),
            ("decodeUrl", "<s-:s>", 1, string::decode_url, Dialect::Both),
            ("eval", "<sx?:x>", 2, object::eval, Dialect::JsonataOnly),
            ("toMillis", "<s-s?:n>", 2, crate::datetime::to_millis_fn, Dialect::Both),
            ("fromMillis", "<n-s?s?:s>", 3, crate::datetime::from_millis_fn, Dialect::Both),
            ("clone", "<(oa)-:o>", 1, object::clone, Dialect::Both),
            ("now", "<s?s?:s>", 2, crate::datetime::now_fn, Dialect::Both),
            ("millis", "<:n>", 0, crate::datetime::millis_fn, Dialect::Both),
            ("partition", "<an:a>", 2, crate::stepfn::partition, Dialect::StepFunctionsOnly),
            ("range", "<nnn?:a>", 3, crate::stepfn::range, Dialect::StepFunctionsOnly),
            ("hash", "<s-s?:s>", 2, crate::stepfn::hash, Dialect::StepFunctionsOnly),
            ("random", "<n?:n>", 1, crate::stepfn::random, Dialect::StepFunctionsOnly),
            ("uuid", "<:s>", 0, crate::stepfn::uuid, Dialect::StepFunctionsOnly),
            ("parse", "<s-:x>", 1, crate::stepfn::parse, Dialect::StepFunctionsOnly),
        ];
        defs.into_iter()
            .map(|(name, sig, arity, func, dialect)| Builtin {
                name,
                signature: Signature::parse(sig).expect("built-in signatures parse"),
                arity,
                func,
                dialect,
            })
            .collect()
    })
}

/// Finds a built-in function by name (without the `$`) for the given dialect.
pub(crate) fn lookup_builtin(name: &str, step_functions: bool) -> Option<&'static Builtin> {
    type Index = std::collections::HashMap<&'static str, [Option<&'static Builtin>; 2]>;
    static INDEX: OnceLock<Index> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut m: Index = std::collections::HashMap::new();
        for b in table() {
            let e = m.entry(b.name).or_default();
            if b.dialect != Dialect::StepFunctionsOnly {
                e[0] = Some(b);
            }
            if b.dialect != Dialect::JsonataOnly {
                e[1] = Some(b);
            }
        }
        m
    });
    index.get(name).and_then(|e| e[step_functions as usize])
}

/// An argument, undefined when absent.
pub(crate) fn arg(args: &[Value], i: usize) -> &Value {
    thread_local! {
        static UNDEF: &'static Value = Box::leak(Box::new(Value::Undefined));
    }
    match args.get(i) {
        Some(v) => v,
        None => UNDEF.with(|u| *u),
    }
}

/// The number of parameters a function takes (jsonata-js's `getFunctionArity`).
pub(crate) fn arity(f: &Value) -> usize {
    match f {
        Value::Function(rc) => match &**rc {
            Function::Lambda { def, .. } => def.params.len(),
            Function::Partial { args, .. } => args.iter().filter(|a| a.is_none()).count(),
            Function::Builtin(b) => b.arity,
            Function::Chain(..) | Function::Transform { .. } => 1,
            Function::Regex(_) => 2,
            Function::Native(_) => 0,
        },
        _ => 0,
    }
}

/// The arguments `$map` & co pass: value, then index and array if the function takes them.
pub(crate) fn hof_args(f: &Value, v: Value, i: Value, arr: &Value) -> Vec<Value> {
    let n = arity(f);
    let mut out = vec![v];
    if n >= 2 {
        out.push(i);
    }
    if n >= 3 {
        out.push(arr.clone());
    }
    out
}

/// An error with the library's message for `code`.
pub(crate) fn ferr(code: &str) -> Error {
    Error::new(code, None, crate::message(code).to_string())
}

/// Raises D1001 for non-finite numbers, as jsonata-js's `isNumeric`.
pub(crate) fn check_finite(n: f64) -> Result<(), Error> {
    if n.is_infinite() {
        return Err(ferr("D1001"));
    }
    Ok(())
}

/// JSONata truthiness (`$boolean`), with undefined as false.
pub(crate) fn boolean(v: &Value) -> bool {
    match v {
        Value::Undefined | Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => *n != 0.0 && !n.is_nan(),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => match a.items.len() {
            0 => false,
            1 => boolean(&a.items[0]),
            _ => a.items.iter().any(boolean),
        },
        Value::Object(o) => !o.borrow().is_empty(),
        Value::Function(_) => false,
        Value::Tuples(t) => !t.is_empty(),
    }
}

/// JavaScript truthiness.
pub(crate) fn js_truthy(v: &Value) -> bool {
    match v {
        Value::Undefined | Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => *n != 0.0 && !n.is_nan(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// jsonata-js's `append`: concatenation where non-arrays count as singletons.
pub(crate) fn append(a: Value, b: Value) -> Value {
    if a.is_undef() {
        return b;
    }
    if b.is_undef() {
        return a;
    }
    let mut items = match a {
        Value::Array(x) => x.items.clone(),
        v => vec![v],
    };
    match b {
        Value::Array(y) => items.extend(y.items.iter().cloned()),
        v => items.push(v),
    }
    Value::array(items)
}

pub(crate) fn cmp_str(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// A deep copy, as `JSON.parse(JSON.stringify(v))`.
pub(crate) fn deep_clone(v: &Value) -> Value {
    match v {
        Value::Array(a) => {
            Value::array(a.items.iter().filter(|x| !x.is_undef()).map(deep_clone).collect())
        }
        Value::Object(o) => Value::object(
            o.borrow()
                .iter()
                .filter(|(_, x)| !x.is_undef() && !x.is_function())
                .map(|(k, x)| (k.clone(), deep_clone(x)))
                .collect::<ObjMap>(),
        ),
        v => v.clone(),
    }
}

/// A number as JavaScript's `Number.prototype.toString` writes it.
pub(crate) fn num_str(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    let e = format!("{:e}", v.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp + 1;
    let mut s = String::new();
    if v < 0.0 {
        s.push('-');
    }
    if k <= n && n <= 21 {
        s.push_str(&digits);
        s.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        s.push_str(&digits[..n as usize]);
        s.push('.');
        s.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', (-n) as usize));
        s.push_str(&digits);
    } else {
        s.push_str(&digits[..1]);
        if k > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if n > 0 { '+' } else { '-' });
        s.push_str(&(n - 1).abs().to_string());
    }
    s
}

/// `Number(n.toPrecision(15))`.
pub(crate) fn precision15(n: f64) -> f64 {
    format!("{:.14e}", n).parse().unwrap_or(n)
}

fn json_str(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

fn stringify(
    v: &Value,
    indent: Option<usize>,
    level: usize,
    out: &mut String,
) -> Result<(), Error> {
    let nl = |out: &mut String, lvl: usize| {
        if let Some(w) = indent {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', w * lvl));
        }
    };
    match v {
        Value::Undefined | Value::Null => out.push_str("null"),
        Value::Function(_) => out.push_str("\"\""),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            check_finite(*n)?;
            let v = if n.fract() == 0.0 { *n } else { precision15(*n) };
            out.push_str(&num_str(v));
        }
        Value::String(s) => json_str(s, out),
        Value::Array(a) => {
            if a.items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, x) in a.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, level + 1);
                stringify(x, indent, level + 1, out)?;
            }
            nl(out, level);
            out.push(']');
        }
        Value::Tuples(t) => {
            let items: Vec<Value> = t.iter().map(|t| t.at.clone()).collect();
            stringify(&Value::array(items), indent, level, out)?;
        }
        Value::Object(o) => {
            let o = o.borrow();
            let entries: Vec<_> = o.iter().filter(|(_, x)| !x.is_undef()).collect();
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, level + 1);
                json_str(k, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                stringify(x, indent, level + 1, out)?;
            }
            nl(out, level);
            out.push('}');
        }
    }
    Ok(())
}

/// `$string`: strings as they are, other values as JSON with numbers to 15 digits.
pub(crate) fn to_string(v: &Value, pretty: bool) -> Result<Value, Error> {
    Ok(match v {
        Value::Undefined => Value::Undefined,
        Value::String(_) => v.clone(),
        Value::Function(_) => Value::str(""),
        Value::Number(n) if !n.is_finite() => return Err(ferr("D3001")),
        Value::Array(a) if a.has(crate::value::OUTER) && !a.items.is_empty() => {
            return to_string(&a.items[0], pretty)
        }
        v => {
            let mut s = String::new();
            stringify(v, if pretty { Some(2) } else { None }, 0, &mut s)?;
            Value::string(s)
        }
    })
}

fn num_operand(v: &Value, code: &str) -> Result<Option<f64>, Error> {
    match v {
        Value::Undefined => Ok(None),
        // NaN (from `0 % 0`, say) is not a number to jsonata-js's `isNumeric` either.
        Value::Number(n) if n.is_nan() => Err(ferr(code)),
        Value::Number(n) => {
            check_finite(*n)?;
            Ok(Some(*n))
        }
        _ => Err(ferr(code)),
    }
}

/// The binary operators other than `and`/`or`.
pub(crate) fn binary(op: BinOp, lhs: &Value, rhs: &Value) -> Result<Value, Error> {
    use BinOp::*;
    match op {
        Add | Sub | Mul | Div | Mod => {
            let l = num_operand(lhs, "T2001")?;
            let r = num_operand(rhs, "T2002")?;
            let (Some(l), Some(r)) = (l, r) else { return Ok(Value::Undefined) };
            Ok(Value::Number(match op {
                Add => l + r,
                Sub => l - r,
                Mul => l * r,
                Div => l / r,
                _ => l % r,
            }))
        }
        Eq | Ne => {
            if lhs.is_undef() || rhs.is_undef() {
                return Ok(Value::Bool(false));
            }
            let e = lhs.deep_eq(rhs);
            Ok(Value::Bool(if op == Eq { e } else { !e }))
        }
        Lt | Le | Gt | Ge => {
            let comparable =
                |v: &Value| matches!(v, Value::Undefined | Value::String(_) | Value::Number(_));
            if !comparable(lhs) || !comparable(rhs) {
                return Err(ferr("T2010"));
            }
            if lhs.is_undef() || rhs.is_undef() {
                return Ok(Value::Undefined);
            }
            let ord = match (lhs, rhs) {
                (Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
                (Value::String(a), Value::String(b)) => Some(cmp_str(a, b)),
                _ => return Err(ferr("T2009")),
            };
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match (op, ord) {
                (_, None) => false,
                (Lt, Some(o)) => o == Less,
                (Le, Some(o)) => o != Greater,
                (Gt, Some(o)) => o == Greater,
                (_, Some(o)) => o != Less,
            }))
        }
        Concat => {
            let mut s = String::new();
            for v in [lhs, rhs] {
                if let Value::String(x) = to_string(v, false)? {
                    s.push_str(&x);
                }
            }
            Ok(Value::string(s))
        }
        In => {
            if lhs.is_undef() || rhs.is_undef() {
                return Ok(Value::Bool(false));
            }
            let found = match rhs {
                Value::Array(a) => a.items.iter().any(|x| x.strict_eq(lhs)),
                v => v.strict_eq(lhs),
            };
            Ok(Value::Bool(found))
        }
        Range => {
            if !matches!(lhs, Value::Undefined | Value::Number(_)) {
                return Err(ferr("T2003"));
            }
            if !matches!(rhs, Value::Undefined | Value::Number(_)) {
                return Err(ferr("T2004"));
            }
            let (Value::Number(l), Value::Number(r)) = (lhs, rhs) else {
                return Ok(Value::Undefined);
            };
            if l.fract() != 0.0 {
                return Err(ferr("T2003"));
            }
            if r.fract() != 0.0 {
                return Err(ferr("T2004"));
            }
            if l > r {
                return Ok(Value::Undefined);
            }
            let size = r - l + 1.0;
            if size > 1e7 {
                return Err(ferr("D2014"));
            }
            let (l, r) = (*l as i64, *r as i64);
            Ok(Value::seq((l..=r).map(|i| Value::Number(i as f64)).collect()))
        }
        And | Or => Ok(Value::Undefined),
    }
}
