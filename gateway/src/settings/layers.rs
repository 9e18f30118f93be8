//! Reading the two layers (installer's file, practice's settings) and
//! merging them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{BoardConfig, Config, ConfigError, LogConfig};

/// The configuration file and the practice's settings, as TOML tables.
#[derive(Debug, Clone)]
pub struct Layers {
    /// The configuration file's path (errors, relative paths).
    pub path: PathBuf,
    pub base: toml::Table,
    /// `data_dir/settings.toml`, empty when absent.
    pub overlay: toml::Table,
    pub overlay_path: PathBuf,
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })
}

/// `data_dir` as the file gives it, relative to the file's directory.
fn data_dir_of(path: &Path, base: &toml::Table) -> Result<PathBuf, ConfigError> {
    let dir = base
        .get("data_dir")
        .and_then(toml::Value::as_str)
        .ok_or_else(|| ConfigError::Invalid {
            file: path.to_path_buf(),
            key: "data_dir",
            message: "required, as a path".into(),
        })?;
    let dir = PathBuf::from(dir);
    Ok(if dir.is_relative() {
        path.parent().map(|p| p.join(&dir)).unwrap_or(dir)
    } else {
        dir
    })
}

/// Lays the practice's settings over the file: tables merge key by key;
/// anything else (values, arrays such as `accounts`) is replaced whole, and
/// so is `[credential]`, whose keys depend on its kind.
pub fn merge(base: &mut toml::Table, overlay: &toml::Table) {
    if let Some(credential) = overlay.get("credential") {
        match (base.get_mut("credential"), psc_choice(credential)) {
            // The practice's Pro Santé Connect choice (how to log in) over
            // the installer's registration, which stays the file's.
            (Some(toml::Value::Table(registered)), Some(choice))
                if registered.get("kind").and_then(|k| k.as_str()) == Some("psc") =>
            {
                for (key, value) in choice {
                    registered.insert(key.clone(), value.clone());
                }
            }
            _ => {
                base.insert("credential".into(), credential.clone());
            }
        }
    }
    let rest: toml::Table = overlay
        .iter()
        .filter(|(k, _)| *k != "credential")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    merge_tables(base, &rest);
}

/// A `[credential]` of the practice's file that only chooses how to log in
/// to Pro Santé Connect (`kind = "psc"` with `login`, `national_id`).
fn psc_choice(credential: &toml::Value) -> Option<&toml::Table> {
    let table = credential.as_table()?;
    let only_choice = table
        .keys()
        .all(|k| matches!(k.as_str(), "kind" | "login" | "national_id"));
    (table.get("kind")?.as_str()? == "psc" && only_choice).then_some(table)
}

fn merge_tables(base: &mut toml::Table, overlay: &toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => {
                merge_tables(inner, over)
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

impl Layers {
    pub fn read(path: &Path) -> Result<Layers, ConfigError> {
        let base = read_table(path)?;
        let overlay_path = data_dir_of(path, &base)?.join(super::SETTINGS_FILE);
        let overlay = if overlay_path.exists() {
            read_table(&overlay_path)?
        } else {
            toml::Table::new()
        };
        Ok(Layers {
            path: path.to_path_buf(),
            base,
            overlay,
            overlay_path,
        })
    }

    /// Both layers merged.
    pub fn merged(&self) -> toml::Table {
        let mut merged = self.base.clone();
        merge(&mut merged, &self.overlay);
        merged
    }

    /// What is still missing before the box can run (empty when set up).
    pub fn missing(&self) -> Vec<&'static str> {
        missing_in(&self.merged())
    }

    /// The full configuration, or `ConfigError::Incomplete` while the box
    /// is not set up.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let merged = self.merged();
        let missing = missing_in(&merged);
        if !missing.is_empty() {
            return Err(ConfigError::Incomplete {
                file: self.path.clone(),
                missing,
            });
        }
        Config::from_table(&self.path, merged).map_err(|e| self.blame(e))
    }

    /// Checks every setting present, even before the box is set up (the
    /// missing ones stand in with placeholders).
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut merged = self.merged();
        if lookup(&merged, "mssante.mailbox").is_none() {
            let mut stand_in = toml::Table::new();
            stand_in.insert(
                "mssante".into(),
                toml::Value::Table(toml::toml! { mailbox = "setup@facteur.invalid" }),
            );
            merge(&mut merged, &stand_in);
        }
        if !merged.contains_key("credential") {
            merged.insert(
                "credential".into(),
                toml::Value::Table(toml::toml! { kind = "card" }),
            );
        }
        Config::from_table(&self.path, merged)
            .map(|_| ())
            .map_err(|e| self.blame(e))
    }

    /// Errors about a key the practice set name the settings file.
    fn blame(&self, error: ConfigError) -> ConfigError {
        match error {
            ConfigError::Invalid { key, message, .. } if self.sets(key) => ConfigError::Invalid {
                file: self.overlay_path.clone(),
                key,
                message,
            },
            other => other,
        }
    }

    fn sets(&self, dotted: &str) -> bool {
        lookup(&self.overlay, dotted).is_some()
    }

    /// What the daemon needs before it is set up (the control API).
    pub fn essentials(&self) -> Result<Essentials, ConfigError> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            log: LogConfig,
            #[serde(default)]
            control: RawControl,
            #[serde(default)]
            operators: Option<PathBuf>,
            #[serde(default)]
            board: BoardConfig,
            #[serde(default)]
            network: Option<crate::network::NetworkConfig>,
        }
        #[derive(Deserialize, Default)]
        struct RawControl {
            socket: Option<PathBuf>,
        }
        let raw: Raw =
            toml::Value::Table(self.merged())
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    file: self.path.clone(),
                    message: e.to_string().trim_end().replace('\n', " "),
                })?;
        let data_dir = data_dir_of(&self.path, &self.base)?;
        let relative = |p: PathBuf| match (p.is_relative(), self.path.parent()) {
            (true, Some(dir)) => dir.join(p),
            _ => p,
        };
        Ok(Essentials {
            control_socket: raw
                .control
                .socket
                .map(relative)
                .unwrap_or_else(|| data_dir.join("control.sock")),
            operators: raw.operators.map(relative),
            board: BoardConfig {
                description: raw.board.description.map(|d| match d.as_str() {
                    "simulated" => d,
                    _ => relative(PathBuf::from(d)).to_string_lossy().into_owned(),
                }),
                ..raw.board
            },
            network: raw.network.map(|mut n| {
                n.networkd_dir = relative(n.networkd_dir);
                n
            }),
            data_dir,
            log: raw.log,
        })
    }
}

/// The value at a dotted key (`upstream.host`).
pub(super) fn lookup<'a>(table: &'a toml::Table, dotted: &str) -> Option<&'a toml::Value> {
    let mut parts = dotted.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

fn missing_in(merged: &toml::Table) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if lookup(merged, "mssante.mailbox").is_none() {
        missing.push("mssante.mailbox");
    }
    if !merged.contains_key("credential") {
        missing.push("credential");
    }
    missing
}

/// What the daemon runs with before it is set up.
#[derive(Debug, Clone)]
pub struct Essentials {
    pub data_dir: PathBuf,
    pub control_socket: PathBuf,
    pub log: LogConfig,
    pub operators: Option<PathBuf>,
    pub board: BoardConfig,
    pub network: Option<crate::network::NetworkConfig>,
}
