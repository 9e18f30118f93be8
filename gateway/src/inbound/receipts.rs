//! Receipts: reading the delivery (RFC 3464) and read (RFC 8098) reports
//! that come back for messages the box sent, and writing the read receipt
//! (MDN) an incoming message asks for.

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};
use mail_parser::{MessageParser, MimeHeaders, PartType};

/// What a report says about one recipient of one of our messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportEvent {
    /// DSN `Action: delivered` (or relayed/expanded).
    Delivered,
    /// MDN `displayed`, or `processed` without error: read / integrated.
    Read,
    /// DSN `Action: failed`, or MDN with an error or `deleted`.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportItem {
    /// Message-ID of our message, without angle brackets.
    pub original_message_id: String,
    /// The recipient it concerns (as the report names it), if named.
    pub recipient: Option<String>,
    pub event: ReportEvent,
}

/// What an incoming message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A report about messages we sent (nothing to export).
    Report(Vec<ReportItem>),
    /// Ordinary mail; `receipt_to` when it asks for a read receipt.
    Mail {
        message_id: Option<String>,
        receipt_to: Option<String>,
    },
}

fn strip_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// `type; address` (Final-Recipient) → address.
fn address_field(value: &str) -> String {
    value
        .split_once(';')
        .map_or(value, |(_, a)| a)
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

/// Fields of a `message/delivery-status` or `message/disposition-notification`
/// body: groups separated by blank lines, `Name: value` with folding.
fn field_groups(text: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !current.is_empty() {
                groups.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = current.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            current.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

fn field<'a>(group: &'a [(String, String)], name: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Classifies an incoming message.
pub fn classify(raw: &[u8]) -> Incoming {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Incoming::Mail {
            message_id: None,
            receipt_to: None,
        };
    };
    let report_type = message
        .content_type()
        .filter(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .and_then(|ct| ct.attribute("report-type"))
        .map(str::to_ascii_lowercase);
    if let Some(kind) = report_type {
        let mut machine = None;
        let mut original_id = None;
        for part in message.parts.iter() {
            let Some(ct) = part.content_type() else {
                continue;
            };
            let full = format!(
                "{}/{}",
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or("").to_ascii_lowercase()
            );
            let text = match &part.body {
                PartType::Text(t) => Some(t.to_string()),
                PartType::Binary(b) | PartType::InlineBinary(b) => {
                    Some(String::from_utf8_lossy(b).into_owned())
                }
                PartType::Message(m) => {
                    if original_id.is_none() {
                        original_id = m.message_id().map(strip_id);
                    }
                    None
                }
                _ => None,
            };
            match full.as_str() {
                "message/delivery-status"
                | "message/global-delivery-status"
                | "message/disposition-notification"
                | "message/global-disposition-notification" => machine = text,
                "text/rfc822-headers" | "message/rfc822-headers" => {
                    if let Some(headers) = text
                        && original_id.is_none()
                    {
                        // The part ends without the blank line that ends
                        // a header section.
                        let section = format!("{}\r\n\r\n", headers.trim_end());
                        original_id = MessageParser::new()
                            .parse_headers(section.as_bytes())
                            .and_then(|h| h.message_id().map(strip_id));
                    }
                }
                _ => {}
            }
        }
        let groups = machine.as_deref().map(field_groups).unwrap_or_default();
        let items = if kind == "disposition-notification" {
            mdn_items(&groups, original_id)
        } else if kind == "delivery-status" {
            dsn_items(&groups, original_id)
        } else {
            Vec::new()
        };
        return Incoming::Report(items);
    }
    Incoming::Mail {
        message_id: message.message_id().map(strip_id),
        receipt_to: message
            .header_raw("Disposition-Notification-To")
            .map(|v| {
                let v = v.trim();
                match (v.rfind('<'), v.rfind('>')) {
                    (Some(a), Some(b)) if a < b => v[a + 1..b].to_string(),
                    _ => v.to_string(),
                }
            })
            .filter(|a| a.contains('@')),
    }
}

fn dsn_items(groups: &[Vec<(String, String)>], original_id: Option<String>) -> Vec<ReportItem> {
    let Some(id) = original_id else {
        return Vec::new();
    };
    groups
        .iter()
        .filter_map(|g| {
            let recipient = field(g, "final-recipient").or(field(g, "original-recipient"))?;
            let action = field(g, "action")?.to_ascii_lowercase();
            let event = match action.as_str() {
                "delivered" | "relayed" | "expanded" => ReportEvent::Delivered,
                "failed" => ReportEvent::Failed(
                    field(g, "diagnostic-code")
                        .or(field(g, "status"))
                        .unwrap_or("failed")
                        .to_string(),
                ),
                _ => return None, // delayed: nothing final
            };
            Some(ReportItem {
                original_message_id: id.clone(),
                recipient: Some(address_field(recipient)),
                event,
            })
        })
        .collect()
}

fn mdn_items(groups: &[Vec<(String, String)>], original_id: Option<String>) -> Vec<ReportItem> {
    let fields: Vec<(String, String)> = groups.iter().flatten().cloned().collect();
    let Some(id) = field(&fields, "original-message-id")
        .map(strip_id)
        .or(original_id)
    else {
        return Vec::new();
    };
    let Some(disposition) = field(&fields, "disposition") else {
        return Vec::new();
    };
    // "automatic-action/MDN-sent-automatically; processed/Error: 902^..."
    let kind = disposition
        .split_once(';')
        .map_or(disposition, |(_, k)| k)
        .trim()
        .to_ascii_lowercase();
    let event = if kind.contains("/error") || kind.starts_with("deleted") {
        ReportEvent::Failed(disposition.to_string())
    } else if kind.starts_with("displayed") || kind.starts_with("processed") {
        ReportEvent::Read
    } else {
        return Vec::new();
    };
    vec![ReportItem {
        original_message_id: id,
        recipient: field(&fields, "final-recipient")
            .or(field(&fields, "original-recipient"))
            .map(address_field),
        event,
    }]
}

/// The read receipt for an incoming message: `processed` when it reached
/// the practice, `processed/Error` when its import failed.
pub struct Mdn<'a> {
    pub original: &'a [u8],
    pub original_message_id: Option<&'a str>,
    pub original_subject: &'a str,
    /// The box's mailbox (Final-Recipient, From).
    pub mailbox: &'a str,
    pub to: &'a str,
    pub hostname: &'a str,
    /// `Some((code, label))` when the import failed.
    pub error: Option<(&'a str, &'a str)>,
}

pub fn build_mdn(mdn: &Mdn<'_>) -> std::io::Result<Vec<u8>> {
    let (human, disposition, subject) = match mdn.error {
        None => (
            format!(
                "Votre message « {} » a été reçu et transmis au logiciel du cabinet.\r\n",
                mdn.original_subject
            ),
            "automatic-action/MDN-sent-automatically; processed".to_string(),
            format!("Accusé de réception : {}", mdn.original_subject),
        ),
        Some((code, label)) => (
            format!(
                "Votre message « {} » a été reçu mais n'a pas pu être intégré : {label}.\r\n",
                mdn.original_subject
            ),
            format!("automatic-action/MDN-sent-automatically; processed/Error: {code}^{label}"),
            format!(
                "[KO Intégration système !][{code}] {}",
                mdn.original_subject
            ),
        ),
    };
    let mut fields = format!(
        "Reporting-UA: {}; Facteur\r\nFinal-Recipient: rfc822; {}\r\nOriginal-Recipient: rfc822; {}\r\n",
        mdn.hostname, mdn.mailbox, mdn.mailbox
    );
    if let Some(id) = mdn.original_message_id {
        fields.push_str(&format!("Original-Message-ID: <{id}>\r\n"));
    }
    fields.push_str(&format!("Disposition: {disposition}\r\n"));
    let parts = vec![
        MimePart::new(
            ContentType::new("text/plain").attribute("charset", "utf-8"),
            BodyPart::Text(human.into()),
        ),
        MimePart::new(
            ContentType::new("message/disposition-notification"),
            BodyPart::Text(fields.into()),
        )
        .transfer_encoding("7bit"),
        MimePart::new(
            ContentType::new("message/rfc822"),
            BodyPart::Binary(mdn.original.to_vec().into()),
        ),
    ];
    let mut builder = MessageBuilder::new()
        .from(mdn.mailbox.to_string())
        .to(mdn.to.to_string())
        .subject(subject)
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(MimePart::new(
            ContentType::new("multipart/report")
                .attribute("report-type", "disposition-notification"),
            BodyPart::Multipart(parts),
        ));
    if let Some(id) = mdn.original_message_id {
        builder = builder.in_reply_to(id.to_string());
    }
    builder.write_to_vec()
}

/// The notice written for the practice when read receipts it asked for
/// did not come in time.
pub fn build_no_answer_notice(
    mailbox: &str,
    hostname: &str,
    entries: &[crate::queue::tracking::TrackEntry],
) -> std::io::Result<Vec<u8>> {
    let mut text = String::from(
        "Bonjour,\r\n\r\nLes accusés de lecture demandés n'ont pas été reçus pour :\r\n\r\n",
    );
    for e in entries {
        text.push_str(&format!(
            "  {} (message <{}>)\r\n",
            e.recipient, e.message_id
        ));
    }
    text.push_str("\r\nLe message a été remis à la messagerie du destinataire ; s'il est important, vérifiez auprès de lui qu'il l'a bien lu.\r\n");
    MessageBuilder::new()
        .from(("Facteur".to_string(), format!("MAILER-DAEMON@{hostname}")))
        .to(mailbox.to_string())
        .subject(if entries.len() == 1 {
            format!("Pas d'accusé de lecture : {}", entries[0].recipient)
        } else {
            format!(
                "Pas d'accusé de lecture pour {} destinataires",
                entries.len()
            )
        })
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .text_body(text)
        .write_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSN: &[u8] = b"From: MAILER-DAEMON@operateur.test\r\nTo: cabinet.dupont@test.mssante.fr\r\nSubject: Delivery report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nRapport\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; operateur.test\r\n\r\nFinal-Recipient: rfc822; dr.martin@medecin.test.mssante.fr\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\nFinal-Recipient: rfc822; <inconnu@medecin.test.mssante.fr>\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 unknown\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <abc@facteur.test>\r\nSubject: CR\r\n--b--\r\n";

    #[test]
    fn reads_delivery_reports() {
        let Incoming::Report(items) = classify(DSN) else {
            panic!("not a report");
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].original_message_id, "abc@facteur.test");
        assert_eq!(
            items[0].recipient.as_deref(),
            Some("dr.martin@medecin.test.mssante.fr")
        );
        assert_eq!(items[0].event, ReportEvent::Delivered);
        assert!(matches!(items[1].event, ReportEvent::Failed(ref d) if d.contains("550")));
        assert_eq!(
            items[1].recipient.as_deref(),
            Some("inconnu@medecin.test.mssante.fr")
        );
    }

    #[test]
    fn our_mdn_is_read_back() {
        let original = b"From: dr.martin@medecin.test.mssante.fr\r\nTo: cabinet.dupont@test.mssante.fr\r\nSubject: Bilan\r\nMessage-ID: <m1@medecin.test>\r\nDisposition-Notification-To: <dr.martin@medecin.test.mssante.fr>\r\n\r\nTexte\r\n";
        let Incoming::Mail {
            message_id,
            receipt_to,
        } = classify(original)
        else {
            panic!("not mail");
        };
        assert_eq!(
            receipt_to.as_deref(),
            Some("dr.martin@medecin.test.mssante.fr")
        );
        for (error, expected) in [
            (None, ReportEvent::Read),
            (
                Some(("902", "INS non présent")),
                ReportEvent::Failed(String::new()),
            ),
        ] {
            let mdn = build_mdn(&Mdn {
                original,
                original_message_id: message_id.as_deref(),
                original_subject: "Bilan",
                mailbox: "cabinet.dupont@test.mssante.fr",
                to: "dr.martin@medecin.test.mssante.fr",
                hostname: "facteur.test",
                error,
            })
            .unwrap();
            let Incoming::Report(items) = classify(&mdn) else {
                panic!("MDN not recognised");
            };
            assert_eq!(items.len(), 1);
            assert_eq!(items[0].original_message_id, "m1@medecin.test");
            assert_eq!(
                items[0].recipient.as_deref(),
                Some("cabinet.dupont@test.mssante.fr")
            );
            match expected {
                ReportEvent::Read => assert_eq!(items[0].event, ReportEvent::Read),
                _ => assert!(
                    matches!(items[0].event, ReportEvent::Failed(ref d) if d.contains("902"))
                ),
            }
            let text = String::from_utf8_lossy(&mdn);
            assert!(
                text.contains("report-type=\"disposition-notification\"")
                    || text.contains("report-type=disposition-notification")
            );
        }
    }

    #[test]
    fn returned_headers_with_a_single_line_name_the_message() {
        let dsn = String::from_utf8_lossy(DSN).replace(
            "Message-ID: <abc@facteur.test>\r\nSubject: CR\r\n",
            "Message-ID: <abc@facteur.test>\r\n",
        );
        let Incoming::Report(items) = classify(dsn.as_bytes()) else {
            panic!("not a report");
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].original_message_id, "abc@facteur.test");
    }

    #[test]
    fn garbage_is_ordinary_mail() {
        assert!(matches!(classify(b"\xff\xfe"), Incoming::Mail { .. }));
        let broken = b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n";
        assert_eq!(classify(broken), Incoming::Report(Vec::new()));
    }
}
