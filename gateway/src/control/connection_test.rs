//! `POST /v1/connection-test`: a real check against the operator, as the
//! set-up wizard and the diagnostics ask for it: the credential can sign,
//! an SMTP submission session opens (TLS with the credential, EHLO, SASL
//! EXTERNAL when offered) and closes without sending, and the IMAP
//! mailbox logs in. Each failure carries a stable code the web admin turns
//! into a French sentence saying what to do.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

use crate::card::{CardService, CardState};
use crate::credential::Credential;
use crate::imap::UpstreamImap;
use crate::upstream::{ConnectError, Connector};

pub struct ConnectionTest {
    pub connector: Connector,
    /// The IMAP side; None when the box does not fetch mail.
    pub imap: Option<UpstreamImap>,
    pub credential: Arc<dyn Credential>,
    pub card: Option<CardService>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Step {
    /// `credential`, `smtp` or `imap`.
    pub step: &'static str,
    pub ok: bool,
    /// Stable code of the failure (see `docs/control-api.md`).
    pub code: Option<&'static str>,
    /// What happened, in English (logs, support).
    pub detail: String,
}

impl Step {
    fn ok(step: &'static str, detail: impl Into<String>) -> Step {
        Step {
            step,
            ok: true,
            code: None,
            detail: detail.into(),
        }
    }

    fn failed(step: &'static str, code: &'static str, detail: impl Into<String>) -> Step {
        Step {
            step,
            ok: false,
            code: Some(code),
            detail: detail.into(),
        }
    }
}

pub fn connection_test_router(test: ConnectionTest) -> Router {
    Router::new()
        .route("/v1/connection-test", post(run))
        .with_state(Arc::new(test))
}

async fn run(State(test): State<Arc<ConnectionTest>>) -> Response {
    let steps = test.run().await;
    let ok = steps.iter().all(|s| s.ok);
    Json(serde_json::json!({"ok": ok, "steps": steps})).into_response()
}

impl ConnectionTest {
    pub async fn run(&self) -> Vec<Step> {
        let credential = self.check_credential();
        if !credential.ok {
            return vec![credential];
        }
        let mut steps = vec![credential];
        let smtp = match self.connector.connect().await {
            Ok(session) => {
                let detail = format!(
                    "session opened{}",
                    session
                        .max_size()
                        .map(|s| format!(", SIZE {s}"))
                        .unwrap_or_default()
                );
                session.quit().await;
                Step::ok("smtp", detail)
            }
            Err(e) => Step::failed("smtp", classify_smtp(&e), e.to_string()),
        };
        let smtp_ok = smtp.ok;
        steps.push(smtp);
        if let Some(imap) = &self.imap {
            // A refused certificate fails both sides the same way; say it once.
            if smtp_ok {
                steps.push(match imap.open().await {
                    Ok(opened) => {
                        drop(opened);
                        Step::ok("imap", "mailbox opened")
                    }
                    Err(e) => {
                        let text = e.to_string();
                        Step::failed("imap", classify_imap(&e, &text), text)
                    }
                });
            }
        }
        steps
    }

