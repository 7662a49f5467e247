//! The reverse proxy of upstream routes.
//!
//! The upstream URL is a template: `{name}` takes a route parameter and `{**}` the rest of
//! the path a `**` matched (`http://127.0.0.1:9001/v1/users/{id}`); a URL without
//! placeholders is a base the request's whole path is appended to. The query string is
//! passed on. Bodies stream both ways; nothing is buffered.
//!
//! On the way up: hop-by-hop headers (RFC 9110 section 7.6.1) are dropped, `Host` becomes
//! the upstream's, `X-Forwarded-For`/`-Host`/`-Proto` say where the request came from,
//! `X-Request-Id` is kept, and the caller's identity goes in `X-Baton-*` headers (any a
//! client sent are removed first, so an upstream can trust them). Redirects are passed to
//! the client, not followed. An upstream that cannot be reached is a 502, one that takes
//! longer than the route's timeout (the whole exchange) a 504.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use crate::pattern::PathPattern;
use crate::Identity;

/// The headers that carry the caller's identity to upstreams.
pub const X_BATON_SUBJECT: HeaderName = HeaderName::from_static("x-baton-subject");
pub const X_BATON_EMAIL: HeaderName = HeaderName::from_static("x-baton-email");
pub const X_BATON_GROUPS: HeaderName = HeaderName::from_static("x-baton-groups");
pub const X_BATON_ROLES: HeaderName = HeaderName::from_static("x-baton-roles");
pub const X_BATON_ISSUER: HeaderName = HeaderName::from_static("x-baton-issuer");
pub const X_BATON_AUTH: HeaderName = HeaderName::from_static("x-baton-auth");

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The connection-scoped headers a proxy does not pass on, beside those `Connection` names.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Param(String),
    Rest,
}

/// An upstream target.
#[derive(Debug)]
pub struct Upstream {
    template: String,
    /// `None`: no placeholders, the request's path is appended.
    parts: Option<Vec<Part>>,
    timeout: Duration,
    client: reqwest::Client,
}

/// What a forwarded request carries beside itself.
#[derive(Debug)]
pub struct Forwarding<'a> {
    pub params: &'a BTreeMap<String, String>,
    /// What the route's `**` matched.
    pub rest: &'a str,
    /// The client's address, when known.
    pub client_ip: Option<IpAddr>,
    /// `http` or `https`: how the client reached Baton.
    pub proto: &'static str,
    pub identity: Option<&'a Identity>,
}

static NO_PARAMS: BTreeMap<String, String> = BTreeMap::new();

impl Default for Forwarding<'_> {
    fn default() -> Self {
        Self { params: &NO_PARAMS, rest: "", client_ip: None, proto: "http", identity: None }
    }
}

impl Upstream {
    /// Checks the template against the route's pattern: an http(s) URL with a host, whose
    /// placeholders are the pattern's parameters (and `{**}` only after a `**`).
    pub fn new(
        template: &str,
        pattern: &PathPattern,
        timeout: Duration,
        client: reqwest::Client,
    ) -> Result<Self, String> {
        let parts = parse_template(template)?;
        let has_placeholders = parts.iter().any(|p| !matches!(p, Part::Literal(_)));
        let params = pattern.params();
        for p in &parts {
            match p {
                Part::Param(name) if !params.contains(&name.as_str()) => {
                    return Err(format!("upstream: {{{name}}} is not a parameter of the path"));
                }
                Part::Rest if !pattern.as_str().ends_with("/**") => {
                    return Err("upstream: {**} needs a path ending in /**".into());
                }
                _ => {}
            }
        }
        let probe: String = parts
            .iter()
            .map(|p| match p {
                Part::Literal(l) => l.as_str(),
                Part::Param(_) | Part::Rest => "x",
            })
            .collect();
        let url = reqwest::Url::parse(&probe).map_err(|e| format!("upstream {template:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("upstream {template:?}: an http:// or https:// URL with a host"));
        }
        Ok(Self {
            template: template.to_owned(),
            parts: has_placeholders.then_some(parts),
            timeout,
            client,
        })
    }

    /// The template as written.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The upstream URL of a request.
    fn url(&self, path: &str, query: Option<&str>, f: &Forwarding<'_>) -> String {
        let mut url = match &self.parts {
            None => {
                let base = self.template.split(['?', '#']).next().unwrap_or_default();
                format!("{}{path}", base.trim_end_matches('/'))
            }
            Some(parts) => parts
                .iter()
                .map(|p| match p {
                    Part::Literal(l) => l.as_str(),
                    Part::Param(name) => f.params.get(name).map_or("", String::as_str),
                    Part::Rest => f.rest,
                })
                .collect(),
        };
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(q);
        }
        url
    }

    /// Sends the request upstream and streams the answer back.
    pub async fn forward(&self, req: Request, f: Forwarding<'_>) -> Response {
        let (parts, body) = req.into_parts();
        let url = self.url(parts.uri.path(), parts.uri.query(), &f);
        let headers = upstream_headers(&parts.headers, &f);
        let method = parts.method.clone();
        let request = self
            .client
            .request(method.clone(), &url)
            .headers(headers)
            .timeout(self.timeout)
            .body(reqwest::Body::wrap_stream(body.into_data_stream()));
        match request.send().await {
            Ok(answer) => {
                let mut out = Response::builder().status(answer.status());
                if let Some(h) = out.headers_mut() {
                    copy_end_to_end(answer.headers(), h);
                }
                out.body(Body::from_stream(answer.bytes_stream())).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, %url, "upstream answer cannot be passed on");
                    crate::error(StatusCode::BAD_GATEWAY, "upstream_error", "invalid answer")
                })
            }
            Err(e) if e.is_timeout() => {
                tracing::warn!(%url, timeout_ms = self.timeout.as_millis() as u64, "upstream timed out");
                crate::error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    format!("the upstream did not answer within {:?}", self.timeout),
                )
            }
            Err(e) if e.is_connect() => {
                tracing::warn!(error = %e, %url, "upstream unreachable");
                crate::error(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unreachable",
                    "the upstream service cannot be reached",
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, %url, %method, "upstream exchange failed");
                crate::error(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    "the upstream exchange failed",
                )
            }
        }
    }
}

