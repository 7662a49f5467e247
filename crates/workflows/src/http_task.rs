//! `arn:aws:states:::http:invoke`: a Task state that calls an HTTP endpoint.
//!
//! The task's evaluated `Parameters` (or `Arguments`) describe one request:
//!
//! - `ApiEndpoint` (required): an absolute `http` or `https` URL. A query string it already
//!   carries is kept, and `QueryParameters` are appended to it.
//! - `Method` (required): `GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `OPTIONS` or `HEAD`.
//! - `Authentication` and `InvocationConfig`: AWS takes the EventBridge connection from here.
//!   Baton has no connections, so both are accepted and ignored; credentials go in `Headers`.
//! - `Headers`: an object whose values are strings (numbers and booleans are written as text).
//! - `QueryParameters`: an object whose values are strings, numbers, booleans, arrays or objects.
//! - `RequestBody`: any JSON value. It is sent as JSON with `Content-Type: application/json`
//!   unless `Headers` names another content type; a string is sent as-is.
//! - `Transform`: `RequestBodyEncoding` is `NONE` (the default) or `URL_ENCODED`, which sends an
//!   object body as `application/x-www-form-urlencoded`. `RequestEncodingOptions.ArrayFormat`
//!   (`INDICES`, the default, `REPEAT`, `COMMAS` or `BRACKETS`) says how arrays are written in
//!   the URL-encoded body and in the query string; nested objects are written as `key[child]`.
//!
//! A 2xx response becomes the task's result, shaped as AWS shapes it:
//!
//! ```json
//! {
//!   "Headers": { "content-type": ["application/json"], "date": ["..."] },
//!   "ResponseBody": { "id": 1 },
//!   "StatusCode": 200,
//!   "StatusText": "OK"
//! }
//! ```
//!
//! Header names are lower case and every value is an array of strings, one per occurrence. The
//! body is parsed as JSON when the response's content type is `application/json` (or ends in
//! `+json`) and parses; otherwise it is the body's text.
//!
//! Any other status fails the task with `States.Http.StatusCode.<code>` (for example
//! `States.Http.StatusCode.404`), and the cause is the JSON text of the same result object. A
//! connection that cannot be made, breaks, or outlasts the timeout fails the task with
//! `States.Http.Socket`. Parameters that cannot describe a request fail it with `States.Runtime`.
//!
//! Redirects are not followed: a 3xx response is a `States.Http.StatusCode.3xx` failure, so
//! nothing is called behind the workflow's back. The [`Client`] connects to the endpoint
//! directly (proxy environment variables are not used), keeps connections open for the next
//! task to the same host, and verifies `https` endpoints against the webpki roots. A user name
//! and password in `ApiEndpoint` are sent as HTTP Basic authentication (unless `Headers` sets
//! `Authorization`), not in the URL, and causes name the URL without them.

use std::fmt::Write as _;
use std::time::Duration;

