//! One authenticated SMTP session with the operator, reused for many
//! messages: with a card, every new TLS handshake costs a slow signature.

use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, BufStream};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::reply::{Capabilities, Reply, ReplyError};
use crate::queue::Outcome;

/// The session cannot be used any more; what was in flight is unknown.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("operator did not answer {0} in time")]
    Timeout(&'static str),
    #[error("{0}")]
    Reply(#[from] ReplyError),
}

impl From<std::io::Error> for SessionError {
    fn from(e: std::io::Error) -> Self {
        SessionError::Reply(ReplyError::Io(e))
    }
}

pub struct UpstreamSession {
    stream: BufStream<TlsStream<TcpStream>>,
    caps: Capabilities,
    timeout: Duration,
    messages_sent: usize,
    last_used: Instant,
    /// The final `.` was written and its reply not yet read: if the session
    /// breaks now, the operator may or may not have the message.
    data_in_flight: bool,
    /// Ask for delivery reports (NOTIFY=SUCCESS,FAILURE,DELAY) when the
    /// operator offers DSN: they are what tracking shows as « Remis ».
    request_reports: bool,
}

/// Adds SMTP dot-stuffing and the final `.` line. The message is already in
/// CRLF form (the queue stores it so).
pub fn dot_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 5);
    let mut at_line_start = true;
    for &b in body {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn outcome(reply: &Reply) -> Outcome {
    let text = reply.summary();
    if reply.is_positive() {
        Outcome::Delivered { reply: text }
    } else if reply.is_transient() {
        Outcome::Deferred { reply: text }
    } else {
        Outcome::Failed { reply: text }
    }
}

impl UpstreamSession {
    pub(super) fn new(stream: TlsStream<TcpStream>, timeout: Duration) -> Self {
        UpstreamSession {
            stream: BufStream::new(stream),
            caps: Capabilities::default(),
            timeout,
            messages_sent: 0,
            last_used: Instant::now(),
            data_in_flight: false,
            request_reports: false,
        }
    }

    pub(super) fn request_reports(&mut self, on: bool) {
        self.request_reports = on;
    }

    pub(super) fn set_capabilities(&mut self, caps: Capabilities) {
        self.caps = caps;
    }

    pub fn data_in_flight(&self) -> bool {
        self.data_in_flight
    }

    pub fn messages_sent(&self) -> usize {
        self.messages_sent
    }

    pub fn idle_for(&self) -> Duration {
        self.last_used.elapsed()
    }

    /// Largest message the operator accepts, if it said.
    pub fn max_size(&self) -> Option<u64> {
        self.caps.size
    }

    pub(super) async fn read_reply(&mut self, what: &'static str) -> Result<Reply, SessionError> {
        match tokio::time::timeout(self.timeout, Reply::read(&mut self.stream)).await {
            Ok(reply) => Ok(reply?),
            Err(_) => Err(SessionError::Timeout(what)),
        }
    }

    async fn write(&mut self, bytes: &[u8], what: &'static str) -> Result<(), SessionError> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(SessionError::Timeout(what)),
        }
    }

    pub(super) async fn command(
        &mut self,
        line: &str,
        what: &'static str,
    ) -> Result<Reply, SessionError> {
        self.write(line.as_bytes(), what).await?;
        self.read_reply(what).await
    }

    /// Sends one message to `recipients`; returns each recipient's outcome.
    /// An `Err` means the session broke: recipients without an outcome were
    /// not delivered as far as we know (a reply lost after the final `.`
    /// is the one window where the operator may have the message anyway).
    pub async fn send(
        &mut self,
        from: &str,
        recipients: &[String],
        body: &[u8],
        eight_bit: bool,
    ) -> Result<Vec<(String, Outcome)>, SessionError> {
        self.last_used = Instant::now();
        if let Some(max) = self.caps.size
            && body.len() as u64 > max
        {
            let reply = format!(
                "552 5.3.4 message is {} bytes, the operator accepts at most {max}",
                body.len()
            );
            return Ok(recipients
                .iter()
                .map(|r| {
                    (
                        r.clone(),
                        Outcome::Failed {
                            reply: reply.clone(),
                        },
                    )
                })
                .collect());
        }
        let mut mail = format!("MAIL FROM:<{from}>");
        if self.caps.size.is_some() {
            mail.push_str(&format!(" SIZE={}", body.len()));
        }
        if eight_bit && self.caps.eight_bit_mime {
            mail.push_str(" BODY=8BITMIME");
        }
        let reports = self.request_reports && self.caps.dsn;
        if reports {
            // Headers only: the report must not carry the health data back.
            mail.push_str(" RET=HDRS");
        }
        mail.push_str("\r\n");
        let rcpt = |r: &str| {
            if reports {
                format!("RCPT TO:<{r}> NOTIFY=SUCCESS,FAILURE,DELAY\r\n")
            } else {
                format!("RCPT TO:<{r}>\r\n")
            }
        };

        let mut replies = Vec::with_capacity(recipients.len() + 1);
        if self.caps.pipelining {
            let mut batch = mail;
            for r in recipients {
                batch.push_str(&rcpt(r));
            }
            self.write(batch.as_bytes(), "MAIL/RCPT").await?;
            for _ in 0..=recipients.len() {
                replies.push(self.read_reply("MAIL/RCPT").await?);
            }
        } else {
            let reply = self.command(&mail, "MAIL").await?;
            let ok = reply.is_positive();
            replies.push(reply);
            if ok {
                for r in recipients {
                    replies.push(self.command(&rcpt(r), "RCPT").await?);
                }
            }
        }

        let mail_reply = &replies[0];
        if !mail_reply.is_positive() {
            let result = recipients
                .iter()
                .map(|r| (r.clone(), outcome(mail_reply)))
                .collect();
            self.command("RSET\r\n", "RSET").await?;
            return Ok(result);
        }
        let mut results = Vec::with_capacity(recipients.len());
        let mut accepted = Vec::new();
        for (r, reply) in recipients.iter().zip(&replies[1..]) {
            if reply.is_positive() {
                accepted.push(r.clone());
            } else {
                results.push((r.clone(), outcome(reply)));
            }
        }
        if accepted.is_empty() {
            self.command("RSET\r\n", "RSET").await?;
            return Ok(results);
        }
        let go = self.command("DATA\r\n", "DATA").await?;
        if go.code != 354 {
            let o = outcome(&go);
            let o = if matches!(o, Outcome::Delivered { .. }) {
                Outcome::Deferred {
                    reply: go.summary(),
                }
            } else {
                o
            };
            results.extend(accepted.into_iter().map(|r| (r, o.clone())));
            self.command("RSET\r\n", "RSET").await?;
            return Ok(results);
        }
        self.data_in_flight = true;
        self.write(&dot_stuff(body), "message data").await?;
        let done = self.read_reply("end of data").await?;
        self.data_in_flight = false;
        self.messages_sent += 1;
        self.last_used = Instant::now();
        let o = outcome(&done);
        results.extend(accepted.into_iter().map(|r| (r, o.clone())));
        Ok(results)
    }

    /// Ends the session politely; errors do not matter any more.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = self.stream.write_all(b"QUIT\r\n").await;
            let _ = self.stream.flush().await;
            let _ = Reply::read(&mut self.stream).await;
            let _ = self.stream.shutdown().await;
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff(b"a\r\n.b\r\n..\r\n"), b"a\r\n..b\r\n...\r\n.\r\n");
        assert_eq!(dot_stuff(b".x"), b"..x\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
    }
}
