//! `exec` mode: the command runs once per event, with the event JSON on stdin and its
//! result JSON on stdout; what it prints on stderr goes to the log. A non-zero exit is a
//! function error: the JSON error document it printed (`{"errorType", "errorMessage"}`) if
//! it printed one, else `Runtime.ExitError`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::pool::{describe_exit, Pool};
use crate::{platform_error, Error, Response};

/// Runs one event through a fresh process.
pub(crate) async fn run(
    pool: &Arc<Pool>,
    request_id: String,
    payload: Vec<u8>,
) -> Result<Response, Error> {
    let spec = pool.spec();
    let timeout = spec.timeout();
    // Like a queued invocation, one that finds no free slot within its timeout is throttled.
    let _permit = tokio::time::timeout(timeout.max(Duration::from_secs(1)), pool.exec_slot())
        .await
        .map_err(|_| Error::TooManyRequests)?
        .map_err(|_| Error::ShuttingDown)?;
    let logs = pool.logs();
    let rid = Some(request_id.clone());
    logs.push("platform", rid.clone(), format!("START RequestId: {request_id} Version: $LATEST"));
    let started = Instant::now();
    let finish = |payload: Vec<u8>, function_error: bool| {
        let duration = started.elapsed();
        logs.push("platform", rid.clone(), format!("END RequestId: {request_id}"));
        logs.push(
            "platform",
            rid.clone(),
            format!(
                "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tMemory Size: {} MB",
                duration.as_secs_f64() * 1000.0,
                spec.memory_mb
            ),
        );
        Ok(Response { request_id: request_id.clone(), payload, function_error, duration })
    };

    let mut cmd = spec.command.to_command();
    cmd.envs(pool.environment(""))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("AWS_LAMBDA_REQUEST_ID", &request_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = &spec.working_dir {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let p = platform_error(
                &request_id,
                "Runtime.InvalidEntrypoint",
                &format!("cannot start the command: {e}"),
            );
            return finish(p, true);
        }
    };
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let writer = async {
        if let Some(mut s) = stdin.take() {
            let body: &[u8] = if payload.is_empty() { b"{}" } else { &payload };
            // A command that does not read its input is not an error.
            let _ = s.write_all(body).await;
        }
    };
    let reader = async {
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(crate::MAX_SYNC_PAYLOAD as u64 + 1).read_to_end(&mut out).await;
        }
        out
    };
    let log_errors = async {
        if let Some(s) = stderr {
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                logs.push("stderr", rid.clone(), line);
            }
        }
    };
    let run = async {
        let ((), out, ()) = tokio::join!(writer, reader, log_errors);
        (out, child.wait().await)
    };
    let (out, status) = match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => {
            let what = format!("Task timed out after {:.2} seconds", timeout.as_secs_f64());
            logs.push("platform", rid.clone(), format!("{request_id} {what}"));
            return finish(platform_error(&request_id, "Sandbox.Timedout", &what), true);
        }
    };
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            let p = platform_error(&request_id, "Runtime.ExitError", &e.to_string());
            return finish(p, true);
        }
    };
    if out.len() > crate::MAX_SYNC_PAYLOAD {
        let p = serde_json::json!({
            "errorType": "Function.ResponseSizeTooLarge",
            "errorMessage": format!(
                "Response payload size exceeded maximum allowed payload size ({} bytes).",
                crate::MAX_SYNC_PAYLOAD
            ),
        });
        return finish(p.to_string().into_bytes(), true);
    }
    let text = String::from_utf8_lossy(&out);
    let trimmed = text.trim();
    if status.success() {
        let body = if trimmed.is_empty() { b"null".to_vec() } else { trimmed.as_bytes().to_vec() };
        return finish(body, false);
    }
    let printed = serde_json::from_str::<serde_json::Value>(trimmed)
        .ok()
        .filter(|v| v.get("errorType").is_some() || v.get("errorMessage").is_some());
    let payload = match printed {
        Some(_) => trimmed.as_bytes().to_vec(),
        None => platform_error(
            &request_id,
            "Runtime.ExitError",
            &format!("Runtime exited with error: {}", describe_exit(status)),
        ),
    };
    finish(payload, true)
}
