//! Object, boolean and miscellaneous functions: `$keys`, `$lookup`, `$spread`, `$merge`,
//! `$boolean`, `$not`, `$exists`, `$type`, `$error`, `$assert`, `$clone`, `$eval`.

use super::{append, arg, boolean, deep_clone};
use crate::eval::{lookup_field, new_frame, Env, Evaluator};
use crate::value::{ObjMap, Str, Value, OUTER};
use crate::Error;

type R = Result<Value, Error>;

pub(super) fn boolean_fn(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let v = arg(args, 0);
    if v.is_undef() {
        return Ok(Value::Undefined);
    }
    if let Value::Number(n) = v {
        super::check_finite(*n)?;
    }
    Ok(Value::Bool(boolean(v)))
}

pub(super) fn not(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let v = arg(args, 0);
    if v.is_undef() {
        return Ok(Value::Undefined);
    }
    Ok(Value::Bool(!boolean(v)))
}

pub(super) fn exists(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(Value::Bool(!arg(args, 0).is_undef()))
}

fn keys_of(v: &Value, out: &mut Vec<Str>) {
    match v {
        Value::Array(a) => {
            for item in &a.items {
                let mut ks = Vec::new();
                keys_of(item, &mut ks);
                for k in ks {
                    if !out.contains(&k) {
                        out.push(k);
                    }
                }
            }
        }
        Value::Object(o) => out.extend(o.borrow().keys().cloned()),
        _ => {}
    }
}

pub(super) fn keys(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let mut ks = Vec::new();
    keys_of(arg(args, 0), &mut ks);
    Ok(Value::seq(ks.into_iter().map(Value::String).collect()))
}

pub(super) fn lookup(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let key = arg(args, 1).as_str().unwrap_or("");
    Ok(lookup_field(arg(args, 0), key))
}

fn spread_of(v: &Value) -> Value {
    match v {
        Value::Array(a) => {
            let mut r = Value::seq(vec![]);
            for item in &a.items {
                r = append(r, spread_of(item));
            }
            r
        }
        Value::Object(o) => Value::seq(
            o.borrow()
                .iter()
                .map(|(k, x)| {
                    let mut m = ObjMap::default();
                    m.insert(k.clone(), x.clone());
                    Value::object(m)
                })
                .collect(),
        ),
        v => v.clone(),
    }
}

pub(super) fn spread(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(spread_of(arg(args, 0)))
}

pub(super) fn merge(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let Value::Array(a) = arg(args, 0) else { return Ok(Value::Undefined) };
    let mut m = ObjMap::default();
    for item in &a.items {
        if let Value::Object(o) = item {
            for (k, v) in o.borrow().iter() {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Value::object(m))
}

pub(super) fn type_(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(match arg(args, 0) {
        Value::Undefined => Value::Undefined,
        Value::Null => Value::str("null"),
        Value::Number(_) => Value::str("number"),
        Value::String(_) => Value::str("string"),
        Value::Bool(_) => Value::str("boolean"),
        Value::Array(_) | Value::Tuples(_) => Value::str("array"),
        Value::Function(_) => Value::str("function"),
        Value::Object(_) => Value::str("object"),
    })
}

pub(super) fn error(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    let msg = arg(args, 0).as_str().unwrap_or("$error() function evaluated").to_string();
    Err(Error::new("D3137", None, msg))
}

pub(super) fn assert(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    if !matches!(arg(args, 0), Value::Bool(true)) {
        let msg = arg(args, 1).as_str().unwrap_or("$assert() statement failed").to_string();
        return Err(Error::new("D3141", None, msg));
    }
    Ok(Value::Undefined)
}

pub(super) fn clone(_: &Evaluator<'_>, args: &[Value], _: &Value, _: &Env) -> R {
    Ok(deep_clone(arg(args, 0)))
}

pub(super) fn eval(ev: &Evaluator<'_>, args: &[Value], input: &Value, env: &Env) -> R {
    let Value::String(src) = arg(args, 0) else { return Ok(Value::Undefined) };
    let mut ctx = input.clone();
    let focus = arg(args, 1);
    if !focus.is_undef() {
        ctx = match focus {
            Value::Array(a) if !a.is_seq() => {
                Value::array_flags(vec![focus.clone()], crate::value::SEQ | OUTER)
            }
            v => v.clone(),
        };
    }
    let ast = crate::parser::parse(src).map_err(|e| Error::new("D3120", None, e.message))?;
    let frame = new_frame(Some(env));
    ev.eval(&ast, &ctx, &frame).map_err(|e| Error::new("D3121", None, e.message))
}
