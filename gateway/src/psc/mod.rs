//! Pro Santé Connect (PSC), the national OpenID Connect service: the box
//! obtains access tokens and logs in to the operator with SASL XOAUTH2
//! (or OAUTHBEARER), "TLS then XOAUTH2" (see `docs/pro-sante-connect.md`).
//!
//! - `settings`: `[credential] kind = "psc"`;
//! - `http`: HTTPS to the provider, one connection per request;
//! - `provider`: discovery, token endpoint, CIBA, revocation;
//! - `card_login`: the authorization code flow signed by the CPS card;
//! - `session`: the tokens in memory, renewed, and the logins;
//! - `sasl`: XOAUTH2 and OAUTHBEARER messages;
//! - `credential`: the session as the box's `Credential`.

pub mod card_login;
pub mod credential;
pub mod http;
pub mod provider;
pub mod sasl;
pub mod session;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use zeroize::Zeroizing;

pub use credential::PscCredential;
pub use session::{PscError, PscSession, PscStatus, RECONNECT_NEEDED, State};
pub use settings::{LoginMethod, PscSettings};

use crate::credential::CardCredential;
use provider::{ClientAuth, Provider};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}: cannot read: {1}")]
    Read(String, std::io::Error),
    #[error("{0}")]
    Tls(String),
}

/// TLS settings toward the provider: its trust anchors (or the public web
/// CAs) and what the box presents.
fn provider_tls(
    settings: &PscSettings,
    versions: &[&'static rustls::SupportedProtocolVersion],
    presents: Presents,
) -> Result<Arc<rustls::ClientConfig>, SetupError> {
    let roots = match &settings.trust_anchors {
        Some(path) => crate::tls::mssante::load_trust_anchors(path)
            .map_err(|e| SetupError::Tls(e.to_string()))?,
        None => rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .map_err(|e| SetupError::Tls(e.to_string()))?
    .with_root_certificates(roots);
    let config = match presents {
        Presents::Nothing => builder.with_no_client_auth(),
        Presents::Card(card) => builder
            .with_client_cert_resolver(Arc::new(crate::credential::CredentialResolver::new(card))),
        Presents::Certificate(cert, key) => {
            return crate::update::http::tls_config(
                settings.trust_anchors.as_deref(),
                Some((cert, key)),
            )
            .map(Arc::new)
            .map_err(|e| SetupError::Tls(e.to_string()));
        }
    };
    Ok(Arc::new(config))
}

enum Presents<'a> {
    Nothing,
    Card(Arc<dyn crate::credential::Credential>),
    Certificate(&'a std::path::Path, &'a std::path::Path),
}

/// Builds the session from the settings (and the card, in card mode).
pub fn session(
    settings: &PscSettings,
    card: Option<Arc<CardCredential>>,
    changed: Vec<Arc<Notify>>,
    card_changed: Arc<Notify>,
    audit: Option<crate::audit::Audit>,
) -> Result<Arc<PscSession>, SetupError> {
    let timeout = Duration::from_secs(settings.timeout);
    let all = [&rustls::version::TLS13, &rustls::version::TLS12];
    let (auth, client_tls) = match (
        &settings.client_secret_file,
        &settings.client_certificate,
        &settings.client_key,
    ) {
        (Some(file), _, _) => {
            let secret = Zeroizing::new(
                std::fs::read_to_string(file)
                    .map_err(|e| SetupError::Read(file.display().to_string(), e))?,
            );
            (
                ClientAuth::Secret(Zeroizing::new(secret.trim().to_string())),
                provider_tls(settings, &all, Presents::Nothing)?,
            )
        }
        (None, Some(cert), Some(key)) => (
            ClientAuth::Certificate,
            provider_tls(settings, &all, Presents::Certificate(cert, key))?,
        ),
        _ => {
            return Err(SetupError::Tls(
                "no client authentication configured".into(),
            ));
        }
    };
    let provider = Provider::new(
        settings.issuer.clone(),
        settings.client_id.clone(),
        auth,
        http::ProviderHttp::new(client_tls, timeout),
    );
    let card_side = match (settings.login, card) {
        (LoginMethod::Card, Some(card)) => {
            // TLS 1.2 only: a CPS3 card signs PKCS#1 v1.5, which TLS 1.3
            // does not allow for client authentication.
            let tls = provider_tls(
                settings,
                &[&rustls::version::TLS12],
                Presents::Card(card.clone()),
            )?;
            Some(session::CardSide {
                http: http::ProviderHttp::new(tls, timeout),
                credential: card,
            })
        }
        (LoginMethod::Card, None) => {
            return Err(SetupError::Tls("card login needs the card service".into()));
        }
        (LoginMethod::Ecps, _) => None,
    };
    Ok(Arc::new(PscSession::new(
        settings,
        provider,
        card_side,
        changed,
        card_changed,
        audit,
    )))
}
