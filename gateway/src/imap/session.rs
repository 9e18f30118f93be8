//! One local IMAP connection: the box authenticates the client itself
//! (local account, after TLS), then opens an upstream session in the
//! practitioner's name and relays the conversation, hiding what must not
//! pass (STARTTLS, AUTH=, LOGINDISABLED: the client deals with the box, not
//! with the operator).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf,
    WriteHalf,
};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::ImapContext;
use super::command::{Parsed, ReadError, parse, read_command};

/// How often a relayed session checks that the credential is still there.
const CREDENTIAL_CHECK: Duration = Duration::from_secs(2);

/// A client connection, split so a command can be read while
/// continuation requests are written.
struct Conn<S> {
    r: BufReader<ReadHalf<S>>,
    w: WriteHalf<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(stream: S) -> Conn<S> {
        let (r, w) = tokio::io::split(stream);
        Conn {
            r: BufReader::new(r),
            w,
        }
    }

    async fn send(&mut self, text: &str) -> std::io::Result<()> {
        self.w.write_all(text.as_bytes()).await?;
        self.w.write_all(b"\r\n").await?;
        self.w.flush().await
    }

    async fn command(&mut self) -> Result<zeroize::Zeroizing<Vec<u8>>, ReadError> {
        read_command(&mut self.r, &mut self.w).await
    }
}

enum PreAuth<S> {
    /// STARTTLS accepted: continue on TLS.
    StartTls(S),
    /// Logged in locally: the connection, the LOGIN's tag, the user.
    LoggedIn(Conn<S>, String, String),
    Done,
}

/// Runs a connection on the STARTTLS port (`implicit = false`) or the
/// implicit TLS port.
pub async fn run(
    socket: TcpStream,
    context: Arc<ImapContext>,
    implicit: bool,
    shutdown: CancellationToken,
) {
    let (tls_socket, greet) = if implicit {
        (socket, true)
    } else {
        match pre_auth(Conn::new(socket), &context, false, true, &shutdown).await {
            PreAuth::StartTls(tcp) => (tcp, false),
            _ => return,
        }
    };
    let tls = match context.tls.accept(tls_socket).await {
        Ok(tls) => tls,
        Err(e) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            return;
        }
    };
    // After STARTTLS there is no new greeting (RFC 9051 §6.2.1).
    let mut state = pre_auth(Conn::new(tls), &context, true, greet, &shutdown).await;
    // A login refused for want of the card or of an upstream session
    // leaves the client connected, free to try again or log out.
    while let PreAuth::LoggedIn(conn, tag, user) = state {
        match relay(conn, tag, user, context.clone(), shutdown.clone()).await {
            Some(conn) => state = pre_auth(conn, &context, true, false, &shutdown).await,
            None => break,
        }
    }
}

fn capabilities(tls_active: bool) -> &'static str {
    if tls_active {
        "IMAP4rev1 AUTH=PLAIN SASL-IR ID LITERAL+"
    } else {
        "IMAP4rev1 STARTTLS LOGINDISABLED LITERAL+"
    }
}

