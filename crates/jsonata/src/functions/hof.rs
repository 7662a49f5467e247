//! Higher-order functions: `$map`, `$filter`, `$single`, `$reduce`, `$sift`, `$each`, `$sort`.

use super::{arg, arity, boolean, ferr, hof_args, js_truthy};
use crate::eval::{merge_sort, Env, Evaluator};
use crate::value::{ObjMap, Value};
use crate::Error;

type R = Result<Value, Error>;

fn items(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(a) => Some(a.items.clone()),
        Value::Undefined => None,
        v => Some(vec![v.clone()]),
    }
}

pub(super) fn map(ev: &Evaluator<'_>, args: &[Value], _: &Value, env: &Env) -> R {
    let arr = arg(args, 0);
    let Some(xs) = items(arr) else { return Ok(Value::Undefined) };
    let f = arg(args, 1);
    let mut out = Vec::with_capacity(xs.len());
    for (i, x) in xs.into_iter().enumerate() {
        let r = ev.apply(f, hof_args(f, x, Value::Number(i as f64), arr), &Value::Null, env)?;
        if !r.is_undef() {
            out.push(r);
        }
    }
    Ok(Value::seq(out))
}

pub(super) fn filter(ev: &Evaluator<'_>, args: &[Value], _: &Value, env: &Env) -> R {
    let arr = arg(args, 0);
    let Some(xs) = items(arr) else { return Ok(Value::Undefined) };
    let f = arg(args, 1);
    let mut out = Vec::new();
    for (i, x) in xs.into_iter().enumerate() {
        let r =
            ev.apply(f, hof_args(f, x.clone(), Value::Number(i as f64), arr), &Value::Null, env)?;
        if boolean(&r) {
            out.push(x);
        }
    }
    Ok(Value::seq(out))
}

pub(super) fn single(ev: &Evaluator<'_>, args: &[Value], _: &Value, env: &Env) -> R {
    let arr = arg(args, 0);
    let Some(xs) = items(arr) else { return Ok(Value::Undefined) };
    let f = arg(args, 1);
    let mut found: Option<Value> = None;
    for (i, x) in xs.into_iter().enumerate() {
        let ok = if f.is_undef() {
            true
        } else {
            let r = ev.apply(
                f,
                hof_args(f, x.clone(), Value::Number(i as f64), arr),
                &Value::Null,
                env,
            )?;
            boolean(&r)
        };
        if ok {
            if found.is_some() {
                return Err(ferr("D3138"));
            }
            found = Some(x);
        }
    }
    found.ok_or_else(|| ferr("D3139"))
}

pub(super) fn reduce(ev: &Evaluator<'_>, args: &[Value], _: &Value, env: &Env) -> R {
    let arr = arg(args, 0);
    let Some(xs) = items(arr) else { return Ok(Value::Undefined) };
    let f = arg(args, 1);
    let n = arity(f);
    if n < 2 {
        return Err(ferr("D3050"));
    }
    let init = arg(args, 2);
    let (mut acc, start) =
        if init.is_undef() && !xs.is_empty() { (xs[0].clone(), 1) } else { (init.clone(), 0) };
    for (i, x) in xs.iter().enumerate().skip(start) {
        let mut a = vec![acc, x.clone()];
        if n >= 3 {
            a.push(Value::Number(i as f64));
        }
        if n >= 4 {
            a.push(arr.clone());
        }
        acc = ev.apply(f, a, &Value::Null, env)?;
    }
    Ok(acc)
}

pub(super) fn sift(ev: &Evaluator<'_>, args: &[Value], _: &Value, env: &Env) -> R {
    let obj = arg(args, 0);
    let Value::Object(o) = obj else { return Ok(Value::Undefined) };
    let f = arg(args, 1);
    let entries: Vec<_> = o.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut out = ObjMap::default();
    for (k, v) in entries {
        let r =
            ev.apply(f, hof_args(f, v.clone(), Value::String(k.clone()), obj), &Value::Null, env)?;
        if boolean(&r) {
            out.insert(k, v);
        }
    }
    if out.is_empty() {
        return Ok(Value::Undefined);
    }
    Ok(Value::object(out))
}

pub(super) fn each(ev: &Evaluator<'_>, args: &[Value], _: &Value, env: &Env) -> R {
    let obj = arg(args, 0);
    let Value::Object(o) = obj else { return Ok(Value::Undefined) };
    let f = arg(args, 1);
    let entries: Vec<_> = o.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut out = Vec::new();
    for (k, v) in entries {
        let r = ev.apply(f, hof_args(f, v, Value::String(k), obj), &Value::Null, env)?;
        if !r.is_undef() {
            out.push(r);
        }
    }
    Ok(Value::seq(out))
}

pub(super) fn sort(ev: &Evaluator<'_>, args: &[Value], _: &Value, env: &Env) -> R {
    let arr = arg(args, 0);
    let Some(xs) = items(arr) else { return Ok(Value::Undefined) };
    if xs.len() <= 1 {
        return Ok(arr.clone());
    }
    let f = arg(args, 1);
    let sorted = if f.is_undef() {
        let all_num = xs.iter().all(|x| matches!(x, Value::Number(_)));
        let all_str = xs.iter().all(|x| matches!(x, Value::String(_)));
        if !all_num && !all_str {
            return Err(ferr("D3070"));
        }
        merge_sort(xs, &mut |a, b| {
            Ok(match (a, b) {
                (Value::Number(x), Value::Number(y)) => x > y,
                (Value::String(x), Value::String(y)) => {
                    super::cmp_str(x, y) == std::cmp::Ordering::Greater
                }
                _ => false,
            })
        })?
    } else {
        merge_sort(xs, &mut |a, b| {
            let r = ev.apply(f, vec![a.clone(), b.clone()], &Value::Null, env)?;
            Ok(js_truthy(&r))
        })?
    };
    Ok(Value::array(sorted))
}
