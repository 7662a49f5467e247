//! JSONPath as Step Functions evaluates it (`InputPath`, `OutputPath`, `.$` fields, `ResultPath`).
//!
//! Paths are rooted at the input (`$`), the context object (`$$`) or a variable (`$name`).
//! AWS evaluates paths with Jayway JsonPath, and this module follows its semantics:
//!
//! - a *definite* path (only names and single indexes) yields the value itself, and fails with
//!   Jayway's message (`No results for path: $['x']`) when nothing is there;
//! - an *indefinite* path (wildcard, slice, union, filter, deep scan) yields an array of all
//!   matches, possibly empty, and never fails;
//! - bracket-quoted names keep their backslashes (`$['a\"b']` names the key `a\"b`): a backslash
//!   only stops the next character from closing the name, as in the Jayway version AWS runs.
//!
//! A path is parsed once ([`Path::parse`]) and evaluated many times ([`Path::lookup`]), without
//! copying anything for a definite path.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

use crate::{Env, Failure};

/// Where a path starts.
#[derive(Debug, Clone, PartialEq)]
enum Root {
    /// `$`: the state's input.
    Input,
    /// `$$`: the context object.
    Context,
    /// `$name`: a workflow variable.
    Var(String),
}

/// One step of a compiled path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// `.name`, `['name']`.
    Child(String),
    /// `['a','b']`: several properties (a merged object when last, a fan-out otherwise).
    Children(Vec<String>),
    /// `[n]`, negative counting from the end.
    Index(i64),
    /// `[0,1]`.
    Indexes(Vec<i64>),
    /// `[from:to]`, either bound optional.
    Slice(Option<i64>, Option<i64>),
    /// `[*]`, `.*`.
    Wildcard,
    /// `..`: applies the next segment at every depth.
    Scan,
    /// `[?(...)]`.
    Filter(Filter),
    /// `.length()`.
    Length,
}

impl Segment {
    fn is_definite(&self, is_last: bool) -> bool {
        match self {
            Segment::Child(_) | Segment::Index(_) | Segment::Length => true,
            Segment::Children(names) => names.len() == 1 || is_last,
            Segment::Indexes(ix) => ix.len() == 1,
            _ => false,
        }
    }

    /// Jayway's normalized fragment: `['a']`, `[0]`, `[*]`, `..`, `[?]`.
    fn write_fragment(&self, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Segment::Child(n) => {
                let _ = write!(out, "['{n}']");
            }
            Segment::Children(names) => {
                out.push('[');
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "'{n}'");
                }
                out.push(']');
            }
            Segment::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
            Segment::Indexes(ix) => {
                out.push('[');
                for (i, n) in ix.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{n}");
                }
                out.push(']');
            }
            Segment::Slice(from, to) => {
                out.push('[');
                if let Some(f) = from {
                    let _ = write!(out, "{f}");
                }
                out.push(':');
                if let Some(t) = to {
                    let _ = write!(out, "{t}");
                }
                out.push(']');
            }
            Segment::Wildcard => out.push_str("[*]"),
            Segment::Scan => out.push_str(".."),
            Segment::Filter(_) => out.push_str("[?]"),
            Segment::Length => out.push_str(".length()"),
        }
    }
}

/// Why a definite path matched nothing, in Jayway's words (e.g. `No results for path: $['x']`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMiss {
    message: String,
}

impl PathMiss {
    /// Jayway's message, e.g. `No results for path: $['x']`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PathMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A compiled JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    text: String,
    root: Root,
    segments: Vec<Segment>,
    definite: bool,
    /// Only `Child` and `Index` segments: evaluated by a plain walk.
    simple: bool,
}

