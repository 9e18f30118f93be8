//! One SMTP submission session: the command state machine.
//!
//! Input is parsed with `smtp-proto` (commands, dot-unstuffing); replies are
//! collected and written when the client's pipelined batch is consumed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::SmtpContext;
use crate::address::Address;
use crate::queue::prepare::{Submission, prepare};
use crate::queue::{Envelope, QueueId};

/// Wrong passwords allowed before the connection is closed.
const MAX_AUTH_FAILURES: u32 = 3;
/// Unknown or out-of-order commands allowed before the connection is closed.
const MAX_ERRORS: u32 = 20;

enum Input {
    Command,
    /// DATA in progress: the receiver, and whether the size limit was hit.
    Data(DataReceiver, bool),
    /// Waiting for a SASL response line.
    Auth(AuthStep),
}

enum AuthStep {
    Plain,
    LoginUser,
    LoginPassword(String),
}

struct Transaction {
    sender: String,
    recipients: Vec<String>,
}

struct State {
    peer: SocketAddr,
    helo: Option<String>,
    tls: bool,
    user: Option<String>,
    trusted: bool,
    auth_failures: u32,
    errors: u32,
    transaction: Option<Transaction>,
    message: Vec<u8>,
    input: Input,
    out: Vec<u8>,
    quit: bool,
}

/// What a pass over the input asked of the connection.
enum Next {
    Continue,
    StartTls,
    Close,
}

pub async fn run(
    socket: TcpStream,
    peer: SocketAddr,
    context: Arc<SmtpContext>,
    shutdown: CancellationToken,
) {
    let deadline = Instant::now() + context.session_timeout;
    let mut state = State {
        peer,
        helo: None,
        tls: false,
        user: None,
        trusted: context.is_trusted(peer.ip()),
        auth_failures: 0,
        errors: 0,
        transaction: None,
        message: Vec::new(),
        input: Input::Command,
        out: format!("220 {} ESMTP Facteur\r\n", context.hostname).into_bytes(),
        quit: false,
    };
    tracing::debug!("connected");
    let mut plain = socket;
    match converse(&mut plain, &mut state, &context, deadline, &shutdown).await {
        Next::StartTls => {
            let tls = match context.tls.accept(plain).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::info!(error = %e, "TLS handshake with local client failed");
                    return;
                }
            };
            state.tls = true;
            // RFC 3207: forget everything learnt before TLS.
            state.helo = None;
            state.transaction = None;
            let mut tls = tls;
            converse(&mut tls, &mut state, &context, deadline, &shutdown).await;
            let _ = tls.shutdown().await;
        }
        Next::Close | Next::Continue => {
            let _ = plain.shutdown().await;
        }
    }
    tracing::debug!("disconnected");
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    state: &mut State,
    context: &SmtpContext,
    deadline: Instant,
    shutdown: &CancellationToken,
) -> Next {
    let mut commands = RequestReceiver::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !state.out.is_empty() {
            if stream.write_all(&state.out).await.is_err() || stream.flush().await.is_err() {
                return Next::Close;
            }
            state.out.clear();
        }
        if state.quit {
            return Next::Close;
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = stream
                .write_all(b"421 4.4.2 Session time limit reached, closing\r\n")
                .await;
            return Next::Close;
        }
        let wait = context.idle_timeout.min(deadline - now);
        let read = tokio::select! {
            _ = shutdown.cancelled(), if matches!(state.input, Input::Command) => {
                let _ = stream.write_all(b"421 4.3.2 Service shutting down\r\n").await;
                return Next::Close;
            }
            read = tokio::time::timeout(wait, stream.read(&mut buf)) => read,
        };
        let n = match read {
            Err(_) => {
                let text: &[u8] = if Instant::now() >= deadline {
                    b"421 4.4.2 Session time limit reached, closing\r\n"
                } else {
                    b"421 4.4.2 Idle timeout, closing\r\n"
                };
                let _ = stream.write_all(text).await;
                return Next::Close;
            }
            Ok(Err(_)) | Ok(Ok(0)) => return Next::Close,
            Ok(Ok(n)) => n,
        };
        let mut input = buf[..n].iter();
        match process(&mut input, &mut commands, state, context).await {
            Next::Continue => {}
            Next::Close => {
                let _ = stream.write_all(&state.out).await;
                let _ = stream.flush().await;
                return Next::Close;
            }
            Next::StartTls => {
                let _ = stream.write_all(&state.out).await;
                let _ = stream.flush().await;
                state.out.clear();
                // Anything pipelined after STARTTLS was sent in clear and
                // must not be taken as if it came over TLS.
                if input.len() > 0 {
                    tracing::warn!("client pipelined data after STARTTLS; closing");
                    return Next::Close;
                }
                return Next::StartTls;
            }
        }
    }
}

