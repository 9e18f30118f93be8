//! HTTPS exchanges with the OpenID provider: one connection per request
//! over hyper and rustls (a login or a refresh every few minutes; nothing
//! is gained by keeping connections, and each card login must present
//! the card on its own connection anyway).

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use url::Url;
use zeroize::Zeroizing;

/// Largest answer read: discovery documents and token answers are a few
/// kilobytes, a login page a few dozen.
const MAX_BODY: usize = 512 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address without its query (which may carry login parameters).
    #[error("address `{0}`: {1}")]
    Url(String, &'static str),
    #[error("cannot reach Pro Santé Connect at {address}: {message}")]
    Unreachable { address: String, message: String },
    #[error("Pro Santé Connect did not answer within {0} s")]
    Timeout(u64),
    #[error("HTTP exchange with Pro Santé Connect failed: {0}")]
    Protocol(String),
}

/// What came back. No `Debug`: the body may hold tokens.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    /// Wiped when dropped (token answers).
    pub body: Zeroizing<Vec<u8>>,
}

impl Answer {
    /// Every value of a header (`set-cookie` comes several times).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

/// Checks that `address` is an https URL with a host.
pub fn https_url(address: &str) -> Result<Url, HttpError> {
    let url = Url::parse(address).map_err(|_| HttpError::Url(address.into(), "not a URL"))?;
    if url.scheme() != "https" {
        return Err(HttpError::Url(address.into(), "only https:// is allowed"));
    }
    if url.host_str().is_none() {
        return Err(HttpError::Url(address.into(), "no host"));
    }
    Ok(url)
}

/// One HTTPS client: a TLS configuration (which certificate, if any, the
/// box presents) and a time limit.
#[derive(Clone)]
pub struct ProviderHttp {
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
}

impl ProviderHttp {
    pub fn new(tls: Arc<rustls::ClientConfig>, timeout: Duration) -> ProviderHttp {
        ProviderHttp {
            tls: tokio_rustls::TlsConnector::from(tls),
            timeout,
        }
    }

    /// Sends a request; `headers` are added as given. Redirects are not
    /// followed: the card login reads them itself.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, HttpError> {
        let limit = self.timeout;
        tokio::time::timeout(limit, self.exchange(method, url, headers, body))
            .await
            .map_err(|_| HttpError::Timeout(limit.as_secs()))?
    }

    async fn exchange(
        &self,
        method: Method,
        url: &Url,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, HttpError> {
        let host = url
            .host_str()
            .ok_or_else(|| HttpError::Url(without_query(url), "no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(443);
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or(host)),
            None => url.host_str().unwrap_or(host).to_string(),
        };
        let unreachable = |message: String| HttpError::Unreachable {
            address: format!("{host}:{port}"),
            message,
        };
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| HttpError::Url(without_query(url), "not a host name"))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| unreachable(format!("TLS: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| HttpError::Protocol(e.to_string()))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", authority)
            .header("user-agent", concat!("facteur/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| HttpError::Protocol(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| HttpError::Protocol(e.to_string()))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| HttpError::Protocol(e.to_string()))?
            .to_bytes()
            .to_vec()
            .into();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

fn without_query(url: &Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.path()
    )
}

/// `application/x-www-form-urlencoded` body of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_addresses_are_used() {
        assert!(https_url("https://psc.example/auth/realms/x").is_ok());
        assert!(matches!(
            https_url("http://psc.example/"),
            Err(HttpError::Url(_, "only https:// is allowed"))
        ));
        assert!(https_url("psc.example").is_err());
    }

    #[test]
    fn forms_are_url_encoded() {
        let body = form(&[
            ("grant_type", "refresh_token"),
            ("scope", "openid scope_all"),
        ]);
        assert_eq!(body, b"grant_type=refresh_token&scope=openid+scope_all");
    }
}
