//! The intrinsic functions (`States.Format`, `States.Array`, ... `States.UUID`).
//!
//! A call is parsed once ([`Call::parse`]) into a tree of arguments: string literals (with the
//! `\'`, `\{`, `\}` and `\\` escapes; any other escape makes the definition invalid), numbers,
//! `true`/`false`/`null`, paths (`$.x`, `$$.x`, `$var.x`) and nested calls. Evaluation checks
//! argument types as AWS does: a bad argument fails with `States.Runtime` and the cause
//! `Invalid arguments in States.Name`, which is what AWS reports.
//!
//! Numbers are converted the way the Java service does: integer arguments are truncated toward
//! zero (`intValue()`), except for `States.MathAdd`, which rounds half up (`Math.round`).
//! `States.MathRandom` with a seed is deterministic: it runs `java.util.Random`'s generator.

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::path::{json_eq, Path};
use crate::{Env, Failure};

/// The intrinsic functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Function {
    const ALL: [Function; 18] = [
        Function::Format,
        Function::StringToJson,
        Function::JsonToString,
        Function::Array,
        Function::ArrayPartition,
        Function::ArrayContains,
        Function::ArrayRange,
        Function::ArrayGetItem,
        Function::ArrayLength,
        Function::ArrayUnique,
        Function::Base64Encode,
        Function::Base64Decode,
        Function::Hash,
        Function::JsonMerge,
        Function::MathRandom,
        Function::MathAdd,
        Function::StringSplit,
        Function::Uuid,
    ];

    /// The full name, e.g. `States.Format`.
    pub fn name(self) -> &'static str {
        match self {
            Function::Format => "States.Format",
            Function::StringToJson => "States.StringToJson",
            Function::JsonToString => "States.JsonToString",
            Function::Array => "States.Array",
            Function::ArrayPartition => "States.ArrayPartition",
            Function::ArrayContains => "States.ArrayContains",
            Function::ArrayRange => "States.ArrayRange",
            Function::ArrayGetItem => "States.ArrayGetItem",
            Function::ArrayLength => "States.ArrayLength",
            Function::ArrayUnique => "States.ArrayUnique",
            Function::Base64Encode => "States.Base64Encode",
            Function::Base64Decode => "States.Base64Decode",
            Function::Hash => "States.Hash",
            Function::JsonMerge => "States.JsonMerge",
            Function::MathRandom => "States.MathRandom",
            Function::MathAdd => "States.MathAdd",
            Function::StringSplit => "States.StringSplit",
            Function::Uuid => "States.UUID",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// One argument of a call.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A literal; for a string literal, `format` holds its `{}` template pieces.
    Literal {
        value: Value,
        format: Option<Result<Vec<Piece>, ()>>,
    },
    Path(Path),
    Call(Box<Inner>),
}

/// A piece of a `States.Format` template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Hole,
}

#[derive(Debug, Clone, PartialEq)]
struct Inner {
    func: Function,
    args: Vec<Arg>,
}

/// A parsed intrinsic function call, ready to evaluate many times.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    text: String,
    inner: Inner,
}

impl Call {
    /// Parses a call such as `States.Format('Hello {}', $.name)`; the error is a short reason
    /// for the validator.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = Parser { text, pos: 0 };
        p.skip_ws();
        let inner = p.call()?;
        p.skip_ws();
        if p.pos != text.len() {
            return Err(format!("unexpected text after the call at position {}", p.pos));
        }
        Ok(Self { text: text.to_owned(), inner })
    }

    /// The call as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The outermost function.
    pub fn function(&self) -> Function {
        self.inner.func
    }

    /// Evaluates the call.
    pub fn evaluate(&self, env: &Env<'_>) -> Result<Value, Failure> {
        self.inner.evaluate(env)
    }

    /// Whether an argument, at any depth, reads the context object (`$$`).
    pub fn reads_context(&self) -> bool {
        self.inner.reads_context()
    }
}

impl Inner {
    fn reads_context(&self) -> bool {
        self.args.iter().any(|a| match a {
            Arg::Literal { .. } => false,
            Arg::Path(p) => p.is_context_path(),
            Arg::Call(c) => c.reads_context(),
        })
    }
}

/// Whether a string is (meant as) an intrinsic function call.
pub fn looks_like_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

fn invalid(f: Function) -> Failure {
    Failure::runtime(format!("Invalid arguments in {}", f.name()))
}

