//! Writing `METADATA.XML`: one `lcm:SubmitObjectsRequest` (ebRIM 3.0) with
//! a submission set, one document entry and the association between them,
//! as IHE ITI-32 (XDM) and the CI-SIS "Echange de documents de santé" rules
//! ask.
//!
//! Element order follows `rim.xsd` (Slot*, Name, Description,
//! Classification*, ExternalIdentifier*), so the file validates against the
//! ebRIM 3.0 schemas; every text is escaped and stripped of the characters
//! XML 1.0 cannot carry, so no name or title can break the document.

use super::{Author, Code, Patient, Submission, hl7_date, hl7_time, sha1_hex};

pub const LCM_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0";

/// IHE XDS identifiers (ITI TF-3 4.2.5).
pub mod scheme {
    pub const DOCUMENT_ENTRY_TYPE: &str = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1";
    pub const SUBMISSION_SET_NODE: &str = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd";
    pub const DE_AUTHOR: &str = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d";
    pub const DE_CLASS_CODE: &str = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a";
    pub const DE_CONFIDENTIALITY: &str = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f";
    pub const DE_FORMAT_CODE: &str = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d";
    pub const DE_FACILITY_TYPE: &str = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1";
    pub const DE_PRACTICE_SETTING: &str = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead";
    pub const DE_TYPE_CODE: &str = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983";
    pub const DE_PATIENT_ID: &str = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427";
    pub const DE_UNIQUE_ID: &str = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab";
    pub const SS_AUTHOR: &str = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d";
    pub const SS_CONTENT_TYPE: &str = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500";
    pub const SS_UNIQUE_ID: &str = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8";
    pub const SS_SOURCE_ID: &str = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832";
    pub const SS_PATIENT_ID: &str = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446";
    pub const HAS_MEMBER: &str = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember";
    pub const APPROVED: &str = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved";
}

/// The document's name inside its subset, also its `URI` slot.
pub use super::DOCUMENT_NAME;

/// Writes the metadata of `submission`.
pub fn metadata_xml(submission: &Submission<'_>) -> String {
    let mut xml = Xml::default();
    let description = submission.description;
    let ids = submission.ids;
    let patient_cx = submission
        .patient
        .and_then(|p| p.id.as_ref())
        .map(|id| id.cx());

    xml.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.raw(&format!(
        "<lcm:SubmitObjectsRequest xmlns:lcm=\"{LCM_NS}\" xmlns:rim=\"{}\">\n",
        super::RIM_NS
    ));
    xml.raw("<rim:RegistryObjectList>\n");

    // The document entry.
    let entry = &ids.document_entry;
    xml.open(
        "rim:ExtrinsicObject",
        &[
            ("id", entry),
            ("mimeType", &description.mime_type),
            ("objectType", scheme::DOCUMENT_ENTRY_TYPE),
            ("status", scheme::APPROVED),
        ],
    );
    xml.slot("creationTime", &[hl7_time(description.creation_time)]);
    xml.slot("hash", &[sha1_hex(submission.document)]);
    xml.slot("languageCode", &["fr-FR".to_string()]);
    xml.slot("size", &[submission.document.len().to_string()]);
    if let Some(cx) = &patient_cx {
        xml.slot("sourcePatientId", std::slice::from_ref(cx));
    }
    if let Some(patient) = submission.patient {
        xml.slot("sourcePatientInfo", &source_patient_info(patient));
    }
    xml.slot("URI", &[super::DOCUMENT_NAME.to_string()]);
    xml.name(&description.title);
    author_classification(
        &mut xml,
        "author-de",
        scheme::DE_AUTHOR,
        entry,
        submission.author,
    );
    code_classification(
        &mut xml,
        "class",
        scheme::DE_CLASS_CODE,
        entry,
        &description.class_code,
    );
    code_classification(
        &mut xml,
        "confidentiality",
        scheme::DE_CONFIDENTIALITY,
        entry,
        &description.confidentiality,
    );
    code_classification(
        &mut xml,
        "format",
        scheme::DE_FORMAT_CODE,
        entry,
        &description.format_code,
    );
    code_classification(
        &mut xml,
        "facility",
        scheme::DE_FACILITY_TYPE,
        entry,
        &description.facility_type,
    );
    code_classification(
        &mut xml,
        "practice",
        scheme::DE_PRACTICE_SETTING,
        entry,
        &description.practice_setting,
    );
    code_classification(
        &mut xml,
        "type",
        scheme::DE_TYPE_CODE,
        entry,
        &description.type_code,
    );
    if let Some(cx) = &patient_cx {
        xml.external_identifier(
            "patient-de",
            entry,
            scheme::DE_PATIENT_ID,
            cx,
            "XDSDocumentEntry.patientId",
        );
    }
    xml.external_identifier(
        "unique-de",
        entry,
        scheme::DE_UNIQUE_ID,
        &ids.document_unique_id,
        "XDSDocumentEntry.uniqueId",
    );
    xml.close("rim:ExtrinsicObject");

    // The submission set.
    let set = &ids.submission_set;
    xml.open(
        "rim:RegistryPackage",
        &[("id", set), ("status", scheme::APPROVED)],
    );
    xml.slot("submissionTime", &[hl7_time(submission.submission_time)]);
    let recipients: Vec<String> = submission
        .recipients
        .iter()
        .map(|address| format!("||^^Internet^{address}"))
        .collect();
    if !recipients.is_empty() {
        xml.slot("intendedRecipient", &recipients);
    }
    xml.name(&description.title);
    author_classification(
        &mut xml,
        "author-ss",
        scheme::SS_AUTHOR,
        set,
        submission.author,
    );
    code_classification(
        &mut xml,
        "content-type",
        scheme::SS_CONTENT_TYPE,
        set,
        &description.type_code,
    );
    xml.external_identifier(
        "unique-ss",
        set,
        scheme::SS_UNIQUE_ID,
        &ids.submission_unique_id,
        "XDSSubmissionSet.uniqueId",
    );
    xml.external_identifier(
        "source-ss",
        set,
        scheme::SS_SOURCE_ID,
        submission.source_id,
        "XDSSubmissionSet.sourceId",
    );
    if let Some(cx) = &patient_cx {
        xml.external_identifier(
            "patient-ss",
            set,
            scheme::SS_PATIENT_ID,
            cx,
            "XDSSubmissionSet.patientId",
        );
    }
    xml.close("rim:RegistryPackage");
    xml.empty(
        "rim:Classification",
        &[
            ("id", "submission-set"),
            ("classifiedObject", set),
            ("classificationNode", scheme::SUBMISSION_SET_NODE),
        ],
    );

    xml.open(
        "rim:Association",
        &[
            ("id", &ids.association),
            ("associationType", scheme::HAS_MEMBER),
            ("sourceObject", set),
            ("targetObject", entry),
        ],
    );
    xml.slot("SubmissionSetStatus", &["Original".to_string()]);
    xml.close("rim:Association");

    xml.raw("</rim:RegistryObjectList>\n</lcm:SubmitObjectsRequest>\n");
    xml.0
}

