//! Topics on two `baton up` nodes sharing one PostgreSQL database (skipped unless
//! `BATON_TEST_POSTGRES_URL` is set): publishes spread over both nodes, ordering keys kept
//! per subscription across them while a receiver fails now and then, and a node killed with
//! SIGKILL in the middle of attempts, whose leases the other node takes over once they
//! lapse.

mod support;
mod webhooks;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{temp_dir, Baton};
use webhooks::{ok, publish, topic_with, Hit, InFlight, Receiver, Script};

const TOPIC: &str = "ledger";
const KEYS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

/// How long one attempt may take (`[topics] timeout_seconds`); a lease lasts this and 15 s.
const TIMEOUT_SECONDS: u64 = 2;

/// How long the receiver holds each request while it answers 503: long enough for the
/// test to see a request under way and kill its sender before the answer.
const HOLD: Duration = Duration::from_millis(600);

/// The configuration of both nodes: short retries (enough of them to outlast the 503s),
/// and a short attempt timeout, hence a short lease.
fn config(dir: &Path) -> PathBuf {
    let path = dir.join("baton.toml");
    let retry = r#"["0s", "100ms", "100ms", "200ms", "200ms", "300ms", "300ms", "400ms",
        "400ms", "500ms", "500ms", "500ms", "500ms", "500ms", "500ms"]"#;
    let toml = format!("[topics]\nretry_schedule = {retry}\ntimeout_seconds = {TIMEOUT_SECONDS}\n");
    std::fs::write(&path, toml).unwrap();
    path
}

/// Answers 500 to every 7th request the receiver gets (counted in `count`), 200 to the
/// others, after a few milliseconds, so that requests have a duration to overlap in.
fn every_seventh_fails(count: Arc<AtomicUsize>) -> Script {
    Arc::new(move |_, _| {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        (if n.is_multiple_of(7) { 500 } else { 200 }, None, Duration::from_millis(5))
    })
}

/// The ordering key of a raw delivery: the `key` of the message the test published.
fn key_of_body(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    v["key"].as_str().map(str::to_owned)
}

/// Publishes `count` messages for each key, the keys in parallel and each key's messages
/// one after the other (each acknowledged before the next is sent), alternating between
/// the nodes; `first` numbers the first message of each key. Adds the message ids to
/// `sent`, by key in publish order.
async fn publish_keys(
    nodes: [&Baton; 2],
    first: usize,
    count: usize,
    sent: &mut BTreeMap<String, Vec<String>>,
) {
    let per_key = KEYS.iter().enumerate().map(|(k, key)| async move {
        let mut ids = Vec::with_capacity(count);
        for n in first..first + count {
            let node = nodes[(n + k) % 2];
            let body = json!({"message": {"key": key, "n": n}, "ordering_key": key});
            ids.push(publish(node, TOPIC, body).await);
        }
        (key.to_string(), ids)
    });
    for (key, ids) in futures::future::join_all(per_key).await {
        sent.entry(key).or_default().extend(ids);
    }
}

/// Waits until every message of `sent` was answered with a 2xx, or fails after `within`.
async fn wait_delivered(
    receiver: &Receiver,
    sent: &BTreeMap<String, Vec<String>>,
    within: Duration,
) {
    let want: HashSet<&String> = sent.values().flatten().collect();
    receiver
        .wait_for(within, "every message delivered", |hits| {
            let got: HashSet<&String> =
                hits.iter().filter(|h| (200..300).contains(&h.status)).map(|h| &h.id).collect();
            want.iter().all(|id| got.contains(id))
        })
        .await;
}

/// What must hold of everything the receiver got: each message published arrived and was
/// acknowledged, nothing else arrived, each key's messages first arrived in publish order,
/// and no request of a key arrived while another of that key was under way.
fn assert_ordered_and_complete(receiver: &Receiver, sent: &BTreeMap<String, Vec<String>>) {
    let overlaps = receiver.overlaps();
    assert!(overlaps.is_empty(), "one at a time per key: {overlaps:#?}");
    let key_of: HashMap<&String, &String> =
        sent.iter().flat_map(|(key, ids)| ids.iter().map(move |id| (id, key))).collect();
    let mut hits = receiver.hits();
    hits.sort_by_key(|h| h.arrival);
    let strangers: Vec<&Hit> = hits.iter().filter(|h| !key_of.contains_key(&h.id)).collect();
    assert!(strangers.is_empty(), "only the published messages arrive: {strangers:?}");
    for (key, ids) in sent {
        let mut first_arrivals: Vec<&String> = Vec::new();
        for h in hits.iter().filter(|h| key_of[&h.id] == key) {
            assert_eq!(key_of_body(&h.body).as_ref(), Some(key), "{h:?}");
            if !first_arrivals.contains(&&h.id) {
                first_arrivals.push(&h.id);
            }
        }
        let ids: Vec<&String> = ids.iter().collect();
        assert_eq!(first_arrivals, ids, "key {key}: first arrivals in publish order");
    }
    let delivered = receiver.delivered();
    let published: HashSet<String> = sent.values().flatten().cloned().collect();
    assert_eq!(delivered.len(), published.len(), "as many distinct ids as published");
    assert_eq!(delivered, published);
}

