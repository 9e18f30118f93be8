//! The tamper-evident audit log ([`docs/audit.md`]).
//!
//! Every admin and mailbox action is one JSON line in
//! `data_dir/audit/audit.log`:
//! `{seq, at, actor, action, object, detail, prev, hash}`, where `prev` is
//! the `hash` of the entry before (or [`GENESIS`] for the very first) and
//! `hash = SHA-256(prev || canonical JSON of {seq, at, actor, action,
//! object, detail})`, hex. Editing, removing, inserting or reordering a line
//! breaks the chain, which [`verify`] finds.
//!
//! One writer thread appends: callers send events over a channel (no I/O
//! on async threads), the writer takes every event waiting, writes them in
//! one `write` and `fdatasync`s once (group commit). At start it re-reads
//! the tail of the log to continue the chain; an incomplete last line (a
//! power cut in the middle of an append) is set aside in a `torn-*` file,
//! cut off, and recorded as an `audit_recovered` entry. When `audit.log`
//! reaches its size limit it is renamed `audit.log.<n>` (n = 1 for the
//! oldest) and a new `audit.log` continues the same chain.
//!
//! Entries never carry a PIN, a key, a subject, a patient's name or
//! address: objects are queue ids, Message-IDs, setting keys; details are
//! short codes and professional (MSSanté) addresses at most.

mod read;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::sync::oneshot;

pub use read::{AuditFile, BadLine, VerifyReport, audit_files, list, verify};

/// `prev` of the first entry ever written.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Name of the current log file in the audit directory.
pub const LOG_NAME: &str = "audit.log";

/// Default size at which `audit.log` is rotated (8 MiB, about 30,000
/// entries).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Most events written with one `fdatasync`.
const MAX_BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit log: {0}")]
    Invalid(String),
    #[error("audit log writer stopped")]
    Stopped,
    #[error("audit log: cannot write: {0}")]
    WriteFailed(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub seq: u64,
    /// Unix seconds.
    pub at: i64,
    /// Who: "web:admin", "cli", "daemon", "smtp:secretariat", "outbox"…
    pub actor: String,
    /// Stable code: "signin", "message_sent", "queue_held"…
    pub action: String,
    /// Queue id, Message-ID, setting key… never patient data.
    pub object: Option<String>,
    /// Short, never patient data.
    pub detail: Option<String>,
    pub prev: String,
    pub hash: String,
}

/// The hashed part of an entry, in its fixed field order.
#[derive(serde::Serialize)]
struct Canonical<'a> {
    seq: u64,
    at: i64,
    actor: &'a str,
    action: &'a str,
    object: Option<&'a str>,
    detail: Option<&'a str>,
}

impl AuditEntry {
    /// The hash this entry must carry, from its fields and `prev`.
    pub fn compute_hash(&self) -> String {
        let canonical = Canonical {
            seq: self.seq,
            at: self.at,
            actor: &self.actor,
            action: &self.action,
            object: self.object.as_deref(),
            detail: self.detail.as_deref(),
        };
        // Serialising a struct of strings and integers cannot fail.
        let json = serde_json::to_vec(&canonical).unwrap_or_default();
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(self.prev.as_bytes());
        ctx.update(&json);
        hex(ctx.finish().as_ref())
    }

