//! String functions: `$string`, `$substring`, `$pad`, `$match`, `$replace`, `$split`, the URL
//! and base64 encoders, ...

use base64::Engine;

use super::{arg, ferr, to_string};
use crate::eval::{Env, Evaluator};
use crate::value::{ObjMap, Str, Value};
use crate::Error;

type R = Result<Value, Error>;

fn s_arg(args: &[Value], i: usize) -> Option<&Str> {
    match arg(args, i) {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// JS `ToIntegerOrInfinity` clamp for slice indexes.
fn slice_idx(v: f64, len: usize) -> usize {
    let v = v.trunc();
    if v < 0.0 {
        let r = len as f64 + v;
        if r < 0.0 {
            0
        } else {
            r as usize
        }
    } else if v > len as f64 {
        len
    } else {
        v as usize
    }
}

pub(super) fn string(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let pretty = matches!(arg(args, 1), Value::Bool(true));
    to_string(arg(args, 0), pretty)
}

pub(super) fn substring(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len();
    let mut start = arg(args, 1).as_f64().unwrap_or(0.0);
    if len as f64 + start < 0.0 {
        start = 0.0;
    }
    if let Some(l) = arg(args, 2).as_f64() {
        if l <= 0.0 {
            return Ok(Value::str(""));
        }
        let end = if start >= 0.0 { start + l } else { len as f64 + start + l };
        let (a, b) = (slice_idx(start, len), slice_idx(end, len));
        if a >= b {
            return Ok(Value::str(""));
        }
        return Ok(Value::string(chars[a..b].iter().collect()));
    }
    let a = slice_idx(start, len);
    Ok(Value::string(chars[a..].iter().collect()))
}

pub(super) fn substring_before(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    let Some(c) = s_arg(args, 1) else { return Ok(Value::String(s.clone())) };
    Ok(match s.find(&**c) {
        Some(i) => Value::str(&s[..i]),
        None => Value::String(s.clone()),
    })
}

pub(super) fn substring_after(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    let Some(c) = s_arg(args, 1) else { return Ok(Value::String(s.clone())) };
    Ok(match s.find(&**c) {
        Some(i) => Value::str(&s[i + c.len()..]),
        None => Value::String(s.clone()),
    })
}

pub(super) fn lowercase(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(s_arg(args, 0).map(|s| Value::string(s.to_lowercase())).unwrap_or_default())
}

pub(super) fn uppercase(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(s_arg(args, 0).map(|s| Value::string(s.to_uppercase())).unwrap_or_default())
}

pub(super) fn length(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(s_arg(args, 0).map(|s| Value::Number(s.chars().count() as f64)).unwrap_or_default())
}

pub(super) fn trim(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    let mut out = String::with_capacity(s.len());
    let mut in_ws = false;
    for c in s.chars() {
        if matches!(c, ' ' | '\t' | '\n' | '\r') {
            if !in_ws {
                out.push(' ');
            }
            in_ws = true;
        } else {
            out.push(c);
            in_ws = false;
        }
    }
    let t = out.strip_prefix(' ').unwrap_or(&out);
    let t = t.strip_suffix(' ').unwrap_or(t);
    Ok(Value::str(t))
}

pub(super) fn pad(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    let width = arg(args, 1).as_f64().unwrap_or(0.0);
    let ch = match s_arg(args, 2) {
        Some(c) if !c.is_empty() => c.to_string(),
        _ => " ".to_string(),
    };
    let len = s.chars().count() as f64;
    let pad_len = width.abs() - len;
    if pad_len <= 0.0 {
        return Ok(Value::String(s.clone()));
    }
    let n = pad_len as usize;
    let padding: String = ch.chars().cycle().take(n).collect();
    Ok(Value::string(if width > 0.0 { format!("{s}{padding}") } else { format!("{padding}{s}") }))
}

/// Runs a matcher function (a regex or a user function) and checks its result's shape.
pub(super) fn evaluate_matcher(ev: &Evaluator<'_>, m: &Value, args: Vec<Value>, env: &Env) -> R {
    let r = ev.apply(m, args, &Value::Null, env)?;
    if let Value::Object(o) = &r {
        let o = o.borrow();
        let ok = matches!(o.get("start"), Some(Value::Number(_)))
            || matches!(o.get("end"), Some(Value::Number(_)))
            || matches!(o.get("groups"), Some(Value::Array(_)))
            || matches!(o.get("next"), Some(Value::Function(_)));
        if !ok {
            return Err(ferr("T1010"));
        }
    } else if !r.is_undef() {
        return Err(ferr("T1010"));
    }
    Ok(r)
}

fn field(m: &Value, k: &str) -> Value {
    match m {
        Value::Object(o) => o.borrow().get(k).cloned().unwrap_or_default(),
        _ => Value::Undefined,
    }
}

fn next_match(ev: &Evaluator<'_>, m: &Value, env: &Env) -> R {
    let next = field(m, "next");
    if next.is_undef() {
        return Ok(Value::Undefined);
    }
    evaluate_matcher(ev, &next, vec![], env)
}

pub(super) fn match_(ev: &Evaluator<'_>, args: &[Value], _: &Value, env: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    let limit = arg(args, 2).as_f64();
    if limit.is_some_and(|l| l < 0.0) {
        return Err(ferr("D3040"));
    }
    let mut out = Vec::new();
    if limit.is_none_or(|l| l > 0.0) {
        let mut m = evaluate_matcher(ev, arg(args, 1), vec![Value::String(s.clone())], env)?;
        let mut count = 0.0;
        while !m.is_undef() && limit.is_none_or(|l| count < l) {
            let mut o = ObjMap::default();
            o.insert(Str::from("match"), field(&m, "match"));
            o.insert(Str::from("index"), field(&m, "start"));
            o.insert(Str::from("groups"), field(&m, "groups"));
            out.push(Value::object(o));
            m = next_match(ev, &m, env)?;
            count += 1.0;
        }
    }
    Ok(Value::seq(out))
}

pub(super) fn contains(ev: &Evaluator<'_>, args: &[Value], _: &Value, env: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    Ok(Value::Bool(match arg(args, 1) {
        Value::Undefined => return Ok(Value::Undefined),
        Value::String(t) => s.contains(&**t),
        m => !evaluate_matcher(ev, m, vec![Value::String(s.clone())], env)?.is_undef(),
    }))
}

