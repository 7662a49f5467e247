//! The schema and its migrations, one list for both backends.
//!
//! Each migration is portable SQL with `{serial}` standing for the backend's auto-increment
//! key type, `{key}` for an integer key the backend assigns in insertion order (on SQLite
//! the row id, without `AUTOINCREMENT`'s bookkeeping: a number freed by deleting the newest
//! row may be given again) and `{bytewise}` for the collation that orders text by its bytes (SQLite's
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
    (
        8,
        // Executions get a number in start order, and steps are keyed by it instead of by
        // the ARN: the steps of the executions running now then sit in the last pages of
        // the table and its key, so a commit writes a few pages, not one page per step
        // scattered by random names (and the checkpoint copies as few).
        r#"
CREATE TABLE executions_v8 (
    id {key},
    arn TEXT NOT NULL UNIQUE,
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
    parent TEXT,
    version_arn TEXT,
    alias_arn TEXT
);
INSERT INTO executions_v8 (arn, machine_arn, name, revision_id, status, input, output, error,
    cause, start_ms, stop_ms, owner, next_seq, event_count, redrive_count, parent, version_arn,
    alias_arn)
SELECT arn, machine_arn, name, revision_id, status, input, output, error, cause, start_ms,
    stop_ms, owner, next_seq, event_count, redrive_count, parent, version_arn, alias_arn
FROM executions ORDER BY start_ms, arn;
CREATE TABLE steps_v8 (
    execution_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    input TEXT NOT NULL,
    first_event BIGINT NOT NULL,
    last_event BIGINT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);
INSERT INTO steps_v8 (execution_id, seq, at_ms, input, first_event, last_event)
SELECT e.id, s.seq, s.at_ms, s.input, s.first_event, s.last_event
FROM steps s JOIN executions_v8 e ON e.arn = s.execution_arn;
DROP TABLE steps;
DROP TABLE executions;
ALTER TABLE executions_v8 RENAME TO executions;
ALTER TABLE steps_v8 RENAME TO steps;
CREATE INDEX executions_by_machine ON executions (machine_arn, start_ms);
CREATE INDEX executions_by_owner ON executions (owner, status);
CREATE INDEX executions_running ON executions (owner) WHERE status = 'RUNNING';
"#,
    ),
];

/// The SQL of a migration for one backend, split into statements.
pub(crate) fn statements(backend: Backend, sql: &str) -> Vec<String> {
    let serial = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    let key = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    let bytewise = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => "COLLATE \"C\"",
    };
    sql.replace("{serial}", serial)
        .replace("{key}", key)
        .replace("{bytewise}", bytewise)
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(c: &rusqlite::Connection, up_to: i64, from: i64) {
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 >= from && m.0 <= up_to) {
            for statement in statements(Backend::Sqlite, sql) {
                c.execute_batch(&statement).unwrap_or_else(|e| panic!("{version}: {e}"));
            }
        }
    }

    #[test]
    fn migration_8_keeps_executions_and_moves_steps_to_their_number() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        apply(&c, 7, 1);
        // Two executions in the old shape, the later one inserted first, with steps.
        for (arn, start) in [("arn:b", 2000), ("arn:a", 1000)] {
            c.execute(
                "INSERT INTO executions (arn, machine_arn, name, revision_id, status, input, \
                 start_ms, owner, next_seq, event_count, redrive_count, version_arn) \
                 VALUES (?1, 'm', 'n', 'r', 'RUNNING', '{}', ?2, 'node', 2, 5, 0, 'v')",
                rusqlite::params![arn, start],
            )
            .unwrap();
            for seq in 0..2 {
                c.execute(
                    "INSERT INTO steps VALUES (?1, ?2, ?3, ?4, ?2, ?2)",
                    rusqlite::params![arn, seq, start + seq, format!("{arn}/{seq}")],
                )
                .unwrap();
            }
        }
        apply(&c, 8, 8);
        let rows: Vec<(i64, String, i64, String)> = c
            .prepare("SELECT id, arn, next_seq, version_arn FROM executions ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        // Numbered in start order, every column kept.
        assert_eq!(rows[0].1, "arn:a");
        assert_eq!(rows[1].1, "arn:b");
        assert!(rows[0].0 < rows[1].0);
        assert!(rows.iter().all(|r| r.2 == 2 && r.3 == "v"));
        let steps: Vec<(i64, i64, String)> = c
            .prepare("SELECT execution_id, seq, input FROM steps ORDER BY execution_id, seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expected: Vec<(i64, i64, String)> = rows
            .iter()
            .flat_map(|(id, arn, _, _)| (0..2).map(move |seq| (*id, seq, format!("{arn}/{seq}"))))
            .collect();
        assert_eq!(steps, expected);
        // The indexes were made again on the new table.
        let indexes: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions' \
                 AND name IN ('executions_by_machine', 'executions_by_owner', 'executions_running')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 3);
    }
}
