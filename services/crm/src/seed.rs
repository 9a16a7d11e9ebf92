//! Demo and evaluation data. A [`Fixture`] is one customer with their
//! orders, the catalogue they need, and optionally past conversations and
//! returns, in the format of the dialogue evaluation's scenarios
//! (`customer`, `orders`, `catalogue`; other keys are ignored), so the same
//! YAML loads a scenario's records. [`demo`] is the built-in data set
//! `parla crm seed` loads: English and Italian customers, including the
//! Milan customer returning a light jacket bought in November, late
//! deliveries, damaged items and final-sale items.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{CrmError, Result};
use crate::model::*;
use crate::store::Store;

pub use crate::dates::parse_time;

/// The built-in demo data set (YAML).
pub const DEMO_YAML: &str = include_str!("../seed/demo.yaml");

/// A data set: several fixtures.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DataSet {
    /// The day the set's dates were written for (`YYYY-MM-DD`). Seeded on another day, every
    /// date moves by the whole days between the two, so an order "delivered three days ago"
    /// stays three days ago and a promised delivery stays in the future: demo data never goes
    /// stale. Without it (an evaluation fixture, dated by its scenario's `today`) dates are
    /// kept as written.
    #[serde(default)]
    pub written_for: Option<String>,
    /// The fixtures, loaded in order.
    pub fixtures: Vec<Fixture>,
}

/// One customer's records.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Fixture {
    /// Milliseconds added to every date of the fixture when loaded (see
    /// [`DataSet::written_for`]).
    #[serde(skip)]
    pub shift: Millis,
    /// The customer.
    pub customer: FixtureCustomer,
    /// Their orders.
    #[serde(default)]
    pub orders: Vec<FixtureOrder>,
    /// Products the scenario needs.
    #[serde(default)]
    pub catalogue: Vec<FixtureProduct>,
    /// Past conversations.
    #[serde(default)]
    pub interactions: Vec<FixtureInteraction>,
    /// Returns already open.
    #[serde(default)]
    pub returns: Vec<FixtureReturn>,
}

/// A customer as fixtures write it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FixtureCustomer {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Street.
    #[serde(default)]
    pub street: String,
    /// Postal code.
    #[serde(default)]
    pub postal_code: String,
    /// City.
    #[serde(default)]
    pub city: String,
    /// Country code.
    #[serde(default)]
    pub country: String,
    /// Language.
    #[serde(default)]
    pub language: String,
    /// Tier (default "standard").
    #[serde(default)]
    pub tier: Option<String>,
    /// Consent per purpose name.
    #[serde(default)]
    pub consent: BTreeMap<String, bool>,
    /// Preferences.
    #[serde(default)]
    pub preferences: BTreeMap<String, String>,
}

/// An order as fixtures write it (dates as `YYYY-MM-DD`, prices in units).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FixtureOrder {
    /// Id.
    pub id: String,
    /// Date placed.
    pub date: String,
    /// Status.
    pub status: String,
    /// Date delivered.
    #[serde(default)]
    pub delivered: Option<String>,
    /// Date promised.
    #[serde(default)]
    pub promised: Option<String>,
    /// Date expected.
    #[serde(default)]
    pub expected: Option<String>,
    /// Carrier.
    #[serde(default)]
    pub carrier: Option<String>,
    /// Lines.
    #[serde(default)]
    pub lines: Vec<FixtureLine>,
}

/// An order line as fixtures write it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FixtureLine {
    /// Sku.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Size.
    #[serde(default)]
    pub size: Option<String>,
    /// Quantity (default 1).
    #[serde(default)]
    pub quantity: Option<i32>,
    /// Unit price in units (89.00).
    pub price: f64,
    /// Currency (default EUR).
    #[serde(default)]
    pub currency: Option<String>,
    /// Category.
    #[serde(default)]
    pub category: String,
    /// Final sale.
    #[serde(default)]
    pub final_sale: bool,
}

/// A product as fixtures write it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FixtureProduct {
    /// Sku.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Category.
    #[serde(default)]
    pub category: String,
    /// Lowest comfortable temperature, °C.
    #[serde(default)]
    pub warmth_min_c: Option<i32>,
    /// Waterproof.
    #[serde(default)]
    pub waterproof: Option<bool>,
    /// Other attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Sizes.
    #[serde(default)]
    pub sizes: Vec<String>,
    /// Price in units; without it, `attributes.price` written as `229.00 GBP` (amount and
    /// currency) is the price.
    #[serde(default)]
    pub price: Option<f64>,
    /// Currency (default EUR).
    #[serde(default)]
    pub currency: Option<String>,
    /// Stock per size.
    #[serde(default)]
    pub stock: BTreeMap<String, i32>,
    /// Final sale.
    #[serde(default)]
    pub final_sale: bool,
}

