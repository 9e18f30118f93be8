//! Whether the box is claimed: `state_dir/admin.json` holds the admin
//! password's argon2id hash and when the box was claimed. Written whole,
//! owner-only, then renamed into place.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

pub(crate) fn file_error(path: &Path, message: impl ToString) -> StateError {
    StateError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct AdminRecord {
    /// PHC string (`$argon2id$…`).
    pub password_hash: String,
    /// Unix seconds.
    pub claimed_at: u64,
}

impl std::fmt::Debug for AdminRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminRecord")
            .field("claimed_at", &self.claimed_at)
            .finish_non_exhaustive()
    }
}

pub fn admin_path(state_dir: &Path) -> PathBuf {
    state_dir.join("admin.json")
}

/// The claim, if the box has been claimed.
pub fn load(state_dir: &Path) -> Result<Option<AdminRecord>, StateError> {
    let path = admin_path(state_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| file_error(&path, format!("unreadable claim state: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_error(&path, e)),
    }
}

pub fn save(state_dir: &Path, record: &AdminRecord) -> Result<(), StateError> {
    let bytes = serde_json::to_vec_pretty(record).map_err(|e| file_error(state_dir, e))?;
    write_private(&admin_path(state_dir), &bytes)
}

/// Removes the claim (the box was factory reset): the next visitor claims
/// it again with a new setup code.
pub fn forget(state_dir: &Path) -> Result<(), StateError> {
    let path = admin_path(state_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(file_error(&path, e)),
    }
}

fn installation_path(state_dir: &Path) -> PathBuf {
    state_dir.join("installation-id")
}

/// The daemon installation id this claim belongs to, once seen.
pub fn load_installation(state_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(installation_path(state_dir)).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

pub fn save_installation(state_dir: &Path, id: &str) -> Result<(), StateError> {
    write_private(&installation_path(state_dir), id.as_bytes())
}

/// Creates `dir` owner-only if missing.
pub fn ensure_dir(dir: &Path) -> Result<(), StateError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| file_error(dir, e))
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file and a
/// rename, then syncs the directory: readers see the old or the new file,
/// never half of one.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    facteur::durable::write_atomically(path, bytes, 0o600)
        .map_err(|e| file_error(&e.path, e.source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trip_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let record = AdminRecord {
            password_hash: "$argon2id$x".into(),
            claimed_at: 42,
        };
        save(dir.path(), &record).unwrap();
        let mode = std::fs::metadata(admin_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load(dir.path()).unwrap().unwrap().claimed_at, 42);
        assert!(!format!("{record:?}").contains("argon2"));
    }

    #[test]
    fn corrupt_state_is_an_error_not_unclaimed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(admin_path(dir.path()), "{").unwrap();
        assert!(load(dir.path()).is_err());
    }
}
