//! Export and erasure of a customer's data, each with an audit record
//! written in the same transaction, so neither happens unrecorded.

use serde_json::json;

use super::{customers, orders, random_id, require, timeline, SqlStore};
use crate::error::Result;
use crate::model::{now_ms, AuditRecord, Export};
use crate::sql::{Conn, Database};

fn audit(
    conn: &mut dyn Conn,
    customer_id: &str,
    action: &str,
    requested_by: &str,
    detail: &serde_json::Value,
) -> Result<String> {
    let id = random_id("AUD-")?;
    // Records of one customer keep the order they were made in, even within one millisecond:
    // a record is stamped at least 1 ms after the customer's previous one.
    let last = conn.query(
        "SELECT COALESCE(MAX(at), 0) FROM audit_log WHERE customer_id = ?",
        &[customer_id.into()],
    )?;
    let last = match last.first() {
        Some(row) => row.int(0)?,
        None => 0,
    };
    let at = now_ms().max(last + 1);
    conn.execute(
        "INSERT INTO audit_log (id, customer_id, action, requested_by, at, detail) \
         VALUES (?, ?, ?, ?, ?, ?)",
        &[
            id.clone().into(),
            customer_id.into(),
            action.into(),
            requested_by.into(),
            at.into(),
            detail.to_string().into(),
        ],
    )?;
    Ok(id)
}

pub(super) fn audit_records(conn: &mut dyn Conn, customer_id: &str) -> Result<Vec<AuditRecord>> {
    conn.query(
        "SELECT id, customer_id, action, requested_by, at, detail FROM audit_log \
         WHERE customer_id = ? ORDER BY at, id",
        &[customer_id.into()],
    )?
    .iter()
    .map(|r| {
        Ok(AuditRecord {
            id: r.text(0)?,
            customer_id: r.text(1)?,
            action: r.text(2)?,
            requested_by: r.text(3)?,
            at: r.int(4)?,
            detail: r.text(5)?,
        })
    })
    .collect()
}

pub(super) fn export<D: Database>(
    store: &SqlStore<D>,
    customer_id: &str,
    requested_by: &str,
) -> Result<Export> {
    require("customer_id", customer_id)?;
    require("requested_by", requested_by)?;
    store.db.write(|conn| {
        let customer = customers::load(store, conn, customer_id, true)?;
        let consents = customers::consents(conn, customer_id)?;
        let orders = orders::all_of_customer(conn, customer_id)?;
        let returns = orders::all_returns(store, conn, customer_id)?;
        let interactions = timeline::recent(store, conn, customer_id, usize::MAX, usize::MAX)?;
        let audit_id = audit(
            conn,
            customer_id,
            "export",
            requested_by,
            &json!({
                "orders": orders.len(),
                "returns": returns.len(),
                "interactions": interactions.len(),
            }),
        )?;
        let audit_log = audit_records(conn, customer_id)?;
        let document = json!({
            "format": "parla-crm-export/1",
            "exported_at_ms": now_ms(),
            "customer": customer,
            "consents": consents,
            "orders": orders,
            "returns": returns,
            "interactions": interactions,
            "audit_log": audit_log,
        });
        let json = serde_json::to_string_pretty(&document)
            .map_err(|e| crate::error::CrmError::Internal(format!("json: {e}")))?;
        tracing::info!(customer_id, audit_id = %audit_id, "customer exported");
        Ok(Export { json, audit_id })
    })
}

pub(super) fn erase<D: Database>(
    store: &SqlStore<D>,
    customer_id: &str,
    requested_by: &str,
) -> Result<String> {
    require("customer_id", customer_id)?;
    require("requested_by", requested_by)?;
    store.db.write(|conn| {
        // Unknown ids are reported (NOT_FOUND); an already erased customer
        // is erased again, which is harmless and audited.
        customers::load(store, conn, customer_id, true)?;
        let id = || -> crate::sql::Value { customer_id.into() };
        conn.execute(
            "UPDATE customers SET name = '', street = '', city = '', postal_code = '', \
             preferences = '{}', erased_at = ? WHERE id = ?",
            &[now_ms().into(), id()],
        )?;
        let contacts = conn.execute("DELETE FROM contact_points WHERE customer_id = ?", &[id()])?;
        let consents = conn.execute("DELETE FROM consents WHERE customer_id = ?", &[id()])?;
        let returns = conn.execute(
            "UPDATE returns SET reason = '' WHERE customer_id = ?",
            &[id()],
        )?;
        let turns = conn.execute(
            "UPDATE turns SET text = '', detail = '{}' WHERE conversation_id IN \
             (SELECT id FROM conversations WHERE customer_id = ?)",
            &[id()],
        )?;
        let conversations = conn.execute(
            "UPDATE conversations SET summary = '' WHERE customer_id = ?",
            &[id()],
        )?;
        let audit_id = audit(
            conn,
            customer_id,
            "erase",
            requested_by,
            &json!({
                "contact_points_deleted": contacts,
                "consents_deleted": consents,
                "returns_anonymized": returns,
                "conversations_anonymized": conversations,
                "turns_anonymized": turns,
                "kept": "orders, order lines, return statuses, conversation channels and outcomes",
            }),
        )?;
        tracing::info!(customer_id, audit_id = %audit_id, turns, "customer erased");
        Ok(audit_id)
    })
}
