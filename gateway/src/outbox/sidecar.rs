//! The sidecar file (`<document>.json`): who a document goes to and what it
//! is about, written by the practice software beside the PDF. Its schema is
//! in `docs/outbox.md`.
//!
//! Everything is checked before anything is sent: unknown keys (a typo
//! would silently drop a patient's identifier), a wrong INS key, dates
//! that are not dates, contradictions. Each error is one French sentence
//! for the `.error.txt` the practice will read.

use serde::Deserialize;

use crate::address::Address;
use crate::xdm::ins::{check_authority, check_matricule};
use crate::xdm::{INS_NIR_OID, Patient, PatientId, Sex};

/// Largest sidecar read; a real one is a few hundred bytes.
pub const MAX_SIDECAR_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SidecarError(pub String);

fn error(text: impl Into<String>) -> SidecarError {
    SidecarError(text.into())
}

/// One value or a list of them (`"to": "a@b"` or `"to": ["a@b"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSidecar {
    to: Option<OneOrMany>,
    #[serde(default)]
    paper: Vec<RawPostal>,
    subject: Option<String>,
    body: Option<String>,
    #[serde(default)]
    receipt: bool,
    patient: Option<RawPatient>,
    document: Option<RawDocument>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPatient {
    ins: Option<String>,
    ins_oid: Option<String>,
    /// A local identifier (IPP) when there is no INS, with its OID.
    ipp: Option<String>,
    ipp_oid: Option<String>,
    family_name: Option<String>,
    given_names: Option<OneOrMany>,
    birth_date: Option<String>,
    sex: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    title: Option<String>,
    type_code: Option<String>,
    type_system: Option<String>,
    type_display: Option<String>,
    class_code: Option<String>,
    class_system: Option<String>,
    class_display: Option<String>,
    date: Option<String>,
    confidentiality: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostal {
    name: String,
    #[serde(default)]
    lines: Vec<String>,
    postcode: String,
    town: String,
    country: Option<String>,
}

/// A postal recipient, for the paper fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalRecipient {
    pub name: String,
    pub lines: Vec<String>,
    pub postcode: String,
    pub town: String,
    pub country: Option<String>,
}

/// What the document says about itself; `None` fields take the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFields {
    pub title: Option<String>,
    pub type_code: Option<(String, String, Option<String>)>,
    pub class_code: Option<(String, String, Option<String>)>,
    pub date: Option<time::OffsetDateTime>,
    /// HL7 confidentiality: N, R or V.
    pub confidentiality: Option<String>,
}

/// A checked sidecar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sidecar {
    /// MSSanté addresses, lowercase, without duplicates.
    pub to: Vec<String>,
    pub paper: Vec<PostalRecipient>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub receipt: bool,
    pub patient: Option<Patient>,
    pub document: DocumentFields,
}

