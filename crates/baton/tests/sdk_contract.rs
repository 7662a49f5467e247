//! Contract tests of `baton up` driven by the official AWS SDK for Rust (`aws-sdk-sfn`).
//!
//! Each test starts the real binary as a user would (`baton up --data DIR --listen
//! 127.0.0.1:0`), learns its address from the first line it prints, and talks to it only
//! through the SDK's client. What passes here is what the SDK accepts: the requests it
//! serializes, and the responses and error types it deserializes from Baton's answers.
//!
//! StartSyncExecution is modelled with the host prefix `sync-`, so the SDK sends it to
//! `http://sync-127.0.0.1:PORT/`, which does not resolve. Other AWS SDKs can turn that off
//! (`disable_host_prefix_injection` in the shared config file, the environment variable
//! `AWS_DISABLE_HOST_PREFIX_INJECTION`, `disableHostPrefix` in JavaScript), but the Rust SDK
//! has no such setting: `aws-smithy-runtime` (1.16) applies the `EndpointPrefix` that the
//! operation stores in the config bag unconditionally, whatever the endpoint URL. The client
//! here therefore carries [`NoHostPrefix`], an interceptor that puts the configured host back
//! before the request is signed; it also counts how often it had to, so the test can show
//! that the SDK really asked for the prefixed host.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sfn::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sfn::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_sfn::error::{BoxError, ProvideErrorMetadata};
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::primitives::DateTime;
use aws_sdk_sfn::types::{
    ExecutionStatus, HistoryEvent, HistoryEventType, LogLevel, StateMachineStatus,
    StateMachineType, SyncExecutionStatus, Tag, ValidateStateMachineDefinitionResultCode,
    ValidateStateMachineDefinitionSeverity,
};
use aws_sdk_sfn::Client;
use serde_json::{json, Value};

/// The role every machine is created with; Baton checks its shape, not its permissions.
const ROLE: &str = "arn:aws:iam::123456789012:role/baton-sdk-contract";

/// The prefix of every ARN Baton makes with its default region and account.
const ARN: &str = "arn:aws:states:us-east-1:123456789012";

/// How long a poll for an execution's end may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);

/// A Choice machine: `wait` present holds for 60 s, `n > 3` is big, anything else small.
fn choice_machine() -> String {
    json!({
        "Comment": "The SDK contract machine",
        "StartAt": "Route",
        "States": {
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.wait", "IsPresent": true, "Next": "Hold"},
                    {"Variable": "$.n", "NumericGreaterThan": 3, "Next": "Big"}
                ],
                "Default": "Small"
            },
            "Hold": {"Type": "Wait", "Seconds": 60, "End": true},
            "Big": {"Type": "Pass", "Parameters": {"size": "big", "n.$": "$.n"}, "End": true},
            "Small": {
                "Type": "Pass",
                "Result": {"size": "small"},
                "ResultPath": "$.verdict",
                "End": true
            }
        }
    })
    .to_string()
}

/// A one-state Pass machine whose output is `result`.
fn pass_machine(result: Value) -> String {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "End": true}}})
        .to_string()
}

/// A running `baton up`, killed (by its PID, through the `Child` handle) when dropped.
struct Baton {
    child: Child,
    root: PathBuf,
    url: String,
    authority: String,
}

impl Baton {
    /// Starts `baton up` on a fresh data directory and a free loopback port.
    fn start() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "baton-sdk-contract-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        std::fs::create_dir_all(&data).expect("cannot make the data directory");
        let log = std::fs::File::create(root.join("baton.log")).expect("cannot make the log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("up")
            .arg("--data")
            .arg(&data)
            .args(["--listen", "127.0.0.1:0"])
            // Each test gets its own SQLite store, whatever the environment points at.
            .env_remove("BATON_DATABASE_URL")
            .env_remove("BATON_DATABASE")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("cannot start baton up");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut baton = Self { child, root, url: String::new(), authority: String::new() };
        // A thread reads the first line for us, then drains the rest so that Baton never
        // writes into a full or closed pipe.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            for _ in lines.by_ref() {}
        });
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("baton up printed no address; log:\n{}", baton.log()));
        let url = first
            .strip_prefix("baton listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .trim()
            .to_owned();
        baton.authority = url.trim_start_matches("http://").to_owned();
        baton.url = url;
        baton
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("baton.log")).unwrap_or_default()
    }

    /// An SDK client as a user would configure one for a local endpoint.
    fn client(&self) -> Client {
        self.client_counting(Arc::new(AtomicUsize::new(0)))
    }

    /// The same client, counting in `rewrites` how often the host prefix was taken off.
    fn client_counting(&self, rewrites: Arc<AtomicUsize>) -> Client {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_sdk_sfn::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "AKIDBATONCONTRACT",
                "baton-contract-secret",
                None,
                None,
                "sdk-contract",
            ))
            .endpoint_url(&self.url)
            .http_client(http)
            .interceptor(NoHostPrefix { authority: self.authority.clone(), rewrites })
            .build();
        Client::from_conf(config)
    }
}

