//! What `baton functions` and `baton topics` share as clients of a running Baton: the
//! runtime they run on, JSON calls, and path-segment encoding.

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// A single-threaded runtime for one command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// One call to Baton's HTTP API at `base`; a refusal is an error carrying the API's answer.
pub(crate) async fn call(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value> {
    let mut req = client.request(method, format!("{base}{path}"));
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let resp = req.send().await.with_context(|| format!("cannot reach Baton at {base}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{status}: {text}");
    }
    serde_json::from_str(&text).context("Baton answered with something that is not JSON")
}

/// Percent-encodes a path segment (function and topic ARNs carry ':').
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn arns_are_encoded() {
        assert_eq!(super::encode("arn:aws:lambda:x"), "arn%3Aaws%3Alambda%3Ax");
        assert_eq!(super::encode("plain-name_1"), "plain-name_1");
    }
}
