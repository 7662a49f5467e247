//! The tokenizer, the Pratt parser and the rewriting of the raw tree into paths, stages and
//! tuple bindings (jsonata-js's `processAST`), including the resolution of `%` parent slots and
//! tail-call marking.

use std::sync::Arc;

use crate::ast::{BinOp, Group, Kind, LambdaDef, Node, SortTerm, Stage};
use crate::signature::Signature;
use crate::value::Str;
use crate::Error;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Variable(String),
    Op(&'static str),
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Regex(String, String),
    End,
}

const OPS: &[&str] = &[
    "..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??", ".", "[", "]", "{", "}", "(", ")", ",",
    "@", "#", ";", ":", "?", "+", "-", "*", "/", "%", "|", "=", "<", ">", "^", "&", "!", "~",
];

fn is_op_char(c: char) -> bool {
    ".[]{}(),@#;:?+-*/%|=<>^&!~".contains(c)
}

fn lbp(id: &str) -> u32 {
    match id {
        "." => 75,
        "[" | "(" | "@" | "#" => 80,
        "{" => 70,
        "?" => 20,
        "+" | "-" | "&" => 50,
        "*" | "/" | "%" => 60,
        "=" | "<" | ">" | "^" | "!=" | "<=" | ">=" | "~>" | "?:" | "??" | "in" => 40,
        ":=" => 10,
        "and" => 30,
        "or" => 25,
        _ => 0,
    }
}

pub(crate) fn err(code: &str, pos: usize) -> Error {
    Error::new(code, Some(pos), crate::message(code).to_string())
}

/// Rust strings cannot hold a lone UTF-16 surrogate (`"\uD800"`): the lexer maps them to the
/// top of plane 16 so that the URL encoders can still reject them as jsonata-js does.
pub const SURROGATE_BASE: u32 = 0x10_F800;

fn lone_surrogate(cp: u32) -> char {
    char::from_u32(SURROGATE_BASE + (cp - 0xD800)).unwrap_or('\u{fffd}')
}

