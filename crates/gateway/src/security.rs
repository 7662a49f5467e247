//! The security interceptor: who may call which method on which path.
//!
//! Configured by JSON (see the README, "Security and notification rules"):
//!
//! - `allow`: `{path, method}` pairs that need no login at all.
//! - `rules`: `{path, methods, subjects, emails, groups, roles, api_keys, authenticated}`.
//!   For a request the most specific rule whose path and methods match decides (see
//!   [`PathPattern::specificity_cmp`]); between rules of the same shape, one that names its
//!   methods beats one with `*`, and then the earlier rule in the file wins. The caller
//!   passes if it is any of the identities the rule names; no matching rule is a 403.
//!   A subject or email written as a route parameter, `"{id}"`, names the owner: the
//!   caller whose `sub` (or `email`) equals what `{id}` matched in the path, so
//!   `{"path": "/students/{id}", "subjects": ["{id}"]}` lets a student at their own record.
//! - `jwt`: the issuer, audiences, JWKS URL, algorithm allowlist and leeway for bearer
//!   tokens; `api_keys`: services' keys, kept as SHA-256 hashes, sent in `api_key_header`.
//! - `oidc`: browser login with OpenID Connect ([`oidc`]): `/auth/login` and
//!   `/auth/callback` end in a session cookie sealed with the key all nodes share
//!   ([`session`]); the session names the same identity a bearer token from the same
//!   provider would, and the same rules decide.
//!
//! Credentials, in this order: an API key, `Authorization: Bearer`, the session cookie.
//! No or bad credentials: 401 with `WWW-Authenticate: Bearer ...` (RFC 6750 section 3),
//! or, for a browser's `GET` (its `Accept` prefers `text/html`), a 302 to `login_url`, or
//! to `/auth/login?return_to=...` when `oidc` is set. Valid but not allowed: 403.
//!
//! `/auth/*` is answered here, before the rules: `login`, `callback`, `logout` (which clears
//! the session cookie) and `me` (the caller's identity, by any credential).

mod jwt;
mod oidc;
mod session;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use jwt::{JwtSpec, JwtVerifier};
pub use oidc::{OidcSpec, Scopes};
pub use session::CookieKey;

use crate::pattern::PathPattern;
use crate::{error, Identity};

/// A security configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid security rules: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Pattern(#[from] crate::pattern::PatternError),
    #[error("invalid security rules: {0}")]
    Invalid(String),
}

/// The JSON document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySpec {
    #[serde(default)]
    pub allow: Vec<AllowSpec>,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    #[serde(default)]
    pub jwt: Option<JwtSpec>,
    /// The header services send their API key in (`X-Api-Key` when unset).
    #[serde(default)]
    pub api_key_header: Option<String>,
    #[serde(default)]
    pub api_keys: Vec<ApiKeySpec>,
    /// Browser login with OpenID Connect (`/auth/login`, `/auth/callback`).
    #[serde(default)]
    pub oidc: Option<OidcSpec>,
    /// Where a browser without a valid login is sent (302) instead of a 401; with `oidc`
    /// and no `login_url`, `/auth/login`.
    #[serde(default)]
    pub login_url: Option<String>,
    /// The `realm` of `WWW-Authenticate` (`baton` when unset).
    #[serde(default)]
    pub realm: Option<String>,
}

/// A path and method that need no login.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowSpec {
    pub path: String,
    /// A method name, or `*` (the default) for all.
    #[serde(default = "star")]
    pub method: String,
}

fn star() -> String {
    "*".to_owned()
}

/// Who may call which methods on a path pattern.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub path: String,
    /// Method names; `["*"]` (the default) for all.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Token subjects (`sub`); `"{param}"` is the value of a route parameter.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Token emails (`email`), compared without regard to case; `"{param}"` as above.
    #[serde(default)]
    pub emails: Vec<String>,
    /// Groups (from the token's groups claim, or an API key's groups).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Roles (from the token's roles claim, or an API key's roles).
    #[serde(default)]
    pub roles: Vec<String>,
    /// API key names.
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// Any authenticated caller.
    #[serde(default)]
    pub authenticated: bool,
}

