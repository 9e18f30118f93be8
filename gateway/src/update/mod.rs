//! Signed A/B updates of the whole system: from the regional group's
//! fleet server (hawkBit, DDI API) or a bundle uploaded in the web admin,
//! installed by RAUC into the slot that is not running, activated by a
//! restart at a quiet moment, and kept only once the new system has proven
//! healthy (see `docs/updates.md`).
//!
//! - `ddi`: the DDI API's resources, as data;
//! - `http`: HTTPS to the fleet server, with resumable downloads;
//! - `rauc`: the RAUC service over D-Bus;
//! - `policy`: which bundles are acceptable and when the box may restart;
//! - `pending`: the installed-but-not-yet-proven record that survives the restart;
//! - `agent`: the updater that ties them together.

pub mod agent;
pub mod ddi;
pub mod http;
pub mod pending;
pub mod policy;
pub mod rauc;

use std::path::PathBuf;

use serde::Deserialize;

pub use agent::{BoxState, UpdateError, UpdateStatus, Updater};

/// `[update]` of facteur.toml, written by the installer or the image.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    /// The fleet server up to the tenant, `https://fleet.example/DEFAULT`;
    /// absent: only bundles uploaded in the web admin.
    #[serde(default)]
    pub server: Option<String>,
    /// The box's controller id on the fleet server.
    #[serde(default)]
    pub controller_id: String,
    /// A file holding the controller id instead (on the appliance, the
    /// factory serial: one image, many boxes).
    #[serde(default)]
    pub controller_id_file: Option<PathBuf>,
    /// A file holding the target token (`Authorization: TargetToken`).
    #[serde(default)]
    pub target_token_file: Option<PathBuf>,
    /// A file holding the tenant's gateway token, instead.
    #[serde(default)]
    pub gateway_token_file: Option<PathBuf>,
    /// The box's client certificate and key (PEM) for mutual TLS.
    #[serde(default)]
    pub client_certificate: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// CA certificates (PEM) the fleet server's certificate must chain
    /// to; absent: the public web CAs.
    #[serde(default)]
    pub trust_anchors: Option<PathBuf>,
    /// Seconds between polls until the server gives its own interval.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: u64,
    /// Time limit of one exchange with the server (and of each read).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Download tries (resuming) before the action is reported failed.
    #[serde(default = "default_download_attempts")]
    pub download_attempts: u32,
    /// Seconds before the first download retry, doubling up to a minute.
    #[serde(default = "default_retry_delay")]
    pub retry_delay: u64,
    /// Daily window, Paris time (`HH:MM-HH:MM`), in which the box may
    /// restart into a new version even with messages waiting.
    #[serde(default)]
    pub window: Option<String>,
    /// Allow installing an older version than the running one.
    #[serde(default)]
    pub allow_downgrade: bool,
    /// `"system"`, or a D-Bus address for a private bus.
    #[serde(default = "default_rauc_bus")]
    pub rauc_bus: String,
    /// The command that restarts the box.
    #[serde(default = "default_reboot_command")]
    pub reboot_command: Vec<String>,
    /// Where the kernel's boot id is read (tells a restart happened).
    #[serde(default = "default_boot_id_file")]
    pub boot_id_file: PathBuf,
    /// The version running; absent: the daemon's own.
    #[serde(default)]
    pub running_version: Option<String>,
    /// Health checks after a restart: how many, how far apart (seconds).
    #[serde(default = "default_health_attempts")]
    pub health_attempts: u32,
    #[serde(default = "default_health_interval")]
    pub health_interval: u64,
}

fn default_poll_interval() -> u64 {
    300
}
fn default_timeout() -> u64 {
    60
}
fn default_download_attempts() -> u32 {
    5
}
fn default_retry_delay() -> u64 {
    10
}
fn default_rauc_bus() -> String {
    "system".into()
}
fn default_reboot_command() -> Vec<String> {
    vec!["systemctl".into(), "reboot".into()]
}
fn default_boot_id_file() -> PathBuf {
    PathBuf::from("/proc/sys/kernel/random/boot_id")
}
fn default_health_attempts() -> u32 {
    6
}
fn default_health_interval() -> u64 {
    10
}

