//! The daemon's side of the control API.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{ErrorBody, UnlockRequest};
use crate::audit::{Audit, Event};
use crate::card::{CardError, CardService, Pin, UnlockError};
use crate::credential::Credential;
use crate::queue::delivery::Delivery;
use crate::queue::tracking::TrackingQuery;
use crate::queue::{Queue, QueueAction, QueueError, QueueId};

/// What the API reads and acts on.
pub struct ControlState {
    pub card: Option<CardService>,
    pub credential: Arc<dyn Credential>,
    pub delivery: Arc<Delivery>,
    pub fetcher: Option<Arc<crate::inbound::fetcher::Fetcher>>,
    pub queue: Queue,
    pub tracking: Arc<crate::queue::tracking::Tracking>,
    pub audit: Audit,
    pub started: Instant,
    /// Changes with each factory reset (`factory_reset::installation_id`).
    pub installation: String,
    /// Directory, address book and paper report (`control/directory.rs`).
    pub directory: Arc<super::directory::DirectoryApi>,
    /// Diagnostics, logs and support bundle (`control/diagnostics.rs`).
    pub diagnostics: Arc<crate::diagnostics::Diagnostics>,
    /// System updates, when `[update]` is set.
    pub updater: Option<Arc<crate::update::Updater>>,
    /// The Pro Santé Connect session, when the credential is one.
    pub psc: Option<Arc<crate::psc::PscSession>>,
}

type Shared = Arc<ControlState>;

/// Listens on `path` (owner-only) until `shutdown`, answering with `app`
/// (`router` once the box is set up, `setup_router` before).
pub async fn serve(
    path: &Path,
    app: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    // A socket left by a killed daemon would make bind fail.
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            anyhow::bail!(
                "{}: another daemon answers on the control socket",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("{}: cannot remove the stale socket", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    // The default place is inside the owner-only data directory; the
    // socket itself is restricted right after it is created.
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("{}: cannot listen (control.socket)", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("{}: cannot restrict permissions", path.display()))?;
    tracing::info!(socket = %path.display(), "control API listening");
    Ok(tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "control API stopped");
        }
    }))
}

/// The whole API of a running daemon; `settings` are the routes of
/// `control/settings.rs`.
pub fn router(state: Shared, settings: Router) -> Router {
    let audit = audit_router(state.audit.clone());
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/card", get(card))
        .route("/v1/card/unlock", post(unlock))
        .route("/v1/card/accept-identity", post(accept_identity))
        .route("/v1/queue", get(queue))
        .route("/v1/tracking", get(tracking))
        .route("/v1/tracking/{message_id}", get(timeline))
        .route("/v1/tracking/{message_id}/document", get(sent_document))
        .route("/v1/received", get(received))
        .route("/v1/queue/{id}/{action}", post(queue_action))
        .merge(super::directory::router(state.directory.clone()))
        .merge(super::diagnostics::routes())
        .with_state(state)
        .merge(audit)
        .merge(settings)
        .fallback(not_found)
}

/// The API of a daemon not set up yet: its status, the audit log, and the
/// settings the set-up wizard fills in.
pub fn setup_router(
    audit: Audit,
    settings: Router,
    missing: Vec<&'static str>,
    installation: String,
) -> Router {
    let started = Instant::now();
    Router::new()
        .route(
            "/v1/status",
            get(move || async move {
                Json(json!({
                    "api": 1,
                    "version": env!("CARGO_PKG_VERSION"),
                    "installation": installation,
                    "uptime_secs": started.elapsed().as_secs(),
                    "configured": false,
                    "missing": missing,
                }))
            }),
        )
        .merge(audit_router(audit))
        .merge(settings)
        .fallback(|| async {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_configured",
                "the box is not set up yet: choose the mailbox and the credential first",
            )
        })
}

fn audit_router(audit: Audit) -> Router {
    Router::new()
        .route("/v1/audit", get(audit_list).post(audit_append))
        .route("/v1/audit/verify", get(audit_verify))
        .with_state(audit)
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

pub(super) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: code.into(),
            message: message.into(),
            tries_left: None,
            key: None,
        }),
    )
        .into_response()
}