impl Path {
    /// Parses a path; the error is a short reason for the validator.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = Parser { s: text.as_bytes(), text, pos: 0 };
        let root = p.root()?;
        let segments = p.segments(false)?;
        Ok(Self::from_parts(text, root, segments))
    }

    fn from_parts(text: &str, root: Root, segments: Vec<Segment>) -> Self {
        let n = segments.len();
        let definite = segments.iter().enumerate().all(|(i, s)| s.is_definite(i + 1 == n));
        let simple = segments.iter().all(|s| matches!(s, Segment::Child(_) | Segment::Index(_)));
        Self { text: text.to_owned(), root, segments, definite, simple }
    }

    /// The path as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the path names at most one value (no wildcard, slice, union, filter, scan).
    pub fn is_definite(&self) -> bool {
        self.definite
    }

    /// Whether the path is rooted at the context object (`$$`).
    pub fn is_context_path(&self) -> bool {
        self.root == Root::Context
    }

    /// Whether the path is rooted at the state's input (`$`): it reads neither the context
    /// object nor a variable, so [`Path::lookup_in`] on the input is all it needs.
    pub fn reads_input(&self) -> bool {
        self.root == Root::Input
    }

    /// The variable the path reads (`$name...`), if it reads one.
    pub fn variable(&self) -> Option<&str> {
        match &self.root {
            Root::Var(v) => Some(v),
            _ => None,
        }
    }

    /// Jayway's normalized form of the path, e.g. `$['a'][0]` for `$.a[0]`.
    pub fn normalized(&self) -> String {
        let mut out = self.root_text();
        for s in &self.segments {
            s.write_fragment(&mut out);
        }
        out
    }

    fn root_text(&self) -> String {
        match &self.root {
            Root::Input => "$".to_owned(),
            Root::Context => "$$".to_owned(),
            Root::Var(v) => format!("${v}"),
        }
    }

    /// Selects the value the path names, or `None` when the path matches nothing.
    pub fn select(&self, env: &Env<'_>) -> Option<Value> {
        self.lookup(env).ok().map(Cow::into_owned)
    }

    /// Selects the value the path names without copying it when the path is definite. An
    /// indefinite path yields an array of its matches (possibly empty) and never fails.
    pub fn lookup<'e>(&self, env: &Env<'e>) -> Result<Cow<'e, Value>, PathMiss> {
        let root: &'e Value = match &self.root {
            Root::Input => env.input,
            Root::Context => env.context,
            Root::Var(name) => match env.vars.get(name) {
                Some(v) => v,
                None => {
                    return Err(PathMiss {
                        message: format!("No results for path: {}", self.normalized()),
                    })
                }
            },
        };
        self.lookup_in(root)
    }

    /// Like [`Path::lookup`], against an explicit root value (whatever the path's root).
    pub fn lookup_in<'v>(&self, root: &'v Value) -> Result<Cow<'v, Value>, PathMiss> {
        if self.simple {
            return self.walk_simple(root).map(Cow::Borrowed);
        }
        let mut out = Vec::new();
        let mut cx = EvalCx { root, fail: None };
        cx.eval(&self.segments, root, true, self.root_text(), &mut out);
        if let Some(miss) = cx.fail {
            // Jayway throws on a definite prefix that is missing; for an indefinite path AWS
            // reports no matches instead.
            if self.definite {
                return Err(miss);
            }
            return Ok(Cow::Owned(Value::Array(Vec::new())));
        }
        if self.definite {
            match out.into_iter().next() {
                Some(v) => Ok(v),
                None => Err(self.no_results()),
            }
        } else {
            Ok(Cow::Owned(Value::Array(out.into_iter().map(Cow::into_owned).collect())))
        }
    }

    fn no_results(&self) -> PathMiss {
        PathMiss { message: format!("No results for path: {}", self.normalized()) }
    }

    fn walk_simple<'v>(&self, root: &'v Value) -> Result<&'v Value, PathMiss> {
        let mut cur = root;
        let last = self.segments.len().saturating_sub(1);
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Child(name) => match cur {
                    Value::Object(m) => match m.get(name) {
                        Some(v) => cur = v,
                        None if i == last => return Err(self.no_results()),
                        None => {
                            return Err(PathMiss {
                                message: format!(
                                    "Missing property in path {}",
                                    self.prefix_text(i + 1)
                                ),
                            })
                        }
                    },
                    other => return Err(not_an_object(seg, &self.prefix_text(i), other)),
                },
                Segment::Index(ix) => match cur {
                    Value::Array(a) => match resolve_index(*ix, a.len()) {
                        Some(k) => cur = &a[k],
                        None => return Err(self.no_results()),
                    },
                    Value::Null => {
                        return Err(PathMiss {
                            message: format!("The path {} is null", self.prefix_text(i)),
                        })
                    }
                    other => return Err(not_an_array(seg, other)),
                },
                _ => unreachable!("simple paths hold only names and indexes"),
            }
        }
        Ok(cur)
    }

    fn prefix_text(&self, n: usize) -> String {
        let mut out = self.root_text();
        for s in &self.segments[..n] {
            s.write_fragment(&mut out);
        }
        out
    }

    /// AWS's cause when an `InputPath`, `OutputPath` or `ItemsPath` finds nothing:
    /// `Invalid path '$.x' : No results for path: $['x']`.
    pub fn invalid_path_cause(&self, miss: &PathMiss) -> String {
        format!("Invalid path '{}' : {}", self.text, miss)
    }

    /// AWS's cause when a `.$` field (or `ErrorPath`, ...) finds nothing: `The JSONPath '$.x'
    /// specified for the field 'f.$' could not be found in the input '{"a":1}'`.
    pub fn not_found_cause(&self, field: &str, input: &Value) -> String {
        format!(
            "The JSONPath '{}' specified for the field '{}' could not be found in the input '{}'",
            self.text,
            field,
            compact_json(input)
        )
    }

    /// Selects with `InputPath`/`OutputPath` semantics: a miss is `States.Runtime` with AWS's
    /// `Invalid path` cause.
    pub fn select_or_fail(&self, env: &Env<'_>) -> Result<Value, Failure> {
        match self.lookup(env) {
            Ok(v) => Ok(v.into_owned()),
            Err(miss) => Err(Failure::runtime(self.invalid_path_cause(&miss))),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A value as compact JSON text, as AWS prints inputs in causes.
pub(crate) fn compact_json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn java_class(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "java.lang.Boolean",
        Value::Number(n) if n.is_f64() => "java.lang.Double",
        Value::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => {
            "java.lang.Integer"
        }
        Value::Number(_) => "java.lang.Long",
        Value::String(_) => "java.lang.String",
        Value::Array(_) => "java.util.ArrayList",
        Value::Object(_) => "java.util.LinkedHashMap",
    }
}

fn not_an_object(seg: &Segment, at: &str, found: &Value) -> PathMiss {
    let mut frag = String::new();
    seg.write_fragment(&mut frag);
    PathMiss {
        message: format!(
            "Expected to find an object with property {frag} in path {at} but found '{}'. This is \
             not a json object according to the JsonProvider: \
             'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.",
            java_class(found)
        ),
    }
}

fn not_an_array(seg: &Segment, found: &Value) -> PathMiss {
    let mut frag = String::new();
    seg.write_fragment(&mut frag);
    PathMiss {
        message: format!(
            "Filter: {frag} can only be applied to arrays. Current context is: {}",
            compact_json(found)
        ),
    }
}

fn resolve_index(ix: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let k = if ix < 0 { len + ix } else { ix };
    (0..len).contains(&k).then_some(k as usize)
}

/// State of one evaluation of a non-simple path.
struct EvalCx<'v> {
    root: &'v Value,
    /// The first failure of a definite part of the path (Jayway throws there).
    fail: Option<PathMiss>,
}

