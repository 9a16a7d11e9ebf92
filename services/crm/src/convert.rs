//! Conversions between `parla.v1` messages and the domain types. Proto
//! enums become the short lowercase names the store keeps ("sentiment",
//! "negative"); malformed input becomes `InvalidArgument`.

use parla_proto::v1 as pb;
use prost_types::Timestamp;

use crate::error::{CrmError, Result};
use crate::model::*;

pub fn ts(ms: Millis) -> Option<Timestamp> {
    (ms != 0).then(|| Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    })
}

pub fn ms(t: &Option<Timestamp>) -> Millis {
    t.as_ref()
        .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

/// The lowercase tail of a prost enum name: `HANDOFF_REASON_NO_PROGRESS`
/// with prefix `HANDOFF_REASON_` is `no_progress`.
fn short(name: &str, prefix: &str) -> String {
    match name.strip_prefix(prefix) {
        Some("UNSPECIFIED") | None => String::new(),
        Some(tail) => tail.to_ascii_lowercase(),
    }
}

pub fn channel_from(v: i32) -> Channel {
    match pb::Channel::try_from(v) {
        Ok(pb::Channel::Voice) => Channel::Voice,
        Ok(pb::Channel::Chat) => Channel::Chat,
        _ => Channel::Unspecified,
    }
}

pub fn channel_to(c: Channel) -> i32 {
    match c {
        Channel::Unspecified => pb::Channel::Unspecified as i32,
        Channel::Voice => pb::Channel::Voice as i32,
        Channel::Chat => pb::Channel::Chat as i32,
    }
}

pub fn purpose_from(v: i32) -> Result<ConsentPurpose> {
    match pb::ConsentPurpose::try_from(v) {
        Ok(pb::ConsentPurpose::Personalization) => Ok(ConsentPurpose::Personalization),
        Ok(pb::ConsentPurpose::Recordings) => Ok(ConsentPurpose::Recordings),
        Ok(pb::ConsentPurpose::Marketing) => Ok(ConsentPurpose::Marketing),
        _ => Err(CrmError::invalid(
            "consents.purpose",
            "must be PERSONALIZATION, RECORDINGS or MARKETING",
        )),
    }
}

fn purpose_to(p: ConsentPurpose) -> i32 {
    match p {
        ConsentPurpose::Personalization => pb::ConsentPurpose::Personalization as i32,
        ConsentPurpose::Recordings => pb::ConsentPurpose::Recordings as i32,
        ConsentPurpose::Marketing => pb::ConsentPurpose::Marketing as i32,
    }
}

pub fn consent_from(c: &pb::Consent) -> Result<Consent> {
    Ok(Consent {
        purpose: purpose_from(c.purpose)?,
        granted: c.granted,
        updated_at: ms(&c.updated_at),
        source: c.source.clone(),
    })
}

pub fn consent_to(c: &Consent) -> pb::Consent {
    pb::Consent {
        purpose: purpose_to(c.purpose),
        granted: c.granted,
        updated_at: ts(c.updated_at),
        source: c.source.clone(),
    }
}

pub fn customer_from(c: &pb::Customer) -> Result<Customer> {
    let contacts = c
        .contacts
        .iter()
        .map(|cp| {
            let kind = match cp.kind.trim().to_ascii_lowercase().as_str() {
                "phone" => ContactKind::Phone,
                "email" => ContactKind::Email,
                _ => {
                    return Err(CrmError::invalid(
                        "customer.contacts.kind",
                        "must be \"phone\" or \"email\"",
                    ))
                }
            };
            Ok(ContactPoint {
                kind,
                value: cp.value.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let a = c.address.clone().unwrap_or_default();
    Ok(Customer {
        id: c.id.clone(),
        name: c.name.clone(),
        language: c.language.clone(),
        contacts,
        address: Address {
            street: a.street,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
        },
        tier: c.tier.clone(),
        preferences: c.preferences.clone().into_iter().collect(),
        erased_at: None,
    })
}

pub fn customer_to(c: &Customer) -> pb::Customer {
    pb::Customer {
        id: c.id.clone(),
        name: c.name.clone(),
        language: c.language.clone(),
        contacts: c
            .contacts
            .iter()
            .map(|cp| pb::ContactPoint {
                kind: cp.kind.as_str().into(),
                value: cp.value.clone(),
            })
            .collect(),
        address: Some(pb::Address {
            street: c.address.street.clone(),
            city: c.address.city.clone(),
            postal_code: c.address.postal_code.clone(),
            country: c.address.country.clone(),
        }),
        tier: c.tier.clone(),
        preferences: c.preferences.clone().into_iter().collect(),
        erased_at: c.erased_at.and_then(ts),
    }
}

pub fn product_from(p: &pb::Product) -> Product {
    Product {
        sku: p.sku.clone(),
        name: p.name.clone(),
        category: p.category.clone(),
        attributes: p.attributes.clone().into_iter().collect(),
        sizes: p.sizes.clone(),
        price_minor: p.price_minor,
        currency: p.currency.clone(),
        stock: p.stock,
        stock_by_size: p.stock_by_size.clone().into_iter().collect(),
        final_sale: p.final_sale,
    }
}

pub fn product_to(p: &Product) -> pb::Product {
    pb::Product {
        sku: p.sku.clone(),
        name: p.name.clone(),
        category: p.category.clone(),
        attributes: p.attributes.clone().into_iter().collect(),
        sizes: p.sizes.clone(),
        price_minor: p.price_minor,
        currency: p.currency.clone(),
        stock: p.stock,
        stock_by_size: p.stock_by_size.clone().into_iter().collect(),
        final_sale: p.final_sale,
    }
}

pub fn order_from(o: &pb::Order) -> Order {
    Order {
        id: o.id.clone(),
        customer_id: o.customer_id.clone(),
        status: o.status.clone(),
        placed_at: ms(&o.placed_at),
        delivered_at: o.delivered_at.as_ref().map(|_| ms(&o.delivered_at)),
        expected_delivery: o
            .expected_delivery
            .as_ref()
            .map(|_| ms(&o.expected_delivery)),
        total_minor: o.total_minor,
        currency: o.currency.clone(),
        carrier: o.carrier.clone(),
        lines: o
            .lines
            .iter()
            .map(|l| OrderLine {
                id: l.id.clone(),
                sku: l.sku.clone(),
                name: l.name.clone(),
                size: l.size.clone(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
                category: l.category.clone(),
                final_sale: l.final_sale,
            })
            .collect(),
    }
}

pub fn order_to(o: &Order) -> pb::Order {
    pb::Order {
        id: o.id.clone(),
        customer_id: o.customer_id.clone(),
        status: o.status.clone(),
        placed_at: ts(o.placed_at),
        delivered_at: o.delivered_at.and_then(ts),
        expected_delivery: o.expected_delivery.and_then(ts),
        total_minor: o.total_minor,
        currency: o.currency.clone(),
        carrier: o.carrier.clone(),
        lines: o
            .lines
            .iter()
            .map(|l| pb::OrderLine {
                id: l.id.clone(),
                sku: l.sku.clone(),
                name: l.name.clone(),
                size: l.size.clone(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
                category: l.category.clone(),
                final_sale: l.final_sale,
            })
            .collect(),
    }
}

pub fn return_to(r: &Return) -> pb::Return {
    pb::Return {
        rma_id: r.rma_id.clone(),
        order_id: r.order_id.clone(),
        line_ids: r.line_ids.clone(),
        reason: r.reason.clone(),
        status: r.status.clone(),
        resolution: r.resolution.clone(),
        exchange_sku: r.exchange_sku.clone(),
        exchange_size: r.exchange_size.clone(),
        created_at: ts(r.created_at),
        conversation_id: r.conversation_id.clone(),
        customer_id: r.customer_id.clone(),
        updated_at: ts(r.updated_at),
    }
}

pub fn turn_from(t: &pb::TimelineTurn) -> TimelineTurn {
    TimelineTurn {
        speaker: t.speaker.clone(),
        text: t.text.clone(),
        at: ms(&t.at),
        sentiment: t.sentiment.as_ref().map(|s| Sentiment {
            score: s.score,
            label: pb::SentimentLabel::try_from(s.label)
                .map(|l| short(l.as_str_name(), "SENTIMENT_LABEL_"))
                .unwrap_or_default(),
            trend: s.trend,
        }),
        intent: t.intent.as_ref().map(|i| Intent {
            name: i.name.clone(),
            confidence: i.confidence,
            slots: i.slots.clone().into_iter().collect(),
        }),
        actions: t
            .actions
            .iter()
            .map(|a| Action {
                name: a.name.clone(),
                arguments: a.arguments.clone().into_iter().collect(),
                ok: a.ok,
                result: a.result.clone(),
            })
            .collect(),
        handoff: t.handoff.as_ref().map(|h| Handoff {
            handoff: h.handoff,
            reason: pb::HandoffReason::try_from(h.reason)
                .map(|r| short(r.as_str_name(), "HANDOFF_REASON_"))
                .unwrap_or_default(),
            explanation: h.explanation.clone(),
            ticket_id: h.ticket_id.clone(),
        }),
        interrupted: t.interrupted,
        heard_chars: t.heard_chars,
    }
}

fn turn_to(t: &TimelineTurn) -> pb::TimelineTurn {
    let upper = |prefix: &str, name: &str| format!("{prefix}{}", name.to_ascii_uppercase());
    pb::TimelineTurn {
        speaker: t.speaker.clone(),
        text: t.text.clone(),
        at: ts(t.at),
        sentiment: t.sentiment.as_ref().map(|s| pb::Sentiment {
            score: s.score,
            label: pb::SentimentLabel::from_str_name(&upper("SENTIMENT_LABEL_", &s.label))
                .unwrap_or(pb::SentimentLabel::Unspecified) as i32,
            trend: s.trend,
        }),
        intent: t.intent.as_ref().map(|i| pb::Intent {
            name: i.name.clone(),
            confidence: i.confidence,
            slots: i.slots.clone().into_iter().collect(),
        }),
        actions: t
            .actions
            .iter()
            .map(|a| pb::Action {
                name: a.name.clone(),
                arguments: a.arguments.clone().into_iter().collect(),
                ok: a.ok,
                result: a.result.clone(),
            })
            .collect(),
        handoff: t.handoff.as_ref().map(|h| pb::HandoffDecision {
            handoff: h.handoff,
            reason: pb::HandoffReason::from_str_name(&upper("HANDOFF_REASON_", &h.reason))
                .unwrap_or(pb::HandoffReason::Unspecified) as i32,
            explanation: h.explanation.clone(),
            ticket_id: h.ticket_id.clone(),
        }),
        interrupted: t.interrupted,
        heard_chars: t.heard_chars,
    }
}

pub fn interaction_to(i: &Interaction) -> pb::Interaction {
    pb::Interaction {
        conversation_id: i.conversation_id.clone(),
        channel: channel_to(i.channel),
        started_at: ts(i.started_at),
        summary: i.summary.clone(),
        outcome: i.outcome.clone(),
        turns: i.turns.iter().map(turn_to).collect(),
        customer_id: i.customer_id.clone().unwrap_or_default(),
        turn_count: i.turn_count,
    }
}

pub fn context_to(c: &CustomerContext) -> pb::CustomerContext {
    pb::CustomerContext {
        customer: Some(customer_to(&c.customer)),
        consents: c.consents.iter().map(consent_to).collect(),
        recent_orders: c.recent_orders.iter().map(order_to).collect(),
        open_returns: c.open_returns.iter().map(return_to).collect(),
        recent_interactions: c.recent_interactions.iter().map(interaction_to).collect(),
    }
}

pub fn audit_to(a: &AuditRecord) -> pb::AuditRecord {
    pb::AuditRecord {
        id: a.id.clone(),
        customer_id: a.customer_id.clone(),
        action: a.action.clone(),
        requested_by: a.requested_by.clone(),
        at: ts(a.at),
        detail_json: a.detail.clone(),
    }
}

pub fn hint_from(h: Option<&pb::CustomerHint>) -> Result<CustomerHint> {
    use pb::customer_hint::Hint;
    match h.and_then(|h| h.hint.as_ref()) {
        Some(Hint::PhoneNumber(p)) => Ok(CustomerHint::Phone(p.clone())),
        Some(Hint::Email(e)) => Ok(CustomerHint::Email(e.clone())),
        Some(Hint::CustomerId(id)) => Ok(CustomerHint::Id(id.clone())),
        None => Err(CrmError::invalid(
            "hint",
            "is empty: set phone_number, email or customer_id",
        )),
    }
}
