//! Function signatures (`<s-n?:s>`): parsing, and validation of arguments the way jsonata-js
//! does it, by matching a string of one-letter type symbols against a regular expression.

use crate::value::Value;
use crate::Error;

#[derive(Debug, Clone)]
struct Param {
    /// The accepted type symbols (`m` for missing included where the regex has it).
    set: String,
    min: usize,
    max: usize,
    regex: String,
    kind: char,
    context: bool,
    context_regex: Option<regex::Regex>,
    subtype: Option<String>,
}

/// A parsed signature.
#[derive(Debug, Clone)]
pub(crate) struct Signature {
    params: Vec<Param>,
}

fn sig_err(code: &str) -> Error {
    Error::new(code, None, crate::message(code).to_string())
}

/// The one-letter type symbol of a value.
pub(crate) fn symbol(v: &Value) -> char {
    match v {
        Value::Function(_) => 'f',
        Value::String(_) => 's',
        Value::Number(_) => 'n',
        Value::Bool(_) => 'b',
        Value::Null => 'l',
        Value::Array(_) | Value::Tuples(_) => 'a',
        Value::Object(_) => 'o',
        Value::Undefined => 'm',
    }
}

fn closing(s: &[char], start: usize, open: char, close: char) -> usize {
    let mut depth = 1;
    let mut pos = start;
    while pos + 1 < s.len() {
        pos += 1;
        if s[pos] == open {
            depth += 1;
        } else if s[pos] == close {
            depth -= 1;
            if depth == 0 {
                break;
            }
        }
    }
    pos
}

/// Greedy matching with backtracking, as the regex `^(set{min,max})...$` would match.
fn match_params(params: &[Param], syms: &[char], j: usize, counts: &mut Vec<usize>) -> bool {
    let Some(p) = params.first() else { return j == syms.len() };
    let mut n = 0;
    while n < p.max && j + n < syms.len() && p.set.contains(syms[j + n]) {
        n += 1;
    }
    if n < p.min {
        return false;
    }
    for k in (p.min..=n).rev() {
        counts.push(k);
        if match_params(&params[1..], syms, j + k, counts) {
            return true;
        }
        counts.pop();
    }
    false
}

impl Signature {
    pub(crate) fn parse(sig: &str) -> Result<Signature, Error> {
        let s: Vec<char> = sig.chars().collect();
        let mut params: Vec<Param> = Vec::new();
        let mut pos = 1;
        let new = |regex: String, kind: char| Param {
            set: regex.trim_start_matches('[').trim_end_matches(']').to_string(),
            min: 1,
            max: 1,
            regex,
            kind,
            context: false,
            context_regex: None,
            subtype: None,
        };
        while pos < s.len() {
            let c = s[pos];
            if c == ':' {
                break;
            }
            match c {
                's' | 'n' | 'b' | 'l' | 'o' => params.push(new(format!("[{c}m]"), c)),
                'a' => params.push(new("[asnblfom]".into(), 'a')),
                'f' => params.push(new("f".into(), 'f')),
                'j' => params.push(new("[asnblom]".into(), 'j')),
                'x' => params.push(new("[asnblfom]".into(), 'x')),
                '-' => {
                    if let Some(p) = params.last_mut() {
                        p.context = true;
                        p.context_regex = regex::Regex::new(&format!("^{}$", p.regex)).ok();
                        p.regex.push('?');
                        p.min = 0;
                    }
                }
                '?' | '+' => {
                    if let Some(p) = params.last_mut() {
                        p.regex.push(c);
                        if c == '?' {
                            p.min = 0;
                        } else {
                            p.max = usize::MAX;
                        }
                    }
                }
                '(' => {
                    let end = closing(&s, pos, '(', ')');
                    let choice: String = s[pos + 1..end].iter().collect();
                    if choice.contains('<') {
                        return Err(sig_err("S0402"));
                    }
                    params.push(new(format!("[{choice}m]"), '('));
                    pos = end;
                }
                '<' => {
                    let ok = params.last().is_some_and(|p| p.kind == 'a' || p.kind == 'f');
                    if !ok {
                        return Err(sig_err("S0401"));
                    }
                    let end = closing(&s, pos, '<', '>');
                    let sub: String = s[pos + 1..end].iter().collect();
                    if let Some(p) = params.last_mut() {
                        p.subtype = Some(sub);
                    }
                    pos = end;
                }
                _ => {}
            }
            pos += 1;
        }
        let re: String = params.iter().map(|p| format!("({})", p.regex)).collect();
        regex::Regex::new(&format!("^{re}$")).map_err(|_| sig_err("S0402"))?;
        Ok(Signature { params })
    }

    fn fail(&self, args: &[Value], supplied: &str) -> Error {
        let mut partial = String::from("^");
        let mut good_to = 0;
        for p in &self.params {
            partial.push_str(&p.regex);
            match regex::Regex::new(&partial).ok().and_then(|r| r.find(supplied)) {
                Some(m) => good_to = m.end(),
                None => break,
            }
        }
        let mut e = sig_err("T0410");
        e.message =
            format!("Argument {} of function does not match function signature", good_to + 1);
        let _ = args;
        e
    }

    /// Checks and fixes up `args` (context substitution, singleton arrays).
    pub(crate) fn validate(&self, args: &[Value], context: &Value) -> Result<Vec<Value>, Error> {
        let syms: Vec<char> = args.iter().map(symbol).collect();
        let mut counts = Vec::with_capacity(self.params.len());
        if !match_params(&self.params, &syms, 0, &mut counts) {
            let supplied: String = syms.iter().collect();
            return Err(self.fail(args, &supplied));
        }
        let mut out = Vec::with_capacity(self.params.len());
        let mut idx = 0;
        let mut start = 0;
        for (i, p) in self.params.iter().enumerate() {
            let m: String = syms[start..start + counts[i]].iter().collect();
            start += counts[i];
            let m = m.as_str();
            let arg = args.get(idx).cloned().unwrap_or_default();
            if m.is_empty() {
                if p.context && p.context_regex.is_some() {
                    let ct = symbol(context).to_string();
                    if p.context_regex.as_ref().is_some_and(|r| r.is_match(&ct)) {
                        out.push(context.clone());
                    } else {
                        return Err(sig_err("T0411"));
                    }
                } else {
                    out.push(arg);
                    idx += 1;
                }
                continue;
            }
            for single in m.chars() {
                if p.kind == 'a' {
                    if single == 'm' {
                        out.push(Value::Undefined);
                    } else {
                        let arg = args.get(idx).cloned().unwrap_or_default();
                        let mut ok = true;
                        if let Some(sub) = &p.subtype {
                            if single != 'a' && m != sub {
                                ok = false;
                            } else if single == 'a' {
                                if let Value::Array(a) = &arg {
                                    if let Some(first) = a.items.first() {
                                        let t = symbol(first);
                                        if !sub.starts_with(t) {
                                            ok = false;
                                        } else {
                                            ok = a.items.iter().all(|v| symbol(v) == t);
                                        }
                                    }
                                }
                            }
                        }
                        if !ok {
                            return Err(sig_err("T0412"));
                        }
                        out.push(if single != 'a' { Value::array(vec![arg]) } else { arg });
                    }
                    idx += 1;
                } else {
                    out.push(args.get(idx).cloned().unwrap_or_default());
                    idx += 1;
                }
            }
        }
        Ok(out)
    }
}