struct Lexer<'a> {
    src: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl Lexer<'_> {
    fn at(&self, i: usize) -> char {
        self.chars.get(i).copied().unwrap_or('\0')
    }

    fn next(&mut self, infix: bool) -> Result<(Tok, usize), Error> {
        let n = self.chars.len();
        loop {
            while self.pos < n && " \t\n\r\u{b}".contains(self.at(self.pos)) {
                self.pos += 1;
            }
            if self.at(self.pos) == '/' && self.at(self.pos + 1) == '*' {
                let start = self.pos;
                self.pos += 2;
                loop {
                    if self.pos >= n {
                        return Err(err("S0106", start));
                    }
                    if self.at(self.pos) == '*' && self.at(self.pos + 1) == '/' {
                        break;
                    }
                    self.pos += 1;
                }
                self.pos += 2;
                continue;
            }
            break;
        }
        if self.pos >= n {
            return Ok((Tok::End, n));
        }
        let c = self.at(self.pos);
        if !infix && c == '/' {
            self.pos += 1;
            return self.scan_regex();
        }
        for op in OPS {
            let oc: Vec<char> = op.chars().collect();
            if oc.iter().enumerate().all(|(i, ch)| self.at(self.pos + i) == *ch) {
                self.pos += oc.len();
                return Ok((Tok::Op(op), self.pos));
            }
        }
        if c == '"' || c == '\'' {
            self.pos += 1;
            let mut s = String::new();
            while self.pos < n {
                let ch = self.at(self.pos);
                if ch == '\\' {
                    self.pos += 1;
                    let e = self.at(self.pos);
                    match e {
                        '"' | '\\' | '/' => s.push(e),
                        'b' => s.push('\u{8}'),
                        'f' => s.push('\u{c}'),
                        'n' => s.push('\n'),
                        'r' => s.push('\r'),
                        't' => s.push('\t'),
                        'u' => {
                            let hex: String =
                                self.chars[self.pos + 1..(self.pos + 5).min(n)].iter().collect();
                            if hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()) {
                                let cp = u32::from_str_radix(&hex, 16).unwrap_or(0);
                                self.pos += 4;
                                if (0xD800..0xDC00).contains(&cp)
                                    && self.at(self.pos + 1) == '\\'
                                    && self.at(self.pos + 2) == 'u'
                                {
                                    let hex2: String = self.chars
                                        [self.pos + 3..(self.pos + 7).min(n)]
                                        .iter()
                                        .collect();
                                    if let Ok(lo) = u32::from_str_radix(&hex2, 16) {
                                        if (0xDC00..0xE000).contains(&lo) {
                                            let c = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                            s.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                                            self.pos += 6;
                                            self.pos += 1;
                                            continue;
                                        }
                                    }
                                }
                                s.push(char::from_u32(cp).unwrap_or_else(|| lone_surrogate(cp)));
                            } else {
                                return Err(err("S0104", self.pos));
                            }
                        }
                        _ => return Err(err("S0103", self.pos)),
                    }
                } else if ch == c {
                    self.pos += 1;
                    return Ok((Tok::Str(s), self.pos));
                } else {
                    s.push(ch);
                }
                self.pos += 1;
            }
            return Err(err("S0101", self.pos));
        }
        if c.is_ascii_digit() {
            let start = self.pos;
            let mut i = self.pos;
            if self.at(i) == '0' {
                i += 1;
            } else {
                while self.at(i).is_ascii_digit() {
                    i += 1;
                }
            }
            if self.at(i) == '.' && self.at(i + 1).is_ascii_digit() {
                i += 1;
                while self.at(i).is_ascii_digit() {
                    i += 1;
                }
            }
            if matches!(self.at(i), 'e' | 'E') {
                let mut j = i + 1;
                if matches!(self.at(j), '+' | '-') {
                    j += 1;
                }
                if self.at(j).is_ascii_digit() {
                    while self.at(j).is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let text: String = self.chars[start..i].iter().collect();
            let v: f64 = text.parse().unwrap_or(f64::NAN);
            if !v.is_finite() {
                return Err(err("S0102", start));
            }
            self.pos = i;
            return Ok((Tok::Num(v), self.pos));
        }
        if c == '`' {
            self.pos += 1;
            let start = self.pos;
            while self.pos < n && self.at(self.pos) != '`' {
                self.pos += 1;
            }
            if self.pos >= n {
                return Err(err("S0105", n));
            }
            let name: String = self.chars[start..self.pos].iter().collect();
            self.pos += 1;
            return Ok((Tok::Name(name), self.pos));
        }
        let start = self.pos;
        let mut i = self.pos;
        while i < n && !" \t\n\r\u{b}".contains(self.at(i)) && !is_op_char(self.at(i)) {
            i += 1;
        }
        self.pos = i;
        if c == '$' {
            return Ok((Tok::Variable(self.chars[start + 1..i].iter().collect()), i));
        }
        let name: String = self.chars[start..i].iter().collect();
        Ok((
            match name.as_str() {
                "or" => Tok::Op("or"),
                "in" => Tok::Op("in"),
                "and" => Tok::Op("and"),
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                "null" => Tok::Null,
                _ => Tok::Name(name),
            },
            i,
        ))
    }

    fn scan_regex(&mut self) -> Result<(Tok, usize), Error> {
        let start = self.pos;
        let mut depth: i32 = 0;
        let n = self.chars.len();
        while self.pos < n {
            let c = self.at(self.pos);
            if c == '/' && depth == 0 {
                let mut bs = 0;
                while self.pos > bs && self.at(self.pos - bs - 1) == '\\' {
                    bs += 1;
                }
                if bs % 2 == 0 {
                    let pattern: String = self.chars[start..self.pos].iter().collect();
                    if pattern.is_empty() {
                        return Err(err("S0301", self.pos));
                    }
                    self.pos += 1;
                    let fstart = self.pos;
                    while matches!(self.at(self.pos), 'i' | 'm') {
                        self.pos += 1;
                    }
                    let flags: String = self.chars[fstart..self.pos].iter().collect();
                    return Ok((Tok::Regex(pattern, flags), self.pos));
                }
            }
            let prev = if self.pos > 0 { self.at(self.pos - 1) } else { '\0' };
            if matches!(c, '(' | '[' | '{') && prev != '\\' {
                depth += 1;
            }
            if matches!(c, ')' | ']' | '}') && prev != '\\' {
                depth -= 1;
            }
            self.pos += 1;
        }
        let _ = self.src;
        Err(err("S0302", self.pos))
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    tok: Tok,
    pos: usize,
    depth: usize,
}

fn tok_id(t: &Tok) -> &str {
    match t {
        Tok::Name(_) | Tok::Variable(_) => "(name)",
        Tok::Op(o) => o,
        Tok::Str(_) | Tok::Num(_) | Tok::Bool(_) | Tok::Null => "(literal)",
        Tok::Regex(..) => "(regex)",
        Tok::End => "(end)",
    }
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Name(s) | Tok::Variable(s) | Tok::Str(s) => s.clone(),
        Tok::Op(o) => o.to_string(),
        Tok::Num(n) => n.to_string(),
        Tok::Bool(b) => b.to_string(),
        Tok::Null => "null".into(),
        Tok::Regex(p, _) => p.clone(),
        Tok::End => String::new(),
    }
}

