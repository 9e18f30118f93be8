//! Reading and changing the practice's settings file. One change at a
//! time; each is checked against the whole configuration before the file
//! is replaced (written aside, synced, renamed).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::accounts::{self, AccountError};
use super::credential::{self, StoredCredential, UploadError};
use super::editable::Editable;
use super::layers::{Layers, lookup};
use crate::config::ConfigError;
use crate::smtp::Accounts;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("`{0}` cannot be changed here")]
    NotEditable(String),
    #[error("key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Upload(#[from] UploadError),
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Write(#[from] crate::durable::DurableError),
    #[error("the settings lock is broken; restart the daemon")]
    Busy,
}

impl SettingsError {
    /// The setting concerned, when there is one.
    pub fn key(&self) -> Option<String> {
        match self {
            SettingsError::Invalid { key, .. } => Some(key.clone()),
            SettingsError::NotEditable(key) => Some(key.clone()),
            SettingsError::Config(ConfigError::Invalid { key, .. }) => Some(key.to_string()),
            _ => None,
        }
    }
}

/// What the web admin shows on its settings pages.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    /// Whether the box is set up (mailbox and credential known).
    pub configured: bool,
    pub missing: Vec<&'static str>,
    /// Every editable setting with its current value (absent: not set).
    pub values: serde_json::Map<String, serde_json::Value>,
    /// The settings the practice changed (the others come from the file).
    pub changed: Vec<String>,
    /// `card` or `software`, when chosen.
    pub credential: Option<String>,
    pub accounts: Vec<String>,
    /// The reason the merged settings do not load, if they do not.
    pub problem: Option<String>,
    /// What the practice's mail clients and scanners are told (once set up).
    pub local: Option<LocalAccess>,
}

/// How the practice's machines reach the box.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LocalAccess {
    pub hostname: String,
    pub smtp_ports: Vec<u16>,
    pub imap_ports: Vec<u16>,
    pub imaps_ports: Vec<u16>,
    pub autoconfig_ports: Vec<u16>,
    pub outbox_folders: Vec<PathBuf>,
    pub mailbox: String,
}

impl LocalAccess {
    pub fn of(config: &crate::config::Config) -> LocalAccess {
        let ports = |addrs: &[std::net::SocketAddr]| addrs.iter().map(|a| a.port()).collect();
        LocalAccess {
            hostname: config.smtp.hostname.clone(),
            smtp_ports: ports(&config.smtp.listen),
            imap_ports: config
                .imap
                .as_ref()
                .map(|i| ports(&i.listen))
                .unwrap_or_default(),
            imaps_ports: config
                .imap
                .as_ref()
                .map(|i| ports(&i.listen_tls))
                .unwrap_or_default(),
            autoconfig_ports: config
                .autoconfig
                .as_ref()
                .map(|a| ports(&a.listen))
                .unwrap_or_default(),
            outbox_folders: config
                .outbox
                .as_ref()
                .map(|o| o.folders.clone())
                .unwrap_or_default(),
            mailbox: config.mssante.mailbox.clone(),
        }
    }
}

pub struct SettingsStore {
    config_path: PathBuf,
    data_dir: PathBuf,
    /// The running daemon's accounts, updated live; none before set-up.
    live_accounts: Option<Arc<Accounts>>,
    writing: Mutex<()>,
}

impl SettingsStore {
    pub fn new(
        config_path: &Path,
        data_dir: &Path,
        live_accounts: Option<Arc<Accounts>>,
    ) -> SettingsStore {
        SettingsStore {
            config_path: config_path.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            live_accounts,
            writing: Mutex::new(()),
        }
    }

    pub(super) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The data directory (where the address book lives).
    pub fn data_dir_path(&self) -> &Path {
        &self.data_dir
    }

    /// Replaces the whole settings file with `overlay` once checked.
    pub(super) fn replace_overlay(&self, overlay: toml::Table) -> Result<Layers, SettingsError> {
        let _writing = self.writing.lock().map_err(|_| SettingsError::Busy)?;
        let mut layers = self.layers()?;
        layers.overlay = overlay;
        self.commit(&layers)?;
        Ok(layers)
    }

    pub(super) fn apply_live_accounts(&self, accounts: &[crate::config::Account]) {
        if let Some(live) = &self.live_accounts {
            live.replace(accounts);
        }
    }

