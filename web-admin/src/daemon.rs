//! The web admin's calls to the daemon's control API, with time limits,
//! and errors in French for the pages.

use std::path::Path;
use std::time::Duration;

use facteur::control::{ApiError, ControlClient, UnlockRequest};

use crate::texts;

const READ_TIMEOUT: Duration = Duration::from_secs(5);
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
    },
}

impl DaemonError {
    /// A sentence for the page.
    pub fn french(&self) -> String {
        match self {
            DaemonError::Refused {
                code, tries_left, ..
            } => match code.as_str() {
                "wrong_pin" => texts::wrong_pin(tries_left.unwrap_or(0)),
                "pin_format" => texts::PIN_FORMAT.into(),
                "confirm_last_try" => texts::LAST_TRY_NOT_CONFIRMED.into(),
                "blocked" => texts::CARD_BLOCKED.into(),
                "no_card" | "card_service_stopped" => texts::CARD_NOT_READY.into(),
                "pinpad_cancelled" => texts::PINPAD_CANCELLED.into(),
                "no_card_credential" => texts::NO_CARD_CREDENTIAL.into(),
                "card_error" => texts::CARD_ERROR.into(),
                _ => texts::DAEMON_PROTOCOL.into(),
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
    #[serde(default)]
    pub credential: CredentialView,
    #[serde(default)]
    pub delivery: DeliveryView,
    #[serde(default)]
    pub queue: QueueView,
    #[serde(default)]
    pub card: Option<CardView>,
}

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

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, DaemonError> {
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

    /// Records an admin event in the daemon's audit log (`POST /v1/audit`).
    /// Best effort: a daemon that is down must not lock the admin out, so
    /// a failure is logged here and the action goes on. `detail` must hold
    /// no patient data.
    pub async fn audit(&self, action: &str, detail: Option<&str>) {
        let event = serde_json::json!({
            "actor": AUDIT_ACTOR,
            "action": action,
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
