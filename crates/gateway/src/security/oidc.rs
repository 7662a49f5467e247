//! Browser login with OpenID Connect: the authorization code flow with PKCE (RFC 7636,
//! S256), `state` and `nonce`, ending in a sealed session cookie.
//!
//! - `GET /auth/login?return_to=/path`: seals the login in progress (PKCE verifier,
//!   `state`, `nonce`, `return_to`, redirect URI) into a short-lived cookie and sends the
//!   browser to the provider's authorization endpoint.
//! - `GET /auth/callback?code&state`: opens that cookie, checks `state`, exchanges the code
//!   at the token endpoint (`client_secret_basic` or `client_secret_post`, whichever the
//!   provider allows), verifies the ID token against the provider's JWKS with the bearer
//!   token verifier (plus its `nonce`), sets the session cookie and sends the browser back.
//!
//! The provider's endpoints come from `{issuer}/.well-known/openid-configuration`, fetched
//! on the first login and kept (a failed fetch is tried again by the next login). Nothing
//! is kept on the node: both cookies are sealed with the key every node shares.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::jwt::{JwtSpec, JwtVerifier};
use super::session::{
    cookie, random_token, safe_return_to, set_cookie, CookieKey, PendingLogin, Session,
    LOGIN_COOKIE, SESSION_COOKIE,
};
use super::Denied;
use crate::error;

/// How long a login may take between `/auth/login` and `/auth/callback`.
const LOGIN_SECONDS: u64 = 600;

/// The largest sealed session: browsers keep cookies of up to 4096 bytes, name and
/// attributes included.
const MAX_COOKIE_BYTES: usize = 3900;

/// `oidc` in the security rules.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSpec {
    /// The provider's issuer URL (`https://accounts.google.com`); its discovery document
    /// is `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// The client secret; or name an environment variable in `client_secret_env`.
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Where the provider sends the browser back; unset: the request's scheme and host
    /// with `/auth/callback`.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// The scopes asked for (`openid email profile` when unset), a string or a list.
    #[serde(default)]
    pub scopes: Option<Scopes>,
    /// `client_secret_basic`, `client_secret_post` or `none`; unset: `client_secret_basic`
    /// if the provider supports it, else `client_secret_post` (`none` without a secret).
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// How long a session lasts, in seconds (8 hours when unset).
    #[serde(default)]
    pub session_seconds: Option<u64>,
    /// The ID token's claim with the user's groups (`groups` when unset; dotted paths
    /// reach into objects).
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// The ID token's claim with the user's roles (`roles` when unset).
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// The ID token algorithms accepted (`["RS256", "ES256"]` when unset; never HMAC).
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Clock skew allowed on the ID token's `exp` and `nbf` (30 s when unset).
    #[serde(default)]
    pub leeway_seconds: Option<u64>,
}

impl std::fmt::Debug for OidcSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSpec")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<hidden>"))
            .field("client_secret_env", &self.client_secret_env)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// Scopes as one space-separated string or as a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scopes {
    One(String),
    Many(Vec<String>),
}

/// How the client authenticates at the token endpoint (RFC 6749 section 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthMethod {
    Basic,
    Post,
    None,
}

