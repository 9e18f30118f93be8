//! The MSSanté trust-space whitelist: which mail domains belong to MSSanté.
//!
//! Health data must never leave towards ordinary mail, so every recipient is
//! checked against this list at RCPT time. The file is the official
//! `listeblanchemssante.xml` (namespace `https://listeblanche.mssante.fr/schema`):
//! one `Domaine` element per domain, its name in `Nom`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use quick_xml::events::Event;

use crate::address::normalise_domain;

#[derive(Debug, thiserror::Error)]
pub enum WhitelistError {
    #[error("{path}: cannot read the MSSanté whitelist: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid MSSanté whitelist: {message}")]
    Format { path: PathBuf, message: String },
}

/// The set of MSSanté domains, normalised (lowercase, punycode).
#[derive(Debug, Clone, Default)]
pub struct Whitelist {
    domains: HashSet<String>,
    generated: Option<String>,
}

impl Whitelist {
    pub fn load(path: &Path) -> Result<Whitelist, WhitelistError> {
        let bytes = std::fs::read(path).map_err(|source| WhitelistError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Whitelist::parse(&bytes).map_err(|message| WhitelistError::Format {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses the XML text. The published file has been seen without its
    /// closing root tag, so an early end of file after complete `Domaine`
    /// elements is accepted; an empty list is not.
    pub fn parse(xml: &[u8]) -> Result<Whitelist, String> {
        let mut reader = quick_xml::Reader::from_reader(xml);
        let mut buf = Vec::new();
        let mut path: Vec<Vec<u8>> = Vec::new();
        let mut list = Whitelist::default();
        let mut rejected = Vec::new();
        loop {
            let event = reader
                .read_event_into(&mut buf)
                .map_err(|e| format!("at byte {}: {e}", reader.error_position()))?;
            match event {
                Event::Start(e) => path.push(e.local_name().as_ref().to_vec()),
                Event::End(_) => {
                    path.pop();
                }
                Event::Text(text) => {
                    let value = text
                        .unescape()
                        .map_err(|e| format!("bad text: {e}"))?
                        .trim()
                        .to_string();
                    match path.last().map(Vec::as_slice) {
                        Some(b"Nom") if path.len() >= 2 && path[path.len() - 2] == b"Domaine" => {
                            match normalise_domain(&value) {
                                Some(domain) => {
                                    list.domains.insert(domain);
                                }
                                None => rejected.push(value),
                            }
                        }
                        Some(b"DateDeGeneration") => list.generated = Some(value),
                        _ => {}
                    }
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        if list.domains.is_empty() {
            return Err(if rejected.is_empty() {
                "no <Domaine><Nom> entries found".to_string()
            } else {
                format!("no usable domain; rejected: {}", rejected.join(", "))
            });
        }
        Ok(list)
    }

    /// Whether mail for this (already normalised) domain may be sent.
    pub fn contains(&self, domain: &str) -> bool {
        self.domains.contains(domain)
    }

    pub fn len(&self) -> usize {
        self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// `DateDeGeneration` of the file, as written there.
    pub fn generated(&self) -> Option<&str> {
        self.generated.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">
    <DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration>
    <ListeDomaines>
        <Domaine>
            <Nom>nddtestasmae.mssante.fr</Nom>
            <Description>BREST LA SAUVEGARDE</Description>
            <DNCertificatOperateur>CN=medimail-asip.mipih.fr,OU=318310021300028,O=GIP MIPIH,C=FR</DNCertificatOperateur>
        </Domaine>
        <Domaine>
            <Nom>Hôpital.MSSante.fr</Nom>
            <Description>Nom de domaine</Description>
        </Domaine>
    </ListeDomaines>
</ListeBlancheMSSante>"#;

    #[test]
    fn reads_domains_and_generation_date() {
        let list = Whitelist::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.contains("nddtestasmae.mssante.fr"));
        assert!(list.contains("xn--hpital-ixa.mssante.fr"));
        assert!(!list.contains("mssante.fr"));
        assert!(!list.contains("gmail.com"));
        assert_eq!(list.generated(), Some("2025-03-13T14:54:10Z"));
    }

    #[test]
    fn description_is_not_a_domain() {
        let list = Whitelist::parse(SAMPLE.as_bytes()).unwrap();
        assert!(!list.contains("brest la sauvegarde"));
    }

    #[test]
    fn accepts_the_published_file_without_closing_root() {
        let truncated = SAMPLE.replace("</ListeDomaines>\n</ListeBlancheMSSante>", "");
        let list = Whitelist::parse(truncated.as_bytes()).unwrap();
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn refuses_empty_or_garbage() {
        assert!(Whitelist::parse(b"<ListeBlancheMSSante/>").is_err());
        assert!(Whitelist::parse(b"not xml at all").is_err());
        assert!(Whitelist::parse(b"<a><b></a>").is_err());
    }

    #[test]
    fn reads_the_shared_sample_when_present() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/samples/annuaire/listeblanchemssante-excerpt.xml");
        if path.exists() {
            let list = Whitelist::load(&path).unwrap();
            assert!(list.contains("adsea29.mssante.fr"));
        }
    }
}
