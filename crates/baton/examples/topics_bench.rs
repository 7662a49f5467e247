//! A load generator for topics: deliveries per second to a local receiver, and
//! publish-to-delivery latency, against a running `baton up`.
//!
//! ```sh
//! cargo run --release --example topics_bench -- --endpoint http://127.0.0.1:8080 \
//!     --count 20000 --concurrency 32 [--batch 10] [--ids server|ordered|random]
//! ```
//!
//! It starts a webhook receiver on 127.0.0.1:0 (answers 200 at once), creates a topic with
//! one raw subscription to it, then keeps `--concurrency` publishes in flight until
//! `--count` messages are acknowledged, and waits until every one has arrived. With
//! `--batch N` each publish request carries N messages (a batch, as SNS's PublishBatch).
//! `--ids` says who names the messages: `server` (the default: Baton makes the ids, as for a
//! publisher that sends none), `ordered` (the publisher's own, in order: `msg_<run>_<n>`)
//! or `random` (the publisher's own, random: `msg_<uuid>`).
//! A message's latency runs from the start of its publish request to its arrival at the
//! receiver (its first arrival: repeats are counted apart). `bench/topics.sh` runs it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

struct Shared {
    sent: Mutex<HashMap<String, Instant>>,
    arrived: Mutex<HashMap<String, Instant>>,
    repeats: AtomicU64,
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let endpoint = arg("--endpoint").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let count: u64 = arg("--count").map_or(20_000, |v| v.parse().expect("--count N"));
    let concurrency: u64 = arg("--concurrency").map_or(32, |v| v.parse().expect("--concurrency N"));
    let batch: u64 = arg("--batch").map_or(1, |v| v.parse().expect("--batch N (1 to 10)"));
    let ids = arg("--ids").unwrap_or_else(|| "server".into());
    assert!(["server", "ordered", "random"].contains(&ids.as_str()), "--ids server|ordered|random");
    let shared = Arc::new(Shared {
        sent: Mutex::default(),
        arrived: Mutex::default(),
        repeats: AtomicU64::new(0),
    });

    let s = shared.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let s = s.clone();
            async move {
                let now = Instant::now();
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let mut arrived = s.arrived.lock().unwrap();
                if arrived.insert(id, now).is_some() {
                    s.repeats.fetch_add(1, Ordering::Relaxed);
                }
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let run = format!("{:x}", std::process::id() as u64 * 1_000_003 + now_nanos() % 1_000_000);
    let topic = format!("bench-{run}");
    let r = client.post(format!("{endpoint}/topics")).json(&json!({"name": topic})).send().await;
    assert_eq!(r.expect("baton answers").status().as_u16(), 201, "create the topic");
    let r = client
        .post(format!("{endpoint}/topics/{topic}/subscriptions"))
        .json(&json!({"endpoint": receiver, "raw": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "subscribe");

    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, shared, next) = (client.clone(), shared.clone(), next.clone());
        let url = format!("{endpoint}/topics/{topic}/messages");
        let (run, ids) = (run.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(batch, Ordering::Relaxed);
                if first >= count {
                    return;
                }
                let now = Instant::now();
                let messages: Vec<serde_json::Value> = (first..count.min(first + batch))
                    .map(|n| {
                        let id = match ids.as_str() {
                            "ordered" => format!("msg_b{run}_{n}"),
                            "random" => format!("msg_{}", uuid::Uuid::new_v4().simple()),
                            _ => return json!({"message": {"n": n}}),
                        };
                        shared.sent.lock().unwrap().insert(id.clone(), now);
                        json!({"message": {"n": n}, "id": id})
                    })
                    .collect();
                let body = if batch == 1 {
                    messages.into_iter().next().unwrap()
                } else {
                    serde_json::Value::Array(messages)
                };
                let r = client.post(&url).json(&body).send().await.expect("publish");
                assert_eq!(r.status().as_u16(), 202);
                if ids == "server" {
                    // The ids Baton gave, in order; their sending time is this request's.
                    let answer: serde_json::Value = r.json().await.expect("a publish answer");
                    let given: Vec<String> = match answer.get("messages") {
                        Some(list) => list
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|m| m["message_id"].as_str().map(str::to_owned))
                            .collect(),
                        None => {
                            answer["message_id"].as_str().map(str::to_owned).into_iter().collect()
                        }
                    };
                    let mut sent = shared.sent.lock().unwrap();
                    for id in given {
                        sent.insert(id, now);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let published = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if shared.arrived.lock().unwrap().len() as u64 >= count {
            break;
        }
        assert!(Instant::now() < deadline, "not every message arrived within 10 minutes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = shared.sent.lock().unwrap();
    let arrived = shared.arrived.lock().unwrap();
    let last = arrived.values().max().copied().unwrap();
    let delivered = last.duration_since(started);
    let mut latencies: Vec<f64> = arrived
        .iter()
        .filter_map(|(id, at)| sent.get(id).map(|s| at.duration_since(*s).as_secs_f64() * 1e3))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let result = json!({
        "count": count,
        "concurrency": concurrency,
        "batch": batch,
        "ids": ids,
        "publish_per_s": (count as f64 / published.as_secs_f64()).round(),
        "deliveries_per_s": (count as f64 / delivered.as_secs_f64()).round(),
        "p50_ms": (pct(0.50) * 10.0).round() / 10.0,
        "p99_ms": (pct(0.99) * 10.0).round() / 10.0,
        "repeats": shared.repeats.load(Ordering::Relaxed),
    });
    println!("{result}");
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64)
}
