//! Who may read or write a chat conversation: a pure decision over the tokens a request
//! presents and the conversation's owner, so every way in (`Send`, `Events`, `Verify`) asks
//! the same question.
//!
//! A request carries up to two tokens: the shop's token naming the signed-in customer (none
//! when signed out or anonymous) and the conversation token Parla minted for one
//! conversation. The rules, for a shared computer where customers come and go on one
//! browser:
//! - A shop token must name the conversation's owner: a signed-in customer never opens an
//!   anonymous conversation or another customer's.
//! - Without a shop token, a conversation token opens its own conversation only if that
//!   conversation was not signed in through the shop: anonymous conversations, and those whose
//!   visitor verified an order in the chat (`via` = `verified`). A signed-in customer's
//!   conversation needs that customer's shop token on every use, so a signed-out page never
//!   shows it.
//! - A conversation token always names exactly this conversation and its current owner.

use super::auth::Claims;
use super::store::Conversation;

/// How the owner of a conversation token's conversation was established (claim `via`).
pub const VIA_SHOP: &str = "shop";
/// The visitor proved an order and its e-mail in the chat (`Chat.Verify`).
pub const VIA_VERIFIED: &str = "verified";

/// The tokens of one request, checked and sorted by kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Presented {
    /// The shop's token (its `sub` is a CRM customer id).
    pub shop: Option<Claims>,
    /// Parla's token for one conversation.
    pub conversation: Option<Claims>,
}

/// Why a request may not use a conversation; each says what the widget should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Nothing presented.
    #[error("this conversation needs the conversation token returned by Send")]
    NoToken,
    /// Two tokens of the same kind, or a shop token where the conversation token goes.
    #[error("customer_token takes the shop's token and conversation_token Parla's; they were swapped or doubled")]
    Mixed,
    /// The signed-in customer is not the owner.
    #[error("this conversation belongs to another customer; start a new one")]
    OtherCustomer,
    /// The conversation token is for another conversation or owner.
    #[error("this conversation token is for another conversation; start a new one")]
    OtherConversation,
    /// A signed-in conversation opened without the customer's shop token.
    #[error("this conversation belongs to a signed-in customer; present their shop token or start a new one")]
    SignedIn,
}

impl Presented {
    /// Sorts the checked claims of the two token fields. Older clients send the conversation
    /// token in `customer_token`; it counts as the conversation token when the other field is
    /// empty.
    pub fn sort(
        customer_token: Option<Claims>,
        conversation_token: Option<Claims>,
    ) -> Result<Self, Denied> {
        match (customer_token, conversation_token) {
            (Some(c), None) if c.is_conversation_token() => Ok(Self {
                shop: None,
                conversation: Some(c),
            }),
            (Some(s), _) if s.is_conversation_token() => Err(Denied::Mixed),
            (_, Some(c)) if !c.is_conversation_token() => Err(Denied::Mixed),
            (shop, conversation) => Ok(Self { shop, conversation }),
        }
    }

    /// The owner of a conversation started by this request: the signed-in customer, else
    /// `None` (a new anonymous owner).
    pub fn new_owner(&self) -> Option<&str> {
        self.shop.as_ref().map(|s| s.sub.as_str())
    }

    /// Whether this request may read and write `conv`.
    pub fn check(&self, conv: &Conversation) -> Result<(), Denied> {
        if let Some(c) = &self.conversation {
            if c.cid != conv.id || c.sub != conv.owner {
                return Err(Denied::OtherConversation);
            }
        }
        match (&self.shop, &self.conversation) {
            (Some(s), _) if s.sub != conv.owner => Err(Denied::OtherCustomer),
            (Some(_), _) => Ok(()),
            (None, None) => Err(Denied::NoToken),
            (None, Some(c)) if c.is_anonymous() || c.via == VIA_VERIFIED => Ok(()),
            (None, Some(_)) => Err(Denied::SignedIn),
        }
    }
}

