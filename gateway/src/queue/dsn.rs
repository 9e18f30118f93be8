//! Delivery status notifications (RFC 3464) for the practice.
//!
//! When a recipient fails for good (the operator said 5xx, or the message
//! outlived its lifetime), the practice must learn it in the place it
//! reads: a report is written into the reports Maildir (which a mail client
//! or the practice software reads, and which the local IMAP will serve).

use std::io::Write;
use std::path::{Path, PathBuf};

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::{BodyPart, MimePart};

/// One failed recipient of a report.
#[derive(Debug, Clone)]
pub struct FailedRecipient {
    pub address: String,
    /// The operator's reply or our own reason (expiry, TLS failure).
    pub reply: String,
}

/// What a report is about.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// `smtp.hostname`, the Reporting-MTA.
    pub reporting_mta: &'a str,
    /// Where the report goes: the box's own mailbox address.
    pub to: &'a str,
    pub queue_id: &'a str,
    /// When the box accepted the message (RFC 2822 date), if known.
    pub arrival_date: Option<&'a str>,
    pub recipients: &'a [FailedRecipient],
    /// The original message's header section.
    pub original_headers: &'a [u8],
}

/// The enhanced status code (RFC 3463) in a reply, or a sensible default.
pub fn status_code(reply: &str) -> String {
    reply
        .split_whitespace()
        .nth(1)
        .filter(|code| {
            let parts: Vec<&str> = code.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "4" | "5")
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|code| format!("5{}", &code[1..]))
        .unwrap_or_else(|| {
            if reply.starts_with("delivery time expired") {
                "4.4.7".to_string()
            } else {
                "5.0.0".to_string()
            }
        })
}

/// Builds the report message (multipart/report; report-type=delivery-status).
pub fn build(report: &Report<'_>) -> std::io::Result<Vec<u8>> {
    let mut human = String::from(
        "Bonjour,\r\n\r\nCe message n'a pas pu être remis au(x) destinataire(s) suivant(s) :\r\n\r\n",
    );
    for r in report.recipients {
        human.push_str(&format!("  {} : {}\r\n", r.address, one_line(&r.reply)));
    }
    human.push_str(&format!(
        "\r\nRéférence du message dans Facteur : {}\r\nLe message d'origine n'a pas été envoyé à ces destinataires ; vérifiez l'adresse ou contactez le destinataire par un autre moyen.\r\n\r\n--\r\nThis message could not be delivered to the recipients listed above.\r\n",
        report.queue_id
    ));

    let mut status = format!(
        "Reporting-MTA: dns; {}\r\nX-Facteur-Queue-ID: {}\r\n",
        report.reporting_mta, report.queue_id
    );
    if let Some(date) = report.arrival_date {
        status.push_str(&format!("Arrival-Date: {date}\r\n"));
    }
    let now = rfc2822_now();
    for r in report.recipients {
        status.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\nDiagnostic-Code: smtp; {}\r\nLast-Attempt-Date: {}\r\n",
            r.address,
            status_code(&r.reply),
            one_line(&r.reply),
            now
        ));
    }

    let headers = String::from_utf8_lossy(report.original_headers).into_owned();
    let parts = vec![
        MimePart::new(
            ContentType::new("text/plain").attribute("charset", "utf-8"),
            BodyPart::Text(human.into()),
        ),
        MimePart::new(
            ContentType::new("message/delivery-status"),
            BodyPart::Text(status.into()),
        )
        .transfer_encoding("7bit"),
        MimePart::new(
            ContentType::new("text/rfc822-headers"),
            BodyPart::Text(headers.into()),
        ),
    ];
    let body = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        BodyPart::Multipart(parts),
    );
    let subject = if report.recipients.len() == 1 {
        format!("Échec de remise : {}", report.recipients[0].address)
    } else {
        format!(
            "Échec de remise à {} destinataires",
            report.recipients.len()
        )
    };
    MessageBuilder::new()
        .from((
            "Facteur".to_string(),
            format!("MAILER-DAEMON@{}", report.reporting_mta),
        ))
        .to(report.to.to_string())
        .subject(subject)
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-replied"),
        )
        .body(body)
        .write_to_vec()
}

fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn rfc2822_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
}

/// The header section of a stored message (up to the first empty line).
pub fn header_section(message: &[u8]) -> &[u8] {
    message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|end| &message[..end + 2])
        .unwrap_or(message)
}

/// Delivers a report into a Maildir (`tmp/` then `new/`, synced), the
/// format every mail tool reads. Returns the new file's path.
pub fn write_to_maildir(
    maildir: &Path,
    name_hint: &str,
    message: &[u8],
) -> std::io::Result<PathBuf> {
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let name = format!(
        "{}.{}_{:08x}.facteur",
        crate::queue::now_unix(),
        name_hint,
        rand::random::<u32>()
    );
    let tmp = maildir.join("tmp").join(&name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(message)?;
    file.sync_all()?;
    let target = maildir.join("new").join(&name);
    std::fs::rename(&tmp, &target)?;
    std::fs::File::open(maildir.join("new"))?.sync_all()?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    #[test]
    fn status_codes_from_replies() {
        assert_eq!(
            status_code("550 5.1.1 <x>: Recipient address rejected"),
            "5.1.1"
        );
        assert_eq!(status_code("554 5.7.1 refused"), "5.7.1");
        assert_eq!(status_code("550 no enhanced code"), "5.0.0");
        assert_eq!(
            status_code("delivery time expired; last error: 451 4.3.0 x"),
            "4.4.7"
        );
    }

    #[test]
    fn report_is_a_parsable_multipart_report() {
        let recipients = [FailedRecipient {
            address: "dr.x@medecin.test.mssante.fr".into(),
            reply: "550 5.1.1 <dr.x@medecin.test.mssante.fr>: User unknown".into(),
        }];
        let original = b"Subject: Compte rendu\r\nMessage-ID: <a@b>\r\n\r\nsecret body\r\n";
        let bytes = build(&Report {
            reporting_mta: "facteur.local",
            to: "cabinet@test.mssante.fr",
            queue_id: "0123456789ABCDEF",
            arrival_date: Some("Mon, 23 Nov 2026 10:00:00 +0000"),
            recipients: &recipients,
            original_headers: header_section(original),
        })
        .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("multipart/report"), "{text}");
        assert!(
            text.contains("report-type=\"delivery-status\"")
                || text.contains("report-type=delivery-status"),
            "{text}"
        );
        assert!(text.contains("Final-Recipient: rfc822; dr.x@medecin.test.mssante.fr"));
        assert!(text.contains("Status: 5.1.1"));
        assert!(text.contains("Action: failed"));
        assert!(
            !text.contains("secret body"),
            "the report must not carry the body"
        );
        let parsed = MessageParser::new().parse(&bytes).unwrap();
        assert_eq!(parsed.parts.len(), 4);
    }

    #[test]
    fn maildir_delivery_lands_in_new() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_to_maildir(dir.path(), "ABC", b"Subject: x\r\n\r\n").unwrap();
        assert!(path.starts_with(dir.path().join("new")));
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}
