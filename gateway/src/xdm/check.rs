//! Verifying an `IHE_XDM.ZIP` before it leaves (or when support looks at
//! one that came in): layout, each document's hash and size against its
//! metadata, the metadata the profile requires, and the French rules (INS
//! authority and check key). Findings are in French, for the person who
//! has to fix the sending software.

use std::collections::HashSet;

use quick_xml::NsReader;
use quick_xml::events::Event;

use super::ins::{check_authority, check_matricule};
use super::metadata::scheme;
use super::read::XdmArchive;
use super::{INS_AUTHORITIES, METADATA_NAME, RIM_NS, read_xdm, sha1_hex};
use crate::inbound::export::ExportLimits;

/// INS OIDs found in public code that are wrong (see the XDM notes).
const WRONG_INS_OIDS: [&str; 3] = [
    "1.2.250.1.213.1.4.5",
    "1.2.250.1.213.1.4.2",
    "1.2.250.1.213.1.1.1",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

/// What the check found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    pub documents: usize,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// True when nothing would stop a receiver from importing the package.
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(|f| f.level == Level::Error)
    }

    fn error(&mut self, text: impl Into<String>) {
        self.findings.push(Finding {
            level: Level::Error,
            text: text.into(),
        });
    }

    fn warning(&mut self, text: impl Into<String>) {
        self.findings.push(Finding {
            level: Level::Warning,
            text: text.into(),
        });
    }
}

/// Checks the archive in `zip_bytes`.
pub fn check_package(zip_bytes: &[u8]) -> CheckReport {
    let mut report = CheckReport::default();
    // A package being checked is the user's own file: generous limits,
    // still bounded so a bomb cannot exhaust the box.
    let limits = ExportLimits {
        max_part_bytes: 512 * 1024 * 1024,
        max_xdm_total_bytes: 1024 * 1024 * 1024,
        ..ExportLimits::default()
    };
    let archive = match read_xdm(zip_bytes, &limits) {
        Ok(archive) => archive,
        Err(e) => {
            report.error(format!("l'archive ne peut pas être lue : {e}"));
            return report;
        }
    };
    for problem in &archive.problems {
        report.error(format!("archive : {problem}"));
    }
    check_layout(&archive, &mut report);
    report.documents = archive.documents.len();
    if archive.documents.is_empty() {
        report.error("METADATA.XML ne décrit aucun document (aucun ExtrinsicObject)");
    }
    for document in &archive.documents {
        check_document(&archive, document, &mut report);
    }
    for entry in archive
        .entries
        .iter()
        .filter(|e| e.base_name().eq_ignore_ascii_case(METADATA_NAME))
    {
        check_submission_set(&entry.bytes, &entry.zip_name, &mut report);
    }
    report
}

fn check_layout(archive: &XdmArchive, report: &mut CheckReport) {
    let names: Vec<&str> = archive
        .entries
        .iter()
        .map(|e| e.zip_name.as_str())
        .collect();
    for required in ["README.TXT", "INDEX.HTM"] {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(required)) {
            report.error(format!("{required} manque à la racine de l'archive"));
        }
    }
    let metadata_files: Vec<&&str> = names
        .iter()
        .filter(|n| {
            n.to_ascii_uppercase()
                .ends_with(&format!("/{METADATA_NAME}"))
        })
        .collect();
    if metadata_files.is_empty() {
        report.error("aucun fichier METADATA.XML (attendu dans IHE_XDM/SUBSET01/)");
    }
    for name in metadata_files {
        let parts: Vec<&str> = name.split('/').collect();
        let well_placed = parts.len() == 3 && parts[0].eq_ignore_ascii_case("IHE_XDM");
        if !well_placed {
            report.error(format!(
                "{name} n'est pas rangé sous IHE_XDM/<sous-ensemble>/"
            ));
        }
    }
    for entry in &archive.entries {
        if entry.escapes_archive() {
            report.error(format!(
                "le nom « {} » sort de l'archive (chemin absolu ou « .. »)",
                entry.zip_name
            ));
        }
    }
}