pub(super) async fn status(State(s): State<Shared>) -> Response {
    let queue = s.queue.clone();
    let entries = tokio::task::spawn_blocking(move || queue.list())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let count = |status: &str| entries.iter().filter(|e| e.status == status).count();
    let credential_kind = if s.psc.is_some() {
        "psc"
    } else if s.card.is_some() {
        "card"
    } else {
        "software"
    };
    Json(json!({
        "api": 1,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": s.started.elapsed().as_secs(),
        "installation": s.installation,
        "configured": true,
        "credential": {
            "kind": credential_kind,
            "identity": s.credential.identity(),
            "ready": s.credential.availability().is_ok(),
            "reason": s.credential.availability().err(),
            "not_after": s.credential.not_after(),
            "signatures": s.credential.signatures(),
        },
        "delivery": s.delivery.status(),
        "inbound": s.fetcher.as_ref().map(|f| f.status()),
        "queue": {
            "pending": count("pending"),
            "delivered": count("delivered"),
            "failed": count("failed"),
            "held": count("held"),
            "deleted": count("deleted"),
        },
        "card": s.card.as_ref().map(CardService::status),
        "update": s.updater.as_ref().map(|u| u.status()),
        "psc": s.psc.as_ref().map(|p| p.status()),
    }))
    .into_response()
}

async fn card(State(s): State<Shared>) -> Response {
    match &s.card {
        Some(card) => Json(card.status()).into_response(),
        None => no_card_credential(),
    }
}

fn no_card_credential() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no_card_credential",
        "this box sends with a software certificate, not a CPS card",
    )
}

async fn unlock(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let Some(card) = s.card.clone() else {
        return no_card_credential();
    };
    // The body holds the PIN: parse it from a buffer that is wiped after.
    let raw = zeroize::Zeroizing::new(body.to_vec());
    drop(body);
    let request: UnlockRequest = match serde_json::from_slice(&raw) {
        Ok(r) => r,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "expected {\"pin\": \"1234\", \"confirm_last_try\": false}",
            );
        }
    };
    let pin = match request.pin {
        Some(text) => match Pin::new(text) {
            Ok(p) => Some(p),
            Err(e) => return error(StatusCode::BAD_REQUEST, "pin_format", e.to_string()),
        },
        None => None,
    };
    let confirm = request.confirm_last_try;
    let actor = api_actor(request.actor.as_deref());
    let service = card.clone();
    let result = tokio::task::spawn_blocking(move || service.unlock_blocking(pin, confirm)).await;
    // Never the PIN: the card's serial number and the outcome only.
    let serial = card.status().serial;
    match result {
        Ok(Ok(())) => {
            s.audit
                .note(&actor, "card_unlocked", serial.as_deref(), None);
            Json(card.status()).into_response()
        }
        Ok(Err(e)) => {
            let why = match &e {
                UnlockError::Card(CardError::WrongPin { tries_left }) => {
                    format!("wrong PIN, {tries_left} tries left")
                }
                UnlockError::Card(CardError::Blocked) => "card blocked".into(),
                UnlockError::LastTryNeedsConfirmation => "last try not confirmed".into(),
                UnlockError::Card(CardError::PinPadCancelled) => "PIN pad cancelled".into(),
                UnlockError::NoPinPad => "no PIN pad".into(),
                UnlockError::NoCard(_) => "no card".into(),
                UnlockError::Stopped => "card service stopped".into(),
                UnlockError::Card(_) => "card error".into(),
            };
            s.audit
                .note(&actor, "card_unlock_failed", serial.as_deref(), Some(&why));
            unlock_error(e)
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "unlock task failed",
        ),
    }
}

fn unlock_error(e: UnlockError) -> Response {
    let message = e.to_string();
    let (status, code, tries_left) = match &e {
        UnlockError::Card(CardError::WrongPin { tries_left }) => {
            (StatusCode::FORBIDDEN, "wrong_pin", Some(*tries_left))
        }
        UnlockError::Card(CardError::Blocked) => (StatusCode::LOCKED, "blocked", Some(0)),
        UnlockError::Card(CardError::PinPadCancelled) => {
            (StatusCode::REQUEST_TIMEOUT, "pinpad_cancelled", None)
        }
        UnlockError::Card(_) => (StatusCode::BAD_GATEWAY, "card_error", None),
        UnlockError::LastTryNeedsConfirmation => {
            (StatusCode::CONFLICT, "confirm_last_try", Some(1))
        }
        UnlockError::NoPinPad => (StatusCode::BAD_REQUEST, "no_pinpad", None),
        UnlockError::NoCard(_) => (StatusCode::SERVICE_UNAVAILABLE, "no_card", None),
        UnlockError::Stopped => (
            StatusCode::SERVICE_UNAVAILABLE,
            "card_service_stopped",
            None,
        ),
    };
    (
        status,
        Json(ErrorBody {
            error: code.into(),
            message,
            tries_left,
            key: None,
        }),
    )
        .into_response()
}

async fn accept_identity(State(s): State<Shared>) -> Response {
    let Some(card) = s.card.clone() else {
        return no_card_credential();
    };
    let service = card.clone();
    match tokio::task::spawn_blocking(move || service.accept_identity_blocking()).await {
        Ok(Ok(())) => {
            let serial = card.status().serial;
            s.audit
                .note("api", "card_identity_accepted", serial.as_deref(), None);
            Json(card.status()).into_response()
        }
        Ok(Err(message)) => error(StatusCode::CONFLICT, "cannot_accept", message),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "accept task failed",
        ),
    }
}