impl FixtureProduct {
    /// The price in units and its currency: `price` and `currency` (default EUR), else
    /// `attributes.price` as "229.00 GBP" (or "229,00 €").
    pub fn price_and_currency(&self) -> Option<(f64, String)> {
        if let Some(price) = self.price {
            return Some((price, self.currency.clone().unwrap_or_else(|| "EUR".into())));
        }
        let written = self.attributes.get("price")?;
        let mut amount = String::new();
        let mut currency = String::new();
        for c in written.trim().chars() {
            match c {
                '0'..='9' | '.' => amount.push(c),
                ',' => amount.push('.'),
                '€' => currency.push_str("EUR"),
                '£' => currency.push_str("GBP"),
                '$' => currency.push_str("USD"),
                c if c.is_ascii_alphabetic() => currency.push(c.to_ascii_uppercase()),
                _ => {}
            }
        }
        let price: f64 = amount.parse().ok()?;
        let currency = match (currency.len(), &self.currency) {
            (3, _) => currency,
            (_, Some(c)) => c.clone(),
            _ => "EUR".into(),
        };
        Some((price, currency))
    }
}

/// A past conversation.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FixtureInteraction {
    /// Conversation id.
    pub id: String,
    /// "voice" or "chat".
    pub channel: String,
    /// Start, `YYYY-MM-DDTHH:MM` (UTC).
    pub at: String,
    /// Summary.
    #[serde(default)]
    pub summary: String,
    /// Outcome.
    #[serde(default)]
    pub outcome: String,
    /// Turns.
    #[serde(default)]
    pub turns: Vec<FixtureTurn>,
}

/// A past turn.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FixtureTurn {
    /// Speaker.
    pub speaker: String,
    /// Text.
    pub text: String,
    /// Intent name.
    #[serde(default)]
    pub intent: Option<String>,
    /// Sentiment label.
    #[serde(default)]
    pub sentiment: Option<String>,
}

/// An open return.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FixtureReturn {
    /// Order id.
    pub order: String,
    /// Reason.
    pub reason: String,
    /// Resolution.
    pub resolution: String,
    /// Status after opening (default "requested").
    #[serde(default)]
    pub status: Option<String>,
}

/// Parses a data set, or a single fixture (an evaluation scenario), with its dates as written.
pub fn parse_yaml(text: &str) -> Result<Vec<Fixture>> {
    parse(text).map(|(fixtures, _)| fixtures)
}

/// The fixtures of a data set or single fixture, and the day a data set was written for.
fn parse(text: &str) -> Result<(Vec<Fixture>, Option<String>)> {
    if let Ok(set) = serde_yaml::from_str::<DataSet>(text) {
        return Ok((set.fixtures, set.written_for));
    }
    serde_yaml::from_str::<Fixture>(text)
        .map(|f| (vec![f], None))
        .map_err(|e| CrmError::invalid("fixture", format!("is not a fixture: {e}")))
}

/// Parses a data set or a single fixture for seeding on `today` (noon UTC of the seeding
/// day): a data set written for another day is moved to it (see [`DataSet::written_for`]).
pub fn parse_yaml_on(text: &str, today: Millis) -> Result<Vec<Fixture>> {
    let (mut fixtures, written_for) = parse(text)?;
    if let Some(day) = written_for {
        let shift = (today.div_euclid(DAY) - parse_time(&day)?.div_euclid(DAY)) * DAY;
        for f in &mut fixtures {
            f.shift = shift;
        }
    }
    Ok(fixtures)
}

const DAY: Millis = 86_400_000;

/// The built-in demo data set, with its dates as written.
pub fn demo() -> Result<Vec<Fixture>> {
    parse_yaml(DEMO_YAML)
}

/// The built-in demo data set moved to `today`.
pub fn demo_on(today: Millis) -> Result<Vec<Fixture>> {
    parse_yaml_on(DEMO_YAML, today)
}

