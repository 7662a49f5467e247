//! A durable queue of background jobs, claimed through leases so any node can run them and
//! a node that dies loses none: a claimed job whose lease lapses is claimed again.
//!
//! A job is `pending` until it is done (then it is deleted) or has failed for good (then it
//! is kept as `failed`, with its last error, for people to inspect). `kind` says which
//! worker runs it (`function` for `Event` invocations) and `target` what it runs on.

use sqlx::Row;

use crate::{from_row, Result, Store};

/// One job.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct JobRecord {
    pub id: String,
    pub kind: String,
    pub target: String,
    /// What the worker needs, as the worker's own (versioned) text.
    pub payload: String,
    /// `pending` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// Not to run before this time.
    pub run_at_ms: i64,
    /// The node running it, while its lease lasts.
    pub lease_owner: Option<String>,
    pub lease_until_ms: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

const JOB_COLUMNS: &str = "id, kind, target, payload, status, attempts, run_at_ms, lease_owner, \
     lease_until_ms, last_error, created_ms, updated_ms";

impl Store {
    /// Adds a pending job; `false` if a job with its id exists (an idempotent enqueue).
    pub async fn enqueue_job(&self, j: &JobRecord) -> Result<bool> {
        let done = sqlx::query(&format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, 'pending', 0, $5, NULL, 0, \
             NULL, $6, $6) ON CONFLICT (id) DO NOTHING"
        ))
        .bind(&j.id)
        .bind(&j.kind)
        .bind(&j.target)
        .bind(&j.payload)
        .bind(j.run_at_ms)
        .bind(j.created_ms)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Leases up to `limit` due jobs of `kind` to `node` until `lease_until_ms`, oldest due
    /// first; a job whose earlier lease lapsed is due again.
    pub async fn claim_jobs(
        &self,
        kind: &str,
        node: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET lease_owner = $2, lease_until_ms = $4 WHERE id IN (\
               SELECT id FROM jobs WHERE kind = $1 AND status = 'pending' AND run_at_ms <= $3 \
               AND lease_until_ms <= $3 ORDER BY run_at_ms LIMIT $5{}) \
             RETURNING {JOB_COLUMNS}",
            self.skip_locked()
        ))
        .bind(kind)
        .bind(node)
        .bind(now_ms)
        .bind(lease_until_ms)
        .bind(limit)
        .fetch_all(&mut *self.write_conn().await?)
        .await?;
        let mut jobs: Vec<JobRecord> = rows.iter().map(from_row).collect::<Result<_>>()?;
        jobs.sort_by_key(|j| (j.run_at_ms, j.created_ms));
        Ok(jobs)
    }

    /// The job ran to its end: it is deleted, if `node` still holds it.
    pub async fn complete_job(&self, id: &str, node: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(node)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The attempt failed: the job is due again at `run_at_ms` (`Some`), or has failed for
    /// good (`None`). Either way it counts one more attempt and keeps `error`.
    pub async fn fail_job_attempt(
        &self,
        id: &str,
        node: &str,
        run_at_ms: Option<i64>,
        error: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET attempts = attempts + 1, last_error = $3, updated_ms = $4, \
             lease_owner = NULL, lease_until_ms = 0, \
             status = CASE WHEN $5 = 1 THEN 'pending' ELSE 'failed' END, \
             run_at_ms = CASE WHEN $5 = 1 THEN $6 ELSE run_at_ms END \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(node)
        .bind(error)
        .bind(now_ms)
        .bind(i64::from(run_at_ms.is_some()))
        .bind(run_at_ms.unwrap_or(0))
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives a job back without counting an attempt (its node is stopping).
    pub async fn release_job(&self, id: &str, node: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, lease_until_ms = 0 WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(node)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes back every lease of `kind` held by a node other than `node`: right when `node`
    /// is the only one (SQLite), so work a crashed process held runs again at once.
    pub async fn release_foreign_jobs(&self, kind: &str, node: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, lease_until_ms = 0 \
             WHERE kind = $1 AND lease_owner IS NOT NULL AND lease_owner <> $2",
        )
        .bind(kind)
        .bind(node)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected())
    }

    /// The jobs of `kind` on `target` with `status`, newest first.
    pub async fn jobs(
        &self,
        kind: &str,
        target: &str,
        status: &str,
        limit: i64,
    ) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = $1 AND target = $2 AND status = $3 \
             ORDER BY created_ms DESC, id LIMIT $4"
        ))
        .bind(kind)
        .bind(target)
        .bind(status)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// How many jobs of `kind` are pending (for metrics and tests).
    pub async fn pending_jobs(&self, kind: &str) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE kind = $1 AND status = 'pending'")
                .bind(kind)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("n")?)
    }
}
