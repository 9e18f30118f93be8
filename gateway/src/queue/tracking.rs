//! Tracking of sent messages per recipient, from the operator's "250" to
//! the receipts that come back: delivered, read, failed, or no answer when
//! a receipt was asked and none came in time.
//!
//! Kept in the queue's database (table `tracking`) through a connection of
//! its own: the delivery writer thread stays dedicated to the queue, and
//! SQLite's WAL lets both write in turn. A final state (read, failed,
//! no answer) is never changed, so each recipient ends in exactly one.
//!
//! Correspondents not on MSSanté get the document on paper
//! ([`crate::paper`]): their row is in state "paper", final from the start,
//! and table `paper_sent` keeps what the monthly summary of correspondents
//! still reached on paper is made from.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::store::QueueError;
use crate::inbound::receipts::ReportEvent;

/// One tracked recipient.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct TrackEntry {
    pub message_id: String,
    pub recipient: String,
    /// "sent", "delivered", "read", "failed", "no_answer", or "paper"
    /// (sent on paper).
    pub state: String,
    pub receipt_requested: bool,
    pub detail: Option<String>,
    pub sent_at: i64,
    pub updated_at: i64,
}

pub struct Tracking {
    conn: Mutex<Connection>,
}

impl Tracking {
    pub fn open(queue_dir: &Path) -> Result<Tracking, QueueError> {
        let conn = Connection::open(queue_dir.join("queue.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // NORMAL: in WAL mode a power cut may lose the last tracking rows,
        // never corrupt them; the queue itself keeps FULL, and tracking
        // must not add an fsync per delivered message.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS tracking (
                 message_id TEXT NOT NULL,
                 recipient TEXT NOT NULL,
                 receipt_requested INTEGER NOT NULL,
                 state TEXT NOT NULL,
                 detail TEXT,
                 sent_at INTEGER NOT NULL,
                 updated_at INTEGER NOT NULL,
                 PRIMARY KEY (message_id, recipient)
             );
             CREATE TABLE IF NOT EXISTS paper_sent (
                 message_key TEXT NOT NULL,
                 correspondent_key TEXT NOT NULL,
                 correspondent_label TEXT NOT NULL,
                 postal TEXT NOT NULL,
                 title TEXT NOT NULL,
                 sent_at INTEGER NOT NULL,
                 PRIMARY KEY (message_key, correspondent_key)
             );
             CREATE INDEX IF NOT EXISTS paper_sent_at ON paper_sent (sent_at);",
        )?;
        migrate(&conn)?;
        Ok(Tracking {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, QueueError> {
        let conn = self.conn.lock().map_err(|_| QueueError::Stopped)?;
        Ok(f(&conn)?)
    }

    /// The operator accepted the message for `recipient`.
    pub fn sent(
        &self,
        message_id: &str,
        recipient: &str,
        receipt_requested: bool,
        now: i64,
    ) -> Result<(), QueueError> {
        self.sent_all(message_id, &[recipient.to_string()], receipt_requested, now)
    }

    /// The operator accepted the message for these recipients (one
    /// transaction).
    pub fn sent_all(
        &self,
        message_id: &str,
        recipients: &[String],
        receipt_requested: bool,
        now: i64,
    ) -> Result<(), QueueError> {
        self.with(|c| {
            let tx =
                rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
            for recipient in recipients {
                tx.execute(
                    "INSERT OR IGNORE INTO tracking
                     (message_id, recipient, receipt_requested, state, sent_at, updated_at)
                     VALUES (?1, ?2, ?3, 'sent', ?4, ?4)",
                    params![
                        message_id,
                        recipient.to_ascii_lowercase(),
                        receipt_requested,
                        now
                    ],
                )?;
            }
            tx.commit()
        })
    }

    /// Applies a report; returns how many recipients changed state. A
    /// report naming no recipient applies to all of the message's.
    pub fn apply(
        &self,
        message_id: &str,
        recipient: Option<&str>,
        event: &ReportEvent,
        now: i64,
    ) -> Result<usize, QueueError> {
        let (state, detail, from): (&str, Option<&str>, &str) = match event {
            // Delivered only moves forward from "sent".
            ReportEvent::Delivered => ("delivered", None, "('sent')"),
            ReportEvent::Read => ("read", None, "('sent', 'delivered')"),
            ReportEvent::Failed(d) => ("failed", Some(d.as_str()), "('sent', 'delivered')"),
        };
        let recipient = recipient.map(str::to_ascii_lowercase);
        self.with(|c| {
            c.execute(
                &format!(
                    "UPDATE tracking SET state = ?1, detail = ?2, updated_at = ?3
                     WHERE message_id = ?4 AND (?5 IS NULL OR recipient = ?5)
                       AND state IN {from}"
                ),
                params![state, detail, now, message_id, recipient],
            )
        })
    }

    /// Recipients whose receipt did not come before `deadline` (sent
    /// earlier): marked "no answer" and returned, each once.
    pub fn expire_no_answer(
        &self,
        sent_before: i64,
        now: i64,
    ) -> Result<Vec<TrackEntry>, QueueError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "UPDATE tracking SET state = 'no_answer', updated_at = ?2
                 WHERE receipt_requested = 1 AND state IN ('sent', 'delivered') AND sent_at < ?1
                 RETURNING message_id, recipient, state, receipt_requested, detail, sent_at, updated_at",
            )?;
            let rows = stmt.query_map(params![sent_before, now], row)?;
            rows.collect()
        })
    }

    /// The document `message_key` went to `correspondent_key` on paper
    /// (printed or put in the folder to print): a tracking row in state
    /// "paper" and a line of the paper log, in one transaction. Recording
    /// the same message and correspondent again changes nothing.
    pub fn record_paper(&self, sent: &PaperSent<'_>) -> Result<(), QueueError> {
        let key = sent.correspondent_key.to_lowercase();
        self.with(|c| {
            let tx =
                rusqlite::Transaction::new_unchecked(c, rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT OR IGNORE INTO tracking
                 (message_id, recipient, receipt_requested, state, detail, sent_at, updated_at)
                 VALUES (?1, ?2, 0, 'paper', ?3, ?4, ?4)",
                params![sent.message_key, key, sent.postal, sent.at],
            )?;
            let postal_json = sent
                .postal_address
                .and_then(|a| serde_json::to_string(a).ok());
            tx.execute(
                "INSERT OR IGNORE INTO paper_sent
                 (message_key, correspondent_key, correspondent_label, postal, title, sent_at, postal_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    sent.message_key,
                    key,
                    sent.correspondent_label,
                    sent.postal,
                    sent.title,
                    sent.at,
                    postal_json
                ],
            )?;
            tx.commit()
        })
    }

    /// True when `message_key` was already recorded as sent on paper to
    /// `correspondent_key` (so a restart does not print it twice).
    pub fn paper_recorded(
        &self,
        message_key: &str,
        correspondent_key: &str,
    ) -> Result<bool, QueueError> {
        let key = correspondent_key.to_lowercase();
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM paper_sent WHERE message_key = ?1 AND correspondent_key = ?2)",
                params![message_key, key],
                |row| row.get(0),
            )
        })
    }

    /// Correspondents sent something on paper in `[from, to)` (Unix
    /// seconds), the most frequent first (then the most recent), with the
    /// name and address of their latest letter.
    pub fn paper_summary_between(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<PaperSummaryRow>, QueueError> {
        self.with(|c| {
            // SQLite takes the bare columns of an aggregate query with
            // MAX() from the row holding the maximum: the latest letter.
            let mut stmt = c.prepare(
                "SELECT correspondent_key, correspondent_label, postal,
                        COUNT(*) AS n, MAX(sent_at) AS last
                 FROM paper_sent WHERE sent_at >= ?1 AND sent_at < ?2
                 GROUP BY correspondent_key
                 ORDER BY n DESC, last DESC, correspondent_key",
            )?;
            let rows = stmt.query_map(params![from, to], |r| {
                Ok(PaperSummaryRow {
                    key: r.get(0)?,
                    correspondent: r.get(1)?,
                    address: r.get(2)?,
                    count: r.get(3)?,
                    last_at: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// [`Self::paper_summary_between`] for one calendar month (UTC).
    pub fn paper_summary(&self, year: i32, month: u8) -> Result<Vec<PaperSummaryRow>, QueueError> {
        let (from, to) = month_bounds(year, month)
            .ok_or_else(|| QueueError::Corrupt(format!("{year}-{month:02} is not a month")))?;
        self.paper_summary_between(from, to)
    }

    pub fn list(&self) -> Result<Vec<TrackEntry>, QueueError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT message_id, recipient, state, receipt_requested, detail, sent_at, updated_at
                 FROM tracking ORDER BY sent_at, message_id, recipient",
            )?;
            let rows = stmt.query_map([], row)?;
            rows.collect()
        })
    }
}

/// Filters of [`Tracking::search`] (`GET /v1/tracking?q=&state=&from=&to=&limit=`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TrackingQuery {
    /// Part of a recipient address, a Message-ID or a queue id.
    pub q: Option<String>,
    /// "pending", "held", "sent", "delivered", "read", "failed",
    /// "no_answer", "deleted", "paper".
    pub state: Option<String>,
    /// Accepted at or after (Unix seconds).
    pub from: Option<i64>,
    /// Accepted before (Unix seconds).
    pub to: Option<i64>,
    /// At most this many (default 100, at most 1,000).
    pub limit: Option<usize>,
}

impl TrackingQuery {
    pub fn is_empty(&self) -> bool {
        self.q.is_none()
            && self.state.is_none()
            && self.from.is_none()
            && self.to.is_none()
            && self.limit.is_none()
    }
}

/// One recipient of one message, wherever it is: in the queue (pending,
/// held, failed, deleted) or past the operator (sent, delivered, read…).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct TrackHit {
    /// Null for documents sent on paper.
    pub queue_id: Option<String>,
    pub message_id: Option<String>,
    pub recipient: String,
    pub state: String,
    pub receipt_requested: bool,
    pub detail: Option<String>,
    /// When the box accepted the message (or the letter was made).
    pub sent_at: i64,
    pub updated_at: i64,
    /// The patient the document is about (`NOM Prénom JJ/MM/AAAA`), for
    /// documents from the document folder whose sidecar named one.
    #[serde(default)]
    pub patient: Option<String>,
    /// The patient's INS matricule, when given.
    #[serde(default)]
    pub patient_ins: Option<String>,
}

/// A step of a recipient's timeline.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Step {
    pub at: i64,
    /// accepted, deferred, sent, failed, expired, reported, held,
    /// released, retried, deleted, then from receipts: delivered, read,
    /// failed, no_answer; or paper.
    pub event: String,
    pub detail: Option<String>,
}

