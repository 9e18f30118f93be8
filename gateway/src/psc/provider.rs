//! The OpenID provider as the box uses it: its metadata (discovery), the
//! token endpoint (code exchange, refresh, CIBA polling) with the box's
//! client authentication, the CIBA backchannel endpoint and revocation.

use std::sync::Arc;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::Method;
use serde::Deserialize;
use url::Url;
use zeroize::Zeroizing;

use super::http::{Answer, HttpError, ProviderHttp, form, https_url};

/// Why a token could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The network, a timeout, a 5xx: worth trying again.
    #[error("{0}")]
    Unreachable(#[from] HttpError),
    #[error("Pro Santé Connect answered with HTTP {0}")]
    ServerError(u16),
    /// An OAuth error answer (`invalid_grant`, `access_denied`...).
    #[error("Pro Santé Connect refused: {code}{}", describe(.description))]
    Refused {
        code: String,
        description: Option<String>,
    },
    #[error("Pro Santé Connect's answer is not usable: {0}")]
    BadAnswer(String),
    #[error("Pro Santé Connect settings: {0}")]
    Settings(String),
}

fn describe(description: &Option<String>) -> String {
    match description {
        Some(d) if !d.is_empty() => format!(" ({d})"),
        _ => String::new(),
    }
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::Unreachable(_) | ProviderError::ServerError(_)
        )
    }

    /// The OAuth error code, when the provider gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ProviderError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// What the box needs of `.well-known/openid-configuration`.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    #[serde(default)]
    pub backchannel_authentication_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// RFC 8705: where clients authenticating by certificate must go.
    #[serde(default)]
    pub mtls_endpoint_aliases: Option<MtlsAliases>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MtlsAliases {
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub backchannel_authentication_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
}

impl Metadata {
    /// Parses a discovery document and checks it is the configured
    /// provider's (OpenID Connect Discovery 1.0, section 4.3).
    pub fn parse(body: &[u8], issuer: &str) -> Result<Metadata, ProviderError> {
        let metadata: Metadata = serde_json::from_slice(body)
            .map_err(|e| ProviderError::BadAnswer(format!("discovery document: {e}")))?;
        if metadata.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(ProviderError::BadAnswer(format!(
                "the discovery document names the issuer `{}`, not `{issuer}`",
                metadata.issuer.chars().take(200).collect::<String>()
            )));
        }
        for endpoint in [
            Some(&metadata.token_endpoint),
            metadata.authorization_endpoint.as_ref(),
            metadata.backchannel_authentication_endpoint.as_ref(),
            metadata.revocation_endpoint.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            https_url(endpoint).map_err(|e| ProviderError::BadAnswer(e.to_string()))?;
        }
        Ok(metadata)
    }
}

/// How the box proves to the provider that it is the registered client.
pub enum ClientAuth {
    /// `client_secret_basic`.
    Secret(Zeroizing<String>),
    /// `tls_client_auth`: the certificate is in the HTTP client's TLS settings.
    Certificate,
}

