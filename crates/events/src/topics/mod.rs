//! The topics service: topics, subscriptions and publishing over the store, and the
//! workers that fan messages out and deliver them as webhooks.
//!
//! This module (with [`worker`]) is the crate's only I/O: the rest of the crate is the pure
//! core it applies. [`Topics`] is a cheap-to-clone handle; [`Topics::start`] runs two loops
//! on the tokio runtime:
//!
//! - the *publish committer* commits waiting publishes in groups and, in the same
//!   transaction, fans the outbox out: a delivery for each subscription whose filter policy
//!   matches (`Store::publish_and_fan_out`); the *fan-out* loop does the same for events
//!   that reach the outbox otherwise (resource writes, workflows) and for what another
//!   node left;
//! - the *delivery* loop claims due deliveries through leases and posts them, signed as
//!   Standard Webhooks sign, following the retry schedule (see [`worker`]); the attempt
//!   *recorder* commits outcomes in groups and, in the same transaction, claims as many
//!   deliveries as ended, so a busy node keeps its attempts under way with one commit
//!   per group.
//!
//! A message is committed to the outbox before [`Topics::publish`] returns, so an
//! acknowledged message is delivered at least once whatever crashes; `webhook-id` (the
//! message id) is the receivers' key to drop repeats.

pub mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch, Notify};

use crate::attributes::{AttributeValue, MessageAttribute, MessageAttributes};
use crate::filter::{FilterPolicy, FilterPolicyScope};
use crate::netguard::NetGuard;
use crate::retry::{RetryPolicy, Schedule};
use crate::webhook::{MessageId, Secret};

/// The largest message body, as SNS: 256 KiB.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// How long a rotated-out secret still signs deliveries (receivers switch over meanwhile).
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// Errors of the topics service, each with a stable code for the API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such topic, subscription or delivery.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (a topic that exists, a delivery that
    /// is not dead).
    #[error("{0}")]
    Conflict(String),
    /// The request is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("store error: {0}")]
    Store(#[from] store::Error),
}

impl Error {
    /// The stable code an API reports.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "NotFound",
            Error::Conflict(_) => "Conflict",
            Error::Invalid(_) => "InvalidParameter",
            Error::Store(_) => "InternalError",
        }
    }
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Self {
        Error::Invalid(e.to_string())
    }
}

/// The result type of the topics service.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the service delivers.
#[derive(Debug, Clone)]
pub struct Options {
    /// This node's id: the owner of its leases.
    pub node: String,
    /// The region and account of topic ARNs (the SNS envelope's `TopicArn`).
    pub region: String,
    pub account: String,
    /// The retry schedule of subscriptions without their own.
    pub retry: RetryPolicy,
    /// Which target addresses deliveries may connect to.
    pub netguard: NetGuard,
    /// How long an attempt may take (15 s, as Standard Webhooks services do).
    pub timeout: Duration,
    /// How often the loops look for work when nothing wakes them (other nodes' publishes,
    /// retries coming due).
    pub poll: Duration,
    /// The most deliveries in flight on this node.
    pub max_in_flight: usize,
    /// The only node on its store (SQLite): at start it takes back every lease, since the
    /// node that held them (an earlier run of itself) is gone.
    pub single_node: bool,
    /// A subscription whose every attempt failed for this long (no success in between) is
    /// disabled, and [`OPERATIONS_TOPIC`] says so (120 h, as Svix does).
    pub disable_after: Duration,
    /// How long finished deliveries (delivered and dead), their attempts, and messages all
    /// of whose deliveries are finished are kept (72 h).
    pub retention: Duration,
}

/// The topic of operational events (`subscription.disabled`), created when first needed.
pub const OPERATIONS_TOPIC: &str = "baton-operations";

/// The most rows the retention sweep removes in one transaction.
const PURGE_BATCH: i64 = 1000;

impl Default for Options {
    fn default() -> Self {
        Options {
            node: format!("node_{}", &new_id()[4..]),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            retry: RetryPolicy::default(),
            netguard: NetGuard::default(),
            timeout: Duration::from_secs(15),
            poll: Duration::from_millis(100),
            max_in_flight: 256,
            single_node: false,
            disable_after: Duration::from_secs(120 * 3600),
            retention: Duration::from_secs(72 * 3600),
        }
    }
}

/// A subscription as declared or requested.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionSpec {
    /// The webhook URL (`http://` or `https://`).
    pub endpoint: String,
    /// An SNS filter policy (a JSON object, or its text as a string).
    pub filter_policy: Option<Value>,
    /// `MessageAttributes` (the default) or `MessageBody`.
    pub filter_policy_scope: Option<String>,
    /// Deliver the message alone instead of the SNS envelope.
    pub raw: bool,
    /// The subscription's own retry schedule (`["0s", "5s", ...]`).
    pub retry_schedule: Option<Vec<String>>,
    /// The signing secret; one is generated when none is given.
    pub secret: Option<Secret>,
}