impl AuthMethod {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "client_secret_basic" => Some(Self::Basic),
            "client_secret_post" => Some(Self::Post),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// The part of the discovery document used here.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// What discovery taught about the provider.
struct Provider {
    issuer: String,
    authorization_endpoint: reqwest::Url,
    token_endpoint: String,
    auth_method: AuthMethod,
    /// Checks ID tokens: issuer, the client id as audience, the provider's JWKS.
    id_tokens: JwtVerifier,
}

/// Browser login, configured.
pub(crate) struct Oidc {
    spec: OidcSpec,
    secret: Option<String>,
    scopes: String,
    auth_method: Option<AuthMethod>,
    session_seconds: u64,
    client: reqwest::Client,
    provider: OnceCell<Provider>,
}

impl Oidc {
    /// Checks the settings (and reads `client_secret_env`).
    pub(crate) fn new(spec: OidcSpec) -> Result<Self, String> {
        let issuer = reqwest::Url::parse(&spec.issuer)
            .map_err(|_| format!("oidc.issuer: {:?} is not a URL", spec.issuer))?;
        if !matches!(issuer.scheme(), "https" | "http") {
            return Err("oidc.issuer: an https URL".into());
        }
        if spec.client_id.is_empty() {
            return Err("oidc.client_id: required".into());
        }
        let secret = match (&spec.client_secret, &spec.client_secret_env) {
            (Some(_), Some(_)) => {
                return Err("oidc: client_secret or client_secret_env, not both".into())
            }
            (Some(s), None) => Some(s.clone()),
            (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                format!("oidc.client_secret_env: the environment variable {var} is not set")
            })?),
            (None, None) => None,
        }
        .filter(|s| !s.is_empty());
        let scopes = match &spec.scopes {
            None => "openid email profile".to_owned(),
            Some(Scopes::One(s)) => s.split_whitespace().collect::<Vec<_>>().join(" "),
            Some(Scopes::Many(v)) => v.join(" "),
        };
        if !scopes.split(' ').any(|s| s == "openid") {
            return Err("oidc.scopes: must include openid".into());
        }
        let auth_method = match &spec.token_endpoint_auth_method {
            None => None,
            Some(name) => Some(AuthMethod::parse(name).ok_or_else(|| {
                format!(
                    "oidc.token_endpoint_auth_method: {name:?} is not client_secret_basic, \
                     client_secret_post or none"
                )
            })?),
        };
        if matches!(auth_method, Some(AuthMethod::Basic | AuthMethod::Post)) && secret.is_none() {
            return Err("oidc: that token_endpoint_auth_method needs a client secret".into());
        }
        if let Some(uri) = &spec.redirect_uri {
            reqwest::Url::parse(uri)
                .map_err(|_| format!("oidc.redirect_uri: {uri:?} is not an absolute URL"))?;
        }
        let session_seconds = spec.session_seconds.unwrap_or(8 * 3600);
        if session_seconds == 0 {
            return Err("oidc.session_seconds: more than 0".into());
        }
        // The ID token checks, without fetching anything: the algorithms are checked now.
        JwtVerifier::new(Self::jwt_spec(&spec, &spec.issuer, "http://unused.invalid/"))
            .map_err(|e| e.replace("jwt.", "oidc."))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Self {
            spec,
            secret,
            scopes,
            auth_method,
            session_seconds,
            client,
            provider: OnceCell::new(),
        })
    }

    fn jwt_spec(spec: &OidcSpec, issuer: &str, jwks_uri: &str) -> JwtSpec {
        JwtSpec {
            issuer: issuer.to_owned(),
            audience: vec![spec.client_id.clone()],
            jwks_uri: jwks_uri.to_owned(),
            algorithms: spec.algorithms.clone(),
            leeway_seconds: spec.leeway_seconds,
            groups_claim: spec.groups_claim.clone(),
            roles_claim: spec.roles_claim.clone(),
            cache_seconds: None,
        }
    }

    /// The provider's endpoints, discovered once.
    async fn provider(&self) -> Result<&Provider, String> {
        self.provider.get_or_try_init(|| self.discover()).await
    }

    async fn discover(&self) -> Result<Provider, String> {
        let url =
            format!("{}/.well-known/openid-configuration", self.spec.issuer.trim_end_matches('/'));
        let resp = self.client.get(&url).send().await.map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url}: HTTP {}", resp.status()));
        }
        let doc: Discovery = resp.json().await.map_err(|e| format!("{url}: {e}"))?;
        // OpenID Connect Discovery 1.0, section 4.3: the document names the same issuer.
        if doc.issuer.trim_end_matches('/') != self.spec.issuer.trim_end_matches('/') {
            return Err(format!("{url}: it names the issuer {:?}", doc.issuer));
        }
        let authorization_endpoint = reqwest::Url::parse(&doc.authorization_endpoint)
            .map_err(|_| format!("{url}: authorization_endpoint is not a URL"))?;
        // Section 3: client_secret_basic when the list is absent.
        let supported = doc
            .token_endpoint_auth_methods_supported
            .unwrap_or_else(|| vec!["client_secret_basic".to_owned()]);
        let auth_method = match (self.auth_method, &self.secret) {
            (Some(m), _) => m,
            (None, None) => AuthMethod::None,
            (None, Some(_)) => {
                if supported.iter().any(|m| m == "client_secret_basic") {
                    AuthMethod::Basic
                } else if supported.iter().any(|m| m == "client_secret_post") {
                    AuthMethod::Post
                } else {
                    return Err(format!(
                        "{url}: the token endpoint takes neither client_secret_basic nor \
                         client_secret_post ({supported:?})"
                    ));
                }
            }
        };
        let id_tokens = JwtVerifier::new(Self::jwt_spec(&self.spec, &doc.issuer, &doc.jwks_uri))?;
        tracing::debug!(issuer = %doc.issuer, ?auth_method, "discovered the OpenID provider");
        Ok(Provider {
            issuer: doc.issuer,
            authorization_endpoint,
            token_endpoint: doc.token_endpoint,
            auth_method,
            id_tokens,
        })
    }

    /// `GET /auth/login`.
    pub(crate) async fn login(
        &self,
        key: &CookieKey,
        query: Option<&str>,
        headers: &HeaderMap,
        secure: bool,
    ) -> Response {
        let params = query_params(query);
        let return_to = param(&params, "return_to").unwrap_or("/");
        let Some(return_to) = safe_return_to(return_to) else {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidReturnTo",
                "return_to must be a path on this site, such as /orders",
            );
        };
        let redirect_uri = match &self.spec.redirect_uri {
            Some(uri) => uri.clone(),
            None => match request_origin(headers, secure) {
                Some(origin) => format!("{origin}/auth/callback"),
                None => {
                    return error(StatusCode::BAD_REQUEST, "BadRequest", "no usable Host header")
                }
            },
        };
        let provider = match self.provider().await {
            Ok(p) => p,
            Err(why) => return unavailable(&why),
        };
        let pending = PendingLogin {
            v: 1,
            state: random_token(24),
            nonce: random_token(24),
            verifier: random_token(32),
            return_to: return_to.to_owned(),
            redirect_uri,
            exp: now() + LOGIN_SECONDS,
        };
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(pending.verifier.as_bytes()));
        let mut to = provider.authorization_endpoint.clone();
        to.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.spec.client_id)
            .append_pair("redirect_uri", &pending.redirect_uri)
            .append_pair("scope", &self.scopes)
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let sealed = key.seal(LOGIN_COOKIE, &pending);
        redirect(
            to.as_str(),
            &[set_cookie(LOGIN_COOKIE, &sealed, "/auth", LOGIN_SECONDS, secure)],
            StatusCode::FOUND,
        )
    }

    /// `GET /auth/callback`.
    pub(crate) async fn callback(
        &self,
        key: &CookieKey,
        query: Option<&str>,
        headers: &HeaderMap,
        secure: bool,
    ) -> Response {
        let clear = set_cookie(LOGIN_COOKIE, "", "/auth", 0, secure);
        let failed = |status: StatusCode, message: String| {
            with_cookies(error(status, "LoginFailed", message), std::slice::from_ref(&clear))
        };
        let params = query_params(query);
        let pending = cookie(headers, LOGIN_COOKIE)
            .and_then(|c| key.open::<PendingLogin>(LOGIN_COOKIE, c))
            .filter(|p| p.v == 1 && now() < p.exp);
        let Some(pending) = pending else {
            return failed(
                StatusCode::BAD_REQUEST,
                "no login in progress in this browser, or it took too long; start again at \
                 /auth/login"
                    .into(),
            );
        };
        if param(&params, "state") != Some(pending.state.as_str()) {
            return failed(StatusCode::BAD_REQUEST, "the state does not match this login".into());
        }
        if let Some(e) = param(&params, "error") {
            let detail = param(&params, "error_description").unwrap_or_default();
            let status =
                if e == "access_denied" { StatusCode::FORBIDDEN } else { StatusCode::BAD_REQUEST };
            return failed(status, format!("the identity provider said {e}: {detail}"));
        }
        let Some(code) = param(&params, "code").filter(|c| !c.is_empty()) else {
            return failed(StatusCode::BAD_REQUEST, "no code".into());
        };
        let provider = match self.provider().await {
            Ok(p) => p,
            Err(why) => return unavailable(&why),
        };
        // RFC 9207: a provider that names itself in the response must be this one.
        if param(&params, "iss").is_some_and(|iss| iss != provider.issuer) {
            return failed(
                StatusCode::BAD_REQUEST,
                "the response comes from another identity provider (iss)".into(),
            );
        }
        let id_token = match self.exchange(provider, code, &pending).await {
            Ok(t) => t,
            Err((status, why)) => return failed(status, why),
        };
        let identity = match provider
            .id_tokens
            .verify_id_token(&id_token, &pending.nonce, &self.spec.client_id)
            .await
        {
            Ok(i) => i,
            Err(Denied::Unavailable(why)) => return unavailable(&why),
            Err(Denied::Invalid(why)) => {
                return failed(StatusCode::BAD_GATEWAY, format!("the ID token: {why}"))
            }
            Err(Denied::Missing) => {
                return failed(StatusCode::BAD_GATEWAY, "no ID token".into());
            }
        };
        tracing::info!(subject = %identity.subject, "browser login");
        let session = Session::new(&identity, now() + self.session_seconds);
        let sealed = key.seal(SESSION_COOKIE, &session);
        if sealed.len() > MAX_COOKIE_BYTES {
            // A browser drops larger cookies without a word: say so here instead.
            tracing::warn!(subject = %identity.subject, bytes = sealed.len(), "session too large");
            return failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the identity is too large for a cookie ({} groups, {} roles)",
                    identity.groups.len(),
                    identity.roles.len()
                ),
            );
        }
        redirect(
            &pending.return_to,
            &[clear, set_cookie(SESSION_COOKIE, &sealed, "/", self.session_seconds, secure)],
            StatusCode::FOUND,
        )
    }

    /// The token request (RFC 6749 section 4.1.3, with the PKCE verifier): the ID token.
    async fn exchange(
        &self,
        provider: &Provider,
        code: &str,
        pending: &PendingLogin,
    ) -> Result<String, (StatusCode, String)> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &pending.redirect_uri),
            ("code_verifier", &pending.verifier),
        ];
        let mut req =
            self.client.post(&provider.token_endpoint).header(header::ACCEPT, "application/json");
        match provider.auth_method {
            AuthMethod::Basic => {
                // RFC 6749 section 2.3.1: both are form-encoded before Basic encoding.
                req = req.basic_auth(
                    form_encode(&self.spec.client_id),
                    Some(form_encode(self.secret.as_deref().unwrap_or_default())),
                );
            }
            AuthMethod::Post => {
                form.push(("client_id", &self.spec.client_id));
                form.push(("client_secret", self.secret.as_deref().unwrap_or_default()));
            }
            AuthMethod::None => form.push(("client_id", &self.spec.client_id)),
        }
        let unreachable = |e: reqwest::Error| {
            tracing::warn!(error = %e, "the token endpoint cannot be reached");
            (
                StatusCode::BAD_GATEWAY,
                "the identity provider's token endpoint cannot be reached".to_owned(),
            )
        };
        let resp = req.form(&form).send().await.map_err(unreachable)?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let e = body["error"].as_str().unwrap_or("no error code");
            let detail = body["error_description"].as_str().unwrap_or_default();
            tracing::warn!(%status, error = e, detail, "the token endpoint refused the code");
            let status = if status.is_client_error() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::BAD_GATEWAY
            };
            return Err((status, format!("the identity provider refused the code: {e} {detail}")));
        }
        body["id_token"].as_str().map(str::to_owned).ok_or((
            StatusCode::BAD_GATEWAY,
            "the identity provider sent no ID token (is openid among the scopes?)".to_owned(),
        ))
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn unavailable(why: &str) -> Response {
    tracing::warn!(reason = %why, "the OpenID provider cannot be reached");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "IdentityProviderUnavailable",
        "the identity provider cannot be reached; try again later",
    )
}

