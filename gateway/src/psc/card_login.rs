//! Login with the CPS card in the box's reader: the authorization code
//! flow with PKCE, in which the box is its own user agent. Every request
//! to the provider goes over TLS presenting the card's certificate, the
//! handshake signed on the card; the provider's login step recognises the
//! practitioner by it, as it does for a browser with the card middleware.
//! The box follows the redirects (keeping the provider's cookies) until
//! the provider sends it back to the redirect URI with a code.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::Method;
use rand::RngCore;
use url::Url;
use zeroize::Zeroizing;

use super::http::{ProviderHttp, https_url};
use super::provider::ProviderError;

/// Redirects followed before giving up (a login is three or four).
const MAX_HOPS: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CardLoginError {
    #[error("{0}")]
    Provider(#[from] ProviderError),
    /// The provider answered the login with an error for the redirect URI.
    #[error("Pro Santé Connect refused the card login: {code}{}", .description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        code: String,
        description: Option<String>,
    },
    /// A page instead of a redirect: the provider wants someone at a browser.
    #[error("Pro Santé Connect asks for a step the box cannot take alone (HTTP {status} at {at})")]
    NeedsBrowser { status: u16, at: String },
    #[error("Pro Santé Connect's login went wrong: {0}")]
    Flow(String),
}

impl CardLoginError {
    pub fn is_transient(&self) -> bool {
        matches!(self, CardLoginError::Provider(e) if e.is_transient())
    }
}

