//! The route table: `[[routes]]` in `baton.toml`, each a path pattern, the methods it
//! takes, and one target: a resource collection, an upstream service (reverse proxy), a
//! workflow, a function, or a directory of static files.
//!
//! A request goes to the most specific pattern that matches its path and accepts its
//! method (see [`PathPattern::specificity_cmp`]); among routes of the same shape the first
//! declared wins. A path that some route matches but none for this method is a 405 with
//! the methods that would be accepted. The table is pure: it knows nothing of how the
//! targets are served.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::Method;
use serde::Deserialize;

use crate::pattern::PathPattern;
use crate::proxy::Upstream;

/// One `[[routes]]` entry as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// `/api/students/{id}`, `/static/**`, ...
    pub path: String,
    /// Upper-case method names; empty: every method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Target: a collection (list and create without an id parameter, the document with).
    pub collection: Option<String>,
    /// Target: an upstream URL (a template with `{param}` and `{**}`, or a base URL the
    /// request's path is appended to).
    pub upstream: Option<String>,
    /// Target: a state machine by name.
    pub workflow: Option<String>,
    /// Target: a function by name.
    pub function: Option<String>,
    /// Target: a directory of static files.
    #[serde(rename = "static")]
    pub static_dir: Option<PathBuf>,
    /// Workflows: `sync` (StartSyncExecution of an Express workflow, the output is the
    /// answer) or `async` (StartExecution, 202 with a `Location` to poll).
    pub mode: Option<WorkflowMode>,
    /// Upstreams: how long the whole exchange may take (default 30 s).
    pub timeout_seconds: Option<f64>,
    /// Static files: `Cache-Control` by pattern of the file's path under the directory.
    #[serde(default)]
    pub cache_control: BTreeMap<String, String>,
    /// Collections: the route parameter holding the document id (default: the last one).
    pub id_param: Option<String>,
}

/// How a workflow route runs its workflow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowMode {
    #[default]
    Sync,
    Async,
}

/// Where a route sends its requests.
#[derive(Debug)]
pub enum Target {
    /// A collection; `id_param` names the parameter holding the id of a document route.
    Collection {
        name: String,
        id_param: Option<String>,
    },
    Upstream(Upstream),
    Workflow {
        name: String,
        mode: WorkflowMode,
    },
    Function(String),
    Static(crate::static_files::StaticFiles),
}

impl Target {
    /// A short description, for the start-up banner and the OpenAPI document.
    pub fn describe(&self) -> String {
        match self {
            Target::Collection { name, .. } => format!("collection {name}"),
            Target::Upstream(u) => format!("upstream {}", u.template()),
            Target::Workflow { name, mode: WorkflowMode::Sync } => format!("workflow {name}"),
            Target::Workflow { name, mode: WorkflowMode::Async } => {
                format!("workflow {name} (async)")
            }
            Target::Function(name) => format!("function {name}"),
            Target::Static(s) => format!("static files in {}", s.root().display()),
        }
    }
}

/// One route, checked.
#[derive(Debug)]
pub struct Route {
    pub pattern: PathPattern,
    /// `None`: every method.
    pub methods: Option<Vec<Method>>,
    pub target: Target,
}

impl Route {
    fn accepts(&self, method: &Method) -> bool {
        match &self.methods {
            None => true,
            Some(ms) => {
                ms.contains(method) || (method == Method::HEAD && ms.contains(&Method::GET))
            }
        }
    }
}

/// What the table says about a request.
#[derive(Debug)]
pub enum Found<'a> {
    /// This route, with the parameters and the rest a `**` matched.
    Route { route: &'a Route, params: BTreeMap<String, String>, rest: String },
    /// Routes match the path, none the method: these are allowed.
    MethodNotAllowed(Vec<Method>),
    /// No route matches the path.
    Nothing,
}

/// A route table that cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("route {index} ({path}): {reason}")]
pub struct RouteError {
    index: usize,
    path: String,
    reason: String,
}

/// The checked routes, the most specific first.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

/// The default timeout of an upstream exchange.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

