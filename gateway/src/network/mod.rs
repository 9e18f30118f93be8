//! The box's address on the practice's LAN (DHCP or fixed), applied with
//! an automatic rollback: a change is kept only if the administrator
//! confirms it from the new address within `confirm_timeout`; otherwise,
//! or if the daemon stops meanwhile, the previous settings come back.
//!
//! On the appliance the box's network is systemd-networkd's: this module
//! writes one `.network` file for the LAN interface and asks `networkctl`
//! to apply it.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod networkd;

pub use networkd::{parse, render};

/// `[network]` in the configuration; absent: the installer manages the
/// network and the web admin only shows that.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The LAN interface (`eth0`, `end0`…).
    pub interface: String,
    /// Where networkd reads `.network` files (on the appliance a directory
    /// of the data partition that `/etc/systemd/network` points to).
    pub networkd_dir: PathBuf,
    /// The `networkctl` program.
    #[serde(default = "default_networkctl")]
    pub networkctl: PathBuf,
    /// Seconds a change waits for its confirmation before it is undone.
    #[serde(default = "default_confirm_timeout")]
    pub confirm_timeout: u64,
}

fn default_networkctl() -> PathBuf {
    PathBuf::from("/usr/bin/networkctl")
}

fn default_confirm_timeout() -> u64 {
    60
}

/// The LAN settings a practice may choose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum LanSettings {
    Dhcp,
    Static {
        address: Ipv4Addr,
        prefix: u8,
        gateway: Ipv4Addr,
        dns: Vec<IpAddr>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetworkError {
    #[error("{0}")]
    Invalid(String),
    #[error("a change is already waiting for its confirmation")]
    Pending,
    #[error("no change waits for this confirmation (unknown or expired)")]
    UnknownToken,
    #[error("cannot apply: {0}")]
    Apply(String),
}

impl LanSettings {
    /// Refuses what would cut the box off: addresses that are not a
    /// host's, a gateway outside the network, no or too many DNS servers.
    pub fn validate(&self) -> Result<(), NetworkError> {
        let LanSettings::Static {
            address,
            prefix,
            gateway,
            dns,
        } = self
        else {
            return Ok(());
        };
        let bad = |m: &str| Err(NetworkError::Invalid(m.to_string()));
        if !(8..=30).contains(prefix) {
            return bad("the prefix must be between /8 and /30");
        }
        let host = |ip: &Ipv4Addr| {
            !(ip.is_loopback()
                || ip.is_multicast()
                || ip.is_broadcast()
                || ip.is_unspecified()
                || ip.is_link_local())
        };
        if !host(address) {
            return bad("the address is not one a host may have");
        }
        if !host(gateway) {
            return bad("the gateway is not one a host may have");
        }
        let mask = u32::MAX << (32 - u32::from(*prefix));
        let (a, g) = (u32::from(*address), u32::from(*gateway));
        if a & mask != g & mask {
            return bad("the gateway is outside the box's network");
        }
        if a == g {
            return bad("the address and the gateway are the same");
        }
        if a & !mask == 0 || a & !mask == !mask {
            return bad("the address is the network's or its broadcast address");
        }
        if dns.is_empty() || dns.len() > 3 {
            return bad("one to three DNS servers are needed");
        }
        if dns.iter().any(|d| d.is_unspecified() || d.is_multicast()) {
            return bad("a DNS server address is not usable");
        }
        Ok(())
    }
}

/// A change waiting for its confirmation, kept on disk so a daemon that
/// stops meanwhile undoes it at its next start.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    /// The `.network` file before the change (`None`: there was none).
    previous: Option<String>,
    deadline: i64,
    /// SHA-256 of the confirmation token (the token itself is never kept).
    token_sha256: String,
}

/// What `GET /v1/network` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkView {
    pub interface: String,
    /// None: no file of ours (the installer's defaults apply).
    pub settings: Option<LanSettings>,
    /// Seconds left to confirm a change, if one is waiting.
    pub pending_seconds: Option<i64>,
    pub confirm_timeout: u64,
}

pub struct Network {
    config: NetworkConfig,
    pending_file: PathBuf,
    lock: Mutex<()>,
    audit: Option<crate::audit::Audit>,
}

