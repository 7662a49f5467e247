//! The HTTP surface of `baton up`: the Step Functions API at `/`, the Lambda API of the
//! functions under `/2015-03-31/functions`, the topics API under `/topics`, `/health`,
//! `/metrics`, the OpenAPI document of all of it at `/openapi.json`, `/executions/{arn}`
//! (where async workflow routes point), the web console at `/console`, then the gateway's
//! routes and the resource collections at `/{collection}` and `/{collection}/{id}`.

mod console;
mod lambda;
pub(crate) mod openapi;
pub(crate) mod resources;
pub(crate) mod routes;
mod sfn;
mod topics;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::config::Config;

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) engine: workflows::Engine,
    pub(crate) config: Arc<Config>,
    /// State machines recently read, for the start of executions: AWS too lets executions
    /// started just after an update run the previous definition.
    pub(crate) machines: Arc<Mutex<HashMap<String, (Instant, store::MachineRecord)>>>,
    /// The functions declared in the configuration, if any.
    pub(crate) functions: Option<functions::Functions>,
    /// Durable `Event` invocations of the functions.
    pub(crate) function_events: Option<functions::events::Worker>,
    /// The resource collections (`[collections.NAME]`), if any are declared.
    pub(crate) resources: Option<resources::Resources>,
    /// Topics and webhook delivery.
    pub(crate) topics: Option<events::topics::Topics>,
    /// The gateway's routes (`[[routes]]`).
    pub(crate) routes: Arc<gateway::RouteTable>,
    /// `http`, or `https` when Baton serves TLS: what upstreams are told.
    pub(crate) scheme: &'static str,
    /// `GET /openapi.json`: the document, serialized once at start.
    pub(crate) openapi: axum::body::Bytes,
    /// The header the security rules read API keys from, for the web console to send.
    pub(crate) api_key_header: String,
}

/// How long a cached state machine is used.
pub(crate) const MACHINE_CACHE_TTL: Duration = Duration::from_secs(1);

impl AppState {
    pub(crate) fn new(
        engine: workflows::Engine,
        config: Config,
        functions: Option<(functions::Functions, functions::events::Worker)>,
    ) -> Self {
        let (functions, function_events) = functions.unzip();
        Self {
            engine,
            config: Arc::new(config),
            machines: Arc::default(),
            functions,
            function_events,
            resources: None,
            topics: None,
            routes: Arc::default(),
            scheme: "http",
            openapi: axum::body::Bytes::from_static(b"{}"),
            api_key_header: "x-api-key".to_owned(),
        }
    }

    /// Says how clients reach Baton (`http` or `https`).
    pub(crate) fn with_scheme(self, scheme: &'static str) -> Self {
        Self { scheme, ..self }
    }

    /// Serves the gateway's routes.
    pub(crate) fn with_routes(self, routes: gateway::RouteTable) -> Self {
        Self { routes: Arc::new(routes), ..self }
    }

    /// The ARN of a state machine of this region and account.
    pub(crate) fn machine_arn(&self, name: &str) -> String {
        let c = &self.config;
        format!("arn:aws:states:{}:{}:stateMachine:{name}", c.region, c.account)
    }

    /// A state machine for starting executions: from the short-lived cache when there.
    pub(crate) async fn cached_machine(
        &self,
        arn: &str,
    ) -> Result<Option<store::MachineRecord>, store::Error> {
        if let Ok(cache) = self.machines.lock() {
            if let Some((at, m)) = cache.get(arn) {
                if at.elapsed() < MACHINE_CACHE_TTL {
                    return Ok(Some(m.clone()));
                }
            }
        }
        let Some(m) = self.engine.store().machine(arn).await? else { return Ok(None) };
        if let Ok(mut cache) = self.machines.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(arn.to_owned(), (Instant::now(), m.clone()));
        }
        Ok(Some(m))
    }

    /// Serves the resource collections too.
    pub(crate) fn with_resources(self, resources: resources::Resources) -> Self {
        Self { resources: Some(resources), ..self }
    }

    /// Serves this OpenAPI document (`openapi::document`) at `/openapi.json`.
    pub(crate) fn with_openapi(self, document: &serde_json::Value) -> Self {
        Self { openapi: axum::body::Bytes::from(document.to_string()), ..self }
    }

    /// Tells the web console which header carries API keys.
    pub(crate) fn with_api_key_header(self, name: &str) -> Self {
        Self { api_key_header: name.to_owned(), ..self }
    }

    /// Serves the topics API with this service.
    pub(crate) fn with_topics(mut self, topics: events::topics::Topics) -> Self {
        self.topics = Some(topics);
        self
    }
}

/// The routes.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(sfn::handle).fallback(routes::dispatch))
        .route("/2015-03-31/functions", get(lambda::list_functions))
        .route("/2015-03-31/functions/", get(lambda::list_functions))
        .route("/2015-03-31/functions/{name}", get(lambda::get_function))
        .route("/2015-03-31/functions/{name}/invocations", post(lambda::invoke))
        .route("/functions/{name}/logs", get(lambda::logs))
        .route("/functions/{name}/failed-events", get(lambda::failed_events))
        .route("/topics", post(topics::create_topic).get(topics::list_topics))
        .route("/topics/{name}", get(topics::get_topic).delete(topics::delete_topic))
        .route(
            "/topics/{name}/subscriptions",
            post(topics::subscribe).get(topics::list_subscriptions),
        )
        .route(
            "/topics/{name}/subscriptions/{id}",
            get(topics::get_subscription).delete(topics::unsubscribe),
        )
        .route("/topics/{name}/subscriptions/{id}/rotate-secret", post(topics::rotate_secret))
        .route("/topics/{name}/subscriptions/{id}/attempts", get(topics::attempts))
        .route("/topics/{name}/subscriptions/{id}/enable", post(topics::enable))
        .route("/topics/{name}/messages", post(topics::publish))
        .route("/topics/{name}/dead-letters", get(topics::dead_letters))
        .route("/topics/{name}/dead-letters/{delivery}/replay", post(topics::replay))
        .route("/executions/{arn}", get(routes::execution))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
        .merge(console::routes())
        // The gateway's routes, then the collections at /NAME and /NAME/{id}.
        .fallback(routes::dispatch)
        .with_state(state)
}

/// Ready only when the store answers.
async fn health(State(state): State<AppState>) -> Response {
    match state.engine.store().ping().await {
        // A health answer is about now: no cache may keep it.
        Ok(()) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(serde_json::json!({"status": "unavailable", "reason": "store"})),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.engine.metrics();
    if let Some(f) = &state.functions {
        text.push_str(&f.metrics());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

async fn openapi_json(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], state.openapi.clone()).into_response()
}
