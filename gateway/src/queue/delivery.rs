//! Delivery: takes due messages from the queue and sends them upstream
//! over a small pool of reused, authenticated sessions.
//!
//! - At most `max_sessions` messages are in flight (one per session): the
//!   per-destination concurrency limit (there is one destination, the
//!   practice's operator).
//! - A session is kept after a message and reused by the next one until it
//!   has sent `messages_per_session` messages or stayed idle too long.
//! - When the operator cannot be reached, delivery pauses with exponential
//!   backoff instead of trying every queued message against a dead host.
//! - Final failures produce a report for the practice (see [`super::dsn`]).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::dsn::{self, FailedRecipient, Report};
use super::store::FinalFailure;
use super::tracking::Tracking;
use super::{Job, Outcome, Queue, QueueId, now_unix};
use crate::upstream::{Connector, UpstreamSession};

/// Settings of the delivery side.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub max_sessions: usize,
    pub messages_per_session: usize,
    pub session_idle: Duration,
    /// Envelope sender upstream: the box's MSSanté mailbox.
    pub mailbox: String,
    /// Reporting-MTA name in reports.
    pub hostname: String,
    pub reports_maildir: PathBuf,
}

/// Counters for status and measurements.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub sessions_opened: std::sync::atomic::AtomicU64,
    pub messages_sent: std::sync::atomic::AtomicU64,
}

struct Pause {
    until: Option<Instant>,
    failures: u32,
    /// The first failure of the current run of failures.
    since: Option<Instant>,
}

pub struct Delivery {
    queue: Queue,
    connector: Arc<Connector>,
    settings: DeliverySettings,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<UpstreamSession>>,
    pause: Mutex<Pause>,
    /// Why the credential cannot sign now (card out, locked…), if so.
    credential_unavailable: Mutex<Option<String>>,
    /// Per-recipient tracking after the operator's 250.
    tracking: Option<Arc<Tracking>>,
    pub stats: DeliveryStats,
}

/// What the status page shows of delivery.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryStatus {
    /// "running", "credential_unavailable" or "operator_unreachable".
    pub state: &'static str,
    pub reason: Option<String>,
    pub retry_in_secs: Option<u64>,
    pub sessions_opened: u64,
    pub messages_sent: u64,
    pub idle_sessions: usize,
}

/// How often expired messages are looked for, at most.
const EXPIRY_CHECK: Duration = Duration::from_secs(60);

impl Delivery {
    pub fn new(
        queue: Queue,
        connector: Connector,
        settings: DeliverySettings,
        wake: Arc<Notify>,
        tracking: Option<Arc<Tracking>>,
    ) -> Arc<Delivery> {
        Arc::new(Delivery {
            queue,
            tracking,
            connector: Arc::new(connector),
            permits: Arc::new(Semaphore::new(settings.max_sessions)),
            settings,
            wake,
            idle: Mutex::new(Vec::new()),
            pause: Mutex::new(Pause {
                until: None,
                failures: 0,
                since: None,
            }),
            credential_unavailable: Mutex::new(None),
            stats: DeliveryStats::default(),
        })
    }

    /// Runs until `shutdown`; then lets messages in flight finish.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        self.report_unreported().await;
        let busy: Arc<Mutex<HashSet<QueueId>>> = Arc::default();
        let mut tasks = JoinSet::new();
        let mut last_expiry: Option<Instant> = None;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if last_expiry.is_none_or(|t| t.elapsed() >= EXPIRY_CHECK) {
                last_expiry = Some(Instant::now());
                self.expire().await;
            }
            self.close_idle_sessions().await;

            let credential_ready = self.check_credential().await;
            let paused_for = self.paused_for();
            if paused_for.is_none() && credential_ready {
                self.dispatch(&busy, &mut tasks).await;
            }

            // Without a credential, only a card event (which wakes us) or
            // the expiry check can change anything.
            let wait = if credential_ready {
                self.next_wait(paused_for).await
            } else {
                EXPIRY_CHECK
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
        self.quit_idle_sessions().await;
    }

    /// Ends every idle upstream session politely.
    async fn quit_idle_sessions(&self) {
        let sessions: Vec<UpstreamSession> = self
            .idle
            .lock()
            .map(|mut v| v.drain(..).collect())
            .unwrap_or_default();
        for session in sessions {
            session.quit().await;
        }
    }