impl Drop for Baton {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- baton up log ---\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Puts the endpoint's own host back where an operation's host prefix changed it, since the
/// Rust SDK has no switch to disable host prefix injection (see the module's comment).
#[derive(Debug)]
struct NoHostPrefix {
    authority: String,
    rewrites: Arc<AtomicUsize>,
}

impl Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "NoHostPrefix"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let uri = request.uri().to_owned();
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Ok(());
        };
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if host != self.authority && host.ends_with(&self.authority) {
            request.set_uri(format!("{scheme}://{}{path}", self.authority))?;
            self.rewrites.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Parses a JSON document the API returned.
fn parse(text: Option<&str>) -> Value {
    serde_json::from_str(text.expect("a JSON document")).expect("valid JSON")
}

/// Checks that a timestamp is within a minute of now.
fn recent(t: Option<&DateTime>) {
    let t = t.expect("a timestamp");
    let now = DateTime::from(SystemTime::now());
    assert!((now.secs() - t.secs()).abs() < 60, "{t:?} is not close to {now:?}");
}

/// Polls DescribeExecution until the execution leaves RUNNING, within [`DEADLINE`].
async fn finished(client: &Client, arn: &str) -> DescribeExecutionOutput {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let d = client.describe_execution().execution_arn(arn).send().await.unwrap();
        if d.status() != &ExecutionStatus::Running {
            return d;
        }
        assert!(Instant::now() < deadline, "{arn} is still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates a Standard machine and returns its ARN.
async fn create(client: &Client, name: &str, definition: &str) -> String {
    let out = client
        .create_state_machine()
        .name(name)
        .definition(definition)
        .role_arn(ROLE)
        .send()
        .await
        .unwrap();
    out.state_machine_arn().to_owned()
}

/// The whole history of an execution, in one call.
async fn history(client: &Client, arn: &str) -> Vec<HistoryEvent> {
    let out = client.get_execution_history().execution_arn(arn).send().await.unwrap();
    assert!(out.next_token().is_none());
    out.events().to_vec()
}

#[tokio::test]
async fn state_machine_lifecycle() {
    let baton = Baton::start();
    let client = baton.client();
    let definition = pass_machine(json!({"v": 1}));

    let created = client
        .create_state_machine()
        .name("lifecycle")
        .definition(&definition)
        .role_arn(ROLE)
        .send()
        .await
        .unwrap();
    let arn = created.state_machine_arn().to_owned();
    assert_eq!(arn, format!("{ARN}:stateMachine:lifecycle"));
    recent(Some(created.creation_date()));

    // The identical request again is answered as the first was.
    let again = client
        .create_state_machine()
        .name("lifecycle")
        .definition(&definition)
        .role_arn(ROLE)
        .send()
        .await
        .unwrap();
    assert_eq!(again.state_machine_arn(), arn);
    assert_eq!(again.creation_date(), created.creation_date());

    // The same name with another definition conflicts.
    let err = client
        .create_state_machine()
        .name("lifecycle")
        .definition(pass_machine(json!({"v": 2})))
        .role_arn(ROLE)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_state_machine_already_exists(), "{err:?}");
    assert_eq!(err.code(), Some("StateMachineAlreadyExists"));
    assert!(err.message().is_some_and(|m| m.contains(&arn)), "{err:?}");

    // A definition whose StartAt names no state is refused with AWS's type.
    let err = client
        .create_state_machine()
        .name("broken")
        .definition(r#"{"StartAt": "Nowhere", "States": {"P": {"Type": "Pass", "End": true}}}"#)
        .role_arn(ROLE)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_definition(), "{err:?}");
    assert!(err.message().is_some_and(|m| !m.is_empty()));

    let described = client.describe_state_machine().state_machine_arn(&arn).send().await.unwrap();
    assert_eq!(described.state_machine_arn(), arn);
    assert_eq!(described.name(), "lifecycle");
    assert_eq!(described.status(), Some(&StateMachineStatus::Active));
    assert_eq!(described.definition(), definition);
    assert_eq!(described.role_arn(), ROLE);
    assert_eq!(described.r#type(), &StateMachineType::Standard);
    assert_eq!(described.creation_date(), created.creation_date());
    let logging = described.logging_configuration().expect("a logging configuration");
    assert_eq!(logging.level(), Some(&LogLevel::Off));
    assert_eq!(described.tracing_configuration().map(|t| t.enabled()), Some(false));
    let first_revision = described.revision_id().expect("a revision id").to_owned();

    // A new definition makes a new revision.
    let new_definition = pass_machine(json!({"v": 3}));
    let updated = client
        .update_state_machine()
        .state_machine_arn(&arn)
        .definition(&new_definition)
        .send()
        .await
        .unwrap();
    recent(Some(updated.update_date()));
    let second_revision = updated.revision_id().expect("a revision id").to_owned();
    assert_ne!(second_revision, first_revision);
    let described = client.describe_state_machine().state_machine_arn(&arn).send().await.unwrap();
    assert_eq!(described.definition(), new_definition);
    assert_eq!(described.revision_id(), Some(second_revision.as_str()));

    // An update that changes nothing is refused, as AWS does.
    let err = client
        .update_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_missing_required_parameter(), "{err:?}");

    // Paging one machine at a time visits each exactly once.
    create(&client, "lifecycle-b", &definition).await;
    create(&client, "lifecycle-c", &definition).await;
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let page = client
            .list_state_machines()
            .max_results(1)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.state_machines().len() <= 1);
        for m in page.state_machines() {
            assert_eq!(m.state_machine_arn(), format!("{ARN}:stateMachine:{}", m.name()));
            assert_eq!(m.r#type(), &StateMachineType::Standard);
            recent(Some(m.creation_date()));
            names.push(m.name().to_owned());
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert!(token.is_none(), "paging did not end");
    names.sort();
    assert_eq!(names, ["lifecycle", "lifecycle-b", "lifecycle-c"]);

    // The SDK's own paginator follows the same tokens.
    let all: Vec<_> = client
        .list_state_machines()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all.len(), 3);

    client.delete_state_machine().state_machine_arn(&arn).send().await.unwrap();
    let err = client
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_state_machine_does_not_exist(), "{err:?}");
    let left = client.list_state_machines().send().await.unwrap();
    let left: Vec<&str> = left.state_machines().iter().map(|m| m.name()).collect();
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&"lifecycle"));
}

