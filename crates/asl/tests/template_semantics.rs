//! Hand-written tests of payload templates.

use asl::template::Template;
use asl::{Env, Vars};
use serde_json::{json, Value};

fn eval(t: Value, input: Value) -> Result<Value, asl::Failure> {
    let mut vars = Vars::new();
    vars.insert("greeting".into(), json!("hi"));
    let ctx = json!({"Execution": {"Name": "e1"}, "Map": {"Item": {"Index": 3}}});
    let env = Env { input: &input, context: &ctx, vars: &vars };
    Template::compile(&t).unwrap().evaluate(&env)
}

#[test]
fn fields_paths_calls_and_nesting() {
    let t = json!({
        "lit": {"a": [1, {"b": "$.not.a.path"}]},
        "p.$": "$.x",
        "whole.$": "$",
        "ctx.$": "$$.Map.Item.Index",
        "var.$": "$greeting",
        "call.$": "States.Format('{}-{}', $.x, $$.Execution.Name)",
        "nested": {"deep": [{"y.$": "$.y[*].z"}, 2]}
    });
    let out = eval(t, json!({"x": 7, "y": [{"z": 1}, {"z": 2}, {}]})).unwrap();
    assert_eq!(
        out,
        json!({
            "lit": {"a": [1, {"b": "$.not.a.path"}]},
            "p": 7,
            "whole": {"x": 7, "y": [{"z": 1}, {"z": 2}, {}]},
            "ctx": 3,
            "var": "hi",
            "call": "7-e1",
            "nested": {"deep": [{"y": [1, 2]}, 2]}
        })
    );
}

#[test]
fn literal_templates() {
    let t = Template::compile(&json!({"a": [1, 2], "b": {"c": "$.x"}})).unwrap();
    assert!(t.is_literal());
    assert!(!Template::compile(&json!({"a": [{"b.$": "$"}]})).unwrap().is_literal());
}

#[test]
fn missing_path_fails_with_aws_cause() {
    let f = eval(json!({"value.$": "$.no_such_jsonpath"}), json!({"int-literal": 0})).unwrap_err();
    assert_eq!(f.error_name(), "States.Runtime");
    assert_eq!(
        f.cause.as_deref(),
        Some("The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input '{\"int-literal\":0}'")
    );
    // An indefinite path that matches nothing is an empty array, not a failure.
    assert_eq!(eval(json!({"v.$": "$.a[*]"}), json!({})).unwrap(), json!({"v": []}));
}

#[test]
fn compile_errors_use_aws_wording() {
    let e = Template::compile(&json!({"parsed.$": "States.Format('He said, \\\"Hi\\\"')"}))
        .unwrap_err();
    assert_eq!(e, "The value for the field 'parsed.$' must be a valid JSONPath or a valid intrinsic function call");
    assert!(Template::compile(&json!({"x.$": "not a path"})).is_err());
    assert!(Template::compile(&json!({"x.$": "$.a["})).is_err());
    assert!(Template::compile(&json!({"x.$": 1})).is_err());
    assert!(Template::compile(&json!({"a": {"x.$": "States.Nope()"}})).is_err());
}