/// One recipient's story.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RecipientTimeline {
    pub recipient: String,
    pub queue_id: Option<String>,
    pub state: String,
    pub detail: Option<String>,
    pub timeline: Vec<Step>,
}

/// `GET /v1/tracking/{message_id}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct MessageTimeline {
    pub message_id: Option<String>,
    /// Usually one; several when a client submitted the same message again.
    pub queue_ids: Vec<String>,
    pub submitted_by: Option<String>,
    pub received_at: Option<i64>,
    pub recipients: Vec<RecipientTimeline>,
    /// As in [`TrackHit`].
    #[serde(default)]
    pub patient: Option<String>,
    #[serde(default)]
    pub patient_ins: Option<String>,
    /// The file name of the document sent, when it came from the document
    /// folder and is still in its `sent/` folder (downloadable).
    #[serde(default)]
    pub document: Option<String>,
}

/// A message received and exported to the import folder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Received {
    pub at: i64,
    /// The sender's address (a correspondent, never the subject, which
    /// names the patient in MSSanté's convention).
    pub from: String,
    /// The folder it was exported to, inside the import folder.
    pub folder: String,
    pub files: u32,
    pub problems: u32,
}

/// A document sent from the document folder, filed in `sent/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentDocument {
    pub path: std::path::PathBuf,
    /// The name it was dropped with.
    pub name: String,
}

