//! `arn:aws:states:::http:invoke`: a Task state that calls an HTTP endpoint.

/// Placeholder until the HTTP task lands.
pub async fn invoke(
    _client: &reqwest::Client,
    _parameters: &serde_json::Value,
    _timeout: std::time::Duration,
) -> Result<serde_json::Value, asl::Failure> {
    Err(asl::Failure::new("States.TaskFailed", "http:invoke is not available yet"))
}