/// A subscription as the API shows it. Its secret appears only when it is created or
/// rotated, never in listings (nor in its `Debug`).
#[derive(Clone, Serialize)]
pub struct Subscription {
    pub id: String,
    pub topic: String,
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_policy: Option<Value>,
    pub filter_policy_scope: String,
    pub raw: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<Vec<String>>,
    /// `active` or `disabled`.
    pub status: String,
    pub created_ms: i64,
    /// When the current run of failed attempts began (none while the endpoint answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("topic", &self.topic)
            .field("endpoint", &self.endpoint)
            .field("status", &self.status)
            .field("secret", &self.secret.as_ref().map(|_| "<hidden>"))
            .finish_non_exhaustive()
    }
}

/// A message to publish.
#[derive(Debug, Clone, Default)]
pub struct Publish {
    /// The body: a string as is, any other JSON as its text.
    pub message: String,
    pub subject: Option<String>,
    pub attributes: MessageAttributes,
    /// Messages with the same key reach each subscriber in order, one at a time.
    pub ordering_key: Option<String>,
    /// The message id (`msg_...`), for an idempotent publish; generated when absent.
    pub id: Option<String>,
}

impl Publish {
    /// Reads the API's body: `{"message", "subject"?, "attributes"?: {name: {"Type",
    /// "Value"}}, "ordering_key"?, "id"?}`.
    pub fn from_json(v: &Value) -> Result<Self> {
        let obj = v.as_object().ok_or_else(|| invalid("the body must be a JSON object"))?;
        for key in obj.keys() {
            if !["message", "subject", "attributes", "ordering_key", "id"].contains(&key.as_str()) {
                return Err(invalid(format!("unknown field {key:?}")));
            }
        }
        let message = match obj.get("message") {
            None | Some(Value::Null) => return Err(invalid("\"message\" is required")),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let text = |key: &str| -> Result<Option<String>> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!("{key:?} must be a string"))),
            }
        };
        let attributes = match obj.get("attributes") {
            None | Some(Value::Null) => MessageAttributes::new(),
            Some(a) => attributes_from_json(a)?,
        };
        Ok(Publish {
            message,
            subject: text("subject")?,
            attributes,
            ordering_key: text("ordering_key")?,
            id: text("id")?,
        })
    }

    /// Reads a batch's messages, each as [`Publish::from_json`]; an error names the index.
    pub fn batch_from_json(items: &[Value]) -> Result<Vec<Self>> {
        items.iter().enumerate().map(|(i, v)| Self::from_json(v).map_err(in_batch(i))).collect()
    }
}

/// Message attributes from `{name: {"Type", "Value"}}` (`Binary` values in base64), the
/// form SNS shows in notifications and Baton keeps in the store.
pub fn attributes_from_json(v: &Value) -> Result<MessageAttributes> {
    let obj = v.as_object().ok_or_else(|| invalid("\"attributes\" must be an object"))?;
    if obj.len() > 10 {
        return Err(invalid("Invalid parameter: MessageAttributes: at most 10 attributes"));
    }
    let mut out = MessageAttributes::new();
    for (name, a) in obj {
        let data_type = a
            .get("Type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("attribute {name:?} needs a \"Type\" string")))?;
        let value = match a.get("Value") {
            Some(Value::String(s)) => s.clone(),
            Some(n @ Value::Number(_)) => n.to_string(),
            Some(arr @ Value::Array(_)) => arr.to_string(),
            _ => return Err(invalid(format!("attribute {name:?} needs a \"Value\""))),
        };
        let value = if data_type.starts_with("Binary") {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.as_bytes())
                .map_err(|_| invalid(format!("attribute {name:?}: Binary values are base64")))?;
            AttributeValue::Bytes(bytes)
        } else {
            AttributeValue::Text(value)
        };
        out.insert(name.clone(), MessageAttribute::new(data_type, value)?);
    }
    Ok(out)
}

