//! The box's own TLS identity on the practice's LAN (STARTTLS for local
//! SMTP, later IMAP and the web admin).
//!
//! There is no public name for a box inside a practice, so at first start
//! it generates its own certificate; an installer may replace it with one
//! from the practice's own CA through the configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum LocalTlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("cannot generate the box certificate: {0}")]
    Generate(String),
    #[error("local TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

fn file_error(path: &Path, message: impl ToString) -> LocalTlsError {
    LocalTlsError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Returns paths of the certificate and key to use, generating a
/// self-signed pair under `dir` the first time.
pub fn ensure_box_certificate(
    dir: &Path,
    hostname: &str,
) -> Result<(PathBuf, PathBuf), LocalTlsError> {
    let cert_path = dir.join("box-cert.pem");
    let key_path = dir.join("box-key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let names = vec![hostname.to_string(), "localhost".to_string()];
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| LocalTlsError::Generate(e.to_string()))?;
    // Key first, owner-only, each file written whole then renamed: a crash
    // never leaves a certificate without its key.
    write_atomically(
        &key_path,
        certified.key_pair.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_atomically(&cert_path, certified.cert.pem().as_bytes(), 0o644)?;
    Ok((cert_path, key_path))
}

fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), LocalTlsError> {
    crate::durable::write_atomically(path, bytes, mode).map_err(|e| file_error(&e.path, e.source))
}

/// Server configuration for the LAN side: TLS 1.2 and 1.3, no client
/// certificates (local clients authenticate with a password after TLS).
pub fn server_config(
    cert_path: &Path,
    key_path: &Path,
) -> Result<Arc<ServerConfig>, LocalTlsError> {
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| file_error(cert_path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert_path, e))?;
    if chain.is_empty() {
        return Err(file_error(cert_path, "no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| file_error(key_path, e))?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ensure_box_certificate(dir.path(), "facteur.local").unwrap();
        let first = std::fs::read(&cert).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        ensure_box_certificate(dir.path(), "facteur.local").unwrap();
        assert_eq!(first, std::fs::read(&cert).unwrap());
        server_config(&cert, &key).unwrap();
    }

    #[test]
    fn broken_files_are_reported_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        std::fs::write(&cert, "garbage").unwrap();
        std::fs::write(&key, "garbage").unwrap();
        let err = server_config(&cert, &key).unwrap_err().to_string();
        assert!(err.contains("c.pem"), "{err}");
    }
}