use asl::Failure;
use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::{Method, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde_json::{Map, Value};
use url::Url;

/// The error an HTTP Task fails with when no response arrives in time or at all.
const SOCKET_ERROR: &str = "States.Http.Socket";

/// The prefix of the error an HTTP Task fails with on a non-2xx response.
const STATUS_CODE_ERROR_PREFIX: &str = "States.Http.StatusCode.";

/// The fields an `http:invoke` task accepts in its parameters.
const KNOWN_FIELDS: [&str; 8] = [
    "ApiEndpoint",
    "Method",
    "Authentication",
    "InvocationConfig",
    "Headers",
    "QueryParameters",
    "RequestBody",
    "Transform",
];

/// The methods an HTTP Task may use.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

/// Headers that frame the HTTP exchange itself; the HTTP client sets them, so a task may not.
const RESERVED_HEADERS: [&str; 9] = [
    "connection",
    "content-length",
    "expect",
    "host",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const JSON_CONTENT_TYPE: &str = "application/json";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The HTTP client of `http:invoke` tasks: hyper's pooled HTTP/1 client, with rustls for
/// `https` endpoints. Cloning it shares its connections.
#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Client {
    /// Connections idle longer than this are closed.
    const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

    /// A client that connects directly and follows no redirects.
    pub fn new() -> Result<Self, String> {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("cannot set up TLS for the HTTP client: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Self::IDLE_TIMEOUT)
            .build(connector);
        Ok(Self { inner })
    }
}

/// Performs one `http:invoke` task: `parameters` is the task's input (its `Parameters`/`Arguments` after evaluation).
pub async fn invoke(
    client: &Client,
    parameters: &serde_json::Value,
    timeout: std::time::Duration,
) -> Result<serde_json::Value, asl::Failure> {
    invoke_once(client, parameters, timeout, None).await
}

/// [`invoke`], sending `Idempotency-Key: key` unless the task sets that header itself.
/// The executor passes the same key each time it dispatches the same attempt of a task
/// (after a crash, say), so the receiver can tell a repeat from a new call.
pub async fn invoke_once(
    client: &Client,
    parameters: &serde_json::Value,
    timeout: std::time::Duration,
    key: Option<&str>,
) -> Result<serde_json::Value, asl::Failure> {
    let mut request = Request::parse(parameters)?;
    if let Some(value) = key.and_then(|k| HeaderValue::from_str(k).ok()) {
        let name = HeaderName::from_static("idempotency-key");
        request.headers.entry(name).or_insert(value);
    }
    tracing::debug!(method = %request.method, url = %request.url, "http:invoke");
    let request = request.into_request()?;
    // For the causes: the URL as sent (a clone of `Uri` shares its bytes).
    let url = request.uri().clone();
    match tokio::time::timeout(timeout, exchange(client, request)).await {
        Err(_) => Err(Failure::new(
            SOCKET_ERROR,
            format!("The HTTP request to '{url}' timed out after {}.", describe(timeout)),
        )),
        Ok(Err(error)) => Err(Failure::new(
            SOCKET_ERROR,
            format!("The HTTP request to '{url}' failed: {}", chain(&*error)),
        )),
        Ok(Ok(response)) => response.into_result(),
    }
}

/// How arrays are written in a URL-encoded body or query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayFormat {
    /// `a[0]=x&a[1]=y`, the default.
    Indices,
    /// `a=x&a=y`.
    Repeat,
    /// `a=x,y`.
    Commas,
    /// `a[]=x&a[]=y`.
    Brackets,
}

/// A validated request, ready to send.
#[derive(Debug)]
struct Request {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

impl Request {
    /// Reads and checks the task's parameters.
    fn parse(parameters: &Value) -> Result<Self, Failure> {
        let Some(fields) = parameters.as_object() else {
            return Err(Failure::runtime(format!(
                "The parameters of an HTTP Task must be an object, but got {}.",
                type_name(parameters)
            )));
        };
        if let Some(unknown) = fields.keys().find(|key| !KNOWN_FIELDS.contains(&key.as_str())) {
            return Err(Failure::runtime(format!(
                "The field '{unknown}' is not supported by an HTTP Task; the supported fields \
                 are {}.",
                KNOWN_FIELDS.join(", ")
            )));
        }

        let mut url = parse_endpoint(fields.get("ApiEndpoint"))?;
        let method = parse_method(fields.get("Method"))?;
        let (url_encoded, array_format) = parse_transform(fields.get("Transform"))?;
        let mut headers = parse_headers(fields.get("Headers"))?;

        if let Some(query) = fields.get("QueryParameters") {
            append_query(&mut url, query, array_format)?;
        }
        take_credentials(&mut url, &mut headers);

        let body = match fields.get("RequestBody") {
            None | Some(Value::Null) => None,
            Some(body) => {
                let (bytes, content_type) = encode_body(body, url_encoded, array_format)?;
                if !headers.contains_key(CONTENT_TYPE) {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                }
                Some(bytes)
            }
        };

        Ok(Self { method, url, headers, body })
    }

    /// The request as hyper sends it. `Accept: */*` unless the task sets `Accept`.
    fn into_request(self) -> Result<hyper::Request<Full<Bytes>>, Failure> {
        let uri = Uri::try_from(String::from(self.url)).map_err(|error| {
            Failure::runtime(format!("The HTTP request could not be built: {error}"))
        })?;
        let mut request =
            hyper::Request::new(Full::new(self.body.map(Bytes::from).unwrap_or_default()));
        *request.method_mut() = self.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers;
        request.headers_mut().entry(ACCEPT).or_insert(HeaderValue::from_static("*/*"));
        Ok(request)
    }
}

/// What came back: everything needed to build the task's result.
#[derive(Debug)]
struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Response {
    /// The task's result on a 2xx status, its failure otherwise.
    fn into_result(self) -> Result<Value, Failure> {
        let mut result = Map::new();
        result.insert("Headers".to_owned(), headers_value(&self.headers));
        result.insert("ResponseBody".to_owned(), body_value(&self.headers, &self.body));
        result.insert("StatusCode".to_owned(), Value::from(self.status.as_u16()));
        result.insert(
            "StatusText".to_owned(),
            Value::from(self.status.canonical_reason().unwrap_or_default()),
        );
        let result = Value::Object(result);
        if self.status.is_success() {
            Ok(result)
        } else {
            Err(Failure::new(
                format!("{STATUS_CODE_ERROR_PREFIX}{}", self.status.as_u16()),
                result.to_string(),
            ))
        }
    }
}

/// Sends the request and reads the whole response.
async fn exchange(
    client: &Client,
    request: hyper::Request<Full<Bytes>>,
) -> Result<Response, Box<dyn std::error::Error + Send + Sync>> {
    let response = client.inner.request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response { status: parts.status, headers: parts.headers, body })
}

/// Checks `ApiEndpoint`: an absolute `http` or `https` URL.
fn parse_endpoint(value: Option<&Value>) -> Result<Url, Failure> {
    let text = match value {
        Some(Value::String(text)) => text,
        Some(other) => {
            return Err(Failure::runtime(format!(
                "The field 'ApiEndpoint' must be a string, but got {}.",
                type_name(other)
            )))
        }
        None => {
            return Err(Failure::runtime("The field 'ApiEndpoint' is required by an HTTP Task."))
        }
    };
    let url = Url::parse(text).map_err(|error| {
        Failure::runtime(format!("The field 'ApiEndpoint' is not a valid URL ({error}): '{text}'."))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Failure::runtime(format!(
            "The field 'ApiEndpoint' must be an http or https URL with a host, but got '{text}'."
        )));
    }
    Ok(url)
}

/// Credentials in the endpoint (`https://user:password@host/`) become HTTP Basic
/// authentication, unless the task sets `Authorization` itself; they are never sent in the
/// URL.
fn take_credentials(url: &mut Url, headers: &mut HeaderMap) {
    if url.username().is_empty() && url.password().is_none() {
        return;
    }
    let decode = |text| percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    let pair = format!("{}:{}", decode(url.username()), decode(url.password().unwrap_or_default()));
    // Only URLs with a host reach here (`parse_endpoint`), and those accept both calls.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
    if let Ok(value) = HeaderValue::from_str(&format!("Basic {encoded}")) {
        headers.entry(hyper::header::AUTHORIZATION).or_insert(value);
    }
}

/// Checks `Method` against the methods an HTTP Task may use.
fn parse_method(value: Option<&Value>) -> Result<Method, Failure> {
    let allowed = METHODS.join(", ");
    match value {
        Some(Value::String(name)) if METHODS.contains(&name.as_str()) => {
            Method::from_bytes(name.as_bytes())
                .map_err(|_| Failure::runtime(format!("The method '{name}' is not valid.")))
        }
        Some(Value::String(name)) => Err(Failure::runtime(format!(
            "The field 'Method' must be one of {allowed}, but got '{name}'."
        ))),
        Some(other) => Err(Failure::runtime(format!(
            "The field 'Method' must be a string (one of {allowed}), but got {}.",
            type_name(other)
        ))),
        None => Err(Failure::runtime("The field 'Method' is required by an HTTP Task.")),
    }
}

/// Reads `Transform`: whether the body is URL-encoded, and how arrays are written.
fn parse_transform(value: Option<&Value>) -> Result<(bool, ArrayFormat), Failure> {
    let transform = match value {
        None | Some(Value::Null) => return Ok((false, ArrayFormat::Indices)),
        Some(Value::Object(transform)) => transform,
        Some(other) => {
            return Err(Failure::runtime(format!(
                "The field 'Transform' must be an object, but got {}.",
                type_name(other)
            )))
        }
    };
    if let Some(unknown) = transform
        .keys()
        .find(|key| !matches!(key.as_str(), "RequestBodyEncoding" | "RequestEncodingOptions"))
    {
        return Err(Failure::runtime(format!(
            "The field 'Transform.{unknown}' is not supported; the supported fields are \
             RequestBodyEncoding and RequestEncodingOptions."
        )));
    }
    let url_encoded = match transform.get("RequestBodyEncoding") {
        None => false,
        Some(Value::String(encoding)) if encoding == "NONE" => false,
        Some(Value::String(encoding)) if encoding == "URL_ENCODED" => true,
        Some(other) => {
            return Err(Failure::runtime(format!(
                "The field 'Transform.RequestBodyEncoding' must be NONE or URL_ENCODED, but got \
                 {other}."
            )))
        }
    };
    let format = match transform.get("RequestEncodingOptions") {
        None | Some(Value::Null) => ArrayFormat::Indices,
        Some(Value::Object(options)) => match options.get("ArrayFormat") {
            None => ArrayFormat::Indices,
            Some(Value::String(format)) if format == "INDICES" => ArrayFormat::Indices,
            Some(Value::String(format)) if format == "REPEAT" => ArrayFormat::Repeat,
            Some(Value::String(format)) if format == "COMMAS" => ArrayFormat::Commas,
            Some(Value::String(format)) if format == "BRACKETS" => ArrayFormat::Brackets,
            Some(other) => {
                return Err(Failure::runtime(format!(
                    "The field 'Transform.RequestEncodingOptions.ArrayFormat' must be INDICES, \
                     REPEAT, COMMAS or BRACKETS, but got {other}."
                )))
            }
        },
        Some(other) => {
            return Err(Failure::runtime(format!(
                "The field 'Transform.RequestEncodingOptions' must be an object, but got {}.",
                type_name(other)
            )))
        }
    };
    Ok((url_encoded, format))
}

/// Reads `Headers` into a header map, rejecting names and values HTTP cannot carry.
fn parse_headers(value: Option<&Value>) -> Result<HeaderMap, Failure> {
    let mut headers = HeaderMap::new();
    let fields = match value {
        None | Some(Value::Null) => return Ok(headers),
        Some(Value::Object(fields)) => fields,
        Some(other) => {
            return Err(Failure::runtime(format!(
                "The field 'Headers' must be an object, but got {}.",
                type_name(other)
            )))
        }
    };
    for (name, value) in fields {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            other => {
                return Err(Failure::runtime(format!(
                    "The value of the header '{name}' must be a string, but got {}.",
                    type_name(other)
                )))
            }
        };
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Failure::runtime(format!("The header name '{name}' is not a valid HTTP header name."))
        })?;
        if RESERVED_HEADERS.contains(&header.as_str()) {
            return Err(Failure::runtime(format!(
                "The header '{name}' cannot be set by an HTTP Task; the HTTP client manages it."
            )));
        }
        let header_value = HeaderValue::from_str(&text).map_err(|_| {
            Failure::runtime(format!(
                "The value of the header '{name}' is not a valid HTTP header value."
            ))
        })?;
        headers.append(header, header_value);
    }
    Ok(headers)
}