fn check_document(archive: &XdmArchive, document: &super::XdmDocument, report: &mut CheckReport) {
    let metadata = &document.metadata;
    let label = metadata
        .uri
        .clone()
        .unwrap_or_else(|| "(document sans URI)".to_string());
    let required = [
        ("URI", metadata.uri.is_some()),
        ("mimeType", metadata.mime_type.is_some()),
        ("hash", metadata.hash.is_some()),
        ("size", metadata.size.is_some()),
        ("creationTime", metadata.creation_time.is_some()),
        ("uniqueId", metadata.unique_id.is_some()),
        ("classCode", metadata.class_code.is_some()),
        ("typeCode", metadata.type_code.is_some()),
        ("formatCode", metadata.format_code.is_some()),
        ("titre (Name)", metadata.title.is_some()),
    ];
    for (what, present) in required {
        if !present {
            report.error(format!("{label} : la métadonnée {what} manque"));
        }
    }
    if let Some(time) = &metadata.creation_time
        && !is_hl7_time(time)
    {
        report.error(format!(
            "{label} : creationTime « {time} » n'est pas une date HL7 (AAAAMMJJ[hhmmss])"
        ));
    }
    match document.entry.and_then(|i| archive.entries.get(i)) {
        None => {
            if metadata.uri.is_some() {
                report.error(format!("{label} : le fichier n'est pas dans l'archive"));
            }
        }
        Some(entry) => {
            if let Some(hash) = &metadata.hash {
                let actual = sha1_hex(&entry.bytes);
                if !hash.eq_ignore_ascii_case(&actual) {
                    report.error(format!(
                        "{label} : l'empreinte (hash) ne correspond pas au fichier (métadonnée {hash}, fichier {actual})"
                    ));
                }
            }
            if let Some(size) = &metadata.size
                && size.trim() != entry.bytes.len().to_string()
            {
                report.error(format!(
                    "{label} : la taille (size) ne correspond pas au fichier (métadonnée {size}, fichier {})",
                    entry.bytes.len()
                ));
            }
            if metadata.mime_type.as_deref() == Some("application/pdf")
                && !entry.bytes.starts_with(b"%PDF-")
            {
                report.error(format!("{label} : déclaré PDF mais n'en est pas un"));
            }
        }
    }
    match (&metadata.patient_id, &metadata.patient_id_authority) {
        (None, _) => report.warning(format!(
            "{label} : pas d'identifiant patient (l'INS devrait y figurer)"
        )),
        (Some(_), None) => report.error(format!(
            "{label} : l'identifiant patient n'a pas d'autorité d'affectation (OID)"
        )),
        (Some(id), Some(oid)) => {
            if WRONG_INS_OIDS.contains(&oid.as_str()) {
                report.error(format!(
                    "{label} : l'OID {oid} n'est pas celui de l'INS (utilisez 1.2.250.1.213.1.4.8)"
                ));
            } else if INS_AUTHORITIES.contains(&oid.as_str()) {
                if let Err(e) = check_authority(oid).and_then(|_| check_matricule(id)) {
                    report.error(format!("{label} : {e}"));
                }
            } else {
                report.warning(format!(
                    "{label} : l'identifiant patient n'est pas un INS (OID {oid})"
                ));
            }
        }
    }
}

