//! Update routes: the updater's state, a bundle uploaded by hand (the web
//! admin's « Mise à jour manuelle »), and "look at the fleet server now".

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::server::error;
use crate::update::{UpdateError, Updater};

/// The largest bundle accepted (a root filesystem image, compressed).
const MAX_BUNDLE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

pub fn update_router(updater: Option<Arc<Updater>>) -> Router {
    Router::new()
        .route("/v1/update", get(show))
        .route("/v1/update/bundle", post(upload))
        .route("/v1/update/poll", post(poll))
        .with_state(updater)
}

type Shared = Option<Arc<Updater>>;

fn no_updates() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no_updates",
        "updates are not enabled on this box ([update] is not set)",
    )
}

async fn show(State(updater): State<Shared>) -> Response {
    match updater {
        Some(u) => Json(u.status()).into_response(),
        None => no_updates(),
    }
}

async fn poll(State(updater): State<Shared>) -> Response {
    match updater {
        Some(u) => {
            u.poll_now();
            Json(json!({ "ok": true })).into_response()
        }
        None => no_updates(),
    }
}

/// The body is the bundle itself, streamed to the data partition, then
/// checked and installed exactly as one from the fleet server.
async fn upload(State(updater): State<Shared>, body: Body) -> Response {
    let Some(updater) = updater else {
        return no_updates();
    };
    let path = updater.upload_path();
    let received = match receive(body, &path).await {
        Ok(n) => n,
        Err(reason) => {
            let _ = tokio::fs::remove_file(&path).await;
            updater.refuse_upload(&reason);
            return error(StatusCode::BAD_REQUEST, "bad_upload", &reason);
        }
    };
    tracing::info!(bytes = received, "bundle uploaded");
    let result = updater.install(&path.display().to_string(), None).await;
    let _ = tokio::fs::remove_file(&path).await;
    match result {
        Ok(version) => Json(json!({
            "ok": true,
            "version": version,
            "message": format!("version {version} installée ; le boîtier redémarre au prochain moment calme"),
        }))
        .into_response(),
        Err(UpdateError::Busy) => error(
            StatusCode::CONFLICT,
            "busy",
            "une mise à jour est déjà en cours d'installation",
        ),
        Err(UpdateError::Refused(reason)) => {
            updater.refuse_upload(&reason);
            error(StatusCode::UNPROCESSABLE_ENTITY, "refused", &reason)
        }
    }
}

async fn receive(body: Body, path: &std::path::Path) -> Result<u64, String> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("envoi interrompu : {e}"))?;
        received += chunk.len() as u64;
        if received > MAX_BUNDLE_BYTES {
            return Err("fichier trop gros pour une mise à jour".into());
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if received == 0 {
        return Err("fichier vide".into());
    }
    file.sync_all()
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(received)
}