/// Message attributes as the store keeps them.
pub fn attributes_to_json(a: &MessageAttributes) -> Value {
    a.iter()
        .map(|(name, attr)| {
            let v = serde_json::json!({"Type": attr.data_type(), "Value": attr.rendered_value()});
            (name.clone(), v)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// A signing secret as stored: a rotated-out one signs until `until_ms`.
#[derive(Serialize, Deserialize)]
struct StoredSecret {
    secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until_ms: Option<i64>,
}

/// What a subscription's endpoint names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// An `http://` or `https://` URL: a webhook.
    Webhook(&'a str),
    /// `function:NAME` (the name) or a Lambda function ARN (the ARN): an `Event`
    /// invocation with the SNS Lambda event.
    Function(&'a str),
    /// A state machine ARN: an execution with the message as its input.
    StateMachine(&'a str),
}

/// The target an endpoint names, if it names one.
pub fn target(endpoint: &str) -> Option<Target<'_>> {
    if let Some(name) = endpoint.strip_prefix("function:") {
        return (!name.is_empty() && !name.contains('/')).then_some(Target::Function(name));
    }
    if endpoint.starts_with("arn:") {
        let parts: Vec<&str> = endpoint.split(':').collect();
        let named = |i: usize| parts.get(i).is_some_and(|p| !p.is_empty());
        if parts.len() >= 7 && parts[2] == "lambda" && parts[5] == "function" && named(6) {
            return Some(Target::Function(endpoint));
        }
        if parts.len() == 7 && parts[2] == "states" && parts[5] == "stateMachine" && named(6) {
            return Some(Target::StateMachine(endpoint));
        }
        return None;
    }
    let lower = endpoint.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        .then_some(Target::Webhook(endpoint))
}

/// A future the [`Targets`] return.
pub type TargetFuture<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>> + Send + 'static>>;

/// Performs deliveries to targets other than webhooks: the functions and the workflows of
/// the node (`baton up` gives them once its executor runs). Each call is durable when it
/// returns `Ok` and idempotent by its key, so a delivery attempted again after a crash
/// queues or starts one thing.
pub trait Targets: Send + Sync + 'static {
    /// Queues an `Event` invocation of `function` under the request id `request_id`; the
    /// answer is the request id.
    fn invoke(&self, function: &str, event: String, request_id: String) -> TargetFuture<String>;
    /// Starts an execution of `machine_arn` named `name`; the answer is its ARN.
    fn start_execution(
        &self,
        machine_arn: &str,
        name: String,
        input: String,
    ) -> TargetFuture<String>;
}

/// The handle of the topics service.
#[derive(Clone)]
pub struct Topics {
    inner: Arc<Inner>,
}

struct Inner {
    store: store::Store,
    options: Options,
    client: reqwest::Client,
    /// Publishes waiting for the publish committer (a group commit).
    publishes: mpsc::Sender<(store::OutboxRecord, oneshot::Sender<Result<bool, Error>>)>,
    /// Attempt outcomes waiting for the attempt recorder (a group commit).
    outcomes: mpsc::Sender<worker::Recorded>,
    /// The subscriptions' parsed filter policies and schedules, shared by both fan-outs.
    routes: Routes,
    wake_fan_out: Notify,
    wake_delivery: Notify,
    in_flight: AtomicUsize,
    stop: watch::Sender<bool>,
    /// Functions and workflows, once they run (deliveries to them wait until then).
    targets: watch::Sender<Option<Arc<dyn Targets>>>,
}

impl Topics {
    /// Starts the fan-out and delivery loops.
    pub async fn start(store: store::Store, options: Options) -> Result<Self> {
        if options.single_node {
            let n = store.release_deliveries(None).await?;
            if n > 0 {
                tracing::info!(deliveries = n, "took back the deliveries of an earlier run");
            }
        }
        let client = worker::client(&options)?;
        let (stop, _) = watch::channel(false);
        let (publishes, publish_queue) = mpsc::channel(4096);
        let (outcomes, outcome_queue) = mpsc::channel(4096);
        let topics = Topics {
            inner: Arc::new(Inner {
                store,
                options,
                client,
                publishes,
                outcomes,
                routes: Routes::default(),
                wake_fan_out: Notify::new(),
                wake_delivery: Notify::new(),
                in_flight: AtomicUsize::new(0),
                stop,
                targets: watch::channel(None).0,
            }),
        };
        tokio::spawn(publish_committer(Arc::downgrade(&topics.inner), publish_queue));
        tokio::spawn(worker::recorder(Arc::downgrade(&topics.inner), outcome_queue));
        tokio::spawn(topics.clone().fan_out_loop());
        tokio::spawn(topics.clone().delivery_loop());
        tokio::spawn(topics.clone().sweep_loop());
        Ok(topics)
    }

    /// Stops claiming work, waits a little for the attempts in flight, and gives this
    /// node's leases back.
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.inner.in_flight.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Err(e) = self.inner.store.release_deliveries(Some(&self.inner.options.node)).await {
            tracing::warn!(error = %e, "cannot hand deliveries back");
        }
    }

    /// Gives the service what delivers to functions and state machines.
    pub fn set_targets(&self, targets: Arc<dyn Targets>) {
        self.inner.targets.send_replace(Some(targets));
    }

    /// The ARN of a topic.
    pub fn topic_arn(&self, topic: &str) -> String {
        let o = &self.inner.options;
        format!("arn:aws:sns:{}:{}:{topic}", o.region, o.account)
    }

    // ----- topics ---------------------------------------------------------------------------

    /// Creates a topic; `Conflict` if it exists.
    pub async fn create_topic(&self, name: &str) -> Result<store::TopicRecord> {
        check_topic_name(name)?;
        let t = store::TopicRecord { name: name.to_owned(), created_ms: now_ms() };
        if !self.inner.store.create_topic(&t).await? {
            return Err(Error::Conflict(format!("topic {name} exists")));
        }
        Ok(t)
    }

    /// Creates a topic if it is missing.
    pub async fn ensure_topic(&self, name: &str) -> Result<()> {
        check_topic_name(name)?;
        let t = store::TopicRecord { name: name.to_owned(), created_ms: now_ms() };
        self.inner.store.create_topic(&t).await?;
        Ok(())
    }

    pub async fn topics(&self) -> Result<Vec<store::TopicRecord>> {
        Ok(self.inner.store.topics().await?)
    }

    pub async fn topic(&self, name: &str) -> Result<store::TopicRecord> {
        self.inner
            .store
            .topic(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("topic {name} does not exist")))
    }

    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        if !self.inner.store.delete_topic(name).await? {
            return Err(Error::NotFound(format!("topic {name} does not exist")));
        }
        Ok(())
    }

    // ----- subscriptions --------------------------------------------------------------------

    /// Subscribes an endpoint; the answer carries the signing secret, shown this once.
    pub async fn subscribe(&self, topic: &str, spec: SubscriptionSpec) -> Result<Subscription> {
        self.topic(topic).await?;
        check_endpoint(&spec.endpoint, &self.inner.options.netguard)?;
        let scope: FilterPolicyScope = match &spec.filter_policy_scope {
            Some(s) => s.parse()?,
            None => FilterPolicyScope::default(),
        };
        let filter_policy = match &spec.filter_policy {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(
                serde_json::from_str::<Value>(text)
                    .map_err(|e| invalid(format!("filter_policy is not JSON: {e}")))?,
            ),
            Some(v) => Some(v.clone()),
        };
        if let Some(p) = &filter_policy {
            FilterPolicy::from_value(p, scope)?;
        }
        if let Some(items) = &spec.retry_schedule {
            Schedule::parse(items)?;
        }
        let secret = match spec.secret {
            Some(s) => s,
            None => Secret::generate()?,
        };
        let now = now_ms();
        let record = store::SubscriptionRecord {
            id: format!("sub_{}", &new_id()[4..]),
            topic: topic.to_owned(),
            endpoint: spec.endpoint,
            filter_policy: filter_policy.as_ref().map(Value::to_string),
            filter_scope: scope.to_string(),
            raw: i64::from(spec.raw),
            secrets: secrets_json(&[StoredSecret { secret: secret.expose(), until_ms: None }]),
            retry_schedule: spec.retry_schedule.as_ref().map(|s| serde_json::json!(s).to_string()),
            status: "active".into(),
            created_ms: now,
            updated_ms: now,
        };
        self.inner.store.create_subscription(&record).await?;
        let mut shown = subscription_view(&record);
        shown.secret = Some(secret.expose());
        Ok(shown)
    }

    /// Subscribes an endpoint unless the topic has a subscription to it already (the
    /// subscriptions declared in the configuration, at every start). `true` if created.
    pub async fn ensure_subscription(&self, topic: &str, spec: SubscriptionSpec) -> Result<bool> {
        let existing = self.inner.store.subscriptions(topic).await?;
        if existing.iter().any(|s| s.endpoint == spec.endpoint) {
            return Ok(false);
        }
        self.subscribe(topic, spec).await?;
        Ok(true)
    }

    /// A topic's subscriptions, without their secrets.
    pub async fn subscriptions(&self, topic: &str) -> Result<Vec<Subscription>> {
        self.topic(topic).await?;
        let subs = self.inner.store.subscriptions(topic).await?;
        let mut views = Vec::with_capacity(subs.len());
        for s in &subs {
            views.push(self.with_failing_since(subscription_view(s)).await?);
        }
        Ok(views)
    }

    pub async fn subscription(&self, topic: &str, id: &str) -> Result<Subscription> {
        let view = subscription_view(&self.subscription_record(topic, id).await?);
        self.with_failing_since(view).await
    }

    /// The view with the start of its failures, which only the API shows.
    async fn with_failing_since(&self, mut view: Subscription) -> Result<Subscription> {
        view.failing_since_ms = self.inner.store.failing_since(&view.id).await?;
        Ok(view)
    }

    async fn subscription_record(
        &self,
        topic: &str,
        id: &str,
    ) -> Result<store::SubscriptionRecord> {
        match self.inner.store.subscription(id).await? {
            Some(s) if s.topic == topic => Ok(s),
            _ => Err(Error::NotFound(format!("subscription {id} of topic {topic} does not exist"))),
        }
    }

    pub async fn unsubscribe(&self, topic: &str, id: &str) -> Result<()> {
        if !self.inner.store.delete_subscription(topic, id).await? {
            return Err(Error::NotFound(format!(
                "subscription {id} of topic {topic} does not exist"
            )));
        }
        Ok(())
    }

    /// Disables an active subscription for `reason` (its pending deliveries become dead
    /// letters) and publishes a `subscription.disabled` event to [`OPERATIONS_TOPIC`];
    /// nothing if it is not active (another node or attempt disabled it first).
    pub(crate) async fn disable(
        &self,
        id: &str,
        reason: &str,
        failing_since_ms: i64,
    ) -> Result<()> {
        let store = &self.inner.store;
        let Some(sub) = store.subscription(id).await? else { return Ok(()) };
        if !store.disable_subscription(id, reason, now_ms()).await? {
            return Ok(());
        }
        tracing::warn!(subscription = %sub.id, topic = %sub.topic, endpoint = %sub.endpoint, reason, "subscription disabled");
        let failing_since = chrono::DateTime::from_timestamp_millis(failing_since_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let event = serde_json::json!({
            "type": "subscription.disabled",
            "topic": sub.topic,
            "subscription": sub.id,
            "endpoint": sub.endpoint,
            "reason": reason,
            "failing_since": failing_since,
        });
        let mut attributes = MessageAttributes::new();
        attributes.insert(
            "type".into(),
            MessageAttribute::new("String", AttributeValue::Text("subscription.disabled".into()))?,
        );
        self.ensure_topic(OPERATIONS_TOPIC).await?;
        let publish = Publish {
            message: event.to_string(),
            subject: None,
            attributes,
            ordering_key: None,
            id: None,
        };
        self.publish(OPERATIONS_TOPIC, publish).await?;
        Ok(())
    }

    /// Makes a disabled subscription (410 Gone) active again; its dead letters can then be
    /// replayed.
    pub async fn enable(&self, topic: &str, id: &str) -> Result<Subscription> {
        self.subscription_record(topic, id).await?;
        self.inner.store.enable_subscription(id, now_ms()).await?;
        self.subscription(topic, id).await
    }

    /// A new signing secret: deliveries are signed with it and, for
    /// [`ROTATION_OVERLAP`], with the previous one too. The answer carries the new secret.
    pub async fn rotate_secret(&self, topic: &str, id: &str) -> Result<Subscription> {
        let record = self.subscription_record(topic, id).await?;
        let now = now_ms();
        let secret = Secret::generate()?;
        let mut secrets = vec![StoredSecret { secret: secret.expose(), until_ms: None }];
        let until = now + ROTATION_OVERLAP.as_millis() as i64;
        for old in stored_secrets(&record.secrets) {
            let until_ms = old.until_ms.map_or(until, |u| u.min(until));
            if until_ms > now {
                secrets.push(StoredSecret { secret: old.secret, until_ms: Some(until_ms) });
            }
        }
        self.inner.store.set_subscription_secrets(id, &secrets_json(&secrets), now).await?;
        let mut shown = subscription_view(&record);
        shown.secret = Some(secret.expose());
        Ok(shown)
    }

    // ----- publishing -----------------------------------------------------------------------

    /// Commits a message to the topic's outbox and returns its id: once this returns, the
    /// message reaches every matching subscription at least once.
    pub async fn publish(&self, topic: &str, p: Publish) -> Result<String> {
        self.topic(topic).await?;
        let record = outbox_record(topic, p)?;
        let id = record.message_id.clone();
        self.commit(vec![record]).await?;
        Ok(id)
    }

    /// Publishes up to [`MAX_BATCH`] messages to the topic at once, as SNS's PublishBatch
    /// does, and returns their ids in order. Every message is checked before any is
    /// committed, so an invalid one publishes none (the error names its index). The messages
    /// join the same group commit, so a batch costs about one publish. When the call fails
    /// after some were committed, publishing the batch again with the same ids is safe: a
    /// message id is fanned out once.
    pub async fn publish_batch(&self, topic: &str, batch: Vec<Publish>) -> Result<Vec<String>> {
        if batch.is_empty() || batch.len() > MAX_BATCH {
            return Err(invalid(format!(
                "a batch has 1 to {MAX_BATCH} messages; this one has {}",
                batch.len()
            )));
        }
        self.topic(topic).await?;
        let records = batch
            .into_iter()
            .enumerate()
            .map(|(i, p)| outbox_record(topic, p).map_err(in_batch(i)))
            .collect::<Result<Vec<_>>>()?;
        let ids: Vec<String> = records.iter().map(|r| r.message_id.clone()).collect();
        for (i, id) in ids.iter().enumerate() {
            if let Some(j) = ids[..i].iter().position(|earlier| earlier == id) {
                return Err(invalid(format!("message {i}: the id {id} is message {j}'s too")));
            }
        }
        self.commit(records).await?;
        Ok(ids)
    }

    /// Hands records to the publish committer and waits until every one is committed.
    async fn commit(&self, records: Vec<store::OutboxRecord>) -> Result<()> {
        let stopping = || Error::Conflict("the topics service is stopping".into());
        let mut waits = Vec::with_capacity(records.len());
        for record in records {
            let (done, committed) = oneshot::channel();
            self.inner.publishes.send((record, done)).await.map_err(|_| stopping())?;
            waits.push(committed);
        }
        for committed in waits {
            committed.await.map_err(|_| stopping())??;
        }
        Ok(())
    }

    // ----- attempts and dead letters --------------------------------------------------------

    /// A subscription's attempts, newest first.
    pub async fn attempts(
        &self,
        topic: &str,
        id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<store::AttemptRecord>> {
        self.subscription_record(topic, id).await?;
        Ok(self.inner.store.attempts(id, before, limit.clamp(1, 1000)).await?)
    }

    /// A topic's dead letters, newest first.
    pub async fn dead_letters(
        &self,
        topic: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<store::DeliveryRecord>> {
        self.topic(topic).await?;
        Ok(self.inner.store.deliveries(topic, "dead", before, limit.clamp(1, 1000)).await?)
    }

    /// Makes a dead letter pending again, due now, with a fresh schedule.
    pub async fn replay(&self, topic: &str, delivery: i64) -> Result<store::DeliveryRecord> {
        let d = match self.inner.store.delivery(delivery).await? {
            Some(d) if d.topic == topic => d,
            _ => {
                return Err(Error::NotFound(format!(
                    "delivery {delivery} of topic {topic} does not exist"
                )))
            }
        };
        let sub = self.subscription_record(topic, &d.subscription_id).await?;
        if sub.status != "active" {
            return Err(Error::Conflict(format!(
                "subscription {} is {}: enable it before replaying",
                sub.id, sub.status
            )));
        }
        if !self.inner.store.replay_delivery(delivery, now_ms()).await? {
            return Err(Error::Conflict(format!("delivery {delivery} is {}, not dead", d.status)));
        }
        self.inner.wake_delivery.notify_one();
        Ok(self.inner.store.delivery(delivery).await?.unwrap_or(d))
    }
}

/// The most messages of one [`Topics::publish_batch`], as SNS's PublishBatch.
pub const MAX_BATCH: usize = 10;

/// Checks a message and makes its outbox record, with a new id unless it brings its own.
fn outbox_record(topic: &str, p: Publish) -> Result<store::OutboxRecord> {
    if p.message.len() > MAX_MESSAGE_BYTES {
        return Err(invalid(format!(
            "the message has {} bytes; the limit is {MAX_MESSAGE_BYTES}",
            p.message.len()
        )));
    }
    if let Some(key) = &p.ordering_key {
        if key.is_empty() || key.len() > 128 {
            return Err(invalid("ordering_key must have 1 to 128 characters"));
        }
    }
    if p.subject.as_ref().is_some_and(|s| s.is_empty() || s.len() > 100) {
        return Err(invalid("subject must have 1 to 100 characters"));
    }
    let id = match &p.id {
        Some(id) => MessageId::parse(id)?,
        None => MessageId::generate()?,
    };
    Ok(store::OutboxRecord {
        seq: 0,
        message_id: id.to_string(),
        topic: topic.to_owned(),
        body: p.message,
        attributes: attributes_to_json(&p.attributes).to_string(),
        subject: p.subject,
        ordering_key: p.ordering_key,
        created_ms: now_ms(),
    })
}

/// The most publishes (or attempt outcomes) committed in one transaction.
const GROUP: usize = 256;

/// The most outbox events one fan-out transaction takes.
const FAN_OUT_BATCH: i64 = 256;

/// Commits publishes in groups: one transaction for whatever is waiting, so publishers in
/// parallel share the cost of a commit, and the same transaction fans the outbox out. A
/// failed group is retried one by one (committed alone, left to the fan-out loop), so each
/// publisher learns its own fate.
async fn publish_committer(
    topics: Weak<Inner>,
    mut queue: mpsc::Receiver<(store::OutboxRecord, oneshot::Sender<Result<bool, Error>>)>,
) {
    let mut group = Vec::with_capacity(GROUP);
    while queue.recv_many(&mut group, GROUP).await > 0 {
        let Some(inner) = topics.upgrade() else { return };
        let records: Vec<store::OutboxRecord> = group.iter().map(|(r, _)| r.clone()).collect();
        let now = now_ms();
        let router = inner.routes.router(&inner.options.retry, now);
        match inner.store.publish_and_fan_out(&records, FAN_OUT_BATCH, now, router).await {
            Ok((inserted, (made, taken))) => {
                for ((_, done), new) in group.drain(..).zip(inserted) {
                    let _ = done.send(Ok(new));
                }
                if made > 0 {
                    inner.wake_delivery.notify_one();
                }
                // Another node fans out (PostgreSQL), or the outbox held more than a batch.
                if taken == 0 || taken == FAN_OUT_BATCH as u64 {
                    inner.wake_fan_out.notify_one();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = records.len(), "a group of publishes failed: trying them one by one");
                for (r, done) in group.drain(..) {
                    let _ = done.send(inner.store.publish(&r).await.map_err(Error::from));
                }
                inner.wake_fan_out.notify_one();
            }
        }
    }
}

/// The subscriptions' parsed filter policies and retry schedules, kept until their
/// subscription changes.
#[derive(Default, Clone)]
struct Routes(Arc<std::sync::Mutex<BTreeMap<String, Route>>>);

impl Routes {
    /// What a fan-out asks of each event and active subscription of its topic: the time of
    /// the first attempt, or `None` when the subscription's filter policy does not match.
    /// The answer owns what it needs: the store may run it on its writer thread.
    fn router(
        &self,
        default: &RetryPolicy,
        now: i64,
    ) -> impl FnMut(&store::OutboxRecord, &store::SubscriptionRecord) -> Option<i64> + Send + 'static
    {
        let (routes, default) = (self.0.clone(), default.clone());
        // The attributes of the event at hand, parsed once for all its subscriptions.
        let mut current: Option<(String, MessageAttributes)> = None;
        move |e, s| {
            if current.as_ref().is_none_or(|(id, _)| *id != e.message_id) {
                let attrs = serde_json::from_str::<Value>(&e.attributes)
                    .ok()
                    .and_then(|v| attributes_from_json(&v).ok())
                    .unwrap_or_default();
                current = Some((e.message_id.clone(), attrs));
            }
            let attrs = current.as_ref().map(|(_, a)| a)?;
            let mut routes = routes.lock().unwrap_or_else(|e| e.into_inner());
            let route = routes
                .entry(s.id.clone())
                .and_modify(|r| {
                    if r.updated_ms != s.updated_ms {
                        *r = Route::of(s, &default);
                    }
                })
                .or_insert_with(|| Route::of(s, &default));
            let matches = route.filter.as_ref().is_none_or(|f| f.matches(&e.body, attrs));
            matches.then(|| route.retry.first_attempt_at(now, rand::random::<f64>()))
        }
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

/// Names message `i` of a batch in an invalid-request error.
fn in_batch(i: usize) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::Invalid(m) => invalid(format!("message {i}: {m}")),
        other => other,
    }
}

/// SNS's rule: 1 to 256 letters, digits, `-` and `_`.
fn check_topic_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid topic name {name:?}: 1 to 256 letters, digits, hyphens and underscores"
        )))
    }
}

