//! Functions under the real `baton up`, through the Lambda API over HTTP: a function built
//! with the official Rust Lambda runtime (`crates/test-function`) runs unchanged; its
//! errors, timeouts and crashes surface as Lambda reports them; parallel invocations get
//! their own processes up to the limit and idle ones are reused; `exec` mode; durable
//! `Event` invocations with retries and a crash in the middle; Lambda tasks in workflows.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{temp_dir, test_function, Baton};

/// The configuration of the functions these tests use.
fn config(extra: &str) -> String {
    let f = test_function();
    let f = f.display();
    format!(
        r#"
[limits]
function_event_retry_seconds = [0.2, 0.2]

[functions.probe]
command = ["{f}"]
handler = "probe.handler"
memory_mb = 256
timeout_seconds = 1.5
max_concurrency = 4

[functions.pair]
command = ["{f}"]
max_concurrency = 2
timeout_seconds = 5

[functions.broken]
command = ["{f}"]
env = {{ BATON_TEST_INIT_EXIT = "7" }}

[functions.missing-binary]
command = ["/nonexistent/bootstrap"]

[functions.shell]
mode = "exec"
command = "cat"

[functions.shell-fail]
mode = "exec"
command = 'cat >/dev/null; echo "{{\"errorType\":\"ShellError\",\"errorMessage\":\"no\"}}"; exit 3'

[functions.shell-crash]
mode = "exec"
command = "cat >/dev/null; exit 9"
{extra}
"#
    )
}

/// A GET of Baton's own API that answers JSON.
async fn get_json(baton: &Baton, path: &str) -> Value {
    let r = baton.client.get(format!("http://{}{path}", baton.addr)).send().await.unwrap();
    r.json().await.unwrap()
}

struct Invocation {
    status: u16,
    function_error: Option<String>,
    request_id: Option<String>,
    body: Value,
}

async fn invoke(baton: &Baton, name: &str, payload: Value) -> Invocation {
    invoke_as(baton, name, payload, "RequestResponse").await
}

async fn invoke_as(baton: &Baton, name: &str, payload: Value, kind: &str) -> Invocation {
    let r = baton
        .client
        .post(format!("http://{}/2015-03-31/functions/{name}/invocations", baton.addr))
        .header("x-amz-invocation-type", kind)
        .body(payload.to_string())
        .send()
        .await
        .expect("baton answers");
    let status = r.status().as_u16();
    let header = |h: &str| r.headers().get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let function_error = header("x-amz-function-error");
    let request_id = header("x-amzn-requestid");
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Invocation { status, function_error, request_id, body }
}

