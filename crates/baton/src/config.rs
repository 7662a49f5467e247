//! Configuration in layers: the embedded defaults (`baton.default.toml`, which documents
//! every key), the user's file, then `BATON_` environment variables, then flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

/// The embedded default configuration file.
pub(crate) const DEFAULTS: &str = include_str!("../baton.default.toml");

#[derive(Clone, Deserialize)]
pub(crate) struct Config {
    pub(crate) listen: String,
    pub(crate) data: PathBuf,
    pub(crate) database: Option<String>,
    pub(crate) region: String,
    pub(crate) account: String,
    pub(crate) limits: Limits,
    pub(crate) cluster: Cluster,
    /// The functions, by name (`[functions.NAME]`).
    #[serde(default)]
    pub(crate) functions: std::collections::BTreeMap<String, functions::FunctionSpec>,
    /// The resource collections, by name (`[collections.NAME]`).
    #[serde(default)]
    pub(crate) collections: std::collections::BTreeMap<String, CollectionSpec>,
    #[serde(default)]
    pub(crate) resources: ResourcesConfig,
    /// Topics and webhook delivery (`[topics]`, and `[topics.NAME]` for each topic).
    #[serde(default)]
    pub(crate) topics: TopicsConfig,
    /// `[security] rules = "file.json"`: the security interceptor's rules.
    #[serde(default)]
    pub(crate) security: RulesFile,
    /// `[notifications] rules = "file.json"`: the notification interceptor's rules.
    #[serde(default)]
    pub(crate) notifications: RulesFile,
    /// `[[routes]]`: the gateway's route table.
    #[serde(default)]
    pub(crate) routes: Vec<gateway::RouteSpec>,
    /// `[workflows.NAME]`: state machines created (or updated) at start.
    #[serde(default)]
    pub(crate) workflows: std::collections::BTreeMap<String, WorkflowSpec>,
    /// `[tls]`: serve HTTPS (see `tls.rs`).
    #[serde(default)]
    pub(crate) tls: TlsConfig,
    /// The key (base64 of 32 bytes) that seals browser login's session cookies
    /// (`BATON_COOKIE_KEY`). Unset: one is generated and kept in the store.
    #[serde(default)]
    pub(crate) cookie_key: Option<String>,
}

/// A state machine declared in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkflowSpec {
    /// The definition file (Amazon States Language, JSON).
    pub(crate) definition: PathBuf,
    /// `STANDARD` (the default) or `EXPRESS`.
    #[serde(default = "standard", rename = "type")]
    pub(crate) kind: String,
}

fn standard() -> String {
    "STANDARD".to_owned()
}

/// `[tls]`: HTTPS with the given certificate and key, or with a self-signed certificate.
/// Neither: plain HTTP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsConfig {
    /// The certificate chain (PEM), the server's own certificate first.
    pub(crate) cert: Option<PathBuf>,
    /// The private key of that certificate (PEM: PKCS#8, or PKCS#1 RSA / SEC1 EC).
    pub(crate) key: Option<PathBuf>,
    /// A certificate for localhost made (or kept from an earlier start) under
    /// `<data>/tls`, for development; `baton up --tls-self-signed` sets it.
    #[serde(default)]
    pub(crate) self_signed: bool,
}

/// A JSON rules file named in the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RulesFile {
    pub(crate) rules: Option<PathBuf>,
}

impl RulesFile {
    /// The JSON: from the environment variable `env` if it is set (the JSON itself), else
    /// from the file; `None` when neither is given.
    pub(crate) fn load(&self, env: &str) -> Result<Option<String>> {
        if let Ok(json) = std::env::var(env) {
            if !json.trim().is_empty() {
                return Ok(Some(json));
            }
        }
        match &self.rules {
            Some(path) => std::fs::read_to_string(path)
                .map(Some)
                .with_context(|| format!("cannot read {}", path.display())),
            None => Ok(None),
        }
    }
}

/// One resource collection, served at `/NAME`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CollectionSpec {
    /// The top-level member that holds a document's id (`id` when unset). A POST without
    /// it gets a generated id, `NAME_` and 32 hex digits, written into the document.
    pub(crate) key: Option<String>,
    /// A JSON Schema every document written must satisfy (422 listing the violations).
    pub(crate) schema: Option<PathBuf>,
    /// PUT, PATCH and DELETE must carry `If-Match` or `If-Unmodified-Since` (428 if not).
    #[serde(default)]
    pub(crate) require_conditional_writes: bool,
    /// Writes put `created`/`updated`/`deleted` events for topic NAME in the outbox.
    #[serde(default)]
    pub(crate) events: bool,
}

