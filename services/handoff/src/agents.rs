//! Human agents: accounts from configuration (argon2 password hashes),
//! roles, languages and skills for routing, capacity, presence, and
//! expiring console sessions (bearer tokens, kept in memory: a restart
//! signs agents out).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

/// An agent account (`[[handoff.agents]]` in `parla.toml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentAccount {
    /// Username, also the agent id.
    pub id: String,
    /// Display name shown to customers.
    pub name: String,
    /// "agent" or "supervisor".
    pub role: String,
    /// Argon2 hash in PHC format (`$argon2id$v=19$...`); make one with
    /// `cargo run -p parla-handoff --bin hash-password`.
    #[serde(serialize_with = "parla_seal::redacted")]
    pub password_hash: String,
    /// Languages spoken (BCP-47 prefixes, "en", "it"); empty for all.
    pub languages: Vec<String>,
    /// Skills; empty for any ticket's skill.
    pub skills: Vec<String>,
    /// Conversations held at most at once (0 counts as 3).
    pub capacity: u32,
}

impl AgentAccount {
    /// True for supervisors.
    pub fn is_supervisor(&self) -> bool {
        self.role == "supervisor"
    }

    /// Capacity with the default applied.
    pub fn capacity(&self) -> u32 {
        if self.capacity == 0 {
            3
        } else {
            self.capacity
        }
    }

    /// True when this agent can take a ticket in `language` needing `skill`.
    pub fn routes(&self, language: &str, skill: &str) -> bool {
        let lang_ok = self.languages.is_empty()
            || self.languages.iter().any(|l| {
                language
                    .to_ascii_lowercase()
                    .starts_with(&l.to_ascii_lowercase())
            });
        let skill_ok =
            skill.is_empty() || self.skills.is_empty() || self.skills.iter().any(|s| s == skill);
        lang_ok && skill_ok
    }
}

/// Why an agent is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AgentError {
    /// Unknown username or wrong password (not told apart).
    #[error("unknown username or wrong password")]
    BadCredentials,
    /// The session token is unknown or expired.
    #[error("the console session expired or is not valid; sign in again")]
    BadSession,
}

/// Accounts, presence and sessions.
pub struct AgentDirectory {
    accounts: HashMap<String, AgentAccount>,
    presence: Mutex<HashMap<String, bool>>,
    sessions: Mutex<HashMap<String, (String, Instant)>>,
    ttl: Duration,
}

impl AgentDirectory {
    /// A directory of `accounts` whose sessions last `ttl`.
    pub fn new(accounts: &[AgentAccount], ttl: Duration) -> Self {
        Self {
            accounts: accounts.iter().map(|a| (a.id.clone(), a.clone())).collect(),
            presence: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// The account with this id.
    pub fn get(&self, id: &str) -> Option<&AgentAccount> {
        self.accounts.get(id)
    }

    /// All accounts.
    pub fn all(&self) -> impl Iterator<Item = &AgentAccount> {
        self.accounts.values()
    }

    /// Checks a password (slow on purpose: call on a blocking thread) and
    /// opens a session; returns the token and its lifetime.
    pub fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(String, AgentAccount, Duration), AgentError> {
        let account = self
            .accounts
            .get(username)
            .ok_or(AgentError::BadCredentials)?;
        let hash = PasswordHash::new(&account.password_hash).map_err(|e| {
            tracing::error!(agent = %account.id, error = %e, "agent password hash is not a PHC string");
            AgentError::BadCredentials
        })?;
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .map_err(|_| AgentError::BadCredentials)?;
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|_| AgentError::BadCredentials)?;
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, (_, until)| *until > Instant::now());
        sessions.insert(
            token.clone(),
            (account.id.clone(), Instant::now() + self.ttl),
        );
        self.set_available(&account.id, true);
        Ok((token, account.clone(), self.ttl))
    }

    /// The agent a session token belongs to.
    pub fn session(&self, token: &str) -> Result<&AgentAccount, AgentError> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        match sessions.get(token) {
            Some((id, until)) if *until > Instant::now() => {
                self.accounts.get(id).ok_or(AgentError::BadSession)
            }
            _ => Err(AgentError::BadSession),
        }
    }

    /// Sets presence.
    pub fn set_available(&self, id: &str, available: bool) {
        self.presence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), available);
    }

    /// Presence (false until the agent signs in).
    pub fn available(&self, id: &str) -> bool {
        self.presence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied()
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};

    #[test]
    fn login_checks_the_argon2_hash_and_sessions_expire() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let hash = Argon2::default()
            .hash_password(b"s3cret", &salt)
            .expect("hash")
            .to_string();
        let account = AgentAccount {
            id: "anna".into(),
            name: "Anna".into(),
            role: "agent".into(),
            password_hash: hash,
            ..Default::default()
        };
        let dir = AgentDirectory::new(&[account], Duration::from_millis(50));
        assert_eq!(
            dir.login("anna", "wrong").err(),
            Some(AgentError::BadCredentials)
        );
        assert_eq!(
            dir.login("bob", "s3cret").err(),
            Some(AgentError::BadCredentials)
        );
        let (token, _, _) = dir.login("anna", "s3cret").expect("login");
        assert_eq!(dir.session(&token).map(|a| a.id.clone()), Ok("anna".into()));
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(dir.session(&token).err(), Some(AgentError::BadSession));
    }

    #[test]
    fn routing_by_language_and_skill() {
        let a = AgentAccount {
            languages: vec!["it".into()],
            skills: vec!["returns".into()],
            ..Default::default()
        };
        assert!(a.routes("it-IT", "returns"));
        assert!(a.routes("it", ""));
        assert!(!a.routes("en", ""));
        assert!(!a.routes("it", "billing"));
    }
}
