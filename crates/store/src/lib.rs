//! Baton's durable state, on SQLite (embedded, the default) or PostgreSQL (several nodes).
//!
//! One [`Store`] type serves both backends through sqlx's `Any` driver: the SQL is portable
//! (positional `$n` parameters, `ON CONFLICT`, `RETURNING`), and the few differences (row
//! locking with `SKIP LOCKED`, auto-increment keys) are chosen by [`Backend`]. Migrations run
//! when the store opens. On a SQLite file the hottest reads and writes skip sqlx: reads run
//! inline on a few rusqlite connections (`inline.rs`), and execution batches, publish groups,
//! claims and attempt groups run on a writer thread that commits every waiting job in one
//! transaction (`writer.rs`), written once for both backends against `sql::Conn`.
//!
//! The store knows rows, not HTTP and not the States Language: payloads are JSON text that
//! the layers above write and read back (they version what they persist).
//!
//! **Invariant:** everything an execution does is written by [`Store::commit`], one
//! transaction per batch, fenced by ownership: a node that has lost an execution to another
//! node cannot write to it any more.

mod documents;
mod inline;
mod jobs;
mod outbox;
mod schema;
mod sql;
mod topics;
mod writer;

pub use documents::DocumentRecord;
pub use jobs::JobRecord;
pub use outbox::OutboxRecord;
pub use topics::{
    AttemptEnd, AttemptRecord, Claim, ClaimedWith, DeliveryRecord, FailingStreak, FinishedAttempts,
    MessageRecord, Purged, SubscriptionRecord, TopicRecord,
};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Executor, Row};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("the database has schema version {found}, newer than this binary's {known}")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("cannot read a row: {0}")]
    Decode(String),
    #[error("cannot commit: {0}")]
    Commit(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A state machine as stored: its current revision inline.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MachineRecord {
    pub arn: String,
    pub name: String,
    /// `STANDARD` or `EXPRESS`.
    pub kind: String,
    pub revision_id: String,
    pub definition: String,
    pub role_arn: String,
    pub description: String,
    /// The logging configuration, JSON.
    pub logging: String,
    /// The tracing configuration, JSON.
    pub tracing: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// `[{"key", "value"}]`, JSON.
    pub tags: String,
}

/// One revision of a state machine's definition: what an execution runs.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RevisionRecord {
    pub id: String,
    pub machine_arn: String,
    pub definition: String,
    pub role_arn: String,
    pub created_ms: i64,
}

/// A Standard execution's row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ExecutionRecord {
    pub arn: String,
    pub machine_arn: String,
    pub name: String,
    pub revision_id: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub start_ms: i64,
    pub stop_ms: Option<i64>,
    /// The node that runs it, while it runs.
    pub owner: Option<String>,
    /// The sequence number of the next step.
    pub next_seq: i64,
    /// History events so far.
    pub event_count: i64,
    pub redrive_count: i64,
    /// Who waits for this execution to end (a parent's `.sync` task), JSON.
    pub parent: Option<String>,
    /// The version it runs, when started through a version or an alias.
    pub version_arn: Option<String>,
    /// The alias it was started through.
    pub alias_arn: Option<String>,
}

/// A published version of a state machine: a revision with a number.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VersionRecord {
    pub arn: String,
    pub machine_arn: String,
    pub version: i64,
    pub revision_id: String,
    pub description: String,
    pub created_ms: i64,
}

/// An alias: a name routing executions to one or two versions by weight.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AliasRecord {
    pub arn: String,
    pub machine_arn: String,
    pub name: String,
    pub description: String,
    /// `[{"stateMachineVersionArn", "weight"}]`, JSON.
    pub routing: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// One step of an execution: the input it applied. The history events it produced are not
/// stored: replaying the steps makes them again, exactly.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StepRecord {
    pub seq: i64,
    pub at_ms: i64,
    /// The input, JSON (versioned by the executor).
    pub input: String,
    /// The first and last history event ids of the step (`first > last` when it made none).
    pub first_event: i64,
    pub last_event: i64,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionEnd {
    pub status: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub stop_ms: i64,
}

/// A task waiting for an activity worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityTaskRecord {
    pub token: String,
    pub activity_arn: String,
    pub input: String,
    pub created_ms: i64,
}

/// Everything one execution's steps write, applied together or not at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionWrite {
    pub arn: String,
    /// A new execution: insert this row (rejected if the ARN exists) instead of updating.
    pub create: Option<ExecutionRecord>,
    pub steps: Vec<StepRecord>,
    pub next_seq: i64,
    pub event_count: i64,
    pub end: Option<ExecutionEnd>,
    /// Inbox messages the steps consumed.
    pub inbox_done: Vec<i64>,
    /// Task tokens handed out (`.waitForTaskToken`, activities).
    pub tokens_added: Vec<String>,
    /// Task tokens no longer valid (their task ended).
    pub tokens_removed: Vec<String>,
    pub activity_tasks: Vec<ActivityTaskRecord>,
    /// Messages for other executions' inboxes: `(execution_arn, message)`.
    pub messages: Vec<(String, String)>,
}

/// A message for the execution's owner.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct InboxRecord {
    pub id: i64,
    pub execution_arn: String,
    pub message: String,
}

/// An activity.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ActivityRecord {
    pub arn: String,
    pub name: String,
    pub created_ms: i64,
    pub tags: String,
}

/// Which running executions [`Store::claim_orphans`] takes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphans {
    /// Those with no owner (handed back at a shutdown) and those whose owner's heartbeat
    /// lapsed: found owner by owner through the index of running executions by owner, so a
    /// claim costs what it finds, however many run (the periodic claim).
    Lapsed,
    /// Those too, and those whose owner never wrote a heartbeat or has no row any more: reads
    /// every running execution (at a node's start, and now and then).
    Sweep,
    /// Every running execution the caller does not own (a single node starting on its own
    /// database).
    All,
}

/// The connection to the database.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads (and, on PostgreSQL, everything).
    pool: AnyPool,
    /// Writes. On SQLite one connection: writers wait their turn here rather than fail
    /// with `SQLITE_BUSY` when a transaction that read first cannot upgrade its lock.
    writer: AnyPool,
    backend: Backend,
    /// On a SQLite file: the hottest point reads, without sqlx's thread hop.
    inline: Option<Arc<inline::InlineReader>>,
    /// On a SQLite file: the hottest writes, a group per transaction on a thread of their own.
    sqlite_writer: Option<Arc<writer::Writer>>,
    /// The turn at writing that `writer` and the writer thread share (taken on SQLite only).
    turn: writer::Turn,
}

