//! DynamoDB condition expressions, evaluated over a JSON document.
//!
//! The grammar is DynamoDB's ("Condition and filter expressions, operators, and functions"):
//!
//! ```text
//! condition ::= operand comparator operand        comparator ::= = | <> | < | <= | > | >=
//!             | operand BETWEEN operand AND operand
//!             | operand IN ( operand (, operand)* )      (at most 100 operands)
//!             | function
//!             | condition AND condition | condition OR condition | NOT condition
//!             | ( condition )
//! function  ::= attribute_exists(path) | attribute_not_exists(path)
//!             | attribute_type(path, :type) | begins_with(path, operand)
//!             | contains(path, operand)
//! operand   ::= path | :value | size(path)
//! path      ::= (name | #name) ( .(name | #name) | [index] )*
//! ```
//!
//! Precedence, tightest first: comparisons, `BETWEEN`, `IN` and functions; `NOT`; `AND`;
//! `OR`. Keywords (`AND`, `OR`, `NOT`, `BETWEEN`, `IN`) are case-insensitive and cannot be
//! names; function names are case-sensitive, as in DynamoDB. DynamoDB's long list of other
//! reserved words is not enforced: `status = :s` is accepted here.
//!
//! Expression attribute values are plain JSON values (not DynamoDB's typed
//! AttributeValues). A JSON value has one of DynamoDB's document types: a string is `S`, a
//! number `N`, a boolean `BOOL`, null `NULL`, an array `L`, an object `M`. JSON has no sets
//! and no binary, so `attribute_type(p, :t)` with `:t` one of `SS`, `NS`, `BS` or `B` never
//! holds.
//!
//! Semantics follow DynamoDB's:
//! - `=` holds when both sides exist, have the same type and are equal (numbers by value,
//!   lists element by element, maps member by member); `<>` is its negation, so it holds
//!   when a side is missing or the types differ.
//! - `<`, `<=`, `>`, `>=` and `BETWEEN` compare numbers with numbers and strings with
//!   strings (by UTF-8 bytes); any other pairing, or a missing side, is false.
//! - `size` is the length in UTF-8 bytes of a string, or the number of elements of a list
//!   or a map; a number, boolean, null or missing path has no size, and a comparison with
//!   it is false.
//! - `contains` holds for a substring of a string, or an element of a list.
//! - A missing document is a document with no attributes: every path is missing, so
//!   `attribute_not_exists` holds and every comparison but `<>` fails.
//!
//! Parsing checks what DynamoDB checks before evaluating: syntax, function names and
//! arities, that functions get document paths where they need them, the operand types of
//! values, attribute type names, `BETWEEN` bounds that are both values, undefined
//! placeholders and unused ones. Messages use DynamoDB's wording, with the byte offset of a
//! syntax error added.

use crate::json;
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;

/// The longest expression DynamoDB accepts, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// The most operands `IN` takes, as in DynamoDB.
pub const MAX_IN_OPERANDS: usize = 100;
/// How deeply `NOT` and parentheses may nest; it bounds the recursion of parsing and
/// evaluation.
pub const MAX_DEPTH: usize = 64;

/// Why an expression, or its attribute names and values, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("Invalid ConditionExpression: The expression can not be empty;")]
    Empty,
    #[error(
        "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; \
         expression size: {0}"
    )]
    TooLong(usize),
    #[error(
        "Invalid ConditionExpression: The expression is nested too deeply; at: {at}, \
         maximum depth: {MAX_DEPTH}"
    )]
    TooDeep { at: usize },
    #[error(
        "Invalid ConditionExpression: Syntax error; token: \"{token}\", near: \"{near}\", at: {at}"
    )]
    Syntax {
        /// The offending token, `<EOF>` at the end.
        token: String,
        /// The source around it.
        near: String,
        /// Its byte offset in the expression.
        at: usize,
    },
    #[error("Invalid ConditionExpression: Invalid function name; function: {name}, at: {at}")]
    UnknownFunction { name: String, at: usize },
    #[error(
        "Invalid ConditionExpression: Incorrect number of operands for operator or function; \
         operator or function: {function}, number of operands: {count}"
    )]
    Arity { function: &'static str, count: usize },
    #[error(
        "Invalid ConditionExpression: Operator or function requires a document path; operator \
         or function: {0}"
    )]
    NeedsPath(&'static str),
    #[error(
        "Invalid ConditionExpression: The function is not allowed to be used this way in an \
         expression; function: {0}"
    )]
    Misused(&'static str),
    #[error(
        "Invalid ConditionExpression: Incorrect operand type for operator or function; \
         operator or function: {function}, operand type: {operand_type}"
    )]
    OperandType { function: &'static str, operand_type: &'static str },
    #[error(
        "Invalid ConditionExpression: Invalid attribute type name found; type: {0}, valid \
         types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
    )]
    TypeName(String),
    #[error(
        "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater \
         than or equal to lower bound; lower bound operand: {lower}, upper bound operand: \
         {upper}"
    )]
    BetweenBounds { lower: String, upper: String },
    #[error(
        "Invalid ConditionExpression: The IN operator is provided with too many operands; \
         number of operands: {0}"
    )]
    TooManyInOperands(usize),
    #[error(
        "Invalid ConditionExpression: An expression attribute value used in expression is not \
         defined; attribute value: {name}"
    )]
    UndefinedValue { name: String, at: usize },
    #[error(
        "Invalid ConditionExpression: An expression attribute name used in the document path \
         is not defined; attribute name: {name}"
    )]
    UndefinedName { name: String, at: usize },
    #[error("Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}", .0.join(", "))]
    UnusedValues(Vec<String>),
    #[error("Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}", .0.join(", "))]
    UnusedNames(Vec<String>),
    #[error("ExpressionAttributeValues contains invalid key: Syntax error; key: \"{0}\"")]
    ValueKey(String),
    #[error("ExpressionAttributeNames contains invalid key: Syntax error; key: \"{0}\"")]
    NameKey(String),
    #[error(
        "ExpressionAttributeNames contains invalid value: the name must be a non-empty string \
         for key {0}"
    )]
    NameValue(String),
}

