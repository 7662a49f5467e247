//! Regular expressions: translation of JavaScript patterns to the `regex` crate's syntax, and
//! the matcher functions regex literals evaluate to (`{match, start, end, groups, next}`).

use std::sync::Arc;

use crate::eval::char_index;
use crate::value::{Function, ObjMap, Str, Value};
use crate::Error;

/// Compiles a JavaScript regex literal body with its flags (`i`, `m`).
pub(crate) fn compile(pattern: &str, flags: &str, pos: usize) -> Result<regex::Regex, Error> {
    let mut out = String::new();
    if !flags.is_empty() {
        out.push_str("(?");
        out.push_str(flags);
        out.push(')');
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let d = chars[i + 1];
            match d {
                '/' => out.push('/'),
                'd' => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                'D' => out.push_str(if in_class { "\\D" } else { "[^0-9]" }),
                _ => {
                    out.push('\\');
                    out.push(d);
                }
            }
            i += 2;
            continue;
        }
        if c == '[' && !in_class {
            in_class = true;
            out.push(c);
            if chars.get(i + 1) == Some(&'^') {
                out.push('^');
                i += 1;
            }
            if chars.get(i + 1) == Some(&']') {
                out.push_str("\\]");
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '[' && in_class {
            out.push_str("\\[");
            i += 1;
            continue;
        }
        if c == ']' && in_class {
            in_class = false;
        }
        out.push(c);
        i += 1;
    }
    regex::Regex::new(&out)
        .map_err(|e| Error::new("S0303", Some(pos), format!("Invalid regular expression: {e}")))
}

/// Runs a regex from byte offset `from`, building jsonata-js's match object.
pub(crate) fn exec(re: &Arc<regex::Regex>, s: &Str, from: usize) -> Value {
    if from > s.len() {
        return Value::Undefined;
    }
    let Some(caps) = re.captures_at(s, from) else { return Value::Undefined };
    let m = caps.get(0).expect("group 0");
    let mut obj = ObjMap::default();
    obj.insert(Str::from("match"), Value::str(m.as_str()));
    let start = char_index(s, m.start());
    obj.insert(Str::from("start"), Value::Number(start as f64));
    obj.insert(Str::from("end"), Value::Number((start + m.as_str().chars().count()) as f64));
    let groups: Vec<Value> = (1..caps.len())
        .map(|i| match caps.get(i) {
            Some(g) => Value::str(g.as_str()),
            None => Value::Undefined,
        })
        .collect();
    obj.insert(Str::from("groups"), Value::array(groups));
    let (re2, s2, last) = (re.clone(), s.clone(), m.end());
    let next = move |_: &[Value]| -> Result<Value, Error> {
        if last >= s2.len() {
            return Ok(Value::Undefined);
        }
        let n = exec(&re2, &s2, last);
        if let Value::Object(o) = &n {
            if o.borrow().get("match").and_then(|v| v.as_str()) == Some("") {
                return Err(Error::new(
                    "D1004",
                    None,
                    "Regular expression matches zero length string".into(),
                ));
            }
        }
        Ok(n)
    };
    obj.insert(Str::from("next"), Value::func(Function::Native(Box::new(next))));
    Value::object(obj)
}