impl<'v> EvalCx<'v> {
    /// Applies `segs` to `node`, collecting matches into `out`. `upstream` is whether everything
    /// before `segs` was definite (Jayway only throws on definite prefixes).
    fn eval(
        &mut self,
        segs: &[Segment],
        node: &'v Value,
        upstream: bool,
        at: String,
        out: &mut Vec<Cow<'v, Value>>,
    ) {
        if self.fail.is_some() {
            return;
        }
        let Some((seg, rest)) = segs.split_first() else {
            out.push(Cow::Borrowed(node));
            return;
        };
        let leaf = rest.is_empty();
        let next_upstream = upstream && seg.is_definite(leaf);
        // Normalized locations only matter for failures, which only definite prefixes raise.
        let child_at = |frag_owner: &Segment| {
            let mut s = String::new();
            if next_upstream {
                s.push_str(&at);
                frag_owner.write_fragment(&mut s);
            }
            s
        };
        match seg {
            Segment::Child(name) => match node {
                Value::Object(m) => match m.get(name) {
                    Some(v) => self.eval(rest, v, next_upstream, child_at(seg), out),
                    None if !leaf && upstream => {
                        self.fail = Some(PathMiss {
                            message: format!("Missing property in path {}", child_at(seg)),
                        })
                    }
                    None => {}
                },
                other if upstream => self.fail = Some(not_an_object(seg, &at, other)),
                _ => {}
            },
            Segment::Children(names) => match node {
                Value::Object(m) => {
                    if leaf {
                        let mut merged = Map::new();
                        for n in names {
                            if let Some(v) = m.get(n) {
                                merged.insert(n.clone(), v.clone());
                            }
                        }
                        out.push(Cow::Owned(Value::Object(merged)));
                    } else {
                        for n in names {
                            if let Some(v) = m.get(n) {
                                self.eval(rest, v, false, String::new(), out);
                            }
                        }
                    }
                }
                other if upstream => self.fail = Some(not_an_object(seg, &at, other)),
                _ => {}
            },
            Segment::Index(ix) => match node {
                Value::Array(a) => {
                    if let Some(k) = resolve_index(*ix, a.len()) {
                        self.eval(rest, &a[k], next_upstream, child_at(seg), out);
                    }
                }
                Value::Null if upstream => {
                    self.fail = Some(PathMiss { message: format!("The path {at} is null") })
                }
                other if upstream => self.fail = Some(not_an_array(seg, other)),
                _ => {}
            },
            Segment::Indexes(ix) => {
                if let Value::Array(a) = node {
                    for i in ix {
                        if let Some(k) = resolve_index(*i, a.len()) {
                            self.eval(rest, &a[k], false, String::new(), out);
                        }
                    }
                }
            }
            Segment::Slice(from, to) => {
                if let Value::Array(a) = node {
                    let len = a.len() as i64;
                    let f = match from {
                        None => 0,
                        Some(f) if *f < 0 => (len + f).max(0),
                        Some(f) => (*f).min(len),
                    };
                    let t = match to {
                        None => len,
                        Some(t) if *t < 0 => (len + t).max(0),
                        Some(t) => (*t).min(len),
                    };
                    for k in f..t.max(f) {
                        self.eval(rest, &a[k as usize], false, String::new(), out);
                    }
                }
            }
            Segment::Wildcard => match node {
                Value::Array(a) => {
                    for v in a {
                        self.eval(rest, v, false, String::new(), out);
                    }
                }
                Value::Object(m) => {
                    for v in m.values() {
                        self.eval(rest, v, false, String::new(), out);
                    }
                }
                _ => {}
            },
            Segment::Scan => self.scan(rest, node, out),
            Segment::Filter(f) => {
                let root = self.root;
                match node {
                    Value::Array(a) => {
                        for v in a {
                            if f.matches(v, root) {
                                self.eval(rest, v, false, String::new(), out);
                            }
                        }
                    }
                    Value::Object(_) if f.matches(node, root) => {
                        self.eval(rest, node, false, at, out);
                    }
                    _ => {}
                }
            }
            Segment::Length => {
                let n = match node {
                    Value::Array(a) => Some(a.len()),
                    Value::Object(m) => Some(m.len()),
                    _ => None,
                };
                if let Some(n) = n {
                    out.push(Cow::Owned(Value::from(n)));
                }
            }
        }
    }

