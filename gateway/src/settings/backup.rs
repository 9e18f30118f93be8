//! The practice's configuration as one document, for a backup and for
//! setting up a replacement box: its settings (with the local accounts'
//! hashes), its software certificate with its password when it uses one,
//! and its address book. Never messages, never the queue, never the audit
//! log, never patient data. The web admin encrypts it with the admin
//! password before it leaves the box.

use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::layers::lookup;
use super::store::{SettingsError, SettingsStore};
use crate::directory::{AddressBook, Contact};

/// The format this daemon writes and reads.
pub const BACKUP_FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    pub format: u32,
    pub created_at: i64,
    /// The daemon that made it.
    pub version: String,
    /// The box's MSSanté mailbox, to recognise the backup.
    #[serde(default)]
    pub mailbox: Option<String>,
    /// `data_dir/settings.toml` as it was.
    pub settings: String,
    /// The software certificate, when the credential is one.
    #[serde(default)]
    pub certificate: Option<BackupCertificate>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupCertificate {
    /// The PKCS#12 file, base64.
    pub pkcs12: String,
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for BackupCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupCertificate").finish_non_exhaustive()
    }
}

/// What a restore changed.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub mailbox: Option<String>,
    pub credential: Option<String>,
    pub accounts: usize,
    pub contacts: usize,
}

fn invalid(message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: "backup".into(),
        message: message.into(),
    }
}

fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, SettingsError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| invalid(format!("{}: cannot read: {e}", path.display())))
}

impl SettingsStore {
    /// The practice's configuration now.
    pub fn backup(&self, book: Option<&AddressBook>) -> Result<Backup, SettingsError> {
        let layers = self.layers()?;
        let settings = if layers.overlay_path.exists() {
            std::fs::read_to_string(&layers.overlay_path).map_err(|e| {
                invalid(format!(
                    "{}: cannot read: {e}",
                    layers.overlay_path.display()
                ))
            })?
        } else {
            String::new()
        };
        let merged = layers.merged();
        let certificate = match (
            lookup(&merged, "credential.kind").and_then(toml::Value::as_str),
            lookup(&merged, "credential.pkcs12").and_then(toml::Value::as_str),
            lookup(&merged, "credential.pkcs12_password_file").and_then(toml::Value::as_str),
        ) {
            (Some("software"), Some(p12), Some(pass)) => {
                let data = read_secret(Path::new(p12))?;
                let password_bytes = read_secret(Path::new(pass))?;
                let password = Zeroizing::new(
                    String::from_utf8_lossy(&password_bytes)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
                Some(BackupCertificate {
                    pkcs12: base64::engine::general_purpose::STANDARD.encode(&*data),
                    password,
                })
            }
            _ => None,
        };
        let contacts = match book {
            Some(book) => book
                .list()
                .map_err(|e| invalid(format!("address book: {e}")))?,
            None => Vec::new(),
        };
        Ok(Backup {
            format: BACKUP_FORMAT,
            created_at: crate::queue::now_unix(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            mailbox: lookup(&merged, "mssante.mailbox")
                .and_then(toml::Value::as_str)
                .map(str::to_string),
            settings,
            certificate,
            contacts,
        })
    }

    /// Puts a backup's configuration in place. Everything is checked
    /// before anything changes: the settings against the whole
    /// configuration, the certificate with its password, every contact.
    /// The settings file is written last but for the address book, which
    /// is replaced in one transaction after it.
    pub fn restore(
        &self,
        backup: &Backup,
        book: Option<&AddressBook>,
    ) -> Result<Restored, SettingsError> {
        if backup.format != BACKUP_FORMAT {
            return Err(invalid(format!(
                "backup format {} (this box reads format {BACKUP_FORMAT})",
                backup.format
            )));
        }
        let mut overlay: toml::Table = backup
            .settings
            .parse()
            .map_err(|e| invalid(format!("settings: {e}")))?;
        for contact in &backup.contacts {
            contact
                .validate()
                .map_err(|e| invalid(format!("contact {}: {e}", contact.display_name)))?;
        }
        let stored = match &backup.certificate {
            Some(cert) => {
                let data = Zeroizing::new(
                    base64::engine::general_purpose::STANDARD
                        .decode(cert.pkcs12.trim())
                        .map_err(|_| invalid("certificate: not base64"))?,
                );
                let stored =
                    super::credential::store_pkcs12(self.data_dir(), &data, &cert.password)?;
                let mut t = toml::Table::new();
                t.insert("kind".into(), "software".into());
                t.insert("pkcs12".into(), stored.pkcs12.display().to_string().into());
                t.insert(
                    "pkcs12_password_file".into(),
                    stored.password_file.display().to_string().into(),
                );
                overlay.insert("credential".into(), toml::Value::Table(t));
                Some(stored)
            }
            None => {
                if overlay
                    .get("credential")
                    .and_then(|c| c.get("kind"))
                    .and_then(toml::Value::as_str)
                    == Some("software")
                {
                    return Err(invalid(
                        "the settings name a software certificate the backup does not hold",
                    ));
                }
                None
            }
        };
        let drop_stored = || {
            if let Some(s) = &stored {
                let _ = std::fs::remove_file(&s.pkcs12);
                let _ = std::fs::remove_file(&s.password_file);
            }
        };
        let result = self.replace_overlay(overlay);
        let layers = match result {
            Ok(layers) => layers,
            Err(e) => {
                drop_stored();
                return Err(e);
            }
        };
        if let Some(s) = &stored {
            super::credential::remove_others(self.data_dir(), &[&s.pkcs12, &s.password_file]);
        }
        let contacts = match book {
            Some(book) => book
                .replace_all(&backup.contacts)
                .map_err(|e| invalid(format!("address book: {e}")))?,
            None => 0,
        };
        let merged = layers.merged();
        let accounts = super::accounts::from_toml(merged.get("accounts"));
        self.apply_live_accounts(&accounts);
        Ok(Restored {
            mailbox: lookup(&merged, "mssante.mailbox")
                .and_then(toml::Value::as_str)
                .map(str::to_string),
            credential: lookup(&merged, "credential.kind")
                .and_then(toml::Value::as_str)
                .map(str::to_string),
            accounts: accounts.len(),
            contacts,
        })
    }
}
