//! The Step Functions API of `baton up` over HTTP, for what the SDK contract tests do not
//! reach: versions and aliases, nested executions, callbacks and composite fan-out.

mod support;

use std::time::Duration;

use axum::routing::post;
use serde_json::{json, Value};
use support::{temp_dir, Baton};

const ROLE: &str = "arn:aws:iam::123456789012:role/test";

fn pass(result: &str) -> String {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "End": true}}})
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_aliases_route_executions() {
    let data = temp_dir("versions");
    let node = Baton::start(&data, None, &[]);
    let created = node
        .ok(
            "CreateStateMachine",
            json!({"name": "greeter", "roleArn": ROLE, "definition": pass("v1"),
                   "publish": true, "versionDescription": "first"}),
        )
        .await;
    let machine = created["stateMachineArn"].as_str().unwrap().to_owned();
    let v1 = created["stateMachineVersionArn"].as_str().unwrap().to_owned();
    assert_eq!(v1, format!("{machine}:1"));

    let updated = node
        .ok(
            "UpdateStateMachine",
            json!({"stateMachineArn": machine, "definition": pass("v2"), "publish": true}),
        )
        .await;
    let v2 = updated["stateMachineVersionArn"].as_str().unwrap().to_owned();
    assert_eq!(v2, format!("{machine}:2"));
    // Publishing an unchanged revision returns the newest version again.
    let again = node.ok("PublishStateMachineVersion", json!({"stateMachineArn": machine})).await;
    assert_eq!(again["stateMachineVersionArn"], json!(v2));
    let (status, conflict) = node
        .call(
            "PublishStateMachineVersion",
            json!({"stateMachineArn": machine, "revisionId": "not-the-current-one"}),
        )
        .await;
    assert_eq!((status, conflict["__type"].as_str()), (400, Some("ConflictException")));

    let listed = node.ok("ListStateMachineVersions", json!({"stateMachineArn": machine})).await;
    let arns: Vec<&str> = listed["stateMachineVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["stateMachineVersionArn"].as_str().unwrap())
        .collect();
    assert_eq!(arns, [v2.as_str(), v1.as_str()]);
    let d1 = node.ok("DescribeStateMachine", json!({"stateMachineArn": v1})).await;
    assert_eq!(
        (d1["stateMachineArn"].as_str(), d1["description"].as_str()),
        (Some(v1.as_str()), Some("first"))
    );
    assert_eq!(d1["definition"], pass("v1"));

    // A version runs its own definition; an alias routes to its version.
    let run = |arn: String, name: &'static str| {
        let node = &node;
        async move {
            let v = node.ok("StartExecution", json!({"stateMachineArn": arn, "name": name})).await;
            node.finished(v["executionArn"].as_str().unwrap(), Duration::from_secs(10)).await
        }
    };
    let d = run(v1.clone(), "on-v1").await;
    assert_eq!(d["output"], "\"v1\"");
    assert_eq!(d["stateMachineVersionArn"], json!(v1));
    let alias = node
        .ok(
            "CreateStateMachineAlias",
            json!({"name": "prod", "routingConfiguration": [
                {"stateMachineVersionArn": v1, "weight": 100}]}),
        )
        .await;
    let alias_arn = alias["stateMachineAliasArn"].as_str().unwrap().to_owned();
    assert_eq!(alias_arn, format!("{machine}:prod"));
    let d = run(alias_arn.clone(), "on-prod").await;
    assert_eq!(
        (d["output"].as_str(), d["stateMachineAliasArn"].as_str()),
        (Some("\"v1\""), Some(alias_arn.as_str()))
    );
    node.ok(
        "UpdateStateMachineAlias",
        json!({"stateMachineAliasArn": alias_arn, "routingConfiguration": [
            {"stateMachineVersionArn": v2, "weight": 100}]}),
    )
    .await;
    assert_eq!(run(alias_arn.clone(), "on-prod-2").await["output"], "\"v2\"");
    let described =
        node.ok("DescribeStateMachineAlias", json!({"stateMachineAliasArn": alias_arn})).await;
    assert_eq!(described["routingConfiguration"][0]["stateMachineVersionArn"], json!(v2));
    let (status, busy) =
        node.call("DeleteStateMachineVersion", json!({"stateMachineVersionArn": v2})).await;
    assert_eq!((status, busy["__type"].as_str()), (400, Some("ConflictException")));
    let (status, bad) = node
        .call(
            "CreateStateMachineAlias",
            json!({"name": "half", "routingConfiguration": [
                {"stateMachineVersionArn": v1, "weight": 50}]}),
        )
        .await;
    assert_eq!((status, bad["__type"].as_str()), (400, Some("ValidationException")));
    let aliases = node.ok("ListStateMachineAliases", json!({"stateMachineArn": machine})).await;
    assert_eq!(aliases["stateMachineAliases"].as_array().unwrap().len(), 1);
    node.ok("DeleteStateMachineAlias", json!({"stateMachineAliasArn": alias_arn})).await;
    node.ok("DeleteStateMachineVersion", json!({"stateMachineVersionArn": v2})).await;
    let (status, gone) = node.call("DescribeStateMachine", json!({"stateMachineArn": v2})).await;
    assert_eq!((status, gone["__type"].as_str()), (400, Some("StateMachineDoesNotExist")));
    std::fs::remove_dir_all(&data).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_executions_and_callbacks() {
    let data = temp_dir("nested");
    let node = Baton::start(&data, None, &[]);
    let child = node
        .machine(
            "child",
            json!({"StartAt": "Double", "States": {"Double": {"Type": "Pass",
                "Parameters": {"twice.$": "States.MathAdd($.n, $.n)"}, "End": true}}}),
            "STANDARD",
        )
        .await;
    let parent = node
        .machine(
            "parent",
            json!({"StartAt": "Run", "States": {
                "Run": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                        "Parameters": {"StateMachineArn": child, "Input": {"n.$": "$.n"}},
                        "OutputPath": "$.Output", "Next": "Wait for approval"},
                "Wait for approval": {"Type": "Task",
                        "Resource": "arn:aws:states:us-east-1:123456789012:activity:approve.waitForTaskToken",
                        "Next": "Done"},
                "Done": {"Type": "Pass", "End": true}}}),
            "STANDARD",
        )
        .await;
    let _ = parent;
    // `.waitForTaskToken` on an activity is not a resource AWS has: only the child part
    // is checked here; callbacks are checked with an activity below.
    let simple = node
        .machine(
            "parent-simple",
            json!({"StartAt": "Run", "States": {
                "Run": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                        "Parameters": {"StateMachineArn": child, "Input": {"n.$": "$.n"}},
                        "OutputPath": "$.Output", "End": true}}}),
            "STANDARD",
        )
        .await;
    let v =
        node.ok("StartExecution", json!({"stateMachineArn": simple, "input": "{\"n\": 21}"})).await;
    let d = node.finished(v["executionArn"].as_str().unwrap(), Duration::from_secs(10)).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    assert_eq!(d["output"], "{\"twice\":42}");
    let runs = node.ok("ListExecutions", json!({"stateMachineArn": child})).await;
    assert_eq!(runs["executions"].as_array().unwrap().len(), 1, "the child ran once");

    // What StartExecution refuses, the task fails with, as AWS names it: a bad name, input
    // that is not JSON, a name taken with other input.
    let cases = [
        (json!({"Name": "has space"}), "StepFunctions.InvalidNameException"),
        (json!({"Input": "not json"}), "StepFunctions.InvalidExecutionInputException"),
        (json!({"Name": "once", "Input": {"n": 1}}), ""),
        (
            json!({"Name": "once", "Input": {"n": 2}}),
            "StepFunctions.ExecutionAlreadyExistsException",
        ),
    ];
    for (i, (extra, error)) in cases.into_iter().enumerate() {
        let mut parameters = json!({"StateMachineArn": child});
        parameters.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let starter = node
            .machine(
                &format!("starter-{i}"),
                json!({"StartAt": "Run", "States": {"Run": {"Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution",
                    "Parameters": parameters, "End": true}}}),
                "STANDARD",
            )
            .await;
        let v = node.ok("StartExecution", json!({"stateMachineArn": starter})).await;
        let d = node.finished(v["executionArn"].as_str().unwrap(), Duration::from_secs(10)).await;
        if error.is_empty() {
            assert_eq!(d["status"], "SUCCEEDED", "{d}");
        } else {
            assert_eq!((d["status"].as_str(), d["error"].as_str()), (Some("FAILED"), Some(error)));
        }
    }

    // A callback: the task token reaches a worker through the activity; its answer resumes.
    node.ok("CreateActivity", json!({"name": "review"})).await;
    let activity = "arn:aws:states:us-east-1:123456789012:activity:review";
    let review = node
        .machine(
            "review",
            json!({"StartAt": "Ask", "States": {
                "Ask": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 5,
                        "Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.why", "Next": "No"}],
                        "End": true},
                "No": {"Type": "Fail", "Error": "NotApproved", "Cause": "rejected by review"}}}),
            "STANDARD",
        )
        .await;
    let v =
        node.ok("StartExecution", json!({"stateMachineArn": review, "input": "{\"doc\":1}"})).await;
    let arn = v["executionArn"].as_str().unwrap().to_owned();
    let task = node.ok("GetActivityTask", json!({"activityArn": activity})).await;
    let token = task["taskToken"].as_str().unwrap().to_owned();
    node.ok("SendTaskHeartbeat", json!({"taskToken": token})).await;
    node.ok(
        "SendTaskFailure",
        json!({"taskToken": token, "error": "Rejected", "cause": "too long"}),
    )
    .await;
    let d = node.finished(&arn, Duration::from_secs(10)).await;
    assert_eq!((d["status"].as_str(), d["error"].as_str()), (Some("FAILED"), Some("NotApproved")));
    let (status, stale) =
        node.call("SendTaskSuccess", json!({"taskToken": token, "output": "{}"})).await;
    assert_eq!((status, stale["__type"].as_str()), (400, Some("TaskTimedOut")));
    std::fs::remove_dir_all(&data).ok();
}