    /// `..`: applies `rest` to `node` and to every value below it, in document order.
    fn scan(&mut self, rest: &[Segment], node: &'v Value, out: &mut Vec<Cow<'v, Value>>) {
        if rest.is_empty() {
            return;
        }
        if matches!(node, Value::Array(_) | Value::Object(_)) {
            self.eval(rest, node, false, String::new(), out);
        }
        match node {
            Value::Array(a) => {
                for v in a {
                    self.scan(rest, v, out);
                }
            }
            Value::Object(m) => {
                for v in m.values() {
                    self.scan(rest, v, out);
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Filters.

/// A filter expression `[?(...)]`.
#[derive(Debug, Clone, PartialEq)]
struct Filter(FilterExpr);

#[derive(Debug, Clone, PartialEq)]
enum FilterExpr {
    And(Box<FilterExpr>, Box<FilterExpr>),
    Or(Box<FilterExpr>, Box<FilterExpr>),
    Not(Box<FilterExpr>),
    /// `@.a` alone: the property exists.
    Exists(Operand),
    Cmp(Operand, CmpOp, Operand),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@...`: relative to the current item.
    Current(Box<Path>),
    /// `$...`: relative to the document root.
    Root(Box<Path>),
    Literal(Value),
}

impl Filter {
    fn matches(&self, item: &Value, root: &Value) -> bool {
        eval_filter(&self.0, item, root)
    }
}

fn eval_filter(e: &FilterExpr, item: &Value, root: &Value) -> bool {
    match e {
        FilterExpr::And(a, b) => eval_filter(a, item, root) && eval_filter(b, item, root),
        FilterExpr::Or(a, b) => eval_filter(a, item, root) || eval_filter(b, item, root),
        FilterExpr::Not(a) => !eval_filter(a, item, root),
        FilterExpr::Exists(op) => operand_value(op, item, root).is_some(),
        FilterExpr::Cmp(l, op, r) => {
            let l = operand_value(l, item, root);
            let r = operand_value(r, item, root);
            compare(l.as_deref(), *op, r.as_deref())
        }
    }
}

fn operand_value<'v>(op: &'v Operand, item: &'v Value, root: &'v Value) -> Option<Cow<'v, Value>> {
    match op {
        Operand::Literal(v) => Some(Cow::Borrowed(v)),
        Operand::Current(p) => p.lookup_in(item).ok(),
        Operand::Root(p) => p.lookup_in(root).ok(),
    }
}

fn compare(l: Option<&Value>, op: CmpOp, r: Option<&Value>) -> bool {
    let (Some(l), Some(r)) = (l, r) else {
        // Jayway: an undefined side equals nothing.
        return op == CmpOp::Ne;
    };
    match op {
        CmpOp::Eq => json_eq(l, r),
        CmpOp::Ne => !json_eq(l, r),
        _ => {
            let ord = match (l, r) {
                (Value::Number(a), Value::Number(b)) => {
                    a.as_f64().unwrap_or(f64::NAN).partial_cmp(&b.as_f64().unwrap_or(f64::NAN))
                }
                (Value::String(a), Value::String(b)) => {
                    Some(a.encode_utf16().cmp(b.encode_utf16()))
                }
                _ => None,
            };
            let Some(ord) = ord else { return false };
            match op {
                CmpOp::Lt => ord.is_lt(),
                CmpOp::Le => ord.is_le(),
                CmpOp::Gt => ord.is_gt(),
                CmpOp::Ge => ord.is_ge(),
                CmpOp::Eq | CmpOp::Ne => unreachable!(),
            }
        }
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                i == j
            } else if let (Some(i), Some(j)) = (x.as_u64(), y.as_u64()) {
                i == j
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing.

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<u8> {
        self.s.get(self.pos + k).copied()
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at position {} of '{}'", self.pos, self.text))
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn root(&mut self) -> Result<Root, String> {
        if self.peek() != Some(b'$') {
            return self.err("a path must start with '$'");
        }
        self.pos += 1;
        if self.peek() == Some(b'$') {
            self.pos += 1;
            return Ok(Root::Context);
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos > start {
            Ok(Root::Var(self.text[start..self.pos].to_owned()))
        } else {
            Ok(Root::Input)
        }
    }

    /// Parses segments up to the end of input (or, in a filter, up to an operator or `)`).
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Segment>, String> {
        let mut segs = Vec::new();
        loop {
            match self.peek() {
                None => break,
                Some(b'.') => {
                    if self.peek_at(1) == Some(b'.') {
                        self.pos += 2;
                        segs.push(Segment::Scan);
                        match self.peek() {
                            Some(b'[') => segs.push(self.bracket()?),
                            Some(b'*') => {
                                self.pos += 1;
                                segs.push(Segment::Wildcard);
                            }
                            Some(b'.') | None => return self.err("a deep scan needs a name"),
                            _ => segs.push(self.dot_name(in_filter)?),
                        }
                    } else {
                        self.pos += 1;
                        match self.peek() {
                            Some(b'*') => {
                                self.pos += 1;
                                segs.push(Segment::Wildcard);
                            }
                            Some(b'[') => segs.push(self.bracket()?),
                            None | Some(b'.') => return self.err("a path cannot end with '.'"),
                            _ => segs.push(self.dot_name(in_filter)?),
                        }
                    }
                }
                Some(b'[') => segs.push(self.bracket()?),
                Some(_) if in_filter => break,
                Some(_) => return self.err("unexpected character"),
            }
            if segs.last() == Some(&Segment::Length) && self.peek().is_some() && !in_filter {
                return self.err("length() must end the path");
            }
        }
        Ok(segs)
    }

    fn dot_name(&mut self, in_filter: bool) -> Result<Segment, String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            match c {
                b'.' | b'[' => break,
                b'(' => {
                    let name = &self.text[start..self.pos];
                    if name == "length" && self.peek_at(1) == Some(b')') {
                        self.pos += 2;
                        return Ok(Segment::Length);
                    }
                    return self.err("unsupported function");
                }
                b' ' | b')' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|' if in_filter => break,
                b' ' => return self.err("use bracket notation for names with blanks"),
                _ => self.pos += 1,
            }
        }
        if self.pos == start {
            return self.err("empty property name");
        }
        Ok(Segment::Child(self.text[start..self.pos].to_owned()))
    }

    fn bracket(&mut self) -> Result<Segment, String> {
        debug_assert_eq!(self.peek(), Some(b'['));
        self.pos += 1;
        self.skip_ws();
        let seg = match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                Segment::Wildcard
            }
            Some(b'?') => {
                self.pos += 1;
                self.skip_ws();
                if self.peek() != Some(b'(') {
                    return self.err("a filter must start with '?('");
                }
                self.pos += 1;
                let e = self.filter_or()?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return self.err("unclosed filter");
                }
                self.pos += 1;
                Segment::Filter(Filter(e))
            }
            Some(q @ (b'\'' | b'"')) => {
                let mut names = Vec::new();
                loop {
                    self.skip_ws();
                    if self.peek() != Some(q) {
                        return self.err("expected a quoted name");
                    }
                    names.push(self.quoted_raw(q)?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => break,
                        _ => return self.err("expected ',' or ']'"),
                    }
                }
                if names.len() == 1 {
                    Segment::Child(names.pop().unwrap_or_default())
                } else {
                    Segment::Children(names)
                }
            }
            Some(b'-' | b'0'..=b'9' | b':') => self.index_or_slice()?,
            _ => return self.err("unexpected character in brackets"),
        };
        self.skip_ws();
        if self.peek() != Some(b']') {
            return self.err("expected ']'");
        }
        self.pos += 1;
        Ok(seg)
    }

    /// A quoted name; a backslash only protects the next character and is kept.
    fn quoted_raw(&mut self, q: u8) -> Result<String, String> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        while let Some(c) = self.peek() {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == q {
                let name = self.text[start..self.pos].to_owned();
                self.pos += 1;
                return Ok(name);
            }
            self.pos += 1;
        }
        self.err("unterminated quoted name")
    }

    fn int(&mut self) -> Result<i64, String> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        match self.text[start..self.pos].parse() {
            Ok(n) => Ok(n),
            Err(_) => {
                self.pos = start;
                self.err("expected an integer")
            }
        }
    }

    fn index_or_slice(&mut self) -> Result<Segment, String> {
        self.skip_ws();
        let from = if self.peek() == Some(b':') { None } else { Some(self.int()?) };
        self.skip_ws();
        match self.peek() {
            Some(b':') => {
                self.pos += 1;
                self.skip_ws();
                let to = if self.peek() == Some(b']') { None } else { Some(self.int()?) };
                Ok(Segment::Slice(from, to))
            }
            Some(b',') => {
                let mut ix = vec![from.unwrap_or_default()];
                while self.peek() == Some(b',') {
                    self.pos += 1;
                    ix.push(self.int()?);
                    self.skip_ws();
                }
                Ok(Segment::Indexes(ix))
            }
            _ => match from {
                Some(i) => Ok(Segment::Index(i)),
                None => self.err("expected an index"),
            },
        }
    }

    fn filter_or(&mut self) -> Result<FilterExpr, String> {
        let mut left = self.filter_and()?;
        loop {
            self.skip_ws();
            if self.peek() == Some(b'|') && self.peek_at(1) == Some(b'|') {
                self.pos += 2;
                let right = self.filter_and()?;
                left = FilterExpr::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_and(&mut self) -> Result<FilterExpr, String> {
        let mut left = self.filter_unary()?;
        loop {
            self.skip_ws();
            if self.peek() == Some(b'&') && self.peek_at(1) == Some(b'&') {
                self.pos += 2;
                let right = self.filter_unary()?;
                left = FilterExpr::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_unary(&mut self) -> Result<FilterExpr, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'!') if self.peek_at(1) != Some(b'=') => {
                self.pos += 1;
                Ok(FilterExpr::Not(Box::new(self.filter_unary()?)))
            }
            Some(b'(') => {
                self.pos += 1;
                let e = self.filter_or()?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return self.err("expected ')'");
                }
                self.pos += 1;
                Ok(e)
            }
            _ => {
                let left = self.operand()?;
                self.skip_ws();
                let op = match (self.peek(), self.peek_at(1)) {
                    (Some(b'='), Some(b'=')) => Some((CmpOp::Eq, 2)),
                    (Some(b'!'), Some(b'=')) => Some((CmpOp::Ne, 2)),
                    (Some(b'<'), Some(b'=')) => Some((CmpOp::Le, 2)),
                    (Some(b'>'), Some(b'=')) => Some((CmpOp::Ge, 2)),
                    (Some(b'<'), _) => Some((CmpOp::Lt, 1)),
                    (Some(b'>'), _) => Some((CmpOp::Gt, 1)),
                    _ => None,
                };
                match op {
                    Some((op, n)) => {
                        self.pos += n;
                        if op == CmpOp::Eq && self.peek() == Some(b'=') {
                            self.pos += 1; // `===`
                        }
                        let right = self.operand()?;
                        Ok(FilterExpr::Cmp(left, op, right))
                    }
                    None => match left {
                        Operand::Literal(_) => self.err("a filter needs a comparison"),
                        path => Ok(FilterExpr::Exists(path)),
                    },
                }
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'@') => {
                self.pos += 1;
                let segs = self.segments(true)?;
                Ok(Operand::Current(Box::new(Path::from_parts("@", Root::Input, segs))))
            }
            Some(b'$') => {
                self.pos += 1;
                let segs = self.segments(true)?;
                Ok(Operand::Root(Box::new(Path::from_parts("$", Root::Input, segs))))
            }
            Some(q @ (b'\'' | b'"')) => {
                let raw = self.quoted_raw(q)?;
                Ok(Operand::Literal(Value::String(unescape_literal(&raw))))
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.pos += 1;
                while matches!(self.peek(), Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')) {
                    self.pos += 1;
                }
                match serde_json::from_str::<Value>(&self.text[start..self.pos]) {
                    Ok(v @ Value::Number(_)) => Ok(Operand::Literal(v)),
                    _ => self.err("invalid number"),
                }
            }
            _ => {
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.text[self.pos..].starts_with(word) {
                        self.pos += word.len();
                        return Ok(Operand::Literal(v));
                    }
                }
                self.err("invalid filter operand")
            }
        }
    }
}

fn unescape_literal(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reference paths.

/// One step of a reference path.
#[derive(Debug, Clone, PartialEq)]
enum RefStep {
    Name(String),
    Index(i64),
}

/// A reference path (`ResultPath`): names one place in a document, to write a value there.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferencePath {
    text: String,
    steps: Vec<RefStep>,
}

impl ReferencePath {
    /// Parses a reference path; the error is a short reason for the validator.
    pub fn parse(text: &str) -> Result<Self, String> {
        let path = Path::parse(text)?;
        if path.root != Root::Input {
            return Err(format!("'{text}' is not a valid reference path: it must start with '$.'"));
        }
        let mut steps = Vec::with_capacity(path.segments.len());
        for s in path.segments {
            match s {
                Segment::Child(n) => steps.push(RefStep::Name(n)),
                Segment::Index(i) if i >= 0 => steps.push(RefStep::Index(i)),
                _ => {
                    return Err(format!(
                        "'{text}' is not a valid reference path: it must name a single value"
                    ))
                }
            }
        }
        Ok(Self { text: text.to_owned(), steps })
    }

    /// The path as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the path is `$` (the value replaces the whole target).
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether `assign` can write into `target`: every existing step is an object (or an array
    /// holding the index), and only names follow a missing one.
    fn fits(&self, target: &Value) -> bool {
        let mut cur = Some(target);
        for step in &self.steps {
            cur = match (step, cur) {
                (RefStep::Name(n), Some(Value::Object(m))) => m.get(n),
                (RefStep::Name(_), None) => None,
                (RefStep::Index(k), Some(Value::Array(a))) if (*k as usize) < a.len() => {
                    a.get(*k as usize)
                }
                _ => return false,
            };
        }
        true
    }

    /// Writes `value` into `target` at this path and returns the result. Missing objects on the
    /// way are created; a step into something that is not an object (or an index outside an
    /// array) fails with `States.ResultPathMatchFailure`, as AWS does.
    pub fn assign(&self, target: Value, value: Value) -> Result<Value, Failure> {
        if self.steps.is_empty() {
            return Ok(value);
        }
        if !self.fits(&target) {
            return Err(Failure::new(
                crate::error::names::RESULT_PATH_MATCH_FAILURE,
                format!(
                    "Unable to apply ReferencePath {} to input '{}'",
                    self.text,
                    compact_json(&target)
                ),
            ));
        }
        let mut target = target;
        let ok = {
            let mut cur = &mut target;
            let mut ok = true;
            let last = self.steps.len() - 1;
            let mut value = Some(value);
            for (i, step) in self.steps.iter().enumerate() {
                match (step, cur) {
                    (RefStep::Name(n), Value::Object(m)) => {
                        if i == last {
                            m.insert(n.clone(), value.take().unwrap_or(Value::Null));
                            break;
                        }
                        let slot = m.entry(n.clone()).or_insert_with(|| Value::Object(Map::new()));
                        cur = slot;
                    }
                    (RefStep::Index(k), Value::Array(a)) if (*k as usize) < a.len() => {
                        let slot = &mut a[*k as usize];
                        if i == last {
                            *slot = value.take().unwrap_or(Value::Null);
                            break;
                        }
                        cur = slot;
                    }
                    _ => {
                        ok = false;
                        break;
                    }
                }
            }
            ok
        };
        if ok {
            Ok(target)
        } else {
            Err(Failure::new(
                crate::error::names::RESULT_PATH_MATCH_FAILURE,
                format!(
                    "Unable to apply ReferencePath {} to input '{}'",
                    self.text,
                    compact_json(&target)
                ),
            ))
        }
    }
}