/// PKCE (RFC 7636) and the values that tie the answer to the request.
pub struct Challenge {
    pub verifier: Zeroizing<String>,
    pub state: String,
    pub nonce: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Challenge {
    pub fn new() -> Challenge {
        Challenge {
            verifier: Zeroizing::new(random_token()),
            state: random_token(),
            nonce: random_token(),
        }
    }

    /// `BASE64URL(SHA256(verifier))`, the S256 method.
    pub fn code_challenge(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.verifier.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

impl Default for Challenge {
    fn default() -> Self {
        Challenge::new()
    }
}

/// The authorization request's address.
pub fn authorization_url(
    endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    challenge: &Challenge,
) -> Result<Url, ProviderError> {
    let mut url = https_url(endpoint)?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", &challenge.state)
        .append_pair("nonce", &challenge.nonce)
        .append_pair("code_challenge", &challenge.code_challenge())
        .append_pair("code_challenge_method", "S256");
    Ok(url)
}

/// Whether `location` is the redirect URI (same scheme, host, port, path).
fn is_redirect_uri(location: &Url, redirect_uri: &Url) -> bool {
    location.scheme() == redirect_uri.scheme()
        && location.host_str() == redirect_uri.host_str()
        && location.port_or_known_default() == redirect_uri.port_or_known_default()
        && location.path() == redirect_uri.path()
}

/// Reads the code from the redirect back to the box.
pub fn read_callback(location: &Url, state: &str) -> Result<Zeroizing<String>, CardLoginError> {
    let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
    if let Some(code) = params.get("error") {
        return Err(CardLoginError::Refused {
            code: code.chars().take(60).collect(),
            description: params
                .get("error_description")
                .map(|d| d.chars().take(200).collect()),
        });
    }
    if params.get("state").map(String::as_str) != Some(state) {
        return Err(CardLoginError::Flow(
            "the answer does not carry the request's state".into(),
        ));
    }
    match params.get("code") {
        Some(code) if !code.is_empty() => Ok(Zeroizing::new(code.clone())),
        _ => Err(CardLoginError::Flow("the answer carries no code".into())),
    }
}

/// Cookies per host, as the provider's login pages set them.
#[derive(Default)]
struct CookieJar(HashMap<String, Vec<(String, String)>>);

impl CookieJar {
    fn store(&mut self, host: &str, set_cookie: &str) {
        let Some((name, value)) = set_cookie
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('='))
        else {
            return;
        };
        let (name, value) = (name.trim().to_string(), value.trim().to_string());
        let cookies = self.0.entry(host.to_string()).or_default();
        cookies.retain(|(n, _)| *n != name);
        // An expired cookie is how a server deletes one.
        let deleted = set_cookie
            .to_ascii_lowercase()
            .split(';')
            .any(|a| a.trim() == "max-age=0");
        if !deleted && !value.is_empty() {
            cookies.push((name, value));
        }
    }

    fn header(&self, host: &str) -> Option<String> {
        let cookies = self.0.get(host)?;
        if cookies.is_empty() {
            return None;
        }
        Some(
            cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// Runs the authorization request over `card_http` (TLS with the card)
/// and returns the authorization code. Redirects are followed only to
/// `allowed_hosts` (the provider's): the card is never shown elsewhere.
pub async fn authorize(
    card_http: &ProviderHttp,
    start: Url,
    redirect_uri: &str,
    state: &str,
    allowed_hosts: &[String],
) -> Result<Zeroizing<String>, CardLoginError> {
    let redirect = Url::parse(redirect_uri)
        .map_err(|_| CardLoginError::Flow(format!("redirect URI `{redirect_uri}` is not a URL")))?;
    let mut jar = CookieJar::default();
    let mut at = start;
    for _ in 0..MAX_HOPS {
        let host = at.host_str().unwrap_or_default().to_string();
        let mut headers = vec![("accept", "text/html,application/json".to_string())];
        if let Some(cookies) = jar.header(&host) {
            headers.push(("cookie", cookies));
        }
        let answer = card_http
            .send(Method::GET, &at, &headers, None)
            .await
            .map_err(ProviderError::from)?;
        for value in answer.header_values("set-cookie") {
            jar.store(&host, &value);
        }
        if !(300..400).contains(&answer.status) {
            if answer.status >= 500 {
                return Err(ProviderError::ServerError(answer.status).into());
            }
            if let Ok(e) = serde_json::from_slice::<serde_json::Value>(&answer.body)
                && let Some(code) = e.get("error").and_then(|c| c.as_str())
            {
                return Err(CardLoginError::Refused {
                    code: code.to_string(),
                    description: e
                        .get("error_description")
                        .and_then(|d| d.as_str())
                        .map(|d| d.chars().take(200).collect()),
                });
            }
            if answer.status >= 400 {
                return Err(CardLoginError::Refused {
                    code: format!("http_{}", answer.status),
                    description: Some(format!("{}{}", host, at.path())),
                });
            }
            return Err(CardLoginError::NeedsBrowser {
                status: answer.status,
                at: format!("{}{}", host, at.path()),
            });
        }
        let location = answer
            .header_values("location")
            .into_iter()
            .next()
            .ok_or_else(|| CardLoginError::Flow("a redirect without a location".into()))?;
        let next = at
            .join(&location)
            .map_err(|_| CardLoginError::Flow("a redirect to an unreadable address".into()))?;
        if is_redirect_uri(&next, &redirect) {
            return read_callback(&next, state);
        }
        if next.scheme() != "https" {
            return Err(CardLoginError::Flow(
                "the provider redirected to an address that is not https".into(),
            ));
        }
        let next_host = next.host_str().unwrap_or_default();
        if !allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(next_host))
        {
            return Err(CardLoginError::Flow(format!(
                "the provider redirected to another server ({next_host}); the card is not shown there"
            )));
        }
        at = next;
    }
    Err(CardLoginError::Flow(format!(
        "more than {MAX_HOPS} redirects"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let c = Challenge {
            verifier: Zeroizing::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into()),
            state: String::new(),
            nonce: String::new(),
        };
        assert_eq!(
            c.code_challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let fresh = Challenge::new();
        assert_eq!(fresh.verifier.len(), 43);
        assert_ne!(fresh.state, Challenge::new().state);
    }

    #[test]
    fn the_authorization_request_carries_everything() {
        let c = Challenge::new();
        let url = authorization_url(
            "https://psc.example/auth?x=1",
            "facteur",
            "https://facteur.local/psc/retour",
            "openid scope_all",
            &c,
        )
        .unwrap();
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["x"], "1");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "openid scope_all");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], c.state);
        assert!(authorization_url("http://psc.example/auth", "f", "r", "openid", &c).is_err());
    }

    #[test]
    fn callbacks_give_the_code_or_the_error() {
        let ok = Url::parse("https://facteur.local/psc/retour?code=c1&state=s1").unwrap();
        assert_eq!(read_callback(&ok, "s1").unwrap().as_str(), "c1");
        assert!(matches!(
            read_callback(&ok, "other"),
            Err(CardLoginError::Flow(_))
        ));
        let refused = Url::parse(
            "https://facteur.local/psc/retour?error=access_denied&error_description=carte+inconnue&state=s1",
        )
        .unwrap();
        match read_callback(&refused, "s1") {
            Err(CardLoginError::Refused { code, description }) => {
                assert_eq!(code, "access_denied");
                assert_eq!(description.as_deref(), Some("carte inconnue"));
            }
            _ => panic!("expected a refusal"),
        }
        let redirect = Url::parse("https://facteur.local/psc/retour").unwrap();
        assert!(is_redirect_uri(&ok, &redirect));
        let elsewhere = Url::parse("https://facteur.local:444/psc/retour?code=x").unwrap();
        assert!(!is_redirect_uri(&elsewhere, &redirect));
    }

    #[test]
    fn cookies_are_kept_per_host_and_replaced() {
        let mut jar = CookieJar::default();
        jar.store("psc", "_interaction=abc; path=/interaction; httponly");
        jar.store("psc", "_session=s1; path=/");
        jar.store("psc", "_interaction=def; path=/");
        assert_eq!(
            jar.header("psc").as_deref(),
            Some("_session=s1; _interaction=def")
        );
        jar.store("psc", "_session=; Max-Age=0");
        assert_eq!(jar.header("psc").as_deref(), Some("_interaction=def"));
        assert_eq!(jar.header("other"), None);
        jar.store("psc", "garbage");
        assert_eq!(jar.header("psc").as_deref(), Some("_interaction=def"));
    }
}
