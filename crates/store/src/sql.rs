//! Statements that run on either kind of connection: sqlx's (PostgreSQL, and SQLite where
//! there is no writer thread) and rusqlite's (the SQLite writer thread, `writer.rs`).
//!
//! The hottest writes (an execution batch, a publish group, a group of attempts) are
//! written once against [`Conn`]: the same SQL text (numbered `$n` parameters, which the
//! rusqlite side turns into SQLite's `?n`), the same arguments, rows of plain values.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use sqlx::{Column, Row as _, TypeInfo, ValueRef};

use crate::{Error, Result};

/// One argument of a statement: typed even when null (PostgreSQL wants to know).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref())
    }
}

/// One value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Int(i64),
    Text(String),
    Null,
}

impl Val {
    pub(crate) fn int(self) -> Result<i64> {
        self.opt_int()?.ok_or_else(|| Error::Decode("an integer column is null".into()))
    }

    pub(crate) fn opt_int(self) -> Result<Option<i64>> {
        match self {
            Val::Int(i) => Ok(Some(i)),
            Val::Null => Ok(None),
            Val::Text(t) => Err(Error::Decode(format!("expected an integer, found text {t:?}"))),
        }
    }

    pub(crate) fn text(self) -> Result<String> {
        self.opt_text()?.ok_or_else(|| Error::Decode("a text column is null".into()))
    }

    pub(crate) fn opt_text(self) -> Result<Option<String>> {
        match self {
            Val::Text(t) => Ok(Some(t)),
            Val::Null => Ok(None),
            Val::Int(i) => Err(Error::Decode(format!("expected text, found the integer {i}"))),
        }
    }
}

pub(crate) type Row = Vec<Val>;

/// A connection (or a transaction on one) that runs statements.
pub(crate) trait Conn: Send {
    /// Runs a statement and answers its rows (none for a write without `RETURNING`).
    fn query(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<Row>>> + Send;

    /// [`Conn::query`] for a lookup by key in a table that grows fast: planned for its
    /// arguments at every call. PostgreSQL's plan of a prepared statement is made for the
    /// table's size when it was first used a few times; made while the table was nearly
    /// empty, it scans the whole table for good (until statistics are next taken, a minute
    /// or more later): 20 ms per claim of topic deliveries, 20,000 messages in.
    fn query_replanned(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<Row>>> + Send {
        self.query(sql, args)
    }
}

impl Conn for sqlx::AnyConnection {
    async fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        any_query(self, sql, args, true).await
    }

    async fn query_replanned(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        any_query(self, sql, args, false).await
    }
}

/// A statement on a sqlx connection; `persistent: false` sends it unnamed, which PostgreSQL
/// plans for the arguments it comes with.
async fn any_query(
    conn: &mut sqlx::AnyConnection,
    sql: &str,
    args: &[Arg<'_>],
    persistent: bool,
) -> Result<Vec<Row>> {
    let mut q = sqlx::query(sql).persistent(persistent);
    for a in args {
        q = match *a {
            Arg::Int(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
        };
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter().map(any_row).collect()
}

fn any_row(row: &sqlx::any::AnyRow) -> Result<Row> {
    (0..row.columns().len())
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Val::Null);
            }
            let kind = row.columns()[i].type_info().name().to_ascii_uppercase();
            Ok(if kind.contains("INT") {
                Val::Int(row.try_get::<i64, _>(i)?)
            } else if kind.contains("BOOL") {
                Val::Int(i64::from(row.try_get::<bool, _>(i)?))
            } else {
                Val::Text(row.try_get::<String, _>(i)?)
            })
        })
        .collect()
}

impl Conn for rusqlite::Connection {
    async fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        Ok(query_sqlite(self, sql, args)?)
    }
}

fn query_sqlite(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(&numbered(sql))?;
    for (i, a) in args.iter().enumerate() {
        match *a {
            Arg::Int(v) => stmt.raw_bind_parameter(i + 1, v)?,
            Arg::Text(v) => stmt.raw_bind_parameter(i + 1, v)?,
        }
    }
    let width = stmt.column_count();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut row = Vec::with_capacity(width);
        for i in 0..width {
            row.push(match r.get_ref(i)? {
                rusqlite::types::ValueRef::Integer(v) => Val::Int(v),
                rusqlite::types::ValueRef::Null => Val::Null,
                rusqlite::types::ValueRef::Text(t) => {
                    Val::Text(String::from_utf8_lossy(t).into_owned())
                }
                rusqlite::types::ValueRef::Real(f) => Val::Text(f.to_string()),
                rusqlite::types::ValueRef::Blob(b) => {
                    Val::Text(String::from_utf8_lossy(b).into_owned())
                }
            });
        }
        out.push(row);
    }
    Ok(out)
}

/// `$3` → `?3`: SQLite binds `?n` by its number, `$n` by name (in order of appearance).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs a future that never waits (statements on a rusqlite connection) to its end, here.
pub(crate) fn now<F: Future>(f: F) -> Result<F::Output> {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Ok(v),
        Poll::Pending => Err(Error::Decode("a statement on the writer thread waited".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_keep_their_numbers() {
        assert_eq!(
            numbered("SET a = $1, b = $3 WHERE c <= $2"),
            "SET a = ?1, b = ?3 WHERE c <= ?2"
        );
        assert_eq!(numbered("SELECT '$' || $12"), "SELECT '$' || ?12");
    }

    #[test]
    fn statements_run_on_a_rusqlite_connection() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let none = now(conn.query("CREATE TABLE t (a INTEGER, b TEXT)", &[])).unwrap().unwrap();
        assert!(none.is_empty());
        let args = [Arg::from(7), Arg::from("x"), Arg::Int(None), Arg::Text(None)];
        let rows = now(conn.query("INSERT INTO t VALUES ($1, $2), ($3, $4) RETURNING b, a", &args))
            .unwrap()
            .unwrap();
        assert_eq!(rows, [vec![Val::Text("x".into()), Val::Int(7)], vec![Val::Null, Val::Null]]);
        assert_eq!(rows[0][1].clone().int().unwrap(), 7);
        assert!(rows[1][0].clone().opt_text().unwrap().is_none());
        assert!(rows[0][0].clone().int().is_err(), "text is not an integer");
    }
}
