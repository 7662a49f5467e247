//! Shared test support: the real `baton up` as a child process, and a Step Functions client
//! that speaks the JSON 1.0 protocol over HTTP.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A running `baton up`, killed when dropped.
pub struct Baton {
    child: Option<Child>,
    /// `HOST:PORT`.
    pub addr: String,
    /// `http://HOST:PORT` or `https://HOST:PORT`, as the first line printed says.
    pub base: String,
    pub data: PathBuf,
    pub client: reqwest::Client,
}

/// How to start `baton up`, beyond its data directory; `Start::default()` is plain SQLite
/// on a free loopback port.
#[derive(Default)]
pub struct Start<'a> {
    pub database: Option<&'a str>,
    pub env: &'a [(&'a str, &'a str)],
    /// The configuration file.
    pub config: Option<&'a Path>,
    /// More arguments of `baton up` (`--tls-self-signed`, ...).
    pub args: &'a [&'a str],
    /// A PEM certificate `client` trusts as a root (for HTTPS), read once Baton has
    /// printed its address, so it may be one Baton writes at start.
    pub root_certificate: Option<&'a Path>,
}

/// A fresh data directory under the system's temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("baton-{tag}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Baton {
    /// Starts `baton up` on `data` (SQLite) or on `database`, on a free loopback port.
    pub fn start(data: &Path, database: Option<&str>, env: &[(&str, &str)]) -> Self {
        Self::spawn(data, database, env, None)
    }

    /// Starts `baton up` on `data` (SQLite) with `toml` as its configuration file.
    pub fn start_with_config(data: &Path, toml: &str) -> Self {
        Self::start_configured(data, None, toml)
    }

    /// Starts `baton up` on `data` (SQLite) or on `database`, with `toml` as its
    /// configuration file.
    pub fn start_configured(data: &Path, database: Option<&str>, toml: &str) -> Self {
        let file = data.join("baton.toml");
        std::fs::write(&file, toml).unwrap();
        Self::spawn(data, database, &[], Some(&file))
    }

    /// Starts `baton up` with everything given: a database, environment variables, and a
    /// configuration file.
    pub fn spawn(
        data: &Path,
        database: Option<&str>,
        env: &[(&str, &str)],
        config: Option<&Path>,
    ) -> Self {
        Self::start_with(data, &Start { database, env, config, ..Start::default() })
    }

    /// The `baton up` command line for `data` and `start`.
    pub fn command(data: &Path, start: &Start<'_>) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
        cmd.args(["up", "--listen", "127.0.0.1:0", "--data"]).arg(data);
        if let Some(file) = start.config {
            cmd.arg("--config").arg(file);
        }
        if let Some(db) = start.database {
            cmd.args(["--database", db]);
        }
        cmd.args(start.args);
        cmd.env("RUST_LOG", "warn");
        for (k, v) in start.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts `baton up` as `start` says and waits for the address it prints.
    pub fn start_with(data: &Path, start: &Start<'_>) -> Self {
        let mut cmd = Self::command(data, start);
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("baton starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("baton prints its address").unwrap();
        let base = first
            .strip_prefix("baton listening on ")
            .filter(|b| b.starts_with("http://") || b.starts_with("https://"))
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        let addr = base.split_once("://").map(|(_, a)| a.to_owned()).unwrap();
        // Keep draining standard output so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let mut client = reqwest::Client::builder();
        if let Some(path) = start.root_certificate {
            let pem = std::fs::read(path).unwrap();
            client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        Self {
            child: Some(child),
            addr,
            base,
            data: data.to_owned(),
            client: client.build().unwrap(),
        }
    }

    /// Runs `baton up` as `start` says, expecting it to stop at once with an error; returns
    /// what it wrote to standard error.
    pub fn fail_to_start(data: &Path, start: &Start<'_>) -> String {
        let out = Self::command(data, start).output().expect("baton runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "baton up started; stderr: {stderr}");
        stderr
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `kill -9`: the process ends at once, in the middle of whatever it does.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for a graceful exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        c.wait().unwrap()
    }

    /// One Step Functions call: `(HTTP status, body)`.
    pub async fn call(&self, action: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url("/"))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("AWSStepFunctions.{action}"))
            .body(body.to_string())
            .send()
            .await
            .expect("the server answers");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// A call that must succeed.
    pub async fn ok(&self, action: &str, body: Value) -> Value {
        let (status, v) = self.call(action, body.clone()).await;
        assert_eq!(status, 200, "{action} {body} -> {v}");
        v
    }

    /// Creates a state machine and returns its ARN.
    pub async fn machine(&self, name: &str, definition: Value, kind: &str) -> String {
        let v = self
            .ok(
                "CreateStateMachine",
                json!({"name": name, "definition": definition.to_string(), "type": kind,
                       "roleArn": "arn:aws:iam::123456789012:role/test"}),
            )
            .await;
        v["stateMachineArn"].as_str().unwrap().to_owned()
    }

    /// Waits until the execution is no longer RUNNING and returns DescribeExecution.
    pub async fn finished(&self, arn: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let v = self.ok("DescribeExecution", json!({"executionArn": arn})).await;
            if v["status"] != "RUNNING" {
                return v;
            }
            assert!(Instant::now() < deadline, "{arn} still running after {within:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The whole history of an execution.
    pub async fn history(&self, arn: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = json!({"executionArn": arn, "maxResults": 1000});
            if let Some(t) = &token {
                req["nextToken"] = json!(t);
            }
            let v = self.ok("GetExecutionHistory", req).await;
            events.extend(v["events"].as_array().unwrap().iter().cloned());
            match v["nextToken"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => return events,
            }
        }
    }
}

/// The test function built with the official Rust Lambda runtime (`crates/test-function`),
/// next to the `baton` binary under test; built first if this run has not built it.
pub fn test_function() -> PathBuf {
    let baton = PathBuf::from(env!("CARGO_BIN_EXE_baton"));
    let path = baton.with_file_name("baton-test-function");
    if !path.exists() {
        let release = baton.parent().is_some_and(|d| d.ends_with("release"));
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "test-function"]);
        if release {
            cmd.arg("--release");
        }
        assert!(cmd.status().expect("cargo runs").success(), "cannot build the test function");
    }
    path
}

/// The configuration file of the example application (`examples/student-full-info`).
pub fn example_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/student-full-info/baton.toml")
}