#[tokio::test]
async fn validate_definition() {
    let baton = Baton::start();
    let client = baton.client();

    let ok = client
        .validate_state_machine_definition()
        .definition(choice_machine())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.result(), &ValidateStateMachineDefinitionResultCode::Ok);
    assert!(ok.diagnostics().is_empty());
    assert_eq!(ok.truncated(), Some(false));

    let fail = client
        .validate_state_machine_definition()
        .definition(r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(fail.result(), &ValidateStateMachineDefinitionResultCode::Fail);
    assert!(!fail.diagnostics().is_empty());
    for d in fail.diagnostics() {
        assert_eq!(d.severity(), &ValidateStateMachineDefinitionSeverity::Error);
        assert!(!d.code().is_empty());
        assert!(!d.message().is_empty());
    }
    assert!(
        fail.diagnostics().iter().any(|d| d.message().contains("Missing")),
        "{:?}",
        fail.diagnostics()
    );

    // Text that is not JSON at all is a diagnostic too, not an error.
    let garbage =
        client.validate_state_machine_definition().definition("{not json").send().await.unwrap();
    assert_eq!(garbage.result(), &ValidateStateMachineDefinitionResultCode::Fail);
    assert!(!garbage.diagnostics().is_empty());
}

#[tokio::test]
async fn executions_listing_and_history() {
    let baton = Baton::start();
    let client = baton.client();
    let original = choice_machine();
    let machine = create(&client, "choice", &original).await;
    let revision = client
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap()
        .revision_id()
        .unwrap()
        .to_owned();

    let input = json!({"n": 5});
    let started = client
        .start_execution()
        .state_machine_arn(&machine)
        .name("big")
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    let big = started.execution_arn().to_owned();
    assert_eq!(big, format!("{ARN}:execution:choice:big"));
    recent(Some(started.start_date()));

    let done = finished(&client, &big).await;
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    assert_eq!(done.execution_arn(), big);
    assert_eq!(done.state_machine_arn(), machine);
    assert_eq!(done.name(), Some("big"));
    assert_eq!(done.start_date(), started.start_date());
    assert!(done.stop_date().expect("a stop date") >= done.start_date());
    assert_eq!(parse(done.input()), input);
    assert_eq!(done.input_details().map(|d| d.included()), Some(true));
    assert_eq!(parse(done.output()), json!({"size": "big", "n": 5}));
    assert_eq!(done.output_details().map(|d| d.included()), Some(true));
    assert!(done.error().is_none() && done.cause().is_none());
    assert_eq!(done.redrive_count(), Some(0));

    // A finished execution's name cannot be used again, even with the same input.
    let err = client
        .start_execution()
        .state_machine_arn(&machine)
        .name("big")
        .input(input.to_string())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_execution_already_exists(), "{err:?}");

    for (name, n) in [("small-1", 1), ("small-2", 2)] {
        let arn = client
            .start_execution()
            .state_machine_arn(&machine)
            .name(name)
            .input(json!({"n": n}).to_string())
            .send()
            .await
            .unwrap()
            .execution_arn()
            .to_owned();
        let out = finished(&client, &arn).await;
        assert_eq!(parse(out.output()), json!({"n": n, "verdict": {"size": "small"}}));
    }
    let waiting = client
        .start_execution()
        .state_machine_arn(&machine)
        .name("waiting")
        .input(r#"{"wait": true}"#)
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_owned();

    // The status filter.
    let running = client
        .list_executions()
        .state_machine_arn(&machine)
        .status_filter(ExecutionStatus::Running)
        .send()
        .await
        .unwrap();
    let running: Vec<&str> = running.executions().iter().map(|e| e.execution_arn()).collect();
    assert_eq!(running, [waiting.as_str()]);
    let succeeded = client
        .list_executions()
        .state_machine_arn(&machine)
        .status_filter(ExecutionStatus::Succeeded)
        .send()
        .await
        .unwrap();
    assert_eq!(succeeded.executions().len(), 3);
    for e in succeeded.executions() {
        assert_eq!(e.status(), &ExecutionStatus::Succeeded);
        assert_eq!(e.state_machine_arn(), machine);
        assert_eq!(e.execution_arn(), format!("{ARN}:execution:choice:{}", e.name()));
        assert!(e.stop_date().is_some());
    }

    // Paging one execution at a time visits each exactly once.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let page = client
            .list_executions()
            .state_machine_arn(&machine)
            .max_results(1)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.executions().len() <= 1);
        seen.extend(page.executions().iter().map(|e| e.name().to_owned()));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, ["big", "small-1", "small-2", "waiting"]);

    // The history, as AWS records a Choice then a Pass.
    let events = history(&client, &big).await;
    let kinds: Vec<&HistoryEventType> = events.iter().map(HistoryEvent::r#type).collect();
    assert_eq!(
        kinds,
        [
            &HistoryEventType::ExecutionStarted,
            &HistoryEventType::ChoiceStateEntered,
            &HistoryEventType::ChoiceStateExited,
            &HistoryEventType::PassStateEntered,
            &HistoryEventType::PassStateExited,
            &HistoryEventType::ExecutionSucceeded,
        ]
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.id(), i as i64 + 1);
        recent(Some(e.timestamp()));
    }
    let started_details = events[0].execution_started_event_details().expect("started details");
    assert_eq!(parse(started_details.input()), input);
    assert_eq!(started_details.role_arn(), Some(ROLE));
    let entered = events[1].state_entered_event_details().expect("entered details");
    assert_eq!(entered.name(), "Route");
    assert_eq!(parse(entered.input()), input);
    assert_eq!(events[3].state_entered_event_details().map(|d| d.name()), Some("Big"));
    let succeeded = events[5].execution_succeeded_event_details().expect("succeeded details");
    assert_eq!(parse(succeeded.output()), json!({"size": "big", "n": 5}));

    // Paging two events at a time gives the same events.
    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let page = client
            .get_execution_history()
            .execution_arn(&big)
            .max_results(2)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.events().len() <= 2);
        paged.extend(page.events().iter().map(HistoryEvent::id));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(paged, [1, 2, 3, 4, 5, 6]);

    // Newest first.
    let reversed = client
        .get_execution_history()
        .execution_arn(&big)
        .reverse_order(true)
        .send()
        .await
        .unwrap();
    let ids: Vec<i64> = reversed.events().iter().map(HistoryEvent::id).collect();
    assert_eq!(ids, [6, 5, 4, 3, 2, 1]);
    assert_eq!(reversed.events()[0].r#type(), &HistoryEventType::ExecutionSucceeded);

    // Without execution data: the events, without their inputs and outputs.
    let bare = client
        .get_execution_history()
        .execution_arn(&big)
        .include_execution_data(false)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.events().len(), 6);
    let started_details = bare.events()[0].execution_started_event_details().unwrap();
    assert!(started_details.input().is_none(), "{started_details:?}");
    let entered = bare.events()[1].state_entered_event_details().unwrap();
    assert_eq!(entered.name(), "Route");
    assert!(entered.input().is_none(), "{entered:?}");
    let exited = bare.events()[4].state_exited_event_details().unwrap();
    assert!(exited.output().is_none(), "{exited:?}");
    let succeeded = bare.events()[5].execution_succeeded_event_details().unwrap();
    assert!(succeeded.output().is_none(), "{succeeded:?}");

    // The definition an execution ran is kept after the machine changes.
    let updated = client
        .update_state_machine()
        .state_machine_arn(&machine)
        .definition(pass_machine(json!("new")))
        .send()
        .await
        .unwrap();
    assert_ne!(updated.revision_id(), Some(revision.as_str()));
    let ran =
        client.describe_state_machine_for_execution().execution_arn(&big).send().await.unwrap();
    assert_eq!(ran.state_machine_arn(), machine);
    assert_eq!(ran.name(), "choice");
    assert_eq!(ran.definition(), original);
    assert_eq!(ran.role_arn(), ROLE);
    assert_eq!(ran.revision_id(), Some(revision.as_str()));
    recent(Some(ran.update_date()));
}

