//! The holder's key and certificate: loading them from the files a test
//! PKI writes, and the three RSA operations a CPS card performs.

use anyhow::{Context, Result, anyhow, bail};
use rand_core::OsRng;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::der::pem;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::{Digest, Sha256};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};

/// The card's private authentication key.
pub struct CardKey {
    key: RsaPrivateKey,
}

/// Why a raw RSA operation was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RawError {
    /// The input is not the modulus' length.
    Length,
    /// The input is not below the modulus.
    OutOfRange,
    /// The computation failed its own check.
    Internal,
}

impl CardKey {
    /// Reads a PEM private key: PKCS#8 (`PRIVATE KEY`, what openssl writes
    /// by default) or PKCS#1 (`RSA PRIVATE KEY`).
    pub fn from_pem(text: &str) -> Result<CardKey> {
        let key = if let Some(block) = pem_block(text, "PRIVATE KEY") {
            RsaPrivateKey::from_pkcs8_pem(block).context("PKCS#8 private key")?
        } else if let Some(block) = pem_block(text, "RSA PRIVATE KEY") {
            RsaPrivateKey::from_pkcs1_pem(block).context("PKCS#1 private key")?
        } else {
            bail!("no PEM \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" block (an RSA key is needed)");
        };
        Ok(CardKey { key })
    }

    /// Modulus length in bytes (the signature size).
    pub fn size(&self) -> usize {
        self.key.size()
    }

    pub fn public_key(&self) -> RsaPublicKey {
        self.key.to_public_key()
    }

    /// PKCS#1 v1.5 signature of a DigestInfo given whole, as IAS-ECC's
    /// algorithm 02 does: the card pads, it neither hashes nor checks.
    pub fn sign_pkcs1(&self, digest_info: &[u8]) -> Result<Vec<u8>> {
        self.key
            .sign_with_rng(&mut OsRng, Pkcs1v15Sign::new_unprefixed(), digest_info)
            .map_err(|e| anyhow!("PKCS#1 signature: {e}"))
    }

    /// RSA-PSS signature of a SHA-256 hash, MGF1-SHA-256, with a 32-byte
    /// salt: the salt length TLS 1.3 (and so rustls) requires.
    pub fn sign_pss_sha256(&self, hash: &[u8]) -> Result<Vec<u8>> {
        self.key
            .sign_with_rng(&mut OsRng, Pss::new_with_salt::<Sha256>(32), hash)
            .map_err(|e| anyhow!("PSS signature: {e}"))
    }

    /// The raw private operation `input^d mod n` on a block as long as the
    /// modulus (CPS4 PSO DECIPHER: the host did the padding).
    pub fn raw_private(&self, input: &[u8]) -> Result<Vec<u8>, RawError> {
        let k = self.size();
        if input.len() != k {
            return Err(RawError::Length);
        }
        let c = BigUint::from_bytes_be(input);
        if &c >= self.key.n() {
            return Err(RawError::OutOfRange);
        }
        let m = rsa::hazmat::rsa_decrypt_and_check(&self.key, Some(&mut OsRng), &c)
            .map_err(|_| RawError::Internal)?;
        let bytes = m.to_bytes_be();
        // Left-pad to the modulus length, as a card answers.
        let mut out = vec![0; k.saturating_sub(bytes.len())];
        out.extend_from_slice(&bytes);
        Ok(out)
    }
}

/// Reads a certificate file: DER, or PEM whose first `CERTIFICATE` block
/// is taken (the test PKI's `NAME.pem` is the leaf followed by its CA).
pub fn load_certificate(bytes: &[u8]) -> Result<Vec<u8>> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && text.contains("-----BEGIN")
    {
        let block =
            pem_block(text, "CERTIFICATE").ok_or_else(|| anyhow!("no PEM CERTIFICATE block"))?;
        let (_, der) = pem::decode_vec(block.as_bytes()).map_err(|e| anyhow!("bad PEM: {e}"))?;
        return Ok(der);
    }
    if bytes.first() != Some(&0x30) {
        bail!("neither PEM nor DER (a DER certificate starts with 30)");
    }
    Ok(bytes.to_vec())
}

