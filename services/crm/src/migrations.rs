//! The schema, as numbered migrations applied in order at start. A
//! migration is never edited once released: changes are new entries. The
//! SQL is the common subset of SQLite and PostgreSQL (TEXT and BIGINT
//! columns; JSON kept as text; booleans as 0/1).

use crate::error::{CrmError, Result};
use crate::model::now_ms;
use crate::sql::{Conn, Database};

/// Version and SQL of each migration.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "initial schema",
    "
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    street TEXT NOT NULL,
    city TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    country TEXT NOT NULL,
    tier TEXT NOT NULL,
    preferences TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    erased_at BIGINT
);
CREATE TABLE contact_points (
    lookup TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    position BIGINT NOT NULL
);
CREATE INDEX contact_points_customer ON contact_points (customer_id);
CREATE TABLE consents (
    customer_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    granted BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (customer_id, purpose)
);
CREATE TABLE products (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    attributes TEXT NOT NULL,
    sizes TEXT NOT NULL,
    price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    stock BIGINT NOT NULL,
    stock_by_size TEXT NOT NULL,
    final_sale BIGINT NOT NULL
);
CREATE INDEX products_category ON products (category);
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    placed_at BIGINT NOT NULL,
    delivered_at BIGINT,
    expected_delivery BIGINT,
    total_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    carrier TEXT NOT NULL
);
CREATE INDEX orders_customer ON orders (customer_id, placed_at);
CREATE TABLE order_lines (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    size TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    category TEXT NOT NULL,
    final_sale BIGINT NOT NULL
);
CREATE INDEX order_lines_order ON order_lines (order_id, position);
CREATE TABLE returns (
    rma_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    line_ids TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    resolution TEXT NOT NULL,
    exchange_sku TEXT NOT NULL,
    exchange_size TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX returns_customer ON returns (customer_id, status);
CREATE INDEX returns_order ON returns (order_id);
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    customer_id TEXT,
    channel TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    summary TEXT NOT NULL,
    outcome TEXT NOT NULL,
    turn_count BIGINT NOT NULL
);
CREATE INDEX conversations_customer ON conversations (customer_id, started_at);
CREATE TABLE turns (
    conversation_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    speaker TEXT NOT NULL,
    text TEXT NOT NULL,
    at BIGINT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (conversation_id, position)
);
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    action TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    at BIGINT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_customer ON audit_log (customer_id, at);
",
)];

/// Applies the migrations `db` lacks, under the migration lock; returns
/// the schema version.
pub fn run<D: Database>(db: &D) -> Result<i64> {
    db.migrate(|conn| {
        conn.batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at BIGINT NOT NULL
            )",
        )?;
        let current = current_version(conn)?;
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > newest {
            return Err(CrmError::Unavailable(format!(
                "the database schema is version {current}, newer than this build knows ({newest}); \
                 run a newer parla"
            )));
        }
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            conn.batch(sql)?;
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                &[(*version).into(), (*name).into(), now_ms().into()],
            )?;
            tracing::info!(
                version,
                name,
                backend = db.backend(),
                "crm migration applied"
            );
        }
        Ok(newest)
    })
}

fn current_version(conn: &mut dyn Conn) -> Result<i64> {
    let row = conn.query_opt("SELECT MAX(version) FROM schema_migrations", &[])?;
    Ok(row
        .map(|r| r.opt_int(0))
        .transpose()?
        .flatten()
        .unwrap_or(0))
}
