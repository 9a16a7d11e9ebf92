//! Profiles, contact points and consent.

use std::collections::BTreeMap;

use super::{from_json, random_id, require, to_json, SqlStore};
use crate::contact::{normalize_email, normalize_phone};
use crate::error::{CrmError, Result};
use crate::model::{
    now_ms, Address, Consent, ConsentPurpose, ContactKind, ContactPoint, Customer, CustomerHint,
};
use crate::sql::{Conn, Database, Value};

pub(super) fn upsert<D: Database>(store: &SqlStore<D>, input: &Customer) -> Result<Customer> {
    let mut customer = input.clone();
    if customer.id.is_empty() {
        customer.id = random_id("CUS-")?;
    }
    require("customer.id", &customer.id)?;
    for contact in &mut customer.contacts {
        contact.value = match contact.kind {
            ContactKind::Phone => normalize_phone(&contact.value, &store.calling_code)?,
            ContactKind::Email => normalize_email(&contact.value)?,
        };
    }
    customer.contacts.dedup();
    customer.erased_at = None;
    let c = &store.cipher;
    let row: Vec<Value> = vec![
        customer.id.clone().into(),
        c.seal(&customer.name)?.into(),
        customer.language.clone().into(),
        c.seal(&customer.address.street)?.into(),
        c.seal(&customer.address.city)?.into(),
        c.seal(&customer.address.postal_code)?.into(),
        customer.address.country.clone().into(),
        customer.tier.clone().into(),
        c.seal(&to_json(&customer.preferences)?)?.into(),
        now_ms().into(),
    ];
    store.db.write(|conn| {
        for contact in &customer.contacts {
            let owner = conn.query_opt(
                "SELECT customer_id FROM contact_points WHERE lookup = ?",
                &[c.index(&contact.value).into()],
            )?;
            if let Some(owner) = owner {
                let owner = owner.text(0)?;
                if owner != customer.id {
                    return Err(CrmError::AlreadyExists(format!(
                        "a {} of this customer already belongs to customer {owner}",
                        contact.kind.as_str()
                    )));
                }
            }
        }
        conn.execute(
            "INSERT INTO customers (id, name, language, street, city, postal_code, country, tier, \
             preferences, created_at, erased_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, language = excluded.language, \
             street = excluded.street, city = excluded.city, postal_code = excluded.postal_code, \
             country = excluded.country, tier = excluded.tier, preferences = excluded.preferences, \
             erased_at = NULL",
            &row,
        )?;
        conn.execute(
            "DELETE FROM contact_points WHERE customer_id = ?",
            &[customer.id.clone().into()],
        )?;
        for (i, contact) in customer.contacts.iter().enumerate() {
            conn.execute(
                "INSERT INTO contact_points (lookup, customer_id, kind, value, position) \
                 VALUES (?, ?, ?, ?, ?)",
                &[
                    c.index(&contact.value).into(),
                    customer.id.clone().into(),
                    contact.kind.as_str().into(),
                    c.seal(&contact.value)?.into(),
                    (i as i64).into(),
                ],
            )?;
        }
        Ok(())
    })?;
    tracing::debug!(customer_id = %customer.id, contacts = customer.contacts.len(), "customer stored");
    Ok(customer)
}

pub(super) fn set_consent<D: Database>(
    store: &SqlStore<D>,
    customer_id: &str,
    consent: &Consent,
) -> Result<()> {
    require("customer_id", customer_id)?;
    store.db.write(|conn| {
        load(store, conn, customer_id, false)?;
        conn.execute(
            "INSERT INTO consents (customer_id, purpose, granted, updated_at, source) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id, purpose) DO UPDATE SET \
             granted = excluded.granted, updated_at = excluded.updated_at, source = excluded.source",
            &[
                customer_id.into(),
                consent.purpose.as_str().into(),
                consent.granted.into(),
                if consent.updated_at == 0 { now_ms() } else { consent.updated_at }.into(),
                consent.source.clone().into(),
            ],
        )?;
        Ok(())
    })
}

pub(super) fn identify<D: Database>(store: &SqlStore<D>, hint: &CustomerHint) -> Result<Customer> {
    let (kind, normalized) = match hint {
        CustomerHint::Id(id) => {
            require("customer_id", id)?;
            return store.db.read(|conn| load(store, conn, id, false));
        }
        CustomerHint::Phone(raw) => ("phone number", normalize_phone(raw, &store.calling_code)?),
        CustomerHint::Email(raw) => ("e-mail", normalize_email(raw)?),
    };
    let c = &store.cipher;
    store.db.read(|conn| {
        // With a key, rows written before it was configured hold the plain
        // value: look for both.
        let row = conn.query_opt(
            "SELECT customer_id FROM contact_points WHERE lookup = ? OR lookup = ? LIMIT 1",
            &[c.index(&normalized).into(), normalized.clone().into()],
        )?;
        let id = row
            .ok_or_else(|| CrmError::not_found("customer", format!("with this {kind}")))?
            .text(0)?;
        load(store, conn, &id, false)
    })
}

/// Loads a profile; erased profiles only when `erased` is true.
pub(super) fn load<D: Database>(
    store: &SqlStore<D>,
    conn: &mut dyn Conn,
    id: &str,
    erased: bool,
) -> Result<Customer> {
    let row = conn
        .query_opt(
            "SELECT id, name, language, street, city, postal_code, country, tier, preferences, \
             erased_at FROM customers WHERE id = ?",
            &[id.into()],
        )?
        .ok_or_else(|| CrmError::not_found("customer", id))?;
    let erased_at = row.opt_int(9)?;
    if erased_at.is_some() && !erased {
        return Err(CrmError::not_found("customer", format!("{id} (erased)")));
    }
    let c = &store.cipher;
    let preferences: BTreeMap<String, String> = from_json(&c.open(&row.text(8)?)?)?;
    let mut contacts = Vec::new();
    for r in conn.query(
        "SELECT kind, value FROM contact_points WHERE customer_id = ? ORDER BY position",
        &[id.into()],
    )? {
        let kind = match r.text(0)?.as_str() {
            "phone" => ContactKind::Phone,
            _ => ContactKind::Email,
        };
        contacts.push(ContactPoint {
            kind,
            value: c.open(&r.text(1)?)?,
        });
    }
    Ok(Customer {
        id: row.text(0)?,
        name: c.open(&row.text(1)?)?,
        language: row.text(2)?,
        contacts,
        address: Address {
            street: c.open(&row.text(3)?)?,
            city: c.open(&row.text(4)?)?,
            postal_code: c.open(&row.text(5)?)?,
            country: row.text(6)?,
        },
        tier: row.text(7)?,
        preferences,
        erased_at,
    })
}

pub(super) fn consents(conn: &mut dyn Conn, customer_id: &str) -> Result<Vec<Consent>> {
    let mut out = Vec::new();
    for r in conn.query(
        "SELECT purpose, granted, updated_at, source FROM consents WHERE customer_id = ? \
         ORDER BY purpose",
        &[customer_id.into()],
    )? {
        let Some(purpose) = ConsentPurpose::parse(&r.text(0)?) else {
            continue;
        };
        out.push(Consent {
            purpose,
            granted: r.flag(1)?,
            updated_at: r.int(2)?,
            source: r.text(3)?,
        });
    }
    Ok(out)
}
