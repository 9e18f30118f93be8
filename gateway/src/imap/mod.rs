//! Local IMAP for the practice's mail clients.
//!
//! The box answers the client itself until login (TLS with the box's
//! certificate, local accounts), then opens an IMAP session with the
//! operator in the practitioner's name (mutual TLS with the credential,
//! AUTHENTICATE EXTERNAL) and relays the conversation. Relaying keeps the
//! mailbox where MSSanté keeps it (the operator): flags, folders and sent
//! mail are the same from every client and from the operator's webmail,
//! and the box stores no copy of the mailbox.

mod command;
mod session;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use session::filter_capabilities;
pub use upstream::UpstreamImap;

use crate::credential::Credential;
use crate::smtp::Accounts;

/// What every local IMAP session needs.
pub struct ImapContext {
    pub hostname: String,
    pub accounts: Arc<Accounts>,
    pub tls: tokio_rustls::TlsAcceptor,
    pub upstream: UpstreamImap,
    pub credential: Arc<dyn Credential>,
    /// Longest wait for an upstream session before "try again later".
    pub upstream_wait: Duration,
    /// Longest silence of a logged-in client.
    pub idle_timeout: Duration,
    /// Longest time to log in.
    pub login_timeout: Duration,
}

/// Accepts connections until `shutdown`. `implicit`: TLS from the first
/// byte (port 993) rather than STARTTLS (port 143).
pub async fn serve(
    listener: TcpListener,
    context: Arc<ImapContext>,
    implicit: bool,
    max_connections: usize,
    shutdown: CancellationToken,
) {
    static SESSION: AtomicU64 = AtomicU64::new(1);
    let limit = Arc::new(Semaphore::new(max_connections));
    let mut sessions = JoinSet::new();
    loop {
        let (mut socket, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(peer = %peer, "too many IMAP connections");
            if !implicit {
                let _ = socket.write_all(b"* BYE Too many connections\r\n").await;
            }
            continue;
        };
        let _ = socket.set_nodelay(true);
        let id = SESSION.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("imap_session", session = id, peer = %peer.ip());
        let context = context.clone();
        let shutdown = shutdown.clone();
        sessions.spawn(
            async move {
                session::run(socket, context, implicit, shutdown).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    sessions.abort_all();
}