/// What a load stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Customers.
    pub customers: usize,
    /// Products.
    pub products: usize,
    /// Orders.
    pub orders: usize,
    /// Turns of past conversations.
    pub turns: usize,
    /// Returns.
    pub returns: usize,
}

fn minor(units: f64) -> i64 {
    (units * 100.0).round() as i64
}

/// Loads fixtures into a store. Loading twice replaces profiles, products
/// and orders; conversations and returns already present are kept.
pub fn load(store: &dyn Store, fixtures: &[Fixture]) -> Result<Loaded> {
    let mut n = Loaded::default();
    for f in fixtures {
        let parse_time = |s: &str| parse_time(s).map(|t| t + f.shift);
        for p in &f.catalogue {
            let (price, currency) = p.price_and_currency().ok_or_else(|| {
                CrmError::InvalidArgument {
                    field: "catalogue.price",
                    problem: format!(
                        "is missing for product {}: give `price` (and `currency`), or `attributes: {{price: \"229.00 GBP\"}}`",
                        p.sku
                    ),
                }
            })?;
            let mut attributes = p.attributes.clone();
            if let Some(w) = p.warmth_min_c {
                attributes.insert("warmth_min_c".into(), w.to_string());
            }
            if let Some(w) = p.waterproof {
                attributes.insert("waterproof".into(), w.to_string());
            }
            store.upsert_product(&Product {
                sku: p.sku.clone(),
                name: p.name.clone(),
                category: p.category.clone(),
                attributes,
                sizes: p.sizes.clone(),
                price_minor: minor(price),
                currency,
                stock: 0,
                stock_by_size: p.stock.clone(),
                final_sale: p.final_sale,
            })?;
            n.products += 1;
        }
        let c = &f.customer;
        let mut contacts = Vec::new();
        if let Some(phone) = &c.phone {
            contacts.push(ContactPoint {
                kind: ContactKind::Phone,
                value: phone.clone(),
            });
        }
        if let Some(email) = &c.email {
            contacts.push(ContactPoint {
                kind: ContactKind::Email,
                value: email.clone(),
            });
        }
        store.upsert_customer(&Customer {
            id: c.id.clone(),
            name: c.name.clone(),
            language: c.language.clone(),
            contacts,
            address: Address {
                street: c.street.clone(),
                city: c.city.clone(),
                postal_code: c.postal_code.clone(),
                country: c.country.clone(),
            },
            tier: c.tier.clone().unwrap_or_else(|| "standard".into()),
            preferences: c.preferences.clone(),
            erased_at: None,
        })?;
        n.customers += 1;
        for (purpose, granted) in &c.consent {
            let purpose = ConsentPurpose::parse(purpose).ok_or_else(|| {
                CrmError::invalid(
                    "customer.consent",
                    "keys are personalization, recordings, marketing",
                )
            })?;
            store.set_consent(
                &c.id,
                &Consent {
                    purpose,
                    granted: *granted,
                    updated_at: 0,
                    source: "seed".into(),
                },
            )?;
        }
        for o in &f.orders {
            let currency = o.lines.first().and_then(|l| l.currency.clone());
            store.upsert_order(&Order {
                id: o.id.clone(),
                customer_id: c.id.clone(),
                status: o.status.clone(),
                placed_at: parse_time(&o.date)?,
                delivered_at: o.delivered.as_deref().map(parse_time).transpose()?,
                expected_delivery: o
                    .promised
                    .as_deref()
                    .or(o.expected.as_deref())
                    .map(parse_time)
                    .transpose()?,
                total_minor: 0,
                currency: currency.unwrap_or_else(|| "EUR".into()),
                carrier: o.carrier.clone().unwrap_or_default(),
                lines: o
                    .lines
                    .iter()
                    .map(|l| OrderLine {
                        id: String::new(),
                        sku: l.sku.clone(),
                        name: l.name.clone(),
                        size: l.size.clone().unwrap_or_default(),
                        quantity: l.quantity.unwrap_or(1),
                        unit_price_minor: minor(l.price),
                        category: l.category.clone(),
                        final_sale: l.final_sale,
                    })
                    .collect(),
            })?;
            n.orders += 1;
        }
        for i in &f.interactions {
            if store.interaction(&i.id).is_ok() {
                continue;
            }
            let start = parse_time(&i.at)?;
            let last = i.turns.len().saturating_sub(1);
            for (k, t) in i.turns.iter().enumerate() {
                store.append(&Append {
                    conversation_id: i.id.clone(),
                    customer_id: Some(c.id.clone()),
                    channel: Channel::parse(&i.channel),
                    turn: TimelineTurn {
                        speaker: t.speaker.clone(),
                        text: t.text.clone(),
                        at: start + 30_000 * k as i64,
                        sentiment: t.sentiment.clone().map(|label| Sentiment {
                            score: match label.as_str() {
                                "negative" => -0.6,
                                "positive" => 0.6,
                                _ => 0.0,
                            },
                            label,
                            trend: 0.0,
                        }),
                        intent: t.intent.clone().map(|name| Intent {
                            name,
                            confidence: 0.9,
                            slots: BTreeMap::new(),
                        }),
                        actions: Vec::new(),
                        handoff: None,
                        ..Default::default()
                    },
                    summary: if k == last {
                        i.summary.clone()
                    } else {
                        String::new()
                    },
                    outcome: if k == last {
                        i.outcome.clone()
                    } else {
                        String::new()
                    },
                })?;
                n.turns += 1;
            }
        }
        for r in &f.returns {
            let has_open = store
                .context(&c.id, 1)?
                .open_returns
                .iter()
                .any(|open| open.order_id == r.order);
            if has_open {
                continue;
            }
            let ret = store.create_return(&NewReturn {
                order_id: r.order.clone(),
                line_ids: Vec::new(),
                reason: r.reason.clone(),
                resolution: r.resolution.clone(),
                ..NewReturn::default()
            })?;
            if let Some(status) = r.status.as_deref().filter(|s| *s != "requested") {
                store.update_return(&ret.rma_id, status)?;
            }
            n.returns += 1;
        }
    }
    Ok(n)
}