    async fn dispatch(
        self: &Arc<Self>,
        busy: &Arc<Mutex<HashSet<QueueId>>>,
        tasks: &mut JoinSet<()>,
    ) {
        let free = self.permits.available_permits();
        if free == 0 {
            return;
        }
        let exclude = busy.lock().map(|b| b.clone()).unwrap_or_default();
        let jobs = match self.queue.due(now_unix(), free, exclude).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the queue");
                return;
            }
        };
        for job in jobs {
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                break;
            };
            if let Ok(mut b) = busy.lock() {
                b.insert(job.id.clone());
            }
            let this = self.clone();
            let busy = busy.clone();
            let span = tracing::info_span!("message", queue_id = %job.id);
            tasks.spawn(
                async move {
                    let id = job.id.clone();
                    this.deliver(job, permit).await;
                    if let Ok(mut b) = busy.lock() {
                        b.remove(&id);
                    }
                }
                .instrument(span),
            );
        }
    }

    /// How long to sleep before looking at the queue again.
    async fn next_wait(&self, paused_for: Option<Duration>) -> Duration {
        if let Some(p) = paused_for {
            return p;
        }
        let mut wait = EXPIRY_CHECK;
        if let Ok(Some(next)) = self.queue.next_due().await {
            let secs = (next - now_unix()).max(0) as u64;
            wait = wait.min(Duration::from_secs(secs).max(Duration::from_millis(200)));
        }
        if !self.idle.lock().map(|v| v.is_empty()).unwrap_or(true) {
            wait = wait.min(self.settings.session_idle);
        }
        wait
    }

    /// Follows the credential's availability: logs changes, and closes
    /// the idle sessions when it goes (the practitioner took the card: the
    /// box stops acting in their name at once).
    async fn check_credential(&self) -> bool {
        let now = self.connector.credential.availability().err();
        let before = match self.credential_unavailable.lock() {
            Ok(mut current) => std::mem::replace(&mut *current, now.clone()),
            Err(_) => None,
        };
        match (&before, &now) {
            (None, Some(reason)) => {
                tracing::warn!(reason = %reason, "credential unavailable: delivery paused");
                self.quit_idle_sessions().await;
            }
            (Some(_), None) => {
                tracing::info!("credential available: delivery resumes");
                // Failures while the card was out say nothing of the operator.
                self.note_connect_result(true);
            }
            _ => {}
        }
        now.is_none()
    }

    /// Looks at the queue again now (after a release or a retry).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Messages being delivered right now (upstream sessions in use).
    pub fn in_flight(&self) -> usize {
        self.settings
            .max_sessions
            .saturating_sub(self.permits.available_permits())
    }

    /// Since when the operator has refused every connection, if it has
    /// since the last success.
    pub fn operator_unreachable_since(&self) -> Option<Instant> {
        self.pause.lock().ok()?.since
    }

    /// Ends the back-off after connection failures and looks at the queue
    /// now (the board's long press, after a cable was plugged back). The
    /// failure count stays, so a still-dead link backs off as before.
    pub fn retry_now(&self) {
        if let Ok(mut pause) = self.pause.lock() {
            pause.until = None;
        }
        self.wake();
    }

    /// Delivery state for the control API.
    pub fn status(&self) -> DeliveryStatus {
        let reason = self
            .credential_unavailable
            .lock()
            .ok()
            .and_then(|r| r.clone());
        let retry_in = self.paused_for();
        let state = if reason.is_some() {
            "credential_unavailable"
        } else if retry_in.is_some() {
            "operator_unreachable"
        } else {
            "running"
        };
        DeliveryStatus {
            state,
            reason,
            retry_in_secs: retry_in.map(|d| d.as_secs()),
            sessions_opened: self
                .stats
                .sessions_opened
                .load(std::sync::atomic::Ordering::Relaxed),
            messages_sent: self
                .stats
                .messages_sent
                .load(std::sync::atomic::Ordering::Relaxed),
            idle_sessions: self.idle.lock().map(|v| v.len()).unwrap_or(0),
        }
    }

    fn paused_for(&self) -> Option<Duration> {
        let pause = self.pause.lock().ok()?;
        let until = pause.until?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    fn note_connect_result(&self, ok: bool) {
        let Ok(mut pause) = self.pause.lock() else {
            return;
        };
        if ok {
            pause.failures = 0;
            pause.until = None;
            pause.since = None;
        } else {
            pause.failures += 1;
            pause.since.get_or_insert_with(Instant::now);
            let delay = self.queue.retry_policy().delay(pause.failures);
            pause.until = Some(Instant::now() + delay);
            tracing::warn!(
                retry_in_secs = delay.as_secs(),
                "operator unreachable: delivery paused"
            );
        }
    }

    fn take_idle_session(&self) -> Option<UpstreamSession> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(session) = idle.pop() {
            if session.idle_for() < self.settings.session_idle {
                return Some(session);
            }
            drop(session);
        }
        None
    }

    fn return_session(&self, session: UpstreamSession) -> Option<UpstreamSession> {
        if session.messages_sent() >= self.settings.messages_per_session {
            return Some(session);
        }
        match self.idle.lock() {
            Ok(mut idle) => {
                idle.push(session);
                None
            }
            Err(_) => Some(session),
        }
    }

    async fn close_idle_sessions(&self) {
        let stale: Vec<UpstreamSession> = match self.idle.lock() {
            Ok(mut idle) => {
                let (keep, stale): (Vec<_>, Vec<_>) = idle
                    .drain(..)
                    .partition(|s| s.idle_for() < self.settings.session_idle);
                *idle = keep;
                stale
            }
            Err(_) => Vec::new(),
        };
        for session in stale {
            session.quit().await;
        }
    }

    async fn deliver(&self, job: Job, _permit: OwnedSemaphorePermit) {
        if self.paused_for().is_some() || self.connector.credential.availability().is_err() {
            return; // picked again once the pause is over, no attempt counted
        }
        let body = match tokio::fs::read(self.queue.message_path(&job.id)).await {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "message file unreadable");
                let reply = format!("message file unreadable on the box: {e}");
                self.record(
                    &job,
                    job.recipients
                        .iter()
                        .map(|r| {
                            (
                                r.clone(),
                                Outcome::Failed {
                                    reply: reply.clone(),
                                },
                            )
                        })
                        .collect(),
                )
                .await;
                return;
            }
        };
        let started = Instant::now();
        // One retry on a fresh session when a reused one turns out dead
        // before the message was handed over (the operator closed it).
        for attempt in 0..2 {
            let (mut session, fresh) = match self.take_idle_session() {
                Some(s) if attempt == 0 => (s, false),
                _ => match self.connector.connect().await {
                    Ok(s) => {
                        self.note_connect_result(true);
                        self.stats
                            .sessions_opened
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        (s, true)
                    }
                    Err(e) if self.connector.credential.availability().is_err() => {
                        // The card went away during the handshake: not the
                        // operator's fault and not an attempt; the message
                        // is due again as soon as the card is back.
                        tracing::info!(error = %e, "credential became unavailable; message stays queued");
                        return;
                    }
                    Err(e) => {
                        self.note_connect_result(false);
                        let reply = e.to_string();
                        tracing::warn!(error = %reply, "deferred");
                        self.record(
                            &job,
                            job.recipients
                                .iter()
                                .map(|r| {
                                    (
                                        r.clone(),
                                        Outcome::Deferred {
                                            reply: reply.clone(),
                                        },
                                    )
                                })
                                .collect(),
                        )
                        .await;
                        return;
                    }
                },
            };
            match session
                .send(
                    &self.settings.mailbox,
                    &job.recipients,
                    &body,
                    job.eight_bit,
                )
                .await
            {
                Ok(results) => {
                    self.track_sent(&body, &results).await;
                    if results
                        .iter()
                        .any(|(_, o)| matches!(o, Outcome::Delivered { .. }))
                    {
                        self.stats
                            .messages_sent
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if let Some(done) = self.return_session(session) {
                        done.quit().await;
                    }
                    tracing::debug!(
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "attempt finished"
                    );
                    self.record(&job, results).await;
                    return;
                }
                Err(e) => {
                    let in_doubt = session.data_in_flight();
                    drop(session);
                    if self.connector.credential.availability().is_err() {
                        tracing::info!(error = %e, in_doubt, "credential became unavailable; message stays queued");
                        return;
                    }
                    if !fresh && !in_doubt {
                        tracing::debug!(error = %e, "reused session was closed; opening a new one");
                        continue;
                    }
                    let reply = format!("session with the operator broke: {e}");
                    tracing::warn!(error = %reply, in_doubt, "deferred");
                    self.record(
                        &job,
                        job.recipients
                            .iter()
                            .map(|r| {
                                (
                                    r.clone(),
                                    Outcome::Deferred {
                                        reply: reply.clone(),
                                    },
                                )
                            })
                            .collect(),
                    )
                    .await;
                    return;
                }
            }
        }
    }

    /// Starts tracking the recipients the operator accepted, keyed by the
    /// message's Message-ID (what receipts refer to).
    async fn track_sent(&self, body: &[u8], results: &[(String, Outcome)]) {
        let Some(tracking) = self.tracking.clone() else {
            return;
        };
        let accepted: Vec<String> = results
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Delivered { .. }))
            .map(|(r, _)| r.clone())
            .collect();
        if accepted.is_empty() {
            return;
        }
        let headers = mail_parser::MessageParser::new().parse_headers(body);
        let Some(message_id) = headers
            .as_ref()
            .and_then(|h| h.message_id())
            .map(str::to_string)
        else {
            return;
        };
        let receipt = headers
            .as_ref()
            .is_some_and(|h| h.header_raw("Disposition-Notification-To").is_some());
        let result = tokio::task::spawn_blocking(move || {
            tracking.sent_all(&message_id, &accepted, receipt, now_unix())
        })
        .await;
        if let Ok(Err(e)) = result {
            tracing::error!(error = %e, "cannot record tracking");
        }
    }

    async fn record(&self, job: &Job, results: Vec<(String, Outcome)>) {
        for (rcpt, outcome) in &results {
            match outcome {
                Outcome::Delivered { reply } => {
                    tracing::info!(to = %rcpt, reply = %reply, "delivered")
                }
                Outcome::Deferred { reply } => {
                    tracing::info!(to = %rcpt, reply = %reply, "deferred")
                }
                Outcome::Failed { reply } => tracing::warn!(to = %rcpt, reply = %reply, "failed"),
            }
        }
        let results = results
            .into_iter()
            .map(|(r, o)| (job.id.clone(), r, o))
            .collect();
        match self.queue.record(results).await {
            Ok(summary) => {
                self.report(summary.failures).await;
                for id in summary.finished {
                    self.remove_body(&id).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot record delivery results"),
        }
    }

    async fn remove_body(&self, id: &QueueId) {
        if let Err(e) = self.queue.remove_body(id).await {
            tracing::warn!(queue_id = %id, error = %e, "cannot remove delivered message file");
        }
    }

    async fn expire(&self) {
        match self.queue.expire(now_unix()).await {
            Ok(failures) if !failures.is_empty() => {
                tracing::warn!(count = failures.len(), "recipients expired");
                self.report(failures).await;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot expire old messages"),
        }
    }

    async fn report_unreported(&self) {
        match self.queue.unreported().await {
            Ok(failures) => self.report(failures).await,
            Err(e) => tracing::error!(error = %e, "cannot read unreported failures"),
        }
    }

    /// Writes one report per message for its final failures, then marks
    /// them reported; a crash in between only repeats a report.
    async fn report(&self, failures: Vec<FinalFailure>) {
        let mut by_message: Vec<(QueueId, Vec<FailedRecipient>)> = Vec::new();
        for f in failures {
            let entry = FailedRecipient {
                address: f.recipient,
                reply: f.reply,
            };
            match by_message.iter_mut().find(|(id, _)| *id == f.id) {
                Some((_, list)) => list.push(entry),
                None => by_message.push((f.id, vec![entry])),
            }
        }
        for (id, recipients) in by_message {
            let original = tokio::fs::read(self.queue.message_path(&id))
                .await
                .unwrap_or_default();
            let maildir = self.settings.reports_maildir.clone();
            let hostname = self.settings.hostname.clone();
            let mailbox = self.settings.mailbox.clone();
            let id_text = id.to_string();
            let list = recipients.clone();
            let written = tokio::task::spawn_blocking(move || {
                let bytes = dsn::build(&Report {
                    reporting_mta: &hostname,
                    to: &mailbox,
                    queue_id: &id_text,
                    arrival_date: None,
                    recipients: &list,
                    original_headers: dsn::header_section(&original),
                })?;
                dsn::write_to_maildir(&maildir, &id_text, &bytes)
            })
            .await;
            match written {
                Ok(Ok(path)) => {
                    tracing::info!(queue_id = %id, report = %path.display(), "failure report written");
                    let items = recipients
                        .into_iter()
                        .map(|r| (id.clone(), r.address))
                        .collect();
                    match self.queue.mark_reported(items).await {
                        Ok(finished) => {
                            for id in finished {
                                self.remove_body(&id).await;
                            }
                        }
                        Err(e) => {
                            tracing::error!(queue_id = %id, error = %e, "cannot mark report written")
                        }
                    }
                }
                Ok(Err(e)) => {
                    tracing::error!(queue_id = %id, error = %e, "cannot write failure report")
                }
                Err(e) => tracing::error!(queue_id = %id, error = %e, "report task failed"),
            }
        }
    }
}
