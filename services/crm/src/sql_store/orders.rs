//! Catalogue, orders and returns.

use super::{customers, from_json, random_id, require, to_json, SqlStore};
use crate::error::{CrmError, Result};
use crate::model::{
    now_ms, NewReturn, Order, OrderLine, Product, ProductQuery, Return, OPEN_RETURN_STATUSES,
    RETURN_RESOLUTIONS, RETURN_STATUSES,
};
use crate::sql::{Conn, Database, Row, Value};

const PRODUCT_COLUMNS: &str =
    "sku, name, category, attributes, sizes, price_minor, currency, stock, stock_by_size, final_sale";
const ORDER_COLUMNS: &str =
    "id, customer_id, status, placed_at, delivered_at, expected_delivery, total_minor, currency, carrier";
const RETURN_COLUMNS: &str =
    "rma_id, order_id, customer_id, line_ids, reason, status, resolution, \
     exchange_sku, exchange_size, conversation_id, created_at, updated_at";

pub(super) fn upsert_product<D: Database>(store: &SqlStore<D>, input: &Product) -> Result<Product> {
    require("product.sku", &input.sku)?;
    let mut p = input.clone();
    if p.stock == 0 && !p.stock_by_size.is_empty() {
        p.stock = p.stock_by_size.values().sum();
    }
    if p.currency.is_empty() {
        p.currency = "EUR".into();
    }
    let params: Vec<Value> = vec![
        p.sku.clone().into(),
        p.name.clone().into(),
        p.category.clone().into(),
        to_json(&p.attributes)?.into(),
        to_json(&p.sizes)?.into(),
        p.price_minor.into(),
        p.currency.clone().into(),
        i64::from(p.stock).into(),
        to_json(&p.stock_by_size)?.into(),
        p.final_sale.into(),
    ];
    store.db.write(|conn| {
        conn.execute(
            &format!(
                "INSERT INTO products ({PRODUCT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (sku) DO UPDATE SET name = excluded.name, category = excluded.category, \
                 attributes = excluded.attributes, sizes = excluded.sizes, \
                 price_minor = excluded.price_minor, currency = excluded.currency, \
                 stock = excluded.stock, stock_by_size = excluded.stock_by_size, \
                 final_sale = excluded.final_sale"
            ),
            &params,
        )
    })?;
    Ok(p)
}

fn product(r: &Row) -> Result<Product> {
    Ok(Product {
        sku: r.text(0)?,
        name: r.text(1)?,
        category: r.text(2)?,
        attributes: from_json(&r.text(3)?)?,
        sizes: from_json(&r.text(4)?)?,
        price_minor: r.int(5)?,
        currency: r.text(6)?,
        stock: r.int(7)? as i32,
        stock_by_size: from_json(&r.text(8)?)?,
        final_sale: r.flag(9)?,
    })
}

pub(super) fn search_products<D: Database>(
    store: &SqlStore<D>,
    q: &ProductQuery,
) -> Result<Vec<Product>> {
    let rows = store.db.read(|conn| {
        conn.query(
            &format!(
                "SELECT {PRODUCT_COLUMNS} FROM products WHERE (? = '' OR category = ?) ORDER BY sku"
            ),
            &[q.category.clone().into(), q.category.clone().into()],
        )
    })?;
    let mut out = Vec::new();
    for r in &rows {
        let p = product(r)?;
        let attributes_match = q.attributes.iter().all(|(k, v)| {
            p.attributes
                .get(k)
                .is_some_and(|have| have.eq_ignore_ascii_case(v))
        });
        let size_in_stock = q.size.is_empty()
            || match p.stock_by_size.get(&q.size) {
                Some(n) => *n > 0,
                None => p.stock_by_size.is_empty() && p.stock > 0 && p.sizes.contains(&q.size),
            };
        if attributes_match && size_in_stock {
            out.push(p);
        }
    }
    Ok(out)
}

