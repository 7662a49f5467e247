//! Number pictures: `$formatNumber` (XPath `format-number`), `$formatInteger` and
//! `$parseInteger` (XPath `format-integer`: words, roman numerals, letters), `$formatBase`.

use crate::eval::{Env, Evaluator};
use crate::functions::ferr;
use crate::value::Value;
use crate::Error;

type R = Result<Value, Error>;

pub(crate) fn format_number_fn(_: &Evaluator<'_>, _: &[Value], _: &Value, _: &Env) -> R {
    Err(ferr("D3080"))
}
pub(crate) fn format_base_fn(_: &Evaluator<'_>, _: &[Value], _: &Value, _: &Env) -> R {
    Err(ferr("D3100"))
}
pub(crate) fn format_integer_fn(_: &Evaluator<'_>, _: &[Value], _: &Value, _: &Env) -> R {
    Err(ferr("D3130"))
}
pub(crate) fn parse_integer_fn(_: &Evaluator<'_>, _: &[Value], _: &Value, _: &Env) -> R {
    Err(ferr("D3130"))
}
