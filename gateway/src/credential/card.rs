//! The CPS card as credential: the card's authentication certificate is
//! presented and the handshake is signed on the card; the private key
//! never leaves it.

use std::sync::Arc;

use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use rustls_pki_types::CertificateDer;

use super::Credential;
use crate::card::{CardService, Padding, Profile};

/// Presents whatever CPS card is unlocked in the reader.
pub struct CardCredential {
    service: CardService,
    /// Issuing CAs sent after the card's certificate (the card holds only
    /// its own certificate).
    intermediates: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for CardCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardCredential")
            .field("identity", &self.identity())
            .finish_non_exhaustive()
    }
}

impl CardCredential {
    pub fn new(
        service: CardService,
        intermediates: Vec<CertificateDer<'static>>,
    ) -> CardCredential {
        CardCredential {
            service,
            intermediates,
        }
    }

    pub fn service(&self) -> &CardService {
        &self.service
    }
}

impl Credential for CardCredential {
    fn identity(&self) -> String {
        match self.service.status().holder {
            Some(h) => h.subject,
            None => "CPS card (not read)".into(),
        }
    }

    fn certified_key(&self) -> Option<Arc<CertifiedKey>> {
        self.service.status().ready().ok()?;
        let key = self.service.key()?;
        let mut chain = vec![CertificateDer::from(key.certificate)];
        chain.extend(self.intermediates.iter().cloned());
        Some(Arc::new(CertifiedKey::new(
            chain,
            Arc::new(CardSigningKey {
                service: self.service.clone(),
                profile: key.profile,
            }),
        )))
    }

    fn not_after(&self) -> Option<i64> {
        self.service.status().holder.map(|h| h.not_after)
    }

    fn availability(&self) -> Result<(), String> {
        self.service.status().ready()
    }

    fn signatures(&self) -> Option<u64> {
        Some(self.service.signatures())
    }

    fn session_scope(&self) -> String {
        let status = self.service.status();
        match (status.ready(), status.holder) {
            (Ok(()), Some(h)) => h.fingerprint,
            _ => String::new(),
        }
    }
}

/// The card's authentication key as rustls sees it.
#[derive(Debug)]
struct CardSigningKey {
    service: CardService,
    profile: Profile,
}

/// The TLS schemes a profile can sign, best first.
fn schemes(profile: Profile) -> &'static [(SignatureScheme, Padding)] {
    match profile {
        Profile::Cps3 => &[(SignatureScheme::RSA_PKCS1_SHA256, Padding::Pkcs1Sha256)],
        Profile::Cps4 => &[
            (SignatureScheme::RSA_PSS_SHA256, Padding::PssSha256),
            (SignatureScheme::RSA_PKCS1_SHA256, Padding::Pkcs1Sha256),
        ],
    }
}

impl SigningKey for CardSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let (scheme, padding) = schemes(self.profile)
            .iter()
            .find(|(s, _)| offered.contains(s))?;
        Some(Box::new(CardSigner {
            service: self.service.clone(),
            scheme: *scheme,
            padding: *padding,
        }))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RSA
    }
}

#[derive(Debug)]
struct CardSigner {
    service: CardService,
    scheme: SignatureScheme,
    padding: Padding,
}

impl Signer for CardSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        // rustls signs inside the handshake, on an async worker thread:
        // tell tokio this one blocks on the card for a while.
        let sign = || self.service.sign_blocking(self.padding, message);
        let in_multi_thread_runtime = tokio::runtime::Handle::try_current()
            .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
            .unwrap_or(false);
        let result = if in_multi_thread_runtime {
            tokio::task::block_in_place(sign)
        } else {
            sign()
        };
        result.map_err(|e| rustls::Error::General(format!("signature on the CPS card: {e}")))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cps3_signs_pkcs1_only_and_cps4_prefers_pss() {
        assert_eq!(
            schemes(Profile::Cps3)
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>(),
            vec![SignatureScheme::RSA_PKCS1_SHA256]
        );
        assert_eq!(schemes(Profile::Cps4)[0].0, SignatureScheme::RSA_PSS_SHA256);
    }
}