impl Parser<'_> {
    fn id(&self) -> &str {
        tok_id(&self.tok)
    }

    fn advance(&mut self, expect: Option<&str>, infix: bool) -> Result<(), Error> {
        if let Some(id) = expect {
            if self.id() != id {
                let code = if self.tok == Tok::End { "S0203" } else { "S0202" };
                return Err(err(code, self.pos));
            }
        }
        let (t, p) = self.lexer.next(infix)?;
        if let Tok::Op(o) = t {
            if o == "!" || o == "~" {
                return Err(err("S0204", p));
            }
        }
        self.tok = t;
        self.pos = p;
        Ok(())
    }

    fn expression(&mut self, rbp: u32) -> Result<Node, Error> {
        self.depth += 1;
        if self.depth > 500 {
            return Err(err("S0400", self.pos));
        }
        let t = std::mem::replace(&mut self.tok, Tok::End);
        let tpos = self.pos;
        self.advance(None, true)?;
        let mut left = self.nud(t, tpos)?;
        while rbp < lbp(self.id()) {
            let t = std::mem::replace(&mut self.tok, Tok::End);
            let tpos = self.pos;
            self.advance(None, false)?;
            left = self.led(t, tpos, left)?;
        }
        self.depth -= 1;
        Ok(left)
    }

    fn nud(&mut self, t: Tok, pos: usize) -> Result<Node, Error> {
        let kind = match t {
            Tok::Name(n) => Kind::Name(Str::from(n)),
            Tok::Variable(n) => Kind::Variable(Str::from(n)),
            Tok::Str(s) => Kind::Str(Str::from(s)),
            Tok::Num(n) => Kind::Num(n),
            Tok::Bool(b) => Kind::Bool(b),
            Tok::Null => Kind::Null,
            Tok::Regex(p, f) => Kind::Regex(Arc::new(crate::regex::compile(&p, &f, pos)?)),
            Tok::End => return Err(err("S0207", pos)),
            Tok::Op(op) => match op {
                "and" | "or" | "in" => Kind::Operator(op),
                "-" => Kind::Neg(Box::new(self.expression(70)?)),
                "*" => Kind::Wildcard,
                "**" => Kind::Descendant,
                "%" => Kind::Parent(0),
                "(" => {
                    let mut exprs = Vec::new();
                    while self.id() != ")" {
                        exprs.push(self.expression(0)?);
                        if self.id() != ";" {
                            break;
                        }
                        self.advance(Some(";"), false)?;
                    }
                    self.advance(Some(")"), true)?;
                    Kind::Block(exprs)
                }
                "[" => {
                    let mut items = Vec::new();
                    if self.id() != "]" {
                        loop {
                            let mut item = self.expression(0)?;
                            if self.id() == ".." {
                                let p = self.pos;
                                self.advance(Some(".."), false)?;
                                let rhs = self.expression(0)?;
                                item = Node::new(
                                    Kind::RawBinary("..", Box::new(item), Box::new(rhs)),
                                    p,
                                );
                            }
                            items.push(item);
                            if self.id() != "," {
                                break;
                            }
                            self.advance(Some(","), false)?;
                        }
                    }
                    self.advance(Some("]"), true)?;
                    Kind::ArrayCons(items)
                }
                "{" => Kind::ObjectCons(self.object_pairs()?),
                "|" => {
                    let pattern = self.expression(0)?;
                    self.advance(Some("|"), false)?;
                    let update = self.expression(0)?;
                    let mut delete = None;
                    if self.id() == "," {
                        self.advance(Some(","), false)?;
                        delete = Some(Arc::new(self.expression(0)?));
                    }
                    self.advance(Some("|"), false)?;
                    Kind::Transform(Arc::new(pattern), Arc::new(update), delete)
                }
                _ => return Err(err("S0211", pos)),
            },
        };
        Ok(Node::new(kind, pos))
    }

    fn object_pairs(&mut self) -> Result<Vec<(Node, Node)>, Error> {
        let mut pairs = Vec::new();
        if self.id() != "}" {
            loop {
                let k = self.expression(0)?;
                self.advance(Some(":"), false)?;
                let v = self.expression(0)?;
                pairs.push((k, v));
                if self.id() != "," {
                    break;
                }
                self.advance(Some(","), false)?;
            }
        }
        self.advance(Some("}"), true)?;
        Ok(pairs)
    }

    fn led(&mut self, t: Tok, pos: usize, left: Node) -> Result<Node, Error> {
        let op = match t {
            Tok::Op(o) => o,
            _ => return Err(err("S0201", pos)),
        };
        let kind = match op {
            "(" => {
                let mut args = Vec::new();
                let mut partial = false;
                if self.id() != ")" {
                    loop {
                        if self.tok == Tok::Op("?") {
                            partial = true;
                            args.push(Node::new(Kind::Placeholder, self.pos));
                            self.advance(Some("?"), false)?;
                        } else {
                            args.push(self.expression(0)?);
                        }
                        if self.id() != "," {
                            break;
                        }
                        self.advance(Some(","), false)?;
                    }
                }
                self.advance(Some(")"), true)?;
                if matches!(&left.kind, Kind::Name(n) if &**n == "function" || &**n == "\u{3bb}") {
                    let mut params = Vec::new();
                    for a in &args {
                        match &a.kind {
                            Kind::Variable(v) => params.push(v.clone()),
                            _ => return Err(err("S0208", a.pos)),
                        }
                    }
                    let mut sig = None;
                    if self.id() == "<" {
                        let sig_pos = self.pos;
                        let mut depth = 1;
                        let mut text = String::from("<");
                        while depth > 0 && self.id() != "{" && self.id() != "(end)" {
                            self.advance(None, false)?;
                            match self.id() {
                                ">" => depth -= 1,
                                "<" => depth += 1,
                                _ => {}
                            }
                            text.push_str(&tok_text(&self.tok));
                        }
                        self.advance(Some(">"), false)?;
                        sig = Some(Signature::parse(&text).map_err(|mut e| {
                            e.position = Some(sig_pos);
                            e
                        })?);
                    }
                    self.advance(Some("{"), false)?;
                    let body = self.expression(0)?;
                    self.advance(Some("}"), true)?;
                    Kind::RawLambda(params, sig, Box::new(body))
                } else {
                    Kind::Function { proc: Box::new(left), args, partial }
                }
            }
            "[" => {
                if self.id() == "]" {
                    let mut left = left;
                    fn mark(step: &mut Node) {
                        match &mut step.kind {
                            Kind::RawBinary("[", l, _) => mark(l),
                            _ => step.keep_array = true,
                        }
                    }
                    mark(&mut left);
                    self.advance(Some("]"), false)?;
                    return Ok(left);
                }
                let rhs = self.expression(0)?;
                self.advance(Some("]"), true)?;
                Kind::RawBinary("[", Box::new(left), Box::new(rhs))
            }
            "^" => {
                self.advance(Some("("), false)?;
                let mut terms = Vec::new();
                loop {
                    let mut descending = false;
                    if self.id() == "<" {
                        self.advance(Some("<"), false)?;
                    } else if self.id() == ">" {
                        descending = true;
                        self.advance(Some(">"), false)?;
                    }
                    let expr = self.expression(0)?;
                    terms.push(SortTerm { descending, expr });
                    if self.id() != "," {
                        break;
                    }
                    self.advance(Some(","), false)?;
                }
                self.advance(Some(")"), false)?;
                Kind::RawSort(Box::new(left), terms)
            }
            "{" => Kind::RawGroup(Box::new(left), self.object_pairs()?),
            ":=" => {
                if !matches!(left.kind, Kind::Variable(_)) {
                    return Err(err("S0212", left.pos));
                }
                let rhs = self.expression(lbp(":=") - 1)?;
                Kind::RawBinary(":=", Box::new(left), Box::new(rhs))
            }
            "@" | "#" => {
                let rhs = self.expression(80)?;
                if !matches!(rhs.kind, Kind::Variable(_)) {
                    return Err(err("S0214", rhs.pos));
                }
                Kind::RawBinary(op, Box::new(left), Box::new(rhs))
            }
            "?" => {
                let then = self.expression(0)?;
                let mut els = None;
                if self.id() == ":" {
                    self.advance(Some(":"), false)?;
                    els = Some(Box::new(self.expression(0)?));
                }
                Kind::Condition(Box::new(left), Box::new(then), els)
            }
            "?:" => {
                let rhs = self.expression(0)?;
                Kind::Condition(Box::new(left.clone()), Box::new(left), Some(Box::new(rhs)))
            }
            "??" => {
                let rhs = self.expression(0)?;
                let cond = Node::new(
                    Kind::Function {
                        proc: Box::new(Node::new(Kind::Variable(Str::from("exists")), pos)),
                        args: vec![left.clone()],
                        partial: false,
                    },
                    pos,
                );
                Kind::Condition(Box::new(cond), Box::new(left), Some(Box::new(rhs)))
            }
            _ => {
                let bp = lbp(op);
                if bp == 0 {
                    return Err(err("S0201", pos));
                }
                let rhs = self.expression(bp)?;
                Kind::RawBinary(op, Box::new(left), Box::new(rhs))
            }
        };
        Ok(Node::new(kind, pos))
    }
}