#[tokio::test]
async fn idempotent_start_and_stop() {
    let baton = Baton::start();
    let client = baton.client();
    let machine = create(&client, "holder", &choice_machine()).await;
    let input = json!({"wait": true, "order": 42});

    let first = client
        .start_execution()
        .state_machine_arn(&machine)
        .name("hold-1")
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    // The same name and input while it runs: the same execution.
    let again = client
        .start_execution()
        .state_machine_arn(&machine)
        .name("hold-1")
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(again.execution_arn(), first.execution_arn());
    assert_eq!(again.start_date(), first.start_date());
    // The same name with other input: a conflict.
    let err = client
        .start_execution()
        .state_machine_arn(&machine)
        .name("hold-1")
        .input(r#"{"wait": true, "order": 43}"#)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_execution_already_exists(), "{err:?}");
    assert_eq!(err.code(), Some("ExecutionAlreadyExists"));

    let arn = first.execution_arn().to_owned();
    // The execution is in its 60 s Wait.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let events = history(&client, &arn).await;
        if events.iter().any(|e| e.r#type() == &HistoryEventType::WaitStateEntered) {
            break;
        }
        assert!(Instant::now() < deadline, "the Wait state was never entered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let described = client.describe_execution().execution_arn(&arn).send().await.unwrap();
    assert_eq!(described.status(), &ExecutionStatus::Running);
    assert!(described.stop_date().is_none() && described.output().is_none());

    let stopped = client
        .stop_execution()
        .execution_arn(&arn)
        .error("Operator.Stopped")
        .cause("stopped by the contract test")
        .send()
        .await
        .unwrap();
    recent(Some(stopped.stop_date()));
    let done = finished(&client, &arn).await;
    assert_eq!(done.status(), &ExecutionStatus::Aborted);
    assert_eq!(done.error(), Some("Operator.Stopped"));
    assert_eq!(done.cause(), Some("stopped by the contract test"));
    assert!(done.output().is_none());
    assert!(done.stop_date().is_some());

    let events = history(&client, &arn).await;
    let last = events.last().expect("events");
    assert_eq!(last.r#type(), &HistoryEventType::ExecutionAborted);
    let details = last.execution_aborted_event_details().expect("aborted details");
    assert_eq!(details.error(), Some("Operator.Stopped"));
    assert_eq!(details.cause(), Some("stopped by the contract test"));

    let aborted = client
        .list_executions()
        .state_machine_arn(&machine)
        .status_filter(ExecutionStatus::Aborted)
        .send()
        .await
        .unwrap();
    assert_eq!(aborted.executions().len(), 1);
    assert_eq!(aborted.executions()[0].execution_arn(), arn);
}

#[tokio::test]
async fn express_sync_executions() {
    let baton = Baton::start();
    let rewrites = Arc::new(AtomicUsize::new(0));
    let client = baton.client_counting(rewrites.clone());

    let greeter = client
        .create_state_machine()
        .name("greeter")
        .r#type(StateMachineType::Express)
        .definition(
            json!({
                "StartAt": "Greet",
                "States": {"Greet": {
                    "Type": "Pass",
                    "Parameters": {"greeting.$": "States.Format('Hello, {}!', $.name)"},
                    "End": true
                }}
            })
            .to_string(),
        )
        .role_arn(ROLE)
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();
    let described =
        client.describe_state_machine().state_machine_arn(&greeter).send().await.unwrap();
    assert_eq!(described.r#type(), &StateMachineType::Express);

    let run = client
        .start_sync_execution()
        .state_machine_arn(&greeter)
        .name("ada")
        .input(r#"{"name": "Ada"}"#)
        .send()
        .await
        .unwrap();
    assert!(rewrites.load(Ordering::SeqCst) >= 1, "the SDK did not use the sync- host");
    assert_eq!(run.status(), &SyncExecutionStatus::Succeeded);
    assert_eq!(parse(run.output()), json!({"greeting": "Hello, Ada!"}));
    assert_eq!(parse(run.input()), json!({"name": "Ada"}));
    assert_eq!(run.name(), Some("ada"));
    assert_eq!(run.state_machine_arn(), Some(greeter.as_str()));
    assert!(
        run.execution_arn().starts_with(&format!("{ARN}:express:greeter:ada:")),
        "{}",
        run.execution_arn()
    );
    assert!(run.stop_date() >= run.start_date());
    recent(Some(run.start_date()));
    assert!(run.error().is_none() && run.cause().is_none());
    let billing = run.billing_details().expect("billing details");
    assert!(billing.billed_duration_in_milliseconds() >= 100);

    let failing = client
        .create_state_machine()
        .name("failing")
        .r#type(StateMachineType::Express)
        .definition(
            r#"{"StartAt": "F", "States": {"F": {"Type": "Fail",
                "Error": "Order.Rejected", "Cause": "out of stock"}}}"#,
        )
        .role_arn(ROLE)
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();
    let run = client.start_sync_execution().state_machine_arn(&failing).send().await.unwrap();
    assert_eq!(run.status(), &SyncExecutionStatus::Failed);
    assert_eq!(run.error(), Some("Order.Rejected"));
    assert_eq!(run.cause(), Some("out of stock"));
    assert!(run.output().is_none());

    // A Standard machine cannot run synchronously.
    let standard = create(&client, "standard", &pass_machine(json!(1))).await;
    let err = client
        .start_sync_execution()
        .state_machine_arn(&standard)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_state_machine_type_not_supported(), "{err:?}");

    // Nor can an Express machine's executions be listed.
    let err = client
        .list_executions()
        .state_machine_arn(&greeter)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_state_machine_type_not_supported(), "{err:?}");
}