/// Appends `QueryParameters` to the endpoint's query string.
fn append_query(url: &mut Url, query: &Value, format: ArrayFormat) -> Result<(), Failure> {
    let fields = match query {
        Value::Null => return Ok(()),
        Value::Object(fields) => fields,
        other => {
            return Err(Failure::runtime(format!(
                "The field 'QueryParameters' must be an object, but got {}.",
                type_name(other)
            )))
        }
    };
    let encoded = url_encode(fields, format);
    if encoded.is_empty() {
        return Ok(());
    }
    let query = match url.query() {
        Some(existing) if !existing.is_empty() => format!("{existing}&{encoded}"),
        _ => encoded,
    };
    url.set_query(Some(&query));
    Ok(())
}

/// Serializes `RequestBody`, returning its bytes and the content type it goes with by default.
fn encode_body(
    body: &Value,
    url_encoded: bool,
    format: ArrayFormat,
) -> Result<(Vec<u8>, &'static str), Failure> {
    match body {
        Value::String(text) if url_encoded => Ok((text.clone().into_bytes(), FORM_CONTENT_TYPE)),
        Value::Object(fields) if url_encoded => {
            Ok((url_encode(fields, format).into_bytes(), FORM_CONTENT_TYPE))
        }
        other if url_encoded => Err(Failure::runtime(format!(
            "A URL_ENCODED 'RequestBody' must be an object or a string, but got {}.",
            type_name(other)
        ))),
        Value::String(text) => Ok((text.clone().into_bytes(), JSON_CONTENT_TYPE)),
        other => Ok((other.to_string().into_bytes(), JSON_CONTENT_TYPE)),
    }
}

