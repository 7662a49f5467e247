//! Topics beyond webhooks, through the real `baton up`: workflows publishing with
//! `arn:aws:states:::sns:publish`, subscriptions whose targets are functions (`Event`
//! invocations with the SNS Lambda event) and state machines (an execution per message),
//! and the `baton topics` command line.

mod support;
mod webhooks;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::{json, Value};
use support::{temp_dir, Baton};
use webhooks::ok;

/// A webhook receiver: every request's `webhook-id` and body.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    async fn start() -> Self {
        let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let g = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let got = g.clone();
                async move {
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    got.lock().unwrap().push((id, body));
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, got }
    }

    async fn first(&self, within: Duration) -> (String, Value) {
        let (id, body) = eventually(within, || self.got.lock().unwrap().first().cloned()).await;
        (id, serde_json::from_str(&body).unwrap())
    }
}

async fn eventually<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "nothing after {within:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn eventually_async<T, F: std::future::Future<Output = Option<T>>>(
    within: Duration,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "nothing after {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The configuration: fast retries and, when given, a function that writes each event it
/// gets to `marks/<request id>`.
fn start(tag: &str, marks: Option<&Path>) -> Baton {
    let dir = temp_dir(tag);
    let mut toml = "[topics]\nretry_schedule = [\"0s\", \"200ms\", \"200ms\"]\n".to_owned();
    if let Some(m) = marks {
        toml.push_str(&format!(
            "\n[functions.record]\nmode = \"exec\"\ncommand = 'cat > \"{}/$AWS_LAMBDA_REQUEST_ID\"; echo null'\n",
            m.display()
        ));
    }
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    Baton::start_with_config(&data, &toml)
}