/// A microservice that answers after `delay`, echoing its path.
async fn slow_service(delay: Duration) -> String {
    let app = axum::Router::new().route(
        "/{name}",
        post(move |axum::extract::Path(name): axum::extract::Path<String>| async move {
            tokio::time::sleep(delay).await;
            axum::Json(json!({"service": name}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_express_parallel_state_composes_services_concurrently() {
    let base = slow_service(Duration::from_millis(300)).await;
    let data = temp_dir("compose");
    let node = Baton::start(&data, None, &[]);
    let call = |name: &str| {
        json!({"StartAt": name, "States": {name: {"Type": "Task",
            "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint": format!("{base}/{name}"), "Method": "POST"},
            "OutputPath": "$.ResponseBody", "End": true}}})
    };
    let machine = node
        .machine(
            "composite",
            json!({"StartAt": "All", "States": {"All": {"Type": "Parallel",
                "Branches": [call("student"), call("enrollments"), call("address")], "End": true}}}),
            "EXPRESS",
        )
        .await;
    let started = std::time::Instant::now();
    let r = node.ok("StartSyncExecution", json!({"stateMachineArn": machine, "input": "{}"})).await;
    let took = started.elapsed();
    assert_eq!(r["status"], "SUCCEEDED", "{r}");
    let output: Value = serde_json::from_str(r["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        output,
        json!([{"service": "student"}, {"service": "enrollments"}, {"service": "address"}])
    );
    // Three 300 ms calls one after another would take 900 ms at least.
    assert!(took < Duration::from_millis(850), "the branches ran one by one: {took:?}");
    std::fs::remove_dir_all(&data).ok();
}

/// A service that always answers 503.
async fn unavailable_service() -> String {
    let app = axum::Router::new()
        .route("/", post(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_state_runs_one_state() {
    let data = temp_dir("teststate");
    let node = Baton::start(&data, None, &[]);
    let test = |state: Value, input: Value| {
        let node = &node;
        async move {
            node.call(
                "TestState",
                json!({"definition": state.to_string(), "roleArn": ROLE,
                       "input": input.to_string(), "inspectionLevel": "DEBUG"}),
            )
            .await
        }
    };
    let (_, r) = test(
        json!({"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"}, "Next": "Show"}),
        json!({"a": 2, "b": 3}),
    )
    .await;
    assert_eq!(
        (r["status"].as_str(), r["nextState"].as_str(), r["output"].as_str()),
        (Some("SUCCEEDED"), Some("Show"), Some("{\"sum\":5}"))
    );
    assert_eq!(r["inspectionData"]["input"], "{\"a\":2,\"b\":3}");

    let choice = json!({"Type": "Choice", "Default": "Small",
        "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}]});
    let (_, r) = test(choice.clone(), json!({"n": 11})).await;
    assert_eq!(r["nextState"], "Big");
    let (_, r) = test(choice, json!({"n": 1})).await;
    assert_eq!(r["nextState"], "Small");

    let (_, r) = test(json!({"Type": "Fail", "Error": "Bad", "Cause": "no"}), json!({})).await;
    assert_eq!((r["status"].as_str(), r["error"].as_str()), (Some("FAILED"), Some("Bad")));

    let (_, r) = test(json!({"Type": "Wait", "Seconds": 3600, "Next": "After"}), json!({})).await;
    assert_eq!((r["status"].as_str(), r["nextState"].as_str()), (Some("SUCCEEDED"), Some("After")));

    let endpoint = unavailable_service().await;
    let task = |extra: Value| {
        let mut t = json!({"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint": endpoint, "Method": "POST"}, "End": true});
        t.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        t
    };
    let (_, r) = test(task(json!({"Retry": [{"ErrorEquals": ["States.ALL"]}]})), json!({})).await;
    assert_eq!(
        (r["status"].as_str(), r["error"].as_str()),
        (Some("RETRIABLE"), Some("States.Http.StatusCode.503"))
    );
    let (_, r) = test(
        task(json!({"Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Recover"}]})),
        json!({"k": 1}),
    )
    .await;
    assert_eq!(
        (r["status"].as_str(), r["nextState"].as_str()),
        (Some("CAUGHT_ERROR"), Some("Recover"))
    );
    let output: Value = serde_json::from_str(r["output"].as_str().unwrap()).unwrap();
    assert_eq!(output["k"], 1);
    assert_eq!(output["err"]["Error"], "States.Http.StatusCode.503");
    let (_, r) = test(task(json!({})), json!({})).await;
    assert_eq!(r["status"], "FAILED");

    let (status, r) = test(
        json!({"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}),
        json!([]),
    )
    .await;
    assert_eq!((status, r["__type"].as_str()), (400, Some("ValidationException")));
    let (status, r) = test(json!({"Type": "Pass", "Bogus": 1, "End": true}), json!({})).await;
    assert_eq!((status, r["__type"].as_str()), (400, Some("InvalidDefinition")), "{r}");
    std::fs::remove_dir_all(&data).ok();
}

/// `baton bench`, as `bench/server.sh` runs it: W2 against a real `baton up`, with the
/// server's figures read from its process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baton_bench_measures_a_running_server() {
    let data = temp_dir("bench");
    let node = Baton::start(&data, None, &[]);
    let pid = node.pid().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["bench", "--endpoint", &node.base, "--workload", "w2", "--mode", "standard"])
            .args(["--count", "200", "--concurrency", "8", "--pid", &pid, "--json"])
            .output()
            .expect("baton bench runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["requests_ok"], 200, "{report}");
    assert_eq!((&report["executions_failed"], &report["still_running"]), (&json!(0), &json!(0)));
    // Counted by the server: five Tasks per execution, the probe's not included.
    assert_eq!(report["transitions_source"], "metrics");
    assert_eq!(report["transitions"], 1000, "{report}");
    assert!(report["peak_rss_kib"].as_u64().is_some_and(|k| k > 0), "{report}");
    // A thousand durable transitions take the server well over /proc's 10 ms tick.
    let cpu = report["server_cpu_seconds"].as_f64().expect("the server's CPU time");
    let per = report["server_cpu_us_per_transition"].as_f64().unwrap();
    assert!(cpu > 0.0 && (per * 1000.0 / 1e6 - cpu).abs() <= 0.01, "{report}");
}

/// The admission budget: a node holds only so much of its Standard executions in memory;
/// a start past it waits for room, then fails with AWS's `ThrottlingException`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_past_the_admission_budget_wait_then_are_throttled() {
    let data = temp_dir("admission");
    // 10 KiB: two executions with small inputs (4 KiB each, plus four times the input) fit,
    // not three.
    let node = Baton::start(&data, None, &[("BATON_LIMITS__EXECUTION_MEMORY_KIB", "10")]);
    let waits = node
        .machine(
            "waits",
            json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 300, "End": true}}}),
            "STANDARD",
        )
        .await;
    let start = |name: &str| json!({"stateMachineArn": waits, "name": name, "input": "{}"});
    let a = node.ok("StartExecution", start("a")).await["executionArn"].clone();
    let b = node.ok("StartExecution", start("b")).await["executionArn"].clone();
    let c = format!("{}:c", a.as_str().unwrap().rsplit_once(':').unwrap().0);

    let t0 = std::time::Instant::now();
    let (status, body) = node.call("StartExecution", start("c")).await;
    assert_eq!((status, &body["__type"]), (400, &json!("ThrottlingException")), "{body}");
    assert!(t0.elapsed() >= Duration::from_millis(900), "refused without waiting for room");
    let (status, body) = node.call("DescribeExecution", json!({"executionArn": c})).await;
    assert_eq!(body["__type"], "ExecutionDoesNotExist", "a throttled start left {status} {body}");
    let metrics = node.client.get(node.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for line in ["baton_executions_throttled_total 1", "baton_admission_used_bytes 10240"] {
        assert!(metrics.lines().any(|l| l == line), "{line} not in\n{metrics}");
    }

    // A start that waits gets the room an ending execution gives back.
    let waiting = {
        let node_url = node.url("/");
        let client = node.client.clone();
        let body = start("d").to_string();
        tokio::spawn(async move {
            client
                .post(node_url)
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amz-target", "AWSStepFunctions.StartExecution")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    node.ok("StopExecution", json!({"executionArn": a})).await;
    assert_eq!(waiting.await.unwrap(), 200);

    // A redrive brings an execution back into memory: admitted like a start.
    let (status, body) = node.call("RedriveExecution", json!({"executionArn": a})).await;
    assert_eq!((status, &body["__type"]), (400, &json!("ThrottlingException")), "{body}");
    let a_now = node.ok("DescribeExecution", json!({"executionArn": a})).await;
    assert_eq!(a_now["status"], "ABORTED", "a throttled redrive leaves the execution ended");

    // Child executions are never refused: their parents hold room already.
    let parent = node
        .machine(
            "parent",
            json!({"StartAt": "Run", "States": {"Run": {"Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution",
                "Parameters": {"StateMachineArn": waits, "Input": {}}, "End": true}}}),
            "STANDARD",
        )
        .await;
    node.ok("StopExecution", json!({"executionArn": b})).await;
    let p = node.ok("StartExecution", json!({"stateMachineArn": parent, "input": "{}"})).await;
    let p = node.finished(p["executionArn"].as_str().unwrap(), Duration::from_secs(10)).await;
    assert_eq!(p["status"], "SUCCEEDED", "{p}");
    let running = node
        .ok("ListExecutions", json!({"stateMachineArn": waits, "statusFilter": "RUNNING"}))
        .await;
    // d and the child, with d and the parent (now ended) having held all the room.
    assert_eq!(running["executions"].as_array().unwrap().len(), 2, "{running}");
    std::fs::remove_dir_all(&data).ok();
}
