//! Topics and webhooks through the real `baton up`: the REST API, and deliveries to small
//! real receivers (axum servers on 127.0.0.1:0 in the test) that verify Standard Webhooks
//! signatures, fail, throttle, disappear and are slow, and a `kill -9` in a burst.

mod support;
mod webhooks;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{temp_dir, Baton};
use webhooks::{http, ok, publish, topic_with, verify, Hit, Receiver};

// ----- the server --------------------------------------------------------------------------

/// A configuration file with short retry delays, so retries happen within a test.
fn config(dir: &Path, retry: &str) -> PathBuf {
    let path = dir.join("baton.toml");
    std::fs::write(&path, format!("[topics]\nretry_schedule = {retry}\n")).unwrap();
    path
}

fn start(tag: &str, retry: &str) -> Baton {
    let dir = temp_dir(tag);
    let cfg = config(&dir, retry);
    Baton::spawn(&dir.join("data"), None, &[], Some(&cfg))
}

const FAST: &str = r#"["0s", "150ms", "150ms", "150ms"]"#;

// ----- the tests ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_reaches_its_subscribers_signed() {
    let b = start("topics-signed", FAST);
    let enveloped = Receiver::ok().await;
    let raw = Receiver::ok().await;
    let s1 = topic_with(&b, "orders", &enveloped.url, json!({})).await;
    let s2 = topic_with(&b, "orders", &raw.url, json!({"raw": true})).await;
    let id = publish(
        &b,
        "orders",
        json!({"message": {"order": 42}, "subject": "new order",
               "attributes": {"store": {"Type": "String", "Value": "example_corp"}}}),
    )
    .await;
    assert!(id.starts_with("msg_"));
    let one = |h: &[Hit]| h.len() == 1;
    enveloped.wait_for(Duration::from_secs(10), "enveloped delivery", one).await;
    raw.wait_for(Duration::from_secs(10), "raw delivery", one).await;

    let h = &enveloped.hits()[0];
    assert_eq!(h.id, id, "webhook-id is the message id");
    verify(s1["secret"].as_str().unwrap(), h).expect("a valid Standard Webhooks signature");
    assert!(verify(s2["secret"].as_str().unwrap(), h).is_err(), "each subscription has its secret");
    let envelope: Value = serde_json::from_str(&h.body).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["MessageId"], json!(id));
    assert_eq!(envelope["TopicArn"], "arn:aws:sns:us-east-1:123456789012:orders");
    assert_eq!(envelope["Subject"], "new order");
    assert_eq!(envelope["Message"], r#"{"order":42}"#);
    assert_eq!(
        envelope["MessageAttributes"]["store"],
        json!({"Type": "String", "Value": "example_corp"})
    );
    let r = &raw.hits()[0];
    assert_eq!(r.body, r#"{"order":42}"#, "raw delivery is the message alone");
    verify(s2["secret"].as_str().unwrap(), r).unwrap();

    // A rotation: deliveries are signed with the new secret and, for a while, the old one.
    let sub_path = format!("/topics/orders/subscriptions/{}", s1["id"].as_str().unwrap());
    let rotated = ok(&b, "POST", &format!("{sub_path}/rotate-secret"), None).await;
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, s1["secret"].as_str().unwrap());
    publish(&b, "orders", json!({"message": "second"})).await;
    enveloped.wait_for(Duration::from_secs(10), "second delivery", |h| h.len() == 2).await;
    let h = &enveloped.hits()[1];
    assert_eq!(h.signature.split(' ').count(), 2, "{}", h.signature);
    verify(new_secret, h).unwrap();
    verify(s1["secret"].as_str().unwrap(), h).unwrap();

    // Listings never show secrets; the API's errors are JSON with a code.
    let subs = ok(&b, "GET", "/topics/orders/subscriptions", None).await;
    assert_eq!(subs["subscriptions"].as_array().unwrap().len(), 2);
    assert!(!subs.to_string().contains("whsec_"));
    let topics = ok(&b, "GET", "/topics", None).await;
    assert_eq!(topics["topics"][0]["name"], "orders");
    assert_eq!(ok(&b, "GET", "/topics/orders", None).await["name"], "orders");
    let (status, v) = http(&b, "POST", "/topics", Some(json!({"name": "orders"}))).await;
    assert_eq!((status, v["code"].as_str()), (409, Some("Conflict")));
    let (status, v) =
        http(&b, "POST", "/topics/nope/messages", Some(json!({"message": "x"}))).await;
    assert_eq!((status, v["code"].as_str()), (404, Some("NotFound")));
    let (status, v) = http(&b, "POST", "/topics", Some(json!({"name": "bad name!"}))).await;
    assert_eq!((status, v["code"].as_str()), (400, Some("InvalidParameter")));
    let (status, v) =
        http(&b, "POST", "/topics/orders/messages", Some(json!({"nomessage": 1}))).await;
    assert_eq!(status, 400, "{v}");
    let r = b
        .client
        .post(format!("http://{}/topics/orders/messages", b.addr))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (status, _) =
        http(&b, "POST", "/topics/orders/subscriptions", Some(json!({"endpoint": "ftp://x"})))
            .await;
    assert_eq!(status, 400);
    let bad_attr = json!({"message": "x", "attributes": {"n": {"Type": "Number", "Value": "abc"}}});
    let (status, v) = http(&b, "POST", "/topics/orders/messages", Some(bad_attr)).await;
    assert_eq!(status, 400, "{v}");
    let (status, _) =
        http(&b, "POST", "/topics/orders/messages", Some(json!({"message": "x", "id": "bad.id"})))
            .await;
    assert_eq!(status, 400);

    // An idempotent publish: the same id twice is delivered once.
    let fixed = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
    publish(&b, "orders", json!({"message": "once", "id": fixed})).await;
    publish(&b, "orders", json!({"message": "once", "id": fixed})).await;
    enveloped
        .wait_for(Duration::from_secs(10), "the fixed id", |h| h.iter().any(|x| x.id == fixed))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(enveloped.hits().iter().filter(|x| x.id == fixed).count(), 1);

    // Unsubscribing and deleting.
    let (status, _) = http(&b, "DELETE", &sub_path, None).await;
    assert_eq!(status, 204);
    assert_eq!(http(&b, "DELETE", &sub_path, None).await.0, 404);
    assert_eq!(http(&b, "DELETE", "/topics/orders", None).await.0, 204);
    assert_eq!(http(&b, "GET", "/topics/orders", None).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_policies_select_exactly_the_matching_messages() {
    let b = start("topics-filter", FAST);
    let by_attributes = Receiver::ok().await;
    let by_body = Receiver::ok().await;
    let everything = Receiver::ok().await;
    let policy = json!({"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100]}]});
    topic_with(&b, "sales", &by_attributes.url, json!({"filter_policy": policy})).await;
    topic_with(
        &b,
        "sales",
        &by_body.url,
        json!({"filter_policy": {"kind": [{"prefix": "refund"}]}, "filter_policy_scope": "MessageBody"}),
    )
    .await;
    topic_with(&b, "sales", &everything.url, json!({})).await;
    let (status, v) = http(
        &b,
        "POST",
        "/topics/sales/subscriptions",
        Some(json!({"endpoint": everything.url, "filter_policy": {"a": [{"numeric": ["<<", 1]}]}})),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (400, Some("InvalidParameter")), "{v}");

    let attrs = |store: &str, price: &str| json!({"store": {"Type": "String", "Value": store}, "price_usd": {"Type": "Number", "Value": price}});
    let cases = [
        (json!({"kind": "sale"}), attrs("example_corp", "210.75"), true, false),
        (json!({"kind": "sale"}), attrs("example_corp", "99.99"), false, false),
        (json!({"kind": "refund-partial"}), attrs("other_corp", "500"), false, true),
        (json!({"kind": "refund"}), attrs("example_corp", "1e2"), true, true),
        (json!({"kind": "sale"}), json!({}), false, false),
        (json!({"other": "refund"}), attrs("example_corp", "100"), true, false),
    ];
    let mut want_attributes = HashSet::new();
    let mut want_body = HashSet::new();
    let mut all = HashSet::new();
    for (body, attributes, a, m) in cases {
        let id = publish(&b, "sales", json!({"message": body, "attributes": attributes})).await;
        if a {
            want_attributes.insert(id.clone());
        }
        if m {
            want_body.insert(id.clone());
        }
        all.insert(id);
    }
    everything.wait_for(Duration::from_secs(10), "every message", |h| h.len() == 6).await;
    // Deliveries to one subscription do not wait for another's: give stragglers a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(everything.delivered(), all);
    assert_eq!(by_attributes.delivered(), want_attributes);
    assert_eq!(by_body.delivered(), want_body);
    assert_eq!(by_attributes.hits().len(), 3);
    assert_eq!(by_body.hits().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_throttling_receivers_get_the_message_later_with_the_same_id() {
    let b = start("topics-retry", r#"["0s", "100ms", "100ms", "100ms", "100ms"]"#);
    let failing = Receiver::start(Arc::new(|_, seen| {
        if seen < 2 {
            (500, None, Duration::ZERO)
        } else {
            (200, None, Duration::ZERO)
        }
    }))
    .await;
    let s = topic_with(&b, "jobs", &failing.url, json!({})).await;
    let id = publish(&b, "jobs", json!({"message": "work"})).await;
    failing.wait_for(Duration::from_secs(10), "the third attempt", |h| h.len() == 3).await;
    let hits = failing.hits();
    assert!(hits.iter().all(|h| h.id == id), "webhook-id is stable across retries");
    assert_eq!(hits.iter().map(|h| h.status).collect::<Vec<_>>(), [500, 500, 200]);
    for h in &hits {
        verify(s["secret"].as_str().unwrap(), h).unwrap();
    }
    // Every attempt is recorded, newest first.
    let path = format!("/topics/jobs/subscriptions/{}/attempts", s["id"].as_str().unwrap());
    let mut attempts = ok(&b, "GET", &path, None).await;
    for _ in 0..50 {
        if attempts["attempts"].as_array().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        attempts = ok(&b, "GET", &path, None).await;
    }
    let list = attempts["attempts"].as_array().unwrap();
    let codes: Vec<i64> = list.iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [200, 500, 500]);
    assert_eq!(list[0]["attempt"], 3);
    assert_eq!(list[0]["message_id"], json!(id));
    assert_eq!(list[0]["response"], "receiver says hi");
    assert!(list[0]["latency_ms"].as_i64().unwrap() >= 0);

    // A 429 with Retry-After: 1 waits at least a second, though the schedule says 100 ms.
    let throttling = Receiver::start(Arc::new(|_, seen| {
        if seen == 0 {
            (429, Some("1"), Duration::ZERO)
        } else {
            (200, None, Duration::ZERO)
        }
    }))
    .await;
    topic_with(&b, "throttled", &throttling.url, json!({})).await;
    publish(&b, "throttled", json!({"message": "slowly"})).await;
    throttling.wait_for(Duration::from_secs(10), "the retry", |h| h.len() == 2).await;
    let h = throttling.hits();
    assert!(h[1].start_ms - h[0].start_ms >= 1000, "Retry-After honoured: {h:?}");
    assert_eq!(h[0].id, h[1].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_the_subscription() {
    let b = start("topics-gone", FAST);
    let gone = Receiver::start(Arc::new(|_, _| (410, None, Duration::ZERO))).await;
    let s = topic_with(&b, "news", &gone.url, json!({})).await;
    let first = publish(&b, "news", json!({"message": "one"})).await;
    gone.wait_for(Duration::from_secs(10), "the 410", |h| h.len() == 1).await;
    let path = format!("/topics/news/subscriptions/{}", s["id"].as_str().unwrap());
    let mut sub = ok(&b, "GET", &path, None).await;
    for _ in 0..50 {
        if sub["status"] == "disabled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        sub = ok(&b, "GET", &path, None).await;
    }
    assert_eq!(sub["status"], "disabled");
    publish(&b, "news", json!({"message": "two"})).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(gone.hits().len(), 1, "a disabled subscription gets nothing more");
    let dead = ok(&b, "GET", "/topics/news/dead-letters", None).await;
    let dead = dead["dead_letters"].as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["message_id"], json!(first));
    // Replaying to a disabled subscription is refused; enabled again, it replays.
    let replay = format!("/topics/news/dead-letters/{}/replay", dead[0]["id"]);
    assert_eq!(http(&b, "POST", &replay, None).await.0, 409);
    gone.set(Arc::new(|_, _| (200, None, Duration::ZERO)));
    let enabled = ok(&b, "POST", &format!("{path}/enable"), None).await;
    assert_eq!(enabled["status"], "active");
    ok(&b, "POST", &replay, None).await;
    gone.wait_for(Duration::from_secs(10), "the replay", |h| h.len() == 2).await;
    assert_eq!(gone.hits()[1].id, first);
    assert_eq!(gone.hits()[1].status, 200);
}

/// Polls a subscription until its status is `status`, or fails after `within`.
async fn wait_status(b: &Baton, path: &str, status: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let sub = ok(b, "GET", path, None).await;
        if sub["status"] == status {
            return sub;
        }
        assert!(Instant::now() < deadline, "{path} is not {status} after {within:?}: {sub}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_failing_too_long_are_disabled_with_an_operational_event() {
    // Disabled after 1.2 s of failures (the hours may be a fraction), retries every 300 ms.
    let dir = temp_dir("topics-failing");
    let cfg = dir.join("baton.toml");
    let retry = format!("[\"0s\"{}]", ", \"300ms\"".repeat(12));
    let hours = 1.2 / 3600.0;
    std::fs::write(
        &cfg,
        format!("[topics]\nretry_schedule = {retry}\ndisable_after_hours = {hours}\n"),
    )
    .unwrap();
    let b = Baton::spawn(&dir.join("data"), None, &[], Some(&cfg));

    // An operator subscribes to the operational events (raw, filtered on their type).
    let ops = Receiver::ok().await;
    let filter = json!({"type": ["subscription.disabled"]});
    topic_with(&b, "baton-operations", &ops.url, json!({"raw": true, "filter_policy": filter}))
        .await;

    // A receiver that fails twice per message and then recovers, for three messages one
    // after the other: each streak of failures is short, though failures span more than
    // the limit in all.
    let flaky = Receiver::start(Arc::new(|_, seen| {
        (if seen < 2 { 500 } else { 200 }, None, Duration::ZERO)
    }))
    .await;
    let fs = topic_with(&b, "flaky", &flaky.url, json!({})).await;
    let flaky_path = format!("/topics/flaky/subscriptions/{}", fs["id"].as_str().unwrap());
    let started = Instant::now();
    for n in 1..=3 {
        publish(&b, "flaky", json!({"message": format!("m{n}")})).await;
        flaky.wait_for(Duration::from_secs(10), "the recovery", |h| h.len() == 3 * n).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(1200), "failures spanned the limit");
    assert_eq!(flaky.delivered().len(), 3);

    // A receiver that keeps failing is disabled once its failures span the limit.
    let down = Receiver::start(Arc::new(|_, _| (500, None, Duration::ZERO))).await;
    let ds = topic_with(&b, "orders", &down.url, json!({})).await;
    let id = ds["id"].as_str().unwrap();
    let path = format!("/topics/orders/subscriptions/{id}");
    let message = publish(&b, "orders", json!({"message": "one"})).await;
    wait_status(&b, &path, "disabled", Duration::from_secs(10)).await;
    let hits = down.hits();
    let span = hits.last().unwrap().start_ms - hits[0].start_ms;
    assert!(span >= 1100, "disabled only after failing for the limit: {span} ms, {hits:?}");
    assert!(hits.len() < 13, "disabled before its retries ran out: {} attempts", hits.len());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(down.hits().len(), hits.len(), "a disabled subscription gets nothing more");
    let dead = ok(&b, "GET", "/topics/orders/dead-letters", None).await;
    let dead = dead["dead_letters"].as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["message_id"], json!(message));
    assert!(
        dead[0]["last_error"].as_str().unwrap().starts_with("every attempt failed"),
        "{dead:?}"
    );

    // The operator hears of it, once.
    ops.wait_for(Duration::from_secs(10), "the operational event", |h| !h.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = ops.hits();
    assert_eq!(events.len(), 1, "one event: {events:?}");
    let event: Value = serde_json::from_str(&events[0].body).unwrap();
    assert_eq!(event["type"], "subscription.disabled");
    assert_eq!(event["topic"], "orders");
    assert_eq!(event["subscription"], json!(id));
    assert_eq!(event["endpoint"], json!(down.url));
    assert!(event["reason"].as_str().unwrap().starts_with("every attempt failed"), "{event}");
    let since = chrono::DateTime::parse_from_rfc3339(event["failing_since"].as_str().unwrap())
        .expect("failing_since is an RFC 3339 time");
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let age_ms = now_ms as i64 - since.timestamp_millis();
    assert!((1200..30_000).contains(&age_ms), "failing since {since}, {age_ms} ms ago");
    // The API shows the same start, the first attempt's.
    let shown = ok(&b, "GET", &path, None).await;
    let shown_ms = shown["failing_since_ms"].as_i64().expect("failing_since_ms is shown");
    assert!((shown_ms - since.timestamp_millis()).abs() < 1000, "{shown} against {since}");

    // The flaky one, which recovered each time, is still active, and shows no failures.
    let flaky = ok(&b, "GET", &flaky_path, None).await;
    assert_eq!(flaky["status"], "active");
    assert!(flaky.get("failing_since_ms").is_none(), "{flaky}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_endpoint_is_reported_on_the_operations_topic() {
    let b = start("topics-gone-ops", FAST);
    let ops = Receiver::ok().await;
    topic_with(&b, "baton-operations", &ops.url, json!({"raw": true})).await;
    let gone = Receiver::start(Arc::new(|_, _| (410, None, Duration::ZERO))).await;
    let s = topic_with(&b, "news", &gone.url, json!({})).await;
    publish(&b, "news", json!({"message": "one"})).await;
    let path = format!("/topics/news/subscriptions/{}", s["id"].as_str().unwrap());
    wait_status(&b, &path, "disabled", Duration::from_secs(10)).await;
    ops.wait_for(Duration::from_secs(10), "the operational event", |h| !h.is_empty()).await;
    let event: Value = serde_json::from_str(&ops.hits()[0].body).unwrap();
    assert_eq!(event["type"], "subscription.disabled");
    assert_eq!(event["subscription"], s["id"]);
    assert_eq!(event["reason"], "the endpoint answered 410 Gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_stays_down_leaves_a_dead_letter_that_replays() {
    let b = start("topics-dead", r#"["0s", "100ms", "100ms"]"#);
    let down = Receiver::start(Arc::new(|_, _| (503, None, Duration::ZERO))).await;
    topic_with(&b, "alerts", &down.url, json!({})).await;
    let id = publish(&b, "alerts", json!({"message": "fire"})).await;
    down.wait_for(Duration::from_secs(10), "three attempts", |h| h.len() == 3).await;
    let mut dead = Vec::new();
    for _ in 0..100 {
        let v = ok(&b, "GET", "/topics/alerts/dead-letters", None).await;
        dead = v["dead_letters"].as_array().unwrap().clone();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dead.len(), 1, "exhausted retries make a dead letter");
    assert_eq!((dead[0]["message_id"].clone(), dead[0]["attempts"].clone()), (json!(id), json!(3)));
    assert_eq!(dead[0]["last_error"], "HTTP 503");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(down.hits().len(), 3, "no attempt after the last");

    down.set(Arc::new(|_, _| (200, None, Duration::ZERO)));
    let replay = format!("/topics/alerts/dead-letters/{}/replay", dead[0]["id"]);
    let v = ok(&b, "POST", &replay, None).await;
    assert_eq!(v["status"], "pending");
    down.wait_for(Duration::from_secs(10), "the replay", |h| h.len() == 4).await;
    assert_eq!(down.hits()[3].id, id);
    assert_eq!(down.hits()[3].status, 200);
    assert_eq!(http(&b, "POST", &replay, None).await.0, 409, "only dead letters replay");
    assert_eq!(http(&b, "POST", "/topics/alerts/dead-letters/999999/replay", None).await.0, 404);
    let v = ok(&b, "GET", "/topics/alerts/dead-letters", None).await;
    assert!(v["dead_letters"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_publishes_all_its_messages_or_none() {
    let b = start("topics-batch", FAST);
    let r = Receiver::ok().await;
    let s = topic_with(&b, "batched", &r.url, json!({"raw": true})).await;
    let path = "/topics/batched/messages";

    // Ten messages, as SNS's PublishBatch allows: one id each, in order, each delivered once.
    let batch: Vec<Value> = (0..10)
        .map(|i| json!({"message": {"n": i}, "ordering_key": if i % 2 == 0 { "even" } else { "odd" }}))
        .collect();
    let (status, v) = http(&b, "POST", path, Some(Value::Array(batch))).await;
    assert_eq!(status, 202, "{v}");
    let ids: Vec<String> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 10);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 10, "distinct ids");
    r.wait_for(Duration::from_secs(10), "ten deliveries", |h| h.len() == 10).await;
    let hits = r.hits();
    for (i, id) in ids.iter().enumerate() {
        let hit = hits.iter().find(|h| h.id == *id).expect("delivered");
        assert_eq!(serde_json::from_str::<Value>(&hit.body).unwrap(), json!({"n": i}));
        verify(s["secret"].as_str().unwrap(), hit).expect("signed");
    }
    // Per ordering key, in the batch's order.
    for parity in [0, 1] {
        let want: Vec<&String> = ids.iter().skip(parity).step_by(2).collect();
        let mut got: Vec<&Hit> = hits.iter().filter(|h| want.contains(&&h.id)).collect();
        got.sort_by_key(|h| h.start_ms);
        assert_eq!(got.iter().map(|h| &h.id).collect::<Vec<_>>(), want);
    }

    // An invalid message anywhere publishes none of the batch, and says which one.
    let bad = json!([{"message": "fine", "id": "msg_batch_fine"}, {"message": "x", "subject": ""}]);
    let (status, v) = http(&b, "POST", path, Some(bad)).await;
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("message 1"), "{v}");
    let (status, v) = http(
        &b,
        "POST",
        path,
        Some(json!([{"message": "a", "id": "msg_dup"}, {"message": "b", "id": "msg_dup"}])),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    for empty_or_big in [json!([]), Value::Array((0..11).map(|i| json!({"message": i})).collect())]
    {
        let (status, v) = http(&b, "POST", path, Some(empty_or_big)).await;
        assert_eq!(status, 400, "{v}");
    }
    let (status, v) = http(&b, "POST", path, Some(json!([1]))).await;
    assert_eq!(status, 400, "{v}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.hits().len(), 10, "no message of a rejected batch was delivered");

    // A batch sent again with its ids (a retry) delivers nothing twice.
    let again = json!([{"message": "once", "id": "msg_batch_once"}]);
    for _ in 0..2 {
        let (status, v) = http(&b, "POST", path, Some(again.clone())).await;
        assert_eq!(status, 202, "{v}");
        assert_eq!(v["messages"][0]["message_id"], "msg_batch_once");
    }
    r.wait_for(Duration::from_secs(10), "the retried batch", |h| h.len() == 11).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.hits().len(), 11, "the retried batch was delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_keys_deliver_each_key_in_order_while_keys_run_in_parallel() {
    let b = start("topics-order", FAST);
    // Slow, and failing the first attempt of about half the messages: order must hold anyway.
    let slow = Receiver::start(Arc::new(|id: &str, seen| {
        let n = id.bytes().last().unwrap_or(0);
        if seen == 0 && n & 1 == 0 {
            (500, None, Duration::from_millis(20))
        } else {
            (200, None, Duration::from_millis(60))
        }
    }))
    .await;
    topic_with(&b, "ledger", &slow.url, json!({})).await;
    let mut sent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut key_of = HashMap::new();
    for i in 0..8 {
        for key in ["a", "b", "c"] {
            let id = publish(
                &b,
                "ledger",
                json!({"message": {"key": key, "n": i}, "ordering_key": key}),
            )
            .await;
            sent.entry(key.to_owned()).or_default().push(id.clone());
            key_of.insert(id, key.to_owned());
        }
    }
    slow.wait_for(Duration::from_secs(30), "24 deliveries", |h| {
        h.iter().filter(|x| x.status == 200).count() == 24
    })
    .await;
    let hits = slow.hits();
    for (key, ids) in &sent {
        let of_key: Vec<&Hit> = hits.iter().filter(|h| key_of[&h.id] == *key).collect();
        let delivered: Vec<String> =
            of_key.iter().filter(|h| h.status == 200).map(|h| h.id.clone()).collect();
        assert_eq!(&delivered, ids, "key {key} in publish order");
        // One at a time: each request of the key starts after the previous one ended.
        let mut by_start = of_key.clone();
        by_start.sort_by_key(|h| h.start_ms);
        for pair in by_start.windows(2) {
            assert!(pair[1].start_ms >= pair[0].end_ms, "key {key} overlapped: {pair:?}");
        }
    }
    // Different keys overlap in time.
    let overlapping = hits.iter().any(|x| {
        hits.iter().any(|y| {
            key_of[&x.id] != key_of[&y.id] && x.start_ms < y.end_ms && y.start_ms < x.end_ms
        })
    });
    assert!(overlapping, "keys run in parallel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_burst_loses_no_acknowledged_message() {
    let dir = temp_dir("topics-kill");
    let cfg = config(&dir, FAST);
    let data = dir.join("data");
    let receiver = Receiver::start(Arc::new(|_, _| (200, None, Duration::from_millis(2)))).await;
    let mut b = Baton::spawn(&data, None, &[], Some(&cfg));
    topic_with(&b, "burst", &receiver.url, json!({})).await;

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut publishers = Vec::new();
    for p in 0..8 {
        let (client, addr, acked) = (b.client.clone(), b.addr.clone(), acked.clone());
        publishers.push(tokio::spawn(async move {
            for i in 0..1000 {
                let r = client
                    .post(format!("http://{addr}/topics/burst/messages"))
                    .body(json!({"message": {"p": p, "i": i}}).to_string())
                    .send()
                    .await;
                let Ok(r) = r else { return };
                if r.status().as_u16() != 202 {
                    return;
                }
                let Ok(v) = r.json::<Value>().await else { return };
                acked.lock().unwrap().push(v["message_id"].as_str().unwrap().to_owned());
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "publishing is too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    b.kill9();
    for p in publishers {
        p.await.unwrap();
    }
    let acked: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let before_restart = receiver.delivered().len();
    assert!(acked.len() >= 300);

    let _b = Baton::spawn(&data, None, &[], Some(&cfg));
    let within = Duration::from_secs(60);
    receiver
        .wait_for(within, "every acknowledged message", |h| {
            let got: HashSet<&String> =
                h.iter().filter(|x| (200..300).contains(&x.status)).map(|x| &x.id).collect();
            acked.iter().all(|id| got.contains(id))
        })
        .await;
    eprintln!(
        "acknowledged {}, delivered before the kill {before_restart}, requests in all {}",
        acked.len(),
        receiver.hits().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_topics_are_created_at_start_and_metadata_addresses_refused() {
    let receiver = Receiver::ok().await;
    let dir = temp_dir("topics-declared");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let cfg = dir.join("baton.toml");
    std::fs::write(
        &cfg,
        format!(
            "[topics]\nretry_schedule = {FAST}\n\n[topics.signups]\n\
             [[topics.signups.subscriptions]]\nendpoint = \"{}\"\nraw = true\n\
             secret = \"{secret}\"\nfilter_policy = {{ plan = [\"pro\"] }}\n\
             filter_policy_scope = \"MessageBody\"\n",
            receiver.url
        ),
    )
    .unwrap();
    let data = dir.join("data");
    let mut b = Baton::spawn(&data, None, &[], Some(&cfg));
    publish(&b, "signups", json!({"message": {"plan": "free"}})).await;
    let id = publish(&b, "signups", json!({"message": {"plan": "pro"}})).await;
    receiver.wait_for(Duration::from_secs(10), "the pro signup", |h| !h.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "the declared filter applies");
    assert_eq!((hits[0].id.as_str(), hits[0].body.as_str()), (id.as_str(), r#"{"plan":"pro"}"#));
    verify(secret, &hits[0]).expect("signed with the declared secret");
    // A restart does not subscribe the endpoint twice.
    b.terminate();
    let b = Baton::spawn(&data, None, &[], Some(&cfg));
    let subs = ok(&b, "GET", "/topics/signups/subscriptions", None).await;
    assert_eq!(subs["subscriptions"].as_array().unwrap().len(), 1);

    // Cloud metadata is never a webhook target.
    for endpoint in ["http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]/"] {
        let (status, v) =
            http(&b, "POST", "/topics/signups/subscriptions", Some(json!({"endpoint": endpoint})))
                .await;
        assert_eq!(
            (status, v["code"].as_str()),
            (400, Some("InvalidParameter")),
            "{endpoint}: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_lists_apply_to_the_addresses_names_resolve_to() {
    let receiver = Receiver::ok().await;
    let dir = temp_dir("topics-deny");
    let cfg = dir.join("baton.toml");
    std::fs::write(
        &cfg,
        "[topics]\nretry_schedule = [\"0s\"]\ndeny_networks = [\"127.0.0.0/8\", \"::1/128\"]\n",
    )
    .unwrap();
    let b = Baton::spawn(&dir.join("data"), None, &[], Some(&cfg));
    // The literal address is refused at once; a name is checked when it is resolved.
    let (status, _) = http(&b, "POST", "/topics", Some(json!({"name": "local"}))).await;
    assert_eq!(status, 201);
    let (status, _) =
        http(&b, "POST", "/topics/local/subscriptions", Some(json!({"endpoint": receiver.url})))
            .await;
    assert_eq!(status, 400);
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let s = topic_with(&b, "local", &by_name, json!({})).await;
    let id = publish(&b, "local", json!({"message": "x"})).await;
    let mut dead = Value::Null;
    for _ in 0..200 {
        dead = ok(&b, "GET", "/topics/local/dead-letters", None).await;
        if !dead["dead_letters"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dead["dead_letters"][0]["message_id"], json!(id), "{dead}");
    let path = format!("/topics/local/subscriptions/{}/attempts", s["id"].as_str().unwrap());
    let attempts = ok(&b, "GET", &path, None).await;
    let error = attempts["attempts"][0]["error"].as_str().unwrap().to_owned();
    assert!(error.contains("denied network"), "{error}");
    assert!(receiver.hits().is_empty());
}
