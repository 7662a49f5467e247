//! Documents: the JSON documents of the resource collections, one row each, and the
//! settings every node must agree on (the secret that seals pagination cursors).
//!
//! A document carries a `version` that every write increments. Replacing or deleting one is
//! a compare-and-swap on that version, so two writers that read the same version cannot
//! both write: the second finds the row changed, re-reads it and decides again (an `If-Match`
//! that no longer holds then fails with 412 instead of overwriting). Each write may carry an
//! outbox event, committed in the same transaction.
//!
//! The store does not parse the bodies: they are JSON text written by the resources layer,
//! which also computes the entity tag kept beside them.

use sqlx::Row;

use crate::outbox::insert_outbox;
use crate::{from_row, OutboxRecord, Result, Store};

/// One document of a collection.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DocumentRecord {
    pub collection: String,
    pub id: String,
    /// The document, as the compact JSON text that is served.
    pub body: String,
    /// Its strong entity tag (without quotes), computed by the writer from `body`.
    pub etag: String,
    /// Incremented by every write; the compare-and-swap of conditional writes is on it.
    pub version: i64,
    pub created_ms: i64,
    pub modified_ms: i64,
}

const DOCUMENT_COLUMNS: &str = "collection, id, body, etag, version, created_ms, modified_ms";

/// How many rows a filtered listing reads from the database at a time.
const SCAN_BATCH: i64 = 256;

impl Store {
    /// The document `id` of `collection`.
    pub async fn document(&self, collection: &str, id: &str) -> Result<Option<DocumentRecord>> {
        if let Some(inline) = &self.inline {
            return Ok(inline.document(collection, id)?);
        }
        let row = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE collection = $1 AND id = $2"
        ))
        .bind(collection)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Up to `limit` documents of `collection` for which `keep` holds, in the order of their
    /// ids, starting after `after` (keyset pagination: a document that exists throughout a
    /// walk through the pages is returned exactly once, whatever else is inserted or
    /// deleted meanwhile). Rows are read in batches until the page is full or the
    /// collection ends; `keep` filters them (the store does not look inside bodies).
    pub async fn documents(
        &self,
        collection: &str,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&DocumentRecord) -> bool,
    ) -> Result<Vec<DocumentRecord>> {
        let mut page = Vec::new();
        let mut after = after.map(str::to_owned);
        let batch = i64::try_from(limit).unwrap_or(i64::MAX).clamp(1, SCAN_BATCH);
        while page.len() < limit {
            let rows = match &after {
                Some(a) => {
                    sqlx::query(&format!(
                        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE collection = $1 \
                         AND id > $2 ORDER BY id LIMIT $3"
                    ))
                    .bind(collection)
                    .bind(a)
                    .bind(batch)
                    .fetch_all(&self.pool)
                    .await?
                }
                None => {
                    sqlx::query(&format!(
                        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE collection = $1 \
                         ORDER BY id LIMIT $2"
                    ))
                    .bind(collection)
                    .bind(batch)
                    .fetch_all(&self.pool)
                    .await?
                }
            };
            let fetched = rows.len();
            for row in &rows {
                let doc: DocumentRecord = from_row(row)?;
                after = Some(doc.id.clone());
                if keep(&doc) {
                    page.push(doc);
                    if page.len() == limit {
                        break;
                    }
                }
            }
            if i64::try_from(fetched).unwrap_or(i64::MAX) < batch {
                break;
            }
        }
        Ok(page)
    }

    /// Inserts a new document (its `version` as given, usually 1) with its event, if any;
    /// `false`, and nothing written, when the id is taken.
    pub async fn create_document(
        &self,
        doc: &DocumentRecord,
        event: Option<&OutboxRecord>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(&format!(
            "INSERT INTO documents ({DOCUMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (collection, id) DO NOTHING"
        ))
        .bind(&doc.collection)
        .bind(&doc.id)
        .bind(&doc.body)
        .bind(&doc.etag)
        .bind(doc.version)
        .bind(doc.created_ms)
        .bind(doc.modified_ms)
        .execute(&mut *tx)
        .await?;
        commit_with_event(tx, done.rows_affected() > 0, event).await
    }

    /// Replaces the body, tag, version and modification time of a document whose stored
    /// version is still `expected_version` (compare-and-swap), with its event, if any.
    /// `false`, and nothing written, when the document changed or disappeared meanwhile.
    /// The creation time is kept.
    pub async fn replace_document(
        &self,
        doc: &DocumentRecord,
        expected_version: i64,
        event: Option<&OutboxRecord>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE documents SET body = $3, etag = $4, version = $5, modified_ms = $6 \
             WHERE collection = $1 AND id = $2 AND version = $7",
        )
        .bind(&doc.collection)
        .bind(&doc.id)
        .bind(&doc.body)
        .bind(&doc.etag)
        .bind(doc.version)
        .bind(doc.modified_ms)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        commit_with_event(tx, done.rows_affected() > 0, event).await
    }

    /// Deletes a document whose stored version is still `expected_version`, with its event,
    /// if any; `false`, and nothing written, when it changed or disappeared meanwhile.
    pub async fn delete_document(
        &self,
        collection: &str,
        id: &str,
        expected_version: i64,
        event: Option<&OutboxRecord>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("DELETE FROM documents WHERE collection = $1 AND id = $2 AND version = $3")
                .bind(collection)
                .bind(id)
                .bind(expected_version)
                .execute(&mut *tx)
                .await?;
        commit_with_event(tx, done.rows_affected() > 0, event).await
    }

    /// The setting `name`, set to `initial` first if it has no value yet. Every node that
    /// asks gets the value of whichever node set it first.
    pub async fn setting_or_init(&self, name: &str, initial: &str) -> Result<String> {
        let mut conn = self.write_conn().await?;
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(initial)
        .execute(&mut *conn)
        .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
        Ok(row.try_get("value")?)
    }
}

/// Ends a document write: when it took effect, its event joins it and the transaction
/// commits (`true`); otherwise nothing is written (`false`).
async fn commit_with_event(
    mut tx: crate::Writing<sqlx::Transaction<'static, sqlx::Any>>,
    took_effect: bool,
    event: Option<&OutboxRecord>,
) -> Result<bool> {
    if !took_effect {
        return Ok(false);
    }
    if let Some(event) = event {
        insert_outbox(&mut *tx, event).await?;
    }
    tx.commit().await?;
    Ok(true)
}