fn char_slice(chars: &[char], a: usize, b: usize) -> String {
    let a = a.min(chars.len());
    let b = b.min(chars.len()).max(a);
    chars[a..b].iter().collect()
}

fn substitute(replacement: &str, m: &Value) -> String {
    let matched = field(m, "match");
    let groups = match field(m, "groups") {
        Value::Array(a) => a.items.clone(),
        _ => vec![],
    };
    let r: Vec<char> = replacement.chars().collect();
    let mut out = String::new();
    let mut pos = 0;
    while pos < r.len() {
        let Some(idx) = r[pos..].iter().position(|c| *c == '$').map(|i| i + pos) else { break };
        out.extend(&r[pos..idx]);
        pos = idx + 1;
        let d = r.get(pos).copied();
        if d == Some('$') {
            out.push('$');
            pos += 1;
        } else if d == Some('0') {
            out.push_str(matched.as_str().unwrap_or(""));
            pos += 1;
        } else {
            let max_digits = if groups.is_empty() {
                1
            } else {
                (groups.len() as f64).log10().floor() as usize + 1
            };
            let parse = |n: usize| -> Option<usize> {
                let digits: String = r[pos..(pos + n).min(r.len())]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                digits.parse().ok()
            };
            let mut index = parse(max_digits);
            if max_digits > 1 && index.is_some_and(|i| i > groups.len()) {
                index = parse(max_digits - 1);
            }
            match index {
                Some(i) => {
                    if !groups.is_empty() && i >= 1 {
                        if let Some(Value::String(g)) = groups.get(i - 1) {
                            out.push_str(g);
                        }
                    }
                    pos += i.to_string().len();
                }
                None => out.push('$'),
            }
        }
    }
    if pos < r.len() {
        out.extend(&r[pos..]);
    }
    out
}

