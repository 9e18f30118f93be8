//! The web admin's calls to the daemon's control API, with time limits,
//! and errors in French for the pages.

use std::path::Path;
use std::time::Duration;

use facteur::control::{ApiError, ControlClient, UnlockRequest};

use crate::texts;

mod board;
mod diagnostics;
mod directory;
mod psc;
mod update;
pub use board::{BoardView, Followed};
pub use diagnostics::{DiagnosticCheck, DiagnosticLevel, LogEvent, LogFilter, Report};
pub use directory::{
    ContactAdded, ContactView, DirectoryHit, DirectoryStatus, NewContact, PaperRow, PaperSummary,
};
pub use psc::{ApprovalView, PscView};
pub use update::{UpdateResultView, UpdateView, UploadChunk};

pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A queue action waits for the queue's commit (one group fsync).
const ACTION_TIMEOUT: Duration = Duration::from_secs(15);
/// Presenting a PIN can take the card a few seconds (more with a PIN pad).
const UNLOCK_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{}", texts::DAEMON_DOWN)]
    Down,
    #[error("{}", texts::DAEMON_SLOW)]
    Timeout,
    #[error("{}", texts::DAEMON_PROTOCOL)]
    Protocol,
    /// The API's refusal: its stable code and, for PIN errors, tries left.
    #[error("{code}")]
    Refused {
        status: u16,
        code: String,
        tries_left: Option<u8>,
        /// The setting concerned, for settings refusals.
        key: Option<String>,
        /// The daemon's own sentence (English), for what has no French text.
        message: String,
    },
}

impl DaemonError {
    /// A sentence for the page.
    pub fn french(&self) -> String {
        match self {
            DaemonError::Refused {
                code,
                tries_left,
                message,
                ..
            } => match code.as_str() {
                "wrong_pin" => texts::wrong_pin(tries_left.unwrap_or(0)),
                "pin_format" => texts::PIN_FORMAT.into(),
                "confirm_last_try" => texts::LAST_TRY_NOT_CONFIRMED.into(),
                "blocked" => texts::CARD_BLOCKED.into(),
                "no_card" | "card_service_stopped" => texts::CARD_NOT_READY.into(),
                "pinpad_cancelled" => texts::PINPAD_CANCELLED.into(),
                "no_card_credential" => texts::NO_CARD_CREDENTIAL.into(),
                "card_error" => texts::CARD_ERROR.into(),
                "no_such_message" => texts::NO_SUCH_MESSAGE.into(),
                "not_applicable" => texts::ACTION_NOT_APPLICABLE.into(),
                "confirm_required" => texts::DELETE_NOT_CONFIRMED.into(),
                "bad_queue_id" | "bad_query" | "bad_request" => texts::BAD_QUERY.into(),
                "queue_unreadable" | "queue_unavailable" => texts::QUEUE_UNAVAILABLE.into(),
                "tracking_unreadable" => texts::TRACKING_UNAVAILABLE.into(),
                "audit_unreadable" | "audit_unavailable" => texts::AUDIT_UNAVAILABLE.into(),
                // Said by the daemon in French, for the person typing.
                "contact_refused" => message.clone(),
                // The updater's reasons are written for the practice.
                "refused" | "bad_upload" | "busy" => message.clone(),
                "no_updates" => texts::UPDATES_DISABLED.into(),
                "no_psc" => texts::PSC_NOT_USED.into(),
                "psc_unreachable" => texts::PSC_UNREACHABLE.into(),
                "psc_login_refused" => texts::PSC_LOGIN_REFUSED.into(),
                "psc_reconnect_needed" => texts::PSC_RECONNECT_NEEDED.into(),
                "card_not_ready" => texts::PSC_CARD_NOT_READY.into(),
                other => texts::settings_refusal(other)
                    .or_else(|| directory::french(other))
                    .unwrap_or(texts::DAEMON_PROTOCOL)
                    .into(),
            },
            other => other.to_string(),
        }
    }
}

