//! `X-Request-Id` on every request and response, and the access log.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::Identity;

/// The header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// A client's id is kept when it is 1 to 128 characters of `A-Z a-z 0-9 - _ . : @ /`:
/// enough for UUIDs, ULIDs and trace ids, and safe to log and to pass on.
pub fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:@/".contains(&b))
}

/// The layer (outermost): assigns the id, passes it on in the request's headers (so
/// upstreams see it) and extensions, echoes it on the response, and logs one line at
/// `info` on the `baton::access` target.
pub async fn layer(mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    let value = HeaderValue::from_str(&id).expect("a sane id is a valid header value");
    req.headers_mut().insert(X_REQUEST_ID.clone(), value.clone());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(X_REQUEST_ID.clone(), value);
    let subject = resp.extensions().get::<Identity>().map(|i| i.subject.as_str());
    tracing::info!(
        target: "baton::access",
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        latency_us = start.elapsed().as_micros() as u64,
        request_id = %id,
        subject = subject.unwrap_or("-"),
        "request"
    );
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn sane_ids_are_short_and_plain() {
        assert!(super::is_sane("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(super::is_sane("req-1.2:3"));
        for bad in ["", "a b", "x\"y", "é", &"a".repeat(129)] {
            assert!(!super::is_sane(bad), "{bad:?}");
        }
    }
}