// ---------------------------------------------------------------------------------------------
// Parsing.

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn call(&mut self) -> Result<Inner, String> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'.') {
            self.pos += 1;
        }
        let name = &self.text[start..self.pos];
        let func = Function::from_name(name)
            .ok_or_else(|| format!("unknown intrinsic function '{name}'"))?;
        self.skip_ws();
        if self.peek() != Some(b'(') {
            return Err(format!("expected '(' after {name}"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(Inner { func, args });
        }
        loop {
            self.skip_ws();
            args.push(self.arg()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(Inner { func, args });
                }
                _ => return Err(format!("expected ',' or ')' at position {}", self.pos)),
            }
        }
    }

    fn arg(&mut self) -> Result<Arg, String> {
        match self.peek() {
            Some(b'\'') => self.string(),
            Some(b'$') => self.path(),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.pos += 1;
                while matches!(self.peek(), Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')) {
                    self.pos += 1;
                }
                match serde_json::from_str::<Value>(&self.text[start..self.pos]) {
                    Ok(v @ Value::Number(_)) => Ok(Arg::Literal { value: v, format: None }),
                    _ => Err(format!("invalid number at position {start}")),
                }
            }
            Some(b'S') => Ok(Arg::Call(Box::new(self.call()?))),
            _ => {
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    let rest = &self.text[self.pos..];
                    if rest.starts_with(word)
                        && !rest[word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
                    {
                        self.pos += word.len();
                        return Ok(Arg::Literal { value: v, format: None });
                    }
                }
                Err(format!("invalid argument at position {}", self.pos))
            }
        }
    }

    /// A path argument runs to the next `,` or `)` outside brackets, quotes and parentheses.
    fn path(&mut self) -> Result<Arg, String> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<u8> = None;
        while let Some(c) = self.peek() {
            if let Some(q) = quote {
                if c == b'\\' {
                    self.pos += 1;
                } else if c == q {
                    quote = None;
                }
            } else {
                match c {
                    b'\'' | b'"' => quote = Some(c),
                    b'[' | b'(' => depth += 1,
                    b']' => depth = depth.saturating_sub(1),
                    b')' if depth == 0 => break,
                    b')' => depth -= 1,
                    b',' if depth == 0 => break,
                    b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => break,
                    _ => {}
                }
            }
            self.pos += 1;
        }
        let text = &self.text[start..self.pos.min(self.text.len())];
        Path::parse(text).map(Arg::Path)
    }

    /// A string literal; only `\'`, `\{`, `\}` and `\\` may be escaped.
    fn string(&mut self) -> Result<Arg, String> {
        self.pos += 1;
        let mut value = String::new();
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut bad_template = false;
        let bytes = self.text.as_bytes();
        loop {
            let Some(c) = self.text[self.pos..].chars().next() else {
                return Err("unterminated string literal".to_owned());
            };
            self.pos += c.len_utf8();
            match c {
                '\'' => break,
                '\\' => {
                    let Some(e) = self.text[self.pos..].chars().next() else {
                        return Err("unterminated string literal".to_owned());
                    };
                    if !matches!(e, '\'' | '{' | '}' | '\\') {
                        return Err(format!("invalid escape sequence '\\{e}' in a string literal"));
                    }
                    self.pos += 1;
                    value.push(e);
                    text.push(e);
                }
                '{' if bytes.get(self.pos) == Some(&b'}') => {
                    self.pos += 1;
                    value.push_str("{}");
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                    pieces.push(Piece::Hole);
                }
                '{' | '}' => {
                    bad_template = true;
                    value.push(c);
                    text.push(c);
                }
                _ => {
                    value.push(c);
                    text.push(c);
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
        let format = Some(if bad_template { Err(()) } else { Ok(pieces) });
        Ok(Arg::Literal { value: Value::String(value), format })
    }
}

/// Splits a template that came from a path (no escapes) into pieces.
fn runtime_template(s: &str) -> Result<Vec<Piece>, ()> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Hole);
            }
            '{' | '}' => return Err(()),
            _ => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

