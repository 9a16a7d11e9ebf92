//! At-rest protection of the customer record's personal fields: names,
//! contact points, addresses, preferences and conversation text are sealed
//! by the shared [`parla_seal`] cipher under the record's own subkeys
//! ([`DOMAIN`]), and contact points are found through its blind index.

pub use parla_seal::{FieldCipher, SealKey};

/// The name the customer record's subkeys are derived under. Changing it
/// would make every sealed field unreadable.
pub const DOMAIN: &str = "parla-crm";
