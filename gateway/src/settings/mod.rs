//! The practice's own settings, changed through the web admin, kept apart
//! from the installer's configuration file.
//!
//! The configuration file (`/etc/facteur/facteur.toml`, read-only on the
//! appliance) holds what the image and the installer decide. What the
//! practice decides (its mailbox, its operator, its credential, its local
//! accounts, its letterhead…) lives in `data_dir/settings.toml`, written
//! only by the daemon and laid over the file key by key. A box whose
//! settings lack the mailbox or the credential is not set up yet: the
//! daemon then runs only its control API, for the set-up wizard.

mod accounts;
mod backup;
mod credential;
mod editable;
mod layers;
mod operators;
mod store;

pub use accounts::{AccountError, valid_user};
pub use backup::{BACKUP_FORMAT, Backup, BackupCertificate, Restored};
pub use credential::{StoredCredential, UploadError};
pub use editable::{EDITABLE, Editable, Kind};
pub use layers::{Essentials, Layers, merge};
pub use operators::{Operator, Operators, OperatorsError};
pub use store::{SettingsError, SettingsStore};

/// Name of the practice's settings file inside `data_dir`.
pub const SETTINGS_FILE: &str = "settings.toml";

#[cfg(test)]
mod tests;
