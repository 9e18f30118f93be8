//! Who the card belongs to, read from its authentication certificate.

use serde::{Deserialize, Serialize};
use x509_parser::der_parser::oid;
use x509_parser::prelude::*;

/// The holder as the certificate names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// "GIVEN SURNAME", or the common name when those are absent.
    pub name: String,
    /// The certificate's surname and given name, when it has them (for
    /// the author of documents).
    pub surname: Option<String>,
    pub given_name: Option<String>,
    /// Profession (the certificate's `title`), e.g. "Medecin".
    pub profession: Option<String>,
    /// National identifier (the common name of IGC-Santé personal
    /// certificates: 8 + RPPS, or 0 + ADELI).
    pub national_id: Option<String>,
    pub subject: String,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    /// SHA-256 of the certificate, hex: the identity the box remembers.
    pub fingerprint: String,
    /// Bytes of the RSA modulus (the signature size).
    pub key_bytes: usize,
}

/// Reads a DER certificate.
pub fn parse(der: &[u8]) -> Result<Holder, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let subject = cert.subject();
    let first = |oid: &x509_parser::der_parser::Oid| -> Option<String> {
        subject
            .iter_attributes()
            .find(|a| a.attr_type() == oid)
            .and_then(|a| a.as_str().ok())
            .map(str::to_string)
    };
    let common_name = first(&oid!(2.5.4.3));
    let surname = first(&oid!(2.5.4.4));
    let given = first(&oid!(2.5.4.42));
    let name = match (&given, &surname) {
        (Some(g), Some(s)) => format!("{g} {s}"),
        (None, Some(s)) => s.clone(),
        _ => common_name.clone().unwrap_or_else(|| subject.to_string()),
    };
    let national_id = common_name.filter(|cn| {
        let id = cn.split('/').next().unwrap_or("");
        id.len() >= 9 && id.bytes().all(|b| b.is_ascii_digit())
    });
    let key_bytes = match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            rsa.modulus.iter().skip_while(|b| **b == 0).count()
        }
        _ => return Err("the card's key is not RSA".into()),
    };
    let fingerprint = ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Holder {
        name,
        surname,
        given_name: given,
        profession: first(&oid!(2.5.4.12)),
        national_id,
        subject: subject.to_string(),
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        fingerprint,
        key_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Self-signed RSA-2048 certificate with a practitioner's subject.
    const PRACTITIONER: &[u8] = include_bytes!("testdata/practitioner.der");

    #[test]
    fn reads_holder_fields() {
        let h = parse(PRACTITIONER).unwrap();
        assert_eq!(h.name, "JEAN DUPONT");
        assert_eq!(h.profession.as_deref(), Some("Medecin"));
        assert_eq!(h.national_id.as_deref(), Some("899700000001"));
        assert_eq!(h.key_bytes, 256);
        assert_eq!(h.fingerprint.len(), 64);
        assert!(h.not_after > h.not_before);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"not a certificate").is_err());
    }
}
