//! The gateway's middleware chain, as tower layers around any axum `Router`:
//!
//! 1. [`request_id`]: every request gets an `X-Request-Id` (the client's if it is sane,
//!    else a new one), echoed on the response, and one structured access-log line.
//! 2. [`security`]: JSON rules of which identities (bearer JWTs verified against the
//!    issuer's JWKS, API keys, or the session cookie of a browser login with OpenID
//!    Connect) may call which methods on which paths.
//! 3. [`notification`]: JSON rules of which operations put a `before` and/or `after`
//!    event in the store's outbox, for a topic to deliver.
//!
//! Path patterns (`/orders/{id}`, `/orders/**`) are in [`pattern`]; the route table of
//! `[[routes]]` in [`routes`], with its reverse proxy in [`proxy`] and [`static_files`],
//! which serves a directory as a CDN edge does (validators, ranges, precompressed variants).

pub mod notification;
pub mod pattern;
pub mod proxy;
pub mod request_id;
pub mod routes;
pub mod security;
pub mod static_files;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use notification::Notifier;
pub use pattern::PathPattern;
pub use request_id::RequestId;
pub use routes::{Found, RouteSpec, RouteTable, Target};
pub use security::Security;
pub use static_files::StaticFiles;

/// Who called: put in the request's (and the response's) extensions by the security layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `jwt` (a bearer token), `session` (a browser login's cookie) or `api_key`.
    pub kind: &'static str,
    /// The token's `sub`, or the API key's name.
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// A JSON error body with a stable code: `{"code", "message"}`.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({"code": code, "message": message.into()});
    (status, axum::Json(body)).into_response()
}

/// The chain as configured; layers that are not configured are left out.
#[derive(Clone, Default)]
pub struct Middleware {
    pub security: Option<Arc<Security>>,
    pub notifications: Option<Arc<Notifier>>,
}

impl Middleware {
    /// Wraps `router`: request id and access log outermost, then security, then
    /// notification, then the routes.
    pub fn apply(&self, mut router: axum::Router) -> axum::Router {
        if let Some(n) = &self.notifications {
            router =
                router.layer(axum::middleware::from_fn_with_state(n.clone(), notification::layer));
        }
        if let Some(s) = &self.security {
            router = router.layer(axum::middleware::from_fn_with_state(s.clone(), security::layer));
        }
        router.layer(axum::middleware::from_fn(request_id::layer))
    }
}