/// PID-3, PID-5, PID-7, PID-8 of `sourcePatientInfo`.
fn source_patient_info(patient: &Patient) -> Vec<String> {
    let mut values = Vec::new();
    if let Some(id) = &patient.id {
        values.push(format!("PID-3|{}", id.cx()));
    }
    let given = patient
        .given_names
        .first()
        .map(String::as_str)
        .unwrap_or("");
    let others = patient.given_names.get(1..).unwrap_or_default().join(" ");
    values.push(format!(
        "PID-5|{}^{}^{}^^^^L",
        hl7_component(&patient.family_name.to_uppercase()),
        hl7_component(given),
        hl7_component(&others)
    ));
    if let Some(date) = patient.birth_date {
        values.push(format!("PID-7|{}", hl7_date(date)));
    }
    if let Some(sex) = patient.sex {
        values.push(format!("PID-8|{}", sex.letter()));
    }
    values
}

/// The author as XCN (`id^FAMILY^Given^^^^^^&OID&ISO^D^^^IDNPS`, the
/// CI-SIS form for a health professional's national id).
fn author_person(author: &Author) -> String {
    let family = hl7_component(&author.family_name.to_uppercase());
    let given = hl7_component(&author.given_name);
    match &author.national_id {
        Some(id) => format!(
            "{}^{family}^{given}^^^^^^&{}&ISO^D^^^IDNPS",
            hl7_component(id),
            super::IDNPS_OID
        ),
        None => format!("^{family}^{given}^^^^^^"),
    }
}

fn author_classification(xml: &mut Xml, id: &str, scheme: &str, object: &str, author: &Author) {
    xml.open(
        "rim:Classification",
        &[
            ("id", id),
            ("classificationScheme", scheme),
            ("classifiedObject", object),
            ("nodeRepresentation", ""),
        ],
    );
    xml.slot("authorPerson", &[author_person(author)]);
    if let Some(institution) = &author.institution {
        xml.slot("authorInstitution", &[hl7_component(institution)]);
    }
    if let Some(specialty) = &author.specialty {
        xml.slot("authorSpecialty", &[hl7_component(specialty)]);
    }
    xml.close("rim:Classification");
}