impl From<ApiError> for DaemonError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unreachable { .. } => DaemonError::Down,
            ApiError::Refused { status, body } => DaemonError::Refused {
                status,
                code: body.error,
                tries_left: body.tries_left,
                key: body.key,
                message: body.message,
            },
            ApiError::Protocol(_) => DaemonError::Protocol,
        }
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Holder {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub profession: String,
}

#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
pub struct PinCounter {
    pub left: u8,
    #[serde(default)]
    pub max: u8,
}

/// What the pages use of `GET /v1/card`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CardView {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub reader: Option<String>,
    #[serde(default)]
    pub holder: Option<Holder>,
    #[serde(default)]
    pub pin: Option<PinCounter>,
    #[serde(default)]
    pub pinpad: bool,
    #[serde(default)]
    pub identity: String,
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CredentialView {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub identity: String,
    #[serde(default)]
    pub not_after: Option<i64>,
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DeliveryView {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub retry_in_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct QueueView {
    #[serde(default)]
    pub pending: u64,
    #[serde(default)]
    pub failed: u64,
}

/// What the pages use of `GET /v1/status`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct StatusView {
    #[serde(default)]
    pub version: String,
    /// False while the box is not set up (wizard step 2 not done).
    #[serde(default = "set_up")]
    pub configured: bool,
    #[serde(default)]
    pub uptime_secs: u64,
    #[serde(default)]
    pub credential: CredentialView,
    #[serde(default)]
    pub delivery: DeliveryView,
    #[serde(default)]
    pub queue: QueueView,
    #[serde(default)]
    pub card: Option<CardView>,
    /// Remote updates, when the daemon has an update client.
    #[serde(default)]
    pub update: Option<UpdateView>,
    /// The Pro Santé Connect session, when the box logs in with it.
    #[serde(default)]
    pub psc: Option<PscView>,
}

/// Daemons from before the set-up wizard were always set up.
fn set_up() -> bool {
    true
}

/// One recipient of one queued message (`GET /v1/queue`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct QueueEntry {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub sender: String,
    #[serde(default)]
    pub recipient: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub received_at: i64,
    #[serde(default)]
    pub next_attempt: i64,
    #[serde(default)]
    pub last_reply: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
struct QueueList {
    #[serde(default)]
    recipients: Vec<QueueEntry>,
}

/// The answer to a queue action.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ActionOutcome {
    #[serde(default)]
    pub changed: Vec<String>,
}

/// One search hit (`GET /v1/tracking?…`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TrackHit {
    #[serde(default)]
    pub queue_id: Option<String>,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub recipient: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub receipt_requested: bool,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub sent_at: i64,
    #[serde(default)]
    pub updated_at: i64,
    /// `NOM Prénom JJ/MM/AAAA`, for documents whose sidecar named one.
    #[serde(default)]
    pub patient: Option<String>,
    #[serde(default)]
    pub patient_ins: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
struct TrackHits {
    #[serde(default)]
    recipients: Vec<TrackHit>,
}

/// The tracking search, as sent to the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingSearch {
    pub q: Option<String>,
    pub state: Option<String>,
    /// Unix seconds, included.
    pub from: Option<i64>,
    /// Unix seconds, excluded.
    pub to: Option<i64>,
    pub limit: usize,
}

