//! The customer record (`parla.v1.Crm`): profiles, consent, catalogue,
//! orders, returns and the timeline of every interaction on every channel,
//! so a call today continues yesterday's chat.
//!
//! Storage sits behind the [`Store`] trait, with two implementations over
//! one SQL core: SQLite (the embedded default: one file in WAL mode) and
//! PostgreSQL (selected by a `postgres://` URL). [`open`] picks one from
//! [`CrmConfig`] and applies the versioned migrations. [`CrmService`] is
//! the gRPC face; [`seed`] loads demo data.

pub mod contact;
pub mod crypto;
mod dates;
pub mod erasure;
pub mod error;
pub mod migrations;
pub mod model;
pub mod postgres;
pub mod seed;
pub mod service;
pub mod sql;
mod sql_store;
pub mod sqlite;
pub mod store;

mod convert;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::crypto::{FieldCipher, SealKey};
pub use crate::error::{CrmError, Result};
pub use crate::service::CrmService;
pub use crate::sql_store::SqlStore;
pub use crate::store::Store;

/// The SQLite store.
pub type SqliteStore = SqlStore<sqlite::SqliteDb>;
/// The PostgreSQL store.
pub type PostgresStore = SqlStore<postgres::PostgresDb>;

/// Settings of the customer record (`[crm]` in `parla.toml`,
/// `PARLA_CRM__*` in the environment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmConfig {
    /// Where the data lives: `sqlite://PATH` or `postgres://USER@HOST/DB`.
    /// Empty for `crm.db` in `data_dir`.
    pub database_url: String,
    /// Directory of the default SQLite file (`$XDG_DATA_HOME/parla`, else
    /// `~/.local/share/parla`).
    pub data_dir: PathBuf,
    /// 64 hex digits (256 bits) that turn on at-rest encryption of personal
    /// fields; empty for none. Prefer `encryption_key_file`.
    #[serde(serialize_with = "parla_seal::redacted")]
    pub encryption_key: String,
    /// A file holding the encryption key (64 hex digits).
    pub encryption_key_file: Option<PathBuf>,
    /// Country calling code (digits, e.g. "39") for phone numbers given
    /// without one; empty rejects such numbers.
    pub default_calling_code: String,
    /// Most PostgreSQL connections this process opens.
    pub max_connections: usize,
    /// Conversations in a customer context when the request says 0.
    pub recent_interactions: u32,
}

impl Default for CrmConfig {
    fn default() -> Self {
        Self {
            database_url: String::new(),
            data_dir: default_data_dir(),
            encryption_key: String::new(),
            encryption_key_file: None,
            default_calling_code: String::new(),
            max_connections: 16,
            recent_interactions: 5,
        }
    }
}

/// `$XDG_DATA_HOME/parla`, else `~/.local/share/parla`, else `./parla-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("parla");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/parla"),
        None => PathBuf::from("parla-data"),
    }
}

/// Where a configuration puts the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl CrmConfig {
    /// Where the data lives, from `database_url` and `data_dir`.
    pub fn location(&self) -> Result<Location> {
        let url = self.database_url.trim();
        if url.is_empty() {
            return Ok(Location::Sqlite(self.data_dir.join("crm.db")));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(bad_url("has no file path after sqlite://"));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_owned()));
        }
        Err(bad_url("has an unknown scheme"))
    }

    /// The master key of at-rest encryption, if one is configured. The one
    /// key protects the customer record, the chat store and the hand-off
    /// queue, each under subkeys of its own.
    pub fn seal_key(&self) -> Result<Option<SealKey>> {
        if let Some(file) = &self.encryption_key_file {
            let key = std::fs::read_to_string(file).map_err(|e| CrmError::Config {
                key: "crm.encryption_key_file",
                problem: format!("cannot be read ({}: {e})", file.display()),
            })?;
            return Ok(Some(SealKey::from_hex(&key, "crm.encryption_key_file")?));
        }
        if self.encryption_key.is_empty() {
            return Ok(None);
        }
        Ok(Some(SealKey::from_hex(
            &self.encryption_key,
            "crm.encryption_key",
        )?))
    }

    /// The customer record's field cipher.
    pub fn cipher(&self) -> Result<FieldCipher> {
        Ok(FieldCipher::for_store(
            self.seal_key()?.as_ref(),
            crypto::DOMAIN,
        ))
    }

    /// Checks what types alone cannot (without touching the database).
    pub fn validate(&self) -> Result<()> {
        self.location()?;
        if !self.encryption_key.is_empty() {
            SealKey::from_hex(&self.encryption_key, "crm.encryption_key")?;
        }
        let code = &self.default_calling_code;
        if !code.is_empty()
            && (code.len() > 3
                || !code.chars().all(|c| c.is_ascii_digit())
                || code.starts_with('0'))
        {
            return Err(CrmError::Config {
                key: "crm.default_calling_code",
                problem: "allowed: empty or 1 to 3 digits without + (e.g. 39, 44, 1)".into(),
            });
        }
        if self.max_connections == 0 || self.max_connections > 1000 {
            return Err(CrmError::Config {
                key: "crm.max_connections",
                problem: format!("is {}; allowed: 1 to 1000", self.max_connections),
            });
        }
        Ok(())
    }
}

fn bad_url(problem: &str) -> CrmError {
    CrmError::Config {
        key: "crm.database_url",
        problem: format!(
            "{problem}; allowed: empty (crm.db in crm.data_dir), sqlite://PATH or \
             postgres://USER[:PASSWORD]@HOST[:PORT]/DB"
        ),
    }
}

/// Opens the configured store and applies its migrations. Blocks: call it
/// from a blocking thread.
pub fn open(config: &CrmConfig) -> Result<Arc<dyn Store>> {
    config.validate()?;
    let cipher = config.cipher()?;
    let code = &config.default_calling_code;
    Ok(match config.location()? {
        Location::Sqlite(path) => {
            let store = SqliteStore::new(sqlite::SqliteDb::open(&path)?, cipher, code)?;
            tracing::info!(backend = "sqlite", path = %path.display(), "crm store ready");
            Arc::new(store)
        }
        Location::Postgres(url) => {
            let db = postgres::PostgresDb::open(&url, config.max_connections)?;
            let store = PostgresStore::new(db, cipher, code)?;
            tracing::info!(backend = "postgres", "crm store ready");
            Arc::new(store)
        }
    })
}