const SEARCH: &str = "
WITH rows AS (
  SELECT m.id AS queue_id, m.message_id AS message_id, r.address AS recipient,
         COALESCE(t.state, CASE r.status WHEN 'delivered' THEN 'sent' ELSE r.status END) AS state,
         COALESCE(t.receipt_requested, 0) AS receipt_requested,
         COALESCE(t.detail, r.last_reply) AS detail,
         m.received_at AS at, MAX(COALESCE(t.updated_at, 0), r.updated_at) AS updated_at
  FROM recipients r JOIN messages m ON m.id = r.message
  LEFT JOIN tracking t ON t.message_id = m.message_id AND t.recipient = lower(r.address)
  UNION ALL
  SELECT NULL, t.message_id, t.recipient, t.state, t.receipt_requested, t.detail, t.sent_at, t.updated_at
  FROM tracking t
  WHERE NOT EXISTS (SELECT 1 FROM messages m JOIN recipients r ON r.message = m.id
                    WHERE m.message_id = t.message_id AND lower(r.address) = t.recipient)
)
SELECT rows.queue_id, rows.message_id, rows.recipient, rows.state, rows.receipt_requested,
       rows.detail, rows.at, rows.updated_at, p.label, p.ins
FROM rows LEFT JOIN message_patients p ON p.message_id = rows.message_id
WHERE (?1 IS NULL OR rows.recipient LIKE ?1 ESCAPE '\\' OR rows.message_id LIKE ?1 ESCAPE '\\'
       OR rows.queue_id LIKE ?1 ESCAPE '\\' OR p.search LIKE ?6 ESCAPE '\\')
  AND (?2 IS NULL OR rows.state = ?2) AND (?3 IS NULL OR rows.at >= ?3) AND (?4 IS NULL OR rows.at < ?4)
ORDER BY rows.at DESC, rows.queue_id, rows.recipient
LIMIT ?5";

impl Tracking {
    /// Recipients matching `query`, the most recent first. Needs the
    /// queue's tables (same database).
    pub fn search(&self, query: &TrackingQuery) -> Result<Vec<TrackHit>, QueueError> {
        let q = query.q.as_deref().filter(|q| !q.is_empty());
        let pattern = q.map(like_pattern);
        // The patient is matched without case, accents or extra spaces.
        let patient_pattern = q
            .map(fold_for_search)
            .filter(|q| !q.is_empty())
            .map(|q| like_pattern(&q));
        let limit = query.limit.unwrap_or(100).clamp(1, 1000) as i64;
        self.with(|c| {
            let mut stmt = c.prepare_cached(SEARCH)?;
            let rows = stmt.query_map(
                params![
                    pattern,
                    query.state,
                    query.from,
                    query.to,
                    limit,
                    patient_pattern
                ],
                |r| {
                    Ok(TrackHit {
                        queue_id: r.get(0)?,
                        message_id: r.get(1)?,
                        recipient: r.get(2)?,
                        state: r.get(3)?,
                        receipt_requested: r.get(4)?,
                        detail: r.get(5)?,
                        sent_at: r.get(6)?,
                        updated_at: r.get(7)?,
                        patient: r.get(8)?,
                        patient_ins: r.get(9)?,
                    })
                },
            )?;
            rows.collect()
        })
    }

