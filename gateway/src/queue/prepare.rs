//! Turning what a local client sent into the message the queue stores:
//! canonical line endings, a trace header, and the headers MSSanté and
//! RFC 5322 require when the client left them out.

use mail_parser::MessageParser;

/// Facts about the submission that go into the trace header.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    /// Name the box gives itself (`smtp.hostname`).
    pub hostname: &'a str,
    /// HELO/EHLO name of the client.
    pub helo: &'a str,
    /// Client address as seen by the box.
    pub peer: std::net::IpAddr,
    /// `ESMTP`, `ESMTPS`, `ESMTPSA`, … (RFC 3848).
    pub protocol: &'static str,
    /// Domain of the box's MSSanté mailbox, for generated Message-IDs.
    pub mailbox_domain: &'a str,
    /// Value for `X-MSS-NIL`.
    pub nil: &'a str,
}

/// The stored message and the Message-ID it carries.
#[derive(Debug)]
pub struct Prepared {
    pub bytes: Vec<u8>,
    pub message_id: String,
}

/// Converts bare LF line ends to CRLF (SMTP's canonical form). Existing
/// CRLF pairs are kept; lone CRs are left as they are.
///
/// The DATA reader ends a message only on CRLF.CRLF (so a bare-LF "."
/// cannot smuggle a second message) and so only unstuffs dots after CRLF.
/// Clients that end lines with bare LF still dot-stuff those lines, as
/// Postfix expects them to: the stuffing dot after a bare LF is removed
/// here, where the line end becomes canonical.
pub fn canonical_line_endings(data: &[u8]) -> Vec<u8> {
    let extra = data.iter().filter(|&&b| b == b'\n').count();
    let mut out = Vec::with_capacity(data.len() + extra / 8);
    let mut previous = 0u8;
    let mut skip_dot = false;
    for &b in data {
        if skip_dot {
            skip_dot = false;
            if b == b'.' {
                previous = b'.';
                continue;
            }
        }
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
            skip_dot = true;
        }
        out.push(b);
        previous = b;
    }
    out
}

/// Prepares `data` (the DATA payload, dot-unstuffed) for the queue.
pub fn prepare(data: &[u8], submission: &Submission<'_>, queue_hint: &str) -> Prepared {
    let data = canonical_line_endings(data);
    let parsed = MessageParser::new().parse_headers(&data);
    let existing_id = parsed
        .as_ref()
        .and_then(|m| m.message_id())
        .map(str::to_string);
    let has_date = parsed.as_ref().is_some_and(|m| m.date().is_some());
    let has_nil = parsed
        .as_ref()
        .is_some_and(|m| m.header_raw("X-MSS-NIL").is_some());

    let now = time::OffsetDateTime::now_utc();
    let date = now
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let mut head = String::new();
    head.push_str(&format!(
        "Received: from {} ({})\r\n\tby {} (Facteur) with {} id {};\r\n\t{}\r\n",
        sanitize(submission.helo),
        submission.peer,
        submission.hostname,
        submission.protocol,
        queue_hint,
        date
    ));
    let message_id = match existing_id {
        Some(id) => id,
        None => {
            let id = format!(
                "{}.{:08x}@{}",
                queue_hint,
                rand::random::<u32>(),
                submission.mailbox_domain
            );
            head.push_str(&format!("Message-ID: <{id}>\r\n"));
            id
        }
    };
    if !has_date {
        head.push_str(&format!("Date: {date}\r\n"));
    }
    if !has_nil {
        head.push_str(&format!("X-MSS-NIL: {}\r\n", sanitize(submission.nil)));
    }
    let mut bytes = Vec::with_capacity(head.len() + data.len());
    bytes.extend_from_slice(head.as_bytes());
    bytes.extend_from_slice(&data);
    Prepared { bytes, message_id }
}

/// Keeps header values on one line and printable, whatever the client sent.
fn sanitize(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission() -> Submission<'static> {
        Submission {
            hostname: "facteur.local",
            helo: "pc-secretariat",
            peer: "192.168.1.20".parse().unwrap(),
            protocol: "ESMTPSA",
            mailbox_domain: "test.mssante.fr",
            nil: "FACTEUR-1",
        }
    }

    #[test]
    fn bare_lf_becomes_crlf() {
        assert_eq!(canonical_line_endings(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(canonical_line_endings(b"a\rb"), b"a\rb");
    }

    #[test]
    fn stuffing_dot_after_bare_lf_is_removed() {
        assert_eq!(canonical_line_endings(b"a\n..b\n.\r\n"), b"a\r\n.b\r\n\r\n");
        // After CRLF the DATA reader already unstuffed: nothing more goes.
        assert_eq!(canonical_line_endings(b"a\r\n.b"), b"a\r\n.b");
    }

    #[test]
    fn adds_missing_headers_once() {
        let p = prepare(
            b"Subject: x\r\n\r\nbody\r\n",
            &submission(),
            "0123456789ABCDEF",
        );
        let text = String::from_utf8(p.bytes).unwrap();
        assert!(text.starts_with("Received: from pc-secretariat (192.168.1.20)\r\n\tby facteur.local (Facteur) with ESMTPSA id 0123456789ABCDEF;"));
        assert!(text.contains(&format!("Message-ID: <{}>\r\n", p.message_id)));
        assert!(p.message_id.ends_with("@test.mssante.fr"));
        assert!(text.contains("\r\nDate: "));
        assert!(text.contains("X-MSS-NIL: FACTEUR-1\r\n"));
        assert!(text.ends_with("Subject: x\r\n\r\nbody\r\n"));
    }

    #[test]
    fn keeps_headers_the_client_set() {
        let original = b"Message-ID: <abc@client>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\nX-MSS-NIL: LOGICIEL\r\nSubject: x\r\n\r\nb\r\n";
        let p = prepare(original, &submission(), "0123456789ABCDEF");
        let text = String::from_utf8(p.bytes).unwrap();
        assert_eq!(p.message_id, "abc@client");
        assert_eq!(text.matches("Message-ID:").count(), 1);
        assert_eq!(text.matches("Date:").count(), 1);
        assert_eq!(text.matches("X-MSS-NIL:").count(), 1);
    }

    #[test]
    fn hostile_helo_cannot_inject_headers() {
        let mut s = submission();
        s.helo = "evil\r\nBcc: someone@example.com";
        let p = prepare(b"\r\nbody", &s, "0123456789ABCDEF");
        let text = String::from_utf8(p.bytes).unwrap();
        assert!(!text.contains("\r\nBcc:"));
    }
}
