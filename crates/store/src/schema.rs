//! The schema and its migrations, one list for both backends.
//!
//! Each migration is portable SQL with `{serial}` standing for the backend's auto-increment
//! key type and `{bytewise}` for the collation that orders text by its bytes (SQLite's
//! default; `COLLATE "C"` on PostgreSQL, whose default follows the database's locale). A migration runs once, in a transaction, and is recorded in `baton_migrations`;
//! a database newer than this binary is refused rather than misread.

use crate::Backend;

/// The migrations, oldest first. Never edit one that has shipped: add a new one.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    heartbeat_until BIGINT NOT NULL
);
CREATE TABLE state_machines (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    description TEXT NOT NULL,
    logging TEXT NOT NULL,
    tracing TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    tags TEXT NOT NULL
);
CREATE TABLE revisions (
    id TEXT PRIMARY KEY,
    machine_arn TEXT NOT NULL,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE executions (
    arn TEXT PRIMARY KEY,
    machine_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    error TEXT,
    cause TEXT,
    start_ms BIGINT NOT NULL,
    stop_ms BIGINT,
    owner TEXT,
    next_seq BIGINT NOT NULL,
    event_count BIGINT NOT NULL,
    redrive_count BIGINT NOT NULL,
    parent TEXT
);
CREATE INDEX executions_by_machine ON executions (machine_arn, start_ms);
CREATE INDEX executions_by_owner ON executions (owner, status);
CREATE TABLE steps (
    execution_arn TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    input TEXT NOT NULL,
    first_event BIGINT NOT NULL,
    last_event BIGINT NOT NULL,
    PRIMARY KEY (execution_arn, seq)
);
CREATE TABLE inbox (
    id {serial},
    execution_arn TEXT NOT NULL,
    message TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX inbox_by_execution ON inbox (execution_arn);
CREATE TABLE task_tokens (
    token TEXT PRIMARY KEY,
    execution_arn TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE activities (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    tags TEXT NOT NULL
);
CREATE TABLE activity_tasks (
    token TEXT PRIMARY KEY,
    activity_arn TEXT NOT NULL,
    input TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    claimed_by TEXT
);
CREATE INDEX activity_tasks_open ON activity_tasks (activity_arn, created_ms);
"#,
    ),
    (
        2,
        r#"
CREATE TABLE machine_versions (
    arn TEXT PRIMARY KEY,
    machine_arn TEXT NOT NULL,
    version BIGINT NOT NULL,
    revision_id TEXT NOT NULL,
    description TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX machine_versions_by_machine ON machine_versions (machine_arn, version);
CREATE TABLE machine_aliases (
    arn TEXT PRIMARY KEY,
    machine_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    routing TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX machine_aliases_by_machine ON machine_aliases (machine_arn);
CREATE INDEX task_tokens_by_execution ON task_tokens (execution_arn);
CREATE INDEX executions_running ON executions (owner) WHERE status = 'RUNNING';
ALTER TABLE executions ADD COLUMN version_arn TEXT;
ALTER TABLE executions ADD COLUMN alias_arn TEXT;
"#,
    ),
    (
        3,
        r#"
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    run_at_ms BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until_ms BIGINT NOT NULL,
    last_error TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (kind, run_at_ms) WHERE status = 'pending';
CREATE INDEX jobs_by_target ON jobs (kind, target, status, created_ms);
"#,
    ),
    (
        4,
        r#"
CREATE TABLE outbox (
    seq {serial},
    message_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    subject TEXT,
    ordering_key TEXT,
    created_ms BIGINT NOT NULL
);
"#,
    ),
    (
        5,
        r#"
CREATE TABLE documents (
    collection TEXT NOT NULL,
    id TEXT {bytewise} NOT NULL,
    body TEXT NOT NULL,
    etag TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    modified_ms BIGINT NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    ),
    (
        6,
        r#"
CREATE TABLE topics (
    name TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL
);
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    filter_policy TEXT,
    filter_scope TEXT NOT NULL,
    raw BIGINT NOT NULL,
    secrets TEXT NOT NULL,
    retry_schedule TEXT,
    status TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX subscriptions_by_topic ON subscriptions (topic, created_ms);
CREATE TABLE topic_messages (
    message_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    subject TEXT,
    ordering_key TEXT,
    created_ms BIGINT NOT NULL
);
CREATE TABLE deliveries (
    id {serial},
    seq BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    ordering_key TEXT,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until_ms BIGINT NOT NULL,
    last_error TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    UNIQUE (message_id, subscription_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX deliveries_by_key ON deliveries (subscription_id, ordering_key, seq) WHERE status = 'pending';
CREATE INDEX deliveries_by_topic ON deliveries (topic, status, id);
CREATE TABLE delivery_attempts (
    id {serial},
    delivery_id BIGINT NOT NULL,
    subscription_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT,
    latency_ms BIGINT NOT NULL,
    response TEXT
);
CREATE INDEX delivery_attempts_by_subscription ON delivery_attempts (subscription_id, id);
"#,
    ),
    (
        7,
        r#"
ALTER TABLE subscriptions ADD COLUMN failing_since_ms BIGINT;
CREATE INDEX deliveries_finished ON deliveries (updated_ms) WHERE status <> 'pending';
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id);
CREATE INDEX topic_messages_by_time ON topic_messages (created_ms);
"#,
    ),
];

/// The SQL of a migration for one backend, split into statements.
pub(crate) fn statements(backend: Backend, sql: &str) -> Vec<String> {
    let serial = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    let bytewise = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => "COLLATE \"C\"",
    };
    sql.replace("{serial}", serial)
        .replace("{bytewise}", bytewise)
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
