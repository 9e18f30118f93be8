//! The fetcher: watches the practice's MSSanté inbox at the operator and
//! exports each new message to the import folder.
//!
//! One long-lived IMAP session, authenticated like the SMTP side (mutual
//! TLS with the credential, AUTHENTICATE EXTERNAL): a card signature is
//! paid once, not per check. New mail is noticed with IDLE (RFC 2177) when
//! the operator offers it, else by polling. A message is exported, then
//! flagged upstream with a keyword so it is not exported twice; it is
//! deleted upstream only when the settings say so.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_imap::extensions::idle::IdleResponse;
use futures_util::StreamExt;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::export::{ExportLimits, export_message};
use super::receipts::{self, Incoming};
use crate::config::UpstreamTls;
use crate::credential::Credential;
use crate::queue::tracking::Tracking;
use crate::queue::{Envelope, Queue, QueueId, now_unix};
use crate::whitelist::Whitelist;

type Session = async_imap::Session<TlsStream<TcpStream>>;

/// Settings of the fetcher (from `[inbound]`).
#[derive(Debug, Clone)]
pub struct FetcherSettings {
    pub host: String,
    pub port: u16,
    pub tls: UpstreamTls,
    /// Name checked in the operator's certificate (None: `host`).
    pub server_name: Option<String>,
    pub mailbox: String,
    pub import_dir: PathBuf,
    /// IMAP keyword set on exported messages.
    pub keyword: String,
    /// Longest time between two looks at the mailbox (also the IDLE renewal).
    pub poll_interval: Duration,
    pub use_idle: bool,
    pub delete_after_export: bool,
    pub connect_timeout: Duration,
    pub limits: ExportLimits,
    /// Answer `Disposition-Notification-To` with a read receipt.
    pub send_receipts: bool,
    /// After this, a receipt asked for one of our messages and not
    /// received is "no answer".
    pub receipt_timeout: Duration,
    /// The box's MSSanté address and name (receipts, notices).
    pub address: String,
    pub hostname: String,
    pub reports_maildir: PathBuf,
}

/// What the fetcher needs besides its settings.
pub struct FetcherLinks {
    pub tracking: Arc<Tracking>,
    pub queue: Queue,
    pub whitelist: Arc<Whitelist>,
    /// Wakes delivery when a receipt is queued.
    pub delivery_wake: Arc<Notify>,
    /// Each exported message is recorded (its folder name, never its
    /// sender or subject).
    pub audit: Option<crate::audit::Audit>,
}

/// What the status page shows of the fetcher.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FetcherStatus {
    /// "starting", "watching", "credential_unavailable" or "error".
    pub state: String,
    pub exported: u64,
    pub failed: u64,
    pub last_error: Option<String>,
    pub import_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("TLS with the operator's IMAP server: {0}")]
    Tls(std::io::Error),
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("the operator refused AUTHENTICATE EXTERNAL: {0}")]
    Authenticate(String),
    #[error("timed out: {0}")]
    Timeout(&'static str),
    #[error("the credential became unavailable")]
    CredentialGone,
    #[error("{0}")]
    Config(String),
}

impl FetchError {
    /// The operator could not be reached at all (as opposed to a refusal
    /// or a protocol error once connected).
    fn is_unreachable(&self) -> bool {
        matches!(self, FetchError::Connect(..) | FetchError::Timeout(_))
    }
}

pub struct Fetcher {
    settings: FetcherSettings,
    links: FetcherLinks,
    tls: Arc<ClientConfig>,
    credential: Arc<dyn Credential>,
    /// Notified when the credential's state changes (card events).
    credential_changed: Arc<Notify>,
    exported: AtomicU64,
    failed: AtomicU64,
    state: Mutex<(String, Option<String>)>,
    /// Since when the operator's IMAP server cannot be reached, if so.
    unreachable_since: Mutex<Option<Instant>>,
}