    /// The timeline of each recipient of the message with this Message-ID
    /// (angle brackets optional) or queue id; `None` when unknown.
    pub fn timeline(&self, key: &str) -> Result<Option<MessageTimeline>, QueueError> {
        let message_id = key
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string();
        self.with(|c| {
            let messages: Vec<(String, Option<String>, Option<String>, i64)> = {
                let mut stmt = c.prepare_cached(
                    "SELECT id, message_id, submitted_by, received_at FROM messages
                     WHERE id = upper(?1) OR message_id = ?1 ORDER BY received_at, id",
                )?;
                stmt.query_map([&message_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?
            };
            let message_id = messages
                .iter()
                .find_map(|m| m.1.clone())
                .unwrap_or(message_id);
            let tracked: Vec<TrackEntry> = {
                let mut stmt = c.prepare_cached(
                    "SELECT message_id, recipient, state, receipt_requested, detail, sent_at, updated_at
                     FROM tracking WHERE message_id = ?1 ORDER BY recipient",
                )?;
                stmt.query_map([&message_id], row)?.collect::<Result<_, _>>()?
            };
            if messages.is_empty() && tracked.is_empty() {
                return Ok(None);
            }
            let mut recipients: Vec<RecipientTimeline> = Vec::new();
            for (queue_id, _, _, _) in &messages {
                let rcpts: Vec<(String, String, Option<String>)> = {
                    let mut stmt = c.prepare_cached(
                        "SELECT address, status, last_reply FROM recipients WHERE message = ?1 ORDER BY address",
                    )?;
                    stmt.query_map([queue_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<Result<_, _>>()?
                };
                let events: Vec<(Option<String>, i64, String, Option<String>)> = {
                    let mut stmt = c.prepare_cached(
                        "SELECT address, at, event, detail FROM events WHERE message = ?1 ORDER BY at, rowid",
                    )?;
                    stmt.query_map([queue_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                        .collect::<Result<_, _>>()?
                };
                for (address, status, last_reply) in rcpts {
                    let mut timeline: Vec<Step> = events
                        .iter()
                        .filter(|(a, ..)| a.as_deref().is_none_or(|a| a == address))
                        .map(|(_, at, event, detail)| Step {
                            at: *at,
                            event: match event.as_str() {
                                "delivered" => "sent".into(),
                                other => other.into(),
                            },
                            detail: detail.clone(),
                        })
                        .collect();
                    let lower = address.to_ascii_lowercase();
                    let track = tracked.iter().find(|t| t.recipient == lower);
                    let mut state = match status.as_str() {
                        "delivered" => "sent".to_string(),
                        other => other.to_string(),
                    };
                    let mut detail = last_reply;
                    if let Some(t) = track {
                        if t.state != "sent" {
                            timeline.push(Step {
                                at: t.updated_at,
                                event: t.state.clone(),
                                detail: t.detail.clone(),
                            });
                        }
                        state = t.state.clone();
                        detail = t.detail.clone().or(detail);
                    }
                    recipients.push(RecipientTimeline {
                        recipient: address,
                        queue_id: Some(queue_id.clone()),
                        state,
                        detail,
                        timeline,
                    });
                }
            }
            // Tracked without a queue message: paper letters.
            for t in &tracked {
                if recipients.iter().any(|r| r.recipient.eq_ignore_ascii_case(&t.recipient)) {
                    continue;
                }
                recipients.push(RecipientTimeline {
                    recipient: t.recipient.clone(),
                    queue_id: None,
                    state: t.state.clone(),
                    detail: None,
                    timeline: vec![Step {
                        at: t.sent_at,
                        event: t.state.clone(),
                        detail: None,
                    }],
                });
            }
            let patient: Option<(String, Option<String>)> = c
                .query_row(
                    "SELECT label, ins FROM message_patients WHERE message_id = ?1",
                    [&message_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (patient, patient_ins) = patient.unzip();
            let document = document_in(c, &message_id)?
                .filter(|d| d.path.is_file())
                .map(|d| d.name);
            Ok(Some(MessageTimeline {
                message_id: Some(message_id),
                queue_ids: messages.iter().map(|m| m.0.clone()).collect(),
                submitted_by: messages.first().and_then(|m| m.2.clone()),
                received_at: messages.first().map(|m| m.3),
                recipients,
                patient,
                patient_ins: patient_ins.flatten(),
                document,
            }))
        })
    }
}

impl Tracking {
    /// Notes the patient a message (by Message-ID) is about, so that
    /// tracking can be searched by patient. Kept in the box's database
    /// only, never logged. Noting the same message again changes nothing.
    pub fn record_patient(&self, message_id: &str, patient: &PatientRef) -> Result<(), QueueError> {
        let search = fold_for_search(&patient.search_text());
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO message_patients (message_id, label, ins, search, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    message_id,
                    patient.label,
                    patient.ins,
                    search,
                    crate::queue::now_unix()
                ],
            )
            .map(|_| ())
        })
    }

    /// Notes a message received and exported (the dashboard's « Derniers
    /// messages reçus »).
    pub fn record_received(&self, received: &Received) -> Result<(), QueueError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO received (at, sender, folder, files, problems) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    received.at,
                    received.from,
                    received.folder,
                    received.files,
                    received.problems
                ],
            )
            .map(|_| ())
        })
    }

    /// The latest messages received, newest first.
    pub fn recent_received(&self, limit: usize) -> Result<Vec<Received>, QueueError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT at, sender, folder, files, problems FROM received ORDER BY at DESC, rowid DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok(Received {
                    at: r.get(0)?,
                    from: r.get(1)?,
                    folder: r.get(2)?,
                    files: r.get(3)?,
                    problems: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Notes where the document of a message was filed after sending, so
    /// the web admin can offer it for download.
    pub fn record_document(
        &self,
        message_id: &str,
        path: &std::path::Path,
        name: &str,
    ) -> Result<(), QueueError> {
        let path = path.to_string_lossy().into_owned();
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO message_documents (message_id, path, name, recorded_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![message_id, path, name, crate::queue::now_unix()],
            )
            .map(|_| ())
        })
    }

    /// The document sent with the message `key` (Message-ID or queue id),
    /// if one was recorded.
    pub fn document(&self, key: &str) -> Result<Option<SentDocument>, QueueError> {
        let Some(message_id) = self.timeline(key)?.and_then(|t| t.message_id) else {
            return Ok(None);
        };
        self.with(|c| document_in(c, &message_id))
    }

    /// The correspondent `key` of the paper log: the name and address of
    /// the latest letter, and that address line by line when it was kept
    /// (letters recorded before it was, have only the one-line form).
    pub fn paper_correspondent(&self, key: &str) -> Result<Option<PaperCorrespondent>, QueueError> {
        let key = key.to_lowercase();
        self.with(|c| {
            c.query_row(
                "SELECT correspondent_key, correspondent_label, postal, postal_json,
                        (SELECT COUNT(*) FROM paper_sent WHERE correspondent_key = ?1)
                 FROM paper_sent WHERE correspondent_key = ?1
                 ORDER BY sent_at DESC, rowid DESC LIMIT 1",
                [&key],
                |r| {
                    let json: Option<String> = r.get(3)?;
                    Ok(PaperCorrespondent {
                        key: r.get(0)?,
                        correspondent: r.get(1)?,
                        address: r.get(2)?,
                        postal: json.and_then(|j| serde_json::from_str(&j).ok()),
                        letters: r.get(4)?,
                    })
                },
            )
            .optional()
        })
    }
}

/// Changes to the schema of databases made by earlier versions, each
/// applied once, in one transaction; rows already there are kept as they
/// are.
///
/// - `message_patients`: the patient each document from the document
///   folder is about (a new table);
/// - `paper_sent.postal_json`: the postal address line by line (a new
///   column, null for older letters);
/// - `message_documents`: where each document from the document folder
///   was filed after sending (a new table);
/// - `received`: messages received and exported (a new table).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS message_patients (
             message_id TEXT PRIMARY KEY,
             label TEXT NOT NULL,
             ins TEXT,
             search TEXT NOT NULL,
             recorded_at INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS message_documents (
             message_id TEXT PRIMARY KEY,
             path TEXT NOT NULL,
             name TEXT NOT NULL,
             recorded_at INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS received (
             at INTEGER NOT NULL,
             sender TEXT NOT NULL,
             folder TEXT NOT NULL,
             files INTEGER NOT NULL,
             problems INTEGER NOT NULL
         );
         CREATE INDEX IF NOT EXISTS received_at ON received (at);",
    )?;
    let has_postal_json: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('paper_sent') WHERE name = 'postal_json')",
        [],
        |r| r.get(0),
    )?;
    if !has_postal_json {
        tx.execute_batch("ALTER TABLE paper_sent ADD COLUMN postal_json TEXT;")?;
    }
    tx.commit()
}