impl Inner {
    fn evaluate(&self, env: &Env<'_>) -> Result<Value, Failure> {
        let f = self.func;
        if f == Function::Format {
            return self.format(env);
        }
        let args = self.eval_args(env)?;
        let arity = |n: usize| if args.len() == n { Ok(()) } else { Err(invalid(f)) };
        match f {
            Function::Format => unreachable!("handled above"),
            Function::Array => Ok(Value::Array(args.into_iter().map(Cow::into_owned).collect())),
            Function::StringToJson => {
                arity(1)?;
                let s = as_str(&args[0], f)?;
                if s.trim().is_empty() {
                    return Ok(Value::Null);
                }
                serde_json::from_str(s).map_err(|_| invalid(f))
            }
            Function::JsonToString => {
                arity(1)?;
                serde_json::to_string(&*args[0]).map(Value::String).map_err(|_| invalid(f))
            }
            Function::ArrayPartition => {
                arity(2)?;
                let a = as_array(&args[0], f)?;
                let size = as_int(&args[1], f)?;
                if size <= 0 {
                    return Err(invalid(f));
                }
                Ok(Value::Array(
                    a.chunks(size as usize).map(|c| Value::Array(c.to_vec())).collect(),
                ))
            }
            Function::ArrayContains => {
                arity(2)?;
                let a = as_array(&args[0], f)?;
                Ok(Value::Bool(a.iter().any(|v| json_eq(v, &args[1]))))
            }
            Function::ArrayRange => {
                arity(3)?;
                let start = as_int(&args[0], f)?;
                let end = as_int(&args[1], f)?;
                let step = as_int(&args[2], f)?;
                if step == 0 {
                    return Err(invalid(f));
                }
                let count = if (step > 0 && start > end) || (step < 0 && start < end) {
                    0
                } else {
                    (end - start) / step + 1
                };
                if count > 1000 {
                    return Err(invalid(f));
                }
                Ok(Value::Array((0..count).map(|i| Value::from(start + i * step)).collect()))
            }
            Function::ArrayGetItem => {
                arity(2)?;
                let a = as_array(&args[0], f)?;
                let ix = as_int(&args[1], f)?;
                if a.is_empty() {
                    return Ok(Value::Null);
                }
                if ix < 0 || ix as usize >= a.len() {
                    return Err(invalid(f));
                }
                Ok(a[ix as usize].clone())
            }
            Function::ArrayLength => {
                arity(1)?;
                Ok(Value::from(as_array(&args[0], f)?.len()))
            }
            Function::ArrayUnique => {
                arity(1)?;
                let a = as_array(&args[0], f)?;
                let mut out: Vec<Value> = Vec::with_capacity(a.len());
                for v in a {
                    if !out.iter().any(|w| json_eq(v, w)) {
                        out.push(v.clone());
                    }
                }
                Ok(Value::Array(out))
            }
            Function::Base64Encode => {
                arity(1)?;
                let s = as_limited_str(&args[0], f)?;
                Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(s)))
            }
            Function::Base64Decode => {
                arity(1)?;
                let s = as_limited_str(&args[0], f)?;
                let bytes =
                    base64::engine::general_purpose::STANDARD.decode(s).map_err(|_| invalid(f))?;
                Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Function::Hash => {
                arity(2)?;
                let data = as_limited_str(&args[0], f)?;
                let algo = as_str(&args[1], f)?;
                hash(data.as_bytes(), algo).map(Value::String).ok_or_else(|| invalid(f))
            }
            Function::JsonMerge => {
                arity(3)?;
                let (Value::Object(a), Value::Object(b), Value::Bool(false)) =
                    (&*args[0], &*args[1], &*args[2])
                else {
                    return Err(invalid(f));
                };
                let mut out: Map<String, Value> = a.clone();
                for (k, v) in b {
                    out.insert(k.clone(), v.clone());
                }
                Ok(Value::Object(out))
            }
            Function::MathRandom => {
                if args.len() != 2 && args.len() != 3 {
                    return Err(invalid(f));
                }
                let start = as_int(&args[0], f)?;
                let end = as_int(&args[1], f)?;
                if start >= end {
                    return Err(invalid(f));
                }
                let seed = match args.get(2) {
                    Some(s) => as_number(s, f)? as i64,
                    None => crate::random::next_u64() as i64,
                };
                let bound = end - start;
                let bound = i32::try_from(bound).map_err(|_| invalid(f))?;
                Ok(Value::from(start + i64::from(JavaRandom::new(seed).next_int(bound))))
            }
            Function::MathAdd => {
                arity(2)?;
                let a = java_round(as_number(&args[0], f)?);
                let b = java_round(as_number(&args[1], f)?);
                let range = i64::from(i32::MIN)..=i64::from(i32::MAX);
                if !range.contains(&a) || !range.contains(&b) {
                    return Err(invalid(f));
                }
                Ok(Value::from(a + b))
            }
            Function::StringSplit => {
                arity(2)?;
                let s = as_str(&args[0], f)?;
                let d = as_str(&args[1], f)?;
                Ok(Value::Array(
                    s.split(|c| d.contains(c))
                        .filter(|t| !t.is_empty())
                        .map(|t| Value::String(t.to_owned()))
                        .collect(),
                ))
            }
            Function::Uuid => {
                arity(0)?;
                Ok(Value::String(crate::random::uuid().to_string()))
            }
        }
    }

    fn eval_args<'a>(&'a self, env: &Env<'a>) -> Result<Vec<Cow<'a, Value>>, Failure> {
        self.args.iter().map(|a| eval_arg(a, env)).collect()
    }

    fn format(&self, env: &Env<'_>) -> Result<Value, Failure> {
        let f = Function::Format;
        let Some((first, rest)) = self.args.split_first() else {
            return Err(invalid(f));
        };
        let runtime;
        let pieces: &[Piece] = match first {
            Arg::Literal { format: Some(Ok(p)), .. } => p,
            Arg::Literal { format: Some(Err(())), .. } => return Err(invalid(f)),
            other => {
                let v = eval_arg(other, env)?;
                let Value::String(s) = &*v else { return Err(invalid(f)) };
                runtime = runtime_template(s).map_err(|()| invalid(f))?;
                &runtime
            }
        };
        let holes = pieces.iter().filter(|p| matches!(p, Piece::Hole)).count();
        if holes != rest.len() {
            return Err(invalid(f));
        }
        let mut out = String::new();
        let mut args = rest.iter();
        for p in pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Hole => {
                    let a = args.next().ok_or_else(|| invalid(f))?;
                    let v = eval_arg(a, env)?;
                    write_java(&mut out, &v, true);
                }
            }
        }
        Ok(Value::String(out))
    }
}

