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

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use session::filter_capabilities;
pub use upstream::{UpstreamError, UpstreamImap};

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
    let limits = crate::listener::Limits {
        max_connections,
        // On the TLS port the client expects a handshake, not text.
        refusal: if implicit {
            b""
        } else {
            b"* BYE Too many connections\r\n"
        },
        grace: Duration::from_secs(5),
    };
    let session_shutdown = shutdown.clone();
    crate::listener::serve(
        listener,
        limits,
        shutdown,
        |peer: SocketAddr| {
            let id = SESSION.fetch_add(1, Ordering::Relaxed);
            tracing::info_span!("imap_session", session = id, peer = %peer.ip())
        },
        move |socket, _peer| {
            session::run(socket, context.clone(), implicit, session_shutdown.clone())
        },
    )
    .await;
}