/// Controller ids become part of URLs: letters, digits, `-`, `_`, `.`.
fn usable_controller_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl UpdateSettings {
    /// The controller id, read from `controller_id_file` when given that way.
    pub fn controller_id(&self) -> Result<String, String> {
        if !self.controller_id.is_empty() {
            return Ok(self.controller_id.clone());
        }
        let Some(path) = &self.controller_id_file else {
            return Err("update.controller_id is not set".into());
        };
        let id = std::fs::read_to_string(path)
            .map_err(|e| format!("{} (update.controller_id_file): {e}", path.display()))?
            .trim()
            .to_string();
        if !usable_controller_id(&id) {
            return Err(format!(
                "{} (update.controller_id_file): not a usable controller id",
                path.display()
            ));
        }
        Ok(id)
    }

    /// The version in service: the image's, else the daemon's own.
    pub fn running_version(&self) -> String {
        self.running_version
            .clone()
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
    }

    pub fn rauc_bus(&self) -> rauc::Bus {
        rauc::Bus::parse(&self.rauc_bus)
    }

    /// How the box authenticates; tokens are read from their files here.
    pub fn authorization(&self) -> http::Authorization {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map(|t| t.trim().to_string())
                .unwrap_or_default()
        };
        if let Some(p) = &self.target_token_file {
            http::Authorization::TargetToken(read(p))
        } else if let Some(p) = &self.gateway_token_file {
            http::Authorization::GatewayToken(read(p))
        } else {
            http::Authorization::Certificate
        }
    }

    /// Checks what can be checked before start.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(server) = &self.server {
            http::Target::parse(server).map_err(|e| ("update.server", e.to_string()))?;
            let from_file = self.controller_id.is_empty() && self.controller_id_file.is_some();
            if !from_file && !usable_controller_id(&self.controller_id) {
                return Err((
                    "update.controller_id",
                    "required with update.server (or controller_id_file): letters, digits, - _ ."
                        .into(),
                ));
            }
            let has_certificate = self.client_certificate.is_some() && self.client_key.is_some();
            if self.target_token_file.is_none()
                && self.gateway_token_file.is_none()
                && !has_certificate
            {
                return Err((
                    "update.target_token_file",
                    "the box needs a target token, a gateway token or a client certificate".into(),
                ));
            }
        }
        if self.client_certificate.is_some() != self.client_key.is_some() {
            return Err((
                "update.client_certificate",
                "client_certificate and client_key go together".into(),
            ));
        }
        if let Some(w) = &self.window
            && policy::Window::parse(w).is_none()
        {
            return Err(("update.window", format!("`{w}`: expected HH:MM-HH:MM")));
        }
        if self.reboot_command.is_empty() {
            return Err(("update.reboot_command", "must not be empty".into()));
        }
        Ok(())
    }

    pub fn resolve_relative_paths(&mut self, base: &std::path::Path) {
        for p in [
            &mut self.controller_id_file,
            &mut self.target_token_file,
            &mut self.gateway_token_file,
            &mut self.client_certificate,
            &mut self.client_key,
            &mut self.trust_anchors,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> UpdateSettings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_fleet_server_needs_an_id_and_a_way_to_authenticate() {
        let ok = settings(
            "server = \"https://fleet.example/DEFAULT\"\ncontroller_id = \"box-1\"\ntarget_token_file = \"t\"",
        );
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.poll_interval, 300);
        assert_eq!(ok.reboot_command, ["systemctl", "reboot"]);
        let no_auth = settings("server = \"https://f/DEFAULT\"\ncontroller_id = \"b\"");
        assert_eq!(
            no_auth.validate().unwrap_err().0,
            "update.target_token_file"
        );
        let no_id = settings("server = \"https://f/DEFAULT\"\ntarget_token_file = \"t\"");
        assert_eq!(no_id.validate().unwrap_err().0, "update.controller_id");
        let plain = settings(
            "server = \"http://f/DEFAULT\"\ncontroller_id = \"b\"\ntarget_token_file = \"t\"",
        );
        assert_eq!(plain.validate().unwrap_err().0, "update.server");
        let window = settings("window = \"2h-5h\"");
        assert_eq!(window.validate().unwrap_err().0, "update.window");
        assert_eq!(settings("").validate(), Ok(()));
    }

    #[test]
    fn the_controller_id_may_come_from_the_factory_serial() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("serial"), "FX-0001\n").unwrap();
        let mut s = settings(
            "server = \"https://f/DEFAULT\"\ncontroller_id_file = \"serial\"\ntarget_token_file = \"t\"",
        );
        assert_eq!(s.validate(), Ok(()));
        s.resolve_relative_paths(dir.path());
        assert_eq!(s.controller_id().unwrap(), "FX-0001");
        std::fs::write(dir.path().join("serial"), "../../etc\n").unwrap();
        assert!(s.controller_id().is_err());
    }

    #[test]
    fn tokens_are_read_from_their_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t"), "abc123\n").unwrap();
        let mut s = settings("target_token_file = \"t\"");
        s.resolve_relative_paths(dir.path());
        assert!(matches!(s.authorization(), http::Authorization::TargetToken(t) if t == "abc123"));
        assert!(matches!(
            settings("").authorization(),
            http::Authorization::Certificate
        ));
    }
}
