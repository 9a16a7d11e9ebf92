//! At-rest protection of personal fields, shared by every store that keeps
//! customers' or agents' words: the customer record, the chat store and the
//! hand-off queue.
//!
//! One 256-bit master key ([`SealKey`], configured once as
//! `crm.encryption_key` or `crm.encryption_key_file`) gives each store its
//! own [`FieldCipher`]: the store's name (its *domain*) derives separate
//! subkeys with HMAC-SHA-256, so no two stores encrypt under the same key.
//! Values are sealed with ChaCha20-Poly1305 and a random nonce per value;
//! contact points that must be looked up are found through a keyed hash (a
//! blind index) instead of their plain value. Without a key, values are
//! stored as they are.
//!
//! Sealed text reads `enc1:` followed by hex(nonce || ciphertext); sealed
//! bytes start with a zero byte and `enc1` (never the start of a protocol
//! buffer, whose first byte is a field tag). So rows written before a key
//! was configured still read, and a missing or wrong key is reported naming
//! the setting.
//!
//! Secrets in the configuration (this key, the service token, the shop's
//! token key, a language model's API key, agents' password hashes) are
//! written as `<redacted>` by `parla config` through [`redacted`].

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The setting that holds the master key, named in errors when a store
/// holds sealed values but no key is configured.
pub const KEY_SETTING: &str = "crm.encryption_key";

const TEXT_PREFIX: &str = "enc1:";
const BYTES_PREFIX: &[u8] = b"\0enc1";
const NONCE_LEN: usize = 12;
/// What a database's key check opens to.
const KEY_CHECK: &str = "parla-seal key check v1";

/// What can go wrong while sealing or opening a value. Messages never hold
/// the value itself.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key is malformed, missing, or not the one the data was sealed
    /// with.
    #[error("invalid configuration: `{setting}` {problem}")]
    Key {
        /// Dotted setting, e.g. `crm.encryption_key`.
        setting: &'static str,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A stored sealed value is damaged.
    #[error("a sealed field is corrupt ({0}); restore the database from a backup")]
    Corrupt(&'static str),
    /// The value is too long for the cipher (about 256 GiB).
    #[error("a value is too long to encrypt")]
    TooLong,
    /// The operating system gave no randomness for a nonce.
    #[error("no randomness for encryption: {0}")]
    Randomness(String),
}

/// Result of sealing operations.
pub type Result<T, E = SealError> = std::result::Result<T, E>;

/// The configured master key: 32 bytes, never printed.
#[derive(Clone)]
pub struct SealKey {
    master: [u8; 32],
    setting: &'static str,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKey")
            .field("setting", &self.setting)
            .finish_non_exhaustive()
    }
}

impl SealKey {
    /// A key given as 64 hex digits (32 bytes); `setting` names where it
    /// came from, in errors.
    pub fn from_hex(hex_key: &str, setting: &'static str) -> Result<Self> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| SealError::Key {
            setting,
            problem: "is not hexadecimal; allowed: 64 hex digits (a 256-bit key, e.g. from `openssl rand -hex 32`)".into(),
        })?;
        let master: [u8; 32] = bytes.as_slice().try_into().map_err(|_| SealError::Key {
            setting,
            problem: format!(
                "has {} bytes; allowed: exactly 32 (64 hex digits)",
                bytes.len()
            ),
        })?;
        Ok(Self { master, setting })
    }

    /// The setting the key came from.
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// The cipher of one store, with subkeys of its own: `domain` names the
    /// store (e.g. `parla-crm`, `parla-chat`) and must never change once
    /// data is sealed.
    pub fn cipher(&self, domain: &str) -> FieldCipher {
        let enc = derive(&self.master, &format!("{domain} field encryption v1"));
        FieldCipher {
            keys: Some(Keys {
                aead: ChaCha20Poly1305::new(Key::from_slice(&enc)),
                index: derive(&self.master, &format!("{domain} blind index v1")),
            }),
            setting: self.setting,
        }
    }
}

fn derive(master: &[u8], label: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("hmac takes any key length");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Seals and opens one store's personal fields; a no-op without a key.
#[derive(Clone)]
pub struct FieldCipher {
    keys: Option<Keys>,
    setting: &'static str,
}

#[derive(Clone)]
struct Keys {
    aead: ChaCha20Poly1305,
    index: [u8; 32],
}

impl Default for FieldCipher {
    fn default() -> Self {
        Self::plain()
    }
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldCipher")
            .field("enabled", &self.keys.is_some())
            .finish()
    }
}

