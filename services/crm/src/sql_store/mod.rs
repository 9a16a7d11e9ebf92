//! The store logic, written once over [`Database`]: [`SqlStore<SqliteDb>`]
//! and [`SqlStore<PostgresDb>`] are the two `Store` implementations. The
//! submodules hold the queries per part of the record.
//!
//! [`SqliteDb`]: crate::sqlite::SqliteDb
//! [`PostgresDb`]: crate::postgres::PostgresDb

mod customers;
mod orders;
mod privacy;
mod timeline;

use crate::crypto::FieldCipher;
use crate::error::{CrmError, Result};
use crate::model::{
    Append, AuditRecord, Consent, Customer, CustomerContext, CustomerHint, Export, Interaction,
    NewReturn, Order, Product, ProductQuery, Return,
};
use crate::sql::Database;
use crate::store::Store;

/// The customer record on a SQL database.
pub struct SqlStore<D: Database> {
    db: D,
    cipher: FieldCipher,
    calling_code: String,
}

impl<D: Database> SqlStore<D> {
    /// Wraps an open database and applies the migrations it lacks.
    /// `cipher` seals personal fields; `calling_code` completes phone
    /// numbers written without a country code (empty: reject them).
    pub fn new(db: D, cipher: FieldCipher, calling_code: &str) -> Result<Self> {
        let version = crate::migrations::run(&db)?;
        tracing::debug!(
            backend = db.backend(),
            version,
            encrypted = cipher.enabled(),
            "crm store open"
        );
        Ok(Self {
            db,
            cipher,
            calling_code: calling_code.to_owned(),
        })
    }

    /// The database.
    pub fn database(&self) -> &D {
        &self.db
    }
}

/// A fresh random id with a prefix, e.g. `RMA-3F9A0C12`.
pub(crate) fn random_id(prefix: &str) -> Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| CrmError::Internal(format!("no randomness: {e}")))?;
    Ok(format!("{prefix}{}", hex::encode_upper(bytes)))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| CrmError::Internal(format!("json: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned + Default>(text: &str) -> Result<T> {
    if text.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(text).map_err(|e| CrmError::Internal(format!("stored json: {e}")))
}

pub(crate) fn require(field: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(CrmError::invalid(field, "is empty"));
    }
    if value.len() > 256 {
        return Err(CrmError::invalid(field, "is longer than 256 bytes"));
    }
    Ok(())
}

impl<D: Database> Store for SqlStore<D> {
    fn backend(&self) -> &'static str {
        self.db.backend()
    }

    fn upsert_customer(&self, customer: &Customer) -> Result<Customer> {
        customers::upsert(self, customer)
    }

    fn set_consent(&self, customer_id: &str, consent: &Consent) -> Result<()> {
        customers::set_consent(self, customer_id, consent)
    }

    fn identify(&self, hint: &CustomerHint) -> Result<Customer> {
        customers::identify(self, hint)
    }

    fn context(&self, customer_id: &str, recent: usize) -> Result<CustomerContext> {
        require("customer_id", customer_id)?;
        self.db.read(|conn| {
            let customer = customers::load(self, conn, customer_id, false)?;
            let consents = customers::consents(conn, customer_id)?;
            let recent_orders = orders::of_customer(conn, customer_id, "", 5)?;
            let open_returns = orders::open_returns(self, conn, customer_id)?;
            let personalize = !consents
                .iter()
                .any(|c| c.purpose == crate::model::ConsentPurpose::Personalization && !c.granted);
            let recent_interactions = if personalize {
                timeline::recent(self, conn, customer_id, recent, timeline::CONTEXT_TURNS)?
            } else {
                Vec::new()
            };
            Ok(CustomerContext {
                customer,
                consents,
                recent_orders,
                open_returns,
                recent_interactions,
            })
        })
    }

    fn upsert_product(&self, product: &Product) -> Result<Product> {
        orders::upsert_product(self, product)
    }

    fn search_products(&self, query: &ProductQuery) -> Result<Vec<Product>> {
        orders::search_products(self, query)
    }

    fn upsert_order(&self, order: &Order) -> Result<Order> {
        orders::upsert_order(self, order)
    }

    fn list_orders(&self, customer_id: &str, query: &str, limit: usize) -> Result<Vec<Order>> {
        require("customer_id", customer_id)?;
        self.db.read(|conn| {
            customers::load(self, conn, customer_id, false)?;
            orders::of_customer(conn, customer_id, query, limit)
        })
    }

    fn create_return(&self, new: &NewReturn) -> Result<Return> {
        orders::create_return(self, new)
    }

    fn update_return(&self, rma_id: &str, status: &str) -> Result<Return> {
        orders::update_return(self, rma_id, status)
    }

    fn append(&self, append: &Append) -> Result<u64> {
        timeline::append(self, append)
    }

    fn interaction(&self, conversation_id: &str) -> Result<Interaction> {
        require("conversation_id", conversation_id)?;
        self.db
            .read(|conn| timeline::load(self, conn, conversation_id, usize::MAX))
    }

    fn export(&self, customer_id: &str, requested_by: &str) -> Result<Export> {
        privacy::export(self, customer_id, requested_by)
    }

    fn erase(&self, customer_id: &str, requested_by: &str) -> Result<String> {
        let audit_id = privacy::erase(self, customer_id, requested_by)?;
        self.db.scrub()?;
        Ok(audit_id)
    }

    fn audit_log(&self, customer_id: &str) -> Result<Vec<AuditRecord>> {
        require("customer_id", customer_id)?;
        self.db
            .read(|conn| privacy::audit_records(conn, customer_id))
    }
}
