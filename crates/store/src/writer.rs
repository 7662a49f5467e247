//! The SQLite writer thread: the hottest writes, a whole group of them per transaction.
//!
//! sqlx drives a SQLite connection from a thread of its own and hands every statement to
//! it and every row back through channels: two thread switches per statement, and a
//! group commit of a dozen statements pays for two dozen. Here the writes that matter for
//! throughput (execution batches, publish groups, attempt groups) are closures run on one
//! rusqlite connection owned by one thread. The thread takes every job waiting when it
//! wakes, runs them in one transaction (`BEGIN IMMEDIATE`, a savepoint per job, so a job
//! that fails undoes only its own writes), commits once, and only then answers each job's
//! caller: one disk flush and one hand-over per job for the lot.
//!
//! The rest of the store's writes still go through sqlx's writer connection. Both take the
//! store's [`Turn`] before `BEGIN IMMEDIATE` and hold it to the end of their transaction,
//! so they wait for each other first come, first served. Without it they met only on
//! SQLite's busy handler, whose back-off sleeps (growing to 100 ms) let the writer thread
//! begin its next group first again and again: under load a sqlx write (creating a state
//! machine, a node's heartbeat) waited for up to a second.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::{Error, Result};

/// Whose turn it is to write to the SQLite file: the writer thread and sqlx's writer
/// connection each hold it for a whole transaction. Fair: waiters are served in order.
pub(crate) type Turn = Arc<tokio::sync::Mutex<()>>;

/// The most jobs one transaction takes.
const MAX_GROUP: usize = 512;

/// A job on its way to the writer thread.
trait Job: Send {
    /// Runs on the open transaction; `false` when it failed (its writes are undone).
    fn work(&mut self, conn: &mut Connection) -> bool;
    /// Answers the caller once the transaction's fate is known.
    fn reply(self: Box<Self>, committed: std::result::Result<(), String>);
}

struct Pending<T, F> {
    work: Option<F>,
    out: Option<Result<T>>,
    tell: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&mut Connection) -> Result<T> + Send,
{
    fn work(&mut self, conn: &mut Connection) -> bool {
        let Some(work) = self.work.take() else { return false };
        let out = catch_unwind(AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(Error::Decode("a write panicked on the writer thread".into())));
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn reply(self: Box<Self>, committed: std::result::Result<(), String>) {
        let answer = match (committed, self.out) {
            // A failed job's own error, whatever happened to the others.
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(out)) => out,
            (Err(e), _) => Err(Error::Commit(e)),
            (Ok(()), None) => Err(Error::Commit("the write did not run".into())),
        };
        let _ = self.tell.send(answer);
    }
}

/// The handle of the writer thread; the thread ends when the last handle is dropped.
#[derive(Debug)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Opens a connection to the database file at `path` and starts the thread, which
    /// writes in its `turn`.
    pub(crate) fn open(path: &Path, turn: Turn) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Savepoints and multi-row statements keep sub-journals: in memory, not in a
        // temporary file opened and removed per transaction.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Multi-row statements come in a few shapes per chunk size (see `pow2_chunks`).
        conn.set_prepared_statement_cache_capacity(256);
        let (queue, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("baton-sqlite-writer".into())
            .spawn(move || serve(conn, &jobs, &turn))
            .map_err(|e| Error::Commit(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(Self { queue })
    }

    /// Runs `work` in the next group transaction and answers its result once that
    /// transaction has committed (or the error that kept it from committing).
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (tell, answer) = oneshot::channel();
        let job = Box::new(Pending { work: Some(work), out: None, tell });
        self.queue
            .send(job)
            .map_err(|_| Error::Commit("the SQLite writer thread stopped".into()))?;
        answer.await.map_err(|_| Error::Commit("the SQLite writer thread stopped".into()))?
    }
}

fn serve(mut conn: Connection, queue: &mpsc::Receiver<Box<dyn Job>>, turn: &Turn) {
    while let Ok(first) = queue.recv() {
        // Not inside the async runtime: this thread may block on the lock.
        let _turn = turn.blocking_lock();
        // Jobs that came while this thread waited for its turn join the group.
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let committed = run_group(&mut conn, &mut group).map_err(|e| e.to_string());
        if committed.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for job in group {
            job.reply(committed.clone());
        }
    }
}

/// One transaction for the group. A lone job needs no savepoint: if it fails, nothing is
/// committed.
fn run_group(conn: &mut Connection, group: &mut [Box<dyn Job>]) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    if let [job] = group {
        if job.work(conn) {
            conn.execute_batch("COMMIT")
        } else {
            conn.execute_batch("ROLLBACK")
        }
    } else {
        for job in group.iter_mut() {
            conn.execute_batch("SAVEPOINT job")?;
            if job.work(conn) {
                conn.execute_batch("RELEASE job")?;
            } else {
                conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            }
        }
        conn.execute_batch("COMMIT")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(path: &Path) -> i64 {
        let c = Connection::open(path).unwrap();
        c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    #[tokio::test]
    async fn a_failed_job_undoes_only_its_own_writes() {
        let dir = std::env::temp_dir().join(format!("baton-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.db");
        let _ = std::fs::remove_file(&path);
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (a INTEGER UNIQUE)")
            .unwrap();
        let w = Arc::new(Writer::open(&path, Turn::default()).unwrap());
        let insert = |a: i64, fail: bool| {
            let w = w.clone();
            async move {
                w.run(move |c| {
                    c.execute("INSERT INTO t VALUES (?1)", [a])?;
                    if fail {
                        return Err(Error::Decode("no".into()));
                    }
                    Ok(a)
                })
                .await
            }
        };
        let (a, b, c) = tokio::join!(insert(1, false), insert(2, true), insert(3, false));
        assert_eq!((a.unwrap(), c.unwrap()), (1, 3));
        assert!(matches!(b, Err(Error::Decode(_))));
        assert_eq!(count(&path), 2);
        // A lone failing job: nothing of it stays.
        assert!(insert(1, false).await.is_err(), "a constraint error reaches its caller");
        assert_eq!(count(&path), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