/// Parses and checks a sidecar.
pub fn parse_sidecar(bytes: &[u8]) -> Result<Sidecar, SidecarError> {
    if bytes.len() > MAX_SIDECAR_BYTES {
        return Err(error(format!(
            "le fichier JSON fait {} octets : plus que les {MAX_SIDECAR_BYTES} permis",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes))
        .map_err(|_| error("le fichier JSON n'est pas en UTF-8"))?;
    let raw: RawSidecar = serde_json::from_str(text).map_err(|e| {
        error(format!(
            "le fichier JSON est illisible (ligne {}, colonne {}) : {}",
            e.line(),
            e.column(),
            french_json_error(&e)
        ))
    })?;

    let mut to = Vec::new();
    for address in raw.to.map(OneOrMany::into_vec).unwrap_or_default() {
        let parsed = Address::parse(address.trim()).ok_or_else(|| {
            error(format!(
                "« {} » n'est pas une adresse de messagerie",
                clean(&address)
            ))
        })?;
        let normalised = format!("{}@{}", parsed.local(), parsed.domain()).to_lowercase();
        if !to.contains(&normalised) {
            to.push(normalised);
        }
    }
    let paper = raw
        .paper
        .into_iter()
        .map(postal)
        .collect::<Result<Vec<_>, _>>()?;
    let patient = raw.patient.map(patient).transpose()?;
    let document = raw.document.map(document).transpose()?.unwrap_or_default();
    let subject = raw
        .subject
        .map(|s| single_line(&s))
        .filter(|s| !s.is_empty());
    if subject.as_ref().is_some_and(|s| s.chars().count() > 250) {
        return Err(error("l'objet (subject) dépasse 250 caractères"));
    }
    Ok(Sidecar {
        to,
        paper,
        subject,
        body: raw.body.filter(|b| !b.trim().is_empty()),
        receipt: raw.receipt,
        patient,
        document,
    })
}

fn patient(raw: RawPatient) -> Result<Patient, SidecarError> {
    let family_name = raw
        .family_name
        .map(|n| single_line(&n))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| error("patient : le nom de famille (family_name) manque"))?;
    let given_names: Vec<String> = raw
        .given_names
        .map(OneOrMany::into_vec)
        .unwrap_or_default()
        .iter()
        .map(|n| single_line(n))
        .filter(|n| !n.is_empty())
        .collect();
    let id = match (raw.ins, raw.ipp) {
        (Some(ins), _) => {
            let authority = raw.ins_oid.unwrap_or_else(|| INS_NIR_OID.to_string());
            check_authority(authority.trim()).map_err(|e| error(format!("patient : {e}")))?;
            let value = check_matricule(&ins).map_err(|e| error(format!("patient : {e}")))?;
            Some(PatientId {
                value,
                authority: authority.trim().to_string(),
            })
        }
        (None, Some(ipp)) => {
            if raw.ins_oid.is_some() {
                return Err(error("patient : ins_oid est donné sans ins"));
            }
            let authority = raw
                .ipp_oid
                .ok_or_else(|| error("patient : ipp est donné sans ipp_oid (l'OID de l'établissement qui l'attribue)"))?;
            if !is_oid(authority.trim()) {
                return Err(error(format!(
                    "patient : ipp_oid « {} » n'est pas un OID",
                    clean(&authority)
                )));
            }
            let value = single_line(&ipp);
            if value.is_empty() || value.contains(['^', '&', '|', '~', '\\']) {
                return Err(error(
                    "patient : ipp est vide ou contient un caractère réservé (^ & | ~ \\)",
                ));
            }
            Some(PatientId {
                value,
                authority: authority.trim().to_string(),
            })
        }
        (None, None) => {
            if raw.ins_oid.is_some() || raw.ipp_oid.is_some() {
                return Err(error(
                    "patient : un OID est donné sans l'identifiant (ins ou ipp)",
                ));
            }
            None
        }
    };
    let birth_date = raw
        .birth_date
        .map(|d| {
            let date = time::Date::parse(
                d.trim(),
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| {
                error(format!(
                    "patient : la date de naissance « {} » n'est pas au format AAAA-MM-JJ",
                    clean(&d)
                ))
            })?;
            if date > time::OffsetDateTime::now_utc().date() {
                return Err(error("patient : la date de naissance est dans le futur"));
            }
            Ok(date)
        })
        .transpose()?;
    let sex = raw
        .sex
        .map(|s| match s.trim() {
            "F" | "f" => Ok(Sex::Female),
            "M" | "m" => Ok(Sex::Male),
            "U" | "u" => Ok(Sex::Unknown),
            other => Err(error(format!(
                "patient : sexe « {} » inconnu (F, M ou U)",
                clean(other)
            ))),
        })
        .transpose()?;
    Ok(Patient {
        id,
        family_name,
        given_names,
        birth_date,
        sex,
    })
}

fn document(raw: RawDocument) -> Result<DocumentFields, SidecarError> {
    let type_code = coded("type", raw.type_code, raw.type_system, raw.type_display)?;
    let class_code = coded("class", raw.class_code, raw.class_system, raw.class_display)?;
    let date = raw
        .date
        .map(|d| {
            time::OffsetDateTime::parse(d.trim(), &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    error(format!(
                        "document : la date « {} » n'est pas au format AAAA-MM-JJThh:mm:ssZ",
                        clean(&d)
                    ))
                })
        })
        .transpose()?;
    let confidentiality = raw
        .confidentiality
        .map(|c| match c.trim() {
            "N" | "R" | "V" => Ok(c.trim().to_string()),
            other => Err(error(format!(
                "document : confidentialité « {} » inconnue (N, R ou V)",
                clean(other)
            ))),
        })
        .transpose()?;
    let title = raw.title.map(|t| single_line(&t)).filter(|t| !t.is_empty());
    if title.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(error("document : le titre dépasse 200 caractères"));
    }
    Ok(DocumentFields {
        title,
        type_code,
        class_code,
        date,
        confidentiality,
    })
}