/// The sender's address of a raw message, or an empty string.
fn sender_of(raw: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse_headers(raw)
        .and_then(|m| {
            m.from()
                .and_then(|f| f.first())
                .and_then(|a| a.address())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// SASL EXTERNAL: the identity is the TLS client certificate; the
/// response is empty (no authorization identity).
struct External;

impl async_imap::Authenticator for External {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl Fetcher {
    pub fn new(
        settings: FetcherSettings,
        links: FetcherLinks,
        tls: Arc<ClientConfig>,
        credential: Arc<dyn Credential>,
        credential_changed: Arc<Notify>,
    ) -> Arc<Fetcher> {
        Arc::new(Fetcher {
            settings,
            links,
            tls,
            credential,
            credential_changed,
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            state: Mutex::new(("starting".into(), None)),
            unreachable_since: Mutex::new(None),
        })
    }

    pub fn status(&self) -> FetcherStatus {
        let (state, last_error) = self
            .state
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|_| ("error".into(), None));
        FetcherStatus {
            state,
            exported: self.exported.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            last_error,
            import_dir: self.settings.import_dir.clone(),
        }
    }

    /// Since when the operator's IMAP server cannot be reached, if so.
    pub fn operator_unreachable_since(&self) -> Option<Instant> {
        *self.unreachable_since.lock().ok()?
    }

    /// Ends the wait after a failure and connects again now.
    pub fn retry_now(&self) {
        self.credential_changed.notify_one();
    }

    fn set_state(&self, state: &str, error: Option<String>) {
        if let Ok(mut s) = self.state.lock() {
            let keep = if error.is_none() && state != "watching" {
                s.1.take()
            } else {
                error
            };
            *s = (state.into(), keep);
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if let Err(reason) = self.credential.availability() {
                self.set_state("credential_unavailable", Some(reason));
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.credential_changed.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                }
                continue;
            }
            let span = tracing::info_span!("imap_upstream", host = %self.settings.host);
            match self.watch(&shutdown).instrument(span).await {
                Ok(()) => break,
                Err(FetchError::CredentialGone) => {
                    failures = 0;
                    continue;
                }
                Err(e) => {
                    failures += 1;
                    let delay =
                        Duration::from_secs(2u64.saturating_pow(failures.min(9))).min(MAX_BACKOFF);
                    tracing::warn!(error = %e, retry_in_secs = delay.as_secs(), "inbox watch failed");
                    self.set_state("error", Some(e.to_string()));
                    if e.is_unreachable()
                        && let Ok(mut since) = self.unreachable_since.lock()
                    {
                        since.get_or_insert_with(Instant::now);
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = self.credential_changed.notified() => {}
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// One authenticated session: sync, then wait for news, until shutdown
    /// (Ok) or a failure (Err).
    async fn watch(&self, shutdown: &CancellationToken) -> Result<(), FetchError> {
        let mut session = self.connect().await?;
        let mailbox = session.select(&self.settings.mailbox).await?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        let idle = self.settings.use_idle && session.capabilities().await?.has_str("IDLE");
        tracing::info!(
            mailbox = %self.settings.mailbox,
            idle,
            "watching the MSSanté inbox"
        );
        self.set_state("watching", None);
        if let Ok(mut since) = self.unreachable_since.lock() {
            *since = None;
        }
        loop {
            self.sync(&mut session, validity).await?;
            if shutdown.is_cancelled() {
                let _ = session.logout().await;
                return Ok(());
            }
            if self.credential.availability().is_err() {
                // The card went: stop using the session opened in its name.
                let _ = session.logout().await;
                return Err(FetchError::CredentialGone);
            }
            if idle {
                let mut handle = session.idle();
                handle.init().await?;
                let stop_reason = {
                    let (wait, stop) = handle.wait_with_timeout(self.settings.poll_interval);
                    tokio::pin!(wait);
                    tokio::select! {
                        r = &mut wait => Some(r?),
                        _ = shutdown.cancelled() => { drop(stop); None }
                        _ = self.credential_changed.notified() => { drop(stop); None }
                    }
                };
                if let Some(IdleResponse::NewData(_)) = stop_reason {
                    tracing::debug!("new mail announced");
                }
                session = handle.done().await?;
            } else {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = self.credential_changed.notified() => {}
                    _ = tokio::time::sleep(self.settings.poll_interval) => {}
                }
                session.noop().await?;
            }
        }
    }

    /// Exports every message not yet flagged with the keyword.
    async fn sync(&self, session: &mut Session, validity: u32) -> Result<(), FetchError> {
        self.expire_receipts().await;
        let keyword = &self.settings.keyword;
        let mut uids: Vec<u32> = session
            .uid_search(format!("UNKEYWORD {keyword}"))
            .await?
            .into_iter()
            .collect();
        uids.sort_unstable();
        for uid in uids {
            let span = tracing::info_span!("inbound_message", uid);
            self.export_one(session, validity, uid)
                .instrument(span)
                .await?;
        }
        Ok(())
    }

    async fn export_one(
        &self,
        session: &mut Session,
        validity: u32,
        uid: u32,
    ) -> Result<(), FetchError> {
        let raw = {
            let mut fetches = session.uid_fetch(uid.to_string(), "BODY.PEEK[]").await?;
            let mut raw = None;
            while let Some(fetch) = fetches.next().await {
                let fetch = fetch?;
                if fetch.uid == Some(uid)
                    && let Some(body) = fetch.body()
                {
                    raw = Some(body.to_vec());
                }
            }
            raw
        };
        let Some(raw) = raw else {
            // Expunged meanwhile by another client.
            return Ok(());
        };
        let incoming = receipts::classify(&raw);
        if let Incoming::Report(items) = &incoming {
            // A receipt for a message we sent: tracking, not the import folder.
            self.apply_reports(items.clone()).await;
            return self.flag(session, uid).await;
        }
        let key = format!("{validity}-{uid:010}");
        let dir = self.settings.import_dir.clone();
        let limits = self.settings.limits.clone();
        let size = raw.len();
        let raw = Arc::new(raw);
        let for_export = raw.clone();
        let exported =
            tokio::task::spawn_blocking(move || export_message(&for_export, &dir, &key, &limits))
                .await
                .map_err(|e| FetchError::Config(format!("export task failed: {e}")))?;
        match exported {
            Ok(done) => {
                tracing::info!(
                    size,
                    files = done.files.len(),
                    problems = done.problems.len(),
                    dir = %done.dir.display(),
                    "exported"
                );
                if let Incoming::Mail {
                    message_id,
                    receipt_to: Some(to),
                } = &incoming
                {
                    self.send_receipt(&raw, message_id.as_deref(), to, done.problems.len())
                        .await;
                }
                let folder = done
                    .dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let received = crate::queue::tracking::Received {
                    at: crate::queue::now_unix(),
                    from: sender_of(&raw),
                    folder: folder.clone(),
                    files: u32::try_from(done.files.len()).unwrap_or(u32::MAX),
                    problems: u32::try_from(done.problems.len()).unwrap_or(u32::MAX),
                };
                let tracking = self.links.tracking.clone();
                let noted =
                    tokio::task::spawn_blocking(move || tracking.record_received(&received)).await;
                if !matches!(noted, Ok(Ok(()))) {
                    tracing::warn!("received message not noted for the dashboard");
                }
                if let Some(audit) = &self.links.audit {
                    audit.note(
                        "daemon",
                        "message_received",
                        Some(&folder),
                        Some(&format!(
                            "exported, {} file(s), {} problem(s)",
                            done.files.len(),
                            done.problems.len()
                        )),
                    );
                }
                self.flag(session, uid).await?;
                self.exported.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // Not flagged: tried again at the next look.
                tracing::error!(error = %e, "cannot export; the message stays in the inbox");
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.set_state("error", Some(e.to_string()));
            }
        }
        Ok(())
    }

    /// Marks a message done upstream (keyword; deleted if so configured).
    async fn flag(&self, session: &mut Session, uid: u32) -> Result<(), FetchError> {
        let flags = if self.settings.delete_after_export {
            format!("+FLAGS ({} \\Deleted)", self.settings.keyword)
        } else {
            format!("+FLAGS ({})", self.settings.keyword)
        };
        {
            let mut stored = session.uid_store(uid.to_string(), flags).await?;
            while let Some(r) = stored.next().await {
                r?;
            }
        }
        if self.settings.delete_after_export {
            let expunged = session.uid_expunge(uid.to_string()).await?;
            futures_util::pin_mut!(expunged);
            while let Some(r) = expunged.next().await {
                r?;
            }
        }
        Ok(())
    }

    async fn apply_reports(&self, items: Vec<receipts::ReportItem>) {
        let tracking = self.links.tracking.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut changed = 0;
            for item in &items {
                changed += tracking.apply(
                    &item.original_message_id,
                    item.recipient.as_deref(),
                    &item.event,
                    now_unix(),
                )?;
            }
            Ok::<_, crate::queue::QueueError>((items.len(), changed))
        })
        .await;
        match result {
            Ok(Ok((items, changed))) => {
                tracing::info!(items, changed, "receipt for a sent message")
            }
            Ok(Err(e)) => tracing::error!(error = %e, "cannot record a receipt"),
            Err(e) => tracing::error!(error = %e, "receipt task failed"),
        }
    }

    /// Queues the read receipt the sender asked for (only towards the
    /// MSSanté trust space).
    async fn send_receipt(&self, raw: &[u8], message_id: Option<&str>, to: &str, problems: usize) {
        if !self.settings.send_receipts {
            return;
        }
        let allowed = crate::address::Address::parse(to)
            .map(|a| self.links.whitelist.contains(a.domain()))
            .unwrap_or(false);
        if !allowed {
            tracing::warn!("read receipt asked towards an address outside MSSanté: not sent");
            return;
        }
        let subject = mail_parser::MessageParser::new()
            .parse_headers(raw)
            .and_then(|h| h.subject().map(str::to_string))
            .unwrap_or_default();
        let label = format!("export partiel ({problems} problème(s))");
        let mdn = receipts::build_mdn(&receipts::Mdn {
            original: raw,
            original_message_id: message_id,
            original_subject: &subject,
            mailbox: &self.settings.address,
            to,
            hostname: &self.settings.hostname,
            error: (problems > 0).then_some(("900", label.as_str())),
        });
        let bytes = match mdn {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the read receipt");
                return;
            }
        };
        let id = QueueId::generate();
        let envelope = Envelope {
            sender: self.settings.address.clone(),
            recipients: vec![to.to_string()],
            submitted_by: Some("read-receipt".into()),
        };
        let mdn_id = format!(
            "{}@{}",
            id.as_str().to_ascii_lowercase(),
            self.settings.hostname
        );
        match self
            .links
            .queue
            .accept(id, envelope, bytes, Some(mdn_id))
            .await
        {
            Ok(id) => {
                tracing::info!(queue_id = %id, "read receipt queued");
                self.links.delivery_wake.notify_one();
            }
            Err(e) => tracing::error!(error = %e, "cannot queue the read receipt"),
        }
    }

    /// Marks "no answer" the receipts that did not come in time, and tells
    /// the practice once.
    async fn expire_receipts(&self) {
        let tracking = self.links.tracking.clone();
        let before = now_unix() - self.settings.receipt_timeout.as_secs() as i64;
        let expired =
            tokio::task::spawn_blocking(move || tracking.expire_no_answer(before, now_unix()))
                .await;
        let entries = match expired {
            Ok(Ok(e)) if !e.is_empty() => e,
            Ok(Ok(_)) => return,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot check receipts");
                return;
            }
            Err(_) => return,
        };
        tracing::info!(count = entries.len(), "receipts not received in time");
        let notice = receipts::build_no_answer_notice(
            &self.settings.address,
            &self.settings.hostname,
            &entries,
        );
        let maildir = self.settings.reports_maildir.clone();
        let written = tokio::task::spawn_blocking(move || {
            let bytes = notice?;
            crate::queue::dsn::write_to_maildir(&maildir, "no-answer", &bytes)
        })
        .await;
        if let Ok(Err(e)) = written {
            tracing::error!(error = %e, "cannot write the no-answer notice");
        }
    }

    async fn connect(&self) -> Result<Session, FetchError> {
        let s = &self.settings;
        let address = format!("{}:{}", s.host, s.port);
        let tcp = tokio::time::timeout(s.connect_timeout, TcpStream::connect(&address))
            .await
            .map_err(|_| FetchError::Timeout("connect"))?
            .map_err(|e| FetchError::Connect(address.clone(), e.to_string()))?;
        tcp.set_nodelay(true).ok();
        let name = s.server_name.clone().unwrap_or_else(|| s.host.clone());
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| FetchError::Config(format!("not a server name: {name}")))?;
        let connector = TlsConnector::from(self.tls.clone());
        let tcp = match s.tls {
            UpstreamTls::Starttls => {
                let mut client = async_imap::Client::new(tcp);
                greeting(&mut client, s.connect_timeout, &address).await?;
                client.run_command_and_check_ok("STARTTLS", None).await?;
                client.into_inner()
            }
            UpstreamTls::Implicit => tcp,
        };
        let tls = tokio::time::timeout(s.connect_timeout, connector.connect(server_name, tcp))
            .await
            .map_err(|_| FetchError::Timeout("TLS handshake"))?
            .map_err(FetchError::Tls)?;
        let mut client = async_imap::Client::new(tls);
        if s.tls == UpstreamTls::Implicit {
            greeting(&mut client, s.connect_timeout, &address).await?;
        }
        match self.credential.psc() {
            None => client
                .authenticate("EXTERNAL", External)
                .await
                .map_err(|(e, _)| FetchError::Authenticate(e.to_string())),
            Some(psc) => bearer_login(client, &psc, &s.address).await,
        }
    }
}

/// XOAUTH2 or OAUTHBEARER with a Pro Santé Connect access token.
struct Bearer {
    first: Option<zeroize::Zeroizing<Vec<u8>>>,
    abort: &'static [u8],
    /// What the server said when it refused (its error challenge).
    refusal: Arc<Mutex<Option<String>>>,
    asked: Arc<std::sync::atomic::AtomicBool>,
}

impl async_imap::Authenticator for Bearer {
    type Response = Vec<u8>;
    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        self.asked.store(true, Ordering::Relaxed);
        match self.first.take() {
            Some(first) => first.to_vec(),
            None => {
                use base64::Engine;
                let text = base64::engine::general_purpose::STANDARD.encode(challenge);
                let detail = crate::psc::sasl::describe_challenge(&text)
                    .unwrap_or_else(|| "no reason given".into());
                if let Ok(mut r) = self.refusal.lock() {
                    *r = Some(detail);
                }
                self.abort.to_vec()
            }
        }
    }
}