    pub fn layers(&self) -> Result<Layers, SettingsError> {
        Ok(Layers::read(&self.config_path)?)
    }

    pub fn view(&self) -> Result<SettingsView, SettingsError> {
        let layers = self.layers()?;
        let merged = layers.merged();
        let mut values = serde_json::Map::new();
        let mut changed = Vec::new();
        for editable in super::EDITABLE {
            if let Some(value) = lookup(&merged, editable.key) {
                values.insert(
                    editable.key.to_string(),
                    serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
                );
            }
            if lookup(&layers.overlay, editable.key).is_some() {
                changed.push(editable.key.to_string());
            }
        }
        let missing = layers.missing();
        let problem = layers.check().err().map(|e| e.to_string());
        let local = layers.config().ok().map(|c| LocalAccess::of(&c));
        Ok(SettingsView {
            configured: missing.is_empty(),
            missing,
            values,
            changed,
            credential: lookup(&merged, "credential.kind")
                .and_then(toml::Value::as_str)
                .map(str::to_string),
            accounts: accounts::from_toml(merged.get("accounts"))
                .into_iter()
                .map(|a| a.user)
                .collect(),
            problem,
            local,
        })
    }

    /// Applies `changes` (a null value returns a setting to the file's);
    /// nothing is written unless the whole configuration stays valid.
    /// Returns the keys changed.
    pub fn change(
        &self,
        changes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<String>, SettingsError> {
        let _writing = self.writing.lock().map_err(|_| SettingsError::Busy)?;
        let mut layers = self.layers()?;
        for (key, value) in changes {
            let editable =
                Editable::find(key).ok_or_else(|| SettingsError::NotEditable(key.clone()))?;
            if value.is_null() {
                remove(&mut layers.overlay, editable.key);
                continue;
            }
            let value = editable
                .to_toml(value)
                .map_err(|message| SettingsError::Invalid {
                    key: key.clone(),
                    message,
                })?;
            set(&mut layers.overlay, editable.key, value);
        }
        self.commit(&layers)?;
        Ok(changes.keys().cloned().collect())
    }

    /// Chooses the CPS card as the credential; keeps the card settings of
    /// the file (reader, intermediate certificates) when it has them.
    pub fn use_card(&self) -> Result<(), SettingsError> {
        let _writing = self.writing.lock().map_err(|_| SettingsError::Busy)?;
        let mut layers = self.layers()?;
        let from_file = layers
            .base
            .get("credential")
            .filter(|c| lookup_kind(c) == Some("card"))
            .cloned();
        let card = from_file.unwrap_or_else(|| {
            let mut t = toml::Table::new();
            t.insert("kind".into(), "card".into());
            toml::Value::Table(t)
        });
        layers.overlay.insert("credential".into(), card);
        self.commit(&layers)?;
        credential::remove_others(&self.data_dir, &[]);
        Ok(())
    }

    /// Pro Santé Connect: how the practitioner logs in (the card in the
    /// reader, or the e-CPS app) and, for the app, their national id. The
    /// provider's registration (issuer, client id, client authentication)
    /// is the installer's, from facteur.toml's `[credential]`.
    pub fn use_psc(&self, login: &str, national_id: Option<&str>) -> Result<(), SettingsError> {
        let invalid = |key: &str, message: &str| SettingsError::Invalid {
            key: key.into(),
            message: message.into(),
        };
        if !matches!(login, "card" | "ecps") {
            return Err(invalid("credential.login", "`card` or `ecps`"));
        }
        let _writing = self.writing.lock().map_err(|_| SettingsError::Busy)?;
        let mut layers = self.layers()?;
        // Only the choice is the practice's; the registration stays the
        // installer's, so a rotated secret or certificate in the file
        // still applies.
        if layers.base.get("credential").and_then(lookup_kind) != Some("psc") {
            return Err(SettingsError::NotEditable("credential.login".into()));
        }
        let mut psc = toml::Table::new();
        psc.insert("kind".into(), "psc".into());
        psc.insert("login".into(), login.into());
        if let Some(id) = national_id.map(str::trim).filter(|n| !n.is_empty()) {
            psc.insert("national_id".into(), id.into());
        }
        layers
            .overlay
            .insert("credential".into(), toml::Value::Table(psc));
        self.commit(&layers)
    }

    /// Checks and keeps an uploaded software certificate, and makes it the
    /// credential.
    pub fn use_pkcs12(
        &self,
        data: &[u8],
        password: &str,
    ) -> Result<StoredCredential, SettingsError> {
        let _writing = self.writing.lock().map_err(|_| SettingsError::Busy)?;
        let stored = credential::store_pkcs12(&self.data_dir, data, password)?;
        let mut layers = self.layers()?;
        let mut t = toml::Table::new();
        t.insert("kind".into(), "software".into());
        t.insert("pkcs12".into(), path_value(&stored.pkcs12));
        t.insert(
            "pkcs12_password_file".into(),
            path_value(&stored.password_file),
        );
        layers
            .overlay
            .insert("credential".into(), toml::Value::Table(t));
        if let Err(e) = self.commit(&layers) {
            let _ = std::fs::remove_file(&stored.pkcs12);
            let _ = std::fs::remove_file(&stored.password_file);
            return Err(e);
        }
        credential::remove_others(&self.data_dir, &[&stored.pkcs12, &stored.password_file]);
        Ok(stored)
    }

    pub fn accounts(&self) -> Result<Vec<String>, SettingsError> {
        Ok(self.view()?.accounts)
    }

    /// Creates a local account or changes its password.
    pub fn set_account(&self, user: &str, password: &str) -> Result<(), SettingsError> {
        if !super::valid_user(user) {
            return Err(AccountError::BadUser.into());
        }
        accounts::check_password(password)?;
        let hash =
            crate::smtp::hash_password(password).map_err(|e| SettingsError::Hash(e.to_string()))?;
        self.edit_accounts(|list| accounts::with_account(list, user, hash))
    }

    pub fn remove_account(&self, user: &str) -> Result<(), SettingsError> {
        self.edit_accounts(|list| accounts::without_account(list, user))
    }

    fn edit_accounts(
        &self,
        edit: impl FnOnce(
            Vec<crate::config::Account>,
        ) -> Result<Vec<crate::config::Account>, AccountError>,
    ) -> Result<(), SettingsError> {
        let _writing = self.writing.lock().map_err(|_| SettingsError::Busy)?;
        let mut layers = self.layers()?;
        let current = accounts::from_toml(layers.merged().get("accounts"));
        let updated = edit(current)?;
        layers
            .overlay
            .insert("accounts".into(), accounts::to_toml(&updated));
        self.commit(&layers)?;
        if let Some(live) = &self.live_accounts {
            live.replace(&updated);
        }
        Ok(())
    }

    /// Checks the merged layers and writes the settings file.
    fn commit(&self, layers: &Layers) -> Result<(), SettingsError> {
        match layers.check() {
            Ok(()) => {}
            Err(ConfigError::Invalid { key, message, .. }) => {
                return Err(SettingsError::Invalid {
                    key: key.to_string(),
                    message,
                });
            }
            Err(e) => return Err(e.into()),
        }
        let text = format!(
            "# The practice's settings, written by Facteur (web admin); laid over {}.\n{}",
            layers.path.display(),
            toml::to_string(&layers.overlay).map_err(|e| SettingsError::Invalid {
                key: String::new(),
                message: e.to_string(),
            })?
        );
        if let Some(dir) = layers.overlay_path.parent()
            && !dir.exists()
        {
            // Before the daemon's first start: the data directory is
            // owner-only, as the daemon makes it.
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| crate::durable::DurableError {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        crate::durable::write_atomically(&layers.overlay_path, text.as_bytes(), 0o600)?;
        Ok(())
    }
}

fn lookup_kind(credential: &toml::Value) -> Option<&str> {
    credential.as_table()?.get("kind")?.as_str()
}

fn path_value(path: &Path) -> toml::Value {
    toml::Value::String(path.display().to_string())
}

fn set(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    match dotted.split_once('.') {
        None => {
            table.insert(dotted.to_string(), value);
        }
        Some((head, rest)) => {
            let inner = table
                .entry(head.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !inner.is_table() {
                *inner = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = inner {
                set(inner, rest, value);
            }
        }
    }
}

fn remove(table: &mut toml::Table, dotted: &str) {
    match dotted.split_once('.') {
        None => {
            table.remove(dotted);
        }
        Some((head, rest)) => {
            if let Some(toml::Value::Table(inner)) = table.get_mut(head) {
                remove(inner, rest);
                if inner.is_empty() {
                    table.remove(head);
                }
            }
        }
    }
}