/// Tokens as the token endpoint gave them.
pub struct Grant {
    pub access_token: Zeroizing<String>,
    /// Seconds the access token lives.
    pub expires_in: u64,
    pub refresh_token: Option<Zeroizing<String>>,
    /// Seconds the refresh token lives, when the provider says
    /// (`refresh_expires_in`, as Keycloak-based providers do).
    pub refresh_expires_in: Option<u64>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Zeroizing<String>,
    token_type: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<Zeroizing<String>>,
    #[serde(default)]
    refresh_expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A CIBA request the practitioner has to approve on the phone.
#[derive(Debug, Clone)]
pub struct BackchannelRequest {
    pub auth_req_id: String,
    pub expires_in: u64,
    /// Seconds between polls (CIBA's default is 5).
    pub interval: u64,
}

#[derive(Deserialize)]
struct BackchannelAnswer {
    auth_req_id: String,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

/// Access tokens live a few minutes; a provider giving less than this,
/// or more than a day, is misconfigured or not speaking of seconds.
const MIN_LIFETIME: u64 = 2;
const MAX_LIFETIME: u64 = 24 * 3600;

/// Reads a token endpoint answer: tokens, or the OAuth error.
pub fn read_token_answer(answer: &Answer) -> Result<Grant, ProviderError> {
    check(answer)?;
    let t: TokenAnswer = serde_json::from_slice(&answer.body)
        .map_err(|e| ProviderError::BadAnswer(format!("token answer: {e}")))?;
    if !t.token_type.eq_ignore_ascii_case("bearer") {
        return Err(ProviderError::BadAnswer(format!(
            "token type `{}`, not Bearer",
            t.token_type
        )));
    }
    if t.access_token.is_empty() || !t.access_token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ProviderError::BadAnswer(
            "the access token is empty or not printable".into(),
        ));
    }
    Ok(Grant {
        access_token: t.access_token,
        expires_in: t
            .expires_in
            .unwrap_or(300)
            .clamp(MIN_LIFETIME, MAX_LIFETIME),
        refresh_token: t.refresh_token.filter(|r| !r.is_empty()),
        // A year at most: a session never lasts longer, and dates stay sane.
        refresh_expires_in: t
            .refresh_expires_in
            .filter(|s| *s > 0)
            .map(|s| s.min(366 * 24 * 3600)),
    })
}

/// 2xx goes on. A 5xx, 408 or 429 (or the OAuth codes that say the same)
/// is the provider's passing trouble, whatever its body; another OAuth
/// error body becomes `Refused`.
fn check(answer: &Answer) -> Result<(), ProviderError> {
    if (200..300).contains(&answer.status) {
        return Ok(());
    }
    if answer.status >= 500 || answer.status == 408 || answer.status == 429 {
        return Err(ProviderError::ServerError(answer.status));
    }
    if let Ok(e) = serde_json::from_slice::<ErrorAnswer>(&answer.body) {
        if matches!(e.error.as_str(), "temporarily_unavailable" | "server_error") {
            return Err(ProviderError::ServerError(answer.status));
        }
        return Err(ProviderError::Refused {
            code: e.error.chars().take(60).collect(),
            description: e.error_description.map(|d| d.chars().take(200).collect()),
        });
    }
    Err(ProviderError::Refused {
        code: format!("http_{}", answer.status),
        description: None,
    })
}

/// The provider, reached with the box's client authentication.
pub struct Provider {
    issuer: String,
    client_id: String,
    auth: ClientAuth,
    http: ProviderHttp,
    /// Read once, read again after a failure (the provider may have moved
    /// an endpoint).
    metadata: Mutex<Option<Arc<Metadata>>>,
}

