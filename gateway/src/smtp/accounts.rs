//! Local accounts: who on the practice's LAN may submit mail.
//!
//! Passwords are stored as argon2id hashes. Verifying one costs ~20 MiB and
//! tens of milliseconds by design, which a small box cannot afford on every
//! login of every mail client; so verifications run one at a time off the
//! async threads, and a success is remembered as a keyed hash of the
//! password (key random per process, never written anywhere).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use ring::hmac;
use tokio::sync::Semaphore;

use crate::config::Account;

pub struct Accounts {
    hashes: HashMap<String, String>,
    cache_key: hmac::Key,
    verified: Mutex<HashMap<String, hmac::Tag>>,
    verifier: Arc<Semaphore>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("users", &self.hashes.len())
            .finish()
    }
}

impl Accounts {
    pub fn new(accounts: &[Account]) -> Accounts {
        let rng = ring::rand::SystemRandom::new();
        let cache_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            // The system RNG failing is not recoverable in a meaningful way;
            // fall back to a key from rand's generator.
            hmac::Key::new(hmac::HMAC_SHA256, &rand::random::<[u8; 32]>())
        });
        Accounts {
            hashes: accounts
                .iter()
                .map(|a| (a.user.clone(), a.password_hash.clone()))
                .collect(),
            cache_key,
            verified: Mutex::new(HashMap::new()),
            verifier: Arc::new(Semaphore::new(1)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether `password` is right for `user`.
    pub async fn verify(self: &Arc<Self>, user: &str, password: &[u8]) -> bool {
        let Some(hash) = self.hashes.get(user).cloned() else {
            // Same cost as a real check, so timing does not reveal which
            // user names exist.
            let _permit = self.verifier.acquire().await;
            let pw = password.to_vec();
            let _ = tokio::task::spawn_blocking(move || {
                let _ = hash_password(&String::from_utf8_lossy(&pw));
            })
            .await;
            return false;
        };
        if self.cached(user, password) {
            return true;
        }
        let Ok(_permit) = self.verifier.acquire().await else {
            return false;
        };
        // Another session may have verified the same password meanwhile.
        if self.cached(user, password) {
            return true;
        }
        let pw = zeroize::Zeroizing::new(password.to_vec());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    argon2::Argon2::default()
                        .verify_password(&pw, &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if ok && let Ok(mut verified) = self.verified.lock() {
            verified.insert(user.to_string(), hmac::sign(&self.cache_key, password));
        }
        ok
    }

    fn cached(&self, user: &str, password: &[u8]) -> bool {
        self.verified
            .lock()
            .map(|v| {
                v.get(user).is_some_and(|tag| {
                    hmac::verify(&self.cache_key, password, tag.as_ref()).is_ok()
                })
            })
            .unwrap_or(false)
    }
}

/// Hashes a password for the configuration file (argon2id, OWASP minimum
/// parameters: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_and_caches() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let accounts = Arc::new(Accounts::new(&[Account {
            user: "secretariat".into(),
            password_hash: hash,
        }]));
        assert!(accounts.verify("secretariat", b"correct horse").await);
        assert!(accounts.verify("secretariat", b"correct horse").await);
        assert!(!accounts.verify("secretariat", b"wrong").await);
        assert!(!accounts.verify("nobody", b"correct horse").await);
        assert!(!accounts.verify("secretariat", b"").await);
    }
}
