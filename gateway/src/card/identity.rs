//! The card identity the box sends as, remembered across restarts, so a
//! different card cannot silently take over the practice's mailbox.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedIdentity {
    /// SHA-256 of the authentication certificate.
    pub fingerprint: String,
    pub subject: String,
}

/// The file holding the accepted identity.
#[derive(Debug, Clone)]
pub struct IdentityStore {
    path: PathBuf,
}

impl IdentityStore {
    pub fn new(path: PathBuf) -> IdentityStore {
        IdentityStore { path }
    }

    /// The accepted identity; `None` when none was ever accepted. A file
    /// that cannot be read counts as an identity nobody matches.
    pub fn load(&self) -> Option<AcceptedIdentity> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "cannot read the accepted card identity");
                return Some(unreadable());
            }
        };
        match serde_json::from_str(&text) {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "the accepted card identity is corrupt");
                Some(unreadable())
            }
        }
    }

    /// Records `identity` durably (write, fsync, rename, fsync directory).
    pub fn save(&self, identity: &AcceptedIdentity) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(serde_json::to_string_pretty(identity)?.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

fn unreadable() -> AcceptedIdentity {
    AcceptedIdentity {
        fingerprint: String::new(),
        subject: "(unreadable)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = IdentityStore::new(dir.path().join("card").join("identity.json"));
        assert_eq!(store.load(), None);
        let id = AcceptedIdentity {
            fingerprint: "ab".into(),
            subject: "CN=x".into(),
        };
        store.save(&id).unwrap();
        assert_eq!(store.load(), Some(id));
    }

    #[test]
    fn corrupt_file_matches_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.json");
        std::fs::write(&path, "{not json").unwrap();
        let loaded = IdentityStore::new(path).load().unwrap();
        assert!(loaded.fingerprint.is_empty());
    }
}
