//! The store backend for deployments that outgrow one machine: a
//! PostgreSQL server reached by URL (`postgres://user@host:port/db`).
//! Connections come from a bounded pool; each keeps its prepared
//! statements, so a context lookup costs round trips, not parses. Writes
//! run in a transaction committed before the call returns.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, GenericClient, NoTls, Statement};

use crate::error::{CrmError, Result};
use crate::sql::{numbered_placeholders, Conn, Database, Pool, Row, Value};

/// Key of the advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x7061_726c_6163;

/// A PostgreSQL database.
pub struct PostgresDb {
    config: postgres::Config,
    pool: Pool<Session>,
}

struct Session {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PostgresDb {
    /// Connects to `url` (checked now, so a bad URL or an unreachable
    /// server fails the start) with a pool of at most `max_connections`.
    pub fn open(url: &str, max_connections: usize) -> Result<Self> {
        let mut config: postgres::Config = url.parse().map_err(|e| CrmError::Config {
            key: "crm.database_url",
            problem: format!(
                "is not a PostgreSQL URL ({e}); allowed: postgres://USER[:PASSWORD]@HOST[:PORT]/DB"
            ),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("parla-crm");
        Self::with_config(config, max_connections)
    }

    /// Connects with a ready configuration (tests set a search path).
    pub fn with_config(config: postgres::Config, max_connections: usize) -> Result<Self> {
        let db = Self {
            config,
            pool: Pool::new(max_connections, Duration::from_secs(10)),
        };
        db.pool.with(|| db.connect(), |_| false, |_| Ok(()))?;
        Ok(db)
    }

    fn connect(&self) -> Result<Session> {
        let client = self.config.connect(NoTls).map_err(|e| {
            CrmError::Unavailable(format!("cannot connect to PostgreSQL: {}", describe(&e)))
        })?;
        Ok(Session {
            client,
            statements: HashMap::new(),
        })
    }

    fn session<T>(&self, f: impl FnOnce(&mut Session) -> Result<T>) -> Result<T> {
        self.pool
            .with(|| self.connect(), |s| s.client.is_closed(), f)
    }

    fn transaction<T>(&self, lock: bool, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.session(|s| {
            let mut tx = s.client.transaction().map_err(map_err)?;
            if lock {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                    .map_err(map_err)?;
            }
            let out = f(&mut PgConn {
                client: &mut tx,
                statements: &mut s.statements,
            })?;
            tx.commit().map_err(map_err)?;
            Ok(out)
        })
    }
}

impl Database for PostgresDb {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.session(|s| {
            f(&mut PgConn {
                client: &mut s.client,
                statements: &mut s.statements,
            })
        })
    }

    fn write<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.transaction(false, f)
    }

    fn migrate<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.transaction(true, f)
    }
}

struct PgConn<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut HashMap<String, Statement>,
}

impl<C: GenericClient> PgConn<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .client
            .prepare(&numbered_placeholders(sql))
            .map_err(map_err)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl<C: GenericClient> Conn for PgConn<'_, C> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let stmt = self.statement(sql)?;
        self.client.execute(&stmt, &refs(params)).map_err(map_err)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let stmt = self.statement(sql)?;
        let rows = self.client.query(&stmt, &refs(params)).map_err(map_err)?;
        rows.iter().map(convert_row).collect()
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).map_err(map_err)
    }
}

fn convert_row(row: &postgres::Row) -> Result<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i).map(Value::from)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map(|v| Value::from(v.map(i64::from)))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i).map(Value::from)
        } else {
            row.try_get::<_, Option<String>>(i).map(Value::from)
        };
        values.push(value.map_err(|e| {
            CrmError::Internal(format!("column {} of type {ty}: {e}", column.name()))
        })?);
    }
    Ok(Row(values))
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) if *ty == Type::TEXT || *ty == Type::VARCHAR => {
                v.to_string().to_sql(ty, out)
            }
            Value::Int(v) => v.to_sql(ty, out),
            Value::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e
            .source()
            .map_or_else(|| e.to_string(), |s| format!("{e}: {s}")),
    }
}

/// Connection loss, overload, lock timeouts and serialization failures are
/// worth a retry; unique violations are conflicts; the rest are bugs.
fn map_err(e: postgres::Error) -> CrmError {
    let Some(code) = e.code() else {
        return CrmError::Unavailable(format!("PostgreSQL connection failed: {}", describe(&e)));
    };
    if *code == SqlState::UNIQUE_VIOLATION {
        return CrmError::AlreadyExists("a record with the same key already exists".into());
    }
    let transient = [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::QUERY_CANCELED,
        SqlState::READ_ONLY_SQL_TRANSACTION,
    ];
    if transient.contains(code) || code.code().starts_with("08") || code.code().starts_with("53") {
        CrmError::Unavailable(format!("PostgreSQL: {}", describe(&e)))
    } else {
        CrmError::Internal(format!("PostgreSQL: {}", describe(&e)))
    }
}