/// The local ports of the TCP connections process `pid` has open to `remote_port` on
/// 127.0.0.1 (Linux: its descriptors under `/proc/PID/fd`, matched to `/proc/net/tcp`).
fn ports_to(pid: u32, remote_port: u16) -> HashSet<u16> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_str()?;
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port =
        |address: &str| address.rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
    let remote = format!("0100007F:{remote_port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() > 9 && f[2] == remote && inodes.contains(f[9])).then(|| port(f[1]))?
        })
        .collect()
}

/// Waits for requests under way that `node` sent within the last 200 ms (so at least
/// `HOLD` less that of their answer is still to come), and returns them.
async fn young_requests_of(node: &Baton, receiver: &Receiver, within: Duration) -> Vec<InFlight> {
    let receiver_port = reqwest::Url::parse(&receiver.url).unwrap().port().unwrap();
    let deadline = Instant::now() + within;
    loop {
        let ports = ports_to(node.pid(), receiver_port);
        let now = receiver.now_ms();
        let young: Vec<InFlight> = receiver
            .in_flight()
            .into_iter()
            .filter(|f| ports.contains(&f.peer_port) && now - f.start_ms < 200)
            .collect();
        if !young.is_empty() {
            return young;
        }
        assert!(Instant::now() < deadline, "no request of the node under way after {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_keep_each_key_in_order_and_take_over_a_dead_nodes_deliveries() {
    let Ok(admin) = std::env::var("BATON_TEST_POSTGRES_URL") else {
        eprintln!("BATON_TEST_POSTGRES_URL is not set: skipping the two-node topics test");
        return;
    };
    let started = Instant::now();
    let url = store::testing::fresh_postgres(&admin).await.unwrap();
    let (da, db) = (temp_dir("topics-node-a"), temp_dir("topics-node-b"));
    let mut a = Baton::spawn(&da.join("data"), Some(&url), &[], Some(&config(&da)));
    let b = Baton::spawn(&db.join("data"), Some(&url), &[], Some(&config(&db)));

    let count = Arc::new(AtomicUsize::new(0));
    let receiver =
        Receiver::start_in_lanes(every_seventh_fails(count.clone()), Arc::new(key_of_body)).await;
    topic_with(&a, TOPIC, &receiver.url, json!({"raw": true})).await;
    // The other node sees the subscription (one database).
    let subs = ok(&b, "GET", &format!("/topics/{TOPIC}/subscriptions"), None).await;
    assert_eq!(subs["subscriptions"].as_array().unwrap().len(), 1, "{subs}");

    // 200 messages over 4 keys, through both nodes, while every 7th request fails.
    let mut sent = BTreeMap::new();
    publish_keys([&a, &b], 0, 50, &mut sent).await;
    wait_delivered(&receiver, &sent, Duration::from_secs(30)).await;
    assert_ordered_and_complete(&receiver, &sent);
    let retried = receiver.hits().iter().filter(|h| h.status == 500).count();
    assert!(retried >= 200 / 7, "every 7th request failed: {retried} failures");
    // Both nodes delivered (their connections to the receiver are still open, kept alive).
    let receiver_port = reqwest::Url::parse(&receiver.url).unwrap().port().unwrap();
    let by_node = [&a, &b].map(|node| {
        let ports = ports_to(node.pid(), receiver_port);
        receiver.hits().iter().filter(|h| ports.contains(&h.peer_port)).count()
    });
    assert!(by_node.iter().all(|n| *n > 0), "both nodes delivered: {by_node:?}");
    eprintln!("200 messages in order after {:?}, requests by node {by_node:?}", started.elapsed());

    // The receiver answers 503, slowly, while more messages come; node A dies in the middle
    // of attempts, whose leases node B must leave alone until they lapse, and then take.
    receiver.set(Arc::new(|_, _| (503, None, HOLD)));
    publish_keys([&a, &b], 50, 5, &mut sent).await;
    let orphans = young_requests_of(&a, &receiver, Duration::from_secs(10)).await;
    a.kill9();
    let killed_ms = receiver.now_ms();
    tokio::time::sleep(Duration::from_secs(2)).await;
    receiver.set(every_seventh_fails(count));
    let lease_ms = (TIMEOUT_SECONDS + 15) * 1000;
    wait_delivered(&receiver, &sent, Duration::from_millis(lease_ms + 15_000)).await;
    assert_ordered_and_complete(&receiver, &sent);

    // Each attempt node A had under way was made again by node B, only once its lease had
    // lapsed (the lease began a moment before the request).
    let hits = receiver.hits();
    for orphan in &orphans {
        let again = hits
            .iter()
            .filter(|h| h.id == orphan.id && h.arrival > orphan.arrival)
            .min_by_key(|h| h.arrival)
            .unwrap_or_else(|| panic!("{} was attempted again", orphan.id));
        assert!(
            again.start_ms >= orphan.start_ms + lease_ms - 2000,
            "{} again at {} ms, under node A's lease from {} ms (killed at {killed_ms} ms)",
            orphan.id,
            again.start_ms,
            orphan.start_ms
        );
    }
    let dead = ok(&b, "GET", &format!("/topics/{TOPIC}/dead-letters"), None).await;
    assert_eq!(dead["dead_letters"].as_array().map(Vec::len), Some(0), "{dead}");
    eprintln!(
        "{} messages, {} requests, attempts taken over from the killed node: {}, in {:?}",
        sent.values().map(Vec::len).sum::<usize>(),
        hits.len(),
        orphans.len(),
        started.elapsed()
    );

    drop(b);
    store::testing::drop_database(&admin, &url).await;
    std::fs::remove_dir_all(&da).ok();
    std::fs::remove_dir_all(&db).ok();
}
