//! Opening an authenticated IMAP connection to the operator for a local
//! client: mutual TLS with the credential, then AUTHENTICATE EXTERNAL; or,
//! with Pro Santé Connect, TLS then AUTHENTICATE XOAUTH2 (OAUTHBEARER).

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::UpstreamTls;

pub type UpstreamStream = BufReader<TlsStream<TcpStream>>;

/// Where and how to reach the operator's IMAP server.
pub struct UpstreamImap {
    pub host: String,
    pub port: u16,
    pub tls: UpstreamTls,
    pub server_name: Option<String>,
    pub client_tls: Arc<ClientConfig>,
    pub timeout: Duration,
    /// Upstream sessions open at once (each one is in the practitioner's name).
    pub permits: Arc<Semaphore>,
    /// Pro Santé Connect: the session giving access tokens, and the
    /// mailbox to log in as.
    pub bearer: Option<(Arc<crate::psc::PscSession>, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach the operator's IMAP server: {0}")]
    Io(#[from] std::io::Error),
    #[error("the operator's IMAP server did not answer in time")]
    Timeout,
    #[error("the operator's IMAP server answered: {0}")]
    Refused(String),
    #[error("{0}")]
    Login(#[from] crate::psc::PscError),
    #[error("the operator's IMAP server refused the Pro Santé Connect token: {0}")]
    TokenRefused(String),
}

/// An authenticated connection and the server's capabilities after login.
pub struct Opened {
    pub stream: UpstreamStream,
    pub capabilities: Vec<String>,
}

const MAX_LINE: u64 = 16 * 1024;

async fn read_line<S: AsyncRead + Unpin>(
    stream: &mut BufReader<S>,
) -> Result<String, UpstreamError> {
    let mut line = Vec::new();
    let n = (&mut *stream)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Err(UpstreamError::Refused("connection closed".into()));
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

/// Reads until the tagged answer to `tag`; returns (untagged lines, tagged line).
async fn until_tagged<S: AsyncRead + Unpin>(
    stream: &mut BufReader<S>,
    tag: &str,
) -> Result<(Vec<String>, String), UpstreamError> {
    let mut untagged = Vec::new();
    loop {
        let line = read_line(stream).await?;
        if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            return Ok((untagged, rest.to_string()));
        }
        untagged.push(line);
    }
}

/// AUTHENTICATE EXTERNAL: the certificate is the identity.
async fn external_login(stream: &mut UpstreamStream) -> Result<(), UpstreamError> {
    stream
        .get_mut()
        .write_all(b"f2 AUTHENTICATE EXTERNAL\r\n")
        .await?;
    stream.get_mut().flush().await?;
    let first = read_line(stream).await?;
    if first.starts_with('+') {
        // Empty response: the certificate is the identity.
        stream.get_mut().write_all(b"\r\n").await?;
        stream.get_mut().flush().await?;
        let (_, tagged) = until_tagged(stream, "f2").await?;
        ok(&tagged)
    } else if let Some(rest) = first.strip_prefix("f2 ") {
        ok(rest)
    } else {
        let (_, tagged) = until_tagged(stream, "f2").await?;
        ok(&tagged)
    }
}

/// AUTHENTICATE XOAUTH2 (or OAUTHBEARER) with the session's access token,
/// in the command itself when the server takes SASL-IR.
async fn bearer_login(
    stream: &mut UpstreamStream,
    psc: &Arc<crate::psc::PscSession>,
    user: &str,
) -> Result<(), UpstreamError> {
    use crate::psc::sasl::{Mechanism, describe_challenge};
    stream.get_mut().write_all(b"f2 CAPABILITY\r\n").await?;
    stream.get_mut().flush().await?;
    let (untagged, tagged) = until_tagged(stream, "f2").await?;
    ok(&tagged)?;
    let capabilities: Vec<String> = untagged
        .iter()
        .filter_map(|l| l.strip_prefix("* CAPABILITY "))
        .flat_map(|l| l.split_whitespace().map(str::to_ascii_uppercase))
        .collect();
    let mechanism = Mechanism::choose(capabilities.iter().filter_map(|c| c.strip_prefix("AUTH=")))
        .ok_or_else(|| {
            UpstreamError::Refused("the server offers neither XOAUTH2 nor OAUTHBEARER".into())
        })?;
    let token = psc.access_token().await?;
    let response = mechanism.initial_response_base64(user, &token);
    if capabilities.iter().any(|c| c == "SASL-IR") {
        let line = zeroize::Zeroizing::new(format!(
            "f4 AUTHENTICATE {} {}\r\n",
            mechanism.name(),
            response.as_str()
        ));
        stream.get_mut().write_all(line.as_bytes()).await?;
    } else {
        stream
            .get_mut()
            .write_all(format!("f4 AUTHENTICATE {}\r\n", mechanism.name()).as_bytes())
            .await?;
        stream.get_mut().flush().await?;
        let go = read_line(stream).await?;
        if !go.starts_with('+') {
            return Err(UpstreamError::Refused(go));
        }
        let line = zeroize::Zeroizing::new(format!("{}\r\n", response.as_str()));
        stream.get_mut().write_all(line.as_bytes()).await?;
    }
    stream.get_mut().flush().await?;
    let answer = read_line(stream).await?;
    if let Some(challenge) = answer.strip_prefix('+') {
        // The error challenge; answered so the server sends its NO.
        let detail = describe_challenge(challenge).unwrap_or_else(|| "no reason given".into());
        use base64::Engine;
        let abort = base64::engine::general_purpose::STANDARD.encode(mechanism.abort_response());
        stream
            .get_mut()
            .write_all(format!("{abort}\r\n").as_bytes())
            .await?;
        stream.get_mut().flush().await?;
        let (_, tagged) = until_tagged(stream, "f4").await?;
        let detail = format!("{detail}; {tagged}");
        psc.token_refused(&detail);
        return Err(UpstreamError::TokenRefused(detail));
    }
    let tagged = match answer.strip_prefix("f4 ") {
        Some(rest) => rest.to_string(),
        None => until_tagged(stream, "f4").await?.1,
    };
    if ok(&tagged).is_err() {
        // Only an authentication failure says the token is bad; a
        // temporary refusal (the operator could not check it) does not.
        if tagged
            .to_ascii_uppercase()
            .contains("[AUTHENTICATIONFAILED]")
        {
            psc.token_refused(&tagged);
            return Err(UpstreamError::TokenRefused(tagged));
        }
        return Err(UpstreamError::Refused(tagged));
    }
    Ok(())
}

fn ok(tagged: &str) -> Result<(), UpstreamError> {
    if tagged.to_ascii_uppercase().starts_with("OK") {
        Ok(())
    } else {
        Err(UpstreamError::Refused(tagged.to_string()))
    }
}

impl UpstreamImap {
    pub async fn open(&self) -> Result<Opened, UpstreamError> {
        tokio::time::timeout(self.timeout, self.open_inner())
            .await
            .map_err(|_| UpstreamError::Timeout)?
    }

    async fn open_inner(&self) -> Result<Opened, UpstreamError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true).ok();
        let name = self
            .server_name
            .clone()
            .unwrap_or_else(|| self.host.clone());
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| UpstreamError::Refused(format!("not a server name: {name}")))?;
        let connector = TlsConnector::from(self.client_tls.clone());
        let mut stream = match self.tls {
            UpstreamTls::Starttls => {
                let mut plain = BufReader::new(tcp);
                let greeting = read_line(&mut plain).await?;
                if !greeting.starts_with("* OK") {
                    return Err(UpstreamError::Refused(greeting));
                }
                plain.get_mut().write_all(b"f1 STARTTLS\r\n").await?;
                let (_, tagged) = until_tagged(&mut plain, "f1").await?;
                ok(&tagged)?;
                // Anything already buffered was sent before TLS: refuse it
                // (STARTTLS command injection).
                if !plain.buffer().is_empty() {
                    return Err(UpstreamError::Refused("data after STARTTLS".into()));
                }
                BufReader::new(connector.connect(server_name, plain.into_inner()).await?)
            }
            UpstreamTls::Implicit => {
                let mut tls = BufReader::new(connector.connect(server_name, tcp).await?);
                let greeting = read_line(&mut tls).await?;
                if !greeting.starts_with("* OK") {
                    return Err(UpstreamError::Refused(greeting));
                }
                tls
            }
        };
        match &self.bearer {
            Some((psc, user)) => bearer_login(&mut stream, psc, user).await?,
            None => external_login(&mut stream).await?,
        }
        stream.get_mut().write_all(b"f3 CAPABILITY\r\n").await?;
        stream.get_mut().flush().await?;
        let (untagged, tagged) = until_tagged(&mut stream, "f3").await?;
        ok(&tagged)?;
        let capabilities = untagged
            .iter()
            .filter_map(|l| l.strip_prefix("* CAPABILITY "))
            .flat_map(|l| l.split_whitespace().map(str::to_string))
            .collect();
        Ok(Opened {
            stream,
            capabilities,
        })
    }
}
