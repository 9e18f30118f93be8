//! Durable storage: immutable message files plus a SQLite database of
//! envelopes and per-recipient state.
//!
//! Accepting a message is two steps, in this order:
//! 1. the message file is written under `messages/` and `fdatasync`ed by
//!    the receiving session (concurrent sessions sync concurrently, and the
//!    file system folds their syncs into shared journal commits);
//! 2. the envelope rows are inserted by the single writer thread, which
//!    takes every request waiting at that moment, fsyncs the `messages/`
//!    directory once, and commits them all in one SQLite transaction (WAL,
//!    `synchronous=FULL`): one fsync pair for a whole batch (group commit).
//!
//! The database is the truth. A file without rows is a message whose client
//! never got its 250 (crash between 1 and 2); it is removed at start-up.
//! Rows are never written before their file is durable.

use std::collections::HashSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;

use super::{Envelope, Outcome};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue storage: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("queue database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("queue writer stopped")]
    Stopped,
    #[error("queue: {0}")]
    Corrupt(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotApplicable(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A queue id: 16 upper-case hex digits, time-ordered. It names the message
/// file and appears in every log line and in the 250 reply, so a support
/// person can follow a message end to end.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(String);

impl QueueId {
    pub fn generate() -> QueueId {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let random: u32 = rand::random::<u32>() & 0x00FF_FFFF;
        QueueId(format!("{:010X}{:06X}", millis & 0xFF_FFFF_FFFF, random))
    }

    /// Accepts only well-formed ids, so an id from a command line or an API
    /// can never name a path outside the queue.
    pub fn parse(text: &str) -> Option<QueueId> {
        (text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| QueueId(text.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64
}

/// Per-recipient delivery state, as stored (`recipients.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientStatus {
    Pending,
    /// Put on hold by an administrator: never due until released.
    Held,
    Delivered,
    Failed,
    /// Deleted by an administrator before delivery: final; the rows stay
    /// for tracking.
    Deleted,
}

impl RecipientStatus {
    fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Pending => "pending",
            RecipientStatus::Held => "held",
            RecipientStatus::Delivered => "delivered",
            RecipientStatus::Failed => "failed",
            RecipientStatus::Deleted => "deleted",
        }
    }

    fn parse(text: &str) -> RecipientStatus {
        match text {
            "held" => RecipientStatus::Held,
            "delivered" => RecipientStatus::Delivered,
            "failed" => RecipientStatus::Failed,
            "deleted" => RecipientStatus::Deleted,
            _ => RecipientStatus::Pending,
        }
    }
}

impl fmt::Display for RecipientStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When to try again and when to give up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub lifetime: Duration,
}

impl RetryPolicy {
    /// Delay before attempt number `attempts + 1`: doubles from `initial`,
    /// capped at `max`.
    pub fn delay(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(20);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// One message with the recipients that are due now.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: QueueId,
    pub sender: String,
    pub recipients: Vec<String>,
    pub size: u64,
    pub eight_bit: bool,
    pub expires_at: i64,
}

/// A recipient that reached a final failure in [`Queue::record`]: the
/// sender must get a report.
#[derive(Debug, Clone)]
pub struct FinalFailure {
    pub id: QueueId,
    pub recipient: String,
    pub reply: String,
}

/// A row of the queue listing.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct QueueEntry {
    pub id: String,
    pub sender: String,
    pub recipient: String,
    pub status: String,
    pub attempts: u32,
    pub received_at: i64,
    pub next_attempt: i64,
    pub last_reply: Option<String>,
}

struct Insert {
    id: QueueId,
    envelope: Envelope,
    size: u64,
    eight_bit: bool,
    message_id: Option<String>,
}

enum Command {
    Insert(Insert, oneshot::Sender<Result<(), QueueError>>),
    Due {
        now: i64,
        limit: usize,
        busy: HashSet<QueueId>,
        reply: oneshot::Sender<Result<Vec<Job>, QueueError>>,
    },
    NextDue(oneshot::Sender<Result<Option<i64>, QueueError>>),
    Record {
        results: Vec<(QueueId, String, Outcome)>,
        reply: oneshot::Sender<Result<RecordSummary, QueueError>>,
    },
    Expire {
        now: i64,
        reply: oneshot::Sender<Result<Vec<FinalFailure>, QueueError>>,
    },
    MarkReported {
        items: Vec<(QueueId, String)>,
        reply: oneshot::Sender<Result<Vec<QueueId>, QueueError>>,
    },
    Unreported(oneshot::Sender<Result<Vec<FinalFailure>, QueueError>>),
    Act {
        request: ActRequest,
        reply: oneshot::Sender<Result<ActOutcome, QueueError>>,
    },
}

/// An administrator's action on a queued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueAction {
    /// pending → held: never due until released.
    Hold,
    /// held → pending, due now.
    Release,
    /// pending: due now (the backoff is skipped once).
    Retry,
    /// pending or held → deleted: final, no report; the rows stay.
    Delete,
}

impl QueueAction {
    pub fn parse(text: &str) -> Option<QueueAction> {
        Some(match text {
            "hold" => QueueAction::Hold,
            "release" => QueueAction::Release,
            "retry" => QueueAction::Retry,
            "delete" => QueueAction::Delete,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QueueAction::Hold => "hold",
            QueueAction::Release => "release",
            QueueAction::Retry => "retry",
            QueueAction::Delete => "delete",
        }
    }

    /// The audit action code.
    fn audit_code(self) -> &'static str {
        match self {
            QueueAction::Hold => "queue_held",
            QueueAction::Release => "queue_released",
            QueueAction::Retry => "queue_retried",
            QueueAction::Delete => "message_deleted",
        }
    }

    /// The queue event (table `events`).
    fn event(self) -> &'static str {
        match self {
            QueueAction::Hold => "held",
            QueueAction::Release => "released",
            QueueAction::Retry => "retried",
            QueueAction::Delete => "deleted",
        }
    }

    /// States the action applies to.
    fn applies_to(self) -> &'static [&'static str] {
        match self {
            QueueAction::Hold | QueueAction::Retry => &["pending"],
            QueueAction::Release => &["held"],
            QueueAction::Delete => &["pending", "held"],
        }
    }
}

