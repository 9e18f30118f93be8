//! SMTP replies as the upstream client reads them.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Longest reply line accepted; a server sending more is broken or hostile.
const MAX_LINE: usize = 4096;
/// Most lines in one multi-line reply.
const MAX_LINES: usize = 256;

/// A complete (possibly multi-line) SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Text of every line, without code and separators.
    pub lines: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("connection closed by the operator")]
    Closed,
    #[error("unreadable reply from the operator: {0}")]
    Malformed(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// One-line form kept in the queue and shown to people:
    /// `550 5.1.1 <x>: Recipient address rejected`.
    pub fn summary(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" "))
    }

    /// Reads one reply.
    pub async fn read<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Reply, ReplyError> {
        let mut lines = Vec::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = (&mut *reader)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut buf)
                .await?;
            if n == 0 {
                return Err(ReplyError::Closed);
            }
            if !buf.ends_with(b"\n") {
                return Err(ReplyError::Malformed("line too long".into()));
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\r', '\n']);
            let (code, rest) = parse_line(line)?;
            let (last, text) = match rest.as_bytes().first() {
                None => (true, ""),
                Some(b' ') => (true, &rest[1..]),
                Some(b'-') => (false, &rest[1..]),
                Some(_) => return Err(ReplyError::Malformed(line.chars().take(80).collect())),
            };
            if let Some((first_code, _)) = lines.first().map(|l: &(u16, String)| (l.0, ()))
                && first_code != code
            {
                return Err(ReplyError::Malformed(
                    "reply code changed within a reply".into(),
                ));
            }
            lines.push((code, text.to_string()));
            if last {
                return Ok(Reply {
                    code,
                    lines: lines.into_iter().map(|(_, t)| t).collect(),
                });
            }
            if lines.len() > MAX_LINES {
                return Err(ReplyError::Malformed("reply has too many lines".into()));
            }
        }
    }
}

fn parse_line(line: &str) -> Result<(u16, &str), ReplyError> {
    let code = line
        .get(..3)
        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (200..600).contains(c))
        .ok_or_else(|| ReplyError::Malformed(line.chars().take(80).collect()))?;
    Ok((code, &line[3..]))
}

/// Extensions announced in an EHLO reply that the client uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub starttls: bool,
    pub pipelining: bool,
    pub eight_bit_mime: bool,
    pub size: Option<u64>,
    pub auth_external: bool,
    /// Every SASL mechanism offered, upper case.
    pub auth: Vec<String>,
    /// Delivery status notifications (RFC 3461).
    pub dsn: bool,
}

impl Capabilities {
    pub fn from_ehlo(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "STARTTLS" => caps.starttls = true,
                "PIPELINING" => caps.pipelining = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "DSN" => caps.dsn = true,
                "SIZE" => caps.size = words.next().and_then(|s| s.parse().ok()).filter(|s| *s > 0),
                "AUTH" => {
                    for m in words {
                        let m = m.to_ascii_uppercase();
                        caps.auth_external |= m == "EXTERNAL";
                        if !caps.auth.contains(&m) {
                            caps.auth.push(m);
                        }
                    }
                }
                _ => {}
            }
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(text: &str) -> Result<Reply, ReplyError> {
        let mut reader = tokio::io::BufReader::new(text.as_bytes());
        Reply::read(&mut reader).await
    }

    #[tokio::test]
    async fn reads_single_and_multi_line_replies() {
        let r = read("250 2.0.0 Ok: queued as X\r\n").await.unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(r.summary(), "250 2.0.0 Ok: queued as X");
        let r = read("250-smtp.op\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN EXTERNAL\r\n250 8BITMIME\r\n").await.unwrap();
        assert_eq!(r.lines.len(), 5);
        let caps = Capabilities::from_ehlo(&r);
        assert!(caps.pipelining && caps.eight_bit_mime && caps.auth_external && !caps.starttls);
        assert!(!caps.dsn);
        assert_eq!(caps.size, Some(10240000));
        let r = read("250-smtp.op\r\n250-DSN\r\n250 SMTPUTF8\r\n")
            .await
            .unwrap();
        assert!(Capabilities::from_ehlo(&r).dsn);
    }

    #[tokio::test]
    async fn rejects_garbage_and_truncation() {
        assert!(matches!(read("").await, Err(ReplyError::Closed)));
        assert!(matches!(
            read("250-first\r\n").await,
            Err(ReplyError::Closed)
        ));
        assert!(matches!(
            read("hello\r\n").await,
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            read("250-a\r\n354 b\r\n").await,
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            read("999 x\r\n").await,
            Err(ReplyError::Malformed(_))
        ));
        let long = format!("250 {}\r\n", "x".repeat(10_000));
        assert!(matches!(read(&long).await, Err(ReplyError::Malformed(_))));
    }
}
