//! The admin password: strength rules (with a reason people can act on)
//! and argon2id hashing.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::setup_code::SetupCode;
use crate::texts;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

const COMMON: &str = include_str!("common-passwords.txt");

/// Why a password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    TooShort,
    TooLong,
    Common,
    ContainsName,
    ContainsSetupCode,
    Repetitive,
}

impl Weakness {
    pub fn reason(self) -> &'static str {
        match self {
            Weakness::TooShort => texts::PASSWORD_TOO_SHORT,
            Weakness::TooLong => texts::PASSWORD_TOO_LONG,
            Weakness::Common => texts::PASSWORD_COMMON,
            Weakness::ContainsName => texts::PASSWORD_CONTAINS_NAME,
            Weakness::ContainsSetupCode => texts::PASSWORD_CONTAINS_CODE,
            Weakness::Repetitive => texts::PASSWORD_REPETITIVE,
        }
    }
}

/// Checks the rules; `Ok` when the password may be used.
pub fn check_strength(password: &str, setup_code: Option<&SetupCode>) -> Result<(), Weakness> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(Weakness::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(Weakness::TooLong);
    }
    let lower = password.to_lowercase();
    let folded: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    if ["facteur", "mssante", "mssanté"]
        .iter()
        .any(|name| lower.contains(name) || folded.contains(name))
    {
        return Err(Weakness::ContainsName);
    }
    if setup_code.is_some_and(|code| code.contained_in(password)) {
        return Err(Weakness::ContainsSetupCode);
    }
    if COMMON
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|common| lower == common || folded == common)
    {
        return Err(Weakness::Common);
    }
    let distinct: std::collections::BTreeSet<char> = password.chars().collect();
    if distinct.len() < 5 {
        return Err(Weakness::Repetitive);
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    // argon2id, the crate's defaults (19 MiB, 2 passes): about 0.1 s on
    // the box's ARM board, once per login.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

#[derive(Debug, thiserror::Error)]
#[error("argon2: {0}")]
pub struct HashError(String);

pub fn hash(password: &str) -> Result<String, HashError> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut crate::session::os_rng(), &mut bytes);
    let salt = SaltString::encode_b64(&bytes).map_err(|e| HashError(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// False on a wrong password and on an unreadable hash.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(check_strength("court", None), Err(Weakness::TooShort));
        assert_eq!(check_strength("motdepasse123", None), Err(Weakness::Common));
        assert_eq!(check_strength("Password1234", None), Err(Weakness::Common));
        assert_eq!(
            check_strength("MonFacteur2026!", None),
            Err(Weakness::ContainsName)
        );
        assert_eq!(
            check_strength("cabinet-MSSante-26", None),
            Err(Weakness::ContainsName)
        );
        assert_eq!(
            check_strength("aaaaaaaaaaaaaaaa", None),
            Err(Weakness::Repetitive)
        );
        assert_eq!(
            check_strength(&"x".repeat(200), None),
            Err(Weakness::TooLong)
        );
        assert_eq!(check_strength("Cabinet du Parc, 2026 !", None), Ok(()));
        let dir = tempfile::tempdir().unwrap();
        let code = SetupCode::load_or_create(dir.path()).unwrap();
        let with_code = format!("Cabinet {} ok", code.display());
        assert_eq!(
            check_strength(&with_code, Some(&code)),
            Err(Weakness::ContainsSetupCode)
        );
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("Cabinet du Parc, 2026 !").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Cabinet du Parc, 2026 !", &h));
        assert!(!verify("Cabinet du Parc, 2027 !", &h));
        assert!(!verify("x", "not a hash"));
    }
}
