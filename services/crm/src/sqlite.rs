//! The embedded store backend: one SQLite file in WAL mode, so readers
//! never wait for the writer. Writes go through a single connection with
//! `BEGIN IMMEDIATE` (SQLite allows one writer at a time; taking the lock
//! up front avoids upgrade deadlocks) and commit with `synchronous=FULL`,
//! so an acknowledged append survives a power cut. Reads use a small pool.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::error::{CrmError, Result};
use crate::sql::{Conn, Database, Pool, Row, Value};

/// How long a statement waits for another process's lock before the
/// caller gets UNAVAILABLE.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A SQLite database file.
pub struct SqliteDb {
    path: PathBuf,
    writer: Pool<Connection>,
    readers: Pool<Connection>,
}

impl SqliteDb {
    /// Opens (creating if needed) the database at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                CrmError::Unavailable(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let db = Self {
            path: path.to_owned(),
            writer: Pool::new(1, Duration::from_secs(30)),
            readers: Pool::new(8, Duration::from_secs(10)),
        };
        // Open the writer now so a bad path fails the start, not a request.
        db.writer.with(|| db.connect(), |_| false, |_| Ok(()))?;
        Ok(db)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| {
            CrmError::Unavailable(format!("cannot open {}: {e}", self.path.display()))
        })?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(CrmError::Unavailable(format!(
                "{} cannot use WAL mode (journal mode is {mode})",
                self.path.display()
            )));
        }
        conn.execute_batch(
            "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA secure_delete=ON;",
        )
        .map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    fn run<T>(
        &self,
        pool: &Pool<Connection>,
        behavior: TransactionBehavior,
        f: impl FnOnce(&mut dyn Conn) -> Result<T>,
    ) -> Result<T> {
        pool.with(
            || self.connect(),
            |_| false,
            |conn| {
                let tx = conn.transaction_with_behavior(behavior).map_err(map_err)?;
                let out = f(&mut SqliteConn(&tx))?;
                tx.commit().map_err(map_err)?;
                Ok(out)
            },
        )
    }
}

impl Database for SqliteDb {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.run(&self.readers, TransactionBehavior::Deferred, f)
    }

    fn write<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.run(&self.writer, TransactionBehavior::Immediate, f)
    }

    fn migrate<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        // BEGIN IMMEDIATE already excludes other processes' writers.
        self.write(f)
    }

    fn scrub(&self) -> Result<()> {
        self.writer.with(
            || self.connect(),
            |_| false,
            |conn| {
                let busy: i64 = conn
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                    .map_err(map_err)?;
                if busy != 0 {
                    // A reader still holds old pages; the next checkpoint
                    // (SQLite's own, every 1,000 pages) overwrites them.
                    tracing::warn!(path = %self.path.display(), "write-ahead log not truncated after an erasure: a reader was busy");
                }
                Ok(())
            },
        )
    }
}

struct SqliteConn<'a>(&'a Connection);

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl Conn for SqliteConn<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut stmt = self.0.prepare_cached(sql).map_err(map_err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(map_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(sql).map_err(map_err)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(map_err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Int(v as i64),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.0.execute_batch(sql).map_err(map_err)
    }
}

/// Busy, locked, I/O and full-disk errors are worth a retry; constraint
/// violations are conflicts; anything else is a bug.
fn map_err(e: rusqlite::Error) -> CrmError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            CrmError::Unavailable("the SQLite database is locked by another writer".into())
        }
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::OutOfMemory,
        ) => CrmError::Unavailable(format!("SQLite cannot work on its file: {e}")),
        Some(ErrorCode::ConstraintViolation) => {
            CrmError::AlreadyExists("a record with the same key already exists".into())
        }
        _ => CrmError::Internal(format!("sqlite: {e}")),
    }
}