async fn attempts_of(b: &Baton, topic: &str, sub: &str) -> Vec<Value> {
    let v = ok(b, "GET", &format!("/topics/{topic}/subscriptions/{sub}/attempts"), None).await;
    v["attempts"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_publishes_to_a_topic_and_its_webhook_gets_the_message() {
    let b = start("topics-sfn-publish", None);
    let receiver = Receiver::start().await;
    ok(&b, "POST", "/topics", Some(json!({"name": "orders"}))).await;
    ok(&b, "POST", "/topics/orders/subscriptions", Some(json!({"endpoint": receiver.url}))).await;
    let definition = json!({
        "StartAt": "Publish",
        "States": {"Publish": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders",
                "Message.$": "$.order",
                "Subject": "New order",
                "MessageAttributes": {
                    "store": {"DataType": "String", "StringValue.$": "$.store"}
                },
                "MessageGroupId": "customer-7"
            },
            "End": true
        }}
    });
    let machine = b.machine("publisher", definition, "STANDARD").await;
    let input = json!({"order": {"id": 42, "items": ["a", "b"]}, "store": "example_corp"});
    let started = b
        .ok("StartExecution", json!({"stateMachineArn": machine, "input": input.to_string()}))
        .await;
    let d = b.finished(started["executionArn"].as_str().unwrap(), Duration::from_secs(20)).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let output: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
    let message_id = output["MessageId"].as_str().unwrap().to_owned();
    assert!(message_id.starts_with("msg_"), "{output}");
    assert_eq!(output["SdkHttpMetadata"]["HttpStatusCode"], 200);
    let request_id = output["SdkResponseMetadata"]["RequestId"].as_str().unwrap();
    assert_eq!(output["SdkHttpMetadata"]["HttpHeaders"]["x-amzn-RequestId"], request_id);
    assert_eq!(
        output["SdkHttpMetadata"]["AllHttpHeaders"]["x-amzn-RequestId"],
        json!([request_id])
    );

    let (id, envelope) = receiver.first(Duration::from_secs(10)).await;
    assert_eq!(id, message_id);
    assert_eq!(envelope["MessageId"], message_id.as_str());
    assert_eq!(envelope["TopicArn"], "arn:aws:sns:us-east-1:123456789012:orders");
    assert_eq!(envelope["Subject"], "New order");
    // A JSON Message is published as its compact text.
    assert_eq!(envelope["Message"], r#"{"id":42,"items":["a","b"]}"#);
    assert_eq!(
        envelope["MessageAttributes"],
        json!({"store": {"Type": "String", "Value": "example_corp"}})
    );

    // A missing topic fails the task with SNS's NotFound, which a Catch can name.
    let definition = json!({
        "StartAt": "Publish",
        "States": {
            "Publish": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": "nowhere", "Message": "hi"},
                "Catch": [{"ErrorEquals": ["SNS.NotFoundException"], "Next": "Caught"}],
                "End": true
            },
            "Caught": {"Type": "Pass", "End": true}
        }
    });
    let machine = b.machine("publisher-lost", definition, "STANDARD").await;
    let started = b.ok("StartExecution", json!({"stateMachineArn": machine})).await;
    let d = b.finished(started["executionArn"].as_str().unwrap(), Duration::from_secs(20)).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let output: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
    assert_eq!(output["Error"], "SNS.NotFoundException", "{output}");
    assert!(output["Cause"].as_str().unwrap().contains("Error Code: NotFound"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_subscription_gets_the_sns_lambda_event() {
    let dir = temp_dir("topics-fn-marks");
    let marks = dir.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let b = start("topics-fn", Some(&marks));
    ok(&b, "POST", "/topics", Some(json!({"name": "signups"}))).await;
    let sub = ok(
        &b,
        "POST",
        "/topics/signups/subscriptions",
        Some(json!({"endpoint": "function:record"})),
    )
    .await;
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    let published = ok(
        &b,
        "POST",
        "/topics/signups/messages",
        Some(json!({"message": {"user": "ada"}, "subject": "Welcome",
                    "attributes": {"plan": {"Type": "String", "Value": "pro"}}})),
    )
    .await;
    let message_id = published["message_id"].as_str().unwrap();

    let text = eventually(Duration::from_secs(15), || {
        let entry = std::fs::read_dir(&marks).ok()?.flatten().next()?;
        let text = std::fs::read_to_string(entry.path()).ok()?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    let event: Value = serde_json::from_str(&text).unwrap();
    let records = event["Records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{event}");
    let r = &records[0];
    assert_eq!(r["EventSource"], "aws:sns");
    assert_eq!(r["EventVersion"], "1.0");
    assert_eq!(
        r["EventSubscriptionArn"],
        format!("arn:aws:sns:us-east-1:123456789012:signups:{sub_id}")
    );
    let sns = &r["Sns"];
    assert_eq!(sns["Type"], "Notification");
    assert_eq!(sns["MessageId"], message_id);
    assert_eq!(sns["TopicArn"], "arn:aws:sns:us-east-1:123456789012:signups");
    assert_eq!(sns["Subject"], "Welcome");
    assert_eq!(sns["Message"], r#"{"user":"ada"}"#);
    assert_eq!(sns["MessageAttributes"], json!({"plan": {"Type": "String", "Value": "pro"}}));
    assert!(sns["Timestamp"].as_str().unwrap().ends_with('Z'));

    // The delivery is recorded as an attempt: the invocation was queued (202).
    let attempts = attempts_of(&b, "signups", &sub_id).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["status_code"], 202, "{attempts:?}");

    // A subscription to a function that does not exist retries, then dead-letters.
    let lost = ok(
        &b,
        "POST",
        "/topics/signups/subscriptions",
        Some(json!({"endpoint": "arn:aws:lambda:us-east-1:123456789012:function:nope"})),
    )
    .await;
    ok(&b, "POST", "/topics/signups/messages", Some(json!({"message": "again"}))).await;
    let b = &b;
    let dead = eventually_async(Duration::from_secs(15), move || async move {
        let v = ok(b, "GET", "/topics/signups/dead-letters", None).await;
        v["dead_letters"].as_array().filter(|a| !a.is_empty()).cloned()
    })
    .await;
    assert_eq!(dead[0]["subscription_id"], lost["id"], "{dead:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_machine_subscription_starts_an_execution_with_the_message() {
    let b = start("topics-sfn-target", None);
    let definition = json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}});
    let machine = b.machine("on-order", definition, "STANDARD").await;
    ok(&b, "POST", "/topics", Some(json!({"name": "orders"}))).await;
    let sub =
        ok(&b, "POST", "/topics/orders/subscriptions", Some(json!({"endpoint": machine}))).await;
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    let published =
        ok(&b, "POST", "/topics/orders/messages", Some(json!({"message": {"order": 7}}))).await;
    let message_id = published["message_id"].as_str().unwrap().to_owned();

    let (bb, m) = (&b, &machine);
    let execution = eventually_async(Duration::from_secs(15), move || async move {
        let v = bb.ok("ListExecutions", json!({"stateMachineArn": m})).await;
        v["executions"].as_array().and_then(|a| a.first().cloned())
    })
    .await;
    let arn = execution["executionArn"].as_str().unwrap();
    assert!(arn.ends_with(&format!(":{message_id}-{sub_id}")), "{arn}");
    let d = b.finished(arn, Duration::from_secs(20)).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let input: Value = serde_json::from_str(d["input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"order": 7}));

    let attempts = attempts_of(&b, "orders", &sub_id).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["status_code"], 200);
    assert_eq!(attempts[0]["response"], arn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topics_command_line_drives_the_api() {
    let b = start("topics-cli", None);
    let receiver = Receiver::start().await;
    let endpoint = format!("http://{}", b.addr);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("topics")
            .args(args)
            .env("BATON_ENDPOINT", &endpoint)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let created = run(&["create", "news"]);
    assert!(created.contains("arn:aws:sns:us-east-1:123456789012:news"), "{created}");
    assert!(run(&["list"]).contains("news\tarn:aws:sns:us-east-1:123456789012:news"));
    let sub: Value = serde_json::from_str(&run(&[
        "subscribe",
        "news",
        &receiver.url,
        "--filter-policy",
        r#"{"kind": ["breaking"]}"#,
        "--raw",
    ]))
    .unwrap();
    assert!(sub["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(sub["raw"], true);
    run(&["publish", "news", "--message", r#"{"n": 1}"#, "--attribute", "kind=boring"]);
    let published: Value = serde_json::from_str(&run(&[
        "publish",
        "news",
        "--message",
        r#"{"n": 2}"#,
        "--attribute",
        "kind=breaking",
    ]))
    .unwrap();
    let (id, body) = receiver.first(Duration::from_secs(10)).await;
    assert_eq!(id, published["message_id"].as_str().unwrap());
    assert_eq!(body, json!({"n": 2}));
    let dead: Value = serde_json::from_str(&run(&["dead-letters", "news"])).unwrap();
    assert_eq!(dead["dead_letters"], json!([]));
    // A refusal is an error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["topics", "--endpoint", &endpoint, "publish", "missing", "--message", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
}