/// Writes an object as `application/x-www-form-urlencoded` pairs.
fn url_encode(fields: &Map<String, Value>, format: ArrayFormat) -> String {
    let mut pairs = Vec::new();
    for (key, value) in fields {
        flatten(key.clone(), value, format, &mut pairs);
    }
    let mut encoded = String::new();
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            encoded.push('&');
        }
        percent_encode(key, &mut encoded);
        encoded.push('=');
        percent_encode(value, &mut encoded);
    }
    encoded
}

/// Flattens one value under `key` into key/value pairs: objects become `key[child]`, and arrays
/// follow `format`.
fn flatten(key: String, value: &Value, format: ArrayFormat, pairs: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (child, value) in fields {
                flatten(format!("{key}[{child}]"), value, format, pairs);
            }
        }
        Value::Array(items) => match format {
            ArrayFormat::Indices => {
                for (index, item) in items.iter().enumerate() {
                    flatten(format!("{key}[{index}]"), item, format, pairs);
                }
            }
            ArrayFormat::Repeat => {
                for item in items {
                    flatten(key.clone(), item, format, pairs);
                }
            }
            ArrayFormat::Brackets => {
                for item in items {
                    flatten(format!("{key}[]"), item, format, pairs);
                }
            }
            ArrayFormat::Commas if items.is_empty() => {}
            ArrayFormat::Commas => {
                let joined = items.iter().map(scalar_text).collect::<Vec<_>>().join(",");
                pairs.push((key, joined));
            }
        },
        scalar => pairs.push((key, scalar_text(scalar))),
    }
}

/// The text of a value in a URL-encoded pair: strings as they are, `null` as nothing, and
/// anything else as its JSON text.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Percent-encodes `text` as the `application/x-www-form-urlencoded` serializer does: ASCII
/// letters, digits and `*-._` stay, a space becomes `+`, and every other byte is `%XX`.
fn percent_encode(text: &str, out: &mut String) {
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
}