/// `parla crm seed [FILES]`: opens the configured store (running its
/// migrations), loads the built-in demo data or the given fixture files,
/// and says what it stored and where. `today` (`YYYY-MM-DD`, the
/// `flows.today` setting) is the seeding day the demo data's dates are moved
/// to; empty for the machine's date.
pub fn seed_command(
    config: &crate::CrmConfig,
    files: &[std::path::PathBuf],
    today: &str,
) -> Result<String> {
    let today = if today.is_empty() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis);
        now.div_euclid(DAY) * DAY + DAY / 2
    } else {
        parse_time(today)?
    };
    let fixtures = if files.is_empty() {
        demo_on(today)?
    } else {
        let mut all = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(file).map_err(|e| {
                CrmError::invalid("files", format!("{} cannot be read: {e}", file.display()))
            })?;
            all.extend(
                parse_yaml_on(&text, today)
                    .map_err(|e| CrmError::invalid("files", format!("{}: {e}", file.display())))?,
            );
        }
        all
    };
    let where_ = match config.location()? {
        crate::Location::Sqlite(path) => path.display().to_string(),
        crate::Location::Postgres(_) => "the PostgreSQL database at crm.database_url".into(),
    };
    let store = crate::open(config)?;
    let n = load(store.as_ref(), &fixtures)?;
    Ok(format!(
        "seeded {where_}: {} customers, {} products, {} orders, {} conversation turns, {} returns",
        n.customers, n.products, n.orders, n.turns, n.returns
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_data_moves_to_the_seeding_day_and_fixtures_stay_as_written() {
        let written = parse_time("2026-11-25").unwrap();
        let same = demo_on(written).unwrap();
        assert!(same.iter().all(|f| f.shift == 0));
        let later = demo_on(parse_time("2027-02-03").unwrap()).unwrap();
        assert!(
            later.iter().all(|f| f.shift == 70 * DAY),
            "{}",
            later[0].shift
        );
        let earlier = demo_on(parse_time("2026-11-20").unwrap()).unwrap();
        assert!(earlier.iter().all(|f| f.shift == -5 * DAY));
        // A single fixture (an evaluation scenario) is dated by its own scenario.
        let fixture = "customer: {id: K1, name: A B}\norders:\n  - {id: O1, date: 2020-01-01, status: delivered, lines: []}\n";
        let f = parse_yaml_on(fixture, parse_time("2027-02-03").unwrap()).unwrap();
        assert_eq!(f[0].shift, 0);
    }

    #[test]
    fn demo_parses() {
        let demo = demo().unwrap();
        assert!(demo.len() >= 12);
        assert!(demo.iter().any(|f| f.customer.city == "Milan"));
    }
}