/// Runs a blocking read (SQLite, files) off the async threads and answers
/// its result as JSON, or a 500 with `code` when it fails.
pub(super) async fn read_blocking<T, E>(
    code: &'static str,
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Response
where
    T: serde::Serialize + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(answer)) => Json(answer).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, code, e.to_string()),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request's task failed",
        ),
    }
}

async fn tracking(
    State(s): State<Shared>,
    query: Result<Query<TrackingQuery>, QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", e.body_text()),
    };
    let tracking = s.tracking.clone();
    // Without parameters: the tracking rows, as before; with any: search.
    read_blocking("tracking_unreadable", move || {
        if query.is_empty() {
            tracking.list().map(|e| json!({ "recipients": e }))
        } else {
            tracking.search(&query).map(|e| json!({ "recipients": e }))
        }
    })
    .await
}

async fn queue(State(s): State<Shared>) -> Response {
    let queue = s.queue.clone();
    read_blocking("queue_unreadable", move || {
        queue.list().map(|entries| json!({ "recipients": entries }))
    })
    .await
}

async fn timeline(State(s): State<Shared>, UrlPath(message_id): UrlPath<String>) -> Response {
    let tracking = s.tracking.clone();
    let key = message_id.clone();
    match tokio::task::spawn_blocking(move || tracking.timeline(&key)).await {
        Ok(Ok(Some(timeline))) => Json(timeline).into_response(),
        Ok(Ok(None)) => error(
            StatusCode::NOT_FOUND,
            "no_such_message",
            format!("no message {message_id} in the queue or in tracking"),
        ),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "tracking_unreadable",
            e.to_string(),
        ),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "tracking task failed",
        ),
    }
}

#[derive(Debug, serde::Deserialize)]
struct ReceivedQuery {
    limit: Option<usize>,
}

/// `GET /v1/received?limit=`: the latest messages received and exported.
async fn received(
    State(s): State<Shared>,
    query: Result<Query<ReceivedQuery>, QueryRejection>,
) -> Response {
    let limit = match query {
        Ok(Query(q)) => q.limit.unwrap_or(20).clamp(1, 200),
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", e.body_text()),
    };
    let tracking = s.tracking.clone();
    read_blocking("tracking_unreadable", move || {
        tracking
            .recent_received(limit)
            .map(|received| json!({ "received": received }))
    })
    .await
}

/// Largest document served back (the document folder's own limit is
/// lower by default).
const MAX_SENT_DOCUMENT: u64 = 64 * 1024 * 1024;

/// Reads a filed document: a regular file reached without following a
/// symbolic link (the document folder is shared on the LAN: a link put in
/// `sent/` must not lead to the box's own files), and a PDF.
fn read_sent_document(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > MAX_SENT_DOCUMENT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file of a sensible size",
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_SENT_DOCUMENT).read_to_end(&mut bytes)?;
    if !bytes.starts_with(b"%PDF-") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a PDF any more",
        ));
    }
    Ok(bytes)
}

/// `GET /v1/tracking/{key}/document`: the document a message carried, from
/// the document folder's `sent/`.
async fn sent_document(State(s): State<Shared>, UrlPath(key): UrlPath<String>) -> Response {
    let tracking = s.tracking.clone();
    let found = tokio::task::spawn_blocking(move || {
        let document = tracking.document(&key)?;
        Ok::<_, QueueError>(document.map(|d| (read_sent_document(&d.path), d.name)))
    })
    .await;
    match found {
        Ok(Ok(Some((Ok(bytes), name)))) => (
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "application/pdf".to_string(),
                ),
                (
                    axum::http::header::HeaderName::from_static("x-facteur-document-name"),
                    crate::control::encode_component(&name),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Ok(Some((Err(e), _)))) => error(
            StatusCode::GONE,
            "document_gone",
            format!("the document is no longer in sent/ as it was filed: {e}"),
        ),
        Ok(Ok(None)) => error(
            StatusCode::NOT_FOUND,
            "no_document",
            "no document was filed for this message (only documents from the document folder are)",
        ),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "tracking_unreadable",
            e.to_string(),
        ),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "task failed"),
    }
}

/// Actors the daemon writes itself; the API may not borrow them.
fn reserved_actor(actor: &str) -> bool {
    actor == "daemon" || actor == "outbox" || actor.starts_with("smtp:")
}

/// The actor a caller named, or "api".
pub(super) fn api_actor(actor: Option<&str>) -> String {
    match actor {
        Some(a) if !reserved_actor(a) && Event::new(a, "x").validate().is_ok() => a.to_string(),
        _ => "api".to_string(),
    }
}

