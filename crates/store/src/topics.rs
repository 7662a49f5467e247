//! Topics, their subscriptions, and the durable delivery of messages to them.
//!
//! A published message waits in the outbox (`outbox.rs`) until [`Store::fan_out`] moves it,
//! in one transaction, into `topic_messages` and makes one *delivery* per subscription whose
//! filter matches: nothing is lost or doubled by a crash in between. Deliveries are claimed
//! through leases ([`Store::claim_deliveries`]), so any node delivers and a node that dies
//! leaves its leases to lapse. Every attempt is recorded ([`Store::finish_attempt`]).
//!
//! A delivery is `pending` until it is `delivered` or `dead` (its retries are exhausted, or
//! its subscription was disabled): the dead ones are the dead-letter store, and
//! [`Store::replay_delivery`] makes one pending again.
//!
//! **Ordering keys:** a pending delivery with an ordering key is claimable only when no
//! pending delivery of the same subscription and key has a lower `seq` (the message's
//! outbox order), so one key's messages go one at a time, in order, while other keys and
//! unkeyed messages flow in parallel.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::Row as _;

use crate::outbox::{first, insert_outbox_many, outbox_from};
use crate::sql::{self, Arg, Conn, Row, Val};
use crate::{from_row, Backend, OutboxRecord, Result, Store};

/// A topic.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TopicRecord {
    pub name: String,
    pub created_ms: i64,
}

/// A subscription of a webhook endpoint to a topic.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct SubscriptionRecord {
    /// `sub_...`.
    pub id: String,
    pub topic: String,
    /// The URL deliveries are posted to.
    pub endpoint: String,
    /// The SNS filter policy, JSON; `None` takes every message.
    pub filter_policy: Option<String>,
    /// `MessageAttributes` or `MessageBody`.
    pub filter_scope: String,
    /// 1 for raw delivery (the message alone), 0 for the SNS envelope.
    pub raw: i64,
    /// The signing secrets, a JSON array of `whsec_...` strings, the current one first.
    pub secrets: String,
    /// The subscription's own retry schedule (a JSON array of durations), if any.
    pub retry_schedule: Option<String>,
    /// `active` or `disabled`.
    pub status: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl std::fmt::Debug for SubscriptionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secrets are never printed.
        f.debug_struct("SubscriptionRecord")
            .field("id", &self.id)
            .field("topic", &self.topic)
            .field("endpoint", &self.endpoint)
            .field("filter_policy", &self.filter_policy)
            .field("filter_scope", &self.filter_scope)
            .field("raw", &self.raw)
            .field("secrets", &"<hidden>")
            .field("retry_schedule", &self.retry_schedule)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// A message after its fan-out, what its deliveries send: the record it had in the outbox
/// (`seq` is its outbox order), kept in `topic_messages`.
pub type MessageRecord = OutboxRecord;

/// One message on its way to one subscription.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: i64,
    /// The message's outbox order.
    pub seq: i64,
    pub message_id: String,
    pub subscription_id: String,
    pub topic: String,
    pub ordering_key: Option<String>,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// Not to be tried before this time.
    pub next_attempt_ms: i64,
    /// The node trying it, while its lease lasts.
    pub lease_owner: Option<String>,
    pub lease_until_ms: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The delivery's message and subscription, read in the transaction that claimed it
    /// ([`Store::claim_deliveries`], [`Store::finish_attempts_and_claim`]), so the attempt
    /// needs no read of its own; `None` on a delivery read otherwise, or when either no
    /// longer exists.
    #[sqlx(skip)]
    pub claimed_with: Option<Box<ClaimedWith>>,
}

/// What a claim reads with each delivery, shared by the deliveries of one claim that have
/// the same message or subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedWith {
    pub message: Arc<MessageRecord>,
    pub subscription: Arc<SubscriptionRecord>,
}

/// One attempt to deliver.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AttemptRecord {
    /// Assigned by the store (ignored on insert).
    pub id: i64,
    pub delivery_id: i64,
    pub subscription_id: String,
    pub message_id: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    pub at_ms: i64,
    /// The HTTP status, when the endpoint answered.
    pub status_code: Option<i64>,
    /// Why there was no answer (timeout, refused connection, refused address).
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The start of the response body (at most 1 KiB).
    pub response: Option<String>,
}

/// What [`Store::finish_attempts`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinishedAttempts {
    /// For each attempt, whether its node still held the delivery and it was kept.
    pub kept: Vec<bool>,
    /// The active subscriptions with a failed attempt in the group and no success since
    /// their streak of failures began.
    pub failing: Vec<FailingStreak>,
}

