//! The delivery loop: claims due deliveries through leases and posts them as webhooks.
//!
//! An attempt posts the SNS envelope (or the raw message) with the Standard Webhooks
//! headers: `webhook-id` is the message id, the same on every attempt, and
//! `webhook-signature` carries one `v1,` signature per active secret. Redirects are not
//! followed, an attempt ends after the configured timeout, and the network guard is
//! applied to the address actually connected to (every address a name resolves to, and IP
//! literals). What follows an attempt is [`RetryPolicy::decide`]'s answer: delivered, retry
//! at a time (the schedule, or a longer `Retry-After` on 429 and 503), dead letter, or — on
//! 410 Gone — disable the subscription. Each attempt is recorded with its status, latency
//! and the first KiB of the response.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::{mpsc, oneshot};

use super::{active_secrets, attributes_from_json, now_ms, retry_policy, Error, Options, Topics};
use crate::envelope::Notification;
use crate::netguard::NetGuard;
use crate::retry::{Decision, Outcome};
use crate::webhook::{self, MessageId};

/// The most of a response body kept with an attempt.
pub const RESPONSE_EXCERPT_BYTES: usize = 1024;

/// The HTTP client of deliveries: the timeout, no redirects, and the guarded resolver.
pub(super) fn client(options: &Options) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(options.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Baton-Webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver { guard: options.netguard.clone() }))
        .pool_max_idle_per_host(options.max_in_flight)
        .build()
        .map_err(|e| Error::Invalid(format!("cannot build the webhook client: {e}")))
}

