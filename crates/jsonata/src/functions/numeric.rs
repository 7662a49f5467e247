//! Numeric functions: `$number`, `$round` (half to even), `$power`, `$sqrt`, `$random`, ...

use super::{arg, ferr, num_str};
use crate::eval::{Env, Evaluator};
use crate::value::Value;
use crate::Error;

type R = Result<Value, Error>;

fn n_arg(args: &[Value]) -> Option<f64> {
    arg(args, 0).as_f64()
}

fn is_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let st = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == st {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == st {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == st {
            return false;
        }
    }
    i == b.len()
}

pub(super) fn number(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    match arg(args, 0) {
        Value::Undefined => Ok(Value::Undefined),
        Value::Number(n) => Ok(Value::Number(*n)),
        Value::Bool(b) => Ok(Value::Number(if *b { 1.0 } else { 0.0 })),
        Value::String(s) => {
            if is_decimal(s) {
                let v: f64 = s.parse().unwrap_or(f64::NAN);
                if v.is_finite() {
                    return Ok(Value::Number(v));
                }
            }
            let radix = match s.get(..2) {
                Some("0x") | Some("0X") => 16,
                Some("0o") | Some("0O") => 8,
                Some("0b") | Some("0B") => 2,
                _ => 0,
            };
            if radix > 0 {
                if let Ok(v) = u64::from_str_radix(&s[2..], radix) {
                    return Ok(Value::Number(v as f64));
                }
            }
            Err(ferr("D3030"))
        }
        _ => Err(ferr("D3030")),
    }
}

pub(super) fn floor(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(n_arg(args).map(|n| Value::Number(n.floor())).unwrap_or_default())
}

pub(super) fn ceil(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(n_arg(args).map(|n| Value::Number(n.ceil())).unwrap_or_default())
}

pub(super) fn abs(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(n_arg(args).map(|n| Value::Number(n.abs())).unwrap_or_default())
}

pub(super) fn sqrt(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(n) = n_arg(args) else { return Ok(Value::Undefined) };
    if n < 0.0 {
        return Err(ferr("D3060"));
    }
    Ok(Value::Number(n.sqrt()))
}

pub(super) fn power(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(n) = n_arg(args) else { return Ok(Value::Undefined) };
    let e = arg(args, 1).as_f64().unwrap_or(f64::NAN);
    let r = n.powf(e);
    if !r.is_finite() {
        return Err(ferr("D3061"));
    }
    Ok(Value::Number(r))
}

fn js_round(x: f64) -> f64 {
    (x + 0.5).floor()
}

fn shift(v: f64, by: i64) -> f64 {
    let s = num_str(v);
    let (m, e) = match s.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i64>().unwrap_or(0)),
        None => (s, 0),
    };
    format!("{m}e{}", e + by).parse().unwrap_or(f64::NAN)
}

/// Rounds half to even at `precision` decimal places, as jsonata-js.
pub(crate) fn round_half_even(v: f64, precision: i64) -> f64 {
    let mut a = v;
    if precision != 0 {
        a = shift(a, precision);
    }
    let mut r = js_round(a);
    let diff = r - a;
    if diff.abs() == 0.5 && (r % 2.0).abs() == 1.0 {
        r -= 1.0;
    }
    if precision != 0 {
        r = shift(r, -precision);
    }
    if r == 0.0 {
        r = 0.0;
    }
    r
}

pub(super) fn round(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Some(n) = n_arg(args) else { return Ok(Value::Undefined) };
    let p = arg(args, 1).as_f64().unwrap_or(0.0) as i64;
    Ok(Value::Number(round_half_even(n, p)))
}

/// The next pseudo-random number in [0, 1) from the evaluation's generator.
pub(crate) fn next_random(ev: &Evaluator<'_>) -> f64 {
    let mut x = ev.rng.get();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ev.rng.set(x);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

pub(super) fn random(ev: &Evaluator<'_>, _: &[Value], _: &Value, _: &Env) -> R {
    Ok(Value::Number(next_random(ev)))
}
