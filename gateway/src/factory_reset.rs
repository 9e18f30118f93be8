//! Factory reset (`docs/board.md`): erase everything the practice put in
//! the box, keep only what the factory wrote (`data_dir/factory/`).
//!
//! The reset is first written down (the marker), then done by the next
//! start, before anything opens the data directory: nothing is erased
//! under a running part, and a power cut in the middle is finished at the
//! following start.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::network::NetworkConfig;

/// The marker file in `data_dir`.
const MARKER: &str = ".factory-reset";
/// What survives: the factory identity.
pub const FACTORY_DIR: &str = "factory";
/// The installation id, new after each reset.
const INSTALLATION: &str = "installation-id";

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("returning the LAN to DHCP: {0}")]
    Network(String),
}

/// What the marker records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    pub requested_at: i64,
    /// Who asked ("button", "web:admin", "cli").
    pub actor: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ResetError + '_ {
    move |e| ResetError::Io(path.to_path_buf(), e)
}

fn durable(e: crate::durable::DurableError) -> ResetError {
    ResetError::Io(e.path, e.source)
}

/// Writes the reset down, durably; the caller then stops the daemon,
/// whose next start does it.
pub fn request(data_dir: &Path, actor: &str) -> Result<(), ResetError> {
    let marker = data_dir.join(MARKER);
    let request = Request {
        requested_at: crate::queue::now_unix(),
        actor: actor.to_string(),
    };
    let text = serde_json::to_vec(&request).unwrap_or_default();
    crate::durable::write_atomically(&marker, &text, 0o600).map_err(durable)
}

/// The pending reset, if one was asked for.
pub fn pending(data_dir: &Path) -> Option<Request> {
    let text = std::fs::read(data_dir.join(MARKER)).ok()?;
    Some(serde_json::from_slice(&text).unwrap_or(Request {
        requested_at: 0,
        actor: "unknown".into(),
    }))
}

/// What a finished reset removed.
#[derive(Debug, Default, PartialEq)]
pub struct Wiped {
    /// Entries of `data_dir` removed (files and directories).
    pub entries: usize,
    /// The web admin's network file was removed (back to DHCP).
    pub network_file: bool,
}

/// Does a pending reset: empties `data_dir` but for `factory/`, returns
/// the LAN to DHCP, then removes the marker. `None` when none is pending.
pub fn finish(
    data_dir: &Path,
    network: Option<&NetworkConfig>,
) -> Result<Option<Wiped>, ResetError> {
    let Some(request) = pending(data_dir) else {
        return Ok(None);
    };
    tracing::warn!(actor = %request.actor, data_dir = %data_dir.display(), "factory reset: erasing everything but the factory identity");
    let mut wiped = Wiped::default();
    for entry in std::fs::read_dir(data_dir).map_err(io(data_dir))? {
        let entry = entry.map_err(io(data_dir))?;
        let name = entry.file_name();
        if name == FACTORY_DIR || name == MARKER {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().map_err(io(&path))?.is_dir();
        if is_dir {
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        } else {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
        wiped.entries += 1;
    }
    if let Some(config) = network {
        wiped.network_file = crate::network::Network::return_to_dhcp(config)
            .map_err(|e| ResetError::Network(e.to_string()))?;
    }
    let marker = data_dir.join(MARKER);
    std::fs::remove_file(&marker).map_err(io(&marker))?;
    crate::durable::sync_dir(data_dir).map_err(io(data_dir))?;
    tracing::warn!(
        entries = wiped.entries,
        network_file = wiped.network_file,
        "factory reset done: the box is as it left the factory"
    );
    Ok(Some(wiped))
}

/// This installation's id: random, made at the first start and after each
/// reset. The web admin notices a reset box by its new id.
pub fn installation_id(data_dir: &Path) -> Result<String, ResetError> {
    let path = data_dir.join(INSTALLATION);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() == 32 => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ResetError::Io(path, e)),
    }
    let bytes: [u8; 16] = rand::random();
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    crate::durable::write_atomically(&path, id.as_bytes(), 0o600).map_err(durable)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn populated() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["queue/messages", "card", "tls", "audit", "factory"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(d.join("queue/messages/ABC"), b"mail").unwrap();
        std::fs::write(d.join("settings.toml"), b"[mssante]").unwrap();
        std::fs::write(d.join("card/identity.json"), b"{}").unwrap();
        std::fs::write(d.join("factory/serial"), b"FX-0001").unwrap();
        dir
    }

    #[test]
    fn nothing_happens_without_a_request() {
        let dir = populated();
        assert_eq!(finish(dir.path(), None).unwrap(), None);
        assert!(dir.path().join("settings.toml").exists());
    }

    #[test]
    fn a_reset_keeps_only_the_factory_identity() {
        let dir = populated();
        let first = installation_id(dir.path()).unwrap();
        request(dir.path(), "button").unwrap();
        assert_eq!(pending(dir.path()).unwrap().actor, "button");
        let wiped = finish(dir.path(), None).unwrap().unwrap();
        assert_eq!(wiped.entries, 6, "{wiped:?}");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, vec!["factory".to_string()]);
        assert_eq!(
            std::fs::read(dir.path().join("factory/serial")).unwrap(),
            b"FX-0001"
        );
        assert!(pending(dir.path()).is_none());
        let second = installation_id(dir.path()).unwrap();
        assert_ne!(first, second);
        assert_eq!(installation_id(dir.path()).unwrap(), second);
    }

    #[test]
    fn an_interrupted_reset_is_finished_by_the_next_start() {
        let dir = populated();
        request(dir.path(), "cli").unwrap();
        // The first attempt erased part of it before a power cut.
        std::fs::remove_dir_all(dir.path().join("queue")).unwrap();
        let wiped = finish(dir.path(), None).unwrap().unwrap();
        assert_eq!(wiped.entries, 4);
        assert!(!dir.path().join("settings.toml").exists());
        assert!(dir.path().join("factory/serial").exists());
    }

    #[test]
    fn the_lan_returns_to_dhcp() {
        let dir = populated();
        let net = tempfile::tempdir().unwrap();
        let networkctl = net.path().join("networkctl");
        std::fs::write(
            &networkctl,
            "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/calls\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&networkctl, std::fs::Permissions::from_mode(0o755)).unwrap();
        let networkd_dir = net.path().join("network");
        std::fs::create_dir_all(&networkd_dir).unwrap();
        std::fs::write(networkd_dir.join("10-facteur-lan.network"), "[Match]\n").unwrap();
        let config = NetworkConfig {
            interface: "eth0".into(),
            networkd_dir: networkd_dir.clone(),
            networkctl,
            confirm_timeout: 60,
        };
        request(dir.path(), "web:admin").unwrap();
        let wiped = finish(dir.path(), Some(&config)).unwrap().unwrap();
        assert!(wiped.network_file);
        assert!(!networkd_dir.join("10-facteur-lan.network").exists());
        let calls = std::fs::read_to_string(net.path().join("calls")).unwrap();
        assert_eq!(calls, "reload\nreconfigure eth0\n");
    }
}
