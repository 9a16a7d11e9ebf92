//! Who is chatting: HS256 JSON Web Tokens. The shop's backend mints a
//! short-lived token naming the customer (`sub` = CRM customer id) with the
//! key in `[gateway.chat] token_key`; Parla mints its own conversation
//! tokens (`iss` = "parla", `cid` = one conversation) so an anonymous widget
//! can come back to its conversation after a page load.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Issuer of the tokens Parla mints itself.
pub const PARLA_ISSUER: &str = "parla";

/// Prefix of the owner of an anonymous conversation.
pub const ANONYMOUS_PREFIX: &str = "anon:";

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    /// Not three base64url parts with JSON inside.
    #[error("the customer token is malformed: {0}")]
    Malformed(String),
    /// Signed with another algorithm (only HS256 is accepted).
    #[error("the customer token uses algorithm {0:?}; only HS256 is accepted")]
    Algorithm(String),
    /// The signature does not match the configured key.
    #[error("the customer token's signature is not valid for this shop's key")]
    Signature,
    /// Past its `exp`.
    #[error("the customer token expired; ask the shop's backend for a new one")]
    Expired,
    /// Lives longer than allowed.
    #[error("the customer token lives {0} s; shop tokens may live at most {1} s")]
    TooLong(i64, i64),
    /// No key is configured for shop tokens.
    #[error("signed-in chats are not configured (`gateway.chat.token_key` is empty)")]
    NoKey,
}

/// The claims Parla reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The customer id (or `anon:…` for an anonymous conversation).
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default)]
    pub iat: i64,
    /// "parla" for conversation tokens; anything else is the shop.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iss: String,
    /// The one conversation a conversation token opens.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cid: String,
    /// For a conversation token of a customer's conversation, how the customer was
    /// established: `shop` (signed in: every use needs their shop token too) or `verified`
    /// (an order proved in the chat); see `access.rs`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub via: String,
}

impl Claims {
    /// True for a token Parla minted for one conversation.
    pub fn is_conversation_token(&self) -> bool {
        self.iss == PARLA_ISSUER && !self.cid.is_empty()
    }

    /// True when the owner is anonymous (not verified).
    pub fn is_anonymous(&self) -> bool {
        self.sub.starts_with(ANONYMOUS_PREFIX)
    }
}

