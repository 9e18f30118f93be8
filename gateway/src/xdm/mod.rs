//! IHE XDM (ITI-32, "ZIP over e-mail") as MSSanté uses it: the
//! `IHE_XDM.ZIP` attachment that carries a document and its metadata.
//!
//! - [`read`]: reading an archive that came in (defensive, tolerant);
//! - [`metadata`]: writing `METADATA.XML` (an ebRIM 3.0
//!   `SubmitObjectsRequest`) for a document going out;
//! - [`package`]: the archive itself (`README.TXT`, `INDEX.HTM`,
//!   `IHE_XDM/SUBSET01/…`);
//! - [`check`]: verifying an archive against the profile and the French
//!   rules, in words a support technician can act on;
//! - [`ins`]: the patient's INS and its check key.

pub mod check;
pub mod ins;
pub mod metadata;
pub mod package;
pub mod read;

pub use read::{
    DocumentMetadata, INS_AUTHORITIES, METADATA_NAME, RIM_NS, XdmArchive, XdmDocument, XdmEntry,
    XdmError, parse_cx, parse_metadata, read_xdm,
};

/// INS-NIR, the default assigning authority of an INS.
pub const INS_NIR_OID: &str = "1.2.250.1.213.1.4.8";
/// Assigning authority of French health professionals' national ids
/// (8 + RPPS, 0 + ADELI).
pub const IDNPS_OID: &str = "1.2.250.1.71.4.2.1";
/// LOINC, the usual code system of `typeCode`.
pub const LOINC_OID: &str = "2.16.840.1.113883.6.1";
/// TRE_A03-ClasseDocument-CISIS, the code system of `classCode`.
pub const CLASS_CODE_OID: &str = "1.2.250.1.213.1.1.4.1";
/// IHE format codes (TRE_A11), where `urn:ihe:iti:xds-sd:pdf:2008` lives.
pub const IHE_FORMAT_OID: &str = "1.3.6.1.4.1.19376.1.2.3";
/// HL7 confidentiality codes (N, R, V).
pub const CONFIDENTIALITY_OID: &str = "2.16.840.1.113883.5.25";
/// TRE_R02-SecteurActivite, the code system of `healthcareFacilityTypeCode`.
pub const FACILITY_TYPE_OID: &str = "1.2.250.1.71.4.2.4";
/// The name the document gets inside the archive.
pub const DOCUMENT_NAME: &str = "DOC0001.PDF";

/// A coded value: code, code system (OID) and display name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Code {
    pub code: String,
    pub scheme: String,
    pub display: String,
}

impl Code {
    pub fn new(code: &str, scheme: &str, display: &str) -> Code {
        Code {
            code: code.to_string(),
            scheme: scheme.to_string(),
            display: display.to_string(),
        }
    }
}

/// Patient sex as XDS writes it (PID-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Sex {
    #[serde(rename = "F")]
    Female,
    #[serde(rename = "M")]
    Male,
    #[serde(rename = "U")]
    Unknown,
}

impl Sex {
    pub fn letter(self) -> &'static str {
        match self {
            Sex::Female => "F",
            Sex::Male => "M",
            Sex::Unknown => "U",
        }
    }
}

/// The patient a document is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// The INS (checked) or a local identifier, with its authority's OID.
    pub id: Option<PatientId>,
    pub family_name: String,
    pub given_names: Vec<String>,
    pub birth_date: Option<time::Date>,
    pub sex: Option<Sex>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientId {
    pub value: String,
    pub authority: String,
}

impl PatientId {
    /// HL7 CX form, as `patientId` and `sourcePatientId` carry it.
    pub fn cx(&self) -> String {
        format!("{}^^^&{}&ISO^NH", self.value, self.authority)
    }

    pub fn is_ins(&self) -> bool {
        INS_AUTHORITIES.contains(&self.authority.as_str())
    }
}

/// Who wrote the document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Author {
    /// National id (8 + RPPS or 0 + ADELI), from the card or settings.
    pub national_id: Option<String>,
    pub family_name: String,
    pub given_name: String,
    /// e.g. "Médecin généraliste"; free text.
    pub specialty: Option<String>,
    /// The practice's name.
    pub institution: Option<String>,
}