fn is_hl7_time(text: &str) -> bool {
    let digits = text.split(['+', '-']).next().unwrap_or("");
    matches!(digits.len(), 4 | 6 | 8 | 10 | 12 | 14) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The submission set and its link to the documents, which the document
/// reader does not look at.
fn check_submission_set(xml: &[u8], name: &str, report: &mut CheckReport) {
    let mut reader = NsReader::from_reader(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut packages: HashSet<String> = HashSet::new();
    let mut documents: HashSet<String> = HashSet::new();
    let mut submission_sets: HashSet<String> = HashSet::new();
    let mut members: Vec<(String, String)> = Vec::new();
    let mut package_slots: HashSet<String> = HashSet::new();
    let mut package_identifiers: HashSet<String> = HashSet::new();
    let mut in_package = false;
    loop {
        let (ns, event) = match reader.read_resolved_event() {
            Ok(event) => event,
            Err(e) => {
                report.error(format!("{name} : XML mal formé ({e})"));
                return;
            }
        };
        let in_rim = matches!(ns, quick_xml::name::ResolveResult::Bound(ref n) if n.as_ref() == RIM_NS.as_bytes());
        match event {
            Event::Start(start) if in_rim => {
                let attr = |key: &str| {
                    start
                        .try_get_attribute(key)
                        .ok()
                        .flatten()
                        .and_then(|a| a.unescape_value().ok())
                        .map(|v| v.into_owned())
                        .unwrap_or_default()
                };
                match start.local_name().as_ref() {
                    b"RegistryPackage" => {
                        in_package = true;
                        packages.insert(attr("id"));
                    }
                    b"ExtrinsicObject" => {
                        documents.insert(attr("id"));
                    }
                    b"Slot" if in_package => {
                        package_slots.insert(attr("name"));
                    }
                    b"ExternalIdentifier" if in_package => {
                        package_identifiers.insert(attr("identificationScheme"));
                    }
                    b"Classification"
                        if attr("classificationNode") == scheme::SUBMISSION_SET_NODE =>
                    {
                        submission_sets.insert(attr("classifiedObject"));
                    }
                    b"Association" if attr("associationType") == scheme::HAS_MEMBER => {
                        members.push((attr("sourceObject"), attr("targetObject")));
                    }
                    _ => {}
                }
            }
            Event::End(end) if in_rim && end.local_name().as_ref() == b"RegistryPackage" => {
                in_package = false;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let Some(set) = packages.iter().find(|p| submission_sets.contains(*p)) else {
        report.error(format!(
            "{name} : aucun lot de soumission (RegistryPackage classé SubmissionSet)"
        ));
        return;
    };
    if !package_slots.contains("submissionTime") {
        report.error(format!(
            "{name} : le lot de soumission n'a pas de submissionTime"
        ));
    }
    for (identifier, label) in [
        (scheme::SS_UNIQUE_ID, "uniqueId"),
        (scheme::SS_SOURCE_ID, "sourceId"),
    ] {
        if !package_identifiers.contains(identifier) {
            report.error(format!("{name} : le lot de soumission n'a pas de {label}"));
        }
    }
    for document in &documents {
        if !members.iter().any(|(s, t)| s == set && t == document) {
            report.error(format!(
                "{name} : le document {document} n'est pas relié au lot de soumission (association HasMember)"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdm::metadata::tests::{sample_author, sample_description, sample_patient};
    use crate::xdm::package::{Origin, build_package};
    use crate::xdm::read::tests::zip_of;
    use crate::xdm::{PatientId, Submission, SubmissionIds};

    fn package_with(patient: &crate::xdm::Patient) -> Vec<u8> {
        let description = sample_description();
        let author = sample_author();
        let ids = SubmissionIds::generate();
        let submission = Submission {
            document: b"%PDF-1.4 hello\n%%EOF\n",
            description: &description,
            patient: Some(patient),
            author: &author,
            recipients: &[],
            source_id: "2.25.9",
            submission_time: time::OffsetDateTime::now_utc(),
            ids: &ids,
        };
        build_package(
            &submission,
            &Origin {
                mailbox: "a@b.mssante.fr",
                product: "Facteur",
            },
        )
        .unwrap()
    }

    fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
        let archive = read_xdm(zip, &ExportLimits::default()).unwrap();
        archive
            .entries
            .into_iter()
            .map(|e| (e.zip_name, e.bytes))
            .collect()
    }

    fn rezip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
        let borrowed: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        zip_of(&borrowed)
    }

    #[test]
    fn a_built_package_passes() {
        let report = check_package(&package_with(&sample_patient()));
        assert!(report.is_valid(), "{:?}", report.findings);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(report.documents, 1);
    }

    #[test]
    fn a_changed_document_fails_on_hash_and_size() {
        let mut files = entries(&package_with(&sample_patient()));
        files[3].1.extend_from_slice(b"tampered");
        let report = check_package(&rezip(&files));
        let texts: Vec<&str> = report.findings.iter().map(|f| f.text.as_str()).collect();
        assert!(texts.iter().any(|t| t.contains("empreinte")), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("taille")), "{texts:?}");
        assert!(!report.is_valid());
    }

    #[test]
    fn missing_readme_and_misplaced_metadata_are_reported() {
        let files = entries(&package_with(&sample_patient()));
        let moved: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .filter(|(n, _)| n != "README.TXT")
            .map(|(n, b)| (n.replace("IHE_XDM/SUBSET01/", "DATA/"), b))
            .collect();
        let report = check_package(&rezip(&moved));
        let texts: Vec<&str> = report.findings.iter().map(|f| f.text.as_str()).collect();
        assert!(
            texts.iter().any(|t| t.contains("README.TXT manque")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.contains("n'est pas rangé")),
            "{texts:?}"
        );
    }

    #[test]
    fn a_bad_ins_key_and_a_wrong_oid_are_errors() {
        let mut patient = sample_patient();
        patient.id = Some(PatientId {
            value: "279035121518988".into(),
            authority: "1.2.250.1.213.1.4.8".into(),
        });
        let report = check_package(&package_with(&patient));
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.text.contains("clé de l'INS")),
            "{:?}",
            report.findings
        );
        patient.id = Some(PatientId {
            value: "279035121518989".into(),
            authority: "1.2.250.1.213.1.4.5".into(),
        });
        let report = check_package(&package_with(&patient));
        assert!(!report.is_valid());
        patient.id = None;
        let report = check_package(&package_with(&patient));
        assert!(report.is_valid());
        assert!(report.findings.iter().any(|f| f.level == Level::Warning));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let report = check_package(b"not a zip");
        assert!(!report.is_valid());
        assert!(report.findings[0].text.contains("ne peut pas être lue"));
    }

    #[test]
    fn a_document_outside_the_submission_set_is_reported() {
        let files = entries(&package_with(&sample_patient()));
        let unlinked: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .map(|(n, b)| {
                if n.ends_with("METADATA.XML") {
                    let xml = String::from_utf8(b).unwrap();
                    let xml = xml.replace(scheme::HAS_MEMBER, "urn:other");
                    (n, xml.into_bytes())
                } else {
                    (n, b)
                }
            })
            .collect();
        let report = check_package(&rezip(&unlinked));
        assert!(
            report.findings.iter().any(|f| f.text.contains("HasMember")),
            "{:?}",
            report.findings
        );
    }
}
