//! Shared pieces of the topics tests: a webhook receiver (an axum server on 127.0.0.1:0 in
//! the test) that records every request, answers as a script says, and can check that
//! requests of one *lane* (an ordering key) never overlap; and helpers for the topics API
//! of a running `baton up`.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

use crate::support::Baton;

// ----- a webhook receiver ------------------------------------------------------------------

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The order in which requests arrived, from 0.
    pub arrival: u64,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// Milliseconds since the receiver started, when the request arrived and when answered
    /// (or given up).
    pub start_ms: u64,
    pub end_ms: u64,
    /// The status answered; 0 when the client went away before the answer (its process
    /// died, say).
    pub status: u16,
    /// The client's port: which connection, hence which process, sent it.
    pub peer_port: u16,
}

/// What the receiver answers: `(status, Retry-After, delay)` given the request's
/// `webhook-id` and how many times that id came before.
pub type Script = Arc<dyn Fn(&str, usize) -> (u16, Option<&'static str>, Duration) + Send + Sync>;

/// The lane of a request, from its body (an ordering key, say): requests of one lane must
/// come one at a time.
pub type Lane = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A request under way.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub arrival: u64,
    pub id: String,
    pub lane: Option<String>,
    pub start_ms: u64,
    pub peer_port: u16,
}

/// What a receiver saw.
#[derive(Default)]
struct Seen {
    hits: Vec<Hit>,
    in_flight: Vec<InFlight>,
    /// Requests that arrived while another of their lane was under way.
    overlaps: Vec<String>,
    arrivals: u64,
}

/// A request being answered: recorded as a hit when it ends, answered or not (a handler
/// is dropped when its client goes away).
struct Answering {
    seen: Arc<Mutex<Seen>>,
    started: Instant,
    hit: Hit,
}

impl Drop for Answering {
    fn drop(&mut self) {
        let mut hit = self.hit.clone();
        hit.end_ms = self.started.elapsed().as_millis() as u64;
        let mut seen = self.seen.lock().unwrap();
        seen.in_flight.retain(|f| f.arrival != hit.arrival);
        seen.hits.push(hit);
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    script: Arc<Mutex<Script>>,
    /// When the receiver started: the origin of its times.
    started: Instant,
}

impl Receiver {
    /// A receiver answering as `script` says.
    pub async fn start(script: Script) -> Self {
        Self::serve(script, None).await
    }

    /// A receiver answering as `script` says that also notes each request arriving while
    /// another of its lane is under way ([`Receiver::overlaps`]).
    pub async fn start_in_lanes(script: Script, lane: Lane) -> Self {
        Self::serve(script, Some(lane)).await
    }

