//! The list of MSSanté operators the set-up wizard offers, each with the
//! endpoints its clients use; the practice picks one instead of typing
//! host names.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::UpstreamTls;

/// The list shipped in the daemon, used when the configuration names none.
const BUILT_IN: &str = include_str!("../../data/operators.toml");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// Short stable name (letters, digits, `-`).
    pub id: String,
    /// What the practice sees.
    pub name: String,
    /// Entered by hand in the wizard (no endpoints in the file).
    #[serde(default)]
    pub manual: bool,
    #[serde(default)]
    pub smtp_host: Option<String>,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    #[serde(default)]
    pub smtp_tls: UpstreamTls,
    #[serde(default)]
    pub imap_host: Option<String>,
    #[serde(default = "default_imap_port")]
    pub imap_port: u16,
    #[serde(default)]
    pub imap_tls: UpstreamTls,
    /// Name in the operator's certificate when it differs from the hosts.
    #[serde(default)]
    pub server_name: Option<String>,
    /// The operator's mail domains, shown as examples of addresses.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Mailbox types it serves: `card` (personal, CPS card), `software`
    /// (organisation or application, software certificate).
    #[serde(default = "default_types")]
    pub mailbox_types: Vec<String>,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_imap_port() -> u16 {
    143
}

fn default_types() -> Vec<String> {
    vec!["card".into(), "software".into()]
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorsError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct Operators {
    pub operators: Vec<Operator>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    operator: Vec<Operator>,
}

impl Operators {
    /// The configured file, or the built-in list.
    pub fn load(path: Option<&Path>) -> Result<Operators, OperatorsError> {
        match path {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| OperatorsError::Read {
                        file: path.display().to_string(),
                        source,
                    })?;
                Self::parse(&path.display().to_string(), &text)
            }
            None => Self::parse("built-in operators.toml", BUILT_IN),
        }
    }

    pub fn parse(file: &str, text: &str) -> Result<Operators, OperatorsError> {
        let invalid = |message: String| OperatorsError::Invalid {
            file: file.to_string(),
            message,
        };
        let parsed: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for op in &parsed.operator {
            if op.id.is_empty()
                || op.id.len() > 40
                || !op.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(invalid(format!(
                    "operator id `{}`: letters, digits and - only",
                    op.id
                )));
            }
            if !seen.insert(op.id.clone()) {
                return Err(invalid(format!("operator id `{}` appears twice", op.id)));
            }
            if !op.manual && (op.smtp_host.is_none() || op.imap_host.is_none()) {
                return Err(invalid(format!(
                    "operator `{}`: smtp_host and imap_host are needed (or manual = true)",
                    op.id
                )));
            }
            if let Some(t) = op
                .mailbox_types
                .iter()
                .find(|t| *t != "card" && *t != "software")
            {
                return Err(invalid(format!(
                    "operator `{}`: mailbox type `{t}` is neither card nor software",
                    op.id
                )));
            }
        }
        Ok(Operators {
            operators: parsed.operator,
        })
    }

    pub fn get(&self, id: &str) -> Option<&Operator> {
        self.operators.iter().find(|o| o.id == id)
    }
}

impl Operator {
    /// The settings that point the box at this operator.
    pub fn settings(&self) -> Vec<(&'static str, serde_json::Value)> {
        let tls = |t: UpstreamTls| match t {
            UpstreamTls::Starttls => "starttls",
            UpstreamTls::Implicit => "implicit",
        };
        let text = |v: &Option<String>| match v {
            Some(s) => serde_json::Value::String(s.clone()),
            None => serde_json::Value::Null,
        };
        vec![
            ("upstream.host", text(&self.smtp_host)),
            ("upstream.port", self.smtp_port.into()),
            ("upstream.tls", tls(self.smtp_tls).into()),
            ("upstream.imap_host", text(&self.imap_host)),
            ("upstream.imap_port", self.imap_port.into()),
            ("upstream.imap_tls", tls(self.imap_tls).into()),
            ("upstream.server_name", text(&self.server_name)),
        ]
    }
}