#[derive(Debug, Clone)]
struct ActRequest {
    id: QueueId,
    action: QueueAction,
    recipient: Option<String>,
    actor: String,
}

/// What [`Queue::act`] changed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ActOutcome {
    /// Recipients whose state changed.
    pub recipients: Vec<String>,
    /// Every recipient is now final: the message file was removed.
    pub finished: bool,
}

/// What [`Queue::record`] changed.
#[derive(Debug, Default)]
pub struct RecordSummary {
    pub failures: Vec<FinalFailure>,
    /// Messages whose every recipient is now final: their file can go.
    pub finished: Vec<QueueId>,
}

/// Handle to the queue; cheap to clone, usable from any task.
#[derive(Clone)]
pub struct Queue {
    dir: PathBuf,
    retry: RetryPolicy,
    writer: mpsc::Sender<Command>,
}

/// Who submitted a message, as the audit log names actors.
fn submitter_actor(submitted_by: Option<&str>) -> String {
    match submitted_by {
        None => "smtp:trusted-network".into(),
        Some("outbox") => "outbox".into(),
        Some("read-receipt") => "daemon".into(),
        Some(user) => format!("smtp:{user}"),
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    submitted_by TEXT,
    size INTEGER NOT NULL,
    eight_bit INTEGER NOT NULL,
    message_id TEXT,
    received_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    body_present INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS recipients (
    message TEXT NOT NULL REFERENCES messages(id),
    address TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_reply TEXT,
    updated_at INTEGER NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message, address)
);
CREATE INDEX IF NOT EXISTS recipients_due ON recipients(status, next_attempt);
CREATE TABLE IF NOT EXISTS events (
    message TEXT NOT NULL,
    address TEXT,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS events_message ON events(message);
CREATE INDEX IF NOT EXISTS messages_message_id ON messages(message_id);
";

/// Most requests committed in one transaction; bounds the latency of the
/// first request of a batch.
const MAX_BATCH: usize = 256;

impl Queue {
    /// Opens (creating if needed) the queue under `dir`, removes message
    /// files left by a crash before their commit, and starts the writer.
    pub fn open(dir: &Path, retry: RetryPolicy) -> Result<Queue, QueueError> {
        Queue::open_audited(dir, retry, None)
    }

    /// [`Self::open`], recording every committed change that matters to
    /// the practice (accepted, sent, failed, held, released, retried,
    /// deleted) in the audit log. The writer thread only hands the events
    /// to the audit writer, after its commit.
    pub fn open_audited(
        dir: &Path,
        retry: RetryPolicy,
        audit: Option<crate::audit::Audit>,
    ) -> Result<Queue, QueueError> {
        let messages = dir.join("messages");
        std::fs::create_dir_all(&messages).map_err(io_error(&messages))?;
        let conn = open_database(&dir.join("queue.db"))?;
        remove_orphans(&conn, &messages)?;
        let (writer, commands) = mpsc::channel();
        let messages_dir = messages.clone();
        std::thread::Builder::new()
            .name("queue-writer".into())
            .spawn(move || writer_loop(conn, messages_dir, retry, commands, audit))
            .map_err(io_error(dir))?;
        Ok(Queue {
            dir: dir.to_path_buf(),
            retry,
            writer,
        })
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Path of a message's file.
    pub fn message_path(&self, id: &QueueId) -> PathBuf {
        self.dir.join("messages").join(id.as_str())
    }

    /// Stores a message durably and returns its id. When this returns `Ok`,
    /// the message survives a crash or a power cut.
    pub async fn accept(
        &self,
        id: QueueId,
        envelope: Envelope,
        body: Vec<u8>,
        message_id: Option<String>,
    ) -> Result<QueueId, QueueError> {
        let size = body.len() as u64;
        let eight_bit = body.iter().any(|b| *b >= 0x80);
        let path = self.message_path(&id);
        tokio::task::spawn_blocking(move || write_message_file(&path, &body))
            .await
            .map_err(|_| QueueError::Stopped)??;
        let (reply, answer) = oneshot::channel();
        let insert = Insert {
            id: id.clone(),
            envelope,
            size,
            eight_bit,
            message_id,
        };
        self.writer
            .send(Command::Insert(insert, reply))
            .map_err(|_| QueueError::Stopped)?;
        match answer.await {
            Ok(Ok(())) => Ok(id),
            Ok(Err(e)) => {
                let _ = std::fs::remove_file(self.message_path(&id));
                Err(e)
            }
            Err(_) => Err(QueueError::Stopped),
        }
    }

    /// Messages with recipients due at `now`, oldest first, skipping those
    /// already being delivered.
    pub async fn due(
        &self,
        now: i64,
        limit: usize,
        busy: HashSet<QueueId>,
    ) -> Result<Vec<Job>, QueueError> {
        self.ask(|reply| Command::Due {
            now,
            limit,
            busy,
            reply,
        })
        .await
    }

    /// A round trip through the writer thread and the database, for the
    /// health loop: fails or never answers when either is stuck.
    pub async fn ping(&self) -> Result<(), QueueError> {
        self.next_due().await.map(|_| ())
    }

    /// Earliest `next_attempt` of any pending recipient.
    pub async fn next_due(&self) -> Result<Option<i64>, QueueError> {
        self.ask(Command::NextDue).await
    }

    /// Records the outcome of delivery attempts.
    pub async fn record(
        &self,
        results: Vec<(QueueId, String, Outcome)>,
    ) -> Result<RecordSummary, QueueError> {
        self.ask(|reply| Command::Record { results, reply }).await
    }

    /// Fails every pending recipient whose message outlived its lifetime.
    pub async fn expire(&self, now: i64) -> Result<Vec<FinalFailure>, QueueError> {
        self.ask(|reply| Command::Expire { now, reply }).await
    }

    /// Notes that the sender was told about these failures; returns the
    /// messages that are now completely done.
    pub async fn mark_reported(
        &self,
        items: Vec<(QueueId, String)>,
    ) -> Result<Vec<QueueId>, QueueError> {
        self.ask(|reply| Command::MarkReported { items, reply })
            .await
    }

    /// Final failures whose report was not written yet (after a crash).
    pub async fn unreported(&self) -> Result<Vec<FinalFailure>, QueueError> {
        self.ask(Command::Unreported).await
    }

    /// An administrator's action on message `id` (every recipient it
    /// applies to, or only `recipient`). Errors: [`QueueError::NotFound`]
    /// (no such message or recipient), [`QueueError::NotApplicable`] (no
    /// recipient in a state the action applies to).
    pub async fn act(
        &self,
        id: &QueueId,
        action: QueueAction,
        recipient: Option<String>,
        actor: &str,
    ) -> Result<ActOutcome, QueueError> {
        let request = ActRequest {
            id: id.clone(),
            action,
            recipient,
            actor: actor.to_string(),
        };
        let outcome = self.ask(|reply| Command::Act { request, reply }).await?;
        if outcome.finished {
            self.remove_body(id).await?;
        }
        Ok(outcome)
    }

    /// Removes the file of a message whose recipients are all final.
    pub async fn remove_body(&self, id: &QueueId) -> Result<(), QueueError> {
        let path = self.message_path(id);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, QueueError>>) -> Command,
    ) -> Result<T, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(make(reply))
            .map_err(|_| QueueError::Stopped)?;
        answer.await.map_err(|_| QueueError::Stopped)?
    }
}

/// Recipients still to deliver, counted without the daemon's writer
/// (the updater asks it every few seconds while a restart waits).
pub fn pending_count(dir: &Path) -> Result<usize, QueueError> {
    let conn = Connection::open_with_flags(
        dir.join("queue.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM recipients WHERE status = 'pending'",
        [],
        |row| row.get(0),
    )?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Reads the queue database without the daemon (for `facteur queue list`);
/// safe while the daemon runs, thanks to WAL.
pub fn list(dir: &Path) -> Result<Vec<QueueEntry>, QueueError> {
    let conn = Connection::open_with_flags(
        dir.join("queue.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let mut stmt = conn.prepare(
        "SELECT m.id, m.sender, r.address, r.status, r.attempts, m.received_at, r.next_attempt, r.last_reply
         FROM recipients r JOIN messages m ON m.id = r.message
         ORDER BY m.received_at, m.id, r.address",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(QueueEntry {
            id: row.get(0)?,
            sender: row.get(1)?,
            recipient: row.get(2)?,
            status: row.get(3)?,
            attempts: row.get(4)?,
            received_at: row.get(5)?,
            next_attempt: row.get(6)?,
            last_reply: row.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

impl Queue {
    /// See [`list`].
    pub fn list(&self) -> Result<Vec<QueueEntry>, QueueError> {
        list(&self.dir)
    }

    /// The message stored with `message_id`, if any. Lets a receiver that
    /// derives the Message-ID from its input (the document folder) notice
    /// that a crash came between the queue's commit and its own clean-up,
    /// instead of queuing the same document twice.
    pub async fn find_message_id(&self, message_id: &str) -> Result<Option<QueueId>, QueueError> {
        let path = self.dir.join("queue.db");
        let message_id = message_id.to_string();
        tokio::task::spawn_blocking(move || {
            let conn =
                Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            let id: Option<String> = conn
                .query_row(
                    "SELECT id FROM messages WHERE message_id = ?1 LIMIT 1",
                    [&message_id],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(id.and_then(|id| QueueId::parse(&id)))
        })
        .await
        .map_err(|_| QueueError::Stopped)?
    }
}

fn open_database(path: &Path) -> Result<Connection, QueueError> {
    let conn = Connection::open(path)?;
    // WAL + FULL: a commit is durable when it returns, and readers (the CLI,
    // later the control API) never block the writer.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The tracking connection writes to the same file: wait for it
    // rather than fail a commit.
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

fn write_message_file(path: &Path, body: &[u8]) -> Result<(), QueueError> {
    // create_new: an id collision fails this message (the client retries)
    // rather than overwrite another one.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_error(path))?;
    let written = file.write_all(body).and_then(|()| file.sync_data());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(io_error(path)(e));
    }
    Ok(())
}

fn remove_orphans(conn: &Connection, messages: &Path) -> Result<(), QueueError> {
    let mut known = HashSet::new();
    let mut stmt = conn.prepare("SELECT id FROM messages WHERE body_present = 1")?;
    for id in stmt.query_map([], |row| row.get::<_, String>(0))? {
        known.insert(id?);
    }
    for entry in std::fs::read_dir(messages).map_err(io_error(messages))? {
        let entry = entry.map_err(io_error(messages))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !known.contains(&name) {
            tracing::info!(queue_id = %name, "removing message file never acknowledged to its client");
            std::fs::remove_file(entry.path()).map_err(io_error(&entry.path()))?;
        }
    }
    Ok(())
}

fn writer_loop(
    mut conn: Connection,
    messages: PathBuf,
    retry: RetryPolicy,
    commands: mpsc::Receiver<Command>,
    audit: Option<crate::audit::Audit>,
) {
    while let Ok(first) = commands.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        // New files' directory entries must be durable before rows that
        // point at them: one directory fsync covers the whole batch.
        let has_inserts = batch.iter().any(|c| matches!(c, Command::Insert(..)));
        let dir_synced = if has_inserts {
            std::fs::File::open(&messages)
                .and_then(|d| d.sync_all())
                .map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        // IMMEDIATE: take the write lock up front, so a batch that reads
        // then writes never meets "database is locked" half-way when the
        // tracking connection has written in between.
        let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                // Dropping the batch drops its reply channels: every waiting
                // session answers 451 and its client retries later.
                tracing::error!(error = %e, "queue database: cannot start a transaction");
                continue;
            }
        };
        let mut events = Vec::new();
        let replies: Vec<Reply> = batch
            .into_iter()
            .map(|command| apply(&tx, command, &dir_synced, retry, &mut events))
            .collect();
        let committed = if replies.iter().any(Reply::wants_commit) {
            tx.commit().map_err(|e| e.to_string())
        } else {
            tx.rollback().map_err(|e| e.to_string())
        };
        match (&committed, &audit) {
            (Err(e), _) => tracing::error!(error = %e, "queue database: commit failed"),
            (Ok(()), Some(audit)) => events.into_iter().for_each(|e| audit.record(e)),
            (Ok(()), None) => {}
        }
        for reply in replies {
            reply.send(&committed);
        }
    }
}

/// The answer to one command, sent only after the batch's commit.
enum Reply {
    Insert(oneshot::Sender<Result<(), QueueError>>, Result<(), String>),
    Due(
        oneshot::Sender<Result<Vec<Job>, QueueError>>,
        Result<Vec<Job>, String>,
    ),
    NextDue(
        oneshot::Sender<Result<Option<i64>, QueueError>>,
        Result<Option<i64>, String>,
    ),
    Record(
        oneshot::Sender<Result<RecordSummary, QueueError>>,
        Result<RecordSummary, String>,
    ),
    Expire(
        oneshot::Sender<Result<Vec<FinalFailure>, QueueError>>,
        Result<Vec<FinalFailure>, String>,
    ),
    MarkReported(
        oneshot::Sender<Result<Vec<QueueId>, QueueError>>,
        Result<Vec<QueueId>, String>,
    ),
    Unreported(
        oneshot::Sender<Result<Vec<FinalFailure>, QueueError>>,
        Result<Vec<FinalFailure>, String>,
    ),
    Act(
        oneshot::Sender<Result<ActOutcome, QueueError>>,
        Result<ActOutcome, QueueError>,
    ),
}

impl Reply {
    fn wants_commit(&self) -> bool {
        matches!(
            self,
            Reply::Insert(_, Ok(()))
                | Reply::Record(_, Ok(_))
                | Reply::Expire(_, Ok(_))
                | Reply::MarkReported(_, Ok(_))
                | Reply::Act(_, Ok(_))
        )
    }

    fn send(self, committed: &Result<(), String>) {
        fn finish<T>(
            tx: oneshot::Sender<Result<T, QueueError>>,
            value: Result<T, String>,
            committed: &Result<(), String>,
        ) {
            let result = match (value, committed) {
                (Ok(v), Ok(())) => Ok(v),
                (Err(e), _) => Err(QueueError::Corrupt(e)),
                (Ok(_), Err(e)) => Err(QueueError::Corrupt(e.clone())),
            };
            let _ = tx.send(result);
        }
        match self {
            Reply::Insert(tx, v) => finish(tx, v, committed),
            Reply::Due(tx, v) => finish(tx, v, &Ok(())),
            Reply::NextDue(tx, v) => finish(tx, v, &Ok(())),
            Reply::Record(tx, v) => finish(tx, v, committed),
            Reply::Expire(tx, v) => finish(tx, v, committed),
            Reply::MarkReported(tx, v) => finish(tx, v, committed),
            Reply::Unreported(tx, v) => finish(tx, v, &Ok(())),
            Reply::Act(tx, v) => {
                let result = match (v, committed) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(QueueError::Corrupt(e.clone())),
                };
                let _ = tx.send(result);
            }
        }
    }
}

fn apply(
    tx: &Transaction<'_>,
    command: Command,
    dir_synced: &Result<(), String>,
    retry: RetryPolicy,
    audit: &mut Vec<crate::audit::Event>,
) -> Reply {
    let s = |e: rusqlite::Error| e.to_string();
    match command {
        Command::Insert(insert, reply) => {
            let result = dir_synced.clone().and_then(|()| {
                // A savepoint per insert: one failing insert must not undo
                // the others of the batch.
                tx.execute_batch("SAVEPOINT insert_message").map_err(s)?;
                match insert_message(tx, &insert, retry) {
                    Ok(()) => {
                        audit.push(
                            crate::audit::Event::new(
                                &submitter_actor(insert.envelope.submitted_by.as_deref()),
                                "message_accepted",
                            )
                            .object(insert.id.as_str())
                            .detail(format!("{} recipient(s)", insert.envelope.recipients.len())),
                        );
                        tx.execute_batch("RELEASE insert_message").map_err(s)
                    }
                    Err(e) => {
                        let _ =
                            tx.execute_batch("ROLLBACK TO insert_message; RELEASE insert_message");
                        Err(s(e))
                    }
                }
            });
            Reply::Insert(reply, result)
        }
        Command::Due {
            now,
            limit,
            busy,
            reply,
        } => Reply::Due(reply, due_jobs(tx, now, limit, &busy).map_err(s)),
        Command::NextDue(reply) => Reply::NextDue(
            reply,
            tx.query_row(
                "SELECT MIN(next_attempt) FROM recipients WHERE status = 'pending'",
                [],
                |row| row.get(0),
            )
            .map_err(s),
        ),
        Command::Record { results, reply } => {
            Reply::Record(reply, record_results(tx, results, retry, audit).map_err(s))
        }
        Command::Expire { now, reply } => Reply::Expire(reply, expire(tx, now, audit).map_err(s)),
        Command::MarkReported { items, reply } => {
            Reply::MarkReported(reply, mark_reported(tx, items).map_err(s))
        }
        Command::Unreported(reply) => Reply::Unreported(reply, unreported(tx).map_err(s)),
        Command::Act { request, reply } => {
            let result = (|| {
                tx.execute_batch("SAVEPOINT act")?;
                let result = act(tx, &request, audit);
                if result.is_ok() {
                    tx.execute_batch("RELEASE act")?;
                } else {
                    tx.execute_batch("ROLLBACK TO act; RELEASE act")?;
                }
                result
            })();
            Reply::Act(reply, result)
        }
    }
}

fn insert_message(tx: &Connection, insert: &Insert, retry: RetryPolicy) -> rusqlite::Result<()> {
    let now = now_unix();
    let expires = now + retry.lifetime.as_secs() as i64;
    tx.execute(
        "INSERT INTO messages (id, sender, submitted_by, size, eight_bit, message_id, received_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            insert.id.as_str(),
            insert.envelope.sender,
            insert.envelope.submitted_by,
            insert.size as i64,
            insert.eight_bit,
            insert.message_id,
            now,
            expires
        ],
    )?;
    let mut rcpt = tx.prepare_cached(
        "INSERT OR IGNORE INTO recipients (message, address, status, next_attempt, updated_at)
         VALUES (?1, ?2, 'pending', ?3, ?3)",
    )?;
    for address in &insert.envelope.recipients {
        rcpt.execute(params![insert.id.as_str(), address, now])?;
    }
    event(tx, &insert.id, None, "accepted", None)?;
    Ok(())
}

fn event(
    tx: &Connection,
    id: &QueueId,
    address: Option<&str>,
    what: &str,
    detail: Option<&str>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO events (message, address, at, event, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id.as_str(), address, now_unix(), what, detail])?;
    Ok(())
}

fn due_jobs(
    tx: &Transaction<'_>,
    now: i64,
    limit: usize,
    busy: &HashSet<QueueId>,
) -> rusqlite::Result<Vec<Job>> {
    let mut stmt = tx.prepare_cached(
        "SELECT m.id, m.sender, m.size, m.eight_bit, m.expires_at, r.address
         FROM recipients r JOIN messages m ON m.id = r.message
         WHERE r.status = 'pending' AND r.next_attempt <= ?1
         ORDER BY r.next_attempt, m.id",
    )?;
    let mut rows = stmt.query(params![now])?;
    let mut jobs: Vec<Job> = Vec::new();
    while let Some(row) = rows.next()? {
        let id = QueueId(row.get(0)?);
        if busy.contains(&id) {
            continue;
        }
        let address: String = row.get(5)?;
        if let Some(job) = jobs.iter_mut().find(|j| j.id == id) {
            job.recipients.push(address);
            continue;
        }
        if jobs.len() == limit {
            break;
        }
        jobs.push(Job {
            id,
            sender: row.get(1)?,
            size: row.get::<_, i64>(2)? as u64,
            eight_bit: row.get(3)?,
            expires_at: row.get(4)?,
            recipients: vec![address],
        });
    }
    Ok(jobs)
}

fn record_results(
    tx: &Transaction<'_>,
    results: Vec<(QueueId, String, Outcome)>,
    retry: RetryPolicy,
    audit: &mut Vec<crate::audit::Event>,
) -> rusqlite::Result<RecordSummary> {
    let now = now_unix();
    let mut summary = RecordSummary::default();
    let mut touched: Vec<QueueId> = Vec::new();
    for (id, address, outcome) in results {
        // Only a recipient not yet delivered or failed changes: exactly
        // one of those final states each. A recipient held or deleted
        // while its attempt was in flight takes the attempt's outcome if
        // it is final (the operator has the message: that is what
        // happened), and stays held or deleted if it was deferred.
        let current: Option<(u32, String)> = tx
            .query_row(
                "SELECT attempts, status FROM recipients WHERE message = ?1 AND address = ?2
                 AND status IN ('pending', 'held', 'deleted')",
                params![id.as_str(), address],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((attempts, current)) = current else {
            continue;
        };
        let attempts = attempts + 1;
        let (status, next, reply, what) = match &outcome {
            Outcome::Delivered { reply } => (RecipientStatus::Delivered, now, reply, "delivered"),
            Outcome::Failed { reply } => (RecipientStatus::Failed, now, reply, "failed"),
            Outcome::Deferred { reply } => {
                let next = now + retry.delay(attempts).as_secs() as i64;
                (RecipientStatus::parse(&current), next, reply, "deferred")
            }
        };
        match status {
            RecipientStatus::Delivered => audit.push(
                crate::audit::Event::new("daemon", "message_sent")
                    .object(id.as_str())
                    .detail(format!("to {address}")),
            ),
            RecipientStatus::Failed => audit.push(
                crate::audit::Event::new("daemon", "message_failed")
                    .object(id.as_str())
                    .detail(format!("to {address}: {reply}")),
            ),
            _ => {}
        }
        tx.prepare_cached(
            "UPDATE recipients SET status = ?3, attempts = ?4, next_attempt = ?5, last_reply = ?6, updated_at = ?7
             WHERE message = ?1 AND address = ?2",
        )?
        .execute(params![id.as_str(), address, status.as_str(), attempts, next, reply, now])?;
        event(tx, &id, Some(&address), what, Some(reply))?;
        if status == RecipientStatus::Failed {
            summary.failures.push(FinalFailure {
                id: id.clone(),
                recipient: address,
                reply: reply.clone(),
            });
        }
        if matches!(status, RecipientStatus::Delivered | RecipientStatus::Failed)
            && !touched.contains(&id)
        {
            touched.push(id);
        }
    }
    for id in touched {
        if mark_finished_if_done(tx, &id)? {
            summary.finished.push(id);
        }
    }
    Ok(summary)
}

fn mark_reported(
    tx: &Transaction<'_>,
    items: Vec<(QueueId, String)>,
) -> rusqlite::Result<Vec<QueueId>> {
    let mut finished = Vec::new();
    for (id, address) in items {
        tx.prepare_cached(
            "UPDATE recipients SET reported = 1 WHERE message = ?1 AND address = ?2",
        )?
        .execute(params![id.as_str(), address])?;
        event(tx, &id, Some(&address), "reported", None)?;
        if !finished.contains(&id) && mark_finished_if_done(tx, &id)? {
            finished.push(id);
        }
    }
    Ok(finished)
}

fn unreported(tx: &Transaction<'_>) -> rusqlite::Result<Vec<FinalFailure>> {
    let mut stmt = tx.prepare_cached(
        "SELECT message, address, COALESCE(last_reply, '') FROM recipients
         WHERE status = 'failed' AND reported = 0 ORDER BY message",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(FinalFailure {
            id: QueueId(row.get(0)?),
            recipient: row.get(1)?,
            reply: row.get(2)?,
        })
    })?;
    rows.collect()
}