impl FieldCipher {
    /// A cipher that stores values as they are (and still reports sealed
    /// values it cannot open).
    pub fn plain() -> Self {
        Self {
            keys: None,
            setting: KEY_SETTING,
        }
    }

    /// The cipher of `domain` under `key`, or a plain one without a key.
    pub fn for_store(key: Option<&SealKey>, domain: &str) -> Self {
        key.map_or_else(Self::plain, |k| k.cipher(domain))
    }

    /// True when values are sealed.
    pub fn enabled(&self) -> bool {
        self.keys.is_some()
    }

    /// Seals text (empty stays empty, so "not set" remains visible).
    pub fn seal(&self, plain: &str) -> Result<String> {
        let Some(keys) = &self.keys else {
            return Ok(plain.to_owned());
        };
        if plain.is_empty() {
            return Ok(String::new());
        }
        let sealed = keys.seal(plain.as_bytes())?;
        let mut out = String::with_capacity(TEXT_PREFIX.len() + 2 * sealed.len());
        out.push_str(TEXT_PREFIX);
        out.push_str(&hex::encode(sealed));
        Ok(out)
    }

    /// Opens stored text; plain values pass through.
    pub fn open(&self, stored: &str) -> Result<String> {
        let Some(hexed) = stored.strip_prefix(TEXT_PREFIX) else {
            return Ok(stored.to_owned());
        };
        let bytes = hex::decode(hexed).map_err(|_| SealError::Corrupt("not hexadecimal"))?;
        let plain = self.keys()?.open(&bytes, self.setting)?;
        String::from_utf8(plain).map_err(|_| SealError::Corrupt("not UTF-8"))
    }

    /// Seals a binary value such as an encoded protocol buffer (empty stays
    /// empty).
    pub fn seal_bytes(&self, plain: &[u8]) -> Result<Vec<u8>> {
        let Some(keys) = &self.keys else {
            return Ok(plain.to_vec());
        };
        if plain.is_empty() {
            return Ok(Vec::new());
        }
        let sealed = keys.seal(plain)?;
        let mut out = Vec::with_capacity(BYTES_PREFIX.len() + sealed.len());
        out.extend_from_slice(BYTES_PREFIX);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a stored binary value; plain values pass through.
    pub fn open_bytes(&self, stored: Vec<u8>) -> Result<Vec<u8>> {
        match stored.strip_prefix(BYTES_PREFIX) {
            None => Ok(stored),
            Some(sealed) => self.keys()?.open(sealed, self.setting),
        }
    }

    /// The value a field is looked up by: itself without a key, a keyed
    /// hash with one.
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

    /// Compares a database's key check (a known value sealed when the key
    /// was first used) with this cipher, so that a missing or wrong key is
    /// reported when the store opens, not at its first read. Returns the
    /// check to store when the database has none and a key is configured.
    pub fn check_key(&self, stored: Option<&str>) -> Result<Option<String>> {
        match stored {
            Some(check) => {
                if self.open(check)? != KEY_CHECK {
                    return Err(SealError::Corrupt("the key check holds another value"));
                }
                Ok(None)
            }
            None if self.enabled() => self.seal(KEY_CHECK).map(Some),
            None => Ok(None),
        }
    }

    fn keys(&self) -> Result<&Keys> {
        self.keys.as_ref().ok_or(SealError::Key {
            setting: self.setting,
            problem: "is not set, but the database holds encrypted fields; set the key they were written with".into(),
        })
    }
}

impl Keys {
    /// nonce || ciphertext.
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Randomness(e.to_string()))?;
        let sealed = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), plain)
            .map_err(|_| SealError::TooLong)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, bytes: &[u8], setting: &'static str) -> Result<Vec<u8>> {
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Corrupt("too short"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        self.aead
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| SealError::Key {
                setting,
                problem: "does not open the stored fields; it is not the key they were written with (set that key again)".into(),
            })
    }
}

#[cfg(test)]
mod tests;

/// Serializes a secret setting as `<redacted>` (empty stays empty, so
/// `parla config` still shows whether it is set). For
/// `#[serde(serialize_with = "parla_seal::redacted")]`.
pub fn redacted<S: serde::Serializer>(secret: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(if secret.is_empty() { "" } else { "<redacted>" })
}