fn parse_template(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_owned()));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("upstream {template:?}: an unclosed {{"));
        };
        let name = &rest[open + 1..open + close];
        parts.push(match name {
            "**" => Part::Rest,
            n if !n.is_empty()
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                Part::Param(n.to_owned())
            }
            n => return Err(format!("upstream {template:?}: invalid placeholder {{{n}}}")),
        });
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("upstream {template:?}: a stray }}"));
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(parts)
}

/// The names a `Connection` header lists: hop-by-hop for this message.
fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Copies the end-to-end headers.
fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    let named = connection_named(from);
    for (name, value) in from {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || named.iter().any(|c| c == n) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

/// The headers sent upstream.
fn upstream_headers(incoming: &HeaderMap, f: &Forwarding<'_>) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(incoming.len() + 8);
    copy_end_to_end(incoming, &mut out);
    out.remove(header::HOST);
    let spoofable: Vec<HeaderName> =
        out.keys().filter(|n| n.as_str().starts_with("x-baton-")).cloned().collect();
    for name in spoofable {
        out.remove(name);
    }
    if let Some(ip) = f.client_ip {
        let chain = incoming
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .chain(std::iter::once(ip.to_string().as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        set(&mut out, X_FORWARDED_FOR, &chain);
    }
    if let Some(host) = incoming.get(header::HOST) {
        out.insert(X_FORWARDED_HOST, host.clone());
    }
    out.insert(X_FORWARDED_PROTO, HeaderValue::from_static(f.proto));
    if let Some(id) = f.identity {
        set(&mut out, X_BATON_AUTH, id.kind);
        set(&mut out, X_BATON_SUBJECT, &id.subject);
        if let Some(e) = &id.email {
            set(&mut out, X_BATON_EMAIL, e);
        }
        if !id.groups.is_empty() {
            set(&mut out, X_BATON_GROUPS, &id.groups.join(","));
        }
        if !id.roles.is_empty() {
            set(&mut out, X_BATON_ROLES, &id.roles.join(","));
        }
        if let Some(i) = &id.issuer {
            set(&mut out, X_BATON_ISSUER, i);
        }
    }
    out
}

/// Sets a header whose value came from a token or a peer: dropped if it cannot be one.
fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(v) => {
            headers.insert(name, v);
        }
        Err(_) => {
            tracing::debug!(header = %name, "a value that is no header value is not passed on")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(template: &str, pattern: &str) -> Result<Upstream, String> {
        let p = PathPattern::parse(pattern).unwrap();
        Upstream::new(template, &p, Duration::from_secs(1), reqwest::Client::new())
    }

    #[test]
    fn templates_take_parameters_and_the_rest() {
        let u = upstream("http://127.0.0.1:9001/v1/users/{id}/{**}", "/api/users/{id}/**").unwrap();
        let params = BTreeMap::from([("id".to_owned(), "7".to_owned())]);
        let f = Forwarding { params: &params, rest: "photos/1", ..Forwarding::default() };
        assert_eq!(
            u.url("/api/users/7/photos/1", Some("size=s"), &f),
            "http://127.0.0.1:9001/v1/users/7/photos/1?size=s"
        );
        let base = upstream("http://127.0.0.1:9001/", "/api/**").unwrap();
        assert_eq!(
            base.url("/api/orders", None, &Forwarding::default()),
            "http://127.0.0.1:9001/api/orders"
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        for (t, p, expected) in [
            ("http://h/{nope}", "/a/{id}", "not a parameter"),
            ("http://h/{**}", "/a/{id}", "needs a path ending"),
            ("http://h/{id", "/a/{id}", "unclosed"),
            ("ftp://h/", "/a", "http"),
            ("/relative", "/a", "relative URL"),
        ] {
            let e = upstream(t, p).unwrap_err();
            assert!(e.contains(expected), "{t}: {e}");
        }
    }

    #[test]
    fn hop_by_hop_and_spoofed_identity_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-baton-subject", HeaderValue::from_static("admin"));
        h.insert(header::HOST, HeaderValue::from_static("shop.example"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.insert("x-request-id", HeaderValue::from_static("r1"));
        let id = Identity {
            kind: "jwt",
            subject: "alice".into(),
            email: None,
            groups: vec!["staff".into(), "admins".into()],
            roles: vec![],
            issuer: None,
        };
        let f = Forwarding {
            client_ip: Some("127.0.0.1".parse().unwrap()),
            proto: "https",
            identity: Some(&id),
            ..Forwarding::default()
        };
        let out = upstream_headers(&h, &f);
        for gone in ["connection", "x-secret", "keep-alive", "host"] {
            assert!(!out.contains_key(gone), "{gone}");
        }
        assert_eq!(out["x-baton-subject"], "alice");
        assert_eq!(out["x-baton-groups"], "staff,admins");
        assert_eq!(out["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(out["x-forwarded-host"], "shop.example");
        assert_eq!(out["x-forwarded-proto"], "https");
        assert_eq!(out["x-request-id"], "r1");
    }
}
