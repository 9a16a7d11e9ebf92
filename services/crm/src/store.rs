//! The one interface to the customer record's storage. Two real
//! implementations sit behind it: SQLite (embedded default) and PostgreSQL
//! ([`crate::SqliteStore`], [`crate::PostgresStore`]); both pass the same
//! conformance suite. Every method blocks; async callers run it on the
//! blocking pool.

use crate::error::Result;
use crate::model::{
    Append, AuditRecord, Consent, Customer, CustomerContext, CustomerHint, Export, Interaction,
    NewReturn, Order, Product, ProductQuery, Return,
};

/// Storage of customers, catalogue, orders, returns and the timeline.
pub trait Store: Send + Sync {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;

    /// Creates or replaces a customer's profile and contact points (phone
    /// numbers are normalized to E.164, e-mails validated). An empty id
    /// gets a new one. Returns the stored profile.
    fn upsert_customer(&self, customer: &Customer) -> Result<Customer>;
    /// Records a customer's consent for one purpose.
    fn set_consent(&self, customer_id: &str, consent: &Consent) -> Result<()>;
    /// Finds a customer by phone number, e-mail or id.
    fn identify(&self, hint: &CustomerHint) -> Result<Customer>;
    /// Everything the dialogue needs, in one call: profile, consent, recent
    /// orders with lines, open returns and the `recent_interactions` latest
    /// conversations (none when personalization consent was withdrawn).
    fn context(&self, customer_id: &str, recent_interactions: usize) -> Result<CustomerContext>;

    /// Creates or replaces a catalogue product.
    fn upsert_product(&self, product: &Product) -> Result<Product>;
    /// Products matching a category, attributes and an in-stock size.
    fn search_products(&self, query: &ProductQuery) -> Result<Vec<Product>>;
    /// Creates or replaces an order with its lines (line ids default to
    /// `ORDER-n`, the total to the sum of the lines).
    fn upsert_order(&self, order: &Order) -> Result<Order>;
    /// A customer's orders, newest first, whose id, sku or product name
    /// contains `query` (all when empty).
    fn list_orders(&self, customer_id: &str, query: &str, limit: usize) -> Result<Vec<Order>>;

    /// Opens a return or exchange.
    fn create_return(&self, new: &NewReturn) -> Result<Return>;
    /// Changes a return's status.
    fn update_return(&self, rma_id: &str, status: &str) -> Result<Return>;

    /// Appends a turn to a conversation; returns its position (from 0) once
    /// committed. Concurrent appends to one conversation get consecutive
    /// positions in commit order.
    fn append(&self, append: &Append) -> Result<u64>;
    /// A conversation with all its turns.
    fn interaction(&self, conversation_id: &str) -> Result<Interaction>;

    /// Everything stored about a customer as JSON, with an audit record.
    fn export(&self, customer_id: &str, requested_by: &str) -> Result<Export>;
    /// Removes a customer's personal data (profile, contact points,
    /// consent, conversation text, return reasons), keeping anonymous
    /// aggregates (orders, counts, outcomes); returns the audit id.
    fn erase(&self, customer_id: &str, requested_by: &str) -> Result<String>;
    /// Audit records about a customer, oldest first.
    fn audit_log(&self, customer_id: &str) -> Result<Vec<AuditRecord>>;
}