/// The RSA public key inside a DER certificate, if it has one.
pub fn certificate_public_key(cert: &[u8]) -> Option<RsaPublicKey> {
    RsaPublicKey::from_public_key_der(spki(cert)?).ok()
}

/// First 5 bytes of the certificate's SHA-256: a stable default serial
/// number, different for each test holder.
pub fn serial_from_certificate(cert: &[u8]) -> [u8; 5] {
    let hash = Sha256::digest(cert);
    let mut serial = [0; 5];
    serial.copy_from_slice(&hash[..5]);
    serial
}

/// The text of the first `-----BEGIN label-----` ... `-----END label-----`
/// block, both lines included.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = start + text[start..].find(&end)? + end.len();
    Some(&text[start..stop])
}

/// One DER header: (tag, header length, value length).
fn der_header(data: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *data.first()?;
    let first = *data.get(1)?;
    if first < 0x80 {
        return Some((tag, 2, usize::from(first)));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 3 {
        return None;
    }
    let len = data
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some((tag, 2 + n, len))
}

/// The bytes of one whole DER element at the start of `data`, and the rest.
fn der_split(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (tag, header, len) = der_header(data)?;
    let total = header.checked_add(len)?;
    if data.len() < total {
        return None;
    }
    Some((tag, &data[..total], &data[total..]))
}

/// The value of a constructed element.
fn der_value(element: &[u8]) -> Option<&[u8]> {
    let (_, header, _) = der_header(element)?;
    element.get(header..)
}

/// SubjectPublicKeyInfo of a certificate (RFC 5280 §4.1): the 7th field of
/// the TBSCertificate, counting the optional `[0]` version as one.
fn spki(cert: &[u8]) -> Option<&[u8]> {
    let (_, certificate, _) = der_split(cert)?;
    let (_, tbs, _) = der_split(der_value(certificate)?)?;
    let mut rest = der_value(tbs)?;
    let (tag, _, _) = der_split(rest)?;
    if tag == 0xA0 {
        rest = der_split(rest)?.2;
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        rest = der_split(rest)?.2;
    }
    let (tag, spki, _) = der_split(rest)?;
    (tag == 0x30).then_some(spki)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A throwaway RSA-2048 key and its self-signed certificate, made
    /// with openssl for these tests only.
    pub const TEST_KEY: &str = include_str!("../testdata/test-key.pem");
    pub const TEST_CERT_PEM: &[u8] = include_bytes!("../testdata/test-cert.pem");

    pub fn key() -> CardKey {
        CardKey::from_pem(TEST_KEY).unwrap()
    }

    #[test]
    fn certificate_and_key_match() {
        let cert = load_certificate(TEST_CERT_PEM).unwrap();
        assert_eq!(cert[0], 0x30);
        assert_eq!(load_certificate(&cert).unwrap(), cert);
        assert_eq!(certificate_public_key(&cert), Some(key().public_key()));
        assert_eq!(key().size(), 256);
    }

    #[test]
    fn refuses_what_is_not_a_certificate() {
        assert!(load_certificate(b"hello").is_err());
        assert!(load_certificate(b"-----BEGIN PRIVATE KEY-----\n").is_err());
        assert_eq!(certificate_public_key(b"\x30\x03\x02\x01\x01"), None);
        assert_eq!(certificate_public_key(b""), None);
    }

    #[test]
    fn reads_pkcs1_keys_too() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let pkcs1 = key().key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        assert_eq!(
            CardKey::from_pem(&pkcs1).unwrap().public_key(),
            key().public_key()
        );
        assert!(CardKey::from_pem("no key here").is_err());
    }

    #[test]
    fn raw_operation_checks_its_input() {
        let k = key();
        assert_eq!(k.raw_private(&[1; 255]), Err(RawError::Length));
        assert_eq!(k.raw_private(&[0xFF; 256]), Err(RawError::OutOfRange));
        let mut block = vec![0; 256];
        block[255] = 2;
        assert_eq!(k.raw_private(&block).unwrap().len(), 256);
    }

    #[test]
    fn serial_is_stable() {
        assert_eq!(serial_from_certificate(b"x"), serial_from_certificate(b"x"));
        assert_ne!(serial_from_certificate(b"x"), serial_from_certificate(b"y"));
    }
}