fn reply(state: &mut State, text: &str) {
    state.out.extend_from_slice(text.as_bytes());
    state.out.extend_from_slice(b"\r\n");
}

async fn process(
    input: &mut std::slice::Iter<'_, u8>,
    commands: &mut RequestReceiver,
    state: &mut State,
    context: &SmtpContext,
) -> Next {
    loop {
        match &mut state.input {
            Input::Data(receiver, too_big) => {
                let done = receiver.ingest(input, &mut state.message);
                if state.message.len() > context.max_message_size {
                    // Keep reading to the end of the data, but not storing.
                    *too_big = true;
                    state.message.clear();
                }
                if !done {
                    return Next::Continue;
                }
                let too_big = *too_big;
                state.input = Input::Command;
                finish_data(state, context, too_big).await;
            }
            Input::Auth(_) => {
                let Some(line) = take_line(input, commands) else {
                    return Next::Continue;
                };
                let Input::Auth(step) = std::mem::replace(&mut state.input, Input::Command) else {
                    continue;
                };
                if let Some(next) = auth_response(state, context, step, &line).await {
                    return next;
                }
            }
            Input::Command => {
                if input.len() == 0 {
                    return Next::Continue;
                }
                let request = match commands.ingest(input) {
                    Ok(request) => request.into_owned(),
                    Err(smtp_proto::Error::NeedsMoreData { .. }) => return Next::Continue,
                    Err(e) => {
                        if let Some(next) = syntax_error(state, e) {
                            return next;
                        }
                        continue;
                    }
                };
                if let Some(next) = command(state, context, request).await {
                    return next;
                }
            }
        }
    }
}

/// Collects one line for a SASL exchange (smtp-proto parses commands, not
/// free lines). The line buffer is the command receiver's own.
fn take_line(
    input: &mut std::slice::Iter<'_, u8>,
    commands: &mut RequestReceiver,
) -> Option<String> {
    let buffer = commands.buf();
    for &b in input.by_ref() {
        if b == b'\n' {
            let line = String::from_utf8_lossy(buffer)
                .trim_end_matches('\r')
                .to_string();
            buffer.clear();
            return Some(line);
        }
        if buffer.len() < 4096 {
            buffer.push(b);
        }
    }
    None
}

fn syntax_error(state: &mut State, error: smtp_proto::Error) -> Option<Next> {
    state.errors += 1;
    let text = match error {
        smtp_proto::Error::UnknownCommand => "500 5.5.2 Command not recognized",
        smtp_proto::Error::InvalidSenderAddress => "501 5.1.7 Bad sender address syntax",
        smtp_proto::Error::InvalidRecipientAddress => "501 5.1.3 Bad recipient address syntax",
        smtp_proto::Error::ResponseTooLong => "500 5.5.6 Line too long",
        smtp_proto::Error::InvalidParameter { .. }
        | smtp_proto::Error::UnsupportedParameter { .. } => {
            "555 5.5.4 Unsupported or invalid parameter"
        }
        _ => "501 5.5.4 Syntax error",
    };
    reply(state, text);
    too_many_errors(state)
}

fn too_many_errors(state: &mut State) -> Option<Next> {
    if state.errors >= MAX_ERRORS {
        reply(state, "421 4.7.0 Too many errors, closing");
        return Some(Next::Close);
    }
    None
}