fn eval_arg<'a>(arg: &'a Arg, env: &Env<'a>) -> Result<Cow<'a, Value>, Failure> {
    match arg {
        Arg::Literal { value, .. } => Ok(Cow::Borrowed(value)),
        Arg::Path(p) => p.lookup(env).map_err(|miss| Failure::runtime(p.invalid_path_cause(&miss))),
        Arg::Call(c) => c.evaluate(env).map(Cow::Owned),
    }
}

fn as_str(v: &Value, f: Function) -> Result<&str, Failure> {
    v.as_str().ok_or_else(|| invalid(f))
}

/// A string of at most 10,000 characters (the limit of the encoding and hash functions).
fn as_limited_str(v: &Value, f: Function) -> Result<&str, Failure> {
    let s = as_str(v, f)?;
    if s.len() > 10_000 && s.encode_utf16().count() > 10_000 {
        return Err(invalid(f));
    }
    Ok(s)
}

fn as_array(v: &Value, f: Function) -> Result<&Vec<Value>, Failure> {
    v.as_array().ok_or_else(|| invalid(f))
}

fn as_number(v: &Value, f: Function) -> Result<f64, Failure> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| invalid(f)),
        _ => Err(invalid(f)),
    }
}

/// A number as Java's `intValue()` gives it: truncated toward zero, within `int`.
fn as_int(v: &Value, f: Function) -> Result<i64, Failure> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i32::try_from(i).map(i64::from).map_err(|_| invalid(f))
            } else {
                let x = n.as_f64().ok_or_else(|| invalid(f))?.trunc();
                if x >= f64::from(i32::MIN) && x <= f64::from(i32::MAX) {
                    Ok(x as i64)
                } else {
                    Err(invalid(f))
                }
            }
        }
        _ => Err(invalid(f)),
    }
}

/// Java's `Math.round`: the closest integer, halves rounded up.
fn java_round(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}

fn hash(data: &[u8], algo: &str) -> Option<String> {
    use sha2::Digest as _;
    let bytes: Vec<u8> = match algo {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    Some(out)
}

/// Writes a value as Java's `toString` would: strings bare at the top level, maps as
/// `{k=v, ...}`, lists as `[a, b]`, doubles as `Double.toString`.
fn write_java(out: &mut String, v: &Value, top: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                out.push_str(&java_double(n.as_f64().unwrap_or(0.0)));
            } else {
                let _ = write!(out, "{n}");
            }
        }
        Value::String(s) => {
            let _ = top;
            out.push_str(s);
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_java(out, x, false);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                write_java(out, x, false);
            }
            out.push('}');
        }
    }
}

/// Java's `Double.toString`.
pub(crate) fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let a = x.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    } else {
        let s = format!("{x:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = if mant.contains('.') { mant.to_owned() } else { format!("{mant}.0") };
        format!("{mant}E{exp}")
    }
}

/// `java.util.Random`: the seeded generator behind `States.MathRandom`.
struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULTIPLIER: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        Self { seed: (seed ^ Self::MULTIPLIER) & Self::MASK }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> (48 - bits)) as i32
    }

    /// `nextInt(bound)` for a positive bound.
    fn next_int(&mut self, bound: i32) -> i32 {
        if bound & bound.wrapping_neg() == bound {
            return ((i64::from(bound) * i64::from(self.next(31))) >> 31) as i32;
        }
        loop {
            let bits = self.next(31);
            let val = bits % bound;
            if bits.wrapping_sub(val).wrapping_add(bound - 1) >= 0 {
                return val;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_matches_the_jdk() {
        // new java.util.Random(0).nextInt() and new Random(42).nextInt().
        assert_eq!(JavaRandom::new(0).next(32), -1_155_484_576);
        assert_eq!(JavaRandom::new(42).next(32), -1_170_105_035);
    }

    #[test]
    fn java_doubles() {
        assert_eq!(java_double(1.1), "1.1");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(1e20), "1.0E20");
        assert_eq!(java_double(1.5e-5), "1.5E-5");
        assert_eq!(java_double(12345678.9), "1.23456789E7");
    }
}