/// A message is done when no recipient is pending and every failure was
/// reported to the sender: only then may its file go.
fn mark_finished_if_done(tx: &Transaction<'_>, id: &QueueId) -> rusqlite::Result<bool> {
    let pending: i64 = tx.query_row(
        "SELECT COUNT(*) FROM recipients WHERE message = ?1
         AND (status IN ('pending', 'held') OR (status = 'failed' AND reported = 0))",
        params![id.as_str()],
        |row| row.get(0),
    )?;
    if pending == 0 {
        tx.execute(
            "UPDATE messages SET body_present = 0 WHERE id = ?1",
            params![id.as_str()],
        )?;
    }
    Ok(pending == 0)
}

fn expire(
    tx: &Transaction<'_>,
    now: i64,
    audit: &mut Vec<crate::audit::Event>,
) -> rusqlite::Result<Vec<FinalFailure>> {
    let mut stmt = tx.prepare_cached(
        "SELECT m.id, r.address, COALESCE(r.last_reply, '')
         FROM recipients r JOIN messages m ON m.id = r.message
         WHERE r.status = 'pending' AND m.expires_at <= ?1",
    )?;
    let expired: Vec<(String, String, String)> = stmt
        .query_map(params![now], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut failures = Vec::new();
    for (id, address, last) in expired {
        let id = QueueId(id);
        let reply = if last.is_empty() {
            "delivery time expired".to_string()
        } else {
            format!("delivery time expired; last error: {last}")
        };
        tx.execute(
            "UPDATE recipients SET status = 'failed', last_reply = ?3, updated_at = ?4 WHERE message = ?1 AND address = ?2",
            params![id.as_str(), address, reply, now],
        )?;
        event(tx, &id, Some(&address), "expired", Some(&reply))?;
        audit.push(
            crate::audit::Event::new("daemon", "message_failed")
                .object(id.as_str())
                .detail(format!("to {address}: delivery time expired")),
        );
        mark_finished_if_done(tx, &id)?;
        failures.push(FinalFailure {
            id,
            recipient: address,
            reply,
        });
    }
    Ok(failures)
}

fn act(
    tx: &Transaction<'_>,
    request: &ActRequest,
    audit: &mut Vec<crate::audit::Event>,
) -> Result<ActOutcome, QueueError> {
    let id = &request.id;
    let all: Vec<(String, String)> = {
        let mut stmt =
            tx.prepare_cached("SELECT address, status FROM recipients WHERE message = ?1")?;
        stmt.query_map(params![id.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    if all.is_empty() {
        return Err(QueueError::NotFound(format!(
            "no message {id} in the queue"
        )));
    }
    let targets: Vec<&(String, String)> = match &request.recipient {
        Some(wanted) => {
            let found: Vec<_> = all
                .iter()
                .filter(|(a, _)| a.eq_ignore_ascii_case(wanted))
                .collect();
            if found.is_empty() {
                return Err(QueueError::NotFound(format!(
                    "message {id} has no recipient {wanted}"
                )));
            }
            found
        }
        None => all.iter().collect(),
    };
    let action = request.action;
    let applies = |status: &str| action.applies_to().contains(&status);
    let changed: Vec<String> = targets
        .iter()
        .filter(|(_, status)| applies(status))
        .map(|(a, _)| a.clone())
        .collect();
    if changed.is_empty() {
        let states: Vec<String> = targets.iter().map(|(a, s)| format!("{a}: {s}")).collect();
        return Err(QueueError::NotApplicable(format!(
            "cannot {} message {id}: {} applies to {} recipients only ({})",
            action.as_str(),
            action.as_str(),
            action.applies_to().join(" or "),
            states.join(", ")
        )));
    }
    let now = now_unix();
    for address in &changed {
        let sql = match action {
            QueueAction::Hold => "UPDATE recipients SET status = 'held', updated_at = ?3",
            QueueAction::Release | QueueAction::Retry => {
                "UPDATE recipients SET status = 'pending', next_attempt = ?3, updated_at = ?3"
            }
            QueueAction::Delete => {
                "UPDATE recipients SET status = 'deleted', last_reply = 'deleted by an administrator', updated_at = ?3"
            }
        };
        tx.execute(
            &format!("{sql} WHERE message = ?1 AND address = ?2"),
            params![id.as_str(), address, now],
        )?;
        event(tx, id, Some(address), action.event(), Some(&request.actor))?;
    }
    let finished = action == QueueAction::Delete && mark_finished_if_done(tx, id)?;
    audit.push(
        crate::audit::Event::new(&request.actor, action.audit_code())
            .object(id.as_str())
            .detail(format!("recipients: {}", changed.join(", "))),
    );
    Ok(ActOutcome {
        recipients: changed,
        finished,
    })
}

/// Reads the stored state of one recipient (tests and tools).
pub fn recipient_status(
    dir: &Path,
    id: &QueueId,
    address: &str,
) -> Result<Option<RecipientStatus>, QueueError> {
    let conn = Connection::open_with_flags(
        dir.join("queue.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn
        .query_row(
            "SELECT status FROM recipients WHERE message = ?1 AND address = ?2",
            params![id.as_str(), address],
            |row| row.get::<_, String>(0),
        )
        .optional()?
        .map(|s| RecipientStatus::parse(&s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(3600),
            lifetime: Duration::from_secs(5 * 24 * 3600),
        }
    }

    fn envelope(rcpts: &[&str]) -> Envelope {
        Envelope {
            sender: "secretariat@cabinet.test".into(),
            recipients: rcpts.iter().map(|s| s.to_string()).collect(),
            submitted_by: Some("secretariat".into()),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = policy();
        assert_eq!(p.delay(1), Duration::from_secs(60));
        assert_eq!(p.delay(2), Duration::from_secs(120));
        assert_eq!(p.delay(3), Duration::from_secs(240));
        assert_eq!(p.delay(30), Duration::from_secs(3600));
    }

    #[test]
    fn queue_ids_are_validated() {
        assert!(QueueId::parse("0123456789ABCDEF").is_some());
        assert!(QueueId::parse("../../etc/passwd").is_none());
        assert!(QueueId::parse("0123456789ABCDEG").is_none());
        let id = QueueId::generate();
        assert_eq!(QueueId::parse(id.as_str()), Some(id));
    }

    #[tokio::test]
    async fn accepted_message_is_on_disk_and_due() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), policy()).unwrap();
        let id = queue
            .accept(
                QueueId::generate(),
                envelope(&["a@x.mssante.fr", "b@x.mssante.fr"]),
                b"Subject: hi\r\n\r\nbody\r\n".to_vec(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(queue.message_path(&id)).unwrap(),
            b"Subject: hi\r\n\r\nbody\r\n"
        );
        let jobs = queue.due(now_unix(), 10, HashSet::new()).await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].recipients.len(), 2);
        let busy: HashSet<QueueId> = [id.clone()].into();
        assert!(queue.due(now_unix(), 10, busy).await.unwrap().is_empty());
        assert_eq!(queue.list().unwrap().len(), 2);
        assert_eq!(pending_count(&queue.dir).unwrap(), 2);
    }

    #[tokio::test]
    async fn outcomes_are_final_once() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), policy()).unwrap();
        let id = queue
            .accept(
                QueueId::generate(),
                envelope(&["a@x.mssante.fr", "b@x.mssante.fr"]),
                b"x\r\n".to_vec(),
                None,
            )
            .await
            .unwrap();
        let summary = queue
            .record(vec![
                (
                    id.clone(),
                    "a@x.mssante.fr".into(),
                    Outcome::Delivered {
                        reply: "250 ok".into(),
                    },
                ),
                (
                    id.clone(),
                    "b@x.mssante.fr".into(),
                    Outcome::Deferred {
                        reply: "451 later".into(),
                    },
                ),
            ])
            .await
            .unwrap();
        assert!(summary.failures.is_empty());
        assert!(summary.finished.is_empty());
        // a is final: a later outcome for it changes nothing.
        queue
            .record(vec![(
                id.clone(),
                "a@x.mssante.fr".into(),
                Outcome::Failed {
                    reply: "550 no".into(),
                },
            )])
            .await
            .unwrap();
        assert_eq!(
            recipient_status(dir.path(), &id, "a@x.mssante.fr").unwrap(),
            Some(RecipientStatus::Delivered)
        );
        // b was deferred: not due before its retry time.
        assert!(
            queue
                .due(now_unix(), 10, HashSet::new())
                .await
                .unwrap()
                .is_empty()
        );
        assert!(queue.next_due().await.unwrap().unwrap() >= now_unix() + 59);
        let summary = queue
            .record(vec![(
                id.clone(),
                "b@x.mssante.fr".into(),
                Outcome::Failed {
                    reply: "550 no".into(),
                },
            )])
            .await
            .unwrap();
        assert_eq!(summary.failures.len(), 1);
        // Not finished until the sender has been told.
        assert!(summary.finished.is_empty());
        assert_eq!(queue.unreported().await.unwrap().len(), 1);
        let finished = queue
            .mark_reported(vec![(id.clone(), "b@x.mssante.fr".into())])
            .await
            .unwrap();
        assert_eq!(finished, vec![id.clone()]);
        assert!(queue.unreported().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn expired_messages_fail_with_their_last_error() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), policy()).unwrap();
        let id = queue
            .accept(
                QueueId::generate(),
                envelope(&["a@x.mssante.fr"]),
                b"x\r\n".to_vec(),
                None,
            )
            .await
            .unwrap();
        queue
            .record(vec![(
                id.clone(),
                "a@x.mssante.fr".into(),
                Outcome::Deferred {
                    reply: "connection refused".into(),
                },
            )])
            .await
            .unwrap();
        assert!(queue.expire(now_unix()).await.unwrap().is_empty());
        let failures = queue.expire(now_unix() + 6 * 24 * 3600).await.unwrap();
        assert_eq!(failures.len(), 1);
        assert!(failures[0].reply.contains("connection refused"));
        assert_eq!(
            recipient_status(dir.path(), &id, "a@x.mssante.fr").unwrap(),
            Some(RecipientStatus::Failed)
        );
    }

    #[tokio::test]
    async fn reopening_keeps_pending_work_and_drops_unacknowledged_files() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let queue = Queue::open(dir.path(), policy()).unwrap();
            queue
                .accept(
                    QueueId::generate(),
                    envelope(&["a@x.mssante.fr"]),
                    b"x\r\n".to_vec(),
                    None,
                )
                .await
                .unwrap()
        };
        // A file written by a session that crashed before its commit.
        std::fs::write(
            dir.path().join("messages").join("00000000000000AA"),
            b"lost",
        )
        .unwrap();
        let queue = Queue::open(dir.path(), policy()).unwrap();
        assert!(!dir.path().join("messages/00000000000000AA").exists());
        let jobs = queue.due(now_unix(), 10, HashSet::new()).await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].id, id);
    }

    #[tokio::test]
    async fn concurrent_accepts_are_all_stored() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), policy()).unwrap();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let q = queue.clone();
            tasks.push(tokio::spawn(async move {
                q.accept(
                    QueueId::generate(),
                    envelope(&["a@x.mssante.fr"]),
                    format!("m{i}\r\n").into_bytes(),
                    None,
                )
                .await
            }));
        }
        let mut ids = HashSet::new();
        for t in tasks {
            ids.insert(t.await.unwrap().unwrap());
        }
        assert_eq!(ids.len(), 50);
        assert_eq!(queue.list().unwrap().len(), 50);
    }

    async fn one_message(queue: &Queue, rcpts: &[&str]) -> QueueId {
        queue
            .accept(
                QueueId::generate(),
                envelope(rcpts),
                b"Subject: x\r\n\r\nx\r\n".to_vec(),
                Some("m1@cabinet.test".into()),
            )
            .await
            .unwrap()
    }

    fn status_of(dir: &Path, id: &QueueId, rcpt: &str) -> Option<RecipientStatus> {
        recipient_status(dir, id, rcpt).unwrap()
    }

    #[tokio::test]
    async fn held_recipients_are_never_due_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), policy()).unwrap();
        let id = one_message(&queue, &["a@x.mssante.fr", "b@x.mssante.fr"]).await;
        let out = queue
            .act(&id, QueueAction::Hold, Some("A@x.mssante.fr".into()), "cli")
            .await
            .unwrap();
        assert_eq!(out.recipients, ["a@x.mssante.fr"]);
        let jobs = queue
            .due(now_unix() + 10_000, 10, HashSet::new())
            .await
            .unwrap();
        assert_eq!(jobs[0].recipients, ["b@x.mssante.fr"]);
        queue
            .act(&id, QueueAction::Hold, None, "cli")
            .await
            .unwrap();
        assert!(
            queue
                .due(now_unix() + 10_000, 10, HashSet::new())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(queue.next_due().await.unwrap(), None);
        // Held: not expired, the file stays.
        assert!(queue.expire(now_unix()).await.unwrap().is_empty());
        assert!(queue.message_path(&id).exists());
        assert_eq!(
            status_of(dir.path(), &id, "a@x.mssante.fr"),
            Some(RecipientStatus::Held)
        );
        // Holding again: nothing to do.
        assert!(matches!(
            queue.act(&id, QueueAction::Hold, None, "cli").await,
            Err(QueueError::NotApplicable(_))
        ));
        let out = queue
            .act(&id, QueueAction::Release, None, "cli")
            .await
            .unwrap();
        assert_eq!(out.recipients.len(), 2);
        let jobs = queue.due(now_unix(), 10, HashSet::new()).await.unwrap();
        assert_eq!(jobs[0].recipients.len(), 2);
    }

    #[tokio::test]
    async fn retry_makes_a_deferred_recipient_due_now() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), policy()).unwrap();
        let id = one_message(&queue, &["a@x.mssante.fr"]).await;
        queue
            .record(vec![(
                id.clone(),
                "a@x.mssante.fr".into(),
                Outcome::Deferred {
                    reply: "451 later".into(),
                },
            )])
            .await
            .unwrap();
        assert!(
            queue
                .due(now_unix(), 10, HashSet::new())
                .await
                .unwrap()
                .is_empty()
        );
        queue
            .act(&id, QueueAction::Retry, None, "web:admin")
            .await
            .unwrap();
        let entry = &queue.list().unwrap()[0];
        assert!(entry.next_attempt <= now_unix());
        assert_eq!(entry.attempts, 1);
        assert_eq!(
            queue
                .due(now_unix(), 10, HashSet::new())
                .await
                .unwrap()
                .len(),
            1
        );
        // Unknown message, unknown recipient.
        assert!(matches!(
            queue
                .act(&QueueId::generate(), QueueAction::Retry, None, "cli")
                .await,
            Err(QueueError::NotFound(_))
        ));
        assert!(matches!(
            queue
                .act(
                    &id,
                    QueueAction::Retry,
                    Some("z@x.mssante.fr".into()),
                    "cli"
                )
                .await,
            Err(QueueError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn delete_is_final_keeps_the_rows_and_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), policy()).unwrap();
        let id = one_message(&queue, &["a@x.mssante.fr", "b@x.mssante.fr"]).await;
        let out = queue
            .act(
                &id,
                QueueAction::Delete,
                Some("a@x.mssante.fr".into()),
                "web:admin",
            )
            .await
            .unwrap();
        assert!(!out.finished);
        assert!(queue.message_path(&id).exists());
        let jobs = queue.due(now_unix(), 10, HashSet::new()).await.unwrap();
        assert_eq!(jobs[0].recipients, ["b@x.mssante.fr"]);
        let out = queue
            .act(&id, QueueAction::Delete, None, "web:admin")
            .await
            .unwrap();
        assert_eq!(out.recipients, ["b@x.mssante.fr"]);
        assert!(out.finished);
        assert!(!queue.message_path(&id).exists());
        assert!(
            queue
                .due(now_unix(), 10, HashSet::new())
                .await
                .unwrap()
                .is_empty()
        );
        // Rows and events stay: tracking shows "deleted", no report owed.
        let list = queue.list().unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|e| e.status == "deleted"));
        assert_eq!(pending_count(&queue.dir).unwrap(), 0);
        assert!(queue.unreported().await.unwrap().is_empty());
        assert!(matches!(
            queue.act(&id, QueueAction::Release, None, "cli").await,
            Err(QueueError::NotApplicable(_))
        ));
        let conn = Connection::open(dir.path().join("queue.db")).unwrap();
        let deleted: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM events WHERE event = 'deleted' AND detail = 'web:admin'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(deleted, 2);
    }

    #[tokio::test]
    async fn an_attempt_in_flight_when_held_keeps_its_final_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path(), policy()).unwrap();
        let id = one_message(&queue, &["a@x.mssante.fr", "b@x.mssante.fr"]).await;
        queue
            .act(&id, QueueAction::Hold, None, "cli")
            .await
            .unwrap();
        queue
            .record(vec![
                (
                    id.clone(),
                    "a@x.mssante.fr".into(),
                    Outcome::Delivered {
                        reply: "250 ok".into(),
                    },
                ),
                (
                    id.clone(),
                    "b@x.mssante.fr".into(),
                    Outcome::Deferred {
                        reply: "451".into(),
                    },
                ),
            ])
            .await
            .unwrap();
        assert_eq!(
            status_of(dir.path(), &id, "a@x.mssante.fr"),
            Some(RecipientStatus::Delivered)
        );
        assert_eq!(
            status_of(dir.path(), &id, "b@x.mssante.fr"),
            Some(RecipientStatus::Held)
        );
    }

    #[tokio::test]
    async fn committed_changes_are_audited() {
        let dir = tempfile::tempdir().unwrap();
        let audit_dir = dir.path().join("audit");
        let audit =
            crate::audit::Audit::open(&audit_dir, crate::audit::AuditSettings::default()).unwrap();
        let queue =
            Queue::open_audited(&dir.path().join("q"), policy(), Some(audit.clone())).unwrap();
        let id = one_message(&queue, &["a@x.mssante.fr", "b@x.mssante.fr"]).await;
        queue
            .act(
                &id,
                QueueAction::Hold,
                Some("b@x.mssante.fr".into()),
                "web:admin",
            )
            .await
            .unwrap();
        queue
            .record(vec![(
                id.clone(),
                "a@x.mssante.fr".into(),
                Outcome::Delivered {
                    reply: "250 ok".into(),
                },
            )])
            .await
            .unwrap();
        queue
            .act(&id, QueueAction::Delete, None, "cli")
            .await
            .unwrap();
        audit.flush().await;
        let entries = crate::audit::list(&audit_dir, None, 100).unwrap();
        let got: Vec<(&str, &str, Option<&str>)> = entries
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str(), e.object.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("smtp:secretariat", "message_accepted", Some(id.as_str())),
                ("web:admin", "queue_held", Some(id.as_str())),
                ("daemon", "message_sent", Some(id.as_str())),
                ("cli", "message_deleted", Some(id.as_str())),
            ]
        );
        assert_eq!(entries[2].detail.as_deref(), Some("to a@x.mssante.fr"));
        // Never the subject.
        assert!(entries.iter().all(|e| !e.to_line().contains("Subject")));
        assert!(crate::audit::verify(&audit_dir).unwrap().ok());
    }
}