fn code_classification(xml: &mut Xml, id: &str, scheme: &str, object: &str, code: &Code) {
    xml.open(
        "rim:Classification",
        &[
            ("id", id),
            ("classificationScheme", scheme),
            ("classifiedObject", object),
            ("nodeRepresentation", &code.code),
        ],
    );
    xml.slot("codingScheme", std::slice::from_ref(&code.scheme));
    xml.name(&code.display);
    xml.close("rim:Classification");
}

/// Removes HL7 v2 delimiters from a component value: a `^`, `&`, `|` or
/// `~` in a name would otherwise shift every field after it.
fn hl7_component(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '^' | '&' | '|' | '~' | '\\' => ' ',
            c => c,
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// A minimal writer: indentation, escaping, XML 1.0 character filtering.
#[derive(Default)]
struct Xml(String);

impl Xml {
    fn raw(&mut self, text: &str) {
        self.0.push_str(text);
    }

    fn start(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.0.push('<');
        self.0.push_str(name);
        for (key, value) in attributes {
            self.0.push(' ');
            self.0.push_str(key);
            self.0.push_str("=\"");
            self.0.push_str(&escape(value));
            self.0.push('"');
        }
    }

    fn open(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.start(name, attributes);
        self.0.push_str(">\n");
    }

    fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.start(name, attributes);
        self.0.push_str("/>\n");
    }

    fn close(&mut self, name: &str) {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push_str(">\n");
    }

    fn slot(&mut self, name: &str, values: &[String]) {
        self.start("rim:Slot", &[("name", name)]);
        self.0.push_str("><rim:ValueList>");
        for value in values {
            self.0.push_str("<rim:Value>");
            self.0.push_str(&escape(value));
            self.0.push_str("</rim:Value>");
        }
        self.0.push_str("</rim:ValueList></rim:Slot>\n");
    }

    fn name(&mut self, value: &str) {
        self.0.push_str("<rim:Name>");
        self.empty(
            "rim:LocalizedString",
            &[
                ("xml:lang", "fr-FR"),
                ("charset", "UTF-8"),
                ("value", value),
            ],
        );
        self.0.push_str("</rim:Name>\n");
    }

    fn external_identifier(
        &mut self,
        id: &str,
        object: &str,
        scheme: &str,
        value: &str,
        label: &str,
    ) {
        self.open(
            "rim:ExternalIdentifier",
            &[
                ("id", id),
                ("registryObject", object),
                ("identificationScheme", scheme),
                ("value", value),
            ],
        );
        self.name(label);
        self.close("rim:ExternalIdentifier");
    }
}

