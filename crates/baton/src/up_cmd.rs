//! `baton up`: the server.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::config::Config;

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// The configuration file (TOML, or JSON with a .json name).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The data directory (SQLite lives here unless --database is given).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long)]
    listen: Option<String>,
    /// The database URL: postgres://... to share the work between nodes.
    #[arg(long)]
    database: Option<String>,
    /// Serve HTTPS with a self-signed certificate for localhost, 127.0.0.1 and ::1, kept in
    /// DATA/tls/self-signed.crt (trust it: curl --cacert DATA/tls/self-signed.crt).
    #[arg(long)]
    tls_self_signed: bool,
}

pub(crate) fn run(args: UpArgs) -> Result<u8> {
    let mut config = Config::load(args.config.as_ref())?;
    if let Some(d) = args.data {
        config.data = d;
    }
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(db) = args.database {
        config.database = Some(db);
    }
    if args.tls_self_signed {
        config.tls.self_signed = true;
    }
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))?;
    Ok(0)
}

fn init_tracing() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colours only for a terminal: a log file or a pipe gets plain lines.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(mut config: Config) -> Result<()> {
    let addr = config.listen_addr()?;
    // First, so a mistake in [tls] stops Baton before it opens anything.
    let tls = crate::tls::load(&config.tls, &config.data)?;
    // Bound before anything starts, so functions can be told where Baton is.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let endpoint = self_endpoint(local, tls.is_some());
    for f in config.functions.values_mut() {
        f.env.entry("BATON_ENDPOINT".to_owned()).or_insert_with(|| endpoint.clone());
    }
    let url = config.database_url()?;
    let store = store::Store::open(&url)
        .await
        .with_context(|| format!("cannot open the store at {}", redact(&url)))?;
    let single_node = store.backend() == store::Backend::Sqlite;
    let engine_config = workflows::Config {
        region: config.region.clone(),
        account: config.account.clone(),
        lease: Duration::from_secs(config.cluster.lease_seconds.max(1)),
        shards: config.cluster.shards,
        limits: asl::Options {
            record_history: true,
            max_payload_bytes: config.limits.max_payload_bytes,
            default_map_concurrency: config.limits.map_concurrency,
            max_history_events: config.limits.max_history_events,
            random_seed: None,
        },
        express_timeout: Duration::from_secs(config.limits.express_timeout_seconds),
        http_timeout: Duration::from_secs(config.limits.http_timeout_seconds),
        single_node,
        retention: Duration::from_secs(config.limits.retention_days * 24 * 3600),
        admission_bytes: config.limits.execution_memory_kib.saturating_mul(1024),
        ..workflows::Config::default()
    };
    let resources = crate::server::resources::Resources::new(&config, &store)
        .await
        .context("invalid resource collections")?;
    let node = engine_config.node_id.clone();
    let functions = start_functions(&config, &store, &node)?;
    let engine_config = workflows::Config {
        lambda: functions.clone().map(|(f, w)| {
            workflows::lambda::Handle(std::sync::Arc::new(crate::functions_cmd::Bridge::new(f, w)))
        }),
        ..engine_config
    };
    let topics = start_topics(&config, &store, &node, single_node).await?;
    let engine_config = workflows::Config {
        sns: Some(workflows::sns::Handle(std::sync::Arc::new(crate::topics_cmd::Publisher::new(
            topics.clone(),
        )))),
        ..engine_config
    };
    let middleware = middleware(&config, &store, tls.is_some()).await?;
    let routes = routes(&config, &resources, functions.as_ref().map(|(f, _)| f))?;
    let engine = workflows::Engine::start(engine_config, store)
        .await
        .context("cannot start the workflow executor")?;
    let declared = declare_workflows(&config, &engine).await?;
    // Deliveries to functions and state machines wait for these.
    topics.set_targets(crate::topics_cmd::targets(
        functions.as_ref().map(|(_, w)| w.clone()),
        engine.clone(),
    ));
    let base = format!("{}://{local}", if tls.is_some() { "https" } else { "http" });
    // The first line of standard output says where Baton is: tests and scripts read it.
    println!("baton listening on {base}");
    println!("  Step Functions API: POST {base}/ (aws --endpoint-url {base} stepfunctions ...)");
    println!("  health: {base}/health   metrics: {base}/metrics   OpenAPI: {base}/openapi.json");
    println!("  web console: {base}/console");
    if let Some(tls) = &tls {
        println!("  {}", tls.describe());
    }
    if let Some((f, _)) = &functions {
        println!(
            "  functions: {} (aws --endpoint-url {base} lambda invoke ...)",
            f.names().join(", ")
        );
    }
    if !resources.names().is_empty() {
        println!("  resources: {} ({base}/NAME)", resources.names().join(", "));
    }
    println!("  store: {} (node {node})", redact(&url));
    tracing::info!(%local, node = %node, tls = tls.is_some(), "baton is up");
    println!("  topics: {base}/topics");
    if let Some(s) = &middleware.security {
        println!("  security rules: on");
        if s.uses_sessions() {
            println!("  browser login: {base}/auth/login (OpenID Connect)");
        }
    }
    if middleware.notifications.is_some() {
        println!("  notification rules: on");
    }
    if !declared.is_empty() {
        println!("  workflows: {}", declared.join(", "));
    }
    for r in routes.routes() {
        let methods = r.methods.as_ref().map_or_else(
            || "*".to_owned(),
            |ms| ms.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(","),
        );
        println!("  route: {methods} {} -> {}", r.pattern.as_str(), r.target.describe());
    }
    let extra: Vec<crate::server::openapi::ExtraOperation> = routes
        .routes()
        .iter()
        .filter_map(crate::server::openapi::ExtraOperation::from_route)
        .collect();
    let openapi = crate::server::openapi::document(&config, &resources, &extra);
    let app = middleware.apply(crate::server::router(
        crate::server::AppState::new(engine.clone(), config, functions.clone())
            .with_resources(resources)
            .with_topics(topics.clone())
            .with_routes(routes)
            .with_scheme(if tls.is_some() { "https" } else { "http" })
            .with_openapi(&openapi)
            .with_api_key_header(
                middleware.security.as_ref().map_or("x-api-key", |s| s.api_key_header().as_str()),
            ),
    ));
    match tls {
        None => {
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            // Answers whose body is streamed (static files, proxied upstreams) go out as two
            // writes, the head and then the body; with Nagle's algorithm on, the second waits
            // for the client's delayed ACK of the first, about 40 ms on Linux.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
                }
            });
            axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await
        }
        Some(tls) => crate::tls::serve(listener, tls, app, shutdown_signal()).await,
    }
    .context("the server failed")?;
    tracing::info!("shutting down: handing executions back");
    topics.shutdown().await;
    // Stop taking Event invocations, hand the executions back (their tasks' results no
    // longer count), then stop the functions' processes.
    if let Some((_, w)) = &functions {
        w.stop();
    }
    engine.shutdown().await;
    if let Some((f, _)) = &functions {
        f.shutdown().await;
    }
    Ok(())
}

