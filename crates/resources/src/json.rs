//! Comparisons of JSON values shared by JSON Patch's `test` and condition expressions:
//! numbers compare by value (`1` equals `1.0`), objects regardless of member order.

use serde_json::{Number, Value};
use std::cmp::Ordering;

/// Compares two JSON numbers by value. Integers compare exactly; when either side is a
/// float both are compared as `f64` (serde_json never holds NaN or infinities).
pub(crate) fn cmp_numbers(a: &Number, b: &Number) -> Ordering {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x.cmp(&y);
    }
    // One side is a negative i64 and the other a u64 beyond i64::MAX: the i64 is smaller.
    if a.is_i64() && b.is_u64() && !a.is_f64() && !b.is_f64() {
        return Ordering::Less;
    }
    if a.is_u64() && b.is_i64() && !a.is_f64() && !b.is_f64() {
        return Ordering::Greater;
    }
    let x = a.as_f64().unwrap_or(0.0);
    let y = b.as_f64().unwrap_or(0.0);
    x.partial_cmp(&y).unwrap_or(Ordering::Equal)
}

/// Structural equality of JSON values as RFC 6902's `test` defines it: the same type,
/// numbers numerically equal, arrays element by element, objects with the same members
/// whatever their order.
pub(crate) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y) == Ordering::Equal,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(equal(&json!(1), &json!(1.0)));
        assert!(equal(&json!(-0.0), &json!(0)));
        assert!(!equal(&json!(1), &json!(1.5)));
        assert!(equal(&json!(u64::MAX), &json!(u64::MAX)));
        let big = Number::from(u64::MAX);
        let neg = Number::from(-1i64);
        assert_eq!(cmp_numbers(&neg, &big), Ordering::Less);
        assert_eq!(cmp_numbers(&big, &neg), Ordering::Greater);
        assert_eq!(cmp_numbers(&Number::from(2), &Number::from_f64(2.5).unwrap()), Ordering::Less);
    }

    #[test]
    fn objects_ignore_member_order_and_types_must_match() {
        assert!(equal(
            &json!({"a": 1, "b": [1, {"c": 2}]}),
            &json!({"b": [1.0, {"c": 2}], "a": 1})
        ));
        assert!(!equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!equal(&json!({"a": 1, "b": 2}), &json!({"a": 1, "c": 2})));
        assert!(!equal(&json!("1"), &json!(1)));
        assert!(!equal(&json!([1]), &json!([1, 2])));
        assert!(!equal(&json!(null), &json!(false)));
    }
}
