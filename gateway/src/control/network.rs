//! `GET /v1/network`, `POST /v1/network`, `POST /v1/network/confirm`: the
//! box's LAN settings, changed with an automatic rollback (`network/`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::server::{api_actor, error};
use crate::network::{LanSettings, Network, NetworkError};

pub fn network_router(network: Option<Arc<Network>>) -> Router {
    Router::new()
        .route("/v1/network", get(view).post(apply))
        .route("/v1/network/confirm", post(confirm))
        .with_state(network)
}

type Shared = Option<Arc<Network>>;

fn not_managed() -> Response {
    error(
        StatusCode::CONFLICT,
        "network_not_managed",
        "the network is the installer's on this box (no [network] section)",
    )
}

fn refusal(e: NetworkError) -> Response {
    let (status, code) = match &e {
        NetworkError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_network"),
        NetworkError::Pending => (StatusCode::CONFLICT, "network_change_pending"),
        NetworkError::UnknownToken => (StatusCode::NOT_FOUND, "no_pending_change"),
        NetworkError::Apply(_) => (StatusCode::INTERNAL_SERVER_ERROR, "network_apply_failed"),
    };
    error(status, code, e.to_string())
}

async fn view(State(network): State<Shared>) -> Response {
    match network {
        Some(n) => match tokio::task::spawn_blocking(move || n.view()).await {
            Ok(view) => Json(json!({"managed": true, "network": view})).into_response(),
            Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "task failed"),
        },
        None => Json(json!({"managed": false})).into_response(),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyRequest {
    settings: LanSettings,
    #[serde(default)]
    actor: Option<String>,
}

async fn apply(State(network): State<Shared>, body: axum::body::Bytes) -> Response {
    let Some(network) = network else {
        return not_managed();
    };
    let Ok(request) = serde_json::from_slice::<ApplyRequest>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected {\"settings\": {\"mode\": \"dhcp\"} or {\"mode\": \"static\", \"address\": …, \"prefix\": 24, \"gateway\": …, \"dns\": […]}}",
        );
    };
    let actor = api_actor(request.actor.as_deref());
    let settings = request.settings;
    match tokio::task::spawn_blocking(move || {
        network
            .apply(&settings, &actor)
            .map(|t| (t, network.view()))
    })
    .await
    {
        Ok(Ok((token, view))) => Json(json!({"token": token, "network": view})).into_response(),
        Ok(Err(e)) => refusal(e),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "task failed"),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmRequest {
    token: String,
    #[serde(default)]
    actor: Option<String>,
}

async fn confirm(State(network): State<Shared>, body: axum::body::Bytes) -> Response {
    let Some(network) = network else {
        return not_managed();
    };
    let Ok(request) = serde_json::from_slice::<ConfirmRequest>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected {\"token\": \"…\"}",
        );
    };
    let actor = api_actor(request.actor.as_deref());
    match tokio::task::spawn_blocking(move || network.confirm(&request.token, &actor)).await {
        Ok(Ok(())) => Json(json!({"confirmed": true})).into_response(),
        Ok(Err(e)) => refusal(e),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "task failed"),
    }
}