struct Slot {
    label: usize,
    level: i32,
}

struct Processor {
    slots: Vec<Slot>,
}

impl Processor {
    fn push_ancestry(result: &mut Node, value: &Node) {
        if !value.seeking_parent.is_empty() || matches!(value.kind, Kind::Parent(_)) {
            let mut slots = value.seeking_parent.clone();
            if let Kind::Parent(s) = value.kind {
                slots.push(s);
            }
            result.seeking_parent.extend(slots);
        }
    }

    fn seek_parent(&mut self, node: &mut Node, slot: usize) -> Result<(), Error> {
        match &mut node.kind {
            Kind::Name(_) | Kind::Wildcard => {
                self.slots[slot].level -= 1;
                if self.slots[slot].level == 0 {
                    if let Some(old) = node.ancestor {
                        self.slots[slot].label = self.slots[old].label;
                    }
                    node.ancestor = Some(slot);
                    node.tuple = true;
                }
            }
            Kind::Parent(_) => self.slots[slot].level += 1,
            Kind::Block(exprs) => {
                if let Some(last) = exprs.last_mut() {
                    node.tuple = true;
                    self.seek_parent(last, slot)?;
                }
            }
            Kind::Path(steps) => {
                node.tuple = true;
                let mut index = steps.len() as isize - 1;
                self.seek_parent(&mut steps[index as usize], slot)?;
                index -= 1;
                while self.slots[slot].level > 0 && index >= 0 {
                    self.seek_parent(&mut steps[index as usize], slot)?;
                    index -= 1;
                }
            }
            _ => return Err(err("S0217", node.pos)),
        }
        Ok(())
    }