/// A subscription's streak of failed attempts (no success in between).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingStreak {
    pub subscription_id: String,
    /// The time of the first failed attempt after the last success.
    pub since_ms: i64,
    /// The time of the latest failed attempt.
    pub last_failure_ms: i64,
}

/// A lease of due deliveries taken with a group of attempts
/// ([`Store::finish_attempts_and_claim`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub now_ms: i64,
    /// The lease lasts until then.
    pub lease_until_ms: i64,
    /// The most deliveries to lease.
    pub limit: i64,
}

/// What one retention sweep batch removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Finished (delivered or dead) deliveries.
    pub deliveries: u64,
    /// Their attempts.
    pub attempts: u64,
    /// Messages none of whose deliveries remain.
    pub messages: u64,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    /// Delivered: done.
    Delivered,
    /// Try again at this time.
    RetryAt(i64),
    /// No more attempts: the delivery goes to the dead letters.
    Dead,
}

pub(crate) const SUBSCRIPTION_COLUMNS: &str =
    "id, topic, endpoint, filter_policy, filter_scope, raw, \
     secrets, retry_schedule, status, created_ms, updated_ms";

/// The columns of a message, in the outbox and in `topic_messages` alike, in the order
/// [`outbox_from`] reads them.
pub(crate) const MESSAGE_COLUMNS: &str =
    "seq, message_id, topic, body, attributes, subject, ordering_key, created_ms";

const DELIVERY_COLUMNS: &str = "id, seq, message_id, subscription_id, topic, ordering_key, \
     status, attempts, next_attempt_ms, lease_owner, lease_until_ms, last_error, created_ms, \
     updated_ms";

const ATTEMPT_COLUMNS: &str = "id, delivery_id, subscription_id, message_id, attempt, at_ms, \
     status_code, error, latency_ms, response";

impl Store {
    // ----- topics and subscriptions ---------------------------------------------------------

