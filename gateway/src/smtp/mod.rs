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

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

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
    /// The health directory, when one was imported: recipients it does not
    /// list are accepted with a warning in the reply.
    pub directory: Option<Arc<crate::directory::Directory>>,
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
            directory: None,
        }
    }

    /// Whether the directory lists `address`; `None` when there is no
    /// directory to ask (nothing imported, or it cannot be read).
    pub async fn listed_in_directory(&self, address: &str) -> Option<bool> {
        let directory = self.directory.clone()?;
        let address = address.to_string();
        tokio::task::spawn_blocking(move || {
            if !directory.status().is_ok_and(|s| s.entries > 0) {
                return None;
            }
            directory.lookup(&address).ok().map(|e| e.is_some())
        })
        .await
        .ok()
        .flatten()
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
    let limits = crate::listener::Limits {
        max_connections,
        refusal: b"421 4.7.0 Too many connections, try again later\r\n",
        // Sessions in the middle of a transaction get a short grace
        // period; a client that did not get its 250 will retry, so
        // nothing is lost.
        grace: std::time::Duration::from_secs(10),
    };
    let session_shutdown = shutdown.clone();
    crate::listener::serve(
        listener,
        limits,
        shutdown,
        |peer: SocketAddr| {
            let id = SESSION.fetch_add(1, Ordering::Relaxed);
            tracing::info_span!("smtp_session", session = id, peer = %peer.ip())
        },
        move |socket, peer| session::run(socket, peer, context.clone(), session_shutdown.clone()),
    )
    .await;
}
