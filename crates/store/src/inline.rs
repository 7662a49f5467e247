//! Point reads on SQLite, run inline on the caller's thread.
//!
//! sqlx drives each SQLite connection from a thread of its own and passes every command and
//! every row through channels, so a read by primary key costs several thread wake-ups: on a
//! small machine those cost more CPU than the B-tree lookup itself (a profile of resource
//! GETs under load spent most of its time switching threads). The hottest reads (a document
//! by its id; the topic of each publish; a subscription by its id) therefore go through a few
//! read-only connections of their own, used directly from the task that asks: a lookup in the
//! page cache takes microseconds, less than the hop it replaces, and in WAL mode readers never
//! wait for the writer.
//!
//! Only for a database file: an in-memory database is private to its sqlx connections, so
//! the store keeps using sqlx for it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::documents::DocumentRecord;
use crate::topics::{SubscriptionRecord, TopicRecord, SUBSCRIPTION_COLUMNS};

/// Idle connections kept for reuse; a burst beyond this opens more and closes them after.
const MAX_IDLE: usize = 8;

/// Read-only connections to one SQLite file.
pub(crate) struct InlineReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for InlineReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReader").field("path", &self.path).finish_non_exhaustive()
    }
}

impl InlineReader {
    /// A reader of the database file at `path`, or `None` when there is no such file (an
    /// in-memory database). One connection is opened now, so a file that cannot be read
    /// shows at start rather than on the first request.
    pub(crate) fn open(path: &Path) -> rusqlite::Result<Option<Self>> {
        if !path.is_file() {
            return Ok(None);
        }
        let reader = Self { path: path.to_owned(), idle: Mutex::new(Vec::new()) };
        let first = reader.connect()?;
        reader.idle.lock().unwrap_or_else(|e| e.into_inner()).push(first);
        Ok(Some(reader))
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        // Readers wait out a checkpoint that restarts the log rather than fail.
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(conn)
    }

    /// Runs `f` on an idle connection (or a new one) and puts the connection back.
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        out
    }

    /// The document `id` of `collection`.
    pub(crate) fn document(
        &self,
        collection: &str,
        id: &str,
    ) -> rusqlite::Result<Option<DocumentRecord>> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT body, etag, version, created_ms, modified_ms FROM documents \
                 WHERE collection = ?1 AND id = ?2",
            )?;
            stmt.query_row((collection, id), |row| {
                Ok(DocumentRecord {
                    collection: collection.to_owned(),
                    id: id.to_owned(),
                    body: row.get(0)?,
                    etag: row.get(1)?,
                    version: row.get(2)?,
                    created_ms: row.get(3)?,
                    modified_ms: row.get(4)?,
                })
            })
            .optional()
        })
    }

    /// The subscription `id`.
    pub(crate) fn subscription(&self, id: &str) -> rusqlite::Result<Option<SubscriptionRecord>> {
        self.with(|conn| {
            let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?1");
            conn.prepare_cached(&sql)?
                .query_row([id], |row| {
                    Ok(SubscriptionRecord {
                        id: row.get(0)?,
                        topic: row.get(1)?,
                        endpoint: row.get(2)?,
                        filter_policy: row.get(3)?,
                        filter_scope: row.get(4)?,
                        raw: row.get(5)?,
                        secrets: row.get(6)?,
                        retry_schedule: row.get(7)?,
                        status: row.get(8)?,
                        created_ms: row.get(9)?,
                        updated_ms: row.get(10)?,
                    })
                })
                .optional()
        })
    }

    /// The topic `name`.
    pub(crate) fn topic(&self, name: &str) -> rusqlite::Result<Option<TopicRecord>> {
        self.with(|conn| {
            conn.prepare_cached("SELECT name, created_ms FROM topics WHERE name = ?1")?
                .query_row([name], |row| {
                    Ok(TopicRecord { name: row.get(0)?, created_ms: row.get(1)? })
                })
                .optional()
        })
    }
}