const FILE_NAME: &str = "10-facteur-lan.network";

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Network {
    /// Opens the network settings; a change left unconfirmed by a daemon
    /// that stopped is undone now.
    pub fn open(
        config: NetworkConfig,
        data_dir: &Path,
        audit: Option<crate::audit::Audit>,
    ) -> Arc<Network> {
        let network = Arc::new(Network {
            config,
            pending_file: data_dir.join("network-pending.json"),
            lock: Mutex::new(()),
            audit,
        });
        if network.pending().is_some() {
            tracing::warn!("a network change was left unconfirmed: undoing it");
            if let Err(e) = network.rollback() {
                tracing::error!(error = %e, "cannot undo the unconfirmed network change");
            }
        }
        network
    }

    fn file(&self) -> PathBuf {
        self.config.networkd_dir.join(FILE_NAME)
    }

    /// Removes the web admin's network file and has networkd apply the
    /// installer's settings again (a factory reset); `true` when there
    /// was a file. Nothing else of the network is touched.
    pub fn return_to_dhcp(config: &NetworkConfig) -> Result<bool, NetworkError> {
        let network = Network {
            config: config.clone(),
            pending_file: PathBuf::new(),
            lock: Mutex::new(()),
            audit: None,
        };
        if !network.file().exists() {
            return Ok(false);
        }
        network.write(None)?;
        network.networkctl()?;
        Ok(true)
    }

    fn pending(&self) -> Option<Pending> {
        let text = std::fs::read_to_string(&self.pending_file).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn view(&self) -> NetworkView {
        let settings = std::fs::read_to_string(self.file())
            .ok()
            .and_then(|t| parse(&t));
        NetworkView {
            interface: self.config.interface.clone(),
            settings,
            pending_seconds: self
                .pending()
                .map(|p| (p.deadline - crate::queue::now_unix()).max(0)),
            confirm_timeout: self.config.confirm_timeout,
        }
    }

    fn networkctl(&self) -> Result<(), NetworkError> {
        for args in [
            vec!["reload".to_string()],
            vec!["reconfigure".to_string(), self.config.interface.clone()],
        ] {
            let out = std::process::Command::new(&self.config.networkctl)
                .args(&args)
                .output()
                .map_err(|e| {
                    NetworkError::Apply(format!("{}: {e}", self.config.networkctl.display()))
                })?;
            if !out.status.success() {
                return Err(NetworkError::Apply(format!(
                    "networkctl {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        Ok(())
    }

    fn write(&self, content: Option<&str>) -> Result<(), NetworkError> {
        let io = |e: String| NetworkError::Apply(e);
        match content {
            Some(text) => {
                std::fs::create_dir_all(&self.config.networkd_dir)
                    .map_err(|e| io(format!("{}: {e}", self.config.networkd_dir.display())))?;
                crate::durable::write_atomically(&self.file(), text.as_bytes(), 0o644)
                    .map_err(|e| io(e.to_string()))
            }
            None => match std::fs::remove_file(self.file()) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io(e.to_string())),
            },
        }
    }

    /// Applies `settings` and returns the confirmation token; the previous
    /// settings come back after `confirm_timeout` unless [`Network::confirm`]
    /// is called with it.
    pub fn apply(
        self: &Arc<Self>,
        settings: &LanSettings,
        actor: &str,
    ) -> Result<String, NetworkError> {
        settings.validate()?;
        let _guard = self
            .lock
            .lock()
            .map_err(|_| NetworkError::Apply("lock".into()))?;
        if self.pending().is_some() {
            return Err(NetworkError::Pending);
        }
        let token: String = {
            let bytes: [u8; 32] = rand::random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        let pending = Pending {
            previous: std::fs::read_to_string(self.file()).ok(),
            deadline: crate::queue::now_unix() + self.config.confirm_timeout as i64,
            token_sha256: sha256_hex(&token),
        };
        let json = serde_json::to_vec(&pending).map_err(|e| NetworkError::Apply(e.to_string()))?;
        // The way back is on disk before the change.
        crate::durable::write_atomically(&self.pending_file, &json, 0o600)
            .map_err(|e| NetworkError::Apply(e.to_string()))?;
        let applied = self
            .write(Some(&render(&self.config.interface, settings)))
            .and_then(|()| self.networkctl());
        if let Err(e) = applied {
            drop(_guard);
            let _ = self.rollback();
            return Err(e);
        }
        if let Some(audit) = &self.audit {
            audit.note(
                actor,
                "network_changed",
                Some(&self.config.interface),
                Some(&describe(settings)),
            );
        }
        let network = self.clone();
        let wait = Duration::from_secs(self.config.confirm_timeout);
        let deadline = pending.deadline;
        std::thread::spawn(move || {
            std::thread::sleep(wait);
            // Only this change's deadline: a later change has its own.
            if network.pending().is_some_and(|p| p.deadline == deadline) {
                tracing::warn!("network change not confirmed in time: undoing it");
                if let Err(e) = network.rollback() {
                    tracing::error!(error = %e, "cannot undo the network change");
                }
            }
        });
        Ok(token)
    }

    /// Keeps the change waiting for `token`.
    pub fn confirm(&self, token: &str, actor: &str) -> Result<(), NetworkError> {
        let _guard = self
            .lock
            .lock()
            .map_err(|_| NetworkError::Apply("lock".into()))?;
        let Some(pending) = self.pending() else {
            return Err(NetworkError::UnknownToken);
        };
        // Digests are compared, so timing tells nothing about the token.
        let matches = sha256_hex(token) == pending.token_sha256;
        if !matches || pending.deadline < crate::queue::now_unix() {
            return Err(NetworkError::UnknownToken);
        }
        std::fs::remove_file(&self.pending_file).map_err(|e| NetworkError::Apply(e.to_string()))?;
        if let Some(audit) = &self.audit {
            audit.note(
                actor,
                "network_confirmed",
                Some(&self.config.interface),
                None,
            );
        }
        Ok(())
    }

    /// Puts the previous settings back.
    fn rollback(&self) -> Result<(), NetworkError> {
        let _guard = self
            .lock
            .lock()
            .map_err(|_| NetworkError::Apply("lock".into()))?;
        let Some(pending) = self.pending() else {
            return Ok(());
        };
        self.write(pending.previous.as_deref())?;
        let applied = self.networkctl();
        // The file is back whatever networkctl says; the next start applies it.
        let _ = std::fs::remove_file(&self.pending_file);
        if let Some(audit) = &self.audit {
            audit.note(
                "daemon",
                "network_rolled_back",
                Some(&self.config.interface),
                None,
            );
        }
        applied
    }
}

fn describe(settings: &LanSettings) -> String {
    match settings {
        LanSettings::Dhcp => "DHCP".into(),
        LanSettings::Static {
            address, prefix, ..
        } => format!("{address}/{prefix}"),
    }
}

#[cfg(test)]
mod tests;