/// A code with its system; a system or display without a code is a
/// contradiction, a code without a system gets the default system.
#[allow(clippy::type_complexity)]
fn coded(
    what: &str,
    code: Option<String>,
    system: Option<String>,
    display: Option<String>,
) -> Result<Option<(String, String, Option<String>)>, SidecarError> {
    match code.map(|c| single_line(&c)).filter(|c| !c.is_empty()) {
        None if system.is_some() || display.is_some() => Err(error(format!(
            "document : {what}_system ou {what}_display est donné sans {what}_code"
        ))),
        None => Ok(None),
        Some(code) => {
            let system = system.map(|s| s.trim().to_string()).unwrap_or_default();
            if !system.is_empty() && !is_oid(&system) {
                return Err(error(format!(
                    "document : {what}_system « {} » n'est pas un OID",
                    clean(&system)
                )));
            }
            Ok(Some((code, system, display.map(|d| single_line(&d)))))
        }
    }
}

fn postal(raw: RawPostal) -> Result<PostalRecipient, SidecarError> {
    let name = single_line(&raw.name);
    let postcode = single_line(&raw.postcode);
    let town = single_line(&raw.town);
    if name.is_empty() || town.is_empty() || postcode.is_empty() {
        return Err(error(
            "paper : chaque destinataire papier doit avoir name, postcode et town",
        ));
    }
    let lines: Vec<String> = raw
        .lines
        .iter()
        .map(|l| single_line(l))
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() > 4 {
        return Err(error(
            "paper : une adresse postale a au plus 4 lignes en plus du nom et de la ville",
        ));
    }
    Ok(PostalRecipient {
        name,
        lines,
        postcode,
        town,
        country: raw
            .country
            .map(|c| single_line(&c))
            .filter(|c| !c.is_empty()),
    })
}

fn is_oid(text: &str) -> bool {
    !text.is_empty()
        && text
            .split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()))
}

/// One line of text: controls and bidirectional overrides removed (they
/// could reorder what the reader sees), runs of spaces collapsed.
pub fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| !is_bidi_control(*c))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Directional marks, embeddings, overrides and isolates.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A value quoted back in an error message, bounded and on one line.
fn clean(text: &str) -> String {
    let line = single_line(text);
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(60).collect::<String>())
    } else {
        line
    }
}

