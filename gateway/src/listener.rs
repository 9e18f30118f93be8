//! The accept loop shared by the local SMTP and IMAP servers: a connection
//! limit, one task and one span per connection, and a bounded wait for open
//! sessions at shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How a server treats its connections.
pub struct Limits {
    pub max_connections: usize,
    /// Written to a connection refused for the limit (empty: just close).
    pub refusal: &'static [u8],
    /// How long open sessions may finish after shutdown.
    pub grace: Duration,
}

/// Accepts connections until `shutdown`; `session` runs each one inside
/// the span `span` makes for it.
pub async fn serve<S, F>(
    listener: TcpListener,
    limits: Limits,
    shutdown: CancellationToken,
    span: impl Fn(SocketAddr) -> tracing::Span,
    session: S,
) where
    S: Fn(TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut sessions = JoinSet::new();
    loop {
        let (mut socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(peer = %peer, "too many connections");
            if !limits.refusal.is_empty() {
                let _ = socket.write_all(limits.refusal).await;
            }
            continue;
        };
        let _ = socket.set_nodelay(true);
        let run = session(socket, peer);
        sessions.spawn(
            async move {
                run.await;
                drop(permit);
            }
            .instrument(span(peer)),
        );
    }
    let _ = tokio::time::timeout(limits.grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    sessions.abort_all();
}