/// An endpoint must be an http(s) URL, `function:NAME`, a Lambda function ARN or a state
/// machine ARN; an IP literal must pass the network guard (names are checked at each
/// attempt, on the addresses they resolve to then).
fn check_endpoint(endpoint: &str, guard: &NetGuard) -> Result<()> {
    match target(endpoint) {
        Some(Target::Webhook(_)) => {}
        Some(_) => return Ok(()),
        None => {
            return Err(invalid(format!(
                "invalid endpoint {endpoint:?}: an http or https URL, function:NAME, a Lambda \
                 function ARN or a state machine ARN"
            )))
        }
    }
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| invalid(format!("invalid endpoint {endpoint:?}: {e}")))?;
    let Some(host) = url.host_str() else {
        return Err(invalid(format!("invalid endpoint {endpoint:?}: an http or https URL")));
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("invalid endpoint {endpoint:?}: an http or https URL")));
    }
    if let Some(ip) = worker::ip_literal(host) {
        let verdict = guard.check(ip);
        if !verdict.is_allowed() {
            return Err(invalid(format!("invalid endpoint {endpoint:?}: {ip} is {verdict}")));
        }
    }
    Ok(())
}

fn stored_secrets(json: &str) -> Vec<StoredSecret> {
    serde_json::from_str(json).unwrap_or_default()
}