    fn resolve_ancestry(&mut self, path: &mut Node) -> Result<(), Error> {
        let Kind::Path(steps) = &mut path.kind else { return Ok(()) };
        let last = steps.last().expect("a path has steps");
        let mut slots = last.seeking_parent.clone();
        if let Kind::Parent(s) = last.kind {
            slots.push(s);
        }
        let mut unresolved = Vec::new();
        for slot in slots {
            let mut index = steps.len() as isize - 2;
            while self.slots[slot].level > 0 {
                if index < 0 {
                    unresolved.push(slot);
                    break;
                }
                let mut i = index as usize;
                index -= 1;
                while index >= 0
                    && steps[i].focus.is_some()
                    && steps[index as usize].focus.is_some()
                {
                    i = index as usize;
                    index -= 1;
                }
                self.seek_parent(&mut steps[i], slot)?;
            }
        }
        path.seeking_parent.extend(unresolved);
        Ok(())
    }

    fn process(&mut self, expr: Node) -> Result<Node, Error> {
        let keep_array = expr.keep_array;
        let pos = expr.pos;
        let mut result = match expr.kind {
            Kind::RawBinary(".", lhs, rhs) => {
                let lstep = self.process(*lhs)?;
                let lparent = if let Kind::Parent(s) = lstep.kind { Some(s) } else { None };
                let mut result = if matches!(lstep.kind, Kind::Path(_)) {
                    lstep
                } else {
                    Node::new(Kind::Path(vec![lstep]), pos)
                };
                if let Some(s) = lparent {
                    result.seeking_parent = vec![s];
                }
                let mut rest = self.process(*rhs)?;
                let Kind::Path(steps) = &mut result.kind else { unreachable!() };
                if let Kind::Path(rsteps) = rest.kind {
                    steps.extend(rsteps);
                } else {
                    if !rest.predicate.is_empty() {
                        rest.stages = std::mem::take(&mut rest.predicate);
                    }
                    steps.push(rest);
                }
                for step in steps.iter_mut() {
                    match &step.kind {
                        Kind::Num(_) | Kind::Bool(_) | Kind::Null => {
                            return Err(err("S0213", step.pos))
                        }
                        Kind::Str(s) => step.kind = Kind::Name(s.clone()),
                        _ => {}
                    }
                }
                if steps.iter().any(|s| s.keep_array) {
                    result.keep_singleton = true;
                }
                if matches!(steps[0].kind, Kind::ArrayCons(_)) {
                    steps[0].cons_array = true;
                }
                let last = steps.last_mut().expect("steps");
                if matches!(last.kind, Kind::ArrayCons(_)) {
                    last.cons_array = true;
                }
                self.resolve_ancestry(&mut result)?;
                result
            }
            Kind::RawBinary("[", lhs, rhs) => {
                let mut result = self.process(*lhs)?;
                let is_path = matches!(result.kind, Kind::Path(_));
                let step = match &mut result.kind {
                    Kind::Path(steps) => steps.last_mut().expect("steps"),
                    _ => &mut result,
                };
                if step.group.is_some() {
                    return Err(err("S0209", pos));
                }
                let predicate = self.process(*rhs)?;
                if !predicate.seeking_parent.is_empty() {
                    for &slot in &predicate.seeking_parent {
                        if self.slots[slot].level == 1 {
                            self.seek_parent(step, slot)?;
                        } else {
                            self.slots[slot].level -= 1;
                        }
                    }
                    Self::push_ancestry(step, &predicate);
                }
                if is_path {
                    step.stages.push(Stage::Filter(Box::new(predicate)));
                } else {
                    step.predicate.push(Stage::Filter(Box::new(predicate)));
                }
                result
            }
            Kind::RawGroup(lhs, pairs) => {
                let mut result = self.process(*lhs)?;
                if result.group.is_some() {
                    return Err(err("S0210", pos));
                }
                let mut ps = Vec::new();
                for (k, v) in pairs {
                    ps.push((self.process(k)?, self.process(v)?));
                }
                result.group = Some(Box::new(Group { pairs: ps, pos }));
                result
            }
            Kind::RawSort(lhs, terms) => {
                let mut result = self.process(*lhs)?;
                if !matches!(result.kind, Kind::Path(_)) {
                    result = Node::new(Kind::Path(vec![result]), pos);
                }
                let mut sort = Node::new(Kind::Sort(vec![]), pos);
                let mut ts = Vec::new();
                for t in terms {
                    let e = self.process(t.expr)?;
                    Self::push_ancestry(&mut sort, &e);
                    ts.push(SortTerm { descending: t.descending, expr: e });
                }
                sort.kind = Kind::Sort(ts);
                if let Kind::Path(steps) = &mut result.kind {
                    steps.push(sort);
                }
                self.resolve_ancestry(&mut result)?;
                result
            }
            Kind::RawBinary(":=", lhs, rhs) => {
                let Kind::Variable(name) = lhs.kind else { return Err(err("S0212", pos)) };
                let rhs = self.process(*rhs)?;
                let mut r = Node::new(Kind::Bind(name, Box::new(Node::new(Kind::Null, 0))), pos);
                Self::push_ancestry(&mut r, &rhs);
                r.kind = match r.kind {
                    Kind::Bind(n, _) => Kind::Bind(n, Box::new(rhs)),
                    k => k,
                };
                r
            }
            Kind::RawBinary("@", lhs, rhs) => {
                let mut result = self.process(*lhs)?;
                let step = match &mut result.kind {
                    Kind::Path(steps) => steps.last_mut().expect("steps"),
                    _ => &mut result,
                };
                if !step.stages.is_empty() || !step.predicate.is_empty() {
                    return Err(err("S0215", pos));
                }
                if matches!(step.kind, Kind::Sort(_)) {
                    return Err(err("S0216", pos));
                }
                if keep_array {
                    step.keep_array = true;
                }
                let Kind::Variable(v) = rhs.kind else { return Err(err("S0214", pos)) };
                step.focus = Some(v);
                step.tuple = true;
                result
            }
            Kind::RawBinary("#", lhs, rhs) => {
                let mut result = self.process(*lhs)?;
                if !matches!(result.kind, Kind::Path(_)) {
                    if !result.predicate.is_empty() {
                        result.stages = std::mem::take(&mut result.predicate);
                    }
                    result = Node::new(Kind::Path(vec![result]), pos);
                }
                let Kind::Path(steps) = &mut result.kind else { unreachable!() };
                let step = steps.last_mut().expect("steps");
                let Kind::Variable(v) = rhs.kind else { return Err(err("S0214", pos)) };
                if step.stages.is_empty() {
                    step.index = Some(v);
                } else {
                    step.stages.push(Stage::Index(v));
                }
                step.tuple = true;
                result
            }
            Kind::RawBinary("~>", lhs, rhs) => {
                let l = self.process(*lhs)?;
                let r = self.process(*rhs)?;
                let ka = l.keep_array || r.keep_array;
                let mut n = Node::new(Kind::Apply(Box::new(l), Box::new(r)), pos);
                n.keep_array = ka;
                n
            }
            Kind::RawBinary(op, lhs, rhs) => {
                let l = self.process(*lhs)?;
                let r = self.process(*rhs)?;
                let mut n = Node::new(Kind::Null, pos);
                Self::push_ancestry(&mut n, &l);
                Self::push_ancestry(&mut n, &r);
                let bop = BinOp::from_token(op).ok_or_else(|| err("S0201", pos))?;
                n.kind = Kind::Binary(bop, Box::new(l), Box::new(r));
                n
            }
            Kind::ArrayCons(items) => {
                let mut n = Node::new(Kind::Null, pos);
                let mut out = Vec::new();
                for i in items {
                    let v = self.process(i)?;
                    Self::push_ancestry(&mut n, &v);
                    out.push(v);
                }
                n.kind = Kind::ArrayCons(out);
                n
            }
            Kind::ObjectCons(pairs) => {
                let mut n = Node::new(Kind::Null, pos);
                let mut out = Vec::new();
                for (k, v) in pairs {
                    let k = self.process(k)?;
                    Self::push_ancestry(&mut n, &k);
                    let v = self.process(v)?;
                    Self::push_ancestry(&mut n, &v);
                    out.push((k, v));
                }
                n.kind = Kind::ObjectCons(out);
                n
            }
            Kind::Neg(e) => {
                let e = self.process(*e)?;
                if let Kind::Num(v) = e.kind {
                    let mut e = e;
                    e.kind = Kind::Num(-v);
                    e
                } else {
                    let mut n = Node::new(Kind::Null, pos);
                    Self::push_ancestry(&mut n, &e);
                    n.kind = Kind::Neg(Box::new(e));
                    n
                }
            }
            Kind::Function { proc, args, partial } => {
                let mut n = Node::new(Kind::Null, pos);
                let mut out = Vec::new();
                for a in args {
                    let a = self.process(a)?;
                    Self::push_ancestry(&mut n, &a);
                    out.push(a);
                }
                let proc = self.process(*proc)?;
                n.kind = Kind::Function { proc: Box::new(proc), args: out, partial };
                n
            }
            Kind::RawLambda(params, signature, body) => {
                let body = self.process(*body)?;
                let mut body = tail_call_optimize(body);
                self.finish(&mut body);
                Node::new(
                    Kind::Lambda(Arc::new(LambdaDef { params, signature, body, thunk: false })),
                    pos,
                )
            }
            Kind::Condition(c, t, e) => {
                let mut n = Node::new(Kind::Null, pos);
                let c = self.process(*c)?;
                Self::push_ancestry(&mut n, &c);
                let t = self.process(*t)?;
                Self::push_ancestry(&mut n, &t);
                let e = match e {
                    Some(e) => {
                        let e = self.process(*e)?;
                        Self::push_ancestry(&mut n, &e);
                        Some(Box::new(e))
                    }
                    None => None,
                };
                n.kind = Kind::Condition(Box::new(c), Box::new(t), e);
                n
            }
            Kind::Transform(p, u, d) => {
                let take = |a: Arc<Node>| Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone());
                let mut p = self.process(take(p))?;
                let mut u = self.process(take(u))?;
                self.finish(&mut p);
                self.finish(&mut u);
                let d = match d {
                    Some(d) => {
                        let mut d = self.process(take(d))?;
                        self.finish(&mut d);
                        Some(Arc::new(d))
                    }
                    None => None,
                };
                Node::new(Kind::Transform(Arc::new(p), Arc::new(u), d), pos)
            }
            Kind::Block(exprs) => {
                let mut n = Node::new(Kind::Null, pos);
                let mut out = Vec::new();
                for e in exprs {
                    let part = self.process(e)?;
                    Self::push_ancestry(&mut n, &part);
                    if part.cons_array || matches!(&part.kind, Kind::Path(s) if s[0].cons_array) {
                        n.cons_array = true;
                    }
                    out.push(part);
                }
                n.kind = Kind::Block(out);
                n
            }
            Kind::Name(_) => {
                let ka = expr.keep_array;
                let mut step = Node::new(expr.kind, pos);
                step.keep_array = ka;
                let mut n = Node::new(Kind::Path(vec![step]), pos);
                n.keep_singleton = ka;
                n
            }
            Kind::Parent(_) => {
                let id = self.slots.len();
                self.slots.push(Slot { label: id, level: 1 });
                Node::new(Kind::Parent(id), pos)
            }
            Kind::Operator(op) => {
                if op == "and" || op == "or" || op == "in" {
                    let mut n = Node::new(Kind::Name(Str::from(op)), pos);
                    n.keep_array = keep_array;
                    self.process(n)?
                } else {
                    return Err(err("S0201", pos));
                }
            }
            k => Node::new(k, pos),
        };
        if keep_array {
            result.keep_array = true;
        }
        Ok(result)
    }

    /// Replaces slot ids by the names of the bindings they resolved to.
    fn finish(&self, node: &mut Node) {
        let label = |slot: usize| Str::from(format!("!{}", self.slots[slot].label));
        if let Some(a) = node.ancestor.take() {
            node.ancestor_label = Some(label(a));
        }
        if let Kind::Parent(s) = node.kind {
            node.kind = Kind::ParentRef(label(s));
        }
        for st in node.stages.iter_mut().chain(node.predicate.iter_mut()) {
            if let Stage::Filter(n) = st {
                self.finish(n);
            }
        }
        if let Some(g) = &mut node.group {
            for (k, v) in &mut g.pairs {
                self.finish(k);
                self.finish(v);
            }
        }
        match &mut node.kind {
            Kind::Path(v) | Kind::ArrayCons(v) | Kind::Block(v) => {
                v.iter_mut().for_each(|n| self.finish(n))
            }
            Kind::Binary(_, a, b) | Kind::Apply(a, b) => {
                self.finish(a);
                self.finish(b);
            }
            Kind::Neg(a) | Kind::Bind(_, a) => self.finish(a),
            Kind::ObjectCons(pairs) => {
                for (k, v) in pairs {
                    self.finish(k);
                    self.finish(v);
                }
            }
            Kind::Condition(c, t, e) => {
                self.finish(c);
                self.finish(t);
                if let Some(e) = e {
                    self.finish(e);
                }
            }
            Kind::Function { proc, args, .. } => {
                self.finish(proc);
                args.iter_mut().for_each(|n| self.finish(n));
            }
            Kind::Sort(terms) => terms.iter_mut().for_each(|t| self.finish(&mut t.expr)),
            Kind::Lambda(def) => {
                if let Some(d) = Arc::get_mut(def) {
                    self.finish(&mut d.body);
                }
            }
            _ => {}
        }
    }
}

