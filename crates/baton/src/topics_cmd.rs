//! `baton topics`: list, create, publish to and subscribe to the topics of a running Baton,
//! and read their dead letters, over the topics REST API; and the bridges between topics
//! and the rest of `baton up`: workflows' `sns:publish` tasks publish through
//! [`Publisher`], and deliveries to functions and state machines go through [`Targets`].

use std::sync::Arc;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use futures::future::BoxFuture;

use crate::api_client::{call, encode};
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub(crate) struct TopicsArgs {
    /// The Baton to talk to.
    #[arg(long, env = "BATON_ENDPOINT", default_value = "http://127.0.0.1:8080", global = true)]
    endpoint: String,
    #[command(subcommand)]
    command: TopicsCommand,
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// List the topics.
    List,
    /// Create a topic.
    Create {
        /// The topic's name (letters, digits, '-' and '_').
        name: String,
    },
    /// Publish a message and print its id once it is committed.
    Publish {
        /// The topic's name.
        name: String,
        /// The message: JSON (a JSON string is sent as its text), or @FILE.
        #[arg(long)]
        message: String,
        /// A String message attribute, NAME=VALUE (repeatable).
        #[arg(long = "attribute", value_name = "NAME=VALUE")]
        attributes: Vec<String>,
        /// The subject.
        #[arg(long)]
        subject: Option<String>,
        /// The ordering key: messages with the same key arrive in order.
        #[arg(long)]
        ordering_key: Option<String>,
    },
    /// Subscribe an endpoint: a webhook URL, function:NAME, a Lambda function ARN or a
    /// state machine ARN. Prints the subscription (with its signing secret, shown once).
    Subscribe {
        /// The topic's name.
        name: String,
        /// The endpoint (named `target` inside: `--endpoint` is the Baton to talk to).
        #[arg(value_name = "ENDPOINT")]
        target: String,
        /// An SNS filter policy (JSON, or @FILE).
        #[arg(long)]
        filter_policy: Option<String>,
        /// Deliver the message alone instead of the SNS envelope (webhooks).
        #[arg(long)]
        raw: bool,
    },
    /// List a topic's dead letters (deliveries whose retries are exhausted).
    DeadLetters {
        /// The topic's name.
        name: String,
    },
}

pub(crate) fn run(args: TopicsArgs) -> Result<u8> {
    crate::api_client::runtime()?.block_on(async move {
        let client = reqwest::Client::new();
        let base = args.endpoint.trim_end_matches('/').to_owned();
        let (method, path, body) = match args.command {
            TopicsCommand::List => {
                let v = call(&client, &base, reqwest::Method::GET, "/topics", None).await?;
                for t in v["topics"].as_array().into_iter().flatten() {
                    println!(
                        "{}\t{}",
                        t["name"].as_str().unwrap_or(""),
                        t["arn"].as_str().unwrap_or("")
                    );
                }
                return Ok(0);
            }
            TopicsCommand::Create { name } => {
                (reqwest::Method::POST, "/topics".to_owned(), Some(json!({"name": name})))
            }
            TopicsCommand::Publish { name, message, attributes, subject, ordering_key } => {
                let message = crate::input::json_arg(&message, "the message")?;
                let mut attrs = serde_json::Map::new();
                for a in &attributes {
                    let Some((k, v)) = a.split_once('=') else {
                        bail!("--attribute {a:?}: expected NAME=VALUE");
                    };
                    attrs.insert(k.to_owned(), json!({"Type": "String", "Value": v}));
                }
                let mut body = json!({"message": message});
                if !attrs.is_empty() {
                    body["attributes"] = Value::Object(attrs);
                }
                if let Some(s) = subject {
                    body["subject"] = json!(s);
                }
                if let Some(k) = ordering_key {
                    body["ordering_key"] = json!(k);
                }
                (reqwest::Method::POST, format!("/topics/{}/messages", encode(&name)), Some(body))
            }
            TopicsCommand::Subscribe { name, target, filter_policy, raw } => {
                let mut body = json!({"endpoint": target, "raw": raw});
                if let Some(p) = filter_policy {
                    body["filter_policy"] = crate::input::json_arg(&p, "the filter policy")?;
                }
                (
                    reqwest::Method::POST,
                    format!("/topics/{}/subscriptions", encode(&name)),
                    Some(body),
                )
            }
            TopicsCommand::DeadLetters { name } => {
                (reqwest::Method::GET, format!("/topics/{}/dead-letters", encode(&name)), None)
            }
        };
        let v = call(&client, &base, method, &path, body).await?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        Ok(0)
    })
}

