//! The web admin's own settings (one TOML file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port of the HTTPS listener (port 0: any free port).
    pub listen: SocketAddr,
    /// The daemon's control socket (`[control] socket` of facteur.toml).
    pub control_socket: PathBuf,
    /// Where the claim state, the setup code and the generated certificate live.
    pub state_dir: PathBuf,
    /// Name of the box on the LAN, for the generated certificate and the URL.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// Certificate chain and key (PEM); both or neither. Without them a
    /// self-signed certificate is generated in `state_dir/tls/`.
    #[serde(default)]
    pub tls_certificate: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// A session unused this long is closed (seconds).
    #[serde(default = "default_idle")]
    pub idle_timeout_secs: u64,
    /// A session is closed this long after login, used or not (seconds).
    #[serde(default = "default_absolute")]
    pub absolute_timeout_secs: u64,
    /// Announce the web admin on the LAN with mDNS (`mdns.rs`).
    #[serde(default = "default_mdns")]
    pub mdns: bool,
    /// The `.local` name announced.
    #[serde(default = "default_hostname")]
    pub mdns_hostname: String,
}

fn default_mdns() -> bool {
    true
}

fn default_hostname() -> String {
    "facteur.local".into()
}
fn default_idle() -> u64 {
    15 * 60
}
fn default_absolute() -> u64 {
    8 * 3600
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        if config.tls_certificate.is_some() != config.tls_key.is_some() {
            return Err("tls_certificate and tls_key go together: give both or neither".into());
        }
        if config.idle_timeout_secs == 0 || config.absolute_timeout_secs == 0 {
            return Err("session timeouts must be positive".into());
        }
        if config.mdns && !crate::mdns::valid_hostname(&config.mdns_hostname) {
            return Err("mdns_hostname must be a name ending in .local (a-z, 0-9, -)".into());
        }
        if config.idle_timeout_secs > config.absolute_timeout_secs {
            return Err("idle_timeout_secs cannot exceed absolute_timeout_secs".into());
        }
        Ok(config)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn absolute_timeout(&self) -> Duration {
        Duration::from_secs(self.absolute_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_and_defaults() {
        let c = Config::parse(
            "listen = \"127.0.0.1:8443\"\ncontrol_socket = \"/run/c.sock\"\nstate_dir = \"/var/lib/w\"\n",
        )
        .unwrap();
        assert_eq!(c.idle_timeout(), Duration::from_secs(900));
        assert_eq!(c.absolute_timeout(), Duration::from_secs(28800));
        assert!(c.tls_certificate.is_none());
        assert!(c.mdns);
        assert_eq!(c.mdns_hostname, "facteur.local");
    }

    #[test]
    fn mdns_settings() {
        let base = "listen = \"127.0.0.1:8443\"\ncontrol_socket = \"/c\"\nstate_dir = \"/s\"\n";
        let c = Config::parse(&format!("{base}mdns = false\n")).unwrap();
        assert!(!c.mdns);
        let c = Config::parse(&format!("{base}mdns_hostname = \"cabinet.local\"\n")).unwrap();
        assert_eq!(c.mdns_hostname, "cabinet.local");
        let err = Config::parse(&format!("{base}mdns_hostname = \"cabinet.lan\"\n")).unwrap_err();
        assert!(err.contains("mdns_hostname"), "{err}");
    }

    #[test]
    fn certificate_without_key_is_refused() {
        let err = Config::parse(
            "listen = \"127.0.0.1:8443\"\ncontrol_socket = \"/c\"\nstate_dir = \"/s\"\ntls_certificate = \"/c.pem\"\n",
        )
        .unwrap_err();
        assert!(err.contains("tls_key"), "{err}");
        assert!(Config::parse("listen = \"x\"").is_err());
        assert!(
            Config::parse(
                "listen = \"127.0.0.1:1\"\ncontrol_socket = \"/c\"\nstate_dir = \"/s\"\nbogus = 1\n"
            )
            .is_err()
        );
    }
}
