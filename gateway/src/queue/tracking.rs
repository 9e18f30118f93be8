//! Tracking of sent messages per recipient, from the operator's "250" to
//! the receipts that come back: delivered, read, failed, or no answer when
//! a receipt was asked and none came in time.
//!
//! Kept in the queue's database (table `tracking`) through a connection of
//! its own: the delivery writer thread stays dedicated to the queue, and
//! SQLite's WAL lets both write in turn. A final state (read, failed,
//! no answer) is never changed, so each recipient ends in exactly one.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};

use super::store::QueueError;
use crate::inbound::receipts::ReportEvent;

/// One tracked recipient.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct TrackEntry {
    pub message_id: String,
    pub recipient: String,
    /// "sent", "delivered", "read", "failed" or "no_answer".
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
             );",
        )?;
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
}