fn tail_call_optimize(mut expr: Node) -> Node {
    match &mut expr.kind {
        Kind::Function { partial: false, .. } if expr.predicate.is_empty() => {
            let pos = expr.pos;
            Node::new(
                Kind::Lambda(Arc::new(LambdaDef {
                    params: vec![],
                    signature: None,
                    body: expr,
                    thunk: true,
                })),
                pos,
            )
        }
        Kind::Condition(_, t, e) => {
            let tt = std::mem::replace(&mut **t, Node::new(Kind::Null, 0));
            **t = tail_call_optimize(tt);
            if let Some(e) = e {
                let ee = std::mem::replace(&mut **e, Node::new(Kind::Null, 0));
                **e = tail_call_optimize(ee);
            }
            expr
        }
        Kind::Block(exprs) => {
            if let Some(last) = exprs.pop() {
                exprs.push(tail_call_optimize(last));
            }
            expr
        }
        _ => expr,
    }
}

/// Parses and processes an expression.
pub(crate) fn parse(src: &str) -> Result<Node, Error> {
    let mut p = Parser {
        lexer: Lexer { src, chars: src.chars().collect(), pos: 0 },
        tok: Tok::End,
        pos: 0,
        depth: 0,
    };
    p.advance(None, false)?;
    let raw = p.expression(0)?;
    if p.tok != Tok::End {
        return Err(err("S0201", p.pos));
    }
    let mut proc = Processor { slots: Vec::new() };
    let mut node = proc.process(raw)?;
    if matches!(node.kind, Kind::Parent(_)) || !node.seeking_parent.is_empty() {
        return Err(err("S0217", node.pos));
    }
    proc.finish(&mut node);
    Ok(node)
}