impl TrackingSearch {
    /// The query string (always at least `limit`, so the daemon searches).
    pub fn query_string(&self) -> String {
        let mut out = format!("limit={}", self.limit.clamp(1, 1000));
        if let Some(q) = &self.q {
            out.push_str("&q=");
            out.push_str(&encode(q));
        }
        if let Some(state) = &self.state {
            out.push_str("&state=");
            out.push_str(&encode(state));
        }
        if let Some(from) = self.from {
            out.push_str(&format!("&from={from}"));
        }
        if let Some(to) = self.to {
            out.push_str(&format!("&to={to}"));
        }
        out
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Step {
    #[serde(default)]
    pub at: i64,
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RecipientTimeline {
    #[serde(default)]
    pub recipient: String,
    #[serde(default)]
    pub queue_id: Option<String>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub timeline: Vec<Step>,
}

/// `GET /v1/tracking/{message_id}`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct MessageTimeline {
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub queue_ids: Vec<String>,
    #[serde(default)]
    pub submitted_by: Option<String>,
    #[serde(default)]
    pub received_at: Option<i64>,
    #[serde(default)]
    pub recipients: Vec<RecipientTimeline>,
    #[serde(default)]
    pub patient: Option<String>,
    #[serde(default)]
    pub patient_ins: Option<String>,
    /// The name of the document sent, when it can be downloaded.
    #[serde(default)]
    pub document: Option<String>,
}

pub use facteur::audit::AuditEntry;

/// One message received (`GET /v1/received`).
pub type ReceivedView = facteur::queue::tracking::Received;

#[derive(serde::Deserialize)]
struct ReceivedList {
    received: Vec<ReceivedView>,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct AuditEntries {
    entries: Vec<AuditEntry>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct BadLine {
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub line: u64,
    #[serde(default)]
    pub reason: String,
}

/// `GET /v1/audit/verify`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditVerify {
    #[serde(default)]
    pub ok: bool,
    #[serde(default)]
    pub entries: u64,
    #[serde(default)]
    pub first_bad: Option<BadLine>,
    #[serde(default)]
    pub last_hash: String,
}

pub use facteur::control::encode_component as encode;
pub use facteur::queue::QueueAction;

/// Who the web admin's events are from, in the audit log.
pub const AUDIT_ACTOR: &str = "web:admin";

pub struct Daemon {
    client: ControlClient,
}

impl Daemon {
    pub fn new(socket: &Path) -> Daemon {
        Daemon {
            client: ControlClient::new(socket),
        }
    }

    pub(crate) fn client(&self) -> &ControlClient {
        &self.client
    }

    pub(crate) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, DaemonError> {
        let value = tokio::time::timeout(READ_TIMEOUT, self.client.get(path))
            .await
            .map_err(|_| DaemonError::Timeout)??;
        serde_json::from_value(value).map_err(|_| DaemonError::Protocol)
    }

    pub async fn status(&self) -> Result<StatusView, DaemonError> {
        self.get("/v1/status").await
    }

    pub async fn card(&self) -> Result<CardView, DaemonError> {
        self.get("/v1/card").await
    }

    pub async fn queue(&self) -> Result<Vec<QueueEntry>, DaemonError> {
        let list: QueueList = self.get("/v1/queue").await?;
        Ok(list.recipients)
    }

    /// Acts on queued message `id` (checked by the caller: 16 hex digits),
    /// on one recipient or all those the action applies to.
    pub async fn queue_action(
        &self,
        id: &str,
        action: QueueAction,
        recipient: Option<&str>,
    ) -> Result<ActionOutcome, DaemonError> {
        let mut path = format!("/v1/queue/{}/{}", encode(id), action.as_str());
        if let Some(r) = recipient {
            path.push_str("?recipient=");
            path.push_str(&encode(r));
        }
        let body = serde_json::json!({
            "actor": AUDIT_ACTOR,
            "confirm": action == QueueAction::Delete,
        });
        let body =
            zeroize::Zeroizing::new(serde_json::to_vec(&body).map_err(|_| DaemonError::Protocol)?);
        let value = tokio::time::timeout(ACTION_TIMEOUT, self.client.post(&path, body))
            .await
            .map_err(|_| DaemonError::Timeout)??;
        serde_json::from_value(value).map_err(|_| DaemonError::Protocol)
    }

    pub async fn tracking_search(
        &self,
        search: &TrackingSearch,
    ) -> Result<Vec<TrackHit>, DaemonError> {
        let hits: TrackHits = self
            .get(&format!("/v1/tracking?{}", search.query_string()))
            .await?;
        Ok(hits.recipients)
    }

    /// The latest messages received and exported, newest first.
    pub async fn received(&self, limit: usize) -> Result<Vec<ReceivedView>, DaemonError> {
        let list: ReceivedList = self.get(&format!("/v1/received?limit={limit}")).await?;
        Ok(list.received)
    }

    /// The document a message carried (a PDF from the document folder).
    pub async fn sent_document(&self, key: &str) -> Result<Vec<u8>, DaemonError> {
        let path = format!("/v1/tracking/{}/document", encode(key));
        let (content_type, bytes) =
            tokio::time::timeout(ACTION_TIMEOUT, self.client.get_file(&path))
                .await
                .map_err(|_| DaemonError::Timeout)??;
        if content_type != "application/pdf" || !bytes.starts_with(b"%PDF-") {
            return Err(DaemonError::Protocol);
        }
        Ok(bytes)
    }

    /// The timeline of a message, by Message-ID or queue id.
    pub async fn timeline(&self, key: &str) -> Result<MessageTimeline, DaemonError> {
        self.get(&format!("/v1/tracking/{}", encode(key))).await
    }

    /// `limit` entries after `after_seq`, or the newest `limit` without it;
    /// oldest first.
    pub async fn audit_list(
        &self,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, DaemonError> {
        let limit = limit.clamp(1, 1000);
        let path = match after_seq {
            Some(after) => format!("/v1/audit?after_seq={after}&limit={limit}"),
            None => format!("/v1/audit?limit={limit}"),
        };
        let list: AuditEntries = self.get(&path).await?;
        Ok(list.entries)
    }

    pub async fn audit_verify(&self) -> Result<AuditVerify, DaemonError> {
        self.get("/v1/audit/verify").await
    }

    /// Records an admin event in the daemon's audit log (`POST /v1/audit`).
    /// Best effort: a daemon that is down must not lock the admin out, so
    /// a failure is logged here and the action goes on. `detail` must hold
    /// no patient data.
    pub async fn audit(&self, action: &str, detail: Option<&str>) {
        self.audit_on(action, None, detail).await
    }

    /// As [`Daemon::audit`], with an object (an id, never patient data).
    pub async fn audit_on(&self, action: &str, object: Option<&str>, detail: Option<&str>) {
        let event = serde_json::json!({
            "actor": AUDIT_ACTOR,
            "action": action,
            "object": object,
            "detail": detail,
        });
        let Ok(body) = serde_json::to_vec(&event) else {
            return;
        };
        let sent = tokio::time::timeout(
            READ_TIMEOUT,
            self.client.post("/v1/audit", zeroize::Zeroizing::new(body)),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            tracing::warn!(action, "audit event not recorded by the daemon");
        }
    }

    /// Presents `pin` once. The request body is wiped after sending.
    pub async fn unlock(
        &self,
        pin: zeroize::Zeroizing<String>,
        confirm_last_try: bool,
    ) -> Result<CardView, DaemonError> {
        let request = UnlockRequest {
            pin: Some(pin),
            confirm_last_try,
            actor: Some(AUDIT_ACTOR.into()),
        };
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(&request).map_err(|_| DaemonError::Protocol)?,
        );
        drop(request);
        let value = tokio::time::timeout(UNLOCK_TIMEOUT, self.client.post("/v1/card/unlock", body))
            .await
            .map_err(|_| DaemonError::Timeout)??;
        serde_json::from_value(value).map_err(|_| DaemonError::Protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_path_segments_and_query_values() {
        let s = TrackingSearch {
            q: Some("dr martin".into()),
            state: Some("held".into()),
            from: Some(10),
            to: Some(20),
            limit: 5000,
        };
        assert_eq!(
            s.query_string(),
            "limit=1000&q=dr%20martin&state=held&from=10&to=20"
        );
    }
}
