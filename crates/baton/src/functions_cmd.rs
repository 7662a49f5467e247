//! `baton functions`: invoke a function of a running Baton and read its log, over the
//! Lambda API; and the bridge that lets workflows' Lambda tasks invoke the functions.

use std::time::Duration;

use crate::api_client::{call, encode};
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use clap::{Args, Subcommand};
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::Value;
use workflows::lambda::{Call, InvokeFailure, Invoked, Invoker};

#[derive(Debug, Args)]
pub(crate) struct FunctionsArgs {
    /// The Baton to talk to.
    #[arg(long, env = "BATON_ENDPOINT", default_value = "http://127.0.0.1:8080", global = true)]
    endpoint: String,
    #[command(subcommand)]
    command: FunctionsCommand,
}

#[derive(Debug, Subcommand)]
enum FunctionsCommand {
    /// Invoke a function and print its response payload.
    Invoke {
        /// The function's name or ARN.
        name: String,
        /// The event: JSON, or @FILE.
        #[arg(long, default_value = "{}")]
        payload: String,
        /// Queue an Event (asynchronous) invocation instead of waiting for the response.
        #[arg(long)]
        event: bool,
        /// Print the invocation's log lines to standard error.
        #[arg(long)]
        log: bool,
    },
    /// Print a function's log.
    Logs {
        /// The function's name or ARN.
        name: String,
        /// Keep printing new lines as they come.
        #[arg(long, short)]
        follow: bool,
    },
    /// List the functions.
    List,
    /// Invoke a function over and over with a number of calls in flight, and report the
    /// invocations per second and the latency of each call.
    Bench {
        /// The function's name or ARN.
        name: String,
        /// The event of every call: JSON, or @FILE.
        #[arg(long, default_value = "{}")]
        payload: String,
        /// Calls in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds of load (after one second of warm-up calls that are not counted).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Print one JSON object instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(args: FunctionsArgs) -> Result<u8> {
    crate::api_client::runtime()?.block_on(async move {
        let client = reqwest::Client::new();
        let base = args.endpoint.trim_end_matches('/').to_owned();
        match args.command {
            FunctionsCommand::Invoke { name, payload, event, log } => {
                invoke(&client, &base, &name, &payload, event, log).await
            }
            FunctionsCommand::Logs { name, follow } => logs(&client, &base, &name, follow).await,
            FunctionsCommand::Bench { name, payload, concurrency, duration, json } => {
                let payload = crate::input::json_arg(&payload, "the payload")?.to_string();
                bench(&base, &name, payload, concurrency.max(1), duration, json).await
            }
            FunctionsCommand::List => {
                let v = call(&client, &base, Method::GET, "/2015-03-31/functions/", None).await?;
                for f in v["Functions"].as_array().into_iter().flatten() {
                    println!(
                        "{}\t{}",
                        f["FunctionName"].as_str().unwrap_or(""),
                        f["FunctionArn"].as_str().unwrap_or("")
                    );
                }
                Ok(0)
            }
        }
    })
}

async fn invoke(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    payload: &str,
    event: bool,
    log: bool,
) -> Result<u8> {
    let text = crate::input::json_arg(payload, "the payload")?.to_string();
    let url = format!("{base}/2015-03-31/functions/{}/invocations", encode(name));
    let mut req = client.post(url).body(text);
    req = req.header("x-amz-invocation-type", if event { "Event" } else { "RequestResponse" });
    if log {
        req = req.header("x-amz-log-type", "Tail");
    }
    let resp = req.send().await.with_context(|| format!("cannot reach Baton at {base}"))?;
    let status = resp.status();
    let function_error = resp.headers().contains_key("x-amz-function-error");
    let log_result = resp
        .headers()
        .get("x-amz-log-result")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok());
    let request_id =
        resp.headers().get("x-amzn-requestid").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = resp.text().await.unwrap_or_default();
    if let Some(l) = log_result {
        eprint!("{}", String::from_utf8_lossy(&l));
    }
    if status.as_u16() == 202 {
        println!("{{\"RequestId\":{}}}", Value::from(request_id.unwrap_or_default()));
        return Ok(0);
    }
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    println!("{body}");
    Ok(u8::from(function_error))
}