fn document_in(c: &Connection, message_id: &str) -> rusqlite::Result<Option<SentDocument>> {
    c.query_row(
        "SELECT path, name FROM message_documents WHERE message_id = ?1",
        [message_id],
        |r| {
            Ok(SentDocument {
                path: std::path::PathBuf::from(r.get::<_, String>(0)?),
                name: r.get(1)?,
            })
        },
    )
    .optional()
}

/// The patient of a document, as tracking shows and searches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRef {
    /// `DUPONT Marie 12/03/1961`.
    pub label: String,
    /// The INS matricule (15 characters, no spaces), when given.
    pub ins: Option<String>,
}

impl PatientRef {
    /// From a sidecar's patient: family name in capitals, first given
    /// name, birth date `JJ/MM/AAAA`; the INS only (not a local IPP).
    pub fn from_patient(patient: &crate::xdm::Patient) -> PatientRef {
        let mut parts = vec![patient.family_name.trim().to_uppercase()];
        if let Some(given) = patient.given_names.first().map(|g| g.trim()) {
            parts.push(given.to_string());
        }
        if let Some(born) = patient.birth_date {
            parts.push(crate::xdm::french_date(born));
        }
        parts.retain(|p| !p.is_empty());
        PatientRef {
            label: parts.join(" "),
            ins: patient
                .id
                .as_ref()
                .filter(|id| id.is_ins())
                .map(|id| id.value.replace(' ', "")),
        }
    }

    /// What `q` is matched against: the label, the names the other way
    /// round (`Marie DUPONT`), the birth date as `AAAA-MM-JJ` too, the INS.
    fn search_text(&self) -> String {
        let words: Vec<&str> = self.label.split(' ').collect();
        let mut text = self.label.clone();
        if let [family, given, ..] = words.as_slice()
            && !given.contains('/')
        {
            text.push_str(&format!(" | {given} {family}"));
        }
        if let Some(date) = words.last()
            && let [d, m, y] = date.split('/').collect::<Vec<_>>().as_slice()
        {
            text.push_str(&format!(" | {y}-{m}-{d}"));
        }
        if let Some(ins) = &self.ins {
            text.push_str(&format!(" | {ins}"));
        }
        text
    }
}

/// A correspondent of the paper log ([`Tracking::paper_correspondent`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PaperCorrespondent {
    pub key: String,
    pub correspondent: String,
    /// On one line.
    pub address: String,
    pub postal: Option<crate::paper::PostalAddress>,
    /// Letters sent to them on paper, in all.
    pub letters: u64,
}

/// `%text%` for LIKE, with `%`, `_` and `\` taken literally.
fn like_pattern(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// Lowercase, without accents, spaces squeezed: `  Hélène  LÉGER` →
/// `helene leger`.
pub fn fold_for_search(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let plain = match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => 'a',
            'ç' => 'c',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' | 'ì' => 'i',
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ÿ' | 'ý' => 'y',
            'ñ' => 'n',
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if plain == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(plain);
    }
    out.trim_end().to_string()
}

/// One document sent on paper to one correspondent.
#[derive(Debug, Clone)]
pub struct PaperSent<'a> {
    /// The document's key (the same as the message id had it been mailed).
    pub message_key: &'a str,
    /// Stable key of the correspondent in the address book (RPPS number,
    /// or a directory id); compared without case.
    pub correspondent_key: &'a str,
    /// "Dr Paul MARTIN", as the summary shows it.
    pub correspondent_label: &'a str,
    /// The postal address on one line.
    pub postal: &'a str,
    /// The same address line by line, kept so that a letter can be
    /// addressed to the correspondent again (the invitation to MSSanté).
    pub postal_address: Option<&'a crate::paper::PostalAddress>,
    pub title: &'a str,
    pub at: i64,
}

/// One correspondent in the paper summary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PaperSummaryRow {
    pub key: String,
    pub correspondent: String,
    pub address: String,
    pub count: u64,
    /// Unix seconds of the latest letter.
    pub last_at: i64,
}