/// The response headers as AWS returns them: lower-case names, each with an array of values.
fn headers_value(headers: &HeaderMap) -> Value {
    let mut object = Map::new();
    for name in headers.keys() {
        let values = headers
            .get_all(name)
            .iter()
            .map(|value| Value::from(String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        object.insert(name.as_str().to_owned(), Value::Array(values));
    }
    Value::Object(object)
}

/// The response body: parsed JSON for a JSON content type, its text otherwise.
fn body_value(headers: &HeaderMap, body: &[u8]) -> Value {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            let media = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            media == JSON_CONTENT_TYPE || media.ends_with("+json")
        })
        .unwrap_or(false);
    if is_json {
        if let Ok(parsed) = serde_json::from_slice(body) {
            return parsed;
        }
    }
    Value::from(String::from_utf8_lossy(body).into_owned())
}

/// An error's message followed by the messages of its sources.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// A timeout as people write it: `200 ms`, `60 s`.
fn describe(timeout: Duration) -> String {
    if timeout.subsec_millis() == 0 && timeout.as_secs() > 0 {
        format!("{} s", timeout.as_secs())
    } else {
        format!("{} ms", timeout.as_millis())
    }
}

/// The JSON type of a value, for causes.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::body::Body;
    use axum::extract::Request as AxumRequest;
    use axum::http::{header, StatusCode as AxumStatus};
    use axum::response::{AppendHeaders, IntoResponse, Response as AxumResponse};
    use axum::routing::any;
    use axum::{Json, Router};
    use serde_json::json;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// Echoes the request back as JSON: method, raw query, headers and body text.
    async fn echo(request: AxumRequest) -> AxumResponse {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("the request body is read");
        let mut headers = Map::new();
        for name in parts.headers.keys() {
            let values: Vec<&str> = parts
                .headers
                .get_all(name)
                .iter()
                .map(|value| value.to_str().expect("a text header"))
                .collect();
            headers.insert(name.as_str().to_owned(), Value::from(values.join(", ")));
        }
        let echoed = json!({
            "method": parts.method.as_str(),
            "query": parts.uri.query(),
            "headers": headers,
            "body": String::from_utf8(bytes.to_vec()).expect("a text body"),
        });
        (
            AppendHeaders([
                ("x-method", parts.method.as_str().to_owned()),
                ("x-multi", "one".to_owned()),
                ("x-multi", "two".to_owned()),
            ]),
            Json(echoed),
        )
            .into_response()
    }

    fn router() -> Router {
        Router::new()
            .route("/echo", any(echo))
            .route("/text", any(|| async { "hello" }))
            .route(
                "/not-json",
                any(|| async { ([(header::CONTENT_TYPE, "application/json")], "not json {") }),
            )
            .route(
                "/missing",
                any(|| async { (AxumStatus::NOT_FOUND, Json(json!({"message": "nope"}))) }),
            )
            .route("/boom", any(|| async { (AxumStatus::INTERNAL_SERVER_ERROR, "boom") }))
            .route(
                "/moved",
                any(|| async {
                    AxumResponse::builder()
                        .status(AxumStatus::FOUND)
                        .header(header::LOCATION, "/echo")
                        .body(Body::empty())
                        .expect("a redirect response")
                }),
            )
            .route(
                "/slow",
                any(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "late"
                }),
            )
    }

    /// Starts the test server on a loopback port and returns its base URL.
    async fn serve() -> String {
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port is bound");
        let address = listener.local_addr().expect("the bound address");
        tokio::spawn(async move {
            axum::serve(listener, router()).await.expect("the test server runs");
        });
        format!("http://{address}")
    }

    fn client() -> Client {
        Client::new().expect("a client")
    }

    async fn call(parameters: Value) -> Result<Value, Failure> {
        invoke(&client(), &parameters, TIMEOUT).await
    }

    /// The echoed request in a successful result.
    fn echoed(result: &Value) -> &Value {
        &result["ResponseBody"]
    }

    #[tokio::test]
    async fn get_sends_headers_and_query_and_returns_the_aws_result_shape() {
        let base = serve().await;
        let result = call(json!({
            "ApiEndpoint": format!("{base}/echo?fixed=1"),
            "Method": "GET",
            "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:1:connection/c/1"},
            "Headers": {"X-Api-Key": "secret", "Accept": "application/json", "X-Count": 3},
            "QueryParameters": {"q": "a b&c", "n": 3, "flag": true, "name": "é"},
        }))
        .await
        .expect("a 200 succeeds");

        let request = echoed(&result);
        assert_eq!(request["method"], "GET");
        assert_eq!(request["query"], "fixed=1&q=a+b%26c&n=3&flag=true&name=%C3%A9");
        assert_eq!(request["headers"]["x-api-key"], "secret");
        assert_eq!(request["headers"]["accept"], "application/json");
        assert_eq!(request["headers"]["x-count"], "3");
        assert_eq!(request["body"], "");
        assert!(request["headers"].get("content-type").is_none(), "no body, no content type");

        assert_eq!(result["StatusCode"], 200);
        assert_eq!(result["StatusText"], "OK");
        let keys: Vec<&str> = result.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["Headers", "ResponseBody", "StatusCode", "StatusText"]);

        let headers = result["Headers"].as_object().expect("headers are an object");
        assert_eq!(headers["x-multi"], json!(["one", "two"]));
        assert_eq!(headers["content-type"], json!(["application/json"]));
        assert_eq!(headers["x-method"], json!(["GET"]));
        for (name, values) in headers {
            assert_eq!(name, &name.to_ascii_lowercase());
            let values = values.as_array().expect("every header value is an array");
            assert!(values.iter().all(Value::is_string), "{name}: {values:?}");
        }
    }

    #[tokio::test]
    async fn every_method_reaches_the_server() {
        let base = serve().await;
        for method in METHODS {
            let result = call(json!({"ApiEndpoint": format!("{base}/echo"), "Method": method}))
                .await
                .unwrap_or_else(|failure| panic!("{method}: {failure}"));
            assert_eq!(result["Headers"]["x-method"], json!([method]));
            if method == "HEAD" {
                assert_eq!(result["ResponseBody"], "", "a HEAD response has no body");
            } else {
                assert_eq!(result["ResponseBody"]["method"], method);
            }
        }
    }

    #[tokio::test]
    async fn query_arrays_follow_the_array_format() {
        let base = serve().await;
        let cases = [
            (None, "tags%5B0%5D=a&tags%5B1%5D=b&page%5Bsize%5D=10"),
            (Some("INDICES"), "tags%5B0%5D=a&tags%5B1%5D=b&page%5Bsize%5D=10"),
            (Some("REPEAT"), "tags=a&tags=b&page%5Bsize%5D=10"),
            (Some("COMMAS"), "tags=a%2Cb&page%5Bsize%5D=10"),
            (Some("BRACKETS"), "tags%5B%5D=a&tags%5B%5D=b&page%5Bsize%5D=10"),
        ];
        for (format, expected) in cases {
            let mut parameters = json!({
                "ApiEndpoint": format!("{base}/echo"),
                "Method": "GET",
                "QueryParameters": {"tags": ["a", "b"], "page": {"size": 10}},
            });
            if let Some(format) = format {
                parameters["Transform"] =
                    json!({"RequestEncodingOptions": {"ArrayFormat": format}});
            }
            let result = call(parameters).await.expect("a 200 succeeds");
            assert_eq!(echoed(&result)["query"], expected, "{format:?}");
        }
    }

    #[tokio::test]
    async fn a_json_body_is_sent_as_json() {
        let base = serve().await;
        let body = json!({"name": "Ada", "tags": [1, 2], "nested": {"ok": true}, "none": null});
        let result = call(json!({
            "ApiEndpoint": format!("{base}/echo"),
            "Method": "POST",
            "RequestBody": body,
        }))
        .await
        .expect("a 200 succeeds");
        let request = echoed(&result);
        assert_eq!(request["method"], "POST");
        assert_eq!(request["headers"]["content-type"], "application/json");
        let sent: Value =
            serde_json::from_str(request["body"].as_str().unwrap()).expect("the body is JSON");
        assert_eq!(sent, body);
    }

    #[tokio::test]
    async fn a_string_body_is_sent_as_is_with_the_caller_content_type() {
        let base = serve().await;
        let result = call(json!({
            "ApiEndpoint": format!("{base}/echo"),
            "Method": "PUT",
            "Headers": {"Content-Type": "text/plain"},
            "RequestBody": "plain \"text\"",
        }))
        .await
        .expect("a 200 succeeds");
        let request = echoed(&result);
        assert_eq!(request["method"], "PUT");
        assert_eq!(request["headers"]["content-type"], "text/plain");
        assert_eq!(request["body"], "plain \"text\"");
    }

    #[tokio::test]
    async fn a_url_encoded_body_follows_the_array_format() {
        let base = serve().await;
        let cases = [
            ("INDICES", "a=x+y&list%5B0%5D=1&list%5B1%5D=2&nested%5Bk%5D=v&n=5"),
            ("REPEAT", "a=x+y&list=1&list=2&nested%5Bk%5D=v&n=5"),
            ("COMMAS", "a=x+y&list=1%2C2&nested%5Bk%5D=v&n=5"),
            ("BRACKETS", "a=x+y&list%5B%5D=1&list%5B%5D=2&nested%5Bk%5D=v&n=5"),
        ];
        for (format, expected) in cases {
            let result = call(json!({
                "ApiEndpoint": format!("{base}/echo"),
                "Method": "POST",
                "RequestBody": {"a": "x y", "list": ["1", "2"], "nested": {"k": "v"}, "n": 5},
                "Transform": {
                    "RequestBodyEncoding": "URL_ENCODED",
                    "RequestEncodingOptions": {"ArrayFormat": format},
                },
            }))
            .await
            .expect("a 200 succeeds");
            let request = echoed(&result);
            assert_eq!(request["headers"]["content-type"], "application/x-www-form-urlencoded");
            assert_eq!(request["body"], expected, "{format}");
        }
    }

    #[tokio::test]
    async fn a_text_response_body_stays_a_string() {
        let base = serve().await;
        let result = call(json!({"ApiEndpoint": format!("{base}/text"), "Method": "GET"}))
            .await
            .expect("a 200 succeeds");
        assert_eq!(result["ResponseBody"], "hello");
        assert_eq!(result["Headers"]["content-type"], json!(["text/plain; charset=utf-8"]));

        let result = call(json!({"ApiEndpoint": format!("{base}/not-json"), "Method": "GET"}))
            .await
            .expect("a 200 succeeds");
        assert_eq!(result["ResponseBody"], "not json {", "invalid JSON is kept as text");
    }

    #[tokio::test]
    async fn a_404_fails_with_its_status_code_and_the_result_as_cause() {
        let base = serve().await;
        let failure = call(json!({"ApiEndpoint": format!("{base}/missing"), "Method": "GET"}))
            .await
            .expect_err("a 404 fails");
        assert_eq!(failure.error_name(), "States.Http.StatusCode.404");
        let cause: Value = serde_json::from_str(failure.cause.as_deref().expect("a cause"))
            .expect("the cause is JSON");
        assert_eq!(cause["StatusCode"], 404);
        assert_eq!(cause["StatusText"], "Not Found");
        assert_eq!(cause["ResponseBody"], json!({"message": "nope"}));
        assert_eq!(cause["Headers"]["content-type"], json!(["application/json"]));
    }

    #[tokio::test]
    async fn a_500_fails_with_its_status_code_and_the_result_as_cause() {
        let base = serve().await;
        let failure = call(json!({
            "ApiEndpoint": format!("{base}/boom"),
            "Method": "POST",
            "RequestBody": {"x": 1},
        }))
        .await
        .expect_err("a 500 fails");
        assert_eq!(failure.error_name(), "States.Http.StatusCode.500");
        let cause: Value = serde_json::from_str(failure.cause.as_deref().unwrap()).unwrap();
        assert_eq!(cause["StatusCode"], 500);
        assert_eq!(cause["StatusText"], "Internal Server Error");
        assert_eq!(cause["ResponseBody"], "boom");
    }

    #[tokio::test]
    async fn a_redirect_is_reported_not_followed() {
        let base = serve().await;
        let failure = call(json!({"ApiEndpoint": format!("{base}/moved"), "Method": "GET"}))
            .await
            .expect_err("a 302 fails when the client follows no redirects");
        assert_eq!(failure.error_name(), "States.Http.StatusCode.302");
        let cause: Value = serde_json::from_str(failure.cause.as_deref().unwrap()).unwrap();
        assert_eq!(cause["Headers"]["location"], json!(["/echo"]));
        assert_eq!(cause["StatusText"], "Found");
    }

    /// The cause of a `States.Http.Socket` failure of a request to `endpoint`.
    fn socket_failure_cause(failure: Failure, endpoint: &str) -> String {
        assert_eq!(failure.error_name(), "States.Http.Socket");
        let cause = failure.cause.expect("a cause");
        assert!(
            cause.starts_with(&format!("The HTTP request to '{endpoint}' failed: ")),
            "{cause}"
        );
        cause
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_socket_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().unwrap();
        drop(listener);
        let endpoint = format!("http://{address}/echo");
        let failure = call(json!({"ApiEndpoint": endpoint, "Method": "GET"}))
            .await
            .expect_err("nothing listens");
        let cause = socket_failure_cause(failure, &endpoint);
        assert!(cause.to_ascii_lowercase().contains("connect"), "{cause}");
    }

    #[tokio::test]
    async fn a_slow_server_is_a_socket_failure_after_the_timeout() {
        let base = serve().await;
        let started = Instant::now();
        let failure = invoke(
            &client(),
            &json!({"ApiEndpoint": format!("{base}/slow"), "Method": "GET"}),
            Duration::from_millis(200),
        )
        .await
        .expect_err("the server answers too late");
        let elapsed = started.elapsed();
        assert_eq!(failure.error_name(), "States.Http.Socket");
        assert_eq!(
            failure.cause.as_deref(),
            Some(format!("The HTTP request to '{base}/slow' timed out after 200 ms.").as_str())
        );
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    #[tokio::test]
    async fn an_https_endpoint_is_checked_against_the_trusted_roots() {
        use std::sync::Arc;
        // A server with a certificate no trusted root signed: the task fails in the
        // handshake, before anything is sent.
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("certificate parameters")
            .self_signed(&key)
            .expect("a self-signed certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("a server configuration");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("the address").port();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("the task connects");
            acceptor.accept(tcp).await.is_ok()
        });

        let endpoint = format!("https://127.0.0.1:{port}/");
        let failure = call(json!({"ApiEndpoint": endpoint, "Method": "GET"}))
            .await
            .expect_err("an untrusted certificate is refused");
        let cause = socket_failure_cause(failure, &endpoint);
        assert!(cause.contains("certificate"), "{cause}");
        assert!(!server.await.expect("the server task"), "the handshake did not complete");
    }

    #[tokio::test]
    async fn credentials_in_the_endpoint_become_basic_authentication() {
        let base = serve().await;
        let with_user = base.replacen("http://", "http://ann:p%40ss%20w@", 1);
        let result = call(json!({"ApiEndpoint": format!("{with_user}/echo"), "Method": "GET"}))
            .await
            .expect("a 200 succeeds");
        // "ann:p@ss w" in base64.
        assert_eq!(echoed(&result)["headers"]["authorization"], "Basic YW5uOnBAc3Mgdw==");

        // The task's own Authorization header wins.
        let result = call(json!({
            "ApiEndpoint": format!("{with_user}/echo"),
            "Method": "GET",
            "Headers": {"Authorization": "Bearer t"},
        }))
        .await
        .expect("a 200 succeeds");
        assert_eq!(echoed(&result)["headers"]["authorization"], "Bearer t");
    }

    /// A valid GET to a loopback address, with `extra` fields added.
    fn get_with(extra: Value) -> Value {
        let mut parameters = json!({"ApiEndpoint": "http://127.0.0.1/", "Method": "GET"});
        for (key, value) in extra.as_object().expect("extra fields are an object") {
            parameters[key] = value.clone();
        }
        parameters
    }

    #[tokio::test]
    async fn invalid_parameters_fail_with_states_runtime() {
        let cases = [
            (json!("GET http://x"), "must be an object"),
            (json!({"Method": "GET"}), "'ApiEndpoint' is required"),
            (json!({"ApiEndpoint": 5, "Method": "GET"}), "'ApiEndpoint' must be a string"),
            (json!({"ApiEndpoint": "not a url", "Method": "GET"}), "not a valid URL"),
            (json!({"ApiEndpoint": "ftp://host/x", "Method": "GET"}), "http or https URL"),
            (json!({"ApiEndpoint": "http://127.0.0.1/"}), "'Method' is required"),
            (json!({"ApiEndpoint": "http://127.0.0.1/", "Method": "FETCH"}), "must be one of"),
            (json!({"ApiEndpoint": "http://127.0.0.1/", "Method": "get"}), "must be one of"),
            (get_with(json!({"Header": {}})), "'Header' is not supported"),
            (get_with(json!({"Headers": []})), "'Headers' must be an object"),
            (get_with(json!({"Headers": {"X": {}}})), "header 'X' must be a string"),
            (get_with(json!({"Headers": {"a b": "x"}})), "not a valid HTTP header name"),
            (get_with(json!({"Headers": {"X": "a\nb"}})), "not a valid HTTP header value"),
            (get_with(json!({"Headers": {"Host": "x"}})), "cannot be set"),
            (get_with(json!({"QueryParameters": "a=1"})), "'QueryParameters' must be an object"),
            (
                get_with(json!({"Transform": {"RequestBodyEncoding": "BASE64"}})),
                "NONE or URL_ENCODED",
            ),
            (
                get_with(json!({
                    "Transform": {"RequestEncodingOptions": {"ArrayFormat": "PIPES"}},
                })),
                "INDICES, REPEAT, COMMAS or BRACKETS",
            ),
            (
                json!({"ApiEndpoint": "http://127.0.0.1/", "Method": "POST", "RequestBody": [1],
                       "Transform": {"RequestBodyEncoding": "URL_ENCODED"}}),
                "must be an object or a string",
            ),
        ];
        for (parameters, expected) in cases {
            let failure = call(parameters.clone()).await.expect_err("invalid parameters fail");
            assert_eq!(failure.error_name(), "States.Runtime", "{parameters}");
            let cause = failure.cause.expect("a cause");
            assert!(cause.contains(expected), "{parameters}: {cause}");
        }
    }

    #[test]
    fn url_encoding_handles_nesting_nulls_and_empty_arrays() {
        let fields = json!({
            "deep": {"list": [{"id": 1}, {"id": 2}]},
            "empty": [],
            "nothing": null,
            "symbols": "*-._~!",
        });
        let fields = fields.as_object().unwrap();
        assert_eq!(
            url_encode(fields, ArrayFormat::Indices),
            "deep%5Blist%5D%5B0%5D%5Bid%5D=1&deep%5Blist%5D%5B1%5D%5Bid%5D=2\
             &nothing=&symbols=*-._%7E%21"
        );
        assert_eq!(
            url_encode(fields, ArrayFormat::Brackets),
            "deep%5Blist%5D%5B%5D%5Bid%5D=1&deep%5Blist%5D%5B%5D%5Bid%5D=2\
             &nothing=&symbols=*-._%7E%21"
        );
        assert_eq!(
            url_encode(json!({"c": [1, "a b", true]}).as_object().unwrap(), ArrayFormat::Commas),
            "c=1%2Ca+b%2Ctrue"
        );
    }
}