/// A parsed condition expression, ready to evaluate against documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    source: String,
    root: Node,
}

/// The part of a condition that did not hold, for the body of a 412.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The source text of the failing part.
    pub text: String,
    /// Its byte range in the expression.
    pub span: Range<usize>,
}

impl Condition {
    /// Parses an expression with its attribute names (`#name` to a string) and values
    /// (`:value` to any JSON value). Every name and value must be used.
    pub fn parse(
        expr: &str,
        names: &Map<String, Value>,
        values: &Map<String, Value>,
    ) -> Result<Condition, Error> {
        for (key, value) in names {
            if !is_placeholder(key, '#') {
                return Err(Error::NameKey(key.clone()));
            }
            if value.as_str().is_none_or(str::is_empty) {
                return Err(Error::NameValue(key.clone()));
            }
        }
        if let Some(key) = values.keys().find(|k| !is_placeholder(k, ':')) {
            return Err(Error::ValueKey(key.clone()));
        }
        if expr.len() > MAX_EXPRESSION_BYTES {
            return Err(Error::TooLong(expr.len()));
        }
        let tokens = lex(expr)?;
        if tokens.len() == 1 {
            return Err(Error::Empty);
        }
        let mut p = Parser {
            src: expr,
            tokens,
            pos: 0,
            depth: 0,
            names,
            values,
            used_names: BTreeSet::new(),
            used_values: BTreeSet::new(),
        };
        let root = p.or_expr()?;
        if p.peek() != &Tok::Eof {
            return Err(p.syntax());
        }
        let unused: Vec<String> =
            values.keys().filter(|k| !p.used_values.contains(*k)).cloned().collect();
        if !unused.is_empty() {
            return Err(Error::UnusedValues(unused));
        }
        let unused: Vec<String> =
            names.keys().filter(|k| !p.used_names.contains(*k)).cloned().collect();
        if !unused.is_empty() {
            return Err(Error::UnusedNames(unused));
        }
        Ok(Condition { source: expr.to_owned(), root })
    }

    /// The expression's source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the condition holds for a document (`None`: the document does not exist).
    pub fn evaluate(&self, doc: Option<&Value>) -> bool {
        self.root.holds(doc)
    }

    /// Like [`Condition::evaluate`], but on failure says which part failed: descending
    /// through `AND`s, the first conjunct that does not hold (an `OR`, a `NOT` or a single
    /// comparison or function is reported whole).
    pub fn check(&self, doc: Option<&Value>) -> Result<(), Failure> {
        let mut node = &self.root;
        if node.holds(doc) {
            return Ok(());
        }
        while let Kind::And(parts) = &node.kind {
            match parts.iter().find(|n| !n.holds(doc)) {
                Some(n) => node = n,
                None => break,
            }
        }
        let span = node.span.clone();
        Err(Failure { text: self.source.get(span.clone()).unwrap_or_default().to_owned(), span })
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn is_placeholder(key: &str, sigil: char) -> bool {
    key.strip_prefix(sigil).is_some_and(|rest| !rest.is_empty() && rest.bytes().all(is_word_byte))
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

// ---- Syntax tree and evaluation ----

#[derive(Debug, Clone, PartialEq)]
struct Node {
    kind: Kind,
    span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Compare(Operand, Comparator, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    Exists(Path),
    NotExists(Path),
    Type(Path, String),
    BeginsWith(Path, Operand),
    Contains(Path, Operand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Path),
    Value(Value),
    Size(Path),
}

#[derive(Debug, Clone, PartialEq)]
enum Element {
    Name(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
struct Path(Vec<Element>);

impl Path {
    fn resolve<'a>(&self, doc: Option<&'a Value>) -> Option<&'a Value> {
        self.0.iter().try_fold(doc?, |v, e| match (e, v) {
            (Element::Name(n), Value::Object(m)) => m.get(n),
            (Element::Index(i), Value::Array(a)) => a.get(*i),
            _ => None,
        })
    }
}

impl Operand {
    fn value<'a>(&'a self, doc: Option<&'a Value>) -> Option<Cow<'a, Value>> {
        match self {
            Operand::Path(p) => p.resolve(doc).map(Cow::Borrowed),
            Operand::Value(v) => Some(Cow::Borrowed(v)),
            Operand::Size(p) => {
                let n = match p.resolve(doc)? {
                    Value::String(s) => s.len(),
                    Value::Array(a) => a.len(),
                    Value::Object(m) => m.len(),
                    _ => return None,
                };
                Some(Cow::Owned(Value::Number(Number::from(n))))
            }
        }
    }
}

/// The order of two values DynamoDB can order: numbers, or strings.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Some(json::cmp_numbers(x, y)),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Bool(_) => "BOOL",
        Value::Number(_) => "N",
        Value::String(_) => "S",
        Value::Array(_) => "L",
        Value::Object(_) => "M",
    }
}

impl Node {
    fn holds(&self, doc: Option<&Value>) -> bool {
        match &self.kind {
            Kind::Or(parts) => parts.iter().any(|n| n.holds(doc)),
            Kind::And(parts) => parts.iter().all(|n| n.holds(doc)),
            Kind::Not(n) => !n.holds(doc),
            Kind::Compare(a, cmp, b) => {
                let (a, b) = (a.value(doc), b.value(doc));
                let equal = || matches!((&a, &b), (Some(a), Some(b)) if json::equal(a, b));
                let ordered = |f: fn(Ordering) -> bool| match (&a, &b) {
                    (Some(a), Some(b)) => order(a, b).is_some_and(f),
                    _ => false,
                };
                match cmp {
                    Comparator::Eq => equal(),
                    Comparator::Ne => !equal(),
                    Comparator::Lt => ordered(Ordering::is_lt),
                    Comparator::Le => ordered(Ordering::is_le),
                    Comparator::Gt => ordered(Ordering::is_gt),
                    Comparator::Ge => ordered(Ordering::is_ge),
                }
            }
            Kind::Between(x, lo, hi) => match (x.value(doc), lo.value(doc), hi.value(doc)) {
                (Some(x), Some(lo), Some(hi)) => {
                    order(&x, &lo).is_some_and(Ordering::is_ge)
                        && order(&x, &hi).is_some_and(Ordering::is_le)
                }
                _ => false,
            },
            Kind::In(x, list) => x.value(doc).is_some_and(|x| {
                list.iter().any(|o| o.value(doc).is_some_and(|v| json::equal(&x, &v)))
            }),
            Kind::Exists(p) => p.resolve(doc).is_some(),
            Kind::NotExists(p) => p.resolve(doc).is_none(),
            Kind::Type(p, t) => p.resolve(doc).is_some_and(|v| type_name(v) == t),
            Kind::BeginsWith(p, prefix) => match (p.resolve(doc), prefix.value(doc).as_deref()) {
                (Some(Value::String(s)), Some(Value::String(prefix))) => {
                    s.starts_with(prefix.as_str())
                }
                _ => false,
            },
            Kind::Contains(p, operand) => match (p.resolve(doc), operand.value(doc).as_deref()) {
                (Some(Value::String(s)), Some(Value::String(sub))) => s.contains(sub.as_str()),
                (Some(Value::Array(items)), Some(v)) => items.iter().any(|i| json::equal(i, v)),
                _ => false,
            },
        }
    }
}

// ---- Lexer ----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// `[A-Za-z0-9_]+`: a name, a keyword, a function name or an index.
    Word(String),
    /// `#name`
    Name(String),
    /// `:value`
    Value(String),
    Dot,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Cmp(Comparator),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    span: Range<usize>,
}

fn lex(src: &str) -> Result<Vec<Token>, Error> {
    let b = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'.' => Tok::Dot,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b',' => Tok::Comma,
            b'=' => Tok::Cmp(Comparator::Eq),
            b'<' if b.get(i + 1) == Some(&b'>') => Tok::Cmp(Comparator::Ne),
            b'<' if b.get(i + 1) == Some(&b'=') => Tok::Cmp(Comparator::Le),
            b'<' => Tok::Cmp(Comparator::Lt),
            b'>' if b.get(i + 1) == Some(&b'=') => Tok::Cmp(Comparator::Ge),
            b'>' => Tok::Cmp(Comparator::Gt),
            b'#' | b':' => {
                let end = word_end(b, i + 1);
                if end == i + 1 {
                    return Err(lex_error(src, start, i + 1));
                }
                let text = src[start..end].to_owned();
                i = end;
                tokens.push(Token {
                    tok: if c == b'#' { Tok::Name(text) } else { Tok::Value(text) },
                    span: start..end,
                });
                continue;
            }
            c if is_word_byte(c) => {
                let end = word_end(b, i);
                tokens.push(Token { tok: Tok::Word(src[start..end].to_owned()), span: start..end });
                i = end;
                continue;
            }
            _ => {
                let len = src[i..].chars().next().map_or(1, char::len_utf8);
                return Err(lex_error(src, start, i + len));
            }
        };
        i += match tok {
            Tok::Cmp(Comparator::Ne | Comparator::Le | Comparator::Ge) => 2,
            _ => 1,
        };
        tokens.push(Token { tok, span: start..i });
    }
    tokens.push(Token { tok: Tok::Eof, span: b.len()..b.len() });
    Ok(tokens)
}