/// Before login: CAPABILITY, NOOP, LOGOUT, ID; STARTTLS in clear; LOGIN
/// and AUTHENTICATE PLAIN only inside TLS.
async fn pre_auth<S: AsyncRead + AsyncWrite + Unpin>(
    mut conn: Conn<S>,
    context: &ImapContext,
    tls_active: bool,
    greet: bool,
    shutdown: &CancellationToken,
) -> PreAuth<S> {
    // Implicit TLS connections and plain ones get a greeting; a session
    // that just did STARTTLS does not.
    if greet {
        let greeting = format!(
            "* OK [CAPABILITY {}] {} Facteur IMAP ready",
            capabilities(tls_active),
            context.hostname
        );
        if conn.send(&greeting).await.is_err() {
            return PreAuth::Done;
        }
    }
    let mut failures = 0;
    loop {
        let command = tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = conn.send("* BYE The box is shutting down").await;
                return PreAuth::Done;
            }
            c = tokio::time::timeout(context.login_timeout, conn.command()) => c,
        };
        let Ok(Ok(command)) = command else {
            return PreAuth::Done;
        };
        let Some(Parsed { tag, name, args }) = parse(&command) else {
            let _ = conn.send("* BAD Missing tag").await;
            continue;
        };
        let reply = match (name.as_str(), tls_active) {
            ("CAPABILITY", _) => {
                format!("* CAPABILITY {}\r\n{tag} OK Done", capabilities(tls_active))
            }
            ("NOOP", _) => format!("{tag} OK Done"),
            ("ID", _) => format!("* ID (\"name\" \"Facteur\")\r\n{tag} OK Done"),
            ("LOGOUT", _) => {
                let _ = conn.send(&format!("* BYE Bye\r\n{tag} OK Done")).await;
                return PreAuth::Done;
            }
            ("STARTTLS", false) => {
                if conn.send(&format!("{tag} OK Begin TLS")).await.is_err() {
                    return PreAuth::Done;
                }
                // A client that pipelined commands after STARTTLS would
                // have them run inside TLS: refuse (command injection).
                if !conn.r.buffer().is_empty() {
                    return PreAuth::Done;
                }
                return PreAuth::StartTls(conn.r.into_inner().unsplit(conn.w));
            }
            ("STARTTLS", true) => format!("{tag} BAD TLS is already active"),
            ("LOGIN" | "AUTHENTICATE", false) => format!(
                "{tag} NO [PRIVACYREQUIRED] Use STARTTLS first: passwords never travel in clear"
            ),
            ("LOGIN", true) => match (args.first(), args.get(1)) {
                (Some(user), Some(password)) => {
                    let user = String::from_utf8_lossy(user).into_owned();
                    if context.accounts.verify(&user, password).await {
                        return PreAuth::LoggedIn(conn, tag, user);
                    }
                    failures += 1;
                    format!("{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
                }
                _ => format!("{tag} BAD LOGIN user password"),
            },
            ("AUTHENTICATE", true) => {
                let mechanism = args
                    .first()
                    .map(|m| String::from_utf8_lossy(m).to_ascii_uppercase())
                    .unwrap_or_default();
                if mechanism != "PLAIN" {
                    format!("{tag} NO [CANNOT] Only AUTHENTICATE PLAIN")
                } else {
                    let response = match args.get(1) {
                        Some(initial) => Some(initial.clone()),
                        None => {
                            if conn.send("+ ").await.is_err() {
                                return PreAuth::Done;
                            }
                            let mut line = zeroize::Zeroizing::new(Vec::new());
                            match (&mut conn.r).take(8192).read_until(b'\n', &mut line).await {
                                Ok(n) if n > 0 => {
                                    Some(zeroize::Zeroizing::new(line.trim_ascii_end().to_vec()))
                                }
                                _ => return PreAuth::Done,
                            }
                        }
                    };
                    match response.as_ref().and_then(|r| decode_plain(r)) {
                        Some((user, password)) => {
                            if context.accounts.verify(&user, &password).await {
                                return PreAuth::LoggedIn(conn, tag, user);
                            }
                            failures += 1;
                            format!("{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
                        }
                        _ => format!("{tag} BAD Malformed PLAIN response"),
                    }
                }
            }
            _ => format!("{tag} BAD Log in first"),
        };
        if conn.send(&reply).await.is_err() || failures >= 3 {
            if failures >= 3 {
                let _ = conn.send("* BYE Too many failed logins").await;
            }
            return PreAuth::Done;
        }
    }
}

/// SASL PLAIN: base64 of `authzid NUL user NUL password`.
fn decode_plain(response: &[u8]) -> Option<(String, zeroize::Zeroizing<Vec<u8>>)> {
    let raw = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(response)
            .ok()?,
    );
    let mut parts = raw.split(|b| *b == 0);
    let _authzid = parts.next()?;
    let user = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let password = zeroize::Zeroizing::new(parts.next()?.to_vec());
    if parts.next().is_some() || user.is_empty() {
        return None;
    }
    Some((user, password))
}

