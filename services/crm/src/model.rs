//! The customer record's domain types, free of any transport or storage
//! detail. Times are milliseconds since the Unix epoch (UTC); money is in
//! minor units (cents) with an ISO 4217 currency.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The current time.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How a customer can be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactKind {
    /// A phone number in E.164 form.
    Phone,
    /// An e-mail address, lowercased.
    Email,
}

impl ContactKind {
    /// Name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Phone => "phone",
            ContactKind::Email => "email",
        }
    }
}

/// A phone number or e-mail of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPoint {
    /// Phone or e-mail.
    pub kind: ContactKind,
    /// The normalized value.
    pub value: String,
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

/// A customer's profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Customer id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Preferred language (BCP-47).
    pub language: String,
    /// Phone numbers and e-mails.
    pub contacts: Vec<ContactPoint>,
    /// Home address.
    pub address: Address,
    /// "standard", "gold" or "vip".
    pub tier: String,
    /// Preferences (size, channel, ...).
    pub preferences: BTreeMap<String, String>,
    /// When the personal data was erased, if it was.
    pub erased_at: Option<Millis>,
}

/// Purposes a customer consents to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentPurpose {
    /// Using their history to personalize conversations.
    Personalization,
    /// Recording calls.
    Recordings,
    /// Marketing messages.
    Marketing,
}

impl ConsentPurpose {
    /// Every purpose.
    pub const ALL: [ConsentPurpose; 3] = [
        ConsentPurpose::Personalization,
        ConsentPurpose::Recordings,
        ConsentPurpose::Marketing,
    ];

    /// Name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentPurpose::Personalization => "personalization",
            ConsentPurpose::Recordings => "recordings",
            ConsentPurpose::Marketing => "marketing",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A customer's answer for one purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The purpose.
    pub purpose: ConsentPurpose,
    /// True when granted.
    pub granted: bool,
    /// When it was given or withdrawn.
    pub updated_at: Millis,
    /// Where it was given ("web-signup", "call", ...).
    pub source: String,
}

/// A catalogue product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Stock-keeping id.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Category ("outerwear", "footwear", ...).
    pub category: String,
    /// Attributes such as `warmth_min_c` or `waterproof`.
    pub attributes: BTreeMap<String, String>,
    /// Sizes offered.
    pub sizes: Vec<String>,
    /// Unit price in minor units.
    pub price_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Units in stock, all sizes.
    pub stock: i32,
    /// Units in stock per size.
    pub stock_by_size: BTreeMap<String, i32>,
    /// Sold as final sale: not returnable.
    pub final_sale: bool,
}

/// What to look for in the catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductQuery {
    /// Category; empty for all.
    pub category: String,
    /// Attributes that must match exactly.
    pub attributes: BTreeMap<String, String>,
    /// Size that must be in stock; empty for any.
    pub size: String,
}

/// One line of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Line id (unique across orders).
    pub id: String,
    /// Product sku.
    pub sku: String,
    /// Product name at the time of the order.
    pub name: String,
    /// Size ordered.
    pub size: String,
    /// Quantity.
    pub quantity: i32,
    /// Unit price in minor units.
    pub unit_price_minor: i64,
    /// Category at the time of the order.
    pub category: String,
    /// Bought as final sale: not returnable.
    pub final_sale: bool,
}

/// An order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Order id.
    pub id: String,
    /// Customer id.
    pub customer_id: String,
    /// "placed", "processing", "shipped", "in_transit", "delivered", "cancelled".
    pub status: String,
    /// When it was placed.
    pub placed_at: Millis,
    /// When it was delivered.
    pub delivered_at: Option<Millis>,
    /// Expected (promised) delivery.
    pub expected_delivery: Option<Millis>,
    /// Total in minor units.
    pub total_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Carrier ("UPS", "BRT", ...).
    pub carrier: String,
    /// Lines.
    pub lines: Vec<OrderLine>,
}

/// Return statuses that are still open.
pub const OPEN_RETURN_STATUSES: [&str; 3] = ["requested", "label_sent", "received"];
/// Every return status.
pub const RETURN_STATUSES: [&str; 6] = [
    "requested",
    "label_sent",
    "received",
    "refunded",
    "exchanged",
    "cancelled",
];
/// Every return resolution.
pub const RETURN_RESOLUTIONS: [&str; 3] = ["refund", "exchange", "store_credit"];

/// A return or exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return {
    /// RMA id.
    pub rma_id: String,
    /// Order id.
    pub order_id: String,
    /// Customer id.
    pub customer_id: String,
    /// Order line ids returned.
    pub line_ids: Vec<String>,
    /// Why.
    pub reason: String,
    /// One of [`RETURN_STATUSES`].
    pub status: String,
    /// One of [`RETURN_RESOLUTIONS`].
    pub resolution: String,
    /// Replacement sku for an exchange.
    pub exchange_sku: String,
    /// Replacement size for an exchange.
    pub exchange_size: String,
    /// Conversation that opened it.
    pub conversation_id: String,
    /// When it was opened.
    pub created_at: Millis,
    /// Last status change.
    pub updated_at: Millis,
}

