//! Aggregation and array functions: `$sum`, `$count`, `$max`, `$append`, `$reverse`, `$zip`,
//! `$distinct`, `$shuffle`.

use super::{append, arg};
use crate::eval::{Env, Evaluator};
use crate::value::Value;
use crate::Error;

type R = Result<Value, Error>;

fn nums(v: &Value) -> Option<Vec<f64>> {
    match v {
        Value::Array(a) => Some(a.items.iter().filter_map(|x| x.as_f64()).collect()),
        Value::Undefined => None,
        v => v.as_f64().map(|n| vec![n]),
    }
}

pub(super) fn sum(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(nums(arg(args, 0)).map(|v| Value::Number(v.iter().sum())).unwrap_or_default())
}

pub(super) fn count(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(Value::Number(match arg(args, 0) {
        Value::Array(a) => a.items.len() as f64,
        Value::Undefined => 0.0,
        _ => 1.0,
    }))
}

pub(super) fn max(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    match nums(arg(args, 0)) {
        Some(v) if !v.is_empty() => {
            Ok(Value::Number(v.into_iter().fold(f64::NEG_INFINITY, f64::max)))
        }
        _ => Ok(Value::Undefined),
    }
}

pub(super) fn min(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    match nums(arg(args, 0)) {
        Some(v) if !v.is_empty() => Ok(Value::Number(v.into_iter().fold(f64::INFINITY, f64::min))),
        _ => Ok(Value::Undefined),
    }
}

pub(super) fn average(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    match nums(arg(args, 0)) {
        Some(v) if !v.is_empty() => Ok(Value::Number(v.iter().sum::<f64>() / v.len() as f64)),
        _ => Ok(Value::Undefined),
    }
}

pub(super) fn append_fn(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(append(arg(args, 0).clone(), arg(args, 1).clone()))
}

pub(super) fn reverse(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    match arg(args, 0) {
        Value::Array(a) if a.items.len() > 1 => {
            Ok(Value::array(a.items.iter().rev().cloned().collect()))
        }
        v => Ok(v.clone()),
    }
}

pub(super) fn zip(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let arrays: Vec<Vec<Value>> = args
        .iter()
        .map(|a| match a {
            Value::Array(x) => x.items.clone(),
            _ => vec![],
        })
        .collect();
    let len = arrays.iter().map(|a| a.len()).min().unwrap_or(0);
    Ok(Value::array(
        (0..len).map(|i| Value::array(arrays.iter().map(|a| a[i].clone()).collect())).collect(),
    ))
}

pub(super) fn distinct(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let v = arg(args, 0);
    let Value::Array(a) = v else { return Ok(v.clone()) };
    if a.items.len() <= 1 {
        return Ok(v.clone());
    }
    let mut out: Vec<Value> = Vec::new();
    for x in &a.items {
        if !out.iter().any(|y| y.deep_eq(x)) {
            out.push(x.clone());
        }
    }
    Ok(if a.is_seq() { Value::seq(out) } else { Value::array(out) })
}

pub(super) fn shuffle(ev: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let v = arg(args, 0);
    let Value::Array(a) = v else { return Ok(v.clone()) };
    if a.items.len() <= 1 {
        return Ok(v.clone());
    }
    let mut items = a.items.clone();
    for i in (1..items.len()).rev() {
        let j = (super::numeric::next_random(ev) * (i + 1) as f64) as usize;
        items.swap(i, j.min(i));
    }
    Ok(Value::array(items))
}
