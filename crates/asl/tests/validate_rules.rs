//! Hand-written checks of validation rules the conformance corpus does not exercise.

use asl::validate::{
    invalid_definition_cause, validate, validate_response, validate_text, MachineType,
};
use serde_json::{json, Value};

/// The diagnostics of a Standard machine, as `code: message at location` lines.
fn problems(definition: Value) -> Vec<String> {
    problems_of(definition, MachineType::Standard)
}

fn problems_of(definition: Value, kind: MachineType) -> Vec<String> {
    validate(&definition, kind)
        .iter()
        .map(|d| format!("{}: {} at {}", d.code, d.message, d.location))
        .collect()
}

/// A machine with one state `A` built from `state`.
fn one(state: Value) -> Value {
    json!({"StartAt": "A", "States": {"A": state}})
}

fn jsonata(state: Value) -> Value {
    json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": state}})
}

#[test]
fn a_valid_machine_has_no_diagnostic() {
    let definition = json!({
        "Comment": "all kinds",
        "StartAt": "P",
        "TimeoutSeconds": 0,
        "Version": "1.0",
        "States": {
            "P": {"Type": "Pass", "Parameters": {"a.$": "$.a", "b.$": "States.Format('{}\\'', $.b)"}, "ResultPath": null, "InputPath": null, "Next": "T"},
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 10, "HeartbeatSeconds": 5,
                  "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 1.5, "MaxDelaySeconds": 10, "JitterStrategy": "FULL"}, {"ErrorEquals": ["States.ALL"]}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "F"}], "Next": "C"},
            "C": {"Type": "Choice", "Choices": [
                {"Not": {"Variable": "$.x", "IsPresent": true}, "Next": "W"},
                {"And": [{"Variable": "$.t", "TimestampLessThan": "2016-03-14T01:59:00+01:00"}, {"Variable": "$.n", "NumericEqualsPath": "$.m"}], "Next": "M"}
            ], "Default": "S"},
            "W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "M"},
            "M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "Label": "ok-label_1", "Next": "Par"},
            "Par": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}], "End": true},
            "S": {"Type": "Succeed"},
            "F": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "States.Format('{}', $.error.Cause)"}
        }
    });
    assert_eq!(problems(definition), Vec::<String>::new());
}

#[test]
fn fields_a_state_type_does_not_support() {
    assert_eq!(
        problems(one(json!({"Type": "Pass", "End": true, "Catch": [], "Foo": 1}))),
        [
            "SCHEMA_VALIDATION_FAILED: Field 'Catch' is not supported at /States/A",
            "SCHEMA_VALIDATION_FAILED: Field 'Foo' is not supported at /States/A",
        ]
    );
    assert_eq!(
        problems(json!({"StartAt": "A", "Coment": "x", "States": {"A": {"Type": "Succeed"}}})),
        ["SCHEMA_VALIDATION_FAILED: Field 'Coment' is not supported at /"]
    );
}

