//! Hand-written tests of JSONPath semantics (Jayway's, as Step Functions runs it).

use asl::path::{Path, ReferencePath};
use asl::{Env, Vars};
use serde_json::{json, Value};

fn sel(path: &str, input: &Value) -> Option<Value> {
    let vars = Vars::new();
    let ctx = json!({"Execution": {"Name": "exec", "Input": input.clone()}});
    let env = Env { input, context: &ctx, vars: &vars };
    Path::parse(path).unwrap().select(&env)
}

fn store() -> Value {
    json!({
        "store": {
            "book": [
                {"category": "reference", "author": "Nigel Rees", "title": "Sayings", "price": 8.95},
                {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword", "price": 12.99},
                {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553", "price": 8.99},
                {"category": "fiction", "author": "J. R. R. Tolkien", "title": "LOTR", "isbn": "0-395", "price": 22.99}
            ],
            "bicycle": {"color": "red", "price": 19.95}
        },
        "expensive": 10
    })
}

#[test]
fn definite_paths() {
    let s = store();
    assert_eq!(sel("$", &s), Some(s.clone()));
    assert_eq!(sel("$.store.bicycle.color", &s), Some(json!("red")));
    assert_eq!(sel("$['store']['bicycle']['color']", &s), Some(json!("red")));
    assert_eq!(sel("$[\"store\"].bicycle", &s), Some(json!({"color": "red", "price": 19.95})));
    assert_eq!(sel("$.store.book[0].title", &s), Some(json!("Sayings")));
    assert_eq!(sel("$.store.book[-1].title", &s), Some(json!("LOTR")));
    assert_eq!(sel("$.store.book[4]", &s), None);
    assert_eq!(sel("$.nope", &s), None);
    assert_eq!(sel("$.store.nope.deeper", &s), None);
    assert_eq!(sel("$.store.book.length()", &s), Some(json!(4)));
    assert_eq!(sel("$$.Execution.Name", &s), Some(json!("exec")));
    assert_eq!(sel("$.a", &json!({"a": null})), Some(Value::Null));
}

#[test]
fn indefinite_paths() {
    let s = store();
    assert_eq!(
        sel("$.store.book[*].author", &s),
        Some(json!(["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"]))
    );
    assert_eq!(sel("$..author", &s).unwrap().as_array().unwrap().len(), 4);
    assert_eq!(sel("$.store.*", &s).unwrap().as_array().unwrap().len(), 2);
    assert_eq!(sel("$..price", &s), Some(json!([8.95, 12.99, 8.99, 22.99, 19.95])));
    assert_eq!(sel("$..book[2].title", &s), Some(json!(["Moby Dick"])));
    assert_eq!(sel("$..book[-1:].title", &s), Some(json!(["LOTR"])));
    assert_eq!(sel("$..book[0,1].title", &s), Some(json!(["Sayings", "Sword"])));
    assert_eq!(sel("$..book[:2].title", &s), Some(json!(["Sayings", "Sword"])));
    assert_eq!(sel("$..book[1:2].title", &s), Some(json!(["Sword"])));
    assert_eq!(sel("$..book[?(@.isbn)].title", &s), Some(json!(["Moby Dick", "LOTR"])));
    assert_eq!(
        sel("$.store.book[?(@.price < 10)].title", &s),
        Some(json!(["Sayings", "Moby Dick"]))
    );
    assert_eq!(
        sel("$.store.book[?(@.price < 10 && @.category == 'fiction')].title", &s),
        Some(json!(["Moby Dick"]))
    );
    assert_eq!(
        sel("$.store.book[?(@.price > 20 || @.category == 'reference')].title", &s),
        Some(json!(["Sayings", "LOTR"]))
    );
    assert_eq!(
        sel("$..book[?(@.price <= $['expensive'])].title", &s),
        Some(json!(["Sayings", "Moby Dick"]))
    );
    assert_eq!(sel("$.items[*]", &json!({})), Some(json!([])));
    assert_eq!(sel("$.item.items[1:5].itemValue", &json!({})), Some(json!([])));
    assert_eq!(sel("$[*]", &json!({})), Some(json!([])));
}

#[test]
fn quoted_names_keep_backslashes() {
    let input = json!({"Test\\\"\"Name\"": "Value\"\\"});
    assert_eq!(sel(r#"$['Test\""Name"']"#, &input), Some(json!("Value\"\\")));
    assert_eq!(sel("$['a b']", &json!({"a b": 1})), Some(json!(1)));
    assert_eq!(sel("$.sub-values", &json!({"sub-values": 1})), Some(json!(1)));
}

#[test]
fn multi_property_leaf_merges() {
    assert_eq!(sel("$['a','c']", &json!({"a": 1, "b": 2, "c": 3})), Some(json!({"a": 1, "c": 3})));
}

#[test]
fn variables() {
    let mut vars = Vars::new();
    vars.insert("x".into(), json!({"a": {"b": [1, 2]}}));
    let input = json!({});
    let env = Env { input: &input, context: &input, vars: &vars };
    assert_eq!(Path::parse("$x.a.b[1]").unwrap().select(&env), Some(json!(2)));
    assert_eq!(Path::parse("$x").unwrap().select(&env), Some(json!({"a": {"b": [1, 2]}})));
    assert_eq!(Path::parse("$y").unwrap().select(&env), None);
    assert_eq!(Path::parse("$x").unwrap().variable(), Some("x"));
}

#[test]
fn miss_messages() {
    let input = json!({"int-literal": 0});
    let vars = Vars::new();
    let env = Env { input: &input, context: &input, vars: &vars };
    let p = Path::parse("$.NoSuchInputPath").unwrap();
    let miss = p.lookup(&env).unwrap_err();
    assert_eq!(
        p.invalid_path_cause(&miss),
        "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']"
    );
    let p = Path::parse("$.a.b").unwrap();
    assert_eq!(p.lookup(&env).unwrap_err().message(), "Missing property in path $['a']");
    assert_eq!(Path::parse("$.a[0]['b']").unwrap().normalized(), "$['a'][0]['b']");
    assert_eq!(
        Path::parse("$.ErrorX").unwrap().not_found_cause("ErrorPath", &input),
        "The JSONPath '$.ErrorX' specified for the field 'ErrorPath' could not be found in the input '{\"int-literal\":0}'"
    );
}

#[test]
fn invalid_paths() {
    for p in ["", "a", "$.", "$.a.", "$[", "$['a'", "$.a[?(@.b ==)]", "$.a b", "$[1"] {
        assert!(Path::parse(p).is_err(), "{p} should not parse");
    }
}

#[test]
fn reference_paths() {
    let r = ReferencePath::parse("$").unwrap();
    assert_eq!(r.assign(json!({"a": 1}), json!(2)).unwrap(), json!(2));
    let r = ReferencePath::parse("$.result").unwrap();
    assert_eq!(r.assign(json!({"a": 1}), json!(2)).unwrap(), json!({"a": 1, "result": 2}));
    let r = ReferencePath::parse("$.x.y.z").unwrap();
    assert_eq!(r.assign(json!({"a": 1}), json!(2)).unwrap(), json!({"a": 1, "x": {"y": {"z": 2}}}));
    assert_eq!(
        r.assign(json!({"x": {"w": 0}}), json!(2)).unwrap(),
        json!({"x": {"w": 0, "y": {"z": 2}}})
    );
    let err = r.assign(json!({"x": "str"}), json!(2)).unwrap_err();
    assert_eq!(err.error_name(), "States.ResultPathMatchFailure");
    let err = ReferencePath::parse("$.a").unwrap().assign(json!("hello"), json!(1)).unwrap_err();
    assert_eq!(err.error_name(), "States.ResultPathMatchFailure");
    assert!(ReferencePath::parse("$.a[*]").is_err());
    assert!(ReferencePath::parse("$$.a").is_err());
    let r = ReferencePath::parse("$.a[1]").unwrap();
    assert_eq!(r.assign(json!({"a": [0, 0]}), json!(5)).unwrap(), json!({"a": [0, 5]}));
}