/// A service's API key: its name and the SHA-256 of the key (hex), never the key itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySpec {
    pub name: String,
    pub sha256: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

struct Rule {
    pattern: PathPattern,
    /// `None`: every method.
    methods: Option<Vec<Method>>,
    spec: RuleSpec,
}

/// The compiled rules.
pub struct Security {
    allow: Vec<(PathPattern, Option<Method>)>,
    /// The most specific first.
    rules: Vec<Rule>,
    jwt: Option<JwtVerifier>,
    api_key_header: HeaderName,
    /// By the hex SHA-256 of the key.
    api_keys: HashMap<String, ApiKeySpec>,
    login_url: Option<HeaderValue>,
    realm: String,
    oidc: Option<oidc::Oidc>,
    /// Seals the session cookies; set by [`Security::with_cookie_key`], else random.
    cookie_key: CookieKey,
    /// Baton itself serves HTTPS: cookies are `Secure` and default redirect URIs `https`.
    https: bool,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("allow", &self.allow.len())
            .field("rules", &self.rules.len())
            .field("jwt", &self.jwt.is_some())
            .field("api_keys", &self.api_keys.len())
            .field("oidc", &self.oidc.is_some())
            .finish_non_exhaustive()
    }
}

fn method(name: &str) -> Result<Option<Method>, ConfigError> {
    if name == "*" {
        return Ok(None);
    }
    Method::from_bytes(name.to_ascii_uppercase().as_bytes())
        .map(Some)
        .map_err(|_| ConfigError::Invalid(format!("unknown method {name:?}")))
}

