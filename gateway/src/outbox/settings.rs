//! The `[outbox]` section: folders watched for documents to send, and the
//! defaults of the XDM metadata (author, codes) when a sidecar says less.

use std::path::PathBuf;

use serde::Deserialize;

use crate::xdm::{
    CLASS_CODE_OID, CONFIDENTIALITY_OID, Code, FACILITY_TYPE_OID, IHE_FORMAT_OID, LOINC_OID,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Folders to watch. Each gets `sent/` and `errors/` inside it.
    pub folders: Vec<PathBuf>,
    /// `notify` (inotify, with a periodic scan as a safety net) or `poll`
    /// (scan only; for network shares, where inotify sees nothing).
    #[serde(default)]
    pub watch: WatchMode,
    /// Seconds between scans.
    #[serde(default = "default_scan_interval")]
    pub scan_interval: u64,
    /// Seconds a file's size and date must stay unchanged before it is
    /// taken, when its writer was not seen closing it.
    #[serde(default = "default_settle_time")]
    pub settle_time: u64,
    /// Seconds a document with no recipient yet waits for its sidecar.
    #[serde(default = "default_sidecar_wait")]
    pub sidecar_wait: u64,
    /// Seconds after which a PDF that still looks unfinished is an error.
    #[serde(default = "default_incomplete_timeout")]
    pub incomplete_timeout: u64,
    /// What happens to a document once queued: moved to `sent/` or deleted.
    #[serde(default)]
    pub after_send: AfterSend,
    /// Largest document accepted, in bytes.
    #[serde(default = "default_max_document_size")]
    pub max_document_size: u64,
    /// The author written in the metadata. With a CPS card, the card's
    /// national id is used when `national_id` is not set.
    #[serde(default)]
    pub author: AuthorConfig,
    /// Codes used when the sidecar gives none.
    #[serde(default)]
    pub codes: CodeDefaults,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    #[default]
    Notify,
    Poll,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterSend {
    #[default]
    Move,
    Delete,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorConfig {
    /// 8 + RPPS, or 0 + ADELI.
    pub national_id: Option<String>,
    #[serde(default)]
    pub family_name: String,
    #[serde(default)]
    pub given_name: String,
    pub specialty: Option<String>,
    /// The practice's name.
    pub institution: Option<String>,
}

impl AuthorConfig {
    /// The author: these settings first, the card's holder for what they
    /// leave out.
    pub fn resolve(&self, holder: Option<&crate::card::Holder>) -> crate::xdm::Author {
        let non_empty = |s: &String| (!s.trim().is_empty()).then(|| s.clone());
        crate::xdm::Author {
            national_id: self
                .national_id
                .clone()
                .or_else(|| holder.and_then(|h| h.national_id.clone())),
            family_name: non_empty(&self.family_name)
                .or_else(|| holder.and_then(|h| h.surname.clone()))
                .unwrap_or_default(),
            given_name: non_empty(&self.given_name)
                .or_else(|| holder.and_then(|h| h.given_name.clone()))
                .unwrap_or_default(),
            specialty: self
                .specialty
                .clone()
                .or_else(|| holder.and_then(|h| h.profession.clone())),
            institution: self.institution.clone(),
        }
    }
}

/// Default codes. Each is `code`, and optionally `display` and `system`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeDefaults {
    #[serde(default = "default_type")]
    pub type_code: CodeSetting,
    #[serde(default = "default_class")]
    pub class_code: CodeSetting,
    #[serde(default = "default_facility")]
    pub facility_type: CodeSetting,
    #[serde(default = "default_practice")]
    pub practice_setting: CodeSetting,
    /// N (normal), R (restricted) or V (very restricted).
    #[serde(default = "default_confidentiality")]
    pub confidentiality: String,
}

impl Default for CodeDefaults {
    fn default() -> Self {
        CodeDefaults {
            type_code: default_type(),
            class_code: default_class(),
            facility_type: default_facility(),
            practice_setting: default_practice(),
            confidentiality: default_confidentiality(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSetting {
    pub code: String,
    pub system: String,
    #[serde(default)]
    pub display: String,
}

impl CodeSetting {
    fn new(code: &str, system: &str, display: &str) -> CodeSetting {
        CodeSetting {
            code: code.into(),
            system: system.into(),
            display: display.into(),
        }
    }

    pub fn to_code(&self) -> Code {
        Code::new(&self.code, &self.system, &self.display)
    }
}

fn default_type() -> CodeSetting {
    CodeSetting::new("11488-4", LOINC_OID, "Compte rendu de consultation")
}
fn default_class() -> CodeSetting {
    CodeSetting::new("10", CLASS_CODE_OID, "Compte rendu")
}
fn default_facility() -> CodeSetting {
    CodeSetting::new("SA07", FACILITY_TYPE_OID, "Cabinet individuel")
}
fn default_practice() -> CodeSetting {
    CodeSetting::new("AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire")
}
fn default_confidentiality() -> String {
    "N".into()
}
fn default_scan_interval() -> u64 {
    2
}
fn default_settle_time() -> u64 {
    3
}
fn default_sidecar_wait() -> u64 {
    30
}
fn default_incomplete_timeout() -> u64 {
    600
}
fn default_max_document_size() -> u64 {
    20 * 1024 * 1024
}

/// The PDF format code (IHE "PDF document", TRE_A11).
pub fn pdf_format_code() -> Code {
    Code::new(
        "urn:ihe:iti:xds-sd:pdf:2008",
        IHE_FORMAT_OID,
        "Document PDF",
    )
}

/// Display names of the HL7 confidentiality codes.
pub fn confidentiality_code(letter: &str) -> Code {
    let display = match letter {
        "R" => "Restreint",
        "V" => "Très restreint",
        _ => "Normal",
    };
    Code::new(letter, CONFIDENTIALITY_OID, display)
}

impl OutboxConfig {
    /// Checks what serde cannot; returns the key and the reason.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.folders.is_empty() {
            return Err(("outbox.folders", "at least one folder is needed".into()));
        }
        for (key, value) in [
            ("outbox.scan_interval", self.scan_interval),
            ("outbox.settle_time", self.settle_time),
            ("outbox.max_document_size", self.max_document_size),
        ] {
            if value == 0 {
                return Err((key, "must be greater than 0".into()));
            }
        }
        if !matches!(self.codes.confidentiality.as_str(), "N" | "R" | "V") {
            return Err(("outbox.codes.confidentiality", "must be N, R or V".into()));
        }
        if let Some(id) = &self.author.national_id
            && (id.len() < 9 || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err((
                "outbox.author.national_id",
                "must be the national id: 8 + RPPS (12 digits) or 0 + ADELI".into(),
            ));
        }
        Ok(())
    }
}
