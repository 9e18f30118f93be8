//! The settings a practice may change from the web admin. Everything else
//! (listening addresses, trust anchors, the whitelist, limits) is the
//! installer's, in the configuration file.

/// The TOML type a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    Integer,
    Boolean,
    /// A list of texts.
    List,
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Editable {
    /// Dotted key, as in `configuration.md`.
    pub key: &'static str,
    pub kind: Kind,
    /// Whether the setting applies only after a restart (almost all do:
    /// the parts are built from the configuration at start).
    pub restart: bool,
}

const fn setting(key: &'static str, kind: Kind) -> Editable {
    Editable {
        key,
        kind,
        restart: true,
    }
}

/// Every setting the control API lets change, in the order the web admin
/// shows them. Accounts and the credential have their own endpoints.
pub const EDITABLE: &[Editable] = &[
    setting("mssante.mailbox", Kind::Text),
    setting("upstream.host", Kind::Text),
    setting("upstream.port", Kind::Integer),
    setting("upstream.tls", Kind::Text),
    setting("upstream.server_name", Kind::Text),
    setting("upstream.imap_host", Kind::Text),
    setting("upstream.imap_port", Kind::Integer),
    setting("upstream.imap_tls", Kind::Text),
    setting("smtp.trusted_networks", Kind::List),
    setting("queue.lifetime_hours", Kind::Integer),
    setting("inbound.poll_interval", Kind::Integer),
    setting("inbound.delete_after_export", Kind::Boolean),
    setting("inbound.send_receipts", Kind::Boolean),
    setting("inbound.receipt_timeout_hours", Kind::Integer),
    setting("paper.practice_name", Kind::Text),
    setting("paper.practitioner", Kind::Text),
    setting("paper.specialty", Kind::Text),
    setting("paper.address_lines", Kind::List),
    setting("paper.postcode", Kind::Text),
    setting("paper.town", Kind::Text),
    setting("paper.phone", Kind::Text),
    setting("paper.email", Kind::Text),
    setting("paper.rpps", Kind::Text),
    setting("paper.printer", Kind::Text),
    setting("log.level", Kind::Text),
];

impl Editable {
    pub fn find(key: &str) -> Option<&'static Editable> {
        EDITABLE.iter().find(|e| e.key == key)
    }

    /// The JSON value as the TOML value this setting takes, or why not.
    pub fn to_toml(&self, value: &serde_json::Value) -> Result<toml::Value, String> {
        const MAX_TEXT: usize = 512;
        let text = |s: &str| -> Result<toml::Value, String> {
            if s.chars().count() > MAX_TEXT || s.contains(|c: char| c.is_control()) {
                return Err(format!("must be one line of at most {MAX_TEXT} characters"));
            }
            Ok(toml::Value::String(s.trim().to_string()))
        };
        match (self.kind, value) {
            (Kind::Text, serde_json::Value::String(s)) => text(s),
            (Kind::Integer, serde_json::Value::Number(n)) => n
                .as_i64()
                .filter(|n| *n >= 0)
                .map(toml::Value::Integer)
                .ok_or_else(|| "must be a whole number, 0 or more".to_string()),
            (Kind::Boolean, serde_json::Value::Bool(b)) => Ok(toml::Value::Boolean(*b)),
            (Kind::List, serde_json::Value::Array(items)) if items.len() <= 32 => items
                .iter()
                .map(|item| match item {
                    serde_json::Value::String(s) => text(s),
                    _ => Err("must be a list of texts".to_string()),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(toml::Value::Array),
            (Kind::List, serde_json::Value::Array(_)) => Err("at most 32 entries".to_string()),
            (kind, _) => Err(format!("expected {kind:?}").to_lowercase()),
        }
    }
}
