//! Hand-written tests of choice rule semantics.

use asl::choice::Rule;
use asl::{Env, Vars};
use serde_json::{json, Value};

fn eval(rule: Value, input: Value) -> Result<bool, asl::Failure> {
    let vars = Vars::new();
    let ctx = json!({});
    let env = Env { input: &input, context: &ctx, vars: &vars };
    Rule::parse(&rule).unwrap().evaluate(&env)
}

#[test]
fn string_matches() {
    let r = |p: &str, s: &str| {
        eval(json!({"Variable": "$.v", "StringMatches": p}), json!({"v": s})).unwrap()
    };
    assert!(r("log-*.txt", "log-2024.txt"));
    assert!(!r("log-*.txt", "log-2024.txc"));
    assert!(r("*", ""));
    assert!(r("a*b*c", "aXXbYYc"));
    assert!(!r("a*b*c", "aXXbYY"));
    assert!(r("\\*lit", "*lit"));
    assert!(!r("\\*lit", "xlit"));
    assert!(r("back\\\\slash", "back\\slash"));
    assert!(!eval(json!({"Variable": "$.v", "StringMatches": "*"}), json!({"v": 1})).unwrap());
}

#[test]
fn missing_variable_is_a_runtime_error_except_is_present() {
    let err = eval(json!({"Variable": "$.nope", "StringEquals": "x"}), json!({})).unwrap_err();
    assert_eq!(err.error_name(), "States.Runtime");
    assert_eq!(
        err.cause.as_deref(),
        Some(
            "Invalid path '$.nope': The choice state's condition path references an invalid value."
        )
    );
    assert!(!eval(json!({"Variable": "$.nope", "IsPresent": true}), json!({})).unwrap());
    assert!(eval(json!({"Variable": "$.nope", "IsPresent": false}), json!({})).unwrap());
    let err = eval(json!({"Variable": "$.a", "NumericEqualsPath": "$.nope"}), json!({"a": 1}))
        .unwrap_err();
    assert_eq!(err.error_name(), "States.Runtime");
}

#[test]
fn boolean_composition() {
    let rule = json!({
        "And": [
            {"Variable": "$.n", "NumericGreaterThanEquals": 10},
            {"Not": {"Variable": "$.s", "StringEquals": "skip"}},
            {"Or": [
                {"Variable": "$.b", "BooleanEquals": true},
                {"Variable": "$.n", "NumericLessThan": 0}
            ]}
        ],
        "Next": "X"
    });
    assert!(eval(rule.clone(), json!({"n": 10, "s": "go", "b": true})).unwrap());
    assert!(!eval(rule.clone(), json!({"n": 10, "s": "skip", "b": true})).unwrap());
    assert!(!eval(rule, json!({"n": 10, "s": "go", "b": false})).unwrap());
}

#[test]
fn timestamps_compare_as_instants() {
    let r = |op: &str, a: &str, b: &str| {
        eval(json!({"Variable": "$.t", op: b}), json!({"t": a})).unwrap()
    };
    assert!(r("TimestampEquals", "2012-10-09T20:00:55+01:00", "2012-10-09T19:00:55Z"));
    assert!(r("TimestampLessThan", "2012-10-09T19:00:55.123Z", "2012-10-09T19:00:56Z"));
    assert!(!r("TimestampEquals", "2012-10-09T19:00:55", "2012-10-09T19:00:55Z"));
    assert!(!r("TimestampEquals", "2012-10-09 19:00:55Z", "2012-10-09T19:00:55Z"));
    let is_ts =
        |v: Value| eval(json!({"Variable": "$.t", "IsTimestamp": true}), json!({"t": v})).unwrap();
    assert!(is_ts(json!("2016-03-14T01:59:00Z")));
    assert!(!is_ts(json!("2016-03-14")));
    assert!(!is_ts(json!(12)));
}

#[test]
fn numbers_compare_by_value() {
    assert!(eval(json!({"Variable": "$.n", "NumericEquals": 1}), json!({"n": 1.0})).unwrap());
    assert!(eval(
        json!({"Variable": "$.n", "NumericLessThan": 9007199254740993u64}),
        json!({"n": 9007199254740992u64})
    )
    .unwrap());
    assert!(!eval(json!({"Variable": "$.n", "NumericEquals": 1}), json!({"n": "1"})).unwrap());
    assert!(!eval(json!({"Variable": "$.n", "NumericEquals": 1}), json!({"n": true})).unwrap());
}

#[test]
fn strings_compare_as_java_strings() {
    // U+FF5E sorts after U+1F600 in UTF-16 (0xFF5E > 0xD83D), unlike in code points.
    assert!(eval(
        json!({"Variable": "$.s", "StringGreaterThan": "\u{1F600}"}),
        json!({"s": "\u{FF5E}"})
    )
    .unwrap());
}

#[test]
fn invalid_rules() {
    for rule in [
        json!({"Variable": "$.a", "StringEquals": 1}),
        json!({"Variable": "$.a", "NumericEquals": "1"}),
        json!({"Variable": "$.a", "TimestampEquals": "yesterday"}),
        json!({"Variable": "$.a"}),
        json!({"StringEquals": "x"}),
        json!({"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1}),
        json!({"Variable": "$.a", "Bogus": 1}),
        json!({"And": []}),
        json!({"Variable": "$.a", "IsNull": "yes"}),
    ] {
        assert!(Rule::parse(&rule).is_err(), "{rule} should not parse");
    }
}
