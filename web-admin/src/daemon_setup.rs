//! The control API calls of the set-up wizard and the settings pages.

use std::time::Duration;

use base64::Engine;
use zeroize::Zeroizing;

use crate::daemon::{AUDIT_ACTOR, Daemon, DaemonError, encode};

const WRITE_TIMEOUT: Duration = Duration::from_secs(15);
/// Hashing a local account's password (argon2) and syncing the settings.
const ACCOUNT_TIMEOUT: Duration = Duration::from_secs(30);
/// Two sessions at the operator, each with its own time limits.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// `GET /v1/settings`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SettingsView {
    #[serde(default)]
    pub configured: bool,
    #[serde(default)]
    pub values: serde_json::Map<String, serde_json::Value>,
    /// The settings the practice changed (the others are the installer's).
    #[serde(default)]
    pub changed: Vec<String>,
    #[serde(default)]
    pub credential: Option<String>,
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub local: Option<LocalAccess>,
    #[serde(default)]
    pub editable: Vec<EditableSetting>,
}

impl SettingsView {
    /// As [`SettingsView::text`], but only for a setting the practice
    /// changed itself (empty for the installer's values).
    pub fn chosen(&self, key: &str) -> String {
        if self.changed.iter().any(|k| k == key) {
            self.text(key)
        } else {
            String::new()
        }
    }