#[test]
fn fields_of_the_other_query_language() {
    assert_eq!(
        problems(one(json!({"Type": "Pass", "Output": {}, "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the 'JSONata' QueryLanguage at /States/A"]
    );
    assert_eq!(
        problems(jsonata(json!({"Type": "Pass", "InputPath": "$", "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: The QueryLanguage is set to 'JSONata', but field 'InputPath' is only supported for the 'JSONPath' QueryLanguage at /States/A"]
    );
    // States inside a Map inherit the machine's language, not the Map's.
    let definition = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "QueryLanguage": "JSONata", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": 1, "End": true}}}}}});
    assert_eq!(
        problems(definition),
        ["SCHEMA_VALIDATION_FAILED: The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the 'JSONata' QueryLanguage at /States/M/ItemProcessor/States/P"]
    );
    let definition = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}});
    assert_eq!(
        problems(definition),
        ["SCHEMA_VALIDATION_FAILED: Field 'QueryLanguage' is not supported at /States/M/ItemProcessor"]
    );
    assert_eq!(
        problems(one(json!({"Type": "Pass", "QueryLanguage": "JSONPATH", "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: Value should be one of the following: [JSONPath, JSONata] at /States/A/QueryLanguage"]
    );
}

#[test]
fn next_and_end() {
    assert_eq!(
        problems(one(json!({"Type": "Pass"}))),
        ["SCHEMA_VALIDATION_FAILED: This object should have only one of the following fields: [Next, End] at /States/A"]
    );
    assert_eq!(
        problems(one(json!({"Type": "Pass", "Next": "A", "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: There should only be one of the following fields: [Next, End] at /States/A"]
    );
    assert_eq!(
        problems(json!({"StartAt": "A", "States": {"A": {"Next": "A"}}})),
        ["SCHEMA_VALIDATION_FAILED: These fields are required: [Type] at /States/A"]
    );
}

#[test]
fn transitions() {
    let definition = json!({"StartAt": "pass1", "States": {
        "pass1": {"Type": "Pass", "Next": "pass3"},
        "pass2": {"Type": "Pass", "End": true}}});
    assert_eq!(
        invalid_definition_cause(&validate(&definition, MachineType::Standard)),
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: pass3 at /States/pass1/Next, MISSING_TRANSITION_TARGET: State \"pass2\" is not reachable. at /States/pass2'"
    );
    let looping = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}});
    assert_eq!(
        invalid_definition_cause(&validate(&looping, MachineType::Standard)),
        "Invalid State Machine Definition: 'MISSING_END_STATE: Workflow has no terminal state at null'"
    );
    let unreachable_end = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"},
        "C": {"Type": "Pass", "End": true}}});
    assert_eq!(
        problems(unreachable_end),
        ["MISSING_TRANSITION_TARGET: State \"C\" is not reachable. at /States/C"]
    );
    let choice = json!({"StartAt": "C", "States": {"C": {"Type": "Choice",
        "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "S"}], "Default": "Nowhere"},
        "S": {"Type": "Succeed"}}});
    assert_eq!(
        problems(choice),
        ["MISSING_TRANSITION_TARGET: Missing 'Default' target: Nowhere at /States/C/Default"]
    );
    assert_eq!(
        problems(json!({"StartAt": "X", "States": {"A": {"Type": "Succeed"}}})),
        ["MISSING_TRANSITION_TARGET: Missing 'StartAt' target: X at /StartAt"]
    );
}

#[test]
fn duplicate_state_names() {
    let definition = json!({"StartAt": "A", "States": {"A": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}},
        {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}]}}});
    assert_eq!(
        problems(definition),
        ["DUPLICATE_STATE_NAME: Duplicate State name: B at /States/A/Branches[1]/States/B"]
    );
    // A distributed Map's processor is a state machine of its own.
    let definition = json!({"StartAt": "A", "States": {"A": {"Type": "Map", "End": true, "ItemProcessor": {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}}}});
    assert_eq!(problems(definition), Vec::<String>::new());
}

