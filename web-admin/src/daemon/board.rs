//! The box's LED and button through the daemon (`/v1/board`), and what
//! the web admin tells the display (its address, the setup code).

use super::{AUDIT_ACTOR, Daemon, DaemonError, READ_TIMEOUT};

/// What the dashboard mirrors of `GET /v1/board`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct BoardView {
    #[serde(default)]
    pub board: String,
    #[serde(default)]
    pub simulated: bool,
    /// The state machine's mode (`ready`, `card_needed`…).
    #[serde(default)]
    pub mode: String,
    /// The state in words (« Prêt »).
    #[serde(default)]
    pub label: String,
    /// The LED in words (« vert fixe »).
    #[serde(default)]
    pub light: String,
}

impl Daemon {
    /// The board's state; `None` when the daemon drives no board.
    pub async fn board(&self) -> Result<Option<BoardView>, DaemonError> {
        match self.get("/v1/board").await {
            Ok(view) => Ok(Some(view)),
            Err(DaemonError::Refused { code, .. }) if code == "no_board" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// White blink and a beep for 30 s, to find the box.
    pub async fn identify(&self) -> Result<(), DaemonError> {
        let body = serde_json::to_vec(&serde_json::json!({ "actor": AUDIT_ACTOR }))
            .map_err(|_| DaemonError::Protocol)?;
        tokio::time::timeout(
            READ_TIMEOUT,
            self.client()
                .post("/v1/board/identify", zeroize::Zeroizing::new(body)),
        )
        .await
        .map_err(|_| DaemonError::Timeout)??;
        Ok(())
    }

    /// Tells the display how to reach the web admin (and the setup code
    /// while the box is unclaimed). A daemon without a board is fine.
    pub async fn show_on_display(
        &self,
        address: &str,
        setup_code: Option<&str>,
    ) -> Result<(), DaemonError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "address": address,
            "setup_code": setup_code,
        }))
        .map_err(|_| DaemonError::Protocol)?;
        let sent = tokio::time::timeout(READ_TIMEOUT, self.client().put("/v1/board/info", body))
            .await
            .map_err(|_| DaemonError::Timeout)?;
        match sent {
            Ok(_) => Ok(()),
            Err(facteur::control::ApiError::Refused { body, .. }) if body.error == "no_board" => {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// What the web admin follows of the daemon's status.
    pub async fn followed(&self) -> Result<Followed, DaemonError> {
        self.get("/v1/status").await
    }
}

/// What the web admin follows of `/v1/status`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Followed {
    /// This installation's id (new after each factory reset); none from
    /// a daemon restarting, or one from before installation ids.
    #[serde(default)]
    pub installation: Option<String>,
    /// Present when the box logs in with Pro Santé Connect (its state is
    /// not needed here).
    #[serde(default)]
    psc: Option<serde::de::IgnoredAny>,
}

impl Followed {
    pub fn uses_psc(&self) -> bool {
        self.psc.is_some()
    }
}
