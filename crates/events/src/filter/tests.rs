//! Filter policy tests: every example of SNS's filtering documentation, then each
//! operator's edge cases, then validation.

use serde_json::json;

use super::*;
use crate::attributes::{AttributeValue, MessageAttribute};

/// A message attribute as a test writes it: name, data type, value.
type Attr<'a> = (&'a str, &'a str, &'a str);

fn attrs(list: &[Attr<'_>]) -> MessageAttributes {
    list.iter()
        .map(|(name, ty, value)| {
            let value = if ty.starts_with("Binary") {
                AttributeValue::Bytes(value.as_bytes().to_vec())
            } else {
                AttributeValue::Text((*value).to_owned())
            };
            ((*name).to_owned(), MessageAttribute::new(ty, value).unwrap())
        })
        .collect()
}

fn on_attrs(policy: &str, message: &[Attr<'_>]) -> bool {
    FilterPolicy::parse(policy, FilterPolicyScope::MessageAttributes)
        .unwrap_or_else(|e| panic!("{policy}: {e}"))
        .matches_attributes(&attrs(message))
}

fn on_body(policy: &str, body: &str) -> bool {
    FilterPolicy::parse(policy, FilterPolicyScope::MessageBody)
        .unwrap_or_else(|e| panic!("{policy}: {e}"))
        .matches_body(body)
}

fn error(policy: &str, scope: FilterPolicyScope) -> String {
    match FilterPolicy::parse(policy, scope) {
        Ok(_) => panic!("{policy} should be refused"),
        Err(e) => e.to_string(),
    }
}

/// The message of SNS's "Example filter policies" page.
fn example_message() -> Vec<Attr<'static>> {
    vec![
        ("customer_interests", "String.Array", r#"["soccer", "rugby", "hockey"]"#),
        ("store", "String", "example_corp"),
        ("event", "String", "order_placed"),
        ("price_usd", "Number", "210.75"),
    ]
}

#[test]
fn example_filter_policies_page() {
    let accepts = r#"{
        "store": ["example_corp"],
        "event": [{"anything-but": "order_cancelled"}],
        "customer_interests": ["rugby", "football", "baseball"],
        "price_usd": [{"numeric": [">=", 100]}]
    }"#;
    assert!(on_attrs(accepts, &example_message()));
    let rejects = r#"{
        "store": ["example_corp"],
        "event": ["order_cancelled"],
        "encrypted": [false],
        "customer_interests": ["basketball", "baseball"]
    }"#;
    assert!(!on_attrs(rejects, &example_message()));
}