/// Logged in locally: open the upstream session, then relay both ways.
/// Gives the connection back when the login cannot go through.
async fn relay<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    mut conn: Conn<S>,
    tag: String,
    user: String,
    context: Arc<ImapContext>,
    shutdown: CancellationToken,
) -> Option<Conn<S>> {
    if let Err(reason) = context.credential.availability() {
        tracing::info!(user = %user, "login refused: credential unavailable");
        let sent = conn
            .send(&format!(
                "{tag} NO [UNAVAILABLE] Messagerie MSSanté indisponible : {reason}"
            ))
            .await;
        return sent.ok().map(|_| conn);
    }
    let permit = match tokio::time::timeout(
        context.upstream_wait,
        context.upstream.permits.clone().acquire_owned(),
    )
    .await
    {
        Ok(Ok(p)) => p,
        _ => {
            let sent = conn
                .send(&format!(
                    "{tag} NO [UNAVAILABLE] Trop de connexions à la messagerie MSSanté, réessayez dans un instant"
                ))
                .await;
            return sent.ok().map(|_| conn);
        }
    };
    let opened = match context.upstream.open().await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "upstream IMAP session failed");
            let sent = conn
                .send(&format!(
                    "{tag} NO [UNAVAILABLE] Messagerie MSSanté injoignable : {e}"
                ))
                .await;
            return sent.ok().map(|_| conn);
        }
    };
    let caps = filter_capabilities(&opened.capabilities.join(" "));
    tracing::info!(user = %user, "logged in; relaying to the operator");
    if conn
        .send(&format!("{tag} OK [CAPABILITY {caps}] Logged in"))
        .await
        .is_err()
    {
        return None;
    }
    let Conn {
        r: client_r,
        w: mut client_w,
    } = conn;
    let (up_r, mut up_w) = tokio::io::split(opened.stream);
    let mut up_r = BufReader::new(up_r);
    // Anything the client already sent after LOGIN is in its buffer.
    let mut client_r = client_r;
    let idle = context.idle_timeout;
    let to_upstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match tokio::time::timeout(idle, client_r.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return "client closed",
                Err(_) => return "client idle too long",
                Ok(Ok(n)) => n,
            };
            if up_w.write_all(&buf[..n]).await.is_err() || up_w.flush().await.is_err() {
                return "operator closed";
            }
        }
    };
    let to_client = async {
        loop {
            match relay_response(&mut up_r, &mut client_w).await {
                Ok(true) => {}
                Ok(false) => return "operator closed",
                Err(_) => return "client closed",
            }
        }
    };
    let credential_watch = async {
        loop {
            tokio::time::sleep(CREDENTIAL_CHECK).await;
            if context.credential.availability().is_err() {
                return "credential unavailable";
            }
        }
    };
    let ended = tokio::select! {
        r = to_upstream => r,
        r = to_client => r,
        r = credential_watch => r,
        _ = shutdown.cancelled() => "shutdown",
    };
    tracing::info!(user = %user, reason = ended, "IMAP session ended");
    if ended == "credential unavailable" {
        // The card was taken out, or the Pro Santé Connect session ended:
        // the box stops acting in the practitioner's name.
        let bye = match context.credential.psc() {
            Some(_) => {
                "* BYE Session Pro Santé Connect terminée : la messagerie MSSanté est fermée\r\n"
            }
            None => "* BYE Carte CPS retirée : la messagerie MSSanté est fermée\r\n",
        };
        let _ = client_w.write_all(bye.as_bytes()).await;
    }
    drop(permit);
    None
}

