//! The queue: the one place that owns messages and their delivery state.
//!
//! Receivers (local SMTP, later the document folder) hand messages to
//! [`Queue::accept`], which returns only once the message and its state are
//! on disk. Delivery takes due work from the queue and records each
//! recipient's outcome back into it. Nothing else writes there.

pub mod delivery;
pub mod dsn;
pub mod prepare;
mod store;
pub mod tracking;

pub use store::{
    ActOutcome, FinalFailure, Job, Queue, QueueAction, QueueEntry, QueueError, QueueId,
    RecipientStatus, RetryPolicy, list, now_unix, pending_count, recipient_status,
};

/// The envelope of a submitted message.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// MAIL FROM as the local client gave it (may be empty for bounces).
    pub sender: String,
    /// RCPT TO addresses, already checked against the whitelist.
    pub recipients: Vec<String>,
    /// Local account that submitted it, if any.
    pub submitted_by: Option<String>,
}

/// What the operator said about one recipient of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the operator (250 after DATA).
    Delivered { reply: String },
    /// Try again later (4xx, connection or TLS trouble).
    Deferred { reply: String },
    /// Will never work (5xx): the sender is told at once.
    Failed { reply: String },
}