#[tokio::test]
async fn a_lambda_runtime_function_runs_unchanged() {
    let data = temp_dir("fn-basic");
    let baton = Baton::start_with_config(&data, &config(""));

    let r = invoke(&baton, "probe", json!({"hello": "world"})).await;
    assert_eq!((r.status, r.function_error.as_deref()), (200, None), "{}", r.body);
    assert_eq!(r.body["event"], json!({"hello": "world"}));
    assert_eq!(r.body["request_id"].as_str(), r.request_id.as_deref());
    assert_eq!(r.body["function"], "probe");
    assert_eq!(r.body["function_arn"], "arn:aws:lambda:us-east-1:123456789012:function:probe");
    assert_eq!(r.body["handler"], "probe.handler");
    assert_eq!(r.body["memory"], "256");
    assert_eq!(r.body["region"], "us-east-1");
    let deadline = r.body["deadline_ms"].as_u64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert!(deadline > now.as_millis() as u64, "the deadline is in the future");

    // By ARN, as SDKs send it.
    let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aprobe";
    assert_eq!(invoke(&baton, arn, json!(1)).await.body["event"], json!(1));

    // The handler's own error type.
    let r = invoke(&baton, "probe", json!({"fail": "OrderRejected", "message": "no stock"})).await;
    assert_eq!((r.status, r.function_error.as_deref()), (200, Some("Unhandled")));
    assert_eq!(r.body, json!({"errorType": "OrderRejected", "errorMessage": "no stock"}));

    // Lambda's errors for callers' mistakes.
    let r = invoke(&baton, "nope", json!({})).await;
    assert_eq!(r.status, 404);
    assert!(r.body["message"].as_str().unwrap().starts_with("Function not found: arn:aws:lambda"));
    let r = baton
        .client
        .post(format!("http://{}/2015-03-31/functions/probe/invocations", baton.addr))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-amzn-errortype"], "InvalidRequestContentException");

    // The log has Lambda's platform lines and what the function printed.
    let logs: Value = get_json(&baton, "/functions/probe/logs").await;
    let texts: Vec<&str> =
        logs["lines"].as_array().unwrap().iter().filter_map(|l| l["text"].as_str()).collect();
    assert!(texts.iter().any(|t| t.starts_with("START RequestId: ")), "{texts:?}");
    assert!(texts.iter().any(|t| t.starts_with("REPORT RequestId: ")), "{texts:?}");
    assert!(texts.iter().any(|t| t.starts_with("handling ")), "{texts:?}");

    // /metrics counts invocations by how they ended.
    let metrics = baton
        .client
        .get(format!("http://{}/metrics", baton.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |outcome: &str| -> u64 {
        let prefix = format!(
            "baton_function_invocations_total{{function=\"probe\",outcome=\"{outcome}\"}} "
        );
        let line =
            metrics.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{metrics}"));
        line[prefix.len()..].parse().unwrap()
    };
    assert_eq!((count("success"), count("error")), (2, 1), "{metrics}");
    assert!(metrics.contains("baton_function_processes{function=\"probe\"} 1"), "{metrics}");

    // The command line, against the same server.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["functions", "--endpoint", &format!("http://{}", baton.addr)])
        .args(["invoke", "probe", "--payload", r#"{"cli": true}"#])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["event"], json!({"cli": true}));
}

#[tokio::test]
async fn timeouts_crashes_and_failed_starts_surface_as_lambda_reports_them() {
    let data = temp_dir("fn-failures");
    let baton = Baton::start_with_config(&data, &config(""));

    let first = invoke(&baton, "probe", json!({})).await.body["pid"].as_u64().unwrap();
    let started = Instant::now();
    let r = invoke(&baton, "probe", json!({"sleep_ms": 5000})).await;
    assert!(started.elapsed() < Duration::from_secs(4), "killed at its 1.5 s timeout");
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(r.body["errorType"], "Sandbox.Timedout");
    let message = r.body["errorMessage"].as_str().unwrap();
    assert!(message.ends_with("Error: Task timed out after 1.50 seconds"), "{message}");
    assert!(message.starts_with(&format!("RequestId: {}", r.request_id.unwrap())));
    // The process that overran was killed; a new one serves the next call.
    let next = invoke(&baton, "probe", json!({})).await.body["pid"].as_u64().unwrap();
    assert_ne!(first, next);

    let r = invoke(&baton, "probe", json!({"exit": 3})).await;
    assert_eq!(r.body["errorType"], "Runtime.ExitError");
    let message = r.body["errorMessage"].as_str().unwrap();
    assert!(message.ends_with("Runtime exited with error: exit status 3"), "{message}");
    let after = invoke(&baton, "probe", json!({})).await;
    assert_eq!(after.status, 200, "the crashed process is replaced");

    // A runtime that exits before asking for an event fails its caller, without a hang.
    let r = invoke(&baton, "broken", json!({})).await;
    assert_eq!(r.body["errorType"], "Runtime.ExitError", "{}", r.body);
    assert!(r.body["errorMessage"].as_str().unwrap().contains("exit status 7"));
    let r = invoke(&baton, "missing-binary", json!({})).await;
    assert_eq!(r.body["errorType"], "Runtime.InvalidEntrypoint", "{}", r.body);
}

#[tokio::test]
async fn parallel_invocations_get_processes_up_to_the_limit_and_idle_ones_are_reused() {
    let data = temp_dir("fn-concurrency");
    let baton = Baton::start_with_config(&data, &config(""));

    let pids = |rs: Vec<Invocation>| -> BTreeSet<u64> {
        rs.iter().map(|r| r.body["pid"].as_u64().unwrap_or_else(|| panic!("{}", r.body))).collect()
    };
    // Four at once on a limit of four: four processes.
    let calls = (0..4).map(|_| invoke(&baton, "probe", json!({"sleep_ms": 400})));
    let first = pids(futures::future::join_all(calls).await);
    assert_eq!(first.len(), 4, "{first:?}");
    // Idle processes are reused.
    let calls = (0..4).map(|_| invoke(&baton, "probe", json!({"sleep_ms": 400})));
    let again = pids(futures::future::join_all(calls).await);
    assert_eq!(again, first, "warm processes serve the next invocations");

    // Six at once on a limit of two: two processes, the rest wait their turn.
    let started = Instant::now();
    let calls = (0..6).map(|_| invoke(&baton, "pair", json!({"sleep_ms": 300})));
    let pair = pids(futures::future::join_all(calls).await);
    assert_eq!(pair.len(), 2, "{pair:?}");
    assert!(started.elapsed() >= Duration::from_millis(900), "three rounds of two");
}

#[tokio::test]
async fn exec_mode_runs_a_command_per_event() {
    let data = temp_dir("fn-exec");
    let baton = Baton::start_with_config(&data, &config(""));
    let r = invoke(&baton, "shell", json!({"a": [1, 2]})).await;
    assert_eq!((r.status, r.function_error.as_deref()), (200, None));
    assert_eq!(r.body, json!({"a": [1, 2]}));
    let r = invoke(&baton, "shell-fail", json!({})).await;
    assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(r.body, json!({"errorType": "ShellError", "errorMessage": "no"}));
    let r = invoke(&baton, "shell-crash", json!({})).await;
    assert_eq!(r.body["errorType"], "Runtime.ExitError");
}

/// Polls `f` until it returns `Some`, for at most `within`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    within: Duration,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn event_invocations_are_stored_retried_and_survive_a_crash() {
    let data = temp_dir("fn-events");
    let marks = data.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let extra = format!(
        r#"
[functions.record]
mode = "exec"
command = 'read -r line; echo "$line" > "{dir}/$AWS_LAMBDA_REQUEST_ID"; echo null'

[functions.slow-record]
mode = "exec"
command = 'read -r line; sleep 1.5; echo "$line" > "{dir}/$AWS_LAMBDA_REQUEST_ID"; echo null'
timeout_seconds = 10
"#,
        dir = marks.display()
    );
    let config = config(&extra);
    let mut baton = Baton::start_with_config(&data, &config);

    // An Event invocation is accepted at once and runs soon after.
    let r = invoke_as(&baton, "record", json!({"n": 1}), "Event").await;
    assert_eq!(r.status, 202);
    let id = r.request_id.unwrap();
    let mark = marks.join(&id);
    let text = eventually(Duration::from_secs(10), || {
        let mark = mark.clone();
        async move { std::fs::read_to_string(mark).ok() }
    })
    .await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"n": 1}));

    // A function that keeps failing is tried three times, then kept as failed.
    let r = invoke_as(&baton, "shell-fail", json!({"n": 2}), "Event").await;
    assert_eq!(r.status, 202);
    let failed = eventually(Duration::from_secs(10), || async {
        let v: Value = baton
            .client
            .get(format!("http://{}/functions/shell-fail/failed-events", baton.addr))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let e = v["events"].as_array()?.first()?.clone();
        Some(e)
    })
    .await;
    assert_eq!(failed["attempts"], 3, "{failed}");
    assert_eq!(failed["payload"], r#"{"n":2}"#);
    assert!(failed["last_error"].as_str().unwrap().contains("ShellError"));

    // kill -9 while an accepted event runs: it runs again after the restart.
    let r = invoke_as(&baton, "slow-record", json!({"n": 3}), "Event").await;
    assert_eq!(r.status, 202);
    let id = r.request_id.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    baton.kill9();
    assert!(!marks.join(&id).exists(), "the event was cut off");
    let baton = Baton::start_with_config(&data, &config);
    let mark = marks.join(&id);
    let text = eventually(Duration::from_secs(15), || {
        let mark = mark.clone();
        async move { std::fs::read_to_string(mark).ok() }
    })
    .await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"n": 3}));

    // SIGTERM while an event runs: it is handed back, not counted as a failure, and runs
    // to its end after the restart.
    let mut baton = baton;
    let r = invoke_as(&baton, "slow-record", json!({"n": 4}), "Event").await;
    let id = r.request_id.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(baton.terminate().success(), "a graceful exit");
    assert!(!marks.join(&id).exists(), "the event was cut off");
    let baton = Baton::start_with_config(&data, &config);
    let mark = marks.join(&id);
    let text = eventually(Duration::from_secs(15), || {
        let mark = mark.clone();
        async move { std::fs::read_to_string(mark).ok() }
    })
    .await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"n": 4}));
    let failed: Value = get_json(&baton, "/functions/slow-record/failed-events").await;
    assert_eq!(failed["events"], json!([]), "a cut-off event is no failure");
}