/// `[first second of the month, first second of the next)`, UTC.
pub fn month_bounds(year: i32, month: u8) -> Option<(i64, i64)> {
    let month = time::Month::try_from(month).ok()?;
    let first = time::Date::from_calendar_date(year, month, 1).ok()?;
    let next = match month {
        time::Month::December => {
            time::Date::from_calendar_date(year.checked_add(1)?, time::Month::January, 1)
        }
        _ => time::Date::from_calendar_date(year, month.next(), 1),
    }
    .ok()?;
    let start = |d: time::Date| d.midnight().assume_utc().unix_timestamp();
    Some((start(first), start(next)))
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TrackEntry> {
    Ok(TrackEntry {
        message_id: r.get(0)?,
        recipient: r.get(1)?,
        state: r.get(2)?,
        receipt_requested: r.get(3)?,
        detail: r.get(4)?,
        sent_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::now_unix;

    fn state(t: &Tracking, rcpt: &str) -> String {
        t.list()
            .unwrap()
            .into_iter()
            .find(|e| e.recipient == rcpt)
            .unwrap()
            .state
    }

    #[test]
    fn one_final_state_per_recipient() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tracking::open(dir.path()).unwrap();
        t.sent("m1", "A@x.fr", true, 100).unwrap();
        t.sent("m1", "b@x.fr", true, 100).unwrap();
        t.sent("m1", "a@x.fr", true, 150).unwrap(); // a retry: no second row
        assert_eq!(t.list().unwrap().len(), 2);

        assert_eq!(
            t.apply("m1", Some("a@x.fr"), &ReportEvent::Delivered, 110)
                .unwrap(),
            1
        );
        assert_eq!(state(&t, "a@x.fr"), "delivered");
        assert_eq!(
            t.apply("m1", Some("a@x.fr"), &ReportEvent::Read, 120)
                .unwrap(),
            1
        );
        // Final: a late failure report changes nothing.
        assert_eq!(
            t.apply("m1", Some("a@x.fr"), &ReportEvent::Failed("x".into()), 130)
                .unwrap(),
            0
        );
        assert_eq!(state(&t, "a@x.fr"), "read");
        // A late "delivered" does not undo "read".
        t.apply("m1", Some("a@x.fr"), &ReportEvent::Delivered, 140)
            .unwrap();
        assert_eq!(state(&t, "a@x.fr"), "read");

        // b never answers: no answer once, then final.
        let expired = t.expire_no_answer(200, 300).unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].recipient, "b@x.fr");
        assert!(t.expire_no_answer(200, 400).unwrap().is_empty());
        assert_eq!(
            t.apply("m1", Some("b@x.fr"), &ReportEvent::Read, 500)
                .unwrap(),
            0
        );
        assert_eq!(state(&t, "b@x.fr"), "no_answer");
    }

    #[test]
    fn paper_rows_are_final_and_summarised() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tracking::open(dir.path()).unwrap();
        let (nov, dec) = month_bounds(2026, 11).unwrap();
        assert_eq!(month_bounds(2026, 12).unwrap().0, dec);
        assert_eq!(
            month_bounds(2026, 12).unwrap().1,
            month_bounds(2027, 1).unwrap().0
        );
        assert!(month_bounds(2026, 13).is_none());
        let send = |message: &str, who: &str, label: &str, postal: &str, at: i64| {
            t.record_paper(&PaperSent {
                message_key: message,
                correspondent_key: who,
                correspondent_label: label,
                postal,
                postal_address: None,
                title: "Compte rendu",
                at,
            })
            .unwrap();
        };
        send("d1", "RPPS-1", "Dr A", "1 rue A, 79000 NIORT", nov + 10);
        send("d1", "rpps-1", "Dr A", "1 rue A, 79000 NIORT", nov + 11); // again: ignored
        send("d2", "rpps-2", "Dr B", "2 rue B, 79000 NIORT", nov + 20);
        send(
            "d3",
            "rpps-2",
            "Dr B",
            "3 rue B (moved), 79000 NIORT",
            nov + 30,
        );
        send("d4", "rpps-3", "Dr C", "4 rue C", nov + 40);
        send("d5", "rpps-1", "Dr A", "1 rue A", dec + 5); // next month

        let rows = t.paper_summary(2026, 11).unwrap();
        let summary: Vec<(&str, u64)> = rows.iter().map(|r| (r.key.as_str(), r.count)).collect();
        assert_eq!(summary, [("rpps-2", 2), ("rpps-3", 1), ("rpps-1", 1)]);
        assert_eq!(rows[0].address, "3 rue B (moved), 79000 NIORT");
        assert_eq!(rows[0].last_at, nov + 30);
        assert_eq!(t.paper_summary(2026, 12).unwrap().len(), 1);
        assert!(t.paper_summary(2026, 10).unwrap().is_empty());

        // "paper" is final: no report moves it.
        assert_eq!(
            t.apply("d2", None, &ReportEvent::Read, nov + 50).unwrap(),
            0
        );
        assert_eq!(state(&t, "rpps-3"), "paper");
        assert_eq!(t.list().unwrap().len(), 5);
    }

    #[test]
    fn no_receipt_asked_means_no_no_answer() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tracking::open(dir.path()).unwrap();
        t.sent("m2", "c@x.fr", false, 100).unwrap();
        assert!(t.expire_no_answer(1000, 1000).unwrap().is_empty());
        assert_eq!(
            t.apply("m2", None, &ReportEvent::Failed("550".into()), 110)
                .unwrap(),
            1
        );
        assert_eq!(state(&t, "c@x.fr"), "failed");
    }

    #[tokio::test]
    async fn search_and_timeline_join_queue_and_receipts() {
        use crate::queue::{Envelope, Outcome, Queue, QueueAction, QueueId, RetryPolicy};
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(
            dir.path(),
            RetryPolicy {
                initial: Duration::from_secs(60),
                max: Duration::from_secs(600),
                lifetime: Duration::from_secs(3600),
            },
        )
        .unwrap();
        let t = Tracking::open(dir.path()).unwrap();
        let accept = |rcpts: &[&str], mid: &str| {
            let queue = queue.clone();
            let envelope = Envelope {
                sender: "cabinet@test.mssante.fr".into(),
                recipients: rcpts.iter().map(|r| r.to_string()).collect(),
                submitted_by: Some("secretariat".into()),
            };
            let mid = mid.to_string();
            async move {
                queue
                    .accept(QueueId::generate(), envelope, b"x\r\n".to_vec(), Some(mid))
                    .await
                    .unwrap()
            }
        };
        let a = accept(
            &["dr.martin@test.mssante.fr", "labo@test.mssante.fr"],
            "m1@box",
        )
        .await;
        let b = accept(&["dr.durand@test.mssante.fr"], "m2@box").await;
        queue
            .record(vec![(
                a.clone(),
                "dr.martin@test.mssante.fr".into(),
                Outcome::Delivered {
                    reply: "250 ok".into(),
                },
            )])
            .await
            .unwrap();
        t.sent("m1@box", "dr.martin@test.mssante.fr", true, now_unix())
            .unwrap();
        t.apply("m1@box", None, &ReportEvent::Read, now_unix())
            .unwrap();
        queue
            .act(&b, QueueAction::Hold, None, "web:admin")
            .await
            .unwrap();

        let all = t
            .search(&TrackingQuery {
                limit: Some(10),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.len(), 3);
        let by = |q: &str| {
            t.search(&TrackingQuery {
                q: Some(q.into()),
                ..Default::default()
            })
            .unwrap()
        };
        let martin = by("MARTIN");
        assert_eq!(martin.len(), 1);
        assert_eq!(martin[0].state, "read");
        assert_eq!(martin[0].queue_id.as_deref(), Some(a.as_str()));
        assert_eq!(by(b.as_str()).len(), 1);
        assert_eq!(by("m1@box").len(), 2);
        assert!(by("%").is_empty());
        let held = t
            .search(&TrackingQuery {
                state: Some("held".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].recipient, "dr.durand@test.mssante.fr");
        let future = t
            .search(&TrackingQuery {
                from: Some(now_unix() + 100),
                ..Default::default()
            })
            .unwrap();
        assert!(future.is_empty());

        let line = t.timeline("<m1@box>").unwrap().unwrap();
        assert_eq!(line.queue_ids, [a.to_string()]);
        let martin = line
            .recipients
            .iter()
            .find(|r| r.recipient.starts_with("dr.martin"))
            .unwrap();
        let steps: Vec<&str> = martin.timeline.iter().map(|s| s.event.as_str()).collect();
        assert_eq!(steps, ["accepted", "sent", "read"]);
        assert_eq!(martin.state, "read");
        let labo = line
            .recipients
            .iter()
            .find(|r| r.recipient.starts_with("labo"))
            .unwrap();
        assert_eq!(labo.state, "pending");
        let by_queue_id = t.timeline(b.as_str()).unwrap().unwrap();
        let steps: Vec<&str> = by_queue_id.recipients[0]
            .timeline
            .iter()
            .map(|s| s.event.as_str())
            .collect();
        assert_eq!(steps, ["accepted", "held"]);
        assert!(t.timeline("nobody@nowhere").unwrap().is_none());
    }

    #[test]
    fn an_older_database_is_migrated_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        {
            // The schema as the previous version made it, with rows.
            let c = Connection::open(dir.path().join("queue.db")).unwrap();
            c.execute_batch(
                "CREATE TABLE tracking (message_id TEXT NOT NULL, recipient TEXT NOT NULL,
                     receipt_requested INTEGER NOT NULL, state TEXT NOT NULL, detail TEXT,
                     sent_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                     PRIMARY KEY (message_id, recipient));
                 CREATE TABLE paper_sent (message_key TEXT NOT NULL, correspondent_key TEXT NOT NULL,
                     correspondent_label TEXT NOT NULL, postal TEXT NOT NULL, title TEXT NOT NULL,
                     sent_at INTEGER NOT NULL, PRIMARY KEY (message_key, correspondent_key));
                 INSERT INTO tracking VALUES ('m1', 'a@x.fr', 1, 'read', NULL, 100, 120);
                 INSERT INTO paper_sent VALUES ('d1', 'dr a|79000', 'Dr A', 'Dr A, 1 rue A, 79000 NIORT', 'CR', 100);",
            )
            .unwrap();
        }
        let t = Tracking::open(dir.path()).unwrap();
        assert_eq!(state(&t, "a@x.fr"), "read");
        let old = t.paper_correspondent("DR A|79000").unwrap().unwrap();
        assert_eq!(old.address, "Dr A, 1 rue A, 79000 NIORT");
        assert_eq!(old.postal, None);
        // Opening again (the migration already done) changes nothing.
        drop(t);
        let t = Tracking::open(dir.path()).unwrap();
        assert_eq!(t.list().unwrap().len(), 1);
        let address = crate::paper::PostalAddress {
            name_line: "Dr A".into(),
            lines: vec!["2 rue Neuve".into()],
            postcode: "79000".into(),
            town: "Niort".into(),
            country: None,
        };
        t.record_paper(&PaperSent {
            message_key: "d2",
            correspondent_key: "dr a|79000",
            correspondent_label: "Dr A",
            postal: &address.one_line(),
            postal_address: Some(&address),
            title: "CR",
            at: 200,
        })
        .unwrap();
        let latest = t.paper_correspondent("dr a|79000").unwrap().unwrap();
        assert_eq!(latest.postal, Some(address));
        assert_eq!(latest.letters, 2);
        assert!(t.paper_correspondent("nobody").unwrap().is_none());
    }

    #[test]
    fn patient_labels_come_from_the_sidecar_patient() {
        let patient = crate::xdm::Patient {
            id: Some(crate::xdm::PatientId {
                value: "279035121518989".into(),
                authority: crate::xdm::INS_NIR_OID.into(),
            }),
            family_name: "Léger".into(),
            given_names: vec!["Hélène".into(), "Marie".into()],
            birth_date: Some(time::macros::date!(1979 - 03 - 25)),
            sex: None,
        };
        let p = PatientRef::from_patient(&patient);
        assert_eq!(p.label, "LÉGER Hélène 25/03/1979");
        assert_eq!(p.ins.as_deref(), Some("279035121518989"));
        let local = crate::xdm::Patient {
            id: Some(crate::xdm::PatientId {
                value: "IPP42".into(),
                authority: "1.2.3.4".into(),
            }),
            given_names: vec![],
            birth_date: None,
            ..patient
        };
        let p = PatientRef::from_patient(&local);
        assert_eq!(p.label, "LÉGER");
        assert_eq!(p.ins, None, "a local identifier is not an INS");
        assert_eq!(fold_for_search("  Hélène   LÉGER "), "helene leger");
    }

    #[tokio::test]
    async fn tracking_finds_messages_by_patient() {
        use crate::queue::{Envelope, Queue, QueueId, RetryPolicy};
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(
            dir.path(),
            RetryPolicy {
                initial: Duration::from_secs(60),
                max: Duration::from_secs(600),
                lifetime: Duration::from_secs(3600),
            },
        )
        .unwrap();
        let t = Tracking::open(dir.path()).unwrap();
        for (mid, rcpt) in [
            ("doc1.document@box", "dr.martin@test.mssante.fr"),
            ("doc2.document@box", "dr.durand@test.mssante.fr"),
        ] {
            queue
                .accept(
                    QueueId::generate(),
                    Envelope {
                        sender: "cabinet@test.mssante.fr".into(),
                        recipients: vec![rcpt.into()],
                        submitted_by: Some("outbox".into()),
                    },
                    b"x\r\n".to_vec(),
                    Some(mid.into()),
                )
                .await
                .unwrap();
        }
        let leger = PatientRef {
            label: "LÉGER Hélène 25/03/1979".into(),
            ins: Some("279035121518989".into()),
        };
        t.record_patient("doc1.document@box", &leger).unwrap();
        t.record_patient(
            "doc2.document@box",
            &PatientRef {
                label: "DUPONT Marc 01/02/1950".into(),
                ins: None,
            },
        )
        .unwrap();
        // A paper letter about the same patient.
        t.record_paper(&PaperSent {
            message_key: "doc3.document@box",
            correspondent_key: "dr papier|79000",
            correspondent_label: "Dr PAPIER",
            postal: "Dr PAPIER, 1 rue A, 79000 NIORT",
            postal_address: None,
            title: "CR",
            at: now_unix(),
        })
        .unwrap();
        t.record_patient("doc3.document@box", &leger).unwrap();

        let by = |q: &str| {
            let mut found: Vec<String> = t
                .search(&TrackingQuery {
                    q: Some(q.into()),
                    ..Default::default()
                })
                .unwrap()
                .into_iter()
                .map(|h| h.message_id.unwrap_or_default())
                .collect();
            found.sort();
            found
        };
        let both = ["doc1.document@box", "doc3.document@box"];
        assert_eq!(by("leger"), both);
        assert_eq!(by("Hélène  Léger"), both);
        assert_eq!(by("LÉGER Hélène 25/03"), both);
        assert_eq!(by("1979-03-25"), both);
        assert_eq!(by("2790351215"), both);
        assert_eq!(by("dupont"), ["doc2.document@box"]);
        assert!(by("01/02/1951").is_empty());
        // Addresses are still found, and the patient shows in the hit.
        let hits = t
            .search(&TrackingQuery {
                q: Some("dr.martin".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].patient.as_deref(), Some("LÉGER Hélène 25/03/1979"));
        assert_eq!(hits[0].patient_ins.as_deref(), Some("279035121518989"));
        // Recorded once: a second note does not replace the first.
        t.record_patient(
            "doc1.document@box",
            &PatientRef {
                label: "AUTRE".into(),
                ins: None,
            },
        )
        .unwrap();
        let line = t.timeline("doc1.document@box").unwrap().unwrap();
        assert_eq!(line.patient.as_deref(), Some("LÉGER Hélène 25/03/1979"));
        assert_eq!(line.patient_ins.as_deref(), Some("279035121518989"));
        let paper = t.timeline("doc3.document@box").unwrap().unwrap();
        assert_eq!(paper.patient.as_deref(), Some("LÉGER Hélène 25/03/1979"));
        assert!(t.timeline("m-none").unwrap().is_none());
    }

    #[tokio::test]
    async fn a_filed_document_is_found_by_message_or_queue_id_while_it_is_there() {
        use crate::queue::{Envelope, Queue, QueueId, RetryPolicy};
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(
            dir.path(),
            RetryPolicy {
                initial: Duration::from_secs(60),
                max: Duration::from_secs(600),
                lifetime: Duration::from_secs(3600),
            },
        )
        .unwrap();
        let t = Tracking::open(dir.path()).unwrap();
        let id = queue
            .accept(
                QueueId::generate(),
                Envelope {
                    sender: "cabinet@test.mssante.fr".into(),
                    recipients: vec!["dr.martin@test.mssante.fr".into()],
                    submitted_by: Some("outbox".into()),
                },
                b"x\r\n".to_vec(),
                Some("doc9.document@box".into()),
            )
            .await
            .unwrap();
        assert!(t.document("doc9.document@box").unwrap().is_none());
        let filed = dir.path().join("cr.pdf");
        std::fs::write(&filed, b"%PDF-1.4\n").unwrap();
        t.record_document("doc9.document@box", &filed, "CR écho.pdf")
            .unwrap();
        let by_queue_id = t.document(id.as_str()).unwrap().unwrap();
        assert_eq!(by_queue_id.path, filed);
        assert_eq!(by_queue_id.name, "CR écho.pdf");
        let line = t.timeline("doc9.document@box").unwrap().unwrap();
        assert_eq!(line.document.as_deref(), Some("CR écho.pdf"));
        // Moved away or deleted by the practice: no longer offered.
        std::fs::remove_file(&filed).unwrap();
        let line = t.timeline("doc9.document@box").unwrap().unwrap();
        assert!(line.document.is_none());
    }

    #[test]
    fn received_messages_are_listed_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tracking::open(dir.path()).unwrap();
        assert!(t.recent_received(5).unwrap().is_empty());
        for (at, from) in [
            (100, "a@test.mssante.fr"),
            (300, "c@test.mssante.fr"),
            (200, "b@test.mssante.fr"),
        ] {
            t.record_received(&Received {
                at,
                from: from.into(),
                folder: format!("2026-11-23_{at}"),
                files: 2,
                problems: 0,
            })
            .unwrap();
        }
        let recent = t.recent_received(2).unwrap();
        let from: Vec<&str> = recent.iter().map(|r| r.from.as_str()).collect();
        assert_eq!(from, ["c@test.mssante.fr", "b@test.mssante.fr"]);
        // Kept across a reopening (a restart of the daemon).
        drop(t);
        let t = Tracking::open(dir.path()).unwrap();
        assert_eq!(t.recent_received(10).unwrap().len(), 3);
    }
}
