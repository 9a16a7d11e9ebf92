//! Stores for the tests: a SQLite file in a temp dir, and a fresh schema
//! on the PostgreSQL server at `PARLA_TEST_POSTGRES_URL` (started by
//! scripts/postgres.sh). Without that variable the PostgreSQL half is
//! skipped, except under `CI=true`, where it fails.

#![allow(dead_code)]

use std::sync::Arc;

use parla_crm::postgres::PostgresDb;
use parla_crm::sqlite::SqliteDb;
use parla_crm::{FieldCipher, PostgresStore, SqliteStore, Store};

/// A store and what keeps it alive.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub raw: Raw,
    _dir: Option<tempfile::TempDir>,
}

/// The typed store, for raw SQL checks.
#[derive(Clone)]
pub enum Raw {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PostgresStore>),
}

/// A key for encryption tests.
pub const KEY: &str = "8f2c1e0d9b7a65544332211000ffeeddccbbaa99887766554433221100aabbcc";

pub fn sqlite(cipher: FieldCipher) -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        SqliteStore::new(
            SqliteDb::open(&dir.path().join("crm.db")).expect("open"),
            cipher,
            "",
        )
        .expect("migrate"),
    );
    TestStore {
        store: store.clone(),
        raw: Raw::Sqlite(store),
        _dir: Some(dir),
    }
}

/// The server URL, or `None` to skip (panics under CI=true).
pub fn postgres_url() -> Option<String> {
    match std::env::var("PARLA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but PARLA_TEST_POSTGRES_URL is not set: run scripts/postgres.sh")
        }
        _ => {
            eprintln!("skipping the PostgreSQL half: PARLA_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A fresh schema on the test server, as a config whose search path is it.
pub fn postgres_config(url: &str) -> postgres::Config {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("randomness");
    let schema = format!("t_{}", hex(&bytes));
    let mut admin =
        postgres::Client::connect(url, postgres::NoTls).expect("connect to test server");
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create schema");
    let mut config: postgres::Config = url.parse().expect("url");
    config.options(&format!("-c search_path={schema}"));
    config
}

pub fn postgres(cipher: FieldCipher) -> Option<TestStore> {
    let url = postgres_url()?;
    let db = PostgresDb::with_config(postgres_config(&url), 64).expect("connect");
    let store = Arc::new(PostgresStore::new(db, cipher, "").expect("migrate"));
    Some(TestStore {
        store: store.clone(),
        raw: Raw::Postgres(store),
        _dir: None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Raw {
    /// Runs a query and returns its rows as text, bypassing the cipher.
    pub fn dump(&self, sql: &str) -> Vec<String> {
        use parla_crm::sql::Database;
        let f = |conn: &mut dyn parla_crm::sql::Conn| {
            Ok(conn
                .query(sql, &[])?
                .iter()
                .map(|r| format!("{:?}", r.0))
                .collect::<Vec<_>>())
        };
        match self {
            Raw::Sqlite(s) => s.database().read(f),
            Raw::Postgres(s) => s.database().read(f),
        }
        .expect("raw query")
    }
}