/// A connection or transaction of the store's writer, in its turn (on SQLite) until it is
/// dropped or committed.
struct Writing<C> {
    conn: C,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<C: std::ops::Deref<Target = AnyConnection>> std::ops::Deref for Writing<C> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl<C: std::ops::DerefMut<Target = AnyConnection>> std::ops::DerefMut for Writing<C> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

impl Writing<sqlx::Transaction<'static, sqlx::Any>> {
    /// Commits, then gives up the turn.
    async fn commit(self) -> sqlx::Result<()> {
        self.conn.commit().await
    }
}

const EXECUTION_COLUMNS: &str = "arn, machine_arn, name, revision_id, status, input, output, \
     error, cause, start_ms, stop_ms, owner, next_seq, event_count, redrive_count, parent, \
     version_arn, alias_arn";

/// [`EXECUTION_COLUMNS`] as reads select them, from `executions`: a running execution's
/// row is not rewritten at each commit, so its step counters come from its newest step
/// (the row's own are those of its creation or its end).
const EXECUTION_SELECT: &str = "arn, machine_arn, name, revision_id, status, input, output, \
     error, cause, start_ms, stop_ms, owner, \
     COALESCE((SELECT s.seq + 1 FROM steps s WHERE s.execution_id = executions.id \
         ORDER BY s.seq DESC LIMIT 1), next_seq) AS next_seq, \
     COALESCE((SELECT s.last_event FROM steps s WHERE s.execution_id = executions.id \
         ORDER BY s.seq DESC LIMIT 1), event_count) AS event_count, \
     redrive_count, parent, version_arn, alias_arn";

const VERSION_COLUMNS: &str = "arn, machine_arn, version, revision_id, description, created_ms";

const ALIAS_COLUMNS: &str = "arn, machine_arn, name, description, routing, created_ms, updated_ms";

const MACHINE_COLUMNS: &str = "arn, name, kind, revision_id, definition, role_arn, description, \
     logging, tracing, created_ms, updated_ms, tags";