    /// Creates a topic; `false` if it exists.
    pub async fn create_topic(&self, t: &TopicRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO topics (name, created_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&t.name)
        .bind(t.created_ms)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn topic(&self, name: &str) -> Result<Option<TopicRecord>> {
        if let Some(inline) = &self.inline {
            return Ok(inline.topic(name)?);
        }
        let row = sqlx::query("SELECT name, created_ms FROM topics WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Every topic, by name.
    pub async fn topics(&self) -> Result<Vec<TopicRecord>> {
        let rows = sqlx::query("SELECT name, created_ms FROM topics ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Deletes a topic with its subscriptions; its pending deliveries are dropped (the
    /// attempts and dead letters already recorded stay readable by id). `false` if absent.
    pub async fn delete_topic(&self, name: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("DELETE FROM topics WHERE name = $1").bind(name).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM subscriptions WHERE topic = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM deliveries WHERE topic = $1 AND status = 'pending'")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds a subscription; `false` if its id is taken.
    pub async fn create_subscription(&self, s: &SubscriptionRecord) -> Result<bool> {
        let done = sqlx::query(&format!(
            "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING"
        ))
        .bind(&s.id)
        .bind(&s.topic)
        .bind(&s.endpoint)
        .bind(&s.filter_policy)
        .bind(&s.filter_scope)
        .bind(s.raw)
        .bind(&s.secrets)
        .bind(&s.retry_schedule)
        .bind(&s.status)
        .bind(s.created_ms)
        .bind(s.updated_ms)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>> {
        if let Some(inline) = &self.inline {
            return Ok(inline.subscription(id)?);
        }
        let row =
            sqlx::query(&format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A topic's subscriptions, oldest first.
    pub async fn subscriptions(&self, topic: &str) -> Result<Vec<SubscriptionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE topic = $1 \
             ORDER BY created_ms, id"
        ))
        .bind(topic)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Deletes a subscription of `topic` and its pending deliveries; `false` if absent.
    pub async fn delete_subscription(&self, topic: &str, id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM subscriptions WHERE id = $1 AND topic = $2")
            .bind(id)
            .bind(topic)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() > 0 {
            sqlx::query("DELETE FROM deliveries WHERE subscription_id = $1 AND status = 'pending'")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces a subscription's signing secrets (a rotation); `false` if absent.
    pub async fn set_subscription_secrets(
        &self,
        id: &str,
        secrets: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let done =
            sqlx::query("UPDATE subscriptions SET secrets = $2, updated_ms = $3 WHERE id = $1")
                .bind(id)
                .bind(secrets)
                .bind(now_ms)
                .execute(&mut *self.write_conn().await?)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Disables an active subscription (its endpoint answered 410 Gone, or failed for too
    /// long): no new deliveries are made for it, and its pending ones go to the dead letters
    /// with `reason`. `false` if absent or not active (so only one caller reports it).
    pub async fn disable_subscription(&self, id: &str, reason: &str, now_ms: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE subscriptions SET status = 'disabled', updated_ms = $2 \
             WHERE id = $1 AND status = 'active'",
        )
        .bind(id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE deliveries SET status = 'dead', last_error = $2, updated_ms = $3, \
             lease_owner = NULL, lease_until_ms = 0 \
             WHERE subscription_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(reason)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Makes a disabled subscription active again, with no streak of failures (its dead
    /// letters stay dead until they are replayed); `false` if absent.
    pub async fn enable_subscription(&self, id: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE subscriptions SET status = 'active', updated_ms = $2, \
             failing_since_ms = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now_ms)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    // ----- fan-out --------------------------------------------------------------------------

    /// Fans out up to `limit` outbox events, oldest first, in one transaction: each new
    /// message is kept in `topic_messages`, a delivery is made for every active subscription
    /// of its topic for which `route` answers the time of the first attempt (`None`: the
    /// filter does not match), and the outbox rows are deleted. A message id fanned out
    /// before is not fanned out again. Returns how many deliveries were made and how many
    /// outbox rows were taken.
    ///
    /// On PostgreSQL one node fans out at a time (an advisory lock; the others return at
    /// once), so messages keep their order across nodes.
    pub async fn fan_out<F>(&self, limit: i64, now_ms: i64, route: F) -> Result<(u64, u64)>
    where
        F: FnMut(&OutboxRecord, &SubscriptionRecord) -> Option<i64> + Send + 'static,
    {
        let backend = self.backend;
        if let Some(w) = &self.sqlite_writer {
            return w.run(move |c| sql::now(fan_out_in(c, backend, limit, now_ms, route))?).await;
        }
        let mut tx = self.begin_write().await?;
        let done = fan_out_in(&mut *tx, backend, limit, now_ms, route).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Publishes several events and fans out the outbox in the same transaction (a group
    /// commit of both): for each event, whether it was new, as [`Store::publish`]; and what
    /// the fan-out did, as [`Store::fan_out`] (nothing on PostgreSQL while another node
    /// fans out: the events wait in the outbox for it).
    ///
    /// One commit instead of two for a publish: the events go straight on to their
    /// deliveries, with the same guarantees, since the outbox rows and what replaces them
    /// are written together.
    pub async fn publish_and_fan_out<F>(
        &self,
        records: &[OutboxRecord],
        limit: i64,
        now_ms: i64,
        route: F,
    ) -> Result<(Vec<bool>, (u64, u64))>
    where
        F: FnMut(&OutboxRecord, &SubscriptionRecord) -> Option<i64> + Send + 'static,
    {
        let backend = self.backend;
        if let Some(w) = &self.sqlite_writer {
            let records = records.to_vec();
            return w
                .run(move |c| {
                    sql::now(async {
                        let inserted = insert_outbox_many(c, &records).await?;
                        let done = fan_out_in(c, backend, limit, now_ms, route).await?;
                        Ok((inserted, done))
                    })?
                })
                .await;
        }
        let mut tx = self.begin_write().await?;
        let inserted = insert_outbox_many(&mut *tx, records).await?;
        let done = fan_out_in(&mut *tx, backend, limit, now_ms, route).await?;
        tx.commit().await?;
        Ok((inserted, done))
    }

    // ----- deliveries -----------------------------------------------------------------------

    /// Leases up to `limit` due deliveries to `node` until `lease_until_ms`, oldest due
    /// first; a delivery whose earlier lease lapsed is due again. A keyed delivery waits for
    /// the pending deliveries before it with the same subscription and key.
    pub async fn claim_deliveries(
        &self,
        node: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>> {
        let claim = Claim { now_ms, lease_until_ms, limit };
        let backend = self.backend;
        if let Some(w) = &self.sqlite_writer {
            let node = node.to_owned();
            return w.run(move |c| sql::now(claim_in(c, backend, &node, &claim))?).await;
        }
        let mut conn = self.write_conn().await?;
        claim_in(&mut *conn, backend, node, &claim).await
    }

    /// Records an attempt and what follows it, in one transaction, if `node` still holds
    /// the delivery (`false` otherwise: another node took it over, and nothing is written).
    pub async fn finish_attempt(
        &self,
        node: &str,
        attempt: &AttemptRecord,
        end: AttemptEnd,
    ) -> Result<bool> {
        let done = self.finish_attempts(node, &[(attempt.clone(), end)]).await?;
        Ok(done.kept.first().copied().unwrap_or(false))
    }

    /// When a subscription's current streak of failed attempts began (`None`: its last
    /// attempt succeeded, or it has none).
    pub async fn failing_since(&self, id: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT failing_since_ms FROM subscriptions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<Option<i64>, _>(0)?,
            None => None,
        })
    }

    /// Records several attempts in one transaction (a group commit): for each, whether
    /// `node` still held its delivery and the attempt was kept, as [`Store::finish_attempt`].
    ///
    /// The same transaction keeps each subscription's streak of failures (one statement
    /// for the group): a success ends it, the first failure after a success begins it. The
    /// answer lists the active subscriptions that failed in the group with when their
    /// streak began, for the caller to disable those failing for too long.
    pub async fn finish_attempts(
        &self,
        node: &str,
        attempts: &[(AttemptRecord, AttemptEnd)],
    ) -> Result<FinishedAttempts> {
        Ok(self.finish_attempts_and_claim(node, attempts, None).await?.0)
    }

    /// [`Store::finish_attempts`], and then, in the same transaction, leases more due
    /// deliveries to `node` as [`Store::claim_deliveries`] does: a node that keeps its
    /// attempts under way refills the places of the finished ones with one commit for both.
    /// The claim sees what the group wrote (the next message of an ordering key whose
    /// delivery just ended is free).
    pub async fn finish_attempts_and_claim(
        &self,
        node: &str,
        attempts: &[(AttemptRecord, AttemptEnd)],
        claim: Option<Claim>,
    ) -> Result<(FinishedAttempts, Vec<DeliveryRecord>)> {
        let backend = self.backend;
        if let Some(w) = &self.sqlite_writer {
            let (node, attempts) = (node.to_owned(), attempts.to_vec());
            return w.run(move |c| sql::now(finish_in(c, backend, &node, &attempts, claim))?).await;
        }
        let mut tx = self.begin_write().await?;
        let done = finish_in(&mut *tx, backend, node, attempts, claim).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Removes one batch of what the retention period is over for: up to `batch` finished
    /// (delivered or dead) deliveries last changed before `before_ms` with their attempts,
    /// and up to `batch` messages published before `before_ms` none of whose deliveries
    /// remain; in one transaction, so the writer is held for one bounded batch. Call it
    /// again while a count reaches `batch`.
    pub async fn purge_deliveries(&self, before_ms: i64, batch: i64) -> Result<Purged> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT id FROM deliveries WHERE status <> 'pending' AND updated_ms < $1 \
             ORDER BY updated_ms LIMIT $2",
        )
        .bind(before_ms)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        let ids: Vec<i64> =
            rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?;
        let mut purged = Purged::default();
        for chunk in crate::pow2_chunks(&ids, 256) {
            let list = crate::list(chunk.len(), 1);
            let sql = format!("DELETE FROM delivery_attempts WHERE delivery_id IN ({list})");
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            purged.attempts += q.execute(&mut *tx).await?.rows_affected();
            // Still finished: a dead letter replayed meanwhile stays.
            let sql =
                format!("DELETE FROM deliveries WHERE id IN ({list}) AND status <> 'pending'");
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            purged.deliveries += q.execute(&mut *tx).await?.rows_affected();
        }
        purged.messages = sqlx::query(
            "DELETE FROM topic_messages WHERE message_id IN (\
               SELECT m.message_id FROM topic_messages m WHERE m.created_ms < $1 \
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.message_id) \
               ORDER BY m.created_ms LIMIT $2)",
        )
        .bind(before_ms)
        .bind(batch)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(purged)
    }

    /// Publishes several events in one transaction (a group commit): for each, whether it
    /// was new, as [`Store::publish`].
    pub async fn publish_batch(&self, records: &[OutboxRecord]) -> Result<Vec<bool>> {
        if let Some(w) = &self.sqlite_writer {
            let records = records.to_vec();
            return w.run(move |c| sql::now(insert_outbox_many(c, &records))?).await;
        }
        let mut tx = self.begin_write().await?;
        let inserted = insert_outbox_many(&mut *tx, records).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Gives back `node`'s leases without counting attempts (it is stopping), or every
    /// node's leases when `node` is `None` (a single node starting: nobody else holds any).
    pub async fn release_deliveries(&self, node: Option<&str>) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE deliveries SET lease_owner = NULL, lease_until_ms = 0 \
             WHERE status = 'pending' AND lease_owner IS NOT NULL \
             AND ($1 = '' OR lease_owner = $1)",
        )
        .bind(node.unwrap_or(""))
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn delivery(&self, id: i64) -> Result<Option<DeliveryRecord>> {
        let row = sqlx::query(&format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A message that was fanned out.
    pub async fn topic_message(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM topic_messages WHERE message_id = $1"
        ))
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A topic's messages that were fanned out, in outbox order, after `after_seq`.
    pub async fn topic_messages(
        &self,
        topic: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<MessageRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM topic_messages WHERE topic = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        ))
        .bind(topic)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// A topic's deliveries with `status` (`dead`: its dead letters), newest first, before
    /// the delivery id `before` when given.
    pub async fn deliveries(
        &self,
        topic: &str,
        status: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE topic = $1 AND status = $2 \
             AND id < $3 ORDER BY id DESC LIMIT $4"
        ))
        .bind(topic)
        .bind(status)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Makes a dead delivery pending again, due at `now_ms`, with its attempts counted from
    /// zero; `false` if it is not dead.
    pub async fn replay_delivery(&self, id: i64, now_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_ms = $2, \
             lease_owner = NULL, lease_until_ms = 0, updated_ms = $2 \
             WHERE id = $1 AND status = 'dead'",
        )
        .bind(id)
        .bind(now_ms)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A subscription's attempts, newest first, before the attempt id `before` when given.
    pub async fn attempts(
        &self,
        subscription_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AttemptRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM delivery_attempts WHERE subscription_id = $1 \
             AND id < $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(subscription_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// How many deliveries are pending (for metrics and tests).
    pub async fn pending_deliveries(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}

/// Leases due deliveries, as [`Store::claim_deliveries`], on an open connection or
/// transaction.
async fn claim_in<C: Conn>(
    c: &mut C,
    backend: Backend,
    node: &str,
    claim: &Claim,
) -> Result<Vec<DeliveryRecord>> {
    let skip_locked = crate::skip_locked(backend);
    let sql = format!(
        "UPDATE deliveries SET lease_owner = $1, lease_until_ms = $3 WHERE id IN (\
           SELECT d.id FROM deliveries d WHERE d.status = 'pending' \
           AND d.next_attempt_ms <= $2 AND d.lease_until_ms <= $2 \
           AND (d.ordering_key IS NULL OR NOT EXISTS (\
             SELECT 1 FROM deliveries e WHERE e.subscription_id = d.subscription_id \
             AND e.ordering_key = d.ordering_key AND e.status = 'pending' AND e.seq < d.seq)) \
           ORDER BY d.next_attempt_ms, d.seq LIMIT $4{skip_locked}) \
         RETURNING {DELIVERY_COLUMNS}"
    );
    let args = [
        Arg::from(node),
        Arg::from(claim.now_ms),
        Arg::from(claim.lease_until_ms),
        Arg::from(claim.limit),
    ];
    let rows = c.query(&sql, &args).await?;
    let mut out: Vec<DeliveryRecord> =
        rows.into_iter().map(delivery_from).collect::<Result<_>>()?;
    out.sort_by_key(|d| (d.next_attempt_ms, d.seq));
    attach_claimed_with(c, &mut out).await?;
    Ok(out)
}

/// Reads the messages and subscriptions of claimed deliveries, each once, in the claim's
/// transaction (on SQLite, on the writer's connection, whose page cache holds what the
/// fan-out just wrote), and attaches them.
async fn attach_claimed_with<C: Conn>(c: &mut C, deliveries: &mut [DeliveryRecord]) -> Result<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let messages = select_in(
        c,
        &format!("SELECT {MESSAGE_COLUMNS} FROM topic_messages WHERE message_id IN"),
        deliveries.iter().map(|d| d.message_id.as_str()),
        outbox_from,
        |m| &m.message_id,
    )
    .await?;
    let subscriptions = select_in(
        c,
        &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id IN"),
        deliveries.iter().map(|d| d.subscription_id.as_str()),
        subscription_from,
        |s| &s.id,
    )
    .await?;
    for d in deliveries {
        if let (Some(message), Some(subscription)) =
            (messages.get(&d.message_id), subscriptions.get(&d.subscription_id))
        {
            d.claimed_with = Some(Box::new(ClaimedWith {
                message: message.clone(),
                subscription: subscription.clone(),
            }));
        }
    }
    Ok(())
}

/// The rows `select` (a statement ending in `IN`) finds for the distinct `keys`, by their
/// key, in statements of power-of-two sizes (so SQLite's few cached ones serve every claim),
/// each planned for its keys on PostgreSQL ([`Conn::query_replanned`]).
async fn select_in<'k, C: Conn, T>(
    c: &mut C,
    select: &str,
    keys: impl Iterator<Item = &'k str>,
    parse: fn(Row) -> Result<T>,
    key: fn(&T) -> &String,
) -> Result<HashMap<String, Arc<T>>> {
    let mut keys: Vec<&str> = keys.collect();
    keys.sort_unstable();
    keys.dedup();
    let mut found = HashMap::with_capacity(keys.len());
    for chunk in crate::pow2_chunks(&keys, 256) {
        let sql = format!("{select} ({})", crate::list(chunk.len(), 1));
        let args: Vec<Arg<'_>> = chunk.iter().map(|k| Arg::from(*k)).collect();
        for row in c.query_replanned(&sql, &args).await? {
            let record = parse(row)?;
            found.insert(key(&record).clone(), Arc::new(record));
        }
    }
    Ok(found)
}

/// A delivery read as [`DELIVERY_COLUMNS`].
fn delivery_from(row: Row) -> Result<DeliveryRecord> {
    let mut v = row.into_iter();
    let mut next = || v.next().unwrap_or(Val::Null);
    Ok(DeliveryRecord {
        id: next().int()?,
        seq: next().int()?,
        message_id: next().text()?,
        subscription_id: next().text()?,
        topic: next().text()?,
        ordering_key: next().opt_text()?,
        status: next().text()?,
        attempts: next().int()?,
        next_attempt_ms: next().int()?,
        lease_owner: next().opt_text()?,
        lease_until_ms: next().int()?,
        last_error: next().opt_text()?,
        created_ms: next().int()?,
        updated_ms: next().int()?,
        claimed_with: None,
    })
}

/// A subscription read as [`SUBSCRIPTION_COLUMNS`].
fn subscription_from(row: Row) -> Result<SubscriptionRecord> {
    let mut v = row.into_iter();
    let mut next = || v.next().unwrap_or(Val::Null);
    Ok(SubscriptionRecord {
        id: next().text()?,
        topic: next().text()?,
        endpoint: next().text()?,
        filter_policy: next().opt_text()?,
        filter_scope: next().text()?,
        raw: next().int()?,
        secrets: next().text()?,
        retry_schedule: next().opt_text()?,
        status: next().text()?,
        created_ms: next().int()?,
        updated_ms: next().int()?,
    })
}

/// The fan-out of [`Store::fan_out`], on an open transaction: on PostgreSQL only when this
/// transaction gets the fan-out lock (`(0, 0)` otherwise).
async fn fan_out_in<C, F>(
    c: &mut C,
    backend: Backend,
    limit: i64,
    now_ms: i64,
    mut route: F,
) -> Result<(u64, u64)>
where
    C: Conn,
    F: FnMut(&OutboxRecord, &SubscriptionRecord) -> Option<i64>,
{
    if backend == Backend::Postgres {
        let got = c.query("SELECT pg_try_advisory_xact_lock(7472)", &[]).await?;
        if got.into_iter().next().map(first).map(Val::int).transpose()? != Some(1) {
            return Ok((0, 0));
        }
    }
    let rows = c
        .query(
            &format!("SELECT {MESSAGE_COLUMNS} FROM outbox ORDER BY seq LIMIT $1"),
            &[Arg::from(limit)],
        )
        .await?;
    let events: Vec<OutboxRecord> = rows.into_iter().map(outbox_from).collect::<Result<_>>()?;
    if events.is_empty() {
        return Ok((0, 0));
    }
    let mut subscriptions: std::collections::HashMap<String, Vec<SubscriptionRecord>> =
        std::collections::HashMap::new();
    // The messages, in multi-row statements; the conflicts are messages fanned out
    // before (published again with the same id), which get no deliveries.
    let mut new_ids = std::collections::HashSet::new();
    for chunk in crate::pow2_chunks(&events, 32) {
        let sql = format!(
            "INSERT INTO topic_messages ({MESSAGE_COLUMNS}) VALUES {} \
             ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
            crate::placeholders(chunk.len(), 8)
        );
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 8);
        for e in chunk {
            args.extend([
                Arg::from(e.seq),
                Arg::from(&e.message_id),
                Arg::from(&e.topic),
                Arg::from(&e.body),
                Arg::from(&e.attributes),
                Arg::from(&e.subject),
                Arg::from(&e.ordering_key),
                Arg::from(e.created_ms),
            ]);
        }
        for row in c.query(&sql, &args).await? {
            new_ids.insert(first(row).text()?);
        }
    }
    let mut deliveries = Vec::new();
    for e in events.iter().filter(|e| new_ids.contains(&e.message_id)) {
        if !subscriptions.contains_key(&e.topic) {
            let sql = format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions \
                 WHERE topic = $1 AND status = 'active' ORDER BY created_ms, id"
            );
            let rows = c.query(&sql, &[Arg::from(&e.topic)]).await?;
            let subs = rows.into_iter().map(subscription_from).collect::<Result<_>>()?;
            subscriptions.insert(e.topic.clone(), subs);
        }
        for s in &subscriptions[&e.topic] {
            if let Some(first_attempt_ms) = route(e, s) {
                deliveries.push((e, s.id.clone(), first_attempt_ms));
            }
        }
    }
    for chunk in crate::pow2_chunks(&deliveries, 32) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let b = r * 7;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, 'pending', 0, ${}, NULL, 0, NULL, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 7
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO deliveries ({}) VALUES {} \
             ON CONFLICT (message_id, subscription_id) DO NOTHING",
            &DELIVERY_COLUMNS[4..],
            values.join(", ")
        );
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 7);
        for (e, sub, first_attempt_ms) in chunk {
            args.extend([
                Arg::from(e.seq),
                Arg::from(&e.message_id),
                Arg::from(sub),
                Arg::from(&e.topic),
                Arg::from(&e.ordering_key),
                Arg::from(*first_attempt_ms),
                Arg::from(now_ms),
            ]);
        }
        c.query(&sql, &args).await?;
    }
    // Exactly the rows read: on PostgreSQL a lower `seq` may commit meanwhile, and it
    // must stay for the next round.
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    for chunk in crate::pow2_chunks(&seqs, 64) {
        let sql = format!("DELETE FROM outbox WHERE seq IN ({})", crate::list(chunk.len(), 1));
        let args: Vec<Arg<'_>> = chunk.iter().map(|seq| Arg::from(*seq)).collect();
        c.query(&sql, &args).await?;
    }
    Ok((deliveries.len() as u64, events.len() as u64))
}

/// The group of [`Store::finish_attempts_and_claim`], on an open transaction: a
/// multi-row statement per chunk for the deliveries, one for their attempts, one for the
/// streaks, and the claim.
async fn finish_in<C: Conn>(
    c: &mut C,
    backend: Backend,
    node: &str,
    attempts: &[(AttemptRecord, AttemptEnd)],
    claim: Option<Claim>,
) -> Result<(FinishedAttempts, Vec<DeliveryRecord>)> {
    // The deliveries this node still holds: found by number alone, lease and status checked
    // here (on PostgreSQL under a row lock to the end of the transaction). With `lease_owner
    // = ? AND status = 'pending'` in the statement, PostgreSQL read every pending delivery
    // through `deliveries_due` per statement, as it did for running executions (see
    // `commit_in`).
    let mut held = std::collections::HashSet::new();
    let ids: Vec<i64> = attempts.iter().map(|(a, _)| a.delivery_id).collect();
    for chunk in crate::pow2_chunks(&ids, 64) {
        let sql = format!(
            "SELECT id, lease_owner, status FROM deliveries WHERE id IN ({}){}",
            crate::list(chunk.len(), 1),
            crate::row_locked(backend)
        );
        let args: Vec<Arg<'_>> = chunk.iter().map(|id| Arg::from(*id)).collect();
        for row in c.query(&sql, &args).await? {
            let mut row = row.into_iter();
            let mut next = || row.next().unwrap_or(crate::sql::Val::Null);
            let (id, owner, status) = (next().int()?, next().opt_text()?, next().text()?);
            if owner.as_deref() == Some(node) && status == "pending" {
                held.insert(id);
            }
        }
    }
    // An attempt is kept when its node still held the delivery (once per delivery).
    let kept: Vec<bool> = attempts.iter().map(|(a, _)| held.remove(&a.delivery_id)).collect();
    let finished: Vec<&(AttemptRecord, AttemptEnd)> =
        attempts.iter().zip(&kept).filter(|(_, k)| **k).map(|(a, _)| a).collect();
    for chunk in crate::pow2_chunks(&finished, 64) {
        let sql = format!(
            "UPDATE deliveries SET attempts = attempts + 1, status = v.column2, \
             last_error = v.column3, \
             next_attempt_ms = CASE WHEN v.column4 = 1 THEN v.column5 ELSE next_attempt_ms END, \
             lease_owner = NULL, lease_until_ms = 0, updated_ms = v.column6 \
             FROM (VALUES {}) AS v WHERE deliveries.id = v.column1",
            crate::placeholders(chunk.len(), 6),
        );
        let errors: Vec<Option<String>> = chunk
            .iter()
            .map(|(attempt, end)| match (&attempt.error, attempt.status_code) {
                (Some(e), _) => Some(e.clone()),
                (None, Some(code)) if *end != AttemptEnd::Delivered => Some(format!("HTTP {code}")),
                _ => None,
            })
            .collect();
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 6);
        for ((attempt, end), error) in chunk.iter().copied().zip(&errors) {
            let (status, next) = match *end {
                AttemptEnd::Delivered => ("delivered", None),
                AttemptEnd::RetryAt(at) => ("pending", Some(at)),
                AttemptEnd::Dead => ("dead", None),
            };
            args.extend([
                Arg::from(attempt.delivery_id),
                Arg::from(status),
                Arg::from(error),
                Arg::from(i64::from(next.is_some())),
                Arg::from(next.unwrap_or(0)),
                Arg::from(attempt.at_ms),
            ]);
        }
        c.query(&sql, &args).await?;
    }
    let records: Vec<&AttemptRecord> = finished.iter().map(|(a, _)| a).collect();
    for chunk in crate::pow2_chunks(&records, 64) {
        let sql = format!(
            "INSERT INTO delivery_attempts ({}) VALUES {}",
            &ATTEMPT_COLUMNS[4..],
            crate::placeholders(chunk.len(), 9)
        );
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 9);
        for attempt in chunk {
            args.extend([
                Arg::from(attempt.delivery_id),
                Arg::from(&attempt.subscription_id),
                Arg::from(&attempt.message_id),
                Arg::from(attempt.attempt),
                Arg::from(attempt.at_ms),
                Arg::from(attempt.status_code),
                Arg::from(&attempt.error),
                Arg::from(attempt.latency_ms),
                Arg::from(&attempt.response),
            ]);
        }
        c.query(&sql, &args).await?;
    }
    let failing = record_streaks(c, attempts, &kept).await?;
    let claimed = match claim {
        Some(claim) if claim.limit > 0 => claim_in(c, backend, node, &claim).await?,
        _ => Vec::new(),
    };
    Ok((FinishedAttempts { kept, failing }, claimed))
}

/// Keeps the subscriptions' streaks of failures for a group of attempts (the kept ones):
/// per subscription, a success ends its streak and a failure after it begins a new one; a
/// group of failures only begins a streak where none is running. Answers the active
/// subscriptions that failed in the group, with their streak.
async fn record_streaks<C: Conn>(
    c: &mut C,
    attempts: &[(AttemptRecord, AttemptEnd)],
    kept: &[bool],
) -> Result<Vec<FailingStreak>> {
    // subscription -> (a success in the group, first failure after the last success, last failure)
    let mut per: std::collections::BTreeMap<&str, (bool, Option<i64>, Option<i64>)> =
        std::collections::BTreeMap::new();
    let mut ordered: Vec<&(AttemptRecord, AttemptEnd)> =
        attempts.iter().zip(kept).filter(|(_, k)| **k).map(|(a, _)| a).collect();
    ordered.sort_by_key(|(a, _)| a.at_ms);
    for (a, end) in ordered {
        let e = per.entry(a.subscription_id.as_str()).or_default();
        if *end == AttemptEnd::Delivered {
            *e = (true, None, e.2);
        } else {
            e.1 = e.1.or(Some(a.at_ms));
            e.2 = Some(e.2.map_or(a.at_ms, |l: i64| l.max(a.at_ms)));
        }
    }
    let rows: Vec<(&str, bool, Option<i64>)> =
        per.iter().map(|(id, (ok, since, _))| (*id, *ok, *since)).collect();
    let mut failing = Vec::new();
    for chunk in crate::pow2_chunks(&rows, 64) {
        // Only rows that change: a success where no streak runs writes nothing.
        let sql = format!(
            "UPDATE subscriptions SET failing_since_ms = CASE WHEN v.column2 = 1 THEN v.column3 \
             ELSE COALESCE(subscriptions.failing_since_ms, v.column3) END \
             FROM (VALUES {}) AS v \
             WHERE subscriptions.id = v.column1 AND subscriptions.status = 'active' \
             AND (subscriptions.failing_since_ms IS NOT NULL OR v.column3 IS NOT NULL) \
             RETURNING subscriptions.id, subscriptions.failing_since_ms",
            crate::placeholders(chunk.len(), 3)
        );
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 3);
        for (id, ok, since) in chunk {
            args.extend([Arg::from(*id), Arg::from(i64::from(*ok)), Arg::from(*since)]);
        }
        for row in c.query(&sql, &args).await? {
            let mut v = row.into_iter();
            let id = v.next().unwrap_or(Val::Null).text()?;
            let since = v.next().unwrap_or(Val::Null).opt_int()?;
            let last = per.get(id.as_str()).and_then(|p| p.2);
            if let (Some(since_ms), Some(last_failure_ms)) = (since, last) {
                failing.push(FailingStreak { subscription_id: id, since_ms, last_failure_ms });
            }
        }
    }
    Ok(failing)
}