async fn command(
    state: &mut State,
    context: &SmtpContext,
    request: Request<String>,
) -> Option<Next> {
    match request {
        Request::Ehlo { host } => {
            state.helo = Some(host);
            state.transaction = None;
            let mut lines = vec![
                context.hostname.clone(),
                "PIPELINING".to_string(),
                format!("SIZE {}", context.max_message_size),
                "8BITMIME".to_string(),
                "ENHANCEDSTATUSCODES".to_string(),
            ];
            // AUTH is only offered once the password cannot be read off the
            // wire; before that, STARTTLS is the way forward.
            lines.push(
                if state.tls {
                    "AUTH PLAIN LOGIN"
                } else {
                    "STARTTLS"
                }
                .to_string(),
            );
            let text = multiline(250, &lines);
            reply(state, &text);
        }
        Request::Helo { host } => {
            state.helo = Some(host);
            state.transaction = None;
            reply(state, &format!("250 {}", context.hostname));
        }
        Request::StartTls => {
            if state.tls {
                reply(state, "503 5.5.1 TLS already active");
            } else {
                reply(state, "220 2.0.0 Ready to start TLS");
                return Some(Next::StartTls);
            }
        }
        Request::Auth {
            mechanism,
            initial_response,
        } => {
            if !state.tls {
                reply(
                    state,
                    "538 5.7.11 Encryption required for requested authentication mechanism",
                );
            } else if state.user.is_some() {
                reply(state, "503 5.5.1 Already authenticated");
            } else if state.transaction.is_some() {
                reply(
                    state,
                    "503 5.5.1 AUTH not allowed during a mail transaction",
                );
            } else if mechanism == AUTH_PLAIN {
                if initial_response.is_empty() {
                    reply(state, "334 ");
                    state.input = Input::Auth(AuthStep::Plain);
                } else {
                    return auth_response(state, context, AuthStep::Plain, &initial_response).await;
                }
            } else if mechanism == AUTH_LOGIN {
                if initial_response.is_empty() {
                    reply(state, "334 VXNlcm5hbWU6");
                    state.input = Input::Auth(AuthStep::LoginUser);
                } else {
                    return auth_response(state, context, AuthStep::LoginUser, &initial_response)
                        .await;
                }
            } else {
                reply(
                    state,
                    "504 5.5.4 Mechanism not supported; use PLAIN or LOGIN",
                );
            }
        }
        Request::Mail { from } => {
            if state.helo.is_none() {
                reply(state, "503 5.5.1 Send EHLO first");
            } else if state.transaction.is_some() {
                reply(state, "503 5.5.1 Sender already given");
            } else if state.user.is_none() && !state.trusted {
                reply(
                    state,
                    if state.tls {
                        "530 5.7.0 Authentication required"
                    } else {
                        "530 5.7.0 Must issue a STARTTLS command first, then authenticate"
                    },
                );
            } else if from.size > context.max_message_size {
                reply(
                    state,
                    &format!(
                        "552 5.3.4 Message too big: this box accepts at most {} bytes",
                        context.max_message_size
                    ),
                );
            } else if !from.address.is_empty() && Address::parse(&from.address).is_none() {
                reply(state, "501 5.1.7 Bad sender address syntax");
            } else {
                state.transaction = Some(Transaction {
                    sender: from.address,
                    recipients: Vec::new(),
                });
                reply(state, "250 2.1.0 Sender ok");
            }
        }
        Request::Rcpt { to } => {
            let Some(transaction) = state.transaction.as_mut() else {
                reply(state, "503 5.5.1 Need MAIL command first");
                state.errors += 1;
                return too_many_errors(state);
            };
            let text = match Address::parse(&to.address) {
                None => "501 5.1.3 Bad recipient address syntax".to_string(),
                Some(_) if transaction.recipients.len() >= context.max_recipients => {
                    format!(
                        "452 4.5.3 Too many recipients: at most {} per message",
                        context.max_recipients
                    )
                }
                Some(address) if !context.whitelist.contains(address.domain()) => {
                    tracing::info!(domain = %address.domain(), "recipient refused: not in the MSSanté trust space");
                    format!(
                        "550 5.7.1 <{}>: domain {} is not in the MSSante trust space; health data is only sent to MSSante addresses (domaine hors espace de confiance MSSante)",
                        to.address,
                        address.domain()
                    )
                }
                Some(address) => {
                    let address = address.to_string();
                    if !transaction.recipients.contains(&address) {
                        transaction.recipients.push(address.clone());
                    }
                    if context.listed_in_directory(&address).await == Some(false) {
                        // Accepted (the directory lags behind new
                        // mailboxes), but the sender is told.
                        tracing::info!("recipient not found in the health directory");
                        "250 2.1.5 Recipient ok, but not found in the health directory: check the address (adresse absente de l'annuaire sante)".to_string()
                    } else {
                        "250 2.1.5 Recipient ok".to_string()
                    }
                }
            };
            reply(state, &text);
        }
        Request::Data => {
            match &state.transaction {
                None => reply(state, "503 5.5.1 Need MAIL command first"),
                Some(t) if t.recipients.is_empty() => reply(state, "554 5.5.1 No valid recipients"),
                Some(_) => {
                    reply(state, "354 End data with <CR><LF>.<CR><LF>");
                    let mut receiver = DataReceiver::new();
                    // The receiver only recognises "." after a CRLF; DATA's
                    // own CRLF precedes the first line, so prime it with one.
                    let mut primer = Vec::new();
                    receiver.ingest(&mut b"\r\n".iter(), &mut primer);
                    state.message.clear();
                    state.input = Input::Data(receiver, false);
                }
            }
        }
        Request::Bdat { .. } => reply(state, "502 5.5.1 CHUNKING not supported"),
        Request::Rset => {
            state.transaction = None;
            reply(state, "250 2.0.0 Ok");
        }
        Request::Noop { .. } => reply(state, "250 2.0.0 Ok"),
        Request::Quit => {
            reply(state, "221 2.0.0 Bye");
            state.quit = true;
            return Some(Next::Close);
        }
        Request::Vrfy { .. } => reply(state, "252 2.5.2 Cannot verify, but will try to deliver"),
        Request::Help { .. } => reply(state, "214 2.0.0 See RFC 5321"),
        _ => {
            state.errors += 1;
            reply(state, "502 5.5.1 Command not implemented");
            return too_many_errors(state);
        }
    }
    None
}

