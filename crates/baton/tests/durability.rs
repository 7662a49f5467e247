//! Durability and clustering of `baton up`, tested as users run it: a real server process,
//! killed with SIGKILL in the middle of work, restarted, and checked over the API; two nodes
//! on one PostgreSQL sharing and taking over work.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use serde_json::{json, Value};
use support::{assert_whole_history, temp_dir, Baton};

/// A loopback receiver for `http:invoke` tasks that records each request body.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/",
        post(move |body: axum::Json<Value>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(body.0.clone());
                axum::Json(json!({"ok": true, "echo": body.0}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), seen)
}

fn workflow(endpoint: &str) -> Value {
    json!({
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Parameters": {"n.$": "$.n", "stage": "prepared"}, "Next": "Nap"},
            "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Call"},
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {"ApiEndpoint": endpoint, "Method": "POST", "RequestBody": {"n.$": "$.n"}},
                "ResultSelector": {"status.$": "$.StatusCode", "echo.$": "$.ResponseBody.echo"},
                "ResultPath": "$.call",
                "Next": "Done"
            },
            "Done": {"Type": "Pass", "End": true}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_and_duplicates_nothing() {
    let (endpoint, seen) = receiver().await;
    let data = temp_dir("crash");
    let mut node = Baton::start(&data, None, &[]);
    let machine = node.machine("crashy", workflow(&endpoint), "STANDARD").await;
    let mut arns = Vec::new();
    for n in 0..40 {
        let v = node
            .ok(
                "StartExecution",
                json!({"stateMachineArn": machine, "name": format!("run-{n}"),
                       "input": json!({"n": n}).to_string()}),
            )
            .await;
        arns.push(v["executionArn"].as_str().unwrap().to_owned());
    }
    // Every start above was acknowledged; now the process dies mid-flight.
    node.kill9();

    let node = Baton::start(&data, None, &[]);
    for (n, arn) in arns.iter().enumerate() {
        let d = node.finished(arn, Duration::from_secs(30)).await;
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        let output: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
        assert_eq!(output["n"], json!(n));
        assert_eq!(output["call"], json!({"status": 200, "echo": {"n": n}}));
        let events = node.history(arn).await;
        assert_whole_history(&events);
        let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(
            types,
            [
                "ExecutionStarted",
                "PassStateEntered",
                "PassStateExited",
                "WaitStateEntered",
                "WaitStateExited",
                "TaskStateEntered",
                "TaskScheduled",
                "TaskStarted",
                "TaskSucceeded",
                "TaskStateExited",
                "PassStateEntered",
                "PassStateExited",
                "ExecutionSucceeded"
            ]
        );
    }
    // The crash happened before any task was due (the Wait state), so each ran once.
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 40, "{calls:?}");
    std::fs::remove_dir_all(&data).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_work_back_and_a_restart_finishes_it() {
    let data = temp_dir("term");
    let mut node = Baton::start(&data, None, &[]);
    let machine = node
        .machine(
            "napper",
            json!({"StartAt": "W", "States": {
                "W": {"Type": "Wait", "Seconds": 2, "Next": "P"},
                "P": {"Type": "Pass", "Result": "rested", "End": true}}}),
            "STANDARD",
        )
        .await;
    let v = node.ok("StartExecution", json!({"stateMachineArn": machine, "name": "nap"})).await;
    let arn = v["executionArn"].as_str().unwrap().to_owned();
    let status = node.terminate();
    assert!(status.success(), "a graceful stop exits 0: {status:?}");

    let node = Baton::start(&data, None, &[]);
    let d = node.finished(&arn, Duration::from_secs(15)).await;
    assert_eq!(d["status"], "SUCCEEDED");
    assert_eq!(d["output"], "\"rested\"");
    assert_whole_history(&node.history(&arn).await);
    std::fs::remove_dir_all(&data).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_share_work_and_take_over() {
    let Ok(admin) = std::env::var("BATON_TEST_POSTGRES_URL") else {
        eprintln!("BATON_TEST_POSTGRES_URL is not set: skipping the PostgreSQL cluster test");
        return;
    };
    let url = store::testing::fresh_postgres(&admin).await.unwrap();
    let env = [("BATON_CLUSTER__LEASE_SECONDS", "2")];
    let (da, db) = (temp_dir("node-a"), temp_dir("node-b"));
    let mut a = Baton::start(&da, Some(&url), &env);
    let b = Baton::start(&db, Some(&url), &env);

    // An activity task created by node A's execution is taken and completed through node B:
    // the result reaches A through the shared inbox.
    a.ok("CreateActivity", json!({"name": "approve"})).await;
    let activity = "arn:aws:states:us-east-1:123456789012:activity:approve";
    let approval = a
        .machine(
            "approval",
            json!({"StartAt": "Ask", "States": {
                "Ask": {"Type": "Task", "Resource": activity, "End": true}}}),
            "STANDARD",
        )
        .await;
    let v = a
        .ok("StartExecution", json!({"stateMachineArn": approval, "input": "{\"who\":\"ada\"}"}))
        .await;
    let approval_run = v["executionArn"].as_str().unwrap().to_owned();
    let task = b.ok("GetActivityTask", json!({"activityArn": activity, "workerName": "w"})).await;
    assert_eq!(task["input"], "{\"who\":\"ada\"}");
    let token = task["taskToken"].as_str().unwrap();
    b.ok("SendTaskSuccess", json!({"taskToken": token, "output": "{\"approved\":true}"})).await;
    let d = b.finished(&approval_run, Duration::from_secs(10)).await;
    assert_eq!(d["status"], "SUCCEEDED");
    assert_eq!(d["output"], "{\"approved\":true}");

    // Executions started on A survive A's death: B takes them over once A's lease lapses.
    let napper = a
        .machine(
            "napper",
            json!({"StartAt": "W", "States": {
                "W": {"Type": "Wait", "Seconds": 1, "Next": "P"},
                "P": {"Type": "Pass", "End": true}}}),
            "STANDARD",
        )
        .await;
    let mut arns = Vec::new();
    for n in 0..20 {
        let node = if n % 2 == 0 { &a } else { &b };
        let v = node
            .ok(
                "StartExecution",
                json!({"stateMachineArn": napper, "input": format!("{{\"n\":{n}}}")}),
            )
            .await;
        arns.push(v["executionArn"].as_str().unwrap().to_owned());
    }
    a.kill9();
    for (n, arn) in arns.iter().enumerate() {
        let d = b.finished(arn, Duration::from_secs(30)).await;
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        assert_eq!(d["output"], format!("{{\"n\":{n}}}"));
        assert_whole_history(&b.history(arn).await);
    }
    drop(b);
    store::testing::drop_database(&admin, &url).await;
    std::fs::remove_dir_all(&da).ok();
    std::fs::remove_dir_all(&db).ok();
}

/// A receiver that fails its first `failures` calls with a 503, then answers 200.
async fn flaky_receiver(failures: usize) -> (String, Arc<Mutex<usize>>) {
    let calls = Arc::new(Mutex::new(0usize));
    let count = calls.clone();
    let app = axum::Router::new().route(
        "/",
        post(move || {
            let count = count.clone();
            async move {
                let mut n = count.lock().unwrap();
                *n += 1;
                if *n <= failures {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"busy": true})))
                } else {
                    (axum::http::StatusCode::OK, axum::Json(json!({"ok": true})))
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_reruns_the_failed_task_and_survives_a_crash() {
    let (endpoint, calls) = flaky_receiver(1).await;
    let data = temp_dir("redrive");
    let mut node = Baton::start(&data, None, &[]);
    let machine = node
        .machine(
            "flaky",
            json!({"StartAt": "Before", "States": {
                "Before": {"Type": "Pass", "Result": {"step": 1}, "Next": "Call"},
                "Call": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                         "Parameters": {"ApiEndpoint": endpoint, "Method": "POST"},
                         "ResultSelector": {"code.$": "$.StatusCode"}, "Next": "Nap"},
                "Nap": {"Type": "Wait", "Seconds": 1, "Next": "After"},
                "After": {"Type": "Pass", "End": true}}}),
            "STANDARD",
        )
        .await;
    let v = node.ok("StartExecution", json!({"stateMachineArn": machine, "name": "r1"})).await;
    let arn = v["executionArn"].as_str().unwrap().to_owned();
    let d = node.finished(&arn, Duration::from_secs(10)).await;
    assert_eq!(d["status"], "FAILED");
    assert_eq!(d["error"], "States.Http.StatusCode.503");
    assert_eq!(d["redriveStatus"], "REDRIVABLE");

    // A succeeded execution cannot be redriven; this failed one can, once at a time.
    let r = node.ok("RedriveExecution", json!({"executionArn": arn})).await;
    assert!(r["redriveDate"].as_f64().unwrap() > 0.0);
    let (status, again) = node.call("RedriveExecution", json!({"executionArn": arn})).await;
    assert_eq!((status, again["__type"].as_str()), (400, Some("ExecutionNotRedrivable")));

    // The rerun waits in `Nap`: a crash there, then a restart, and it finishes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    node.kill9();
    let node = Baton::start(&data, None, &[]);
    let d = node.finished(&arn, Duration::from_secs(15)).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    assert_eq!(d["output"], "{\"code\":200}");
    assert_eq!(d["redriveCount"], 1);
    assert_eq!(*calls.lock().unwrap(), 2, "the failed call ran again, once");

    let events = node.history(&arn).await;
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["id"], json!(i as u64 + 1), "{events:?}");
    }
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let failed = types.iter().position(|t| *t == "ExecutionFailed").unwrap();
    assert_eq!(types[failed + 1], "ExecutionRedriven", "{types:?}");
    assert_eq!(events[failed + 1]["executionRedrivenEventDetails"], json!({"redriveCount": 1}));
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"));
    assert_eq!(types.iter().filter(|t| **t == "ExecutionStarted").count(), 1);

    let (status, done) = node.call("RedriveExecution", json!({"executionArn": arn})).await;
    assert_eq!((status, done["__type"].as_str()), (400, Some("ExecutionNotRedrivable")));
    std::fs::remove_dir_all(&data).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_values_survive_a_crash_unchanged() {
    let data = temp_dir("uuid");
    let mut node = Baton::start(&data, None, &[]);
    let machine = node
        .machine(
            "minter",
            json!({"StartAt": "Mint", "States": {
                "Mint": {"Type": "Pass",
                         "Parameters": {"id.$": "States.UUID()", "n.$": "States.MathRandom(1, 1000000)"},
                         "Next": "Nap"},
                "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Again"},
                "Again": {"Type": "Pass", "Parameters": {"first.$": "$", "second.$": "States.UUID()"},
                          "End": true}}}),
            "STANDARD",
        )
        .await;
    let v = node.ok("StartExecution", json!({"stateMachineArn": machine, "name": "m"})).await;
    let arn = v["executionArn"].as_str().unwrap().to_owned();
    let before = node.history(&arn).await;
    let minted = before.iter().find(|e| e["type"] == "PassStateExited").unwrap();
    let minted: Value =
        serde_json::from_str(minted["stateExitedEventDetails"]["output"].as_str().unwrap())
            .unwrap();
    // Reading the history twice shows the same values.
    assert_eq!(node.history(&arn).await, before);
    node.kill9();

    let node = Baton::start(&data, None, &[]);
    let d = node.finished(&arn, Duration::from_secs(15)).await;
    assert_eq!(d["status"], "SUCCEEDED");
    let output: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
    assert_eq!(output["first"], minted, "the resumed execution kept what it had made");
    assert_ne!(output["second"], minted["id"]);
    let after = node.history(&arn).await;
    assert_eq!(after[..before.len()], before[..], "history is append-only");
    std::fs::remove_dir_all(&data).ok();
}

/// A receiver that answers after `delay` and records each call's idempotency key and body.
async fn keyed_receiver(delay: Duration) -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/",
        post(move |headers: axum::http::HeaderMap, body: axum::Json<Value>| {
            let log = log.clone();
            async move {
                tokio::time::sleep(delay).await;
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().unwrap().push((key, body.0.clone()));
                axum::Json(json!({"ok": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_keeps_every_execution_and_each_task_key() {
    kill_9_under_load(None).await;
}

/// The same on PostgreSQL, where a node runs a commit per shard at once and the restarted
/// node (a new node id) takes the executions over once the dead one's lease lapses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_on_postgres_keeps_every_execution_and_each_task_key() {
    let Ok(admin) = std::env::var("BATON_TEST_POSTGRES_URL") else {
        eprintln!("BATON_TEST_POSTGRES_URL is not set: skipping the PostgreSQL crash test");
        return;
    };
    let url = store::testing::fresh_postgres(&admin).await.unwrap();
    kill_9_under_load(Some(&url)).await;
    store::testing::drop_database(&admin, &url).await;
}

async fn kill_9_under_load(database: Option<&str>) {
    let (endpoint, seen) = keyed_receiver(Duration::from_millis(40)).await;
    let data = temp_dir(if database.is_some() { "load-pg" } else { "load" });
    let env = [("BATON_CLUSTER__LEASE_SECONDS", "2")];
    let mut node = Baton::start(&data, database, &env);
    let call = |next: &str, step: u32| {
        let mut s = json!({"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint": endpoint, "Method": "POST",
                           "RequestBody": {"run.$": "$$.Execution.Name", "step": step}},
            "ResultPath": null});
        if next.is_empty() {
            s["End"] = json!(true);
        } else {
            s["Next"] = json!(next);
        }
        s
    };
    let machine = node
        .machine(
            "loaded",
            json!({"StartAt": "One", "States": {
                "One": call("Two", 1), "Two": call("Three", 2), "Three": call("", 3)}}),
            "STANDARD",
        )
        .await;
    // Start executions from several tasks at once, and kill the server while they run.
    let node_ref = &node;
    let starts = (0..8).map(|worker| {
        let machine = machine.clone();
        async move {
            let mut arns = Vec::new();
            for i in 0..15 {
                let v = node_ref
                    .ok(
                        "StartExecution",
                        json!({"stateMachineArn": machine, "name": format!("w{worker}-{i}")}),
                    )
                    .await;
                arns.push(v["executionArn"].as_str().unwrap().to_owned());
            }
            arns
        }
    });
    let arns: Vec<String> = futures::future::join_all(starts).await.into_iter().flatten().collect();
    tokio::time::sleep(Duration::from_millis(60)).await;
    node.kill9();
    let calls_before_crash = seen.lock().unwrap().len();

    let node = Baton::start(&data, database, &env);
    for arn in &arns {
        let d = node.finished(arn, Duration::from_secs(60)).await;
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        let events = node.history(arn).await;
        assert_whole_history(&events);
        let scheduled = events.iter().filter(|e| e["type"] == "TaskScheduled").count();
        assert_eq!(scheduled, 3, "each task state ran once in the history: {events:?}");
    }
    let calls = seen.lock().unwrap().clone();
    assert!(calls_before_crash < arns.len() * 3, "the crash came before the work was done");
    // Every (execution, step) was called, and every call of it carried one key; repeats
    // (a dispatch the crash interrupted) carry the same key as the first call.
    let mut keys: std::collections::HashMap<(String, u64), std::collections::HashSet<String>> =
        Default::default();
    for (key, body) in &calls {
        assert!(!key.is_empty(), "every call has an idempotency key");
        let id = (body["run"].as_str().unwrap().to_owned(), body["step"].as_u64().unwrap());
        keys.entry(id).or_default().insert(key.clone());
    }
    assert_eq!(keys.len(), arns.len() * 3);
    assert!(keys.values().all(|k| k.len() == 1), "a repeated dispatch changed its key");
    let distinct: std::collections::HashSet<&String> = keys.values().flatten().collect();
    assert_eq!(distinct.len(), arns.len() * 3, "keys differ between tasks");
    std::fs::remove_dir_all(&data).ok();
}