    async fn serve(script: Script, lane: Option<Lane>) -> Self {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let script = Arc::new(Mutex::new(script));
        let started = Instant::now();
        let (sn, sc) = (seen.clone(), script.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                      headers: HeaderMap,
                      body: String| {
                    let (seen, script, lane) = (sn.clone(), sc.clone(), lane.clone());
                    async move {
                        let start_ms = started.elapsed().as_millis() as u64;
                        let header = |n: &str| {
                            headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
                        };
                        let id = header("webhook-id");
                        let lane = lane.and_then(|f| f(&body));
                        let (arrival, before) = {
                            let mut s = seen.lock().unwrap();
                            let arrival = s.arrivals;
                            s.arrivals += 1;
                            if let Some(l) = &lane {
                                if let Some(other) =
                                    s.in_flight.iter().find(|f| f.lane.as_ref() == Some(l))
                                {
                                    let overlap = format!(
                                        "{id} (lane {l}) arrived at {start_ms} ms while {} \
                                         was under way since {} ms",
                                        other.id, other.start_ms
                                    );
                                    s.overlaps.push(overlap);
                                }
                            }
                            s.in_flight.push(InFlight {
                                arrival,
                                id: id.clone(),
                                lane,
                                start_ms,
                                peer_port: peer.port(),
                            });
                            (arrival, s.hits.iter().filter(|x| x.id == id).count())
                        };
                        let mut answering = Answering {
                            seen,
                            started,
                            hit: Hit {
                                arrival,
                                id: id.clone(),
                                timestamp: header("webhook-timestamp"),
                                signature: header("webhook-signature"),
                                body,
                                start_ms,
                                end_ms: start_ms,
                                status: 0,
                                peer_port: peer.port(),
                            },
                        };
                        let f = script.lock().unwrap().clone();
                        let (status, retry_after, delay) = f(&id, before);
                        tokio::time::sleep(delay).await;
                        answering.hit.status = status;
                        drop(answering);
                        let mut response =
                            (StatusCode::from_u16(status).unwrap(), "receiver says hi")
                                .into_response();
                        if let Some(r) = retry_after {
                            response.headers_mut().insert("retry-after", r.parse().unwrap());
                        }
                        response
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap()
        });
        Receiver { url, seen, script, started }
    }

    /// A receiver that answers 200 at once.
    pub async fn ok() -> Self {
        Self::start(Arc::new(|_, _| (200, None, Duration::ZERO))).await
    }

    pub fn set(&self, script: Script) {
        *self.script.lock().unwrap() = script;
    }

    /// The requests that ended, answered or not, in the order they ended.
    pub fn hits(&self) -> Vec<Hit> {
        self.seen.lock().unwrap().hits.clone()
    }

    /// The requests under way.
    pub fn in_flight(&self) -> Vec<InFlight> {
        self.seen.lock().unwrap().in_flight.clone()
    }

    /// The requests that arrived while another of their lane was under way.
    pub fn overlaps(&self) -> Vec<String> {
        self.seen.lock().unwrap().overlaps.clone()
    }

    /// Milliseconds since the receiver started: the clock of [`Hit`]'s times.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The distinct `webhook-id`s answered with a 2xx.
    pub fn delivered(&self) -> std::collections::HashSet<String> {
        self.hits().into_iter().filter(|h| (200..300).contains(&h.status)).map(|h| h.id).collect()
    }

    /// Waits until `done` holds for the hits, or fails after `within`.
    pub async fn wait_for(&self, within: Duration, what: &str, done: impl Fn(&[Hit]) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if done(&self.hits()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not after {within:?}; hits: {:?}",
                self.hits()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ----- the topics API ----------------------------------------------------------------------

/// One request to Baton: `(HTTP status, body)`, the body as JSON when it is JSON.
pub async fn http(b: &Baton, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("http://{}{path}", b.addr);
    let mut req = b.client.request(method.parse().unwrap(), url);
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body.to_string());
    }
    let r = req.send().await.expect("baton answers");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A request that must succeed (2xx); returns the body.
pub async fn ok(b: &Baton, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = http(b, method, path, body.clone()).await;
    assert!((200..300).contains(&status), "{method} {path} {body:?} -> {status} {v}");
    v
}

/// Creates a topic and subscribes `endpoint` with `extra` fields; returns the subscription.
pub async fn topic_with(b: &Baton, topic: &str, endpoint: &str, extra: Value) -> Value {
    let (status, _) = http(b, "POST", "/topics", Some(json!({"name": topic}))).await;
    assert!(status == 201 || status == 409);
    let mut body = json!({"endpoint": endpoint});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let s = ok(b, "POST", &format!("/topics/{topic}/subscriptions"), Some(body)).await;
    assert!(s["secret"].as_str().unwrap().starts_with("whsec_"));
    s
}

/// Publishes `body` (`{"message", ...}`), which must be accepted; returns the message id.
pub async fn publish(b: &Baton, topic: &str, body: Value) -> String {
    let (status, v) = http(b, "POST", &format!("/topics/{topic}/messages"), Some(body)).await;
    assert_eq!(status, 202, "{v}");
    v["message_id"].as_str().unwrap().to_owned()
}

/// Verifies a hit's Standard Webhooks signature with `secret`, now.
pub fn verify(secret: &str, h: &Hit) -> Result<(), events::Error> {
    let secret = events::Secret::parse(secret).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    events::webhook::verify(
        &[secret],
        &h.id,
        &h.timestamp,
        &h.signature,
        h.body.as_bytes(),
        now,
        300,
    )
}