impl RouteTable {
    /// Checks the specs: a valid pattern whose first segment is none of `reserved`
    /// (Baton's own paths), valid methods, exactly one target and only the options that
    /// target takes. Upstream routes share `client`.
    pub fn new(
        specs: &[RouteSpec],
        reserved: &[&str],
        client: &reqwest::Client,
    ) -> Result<Self, RouteError> {
        let mut routes = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let err = |reason: String| RouteError { index: i + 1, path: spec.path.clone(), reason };
            let pattern = PathPattern::parse(&spec.path).map_err(|e| err(e.to_string()))?;
            if let Some(first) = pattern.first_literal() {
                if reserved.contains(&first) {
                    return Err(err(format!("/{first} is Baton's own; route another path")));
                }
            }
            let methods = if spec.methods.is_empty() {
                None
            } else {
                let mut ms = Vec::new();
                for m in &spec.methods {
                    let upper = m.to_ascii_uppercase();
                    let method = Method::from_bytes(upper.as_bytes())
                        .map_err(|_| err(format!("invalid method {m:?}")))?;
                    ms.push(method);
                }
                Some(ms)
            };
            let target = target(spec, &pattern, client).map_err(err)?;
            routes.push(Route { pattern, methods, target });
        }
        // A stable sort keeps the declaration order among equally specific patterns.
        routes.sort_by(|a, b| a.pattern.specificity_cmp(&b.pattern));
        Ok(Self { routes })
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The routes, the most specific first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route for a request.
    pub fn find(&self, method: &Method, path: &str) -> Found<'_> {
        let mut allowed: Vec<Method> = Vec::new();
        let mut matched = false;
        for route in &self.routes {
            let Some((params, rest)) = route.pattern.captures(path) else { continue };
            if route.accepts(method) {
                return Found::Route { route, params, rest };
            }
            matched = true;
            for m in route.methods.iter().flatten() {
                if !allowed.contains(m) {
                    allowed.push(m.clone());
                }
                if m == Method::GET && !allowed.contains(&Method::HEAD) {
                    allowed.push(Method::HEAD);
                }
            }
        }
        if matched {
            Found::MethodNotAllowed(allowed)
        } else {
            Found::Nothing
        }
    }
}

