//! Execution history events, shaped as GetExecutionHistory returns them.
//!
//! Inputs and outputs inside event details are JSON *strings*, as AWS sends them.

use serde_json::{json, Map, Value};

/// One history event.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    /// 1-based, in the order events happened.
    pub id: u64,
    /// The event this one follows in its branch of control (0 for none).
    pub previous_event_id: u64,
    /// Milliseconds since the epoch.
    pub timestamp_millis: i64,
    /// The event type, e.g. `PassStateEntered`.
    pub kind: String,
    /// The name of the details field (`stateEnteredEventDetails`, ...), if the type has one.
    pub details_key: Option<&'static str>,
    /// The details object.
    pub details: Value,
}

impl HistoryEvent {
    /// The event as AWS's GetExecutionHistory shows it, the timestamp in epoch seconds.
    pub fn to_json(&self, include_data: bool) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("previousEventId".into(), json!(self.previous_event_id));
        m.insert("timestamp".into(), json!(self.timestamp_millis as f64 / 1000.0));
        m.insert("type".into(), Value::String(self.kind.clone()));
        if let Some(key) = self.details_key {
            let mut d = self.details.clone();
            if !include_data {
                if let Value::Object(o) = &mut d {
                    for k in ["input", "output", "parameters", "assignedVariables"] {
                        o.remove(k);
                    }
                }
            }
            m.insert(key.into(), d);
        }
        Value::Object(m)
    }
}

/// Serializes a payload as AWS puts it into event details.
pub fn payload(v: &Value) -> Value {
    Value::String(serde_json::to_string(v).unwrap_or_default())
}

/// `{"truncated": false}`.
pub fn not_truncated() -> Value {
    json!({ "truncated": false })
}

/// The recorded history of one execution.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Whether events are kept (ids are counted either way).
    pub record: bool,
    events: Vec<HistoryEvent>,
    last_id: u64,
}

impl History {
    /// A history that keeps its events when `record` is set.
    pub fn new(record: bool) -> Self {
        Self { record, events: Vec::new(), last_id: 0 }
    }

    /// Appends an event and returns its id.
    pub fn push(
        &mut self,
        previous: u64,
        now: i64,
        kind: &'static str,
        details_key: Option<&'static str>,
        details: impl FnOnce() -> Value,
    ) -> u64 {
        self.last_id += 1;
        if self.record {
            self.events.push(HistoryEvent {
                id: self.last_id,
                previous_event_id: previous,
                timestamp_millis: now,
                kind: kind.into(),
                details_key,
                details: details_key.map(|_| details()).unwrap_or(Value::Null),
            });
        }
        self.last_id
    }

    /// Continues the ids after `id` (a redriven execution goes on after its persisted events).
    pub fn set_last_id(&mut self, id: u64) {
        self.last_id = id;
    }

    /// The id of the newest event.
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// The recorded events.
    pub fn events(&self) -> &[HistoryEvent] {
        &self.events
    }

    /// Moves the recorded events out.
    pub fn take(&mut self) -> Vec<HistoryEvent> {
        std::mem::take(&mut self.events)
    }
}
