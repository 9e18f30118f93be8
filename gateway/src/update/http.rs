//! HTTPS to the fleet server: JSON requests and resumable downloads over
//! hyper and rustls, one connection per request (a box polls every few
//! minutes at most; nothing is gained by keeping connections).
//!
//! Only `https://` is spoken: the box's identity (target token or client
//! certificate) and the bundles' metadata never cross the network in
//! clear.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::AsyncWriteExt;

/// Largest JSON answer read (a deployment is a few kilobytes).
const MAX_JSON: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("URL `{0}`: {1}")]
    Url(String, &'static str),
    #[error("cannot reach the fleet server at {address}: {message}")]
    Unreachable { address: String, message: String },
    #[error("the fleet server did not answer within {0} s")]
    Timeout(u64),
    /// 4xx: the request is wrong or not allowed; repeating it would only
    /// spend the practice's data allowance.
    #[error("the fleet server refused the request: HTTP {0}")]
    Refused(u16),
    #[error("the fleet server failed: HTTP {0}")]
    ServerError(u16),
    #[error("HTTP exchange with the fleet server failed: {0}")]
    Protocol(String),
    #[error("{0}: {1}")]
    File(String, std::io::Error),
    #[error("TLS settings for the fleet server: {0}")]
    Tls(String),
}

impl HttpError {
    /// Worth trying again later (network, timeout, 5xx, cut transfer).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HttpError::Unreachable { .. }
                | HttpError::Timeout(_)
                | HttpError::ServerError(_)
                | HttpError::Protocol(_)
        )
    }
}

/// How the box proves who it is to the fleet server.
#[derive(Clone)]
pub enum Authorization {
    /// `Authorization: TargetToken …`, the per-box token.
    TargetToken(String),
    /// `Authorization: GatewayToken …`, the tenant-wide token.
    GatewayToken(String),
    /// Only the TLS client certificate.
    Certificate,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens are secrets: never in logs.
        f.write_str(match self {
            Authorization::TargetToken(_) => "TargetToken(…)",
            Authorization::GatewayToken(_) => "GatewayToken(…)",
            Authorization::Certificate => "Certificate",
        })
    }
}

/// A URL split for hyper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// Path and query.
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, HttpError> {
        let bad = |why| HttpError::Url(url.to_string(), why);
        let uri: hyper::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad("only https:// is allowed"));
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(Target {
            host: host.to_string(),
            port: uri.port_u16().unwrap_or(443),
            path: uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
        })
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The fleet server's HTTPS client.
#[derive(Clone)]
pub struct FleetHttp {
    tls: tokio_rustls::TlsConnector,
    authorization: Authorization,
    timeout: Duration,
}

/// Builds the TLS settings: the trust anchors given (or the public web
/// CAs) and, when given, the box's client certificate.
pub fn tls_config(
    trust_anchors: Option<&Path>,
    client_certificate: Option<(&Path, &Path)>,
) -> Result<rustls::ClientConfig, HttpError> {
    let roots = match trust_anchors {
        Some(path) => crate::tls::mssante::load_trust_anchors(path)
            .map_err(|e| HttpError::Tls(e.to_string()))?,
        None => rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| HttpError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let config = match client_certificate {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let file = |p: &Path, e: &dyn std::fmt::Display| {
                HttpError::Tls(format!("{}: {e}", p.display()))
            };
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| file(cert, &e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| file(cert, &e))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file(key, &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| HttpError::Tls(e.to_string()))?
        }
    };
    Ok(config)
}

impl FleetHttp {
    pub fn new(
        tls: rustls::ClientConfig,
        authorization: Authorization,
        timeout: Duration,
    ) -> FleetHttp {
        FleetHttp {
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            authorization,
            timeout,
        }
    }

    /// GET a JSON resource.
    pub async fn get_json(&self, url: &str) -> Result<Vec<u8>, HttpError> {
        self.json(Method::GET, url, None).await
    }

    /// POST or PUT a JSON body; the answer's body is not needed.
    pub async fn send_json(
        &self,
        method: Method,
        url: &str,
        body: &impl serde::Serialize,
    ) -> Result<(), HttpError> {
        let body = serde_json::to_vec(body).map_err(|e| HttpError::Protocol(e.to_string()))?;
        self.json(method, url, Some(body)).await.map(|_| ())
    }

    async fn json(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, HttpError> {
        let target = Target::parse(url)?;
        let mut request = self
            .request(&target, method)
            .header("accept", "application/hal+json, application/json");
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| HttpError::Protocol(e.to_string()))?;
        let timeout = self.timeout;
        let exchange = async {
            let response = self.send(&target, request).await?;
            check_status(response.status())?;
            let bytes = Limited::new(response.into_body(), MAX_JSON)
                .collect()
                .await
                .map_err(|e| HttpError::Protocol(e.to_string()))?
                .to_bytes();
            Ok(bytes.to_vec())
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout(timeout.as_secs()))?
    }