/// Copies one server response line (with any literals it announces) to
/// the client, filtering capabilities. `Ok(false)`: the operator closed.
async fn relay_response<R, W>(up: &mut BufReader<R>, client: &mut W) -> std::io::Result<bool>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut line = Vec::new();
    let n = (&mut *up)
        .take(64 * 1024)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Ok(false);
    }
    let out = filter_line(&line);
    client.write_all(&out).await?;
    if let Some(len) = literal_len(&line) {
        let mut literal = (&mut *up).take(len as u64);
        let copied = tokio::io::copy(&mut literal, client).await?;
        if copied < len as u64 {
            return Ok(false);
        }
    }
    if up.buffer().is_empty() {
        client.flush().await?;
    }
    Ok(true)
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|b| *b == b'{')?;
    let digits = inner[open + 1..]
        .strip_suffix(b"+")
        .unwrap_or(&inner[open + 1..]);
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Removes from a capability list what concerns the operator's login,
/// not the client's session with the box.
pub fn filter_capabilities(list: &str) -> String {
    list.split_whitespace()
        .filter(|c| {
            let u = c.to_ascii_uppercase();
            !(u == "STARTTLS"
                || u == "LOGINDISABLED"
                || u.starts_with("AUTH=")
                || u == "SASL-IR"
                || u == "LOGIN-REFERRALS")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Filters `* CAPABILITY ...` lines and `[CAPABILITY ...]` response codes.
fn filter_line(line: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(line) else {
        return line.to_vec();
    };
    let upper = text.to_ascii_uppercase();
    if let Some(rest) = upper.strip_prefix("* CAPABILITY ") {
        let _ = rest;
        let list = &text["* CAPABILITY ".len()..];
        return format!("* CAPABILITY {}\r\n", filter_capabilities(list.trim_end())).into_bytes();
    }
    if let Some(start) = upper.find("[CAPABILITY ")
        && let Some(end) = upper[start..].find(']')
    {
        let list = &text[start + "[CAPABILITY ".len()..start + end];
        let mut out = String::with_capacity(text.len());
        out.push_str(&text[..start]);
        out.push_str("[CAPABILITY ");
        out.push_str(&filter_capabilities(list));
        out.push_str(&text[start + end..]);
        return out.into_bytes();
    }
    line.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_of_the_operator_login_are_hidden() {
        assert_eq!(
            filter_capabilities(
                "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE STARTTLS AUTH=EXTERNAL AUTH=PLAIN LOGINDISABLED"
            ),
            "IMAP4rev1 ID ENABLE IDLE"
        );
        assert_eq!(
            filter_line(b"* CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN\r\n"),
            b"* CAPABILITY IMAP4rev1 IDLE\r\n"
        );
        assert_eq!(
            filter_line(b"a1 OK [CAPABILITY IMAP4rev1 STARTTLS IDLE] Logged in\r\n"),
            b"a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"
        );
        assert_eq!(filter_line(b"* 3 EXISTS\r\n"), b"* 3 EXISTS\r\n");
    }

    #[test]
    fn literals_are_recognised() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {342}\r\n"), Some(342));
        assert_eq!(literal_len(b"* 1 FETCH (FLAGS (\\Seen))\r\n"), None);
        assert_eq!(literal_len(b"* OK {abc}\r\n"), None);
    }

    #[tokio::test]
    async fn literal_bodies_pass_untouched() {
        // A message body that itself contains a capability line.
        let body = b"* CAPABILITY STARTTLS\r\n";
        let mut upstream = Vec::new();
        upstream.extend_from_slice(format!("* 1 FETCH (BODY[] {{{}}}\r\n", body.len()).as_bytes());
        upstream.extend_from_slice(body);
        upstream.extend_from_slice(b")\r\n");
        let mut reader = BufReader::new(&upstream[..]);
        let mut out = Vec::new();
        while relay_response(&mut reader, &mut out).await.unwrap() {}
        assert_eq!(out, upstream);
    }

    #[test]
    fn plain_responses() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(b"\0secretariat\0mot de passe");
        let (user, password) = decode_plain(b64.as_bytes()).unwrap();
        assert_eq!(user, "secretariat");
        assert_eq!(&password[..], b"mot de passe");
        assert!(decode_plain(b"!!!").is_none());
        let b64 = base64::engine::general_purpose::STANDARD.encode(b"\0\0x");
        assert!(decode_plain(b64.as_bytes()).is_none());
    }
}
