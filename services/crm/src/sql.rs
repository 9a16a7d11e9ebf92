//! The little SQL both stores share: a value type, a connection trait
//! that runs one statement, and a database trait that runs a closure in a
//! read snapshot or a write transaction. The store's queries are written
//! once, in the SQL that SQLite and PostgreSQL both speak, with `?`
//! placeholders; each backend adapts them.
//!
//! Every call blocks: the gRPC layer runs the store on the blocking pool.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::error::{CrmError, Result};

/// A parameter or a column value. The schema uses only 64-bit integers and
/// text, so both databases map them the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(v as i64)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A result row.
#[derive(Debug, Clone, Default)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| CrmError::Internal(format!("query returned no column {i}")))
    }

    /// Text column (NULL reads as empty).
    pub fn text(&self, i: usize) -> Result<String> {
        match self.at(i)? {
            Value::Text(s) => Ok(s.clone()),
            Value::Null => Ok(String::new()),
            Value::Int(v) => Ok(v.to_string()),
        }
    }

    /// Integer column (NULL is an error).
    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| CrmError::Internal(format!("column {i} is NULL")))
    }

    /// Nullable integer column.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i)? {
            Value::Int(v) => Ok(Some(*v)),
            Value::Null => Ok(None),
            Value::Text(_) => Err(CrmError::Internal(format!("column {i} is not an integer"))),
        }
    }

    /// Nullable text column.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    /// Boolean stored as 0/1.
    pub fn flag(&self, i: usize) -> Result<bool> {
        Ok(self.opt_int(i)?.unwrap_or(0) != 0)
    }
}

/// One database session, inside a transaction or snapshot.
pub trait Conn {
    /// Runs a statement; returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs a query and collects its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    /// Runs several statements without parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<()>;

    /// The first row, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// A database the store runs on.
pub trait Database: Send + Sync + 'static {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Runs `f` on a consistent read view.
    fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T>;
    /// Runs `f` in a transaction that is committed before this returns
    /// (rolled back when `f` fails).
    fn write<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T>;
    /// Runs `f` in a transaction that holds the migration lock, so that
    /// processes starting together migrate once.
    fn migrate<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T>;
    /// After an erasure: makes what was deleted unreadable from the files
    /// too. SQLite zeroes deleted content as it goes (`secure_delete`) and
    /// here checkpoints and truncates its write-ahead log, which still
    /// holds the old pages; PostgreSQL's dead rows are unreachable by any
    /// query and reclaimed by autovacuum, so it does nothing here.
    fn scrub(&self) -> Result<()> {
        Ok(())
    }
}

/// A bounded pool of connections, opened on demand.
pub struct Pool<C> {
    state: Mutex<PoolState<C>>,
    freed: Condvar,
    max: usize,
    wait: Duration,
}

struct PoolState<C> {
    idle: Vec<C>,
    open: usize,
}

impl<C> Pool<C> {
    /// A pool of at most `max` connections; a caller waits up to `wait`
    /// for one to be free.
    pub fn new(max: usize, wait: Duration) -> Self {
        Self {
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            max: max.max(1),
            wait,
        }
    }

    /// Runs `f` with a connection; `connect` opens one when none is idle.
    /// A connection for which `f` reports `broken` is dropped, not reused.
    pub fn with<T>(
        &self,
        connect: impl FnOnce() -> Result<C>,
        broken: impl Fn(&C) -> bool,
        f: impl FnOnce(&mut C) -> Result<T>,
    ) -> Result<T> {
        let mut conn = {
            let lock = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let (mut state, timeout) = self
                .freed
                .wait_timeout_while(lock, self.wait, |s| s.idle.is_empty() && s.open >= self.max)
                .unwrap_or_else(|p| p.into_inner());
            if timeout.timed_out() && state.idle.is_empty() && state.open >= self.max {
                return Err(CrmError::Unavailable(format!(
                    "all {} database connections stayed busy for {:?}",
                    self.max, self.wait
                )));
            }
            match state.idle.pop() {
                Some(c) => c,
                None => {
                    state.open += 1;
                    drop(state);
                    match connect() {
                        Ok(c) => c,
                        Err(e) => {
                            self.release(None);
                            return Err(e);
                        }
                    }
                }
            }
        };
        let result = f(&mut conn);
        let keep = !broken(&conn);
        self.release(keep.then_some(conn));
        result
    }

    fn release(&self, conn: Option<C>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match conn {
            Some(c) => state.idle.push(c),
            None => state.open -= 1,
        }
        drop(state);
        self.freed.notify_one();
    }
}

/// Rewrites `?` placeholders as `$1, $2, ...` (PostgreSQL). The store's SQL
/// has no `?` inside string literals.
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}