fn secrets_json(secrets: &[StoredSecret]) -> String {
    serde_json::to_string(secrets).unwrap_or_else(|_| "[]".into())
}

/// The secrets that sign a delivery at `now_ms`, the current one first.
fn active_secrets(json: &str, now_ms: i64) -> Vec<Secret> {
    stored_secrets(json)
        .into_iter()
        .filter(|s| s.until_ms.is_none_or(|u| u > now_ms))
        .filter_map(|s| Secret::parse(&s.secret).ok())
        .collect()
}

fn subscription_view(s: &store::SubscriptionRecord) -> Subscription {
    Subscription {
        id: s.id.clone(),
        topic: s.topic.clone(),
        endpoint: s.endpoint.clone(),
        filter_policy: s.filter_policy.as_deref().and_then(|p| serde_json::from_str(p).ok()),
        filter_policy_scope: s.filter_scope.clone(),
        raw: s.raw != 0,
        retry_schedule: s.retry_schedule.as_deref().and_then(|r| serde_json::from_str(r).ok()),
        status: s.status.clone(),
        created_ms: s.created_ms,
        failing_since_ms: None,
        secret: None,
    }
}

/// A fresh random id (`msg_` and 22 base62 digits); other kinds swap the prefix.
fn new_id() -> String {
    match MessageId::generate() {
        Ok(id) => id.to_string(),
        Err(_) => MessageId::from_u128(u128::from(std::process::id()) << 64 | now_ms() as u128)
            .to_string(),
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Parsed settings of one subscription, cached by the fan-out loop.
struct Route {
    updated_ms: i64,
    filter: Option<FilterPolicy>,
    retry: RetryPolicy,
}

impl Route {
    fn of(s: &store::SubscriptionRecord, default: &RetryPolicy) -> Self {
        let scope = s.filter_scope.parse().unwrap_or_default();
        let filter = s.filter_policy.as_deref().and_then(|p| match FilterPolicy::parse(p, scope) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(subscription = %s.id, error = %e, "stored filter policy unreadable: matching everything");
                None
            }
        });
        Route { updated_ms: s.updated_ms, filter, retry: retry_policy(s, default) }
    }
}