/// What is said about the document itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentDescription {
    pub title: String,
    pub type_code: Code,
    pub class_code: Code,
    pub format_code: Code,
    pub confidentiality: Code,
    pub facility_type: Code,
    pub practice_setting: Code,
    /// When the document was written (the sidecar's date, or the file's).
    pub creation_time: time::OffsetDateTime,
    pub mime_type: String,
}

/// Identifiers of one submission: fresh for every message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionIds {
    /// `urn:uuid:` entry ids (document entry, submission set, association).
    pub document_entry: String,
    pub submission_set: String,
    pub association: String,
    /// OIDs (`2.25.<UUID as integer>`): no registration needed.
    pub document_unique_id: String,
    pub submission_unique_id: String,
}

impl SubmissionIds {
    pub fn generate() -> SubmissionIds {
        SubmissionIds {
            document_entry: urn_uuid(),
            submission_set: urn_uuid(),
            association: urn_uuid(),
            document_unique_id: uuid_oid(rand::random()),
            submission_unique_id: uuid_oid(rand::random()),
        }
    }
}

/// Everything `METADATA.XML` says about one document sent to recipients.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    pub document: &'a [u8],
    pub description: &'a DocumentDescription,
    pub patient: Option<&'a Patient>,
    pub author: &'a Author,
    /// MSSanté addresses the document is for.
    pub recipients: &'a [String],
    /// OID of the sending system (the box).
    pub source_id: &'a str,
    pub submission_time: time::OffsetDateTime,
    pub ids: &'a SubmissionIds,
}

/// A random (version 4) UUID as `urn:uuid:…`.
pub fn urn_uuid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// An OID under the `2.25` arc (ITU-T X.667): any UUID, written as one
/// decimal integer, is a globally unique OID nobody has to register.
pub fn uuid_oid(value: u128) -> String {
    format!("2.25.{value}")
}

/// A stable OID for this box as a source of documents, derived from its
/// MSSanté mailbox (same box, same id; no registration needed).
pub fn source_oid(mailbox: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, mailbox.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest.as_ref()[..16]);
    uuid_oid(u128::from_be_bytes(first))
}

/// SHA-1 of the document, hex, as the XDS `hash` slot wants it.
pub fn sha1_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// HL7 DTM in UTC (`YYYYMMDDhhmmss`), the form of XDS time slots.
pub fn hl7_time(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// HL7 date (`YYYYMMDD`).
pub fn hl7_date(date: time::Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// French date (`JJ/MM/AAAA`), as MSSanté subject lines write birth dates.
pub fn french_date(date: time::Date) -> String {
    format!(
        "{:02}/{:02}/{:04}",
        date.day(),
        u8::from(date.month()),
        date.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_oids_decimal() {
        let id = urn_uuid();
        assert_eq!(id.len(), "urn:uuid:".len() + 36);
        assert_eq!(&id[23..24], "4");
        assert_ne!(urn_uuid(), id);
        assert_eq!(uuid_oid(255), "2.25.255");
        assert_eq!(source_oid("a@b.mssante.fr"), source_oid("a@b.mssante.fr"));
        assert_ne!(source_oid("a@b.mssante.fr"), source_oid("c@b.mssante.fr"));
    }

    #[test]
    fn hashes_and_times_have_the_xds_forms() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        let at = time::macros::datetime!(2026-11-23 16:05:09 +01:00);
        assert_eq!(hl7_time(at), "20261123150509");
        assert_eq!(hl7_date(time::macros::date!(1979 - 03 - 25)), "19790325");
        assert_eq!(
            french_date(time::macros::date!(1979 - 03 - 05)),
            "05/03/1979"
        );
        let id = PatientId {
            value: "279035121518989".into(),
            authority: INS_NIR_OID.into(),
        };
        assert_eq!(id.cx(), "279035121518989^^^&1.2.250.1.213.1.4.8&ISO^NH");
        assert!(id.is_ins());
    }
}