/// A return to open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewReturn {
    /// Order id.
    pub order_id: String,
    /// Lines returned; empty for every line.
    pub line_ids: Vec<String>,
    /// Why.
    pub reason: String,
    /// One of [`RETURN_RESOLUTIONS`].
    pub resolution: String,
    /// Replacement sku for an exchange.
    pub exchange_sku: String,
    /// Replacement size for an exchange.
    pub exchange_size: String,
    /// Conversation that opened it.
    pub conversation_id: String,
}

/// Where a conversation happens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Not known.
    #[default]
    Unspecified,
    /// A phone call or an app's audio stream.
    Voice,
    /// A text chat.
    Chat,
}

impl Channel {
    /// Name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Unspecified => "unspecified",
            Channel::Voice => "voice",
            Channel::Chat => "chat",
        }
    }

    /// Parses a stored name (unknown names are `Unspecified`).
    pub fn parse(s: &str) -> Self {
        match s {
            "voice" => Channel::Voice,
            "chat" => Channel::Chat,
            _ => Channel::Unspecified,
        }
    }
}

/// How the customer felt at a turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    /// Score in [-1, 1].
    pub score: f32,
    /// "negative", "neutral", "positive" or empty.
    pub label: String,
    /// Trend over the conversation: the slope of the score per turn, in [-2, 2].
    pub trend: f32,
}

/// What the customer wanted at a turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// Intent name.
    pub name: String,
    /// Confidence in [0, 1].
    pub confidence: f32,
    /// Extracted values.
    pub slots: BTreeMap<String, String>,
}

/// Something Parla did on the customer's behalf.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Action name (create_return, ...).
    pub name: String,
    /// Arguments.
    pub arguments: BTreeMap<String, String>,
    /// True when it succeeded.
    pub ok: bool,
    /// What came back.
    pub result: String,
}

/// A hand-off decided at a turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// True when handed off.
    pub handoff: bool,
    /// Reason ("request", "sentiment", ...).
    pub reason: String,
    /// Explanation for the human agent.
    pub explanation: String,
    /// Hand-off ticket id.
    pub ticket_id: String,
}

/// One turn in the timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineTurn {
    /// "customer", "parla" or "agent".
    pub speaker: String,
    /// What was said.
    pub text: String,
    /// When (0: the time of the append).
    pub at: Millis,
    /// Sentiment of a customer turn.
    pub sentiment: Option<Sentiment>,
    /// Intent of a customer turn.
    pub intent: Option<Intent>,
    /// Actions taken.
    pub actions: Vec<Action>,
    /// Hand-off decided.
    pub handoff: Option<Handoff>,
    /// Barge-in: a reply the customer interrupted (`text` is the part heard).
    #[serde(default)]
    pub interrupted: bool,
    /// Characters of the interrupted reply the customer heard.
    #[serde(default)]
    pub heard_chars: u32,
}

/// Speakers a turn may have.
pub const SPEAKERS: [&str; 3] = ["customer", "parla", "agent"];

/// A conversation in the timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Conversation id.
    pub conversation_id: String,
    /// Customer, when identified.
    pub customer_id: Option<String>,
    /// Channel.
    pub channel: Channel,
    /// When it started.
    pub started_at: Millis,
    /// Summary.
    pub summary: String,
    /// Outcome ("resolved", "handed_off", ...).
    pub outcome: String,
    /// Turns, oldest first (the context carries only the latest few).
    pub turns: Vec<TimelineTurn>,
    /// Number of turns stored.
    pub turn_count: u64,
}

/// Something to append to a conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Append {
    /// Conversation id.
    pub conversation_id: String,
    /// Customer, when known.
    pub customer_id: Option<String>,
    /// Channel.
    pub channel: Channel,
    /// The turn.
    pub turn: TimelineTurn,
    /// New summary; empty keeps the old one.
    pub summary: String,
    /// Outcome; empty keeps the old one.
    pub outcome: String,
}

/// Everything the dialogue needs about a customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerContext {
    /// Profile.
    pub customer: Customer,
    /// Consent per purpose.
    pub consents: Vec<Consent>,
    /// Recent orders, newest first.
    pub recent_orders: Vec<Order>,
    /// Returns not yet closed.
    pub open_returns: Vec<Return>,
    /// Latest interactions, newest first, each with its latest turns.
    /// Empty when the customer withdrew consent to personalization.
    pub recent_interactions: Vec<Interaction>,
}

/// Who the caller may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerHint {
    /// A phone number in any common format.
    Phone(String),
    /// An e-mail address.
    Email(String),
    /// A customer id.
    Id(String),
}

/// An audit record of an export or erasure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Audit id.
    pub id: String,
    /// Customer concerned.
    pub customer_id: String,
    /// "export" or "erase".
    pub action: String,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub at: Millis,
    /// What was done (counts, never personal data), as JSON.
    pub detail: String,
}

/// A customer's data as exported.
#[derive(Debug, Clone)]
pub struct Export {
    /// The JSON document.
    pub json: String,
    /// The audit record's id.
    pub audit_id: String,
}
