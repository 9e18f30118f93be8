//! Local accounts: who on the practice's LAN may submit mail.
//!
//! Passwords are stored as argon2id hashes. Verifying one costs ~20 MiB and
//! tens of milliseconds by design, which a small box cannot afford on every
//! login of every mail client; so verifications run one at a time off the
//! async threads, and a success is remembered as a keyed hash of the
//! password (key random per process, never written anywhere).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use ring::hmac;
use tokio::sync::Semaphore;

use crate::config::Account;

pub struct Accounts {
    /// Replaced whole when the web admin changes the accounts.
    hashes: RwLock<HashMap<String, String>>,
    cache_key: hmac::Key,
    verified: Mutex<HashMap<String, hmac::Tag>>,
    verifier: Arc<Semaphore>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("users", &self.users().len())
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
            hashes: RwLock::new(Self::table(accounts)),
            cache_key,
            verified: Mutex::new(HashMap::new()),
            verifier: Arc::new(Semaphore::new(1)),
        }
    }

    fn table(accounts: &[Account]) -> HashMap<String, String> {
        accounts
            .iter()
            .map(|a| (a.user.clone(), a.password_hash.clone()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.users().is_empty()
    }

    /// The user names, sorted.
    pub fn users(&self) -> Vec<String> {
        let mut users: Vec<String> = self
            .hashes
            .read()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        users.sort();
        users
    }

    /// Takes a new set of accounts; sessions already logged in stay, the
    /// next login is checked against the new set. Remembered successes are
    /// forgotten so a changed password is asked again.
    pub fn replace(&self, accounts: &[Account]) {
        if let Ok(mut hashes) = self.hashes.write() {
            *hashes = Self::table(accounts);
        }
        if let Ok(mut verified) = self.verified.lock() {
            verified.clear();
        }
    }

    fn hash_of(&self, user: &str) -> Option<String> {
        self.hashes.read().ok().and_then(|h| h.get(user).cloned())
    }

    /// Whether `password` is right for `user`.
    pub async fn verify(self: &Arc<Self>, user: &str, password: &[u8]) -> bool {
        let Some(hash) = self.hash_of(user) else {
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
        let checked = hash.clone();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&checked)
                .map(|parsed| {
                    argon2::Argon2::default()
                        .verify_password(&pw, &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        // Remembered only if the accounts did not change meanwhile.
        if ok
            && self.hash_of(user).as_deref() == Some(hash.as_str())
            && let Ok(mut verified) = self.verified.lock()
        {
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

    #[tokio::test]
    async fn replacing_accounts_forgets_old_passwords() {
        let accounts = Arc::new(Accounts::new(&[Account {
            user: "secretariat".into(),
            password_hash: hash_password("first password").unwrap(),
        }]));
        assert!(accounts.verify("secretariat", b"first password").await);
        accounts.replace(&[
            Account {
                user: "secretariat".into(),
                password_hash: hash_password("second password").unwrap(),
            },
            Account {
                user: "accueil".into(),
                password_hash: hash_password("third password").unwrap(),
            },
        ]);
        assert_eq!(accounts.users(), ["accueil", "secretariat"]);
        assert!(!accounts.verify("secretariat", b"first password").await);
        assert!(accounts.verify("secretariat", b"second password").await);
        assert!(accounts.verify("accueil", b"third password").await);
        accounts.replace(&[]);
        assert!(accounts.is_empty());
        assert!(!accounts.verify("secretariat", b"second password").await);
    }
}