#[tokio::test]
async fn activities() {
    let baton = Baton::start();
    let client = baton.client();

    let created = client.create_activity().name("jobs").send().await.unwrap();
    let activity = created.activity_arn().to_owned();
    assert_eq!(activity, format!("{ARN}:activity:jobs"));
    recent(Some(created.creation_date()));
    let described = client.describe_activity().activity_arn(&activity).send().await.unwrap();
    assert_eq!(described.name(), "jobs");
    assert_eq!(described.creation_date(), created.creation_date());
    let listed = client.list_activities().send().await.unwrap();
    assert_eq!(listed.activities().len(), 1);
    assert_eq!(listed.activities()[0].activity_arn(), activity);

    let definition = json!({
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": activity,
                "HeartbeatSeconds": 30,
                "TimeoutSeconds": 60,
                "Catch": [{
                    "ErrorEquals": ["Worker.Failed"],
                    "ResultPath": "$.failure",
                    "Next": "Recovered"
                }],
                "End": true
            },
            "Recovered": {"Type": "Pass", "End": true}
        }
    })
    .to_string();
    let machine = create(&client, "worker", &definition).await;

    // Success: the worker takes the task, beats, and reports.
    let arn = client
        .start_execution()
        .state_machine_arn(&machine)
        .input(r#"{"job": 1}"#)
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_owned();
    let task = client
        .get_activity_task()
        .activity_arn(&activity)
        .worker_name("contract-worker")
        .send()
        .await
        .unwrap();
    let token = task.task_token().expect("a task token").to_owned();
    assert_eq!(parse(task.input()), json!({"job": 1}));
    client.send_task_heartbeat().task_token(&token).send().await.unwrap();
    client.send_task_success().task_token(&token).output(r#"{"done": true}"#).send().await.unwrap();
    let done = finished(&client, &arn).await;
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    assert_eq!(parse(done.output()), json!({"done": true}));
    let events = history(&client, &arn).await;
    let kinds: Vec<&HistoryEventType> = events.iter().map(HistoryEvent::r#type).collect();
    assert!(kinds.contains(&&HistoryEventType::ActivityScheduled), "{kinds:?}");
    assert!(kinds.contains(&&HistoryEventType::ActivityStarted), "{kinds:?}");
    assert!(kinds.contains(&&HistoryEventType::ActivitySucceeded), "{kinds:?}");
    let scheduled = events
        .iter()
        .find_map(HistoryEvent::activity_scheduled_event_details)
        .expect("scheduled details");
    assert_eq!(scheduled.resource(), activity);
    assert_eq!(scheduled.heartbeat_in_seconds(), Some(30));
    assert_eq!(scheduled.timeout_in_seconds(), Some(60));
    assert_eq!(parse(scheduled.input()), json!({"job": 1}));
    let succeeded = events
        .iter()
        .find_map(HistoryEvent::activity_succeeded_event_details)
        .expect("succeeded details");
    assert_eq!(parse(succeeded.output()), json!({"done": true}));

    // The token is spent: AWS answers TaskTimedOut.
    let err = client
        .send_task_success()
        .task_token(&token)
        .output("{}")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_task_timed_out(), "{err:?}");
    // A token Baton never made.
    let err = client
        .send_task_success()
        .task_token("not-a-token")
        .output("{}")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_token(), "{err:?}");
    let err = client
        .send_task_heartbeat()
        .task_token("not-a-token")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_token(), "{err:?}");

    // Failure, caught by the machine.
    let arn = client
        .start_execution()
        .state_machine_arn(&machine)
        .input(r#"{"job": 2}"#)
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_owned();
    let task = client.get_activity_task().activity_arn(&activity).send().await.unwrap();
    assert_eq!(parse(task.input()), json!({"job": 2}));
    client
        .send_task_failure()
        .task_token(task.task_token().unwrap())
        .error("Worker.Failed")
        .cause("disk full")
        .send()
        .await
        .unwrap();
    let done = finished(&client, &arn).await;
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    assert_eq!(
        parse(done.output()),
        json!({"job": 2, "failure": {"Error": "Worker.Failed", "Cause": "disk full"}})
    );
    let events = history(&client, &arn).await;
    let failed = events
        .iter()
        .find_map(HistoryEvent::activity_failed_event_details)
        .expect("failed details");
    assert_eq!(failed.error(), Some("Worker.Failed"));
    assert_eq!(failed.cause(), Some("disk full"));

    client.delete_activity().activity_arn(&activity).send().await.unwrap();
    let err = client
        .describe_activity()
        .activity_arn(&activity)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_activity_does_not_exist(), "{err:?}");
}