/// Settings shared by every collection.
#[derive(Clone, Default, Deserialize)]
pub(crate) struct ResourcesConfig {
    /// The secret that seals pagination cursors. Unset: one is generated and kept in the
    /// store, so every node on the same database accepts the others' cursors.
    pub(crate) cursor_secret: Option<String>,
}

impl std::fmt::Debug for ResourcesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourcesConfig")
            .field("cursor_secret", &self.cursor_secret.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// `[topics]`: the delivery settings, and the declared topics by name.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct TopicsConfig {
    /// The waits before each attempt (`"0s"`, `"5s"`, `"5m"`, ...), jittered by ±20%.
    #[serde(default)]
    pub(crate) retry_schedule: Vec<String>,
    /// How long one attempt may take, in seconds.
    #[serde(default)]
    pub(crate) timeout_seconds: Option<u64>,
    /// Networks deliveries may reach (CIDR); empty allows all but the denied ones.
    #[serde(default)]
    pub(crate) allow_networks: Vec<String>,
    /// Networks deliveries may not reach (CIDR). Cloud metadata is refused regardless.
    #[serde(default)]
    pub(crate) deny_networks: Vec<String>,
    /// Attempts in flight at once on this node (64 when unset).
    #[serde(default)]
    pub(crate) max_in_flight: Option<usize>,
    /// A subscription whose every attempt failed for this many hours (no success in
    /// between) is disabled, with an event on `baton-operations` (120 when unset; a
    /// fraction of an hour is allowed).
    #[serde(default)]
    pub(crate) disable_after_hours: Option<f64>,
    /// Hours finished deliveries (delivered and dead), their attempts, and their messages
    /// are kept (72 when unset).
    #[serde(default)]
    pub(crate) retention_hours: Option<f64>,
    /// `[topics.NAME]`: topics created at start if missing, with their subscriptions.
    #[serde(flatten)]
    pub(crate) declared: std::collections::BTreeMap<String, TopicSpec>,
}

/// One declared topic.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct TopicSpec {
    #[serde(default)]
    pub(crate) subscriptions: Vec<SubscriptionConfig>,
}

/// `[[topics.NAME.subscriptions]]`: a webhook subscribed at start unless the topic has one
/// to the same endpoint.
#[derive(Clone, Deserialize)]
pub(crate) struct SubscriptionConfig {
    pub(crate) endpoint: String,
    #[serde(default)]
    pub(crate) filter_policy: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) filter_policy_scope: Option<String>,
    #[serde(default)]
    pub(crate) raw: bool,
    #[serde(default)]
    pub(crate) retry_schedule: Option<Vec<String>>,
    /// The signing secret (`whsec_...`); generated when absent (rotate it through the API
    /// to learn one).
    #[serde(default)]
    pub(crate) secret: Option<String>,
}

