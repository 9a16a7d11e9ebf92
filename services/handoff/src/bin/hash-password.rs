//! Prints the argon2id hash (PHC string) of a password read from standard
//! input, for `password_hash` in `[[handoff.agents]]`:
//! `echo -n 'secret' | cargo run -p parla-handoff --bin hash-password`.

use std::io::Read;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err("give the password on standard input".into());
    }
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| format!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&raw).map_err(|e| e.to_string())?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| e.to_string())?;
    println!("{hash}");
    Ok(())
}