/// The decoded query parameters.
pub(crate) fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = query else { return Vec::new() };
    match reqwest::Url::parse(&format!("http://q.invalid/?{q}")) {
        Ok(u) => u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
        Err(_) => Vec::new(),
    }
}

/// The first value of `name`.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `scheme://host` of the request, from its `Host` (which must look like a host name or
/// address with an optional port).
fn request_origin(headers: &HeaderMap, secure: bool) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if host.is_empty() || !host.chars().all(fine) {
        return None;
    }
    Some(format!("{}://{host}", if secure { "https" } else { "http" }))
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'*');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// A redirect to `location` that sets `cookies`.
pub(crate) fn redirect(location: &str, cookies: &[String], status: StatusCode) -> Response {
    let mut resp = status.into_response();
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => return error(StatusCode::BAD_REQUEST, "BadRequest", "unusable redirect"),
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    with_cookies(resp, cookies)
}

/// `resp` with a `Set-Cookie` for each of `cookies`.
pub(crate) fn with_cookies(mut resp: Response, cookies: &[String]) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<Oidc, String> {
        Oidc::new(serde_json::from_str(json).map_err(|e| e.to_string())?)
    }

    #[test]
    fn the_settings_are_checked() {
        let ok = spec(
            r#"{"issuer": "https://accounts.google.com", "client_id": "c", "client_secret": "s"}"#,
        )
        .unwrap();
        assert_eq!(ok.scopes, "openid email profile");
        assert_eq!(ok.session_seconds, 8 * 3600);
        let listed =
            spec(r#"{"issuer": "https://i", "client_id": "c", "scopes": ["openid", "groups"]}"#)
                .unwrap();
        assert_eq!(listed.scopes, "openid groups");
        for (bad, why) in [
            (r#"{"issuer": "nope", "client_id": "c"}"#, "not a URL"),
            (r#"{"issuer": "https://i", "client_id": ""}"#, "client_id"),
            (r#"{"issuer": "https://i", "client_id": "c", "scopes": "email"}"#, "openid"),
            (
                r#"{"issuer": "https://i", "client_id": "c", "token_endpoint_auth_method": "client_secret_post"}"#,
                "needs a client secret",
            ),
            (
                r#"{"issuer": "https://i", "client_id": "c", "token_endpoint_auth_method": "private_key_jwt", "client_secret": "s"}"#,
                "is not client_secret_basic",
            ),
            (
                r#"{"issuer": "https://i", "client_id": "c", "client_secret_env": "BATON_TEST_SURELY_UNSET_VARIABLE"}"#,
                "is not set",
            ),
            (
                r#"{"issuer": "https://i", "client_id": "c", "algorithms": ["HS256"]}"#,
                "oidc.algorithms",
            ),
            (r#"{"issuer": "https://i", "client_id": "c", "redirect_uri": "/cb"}"#, "redirect_uri"),
        ] {
            let e = spec(bad).err().unwrap_or_else(|| panic!("accepted {bad}"));
            assert!(e.contains(why), "{bad}: {e}");
        }
        let shown = format!("{:?}", ok.spec);
        assert!(shown.contains("<hidden>") && !shown.contains("\"s\""), "{shown}");
    }

    #[test]
    fn query_parameters_are_decoded_and_hosts_checked() {
        let p = query_params(Some("return_to=%2Fa%3Fb%3Dc&x=1+2"));
        assert_eq!(param(&p, "return_to"), Some("/a?b=c"));
        assert_eq!(param(&p, "x"), Some("1 2"));
        assert_eq!(param(&p, "y"), None);
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "app.example:8443".parse().unwrap());
        assert_eq!(request_origin(&h, true).as_deref(), Some("https://app.example:8443"));
        h.insert(header::HOST, "evil.example/path?".parse().unwrap());
        assert_eq!(request_origin(&h, false), None);
        assert_eq!(form_encode("a b:c%"), "a%20b%3Ac%25");
    }
}
