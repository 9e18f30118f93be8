//! Pro Santé Connect through the daemon (`/v1/psc`): the session's state,
//! a login (the card in the reader now, or a request to the practitioner's
//! e-CPS app) and a logout.

use std::time::Duration;

use super::{Daemon, DaemonError};

/// A card login signs with the card and makes several requests to the
/// provider (each up to its own time limit, 15 s by default).
const LOGIN_TIMEOUT: Duration = Duration::from_secs(90);
/// A logout revokes the session at the provider: one request.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(30);

/// An e-CPS request waiting on the practitioner's phone.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ApprovalView {
    #[serde(default)]
    pub national_id: String,
    /// Shown both on the phone and on the page, so the practitioner
    /// approves the right request.
    #[serde(default)]
    pub binding_message: String,
    #[serde(default)]
    pub expires_at: i64,
}

/// What the pages use of `GET /v1/psc` (also `psc` in `/v1/status`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PscView {
    /// `card` or `ecps`.
    #[serde(default)]
    pub login: String,
    /// `disconnected`, `connecting`, `awaiting_approval`, `connected`,
    /// `unreachable` or `reconnect_needed`.
    #[serde(default)]
    pub state: String,
    /// One line in French, from the daemon.
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub national_id: Option<String>,
    #[serde(default)]
    pub connected_since: Option<i64>,
    #[serde(default)]
    pub access_expires_at: Option<i64>,
    #[serde(default)]
    pub session_expires_at: Option<i64>,
    #[serde(default)]
    pub approval: Option<ApprovalView>,
    #[serde(default)]
    pub last_error: Option<String>,
}

impl PscView {
    pub fn ecps(&self) -> bool {
        self.login == "ecps"
    }

    /// A request waits on the practitioner's phone.
    pub fn waiting(&self) -> bool {
        self.state == "awaiting_approval"
    }

    /// Mail waits for the practitioner: a new login, or the approval of
    /// the one asked.
    pub fn needs_practitioner(&self) -> bool {
        matches!(
            self.state.as_str(),
            "reconnect_needed" | "awaiting_approval"
        )
    }
}

impl Daemon {
    /// The session's state; `None` when the box does not use Pro Santé
    /// Connect.
    pub async fn psc(&self) -> Result<Option<PscView>, DaemonError> {
        match self.get("/v1/psc").await {
            Ok(view) => Ok(Some(view)),
            Err(DaemonError::Refused { code, .. }) if code == "no_psc" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Logs in: with the card, the outcome; with e-CPS, the state once the
    /// request is on its way to the phone (`awaiting_approval`), to be
    /// followed with [`Daemon::psc`]. `national_id` (e-CPS only) replaces
    /// the one in the settings.
    pub async fn psc_login(&self, national_id: Option<&str>) -> Result<PscView, DaemonError> {
        let body = match national_id {
            Some(id) => serde_json::json!({ "national_id": id }),
            None => serde_json::json!({}),
        };
        let body =
            zeroize::Zeroizing::new(serde_json::to_vec(&body).map_err(|_| DaemonError::Protocol)?);
        let mut value =
            tokio::time::timeout(LOGIN_TIMEOUT, self.client().post("/v1/psc/login", body))
                .await
                .map_err(|_| DaemonError::Timeout)??;
        // e-CPS answers {approval, message, status}; the card, the status.
        if let Some(status) = value.get_mut("status").map(serde_json::Value::take) {
            value = status;
        }
        serde_json::from_value(value).map_err(|_| DaemonError::Protocol)
    }

    /// Ends the session (revoked at the provider when it can be).
    pub async fn psc_logout(&self) -> Result<PscView, DaemonError> {
        let value = tokio::time::timeout(
            LOGOUT_TIMEOUT,
            self.client()
                .post("/v1/psc/logout", zeroize::Zeroizing::new(b"{}".to_vec())),
        )
        .await
        .map_err(|_| DaemonError::Timeout)??;
        serde_json::from_value(value).map_err(|_| DaemonError::Protocol)
    }
}