fn french_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // serde_json's messages are English and technical; the key names in
    // them are what the integrator needs.
    let text = text.split(" at line ").next().unwrap_or(&text).to_string();
    if let Some(rest) = text.strip_prefix("unknown field ") {
        let field = rest.split(',').next().unwrap_or(rest);
        return format!("clé inconnue {field} (voir la liste des clés dans la documentation)");
    }
    if let Some(rest) = text.strip_prefix("missing field ") {
        return format!("clé obligatoire manquante {rest}");
    }
    if text.starts_with("invalid type") {
        return format!("type de valeur inattendu ({text})");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"to": ["Dr.Martin@medecin.example.mssante.fr"], "subject": "Compte rendu", "body": "Bonjour", "receipt": true,
        "patient": {"ins": "279035121518989", "ins_oid": "1.2.250.1.213.1.4.10", "family_name": "Test", "given_names": ["Éloïse", "Marie"], "birth_date": "1979-03-25", "sex": "F"},
        "document": {"title": "CR échographie", "type_code": "11490-0", "type_system": "2.16.840.1.113883.6.1", "class_code": "10", "date": "2026-11-20T09:30:00Z"}}"#;

    #[test]
    fn the_documented_keys_work() {
        let sidecar = parse_sidecar(FULL.as_bytes()).unwrap();
        assert_eq!(sidecar.to, ["dr.martin@medecin.example.mssante.fr"]);
        assert!(sidecar.receipt);
        let patient = sidecar.patient.unwrap();
        assert_eq!(patient.id.unwrap().value, "279035121518989");
        assert_eq!(patient.given_names, ["Éloïse", "Marie"]);
        assert_eq!(patient.sex, Some(Sex::Female));
        assert_eq!(sidecar.document.title.as_deref(), Some("CR échographie"));
        assert_eq!(
            sidecar.document.type_code,
            Some(("11490-0".into(), "2.16.840.1.113883.6.1".into(), None))
        );
        assert_eq!(
            sidecar.document.date,
            Some(time::macros::datetime!(2026-11-20 09:30:00 UTC))
        );
    }

    #[test]
    fn a_single_address_a_bom_and_duplicates_are_accepted() {
        let sidecar = parse_sidecar(b"\xef\xbb\xbf{\"to\": \"a@b.mssante.fr\"}").unwrap();
        assert_eq!(sidecar.to, ["a@b.mssante.fr"]);
        let sidecar = parse_sidecar(br#"{"to": ["a@b.mssante.fr", "A@B.mssante.fr"]}"#).unwrap();
        assert_eq!(sidecar.to.len(), 1);
    }

    fn error_of(json: &str) -> String {
        parse_sidecar(json.as_bytes()).unwrap_err().0
    }

    #[test]
    fn bad_input_gets_a_french_sentence() {
        assert!(error_of("{").contains("illisible"));
        assert!(error_of(r#"{"too": []}"#).contains("clé inconnue `too`"));
        assert!(error_of(r#"{"to": 3}"#).contains("illisible"));
        assert!(error_of(r#"{"to": ["pas une adresse"]}"#).contains("n'est pas une adresse"));
        assert!(
            error_of(r#"{"patient": {"ins": "279035121518988", "family_name": "X"}}"#)
                .contains("clé de l'INS est fausse")
        );
        assert!(error_of(r#"{"patient": {"ins": "279035121518989", "ins_oid": "1.2.250.1.213.1.4.5", "family_name": "X"}}"#)
            .contains("n'est pas celui d'un INS"));
        assert!(error_of(r#"{"patient": {"ins": "279035121518989"}}"#).contains("family_name"));
        assert!(
            error_of(r#"{"patient": {"family_name": "X", "birth_date": "25/03/1979"}}"#)
                .contains("AAAA-MM-JJ")
        );
        assert!(
            error_of(r#"{"patient": {"family_name": "X", "birth_date": "2999-01-01"}}"#)
                .contains("futur")
        );
        assert!(error_of(r#"{"patient": {"family_name": "X", "sex": "X"}}"#).contains("sexe"));
        assert!(
            error_of(r#"{"patient": {"family_name": "X", "ins_oid": "1.2.250.1.213.1.4.8"}}"#)
                .contains("sans l'identifiant")
        );
        assert!(error_of(r#"{"patient": {"family_name": "X", "ipp": "123"}}"#).contains("ipp_oid"));
        assert!(error_of(r#"{"document": {"type_system": "2.16"}}"#).contains("sans type_code"));
        assert!(
            error_of(r#"{"document": {"type_code": "1", "type_system": "LOINC"}}"#)
                .contains("n'est pas un OID")
        );
        assert!(error_of(r#"{"document": {"date": "hier"}}"#).contains("AAAA-MM-JJThh:mm:ssZ"));
        assert!(
            error_of(r#"{"paper": [{"name": "Dr X", "postcode": "", "town": "Niort"}]}"#)
                .contains("paper")
        );
        let huge = format!("{{\"body\": \"{}\"}}", "a".repeat(MAX_SIDECAR_BYTES));
        assert!(error_of(&huge).contains("plus que"));
        assert!(
            parse_sidecar(b"{\"to\": \"\xff\"}")
                .unwrap_err()
                .0
                .contains("UTF-8")
        );
    }

    #[test]
    fn odd_characters_are_cleaned_not_trusted() {
        let json = "{\"patient\": {\"family_name\": \"\\u202eNITRAM\\u202c  de\\tla\\nTour\"}, \"subject\": \"a\\r\\nBcc: x@y\"}";
        let sidecar = parse_sidecar(json.as_bytes()).unwrap();
        assert_eq!(sidecar.patient.unwrap().family_name, "NITRAM de la Tour");
        assert_eq!(sidecar.subject.as_deref(), Some("a Bcc: x@y"));
    }

    #[test]
    fn an_ipp_with_its_oid_is_a_patient_id() {
        let sidecar = parse_sidecar(
            br#"{"patient": {"family_name": "X", "ipp": "A123", "ipp_oid": "1.2.250.1.999.1"}}"#,
        )
        .unwrap();
        let id = sidecar.patient.unwrap().id.unwrap();
        assert!(!id.is_ins());
        assert_eq!(id.cx(), "A123^^^&1.2.250.1.999.1&ISO^NH");
    }
}
