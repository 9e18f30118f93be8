//! The support bundle: one zip with what support needs to understand a
//! box (version, status, diagnostics, recent logs, the configuration with
//! its secrets removed, the audit chain's verification) and nothing of
//! the patients: no message, no subject, no password hash, no key.

use std::io::Write;

use zip::write::SimpleFileOptions;

use super::Report;
use super::logs::{LogEvent, is_sensitive};

/// What replaces a secret value.
pub const REDACTED: &str = "[retiré]";

/// The parts, gathered by the control API.
pub struct BundleParts {
    /// Version, uptime, when the bundle was made.
    pub info: serde_json::Value,
    /// As `GET /v1/status`.
    pub status: serde_json::Value,
    pub diagnostics: Report,
    /// Newest first.
    pub logs: Vec<LogEvent>,
    /// The configuration file's text, redacted here; `None` if unreadable.
    pub config: Option<String>,
    /// As `GET /v1/audit/verify`.
    pub audit_verify: serde_json::Value,
}

const README: &str = "Facteur – dossier d’assistance\n\
\n\
info.json          version, durée de fonctionnement, date du dossier\n\
status.json        état du service (identique à GET /v1/status)\n\
diagnostics.json   résultat de chaque vérification (DNS, connexion, TLS, horloge, disque, file, certificat)\n\
logs.jsonl         derniers événements techniques (les plus récents d’abord)\n\
config.toml        configuration effective, secrets retirés (mots de passe, empreintes, clés)\n\
audit-verify.json  vérification de la chaîne du journal d’audit (pas son contenu)\n\
\n\
Ce dossier ne contient aucun message, aucun objet de message, aucune donnée de patient,\n\
aucun mot de passe ni aucune clé.\n";

/// The configuration as TOML with every secret-looking key's value
/// replaced (by key name, at any depth). Text that is not TOML is not
/// copied at all.
pub fn redact_config(text: &str) -> String {
    match text.parse::<toml::Table>() {
        Ok(mut table) => {
            redact_table(&mut table);
            toml::to_string(&table).unwrap_or_else(|_| "# configuration illisible\n".into())
        }
        Err(_) => "# configuration illisible : non incluse\n".into(),
    }
}

fn redact_table(table: &mut toml::Table) {
    for (key, value) in table.iter_mut() {
        if is_sensitive(key) {
            *value = toml::Value::String(REDACTED.into());
        } else {
            redact_value(value);
        }
    }
}

fn redact_value(value: &mut toml::Value) {
    match value {
        toml::Value::Table(t) => redact_table(t),
        toml::Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

/// Builds the zip in memory (a few hundred KiB at most: the logs are
/// bounded).
pub fn build(parts: &BundleParts) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o600);
    let mut add = |name: &str, bytes: &[u8]| -> Result<(), zip::result::ZipError> {
        zip.start_file(name, options)?;
        zip.write_all(bytes)?;
        Ok(())
    };
    add("README.txt", README.as_bytes())?;
    add("info.json", pretty(&parts.info).as_bytes())?;
    add("status.json", pretty(&parts.status).as_bytes())?;
    add("diagnostics.json", pretty(&parts.diagnostics).as_bytes())?;
    let mut lines = String::new();
    for event in &parts.logs {
        if let Ok(line) = serde_json::to_string(event) {
            lines.push_str(&line);
            lines.push('\n');
        }
    }
    add("logs.jsonl", lines.as_bytes())?;
    let config = match &parts.config {
        Some(text) => redact_config(text),
        None => "# configuration illisible : non incluse\n".into(),
    };
    add("config.toml", config.as_bytes())?;
    add("audit-verify.json", pretty(&parts.audit_verify).as_bytes())?;
    Ok(zip.finish()?.into_inner())
}

/// Pretty JSON of any serialisable part.
fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
}
