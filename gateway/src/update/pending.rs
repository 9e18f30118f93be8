//! The record of an installed update waiting for its restart and its
//! first healthy start (`data_dir/update/pending.json`). It is what
//! survives the reboot: the next start reads it to know whether the box
//! came up on the new slot (mark it good, report success) or back on the
//! old one (the bootloader fell back: report the failure).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The fleet server's action, `None` for a bundle uploaded by hand.
    pub action: Option<String>,
    pub version: String,
    /// The slot the box ran from when it installed (its bootname).
    pub from_slot: String,
    /// The kernel's boot id at installation: a different one means the
    /// box has restarted since.
    pub boot_id: String,
    pub installed_at: i64,
    /// Why the new system failed its check, once it has: the next start
    /// (back on the old slot) reports it.
    #[serde(default)]
    pub check_failure: Option<String>,
}

pub fn path(update_dir: &Path) -> PathBuf {
    update_dir.join("pending.json")
}

pub fn read(update_dir: &Path) -> std::io::Result<Option<Pending>> {
    match std::fs::read(path(update_dir)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path(update_dir).display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn write(update_dir: &Path, pending: &Pending) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(pending).map_err(std::io::Error::other)?;
    crate::durable::write_atomically(&path(update_dir), &bytes, 0o600)
        .map_err(std::io::Error::other)
}

pub fn clear(update_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path(update_dir)) {
        Ok(()) => crate::durable::sync_dir(update_dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The kernel's id of the current boot.
pub fn boot_id(file: &Path) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(file)?.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_update_survives_as_a_file_and_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let p = Pending {
            action: Some("42".into()),
            version: "0.2.0".into(),
            from_slot: "A".into(),
            boot_id: "abc".into(),
            installed_at: 1,
            check_failure: None,
        };
        write(dir.path(), &p).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(p));
        clear(dir.path()).unwrap();
        clear(dir.path()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        std::fs::write(path(dir.path()), b"{").unwrap();
        assert!(read(dir.path()).is_err());
    }
}