    fn check_credential(&self) -> Step {
        if let Some(card) = &self.card {
            let status = card.status();
            let code = match status.state {
                CardState::PcscUnavailable | CardState::NoReader => Some("no_reader"),
                CardState::NoCard => Some("no_card"),
                CardState::NotCps => Some("not_cps"),
                CardState::CardError => Some("card_error"),
                CardState::Locked => Some("card_locked"),
                CardState::Blocked => Some("card_blocked"),
                CardState::Unlocked => None,
            };
            if let Some(code) = code {
                return Step::failed("credential", code, status.message);
            }
        }
        if let Some(end) = self.credential.not_after()
            && end < crate::queue::now_unix()
        {
            return Step::failed(
                "credential",
                "certificate_expired",
                format!("the certificate expired (not after {end})"),
            );
        }
        match self.credential.availability() {
            Ok(()) => Step::ok("credential", self.credential.identity()),
            Err(reason) => Step::failed("credential", "credential_unavailable", reason),
        }
    }
}

/// The code for a failed SMTP session.
pub fn classify_smtp(error: &ConnectError) -> &'static str {
    match error {
        ConnectError::Resolve(_) => "operator_not_found",
        ConnectError::Connect { .. } | ConnectError::Timeout("connect") => "operator_unreachable",
        ConnectError::Timeout(_) => "operator_timeout",
        ConnectError::Tls(text) => classify_tls(text),
        // Postfix says so after the handshake: "421 4.7.1 … Client
        // certificate not trusted".
        ConnectError::Refused(reply) if reply.to_ascii_lowercase().contains("certificate") => {
            "certificate_refused"
        }
        ConnectError::Refused(_) => "operator_refused",
        ConnectError::NoStartTls => "operator_without_starttls",
        ConnectError::Login(e) => classify_psc(e),
        ConnectError::TokenRefused(_) => "psc_token_refused",
        // With TLS 1.3 a refused certificate shows up at the first read
        // after the handshake.
        ConnectError::Protocol(e) => match classify_tls(&e.to_string()) {
            "tls_failed" | "credential_unavailable" => "operator_protocol",
            code => code,
        },
    }
}

fn classify_imap(error: &crate::imap::UpstreamError, text: &str) -> &'static str {
    use crate::imap::UpstreamError;
    match error {
        UpstreamError::Timeout => "operator_timeout",
        UpstreamError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            "operator_unreachable"
        }
        UpstreamError::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => classify_tls(text),
        UpstreamError::Io(_) => "operator_unreachable",
        UpstreamError::Refused(_) => "authentication_refused",
        UpstreamError::Login(e) => classify_psc(e),
        UpstreamError::TokenRefused(_) => "psc_token_refused",
    }
}

/// Why no Pro Santé Connect token could be had.
fn classify_psc(error: &crate::psc::PscError) -> &'static str {
    use crate::psc::PscError;
    match error {
        PscError::Unreachable(_) => "psc_unreachable",
        PscError::ReconnectNeeded(_) => "psc_reconnect_needed",
        PscError::Refused(_) => "psc_login_refused",
        PscError::Card(_) => "credential_unavailable",
        PscError::Usage(_) => "psc_login_refused",
    }
}

/// What a TLS failure means for the practice: the operator's certificate
/// is not trusted (not IGC-Santé, expired, wrong name), or ours was
/// refused (the operator answered with an alert), or our key could not
/// sign (card pulled out meanwhile).
pub fn classify_tls(text: &str) -> &'static str {
    if text.contains("invalid peer certificate") {
        "operator_certificate_untrusted"
    } else if text.contains("alert") {
        "certificate_refused"
    } else if text.contains("sign") {
        "credential_unavailable"
    } else {
        "tls_failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_told_apart() {
        let cases = [
            (ConnectError::Resolve("no SRV".into()), "operator_not_found"),
            (
                ConnectError::Connect {
                    target: "x:587".into(),
                    reason: "Connection refused".into(),
                },
                "operator_unreachable",
            ),
            (ConnectError::Timeout("connect"), "operator_unreachable"),
            (ConnectError::Timeout("EHLO"), "operator_timeout"),
            (
                ConnectError::Tls("invalid peer certificate: UnknownIssuer".into()),
                "operator_certificate_untrusted",
            ),
            (
                ConnectError::Tls("received fatal alert: CertificateRequired".into()),
                "certificate_refused",
            ),
            (
                ConnectError::Tls("received fatal alert: BadCertificate".into()),
                "certificate_refused",
            ),
            (ConnectError::Refused("554 no".into()), "operator_refused"),
            (
                ConnectError::Refused(
                    "421 4.7.1 smtp.operateur.test Error: Client certificate not trusted".into(),
                ),
                "certificate_refused",
            ),
            (ConnectError::NoStartTls, "operator_without_starttls"),
        ];
        for (error, code) in cases {
            assert_eq!(classify_smtp(&error), code, "{error}");
        }
    }
}