    /// A setting's current value as text for a form field (lists one per
    /// line), empty when not set.
    pub fn text(&self, key: &str) -> String {
        match self.values.get(key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct EditableSetting {
    pub key: String,
    /// `text`, `integer`, `boolean`, `list`.
    pub kind: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct LocalAccess {
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub smtp_ports: Vec<u16>,
    #[serde(default)]
    pub imap_ports: Vec<u16>,
    #[serde(default)]
    pub imaps_ports: Vec<u16>,
    #[serde(default)]
    pub autoconfig_ports: Vec<u16>,
    #[serde(default)]
    pub outbox_folders: Vec<String>,
    #[serde(default)]
    pub mailbox: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct OperatorView {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub manual: bool,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub mailbox_types: Vec<String>,
}

#[derive(serde::Deserialize)]
struct OperatorList {
    operators: Vec<OperatorView>,
}

/// `POST /v1/credential/pkcs12`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct StoredCertificate {
    #[serde(default)]
    pub identity: String,
    #[serde(default)]
    pub not_after: Option<i64>,
}

/// `GET /v1/network`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NetworkState {
    #[serde(default)]
    pub managed: bool,
    #[serde(default)]
    pub network: Option<NetworkView>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NetworkView {
    #[serde(default)]
    pub interface: String,
    #[serde(default)]
    pub settings: Option<facteur::network::LanSettings>,
    #[serde(default)]
    pub pending_seconds: Option<i64>,
    #[serde(default)]
    pub confirm_timeout: u64,
}

/// `POST /v1/connection-test`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ConnectionTest {
    #[serde(default)]
    pub ok: bool,
    #[serde(default)]
    pub steps: Vec<TestStep>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TestStep {
    pub step: String,
    #[serde(default)]
    pub ok: bool,
    #[serde(default)]
    pub code: Option<String>,
}

impl Daemon {
    async fn send_json(
        &self,
        method: &str,
        path: &str,
        body: serde_json::Value,
        limit: Duration,
    ) -> Result<serde_json::Value, DaemonError> {
        let bytes = Zeroizing::new(serde_json::to_vec(&body).map_err(|_| DaemonError::Protocol)?);
        drop(body);
        let call = async {
            if method == "PUT" {
                self.client().put(path, bytes.to_vec()).await
            } else {
                self.client().post(path, bytes.clone()).await
            }
        };
        Ok(tokio::time::timeout(limit, call)
            .await
            .map_err(|_| DaemonError::Timeout)??)
    }

    pub async fn settings(&self) -> Result<SettingsView, DaemonError> {
        self.get("/v1/settings").await
    }

    /// Changes settings (`null` returns one to the installer's value).
    pub async fn change_settings(
        &self,
        changes: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), DaemonError> {
        self.send_json(
            "PUT",
            "/v1/settings",
            serde_json::json!({"changes": changes, "actor": AUDIT_ACTOR}),
            WRITE_TIMEOUT,
        )
        .await
        .map(drop)
    }

    pub async fn operators(&self) -> Result<Vec<OperatorView>, DaemonError> {
        let list: OperatorList = self.get("/v1/operators").await?;
        Ok(list.operators)
    }

    pub async fn choose_operator(&self, id: &str) -> Result<(), DaemonError> {
        self.send_json(
            "POST",
            "/v1/settings/operator",
            serde_json::json!({"id": id, "actor": AUDIT_ACTOR}),
            WRITE_TIMEOUT,
        )
        .await
        .map(drop)
    }

    pub async fn use_card(&self) -> Result<(), DaemonError> {
        self.send_json(
            "POST",
            "/v1/credential/card",
            serde_json::json!({"actor": AUDIT_ACTOR}),
            WRITE_TIMEOUT,
        )
        .await
        .map(drop)
    }

    /// How the box logs in to Pro Santé Connect: `card` or `ecps`, and the
    /// practitioner's national identifier to keep (none: the one kept is
    /// forgotten). Applied at the next restart.
    pub async fn use_psc(&self, login: &str, national_id: Option<&str>) -> Result<(), DaemonError> {
        let mut body = serde_json::json!({"login": login, "actor": AUDIT_ACTOR});
        if let Some(id) = national_id {
            body["national_id"] = id.into();
        }
        self.send_json("POST", "/v1/credential/psc", body, WRITE_TIMEOUT)
            .await
            .map(drop)
    }

    /// Sends an uploaded certificate and its password; both buffers are
    /// wiped after sending.
    pub async fn use_pkcs12(
        &self,
        file: &[u8],
        password: &str,
    ) -> Result<StoredCertificate, DaemonError> {
        let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(file));
        let value = self
            .send_json(
                "POST",
                "/v1/credential/pkcs12",
                serde_json::json!({"pkcs12": *encoded, "password": password, "actor": AUDIT_ACTOR}),
                WRITE_TIMEOUT,
            )
            .await?;
        serde_json::from_value(value).map_err(|_| DaemonError::Protocol)
    }

    pub async fn set_account(&self, user: &str, password: &str) -> Result<(), DaemonError> {
        self.send_json(
            "POST",
            "/v1/accounts",
            serde_json::json!({"user": user, "password": password, "actor": AUDIT_ACTOR}),
            ACCOUNT_TIMEOUT,
        )
        .await
        .map(drop)
    }

    pub async fn remove_account(&self, user: &str) -> Result<(), DaemonError> {
        self.send_json(
            "POST",
            &format!("/v1/accounts/{}/delete", encode(user)),
            serde_json::json!({"confirm": true, "actor": AUDIT_ACTOR}),
            WRITE_TIMEOUT,
        )
        .await
        .map(drop)
    }

    pub async fn restart(&self) -> Result<(), DaemonError> {
        self.send_json(
            "POST",
            "/v1/restart",
            serde_json::json!({"actor": AUDIT_ACTOR}),
            WRITE_TIMEOUT,
        )
        .await
        .map(drop)
    }

    /// The practice's configuration, to be encrypted before it leaves.
    pub async fn backup(&self) -> Result<Zeroizing<Vec<u8>>, DaemonError> {
        let value: serde_json::Value = self.get("/v1/backup").await?;
        Ok(Zeroizing::new(
            serde_json::to_vec(&value).map_err(|_| DaemonError::Protocol)?,
        ))
    }

    /// Puts a decrypted backup in place (then [`Daemon::restart`]).
    pub async fn restore(&self, backup: &[u8]) -> Result<(), DaemonError> {
        let Ok(document) = serde_json::from_slice::<serde_json::Value>(backup) else {
            return Err(DaemonError::Refused {
                status: 422,
                code: "backup_unreadable".into(),
                tries_left: None,
                key: None,
                message: "not JSON".into(),
            });
        };
        self.send_json(
            "POST",
            "/v1/restore",
            serde_json::json!({"backup": document, "actor": AUDIT_ACTOR}),
            WRITE_TIMEOUT,
        )
        .await
        .map(drop)
    }

    pub async fn network(&self) -> Result<NetworkState, DaemonError> {
        self.get("/v1/network").await
    }

    /// Applies LAN settings; the token confirms them.
    pub async fn apply_network(
        &self,
        settings: &facteur::network::LanSettings,
    ) -> Result<String, DaemonError> {
        let value = self
            .send_json(
                "POST",
                "/v1/network",
                serde_json::json!({"settings": settings, "actor": AUDIT_ACTOR}),
                WRITE_TIMEOUT,
            )
            .await?;
        value["token"]
            .as_str()
            .map(str::to_string)
            .ok_or(DaemonError::Protocol)
    }

    pub async fn confirm_network(&self, token: &str) -> Result<(), DaemonError> {
        self.send_json(
            "POST",
            "/v1/network/confirm",
            serde_json::json!({"token": token, "actor": AUDIT_ACTOR}),
            WRITE_TIMEOUT,
        )
        .await
        .map(drop)
    }

    pub async fn connection_test(&self) -> Result<ConnectionTest, DaemonError> {
        let value = self
            .send_json(
                "POST",
                "/v1/connection-test",
                serde_json::json!({}),
                TEST_TIMEOUT,
            )
            .await?;
        serde_json::from_value(value).map_err(|_| DaemonError::Protocol)
    }
}
