//! Turning a document and its routing into the MSSanté message: the
//! subject convention, a short body, the PDF and its `IHE_XDM.ZIP`, and the
//! `X-MSS-*` headers the rules ask for.

use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;

use crate::xdm::{Author, Patient, french_date};

/// Domain of patients' MSSanté addresses: mail there must not be answered
/// (`X-MSS-MES: FIN`).
pub const PATIENT_DOMAIN: &str = "patient.mssante.fr";

/// Everything the message is made of.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The box's MSSanté mailbox (From, and where receipts come back).
    pub mailbox: &'a str,
    /// `X-MSS-NIL`: the product reference registered with ANS.
    pub nil: &'a str,
    pub recipients: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    /// Ask for a read receipt (`Disposition-Notification-To`).
    pub receipt: bool,
    /// Without angle brackets.
    pub message_id: &'a str,
    pub date: time::OffsetDateTime,
    /// File name the PDF is attached under.
    pub pdf_name: &'a str,
    pub pdf: &'a [u8],
    pub xdm_zip: &'a [u8],
}

/// The subject MSSanté document mail uses:
/// `XDM/1.0/DDM+<title> <NOM> <Prénom> <JJ/MM/AAAA>`.
pub fn conventional_subject(title: &str, patient: Option<&Patient>) -> String {
    let mut subject = format!("XDM/1.0/DDM+{title}");
    if let Some(patient) = patient {
        subject.push(' ');
        subject.push_str(&patient.family_name.to_uppercase());
        if let Some(given) = patient.given_names.first() {
            subject.push(' ');
            subject.push_str(given);
        }
        if let Some(date) = patient.birth_date {
            subject.push(' ');
            subject.push_str(&french_date(date));
        }
    }
    subject
}

/// The body when the sidecar gives none: what is attached, for whom, from
/// whom; nothing medical beyond the title.
pub fn default_body(title: &str, patient: Option<&Patient>, author: &Author) -> String {
    let about = match patient {
        Some(p) => format!(
            " concernant {} {}{}",
            p.given_names.first().map(String::as_str).unwrap_or(""),
            p.family_name.to_uppercase(),
            p.birth_date
                .map(|d| format!(", né(e) le {}", french_date(d)))
                .unwrap_or_default()
        )
        .replace("  ", " "),
        None => String::new(),
    };
    let signature = [
        author.given_name.as_str(),
        &author.family_name.to_uppercase(),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" ");
    let signature = if signature.is_empty() {
        author.institution.clone().unwrap_or_default()
    } else {
        format!("Dr {signature}")
    };
    format!(
        "Bonjour,\r\n\r\nVeuillez trouver ci-joint le document « {title} »{about}.\r\n\r\n\
         Bien confraternellement,\r\n{signature}\r\n\r\n\
         --\r\nMessage envoyé par messagerie sécurisée de santé (MSSanté).\r\n\
         Le document est joint en PDF et au format IHE XDM (IHE_XDM.ZIP).\r\n"
    )
}

/// Builds the message (CRLF line ends, ready for the queue).
pub fn compose(outgoing: &Outgoing<'_>) -> std::io::Result<Vec<u8>> {
    let to: Vec<&str> = outgoing.recipients.iter().map(String::as_str).collect();
    let mut builder = MessageBuilder::new()
        .from(outgoing.mailbox)
        .to(to)
        .subject(outgoing.subject)
        .message_id(outgoing.message_id)
        .date(outgoing.date.unix_timestamp())
        .header("X-MSS-NIL", Raw::new(outgoing.nil.to_string()))
        .text_body(outgoing.body)
        .attachment("application/pdf", outgoing.pdf_name, outgoing.pdf)
        .attachment("application/zip", "IHE_XDM.ZIP", outgoing.xdm_zip);
    if outgoing.receipt {
        builder = builder.header(
            "Disposition-Notification-To",
            Raw::new(format!("<{}>", outgoing.mailbox)),
        );
    }
    if outgoing.recipients.iter().any(|r| {
        r.rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(PATIENT_DOMAIN))
    }) {
        builder = builder.header("X-MSS-MES", Raw::new("FIN"));
    }
    builder.write_to_vec()
}

/// The PDF's name in the message: the dropped file's name, reduced to
/// characters every mail client shows the same way.
pub fn attachment_name(file_name: &str) -> String {
    let stem = file_name
        .rsplit_once('.')
        .map_or(file_name, |(stem, _)| stem);
    let cleaned: String = stem
        .chars()
        .filter(|c| !c.is_control() && !crate::outbox::sidecar::is_bidi_control(*c))
        .map(|c| if "/\\:*?\"<>|".contains(c) { '_' } else { c })
        .take(100)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "document.pdf".to_string()
    } else {
        format!("{cleaned}.pdf")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdm::metadata::tests::{sample_author, sample_patient};
    use mail_parser::{MessageParser, MimeHeaders};

    #[test]
    fn the_subject_follows_the_convention() {
        let mut patient = sample_patient();
        patient.family_name = "Figatellix".into();
        patient.given_names = vec!["Corse".into()];
        patient.birth_date = Some(time::macros::date!(1988 - 10 - 12));
        assert_eq!(
            conventional_subject("ECHOGRAPHIE ABDOMINOPELVIENNE", Some(&patient)),
            "XDM/1.0/DDM+ECHOGRAPHIE ABDOMINOPELVIENNE FIGATELLIX Corse 12/10/1988"
        );
        assert_eq!(conventional_subject("CR", None), "XDM/1.0/DDM+CR");
    }

    #[test]
    fn the_message_carries_both_attachments_and_the_headers() {
        let recipients = vec![
            "dr.martin@medecin.test.mssante.fr".to_string(),
            "279035121518989@patient.mssante.fr".to_string(),
        ];
        let body = default_body("CR", Some(&sample_patient()), &sample_author());
        let outgoing = Outgoing {
            mailbox: "cabinet@medecin.test.mssante.fr",
            nil: "FACTEUR-TEST",
            recipients: &recipients,
            subject: "XDM/1.0/DDM+Compte rendu éco",
            body: &body,
            receipt: true,
            message_id: "abc.outbox@medecin.test.mssante.fr",
            date: time::OffsetDateTime::now_utc(),
            pdf_name: "CR écho.pdf",
            pdf: b"%PDF-1.4\n%%EOF\n",
            xdm_zip: b"PK\x03\x04zip",
        };
        let bytes = compose(&outgoing).unwrap();
        let message = MessageParser::new().parse(&bytes).unwrap();
        assert_eq!(message.subject(), Some("XDM/1.0/DDM+Compte rendu éco"));
        assert_eq!(
            message.message_id(),
            Some("abc.outbox@medecin.test.mssante.fr")
        );
        assert_eq!(
            message.header_raw("X-MSS-NIL").map(str::trim),
            Some("FACTEUR-TEST")
        );
        assert_eq!(message.header_raw("X-MSS-MES").map(str::trim), Some("FIN"));
        assert!(message.header_raw("Disposition-Notification-To").is_some());
        let names: Vec<&str> = message
            .attachments()
            .filter_map(|a| a.attachment_name())
            .collect();
        assert_eq!(names, ["CR écho.pdf", "IHE_XDM.ZIP"]);
        assert_eq!(message.attachment(1).unwrap().contents(), b"PK\x03\x04zip");
        assert!(message.body_text(0).unwrap().contains("Éloïse"));
    }

    #[test]
    fn attachment_names_are_tamed() {
        assert_eq!(attachment_name("a/b\u{202e}:c.PDF"), "a_b_c.pdf");
        assert_eq!(attachment_name(".pdf"), "document.pdf");
    }
}