/// Formats a multi-line reply: `250-a`, `250-b`, `250 c`.
fn multiline(code: u16, lines: &[String]) -> String {
    let last = lines.len().saturating_sub(1);
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| format!("{code}{}{line}", if i == last { ' ' } else { '-' }))
        .collect::<Vec<_>>()
        .join("\r\n")
}

async fn auth_response(
    state: &mut State,
    context: &SmtpContext,
    step: AuthStep,
    line: &str,
) -> Option<Next> {
    if line == "*" {
        reply(state, "501 5.7.0 Authentication cancelled");
        return None;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(line.trim()) else {
        reply(state, "501 5.5.2 Cannot decode response");
        return None;
    };
    let decoded = zeroize::Zeroizing::new(decoded);
    let (user, password) = match step {
        AuthStep::LoginUser => {
            state.input = Input::Auth(AuthStep::LoginPassword(
                String::from_utf8_lossy(&decoded).into_owned(),
            ));
            reply(state, "334 UGFzc3dvcmQ6");
            return None;
        }
        AuthStep::LoginPassword(user) => (user, zeroize::Zeroizing::new(decoded.to_vec())),
        AuthStep::Plain => {
            // authzid NUL authcid NUL password
            let mut parts = decoded.split(|b| *b == 0);
            let (Some(authz), Some(user), Some(password), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                reply(state, "501 5.5.2 Malformed PLAIN response");
                return None;
            };
            if !authz.is_empty() && authz != user {
                reply(state, "535 5.7.8 Authorization identity not allowed");
                return None;
            }
            (
                String::from_utf8_lossy(user).into_owned(),
                zeroize::Zeroizing::new(password.to_vec()),
            )
        }
    };
    if context.accounts.verify(&user, &password).await {
        tracing::info!(user = %user, "authenticated");
        state.user = Some(user);
        reply(state, "235 2.7.0 Authentication successful");
        None
    } else {
        state.auth_failures += 1;
        tracing::warn!(user = %user, failures = state.auth_failures, "authentication failed");
        // Slows down password guessing without holding a thread.
        tokio::time::sleep(std::time::Duration::from_millis(
            500 * state.auth_failures as u64,
        ))
        .await;
        reply(state, "535 5.7.8 Authentication credentials invalid");
        if state.auth_failures >= MAX_AUTH_FAILURES {
            reply(state, "421 4.7.0 Too many authentication failures, closing");
            return Some(Next::Close);
        }
        None
    }
}

async fn finish_data(state: &mut State, context: &SmtpContext, too_big: bool) {
    let Some(transaction) = state.transaction.take() else {
        return;
    };
    let data = std::mem::take(&mut state.message);
    if too_big {
        reply(
            state,
            &format!(
                "552 5.3.4 Message too big: this box accepts at most {} bytes",
                context.max_message_size
            ),
        );
        return;
    }
    let id = QueueId::generate();
    let span = tracing::info_span!("message", queue_id = %id);
    let _guard = span.enter();
    let protocol = match (state.tls, state.user.is_some()) {
        (true, true) => "ESMTPSA",
        (true, false) => "ESMTPS",
        (false, true) => "ESMTPA",
        (false, false) => "ESMTP",
    };
    let helo = state.helo.clone().unwrap_or_default();
    let prepared = prepare(
        &data,
        &Submission {
            hostname: &context.hostname,
            helo: &helo,
            peer: state.peer.ip(),
            protocol,
            mailbox_domain: &context.mailbox_domain,
            nil: &context.nil,
        },
        id.as_str(),
    );
    drop(data);
    let size = prepared.bytes.len();
    let recipients = transaction.recipients.len();
    let envelope = Envelope {
        sender: transaction.sender,
        recipients: transaction.recipients,
        submitted_by: state.user.clone(),
    };
    drop(_guard);
    match context
        .queue
        .accept(
            id.clone(),
            envelope,
            prepared.bytes,
            Some(prepared.message_id),
        )
        .await
    {
        Ok(id) => {
            tracing::info!(parent: &span, size, recipients, user = state.user.as_deref().unwrap_or("-"), "accepted");
            context.delivery_wake.notify_one();
            reply(state, &format!("250 2.0.0 Ok: queued as {id}"));
        }
        Err(e) => {
            tracing::error!(parent: &span, error = %e, "cannot store message");
            reply(
                state,
                "451 4.3.0 Cannot store the message right now; please try again later",
            );
        }
    }
}