/// The `via` claim for a conversation token of `conv`, given how its owner was last
/// established.
pub fn via(conv: &Conversation, verified_in_chat: bool) -> &'static str {
    if conv.customer_id.is_empty() {
        ""
    } else if verified_in_chat {
        VIA_VERIFIED
    } else {
        VIA_SHOP
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::auth::PARLA_ISSUER;

    fn conv(id: &str, owner: &str) -> Conversation {
        Conversation {
            id: id.into(),
            owner: owner.into(),
            customer_id: if owner.starts_with("anon:") {
                String::new()
            } else {
                owner.into()
            },
            language: "en".into(),
            ticket_id: String::new(),
            mode: "bot".into(),
        }
    }

    fn shop(sub: &str) -> Claims {
        Claims {
            sub: sub.into(),
            exp: i64::MAX / 2,
            iat: 0,
            iss: "shop".into(),
            cid: String::new(),
            via: String::new(),
        }
    }

    fn token(sub: &str, cid: &str, via: &str) -> Claims {
        Claims {
            sub: sub.into(),
            exp: i64::MAX / 2,
            iat: 0,
            iss: PARLA_ISSUER.into(),
            cid: cid.into(),
            via: via.into(),
        }
    }

    fn presented(shop_: Option<Claims>, conversation: Option<Claims>) -> Presented {
        Presented::sort(shop_, conversation).expect("sorted")
    }

    #[test]
    fn the_signed_in_owner_opens_their_conversation() {
        let giulia = conv("c1", "C100");
        let p = presented(Some(shop("C100")), Some(token("C100", "c1", VIA_SHOP)));
        assert_eq!(p.check(&giulia), Ok(()));
        assert_eq!(presented(Some(shop("C100")), None).check(&giulia), Ok(()));
    }

    #[test]
    fn another_signed_in_customer_on_the_same_browser_is_refused() {
        let giulia = conv("c1", "C100");
        // Tom's page, Giulia's conversation token still in the browser.
        let p = presented(Some(shop("C300")), Some(token("C100", "c1", VIA_SHOP)));
        assert_eq!(p.check(&giulia), Err(Denied::OtherCustomer));
        assert_eq!(
            presented(Some(shop("C300")), None).check(&giulia),
            Err(Denied::OtherCustomer)
        );
    }

    #[test]
    fn a_signed_out_page_never_opens_a_signed_in_conversation() {
        let giulia = conv("c1", "C100");
        let alone = token("C100", "c1", VIA_SHOP);
        assert_eq!(
            presented(None, Some(alone.clone())).check(&giulia),
            Err(Denied::SignedIn)
        );
        // The older field, the same answer.
        assert_eq!(
            presented(Some(alone), None).check(&giulia),
            Err(Denied::SignedIn)
        );
        // A token minted before `via` existed counts as signed in.
        assert_eq!(
            presented(None, Some(token("C100", "c1", ""))).check(&giulia),
            Err(Denied::SignedIn)
        );
        assert_eq!(presented(None, None).check(&giulia), Err(Denied::NoToken));
    }

    #[test]
    fn anonymous_and_verified_visitors_keep_their_conversation_and_only_it() {
        let visitor = conv("c2", "anon:ab");
        let own = token("anon:ab", "c2", "");
        assert_eq!(presented(None, Some(own.clone())).check(&visitor), Ok(()));
        // A customer who signs in later on that browser starts their own conversation.
        assert_eq!(
            presented(Some(shop("C300")), Some(own)).check(&visitor),
            Err(Denied::OtherCustomer)
        );
        let other = token("anon:cd", "c9", "");
        assert_eq!(
            presented(None, Some(other)).check(&visitor),
            Err(Denied::OtherConversation)
        );
        let verified = conv("c3", "C200");
        let t = token("C200", "c3", VIA_VERIFIED);
        assert_eq!(presented(None, Some(t)).check(&verified), Ok(()));
        // The anonymous token from before verification no longer opens it.
        let before = token("anon:ef", "c3", "");
        assert_eq!(
            presented(None, Some(before)).check(&verified),
            Err(Denied::OtherConversation)
        );
    }

    #[test]
    fn tokens_in_the_wrong_field_are_refused() {
        assert_eq!(
            Presented::sort(
                Some(token("anon:a", "c1", "")),
                Some(token("anon:a", "c1", ""))
            ),
            Err(Denied::Mixed)
        );
        assert_eq!(
            Presented::sort(None, Some(shop("C100"))),
            Err(Denied::Mixed)
        );
    }

    #[test]
    fn a_new_conversation_belongs_to_the_signed_in_customer_or_a_new_visitor() {
        let p = presented(Some(shop("C300")), Some(token("C100", "c1", VIA_SHOP)));
        assert_eq!(p.new_owner(), Some("C300"));
        assert_eq!(
            presented(None, Some(token("C100", "c1", VIA_SHOP))).new_owner(),
            None
        );
    }

    #[test]
    fn via_names_how_the_owner_was_established() {
        assert_eq!(via(&conv("c", "anon:x"), false), "");
        assert_eq!(via(&conv("c", "C100"), false), VIA_SHOP);
        assert_eq!(via(&conv("c", "C100"), true), VIA_VERIFIED);
    }
}