/// Signs and checks tokens with one HS256 key.
#[derive(Clone)]
pub struct TokenKeys {
    shop_key: Option<Vec<u8>>,
    parla_key: Vec<u8>,
    max_shop_ttl: i64,
    leeway: i64,
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TokenKeys {
    /// Keys from the configured shop key (empty: no signed-in chats, and
    /// conversation tokens signed with a random key that lasts as long as
    /// the process).
    pub fn new(shop_key: &str, max_shop_ttl_secs: i64) -> Self {
        let shop_key = (!shop_key.is_empty()).then(|| shop_key.as_bytes().to_vec());
        let parla_key = match &shop_key {
            // A key derived from the shop key: conversation tokens survive a
            // restart, and a shop token can never pass for one (`iss`).
            Some(k) => mac(k, b"parla conversation tokens"),
            None => {
                let mut k = vec![0u8; 32];
                if getrandom::fill(&mut k).is_err() {
                    k = mac(format!("{:?}", SystemTime::now()).as_bytes(), b"fallback");
                }
                k
            }
        };
        Self {
            shop_key,
            parla_key,
            max_shop_ttl: max_shop_ttl_secs,
            leeway: 30,
        }
    }

    /// Mints a token (the shop's side; used by Parla for conversation
    /// tokens and by tests for shop tokens).
    pub fn sign_with(key: &[u8], claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(mac(key, signing_input.as_bytes()));
        format!("{signing_input}.{sig}")
    }

    /// A conversation token for `owner` and conversation `cid`, its owner established `via`
    /// the shop's sign-in or a verification in the chat (empty for an anonymous owner).
    pub fn conversation_token(&self, owner: &str, cid: &str, via: &str, ttl_secs: i64) -> String {
        let now = now_secs();
        Self::sign_with(
            &self.parla_key,
            &Claims {
                sub: owner.to_owned(),
                exp: now + ttl_secs,
                iat: now,
                iss: PARLA_ISSUER.to_owned(),
                cid: cid.to_owned(),
                via: via.to_owned(),
            },
        )
    }

    /// Checks a token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.trim().split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed(
                "expected header.payload.signature".into(),
            ));
        };
        let header: serde_json::Value = decode_json(h)?;
        let alg = header.get("alg").and_then(|a| a.as_str()).unwrap_or("");
        if alg != "HS256" {
            return Err(TokenError::Algorithm(alg.to_owned()));
        }
        let claims: Claims = decode_json(p)?;
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|e| TokenError::Malformed(format!("signature: {e}")))?;
        let key = if claims.iss == PARLA_ISSUER {
            &self.parla_key
        } else {
            self.shop_key.as_ref().ok_or(TokenError::NoKey)?
        };
        let mut m = HmacSha256::new_from_slice(key).map_err(|_| TokenError::Signature)?;
        m.update(format!("{h}.{p}").as_bytes());
        m.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
        let now = now_secs();
        if claims.exp + self.leeway < now {
            return Err(TokenError::Expired);
        }
        if claims.iss != PARLA_ISSUER {
            let ttl = claims.exp - claims.iat.min(now);
            if ttl > self.max_shop_ttl {
                return Err(TokenError::TooLong(ttl, self.max_shop_ttl));
            }
        }
        if claims.sub.trim().is_empty() {
            return Err(TokenError::Malformed("`sub` is empty".into()));
        }
        if claims.iss != PARLA_ISSUER && claims.sub.starts_with(ANONYMOUS_PREFIX) {
            return Err(TokenError::Malformed(
                "a shop token cannot name an anonymous owner".into(),
            ));
        }
        Ok(claims)
    }
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut m = HmacSha256::new_from_slice(key).expect("hmac takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| TokenError::Malformed(format!("base64: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| TokenError::Malformed(format!("json: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(sub: &str, ttl: i64) -> Claims {
        let now = now_secs();
        Claims {
            sub: sub.into(),
            exp: now + ttl,
            iat: now,
            iss: "shop".into(),
            cid: String::new(),
            via: String::new(),
        }
    }

    #[test]
    fn shop_tokens_are_checked() {
        let keys = TokenKeys::new("secret", 900);
        let good = TokenKeys::sign_with(b"secret", &shop("C100", 300));
        assert_eq!(keys.verify(&good).map(|c| c.sub), Ok("C100".into()));
        let forged = TokenKeys::sign_with(b"other", &shop("C100", 300));
        assert_eq!(keys.verify(&forged), Err(TokenError::Signature));
        let expired = TokenKeys::sign_with(b"secret", &shop("C100", -3600));
        assert_eq!(keys.verify(&expired), Err(TokenError::Expired));
        let long = TokenKeys::sign_with(b"secret", &shop("C100", 86_400));
        assert!(matches!(keys.verify(&long), Err(TokenError::TooLong(..))));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            good.split('.').nth(1).unwrap_or("")
        );
        assert!(matches!(keys.verify(&none), Err(TokenError::Algorithm(_))));
        assert!(matches!(
            keys.verify("garbage"),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn conversation_tokens_cannot_be_made_with_the_shop_key() {
        let keys = TokenKeys::new("secret", 900);
        let t = keys.conversation_token("anon:x", "c1", "", 3600);
        let c = keys.verify(&t).expect("own token");
        assert!(c.is_conversation_token() && c.is_anonymous());
        let mut fake = shop("anon:x", 300);
        fake.iss = PARLA_ISSUER.into();
        fake.cid = "c1".into();
        let forged = TokenKeys::sign_with(b"secret", &fake);
        assert_eq!(keys.verify(&forged), Err(TokenError::Signature));
    }
}