impl Store {
    /// Opens the database at `url` (`sqlite://PATH` or `postgres://...`), creating a SQLite
    /// file if needed, and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::UnsupportedUrl(url.to_owned()));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let sqlite = |n: u32| {
                    AnyPoolOptions::new().max_connections(n).after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA temp_store = MEMORY").await?;
                            Ok(())
                        })
                    })
                };
                let writer = sqlite(1)
                    .acquire_timeout(Duration::from_secs(60))
                    .connect_with(options.clone())
                    .await?;
                let readers = sqlite(8).connect_with(options).await?;
                (readers, writer)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                (pool.clone(), pool)
            }
        };
        let turn = writer::Turn::default();
        let mut store = Self { pool, writer, backend, inline: None, sqlite_writer: None, turn };
        store.migrate().await?;
        if backend == Backend::Sqlite {
            // After the migrations, so the file exists (a new database is created by them).
            let file = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?;
            store.inline = inline::InlineReader::open(file.get_filename())?.map(Arc::new);
            if store.inline.is_some() {
                let turn = store.turn.clone();
                store.sqlite_writer =
                    Some(Arc::new(writer::Writer::open(file.get_filename(), turn)?));
            }
        }
        Ok(store)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // Nodes starting together migrate one at a time.
            sqlx::query("SELECT pg_advisory_xact_lock(7471)").execute(&mut *tx).await?;
        }
        sqlx::query("CREATE TABLE IF NOT EXISTS baton_migrations (version BIGINT PRIMARY KEY)")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query("SELECT version FROM baton_migrations").fetch_all(&mut *tx).await?;
        let applied: std::collections::BTreeSet<i64> =
            rows.iter().map(|r| r.try_get("version")).collect::<std::result::Result<_, _>>()?;
        let current = applied.last().copied().unwrap_or(0);
        let known = schema::MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        if current > known {
            return Err(Error::SchemaTooNew { found: current, known });
        }
        // Every migration not yet recorded runs, in order: a database made by a build that
        // had a later migration but not an earlier one still gets the earlier one.
        for (version, sql) in schema::MIGRATIONS.iter().filter(|m| !applied.contains(&m.0)) {
            for statement in schema::statements(self.backend, sql) {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO baton_migrations (version) VALUES ($1)")
                .bind(*version)
                .execute(&mut *tx)
                .await?;
            tracing::info!(version, "applied store migration");
        }
        tx.commit().await?;
        Ok(())
    }

    /// A write transaction through sqlx. On SQLite it waits for its turn (behind the writer
    /// thread's group in progress, if any) and takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads before it writes could fail
    /// to upgrade instead.
    async fn begin_write(&self) -> Result<Writing<sqlx::Transaction<'static, sqlx::Any>>> {
        let turn = self.take_turn().await;
        let conn = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        };
        Ok(Writing { conn, _turn: turn })
    }

    /// The writer connection for statements that write on their own, in its turn.
    async fn write_conn(&self) -> Result<Writing<sqlx::pool::PoolConnection<sqlx::Any>>> {
        let turn = self.take_turn().await;
        Ok(Writing { conn: self.writer.acquire().await?, _turn: turn })
    }

    /// The turn, on SQLite (PostgreSQL's writers wait on its row locks instead).
    async fn take_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(self.turn.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }

    fn skip_locked(&self) -> &'static str {
        skip_locked(self.backend)
    }

    // ----- state machines ------------------------------------------------------------------

    /// Inserts a state machine and its first revision; `false` if the ARN is taken.
    pub async fn create_machine(&self, m: &MachineRecord) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(&format!(
            "INSERT INTO state_machines ({MACHINE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (arn) DO NOTHING"
        ))
        .bind(&m.arn)
        .bind(&m.name)
        .bind(&m.kind)
        .bind(&m.revision_id)
        .bind(&m.definition)
        .bind(&m.role_arn)
        .bind(&m.description)
        .bind(&m.logging)
        .bind(&m.tracing)
        .bind(m.created_ms)
        .bind(m.updated_ms)
        .bind(&m.tags)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_revision(&mut tx, &m.revision_id, &m.arn, &m.definition, &m.role_arn, m.updated_ms)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A state machine by ARN.
    pub async fn machine(&self, arn: &str) -> Result<Option<MachineRecord>> {
        let row =
            sqlx::query(&format!("SELECT {MACHINE_COLUMNS} FROM state_machines WHERE arn = $1"))
                .bind(arn)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// State machines ordered by ARN, after `after` (exclusive), at most `limit`.
    pub async fn machines(&self, after: Option<&str>, limit: i64) -> Result<Vec<MachineRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MACHINE_COLUMNS} FROM state_machines WHERE arn > $1 ORDER BY arn LIMIT $2"
        ))
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Replaces a state machine's row; a changed definition or role comes with a new
    /// revision. `false` if it does not exist.
    pub async fn update_machine(&self, m: &MachineRecord, new_revision: bool) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE state_machines SET revision_id = $2, definition = $3, role_arn = $4, \
             description = $5, logging = $6, tracing = $7, updated_ms = $8, tags = $9 \
             WHERE arn = $1",
        )
        .bind(&m.arn)
        .bind(&m.revision_id)
        .bind(&m.definition)
        .bind(&m.role_arn)
        .bind(&m.description)
        .bind(&m.logging)
        .bind(&m.tracing)
        .bind(m.updated_ms)
        .bind(&m.tags)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if new_revision {
            insert_revision(
                &mut tx,
                &m.revision_id,
                &m.arn,
                &m.definition,
                &m.role_arn,
                m.updated_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a state machine with its versions and aliases (its revisions stay for the
    /// executions that ran them).
    pub async fn delete_machine(&self, arn: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        for table in ["machine_versions", "machine_aliases"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE machine_arn = $1"))
                .bind(arn)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM state_machines WHERE arn = $1")
            .bind(arn)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    // ----- versions and aliases ------------------------------------------------------------

    /// Publishes the next version of a machine for `revision_id`, unless the newest version
    /// already has that revision (then that one is returned).
    pub async fn publish_version(
        &self,
        machine_arn: &str,
        revision_id: &str,
        description: &str,
        now_ms: i64,
    ) -> Result<VersionRecord> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // One publisher per machine at a time: version numbers are dense.
            sqlx::query("SELECT arn FROM state_machines WHERE arn = $1 FOR UPDATE")
                .bind(machine_arn)
                .execute(&mut *tx)
                .await?;
        }
        let latest: Option<VersionRecord> = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM machine_versions WHERE machine_arn = $1 \
             ORDER BY version DESC LIMIT 1"
        ))
        .bind(machine_arn)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| from_row(&r))
        .transpose()?;
        if let Some(v) = &latest {
            if v.revision_id == revision_id {
                return Ok(v.clone());
            }
        }
        let number = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) AS n FROM machine_versions WHERE machine_arn = $1",
        )
        .bind(machine_arn)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>("n")?
            + 1;
        let v = VersionRecord {
            arn: format!("{machine_arn}:{number}"),
            machine_arn: machine_arn.to_owned(),
            version: number,
            revision_id: revision_id.to_owned(),
            description: description.to_owned(),
            created_ms: now_ms,
        };
        sqlx::query(&format!(
            "INSERT INTO machine_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(&v.arn)
        .bind(&v.machine_arn)
        .bind(v.version)
        .bind(&v.revision_id)
        .bind(&v.description)
        .bind(v.created_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(v)
    }

    /// A version by ARN.
    pub async fn version(&self, arn: &str) -> Result<Option<VersionRecord>> {
        let row =
            sqlx::query(&format!("SELECT {VERSION_COLUMNS} FROM machine_versions WHERE arn = $1"))
                .bind(arn)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// A machine's versions, newest first, below version `before` (exclusive).
    pub async fn versions(
        &self,
        machine_arn: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<VersionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM machine_versions WHERE machine_arn = $1 \
             AND version < $2 ORDER BY version DESC LIMIT $3"
        ))
        .bind(machine_arn)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Deletes a version.
    pub async fn delete_version(&self, arn: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM machine_versions WHERE arn = $1")
            .bind(arn)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Creates an alias; `false` if one of that ARN exists.
    pub async fn create_alias(&self, a: &AliasRecord) -> Result<bool> {
        let done = sqlx::query(&format!(
            "INSERT INTO machine_aliases ({ALIAS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (arn) DO NOTHING"
        ))
        .bind(&a.arn)
        .bind(&a.machine_arn)
        .bind(&a.name)
        .bind(&a.description)
        .bind(&a.routing)
        .bind(a.created_ms)
        .bind(a.updated_ms)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// An alias by ARN.
    pub async fn alias(&self, arn: &str) -> Result<Option<AliasRecord>> {
        let row =
            sqlx::query(&format!("SELECT {ALIAS_COLUMNS} FROM machine_aliases WHERE arn = $1"))
                .bind(arn)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// A machine's aliases by ARN.
    pub async fn aliases(&self, machine_arn: &str) -> Result<Vec<AliasRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ALIAS_COLUMNS} FROM machine_aliases WHERE machine_arn = $1 ORDER BY arn"
        ))
        .bind(machine_arn)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Replaces an alias's description and routing.
    pub async fn update_alias(&self, a: &AliasRecord) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE machine_aliases SET description = $2, routing = $3, updated_ms = $4 \
             WHERE arn = $1",
        )
        .bind(&a.arn)
        .bind(&a.description)
        .bind(&a.routing)
        .bind(a.updated_ms)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes an alias.
    pub async fn delete_alias(&self, arn: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM machine_aliases WHERE arn = $1")
            .bind(arn)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// One revision of a definition.
    pub async fn revision(&self, id: &str) -> Result<Option<RevisionRecord>> {
        let row = sqlx::query(
            "SELECT id, machine_arn, definition, role_arn, created_ms FROM revisions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    // ----- executions ----------------------------------------------------------------------

    /// An execution by ARN.
    pub async fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>> {
        let row = sqlx::query(&format!("SELECT {EXECUTION_SELECT} FROM executions WHERE arn = $1"))
            .bind(arn)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// A machine's executions, newest first, optionally of one status, continuing after the
    /// position `(start_ms, arn)` of the last one seen.
    pub async fn executions(
        &self,
        machine_arn: &str,
        status: Option<&str>,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<ExecutionRecord>> {
        let (after_ms, after_arn) = after.unwrap_or((i64::MAX, ""));
        let rows = sqlx::query(&format!(
            "SELECT {EXECUTION_SELECT} FROM executions WHERE machine_arn = $1 \
             AND ($2 = '' OR status = $2) \
             AND (start_ms < $3 OR (start_ms = $3 AND arn > $4)) \
             ORDER BY start_ms DESC, arn LIMIT $5"
        ))
        .bind(machine_arn)
        .bind(status.unwrap_or(""))
        .bind(after_ms)
        .bind(after_arn)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The steps of an execution in order: what a node replays to take it over, and where
    /// its history lives.
    pub async fn steps(&self, execution_arn: &str) -> Result<Vec<StepRecord>> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, input, first_event, last_event FROM steps \
             WHERE execution_id = (SELECT id FROM executions WHERE arn = $1) ORDER BY seq",
        )
        .bind(execution_arn)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Applies a batch of execution writes in one transaction. Returns, per write, whether
    /// it was applied: a new execution whose ARN exists, or an update by a node that no
    /// longer owns the execution, is skipped whole.
    ///
    /// The batch is written with a handful of multi-row statements, not a few per write: a
    /// statement costs a round trip (to the server, or to SQLite's worker thread), and group
    /// commit is only worth it if the batch is cheap to write.
    pub async fn commit(&self, node: &str, writes: Vec<ExecutionWrite>) -> Result<Vec<bool>> {
        if let Some(w) = &self.sqlite_writer {
            let node = node.to_owned();
            let backend = self.backend;
            return w.run(move |c| sql::now(commit_in(c, backend, &node, &writes))?).await;
        }
        let mut tx = self.begin_write().await?;
        let accepted = commit_in(&mut *tx, self.backend, node, &writes).await?;
        tx.commit().await?;
        Ok(accepted)
    }

    /// Marks a finished execution for a redrive: it runs again, owned by `node`.
    pub async fn reopen_execution(
        &self,
        arn: &str,
        node: &str,
        redrive_count: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE executions SET status = 'RUNNING', owner = $2, redrive_count = $3, \
             output = NULL, error = NULL, cause = NULL, stop_ms = NULL \
             WHERE arn = $1 AND status <> 'RUNNING' AND status <> 'SUCCEEDED'",
        )
        .bind(arn)
        .bind(node)
        .bind(redrive_count)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Puts an execution's row back as `e` has it (a redrive that could not start).
    pub async fn restore_execution(&self, e: &ExecutionRecord) -> Result<()> {
        sqlx::query(
            "UPDATE executions SET status = $2, output = $3, error = $4, cause = $5, \
             stop_ms = $6, redrive_count = $7 WHERE arn = $1",
        )
        .bind(&e.arn)
        .bind(&e.status)
        .bind(&e.output)
        .bind(&e.error)
        .bind(&e.cause)
        .bind(e.stop_ms)
        .bind(e.redrive_count)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    // ----- inbox and tokens ----------------------------------------------------------------

    /// Leaves a message for an execution's owner.
    pub async fn push_inbox(&self, execution_arn: &str, message: &str, now_ms: i64) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = insert_inbox(&mut tx, execution_arn, message, now_ms).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The messages waiting for the executions `node` owns, oldest first.
    pub async fn inbox_for(&self, node: &str, limit: i64) -> Result<Vec<InboxRecord>> {
        let rows = sqlx::query(INBOX_FOR).bind(node).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// The execution a live task token belongs to.
    pub async fn token_execution(&self, token: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT execution_arn FROM task_tokens WHERE token = $1")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("execution_arn")).transpose()?)
    }

    // ----- nodes and leases ----------------------------------------------------------------

    /// Records that `node` is alive until `until_ms`.
    pub async fn heartbeat(&self, node: &str, until_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO nodes (id, heartbeat_until) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_until = excluded.heartbeat_until",
        )
        .bind(node)
        .bind(until_ms)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// Takes over running executions for `node`, as many as `limit`: see [`Orphans`] for
    /// which. Returns their ARNs.
    pub async fn claim_orphans(
        &self,
        node: &str,
        now_ms: i64,
        which: Orphans,
        limit: i64,
    ) -> Result<Vec<String>> {
        let mut w = self.write_conn().await?;
        if which != Orphans::Lapsed {
            let all = i64::from(which == Orphans::All);
            let rows = sqlx::query(&sweep_claim_sql(self.backend))
                .bind(node)
                .bind(now_ms)
                .bind(all)
                .bind(limit)
                .fetch_all(&mut *w)
                .await?;
            return rows.iter().map(|r| Ok(r.try_get("arn")?)).collect();
        }
        // Owner by owner, each through the index of running executions by owner: the owners
        // whose heartbeat lapsed and that still own a running execution (a handful at most),
        // and none (handed back at a node's shutdown).
        let dead: Vec<String> = sqlx::query(
            "SELECT n.id FROM nodes n WHERE n.heartbeat_until < $2 AND n.id <> $1 \
             AND EXISTS (SELECT 1 FROM executions e WHERE e.owner = n.id \
             AND e.status = 'RUNNING')",
        )
        .bind(node)
        .bind(now_ms)
        .fetch_all(&mut *w)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<std::result::Result<_, _>>()?;
        let mut claimed = Vec::new();
        for owner in dead.iter().map(Some).chain([None]) {
            let left = limit - claimed.len() as i64;
            if left <= 0 {
                break;
            }
            let sql = lapsed_claim_sql(self.backend, owner.is_some());
            let mut query = sqlx::query(&sql).bind(node).bind(left);
            if let Some(owner) = owner {
                query = query.bind(owner);
            }
            let rows = query.fetch_all(&mut *w).await?;
            for r in &rows {
                claimed.push(r.try_get("arn")?);
            }
        }
        Ok(claimed)
    }

    /// Hands back everything `node` owns, for another node to take at once.
    pub async fn release(&self, node: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE executions SET owner = NULL WHERE owner = $1 AND status = 'RUNNING'")
            .bind(node)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM nodes WHERE id = $1").bind(node).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives up one execution (for example after a failed replay), for others to take.
    pub async fn release_execution(&self, node: &str, arn: &str) -> Result<()> {
        sqlx::query("UPDATE executions SET owner = NULL WHERE arn = $1 AND owner = $2")
            .bind(arn)
            .bind(node)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(())
    }

    // ----- activities ----------------------------------------------------------------------

    /// Creates an activity; an existing one of that ARN is returned instead.
    pub async fn create_activity(&self, a: &ActivityRecord) -> Result<ActivityRecord> {
        sqlx::query(
            "INSERT INTO activities (arn, name, created_ms, tags) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (arn) DO NOTHING",
        )
        .bind(&a.arn)
        .bind(&a.name)
        .bind(a.created_ms)
        .bind(&a.tags)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(self.activity(&a.arn).await?.unwrap_or_else(|| a.clone()))
    }

    /// An activity by ARN.
    pub async fn activity(&self, arn: &str) -> Result<Option<ActivityRecord>> {
        let row = sqlx::query("SELECT arn, name, created_ms, tags FROM activities WHERE arn = $1")
            .bind(arn)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// Activities ordered by ARN, after `after`.
    pub async fn activities(&self, after: Option<&str>, limit: i64) -> Result<Vec<ActivityRecord>> {
        let rows = sqlx::query(
            "SELECT arn, name, created_ms, tags FROM activities WHERE arn > $1 ORDER BY arn LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Deletes an activity.
    pub async fn delete_activity(&self, arn: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM activities WHERE arn = $1")
            .bind(arn)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Hands the oldest unclaimed task of an activity to `worker`: `(token, input)`.
    pub async fn claim_activity_task(
        &self,
        activity_arn: &str,
        worker: &str,
    ) -> Result<Option<(String, String)>> {
        let row = sqlx::query(&format!(
            "UPDATE activity_tasks SET claimed_by = $2 WHERE token = (\
               SELECT token FROM activity_tasks WHERE activity_arn = $1 AND claimed_by IS NULL \
               ORDER BY created_ms LIMIT 1{}) AND claimed_by IS NULL RETURNING token, input",
            self.skip_locked()
        ))
        .bind(activity_arn)
        .bind(worker)
        .fetch_optional(&mut *self.write_conn().await?)
        .await?;
        row.map(|r| Ok((r.try_get("token")?, r.try_get("input")?))).transpose()
    }

    // ----- tags ----------------------------------------------------------------------------

    /// Sets the tags (JSON) of a state machine or an activity; `false` if neither exists.
    pub async fn set_tags(&self, arn: &str, tags: &str) -> Result<bool> {
        let mut n = 0;
        for table in ["state_machines", "activities"] {
            n += sqlx::query(&format!("UPDATE {table} SET tags = $2 WHERE arn = $1"))
                .bind(arn)
                .bind(tags)
                .execute(&mut *self.write_conn().await?)
                .await?
                .rows_affected();
        }
        Ok(n > 0)
    }

    /// Deletes finished executions that stopped before `before_ms`, with their steps.
    pub async fn purge_finished(&self, before_ms: i64, limit: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT arn FROM executions WHERE status <> 'RUNNING' AND stop_ms < $1 LIMIT $2",
        )
        .bind(before_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        for r in &rows {
            let arn: String = r.try_get("arn")?;
            sqlx::query(
                "DELETE FROM steps WHERE execution_id = (SELECT id FROM executions WHERE arn = $1)",
            )
            .bind(&arn)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM executions WHERE arn = $1")
                .bind(&arn)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

/// The batch of [`Store::commit`], on an open transaction.
async fn commit_in<C: sql::Conn>(
    c: &mut C,
    backend: Backend,
    node: &str,
    writes: &[ExecutionWrite],
) -> Result<Vec<bool>> {
    use sql::Arg;
    // The number of each accepted write's execution (its steps' key).
    let mut accepted: Vec<Option<i64>> = vec![None; writes.len()];
    // The first write of `arn` in `chunk` (indices into `writes`) not yet accepted: a batch
    // may hold two creates of one ARN, and only the first can win.
    let first_open = |accepted: &[Option<i64>], chunk: &[usize], arn: &str| {
        chunk.iter().copied().find(|&i| writes[i].arn == arn && accepted[i].is_none())
    };

    // New executions: inserted unless the ARN exists.
    let creates: Vec<usize> = (0..writes.len()).filter(|&i| writes[i].create.is_some()).collect();
    for chunk in pow2_chunks(&creates, 32) {
        let sql = format!(
            "INSERT INTO executions ({EXECUTION_COLUMNS}) VALUES {} \
             ON CONFLICT (arn) DO NOTHING RETURNING arn, id",
            placeholders(chunk.len(), 18)
        );
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 18);
        for &i in chunk {
            let w = &writes[i];
            let Some(e) = w.create.as_ref() else { continue };
            let end = w.end.as_ref();
            args.extend([
                Arg::from(&e.arn),
                Arg::from(&e.machine_arn),
                Arg::from(&e.name),
                Arg::from(&e.revision_id),
                Arg::from(end.map_or(e.status.as_str(), |end| end.status.as_str())),
                Arg::from(&e.input),
                Arg::from(end.and_then(|end| end.output.as_deref())),
                Arg::from(end.and_then(|end| end.error.as_deref())),
                Arg::from(end.and_then(|end| end.cause.as_deref())),
                Arg::from(e.start_ms),
                Arg::from(end.map(|end| end.stop_ms)),
                Arg::from(node),
                Arg::from(w.next_seq),
                Arg::from(w.event_count),
                Arg::from(e.redrive_count),
                Arg::from(&e.parent),
                Arg::from(&e.version_arn),
                Arg::from(&e.alias_arn),
            ]);
        }
        for row in c.query(&sql, &args).await? {
            let mut row = row.into_iter();
            let mut next = || row.next().unwrap_or(sql::Val::Null);
            let (arn, id) = (next().text()?, next().int()?);
            if let Some(i) = first_open(&accepted, chunk, &arn) {
                accepted[i] = Some(id);
            }
        }
    }

    // Running executions that go on or end: only their owner may write them, and only while
    // they run. Their rows are found by ARN alone and the owner and status are checked here,
    // not in the statement: a planner that sees `owner = ? AND status = 'RUNNING'` may
    // prefer an index of the node's running executions and read every one of them per
    // statement (SQLite without statistics did; PostgreSQL did with statistics taken when
    // few ran, at about 1 ms per statement with a few hundred running). On PostgreSQL the
    // rows stay locked to the end of the transaction, so a takeover cannot change the owner
    // between this check and the commit; on SQLite the writer holds the whole database.
    // The row of an execution that goes on does not change (its step counters are read from
    // the steps, see `EXECUTION_SELECT`): rewriting it at every commit wrote a page per
    // execution.
    let existing: Vec<usize> = (0..writes.len()).filter(|&i| writes[i].create.is_none()).collect();
    let mut ending: Vec<(i64, &ExecutionWrite, &ExecutionEnd)> = Vec::new();
    for chunk in pow2_chunks(&existing, 64) {
        let sql = running_rows_sql(backend, chunk.len());
        let args: Vec<Arg<'_>> = chunk.iter().map(|&i| Arg::from(&writes[i].arn)).collect();
        for row in c.query(&sql, &args).await? {
            let mut row = row.into_iter();
            let mut next = || row.next().unwrap_or(sql::Val::Null);
            let (arn, id, owner, status) =
                (next().text()?, next().int()?, next().opt_text()?, next().text()?);
            if owner.as_deref() != Some(node) || status != "RUNNING" {
                continue;
            }
            if let Some(i) = first_open(&accepted, chunk, &arn) {
                accepted[i] = Some(id);
                if let Some(end) = &writes[i].end {
                    ending.push((id, &writes[i], end));
                }
            }
        }
    }

    // Those that end: their row takes the outcome, found by its number.
    for chunk in pow2_chunks(&ending, 64) {
        let sql = format!(
            "UPDATE executions SET next_seq = v.column2, event_count = v.column3, \
             status = v.column4, output = v.column5, error = v.column6, cause = v.column7, \
             stop_ms = v.column8 FROM (VALUES {}) AS v WHERE executions.id = v.column1",
            placeholders(chunk.len(), 8),
        );
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 8);
        for &(id, w, end) in chunk {
            args.extend([
                Arg::from(id),
                Arg::from(w.next_seq),
                Arg::from(w.event_count),
                Arg::from(end.status.as_str()),
                Arg::from(end.output.as_deref()),
                Arg::from(end.error.as_deref()),
                Arg::from(end.cause.as_deref()),
                Arg::from(end.stop_ms),
            ]);
        }
        c.query(&sql, &args).await?;
    }

    let ok: Vec<(&ExecutionWrite, i64)> =
        writes.iter().zip(&accepted).filter_map(|(w, id)| Some((w, (*id)?))).collect();

    // Their steps.
    let steps: Vec<(i64, &StepRecord)> =
        ok.iter().flat_map(|(w, id)| w.steps.iter().map(move |s| (*id, s))).collect();
    for chunk in pow2_chunks(&steps, 64) {
        let sql = format!(
            "INSERT INTO steps (execution_id, seq, at_ms, input, first_event, last_event) \
             VALUES {}",
            placeholders(chunk.len(), 6)
        );
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 6);
        for (id, s) in chunk {
            args.extend([
                Arg::from(*id),
                Arg::from(s.seq),
                Arg::from(s.at_ms),
                Arg::from(&s.input),
                Arg::from(s.first_event),
                Arg::from(s.last_event),
            ]);
        }
        c.query(&sql, &args).await?;
    }

    let ok: Vec<&ExecutionWrite> = ok.into_iter().map(|(w, _)| w).collect();

    // What their steps consumed, handed out and ended.
    let inbox_done: Vec<i64> = ok.iter().flat_map(|w| w.inbox_done.iter().copied()).collect();
    for chunk in pow2_chunks(&inbox_done, 64) {
        let sql = format!("DELETE FROM inbox WHERE id IN ({})", list(chunk.len(), 1));
        let args: Vec<Arg<'_>> = chunk.iter().map(|id| Arg::from(*id)).collect();
        c.query(&sql, &args).await?;
    }
    for w in &ok {
        let at = w.steps.last().map_or(0, |s| s.at_ms);
        for token in &w.tokens_added {
            c.query(
                "INSERT INTO task_tokens (token, execution_arn, created_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (token) DO NOTHING",
                &[Arg::from(token), Arg::from(&w.arn), Arg::from(at)],
            )
            .await?;
        }
        for t in &w.activity_tasks {
            c.query(
                "INSERT INTO activity_tasks (token, activity_arn, input, created_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (token) DO NOTHING",
                &[
                    Arg::from(&t.token),
                    Arg::from(&t.activity_arn),
                    Arg::from(&t.input),
                    Arg::from(t.created_ms),
                ],
            )
            .await?;
        }
        for (arn, message) in &w.messages {
            c.query(
                "INSERT INTO inbox (execution_arn, message, created_ms) VALUES ($1, $2, $3)",
                &[Arg::from(arn), Arg::from(message), Arg::from(at)],
            )
            .await?;
        }
    }
    let removed: Vec<&str> =
        ok.iter().flat_map(|w| w.tokens_removed.iter().map(String::as_str)).collect();
    for chunk in pow2_chunks(&removed, 64) {
        let args: Vec<Arg<'_>> = chunk.iter().map(|t| Arg::from(*t)).collect();
        for table in ["task_tokens", "activity_tasks"] {
            let sql = format!("DELETE FROM {table} WHERE token IN ({})", list(chunk.len(), 1));
            c.query(&sql, &args).await?;
        }
    }
    // Nothing reads an ended execution's tokens or inbox any more.
    let ended: Vec<&str> = ok.iter().filter(|w| w.end.is_some()).map(|w| w.arn.as_str()).collect();
    for chunk in pow2_chunks(&ended, 64) {
        let args: Vec<Arg<'_>> = chunk.iter().map(|a| Arg::from(*a)).collect();
        for table in ["task_tokens", "inbox"] {
            let sql =
                format!("DELETE FROM {table} WHERE execution_arn IN ({})", list(chunk.len(), 1));
            c.query(&sql, &args).await?;
        }
    }
    Ok(accepted.iter().map(Option::is_some).collect())
}

/// The oldest messages (`LIMIT $2`) for the running executions `$1` owns. Driven by the
/// inbox, which holds only messages not yet taken: each message's execution is looked up by
/// ARN. As a join on `owner = ? AND status = 'RUNNING'`, PostgreSQL read every running
/// execution of the node and probed the inbox for each, ten times a second (2.5 ms with
/// 3,000 waiting; a node with 100,000 waiting for callbacks would have spent most of a core
/// on it).
///
/// The status is compared outside the subquery's `WHERE`: there, `status = 'RUNNING'` let
/// PostgreSQL scan the whole index of running executions (which its statistics thought
/// nearly empty) for each message instead of looking the ARN up.
const INBOX_FOR: &str = "SELECT i.id, i.execution_arn, i.message FROM inbox i \
     WHERE (SELECT CASE WHEN e.status = 'RUNNING' THEN e.owner END FROM executions e \
     WHERE e.arn = i.execution_arn) = $1 ORDER BY i.id LIMIT $2";

/// The rows of `n` executions by ARN (`$1` to `$n`), to check that they run and who owns them:
/// see [`commit_in`] for why the statement names no other column.
fn running_rows_sql(backend: Backend, n: usize) -> String {
    format!(
        "SELECT arn, id, owner, status FROM executions WHERE arn IN ({}){}",
        list(n, 1),
        row_locked(backend)
    )
}

/// The claim, for `$1`, of at most `$4` running executions it does not own whose owner's
/// heartbeat lapsed before `$2` or is not there at all, or of all of them when `$3` is 1: reads
/// every running execution ([`Orphans::Sweep`], [`Orphans::All`]).
fn sweep_claim_sql(backend: Backend) -> String {
    format!(
        "UPDATE executions SET owner = $1 WHERE arn IN (\
           SELECT e.arn FROM executions e LEFT JOIN nodes n ON n.id = e.owner \
           WHERE e.status = 'RUNNING' AND (e.owner IS NULL OR e.owner <> $1) \
           AND ($3 = 1 OR n.id IS NULL OR n.heartbeat_until < $2) LIMIT $4{}) \
         RETURNING arn",
        match backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE OF e SKIP LOCKED",
        }
    )
}

/// The claim of an owner's running executions (`$3`, or those with no owner when `by_owner`
/// is false) for `$1`, at most `$2`: through the index of running executions by owner, so it
/// reads only what it takes.
fn lapsed_claim_sql(backend: Backend, by_owner: bool) -> String {
    let owned = if by_owner { "owner = $3" } else { "owner IS NULL" };
    format!(
        "UPDATE executions SET owner = $1 WHERE arn IN (\
           SELECT arn FROM executions WHERE {owned} AND status = 'RUNNING' \
           LIMIT $2{}) RETURNING arn",
        skip_locked(backend)
    )
}

/// What a `SELECT` adds to keep the rows it read from changing until the transaction ends,
/// and to let the transaction update them (a takeover's `UPDATE` of the owner waits for it,
/// and it waits for one under way): nothing on SQLite, whose one writer holds the whole
/// database.
pub(crate) fn row_locked(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR NO KEY UPDATE",
    }
}

/// What a claim's `SELECT` adds to lock the rows it takes and skip those others hold:
/// nothing on SQLite, whose one writer holds the whole database.
fn skip_locked(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
    }
}

/// Splits `items` into chunks whose lengths are powers of two, at most `max`: multi-row
/// statements then come in a few shapes only, which stay in the prepared-statement cache
/// (and SQLite binds parameters by name, so a huge statement costs more per parameter).
fn pow2_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = rest.len().min(max);
        let n = 1 << (usize::BITS - 1 - n.leading_zeros());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

/// `($1, $2), ($3, $4)`: `rows` groups of `width` numbered placeholders.
fn placeholders(rows: usize, width: usize) -> String {
    let mut out = String::with_capacity(rows * width * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        out.push_str(&list(width, r * width + 1));
        out.push(')');
    }
    out
}

/// `$first, $first+1, ...`: `n` numbered placeholders.
fn list(n: usize, first: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

async fn insert_revision(
    conn: &mut AnyConnection,
    id: &str,
    machine_arn: &str,
    definition: &str,
    role_arn: &str,
    created_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO revisions (id, machine_arn, definition, role_arn, created_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(machine_arn)
    .bind(definition)
    .bind(role_arn)
    .bind(created_ms)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_inbox(
    conn: &mut AnyConnection,
    execution_arn: &str,
    message: &str,
    now_ms: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO inbox (execution_arn, message, created_ms) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(execution_arn)
    .bind(message)
    .bind(now_ms)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("id")?)
}

/// Reads a row into a record: the fields are named as the columns.
fn from_row<T: for<'r> sqlx::FromRow<'r, AnyRow>>(r: &AnyRow) -> Result<T> {
    Ok(T::from_row(r)?)
}

/// Support for tests, here and in the crates above: throwaway PostgreSQL databases.
pub mod testing {
    use sqlx::Connection;

    /// Creates an empty database next to the one `url` names and returns its URL; the
    /// caller drops it with [`drop_database`]. Each test gets a clean schema this way.
    pub async fn fresh_postgres(url: &str) -> crate::Result<String> {
        sqlx::any::install_default_drivers();
        let name = format!("baton_t_{}", uuid_like());
        let mut conn = sqlx::AnyConnection::connect(url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
        conn.close().await?;
        Ok(with_database(url, &name))
    }

    /// Drops a database made by [`fresh_postgres`] (best effort: connections may linger).
    pub async fn drop_database(admin_url: &str, url: &str) {
        let Some(name) = url.rsplit('/').next().map(|s| s.split('?').next().unwrap_or(s)) else {
            return;
        };
        if let Ok(mut conn) = sqlx::AnyConnection::connect(admin_url).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }

    fn with_database(url: &str, name: &str) -> String {
        let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
        let authority_start = base.find("://").map_or(0, |i| i + 3);
        let root = match base[authority_start..].find('/') {
            Some(i) => &base[..authority_start + i],
            None => base,
        };
        match query {
            Some(q) => format!("{root}/{name}?{q}"),
            None => format!("{root}/{name}"),
        }
    }

    fn uuid_like() -> String {
        use std::time::{SystemTime, UNIX_EPOCH};
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let pid = std::process::id();
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{nanos:x}{pid:x}{n:x}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    use sqlx::Row;

    /// Under a steady flood of writer-thread jobs, a write through sqlx gets its turn after
    /// the group in progress (and perhaps one that beat it to the lock), not whenever
    /// SQLite's busy handler happens to retry while the thread is between groups.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sqlx_write_waits_for_a_group_not_for_the_writer_thread_to_go_idle() {
        let dir = std::env::temp_dir().join(format!("baton-turn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store =
            super::Store::open(&format!("sqlite://{}", dir.join("t.db").display())).await.unwrap();
        let writer = store.sqlite_writer.clone().expect("a SQLite file has a writer thread");
        writer.run(|c| Ok(c.execute_batch("CREATE TABLE flood (n INTEGER)")?)).await.unwrap();
        let (stop, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let flooders: Vec<_> = (0..4)
            .map(|_| {
                let (writer, stop, done) = (writer.clone(), stop.clone(), done.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        writer
                            .run(|c| {
                                std::thread::sleep(std::time::Duration::from_millis(2));
                                Ok(c.execute("INSERT INTO flood VALUES (1)", [])?)
                            })
                            .await
                            .unwrap();
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        while done.load(Ordering::Relaxed) < 20 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let before = done.load(Ordering::Relaxed);
        store.setting_or_init("turn", "mine").await.unwrap();
        let during = done.load(Ordering::Relaxed) - before;
        stop.store(true, Ordering::Relaxed);
        for f in flooders {
            f.await.unwrap();
        }
        // One turn: at most the group in progress and one that beat the write to the lock,
        // each of at most four jobs (the bound leaves room to spare).
        assert!(during <= 16, "{during} writer-thread jobs finished while one sqlx write waited");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The commit and the inbox find the rows of running executions through the ARN's index,
    /// however many run: not through an index of the node's running executions, which a
    /// planner picks when its statistics were taken while few ran (PostgreSQL) or when it has
    /// none (SQLite), and which then reads every running execution of the node per statement.
    /// The periodic takeover claim searches that index by owner instead of reading it whole.
    async fn running_rows_are_found_by_arn(store: super::Store) {
        let owner_indexes = ["executions_running", "executions_by_owner"];
        let sql = |values: &str| {
            format!(
                "INSERT INTO executions (arn, machine_arn, name, revision_id, status, input, \
                 start_ms, owner, next_seq, event_count, redrive_count) \
                 SELECT 'arn:e:' || n, 'arn:m', 'e' || n, 'r', 'SUCCEEDED', '{{}}', n, 'node-a', \
                 0, 0, 0 FROM ({values}) AS s"
            )
        };
        let (insert, analyze) = match store.backend {
            super::Backend::Postgres => {
                (sql("SELECT generate_series(1, 2000) AS n"), "ANALYZE executions")
            }
            super::Backend::Sqlite => (
                sql("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c \
                     WHERE n < 2000) SELECT n FROM c"),
                // Statistics are what SQLite has when nothing has run ANALYZE: none.
                "SELECT 1",
            ),
        };
        let mut w = store.write_conn().await.unwrap();
        for statement in [
            insert.as_str(),
            analyze,
            // Half of them run now, which the statistics have not seen.
            "UPDATE executions SET status = 'RUNNING' WHERE start_ms > 1000",
        ] {
            sqlx::query(statement).execute(&mut *w).await.unwrap();
        }
        let arns: Vec<String> = (1990..1998).map(|n| format!("arn:e:{n}")).collect();
        let checks = [
            // A commit's check of the executions it writes.
            (super::running_rows_sql(store.backend, 8), arns),
            // A node's look at its inbox, ten times a second.
            (super::INBOX_FOR.to_owned(), vec!["node-a".to_owned(), "10".to_owned()]),
        ];
        for (statement, args) in checks {
            let plan = plan_of(&store, &mut w, &statement, &args).await;
            assert!(!owner_indexes.iter().any(|i| plan.contains(i)), "{statement}\n{plan}");
            assert!(plan.contains("arn"), "the ARN's index is used:\n{statement}\n{plan}");
        }
        // The other way round, the periodic claim of a dead owner's executions goes through
        // the owner: it reads what it takes, not every running execution.
        let statement = super::lapsed_claim_sql(store.backend, true);
        let args = ["node-b".to_owned(), "500".to_owned(), "node-a".to_owned()];
        let plan = plan_of(&store, &mut w, &statement, &args).await;
        let by_owner = match store.backend {
            super::Backend::Postgres => "Index Cond: (owner =",
            super::Backend::Sqlite => "(owner=?",
        };
        assert!(plan.contains(by_owner), "the owner's index is searched by owner:\n{plan}");
    }

    /// The planner's plan of `statement` with `args` (numbers bound as integers), a line per
    /// step.
    async fn plan_of(
        store: &super::Store,
        conn: &mut sqlx::AnyConnection,
        statement: &str,
        args: &[String],
    ) -> String {
        let explain = match store.backend {
            super::Backend::Postgres => format!("EXPLAIN {statement}"),
            super::Backend::Sqlite => format!("EXPLAIN QUERY PLAN {statement}"),
        };
        let mut query = sqlx::query(&explain);
        for a in args {
            query = match a.parse::<i64>() {
                Ok(n) => query.bind(n),
                Err(_) => query.bind(a.clone()),
            };
        }
        let rows = query.fetch_all(conn).await.unwrap();
        let lines: Vec<String> = rows
            .iter()
            .map(|r| match store.backend {
                super::Backend::Postgres => r.try_get::<String, _>(0).unwrap(),
                super::Backend::Sqlite => r.try_get::<String, _>("detail").unwrap(),
            })
            .collect();
        lines.join("\n")
    }

    #[tokio::test]
    async fn sqlite_finds_running_rows_by_arn() {
        let dir = std::env::temp_dir().join(format!("baton-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("p.db").display());
        running_rows_are_found_by_arn(super::Store::open(&url).await.unwrap()).await;
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn postgres_finds_running_rows_by_arn() {
        let Ok(url) = std::env::var("BATON_TEST_POSTGRES_URL") else {
            eprintln!("BATON_TEST_POSTGRES_URL is not set: skipping the PostgreSQL run");
            return;
        };
        let fresh = crate::testing::fresh_postgres(&url).await.unwrap();
        running_rows_are_found_by_arn(super::Store::open(&fresh).await.unwrap()).await;
        crate::testing::drop_database(&url, &fresh).await;
    }

    #[test]
    fn chunks_are_powers_of_two() {
        let items: Vec<u32> = (0..100).collect();
        let sizes: Vec<usize> = super::pow2_chunks(&items, 32).map(<[u32]>::len).collect();
        assert_eq!(sizes, vec![32, 32, 32, 4]);
        let all: Vec<u32> = super::pow2_chunks(&items, 64).flatten().copied().collect();
        assert_eq!(all, items);
        assert_eq!(
            super::pow2_chunks(&items[..7], 64).map(<[u32]>::len).collect::<Vec<_>>(),
            [4, 2, 1]
        );
        assert_eq!(super::pow2_chunks::<u32>(&[], 8).count(), 0);
    }
}
