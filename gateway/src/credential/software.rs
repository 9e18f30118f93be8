//! Software certificate credential: IGC-Santé "Organisation" certificate of
//! an application mailbox, as a PKCS#12 file or as PEM chain + PEM key.

use std::path::Path;
use std::sync::Arc;

use rustls::sign::{CertifiedKey, SigningKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use super::{Credential, CredentialError, describe_certificate};

/// Why PKCS#12 data could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs12Error {
    #[error("wrong password for the PKCS#12 file")]
    WrongPassword,
    #[error("the PKCS#12 file is damaged or not a PKCS#12 file: {0}")]
    Damaged(String),
    #[error("the PKCS#12 file holds no private key")]
    NoKey,
    #[error("the PKCS#12 file's certificate or key is unusable: {0}")]
    Unusable(String),
}

/// A certificate whose private key is held in this process's memory.
pub struct SoftwareCredential {
    identity: String,
    not_after: i64,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn SigningKey>,
}

impl std::fmt::Debug for SoftwareCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareCredential")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

fn invalid(path: &Path, message: impl Into<String>) -> CredentialError {
    CredentialError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| CredentialError::Read {
            path: path.to_path_buf(),
            source,
        })
}

impl SoftwareCredential {
    /// Loads a PEM certificate chain (end entity first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(chain_path: &Path, key_path: &Path) -> Result<Self, CredentialError> {
        let chain_pem = read(chain_path)?;
        let chain = CertificateDer::pem_slice_iter(&chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(chain_path, format!("bad PEM certificate: {e}")))?;
        let key_pem = read(key_path)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| invalid(key_path, format!("bad PEM private key: {e}")))?;
        Self::new(chain_path, chain, key_path, key)
    }

    /// Loads a PKCS#12 file whose password is the first line of
    /// `password_file`.
    pub fn from_pkcs12(path: &Path, password_file: &Path) -> Result<Self, CredentialError> {
        let data = read(path)?;
        let password_bytes = read(password_file)?;
        let password = Zeroizing::new(
            String::from_utf8_lossy(&password_bytes)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        );
        Self::from_pkcs12_bytes(&data, &password).map_err(|e| invalid(path, e.to_string()))
    }

    /// Opens PKCS#12 data (an uploaded file), telling a wrong password
    /// from a damaged file.
    pub fn from_pkcs12_bytes(data: &[u8], password: &str) -> Result<Self, Pkcs12Error> {
        let store = p12_keystore::KeyStore::from_pkcs12(data, password).map_err(|e| match e {
            // The MAC is keyed by the password; without a MAC, a wrong
            // password shows as bad padding after decryption.
            p12_keystore::error::Error::MacError(_) | p12_keystore::error::Error::UnpadError => {
                Pkcs12Error::WrongPassword
            }
            other => Pkcs12Error::Damaged(other.to_string()),
        })?;
        let (_, key_chain) = store.private_key_chain().ok_or(Pkcs12Error::NoKey)?;
        let chain: Vec<CertificateDer<'static>> = key_chain
            .chain()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_chain.key().to_vec()));
        let label = Path::new("PKCS#12");
        Self::new(label, chain, label, key).map_err(|e| match e {
            CredentialError::Invalid { message, .. } => Pkcs12Error::Unusable(message),
            other => Pkcs12Error::Unusable(other.to_string()),
        })
    }

    fn new(
        chain_path: &Path,
        chain: Vec<CertificateDer<'static>>,
        key_path: &Path,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, CredentialError> {
        let first = chain
            .first()
            .ok_or_else(|| invalid(chain_path, "no certificate found"))?;
        let (identity, not_after) =
            describe_certificate(first).map_err(|m| invalid(chain_path, m))?;
        let key = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| invalid(key_path, format!("unusable private key: {e}")))?;
        let credential = SoftwareCredential {
            identity,
            not_after,
            chain,
            key,
        };
        credential.check_key_matches(key_path)?;
        Ok(credential)
    }

    /// A key that does not belong to the certificate would only show up as
    /// an obscure handshake failure at the operator; say it at start-up.
    fn check_key_matches(&self, key_path: &Path) -> Result<(), CredentialError> {
        let Some(key_spki) = self.key.public_key() else {
            return Ok(());
        };
        let cert_spki = x509_parser::parse_x509_certificate(&self.chain[0])
            .map(|(_, c)| c.public_key().raw.to_vec())
            .unwrap_or_default();
        if key_spki.as_ref() != cert_spki.as_slice() {
            return Err(invalid(
                key_path,
                "the private key does not match the certificate",
            ));
        }
        Ok(())
    }
}

impl Credential for SoftwareCredential {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn certified_key(&self) -> Option<Arc<CertifiedKey>> {
        Some(Arc::new(CertifiedKey::new(
            self.chain.clone(),
            self.key.clone(),
        )))
    }

    fn not_after(&self) -> Option<i64> {
        Some(self.not_after)
    }
}