#[tokio::test]
async fn tags() {
    let baton = Baton::start();
    let client = baton.client();
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let machine = client
        .create_state_machine()
        .name("tagged")
        .definition(pass_machine(json!(1)))
        .role_arn(ROLE)
        .tags(tag("team", "core"))
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();
    let activity = client
        .create_activity()
        .name("tagged-jobs")
        .tags(tag("queue", "fast"))
        .send()
        .await
        .unwrap()
        .activity_arn()
        .to_owned();

    let pairs = |tags: &[Tag]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = tags
            .iter()
            .map(|t| (t.key().unwrap_or("").to_owned(), t.value().unwrap_or("").to_owned()))
            .collect();
        v.sort();
        v
    };
    let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };

    let listed = client.list_tags_for_resource().resource_arn(&machine).send().await.unwrap();
    assert_eq!(pairs(listed.tags()), owned(&[("team", "core")]));

    // Tagging adds new keys and overwrites existing ones.
    client
        .tag_resource()
        .resource_arn(&machine)
        .tags(tag("env", "dev"))
        .tags(tag("team", "platform"))
        .send()
        .await
        .unwrap();
    let listed = client.list_tags_for_resource().resource_arn(&machine).send().await.unwrap();
    assert_eq!(pairs(listed.tags()), owned(&[("env", "dev"), ("team", "platform")]));

    client.untag_resource().resource_arn(&machine).tag_keys("team").send().await.unwrap();
    let listed = client.list_tags_for_resource().resource_arn(&machine).send().await.unwrap();
    assert_eq!(pairs(listed.tags()), owned(&[("env", "dev")]));

    let listed = client.list_tags_for_resource().resource_arn(&activity).send().await.unwrap();
    assert_eq!(pairs(listed.tags()), owned(&[("queue", "fast")]));

    let err = client
        .list_tags_for_resource()
        .resource_arn(format!("{ARN}:stateMachine:nobody"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found(), "{err:?}");
}

