//! Hand-written tests of the intrinsic functions: parsing, escapes, argument checks, and the
//! Java conversions AWS applies.

use asl::intrinsics::Call;
use asl::{Env, Vars};
use serde_json::{json, Value};

fn call(text: &str, input: Value) -> Result<Value, asl::Failure> {
    let mut vars = Vars::new();
    vars.insert("v".into(), json!({"n": 5}));
    let ctx = json!({"Execution": {"Input": input.clone(), "Name": "exec-1"}});
    let env = Env { input: &input, context: &ctx, vars: &vars };
    Call::parse(text).unwrap_or_else(|e| panic!("{text}: {e}")).evaluate(&env)
}

fn ok(text: &str, input: Value) -> Value {
    call(text, input).unwrap_or_else(|f| panic!("{text}: {f}"))
}

fn invalid(text: &str, input: Value) -> String {
    let f = call(text, input).expect_err(text);
    assert_eq!(f.error_name(), "States.Runtime", "{text}");
    f.cause.unwrap()
}

#[test]
fn format_and_escapes() {
    assert_eq!(ok("States.Format('Hello {}', $.n)", json!({"n": "Ada"})), json!("Hello Ada"));
    assert_eq!(
        ok(r"States.Format('\{\} {} it\'s \\ {}', 1.5, $$.Execution.Name)", json!({})),
        json!("{} 1.5 it's \\ exec-1")
    );
    assert_eq!(
        ok("States.Format('{}', $.o)", json!({"o": {"a": [1, "x"], "b": null}})),
        json!("{a=[1, x], b=null}")
    );
    assert_eq!(ok("States.Format('{}{}', null, true)", json!({})), json!("nulltrue"));
    assert_eq!(ok("States.Format('{}', 1.0)", json!({})), json!("1.0"));
    assert_eq!(ok("States.Format($.t, $v.n)", json!({"t": "n={}"})), json!("n=5"));
    assert_eq!(
        invalid("States.Format('{} {}', 1)", json!({})),
        "Invalid arguments in States.Format"
    );
    invalid("States.Format('{}', 1, 2)", json!({}));
    invalid("States.Format('Hello {', 1)", json!({}));
    invalid("States.Format('}')", json!({}));
    assert!(Call::parse(r#"States.Format('He said, \"Hi\"')"#).is_err());
    assert!(Call::parse("States.Nope(1)").is_err());
    assert!(Call::parse("States.Format('x'").is_err());
    assert!(Call::parse("States.Format('x') trailing").is_err());
}

#[test]
fn json_functions() {
    assert_eq!(ok("States.StringToJson($.s)", json!({"s": "{\"a\":[1,2]}"})), json!({"a": [1, 2]}));
    assert_eq!(ok("States.StringToJson('')", json!({})), Value::Null);
    invalid("States.StringToJson('{bad')", json!({}));
    invalid("States.StringToJson(1)", json!({}));
    assert_eq!(
        ok("States.JsonToString($.o)", json!({"o": {"b": 1, "a": "x"}})),
        json!("{\"b\":1,\"a\":\"x\"}")
    );
    assert_eq!(
        ok(
            "States.JsonMerge($.a, $.b, false)",
            json!({"a": {"x": 1, "y": {"p": 1}}, "b": {"y": {"q": 2}}})
        ),
        json!({"x": 1, "y": {"q": 2}})
    );
    invalid("States.JsonMerge($.a, $.a, true)", json!({"a": {}}));
    invalid("States.JsonMerge($.a, 1, false)", json!({"a": {}}));
}

#[test]
fn array_functions() {
    assert_eq!(
        ok("States.Array(1, 'a', $.x, States.Array())", json!({"x": null})),
        json!([1, "a", null, []])
    );
    assert_eq!(
        ok("States.ArrayPartition($.a, 2)", json!({"a": [1, 2, 3, 4, 5]})),
        json!([[1, 2], [3, 4], [5]])
    );
    invalid("States.ArrayPartition($.a, 0)", json!({"a": [1]}));
    invalid("States.ArrayPartition($.a, 0.49)", json!({"a": [1]}));
    assert_eq!(ok("States.ArrayContains($.a, 2)", json!({"a": [1, 2.0]})), json!(true));
    assert_eq!(
        ok("States.ArrayContains($.a, $.v)", json!({"a": [[1, 2, 3], 2], "v": [1, 2, 3]})),
        json!(true)
    );
    assert_eq!(ok("States.ArrayRange(1, 9, 2)", json!({})), json!([1, 3, 5, 7, 9]));
    assert_eq!(ok("States.ArrayRange(5, 1, -2)", json!({})), json!([5, 3, 1]));
    assert_eq!(ok("States.ArrayRange(5, 1, 1)", json!({})), json!([]));
    assert_eq!(ok("States.ArrayRange(1.6, 1.4, 1)", json!({})), json!([1]));
    assert_eq!(ok("States.ArrayRange(1, 1000, 1)", json!({})).as_array().unwrap().len(), 1000);
    invalid("States.ArrayRange(1, 1001, 1)", json!({}));
    invalid("States.ArrayRange(1, 10, 0)", json!({}));
    invalid("States.ArrayRange('a', 10, 1)", json!({}));
    invalid("States.ArrayRange(1, 5)", json!({}));
    assert_eq!(ok("States.ArrayGetItem($.a, 1)", json!({"a": [10, 20, 30]})), json!(20));
    assert_eq!(ok("States.ArrayGetItem($.a, 1.2)", json!({"a": [10, 20, 30]})), json!(20));
    assert_eq!(ok("States.ArrayGetItem($.a, 999)", json!({"a": []})), Value::Null);
    invalid("States.ArrayGetItem($.a, 3)", json!({"a": [10, 20, 30]}));
    invalid("States.ArrayGetItem($.a, -1)", json!({"a": [10, 20, 30]}));
    invalid("States.ArrayGetItem('x', 0)", json!({}));
    assert_eq!(ok("States.ArrayLength($.a)", json!({"a": [1, 2, 3]})), json!(3));
    assert_eq!(
        ok(
            "States.ArrayUnique($.a)",
            json!({"a": [1, 1, 1.0, "1", null, null, {"a": 1}, {"a": 1}, [], []]})
        ),
        json!([1, "1", null, {"a": 1}, []])
    );
    assert_eq!(
        ok("States.ArrayGetItem(States.StringSplit($$.Execution.Name, '-'), 0)", json!({})),
        json!("exec")
    );
}

#[test]
fn encoding_and_hashing() {
    assert_eq!(
        ok("States.Base64Encode('Data to encode')", json!({})),
        json!("RGF0YSB0byBlbmNvZGU=")
    );
    assert_eq!(
        ok("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})),
        json!("Data to encode")
    );
    invalid("States.Base64Decode('***')", json!({}));
    invalid("States.Base64Encode($.s)", json!({"s": "x".repeat(10_001)}));
    assert_eq!(
        ok("States.Hash('input data', 'MD5')", json!({})),
        json!("812f45842bc6d66ee14572ce20db8e86")
    );
    assert_eq!(
        ok("States.Hash('input data', 'SHA-1')", json!({})),
        json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
    );
    assert_eq!(ok("States.Hash('x', 'SHA-384')", json!({})).as_str().unwrap().len(), 96);
    assert_eq!(ok("States.Hash('x', 'SHA-512')", json!({})).as_str().unwrap().len(), 128);
    invalid("States.Hash('x', 'SHA-3')", json!({}));
}

#[test]
fn math() {
    assert_eq!(ok("States.MathAdd(1.5, -2.5)", json!({})), json!(0));
    assert_eq!(ok("States.MathAdd($.a, -1)", json!({"a": 10})), json!(9));
    assert_eq!(ok("States.MathAdd(States.MathAdd(1, 2), $v.n)", json!({})), json!(8));
    assert_eq!(invalid("States.MathAdd(1, 'x')", json!({})), "Invalid arguments in States.MathAdd");
    invalid("States.MathAdd(2147483648, 1)", json!({}));
    // Seeded values match new java.util.Random(seed).nextInt(end - start) + start.
    assert_eq!(ok("States.MathRandom(0, 999, 3)", json!({})), json!(239));
    assert_eq!(ok("States.MathRandom(10, 110, 42)", json!({})), json!(40));
    assert_eq!(ok("States.MathRandom(0, 64, -7)", json!({})), json!(17));
    assert_eq!(ok("States.MathRandom(0, 1000, 123456789)", json!({})), json!(965));
    for _ in 0..50 {
        let v = ok("States.MathRandom(-5, 5)", json!({})).as_i64().unwrap();
        assert!((-5..5).contains(&v));
    }
    invalid("States.MathRandom(1.4, 1.6)", json!({}));
    invalid("States.MathRandom(5, 1)", json!({}));
}

#[test]
fn strings_and_uuid() {
    assert_eq!(ok("States.StringSplit('a,b,,c', ',')", json!({})), json!(["a", "b", "c"]));
    assert_eq!(ok("States.StringSplit('a, b;c', ', ;')", json!({})), json!(["a", "b", "c"]));
    invalid("States.StringSplit(1, ',')", json!({}));
    let u = ok("States.UUID()", json!({}));
    let u = u.as_str().unwrap();
    assert_eq!(u.len(), 36);
    assert_eq!(&u[14..15], "4");
    assert_ne!(ok("States.UUID()", json!({})), ok("States.UUID()", json!({})));
    invalid("States.UUID(1)", json!({}));
}

#[test]
fn missing_path_argument_fails() {
    let f = call("States.Array($.nope)", json!({})).unwrap_err();
    assert_eq!(f.error_name(), "States.Runtime");
    assert_eq!(f.cause.as_deref(), Some("Invalid path '$.nope' : No results for path: $['nope']"));
}