/// A subscription's retry policy: its own schedule, or the default.
fn retry_policy(s: &store::SubscriptionRecord, default: &RetryPolicy) -> RetryPolicy {
    let own = s
        .retry_schedule
        .as_deref()
        .and_then(|r| serde_json::from_str::<Vec<String>>(r).ok())
        .and_then(|items| Schedule::parse(&items).ok());
    match own {
        Some(schedule) => RetryPolicy { schedule, ..default.clone() },
        None => default.clone(),
    }
}

impl Topics {
    /// The retention sweep: at start and then every minute (more often when the period is
    /// shorter), removes what the retention period is over for, in bounded batches.
    async fn sweep_loop(self) {
        let mut stop = self.inner.stop.subscribe();
        let retention = self.inner.options.retention;
        let every = (retention / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            let before = now_ms() - retention.as_millis() as i64;
            let mut total = store::Purged::default();
            loop {
                match self.inner.store.purge_deliveries(before, PURGE_BATCH).await {
                    Ok(p) => {
                        total.deliveries += p.deliveries;
                        total.attempts += p.attempts;
                        total.messages += p.messages;
                        if p.deliveries < PURGE_BATCH as u64 && p.messages < PURGE_BATCH as u64 {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot purge finished deliveries");
                        break;
                    }
                }
                if *stop.borrow() {
                    return;
                }
                // Let the writer serve others between batches.
                tokio::task::yield_now().await;
            }
            if total != store::Purged::default() {
                tracing::info!(
                    deliveries = total.deliveries,
                    attempts = total.attempts,
                    messages = total.messages,
                    "retention: purged finished deliveries"
                );
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    async fn fan_out_loop(self) {
        let mut stop = self.inner.stop.subscribe();
        loop {
            tokio::select! {
                () = self.inner.wake_fan_out.notified() => {}
                () = tokio::time::sleep(self.inner.options.poll) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            loop {
                let now = now_ms();
                let router = self.inner.routes.router(&self.inner.options.retry, now);
                let result = self.inner.store.fan_out(FAN_OUT_BATCH, now, router).await;
                match result {
                    Ok((made, taken)) => {
                        if made > 0 {
                            self.inner.wake_delivery.notify_one();
                        }
                        if taken < FAN_OUT_BATCH as u64 {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot fan messages out");
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{target, Target};

    #[test]
    fn endpoints_name_their_targets() {
        assert_eq!(target("https://example.com/h"), Some(Target::Webhook("https://example.com/h")));
        assert_eq!(target("function:resize"), Some(Target::Function("resize")));
        let f = "arn:aws:lambda:us-east-1:123456789012:function:resize";
        assert_eq!(target(f), Some(Target::Function(f)));
        let m = "arn:aws:states:us-east-1:123456789012:stateMachine:flow";
        assert_eq!(target(m), Some(Target::StateMachine(m)));
        for bad in ["function:", "ftp://x", "arn:aws:sqs:us-east-1:1:q", "nonsense", ""] {
            assert_eq!(target(bad), None, "{bad}");
        }
    }
}