/// Logs in with XOAUTH2, or OAUTHBEARER when the server does not take
/// XOAUTH2 (refused before it asked for anything).
async fn bearer_login(
    mut client: async_imap::Client<TlsStream<TcpStream>>,
    psc: &Arc<crate::psc::PscSession>,
    user: &str,
) -> Result<Session, FetchError> {
    use crate::psc::sasl::Mechanism;
    let token = psc
        .access_token()
        .await
        .map_err(|e| FetchError::Authenticate(e.to_string()))?;
    for mechanism in [Mechanism::Xoauth2, Mechanism::OAuthBearer] {
        let refusal = Arc::new(Mutex::new(None));
        let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let bearer = Bearer {
            first: Some(mechanism.initial_response(user, &token)),
            abort: mechanism.abort_response(),
            refusal: refusal.clone(),
            asked: asked.clone(),
        };
        match client.authenticate(mechanism.name(), bearer).await {
            Ok(session) => return Ok(session),
            Err((e, back)) => {
                if !asked.load(Ordering::Relaxed) {
                    client = back;
                    continue;
                }
                let challenge = refusal.lock().ok().and_then(|r| r.clone());
                let text = e.to_string();
                // The error challenge, or an authentication failure, says
                // the token is bad; a dropped connection or a temporary
                // refusal says nothing of it.
                let detail = match challenge {
                    Some(status) => status,
                    None if text.to_ascii_uppercase().contains("AUTHENTICATIONFAILED") => text,
                    None => return Err(FetchError::Authenticate(text)),
                };
                psc.token_refused(&detail);
                return Err(FetchError::Authenticate(format!(
                    "the operator refused the Pro Santé Connect token: {detail}"
                )));
            }
        }
    }
    Err(FetchError::Authenticate(
        "the operator offers neither XOAUTH2 nor OAUTHBEARER".into(),
    ))
}

/// Waits for the server's greeting.
async fn greeting<S>(
    client: &mut async_imap::Client<S>,
    limit: Duration,
    address: &str,
) -> Result<(), FetchError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    match tokio::time::timeout(limit, client.read_response()).await {
        Err(_) => Err(FetchError::Timeout("greeting")),
        Ok(None) => Err(FetchError::Connect(
            address.to_string(),
            "closed before greeting".into(),
        )),
        Ok(Some(_)) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_is_read_from_the_headers_only() {
        assert_eq!(
            sender_of(b"From: Dr Martin <dr.martin@medecin.test.mssante.fr>\r\nSubject: CR DUPONT\r\n\r\nbody"),
            "dr.martin@medecin.test.mssante.fr"
        );
        assert_eq!(sender_of(b"Subject: no sender\r\n\r\n"), "");
        assert_eq!(sender_of(b""), "");
    }
}