#[tokio::test]
async fn workflows_invoke_functions_with_aws_result_shapes_and_errors() {
    let data = temp_dir("fn-workflows");
    let baton = Baton::start_with_config(&data, &config(""));
    let probe = "arn:aws:lambda:us-east-1:123456789012:function:probe";
    let definition = json!({
        "StartAt": "Direct",
        "States": {
            "Direct": {
                "Type": "Task", "Resource": probe, "ResultPath": "$.direct",
                "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 0}],
                "Catch": [{"ErrorEquals": ["OrderRejected"], "Next": "Rejected"}],
                "Next": "Integration"
            },
            "Integration": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "shell", "Payload": {"from.$": "$.direct.function"}},
                "ResultSelector": {"payload.$": "$.Payload", "code.$": "$.StatusCode",
                                   "version.$": "$.ExecutedVersion"},
                "ResultPath": "$.integration",
                "Next": "Slow"
            },
            "Slow": {
                "Type": "Task", "Resource": probe, "Parameters": {"sleep_ms.$": "$.sleep"},
                "ResultPath": "$.slow",
                "Catch": [{"ErrorEquals": ["Sandbox.Timedout"], "ResultPath": "$.timeout",
                           "Next": "Done"}],
                "End": true
            },
            "Rejected": {"Type": "Pass", "End": true},
            "Done": {"Type": "Pass", "End": true}
        }
    });
    let arn = baton.machine("lambdas", definition, "STANDARD").await;
    let run = |name: &str, input: Value| {
        let arn = arn.clone();
        let name = name.to_owned();
        let baton = &baton;
        async move {
            let v = baton
                .ok(
                    "StartExecution",
                    json!({"stateMachineArn": arn, "name": name, "input": input.to_string()}),
                )
                .await;
            let exec = v["executionArn"].as_str().unwrap().to_owned();
            let d = baton.finished(&exec, Duration::from_secs(30)).await;
            (d, baton.history(&exec).await)
        }
    };

    let (d, history) = run("ok", json!({"sleep": 0})).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let out: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
    assert_eq!(out["direct"]["event"], json!({"sleep": 0}));
    assert_eq!(
        out["integration"],
        json!({"payload": {"from": "probe"}, "code": 200, "version": "$LATEST"})
    );
    let types: Vec<&str> = history.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"LambdaFunctionScheduled"), "{types:?}");
    assert!(types.contains(&"LambdaFunctionSucceeded"), "{types:?}");
    assert!(types.contains(&"TaskSucceeded"), "{types:?}");

    // The function's own error type is the state's error, caught by name.
    let (d, _) = run("rejected", json!({"fail": "OrderRejected", "message": "none left"})).await;
    assert_eq!(d["status"], "SUCCEEDED");
    let out: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
    assert_eq!(out["Error"], "OrderRejected");
    let cause: Value = serde_json::from_str(out["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause, json!({"errorType": "OrderRejected", "errorMessage": "none left"}));

    // A function that overruns its timeout fails with Sandbox.Timedout.
    let (d, _) = run("slow", json!({"sleep": 5000})).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let out: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
    assert_eq!(out["timeout"]["Error"], "Sandbox.Timedout");

    // An unknown function fails the execution with Lambda's error.
    let missing = json!({"StartAt": "T", "States": {"T": {"Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ghost", "End": true}}});
    let arn = baton.machine("ghost", missing, "EXPRESS").await;
    let v = baton.ok("StartSyncExecution", json!({"stateMachineArn": arn, "input": "{}"})).await;
    assert_eq!(v["status"], "FAILED");
    assert_eq!(v["error"], "Lambda.ResourceNotFoundException");
}

#[tokio::test]
async fn boto3_lambda_client_works_against_baton() {
    let has_boto3 = std::process::Command::new("python3")
        .args(["-c", "import boto3"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_boto3 {
        eprintln!("note: boto3 is not installed (pip install boto3): skipping the boto3 check");
        return;
    }
    let data = temp_dir("fn-boto3");
    let baton = Baton::start_with_config(&data, &config(""));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/boto3_functions.py");
    let endpoint = format!("http://{}", baton.addr);
    let out = tokio::process::Command::new("python3")
        .args([script, &endpoint, "probe"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("FAIL"), "{stdout}");
}