/// The declared functions and the worker of their `Event` invocations; `None` when no
/// function is declared.
fn start_functions(
    config: &Config,
    store: &store::Store,
    node: &str,
) -> Result<Option<(functions::Functions, functions::events::Worker)>> {
    let specs = config.function_specs();
    if specs.is_empty() {
        return Ok(None);
    }
    let options = functions::Options {
        region: config.region.clone(),
        account: config.account.clone(),
        log_lines: config.limits.function_log_lines,
    };
    let f = functions::Functions::start(specs, options).context("invalid functions")?;
    let worker = functions::events::Worker::start(
        f.clone(),
        store.clone(),
        functions::events::WorkerOptions {
            node: node.to_owned(),
            retry_delays: config
                .limits
                .function_event_retry_seconds
                .iter()
                .map(|s| Duration::from_secs_f64(s.clamp(0.0, 86_400.0)))
                .collect(),
            single_node: store.backend() == store::Backend::Sqlite,
            ..functions::events::WorkerOptions::default()
        },
    );
    Ok(Some((f, worker)))
}

/// The URL Baton's own functions reach it at: the listen address, with an unspecified
/// address (`0.0.0.0`, `::`) replaced by loopback.
fn self_endpoint(local: std::net::SocketAddr, tls: bool) -> String {
    let mut addr = local;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("{}://{addr}", if tls { "https" } else { "http" })
}

