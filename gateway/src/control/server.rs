//! The daemon's side of the control API.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{ErrorBody, UnlockRequest};
use crate::card::{CardError, CardService, Pin, UnlockError};
use crate::credential::Credential;
use crate::queue::Queue;
use crate::queue::delivery::Delivery;

/// What the API reads and acts on.
pub struct ControlState {
    pub card: Option<CardService>,
    pub credential: Arc<dyn Credential>,
    pub delivery: Arc<Delivery>,
    pub fetcher: Option<Arc<crate::inbound::fetcher::Fetcher>>,
    pub queue: Queue,
    pub tracking: Arc<crate::queue::tracking::Tracking>,
    pub started: Instant,
}

type Shared = Arc<ControlState>;

/// Listens on `path` (owner-only) until `shutdown`.
pub async fn serve(
    path: &Path,
    state: Shared,
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
    let app = router(state);
    Ok(tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "control API stopped");
        }
    }))
}

pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/card", get(card))
        .route("/v1/card/unlock", post(unlock))
        .route("/v1/card/accept-identity", post(accept_identity))
        .route("/v1/queue", get(queue))
        .route("/v1/tracking", get(tracking))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: code.into(),
            message: message.into(),
            tries_left: None,
        }),
    )
        .into_response()
}

async fn status(State(s): State<Shared>) -> Response {
    let queue = s.queue.clone();
    let entries = tokio::task::spawn_blocking(move || queue.list())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let count = |status: &str| entries.iter().filter(|e| e.status == status).count();
    let credential_kind = if s.card.is_some() { "card" } else { "software" };
    Json(json!({
        "api": 1,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": s.started.elapsed().as_secs(),
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
        },
        "card": s.card.as_ref().map(CardService::status),
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
    let service = card.clone();
    let result = tokio::task::spawn_blocking(move || service.unlock_blocking(pin, confirm)).await;
    match result {
        Ok(Ok(())) => Json(card.status()).into_response(),
        Ok(Err(e)) => unlock_error(e),
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
        Ok(Ok(())) => Json(card.status()).into_response(),
        Ok(Err(message)) => error(StatusCode::CONFLICT, "cannot_accept", message),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "accept task failed",
        ),
    }
}

async fn tracking(State(s): State<Shared>) -> Response {
    let tracking = s.tracking.clone();
    match tokio::task::spawn_blocking(move || tracking.list()).await {
        Ok(Ok(entries)) => Json(json!({ "recipients": entries })).into_response(),
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

async fn queue(State(s): State<Shared>) -> Response {
    let queue = s.queue.clone();
    match tokio::task::spawn_blocking(move || queue.list()).await {
        Ok(Ok(entries)) => Json(json!({ "recipients": entries })).into_response(),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "queue_unreadable",
            e.to_string(),
        ),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "queue task failed",
        ),
    }
}