/// Optional body of the queue actions.
#[derive(Debug, Default, serde::Deserialize)]
struct QueueActionBody {
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    confirm: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
struct QueueActionQuery {
    recipient: Option<String>,
}

async fn queue_action(
    State(s): State<Shared>,
    UrlPath((id, action)): UrlPath<(String, String)>,
    query: Result<Query<QueueActionQuery>, QueryRejection>,
    body: axum::body::Bytes,
) -> Response {
    let Some(action) = QueueAction::parse(&action) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such endpoint");
    };
    let Some(id) = QueueId::parse(&id) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_queue_id",
            "a queue id is 16 hexadecimal digits",
        );
    };
    let recipient = match query {
        Ok(Query(q)) => q.recipient.filter(|r| !r.is_empty()),
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", e.body_text()),
    };
    let request: QueueActionBody = if body.iter().all(u8::is_ascii_whitespace) {
        QueueActionBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "expected {\"actor\": \"web:admin\", \"confirm\": true}",
                );
            }
        }
    };
    if action == QueueAction::Delete && !request.confirm {
        return error(
            StatusCode::BAD_REQUEST,
            "confirm_required",
            "deleting a message needs {\"confirm\": true}",
        );
    }
    let actor = api_actor(request.actor.as_deref());
    match s.queue.act(&id, action, recipient, &actor).await {
        Ok(outcome) => {
            if matches!(action, QueueAction::Release | QueueAction::Retry) {
                s.delivery.wake();
            }
            let queue = s.queue.clone();
            let entries = tokio::task::spawn_blocking(move || queue.list())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.id == id.as_str())
                .collect::<Vec<_>>();
            Json(json!({
                "id": id.as_str(),
                "action": action.as_str(),
                "changed": outcome.recipients,
                "finished": outcome.finished,
                "recipients": entries,
            }))
            .into_response()
        }
        Err(QueueError::NotFound(m)) => error(StatusCode::NOT_FOUND, "no_such_message", m),
        Err(QueueError::NotApplicable(m)) => error(StatusCode::CONFLICT, "not_applicable", m),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "queue_unavailable",
            e.to_string(),
        ),
    }
}

/// Body of `POST /v1/audit`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditRequest {
    actor: String,
    action: String,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

async fn audit_append(State(audit): State<Audit>, body: axum::body::Bytes) -> Response {
    let request: AuditRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "expected {\"actor\": \"web:admin\", \"action\": \"signin\", \"object\": null, \"detail\": null}",
            );
        }
    };
    if reserved_actor(&request.actor) {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_audit_entry",
            format!("actor `{}` is reserved to the daemon", request.actor),
        );
    }
    let event = Event {
        actor: request.actor,
        action: request.action,
        object: request.object,
        detail: request.detail,
    };
    match audit.append(event).await {
        Ok(entry) => Json(entry).into_response(),
        Err(crate::audit::AuditError::Invalid(m)) => {
            error(StatusCode::BAD_REQUEST, "bad_audit_entry", m)
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            e.to_string(),
        ),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct AuditQuery {
    after_seq: Option<u64>,
    limit: Option<usize>,
}

async fn audit_list(
    State(audit): State<Audit>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", e.body_text()),
    };
    let dir = audit.dir().to_path_buf();
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    read_blocking("audit_unreadable", move || {
        crate::audit::list(&dir, query.after_seq, limit)
            .map(|entries| json!({ "entries": entries }))
    })
    .await
}

async fn audit_verify(State(audit): State<Audit>) -> Response {
    let dir = audit.dir().to_path_buf();
    // Entries sent before the request are on disk first.
    audit.flush().await;
    read_blocking("audit_unreadable", move || {
        crate::audit::verify(&dir).map(|report| {
            let mut body = json!(report);
            body["ok"] = json!(report.ok());
            body
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_document_is_read_only_if_it_is_still_a_pdf_and_no_link() {
        let dir = tempfile::tempdir().unwrap();
        let pdf = dir.path().join("cr.pdf");
        std::fs::write(&pdf, b"%PDF-1.7\nbody").unwrap();
        assert_eq!(read_sent_document(&pdf).unwrap(), b"%PDF-1.7\nbody");
        // A link put in sent/ by someone on the LAN, towards the box's files.
        let secret = dir.path().join("mailbox.p12");
        std::fs::write(&secret, b"%PDF-not really").unwrap();
        let link = dir.path().join("link.pdf");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        assert!(read_sent_document(&link).is_err());
        // Replaced by something else.
        std::fs::write(&pdf, b"PK\x03\x04").unwrap();
        assert!(read_sent_document(&pdf).is_err());
        assert!(read_sent_document(&dir.path().join("gone.pdf")).is_err());
        assert!(read_sent_document(dir.path()).is_err());
    }
}
