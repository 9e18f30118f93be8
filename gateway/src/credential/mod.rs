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

use rustls::NamedGroup;
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::sign::CertifiedKey;
use rustls_pki_types::ServerName;

pub use crate::psc::PscCredential;
pub use card::CardCredential;
pub use software::{Pkcs12Error, SoftwareCredential};

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

    /// Names who TLS sessions were authenticated as: sessions are resumed
    /// only under the same scope. Empty while the credential cannot sign,
    /// and then nothing is resumed.
    fn session_scope(&self) -> String {
        self.identity()
    }

    /// The Pro Santé Connect session, for credentials that log in to the
    /// operator with an access token rather than by the certificate.
    fn psc(&self) -> Option<Arc<crate::psc::PscSession>> {
        None
    }
}

/// TLS session cache bound to the credential: a session authenticated with
/// one card is never resumed under another card (or with no card), which
/// plain resumption would do, since it skips client authentication.
#[derive(Debug)]
pub struct CredentialSessionStore {
    credential: Arc<dyn Credential>,
    current: std::sync::Mutex<(String, Arc<ClientSessionMemoryCache>)>,
}

impl CredentialSessionStore {
    pub fn new(credential: Arc<dyn Credential>) -> CredentialSessionStore {
        CredentialSessionStore {
            credential,
            current: std::sync::Mutex::new((
                String::new(),
                Arc::new(ClientSessionMemoryCache::new(64)),
            )),
        }
    }

    /// The cache of the credential's current scope (a new, empty one when
    /// the scope changed); `None` when nothing may be resumed or stored.
    fn cache(&self) -> Option<Arc<ClientSessionMemoryCache>> {
        let scope = self.credential.session_scope();
        if scope.is_empty() {
            return None;
        }
        let mut current = self.current.lock().ok()?;
        if current.0 != scope {
            *current = (scope, Arc::new(ClientSessionMemoryCache::new(64)));
        }
        Some(current.1.clone())
    }
}

impl ClientSessionStore for CredentialSessionStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        if let Some(c) = self.cache() {
            c.set_kx_hint(server_name, group);
        }
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.cache()?.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        if let Some(c) = self.cache() {
            c.set_tls12_session(server_name, value);
        }
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.cache()?.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        if let Some(c) = self.cache() {
            c.remove_tls12_session(server_name);
        }
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        if let Some(c) = self.cache() {
            c.insert_tls13_ticket(server_name, value);
        }
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.cache()?.take_tls13_ticket(server_name)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A credential whose identity the test changes.
    #[derive(Debug)]
    struct Swappable(std::sync::Mutex<String>);

    impl Credential for Swappable {
        fn identity(&self) -> String {
            self.0.lock().unwrap().clone()
        }
        fn certified_key(&self) -> Option<Arc<CertifiedKey>> {
            None
        }
        fn not_after(&self) -> Option<i64> {
            None
        }
    }

    #[test]
    fn sessions_are_not_resumed_under_another_identity() {
        let credential = Arc::new(Swappable(std::sync::Mutex::new("card A".into())));
        let store = CredentialSessionStore::new(credential.clone());
        let server = ServerName::try_from("smtp.operateur.test").unwrap();
        store.set_kx_hint(server.clone(), NamedGroup::X25519);
        assert_eq!(store.kx_hint(&server), Some(NamedGroup::X25519));

        *credential.0.lock().unwrap() = "card B".into();
        assert_eq!(store.kx_hint(&server), None);
        // Back to A: what A's sessions left was dropped with the switch.
        *credential.0.lock().unwrap() = "card A".into();
        assert_eq!(store.kx_hint(&server), None);

        // No identity (card out): nothing stored, nothing resumed.
        *credential.0.lock().unwrap() = String::new();
        store.set_kx_hint(server.clone(), NamedGroup::X25519);
        assert_eq!(store.kx_hint(&server), None);
    }
}