pub(super) fn upsert_order<D: Database>(store: &SqlStore<D>, input: &Order) -> Result<Order> {
    require("order.id", &input.id)?;
    require("order.customer_id", &input.customer_id)?;
    check_order(input)?;
    let mut o = input.clone();
    for (i, line) in o.lines.iter_mut().enumerate() {
        if line.id.is_empty() {
            line.id = format!("{}-{}", o.id, i + 1);
        }
        if line.quantity == 0 {
            line.quantity = 1;
        }
    }
    if o.total_minor == 0 {
        o.total_minor = o
            .lines
            .iter()
            .map(|l| l.unit_price_minor * i64::from(l.quantity))
            .sum();
    }
    if o.currency.is_empty() {
        o.currency = "EUR".into();
    }
    store.db.write(|conn| {
        customers::load(store, conn, &o.customer_id, false)?;
        // An order never changes hands: another customer's order id is
        // refused, not moved.
        let owner = conn.query(
            "SELECT customer_id FROM orders WHERE id = ?",
            &[o.id.clone().into()],
        )?;
        if let Some(row) = owner.first() {
            if row.text(0)? != o.customer_id {
                return Err(CrmError::FailedPrecondition(format!(
                    "order {} belongs to another customer; an order cannot change customer \
                     (create a new order id instead)",
                    o.id
                )));
            }
        }
        conn.execute(
            &format!(
                "INSERT INTO orders ({ORDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, \
                 status = excluded.status, placed_at = excluded.placed_at, \
                 delivered_at = excluded.delivered_at, expected_delivery = excluded.expected_delivery, \
                 total_minor = excluded.total_minor, currency = excluded.currency, \
                 carrier = excluded.carrier"
            ),
            &[
                o.id.clone().into(),
                o.customer_id.clone().into(),
                o.status.clone().into(),
                o.placed_at.into(),
                o.delivered_at.into(),
                o.expected_delivery.into(),
                o.total_minor.into(),
                o.currency.clone().into(),
                o.carrier.clone().into(),
            ],
        )?;
        conn.execute("DELETE FROM order_lines WHERE order_id = ?", &[o.id.clone().into()])?;
        for (i, l) in o.lines.iter().enumerate() {
            conn.execute(
                "INSERT INTO order_lines (id, order_id, position, sku, name, size, quantity, \
                 unit_price_minor, category, final_sale) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                &[
                    l.id.clone().into(),
                    o.id.clone().into(),
                    (i as i64).into(),
                    l.sku.clone().into(),
                    l.name.clone().into(),
                    l.size.clone().into(),
                    i64::from(l.quantity).into(),
                    l.unit_price_minor.into(),
                    l.category.clone().into(),
                    l.final_sale.into(),
                ],
            )?;
        }
        Ok(())
    })?;
    Ok(o)
}

/// Order states the flows and the console understand.
pub const ORDER_STATUSES: [&str; 6] = [
    "placed",
    "processing",
    "shipped",
    "in_transit",
    "delivered",
    "cancelled",
];

/// Refuses an order that would corrupt the record: an unknown state,
/// negative amounts or quantities.
fn check_order(o: &Order) -> Result<()> {
    if !ORDER_STATUSES.contains(&o.status.as_str()) {
        return Err(CrmError::invalid(
            "order.status",
            format!("must be one of {}", ORDER_STATUSES.join(", ")),
        ));
    }
    if o.total_minor < 0 {
        return Err(CrmError::invalid(
            "order.total_minor",
            "is negative; amounts are zero or more (refunds are returns)",
        ));
    }
    for l in &o.lines {
        if l.quantity < 0 {
            return Err(CrmError::invalid(
                "order.lines.quantity",
                "is negative; a line has one item or more (0 means 1)",
            ));
        }
        if l.unit_price_minor < 0 {
            return Err(CrmError::invalid(
                "order.lines.unit_price_minor",
                "is negative; prices are zero or more",
            ));
        }
    }
    Ok(())
}

fn order_from_row(conn: &mut dyn Conn, r: &Row) -> Result<Order> {
    let id = r.text(0)?;
    let mut lines = Vec::new();
    for l in conn.query(
        "SELECT id, sku, name, size, quantity, unit_price_minor, category, final_sale \
         FROM order_lines WHERE order_id = ? ORDER BY position",
        &[id.clone().into()],
    )? {
        lines.push(OrderLine {
            id: l.text(0)?,
            sku: l.text(1)?,
            name: l.text(2)?,
            size: l.text(3)?,
            quantity: l.int(4)? as i32,
            unit_price_minor: l.int(5)?,
            category: l.text(6)?,
            final_sale: l.flag(7)?,
        });
    }
    Ok(Order {
        id,
        customer_id: r.text(1)?,
        status: r.text(2)?,
        placed_at: r.int(3)?,
        delivered_at: r.opt_int(4)?,
        expected_delivery: r.opt_int(5)?,
        total_minor: r.int(6)?,
        currency: r.text(7)?,
        carrier: r.text(8)?,
        lines,
    })
}

