//! One document and its routing → the message and its `IHE_XDM.ZIP`. The
//! folder watcher and `facteur xdm build` both come through here, so what
//! an integrator builds by hand is exactly what the box sends.

use super::compose::{Outgoing, attachment_name, compose, conventional_subject, default_body};
use super::settings::{CodeDefaults, confidentiality_code, pdf_format_code};
use super::sidecar::Sidecar;
use crate::xdm::package::{Origin, build_package};
use crate::xdm::{Author, Code, DocumentDescription, Submission, SubmissionIds, source_oid};

/// What goes into one document message.
#[derive(Debug, Clone)]
pub struct DocumentInputs<'a> {
    pub pdf: &'a [u8],
    /// The dropped file's name (for the attachment and a default title).
    pub file_name: &'a str,
    pub sidecar: &'a Sidecar,
    /// MSSanté recipients (already checked against the whitelist).
    pub recipients: &'a [String],
    pub author: &'a Author,
    pub codes: &'a CodeDefaults,
    pub mailbox: &'a str,
    pub nil: &'a str,
    /// Creation time when the sidecar gives none (the file's date).
    pub file_time: time::OffsetDateTime,
    pub message_id: &'a str,
    pub now: time::OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct BuiltDocument {
    pub message: Vec<u8>,
    pub xdm_zip: Vec<u8>,
    pub subject: String,
    pub title: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("le paquet IHE XDM n'a pas pu être construit : {0}")]
    Package(#[from] crate::xdm::package::PackageError),
    #[error("le message n'a pas pu être construit : {0}")]
    Message(#[from] std::io::Error),
}

/// The document's title: the sidecar's, or the file name without its
/// extension.
pub fn title_of(sidecar: &Sidecar, file_name: &str) -> String {
    if let Some(title) = &sidecar.document.title {
        return title.clone();
    }
    let stem = file_name.rsplit_once('.').map_or(file_name, |(s, _)| s);
    let stem = stem.rsplit_once("__").map_or(stem, |(_, title)| title);
    let title = super::sidecar::single_line(&stem.replace('_', " "));
    if title.is_empty() {
        "Document".to_string()
    } else {
        title
    }
}

/// The metadata of the document, sidecar first, then the defaults.
pub fn describe(inputs: &DocumentInputs<'_>, title: &str) -> DocumentDescription {
    let fields = &inputs.sidecar.document;
    let code_of = |given: &Option<(String, String, Option<String>)>, default: Code| match given {
        Some((code, system, display)) => Code {
            code: code.clone(),
            scheme: if system.is_empty() {
                default.scheme.clone()
            } else {
                system.clone()
            },
            display: display.clone().unwrap_or_else(|| {
                if *code == default.code {
                    default.display.clone()
                } else {
                    code.clone()
                }
            }),
        },
        None => default,
    };
    DocumentDescription {
        title: title.to_string(),
        type_code: code_of(&fields.type_code, inputs.codes.type_code.to_code()),
        class_code: code_of(&fields.class_code, inputs.codes.class_code.to_code()),
        format_code: pdf_format_code(),
        confidentiality: confidentiality_code(
            fields
                .confidentiality
                .as_deref()
                .unwrap_or(&inputs.codes.confidentiality),
        ),
        facility_type: inputs.codes.facility_type.to_code(),
        practice_setting: inputs.codes.practice_setting.to_code(),
        creation_time: fields.date.unwrap_or(inputs.file_time),
        mime_type: "application/pdf".into(),
    }
}

/// Builds the message and its archive.
pub fn build_document(inputs: &DocumentInputs<'_>) -> Result<BuiltDocument, DocumentError> {
    let title = title_of(inputs.sidecar, inputs.file_name);
    let description = describe(inputs, &title);
    let patient = inputs.sidecar.patient.as_ref();
    let ids = SubmissionIds::generate();
    let source_id = source_oid(inputs.mailbox);
    let submission = Submission {
        document: inputs.pdf,
        description: &description,
        patient,
        author: inputs.author,
        recipients: inputs.recipients,
        source_id: &source_id,
        submission_time: inputs.now,
        ids: &ids,
    };
    let product = format!("Facteur {}", env!("CARGO_PKG_VERSION"));
    let xdm_zip = build_package(
        &submission,
        &Origin {
            mailbox: inputs.mailbox,
            product: &product,
        },
    )?;
    let subject = inputs
        .sidecar
        .subject
        .clone()
        .unwrap_or_else(|| conventional_subject(&title, patient));
    let body = inputs
        .sidecar
        .body
        .clone()
        .unwrap_or_else(|| default_body(&title, patient, inputs.author));
    let pdf_name = attachment_name(inputs.file_name);
    let message = compose(&Outgoing {
        mailbox: inputs.mailbox,
        nil: inputs.nil,
        recipients: inputs.recipients,
        subject: &subject,
        body: &body,
        receipt: inputs.sidecar.receipt,
        message_id: inputs.message_id,
        date: inputs.now,
        pdf_name: &pdf_name,
        pdf: inputs.pdf,
        xdm_zip: &xdm_zip,
    })?;
    Ok(BuiltDocument {
        message,
        xdm_zip,
        subject,
        title,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::sidecar::parse_sidecar;
    use crate::xdm::check::check_package;
    use crate::xdm::metadata::tests::sample_author;
    use mail_parser::MessageParser;

    #[test]
    fn a_sidecar_document_becomes_a_checked_package_and_message() {
        let sidecar = parse_sidecar(
            br#"{"to": "dr.martin@medecin.test.mssante.fr", "receipt": true,
                "patient": {"ins": "279035121518989", "ins_oid": "1.2.250.1.213.1.4.10", "family_name": "Test", "given_names": ["Marie"], "birth_date": "1979-03-25", "sex": "F"},
                "document": {"title": "CR consultation", "type_code": "11488-4"}}"#,
        )
        .unwrap();
        let pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n";
        let codes = CodeDefaults::default();
        let author = sample_author();
        let now = time::OffsetDateTime::now_utc();
        let inputs = DocumentInputs {
            pdf,
            file_name: "scan 0001.pdf",
            sidecar: &sidecar,
            recipients: &sidecar.to,
            author: &author,
            codes: &codes,
            mailbox: "cabinet@medecin.test.mssante.fr",
            nil: "FACTEUR",
            file_time: now,
            message_id: "x.document@medecin.test.mssante.fr",
            now,
        };
        let built = build_document(&inputs).unwrap();
        assert_eq!(
            built.subject,
            "XDM/1.0/DDM+CR consultation TEST Marie 25/03/1979"
        );
        let report = check_package(&built.xdm_zip);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        let message = MessageParser::new().parse(&built.message).unwrap();
        assert_eq!(message.attachment_count(), 2);
        // The type's display comes from the defaults when the code matches.
        let description = describe(&inputs, "t");
        assert_eq!(
            description.type_code.display,
            "Compte rendu de consultation"
        );
    }

    #[test]
    fn titles_come_from_the_sidecar_or_the_file_name() {
        let empty = Sidecar::default();
        assert_eq!(
            title_of(&empty, "Compte_rendu_echo.pdf"),
            "Compte rendu echo"
        );
        assert_eq!(
            title_of(&empty, "dr.martin@x.mssante.fr__Bilan sanguin.pdf"),
            "Bilan sanguin"
        );
        assert_eq!(title_of(&empty, ".pdf"), "Document");
    }
}
