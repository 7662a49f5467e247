//! The web console through the real `baton up`: its page and assets, the diagrams of a
//! state machine and of an execution with the path it took, the states endpoint behind the
//! click-to-inspect panel, its errors, and the security rules in front of it.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use sha2::Digest as _;
use support::{temp_dir, Baton};

/// A GET: `(status, content type, body)`.
async fn get(b: &Baton, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut req = b.client.get(b.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("the server answers");
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ctype, r.text().await.unwrap())
}

async fn get_json(b: &Baton, path: &str) -> (u16, Value) {
    let (status, ctype, body) = get(b, path, &[]).await;
    assert!(ctype.starts_with("application/json"), "{path}: {ctype} {body}");
    (status, serde_json::from_str(&body).unwrap())
}

/// A path segment: the ARN percent-encoded as the page encodes it.
fn enc(arn: &str) -> String {
    percent_encoding::utf8_percent_encode(arn, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The `data-state` groups of an SVG and the class each has.
fn state_classes(svg: &str) -> Vec<(String, String)> {
    let re = regex::Regex::new(r#"<g class="state ([^"]*)" data-state="([^"]*)""#).unwrap();
    re.captures_iter(svg).map(|c| (c[2].to_owned(), c[1].to_owned())).collect()
}

fn class_of<'a>(classes: &'a [(String, String)], state: &str) -> &'a str {
    classes
        .iter()
        .find(|(n, _)| n == state)
        .map(|(_, c)| c.as_str())
        .unwrap_or_else(|| panic!("no state {state} in {classes:?}"))
}

/// Picks a branch on `$.size`, then ends: `Small` or `Large`, then `Done`.
fn choice_machine() -> Value {
    json!({
        "StartAt": "Measure",
        "States": {
            "Measure": {"Type": "Pass", "Parameters": {"size.$": "$.size", "seen": true}, "Next": "Pick"},
            "Pick": {"Type": "Choice", "Choices": [
                {"Variable": "$.size", "NumericGreaterThan": 10, "Next": "Large"}
            ], "Default": "Small"},
            "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.kind", "Next": "Done"},
            "Large": {"Type": "Pass", "Result": "large", "ResultPath": "$.kind", "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_with_their_types() {
    let data = temp_dir("console-assets");
    let b = Baton::start(&data, None, &[]);
    for path in ["/console", "/console/"] {
        let (status, ctype, body) = get(&b, path, &[]).await;
        assert_eq!((status, ctype.as_str()), (200, "text/html; charset=utf-8"), "{path}");
        assert!(body.contains("/console/assets/console.js"), "{body}");
        assert!(body.contains("/console/assets/console.css"), "{body}");
        assert!(body.contains(r#"content="x-api-key""#), "the key header is filled in: {body}");
    }
    let (status, ctype, js) = get(&b, "/console/assets/console.js", &[]).await;
    assert_eq!((status, ctype.as_str()), (200, "text/javascript; charset=utf-8"));
    assert!(js.contains("AWSStepFunctions."), "the script calls the Step Functions API");
    let (status, ctype, css) = get(&b, "/console/assets/console.css", &[]).await;
    assert_eq!((status, ctype.as_str()), (200, "text/css; charset=utf-8"));
    assert!(!css.is_empty());
    let (status, v) = get_json(&b, "/console/api/no-such-thing").await;
    assert_eq!((status, v["code"].as_str()), (404, Some("not_found")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagrams_and_states_show_the_path_an_execution_took() {
    let data = temp_dir("console-path");
    let toml = "[collections.notes]\nkey = \"slug\"\n";
    let b = Baton::start_with_config(&data, toml);
    let machine = b.machine("Sizer", choice_machine(), "STANDARD").await;

    // The machine's diagram: every state, nothing highlighted.
    let path = format!("/console/api/state-machines/{}/diagram.svg", enc(&machine));
    let (status, ctype, svg) = get(&b, &path, &[]).await;
    assert_eq!((status, ctype.as_str()), (200, "image/svg+xml"), "{svg}");
    assert!(svg.starts_with("<svg"), "{svg}");
    let classes = state_classes(&svg);
    let names: Vec<&str> = classes.iter().map(|(n, _)| n.as_str()).collect();
    for s in ["Measure", "Pick", "Small", "Large", "Done"] {
        assert!(names.contains(&s), "{s} in {names:?}");
    }
    assert!(classes.iter().all(|(_, c)| !c.contains("succeeded")), "{classes:?}");

    // The overview lists it, and the collection with its key member.
    let (status, overview) = get_json(&b, "/console/api/overview").await;
    assert_eq!(status, 200);
    assert_eq!(overview["state_machines"][0]["arn"], json!(machine), "{overview}");
    assert_eq!(overview["collections"], json!([{"name": "notes", "key": "slug"}]));
    assert_eq!(overview["api_key_header"], "x-api-key");

    // A run down the Large branch.
    let run = b
        .ok("StartExecution", json!({"stateMachineArn": machine, "input": "{\"size\": 42}"}))
        .await;
    let execution = run["executionArn"].as_str().unwrap().to_owned();
    let done = b.finished(&execution, Duration::from_secs(10)).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");

    let (status, v) =
        get_json(&b, &format!("/console/api/executions/{}/states", enc(&execution))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["state_machine_arn"].as_str()),
        (Some("SUCCEEDED"), Some(machine.as_str()))
    );
    let states = v["states"].as_array().unwrap();
    let taken: Vec<(&str, &str)> = states
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        taken,
        [
            ("Measure", "succeeded"),
            ("Pick", "succeeded"),
            ("Large", "succeeded"),
            ("Done", "succeeded")
        ],
        "the branch not taken is not there: {v}"
    );
    let large = &states[2];
    assert_eq!(large["type"], "Pass");
    assert_eq!(large["input"], json!({"size": 42, "seen": true}));
    assert_eq!(large["output"], json!({"size": 42, "seen": true, "kind": "large"}));
    assert_eq!(large["entries"], 1);

    let path = format!("/console/api/executions/{}/diagram.svg", enc(&execution));
    let (status, ctype, svg) = get(&b, &path, &[]).await;
    assert_eq!((status, ctype.as_str()), (200, "image/svg+xml"));
    let classes = state_classes(&svg);
    for s in ["Measure", "Pick", "Large", "Done"] {
        assert!(class_of(&classes, s).ends_with(" succeeded"), "{s}: {classes:?}");
    }
    let small = class_of(&classes, "Small");
    assert!(!small.contains("succeeded") && !small.contains("running"), "{small}");

    // A run down the other branch marks the other state.
    let run =
        b.ok("StartExecution", json!({"stateMachineArn": machine, "input": "{\"size\": 1}"})).await;
    let other = run["executionArn"].as_str().unwrap().to_owned();
    b.finished(&other, Duration::from_secs(10)).await;
    let path = format!("/console/api/executions/{}/diagram.svg", enc(&other));
    let classes = state_classes(&get(&b, &path, &[]).await.2);
    assert!(class_of(&classes, "Small").ends_with(" succeeded"), "{classes:?}");
    assert_eq!(class_of(&classes, "Large"), "pass", "{classes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caught_failure_and_a_stopped_execution_are_told_apart() {
    let data = temp_dir("console-fail");
    let b = Baton::start(&data, None, &[]);
    let definition = json!({
        "StartAt": "Fan",
        "States": {
            "Fan": {"Type": "Parallel", "Branches": [
                {"StartAt": "Fine", "States": {"Fine": {"Type": "Pass", "End": true}}},
                {"StartAt": "Broken", "States": {"Broken": {"Type": "Fail", "Error": "Oops", "Cause": "on purpose"}}}
            ], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}], "Next": "Unused"},
            "Recover": {"Type": "Wait", "Seconds": 300, "Next": "Unused"},
            "Unused": {"Type": "Succeed"}
        }
    });
    let machine = b.machine("Catcher", definition, "STANDARD").await;
    let run = b.ok("StartExecution", json!({"stateMachineArn": machine, "input": "{}"})).await;
    let execution = run["executionArn"].as_str().unwrap().to_owned();
    let states_path = format!("/console/api/executions/{}/states", enc(&execution));

    // Waiting in Recover: the Parallel was caught, the branch failed, Recover runs.
    let mut v = Value::Null;
    for _ in 0..200 {
        v = get_json(&b, &states_path).await.1;
        if v["states"].as_array().is_some_and(|s| s.iter().any(|s| s["name"] == "Recover")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let status = |v: &Value, name: &str| -> String {
        v["states"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == name))
            .map(|s| s["status"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| format!("absent from {v}"))
    };
    assert_eq!(status(&v, "Fan"), "caught", "{v}");
    assert_eq!(status(&v, "Fine"), "succeeded");
    assert_eq!(status(&v, "Broken"), "failed");
    assert_eq!(status(&v, "Recover"), "running");
    let fan = v["states"].as_array().unwrap().iter().find(|s| s["name"] == "Fan").unwrap();
    assert_eq!(fan["output"], json!({"Error": "Oops", "Cause": "on purpose"}), "{fan}");

    let path = format!("/console/api/executions/{}/diagram.svg", enc(&execution));
    let classes = state_classes(&get(&b, &path, &[]).await.2);
    assert!(class_of(&classes, "Fan").ends_with(" caught"), "{classes:?}");
    assert!(class_of(&classes, "Broken").ends_with(" failed"), "{classes:?}");
    assert!(class_of(&classes, "Recover").ends_with(" running"), "{classes:?}");
    assert_eq!(class_of(&classes, "Unused"), "succeed");

    b.ok("StopExecution", json!({"executionArn": execution})).await;
    b.finished(&execution, Duration::from_secs(10)).await;
    let v = get_json(&b, &states_path).await.1;
    assert_eq!(
        (v["status"].as_str(), status(&v, "Recover").as_str()),
        (Some("ABORTED"), "aborted")
    );

    // A redrive takes up the Wait again.
    b.ok("RedriveExecution", json!({"executionArn": execution})).await;
    let v = get_json(&b, &states_path).await.1;
    assert_eq!(
        (v["status"].as_str(), status(&v, "Recover").as_str()),
        (Some("RUNNING"), "running")
    );
    assert_eq!(status(&v, "Fan"), "caught", "{v}");
    b.ok("StopExecution", json!({"executionArn": execution})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_arns_are_404_and_malformed_ones_400() {
    let data = temp_dir("console-errors");
    let b = Baton::start(&data, None, &[]);
    let cases = [
        (
            "state-machines",
            "arn:aws:states:us-east-1:123456789012:stateMachine:Nope",
            "diagram.svg",
            404,
        ),
        (
            "state-machines",
            "arn:aws:states:us-east-1:123456789012:stateMachine:Nope:3",
            "diagram.svg",
            404,
        ),
        (
            "executions",
            "arn:aws:states:us-east-1:123456789012:execution:Nope:run-1",
            "diagram.svg",
            404,
        ),
        ("executions", "arn:aws:states:us-east-1:123456789012:execution:Nope:run-1", "states", 404),
        ("state-machines", "not-an-arn", "diagram.svg", 400),
        (
            "state-machines",
            "arn:aws:states:us-east-1:123456789012:execution:Nope:run-1",
            "diagram.svg",
            400,
        ),
        ("executions", "arn:aws:states:us-east-1:123456789012:stateMachine:Nope", "states", 400),
        ("executions", "arn:aws:states:::execution::", "states", 400),
    ];
    for (kind, arn, leaf, expected) in cases {
        let path = format!("/console/api/{kind}/{}/{leaf}", enc(arn));
        let (status, v) = get_json(&b, &path).await;
        assert_eq!(status, expected, "{path}: {v}");
        assert!(
            v["code"].is_string() && v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{v}"
        );
    }
    // A segment that is not UTF-8 once decoded.
    let (status, v) = get_json(&b, "/console/api/executions/%FF%FE/states").await;
    assert_eq!((status, v["code"].as_str()), (400, Some("invalid_arn")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_security_rules_the_console_api_needs_credentials() {
    let data = temp_dir("console-security");
    let key = "console-admin-7d2e";
    let hash: String = sha2::Sha256::digest(key).iter().map(|b| format!("{b:02x}")).collect();
    let security = json!({
        "api_key_header": "x-console-key",
        "api_keys": [{"name": "admin", "sha256": hash, "groups": ["admins"]}],
        "allow": [{"path": "/console", "method": "GET"}, {"path": "/console/assets/**", "method": "GET"}],
        "rules": [{"path": "/**", "methods": ["*"], "groups": ["admins"]}]
    });
    let env = [("BATON_SECURITY_RULES", security.to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let b = Baton::start(&data, None, &env);

    // The page loads (the rules allow it) and names the configured header.
    let (status, _, page) = get(&b, "/console", &[]).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"content="x-console-key""#), "{page}");

    for path in [
        "/console/api/overview",
        "/console/api/state-machines/arn%3Aaws%3Astates%3Aus-east-1%3A123456789012%3AstateMachine%3AX/diagram.svg",
        "/console/api/executions/arn%3Aaws%3Astates%3Aus-east-1%3A123456789012%3Aexecution%3AX%3Ay/states",
    ] {
        let (status, _, body) = get(&b, path, &[]).await;
        assert_eq!(status, 401, "{path}: {body}");
        let (status, _, body) = get(&b, path, &[("x-console-key", "wrong")]).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    let (status, _, body) = get(&b, "/console/api/overview", &[("x-console-key", key)]).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["api_key_header"], "x-console-key");
    let (status, _, _) = get(
        &b,
        "/console/api/executions/arn%3Aaws%3Astates%3Aus-east-1%3A123456789012%3Aexecution%3AX%3Ay/states",
        &[("x-console-key", key)],
    )
    .await;
    assert_eq!(status, 404, "past the rules, an unknown execution");
}