/// A customer's orders, newest first, optionally matching `query`.
pub(super) fn of_customer(
    conn: &mut dyn Conn,
    customer_id: &str,
    query: &str,
    limit: usize,
) -> Result<Vec<Order>> {
    let needle: String = query
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| *c != '%' && *c != '_')
        .collect();
    let pattern = format!("%{needle}%");
    let limit = if limit == 0 { 20 } else { limit.min(500) } as i64;
    let rows = conn.query(
        &format!(
            "SELECT {ORDER_COLUMNS} FROM orders o WHERE customer_id = ? AND (? = '' \
             OR lower(o.id) LIKE ? OR EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id \
             AND (lower(l.name) LIKE ? OR lower(l.sku) LIKE ?))) \
             ORDER BY placed_at DESC, id DESC LIMIT ?"
        ),
        &[
            customer_id.into(),
            needle.clone().into(),
            pattern.clone().into(),
            pattern.clone().into(),
            pattern.into(),
            limit.into(),
        ],
    )?;
    rows.iter().map(|r| order_from_row(conn, r)).collect()
}

/// Every order of a customer, for the export.
pub(super) fn all_of_customer(conn: &mut dyn Conn, customer_id: &str) -> Result<Vec<Order>> {
    let rows = conn.query(
        &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE customer_id = ? ORDER BY placed_at, id"),
        &[customer_id.into()],
    )?;
    rows.iter().map(|r| order_from_row(conn, r)).collect()
}

fn return_from_row<D: Database>(store: &SqlStore<D>, r: &Row) -> Result<Return> {
    Ok(Return {
        rma_id: r.text(0)?,
        order_id: r.text(1)?,
        customer_id: r.text(2)?,
        line_ids: from_json(&r.text(3)?)?,
        reason: store.cipher.open(&r.text(4)?)?,
        status: r.text(5)?,
        resolution: r.text(6)?,
        exchange_sku: r.text(7)?,
        exchange_size: r.text(8)?,
        conversation_id: r.text(9)?,
        created_at: r.int(10)?,
        updated_at: r.int(11)?,
    })
}

pub(super) fn open_returns<D: Database>(
    store: &SqlStore<D>,
    conn: &mut dyn Conn,
    customer_id: &str,
) -> Result<Vec<Return>> {
    let rows = conn.query(
        &format!(
            "SELECT {RETURN_COLUMNS} FROM returns WHERE customer_id = ? AND status IN (?, ?, ?) \
             ORDER BY created_at DESC"
        ),
        &[
            customer_id.into(),
            OPEN_RETURN_STATUSES[0].into(),
            OPEN_RETURN_STATUSES[1].into(),
            OPEN_RETURN_STATUSES[2].into(),
        ],
    )?;
    rows.iter().map(|r| return_from_row(store, r)).collect()
}

pub(super) fn all_returns<D: Database>(
    store: &SqlStore<D>,
    conn: &mut dyn Conn,
    customer_id: &str,
) -> Result<Vec<Return>> {
    let rows = conn.query(
        &format!("SELECT {RETURN_COLUMNS} FROM returns WHERE customer_id = ? ORDER BY created_at"),
        &[customer_id.into()],
    )?;
    rows.iter().map(|r| return_from_row(store, r)).collect()
}