impl Provider {
    pub fn new(
        issuer: String,
        client_id: String,
        auth: ClientAuth,
        http: ProviderHttp,
    ) -> Provider {
        Provider {
            issuer,
            client_id,
            auth,
            http,
            metadata: Mutex::new(None),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The provider's metadata, from discovery.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, ProviderError> {
        if let Some(m) = self.metadata.lock().ok().and_then(|m| m.clone()) {
            return Ok(m);
        }
        let address = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let url = https_url(&address)?;
        let answer = self
            .http
            .send(
                Method::GET,
                &url,
                &[("accept", "application/json".into())],
                None,
            )
            .await?;
        if answer.status != 200 {
            return Err(if answer.status >= 500 {
                ProviderError::ServerError(answer.status)
            } else {
                ProviderError::BadAnswer(format!("discovery answered HTTP {}", answer.status))
            });
        }
        let metadata = Arc::new(Metadata::parse(&answer.body, &self.issuer)?);
        if let Ok(mut m) = self.metadata.lock() {
            *m = Some(metadata.clone());
        }
        Ok(metadata)
    }

    /// Forgets the metadata: read again at the next request.
    pub fn forget_metadata(&self) {
        if let Ok(mut m) = self.metadata.lock() {
            *m = None;
        }
    }

    fn endpoint<'a>(&self, plain: &'a str, alias: Option<&'a String>) -> &'a str {
        match (&self.auth, alias) {
            (ClientAuth::Certificate, Some(a)) => a,
            _ => plain,
        }
    }

    /// POSTs a form with the client's authentication.
    async fn post(&self, endpoint: &str, pairs: &[(&str, &str)]) -> Result<Answer, ProviderError> {
        let url: Url = https_url(endpoint)?;
        let mut headers = vec![
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("accept", "application/json".into()),
        ];
        let mut pairs = pairs.to_vec();
        match &self.auth {
            ClientAuth::Secret(secret) => {
                // RFC 6749, 2.3.1: both parts form-encoded before base64.
                let encode = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let credentials =
                    Zeroizing::new(format!("{}:{}", encode(&self.client_id), encode(secret)));
                headers.push((
                    "authorization",
                    format!("Basic {}", STANDARD.encode(credentials.as_bytes())),
                ));
            }
            ClientAuth::Certificate => pairs.push(("client_id", &self.client_id)),
        }
        let answer = self
            .http
            .send(Method::POST, &url, &headers, Some(form(&pairs)))
            .await?;
        // An endpoint that moved or broke: discovery is read again next time.
        if answer.status >= 500 || answer.status == 404 || answer.status == 410 {
            self.forget_metadata();
        }
        Ok(answer)
    }

    async fn token(&self, pairs: &[(&str, &str)]) -> Result<Grant, ProviderError> {
        let m = self.metadata().await?;
        let endpoint = self.endpoint(
            &m.token_endpoint,
            m.mtls_endpoint_aliases
                .as_ref()
                .and_then(|a| a.token_endpoint.as_ref()),
        );
        read_token_answer(&self.post(endpoint, pairs).await?)
    }

    /// Exchanges an authorization code (with its PKCE verifier).
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<Grant, ProviderError> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Grant, ProviderError> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// Starts a CIBA login: the practitioner's phone is asked.
    pub async fn backchannel(
        &self,
        scope: &str,
        login_hint: &str,
        binding_message: &str,
    ) -> Result<BackchannelRequest, ProviderError> {
        let m = self.metadata().await?;
        let Some(plain) = m.backchannel_authentication_endpoint.as_ref() else {
            return Err(ProviderError::Settings(
                "the provider offers no CIBA login (no backchannel_authentication_endpoint)".into(),
            ));
        };
        let endpoint = self.endpoint(
            plain,
            m.mtls_endpoint_aliases
                .as_ref()
                .and_then(|a| a.backchannel_authentication_endpoint.as_ref()),
        );
        let answer = self
            .post(
                endpoint,
                &[
                    ("scope", scope),
                    ("login_hint", login_hint),
                    ("binding_message", binding_message),
                ],
            )
            .await?;
        check(&answer)?;
        let b: BackchannelAnswer = serde_json::from_slice(&answer.body)
            .map_err(|e| ProviderError::BadAnswer(format!("backchannel answer: {e}")))?;
        if b.auth_req_id.is_empty() {
            return Err(ProviderError::BadAnswer("empty auth_req_id".into()));
        }
        Ok(BackchannelRequest {
            auth_req_id: b.auth_req_id,
            expires_in: b.expires_in.clamp(1, 3600),
            interval: b.interval.unwrap_or(5).clamp(1, 60),
        })
    }

    /// One poll of a CIBA request: tokens, or `authorization_pending`,
    /// `slow_down`, `access_denied`, `expired_token` as `Refused`.
    pub async fn poll_backchannel(&self, auth_req_id: &str) -> Result<Grant, ProviderError> {
        self.token(&[
            ("grant_type", "urn:openid:params:grant-type:ciba"),
            ("auth_req_id", auth_req_id),
        ])
        .await
    }

    /// Revokes a refresh token (RFC 7009), when the provider offers it.
    pub async fn revoke(&self, refresh_token: &str) -> Result<(), ProviderError> {
        let m = self.metadata().await?;
        let Some(plain) = m.revocation_endpoint.as_ref() else {
            return Ok(());
        };
        let endpoint = self.endpoint(
            plain,
            m.mtls_endpoint_aliases
                .as_ref()
                .and_then(|a| a.revocation_endpoint.as_ref()),
        );
        check(
            &self
                .post(
                    endpoint,
                    &[
                        ("token", refresh_token),
                        ("token_type_hint", "refresh_token"),
                    ],
                )
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn token_answers_are_read_and_checked() {
        let g = read_token_answer(&answer(
            200,
            r#"{"access_token":"abc.def","token_type":"Bearer","expires_in":240,"refresh_token":"r1","refresh_expires_in":1800}"#,
        ))
        .unwrap();
        assert_eq!(g.access_token.as_str(), "abc.def");
        assert_eq!(g.expires_in, 240);
        assert_eq!(g.refresh_token.as_deref().map(|s| s.as_str()), Some("r1"));
        assert_eq!(g.refresh_expires_in, Some(1800));
        assert!(!format!("{g:?}").contains("abc.def"));

        let mac = read_token_answer(&answer(200, r#"{"access_token":"a","token_type":"mac"}"#));
        assert!(matches!(mac, Err(ProviderError::BadAnswer(_))));
        let garbage = read_token_answer(&answer(200, "<html>"));
        assert!(matches!(garbage, Err(ProviderError::BadAnswer(_))));
        let spaces = read_token_answer(&answer(
            200,
            r#"{"access_token":"a b","token_type":"Bearer"}"#,
        ));
        assert!(matches!(spaces, Err(ProviderError::BadAnswer(_))));
    }

    #[test]
    fn oauth_errors_keep_their_code() {
        let e = read_token_answer(&answer(
            400,
            r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        ))
        .unwrap_err();
        assert_eq!(e.code(), Some("invalid_grant"));
        assert!(!e.is_transient());
        assert!(
            e.to_string()
                .contains("invalid_grant (grant request is invalid)")
        );
        let e = read_token_answer(&answer(503, "busy")).unwrap_err();
        assert!(e.is_transient());
        // Passing trouble, even with an OAuth body: the session goes on.
        for (status, body) in [
            (500, r#"{"error":"unknown_error"}"#),
            (429, ""),
            (400, r#"{"error":"temporarily_unavailable"}"#),
        ] {
            let e = read_token_answer(&answer(status, body)).unwrap_err();
            assert!(e.is_transient(), "{status} {body}");
        }
        let long = format!(r#"{{"error":"{}"}}"#, "x".repeat(10_000));
        let e = read_token_answer(&answer(400, &long)).unwrap_err();
        assert_eq!(e.code().map(str::len), Some(60));
        let e = read_token_answer(&answer(404, "")).unwrap_err();
        assert_eq!(e.code(), Some("http_404"));
    }

    #[test]
    fn discovery_must_name_the_configured_issuer() {
        let doc = r#"{"issuer":"https://psc.example/auth","token_endpoint":"https://psc.example/token",
            "backchannel_authentication_endpoint":"https://psc.example/bc"}"#;
        let m = Metadata::parse(doc.as_bytes(), "https://psc.example/auth/").unwrap();
        assert_eq!(m.token_endpoint, "https://psc.example/token");
        assert!(Metadata::parse(doc.as_bytes(), "https://other.example").is_err());
        let plain =
            r#"{"issuer":"https://psc.example","token_endpoint":"http://psc.example/token"}"#;
        assert!(Metadata::parse(plain.as_bytes(), "https://psc.example").is_err());
        assert!(Metadata::parse(b"{}", "https://psc.example").is_err());
    }
}
