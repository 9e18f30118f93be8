//! Pro Santé Connect routes: the session's state, a login (the card now,
//! or a request to the e-CPS app), and a logout.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::server::error;
use crate::psc::{LoginMethod, PscError, PscSession};

type Shared = Option<Arc<PscSession>>;

pub fn psc_router(session: Shared) -> Router {
    Router::new()
        .route("/v1/psc", get(show))
        .route("/v1/psc/login", post(login))
        .route("/v1/psc/logout", post(logout))
        .with_state(session)
}

fn not_psc() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no_psc",
        "this box does not log in with Pro Santé Connect",
    )
}

async fn show(State(session): State<Shared>) -> Response {
    match session {
        Some(s) => Json(s.status()).into_response(),
        None => not_psc(),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    /// e-CPS: the practitioner's national id, when not in the settings.
    #[serde(default)]
    national_id: Option<String>,
}

fn failure(e: &PscError) -> Response {
    let (status, code) = match e {
        PscError::Unreachable(_) => (StatusCode::BAD_GATEWAY, "psc_unreachable"),
        PscError::Refused(_) => (StatusCode::FORBIDDEN, "psc_login_refused"),
        PscError::ReconnectNeeded(_) => (StatusCode::FORBIDDEN, "psc_reconnect_needed"),
        PscError::Card(_) => (StatusCode::CONFLICT, "card_not_ready"),
        PscError::Usage(_) => (StatusCode::BAD_REQUEST, "bad_request"),
    };
    error(status, code, e.to_string())
}

/// Card mode: logs in now and answers with the outcome. e-CPS mode: asks
/// the phone and answers at once (202) with what the practitioner will
/// see; `GET /v1/psc` follows the approval.
async fn login(State(session): State<Shared>, body: axum::body::Bytes) -> Response {
    let Some(session) = session else {
        return not_psc();
    };
    let request: LoginRequest = if body.is_empty() {
        LoginRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "expected {\"national_id\": \"899700000001\"} or an empty body",
                );
            }
        }
    };
    match session.method() {
        LoginMethod::Card => match session.login_with_card().await {
            Ok(()) => Json(session.status()).into_response(),
            Err(e) => failure(&e),
        },
        LoginMethod::Ecps => match session.start_ecps_login(request.national_id).await {
            Ok(approval) => (
                StatusCode::ACCEPTED,
                Json(json!({
                    "approval": approval,
                    "message": format!(
                        "Ouvrez l’application e-CPS sur votre téléphone et validez la demande « {} ».",
                        approval.binding_message
                    ),
                    "status": session.status(),
                })),
            )
                .into_response(),
            Err(e) => failure(&e),
        },
    }
}

async fn logout(State(session): State<Shared>) -> Response {
    let Some(session) = session else {
        return not_psc();
    };
    session.logout().await;
    Json(session.status()).into_response()
}