#[test]
fn wait() {
    assert_eq!(
        problems(one(json!({"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: There should only be one of the following fields: [SecondsPath, Seconds, TimestampPath, Timestamp] at /States/A"]
    );
    assert_eq!(
        problems(one(json!({"Type": "Wait", "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: This object should have only one of the following fields: [SecondsPath, Seconds, TimestampPath, Timestamp] at /States/A"]
    );
    assert_eq!(
        problems(one(json!({"Type": "Wait", "Seconds": -1, "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: Minimum value is 0 at /States/A/Seconds"]
    );
    assert_eq!(
        problems(jsonata(
            json!({"Type": "Wait", "Timestamp": "{% $states.input.t %}", "End": true})
        )),
        Vec::<String>::new()
    );
    assert_eq!(
        problems(one(json!({"Type": "Wait", "Timestamp": "{% $states.input.t %}", "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: String does not match RFC3339 timestamp at /States/A/Timestamp"]
    );
}

#[test]
fn task() {
    assert_eq!(
        problems(one(json!({"Type": "Task", "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: These fields are required: [Resource] at /States/A"]
    );
    assert_eq!(
        problems(one(json!({"Type": "Task", "Resource": "lambda", "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: Value is not a valid resource ARN at /States/A/Resource"]
    );
    let lambda = "arn:aws:states:::lambda:invoke";
    assert_eq!(
        problems(one(
            json!({"Type": "Task", "Resource": lambda, "TimeoutSeconds": "5", "End": true})
        )),
        ["SCHEMA_VALIDATION_FAILED: Expected value of type Integer at /States/A/TimeoutSeconds"]
    );
    assert_eq!(
        problems(jsonata(
            json!({"Type": "Task", "Resource": lambda, "TimeoutSeconds": "{% 5 %}", "End": true})
        )),
        Vec::<String>::new()
    );
    assert_eq!(
        problems(one(
            json!({"Type": "Task", "Resource": lambda, "TimeoutSeconds": 0, "End": true})
        )),
        ["SCHEMA_VALIDATION_FAILED: Minimum value is 1 at /States/A/TimeoutSeconds"]
    );
    assert_eq!(
        problems(one(json!({"Type": "Task", "Resource": lambda, "TimeoutSeconds": 5, "HeartbeatSeconds": 5, "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: HeartbeatSeconds must be smaller than TimeoutSeconds at /States/A/HeartbeatSeconds"]
    );
    assert_eq!(
        problems(one(json!({"Type": "Task", "Resource": lambda, "TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t", "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: There should only be one of the following fields: [TimeoutSeconds, TimeoutSecondsPath] at /States/A"]
    );
    assert_eq!(
        problems(one(
            json!({"Type": "Task", "Resource": lambda, "Credentials": {"RoleArn.$": "$.role"}, "End": true})
        )),
        Vec::<String>::new()
    );
}

#[test]
fn express_integrations() {
    let task = |resource: &str| one(json!({"Type": "Task", "Resource": resource, "End": true}));
    assert_eq!(
        problems_of(task("arn:aws:states:::states:startExecution.sync:2"), MachineType::Express),
        ["SCHEMA_VALIDATION_FAILED: Express state machine does not support '.sync' service integration at /States/A/Resource"]
    );
    assert_eq!(
        problems_of(task("arn:aws:states:us-east-1:123456789012:activity:a"), MachineType::Express),
        ["SCHEMA_VALIDATION_FAILED: Express state machine does not support Activity ARN at /States/A/Resource"]
    );
    assert_eq!(
        problems_of(task("arn:aws:states:::states:startExecution.sync:2"), MachineType::Standard),
        Vec::<String>::new()
    );
}

#[test]
fn retry_and_catch() {
    let task = |retry: Value, catch: Value| {
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Retry": retry, "Catch": catch, "End": true},
            "B": {"Type": "Succeed"}}})
    };
    assert_eq!(
        problems(task(
            json!([{"ErrorEquals": ["States.ALL", "X"]}, {"ErrorEquals": []}]),
            json!([{"ErrorEquals": ["X"], "Next": "B"}])
        )),
        [
            "SCHEMA_VALIDATION_FAILED: Error name 'States.ALL' must appear alone in the ErrorEquals array at /States/A/Retry[0]/ErrorEquals",
            "SCHEMA_VALIDATION_FAILED: Value cannot be empty at /States/A/Retry[1]/ErrorEquals",
        ]
    );
    assert_eq!(
        problems(task(
            json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]),
            json!([{"ErrorEquals": ["X"], "Next": "B"}])
        )),
        ["SCHEMA_VALIDATION_FAILED: A Retrier with 'States.ALL' must be the last Retrier at /States/A/Retry[0]"]
    );
    assert_eq!(
        problems(task(
            json!([{"ErrorEquals": ["X"], "BackoffRate": 0.5, "MaxDelaySeconds": 31622401, "JitterStrategy": "SOME"}]),
            json!([{"ErrorEquals": ["X"], "Next": "B"}])
        )),
        [
            "SCHEMA_VALIDATION_FAILED: Maximum value is 31622400 at /States/A/Retry[0]/MaxDelaySeconds",
            "SCHEMA_VALIDATION_FAILED: Minimum value is 1.0 at /States/A/Retry[0]/BackoffRate",
            "SCHEMA_VALIDATION_FAILED: Value should be one of the following: [FULL, NONE] at /States/A/Retry[0]/JitterStrategy",
        ]
    );
    assert_eq!(
        problems(task(json!([]), json!([{"ErrorEquals": ["X"]}]))),
        ["SCHEMA_VALIDATION_FAILED: These fields are required: [Next] at /States/A/Catch[0]"]
    );
}

#[test]
fn choice_rules() {
    let choice = |rules: Value| json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": rules, "Default": "S"}, "S": {"Type": "Succeed"}}});
    assert_eq!(
        problems(choice(json!([]))),
        ["SCHEMA_VALIDATION_FAILED: Value cannot be empty at /States/C/Choices"]
    );
    assert_eq!(
        problems(choice(json!([{"Variable": "$.a", "IsNull": true}]))),
        ["SCHEMA_VALIDATION_FAILED: These fields are required: [Next] at /States/C/Choices[0]"]
    );
    assert_eq!(
        problems(choice(
            json!([{"Not": {"Variable": "$.a", "IsNull": true, "Next": "S"}, "Next": "S"}])
        )),
        ["SCHEMA_VALIDATION_FAILED: Field 'Next' is not supported at /States/C/Choices[0]/Not"]
    );
    assert_eq!(
        problems(choice(
            json!([{"Variable": "$.a", "IsNull": true, "IsString": true, "Next": "S"}])
        ))
        .len(),
        1
    );
    assert_eq!(
        problems(choice(json!([{"Variable": "a", "IsNull": true, "Next": "S"}]))),
        ["SCHEMA_VALIDATION_FAILED: Value must be a valid JSONPath. at /States/C/Choices[0]/Variable"]
    );
    assert_eq!(
        problems(choice(json!([{"Variable": "$.a", "NumericEquals": "1", "Next": "S"}]))),
        ["SCHEMA_VALIDATION_FAILED: Expected value of type Number at /States/C/Choices[0]/NumericEquals"]
    );
    assert_eq!(
        problems(choice(json!([{"Variable": "$.a", "TimestampEquals": "2016-01-01", "Next": "S"}]))),
        ["SCHEMA_VALIDATION_FAILED: String does not match RFC3339 timestamp at /States/C/Choices[0]/TimestampEquals"]
    );
    assert_eq!(
        problems(choice(json!([{"Condition": "{% true %}", "Next": "S"}]))),
        ["SCHEMA_VALIDATION_FAILED: The QueryLanguage is set to 'JSONPath', but field 'Condition' is only supported for the 'JSONata' QueryLanguage at /States/C/Choices[0]",
         "SCHEMA_VALIDATION_FAILED: The object must have only one of the following fields, [And, Or, Not, Variable, Condition] at /States/C/Choices[0]"]
    );
    let jsonata_choice = |rule: Value| json!({"QueryLanguage": "JSONata", "StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [rule], "Default": "S"}, "S": {"Type": "Succeed"}}});
    assert_eq!(
        problems(jsonata_choice(json!({"Condition": "{% $states.input.a", "Next": "S"}))),
        ["SCHEMA_VALIDATION_FAILED: JSONata string must start with {% and end with %} at /States/C/Choices[0]/Condition"]
    );
    assert_eq!(
        problems(jsonata_choice(json!({"Variable": "$.a", "IsNull": true, "Next": "S"}))),
        [
            "SCHEMA_VALIDATION_FAILED: The QueryLanguage is set to 'JSONata', but field 'Variable' is only supported for the 'JSONPath' QueryLanguage at /States/C/Choices[0]",
            "SCHEMA_VALIDATION_FAILED: The QueryLanguage is set to 'JSONata', but field 'IsNull' is only supported for the 'JSONPath' QueryLanguage at /States/C/Choices[0]",
            "SCHEMA_VALIDATION_FAILED: These fields are required: [Condition] at /States/C/Choices[0]",
        ]
    );
}

#[test]
fn fail() {
    assert_eq!(
        problems(one(json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}))),
        ["SCHEMA_VALIDATION_FAILED: There should only be one of the following fields: [Error, ErrorPath] at /States/A"]
    );
    assert_eq!(
        problems(one(json!({"Type": "Fail", "Error": 1}))),
        ["SCHEMA_VALIDATION_FAILED: Expected value of type String at /States/A/Error"]
    );
}

#[test]
fn map() {
    let map = |fields: Value| {
        let mut state = json!({"Type": "Map", "End": true});
        for (key, value) in fields.as_object().into_iter().flatten() {
            state[key] = value.clone();
        }
        one(state)
    };
    let processor = |config: Value| json!({"ProcessorConfig": config, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    assert_eq!(
        problems(map(json!({}))),
        ["SCHEMA_VALIDATION_FAILED: This object should have only one of the following fields: [ItemProcessor, Iterator] at /States/A"]
    );
    assert_eq!(
        problems(map(json!({"ItemProcessor": processor(json!({"Mode": "DISTRIBUTED"}))}))),
        ["SCHEMA_VALIDATION_FAILED: These fields are required: [ExecutionType] at /States/A/ItemProcessor/ProcessorConfig"]
    );
    assert_eq!(
        problems(map(json!({"ItemProcessor": processor(json!({"Mode": "INLINE", "ExecutionType": "STANDARD"}))}))),
        ["SCHEMA_VALIDATION_FAILED: Field 'ExecutionType' is not supported at /States/A/ItemProcessor/ProcessorConfig"]
    );
    assert_eq!(
        problems(map(json!({"ItemProcessor": processor(json!({})), "ToleratedFailurePercentage": 101, "MaxConcurrency": -1}))),
        [
            "SCHEMA_VALIDATION_FAILED: Minimum value is 0 at /States/A/MaxConcurrency",
            "SCHEMA_VALIDATION_FAILED: Maximum value is 100 at /States/A/ToleratedFailurePercentage",
        ]
    );
    assert_eq!(
        problems(map(
            json!({"ItemProcessor": processor(json!({})), "ItemBatcher": {"MaxItems": 1}})
        )),
        ["SCHEMA_VALIDATION_FAILED: Field 'MaxItems' is not supported at /States/A/ItemBatcher"]
    );
}

#[test]
fn variables() {
    assert_eq!(
        problems(one(json!({"Type": "Pass", "Assign": {"states": 1, "a-b": 2, "ok.$": "$.x", "_x1": 3}, "End": true}))),
        [
            "RESERVED_VARIABLE_NAME: Cannot assign to reserved variable '$states'. at /States/A/Assign",
            "INVALID_VARIABLE_NAME: Invalid variable name 'a-b': the variable name contains invalid characters. at /States/A/Assign",
        ]
    );
}

#[test]
fn payload_templates() {
    assert_eq!(
        problems(one(json!({"Type": "Pass", "Parameters": {"a": {"b.$": "States.Format('\\\"')"}}, "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: The value for the field 'b.$' must be a valid JSONPath or a valid intrinsic function call at /States/A/Parameters/a"]
    );
    assert_eq!(
        problems(one(json!({"Type": "Pass", "Parameters": {"b.$": 1}, "End": true}))),
        ["SCHEMA_VALIDATION_FAILED: The value for the field 'b.$' must be a STRING that contains a JSONPath but was an INTEGER at /States/A/Parameters"]
    );
    // A Pass state's Result is static: its `.$` keys are not evaluated.
    assert_eq!(
        problems(one(json!({"Type": "Pass", "Result": {"b.$": "nonsense"}, "End": true}))),
        Vec::<String>::new()
    );
}

#[test]
fn label_cause_names_the_definition_as_python_prints_it() {
    let definition = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "Label": "a\"é",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}});
    let cause = invalid_definition_cause(&validate(&definition, MachineType::Standard));
    assert_eq!(
        cause,
        r#"Error=ValueError Args=['Label contains invalid character: \'"\''] in definition '{"StartAt": "M", "States": {"M": {"Type": "Map", "Label": "a\"\u00e9", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}'."#
    );
}

#[test]
fn validate_response_for_text_that_is_no_definition() {
    assert_eq!(
        validate_response("[1]", MachineType::Standard),
        json!({"result": "FAIL", "truncated": false, "diagnostics": [
            {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": "Definition must be a valid JSON object"}]})
    );
    let diagnostics = validate_text("{\"StartAt\": ", MachineType::Standard);
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].code, "INVALID_JSON_DESCRIPTION");
    assert_eq!(
        validate_response(
            r#"{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}"#,
            MachineType::Express
        ),
        json!({"result": "OK", "diagnostics": [], "truncated": false})
    );
}

#[test]
fn version_and_top_level() {
    assert_eq!(
        problems(json!({"Version": "2.0", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}})),
        ["SCHEMA_VALIDATION_FAILED: Value should be one of the following: [1.0] at /Version"]
    );
    assert_eq!(
        problems(json!({"StartAt": "A", "States": {"A": {"Type": "Sleep"}}})),
        ["SCHEMA_VALIDATION_FAILED: Value should be one of the following: [Task, Pass, Choice, Wait, Succeed, Fail, Parallel, Map] at /States/A/Type"]
    );
}

#[test]
fn a_definition_must_be_an_object() {
    assert_eq!(
        problems(json!("x")),
        ["SCHEMA_VALIDATION_FAILED: Definition must be a valid JSON object at "]
    );
    assert_eq!(
        invalid_definition_cause(&validate(&json!([]), MachineType::Standard)),
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Definition must be a valid JSON object at null'"
    );
}

#[test]
fn duplicate_states_in_the_text() {
    let text =
        r#"{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "A": {"Type": "Succeed"}}}"#;
    assert_eq!(
        validate_response(text, MachineType::Standard),
        json!({"result": "FAIL", "truncated": false, "diagnostics": [{"severity": "ERROR",
            "code": "DUPLICATE_STATE_NAME", "message": "Duplicate State name: A", "location": "/States/A"}]})
    );
}