impl std::fmt::Debug for SubscriptionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionConfig")
            .field("endpoint", &self.endpoint)
            .field("filter_policy", &self.filter_policy)
            .field("raw", &self.raw)
            .field("secret", &self.secret.as_ref().map(|_| "<hidden>"))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A database URL may carry a password: never print it.
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data", &self.data)
            .field("database", &self.database.as_ref().map(|_| "<set>"))
            .field("region", &self.region)
            .field("account", &self.account)
            .field("limits", &self.limits)
            .field("cluster", &self.cluster)
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .field("collections", &self.collections)
            .field("resources", &self.resources)
            .field("topics", &self.topics)
            .field("security", &self.security)
            .field("notifications", &self.notifications)
            .field("routes", &self.routes)
            .field("workflows", &self.workflows)
            .field("tls", &self.tls)
            .field("cookie_key", &self.cookie_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Limits {
    pub(crate) max_payload_bytes: usize,
    pub(crate) max_history_events: u64,
    pub(crate) map_concurrency: usize,
    pub(crate) express_timeout_seconds: u64,
    pub(crate) retention_days: u64,
    pub(crate) http_timeout_seconds: u64,
    pub(crate) function_event_retry_seconds: Vec<f64>,
    pub(crate) function_log_lines: usize,
    pub(crate) max_request_bytes: usize,
    pub(crate) execution_memory_kib: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Cluster {
    pub(crate) lease_seconds: u64,
    pub(crate) shards: usize,
}

impl Config {
    /// Loads the layers; `file` is the user's file, if any (TOML, or JSON by extension).
    pub(crate) fn load(file: Option<&PathBuf>) -> Result<Self> {
        let mut figment = Figment::new().merge(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                bail!("the configuration file {} does not exist", path.display());
            }
            figment = if path.extension().is_some_and(|e| e == "json") {
                figment.merge(figment::providers::Json::file(path))
            } else {
                figment.merge(Toml::file(path))
            };
        }
        figment = figment.merge(Env::prefixed("BATON_").split("__").ignore(&["database_url"]));
        let mut config: Config = figment.extract().context("invalid configuration")?;
        if let Ok(url) = std::env::var("BATON_DATABASE_URL") {
            if !url.is_empty() {
                config.database = Some(url);
            }
        }
        if let Some(dir) = file.and_then(|f| f.parent()) {
            config.resolve_paths(dir);
        }
        Ok(config)
    }

    /// Makes the files a configuration file names relative to that file's directory, so an
    /// application's `baton.toml` works from wherever Baton is started: schemas, rules,
    /// workflow definitions, static directories, TLS files and functions' working
    /// directories. (A
    /// function's `command` is run in its working directory, so it can stay relative to
    /// that.) The data directory stays relative to where Baton runs.
    fn resolve_paths(&mut self, dir: &std::path::Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        let paths = self
            .collections
            .values_mut()
            .filter_map(|c| c.schema.as_mut())
            .chain(self.security.rules.as_mut())
            .chain(self.notifications.rules.as_mut())
            .chain(self.workflows.values_mut().map(|w| &mut w.definition))
            .chain(self.routes.iter_mut().filter_map(|r| r.static_dir.as_mut()))
            .chain(self.tls.cert.as_mut())
            .chain(self.tls.key.as_mut());
        paths.for_each(fix);
        for f in self.functions.values_mut() {
            match &mut f.working_dir {
                Some(w) => fix(w),
                None => f.working_dir = Some(dir.to_owned()),
            }
        }
    }

    /// The declared functions, each named by its table key.
    pub(crate) fn function_specs(&self) -> Vec<functions::FunctionSpec> {
        self.functions
            .iter()
            .map(|(name, spec)| functions::FunctionSpec { name: name.clone(), ..spec.clone() })
            .collect()
    }

    /// The listen address, checked.
    pub(crate) fn listen_addr(&self) -> Result<SocketAddr> {
        self.listen.parse().with_context(|| format!("invalid listen address {:?}", self.listen))
    }

    /// The store URL: the configured database, or SQLite under the data directory.
    pub(crate) fn database_url(&self) -> Result<String> {
        if let Some(url) = &self.database {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data)
            .with_context(|| format!("cannot create the data directory {}", self.data.display()))?;
        Ok(format!("sqlite://{}", self.data.join("baton.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_parse() {
        let c: Config = Figment::new().merge(Toml::string(DEFAULTS)).extract().unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.limits.max_payload_bytes, 256 * 1024);
        assert!(c.database.is_none());
        assert!(!format!("{c:?}").contains("postgres"));
        assert_eq!(c.topics.retry_schedule.len(), 8);
        assert!(c.topics.declared.is_empty());
        assert!(c.tls.cert.is_none() && c.tls.key.is_none() && !c.tls.self_signed);
    }

    #[test]
    fn topics_are_declared_beside_the_delivery_settings() {
        let c: Config = Figment::new()
            .merge(Toml::string(DEFAULTS))
            .merge(Toml::string(
                r#"
                [topics]
                retry_schedule = ["0s", "1s"]
                [topics.orders]
                [[topics.orders.subscriptions]]
                endpoint = "http://127.0.0.1:9000/hook"
                filter_policy = { store = ["example_corp"] }
                secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
                "#,
            ))
            .extract()
            .unwrap();
        assert_eq!(c.topics.retry_schedule, ["0s", "1s"]);
        let orders = &c.topics.declared["orders"];
        assert_eq!(
            orders.subscriptions[0].filter_policy,
            Some(serde_json::json!({"store": ["example_corp"]}))
        );
        assert!(!format!("{c:?}").contains("whsec_"), "secrets are never printed");
    }
}