#[test]
fn and_or_logic_page() {
    let and = r#"{"customer_interests": ["rugby"], "price_usd": [{"numeric": [">", 100]}]}"#;
    assert!(on_attrs(
        and,
        &[("customer_interests", "String", "rugby"), ("price_usd", "Number", "101")]
    ));
    assert!(!on_attrs(
        and,
        &[("customer_interests", "String", "rugby"), ("price_usd", "Number", "100")]
    ));
    assert!(!on_attrs(and, &[("customer_interests", "String", "rugby")]));
    assert!(on_body(and, r#"{"customer_interests": "rugby", "price_usd": 150}"#));
    assert!(!on_body(and, r#"{"customer_interests": "tennis", "price_usd": 150}"#));

    let or = r#"{"customer_interests": ["rugby", "football", "baseball"]}"#;
    for v in ["rugby", "football", "baseball"] {
        assert!(on_attrs(or, &[("customer_interests", "String", v)]), "{v}");
    }
    assert!(!on_attrs(or, &[("customer_interests", "String", "tennis")]));
}

#[test]
fn or_operator_examples() {
    let standard = r#"{
        "source": ["aws.cloudwatch"],
        "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]
    }"#;
    let cases: [(&[Attr<'_>], bool); 5] = [
        (
            &[("source", "String", "aws.cloudwatch"), ("metricName", "String", "CPUUtilization")],
            true,
        ),
        (&[("source", "String", "aws.cloudwatch"), ("namespace", "String", "AWS/EC2")], true),
        (&[("source", "String", "aws.cloudwatch")], false),
        (&[("metricName", "String", "CPUUtilization"), ("namespace", "String", "AWS/EC2")], false),
        (&[("source", "String", "aws.cloudwatch"), ("namespace", "String", "AWS/ECS")], false),
    ];
    for (message, expected) in cases {
        assert_eq!(on_attrs(standard, message), expected, "{message:?}");
    }
    assert!(on_body(standard, r#"{"source": "aws.cloudwatch", "namespace": "AWS/EC2"}"#));

    // "source" && ("metricName" || ("metricType" && ("metricId" || "spaceId")))
    let nested = r#"{
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {"metricType": ["MetricType"], "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}]}
        ]
    }"#;
    let body = |s: &str| on_body(nested, s);
    assert!(body(r#"{"source": "aws.cloudwatch", "metricName": "ReadLatency"}"#));
    assert!(body(r#"{"source": "aws.cloudwatch", "metricType": "MetricType", "metricId": 4321}"#));
    assert!(body(r#"{"source": "aws.cloudwatch", "metricType": "MetricType", "spaceId": 3000}"#));
    assert!(!body(r#"{"source": "aws.cloudwatch", "metricType": "MetricType"}"#));
    assert!(!body(r#"{"source": "aws.cloudwatch", "metricId": 4321}"#));
    assert!(!body(r#"{"source": "aws.other", "metricName": "ReadLatency"}"#));
    // SNS counts 1x2 + 1x1x(2+3) = 7 combinations.
    let policy = FilterPolicy::parse(nested, FilterPolicyScope::MessageBody).unwrap();
    assert_eq!(policy.combinations(), 7);

    // $or nested inside a body key.
    let inner = r#"{"detail": {"$or": [{"state": ["ok"]}, {"code": [{"numeric": [">=", 500]}]}]}}"#;
    assert!(on_body(inner, r#"{"detail": {"state": "ok"}}"#));
    assert!(on_body(inner, r#"{"detail": {"code": 503}}"#));
    assert!(!on_body(inner, r#"{"detail": {"code": 404, "state": "bad"}}"#));
}

#[test]
fn or_is_a_plain_key_unless_sns_would_read_it_as_or() {
    // An array of fewer than two objects: "$or" is an attribute name.
    assert!(on_attrs(r#"{"$or": ["a", "b"]}"#, &[("$or", "String", "b")]));
    assert!(!on_attrs(r#"{"$or": ["a", "b"]}"#, &[("x", "String", "b")]));
    // Objects with operators as keys are match expressions, so this is a plain key too,
    // and `{"numeric": 123}` is then an invalid match expression.
    let err = error(
        r#"{"$or": [{"numeric": 123}, {"prefix": "abc"}]}"#,
        FilterPolicyScope::MessageAttributes,
    );
    assert!(err.contains("Value of numeric must be an array."), "{err}");
    // One object only: plain key, and an object inside a list is a match expression.
    let err = error(r#"{"$or": [{"a": ["x"]}]}"#, FilterPolicyScope::MessageAttributes);
    assert!(err.contains("Unrecognized match type a"), "{err}");
}

#[test]
fn key_matching_page() {
    let present = &[
        ("store", "String", "fans"),
        ("customer_interests", "String.Array", r#"["baseball", "basketball"]"#),
    ];
    let absent = &[("customer_interests", "String.Array", r#"["baseball", "basketball"]"#)];
    let exists = r#"{"store": [{"exists": true}]}"#;
    let not_exists = r#"{"store": [{"exists": false}]}"#;
    assert!(on_attrs(exists, present));
    assert!(!on_attrs(exists, absent));
    assert!(!on_attrs(not_exists, present));
    assert!(on_attrs(not_exists, absent));

    let present_body = r#"{"store": "fans", "customer_interests": ["baseball", "basketball"]}"#;
    let absent_body = r#"{"customer_interests": ["baseball", "basketball"]}"#;
    assert!(on_body(exists, present_body));
    assert!(!on_body(exists, absent_body));
    assert!(!on_body(not_exists, present_body));
    assert!(on_body(not_exists, absent_body));
}

#[test]
fn string_value_matching_page() {
    let exact = r#"{"customer_interests": ["rugby", "tennis"]}"#;
    assert!(on_attrs(exact, &[("customer_interests", "String", "rugby")]));
    assert!(on_attrs(exact, &[("customer_interests", "String", "tennis")]));
    assert!(on_attrs(exact, &[("customer_interests", "String.Array", r#"["rugby", "tennis"]"#)]));
    assert!(!on_attrs(exact, &[("customer_interests", "String", "baseball")]));
    assert!(!on_attrs(exact, &[("customer_interests", "String.Array", r#"["baseball"]"#)]));
    assert!(on_body(exact, r#"{"customer_interests": "rugby"}"#));
    assert!(on_body(exact, r#"{"customer_interests": "tennis"}"#));
    assert!(!on_body(exact, r#"{"customer_interests": "baseball"}"#));

    let prefix = r#"{"customer_interests": [{"prefix": "bas"}]}"#;
    assert!(on_attrs(prefix, &[("customer_interests", "String", "baseball")]));
    assert!(on_attrs(prefix, &[("customer_interests", "String", "basketball")]));
    assert!(!on_attrs(prefix, &[("customer_interests", "String", "rugby")]));
    assert!(on_body(prefix, r#"{"customer_interests": "baseball"}"#));

    let suffix = r#"{"customer_interests": [{"suffix": "ball"}]}"#;
    assert!(on_attrs(suffix, &[("customer_interests", "String", "baseball")]));
    assert!(on_attrs(suffix, &[("customer_interests", "String", "basketball")]));
    assert!(!on_attrs(suffix, &[("customer_interests", "String", "rugby")]));
    assert!(on_body(suffix, r#"{"customer_interests": "basketball"}"#));

    let ignore_case = r#"{"customer_interests": [{"equals-ignore-case": "tennis"}]}"#;
    for v in ["tennis", "TENNIS", "Tennis"] {
        assert!(on_attrs(ignore_case, &[("customer_interests", "String", v)]), "{v}");
        assert!(on_body(ignore_case, &json!({ "customer_interests": v }).to_string()), "{v}");
    }
    assert!(!on_attrs(ignore_case, &[("customer_interests", "String", "rugby")]));

    let but = r#"{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}"#;
    assert!(on_attrs(but, &[("customer_interests", "String", "baseball")]));
    assert!(on_attrs(but, &[("customer_interests", "String", "football")]));
    assert!(on_attrs(but, &[("customer_interests", "String.Array", r#"["rugby", "baseball"]"#)]));
    assert!(!on_attrs(but, &[("customer_interests", "String", "rugby")]));
    assert!(!on_attrs(but, &[("customer_interests", "String.Array", r#"["rugby", "tennis"]"#)]));
    assert!(on_body(but, r#"{"customer_interests": "baseball"}"#));
    assert!(on_body(but, r#"{"customer_interests": ["rugby", "baseball"]}"#));
    assert!(!on_body(but, r#"{"customer_interests": "rugby"}"#));

    let but_prefix = r#"{"event": [{"anything-but": {"prefix": "order-"}}]}"#;
    assert!(on_attrs(but_prefix, &[("event", "String", "data-entry")]));
    assert!(on_attrs(but_prefix, &[("event", "String", "order_number")]));
    assert!(!on_attrs(but_prefix, &[("event", "String", "order-cancelled")]));
    assert!(on_body(but_prefix, r#"{"event": "order_number"}"#));
    assert!(!on_body(but_prefix, r#"{"event": "order-cancelled"}"#));

    let but_suffix = r#"{"event": [{"anything-but": {"suffix": "-cancelled"}}]}"#;
    assert!(on_attrs(but_suffix, &[("event", "String", "order-placed")]));
    assert!(!on_attrs(but_suffix, &[("event", "String", "order-cancelled")]));

    let but_ignore_case =
        r#"{"event": [{"anything-but": {"equals-ignore-case": ["Order-Cancelled", "x"]}}]}"#;
    assert!(on_attrs(but_ignore_case, &[("event", "String", "order-placed")]));
    assert!(!on_attrs(but_ignore_case, &[("event", "String", "ORDER-CANCELLED")]));

    // anything-but combined with exists: false.
    let but_or_absent = r#"{"event": [{"anything-but": "cancelled"}, {"exists": false}]}"#;
    assert!(on_attrs(but_or_absent, &[]));
    assert!(on_attrs(but_or_absent, &[("event", "String", "placed")]));
    assert!(!on_attrs(but_or_absent, &[("event", "String", "cancelled")]));

    let cidr = r#"{"source_ip": [{"cidr": "10.0.0.0/24"}]}"#;
    assert!(on_attrs(cidr, &[("source_ip", "String", "10.0.0.0")]));
    assert!(on_attrs(cidr, &[("source_ip", "String", "10.0.0.255")]));
    assert!(!on_attrs(cidr, &[("source_ip", "String", "10.1.1.0")]));
    assert!(!on_attrs(cidr, &[("source_ip", "String", "not an ip")]));
    assert!(on_body(cidr, r#"{"source_ip": "10.0.0.7"}"#));
    let v6 = r#"{"source_ip": [{"cidr": "2001:db8::/32"}]}"#;
    assert!(on_attrs(v6, &[("source_ip", "String", "2001:db8::1")]));
    assert!(!on_attrs(v6, &[("source_ip", "String", "10.0.0.1")]));
}

#[test]
fn numeric_value_matching_page() {
    let equals = r#"{"price_usd": [{"numeric": ["=", 301.5]}]}"#;
    assert!(on_attrs(equals, &[("price_usd", "Number", "301.5")]));
    assert!(on_attrs(equals, &[("price_usd", "Number", "3.015e2")]));
    assert!(on_body(equals, r#"{"price_usd": 301.5}"#));
    assert!(on_body(equals, r#"{"price_usd": 3.015e2}"#));
    assert!(!on_body(equals, r#"{"price_usd": 301.6}"#));

    let but = r#"{"price": [{"anything-but": [100, 500]}]}"#;
    assert!(on_attrs(but, &[("price", "Number", "101")]));
    assert!(on_attrs(but, &[("price", "Number", "100.1")]));
    assert!(on_attrs(but, &[("price", "String.Array", "[100, 50]")]));
    assert!(!on_attrs(but, &[("price", "Number", "100")]));
    assert!(!on_attrs(but, &[("price", "Number", "1e2")]));
    assert!(on_body(but, r#"{"price": 101}"#));
    assert!(on_body(but, r#"{"price": 100.1}"#));
    assert!(on_body(but, r#"{"price": [100, 50]}"#));
    assert!(!on_body(but, r#"{"price": 100}"#));

    let negative = r#"{"price_usd": [{"numeric": ["<", 0]}]}"#;
    assert!(on_attrs(negative, &[("price_usd", "Number", "-0.5")]));
    assert!(!on_attrs(negative, &[("price_usd", "Number", "0")]));

    let range = r#"{"price_usd": [{"numeric": [">", 0, "<=", 150]}]}"#;
    for (v, expected) in [
        ("0", false),
        ("0.00001", true),
        ("1", true),
        ("150", true),
        ("150.00001", false),
        ("-1", false),
    ] {
        assert_eq!(on_attrs(range, &[("price_usd", "Number", v)]), expected, "{v}");
        assert_eq!(on_body(range, &format!(r#"{{"price_usd": {v}}}"#)), expected, "{v}");
    }
}

#[test]
fn numbers_compare_as_numbers_with_five_decimals() {
    let exact = r#"{"n": [300]}"#;
    for v in ["300", "3.0e2", "300.000", "3E2", "300.000001"] {
        assert!(on_attrs(exact, &[("n", "Number", v)]), "{v}");
    }
    assert!(!on_attrs(exact, &[("n", "Number", "300.00001")]));
    assert!(on_body(exact, r#"{"n": 3.0e2}"#));
    assert!(on_body(exact, r#"{"n": 300.0}"#));
    // Types are strict: a number is not a string.
    assert!(!on_attrs(exact, &[("n", "String", "300")]));
    assert!(!on_body(exact, r#"{"n": "300"}"#));
    assert!(!on_attrs(r#"{"n": ["300"]}"#, &[("n", "Number", "300")]));
    assert!(on_attrs(r#"{"n": ["300"]}"#, &[("n", "String", "300")]));
    // Custom number types are numbers.
    assert!(on_attrs(exact, &[("n", "Number.float", "300")]));
    // Numeric operators ignore strings and booleans.
    let gt = r#"{"n": [{"numeric": [">", 1]}]}"#;
    assert!(!on_body(gt, r#"{"n": "5"}"#));
    assert!(!on_body(gt, r#"{"n": true}"#));
    assert!(on_body(gt, r#"{"n": [0, "x", 5]}"#));
    // >= and < bounds.
    let half_open = r#"{"n": [{"numeric": [">=", 10, "<", 20]}]}"#;
    assert!(on_body(half_open, r#"{"n": 10}"#));
    assert!(on_body(half_open, r#"{"n": 19.99999}"#));
    assert!(!on_body(half_open, r#"{"n": 20}"#));
    assert!(!on_body(half_open, r#"{"n": 9.99999}"#));
    let at_most = r#"{"n": [{"numeric": ["<=", -5]}]}"#;
    assert!(on_body(at_most, r#"{"n": -5}"#));
    assert!(!on_body(at_most, r#"{"n": -4.99999}"#));
    // Huge numbers do not break anything.
    assert!(!on_body(exact, r#"{"n": 1e308}"#));
    assert!(on_body(gt, r#"{"n": 1e308}"#));
}

#[test]
fn string_arrays_match_any_element() {
    let policy = r#"{"tags": ["b", 2, true, null]}"#;
    assert!(on_attrs(policy, &[("tags", "String.Array", r#"["a", "b"]"#)]));
    assert!(on_attrs(policy, &[("tags", "String.Array", "[1, 2.0]")]));
    assert!(on_attrs(policy, &[("tags", "String.Array", "[false, true]")]));
    assert!(on_attrs(policy, &[("tags", "String.Array", "[null]")]));
    assert!(!on_attrs(policy, &[("tags", "String.Array", r#"["a", 3, false]"#)]));
    assert!(!on_attrs(policy, &[("tags", "String.Array", "[]")]));
    assert!(on_attrs(r#"{"tags": [{"exists": true}]}"#, &[("tags", "String.Array", "[]")]));
    assert!(on_attrs(
        r#"{"tags": [{"prefix": "ru"}]}"#,
        &[("tags", "String.Array", r#"["soccer", "rugby"]"#)]
    ));
    // A plain String attribute holding JSON text is one string, not an array.
    assert!(!on_attrs(r#"{"tags": ["b"]}"#, &[("tags", "String", r#"["b"]"#)]));
}

#[test]
fn binary_attributes_are_ignored() {
    let message = &[("blob", "Binary", "bytes")];
    assert!(!on_attrs(r#"{"blob": [{"exists": true}]}"#, message));
    assert!(on_attrs(r#"{"blob": [{"exists": false}]}"#, message));
    assert!(!on_attrs(r#"{"blob": ["bytes"]}"#, message));
    assert!(!on_attrs(r#"{"blob": [{"anything-but": "x"}]}"#, message));
}

#[test]
fn absent_keys_match_only_exists_false() {
    for pattern in [
        r#""x""#,
        "1",
        "null",
        "false",
        r#"{"prefix": ""}"#,
        r#"{"suffix": ""}"#,
        r#"{"anything-but": "x"}"#,
        r#"{"anything-but": {"prefix": "x"}}"#,
        r#"{"numeric": [">", 0]}"#,
        r#"{"equals-ignore-case": "x"}"#,
        r#"{"cidr": "0.0.0.0/0"}"#,
        r#"{"exists": true}"#,
    ] {
        let policy = format!(r#"{{"k": [{pattern}]}}"#);
        assert!(!on_attrs(&policy, &[("other", "String", "x")]), "{policy}");
        assert!(!on_body(&policy, r#"{"other": "x"}"#), "{policy}");
    }
}

#[test]
fn null_matching_in_the_body() {
    let null = r#"{"k": [null]}"#;
    assert!(on_body(null, r#"{"k": null}"#));
    assert!(!on_body(null, r#"{}"#));
    assert!(!on_body(null, r#"{"k": "null"}"#));
    assert!(!on_body(null, r#"{"k": ""}"#));
    // A null is present, and anything-but does not match it.
    assert!(on_body(r#"{"k": [{"exists": true}]}"#, r#"{"k": null}"#));
    assert!(!on_body(r#"{"k": [{"anything-but": "x"}]}"#, r#"{"k": null}"#));
    // Booleans.
    assert!(on_body(r#"{"k": [false]}"#, r#"{"k": false}"#));
    assert!(!on_body(r#"{"k": [false]}"#, r#"{"k": "false"}"#));
    assert!(!on_body(r#"{"k": [false]}"#, r#"{"k": 0}"#));
}

#[test]
fn nested_body_policies() {
    let policy = r#"{
        "order": {"status": ["paid"], "customer": {"tier": [{"anything-but": "free"}]}},
        "source": [{"prefix": "shop-"}]
    }"#;
    let cases = [
        (
            r#"{"source": "shop-1", "order": {"status": "paid", "customer": {"tier": "gold"}}}"#,
            true,
        ),
        (
            r#"{"source": "shop-1", "order": {"status": "paid", "customer": {"tier": "free"}}}"#,
            false,
        ),
        (r#"{"source": "shop-1", "order": {"status": "paid"}}"#, false),
        (r#"{"source": "web", "order": {"status": "paid", "customer": {"tier": "gold"}}}"#, false),
        (r#"{"source": "shop-1", "order": "paid"}"#, false),
        // Arrays anywhere on the path: any element may match.
        (
            r#"{"source": ["web", "shop-2"], "order": [{"status": "new"}, {"status": "paid", "customer": [{"tier": "gold"}]}]}"#,
            true,
        ),
        (r#"[1, 2]"#, false),
        (r#""text""#, false),
        ("not json", false),
    ];
    for (body, expected) in cases {
        assert_eq!(on_body(policy, body), expected, "{body}");
    }
    // Absent nested keys satisfy exists: false at any depth.
    let absent = r#"{"a": {"b": {"c": [{"exists": false}]}}}"#;
    assert!(on_body(absent, r#"{}"#));
    assert!(on_body(absent, r#"{"a": 1}"#));
    assert!(on_body(absent, r#"{"a": {"b": {}}}"#));
    assert!(!on_body(absent, r#"{"a": {"b": {"c": 0}}}"#));
    // An object or an empty array is not a scalar value.
    let exists = r#"{"a": [{"exists": true}]}"#;
    assert!(!on_body(exists, r#"{"a": {"b": 1}}"#));
    assert!(!on_body(exists, r#"{"a": []}"#));
    assert!(on_body(exists, r#"{"a": [[1]]}"#));
    // A dotted key is a key with a dot.
    assert!(on_body(r#"{"a.b": ["x"]}"#, r#"{"a.b": "x"}"#));
    assert!(!on_body(r#"{"a.b": ["x"]}"#, r#"{"a": {"b": "x"}}"#));
}

#[test]
fn scope_selects_what_is_matched() {
    let attributes = attrs(&[("color", "String", "red")]);
    let p =
        FilterPolicy::parse(r#"{"color": ["red"]}"#, FilterPolicyScope::MessageAttributes).unwrap();
    assert!(p.matches(r#"{"color": "blue"}"#, &attributes));
    let p = FilterPolicy::parse(r#"{"color": ["red"]}"#, FilterPolicyScope::MessageBody).unwrap();
    assert!(!p.matches(r#"{"color": "blue"}"#, &attributes));
    assert!(p.matches(r#"{"color": "red"}"#, &MessageAttributes::new()));
    assert_eq!(p.scope(), FilterPolicyScope::MessageBody);
    assert_eq!("MessageBody".parse::<FilterPolicyScope>().unwrap(), FilterPolicyScope::MessageBody);
    assert_eq!(FilterPolicyScope::default().to_string(), "MessageAttributes");
    assert!("Body".parse::<FilterPolicyScope>().is_err());
}

#[test]
fn the_empty_policy_matches_everything() {
    let p = FilterPolicy::parse("{}", FilterPolicyScope::MessageBody).unwrap();
    assert!(p.matches_body("not json"));
    assert!(p.matches_body("[]"));
    assert!(p.matches_attributes(&MessageAttributes::new()));
    assert_eq!(p.combinations(), 1);
}

#[test]
fn prefix_suffix_edges() {
    assert!(on_body(r#"{"k": [{"prefix": ""}]}"#, r#"{"k": "anything"}"#));
    assert!(on_body(r#"{"k": [{"prefix": "ab"}]}"#, r#"{"k": "ab"}"#));
    assert!(!on_body(r#"{"k": [{"prefix": "ab"}]}"#, r#"{"k": "a"}"#));
    assert!(!on_body(r#"{"k": [{"prefix": "Ab"}]}"#, r#"{"k": "abc"}"#));
    assert!(!on_body(r#"{"k": [{"prefix": "1"}]}"#, r#"{"k": 12}"#));
    assert!(on_body(r#"{"k": [{"suffix": "é"}]}"#, r#"{"k": "café"}"#));
    assert!(on_body(r#"{"k": [{"equals-ignore-case": "ÉCOLE"}]}"#, r#"{"k": "école"}"#));
    assert!(!on_body(r#"{"k": [{"equals-ignore-case": "1"}]}"#, r#"{"k": 1}"#));
}

#[test]
fn validation_messages_follow_sns() {
    use FilterPolicyScope::{MessageAttributes as A, MessageBody as B};
    let cases: &[(&str, FilterPolicyScope, &str)] = &[
        ("not json", A, "FilterPolicy: failed to parse JSON."),
        ("[]", A, "Filter policy must be a JSON object"),
        (r#"{"a": []}"#, A, "Empty arrays are not allowed"),
        (r#"{"a": "x"}"#, A, r#""a" must be an object or an array"#),
        (r#"{"a": 1}"#, B, r#""a" must be an object or an array"#),
        (
            r#"{"a": {"b": ["x"]}}"#,
            A,
            "Filter policy scope MessageAttributes does not support nested filter policy",
        ),
        (r#"{"a": {}}"#, B, r#""a" must not be an empty object"#),
        (r#"{"a": [["x"]]}"#, A, "Match value must be String, number, true, false, or null"),
        (
            r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#,
            A,
            "Only one key allowed in match expression",
        ),
        (r#"{"a": [{}]}"#, A, "Only one key allowed in match expression"),
        (r#"{"a": [{"prefix": 1}]}"#, A, "prefix match pattern must be a string"),
        (r#"{"a": [{"suffix": null}]}"#, A, "suffix match pattern must be a string"),
        (
            r#"{"a": [{"equals-ignore-case": ["x"]}]}"#,
            A,
            "equals-ignore-case match pattern must be a string",
        ),
        (r#"{"a": [{"exists": "yes"}]}"#, A, "exists match pattern must be either true or false."),
        (r#"{"a": [{"regex": "x"}]}"#, A, "Unrecognized match type regex"),
        (
            r#"{"a": [{"anything-but": {"wildcard": "x*"}}]}"#,
            A,
            "Unsupported anything-but pattern: wildcard",
        ),
        (r#"{"a": [{"anything-but": {"prefix": 1}}]}"#, A, "prefix match pattern must be a string"),
        (
            r#"{"a": [{"anything-but": [true]}]}"#,
            A,
            "Inside anything but list, start|null|boolean is not supported.",
        ),
        (r#"{"a": [{"anything-but": []}]}"#, A, "Empty arrays are not allowed"),
        (
            r#"{"a": [{"anything-but": null}]}"#,
            A,
            "Value of anything-but must be an array or single string/number value.",
        ),
        (
            r#"{"a": [{"anything-but": {"equals-ignore-case": [1]}}]}"#,
            A,
            "Inside anything-but/ignore-case list",
        ),
        (r#"{"a": [{"numeric": 5}]}"#, A, "Value of numeric must be an array."),
        (r#"{"a": [{"numeric": []}]}"#, A, "Invalid member in numeric match: ]"),
        (r#"{"a": [{"numeric": [5]}]}"#, A, "Invalid member in numeric match: 5"),
        (r#"{"a": [{"numeric": ["!=", 5]}]}"#, A, "Unrecognized numeric range operator: !="),
        (r#"{"a": [{"numeric": ["=", "5"]}]}"#, A, "Value of equals must be numeric"),
        (r#"{"a": [{"numeric": [">"]}]}"#, A, "Value of > must be numeric"),
        (r#"{"a": [{"numeric": ["=", 5, "<", 6]}]}"#, A, "Too many elements in numeric expression"),
        (r#"{"a": [{"numeric": ["<", 5, ">", 1]}]}"#, A, "Too many elements in numeric expression"),
        (r#"{"a": [{"numeric": [">", 5, 6, 7]}]}"#, A, "Bad value in numeric range: 6"),
        (r#"{"a": [{"numeric": [">", 5, ">", 7]}]}"#, A, "Bad numeric range operator: >"),
        (r#"{"a": [{"numeric": [">", 5, "<"]}]}"#, A, "Value of < must be numeric"),
        (r#"{"a": [{"numeric": [">", 5, "<", 5]}]}"#, A, "Bottom must be less than top"),
        (
            r#"{"a": [{"numeric": [">", 5, "<", 9, 1]}]}"#,
            A,
            "Too many terms in numeric range expression",
        ),
        (r#"{"a": [{"cidr": 10}]}"#, A, "prefix match pattern must be a string"),
        (r#"{"a": [{"cidr": "10.0.0.0"}]}"#, A, "Malformed CIDR, one '/' required"),
        (r#"{"a": [{"cidr": "10.0.0.0/8/8"}]}"#, A, "Malformed CIDR, one '/' required"),
        (r#"{"a": [{"cidr": "10.0.0.0/x"}]}"#, A, "Malformed CIDR, mask bits must be an integer"),
        (r#"{"a": [{"cidr": "10.0.0/8"}]}"#, A, "Nonstandard IP address: 10.0.0"),
        (r#"{"a": [{"cidr": "10.0.0.0/40"}]}"#, A, "Nonstandard IP address: 10.0.0.0"),
        (
            r#"{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}"#,
            A,
            "Filter policy can not have more than 5 keys",
        ),
    ];
    for (policy, scope, want) in cases {
        let err = error(policy, *scope);
        assert!(err.starts_with("Invalid parameter: "), "{policy}: {err}");
        assert!(err.contains(want), "{policy}: {err} (wanted {want})");
    }
}

#[test]
fn complexity_is_counted_as_sns_counts_it() {
    // The constraints page: 3 x 1 x 2 = 6.
    let flat = r#"{"key_a": ["value_one", "value_two", "value_three"], "key_b": ["value_one"], "key_c": ["value_one", "value_two"]}"#;
    assert_eq!(
        FilterPolicy::parse(flat, FilterPolicyScope::MessageAttributes).unwrap().combinations(),
        6
    );
    // Nested: four values at depth 3 and three at depth 2: 3 x 4 x 2 x 3 = 72.
    let nested = r#"{
        "key_a": {"key_b": {"key_c": ["value_one", "value_two", "value_three", "value_four"]}},
        "key_d": {"key_e": ["value_one", "value_two", "value_three"]}
    }"#;
    assert_eq!(
        FilterPolicy::parse(nested, FilterPolicyScope::MessageBody).unwrap().combinations(),
        72
    );
    // $or alternatives add up: 3 x (1 + 2) = 9.
    let or = r#"{"key_a": ["1", "2", "3"], "$or": [{"key_b": ["1"]}, {"key_c": ["1", "2"]}]}"#;
    assert_eq!(
        FilterPolicy::parse(or, FilterPolicyScope::MessageAttributes).unwrap().combinations(),
        9
    );

    // 150 is allowed, 151 is not.
    let values = |n: usize| (0..n).map(|i| format!("\"v{i}\"")).collect::<Vec<_>>().join(",");
    let at_limit = format!(r#"{{"a": [{}], "b": [{}]}}"#, values(15), values(10));
    assert!(FilterPolicy::parse(&at_limit, FilterPolicyScope::MessageAttributes).is_ok());
    let over = format!(r#"{{"a": [{}], "b": [{}], "c": [{}]}}"#, values(151), values(1), values(1));
    let err = error(&over, FilterPolicyScope::MessageAttributes);
    assert!(err.contains("Filter policy is too complex"), "{err}");
    // Depth counts: 76 values at depth 2 are 152 combinations.
    let deep = format!(r#"{{"a": {{"b": [{}]}}}}"#, values(76));
    assert!(error(&deep, FilterPolicyScope::MessageBody).contains("too complex"));
    // Huge products saturate instead of overflowing.
    let many =
        format!(r#"{{"a": [{0}], "b": [{0}], "c": [{0}], "d": [{0}], "e": [{0}]}}"#, values(5000));
    assert!(error(&many, FilterPolicyScope::MessageAttributes).contains("too complex"));
}

#[test]
fn keys_are_counted_per_alternative() {
    let five =
        r#"{"a": ["1"], "b": ["1"], "c": ["1"], "$or": [{"d": ["1"], "e": ["1"]}, {"f": ["1"]}]}"#;
    assert!(FilterPolicy::parse(five, FilterPolicyScope::MessageAttributes).is_ok());
    let six = r#"{"a": ["1"], "b": ["1"], "c": ["1"], "$or": [{"d": ["1"], "e": ["1"], "g": ["1"]}, {"f": ["1"]}]}"#;
    assert!(error(six, FilterPolicyScope::MessageAttributes).contains("more than 5 keys"));
    // Only top-level keys count in a nested policy.
    let nested =
        r#"{"a": {"b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"], "f": ["1"], "g": ["1"]}}"#;
    assert!(FilterPolicy::parse(nested, FilterPolicyScope::MessageBody).is_ok());
}

#[test]
fn hostile_inputs_are_refused_not_panicked_on() {
    // Deep nesting of $or (each level adds no depth to SNS's count).
    let mut policy = String::from(r#"{"x": ["1"]}"#);
    for _ in 0..40 {
        policy = format!(r#"{{"$or": [{policy}, {{"y": ["1"]}}]}}"#);
    }
    let err = error(&policy, FilterPolicyScope::MessageAttributes);
    assert!(err.contains("too deeply nested") || err.contains("too complex"), "{err}");
    // Deep JSON is refused by the parser.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(error(&deep, FilterPolicyScope::MessageBody).contains("failed to parse JSON"));
    // Oversized text.
    let big = format!(r#"{{"a": ["{}"]}}"#, "x".repeat(MAX_POLICY_BYTES));
    assert!(error(&big, FilterPolicyScope::MessageBody).contains("256 KB"));
    // A deeply nested body against a shallow policy.
    let p = FilterPolicy::parse(r#"{"a": [1]}"#, FilterPolicyScope::MessageBody).unwrap();
    let mut body = json!(1);
    for _ in 0..20_000 {
        body = Value::Array(vec![body]);
    }
    let mut object = Map::new();
    object.insert("a".into(), body);
    let whole = Value::Object(object);
    assert!(p.matches_body_value(&whole));
    // serde_json's own recursive drop of the deep value is not our concern here; leak it so
    // the test does not depend on the test thread's stack size.
    std::mem::forget(whole);
}

#[test]
fn from_value_matches_parse() {
    let v = json!({"a": ["x"]});
    let a = FilterPolicy::from_value(&v, FilterPolicyScope::MessageBody).unwrap();
    let b = FilterPolicy::parse(&v.to_string(), FilterPolicyScope::MessageBody).unwrap();
    assert_eq!(a, b);
}

/// The same cases in both scopes: a flat policy must judge attributes and the equivalent
/// body alike. Each row: policy, message as a body, and the verdict.
#[test]
fn table_of_cases_in_both_scopes() {
    let table: &[(&str, &str, bool)] = &[
        (r#"{"a": ["x"]}"#, r#"{"a": "x"}"#, true),
        (r#"{"a": ["x"]}"#, r#"{"a": "X"}"#, false),
        (r#"{"a": ["x", "y"]}"#, r#"{"a": ["z", "y"]}"#, true),
        (r#"{"a": ["x"], "b": ["y"]}"#, r#"{"a": "x", "b": "y"}"#, true),
        (r#"{"a": ["x"], "b": ["y"]}"#, r#"{"a": "x", "b": "z"}"#, false),
        (r#"{"a": ["x"], "b": ["y"]}"#, r#"{"a": "x"}"#, false),
        (r#"{"a": [1.5]}"#, r#"{"a": 1.50}"#, true),
        (r#"{"a": [0]}"#, r#"{"a": -0.0}"#, true),
        (r#"{"a": [-1]}"#, r#"{"a": 1}"#, false),
        (r#"{"a": [{"numeric": ["=", 0]}]}"#, r#"{"a": 0.000001}"#, true),
        (r#"{"a": [{"numeric": ["=", 0]}]}"#, r#"{"a": 0.00001}"#, false),
        (r#"{"a": [{"numeric": [">", -1000000000, "<", 1000000000]}]}"#, r#"{"a": 5}"#, true),
        (r#"{"a": [{"numeric": [">=", 1]}, "x"]}"#, r#"{"a": "x"}"#, true),
        (r#"{"a": [{"numeric": [">=", 1]}, "x"]}"#, r#"{"a": 0}"#, false),
        (r#"{"a": [{"prefix": "x"}, {"suffix": "z"}]}"#, r#"{"a": "yyz"}"#, true),
        (r#"{"a": [{"anything-but": ["x", 1]}]}"#, r#"{"a": 1}"#, false),
        (r#"{"a": [{"anything-but": ["x", 1]}]}"#, r#"{"a": 2}"#, true),
        (r#"{"a": [{"anything-but": ["x", 1]}]}"#, r#"{"a": "1"}"#, true),
        (r#"{"a": [{"anything-but": 1}]}"#, r#"{"a": ["x"]}"#, true),
        (r#"{"a": [{"anything-but": "x"}]}"#, r#"{"a": ["x", "x"]}"#, false),
        (r#"{"a": [{"exists": true}]}"#, r#"{"a": "x"}"#, true),
        (r#"{"a": [{"exists": true}]}"#, r#"{"b": "x"}"#, false),
        (r#"{"a": [{"exists": false}], "b": ["x"]}"#, r#"{"b": "x"}"#, true),
        (r#"{"a": [{"exists": false}], "b": ["x"]}"#, r#"{"a": 1, "b": "x"}"#, false),
        (r#"{"a": [{"cidr": "192.168.0.0/16"}]}"#, r#"{"a": ["10.0.0.1", "192.168.4.4"]}"#, true),
        (r#"{"a": [{"cidr": "192.168.1.1/16"}]}"#, r#"{"a": "192.168.200.1"}"#, true),
        (r#"{"a": [{"equals-ignore-case": "ΣΊΣΥΦΟΣ"}]}"#, r#"{"a": "σίσυφος"}"#, true),
        (r#"{"a": [true]}"#, r#"{"a": [false, true]}"#, true),
        (r#"{"a": [null]}"#, r#"{"a": ["x", null]}"#, true),
        (r#"{"$or": [{"a": ["x"]}, {"b": ["y"]}]}"#, r#"{"b": "y"}"#, true),
        (r#"{"$or": [{"a": ["x"]}, {"b": ["y"]}]}"#, r#"{"a": "y", "b": "x"}"#, false),
        (r#"{"$or": [{"a": ["x"]}, {"a": [{"exists": false}]}]}"#, r#"{}"#, true),
        (
            r#"{"c": ["1"], "$or": [{"a": ["x"]}, {"b": ["y"]}], "$or ": ["z"]}"#,
            r#"{"c": "1", "a": "x", "$or ": "z"}"#,
            true,
        ),
    ];
    for (policy, body, expected) in table {
        assert_eq!(on_body(policy, body), *expected, "body: {policy} on {body}");
        let message: serde_json::Map<String, Value> = serde_json::from_str(body).unwrap();
        let attributes: MessageAttributes = message
            .iter()
            .map(|(k, v)| {
                let attribute = match v {
                    Value::String(s) => MessageAttribute::string(s.clone()),
                    Value::Number(n) => MessageAttribute::number(n.to_string()).unwrap(),
                    other => MessageAttribute::string_array(if other.is_array() {
                        other.to_string()
                    } else {
                        format!("[{other}]")
                    })
                    .unwrap(),
                };
                (k.clone(), attribute)
            })
            .collect();
        let p = FilterPolicy::parse(policy, FilterPolicyScope::MessageAttributes).unwrap();
        assert_eq!(p.matches_attributes(&attributes), *expected, "attributes: {policy} on {body}");
    }
}

/// Random policies and messages from a small vocabulary: parsing and matching never panic,
/// every accepted policy is within SNS's limits, and a flat policy judges a message's
/// attributes as it judges the equivalent body.
#[test]
fn random_policies_never_panic_and_scopes_agree() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const KEYS: [&str; 4] = ["a", "b", "c", "$or"];
    const WORDS: [&str; 6] = ["x", "xy", "yx", "X", "10.0.0.1", ""];
    fn scalar(rng: &mut StdRng) -> Value {
        match rng.gen_range(0..6) {
            0 | 1 => json!(WORDS[rng.gen_range(0..WORDS.len())]),
            2 => json!(rng.gen_range(-3..4)),
            3 => json!(f64::from(rng.gen_range(-30..30)) / 10.0),
            4 => json!(rng.gen_bool(0.5)),
            _ => Value::Null,
        }
    }
    fn pattern(rng: &mut StdRng) -> Value {
        let word = json!(WORDS[rng.gen_range(0..WORDS.len())]);
        let n = rng.gen_range(-3..4);
        match rng.gen_range(0..14) {
            0..=3 => scalar(rng),
            4 => json!({"prefix": word}),
            5 => json!({"suffix": word}),
            6 => json!({"equals-ignore-case": word}),
            7 => json!({"anything-but": [word, n]}),
            8 => json!({"anything-but": {"prefix": word}}),
            9 => json!({"numeric": [">", n, "<=", n + rng.gen_range(-1..3)]}),
            10 => {
                let op = ["=", "<", ">=", "!"][rng.gen_range(0..4)];
                json!({"numeric": [op, n]})
            }
            11 => json!({"exists": rng.gen_bool(0.5)}),
            12 => {
                let net = ["10.0.0.0/8", "10.0.0.1", "::/0", "x/1"][rng.gen_range(0..4)];
                json!({ "cidr": net })
            }
            _ => json!({"bogus": 1}),
        }
    }
    fn policy(rng: &mut StdRng, depth: u32) -> Value {
        let mut object = Map::new();
        for _ in 0..rng.gen_range(0..4) {
            let key = KEYS[rng.gen_range(0..KEYS.len())];
            let value = match rng.gen_range(0..10) {
                0 if depth < 3 => json!([policy(rng, depth + 1), policy(rng, depth + 1)]),
                1 if depth < 3 => policy(rng, depth + 1),
                2 => json!([]),
                3 => json!("x"),
                _ => Value::Array((0..rng.gen_range(1..4)).map(|_| pattern(rng)).collect()),
            };
            object.insert(key.into(), value);
        }
        Value::Object(object)
    }

    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut accepted = 0;
    for _ in 0..4000 {
        let text = policy(&mut rng, 0).to_string();
        let mut body = Map::new();
        for key in ["a", "b", "c"] {
            match rng.gen_range(0..4) {
                0 => {}
                1 => {
                    body.insert(key.into(), scalar(&mut rng));
                }
                2 => {
                    let items = (0..rng.gen_range(1..3)).map(|_| scalar(&mut rng)).collect();
                    body.insert(key.into(), Value::Array(items));
                }
                _ => {
                    let word = WORDS[rng.gen_range(0..WORDS.len())];
                    body.insert(key.into(), json!(word));
                }
            }
        }
        let attributes: MessageAttributes = body
            .iter()
            .map(|(k, v)| {
                let attribute = match v {
                    Value::String(s) => MessageAttribute::string(s.clone()),
                    Value::Number(n) => MessageAttribute::number(n.to_string()).unwrap(),
                    Value::Array(_) => MessageAttribute::string_array(v.to_string()).unwrap(),
                    other => MessageAttribute::string_array(format!("[{other}]")).unwrap(),
                };
                (k.clone(), attribute)
            })
            .collect();
        let body = Value::Object(body);
        let on_attributes = FilterPolicy::parse(&text, FilterPolicyScope::MessageAttributes);
        let on_body = FilterPolicy::parse(&text, FilterPolicyScope::MessageBody);
        if let Ok(p) = &on_body {
            assert!(p.combinations() <= MAX_COMBINATIONS);
            let by_value = p.matches_body_value(&body);
            assert_eq!(by_value, p.matches_body(&body.to_string()), "{text}");
        }
        if let Ok(p) = &on_attributes {
            accepted += 1;
            let flat = on_body.as_ref().expect("a flat policy is valid in both scopes");
            assert_eq!(
                p.matches_attributes(&attributes),
                flat.matches_body_value(&body),
                "{text} on {body}"
            );
        }
    }
    assert!(accepted > 300, "only {accepted} random policies were valid");
}