pub(super) fn create_return<D: Database>(store: &SqlStore<D>, new: &NewReturn) -> Result<Return> {
    require("order_id", &new.order_id)?;
    if !RETURN_RESOLUTIONS.contains(&new.resolution.as_str()) {
        return Err(CrmError::invalid(
            "resolution",
            format!("must be one of {}", RETURN_RESOLUTIONS.join(", ")),
        ));
    }
    let exchange = new.resolution == "exchange";
    if exchange && (new.exchange_sku.is_empty() || new.exchange_size.is_empty()) {
        return Err(CrmError::invalid(
            "exchange_sku",
            "and `exchange_size` are required for an exchange",
        ));
    }
    let now = now_ms();
    let rma_id = random_id("RMA-")?;
    store.db.write(|conn| {
        let row = conn
            .query_opt(
                &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"),
                &[new.order_id.clone().into()],
            )?
            .ok_or_else(|| CrmError::not_found("order", &new.order_id))?;
        let order = order_from_row(conn, &row)?;
        if order.status != "delivered" {
            return Err(CrmError::FailedPrecondition(format!(
                "order {} is {}; only delivered orders can be returned",
                order.id, order.status
            )));
        }
        let line_ids: Vec<String> = if new.line_ids.is_empty() {
            order.lines.iter().map(|l| l.id.clone()).collect()
        } else {
            new.line_ids.clone()
        };
        for id in &line_ids {
            let line = order.lines.iter().find(|l| &l.id == id).ok_or_else(|| {
                CrmError::invalid("line_ids", format!("names {id}, which is not a line of order {}", order.id))
            })?;
            if line.final_sale {
                return Err(CrmError::FailedPrecondition(format!(
                    "line {id} ({}) was sold as final sale and cannot be returned",
                    line.name
                )));
            }
        }
        for open in open_returns(store, conn, &order.customer_id)? {
            if let Some(id) = open.line_ids.iter().find(|id| line_ids.contains(id)) {
                return Err(CrmError::FailedPrecondition(format!(
                    "line {id} is already in open return {}",
                    open.rma_id
                )));
            }
        }
        if exchange {
            let known = conn.query_opt(
                "SELECT sku FROM products WHERE sku = ?",
                &[new.exchange_sku.clone().into()],
            )?;
            if known.is_none() {
                return Err(CrmError::not_found("product", &new.exchange_sku));
            }
        }
        let ret = Return {
            rma_id: rma_id.clone(),
            order_id: order.id.clone(),
            customer_id: order.customer_id.clone(),
            line_ids,
            reason: new.reason.clone(),
            status: "requested".into(),
            resolution: new.resolution.clone(),
            exchange_sku: new.exchange_sku.clone(),
            exchange_size: new.exchange_size.clone(),
            conversation_id: new.conversation_id.clone(),
            created_at: now,
            updated_at: now,
        };
        conn.execute(
            &format!(
                "INSERT INTO returns ({RETURN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            &[
                ret.rma_id.clone().into(),
                ret.order_id.clone().into(),
                ret.customer_id.clone().into(),
                to_json(&ret.line_ids)?.into(),
                store.cipher.seal(&ret.reason)?.into(),
                ret.status.clone().into(),
                ret.resolution.clone().into(),
                ret.exchange_sku.clone().into(),
                ret.exchange_size.clone().into(),
                ret.conversation_id.clone().into(),
                now.into(),
                now.into(),
            ],
        )?;
        tracing::info!(rma_id = %ret.rma_id, order_id = %ret.order_id, resolution = %ret.resolution, "return opened");
        Ok(ret)
    })
}

pub(super) fn update_return<D: Database>(
    store: &SqlStore<D>,
    rma_id: &str,
    status: &str,
) -> Result<Return> {
    require("rma_id", rma_id)?;
    if !RETURN_STATUSES.contains(&status) {
        return Err(CrmError::invalid(
            "status",
            format!("must be one of {}", RETURN_STATUSES.join(", ")),
        ));
    }
    store.db.write(|conn| {
        let row = conn
            .query_opt(
                &format!("SELECT {RETURN_COLUMNS} FROM returns WHERE rma_id = ?"),
                &[rma_id.into()],
            )?
            .ok_or_else(|| CrmError::not_found("return", rma_id))?;
        let mut ret = return_from_row(store, &row)?;
        if !OPEN_RETURN_STATUSES.contains(&ret.status.as_str()) && ret.status != status {
            return Err(CrmError::FailedPrecondition(format!(
                "return {rma_id} is already {}; a closed return cannot change",
                ret.status
            )));
        }
        ret.status = status.to_owned();
        ret.updated_at = now_ms();
        conn.execute(
            "UPDATE returns SET status = ?, updated_at = ? WHERE rma_id = ?",
            &[status.into(), ret.updated_at.into(), rma_id.into()],
        )?;
        Ok(ret)
    })
}