/// `baton up` with the example application, its functions the workspace's build of them.
pub fn start_example(data: &Path) -> Baton {
    let binary = example_functions().display().to_string();
    let env = [
        ("BATON_FUNCTIONS__ADDRESS-SERVICE__COMMAND", binary.as_str()),
        ("BATON_FUNCTIONS__CHAT-BOT__COMMAND", binary.as_str()),
    ];
    Baton::spawn(data, None, &env, Some(&example_config()))
}

/// The example's function binary, beside the `baton` under test; built first if this run
/// has not built it.
pub fn example_functions() -> PathBuf {
    let baton = PathBuf::from(env!("CARGO_BIN_EXE_baton"));
    let path = baton.with_file_name("student-functions");
    if !path.exists() {
        let release = baton.parent().is_some_and(|d| d.ends_with("release"));
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "student-functions"]);
        if release {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().expect("cargo runs").success(),
            "cannot build the example's functions"
        );
    }
    path
}

impl Drop for Baton {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Checks that a history is whole: ids 1..n in order, one start, one end.
pub fn assert_whole_history(events: &[Value]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["id"], json!(i as u64 + 1), "event ids are contiguous: {events:?}");
    }
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "ExecutionStarted").count(), 1, "{types:?}");
    let ends = types
        .iter()
        .filter(|t| {
            matches!(
                **t,
                "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionAborted" | "ExecutionTimedOut"
            )
        })
        .count();
    assert_eq!(ends, 1, "{types:?}");
}
