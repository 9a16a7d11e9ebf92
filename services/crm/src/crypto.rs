//! At-rest protection of personal fields. With a configured 256-bit key,
//! names, contact points, addresses, preferences and conversation text are
//! sealed with ChaCha20-Poly1305 (a random nonce per value), and contact
//! points are found through a keyed hash (a blind index) instead of their
//! plain value. Without a key, values are stored as they are.
//!
//! Sealed values read `enc1:` followed by hex(nonce || ciphertext), so
//! plain rows written before a key was configured still read correctly.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{CrmError, Result};

const PREFIX: &str = "enc1:";

/// Seals and opens personal fields; a no-op without a key.
#[derive(Clone, Default)]
pub struct FieldCipher {
    keys: Option<Keys>,
}

#[derive(Clone)]
struct Keys {
    aead: ChaCha20Poly1305,
    index: [u8; 32],
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldCipher")
            .field("enabled", &self.keys.is_some())
            .finish()
    }
}

fn derive(master: &[u8], label: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("hmac takes any key length");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

impl FieldCipher {
    /// A cipher that stores values as they are.
    pub fn plain() -> Self {
        Self::default()
    }

    /// A cipher from a key given as 64 hex digits (32 bytes). `key` names
    /// the setting in errors.
    pub fn from_hex(hex_key: &str, key: &'static str) -> Result<Self> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| CrmError::Config {
            key,
            problem: "is not hexadecimal; allowed: 64 hex digits (a 256-bit key, e.g. from `openssl rand -hex 32`)".into(),
        })?;
        if bytes.len() != 32 {
            return Err(CrmError::Config {
                key,
                problem: format!(
                    "has {} bytes; allowed: exactly 32 (64 hex digits)",
                    bytes.len()
                ),
            });
        }
        let enc = derive(&bytes, "parla-crm field encryption v1");
        Ok(Self {
            keys: Some(Keys {
                aead: ChaCha20Poly1305::new(Key::from_slice(&enc)),
                index: derive(&bytes, "parla-crm blind index v1"),
            }),
        })
    }

    /// True when values are sealed.
    pub fn enabled(&self) -> bool {
        self.keys.is_some()
    }

    /// Seals a value (empty stays empty, so "not set" remains visible).
    pub fn seal(&self, plain: &str) -> Result<String> {
        let Some(keys) = &self.keys else {
            return Ok(plain.to_owned());
        };
        if plain.is_empty() {
            return Ok(String::new());
        }
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce)
            .map_err(|e| CrmError::Internal(format!("no randomness: {e}")))?;
        let sealed = keys
            .aead
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .map_err(|_| CrmError::Internal("encryption failed".into()))?;
        let mut out = String::with_capacity(PREFIX.len() + 2 * (12 + sealed.len()));
        out.push_str(PREFIX);
        out.push_str(&hex::encode(nonce));
        out.push_str(&hex::encode(sealed));
        Ok(out)
    }

    /// Opens a stored value; plain values pass through.
    pub fn open(&self, stored: &str) -> Result<String> {
        let Some(hexed) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let keys = self.keys.as_ref().ok_or_else(|| CrmError::Config {
            key: "crm.encryption_key",
            problem: "is not set, but the database holds encrypted fields; set the key they were written with".into(),
        })?;
        let bytes =
            hex::decode(hexed).map_err(|_| CrmError::Internal("corrupt sealed field".into()))?;
        if bytes.len() < 12 {
            return Err(CrmError::Internal("corrupt sealed field".into()));
        }
        let (nonce, sealed) = bytes.split_at(12);
        let plain = keys
            .aead
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| CrmError::Config {
                key: "crm.encryption_key",
                problem:
                    "does not open the stored fields; it is not the key they were written with"
                        .into(),
            })?;
        String::from_utf8(plain).map_err(|_| CrmError::Internal("corrupt sealed field".into()))
    }

    /// The value a contact point is looked up by: itself without a key, a
    /// keyed hash with one.
    pub fn index(&self, normalized: &str) -> String {
        match &self.keys {
            None => normalized.to_owned(),
            Some(keys) => {
                let mut mac =
                    <Hmac<Sha256> as Mac>::new_from_slice(&keys.index).expect("any key length");
                mac.update(normalized.as_bytes());
                format!("h1:{}", hex::encode(mac.finalize().into_bytes()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn seal_open_round_trip() {
        let c = FieldCipher::from_hex(KEY, "k").unwrap();
        let sealed = c.seal("Giulia Rossi").unwrap();
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("Giulia"));
        assert_ne!(sealed, c.seal("Giulia Rossi").unwrap(), "random nonce");
        assert_eq!(c.open(&sealed).unwrap(), "Giulia Rossi");
        assert_eq!(c.open("plain").unwrap(), "plain");
        assert_eq!(c.index("+390255512345"), c.index("+390255512345"));
        assert!(!c.index("+390255512345").contains("390255512345"));
    }

    #[test]
    fn wrong_or_missing_key_is_reported() {
        let c = FieldCipher::from_hex(KEY, "k").unwrap();
        let sealed = c.seal("x").unwrap();
        let other = FieldCipher::from_hex(&KEY.replace("00", "ff"), "k").unwrap();
        assert!(matches!(other.open(&sealed), Err(CrmError::Config { .. })));
        assert!(matches!(
            FieldCipher::plain().open(&sealed),
            Err(CrmError::Config { .. })
        ));
        assert!(FieldCipher::from_hex("abcd", "k").is_err());
        assert!(FieldCipher::from_hex("zz", "k").is_err());
    }
}
