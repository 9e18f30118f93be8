//! HTTPS on the LAN: a TCP listener, rustls with the box's certificate,
//! HTTP/1.1 per connection.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::app::ClientAddr;
use crate::config::Config;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Tls(#[from] facteur::tls::local::LocalTlsError),
    #[error("{0}: cannot listen: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
}

/// The certificate and key to serve: the configured ones, or the box's
/// self-signed pair in `state_dir/tls/` (generated the first time).
pub fn certificate_paths(config: &Config) -> Result<(PathBuf, PathBuf), ServerError> {
    match (&config.tls_certificate, &config.tls_key) {
        (Some(c), Some(k)) => Ok((c.clone(), k.clone())),
        _ => Ok(facteur::tls::local::ensure_box_certificate(
            &config.state_dir.join("tls"),
            &config.hostname,
        )?),
    }
}

pub fn tls_acceptor(config: &Config) -> Result<TlsAcceptor, ServerError> {
    let (cert, key) = certificate_paths(config)?;
    let base = facteur::tls::local::server_config(&cert, &key)?;
    let mut server = (*base).clone();
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

pub async fn bind(config: &Config) -> Result<TcpListener, ServerError> {
    TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServerError::Listen(config.listen, e))
}

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, app: Router) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(client = %peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(client = %peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = app.map_request(
                move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ClientAddr(peer));
                    request
                },
            );
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(15))
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                .await;
            if let Err(e) = served {
                tracing::debug!(client = %peer, error = %e, "connection ended");
            }
        });
    }
}