    /// Downloads `url` into `file`, going on from the file's present
    /// length with an HTTP range request. Returns the file's final length.
    /// A server that ignores the range (200 instead of 206) makes the file
    /// start again from zero. The time limit applies to each read, not to
    /// the whole transfer: a slow link is fine, a dead one is not.
    pub async fn download(&self, url: &str, file: &Path) -> Result<u64, HttpError> {
        let target = Target::parse(url)?;
        let io_error = |e: std::io::Error| HttpError::File(file.display().to_string(), e);
        let have = match tokio::fs::metadata(file).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_error(e)),
        };
        let mut request = self.request(&target, Method::GET);
        if have > 0 {
            request = request.header("range", format!("bytes={have}-"));
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .map_err(|e| HttpError::Protocol(e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.send(&target, request))
            .await
            .map_err(|_| HttpError::Timeout(self.timeout.as_secs()))??;
        let status = response.status();
        let append = match status {
            StatusCode::PARTIAL_CONTENT if have > 0 => {
                check_content_range(&response, have)?;
                true
            }
            // Nothing left to fetch: the file is complete already.
            StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => return Ok(have),
            s => {
                check_status(s)?;
                false
            }
        };
        let expected = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut out = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(file)
            .await
            .map_err(io_error)?;
        let mut body = response.into_body();
        let mut received = 0u64;
        loop {
            let frame = tokio::time::timeout(self.timeout, body.frame())
                .await
                .map_err(|_| HttpError::Timeout(self.timeout.as_secs()))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| HttpError::Protocol(format!("transfer cut: {e}")))?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data).await.map_err(io_error)?;
                received += data.len() as u64;
            }
        }
        out.flush().await.map_err(io_error)?;
        out.sync_all().await.map_err(io_error)?;
        if let Some(expected) = expected
            && received < expected
        {
            return Err(HttpError::Protocol(format!(
                "transfer cut after {received} of {expected} bytes"
            )));
        }
        Ok(if append { have + received } else { received })
    }

    fn request(&self, target: &Target, method: Method) -> hyper::http::request::Builder {
        let mut request = Request::builder()
            .method(method)
            .uri(&target.path)
            .header("host", target.authority())
            .header("user-agent", concat!("facteur/", env!("CARGO_PKG_VERSION")));
        match &self.authorization {
            Authorization::TargetToken(token) => {
                request = request.header("authorization", format!("TargetToken {token}"));
            }
            Authorization::GatewayToken(token) => {
                request = request.header("authorization", format!("GatewayToken {token}"));
            }
            Authorization::Certificate => {}
        }
        request
    }

    async fn send(
        &self,
        target: &Target,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, HttpError> {
        let address = target.authority();
        let unreachable = |message: String| HttpError::Unreachable {
            address: address.clone(),
            message,
        };
        let connect = async {
            let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let name = ServerName::try_from(target.host.clone())
                .map_err(|_| HttpError::Url(target.host.clone(), "not a host name"))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| unreachable(format!("TLS: {e}")))?;
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| HttpError::Protocol(e.to_string()))?;
            // The connection lives as long as the response body is read.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            sender
                .send_request(request)
                .await
                .map_err(|e| HttpError::Protocol(e.to_string()))
        };
        tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| HttpError::Timeout(self.timeout.as_secs()))?
    }
}

fn check_status(status: StatusCode) -> Result<(), HttpError> {
    if status.is_success() {
        Ok(())
    } else if status.is_client_error() {
        Err(HttpError::Refused(status.as_u16()))
    } else {
        Err(HttpError::ServerError(status.as_u16()))
    }
}

/// A 206 must go on exactly where the file stops.
fn check_content_range(response: &Response<Incoming>, have: u64) -> Result<(), HttpError> {
    let start = response
        .headers()
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes "))
        .and_then(|v| v.split('-').next())
        .and_then(|v| v.parse::<u64>().ok());
    match start {
        Some(start) if start == have => Ok(()),
        _ => Err(HttpError::Protocol(format!(
            "the server resumed at the wrong place (asked from byte {have})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_are_accepted() {
        let t = Target::parse("https://fleet.example:8443/DEFAULT/controller/v1/box?x=1").unwrap();
        assert_eq!(
            t,
            Target {
                host: "fleet.example".into(),
                port: 8443,
                path: "/DEFAULT/controller/v1/box?x=1".into()
            }
        );
        assert_eq!(Target::parse("https://h/").unwrap().port, 443);
        assert!(matches!(
            Target::parse("http://fleet.example/x"),
            Err(HttpError::Url(_, "only https:// is allowed"))
        ));
        assert!(Target::parse("not a url").is_err());
    }

    #[test]
    fn client_errors_are_final_and_server_errors_transient() {
        let refused = check_status(StatusCode::NOT_FOUND).unwrap_err();
        assert!(matches!(refused, HttpError::Refused(404)));
        assert!(!refused.is_transient());
        assert!(
            check_status(StatusCode::BAD_GATEWAY)
                .unwrap_err()
                .is_transient()
        );
        assert!(check_status(StatusCode::OK).is_ok());
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let text = format!("{:?}", Authorization::TargetToken("s3cr3t".into()));
        assert!(!text.contains("s3cr3t"));
    }
}
