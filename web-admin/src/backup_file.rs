//! The backup file: the daemon's backup document encrypted with a key
//! derived from a password (the admin password when it is made).
//!
//! Layout: `FACTEUR-SAUVEGARDE` (18 bytes), format version (1 byte),
//! argon2id memory in KiB, passes and lanes (3 × u32 big-endian), salt (16
//! bytes), nonce (12 bytes), then the ChaCha20-Poly1305 ciphertext and tag.
//! The header is authenticated with the content, so a changed byte
//! anywhere makes the file refused.

use argon2::{Algorithm, Argon2, Params, Version};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

pub const MAGIC: &[u8; 18] = b"FACTEUR-SAUVEGARDE";
const VERSION: u8 = 1;
const HEADER: usize = MAGIC.len() + 1 + 12 + 16 + 12;
/// OWASP's argon2id minimum is 19 MiB, 2 passes; a backup is rare, so more.
const MEMORY_KIB: u32 = if cfg!(test) { 1024 } else { 64 * 1024 };
const PASSES: u32 = 3;
const LANES: u32 = 1;
/// Refuse parameters that would make the box spend too much opening a file.
const MAX_MEMORY_KIB: u32 = 256 * 1024;
const MAX_PASSES: u32 = 10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackupFileError {
    #[error("not a Facteur backup file")]
    NotABackup,
    #[error("backup file version {0} is not known here")]
    UnknownVersion(u8),
    #[error("wrong password, or the file was changed or cut")]
    WrongPasswordOrDamaged,
    #[error("cannot encrypt or decrypt: {0}")]
    Crypto(&'static str),
}

fn key(
    password: &str,
    salt: &[u8],
    memory: u32,
    passes: u32,
    lanes: u32,
) -> Result<LessSafeKey, BackupFileError> {
    let params =
        Params::new(memory, passes, lanes, Some(32)).map_err(|_| BackupFileError::NotABackup)?;
    let mut bytes = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), salt, &mut *bytes)
        .map_err(|_| BackupFileError::Crypto("key derivation"))?;
    let unbound =
        UnboundKey::new(&CHACHA20_POLY1305, &*bytes).map_err(|_| BackupFileError::Crypto("key"))?;
    Ok(LessSafeKey::new(unbound))
}

/// Encrypts `plain` under `password`.
pub fn seal(password: &str, plain: &[u8]) -> Result<Vec<u8>, BackupFileError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    rng.fill(&mut salt)
        .and_then(|_| rng.fill(&mut nonce))
        .map_err(|_| BackupFileError::Crypto("random"))?;
    let mut out = Vec::with_capacity(HEADER + plain.len() + 16);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    for n in [MEMORY_KIB, PASSES, LANES] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    let key = key(password, &salt, MEMORY_KIB, PASSES, LANES)?;
    let mut body = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(&out[..HEADER]),
        &mut body,
    )
    .map_err(|_| BackupFileError::Crypto("seal"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts a backup file made by [`seal`].
pub fn open(password: &str, file: &[u8]) -> Result<Zeroizing<Vec<u8>>, BackupFileError> {
    if file.len() < MAGIC.len() + 1 || &file[..MAGIC.len()] != MAGIC {
        return Err(BackupFileError::NotABackup);
    }
    let version = file[MAGIC.len()];
    if version != VERSION {
        return Err(BackupFileError::UnknownVersion(version));
    }
    if file.len() < HEADER + 16 {
        return Err(BackupFileError::WrongPasswordOrDamaged);
    }
    let number = |at: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&file[at..at + 4]);
        u32::from_be_bytes(b)
    };
    let at = MAGIC.len() + 1;
    let (memory, passes, lanes) = (number(at), number(at + 4), number(at + 8));
    if memory > MAX_MEMORY_KIB || passes > MAX_PASSES || lanes == 0 || lanes > 4 {
        return Err(BackupFileError::WrongPasswordOrDamaged);
    }
    let salt = &file[at + 12..at + 28];
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&file[at + 28..HEADER]);
    let key = key(password, salt, memory, passes, lanes)
        .map_err(|_| BackupFileError::WrongPasswordOrDamaged)?;
    let mut body = Zeroizing::new(file[HEADER..].to_vec());
    let plain_len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&file[..HEADER]),
            &mut body,
        )
        .map_err(|_| BackupFileError::WrongPasswordOrDamaged)?
        .len();
    body.truncate(plain_len);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let plain = br#"{"format":1,"settings":"x"}"#;
        let file = seal("Cabinet du Parc, 2026 !", plain).unwrap();
        assert!(file.starts_with(MAGIC));
        assert!(
            !file.windows(8).any(|w| w == b"settings"),
            "the content is not readable"
        );
        assert_eq!(&*open("Cabinet du Parc, 2026 !", &file).unwrap(), plain);
        assert_eq!(
            open("another password", &file),
            Err(BackupFileError::WrongPasswordOrDamaged)
        );
        // One flipped byte anywhere: header, salt, nonce, content, tag.
        for at in [
            0,
            MAGIC.len() + 2,
            MAGIC.len() + 14,
            HEADER - 1,
            HEADER + 3,
            file.len() - 1,
        ] {
            let mut bad = file.clone();
            bad[at] ^= 0x01;
            assert!(open("Cabinet du Parc, 2026 !", &bad).is_err(), "byte {at}");
        }
        // Cut short, or another kind of file.
        assert!(open("Cabinet du Parc, 2026 !", &file[..file.len() - 1]).is_err());
        assert!(open("Cabinet du Parc, 2026 !", &file[..HEADER]).is_err());
        assert_eq!(
            open("x", b"PK\x03\x04 a zip"),
            Err(BackupFileError::NotABackup)
        );
        let mut newer = file.clone();
        newer[MAGIC.len()] = 2;
        assert_eq!(open("x", &newer), Err(BackupFileError::UnknownVersion(2)));
        // Two files of the same content differ (salt and nonce are fresh).
        assert_ne!(seal("p", plain).unwrap(), seal("p", plain).unwrap());
    }

    #[test]
    fn absurd_parameters_are_refused_before_any_work() {
        let mut file = seal("p", b"x").unwrap();
        let at = MAGIC.len() + 1;
        file[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            open("p", &file),
            Err(BackupFileError::WrongPasswordOrDamaged)
        );
    }
}
