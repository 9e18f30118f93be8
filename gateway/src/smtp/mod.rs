//! Local SMTP submission (RFC 5321/6409) for the practice's LAN.
//!
//! The listener only accepts connections and enforces the connection limit;
//! each connection is a [`session`] with its own span, and whatever ends one
//! session never touches another. Accepted messages go to the queue, which
//! answers only once they are durable.

mod accounts;
mod session;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use accounts::{Accounts, hash_password};

use crate::config::Config;
use crate::queue::Queue;
use crate::whitelist::Whitelist;

/// What every session needs, shared read-only.
pub struct SmtpContext {
    pub hostname: String,
    pub mailbox_domain: String,
    pub nil: String,
    pub max_message_size: usize,
    pub max_recipients: usize,
    pub idle_timeout: std::time::Duration,
    pub session_timeout: std::time::Duration,
    pub trusted_networks: Vec<crate::config::Network>,
    pub accounts: Arc<Accounts>,
    pub whitelist: Arc<Whitelist>,
    pub tls: tokio_rustls::TlsAcceptor,
    pub queue: Queue,
    /// Wakes delivery when a message arrives.
    pub delivery_wake: Arc<Notify>,
}

impl SmtpContext {
    pub fn from_config(
        config: &Config,
        whitelist: Arc<Whitelist>,
        tls: Arc<rustls::ServerConfig>,
        queue: Queue,
        delivery_wake: Arc<Notify>,
    ) -> SmtpContext {
        SmtpContext {
            hostname: config.smtp.hostname.clone(),
            mailbox_domain: crate::address::Address::parse(&config.mssante.mailbox)
                .map(|a| a.domain().to_string())
                .unwrap_or_default(),
            nil: config.mssante.nil.clone(),
            max_message_size: config.smtp.max_message_size,
            max_recipients: config.smtp.max_recipients,
            idle_timeout: config.smtp.idle_timeout(),
            session_timeout: config.smtp.session_timeout(),
            trusted_networks: config.smtp.trusted_networks.clone(),
            accounts: Arc::new(Accounts::new(&config.accounts)),
            whitelist,
            tls: tokio_rustls::TlsAcceptor::from(tls),
            queue,
            delivery_wake,
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_networks.iter().any(|n| n.contains(ip))
    }
}

/// Accepts connections until `shutdown`, then waits for open sessions.
pub async fn serve(
    listener: TcpListener,
    context: Arc<SmtpContext>,
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
                    // EMFILE and friends: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(peer = %peer, "too many connections");
            let _ = socket
                .write_all(b"421 4.7.0 Too many connections, try again later\r\n")
                .await;
            continue;
        };
        let _ = socket.set_nodelay(true);
        let id = SESSION.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("smtp_session", session = id, peer = %peer.ip());
        let context = context.clone();
        let shutdown = shutdown.clone();
        sessions.spawn(
            async move {
                session::run(socket, peer, context, shutdown).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    // Sessions in the middle of a transaction get a short grace period; a
    // client that did not get its 250 will retry, so nothing is lost.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    sessions.abort_all();
}