/// Escapes for text and attribute values, dropping characters XML 1.0
/// forbids (controls other than tab and line ends, unpaired surrogates
/// cannot occur in a Rust string, U+FFFE/U+FFFF).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::xdm::*;

    pub(crate) fn sample_description() -> DocumentDescription {
        DocumentDescription {
            title: "Compte rendu d'échographie <abdominale> & \"pelvienne\"".into(),
            type_code: Code::new("11490-0", LOINC_OID, "Lettre de liaison"),
            class_code: Code::new("10", CLASS_CODE_OID, "Compte rendu"),
            format_code: Code::new("urn:ihe:iti:xds-sd:pdf:2008", IHE_FORMAT_OID, "PDF"),
            confidentiality: Code::new("N", CONFIDENTIALITY_OID, "Normal"),
            facility_type: Code::new("SA07", FACILITY_TYPE_OID, "Cabinet individuel"),
            practice_setting: Code::new("ORG", "1.2.250.1.213.1.1.4.9", "Non défini"),
            creation_time: time::macros::datetime!(2026-11-20 09:30:00 UTC),
            mime_type: "application/pdf".into(),
        }
    }

    pub(crate) fn sample_patient() -> Patient {
        Patient {
            id: Some(PatientId {
                value: "279035121518989".into(),
                authority: "1.2.250.1.213.1.4.10".into(),
            }),
            family_name: "Test^d'Ar|c".into(),
            given_names: vec!["Éloïse".into(), "Marie".into()],
            birth_date: Some(time::macros::date!(1979 - 03 - 25)),
            sex: Some(Sex::Female),
        }
    }

    pub(crate) fn sample_author() -> Author {
        Author {
            national_id: Some("810000000001".into()),
            family_name: "Dupont".into(),
            given_name: "Jeanne".into(),
            specialty: Some("Médecin généraliste".into()),
            institution: Some("Cabinet du Dr Dupont".into()),
        }
    }

    #[test]
    fn the_metadata_reads_back_with_what_was_written() {
        let description = sample_description();
        let patient = sample_patient();
        let author = sample_author();
        let ids = SubmissionIds::generate();
        let recipients = vec!["dr.martin@medecin.test.mssante.fr".to_string()];
        let document = b"%PDF-1.4 test\n%%EOF\n";
        let submission = Submission {
            document,
            description: &description,
            patient: Some(&patient),
            author: &author,
            recipients: &recipients,
            source_id: "2.25.1",
            submission_time: time::macros::datetime!(2026-11-23 10:00:00 UTC),
            ids: &ids,
        };
        let xml = metadata_xml(&submission);
        let documents = parse_metadata(xml.as_bytes()).unwrap();
        assert_eq!(documents.len(), 1);
        let read = &documents[0];
        assert_eq!(read.title.as_deref(), Some(description.title.as_str()));
        assert_eq!(read.patient_id.as_deref(), Some("279035121518989"));
        assert!(read.ins);
        assert_eq!(read.class_code.as_deref(), Some("10"));
        assert_eq!(read.type_code.as_deref(), Some("11490-0"));
        assert_eq!(read.uri.as_deref(), Some(DOCUMENT_NAME));
        assert_eq!(read.mime_type.as_deref(), Some("application/pdf"));
        assert_eq!(read.creation_time.as_deref(), Some("20261120093000"));
        assert_eq!(read.hash.as_deref(), Some(sha1_hex(document).as_str()));
        assert_eq!(
            read.size.as_deref(),
            Some(document.len().to_string().as_str())
        );
        // HL7 delimiters in names never shift fields.
        assert!(xml.contains("PID-5|TEST D&apos;AR C^Éloïse^Marie^^^^L"));
        assert!(
            xml.contains(
                "810000000001^DUPONT^Jeanne^^^^^^&amp;1.2.250.1.71.4.2.1&amp;ISO^D^^^IDNPS"
            )
        );
        assert!(xml.contains("||^^Internet^dr.martin@medecin.test.mssante.fr"));
    }

    #[test]
    fn control_characters_never_reach_the_xml() {
        assert_eq!(escape("a\u{0}b\u{1b}c\u{ffff}<"), "abc&lt;");
        assert_eq!(hl7_component(" a^b&c|d~e\\f "), "a b c d e f");
    }

    #[test]
    fn without_a_patient_id_no_patient_identifier_is_written() {
        let description = sample_description();
        let mut patient = sample_patient();
        patient.id = None;
        let author = Author::default();
        let ids = SubmissionIds::generate();
        let submission = Submission {
            document: b"%PDF-1.4",
            description: &description,
            patient: Some(&patient),
            author: &author,
            recipients: &[],
            source_id: "2.25.1",
            submission_time: time::OffsetDateTime::now_utc(),
            ids: &ids,
        };
        let xml = metadata_xml(&submission);
        assert!(!xml.contains(scheme::DE_PATIENT_ID));
        assert!(!xml.contains("sourcePatientId"));
        assert!(xml.contains("PID-5|"));
        assert!(!xml.contains("intendedRecipient"));
    }

    /// Validates against the ebRIM 3.0 schemas with xmllint when both are
    /// here (`../shared/schemas` beside the repository).
    #[test]
    fn the_metadata_validates_against_the_ebrim_schemas() {
        let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas");
        let xmllint = std::process::Command::new("xmllint")
            .arg("--version")
            .output();
        if !schemas.join("ebrim-3.0/lcm.xsd").exists() || xmllint.is_err() {
            eprintln!("skipped: xmllint or ../shared/schemas missing");
            return;
        }
        let description = sample_description();
        let patient = sample_patient();
        let author = sample_author();
        let ids = SubmissionIds::generate();
        let recipients = vec!["a@b.mssante.fr".to_string(), "c@d.mssante.fr".to_string()];
        let submission = Submission {
            document: b"%PDF-1.4",
            description: &description,
            patient: Some(&patient),
            author: &author,
            recipients: &recipients,
            source_id: "2.25.1",
            submission_time: time::OffsetDateTime::now_utc(),
            ids: &ids,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("METADATA.XML");
        std::fs::write(&path, metadata_xml(&submission)).unwrap();
        let out = std::process::Command::new("xmllint")
            .args(["--noout", "--nonet", "--schema"])
            .arg(schemas.join("ebrim-3.0/lcm.xsd"))
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