/// Creates the state machines of `[workflows.NAME]`, or updates those whose definition
/// changed (a new revision, as UpdateStateMachine makes). Every node does this at start;
/// it is idempotent. Answers the names.
async fn declare_workflows(config: &Config, engine: &workflows::Engine) -> Result<Vec<String>> {
    let store = engine.store();
    let mut names = Vec::new();
    for (name, spec) in &config.workflows {
        let path = spec.definition.display();
        let kind = spec.kind.to_ascii_uppercase();
        if kind != "STANDARD" && kind != "EXPRESS" {
            bail!("workflow {name:?}: type is STANDARD or EXPRESS, not {:?}", spec.kind);
        }
        let definition = std::fs::read_to_string(&spec.definition)
            .with_context(|| format!("workflow {name:?}: cannot read {path}"))?;
        asl::StateMachine::compile_str(&definition, workflows::machine_type(&kind))
            .map_err(|e| anyhow::anyhow!("workflow {name:?} ({path}): {}", e.cause))?;
        let arn =
            format!("arn:aws:states:{}:{}:stateMachine:{name}", config.region, config.account);
        let now = workflows::now_ms();
        let existing = store.machine(&arn).await?;
        match existing {
            None => {
                let record = store::MachineRecord {
                    arn: arn.clone(),
                    name: name.clone(),
                    kind: kind.clone(),
                    revision_id: uuid::Uuid::new_v4().to_string(),
                    definition,
                    role_arn: format!("arn:aws:iam::{}:role/baton", config.account),
                    description: format!("declared in the configuration ({path})"),
                    logging: r#"{"level":"OFF","includeExecutionData":false}"#.into(),
                    tracing: r#"{"enabled":false}"#.into(),
                    created_ms: now,
                    updated_ms: now,
                    tags: "[]".into(),
                };
                // Another node may create it at the same moment: either row is the same.
                store.create_machine(&record).await?;
            }
            Some(m) if m.kind != kind => bail!(
                "workflow {name:?} exists as {} and is declared {kind}: delete it first",
                m.kind
            ),
            Some(mut m) if m.definition != definition => {
                m.definition = definition;
                m.revision_id = uuid::Uuid::new_v4().to_string();
                m.updated_ms = now;
                store.update_machine(&m, true).await?;
            }
            Some(_) => {}
        }
        names.push(name.clone());
    }
    Ok(names)
}

/// The gateway's route table, its collections and functions checked against the
/// declared ones (state machines are created at run time, so a workflow route's is looked
/// up per request).
fn routes(
    config: &Config,
    resources: &crate::server::resources::Resources,
    functions: Option<&functions::Functions>,
) -> Result<gateway::RouteTable> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("cannot build the upstream HTTP client")?;
    let table = gateway::RouteTable::new(&config.routes, crate::server::routes::RESERVED, &client)
        .context("invalid [[routes]]")?;
    for r in table.routes() {
        let path = r.pattern.as_str();
        match &r.target {
            gateway::Target::Collection { name, .. }
                if !resources.names().contains(&name.as_str()) =>
            {
                bail!("invalid [[routes]]: {path} names the collection {name:?}, which is not declared");
            }
            gateway::Target::Function(name)
                if functions.is_none_or(|f| f.resolve(name).is_err()) =>
            {
                bail!(
                    "invalid [[routes]]: {path} names the function {name:?}, which is not declared"
                );
            }
            _ => {}
        }
    }
    Ok(table)
}

/// The setting that keeps the generated cookie key in the store.
const COOKIE_KEY_SETTING: &str = "security.cookie_key";