impl Security {
    /// Parses and checks the JSON rules.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        Self::new(serde_json::from_str(text)?)
    }

    /// Checks the rules.
    pub fn new(spec: SecuritySpec) -> Result<Self, ConfigError> {
        let allow = spec
            .allow
            .iter()
            .map(|a| Ok((PathPattern::parse(&a.path)?, method(&a.method)?)))
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let mut rules = Vec::new();
        for r in spec.rules {
            let methods = if r.methods.is_empty() || r.methods.iter().any(|m| m == "*") {
                None
            } else {
                Some(
                    r.methods
                        .iter()
                        .map(|m| method(m).map(Option::unwrap))
                        .collect::<Result<_, _>>()?,
                )
            };
            let pattern = PathPattern::parse(&r.path)?;
            for name in r.subjects.iter().chain(&r.emails).filter_map(|s| param_name(s)) {
                if !pattern.params().contains(&name) {
                    return Err(ConfigError::Invalid(format!(
                        "rule {}: {{{name}}} is not a parameter of its path",
                        r.path
                    )));
                }
            }
            rules.push(Rule { pattern, methods, spec: r });
        }
        // Stable: equal rules keep their order in the file.
        rules.sort_by(|a, b| {
            a.pattern
                .specificity_cmp(&b.pattern)
                .then_with(|| b.methods.is_some().cmp(&a.methods.is_some()))
        });
        let api_key_header = HeaderName::from_bytes(
            spec.api_key_header.as_deref().unwrap_or("x-api-key").as_bytes(),
        )
        .map_err(|_| ConfigError::Invalid("api_key_header is not a header name".into()))?;
        let mut api_keys = HashMap::new();
        for k in spec.api_keys {
            let hash = k.sha256.to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ConfigError::Invalid(format!(
                    "api key {:?}: sha256 must be 64 hex digits",
                    k.name
                )));
            }
            api_keys.insert(hash, k);
        }
        let login_url = match spec.login_url {
            Some(u) => Some(
                HeaderValue::from_str(&u)
                    .map_err(|_| ConfigError::Invalid("login_url is not a valid URL".into()))?,
            ),
            None => None,
        };
        let realm = spec.realm.unwrap_or_else(|| "baton".to_owned());
        if realm.contains(['"', '\\']) || !realm.is_ascii() {
            return Err(ConfigError::Invalid("realm: plain ASCII without quotes".into()));
        }
        let jwt = spec.jwt.map(JwtVerifier::new).transpose().map_err(ConfigError::Invalid)?;
        let oidc = spec.oidc.map(oidc::Oidc::new).transpose().map_err(ConfigError::Invalid)?;
        Ok(Self {
            allow,
            rules,
            jwt,
            api_key_header,
            api_keys,
            login_url,
            realm,
            oidc,
            cookie_key: CookieKey::generate(),
            https: false,
        })
    }

    /// Whether browser login is configured, so sessions need a cookie key that every
    /// node shares and that outlives a restart.
    pub fn uses_sessions(&self) -> bool {
        self.oidc.is_some()
    }

    /// Seals session cookies with `key` (the one every node shares).
    pub fn with_cookie_key(self, key: CookieKey) -> Self {
        Self { cookie_key: key, ..self }
    }

    /// Says that Baton serves HTTPS: cookies get `Secure`, and the default redirect URI is
    /// `https`. (A request with `X-Forwarded-Proto: https` counts as HTTPS too.)
    pub fn with_https(self, https: bool) -> Self {
        Self { https, ..self }
    }

    /// Whether the request came over HTTPS.
    fn secure(&self, headers: &HeaderMap) -> bool {
        self.https
            || headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    }

    /// The header API keys are sent in (`x-api-key` unless `api_key_header` says otherwise):
    /// the web console sends the key the user enters in it.
    pub fn api_key_header(&self) -> &HeaderName {
        &self.api_key_header
    }

    fn allowed_anonymously(&self, method: &Method, path: &str) -> bool {
        self.allow
            .iter()
            .any(|(p, m)| m.as_ref().is_none_or(|m| m == method) && p.matches(path).is_some())
    }

    /// The rule that decides for this request, with the route parameters it matched.
    fn rule(&self, method: &Method, path: &str) -> Option<(&Rule, BTreeMap<String, String>)> {
        self.rules.iter().find_map(|r| {
            if !r.methods.as_ref().is_none_or(|ms| ms.contains(method)) {
                return None;
            }
            r.pattern.matches(path).map(|params| (r, params))
        })
    }

    /// Who calls, from an API key or a bearer token; `Ok(None)` when neither is sent.
    async fn identify(&self, headers: &HeaderMap) -> Result<Option<Identity>, Denied> {
        if let Some(key) = headers.get(&self.api_key_header) {
            let hash = hex(&Sha256::digest(key.as_bytes()));
            let Some(k) = self.api_keys.get(&hash) else {
                return Err(Denied::Invalid("the API key is not known".into()));
            };
            return Ok(Some(Identity {
                kind: "api_key",
                subject: k.name.clone(),
                email: None,
                groups: k.groups.clone(),
                roles: k.roles.clone(),
                issuer: None,
            }));
        }
        let Some(auth) = headers.get(header::AUTHORIZATION) else {
            return Ok(self.session(headers));
        };
        let auth = auth.to_str().map_err(|_| Denied::Invalid("malformed Authorization".into()))?;
        let token = match auth.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(Denied::Invalid("only Bearer tokens are accepted".into())),
        };
        let Some(jwt) = &self.jwt else {
            return Err(Denied::Invalid("bearer tokens are not configured".into()));
        };
        jwt.verify(token).await.map(Some)
    }

    /// Who the session cookie names, when browser login is on and the cookie opens with
    /// the key and is not over; a changed or expired cookie is no login at all.
    fn session(&self, headers: &HeaderMap) -> Option<Identity> {
        self.open_session(headers)?.identity(oidc::now())
    }

    /// The session cookie opened, when browser login is on and the key opens it.
    fn open_session(&self, headers: &HeaderMap) -> Option<session::Session> {
        self.oidc.as_ref()?;
        let sealed = session::cookie(headers, session::SESSION_COOKIE)?;
        self.cookie_key.open(session::SESSION_COOKIE, sealed)
    }

    /// Decides: `Ok(Some(identity))` to pass with it, `Ok(None)` to pass anonymously (the
    /// allowlist), `Err` with the refusal.
    pub async fn check(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<Option<Identity>, Response> {
        self.decide(method, path, None, headers).await
    }

    /// [`Security::check`] for a request whose query is `query`: a browser sent to log in
    /// comes back to the path and query.
    async fn decide(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Option<Identity>, Response> {
        if self.allowed_anonymously(method, path) {
            return Ok(None);
        }
        let target = || match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let identity = match self.identify(headers).await {
            Ok(Some(i)) => i,
            Ok(None) => return Err(self.refuse(method, &target(), headers, Denied::Missing)),
            Err(d) => return Err(self.refuse(method, &target(), headers, d)),
        };
        let message = match self.rule(method, path) {
            Some((r, params)) if r.admits(&identity, &params) => return Ok(Some(identity)),
            Some((r, _)) => format!(
                "{} may not {method} {path} (rule {})",
                identity.subject,
                r.pattern.as_str()
            ),
            None => format!("no rule allows {method} {path}"),
        };
        let mut resp = error(StatusCode::FORBIDDEN, "Forbidden", message);
        if identity.kind == "jwt" {
            // RFC 6750 section 3.1: the token is good, its bearer may not do this.
            let challenge =
                format!("Bearer realm=\"{}\", error=\"insufficient_scope\"", self.realm);
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        Err(resp)
    }

    /// The refusal of a caller without usable credentials: a browser's `GET` (or `HEAD`)
    /// is sent to log in, to `login_url` or, with `oidc`, to `/auth/login` with the
    /// request's path and query to come back to; anything else gets a 401.
    fn refuse(
        &self,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        denied: Denied,
    ) -> Response {
        let browser = (method == Method::GET || method == Method::HEAD)
            && headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(prefers_html)
            && !matches!(denied, Denied::Unavailable(_));
        if browser {
            if let Some(url) = &self.login_url {
                return (StatusCode::FOUND, [(header::LOCATION, url.clone())]).into_response();
            }
            if self.oidc.is_some() {
                let back = percent_encoding::utf8_percent_encode(
                    target,
                    percent_encoding::NON_ALPHANUMERIC,
                );
                return oidc::redirect(
                    &format!("/auth/login?return_to={back}"),
                    &[],
                    StatusCode::FOUND,
                );
            }
        }
        let realm = &self.realm;
        let (challenge, code, message) = match denied {
            Denied::Missing => (
                format!("Bearer realm=\"{realm}\""),
                "Unauthenticated",
                "this request needs a bearer token or an API key".to_owned(),
            ),
            Denied::Invalid(why) => (
                format!(
                    "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{}\"",
                    why.replace(['"', '\\'], "'")
                ),
                "InvalidToken",
                why,
            ),
            Denied::Unavailable(why) => {
                tracing::warn!(reason = %why, "cannot check a bearer token");
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "IdentityProviderUnavailable",
                    "the issuer's keys cannot be fetched; try again later",
                );
            }
        };
        let mut resp = error(StatusCode::UNAUTHORIZED, code, message);
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

/// `id` of `"{id}"`.
fn param_name(s: &str) -> Option<&str> {
    s.strip_prefix('{')?.strip_suffix('}').filter(|n| !n.is_empty())
}

impl Rule {
    fn admits(&self, id: &Identity, params: &BTreeMap<String, String>) -> bool {
        let s = &self.spec;
        // A name, or the value of the route parameter it names, percent-decoded as the
        // collection decodes an id (never matched when absent or not UTF-8).
        let resolve = |name: &str| -> Option<String> {
            match param_name(name) {
                Some(p) => params.get(p).and_then(|v| {
                    percent_encoding::percent_decode_str(v).decode_utf8().ok().map(Into::into)
                }),
                None => Some(name.to_owned()),
            }
        };
        let any = |names: &[String], have: &[String]| names.iter().any(|n| have.contains(n));
        s.authenticated
            || (matches!(id.kind, "jwt" | "session")
                && s.subjects.iter().any(|n| resolve(n).is_some_and(|n| n == id.subject)))
            || (id.kind == "api_key" && s.api_keys.contains(&id.subject))
            || id.email.as_ref().is_some_and(|e| {
                s.emails.iter().any(|n| resolve(n).is_some_and(|n| n.eq_ignore_ascii_case(e)))
            })
            || any(&s.groups, &id.groups)
            || any(&s.roles, &id.roles)
    }
}

/// Why a caller is not identified.
#[derive(Debug)]
pub(crate) enum Denied {
    /// No credentials.
    Missing,
    /// Credentials that do not check out.
    Invalid(String),
    /// The issuer's keys cannot be had.
    Unavailable(String),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an `Accept` value prefers HTML to JSON, as a browser's navigation does
/// (`text/html,application/xhtml+xml,...,*/*;q=0.8`) and `fetch` or an API client (`*/*`,
/// `application/json`) does not.
fn prefers_html(accept: &str) -> bool {
    let (mut html, mut json) = (0.0f32, 0.0f32);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" => json = json.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > json
}

impl Security {
    /// Answers `/auth/*`: `login` and `callback` (browser login, when `oidc` is set),
    /// `logout`, and `me`.
    async fn auth_endpoint(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
        let secure = self.secure(headers);
        let query = uri.query();
        let get = method == Method::GET || method == Method::HEAD;
        match (uri.path(), &self.oidc) {
            ("/auth/login", Some(oidc)) if get => {
                oidc.login(&self.cookie_key, query, headers, secure).await
            }
            ("/auth/callback", Some(oidc)) if get => {
                oidc.callback(&self.cookie_key, query, headers, secure).await
            }
            ("/auth/login" | "/auth/callback", None) => error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "browser login is not configured (oidc in the security rules)",
            ),
            ("/auth/logout", _) if get || method == Method::POST => {
                let params = oidc::query_params(query);
                let clear = session::set_cookie(session::SESSION_COOKIE, "", "/", 0, secure);
                match oidc::param(&params, "return_to") {
                    None => oidc::with_cookies(StatusCode::NO_CONTENT.into_response(), &[clear]),
                    Some(to) => match session::safe_return_to(to) {
                        Some(to) => oidc::redirect(to, &[clear], StatusCode::SEE_OTHER),
                        None => error(
                            StatusCode::BAD_REQUEST,
                            "InvalidReturnTo",
                            "return_to must be a path on this site, such as /",
                        ),
                    },
                }
            }
            ("/auth/me", _) if get => match self.identify(headers).await {
                Ok(Some(identity)) => {
                    let mut body = serde_json::json!(identity);
                    if identity.kind == "session" {
                        if let Some(s) = self.open_session(headers) {
                            body["expires_at"] = s.exp.into();
                        }
                    }
                    let mut resp = axum::Json(body).into_response();
                    resp.headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    resp
                }
                // An API, not a page: no redirect to log in.
                Ok(None) => self.refuse(&Method::POST, "/", headers, Denied::Missing),
                Err(d) => self.refuse(&Method::POST, "/", headers, d),
            },
            ("/auth/login" | "/auth/callback" | "/auth/logout" | "/auth/me", _) => {
                let mut r = error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    format!("{method} {} is not served", uri.path()),
                );
                let allow =
                    if uri.path() == "/auth/logout" { "GET, HEAD, POST" } else { "GET, HEAD" };
                r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
                r
            }
            (path, _) => error(StatusCode::NOT_FOUND, "NotFound", format!("{path}: no such page")),
        }
    }
}

/// Whether `path` is under `/auth`, which the security layer answers itself.
fn is_auth_path(path: &str) -> bool {
    path == "/auth" || path.starts_with("/auth/")
}

/// The layer.
pub async fn layer(
    State(security): State<Arc<Security>>,
    mut req: Request,
    next: Next,
) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    if is_auth_path(&path) {
        return security.auth_endpoint(&method, req.uri(), req.headers()).await;
    }
    let query = req.uri().query().map(str::to_owned);
    match security.decide(&method, &path, query.as_deref(), req.headers()).await {
        Ok(Some(identity)) => {
            req.extensions_mut().insert(identity.clone());
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(identity);
            resp
        }
        Ok(None) => next.run(req).await,
        Err(refusal) => refusal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn check(
        s: &Security,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Option<Identity>, Response> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        s.check(&Method::from_bytes(method.as_bytes()).unwrap(), path, &map).await
    }

    fn rules() -> Security {
        let key_hash = hex(&Sha256::digest(b"k-billing"));
        Security::from_json(&format!(
            r#"{{
              "allow": [{{"path": "/health", "method": "GET"}}],
              "api_keys": [{{"name": "billing", "sha256": "{key_hash}", "groups": ["services"]}}],
              "rules": [
                {{"path": "/orders/**", "methods": ["GET"], "groups": ["services"]}},
                {{"path": "/orders/{{id}}", "methods": ["GET"], "api_keys": ["nobody"]}},
                {{"path": "/orders/{{id}}", "api_keys": ["billing"]}},
                {{"path": "/**", "authenticated": true}}
              ]
            }}"#
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn the_most_specific_rule_decides_and_ties_go_to_named_methods() {
        let s = rules();
        let key = [("x-api-key", "k-billing")];
        // `/orders/{id}` with GET named beats `/orders/{id}` for every method.
        assert_eq!(check(&s, "GET", "/orders/1", &key).await.unwrap_err().status(), 403);
        assert!(check(&s, "PUT", "/orders/1", &key).await.is_ok());
        assert!(check(&s, "GET", "/orders", &key).await.is_ok());
        assert!(check(&s, "POST", "/anything", &key).await.is_ok());
        assert!(check(&s, "GET", "/health", &[]).await.unwrap().is_none());
        let missing = check(&s, "POST", "/health", &[]).await.unwrap_err();
        assert_eq!(missing.status(), 401);
        assert_eq!(missing.headers()["www-authenticate"], "Bearer realm=\"baton\"");
        let bad = check(&s, "GET", "/x", &[("x-api-key", "nope")]).await.unwrap_err();
        assert_eq!(bad.status(), 401);
    }

    /// Rules with browser login whose provider is never reached (sessions are sealed here).
    fn with_login() -> Security {
        Security::from_json(
            r#"{
              "oidc": {"issuer": "http://127.0.0.1:9", "client_id": "baton", "client_secret": "s"},
              "rules": [
                {"path": "/students/{id}", "subjects": ["{id}"]},
                {"path": "/reports/**", "groups": ["staff"]}
              ]
            }"#,
        )
        .unwrap()
    }

    fn session_cookie(s: &Security, sub: &str, exp: u64) -> String {
        let id = Identity {
            kind: "session",
            subject: sub.into(),
            email: Some(format!("{sub}@example.com")),
            groups: vec!["students".into()],
            roles: vec![],
            issuer: Some("http://127.0.0.1:9".into()),
        };
        let sealed = s.cookie_key.seal(session::SESSION_COOKIE, &session::Session::new(&id, exp));
        format!("{}={sealed}", session::SESSION_COOKIE)
    }

    async fn auth(s: &Security, method: &str, uri: &str, headers: &[(&str, &str)]) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        s.auth_endpoint(
            &Method::from_bytes(method.as_bytes()).unwrap(),
            &uri.parse().unwrap(),
            &map,
        )
        .await
    }

    async fn json_of(r: Response) -> serde_json::Value {
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    #[tokio::test]
    async fn a_session_cookie_is_an_identity_for_the_rules_and_for_auth_me() {
        let s = with_login();
        let later = oidc::now() + 600;
        let cookie = session_cookie(&s, "alice", later);
        let c = [("cookie", cookie.as_str())];
        let me = check(&s, "GET", "/students/alice", &c).await.unwrap().unwrap();
        assert_eq!((me.kind, me.subject.as_str()), ("session", "alice"));
        assert_eq!(check(&s, "GET", "/students/bob", &c).await.unwrap_err().status(), 403);
        assert_eq!(check(&s, "GET", "/reports/x", &c).await.unwrap_err().status(), 403);

        let r = auth(&s, "GET", "/auth/me", &c).await;
        assert_eq!(r.status(), 200);
        let body = json_of(r).await;
        assert_eq!(body["subject"], "alice");
        assert_eq!(body["kind"], "session");
        assert_eq!(body["email"], "alice@example.com");
        assert_eq!(body["expires_at"], later);

        // Expired, sealed with another key, or changed: not logged in.
        let expired = session_cookie(&s, "alice", oidc::now() - 1);
        let other = session_cookie(&with_login(), "alice", later);
        let mut changed = cookie.clone();
        let last = changed.pop().unwrap();
        changed.push(if last == 'A' { 'B' } else { 'A' });
        for bad in [expired, other, changed] {
            let h = [("cookie", bad.as_str())];
            let r = check(&s, "GET", "/students/alice", &h).await.unwrap_err();
            assert_eq!(r.status(), 401);
            assert_eq!(auth(&s, "GET", "/auth/me", &h).await.status(), 401);
        }
        let none = auth(&s, "GET", "/auth/me", &[("accept", "text/html")]).await;
        assert_eq!(none.status(), 401, "/auth/me never redirects");
        assert!(none.headers().contains_key("www-authenticate"));

        // Without oidc, the cookie means nothing.
        let plain = Security::from_json(r#"{"rules": [{"path": "/**", "authenticated": true}]}"#)
            .unwrap()
            .with_cookie_key(s.cookie_key.clone());
        assert_eq!(check(&plain, "GET", "/x", &c).await.unwrap_err().status(), 401);
    }

    #[tokio::test]
    async fn browsers_are_sent_to_log_in_and_api_clients_get_401() {
        let s = with_login();
        let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        let mut map = HeaderMap::new();
        map.insert(header::ACCEPT, html.parse().unwrap());
        let r = s
            .decide(&Method::GET, "/students/alice", Some("tab=grades&x=1"), &map)
            .await
            .unwrap_err();
        assert_eq!(r.status(), 302);
        assert_eq!(
            r.headers()["location"],
            "/auth/login?return_to=%2Fstudents%2Falice%3Ftab%3Dgrades%26x%3D1"
        );
        let post = s.decide(&Method::POST, "/students/alice", None, &map).await.unwrap_err();
        assert_eq!(post.status(), 401, "only a GET is redirected");
        for accept in ["*/*", "application/json", "application/json, text/html;q=0.5"] {
            let r = check(&s, "GET", "/students/alice", &[("accept", accept)]).await.unwrap_err();
            assert_eq!(r.status(), 401, "{accept}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"baton\"");
        }
        assert!(prefers_html("text/html"));
        assert!(!prefers_html("text/html;q=0"));
        assert!(!prefers_html(""));
    }

    #[tokio::test]
    async fn logout_clears_the_cookie_and_refuses_open_redirects() {
        let s = with_login().with_https(true);
        let r = auth(&s, "POST", "/auth/logout", &[]).await;
        assert_eq!(r.status(), 204);
        let set = r.headers()["set-cookie"].to_str().unwrap();
        assert_eq!(set, "baton_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure");
        let r = auth(&s, "GET", "/auth/logout?return_to=%2Fbye", &[]).await;
        assert_eq!(
            (r.status().as_u16(), &r.headers()["location"]),
            (303, &"/bye".parse().unwrap())
        );
        for bad in ["//evil.example", "https://evil.example", "/%5Cevil.example"] {
            let uri = format!("/auth/logout?return_to={bad}");
            assert_eq!(auth(&s, "GET", &uri, &[]).await.status(), 400, "{bad}");
            let uri = format!("/auth/login?return_to={bad}");
            assert_eq!(auth(&s, "GET", &uri, &[]).await.status(), 400, "{bad}");
        }
        assert_eq!(auth(&s, "DELETE", "/auth/me", &[]).await.status(), 405);
        assert_eq!(auth(&s, "GET", "/auth/other", &[]).await.status(), 404);
        let plain = Security::from_json("{}").unwrap();
        assert_eq!(auth(&plain, "GET", "/auth/login", &[]).await.status(), 404);
    }

    #[test]
    fn hmac_and_none_are_refused_in_the_configuration() {
        for alg in ["HS256", "none"] {
            let json = format!(
                r#"{{"jwt": {{"issuer": "i", "audience": ["a"], "jwks_uri": "http://x", "algorithms": ["{alg}"]}}}}"#
            );
            assert!(Security::from_json(&json).is_err(), "{alg}");
        }
        assert!(Security::from_json(r#"{"rules": [{"path": "/a/**/b"}]}"#).is_err());
    }
}
