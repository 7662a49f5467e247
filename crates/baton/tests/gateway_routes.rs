//! The gateway's `[[routes]]` through the real binary: a reverse proxy to an upstream
//! served by the test, collections under other paths, workflows (sync and async) and
//! functions behind routes, 405s, the body limit, and routes refused at start.

mod support;

use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{json, Value};
use support::{temp_dir, test_function, Baton};

/// An upstream that echoes what it received as JSON; `/v1/slow` answers after 3 s and
/// `/v1/moved` redirects.
async fn upstream() -> String {
    async fn echo(req: Request) -> axum::response::Response {
        let path = req.uri().path().to_owned();
        if path.ends_with("/slow") {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        if path.ends_with("/moved") {
            return (StatusCode::FOUND, [("location", "/elsewhere")]).into_response();
        }
        let headers: serde_json::Map<String, Value> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or("?"))))
            .collect();
        let method = req.method().to_string();
        let query = req.uri().query().map(str::to_owned);
        let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
        let out = json!({
            "method": method, "path": path, "query": query, "headers": headers,
            "body": String::from_utf8_lossy(&body),
        });
        (StatusCode::IM_A_TEAPOT, [("x-upstream", "yes")], axum::Json(out)).into_response()
    }
    let app = axum::Router::new().fallback(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_routes_proxy_with_forwarding_headers_and_timeouts() {
    let up = upstream().await;
    let data = temp_dir("gw-proxy");
    let toml = format!(
        r#"
[[routes]]
path = "/api/echo/**"
upstream = "{up}/v1/{{**}}"
timeout_seconds = 0.5

[[routes]]
path = "/svc/**"
methods = ["GET", "POST"]
upstream = "{up}"

[[routes]]
path = "/down/**"
upstream = "http://127.0.0.1:{closed}"
"#,
        closed = closed_port()
    );
    let b = Baton::start_with_config(&data, &toml);
    let c = client();
    let base = format!("http://{}", b.addr);

    let r = c
        .post(format!("{base}/api/echo/users/7?size=s&x=1"))
        .header("x-request-id", "trace-1")
        .header("x-baton-subject", "spoofed-admin")
        .header("connection", "keep-alive, x-private")
        .header("x-private", "hop")
        .header("x-forwarded-for", "10.1.2.3")
        .body("hello upstream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 418, "the upstream's status is passed on");
    assert_eq!(r.headers()["x-upstream"], "yes");
    assert_eq!(r.headers()["x-request-id"], "trace-1");
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/v1/users/7");
    assert_eq!(echo["query"], "size=s&x=1");
    assert_eq!(echo["body"], "hello upstream");
    let h = &echo["headers"];
    assert_eq!(h["x-request-id"], "trace-1", "the request id goes upstream");
    assert_eq!(h["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
    assert_eq!(h["x-forwarded-host"], b.addr.as_str());
    assert_eq!(h["x-forwarded-proto"], "http");
    assert!(h.get("x-baton-subject").is_none(), "a client cannot pose as someone: {h}");
    assert!(h.get("x-private").is_none(), "headers named by Connection stay behind: {h}");

    // A base URL gets the whole path; methods are checked.
    let r = c.get(format!("{base}/svc/orders/1")).send().await.unwrap();
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["path"], "/svc/orders/1");
    let r = c.delete(format!("{base}/svc/orders/1")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD, POST");

    // Redirects reach the client; slow and absent upstreams are 504 and 502.
    let r = c.get(format!("{base}/api/echo/moved")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
        (302, "/elsewhere")
    );
    let started = Instant::now();
    let r = c.get(format!("{base}/api/echo/slow")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < Duration::from_millis(2500), "{:?}", started.elapsed());
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "upstream_timeout");
    let r = c.get(format!("{base}/down/x")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "upstream_unreachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_routes_serve_a_collection_under_another_path() {
    let data = temp_dir("gw-collection");
    let toml = r#"
[collections.students]

[limits]
max_request_bytes = 2000

[[routes]]
path = "/api/students"
collection = "students"

[[routes]]
path = "/api/students/{sid}"
methods = ["GET", "PUT", "DELETE"]
collection = "students"
"#;
    let b = Baton::start_with_config(&data, toml);
    let c = client();
    let base = format!("http://{}", b.addr);
    let r = c
        .post(format!("{base}/api/students"))
        .header("content-type", "application/json")
        .body(r#"{"id": "s 1", "name": "Ada"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], "/api/students/s%201");
    let etag = r.headers()["etag"].clone();
    let r = c.get(format!("{base}/api/students/s%201")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], etag);
    // The same document at the collection's own path.
    let r = c.get(format!("{base}/students/s%201")).header("if-none-match", etag).send();
    assert_eq!(r.await.unwrap().status(), 304);
    let r = c.get(format!("{base}/api/students")).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["items"][0]["name"], "Ada");
    // PATCH is not routed; bodies over the limit are refused.
    let r = c.patch(format!("{base}/api/students/s%201")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let big = json!({"id": "s2", "bio": "x".repeat(3000)}).to_string();
    let r = c
        .post(format!("{base}/api/students"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "payload_too_large");
    let r = c.get(format!("{base}/nothing/here/at/all")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_routes_answer_with_the_output_or_a_location_to_poll() {
    let data = temp_dir("gw-workflow");
    let toml = r#"
[[routes]]
path = "/api/students/{id}/full"
methods = ["GET"]
workflow = "FullInfo"

[[routes]]
path = "/api/missing/{id}"
workflow = "FullInfo"

[[routes]]
path = "/api/fails"
workflow = "Fails"

[[routes]]
path = "/api/gone"
workflow = "NotCreated"

[[routes]]
path = "/api/onboard"
methods = ["POST"]
workflow = "Onboard"
mode = "async"
"#;
    let b = Baton::start_with_config(&data, toml);
    // The output is the answer; a `statusCode` makes it an HTTP answer of its own.
    let full = json!({"StartAt": "Look", "States": {
        "Look": {"Type": "Choice", "Choices": [
            {"Variable": "$.params.id", "StringEquals": "404", "Next": "NotFound"}],
            "Default": "Found"},
        "Found": {"Type": "Pass", "End": true, "Parameters": {
            "id.$": "$.params.id", "method.$": "$.method", "q.$": "$.query.fields",
            "requestId.$": "$.requestId"}},
        "NotFound": {"Type": "Pass", "End": true,
            "Result": {"statusCode": 404, "headers": {"x-why": "no such student"},
                       "body": {"code": "not_found"}}}
    }});
    b.machine("FullInfo", full, "EXPRESS").await;
    let fails = json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Broken", "Cause": "on purpose"}}});
    b.machine("Fails", fails, "EXPRESS").await;
    let onboard = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
        "Done": {"Type": "Pass", "End": true, "Parameters": {"welcomed.$": "$.body.name"}}}});
    b.machine("Onboard", onboard, "STANDARD").await;

    let c = client();
    let base = format!("http://{}", b.addr);
    let r = c
        .get(format!("{base}/api/students/7/full?fields=all"))
        .header("x-request-id", "req-7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"id": "7", "method": "GET", "q": "all", "requestId": "req-7"}));
    let r = c.get(format!("{base}/api/students/404/full")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-why"], "no such student");
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"code": "not_found"}));
    let r = c.get(format!("{base}/api/fails")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["code"].as_str(), v["error"].as_str()),
        (Some("workflow_failed"), Some("Broken"))
    );
    let r = c.get(format!("{base}/api/gone")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "workflow_not_found");

    // Async: 202 and a Location to poll until the Standard execution ends.
    let r = c
        .post(format!("{base}/api/onboard"))
        .header("content-type", "application/json")
        .body(r#"{"name": "Ada"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/executions/arn:aws:states:"), "{location}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        let r = c.get(format!("{base}{location}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let running = r.headers().contains_key("retry-after");
        let v: Value = r.json().await.unwrap();
        if v["status"] != "RUNNING" {
            assert!(!running);
            break v;
        }
        assert!(running, "a running execution says when to poll again");
        assert!(Instant::now() < deadline, "still running: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(done["output"], json!({"welcomed": "Ada"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_routes_get_api_gateway_events_and_answer_as_api_gateway() {
    let data = temp_dir("gw-function");
    let f = test_function();
    let answer = json!({"statusCode": 201, "headers": {"x-made": "yes"},
                        "cookies": ["a=1; Path=/"], "body": "made"});
    let toml = format!(
        r#"
[functions.echo]
command = {f:?}
env = {{ BATON_TEST_BEHAVIOUR = "identity" }}

[functions.maker]
command = {f:?}
env = {{ BATON_TEST_BEHAVIOUR = "constant", CONSTANT = {answer:?} }}

[functions.broken]
command = {f:?}
env = {{ BATON_TEST_BEHAVIOUR = "raise" }}

[[routes]]
path = "/api/echo/{{id}}"
function = "echo"

[[routes]]
path = "/api/make"
function = "maker"

[[routes]]
path = "/api/broken"
function = "broken"
"#,
        answer = answer.to_string()
    );
    let b = Baton::start_with_config(&data, &toml);
    let c = client();
    let base = format!("http://{}", b.addr);
    let r = c
        .post(format!("{base}/api/echo/42?a=1&a=2"))
        .header("cookie", "s=abc; t=def")
        .header("content-type", "application/json")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a result without statusCode is a 200 with that JSON");
    let event: Value = r.json().await.unwrap();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "POST /api/echo/42");
    assert_eq!(event["rawPath"], "/api/echo/42");
    assert_eq!(event["rawQueryString"], "a=1&a=2");
    assert_eq!(event["queryStringParameters"], json!({"a": "1,2"}));
    assert_eq!(event["pathParameters"], json!({"id": "42"}));
    assert_eq!(event["cookies"], json!(["s=abc", "t=def"]));
    assert_eq!(event["body"], r#"{"hello":"world"}"#);
    assert_eq!(event["isBase64Encoded"], false);
    assert_eq!(event["requestContext"]["http"]["method"], "POST");
    assert_eq!(event["requestContext"]["http"]["sourceIp"], "127.0.0.1");

    let r = c.get(format!("{base}/api/make")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-made"], "yes");
    assert_eq!(r.headers()["set-cookie"], "a=1; Path=/");
    assert_eq!(r.text().await.unwrap(), "made");

    let r = c.get(format!("{base}/api/broken")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "function_failed");
}

#[test]
fn routes_that_cannot_work_stop_the_start() {
    for (toml, expected) in [
        ("[[routes]]\npath = \"/topics/x\"\nfunction = \"f\"\n", "Baton's own"),
        ("[[routes]]\npath = \"/x\"\ncollection = \"nope\"\n", "not declared"),
        ("[[routes]]\npath = \"/x\"\nfunction = \"nope\"\n", "not declared"),
        ("[[routes]]\npath = \"/x\"\n", "give one target"),
        ("[[routes]]\npath = \"/x\"\nupstream = \"ftp://h\"\n", "http"),
    ] {
        let data = temp_dir("gw-invalid");
        let file = data.join("baton.toml");
        std::fs::write(&file, toml).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["up", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{toml}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{toml}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_routes_serve_a_directory_with_validators_and_cache_control() {
    let data = temp_dir("gw-static");
    let public = data.join("public");
    std::fs::create_dir_all(public.join("assets")).unwrap();
    std::fs::write(public.join("index.html"), "<h1>Baton</h1>").unwrap();
    std::fs::write(public.join("assets/app.js"), "console.log('hi');").unwrap();
    let toml = format!(
        r#"
[[routes]]
path = "/**"
methods = ["GET"]
static = {public:?}
cache_control = {{ "/**" = "no-cache", "/assets/**" = "public, max-age=31536000, immutable" }}
"#,
        public = public.display().to_string()
    );
    let b = Baton::start_with_config(&data, &toml);
    let c = client();
    let base = format!("http://{}", b.addr);
    let r = c.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(r.text().await.unwrap(), "<h1>Baton</h1>");
    let r = c.get(format!("{base}/assets/app.js")).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
    let etag = r.headers()["etag"].clone();
    let r = c.get(format!("{base}/assets/app.js")).header("if-none-match", etag).send();
    assert_eq!(r.await.unwrap().status(), 304);
    let r = c.get(format!("{base}/assets/app.js")).header("range", "bytes=0-6").send();
    let r = r.await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.text().await.unwrap(), "console");
    // Baton's own paths still come first.
    assert_eq!(c.get(format!("{base}/health")).send().await.unwrap().status(), 200);
    assert_eq!(c.post(format!("{base}/assets/app.js")).send().await.unwrap().status(), 405);
}