async fn logs(client: &reqwest::Client, base: &str, name: &str, follow: bool) -> Result<u8> {
    let mut after = 0u64;
    loop {
        let path = format!("/functions/{}/logs?after={after}", encode(name));
        let v = call(client, base, Method::GET, &path, None).await?;
        for line in v["lines"].as_array().into_iter().flatten() {
            let stream = line["stream"].as_str().unwrap_or("");
            let text = line["text"].as_str().unwrap_or("");
            let time = asl::interpreter::iso_millis(line["time_ms"].as_i64().unwrap_or(0));
            println!("{time} {stream:<8} {text}");
        }
        after = v["next"].as_u64().unwrap_or(after);
        if !follow {
            return Ok(0);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Keeps `concurrency` invocations in flight for `seconds` (after a second of warm-up).
async fn bench(
    base: &str,
    name: &str,
    payload: String,
    concurrency: usize,
    seconds: f64,
    json_out: bool,
) -> Result<u8> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .context("cannot build the HTTP client")?;
    let url = format!("{base}/2015-03-31/functions/{}/invocations", encode(name));
    let one = |client: reqwest::Client, url: String, payload: String| async move {
        let started = std::time::Instant::now();
        let r = client.post(&url).body(payload).send().await;
        let ok = match r {
            Ok(r) => {
                let good =
                    r.status().is_success() && !r.headers().contains_key("x-amz-function-error");
                let _ = r.bytes().await;
                good
            }
            Err(_) => false,
        };
        (ok, started.elapsed().as_micros() as u64)
    };
    // Warm-up: start the processes, open the connections.
    let warm_until = std::time::Instant::now() + Duration::from_secs(1);
    let warm = (0..concurrency).map(|_| {
        let (client, url, payload) = (client.clone(), url.clone(), payload.clone());
        async move {
            while std::time::Instant::now() < warm_until {
                let (ok, _) = one(client.clone(), url.clone(), payload.clone()).await;
                if !ok {
                    return false;
                }
            }
            true
        }
    });
    if !futures::future::join_all(warm).await.into_iter().all(|ok| ok) {
        bail!("the function does not answer successfully: try `baton functions invoke {name}`");
    }
    let started = std::time::Instant::now();
    let until = started + Duration::from_secs_f64(seconds.max(0.1));
    let workers = (0..concurrency).map(|_| {
        let (client, url, payload) = (client.clone(), url.clone(), payload.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0u64;
            while std::time::Instant::now() < until {
                let (ok, us) = one(client.clone(), url.clone(), payload.clone()).await;
                if ok {
                    samples.push(us);
                } else {
                    errors += 1;
                }
            }
            (samples, errors)
        })
    });
    let mut samples = Vec::new();
    let mut errors = 0;
    for w in futures::future::join_all(workers).await {
        let (s, e) = w.context("a bench worker failed")?;
        samples.extend(s);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let count = samples.len();
    let latency = crate::bench_cmd::Latency::of(&mut samples);
    let rate = count as f64 / elapsed;
    let result = serde_json::json!({
        "function": name, "concurrency": concurrency, "seconds": elapsed,
        "invocations": count, "errors": errors, "per_second": rate.round(),
        "p50_ms": latency.p50, "p99_ms": latency.p99, "max_ms": latency.max,
    });
    if json_out {
        println!("{result}");
    } else {
        println!(
            "{name}: {count} invocations in {elapsed:.1} s at concurrency {concurrency}: {rate:.0}/s, \
             p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, {errors} errors",
            latency.p50, latency.p99, latency.max
        );
    }
    Ok(u8::from(errors > 0))
}

/// Lambda tasks of workflows, run on this node's functions.
pub(crate) struct Bridge {
    functions: functions::Functions,
    events: functions::events::Worker,
}

impl Bridge {
    pub(crate) fn new(functions: functions::Functions, events: functions::events::Worker) -> Self {
        Self { functions, events }
    }
}

impl Invoker for Bridge {
    fn invoke(&self, call: Call) -> BoxFuture<'static, Result<Invoked, InvokeFailure>> {
        let functions = self.functions.clone();
        let events = self.events.clone();
        Box::pin(async move {
            if call.asynchronous {
                let request_id =
                    events.enqueue(&call.function, call.payload).await.map_err(failure)?;
                return Ok(Invoked {
                    request_id,
                    payload: Vec::new(),
                    function_error: false,
                    status: 202,
                    log_result: None,
                });
            }
            let r = functions.invoke(&call.function, call.payload, None).await.map_err(failure)?;
            let log_result = call
                .log_tail
                .then(|| log_tail(&functions.invocation_logs(&call.function, &r.request_id)));
            Ok(Invoked {
                request_id: r.request_id,
                payload: r.payload,
                function_error: r.function_error,
                status: 200,
                log_result,
            })
        })
    }
}

/// The last 4 KB of an invocation's log, base64-encoded, as `X-Amz-Log-Result` carries it.
pub(crate) fn log_tail(lines: &[functions::LogLine]) -> String {
    let text: String = lines.iter().map(|l| format!("{}\n", l.text)).collect();
    let tail = &text.as_bytes()[text.len().saturating_sub(4096)..];
    base64::engine::general_purpose::STANDARD.encode(tail)
}

/// A refused invocation as Step Functions reports it: `Lambda.<Exception>`, with the
/// AWS SDK's wording of the cause.
fn failure(e: functions::Error) -> InvokeFailure {
    use functions::Error as E;
    let (exception, status) = match &e {
        E::NotFound(_) => ("ResourceNotFoundException", 404),
        E::TooManyRequests => ("TooManyRequestsException", 429),
        E::PayloadTooLarge { .. } => ("RequestTooLargeException", 413),
        E::InvalidPayload(_) => ("InvalidRequestContentException", 400),
        E::ShuttingDown | E::InvalidSpec { .. } | E::Store(_) => ("ServiceException", 500),
    };
    InvokeFailure {
        error: format!("Lambda.{exception}"),
        cause: format!(
            "{e} (Service: AWSLambda; Status Code: {status}; Error Code: {exception}; Request ID: {})",
            uuid::Uuid::new_v4()
        ),
    }
}