/// The one target of a spec, with its options checked.
fn target(
    spec: &RouteSpec,
    pattern: &PathPattern,
    client: &reqwest::Client,
) -> Result<Target, String> {
    let given: Vec<&str> = [
        ("collection", spec.collection.is_some()),
        ("upstream", spec.upstream.is_some()),
        ("workflow", spec.workflow.is_some()),
        ("function", spec.function.is_some()),
        ("static", spec.static_dir.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| *name)
    .collect();
    let kind = match given.as_slice() {
        [one] => *one,
        [] => {
            return Err("give one target: collection, upstream, workflow, function or static".into())
        }
        many => return Err(format!("give one target, not {}", many.join(" and "))),
    };
    let stray = |option: &str, set: bool, owner: &str| -> Result<(), String> {
        if set && kind != owner {
            return Err(format!("`{option}` is for {owner} routes"));
        }
        Ok(())
    };
    stray("mode", spec.mode.is_some(), "workflow")?;
    stray("timeout_seconds", spec.timeout_seconds.is_some(), "upstream")?;
    stray("cache_control", !spec.cache_control.is_empty(), "static")?;
    stray("id_param", spec.id_param.is_some(), "collection")?;
    Ok(match kind {
        "collection" => {
            let name = spec.collection.clone().unwrap_or_default();
            let params = pattern.params();
            if let Some(p) = &spec.id_param {
                if !params.contains(&p.as_str()) {
                    return Err(format!("id_param {p:?} is not a parameter of the path"));
                }
            }
            let id_param = spec.id_param.clone().or_else(|| params.last().map(|p| (*p).to_owned()));
            Target::Collection { name, id_param }
        }
        "upstream" => {
            let timeout = match spec.timeout_seconds {
                None => DEFAULT_UPSTREAM_TIMEOUT,
                Some(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Duration::from_secs_f64(s),
                Some(s) => return Err(format!("timeout_seconds {s} is not in (0, 3600]")),
            };
            let url = spec.upstream.as_deref().unwrap_or_default();
            Target::Upstream(Upstream::new(url, pattern, timeout, client.clone())?)
        }
        "workflow" => Target::Workflow {
            name: spec.workflow.clone().unwrap_or_default(),
            mode: spec.mode.unwrap_or_default(),
        },
        "function" => Target::Function(spec.function.clone().unwrap_or_default()),
        _ => {
            let root = spec.static_dir.clone().unwrap_or_default();
            let mut rules = Vec::new();
            for (p, value) in &spec.cache_control {
                let p = PathPattern::parse(p).map_err(|e| format!("cache_control: {e}"))?;
                rules.push((p, value.clone()));
            }
            let files = crate::static_files::StaticFiles::new(root, rules)
                .map_err(|e| format!("static: {e}"))?;
            Target::Static(files)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(specs: &[RouteSpec]) -> Result<RouteTable, RouteError> {
        RouteTable::new(specs, &["health", "topics"], &reqwest::Client::new())
    }

    fn route(path: &str, methods: &[&str], function: &str) -> RouteSpec {
        RouteSpec {
            path: path.into(),
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            function: Some(function.into()),
            ..RouteSpec::default()
        }
    }

    fn target_of(t: &RouteTable, method: Method, path: &str) -> Option<String> {
        match t.find(&method, path) {
            Found::Route { route, .. } => Some(route.target.describe()),
            _ => None,
        }
    }

    #[test]
    fn the_most_specific_route_for_the_method_wins() {
        let t = table(&[
            route("/api/**", &[], "any"),
            route("/api/students/{id}", &["GET"], "read"),
            route("/api/students/{id}", &["PUT"], "write"),
            route("/api/students/me", &["GET"], "me"),
        ])
        .unwrap();
        assert_eq!(target_of(&t, Method::GET, "/api/students/me").unwrap(), "function me");
        assert_eq!(target_of(&t, Method::GET, "/api/students/7").unwrap(), "function read");
        assert_eq!(target_of(&t, Method::HEAD, "/api/students/7").unwrap(), "function read");
        assert_eq!(target_of(&t, Method::PUT, "/api/students/7").unwrap(), "function write");
        // No specific route takes DELETE: the catch-all does.
        assert_eq!(target_of(&t, Method::DELETE, "/api/students/7").unwrap(), "function any");
        assert!(matches!(t.find(&Method::GET, "/other"), Found::Nothing));
    }

    #[test]
    fn a_path_without_its_method_lists_the_allowed_ones() {
        let t = table(&[route("/a/{id}", &["GET", "put"], "f")]).unwrap();
        let Found::MethodNotAllowed(allowed) = t.find(&Method::POST, "/a/1") else {
            panic!("expected 405")
        };
        assert_eq!(allowed, [Method::GET, Method::HEAD, Method::PUT]);
    }

    #[test]
    fn specs_are_checked() {
        let cases: Vec<(RouteSpec, &str)> = vec![
            (RouteSpec { path: "/x".into(), ..RouteSpec::default() }, "give one target"),
            (
                RouteSpec {
                    function: Some("f".into()),
                    workflow: Some("w".into()),
                    ..route("/x", &[], "f")
                },
                "not workflow and function",
            ),
            (route("/health", &[], "f"), "Baton's own"),
            (route("/topics/{x}", &[], "f"), "Baton's own"),
            (route("x", &[], "f"), "must start with /"),
            (route("/x", &["GE T"], "f"), "invalid method"),
            (RouteSpec { mode: Some(WorkflowMode::Async), ..route("/x", &[], "f") }, "`mode`"),
            (
                RouteSpec {
                    collection: Some("c".into()),
                    function: None,
                    id_param: Some("nope".into()),
                    ..route("/c/{id}", &[], "f")
                },
                "id_param",
            ),
            (
                RouteSpec {
                    upstream: Some("ftp://x".into()),
                    function: None,
                    ..route("/u", &[], "f")
                },
                "http",
            ),
        ];
        for (spec, expected) in cases {
            let e = table(&[spec]).unwrap_err().to_string();
            assert!(e.contains(expected), "{e} should contain {expected:?}");
        }
    }

    #[test]
    fn a_collection_route_takes_its_id_from_the_last_parameter() {
        let spec = RouteSpec {
            collection: Some("students".into()),
            function: None,
            ..route("/api/schools/{school}/students/{sid}", &[], "")
        };
        let t = table(&[spec]).unwrap();
        let Target::Collection { id_param, .. } = &t.routes()[0].target else { panic!() };
        assert_eq!(id_param.as_deref(), Some("sid"));
    }
}