    /// The line as written (without its newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn chained(seq: u64, at: i64, event: Event, prev: &str) -> AuditEntry {
        let mut entry = AuditEntry {
            seq,
            at,
            actor: event.actor,
            action: event.action,
            object: event.object,
            detail: event.detail,
            prev: prev.to_string(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// What happened, before it gets its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub actor: String,
    pub action: String,
    pub object: Option<String>,
    pub detail: Option<String>,
}

/// Longest accepted fields (characters).
pub const MAX_ACTOR: usize = 64;
pub const MAX_ACTION: usize = 48;
pub const MAX_OBJECT: usize = 256;
pub const MAX_DETAIL: usize = 300;

impl Event {
    pub fn new(actor: &str, action: &str) -> Event {
        Event {
            actor: actor.to_string(),
            action: action.to_string(),
            object: None,
            detail: None,
        }
    }

    pub fn object(mut self, object: impl Into<String>) -> Event {
        self.object = Some(object.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Event {
        self.detail = Some(detail.into());
        self
    }

    /// Checks lengths and character sets: action `[a-z][a-z0-9_]*`, actor
    /// `[A-Za-z0-9:._@-]`, object and detail without control characters.
    pub fn validate(&self) -> Result<(), AuditError> {
        let bad = |why: String| Err(AuditError::Invalid(why));
        let action = self.action.as_bytes();
        if action.is_empty()
            || self.action.len() > MAX_ACTION
            || !action[0].is_ascii_lowercase()
            || !action
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        {
            return bad(format!(
                "action must be 1 to {MAX_ACTION} characters among a-z, 0-9 and _, starting with a letter"
            ));
        }
        if self.actor.is_empty()
            || self.actor.len() > MAX_ACTOR
            || !self
                .actor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":._@-".contains(&b))
        {
            return bad(format!(
                "actor must be 1 to {MAX_ACTOR} characters among A-Z, a-z, 0-9 and :._@-"
            ));
        }
        for (name, value, max) in [
            ("object", &self.object, MAX_OBJECT),
            ("detail", &self.detail, MAX_DETAIL),
        ] {
            if let Some(v) = value
                && (v.chars().count() > max || v.chars().any(char::is_control))
            {
                return bad(format!(
                    "{name} must be at most {max} characters, without control characters"
                ));
            }
        }
        Ok(())
    }

    /// Cuts overlong fields and replaces what [`Self::validate`] refuses,
    /// for events the daemon builds from data it received (reply texts).
    fn sanitised(mut self) -> Event {
        fn clean(text: &str, max: usize) -> String {
            text.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(max)
                .collect()
        }
        self.actor = clean(&self.actor, MAX_ACTOR)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || ":._@-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if self.actor.is_empty() {
            self.actor = "daemon".into();
        }
        self.object = self.object.map(|o| clean(&o, MAX_OBJECT));
        self.detail = self.detail.map(|d| clean(&d, MAX_DETAIL));
        self
    }
}

/// Settings of the writer.
#[derive(Debug, Clone, Copy)]
pub struct AuditSettings {
    /// `audit.log` is rotated once it reaches this size.
    pub max_file_bytes: u64,
}

impl Default for AuditSettings {
    fn default() -> AuditSettings {
        AuditSettings {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

enum Command {
    Append(
        Event,
        Option<oneshot::Sender<Result<AuditEntry, AuditError>>>,
    ),
    Flush(oneshot::Sender<()>),
}

/// Handle to the audit log; cheap to clone. Recording only sends to the
/// writer thread: it never blocks on I/O.
#[derive(Clone)]
pub struct Audit {
    dir: PathBuf,
    writer: mpsc::Sender<Command>,
}

impl Audit {
    /// Opens the log under `dir` (creating it, owner-only), recovers its
    /// tail and starts the writer thread.
    pub fn open(dir: &Path, settings: AuditSettings) -> Result<Audit, AuditError> {
        let state = Writer::open(dir, settings)?;
        let (writer, commands) = mpsc::channel();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || state.run(commands))
            .map_err(io_error(dir))?;
        Ok(Audit {
            dir: dir.to_path_buf(),
            writer,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records an event without waiting. Fields the writer would refuse
    /// are cleaned rather than the event lost.
    pub fn record(&self, event: Event) {
        let action = event.action.clone();
        if self
            .writer
            .send(Command::Append(event.sanitised(), None))
            .is_err()
        {
            tracing::error!(action = %action, "audit log writer stopped: event not recorded");
        }
    }

    /// Shorthand for [`Self::record`].
    pub fn note(&self, actor: &str, action: &str, object: Option<&str>, detail: Option<&str>) {
        self.record(Event {
            actor: actor.into(),
            action: action.into(),
            object: object.map(str::to_string),
            detail: detail.map(str::to_string),
        });
    }

    /// Records a validated event and waits until it is durable.
    pub async fn append(&self, event: Event) -> Result<AuditEntry, AuditError> {
        event.validate()?;
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Command::Append(event, Some(reply)))
            .map_err(|_| AuditError::Stopped)?;
        answer.await.map_err(|_| AuditError::Stopped)?
    }

    /// Waits until every event sent before is written and synced.
    pub async fn flush(&self) {
        let (reply, answer) = oneshot::channel();
        if self.writer.send(Command::Flush(reply)).is_ok() {
            let _ = answer.await;
        }
    }

    /// [`Self::flush`] for threads outside the runtime.
    pub fn flush_blocking(&self) {
        let (reply, answer) = oneshot::channel();
        if self.writer.send(Command::Flush(reply)).is_ok() {
            let _ = answer.blocking_recv();
        }
    }
}

/// The writer thread's state: the open file and the chain's tail.
struct Writer {
    dir: PathBuf,
    settings: AuditSettings,
    file: std::fs::File,
    len: u64,
    seq: u64,
    last_hash: String,
}

impl Writer {
    fn open(dir: &Path, settings: AuditSettings) -> Result<Writer, AuditError> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_error(dir))?;
        let files = audit_files(dir)?;
        let current = dir.join(LOG_NAME);
        // The tail is in audit.log, or in the newest rotated file when a
        // crash came between a rotation's rename and the new file.
        let mut recovered = Vec::new();
        let mut chain = (0, GENESIS.to_string());
        for file in files.iter().rev() {
            let (tail, torn) = read::tail(&file.path)?;
            if let Some(torn) = torn {
                recovered.push(set_aside(dir, &file.path, &torn)?);
            }
            if let Some(entry) = tail {
                chain = (entry.seq, entry.hash);
                break;
            }
        }
        let (seq, last_hash) = chain;
        let file = open_append(&current)?;
        let len = file.metadata().map_err(io_error(&current))?.len();
        sync_dir(dir)?;
        let mut writer = Writer {
            dir: dir.to_path_buf(),
            settings,
            file,
            len,
            seq,
            last_hash,
        };
        for detail in recovered {
            tracing::warn!(detail = %detail, "audit log: incomplete last line set aside");
            writer.write_batch(vec![Event::new("daemon", "audit_recovered").detail(detail)])?;
        }
        Ok(writer)
    }

    fn run(mut self, commands: mpsc::Receiver<Command>) {
        while let Ok(first) = commands.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match commands.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let mut events = Vec::new();
            let mut replies = Vec::new();
            let mut flushes = Vec::new();
            for command in batch {
                match command {
                    Command::Append(event, reply) => {
                        events.push(event);
                        replies.push(reply);
                    }
                    Command::Flush(reply) => flushes.push(reply),
                }
            }
            if !events.is_empty() {
                match self.write_batch(events) {
                    Ok(entries) => {
                        for (reply, entry) in replies.into_iter().zip(entries) {
                            if let Some(reply) = reply {
                                let _ = reply.send(Ok(entry));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "audit log: cannot write; events lost");
                        let text = e.to_string();
                        for reply in replies.into_iter().flatten() {
                            let _ = reply.send(Err(AuditError::WriteFailed(text.clone())));
                        }
                    }
                }
            }
            for reply in flushes {
                let _ = reply.send(());
            }
        }
    }

    /// Chains, writes and syncs `events`; on failure the file is cut back
    /// to its last good length so no half line stays behind.
    fn write_batch(&mut self, events: Vec<Event>) -> Result<Vec<AuditEntry>, AuditError> {
        let at = crate::queue::now_unix();
        let mut entries = Vec::with_capacity(events.len());
        let mut buffer = Vec::new();
        let (start_seq, start_hash) = (self.seq, self.last_hash.clone());
        let result = (|| {
            for event in events {
                let size = self.len + buffer.len() as u64;
                if size > 0 && size >= self.settings.max_file_bytes {
                    self.append(&buffer)?;
                    buffer.clear();
                    self.rotate()?;
                }
                let entry = AuditEntry::chained(self.seq + 1, at, event, &self.last_hash);
                buffer.extend_from_slice(entry.to_line().as_bytes());
                buffer.push(b'\n');
                self.seq = entry.seq;
                self.last_hash = entry.hash.clone();
                entries.push(entry);
            }
            self.append(&buffer)
        })();
        if let Err(e) = result {
            self.seq = start_seq;
            self.last_hash = start_hash;
            let path = self.dir.join(LOG_NAME);
            let _ = self.file.set_len(self.len);
            let _ = self.file.sync_data();
            // Entries already synced into a rotated file stay; re-read the
            // tail to be sure the chain continues from what is on disk.
            if let Ok(Some(tail)) = read::tail(&path).map(|(t, _)| t) {
                self.seq = tail.seq;
                self.last_hash = tail.hash;
            }
            return Err(e);
        }
        Ok(entries)
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(LOG_NAME);
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(io_error(&path))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// `audit.log` → `audit.log.<n+1>`, then a new `audit.log`.
    fn rotate(&mut self) -> Result<(), AuditError> {
        let next = audit_files(&self.dir)?
            .iter()
            .filter_map(|f| f.number)
            .max()
            .unwrap_or(0)
            + 1;
        let current = self.dir.join(LOG_NAME);
        let rotated = self.dir.join(format!("{LOG_NAME}.{next}"));
        std::fs::rename(&current, &rotated).map_err(io_error(&current))?;
        self.file = open_append(&current)?;
        sync_dir(&self.dir)?;
        self.len = 0;
        tracing::info!(file = %rotated.display(), "audit log rotated");
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<std::fs::File, AuditError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))
}

fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

/// Copies the torn bytes at the end of `path` to `torn-<unix>-<n>` and
/// cuts them off; returns the detail of the `audit_recovered` entry.
fn set_aside(dir: &Path, path: &Path, torn: &read::Torn) -> Result<String, AuditError> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let tail = bytes.get(torn.offset as usize..).unwrap_or_default();
    let mut n = 0;
    let aside = loop {
        let candidate = dir.join(format!("torn-{}-{n}", crate::queue::now_unix()));
        if !candidate.exists() {
            break candidate;
        }
        n += 1;
    };
    std::fs::write(&aside, tail).map_err(io_error(&aside))?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error(path))?;
    file.set_len(torn.offset)
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))?;
    sync_dir(dir)?;
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    Ok(format!(
        "{}: incomplete last line {} ({} bytes, sha256 {}) set aside in {}",
        name(path),
        torn.line,
        tail.len(),
        &sha256_hex(tail)[..16],
        name(&aside)
    ))
}

#[cfg(test)]
mod tests;