/// The middleware chain: request ids and the access log always; security and notification
/// when their rules are given (`BATON_SECURITY_RULES` / `BATON_NOTIFICATION_RULES` hold the
/// JSON itself and win over `[security] rules` / `[notifications] rules`, which name files).
/// With browser login, the cookie key is `cookie_key` (`BATON_COOKIE_KEY`) or the one kept
/// in the store (generated by the first node that needed it), as the cursor secret is.
async fn middleware(
    config: &Config,
    store: &store::Store,
    https: bool,
) -> Result<gateway::Middleware> {
    let security = match config.security.load("BATON_SECURITY_RULES")? {
        Some(json) => {
            let mut security = gateway::Security::from_json(&json)?.with_https(https);
            if security.uses_sessions() {
                let key = match config.cookie_key.as_deref().filter(|k| !k.trim().is_empty()) {
                    Some(k) => k.to_owned(),
                    None => store
                        .setting_or_init(
                            COOKIE_KEY_SETTING,
                            &gateway::security::CookieKey::generate().to_base64(),
                        )
                        .await
                        .context("cannot read or keep the cookie key in the store")?,
                };
                let key = gateway::security::CookieKey::from_base64(&key)
                    .map_err(|e| anyhow::anyhow!("cookie_key (BATON_COOKIE_KEY): {e}"))?;
                security = security.with_cookie_key(key);
            }
            Some(std::sync::Arc::new(security))
        }
        None => None,
    };
    let notifications = match config.notifications.load("BATON_NOTIFICATION_RULES")? {
        Some(json) => Some(std::sync::Arc::new(gateway::Notifier::from_json(
            &json,
            store.clone(),
            config.limits.max_payload_bytes,
        )?)),
        None => None,
    };
    Ok(gateway::Middleware { security, notifications })
}

/// The topics service and its workers, with the topics and subscriptions the
/// configuration declares.
async fn start_topics(
    config: &Config,
    store: &store::Store,
    node: &str,
    single_node: bool,
) -> Result<events::topics::Topics> {
    let t = &config.topics;
    let retry = if t.retry_schedule.is_empty() {
        events::RetryPolicy::default()
    } else {
        let schedule = events::Schedule::parse(&t.retry_schedule)
            .context("invalid [topics] retry_schedule")?;
        events::RetryPolicy { schedule, ..events::RetryPolicy::default() }
    };
    let options = events::topics::Options {
        node: node.to_owned(),
        region: config.region.clone(),
        account: config.account.clone(),
        retry,
        netguard: events::NetGuard::parse(&t.allow_networks, &t.deny_networks)
            .context("invalid [topics] allow_networks or deny_networks")?,
        timeout: Duration::from_secs(t.timeout_seconds.unwrap_or(15).clamp(1, 3600)),
        single_node,
        max_in_flight: t
            .max_in_flight
            .unwrap_or(events::topics::Options::default().max_in_flight)
            .clamp(1, 4096),
        disable_after: hours(t.disable_after_hours, 120.0, "disable_after_hours")?,
        retention: hours(t.retention_hours, 72.0, "retention_hours")?,
        ..events::topics::Options::default()
    };
    let topics = events::topics::Topics::start(store.clone(), options)
        .await
        .context("cannot start the topics service")?;
    for (name, spec) in &t.declared {
        topics.ensure_topic(name).await.with_context(|| format!("[topics.{name}]"))?;
        for s in &spec.subscriptions {
            let secret = match &s.secret {
                Some(text) => Some(
                    events::Secret::parse(text)
                        .with_context(|| format!("[topics.{name}] subscription secret"))?,
                ),
                None => None,
            };
            let created = topics
                .ensure_subscription(
                    name,
                    events::topics::SubscriptionSpec {
                        endpoint: s.endpoint.clone(),
                        filter_policy: s.filter_policy.clone(),
                        filter_policy_scope: s.filter_policy_scope.clone(),
                        raw: s.raw,
                        retry_schedule: s.retry_schedule.clone(),
                        secret,
                    },
                )
                .await
                .with_context(|| format!("[topics.{name}] subscription to {}", s.endpoint))?;
            if created {
                tracing::info!(topic = %name, endpoint = %s.endpoint, "subscribed");
            }
        }
    }
    Ok(topics)
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// A `[topics]` period given in hours (fractions allowed), or its default.
fn hours(value: Option<f64>, default: f64, name: &str) -> Result<Duration> {
    let h = value.unwrap_or(default);
    if !(h.is_finite() && h > 0.0 && h <= 24.0 * 3650.0) {
        bail!("[topics] {name} must be a positive number of hours (at most ten years)");
    }
    Ok(Duration::from_secs_f64(h * 3600.0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://x"), "sqlite://x");
    }
}