fn word_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_word_byte(b[i]) {
        i += 1;
    }
    i
}

fn lex_error(src: &str, start: usize, end: usize) -> Error {
    // The text from the word before the offending character, as the parser's errors show
    // the token before the offending one.
    let before = src[..start].trim_end_matches([' ', '\t', '\n', '\r']);
    let near_start = before.rfind([' ', '\t', '\n', '\r']).map_or(0, |i| i + 1);
    Error::Syntax {
        token: src[start..end].to_owned(),
        near: src[near_start..end].to_owned(),
        at: start,
    }
}

// ---- Parser ----

const FUNCTIONS: [&str; 6] = [
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
];

fn is_keyword(word: &str) -> bool {
    ["AND", "OR", "NOT", "BETWEEN", "IN"].iter().any(|k| k.eq_ignore_ascii_case(word))
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    names: &'a Map<String, Value>,
    values: &'a Map<String, Value>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].tok
    }

    fn peek_at(&self, offset: usize) -> &Tok {
        &self.tokens[(self.pos + offset).min(self.tokens.len() - 1)].tok
    }

    fn start(&self) -> usize {
        self.tokens[self.pos.min(self.tokens.len() - 1)].span.start
    }

    fn last_end(&self) -> usize {
        self.pos.checked_sub(1).map_or(0, |i| self.tokens[i].span.end)
    }

    fn bump(&mut self) -> Tok {
        let tok = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        tok
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    /// A syntax error at the current token.
    fn syntax(&self) -> Error {
        let i = self.pos.min(self.tokens.len() - 1);
        let token = match &self.tokens[i].tok {
            Tok::Eof => "<EOF>".to_owned(),
            _ => self.src[self.tokens[i].span.clone()].to_owned(),
        };
        let from = self.tokens[i.saturating_sub(1)].span.start;
        let to = self.tokens[(i + 1).min(self.tokens.len() - 1)].span.end;
        Error::Syntax { token, near: self.src[from..to].to_owned(), at: self.tokens[i].span.start }
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), Error> {
        if self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::TooDeep { at: self.start() });
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Node, Error> {
        self.chain("OR", Parser::and_expr, Kind::Or)
    }

    fn and_expr(&mut self) -> Result<Node, Error> {
        self.chain("AND", Parser::not_expr, Kind::And)
    }

    /// `part (keyword part)*`, flattened into one node.
    fn chain(
        &mut self,
        keyword: &str,
        part: fn(&mut Self) -> Result<Node, Error>,
        make: fn(Vec<Node>) -> Kind,
    ) -> Result<Node, Error> {
        let start = self.start();
        let mut parts = vec![part(self)?];
        while self.at_keyword(keyword) {
            self.bump();
            parts.push(part(self)?);
        }
        if parts.len() == 1 {
            if let Some(only) = parts.pop() {
                return Ok(only);
            }
        }
        Ok(Node { kind: make(parts), span: start..self.last_end() })
    }

    fn not_expr(&mut self) -> Result<Node, Error> {
        if !self.at_keyword("NOT") {
            return self.primary();
        }
        let start = self.start();
        self.enter()?;
        self.bump();
        let inner = self.not_expr()?;
        self.depth -= 1;
        Ok(Node { kind: Kind::Not(Box::new(inner)), span: start..self.last_end() })
    }

    fn primary(&mut self) -> Result<Node, Error> {
        let start = self.start();
        if self.peek() == &Tok::LParen {
            self.enter()?;
            self.bump();
            let inner = self.or_expr()?;
            self.depth -= 1;
            self.expect(&Tok::RParen)?;
            return Ok(inner);
        }
        if let (Tok::Word(w), Tok::LParen) = (self.peek(), self.peek_at(1)) {
            if w != "size" && FUNCTIONS.contains(&w.as_str()) {
                let kind = self.function()?;
                return Ok(Node { kind, span: start..self.last_end() });
            }
        }
        let left = self.operand()?;
        let kind = match self.peek().clone() {
            Tok::Cmp(cmp) => {
                self.bump();
                Kind::Compare(left, cmp, self.operand()?)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("BETWEEN") => {
                self.bump();
                let lower = self.operand()?;
                if !self.at_keyword("AND") {
                    return Err(self.syntax());
                }
                self.bump();
                let upper = self.operand()?;
                if let (Operand::Value(l), Operand::Value(u)) = (&lower, &upper) {
                    if order(l, u).is_some_and(Ordering::is_gt) {
                        return Err(Error::BetweenBounds {
                            lower: l.to_string(),
                            upper: u.to_string(),
                        });
                    }
                }
                Kind::Between(left, lower, upper)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("IN") => {
                self.bump();
                self.expect(&Tok::LParen)?;
                let mut list = vec![self.operand()?];
                while self.peek() == &Tok::Comma {
                    self.bump();
                    list.push(self.operand()?);
                }
                self.expect(&Tok::RParen)?;
                if list.len() > MAX_IN_OPERANDS {
                    return Err(Error::TooManyInOperands(list.len()));
                }
                Kind::In(left, list)
            }
            // `size` is an operand, not a condition.
            _ if matches!(left, Operand::Size(_)) => return Err(Error::Misused("size")),
            _ => return Err(self.syntax()),
        };
        Ok(Node { kind, span: start..self.last_end() })
    }

    /// A function call: the name, then its arguments, each an operand.
    fn call(&mut self) -> Result<(&'static str, Vec<Operand>), Error> {
        let at = self.start();
        let Tok::Word(name) = self.bump() else { return Err(self.syntax()) };
        let Some(name) = FUNCTIONS.iter().copied().find(|f| *f == name) else {
            return Err(Error::UnknownFunction { name, at });
        };
        self.expect(&Tok::LParen)?;
        let mut args = vec![self.operand()?];
        while self.peek() == &Tok::Comma {
            self.bump();
            args.push(self.operand()?);
        }
        self.expect(&Tok::RParen)?;
        Ok((name, args))
    }

    fn function(&mut self) -> Result<Kind, Error> {
        let (name, args) = self.call()?;
        let arity = if matches!(name, "attribute_exists" | "attribute_not_exists") { 1 } else { 2 };
        if args.len() != arity {
            return Err(Error::Arity { function: name, count: args.len() });
        }
        let mut args = args.into_iter();
        let (Some(Operand::Path(path)), second) = (args.next(), args.next()) else {
            return Err(Error::NeedsPath(name));
        };
        Ok(match (name, second) {
            ("attribute_exists", _) => Kind::Exists(path),
            ("attribute_not_exists", _) => Kind::NotExists(path),
            ("attribute_type", Some(Operand::Value(Value::String(t)))) => {
                if !["S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"]
                    .contains(&t.as_str())
                {
                    return Err(Error::TypeName(t));
                }
                Kind::Type(path, t)
            }
            ("attribute_type", Some(Operand::Value(v))) => {
                return Err(Error::OperandType { function: name, operand_type: type_name(&v) })
            }
            // DynamoDB wants the type as an expression attribute value.
            ("attribute_type", _) => {
                return Err(Error::OperandType { function: name, operand_type: "path" })
            }
            ("begins_with", Some(prefix)) => {
                if let Operand::Value(v) = &prefix {
                    if !v.is_string() {
                        return Err(Error::OperandType {
                            function: name,
                            operand_type: type_name(v),
                        });
                    }
                }
                Kind::BeginsWith(path, prefix)
            }
            ("contains", Some(operand)) => Kind::Contains(path, operand),
            _ => return Err(Error::Arity { function: name, count: arity }),
        })
    }

    fn operand(&mut self) -> Result<Operand, Error> {
        let at = self.start();
        match self.peek().clone() {
            Tok::Value(name) => {
                self.bump();
                let Some(v) = self.values.get(&name) else {
                    return Err(Error::UndefinedValue { name, at });
                };
                self.used_values.insert(name);
                Ok(Operand::Value(v.clone()))
            }
            Tok::Word(w) if self.peek_at(1) == &Tok::LParen => {
                if w != "size" {
                    return Err(match FUNCTIONS.iter().find(|f| **f == w) {
                        Some(f) => Error::Misused(f),
                        None => Error::UnknownFunction { name: w, at },
                    });
                }
                let (_, args) = self.call()?;
                if args.len() != 1 {
                    return Err(Error::Arity { function: "size", count: args.len() });
                }
                match args.into_iter().next() {
                    Some(Operand::Path(p)) => Ok(Operand::Size(p)),
                    _ => Err(Error::NeedsPath("size")),
                }
            }
            _ => Ok(Operand::Path(self.path()?)),
        }
    }

    fn path(&mut self) -> Result<Path, Error> {
        let mut elements = vec![self.path_name()?];
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    elements.push(self.path_name()?);
                }
                Tok::LBracket => {
                    self.bump();
                    let index = match self.peek() {
                        Tok::Word(w) if w.bytes().all(|b| b.is_ascii_digit()) => w.parse().ok(),
                        _ => None,
                    };
                    let Some(index) = index else { return Err(self.syntax()) };
                    self.bump();
                    self.expect(&Tok::RBracket)?;
                    elements.push(Element::Index(index));
                }
                _ => return Ok(Path(elements)),
            }
        }
    }

    fn path_name(&mut self) -> Result<Element, Error> {
        let at = self.start();
        match self.peek().clone() {
            Tok::Name(placeholder) => {
                self.bump();
                let Some(name) = self.names.get(&placeholder).and_then(Value::as_str) else {
                    return Err(Error::UndefinedName { name: placeholder, at });
                };
                self.used_names.insert(placeholder);
                Ok(Element::Name(name.to_owned()))
            }
            Tok::Word(w) if !is_keyword(&w) && !w.starts_with(|c: char| c.is_ascii_digit()) => {
                self.bump();
                Ok(Element::Name(w))
            }
            _ => Err(self.syntax()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn parse(expr: &str, names: Value, values: Value) -> Result<Condition, Error> {
        Condition::parse(expr, &map(names), &map(values))
    }

    fn doc() -> Value {
        json!({
            "id": "order-1",
            "status": "OPEN",
            "total": 120,
            "price": 9.5,
            "paid": false,
            "note": null,
            "tags": ["a", "b", 3],
            "items": [{"sku": "x", "qty": 2}, {"sku": "y", "qty": 1}],
            "customer": {"name": "Zoë", "address": {"city": "Lyon"}},
            "a.b": "dotted",
            "empty": "",
            "AND": 1
        })
    }

    /// Evaluates `expr` against the test document with the given values (names: `#n` is
    /// `a.b`, `#and` is `AND`, when used).
    fn eval(expr: &str, values: Value) -> bool {
        let mut names = Map::new();
        if expr.contains("#n") {
            names.insert("#n".into(), json!("a.b"));
        }
        if expr.contains("#and") {
            names.insert("#and".into(), json!("AND"));
        }
        let values = map(values).into_iter().filter(|(k, _)| expr.contains(k.as_str())).collect();
        let c = Condition::parse(expr, &names, &values).unwrap_or_else(|e| panic!("{expr}: {e}"));
        c.evaluate(Some(&doc()))
    }

    #[test]
    fn comparisons() {
        let cases = [
            ("total = :v", json!({":v": 120}), true),
            ("total = :v", json!({":v": 120.0}), true),
            ("total = :v", json!({":v": "120"}), false),
            ("total <> :v", json!({":v": "120"}), true),
            ("total <> :v", json!({":v": 120}), false),
            ("total < :v", json!({":v": 121}), true),
            ("total <= :v", json!({":v": 120}), true),
            ("total > :v", json!({":v": 120}), false),
            ("total >= :v", json!({":v": 120}), true),
            ("total < :v", json!({":v": "9"}), false),
            ("total >= :v", json!({":v": "9"}), false),
            ("price > total", json!({}), false),
            ("price < total", json!({}), true),
            ("status = :v", json!({":v": "OPEN"}), true),
            ("status < :v", json!({":v": "OPEN!"}), true),
            ("status > :v", json!({":v": "CLOSED"}), true),
            // Byte order: uppercase before lowercase.
            ("status < :v", json!({":v": "open"}), true),
            ("paid = :v", json!({":v": false}), true),
            ("paid < :v", json!({":v": true}), false),
            ("note = :v", json!({":v": null}), true),
            ("tags = :v", json!({":v": ["a", "b", 3.0]}), true),
            ("tags = :v", json!({":v": ["b", "a", 3]}), false),
            ("customer.address = :v", json!({":v": {"city": "Lyon"}}), true),
            ("items[1] = :v", json!({":v": {"qty": 1, "sku": "y"}}), true),
            // A missing attribute: = fails, <> holds, ordering fails.
            ("missing = :v", json!({":v": 1}), false),
            ("missing <> :v", json!({":v": 1}), true),
            ("missing < :v", json!({":v": 1}), false),
            ("missing >= :v", json!({":v": 1}), false),
            ("missing = nothing", json!({}), false),
            // Two values.
            (":a = :b", json!({":a": 1, ":b": 1.0}), true),
            (":a < :b", json!({":a": "a", ":b": "b"}), true),
        ];
        for (expr, values, want) in cases {
            assert_eq!(eval(expr, values.clone()), want, "{expr} with {values}");
        }
    }

    #[test]
    fn paths() {
        let cases = [
            ("customer.address.city = :v", json!({":v": "Lyon"}), true),
            ("customer.name = :v", json!({":v": "Zoë"}), true),
            ("items[0].sku = :v", json!({":v": "x"}), true),
            ("items[1].qty = :v", json!({":v": 1}), true),
            ("items[2].qty = :v", json!({":v": 1}), false),
            ("tags[2] = :v", json!({":v": 3}), true),
            ("tags.x = :v", json!({":v": 3}), false),
            ("status[0] = :v", json!({":v": "O"}), false),
            ("customer[0] = :v", json!({":v": "Zoë"}), false),
            // A placeholder is one name, dots and all.
            ("#n = :v", json!({":v": "dotted"}), true),
            ("#and = :v", json!({":v": 1}), true),
            ("customer . address . city = :v", json!({":v": "Lyon"}), true),
            ("items [ 0 ] . sku = :v", json!({":v": "x"}), true),
        ];
        for (expr, values, want) in cases {
            assert_eq!(eval(expr, values.clone()), want, "{expr} with {values}");
        }
        let c = parse(
            "#c.#a.city = :v",
            json!({"#c": "customer", "#a": "address"}),
            json!({":v": "Lyon"}),
        )
        .unwrap();
        assert!(c.evaluate(Some(&doc())));
    }

    #[test]
    fn between_and_in() {
        let cases = [
            ("total BETWEEN :a AND :b", json!({":a": 100, ":b": 200}), true),
            ("total BETWEEN :a AND :b", json!({":a": 120, ":b": 120}), true),
            ("total BETWEEN :a AND :b", json!({":a": 121, ":b": 200}), false),
            ("total between :a and :b", json!({":a": "1", ":b": "2"}), false),
            ("status BETWEEN :a AND :b", json!({":a": "A", ":b": "P"}), true),
            ("status BETWEEN :a AND :b", json!({":a": 1, ":b": "P"}), false),
            ("missing BETWEEN :a AND :b", json!({":a": 1, ":b": 2}), false),
            ("price BETWEEN :a AND total", json!({":a": 9}), true),
            ("status IN (:a, :b)", json!({":a": "CLOSED", ":b": "OPEN"}), true),
            ("status in (:a)", json!({":a": "CLOSED"}), false),
            ("total IN (:a, :b)", json!({":a": "120", ":b": 120.0}), true),
            ("items[0] IN (:a)", json!({":a": {"sku": "x", "qty": 2}}), true),
            ("missing IN (:a)", json!({":a": null}), false),
            (":a IN (status, id)", json!({":a": "order-1"}), true),
            ("size(tags) IN (:a)", json!({":a": 3}), true),
        ];
        for (expr, values, want) in cases {
            assert_eq!(eval(expr, values.clone()), want, "{expr} with {values}");
        }
    }

    #[test]
    fn functions() {
        let cases = [
            ("attribute_exists(status)", json!({}), true),
            ("attribute_exists(note)", json!({}), true),
            ("attribute_exists(missing)", json!({}), false),
            ("attribute_exists(items[1].sku)", json!({}), true),
            ("attribute_exists(items[5])", json!({}), false),
            ("attribute_not_exists(missing)", json!({}), true),
            ("attribute_not_exists(customer.address.zip)", json!({}), true),
            ("attribute_not_exists(id)", json!({}), false),
            ("attribute_type(status, :t)", json!({":t": "S"}), true),
            ("attribute_type(total, :t)", json!({":t": "N"}), true),
            ("attribute_type(price, :t)", json!({":t": "N"}), true),
            ("attribute_type(paid, :t)", json!({":t": "BOOL"}), true),
            ("attribute_type(note, :t)", json!({":t": "NULL"}), true),
            ("attribute_type(tags, :t)", json!({":t": "L"}), true),
            ("attribute_type(customer, :t)", json!({":t": "M"}), true),
            ("attribute_type(customer, :t)", json!({":t": "L"}), false),
            ("attribute_type(tags, :t)", json!({":t": "SS"}), false),
            ("attribute_type(tags, :t)", json!({":t": "NS"}), false),
            ("attribute_type(status, :t)", json!({":t": "B"}), false),
            ("attribute_type(missing, :t)", json!({":t": "NULL"}), false),
            ("begins_with(id, :p)", json!({":p": "order-"}), true),
            ("begins_with(id, :p)", json!({":p": ""}), true),
            ("begins_with(id, :p)", json!({":p": "Order"}), false),
            ("begins_with(total, :p)", json!({":p": "1"}), false),
            ("begins_with(customer.name, :p)", json!({":p": "Zo"}), true),
            ("begins_with(id, status)", json!({}), false),
            ("contains(id, :s)", json!({":s": "der-"}), true),
            ("contains(id, :s)", json!({":s": "x"}), false),
            ("contains(tags, :s)", json!({":s": "b"}), true),
            ("contains(tags, :s)", json!({":s": 3}), true),
            ("contains(tags, :s)", json!({":s": "3"}), false),
            ("contains(items, :s)", json!({":s": {"sku": "y", "qty": 1}}), true),
            ("contains(total, :s)", json!({":s": 1}), false),
            ("contains(customer, :s)", json!({":s": "name"}), false),
            ("contains(id, :s)", json!({":s": 1}), false),
            ("size(status) = :n", json!({":n": 4}), true),
            ("size(customer.name) = :n", json!({":n": 4}), true),
            ("size(empty) = :n", json!({":n": 0}), true),
            ("size(tags) = :n", json!({":n": 3}), true),
            ("size(customer) >= :n", json!({":n": 2}), true),
            ("size(total) = :n", json!({":n": 3}), false),
            ("size(total) <> :n", json!({":n": 3}), true),
            ("size(missing) = :n", json!({":n": 0}), false),
            (":n < size(items)", json!({":n": 1}), true),
            ("size(tags) > size(items)", json!({}), true),
            ("size(tags) BETWEEN :a AND :b", json!({":a": 1, ":b": 3}), true),
        ];
        for (expr, values, want) in cases {
            assert_eq!(eval(expr, values.clone()), want, "{expr} with {values}");
        }
    }

    #[test]
    fn logic_and_precedence() {
        let v = || json!({":t": true, ":f": false});
        let cases = [
            ("paid = :f AND total > :n", true),
            ("paid = :t AND total > :n", false),
            ("paid = :t OR total > :n", true),
            ("NOT paid = :t", true),
            ("not paid = :f", false),
            ("NOT NOT paid = :f", true),
            // NOT binds tighter than AND, AND tighter than OR.
            ("NOT paid = :t AND paid = :t", false),
            ("paid = :t AND paid = :t OR paid = :f", true),
            ("paid = :f OR paid = :t AND paid = :t", true),
            ("(paid = :f OR paid = :t) AND paid = :t", false),
            ("paid = :t AND (paid = :t OR paid = :f)", false),
            ("NOT (paid = :f AND total > :n)", false),
            ("((((paid = :f))))", true),
            ("NOT attribute_exists(missing) AND attribute_exists(id)", true),
            ("attribute_exists(missing) Or NOT (paid = :t)", true),
            ("paid = :t or paid = :t or paid = :t or paid = :f", true),
            ("paid = :f and paid = :f and paid = :f and paid = :t", false),
        ];
        for (expr, want) in cases {
            let mut values = v();
            if expr.contains(":n") {
                values["\u{3a}n"] = json!(100);
            }
            assert_eq!(eval(expr, values), want, "{expr}");
        }
    }

    #[test]
    fn missing_document() {
        let cases = [
            ("attribute_not_exists(id)", true),
            ("attribute_exists(id)", false),
            ("id = :v", false),
            ("id <> :v", true),
            ("NOT attribute_exists(id)", true),
            ("begins_with(id, :v)", false),
            ("size(id) >= :n", false),
            ("attribute_not_exists(id) OR id = :v", true),
            ("attribute_not_exists(id) AND id = :v", false),
        ];
        for (expr, want) in cases {
            let mut values = Map::new();
            if expr.contains(":v") {
                values.insert(":v".into(), json!("x"));
            }
            if expr.contains(":n") {
                values.insert(":n".into(), json!(0));
            }
            let c = Condition::parse(expr, &Map::new(), &values).unwrap();
            assert_eq!(c.evaluate(None), want, "{expr}");
        }
        // A document that is not an object has no attributes.
        let c = parse("attribute_not_exists(a)", json!({}), json!({})).unwrap();
        assert!(c.evaluate(Some(&json!([1]))));
    }

    #[test]
    fn diagnostics_point_at_the_failing_part() {
        let c = parse(
            "attribute_exists(id) AND (total > :min OR paid = :t) AND status = :s",
            json!({}),
            json!({":min": 500, ":t": true, ":s": "OPEN"}),
        )
        .unwrap();
        let failure = c.check(Some(&doc())).unwrap_err();
        assert_eq!(failure.text, "total > :min OR paid = :t");
        assert_eq!(&c.source()[failure.span], "total > :min OR paid = :t");
        let c = parse("status = :s AND size(tags) > :n", json!({}), json!({":s": "OPEN", ":n": 5}))
            .unwrap();
        assert_eq!(c.check(Some(&doc())).unwrap_err().text, "size(tags) > :n");
        assert_eq!(c.check(None).unwrap_err().text, "status = :s");
        let c = parse("NOT (attribute_exists(id))", json!({}), json!({})).unwrap();
        assert_eq!(c.check(Some(&doc())).unwrap_err().text, "NOT (attribute_exists(id))");
        assert_eq!(c.check(None), Ok(()));
        assert_eq!(c.to_string(), "NOT (attribute_exists(id))");
    }

    fn parse_err(expr: &str, names: Value, values: Value) -> Error {
        parse(expr, names, values).expect_err(expr)
    }

    fn syntax(token: &str, near: &str, at: usize) -> Error {
        Error::Syntax { token: token.into(), near: near.into(), at }
    }

    #[test]
    fn syntax_errors() {
        let v = || json!({":v": 1, ":w": 2});
        assert_eq!(parse_err("", json!({}), json!({})), Error::Empty);
        assert_eq!(parse_err("  \t", json!({}), json!({})), Error::Empty);
        assert_eq!(
            parse_err("a = :v AND", json!({}), json!({":v": 1})),
            syntax("<EOF>", "AND", 10)
        );
        assert_eq!(parse_err("a", json!({}), json!({})), syntax("<EOF>", "a", 1));
        assert_eq!(parse_err("a = :v :w", json!({}), v()), syntax(":w", ":v :w", 7));
        assert_eq!(parse_err("a == :v", json!({}), v()), syntax("=", "== :v", 3));
        assert_eq!(parse_err("a = :v)", json!({}), v()), syntax(")", ":v)", 6));
        assert_eq!(parse_err("(a = :v", json!({}), v()), syntax("<EOF>", ":v", 7));
        assert_eq!(parse_err("a != :v", json!({}), v()), syntax("!", "a !", 2));
        assert_eq!(parse_err("a = :v & b", json!({}), v()), syntax("&", ":v &", 7));
        assert_eq!(parse_err("é = :v", json!({}), v()), syntax("é", "é", 0));
        assert_eq!(parse_err("a = #", json!({}), v()), syntax("#", "= #", 4));
        assert_eq!(parse_err("a = :", json!({}), v()), syntax(":", "= :", 4));
        assert_eq!(parse_err("a BETWEEN :v OR :w", json!({}), v()), syntax("OR", ":v OR :w", 13));
        assert_eq!(parse_err("a IN :v", json!({}), v()), syntax(":v", "IN :v", 5));
        assert_eq!(parse_err("a IN ()", json!({}), json!({})), syntax(")", "()", 6));
        assert_eq!(parse_err("a IN (:v,)", json!({}), json!({":v": 1})), syntax(")", ",)", 9));
        assert_eq!(parse_err("AND = :v", json!({}), json!({":v": 1})), syntax("AND", "AND =", 0));
        assert_eq!(parse_err("a.in = :v", json!({}), json!({":v": 1})), syntax("in", ".in =", 2));
        assert_eq!(parse_err("1a = :v", json!({}), json!({":v": 1})), syntax("1a", "1a =", 0));
        assert_eq!(parse_err("a[x] = :v", json!({}), json!({":v": 1})), syntax("x", "[x]", 2));
        assert_eq!(parse_err("a[:v] = :v", json!({}), json!({":v": 1})), syntax(":v", "[:v]", 2));
        assert_eq!(parse_err("a[0 = :v", json!({}), json!({":v": 1})), syntax("=", "0 = :v", 4));
        assert_eq!(parse_err("a. = :v", json!({}), json!({":v": 1})), syntax("=", ". = :v", 3));
        assert_eq!(parse_err("NOT", json!({}), json!({})), syntax("<EOF>", "NOT", 3));
        assert_eq!(parse_err("()", json!({}), json!({})), syntax(")", "()", 1));
        assert_eq!(
            parse_err("a = :v a = :v", json!({}), json!({":v": 1})),
            syntax("a", ":v a =", 7)
        );
        let e = parse_err("a = :v AND", json!({}), json!({":v": 1}));
        assert_eq!(
            e.to_string(),
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"AND\", at: 10"
        );
    }

    #[test]
    fn function_errors() {
        let v = || json!({":v": "x"});
        assert_eq!(
            parse_err("ATTRIBUTE_EXISTS(a)", json!({}), json!({})),
            Error::UnknownFunction { name: "ATTRIBUTE_EXISTS".into(), at: 0 }
        );
        assert_eq!(
            parse_err("a = foo(b)", json!({}), json!({})),
            Error::UnknownFunction { name: "foo".into(), at: 4 }
        );
        assert_eq!(
            parse_err("attribute_exists(a, b)", json!({}), json!({})),
            Error::Arity { function: "attribute_exists", count: 2 }
        );
        assert_eq!(
            parse_err("begins_with(a)", json!({}), json!({})),
            Error::Arity { function: "begins_with", count: 1 }
        );
        assert_eq!(
            parse_err("size(a, b) = :v", json!({}), v()),
            Error::Arity { function: "size", count: 2 }
        );
        assert_eq!(parse_err("attribute_exists()", json!({}), json!({})), syntax(")", "()", 17));
        assert_eq!(
            parse_err("attribute_exists(:v)", json!({}), v()),
            Error::NeedsPath("attribute_exists")
        );
        assert_eq!(parse_err("contains(:v, a)", json!({}), v()), Error::NeedsPath("contains"));
        assert_eq!(parse_err("size(:v) = :v", json!({}), v()), Error::NeedsPath("size"));
        assert_eq!(
            parse_err("begins_with(size(a), :v)", json!({}), v()),
            Error::NeedsPath("begins_with")
        );
        assert_eq!(parse_err("size(a)", json!({}), json!({})), Error::Misused("size"));
        assert_eq!(
            parse_err("a = attribute_exists(b)", json!({}), json!({})),
            Error::Misused("attribute_exists")
        );
        assert_eq!(
            parse_err("begins_with(a, :v)", json!({}), json!({":v": 1})),
            Error::OperandType { function: "begins_with", operand_type: "N" }
        );
        assert_eq!(
            parse_err("attribute_type(a, :v)", json!({}), json!({":v": "STRING"})),
            Error::TypeName("STRING".into())
        );
        assert_eq!(
            parse_err("attribute_type(a, :v)", json!({}), json!({":v": 1})),
            Error::OperandType { function: "attribute_type", operand_type: "N" }
        );
        assert_eq!(
            parse_err("attribute_type(a, b)", json!({}), json!({})),
            Error::OperandType { function: "attribute_type", operand_type: "path" }
        );
        assert_eq!(
            parse_err("a BETWEEN :hi AND :lo", json!({}), json!({":hi": 5, ":lo": 1})),
            Error::BetweenBounds { lower: "5".into(), upper: "1".into() }
        );
        assert!(parse("a BETWEEN :lo AND :hi", json!({}), json!({":hi": "5", ":lo": 1})).is_ok());
        let values: Map<String, Value> = (0..101).map(|i| (format!(":v{i}"), json!(i))).collect();
        let list: Vec<String> = values.keys().cloned().collect();
        let expr = format!("a IN ({})", list.join(", "));
        assert_eq!(
            Condition::parse(&expr, &Map::new(), &values),
            Err(Error::TooManyInOperands(101))
        );
        let expr = format!("a IN ({})", list[..100].join(","));
        let values: Map<String, Value> = values.into_iter().take(100).collect();
        assert!(Condition::parse(&expr, &Map::new(), &values).is_ok());
    }

    #[test]
    fn placeholders_must_be_defined_and_used() {
        assert_eq!(
            parse_err("a = :v", json!({}), json!({})),
            Error::UndefinedValue { name: ":v".into(), at: 4 }
        );
        assert_eq!(
            parse_err("#a = :v", json!({}), json!({":v": 1})),
            Error::UndefinedName { name: "#a".into(), at: 0 }
        );
        let e = parse_err("a = :v", json!({}), json!({":v": 1, ":w": 2, ":u": 3}));
        assert_eq!(e, Error::UnusedValues(vec![":w".into(), ":u".into()]));
        assert_eq!(
            e.to_string(),
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w, :u}"
        );
        let e = parse_err("a = :v", json!({"#a": "a"}), json!({":v": 1}));
        assert_eq!(
            e.to_string(),
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a}"
        );
        assert_eq!(parse_err("a = :v", json!({}), json!({"v": 1})), Error::ValueKey("v".into()));
        assert_eq!(
            parse_err("#a = :v", json!({"a": "a"}), json!({":v": 1})),
            Error::NameKey("a".into())
        );
        assert_eq!(
            parse_err("#a = :v", json!({"#a": 1}), json!({":v": 1})),
            Error::NameValue("#a".into())
        );
        assert_eq!(
            parse_err("#a = :v", json!({"#a": ""}), json!({":v": 1})),
            Error::NameValue("#a".into())
        );
        assert_eq!(
            parse_err("a = :v", json!({}), json!({})).to_string(),
            "Invalid ConditionExpression: An expression attribute value used in expression is not \
             defined; attribute value: :v"
        );
        // A placeholder used twice is fine.
        assert!(parse("#a = :v OR #a > :v", json!({"#a": "x"}), json!({":v": 1})).is_ok());
    }

    #[test]
    fn limits() {
        let long = format!("a = :v{}", " ".repeat(MAX_EXPRESSION_BYTES));
        assert_eq!(parse_err(&long, json!({}), json!({":v": 1})), Error::TooLong(long.len()));
        let deep = format!("{}a = :v{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&deep, json!({}), json!({":v": 1})).is_ok());
        let deeper = format!("{}a = :v{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert_eq!(
            parse_err(&deeper, json!({}), json!({":v": 1})),
            Error::TooDeep { at: MAX_DEPTH }
        );
        let nots = format!("{}a = :v", "NOT ".repeat(1000));
        assert!(matches!(parse_err(&nots, json!({}), json!({":v": 1})), Error::TooDeep { .. }));
        // Long flat chains are fine: they do not nest.
        let chain = vec!["a = :v"; 400].join(" OR ");
        assert!(parse(&chain, json!({}), json!({":v": 1}))
            .unwrap()
            .evaluate(Some(&json!({"a": 1}))));
    }

    #[test]
    fn no_panics_on_odd_input() {
        let inputs = [
            "((",
            "))",
            "[",
            "]",
            ".",
            ",",
            "<",
            ">",
            "<>",
            "<=",
            ">=",
            "=",
            "a.",
            "a[",
            "a[0",
            "a[99999999999999999999999] = :v",
            "#",
            ":",
            "size",
            "size(",
            "size()",
            "NOT NOT",
            "a BETWEEN",
            "a BETWEEN :v",
            "a BETWEEN :v AND",
            "a IN",
            "a IN (",
            "a IN (:v",
            "begins_with(",
            "contains(a,",
            "attribute_type(a, :v",
            "\u{0}",
            "a = :v\u{1F600}",
        ];
        for input in inputs {
            assert!(parse(input, json!({}), json!({":v": 1})).is_err(), "{input}");
        }
    }
}