/// Resolves names, keeping only the addresses the network guard allows.
struct GuardedResolver {
    guard: NetGuard,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| {
                    let verdict = guard.check(a.ip());
                    if !verdict.is_allowed() {
                        refused = Some(verdict);
                    }
                    verdict.is_allowed()
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.map_or("no address".to_owned(), |v| v.to_string());
                return Err(format!("{host}: {why}").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// An attempt's record and what follows it, on its way to the recorder, which answers
/// whether the attempt was kept (the node still held the delivery).
pub(super) type Recorded = (store::AttemptRecord, store::AttemptEnd, oneshot::Sender<bool>);

/// Records attempt outcomes in groups: one transaction for whatever is waiting, which also
/// claims due deliveries for the places the group frees (the delivery loop's claims are
/// then only for new work). A failed group is retried one by one; an outcome that cannot be
/// recorded is not kept (the lease lapses and the delivery is attempted again: at least
/// once). The subscriptions whose streak of failures has lasted `disable_after` are
/// disabled.
pub(super) async fn recorder(topics: Weak<super::Inner>, mut queue: mpsc::Receiver<Recorded>) {
    let mut group = Vec::with_capacity(super::GROUP);
    while queue.recv_many(&mut group, super::GROUP).await > 0 {
        let Some(inner) = topics.upgrade() else { return };
        let t = Topics { inner };
        let (store, options) = (&t.inner.store, &t.inner.options);
        let disable_after = options.disable_after.as_millis() as i64;
        let items: Vec<(store::AttemptRecord, store::AttemptEnd)> =
            group.iter().map(|(a, e, _)| (a.clone(), *e)).collect();
        // The group's attempts still count as in flight until their tasks hear back.
        let free = (options.max_in_flight + group.len())
            .saturating_sub(t.inner.in_flight.load(Ordering::SeqCst));
        let claim = (!*t.inner.stop.borrow()).then(|| {
            let now = now_ms();
            store::Claim { now_ms: now, lease_until_ms: now + t.lease_ms(), limit: free as i64 }
        });
        match store.finish_attempts_and_claim(&options.node, &items, claim).await {
            Ok((done, claimed)) => {
                for ((_, _, tell), k) in group.drain(..).zip(done.kept) {
                    let _ = tell.send(k);
                }
                for d in claimed {
                    t.spawn_delivery(d);
                }
                let over: Vec<store::FailingStreak> = done
                    .failing
                    .into_iter()
                    .filter(|f| f.last_failure_ms - f.since_ms >= disable_after)
                    .collect();
                if !over.is_empty() {
                    let t = t.clone();
                    tokio::spawn(async move {
                        for f in over {
                            let reason = format!(
                                "every attempt failed for {} (the limit is {})",
                                span(f.last_failure_ms - f.since_ms),
                                span(disable_after)
                            );
                            if let Err(e) = t.disable(&f.subscription_id, &reason, f.since_ms).await
                            {
                                tracing::warn!(error = %e, subscription = %f.subscription_id, "cannot disable a failing subscription");
                            }
                        }
                    });
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = items.len(), "a group of attempts could not be recorded: trying them one by one");
                for (a, end, done) in group.drain(..) {
                    let kept = match store.finish_attempt(&options.node, &a, end).await {
                        Ok(k) => k,
                        Err(e) => {
                            tracing::warn!(error = %e, delivery = a.delivery_id, "cannot record an attempt");
                            false
                        }
                    };
                    let _ = done.send(kept);
                }
                // Nothing was claimed for the places freed.
                t.inner.wake_delivery.notify_one();
            }
        }
    }
}

/// What one attempt saw.
struct Attempt {
    status: Option<u16>,
    retry_after: Option<String>,
    error: Option<String>,
    timed_out: bool,
    response: Option<String>,
}

impl Topics {
    /// How long a claimed delivery stays this node's: the attempt's timeout and a margin.
    fn lease_ms(&self) -> i64 {
        (self.inner.options.timeout + Duration::from_secs(15)).as_millis() as i64
    }

    /// Runs one attempt of a claimed delivery on its own task.
    fn spawn_delivery(&self, d: store::DeliveryRecord) {
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        let topics = self.clone();
        tokio::spawn(async move {
            if let Err(e) = topics.deliver(d).await {
                tracing::warn!(error = %e, "a delivery attempt could not be recorded");
                // The recorder did not claim for this place.
                topics.inner.wake_delivery.notify_one();
            }
            topics.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }

    pub(super) async fn delivery_loop(self) {
        let mut stop = self.inner.stop.subscribe();
        loop {
            tokio::select! {
                () = self.inner.wake_delivery.notified() => {}
                () = tokio::time::sleep(self.inner.options.poll) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let free = self
                .inner
                .options
                .max_in_flight
                .saturating_sub(self.inner.in_flight.load(Ordering::SeqCst));
            if free == 0 {
                continue;
            }
            let now = now_ms();
            let claimed = self
                .inner
                .store
                .claim_deliveries(&self.inner.options.node, now, now + self.lease_ms(), free as i64)
                .await;
            let deliveries = match claimed {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim deliveries");
                    continue;
                }
            };
            if deliveries.len() == free {
                // There may be more: look again at once.
                self.inner.wake_delivery.notify_one();
            }
            for d in deliveries {
                self.spawn_delivery(d);
            }
        }
    }

    /// One attempt of one delivery, and its record.
    async fn deliver(&self, mut d: store::DeliveryRecord) -> Result<(), Error> {
        let store = &self.inner.store;
        let node = &self.inner.options.node;
        let attempt_no = d.attempts + 1;
        let record = |at_ms: i64, a: &Attempt, latency_ms: i64| store::AttemptRecord {
            id: 0,
            delivery_id: d.id,
            subscription_id: d.subscription_id.clone(),
            message_id: d.message_id.clone(),
            attempt: attempt_no,
            at_ms,
            status_code: a.status.map(i64::from),
            error: a.error.clone(),
            latency_ms,
            response: a.response.clone(),
        };
        // Every delivery comes from a claim, which read its message and subscription in its
        // own transaction; it came without them when either no longer existed.
        let Some(store::ClaimedWith { message, subscription: sub }) =
            d.claimed_with.take().map(|w| *w)
        else {
            let a = failure("the message or its subscription no longer exists");
            store.finish_attempt(node, &record(now_ms(), &a, 0), store::AttemptEnd::Dead).await?;
            // Recorded without the recorder, which claims for the places it frees.
            self.inner.wake_delivery.notify_one();
            return Ok(());
        };
        let started_ms = now_ms();
        let attributes = serde_json::from_str(&message.attributes)
            .ok()
            .and_then(|v| attributes_from_json(&v).ok())
            .unwrap_or_default();
        let topic_arn = self.topic_arn(&message.topic);
        let notification = Notification {
            message_id: &message.message_id,
            topic_arn: &topic_arn,
            subject: message.subject.as_deref(),
            message: &message.body,
            timestamp_ms: message.created_ms,
            attributes: &attributes,
            unsubscribe_url: None,
        };
        let subscription_arn = format!("{topic_arn}:{}", sub.id);
        let attempt = match super::target(&sub.endpoint) {
            Some(super::Target::Function(function)) => match notification
                .lambda_event(&subscription_arn)
            {
                // One request id per message and subscription: a repeated attempt queues
                // the event once.
                Ok(event) => {
                    let request_id = key_uuid(&format!("{}#{}", message.message_id, sub.id));
                    self.on_target(|t| t.invoke(function, event.to_string(), request_id), 202).await
                }
                Err(e) => failure(&format!("cannot make the event: {e}")),
            },
            Some(super::Target::StateMachine(machine)) => {
                let input = match serde_json::from_str::<serde_json::Value>(&message.body) {
                    Ok(_) => message.body.clone(),
                    Err(_) => serde_json::Value::String(message.body.clone()).to_string(),
                };
                let name = format!("{}-{}", message.message_id, sub.id);
                self.on_target(|t| t.start_execution(machine, name, input), 200).await
            }
            _ => self.webhook_attempt(&notification, &sub, &subscription_arn, started_ms).await,
        };
        let ended_ms = now_ms();
        let latency_ms = ended_ms - started_ms;
        let outcome = match (attempt.status, attempt.timed_out) {
            (Some(status), _) => {
                Outcome::Response { status, retry_after: attempt.retry_after.as_deref() }
            }
            (None, true) => Outcome::Timeout,
            (None, false) => Outcome::ConnectionError,
        };
        let policy = retry_policy(&sub, &self.inner.options.retry);
        let attempt_u32 = u32::try_from(attempt_no).unwrap_or(u32::MAX);
        let decision = policy.decide(attempt_u32, &outcome, ended_ms, rand::random::<f64>());
        let end = match decision {
            Decision::Delivered => store::AttemptEnd::Delivered,
            Decision::RetryAt(at) => store::AttemptEnd::RetryAt(at),
            Decision::DeadLetter | Decision::Disable => store::AttemptEnd::Dead,
        };
        tracing::debug!(delivery = d.id, message = %d.message_id, subscription = %sub.id, attempt = attempt_no, status = ?attempt.status, ?decision, "delivery attempt");
        let kept = self.record(record(started_ms, &attempt, latency_ms), end).await;
        if !kept {
            tracing::info!(delivery = d.id, "lost the lease of a delivery during its attempt");
            return Ok(());
        }
        match decision {
            Decision::Disable => {
                let since = store.failing_since(&sub.id).await?.unwrap_or(started_ms);
                self.disable(&sub.id, "the endpoint answered 410 Gone", since).await?;
            }
            Decision::DeadLetter => {
                tracing::info!(delivery = d.id, subscription = %sub.id, attempts = attempt_no, "retries exhausted: dead letter");
            }
            _ => {}
        }
        Ok(())
    }

    /// A webhook attempt: the body (envelope or raw), signed, posted.
    async fn webhook_attempt(
        &self,
        notification: &Notification<'_>,
        sub: &store::SubscriptionRecord,
        subscription_arn: &str,
        started_ms: i64,
    ) -> Attempt {
        let raw = sub.raw != 0;
        match (notification.body(raw), MessageId::parse(notification.message_id)) {
            (Ok(body), Ok(id)) => {
                let secrets = active_secrets(&sub.secrets, started_ms);
                let mut headers = notification.sns_headers(subscription_arn, raw);
                headers.extend(webhook::headers(&secrets, &id, started_ms / 1000, body.as_bytes()));
                self.post(&sub.endpoint, headers, body).await
            }
            (Err(e), _) => failure(&format!("cannot make the body: {e}")),
            (_, Err(e)) => failure(&e.to_string()),
        }
    }

    /// An attempt on a function or a state machine: queue the invocation or start the
    /// execution, succeeded (with `status`) once that is committed. It waits for the
    /// targets to be given (at start, the executor comes up after the topics).
    async fn on_target(
        &self,
        call: impl FnOnce(&dyn super::Targets) -> super::TargetFuture<String>,
        status: u16,
    ) -> Attempt {
        let mut rx = self.inner.targets.subscribe();
        let waited = tokio::time::timeout(self.inner.options.timeout, rx.wait_for(Option::is_some));
        let targets = match waited.await {
            Ok(Ok(t)) => t.clone(),
            _ => None,
        };
        let Some(targets) = targets else {
            return failure("functions and workflows are not running on this node");
        };
        match tokio::time::timeout(self.inner.options.timeout, call(targets.as_ref())).await {
            Ok(Ok(answer)) => Attempt {
                status: Some(status),
                retry_after: None,
                error: None,
                timed_out: false,
                response: Some(answer.chars().take(RESPONSE_EXCERPT_BYTES).collect()),
            },
            Ok(Err(e)) => failure(&e.chars().take(500).collect::<String>()),
            Err(_) => {
                let mut a = failure("timed out");
                a.timed_out = true;
                a
            }
        }
    }

    /// Hands an attempt to the recorder and waits for its commit.
    async fn record(&self, attempt: store::AttemptRecord, end: store::AttemptEnd) -> bool {
        let (done, kept) = oneshot::channel();
        if self.inner.outcomes.send((attempt, end, done)).await.is_err() {
            return false;
        }
        kept.await.unwrap_or(false)
    }

    /// Posts one attempt and reads the start of the answer.
    async fn post(
        &self,
        endpoint: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) -> Attempt {
        let url = match reqwest::Url::parse(endpoint) {
            Ok(u) => u,
            Err(e) => return failure(&format!("invalid endpoint: {e}")),
        };
        // IP literals are not resolved, so the guard looks at them here.
        if let Some(ip) = worker_ip(&url) {
            let verdict = self.inner.options.netguard.check(ip);
            if !verdict.is_allowed() {
                return failure(&format!("{ip}: {verdict}"));
            }
        }
        let mut request = self.inner.client.post(url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let timed_out = e.is_timeout();
                let mut a = failure(&error_text(&e.without_url()));
                a.timed_out = timed_out;
                return a;
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut excerpt = Vec::new();
        while excerpt.len() < RESPONSE_EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        excerpt.truncate(RESPONSE_EXCERPT_BYTES);
        let mut text = String::from_utf8_lossy(&excerpt).into_owned();
        while text.len() > RESPONSE_EXCERPT_BYTES {
            text.pop();
        }
        Attempt {
            status: Some(status),
            retry_after,
            error: None,
            timed_out: false,
            response: (!text.is_empty()).then_some(text),
        }
    }
}

/// The address a host names literally (`127.0.0.1`, `[::1]`), if it does.
pub(super) fn ip_literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

fn worker_ip(url: &reqwest::Url) -> Option<IpAddr> {
    url.host_str().and_then(ip_literal)
}

/// A UUID made from a key (the first 128 bits of its SHA-256), as a request id.
fn key_uuid(key: &str) -> String {
    let h = format!("{:032x}", hash128(key.as_bytes()));
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn hash128(bytes: &[u8]) -> u128 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    let mut bits = [0u8; 16];
    bits.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bits)
}

/// A duration for people: `2.5 s`, `5.0 h`.
fn span(ms: i64) -> String {
    if ms >= 3_600_000 {
        format!("{:.1} h", ms as f64 / 3_600_000.0)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn failure(why: &str) -> Attempt {
    Attempt {
        status: None,
        retry_after: None,
        error: Some(why.to_owned()),
        timed_out: false,
        response: None,
    }
}

/// An error with its causes (reqwest's own text hides the interesting part).
fn error_text(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() { "timed out".to_owned() } else { e.to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(500).collect()
}
