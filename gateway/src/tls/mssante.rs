//! The MSSanté TLS policy for the upstream side, as one constructor.
//!
//! The trust space's rules (Référentiel socle MSSanté, ECO.1.1.x): TLS 1.2
//! only, ECDHE-RSA suites, server certificates from IGC-Santé only. rustls
//! implements the two AES-GCM suites of the list, which is what we offer.
//! TLS 1.3 can be allowed by configuration for operators that accept it.

use std::path::Path;
use std::sync::Arc;

use rustls::client::ClientConfig;
use rustls::crypto::{CryptoProvider, ring};
use rustls::{CipherSuite, RootCertStore, SupportedCipherSuite};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::config::TlsVersion;
use crate::credential::{Credential, CredentialResolver, CredentialSessionStore};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: cannot read trust anchors: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Anchors {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("TLS policy: {0}")]
    Rustls(#[from] rustls::Error),
}

/// TLS 1.2 suites of ECO.1.1.3 that rustls implements.
const TLS12_SUITES: [CipherSuite; 2] = [
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
];

/// Reads PEM trust anchors; everything else is distrusted, including the
/// system's web CAs.
pub fn load_trust_anchors(path: &Path) -> Result<RootCertStore, PolicyError> {
    let pem = std::fs::read(path).map_err(|source| PolicyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PolicyError::Anchors {
            path: path.to_path_buf(),
            message: format!("bad PEM: {e}"),
        })?;
    let mut store = RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(PolicyError::Anchors {
            path: path.to_path_buf(),
            message: format!("no usable CA certificate ({ignored} unusable)"),
        });
    }
    Ok(store)
}

fn provider(versions: &[TlsVersion]) -> CryptoProvider {
    let base = ring::default_provider();
    let cipher_suites: Vec<SupportedCipherSuite> = base
        .cipher_suites
        .iter()
        .copied()
        .filter(|suite| match suite {
            SupportedCipherSuite::Tls12(_) => TLS12_SUITES.contains(&suite.suite()),
            SupportedCipherSuite::Tls13(_) => versions.contains(&TlsVersion::Tls13),
        })
        .collect();
    CryptoProvider {
        cipher_suites,
        ..base
    }
}

/// Client configuration for talking to the MSSanté operator: restricted
/// versions and suites, IGC-Santé anchors only, and the credential presented
/// as client certificate.
pub fn client_config(
    anchors: RootCertStore,
    versions: &[TlsVersion],
    credential: Arc<dyn Credential>,
) -> Result<Arc<ClientConfig>, PolicyError> {
    let protocol_versions: Vec<&'static rustls::SupportedProtocolVersion> = versions
        .iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider(versions)))
        .with_protocol_versions(&protocol_versions)?
        .with_root_certificates(anchors)
        .with_client_cert_resolver(Arc::new(CredentialResolver::new(credential.clone())));
    // Resumed sessions skip the (card) signature; they must stay bound to
    // the identity that authenticated them.
    config.resumption =
        rustls::client::Resumption::store(Arc::new(CredentialSessionStore::new(credential)));
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls12_policy_offers_only_the_mssante_suites() {
        let p = provider(&[TlsVersion::Tls12]);
        let suites: Vec<CipherSuite> = p.cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(suites.len(), 2);
        for s in suites {
            assert!(TLS12_SUITES.contains(&s), "{s:?}");
        }
    }

    #[test]
    fn tls13_can_be_allowed() {
        let p = provider(&[TlsVersion::Tls12, TlsVersion::Tls13]);
        assert!(
            p.cipher_suites
                .iter()
                .any(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        );
    }

    #[test]
    fn anchors_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "nothing here").unwrap();
        let err = load_trust_anchors(&path).unwrap_err().to_string();
        assert!(err.contains("no usable CA certificate"), "{err}");
        assert!(load_trust_anchors(&dir.path().join("missing.pem")).is_err());
    }
}