pub(super) fn replace(ev: &Evaluator<'_>, args: &[Value], _: &Value, env: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    let pattern = arg(args, 1);
    let replacement = arg(args, 2);
    if pattern.as_str() == Some("") {
        return Err(ferr("D3010"));
    }
    let limit = arg(args, 3).as_f64();
    if limit.is_some_and(|l| l < 0.0) {
        return Err(ferr("D3011"));
    }
    if limit.is_some_and(|l| l <= 0.0) {
        return Ok(Value::String(s.clone()));
    }
    let mut count = 0.0;
    if let Value::String(p) = pattern {
        let rep = match replacement {
            Value::String(r) => r.to_string(),
            _ => String::new(),
        };
        let mut out = String::new();
        let mut rest: &str = s;
        while let Some(i) = rest.find(&**p) {
            if limit.is_some_and(|l| count >= l) {
                break;
            }
            out.push_str(&rest[..i]);
            out.push_str(&rep);
            rest = &rest[i + p.len()..];
            count += 1.0;
        }
        out.push_str(rest);
        return Ok(Value::string(out));
    }
    let chars: Vec<char> = s.chars().collect();
    let mut m = evaluate_matcher(ev, pattern, vec![Value::String(s.clone())], env)?;
    if m.is_undef() {
        return Ok(Value::String(s.clone()));
    }
    let mut out = String::new();
    let mut pos = 0usize;
    while !m.is_undef() && limit.is_none_or(|l| count < l) {
        let start = field(&m, "start").as_f64().unwrap_or(0.0) as usize;
        out.push_str(&char_slice(&chars, pos, start));
        let with = match replacement {
            Value::String(r) => Value::string(substitute(r, &m)),
            f => ev.apply(f, vec![m.clone()], &Value::Null, env)?,
        };
        match with {
            Value::String(w) => out.push_str(&w),
            _ => return Err(ferr("D3012")),
        }
        let mlen = field(&m, "match").as_str().map(|x| x.chars().count()).unwrap_or(0);
        pos = start + mlen;
        count += 1.0;
        m = next_match(ev, &m, env)?;
    }
    out.push_str(&char_slice(&chars, pos, chars.len()));
    Ok(Value::string(out))
}

pub(super) fn split(ev: &Evaluator<'_>, args: &[Value], _: &Value, env: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    let limit = arg(args, 2).as_f64();
    if limit.is_some_and(|l| l < 0.0) {
        return Err(ferr("D3020"));
    }
    let mut out: Vec<Value> = Vec::new();
    if limit.is_some_and(|l| l <= 0.0) {
        return Ok(Value::array(out));
    }
    let lim = limit.map(|l| l as usize).unwrap_or(usize::MAX);
    match arg(args, 1) {
        Value::String(sep) => {
            if sep.is_empty() {
                out = s.chars().map(|c| Value::string(c.to_string())).collect();
            } else {
                out = s.split(&**sep).map(Value::str).collect();
            }
            out.truncate(lim);
        }
        m => {
            let chars: Vec<char> = s.chars().collect();
            let mut mm = evaluate_matcher(ev, m, vec![Value::String(s.clone())], env)?;
            if mm.is_undef() {
                out.push(Value::String(s.clone()));
            } else {
                let mut start = 0;
                let mut count = 0;
                while !mm.is_undef() && count < lim {
                    let ms = field(&mm, "start").as_f64().unwrap_or(0.0) as usize;
                    out.push(Value::string(char_slice(&chars, start, ms)));
                    start = field(&mm, "end").as_f64().unwrap_or(0.0) as usize;
                    mm = next_match(ev, &mm, env)?;
                    count += 1;
                }
                if count < lim {
                    out.push(Value::string(char_slice(&chars, start, chars.len())));
                }
            }
        }
    }
    Ok(Value::array(out))
}

pub(super) fn join(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Value::Array(a) = arg(args, 0) else { return Ok(Value::Undefined) };
    let sep = s_arg(args, 1).map(|s| s.to_string()).unwrap_or_default();
    let parts: Vec<&str> = a.items.iter().filter_map(|v| v.as_str()).collect();
    Ok(Value::string(parts.join(&sep)))
}

pub(super) fn base64encode(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    let bytes: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
    Ok(Value::string(base64::engine::general_purpose::STANDARD.encode(bytes)))
}

pub(super) fn base64decode(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let trimmed = cleaned.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .map_err(|_| ferr("D3137"))?;
    Ok(Value::string(bytes.into_iter().map(|b| b as char).collect()))
}

fn encode(s: &str, keep: &str) -> R {
    let mut out = String::new();
    for c in s.chars() {
        if c as u32 >= crate::parser::SURROGATE_BASE {
            return Err(ferr("D3140"));
        }
        if c.is_ascii_alphanumeric() || keep.contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Ok(Value::string(out))
}

fn decode(s: &str, reserved: &str) -> R {
    let bytes = s.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(|| ferr("D3140"))?;
            let b = u8::from_str_radix(hex, 16).map_err(|_| ferr("D3140"))?;
            if b < 0x80 && reserved.contains(b as char) {
                out.extend_from_slice(&bytes[i..i + 3]);
            } else {
                out.push(b);
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map(Value::string).map_err(|_| ferr("D3140"))
}

pub(super) fn encode_url_component(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    encode(s, "-_.!~*'()")
}

pub(super) fn encode_url(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    encode(s, "-_.!~*'();,/?:@&=+$#")
}

pub(super) fn decode_url_component(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    decode(s, "")
}

pub(super) fn decode_url(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(s) = s_arg(args, 0) else { return Ok(Value::Undefined) };
    decode(s, ";,/?:@&=+$#")
}
