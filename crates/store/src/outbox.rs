//! The outbox: events waiting to be fanned out to their topic's subscribers.
//!
//! Whatever publishes inserts a row here. A write that causes an event (a resource write)
//! inserts it in its own transaction ([`insert_outbox`]), so no event is lost and none is
//! sent for a write that did not happen. A publish that is an effect of a committed step (a
//! workflow's `sns:publish` task, which may run again after a crash) carries a message id
//! derived from what asked for it, so a repeat is the same message, inserted once. The topics' fan-out worker takes rows in `seq` order, makes
//! the deliveries, and deletes the rows in one transaction.

use sqlx::Row as _;

use crate::sql::{Arg, Conn, Row, Val};
use crate::{from_row, Result, Store};

/// One event on its way to a topic.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OutboxRecord {
    /// The order of insertion (assigned by the store; ignored on insert).
    pub seq: i64,
    /// The message's id (`msg_...`): unique, the receivers' idempotency key.
    pub message_id: String,
    pub topic: String,
    /// The message body as it will be delivered (usually JSON text).
    pub body: String,
    /// The message attributes as a JSON object (`{}` when none), SNS's `{Type, Value}` form.
    pub attributes: String,
    pub subject: Option<String>,
    /// Messages with the same key reach each subscriber in `seq` order, one at a time.
    pub ordering_key: Option<String>,
    pub created_ms: i64,
}

/// Inserts an event in an open transaction, beside the write that caused it. `false` when
/// a message with its id exists already (a repeated publish).
pub(crate) async fn insert_outbox<C: Conn>(c: &mut C, r: &OutboxRecord) -> Result<bool> {
    Ok(insert_outbox_many(c, std::slice::from_ref(r)).await?.first().copied().unwrap_or(false))
}

/// Inserts events into the outbox, a multi-row statement per chunk (a statement is a round
/// trip to the database); for each, whether it was new. The same id twice: the first is the
/// one inserted.
pub(crate) async fn insert_outbox_many<C: Conn>(
    c: &mut C,
    records: &[OutboxRecord],
) -> Result<Vec<bool>> {
    let mut new = std::collections::HashSet::new();
    for chunk in crate::pow2_chunks(records, 64) {
        let sql = format!(
            "INSERT INTO outbox (message_id, topic, body, attributes, subject, ordering_key, \
             created_ms) VALUES {} ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
            crate::placeholders(chunk.len(), 7)
        );
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 7);
        for r in chunk {
            args.extend([
                Arg::from(&r.message_id),
                Arg::from(&r.topic),
                Arg::from(&r.body),
                Arg::from(&r.attributes),
                Arg::from(&r.subject),
                Arg::from(&r.ordering_key),
                Arg::from(r.created_ms),
            ]);
        }
        for row in c.query(&sql, &args).await? {
            new.insert(first(row).text()?);
        }
    }
    Ok(records.iter().map(|r| new.remove(&r.message_id)).collect())
}

/// A message read as [`MESSAGE_COLUMNS`](crate::topics::MESSAGE_COLUMNS), from the outbox
/// or from `topic_messages`.
pub(crate) fn outbox_from(row: Row) -> Result<OutboxRecord> {
    let mut v = row.into_iter();
    let mut next = || v.next().unwrap_or(Val::Null);
    Ok(OutboxRecord {
        seq: next().int()?,
        message_id: next().text()?,
        topic: next().text()?,
        body: next().text()?,
        attributes: next().text()?,
        subject: next().opt_text()?,
        ordering_key: next().opt_text()?,
        created_ms: next().int()?,
    })
}

/// The first value of a row (`RETURNING id`).
pub(crate) fn first(row: Row) -> Val {
    row.into_iter().next().unwrap_or(Val::Null)
}

impl Store {
    /// Publishes an event on its own (no other write goes with it).
    pub async fn publish(&self, r: &OutboxRecord) -> Result<bool> {
        let inserted = self.publish_batch(std::slice::from_ref(r)).await?;
        Ok(inserted.first().copied().unwrap_or(false))
    }

    /// The oldest events in the outbox, for the fan-out worker (or for people to read
    /// before topics deliver them).
    pub async fn outbox(&self, after_seq: i64, limit: i64) -> Result<Vec<OutboxRecord>> {
        let rows = sqlx::query(
            "SELECT seq, message_id, topic, body, attributes, subject, ordering_key, created_ms \
             FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// How many events wait in the outbox.
    pub async fn outbox_len(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM outbox").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }
}