/// Workflows' `sns:publish` tasks, published on this node's topics.
pub(crate) struct Publisher {
    topics: events::topics::Topics,
}

impl Publisher {
    pub(crate) fn new(topics: events::topics::Topics) -> Self {
        Self { topics }
    }
}

impl workflows::sns::Publisher for Publisher {
    fn publish(
        &self,
        request: workflows::sns::Request,
    ) -> BoxFuture<'static, Result<String, workflows::sns::Refusal>> {
        use workflows::sns::{Refusal, RefusalKind};
        let topics = self.topics.clone();
        Box::pin(async move {
            let invalid = |e: &dyn std::fmt::Display| {
                Refusal::new(RefusalKind::InvalidParameter, format!("Invalid parameter: {e}"))
            };
            let attributes: serde_json::Map<String, Value> = request
                .attributes
                .iter()
                .map(|a| (a.name.clone(), json!({"Type": a.data_type, "Value": a.value})))
                .collect();
            let attributes = events::topics::attributes_from_json(&Value::Object(attributes))
                .map_err(|e| invalid(&e))?;
            let publish = events::topics::Publish {
                message: request.message,
                subject: request.subject,
                attributes,
                ordering_key: request.ordering_key,
                id: Some(events::MessageId::from_key(&request.idempotency_key).to_string()),
            };
            topics.publish(&request.topic, publish).await.map_err(|e| match e {
                events::topics::Error::NotFound(_) => {
                    Refusal::new(RefusalKind::NotFound, "Topic does not exist")
                }
                events::topics::Error::Invalid(m) => invalid(&m),
                other => Refusal::new(RefusalKind::Internal, other.to_string()),
            })
        })
    }
}

/// Deliveries to functions (an `Event` invocation) and state machines (an execution).
pub(crate) struct Targets {
    events: Option<functions::events::Worker>,
    engine: workflows::Engine,
}

impl Targets {
    pub(crate) fn new(
        events: Option<functions::events::Worker>,
        engine: workflows::Engine,
    ) -> Self {
        Self { events, engine }
    }
}

impl events::topics::Targets for Targets {
    fn invoke(
        &self,
        function: &str,
        event: String,
        request_id: String,
    ) -> events::topics::TargetFuture<String> {
        let events = self.events.clone();
        let function = function.to_owned();
        Box::pin(async move {
            let Some(events) = events else {
                return Err(format!(
                    "function {function} does not exist: no functions are declared"
                ));
            };
            events
                .enqueue_with_id(&function, event.into_bytes(), request_id)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn start_execution(
        &self,
        machine_arn: &str,
        name: String,
        input: String,
    ) -> events::topics::TargetFuture<String> {
        let engine = self.engine.clone();
        let machine_arn = machine_arn.to_owned();
        Box::pin(async move {
            let machine = engine
                .store()
                .machine(&machine_arn)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("State Machine Does Not Exist: '{machine_arn}'"))?;
            let started = if workflows::kind_of(&machine) == asl::MachineType::Express {
                let input: Value = serde_json::from_str(&input).map_err(|e| e.to_string())?;
                engine.start_express(&machine, Some(name.clone()), input)
            } else {
                engine.start_execution(&machine, Some(name.clone()), input).await
            };
            match started {
                Ok(s) => Ok(s.execution_arn),
                // The name is the message's and the subscription's: this delivery started
                // it before (an attempt whose outcome was not recorded).
                Err(workflows::Error::ExecutionAlreadyExists(_)) => {
                    Ok(engine.execution_arn(&machine.name, &name))
                }
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// Both bridges as `baton up` hands them over.
pub(crate) fn targets(
    events: Option<functions::events::Worker>,
    engine: workflows::Engine,
) -> Arc<dyn events::topics::Targets> {
    Arc::new(Targets::new(events, engine))
}