#[tokio::test]
async fn error_mapping() {
    let baton = Baton::start();
    let client = baton.client();

    let err = client
        .describe_execution()
        .execution_arn(format!("{ARN}:execution:nobody:nothing"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_execution_does_not_exist(), "{err:?}");
    assert_eq!(err.code(), Some("ExecutionDoesNotExist"));

    let err = client
        .describe_execution()
        .execution_arn("not-an-arn")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_arn(), "{err:?}");
    assert_eq!(err.code(), Some("InvalidArn"));

    // An ARN of the wrong resource type is invalid in that place.
    let err = client
        .describe_execution()
        .execution_arn(format!("{ARN}:stateMachine:nobody"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_arn(), "{err:?}");

    let err = client
        .describe_state_machine()
        .state_machine_arn(format!("{ARN}:stateMachine:nobody"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_state_machine_does_not_exist(), "{err:?}");

    let err = client
        .get_execution_history()
        .execution_arn(format!("{ARN}:execution:nobody:nothing"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_execution_does_not_exist(), "{err:?}");

    let machine = create(&client, "errors", &pass_machine(json!(1))).await;
    let err = client
        .start_execution()
        .state_machine_arn(&machine)
        .input("{not json")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_execution_input(), "{err:?}");
    let err = client
        .start_execution()
        .state_machine_arn(&machine)
        .name("has space")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_name(), "{err:?}");
    let err = client
        .create_state_machine()
        .name("bad-role")
        .definition(pass_machine(json!(1)))
        .role_arn("not-a-role")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_arn(), "{err:?}");
}
