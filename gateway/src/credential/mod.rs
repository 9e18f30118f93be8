//! Credentials: what the box presents to the MSSanté operator.
//!
//! A credential is a certificate chain plus something that can sign the TLS
//! handshake with the matching private key. The signing may happen in this
//! process (software certificate) or elsewhere (on the CPS card), so the
//! trait hands rustls a [`SigningKey`] and never the key itself.

mod card;
mod software;

use std::fmt;
use std::sync::Arc;

use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;

pub use card::CardCredential;
pub use software::SoftwareCredential;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid {
        path: std::path::PathBuf,
        message: String,
    },
}

/// Who the box is upstream: a certificate chain and a way to sign with its key.
pub trait Credential: Send + Sync + fmt::Debug {
    /// Human-readable identity (certificate subject), for status and logs.
    fn identity(&self) -> String;

    /// The chain (end entity first) with the signer for TLS handshakes,
    /// which may sign outside this process; `None` while unavailable.
    fn certified_key(&self) -> Option<Arc<CertifiedKey>>;

    /// End of validity of the end-entity certificate (Unix seconds).
    fn not_after(&self) -> Option<i64>;

    /// Whether handshakes can be signed now; otherwise why not (card out,
    /// locked…). Delivery pauses while this is an error.
    fn availability(&self) -> Result<(), String> {
        Ok(())
    }

    /// Signatures made so far (each one costs a card operation).
    fn signatures(&self) -> Option<u64> {
        None
    }
}

/// Presents a [`Credential`] to rustls when the server asks for a client
/// certificate.
#[derive(Debug)]
pub struct CredentialResolver {
    credential: Arc<dyn Credential>,
}

impl CredentialResolver {
    pub fn new(credential: Arc<dyn Credential>) -> Self {
        CredentialResolver { credential }
    }
}

impl ResolvesClientCert for CredentialResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let key = self.credential.certified_key()?;
        // rustls would fail the handshake later anyway; refusing here gives
        // a clearer "no usable client certificate" on the operator's side.
        key.key.choose_scheme(sigschemes)?;
        Some(key)
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Subject of a DER certificate in RFC 4514 form, and its end of validity.
pub(crate) fn describe_certificate(der: &[u8]) -> Result<(String, i64), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    Ok((
        cert.subject().to_string(),
        cert.validity().not_after.timestamp(),
    ))
}
