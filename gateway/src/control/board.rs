//! Board, health and factory-reset routes, served by a running daemon and
//! by one not set up yet alike.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Notify;

use super::server::error;
use crate::audit::Audit;
use crate::board_link::BoardLink;

/// What the routes act on.
pub struct BoardApi {
    pub link: Option<Arc<BoardLink>>,
    pub data_dir: PathBuf,
    pub audit: Audit,
    /// Notified once the reset is written down: the daemon stops, and its
    /// next start does the reset.
    pub reset: Arc<Notify>,
}

type Shared = Arc<BoardApi>;

/// The longest simulated press: a little over the factory-reset hold.
const MAX_HOLD_MS: u64 = 20_000;
/// Longest address or setup code the display is given.
const MAX_INFO_CHARS: usize = 64;

pub fn board_router(api: Shared) -> Router {
    Router::new()
        .route("/v1/health", get(|| async { Json(json!({ "ok": true })) }))
        .route("/v1/board", get(show))
        .route("/v1/board/identify", post(identify))
        .route("/v1/board/press", post(press))
        .route("/v1/board/info", axum::routing::put(set_info))
        .route("/v1/factory-reset", post(factory_reset))
        .with_state(api)
}

fn no_board() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no_board",
        "this daemon drives no board (board.description is not set)",
    )
}

async fn show(State(api): State<Shared>) -> Response {
    let Some(link) = &api.link else {
        return no_board();
    };
    let snapshot = link.snapshot();
    Json(json!({
        "board": link.name,
        "simulated": link.is_simulated(),
        "mode": snapshot.mode,
        "label": snapshot.label,
        "light": snapshot.light,
        "pattern": snapshot.pattern,
        "color": snapshot.color,
        "screen": snapshot.screen,
        "last_tune": snapshot.last_tune,
        "tunes": link.tunes(),
        "button_pressed": snapshot.button_pressed,
        "parts": snapshot.parts,
        "part_errors": snapshot.part_errors,
        "info": link.info(),
    }))
    .into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActorBody {
    #[serde(default)]
    actor: Option<String>,
}

/// An optional JSON body: empty is the same as `{}`.
fn parse_optional<T: for<'a> Deserialize<'a> + Default>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

async fn identify(State(api): State<Shared>, body: axum::body::Bytes) -> Response {
    let Some(link) = &api.link else {
        return no_board();
    };
    let request: ActorBody = match parse_optional(&body) {
        Ok(r) => r,
        Err(why) => return error(StatusCode::BAD_REQUEST, "bad_request", why),
    };
    link.identify();
    let actor = request.actor.unwrap_or_else(|| "api".into());
    api.audit.note(&actor, "board_identify", None, None);
    Json(json!({ "identify": true })).into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PressBody {
    #[serde(default = "default_hold_ms")]
    hold_ms: u64,
}

fn default_hold_ms() -> u64 {
    200
}

async fn press(State(api): State<Shared>, body: axum::body::Bytes) -> Response {
    let Some(link) = &api.link else {
        return no_board();
    };
    let request: PressBody = if body.iter().all(u8::is_ascii_whitespace) {
        PressBody {
            hold_ms: default_hold_ms(),
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
        }
    };
    if request.hold_ms == 0 || request.hold_ms > MAX_HOLD_MS {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_hold",
            format!("hold_ms must be between 1 and {MAX_HOLD_MS}"),
        );
    }
    if !link.press(Duration::from_millis(request.hold_ms)) {
        return error(
            StatusCode::CONFLICT,
            "not_simulated",
            "only the simulated board's button can be pressed through the API",
        );
    }
    Json(json!({ "pressed_ms": request.hold_ms })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InfoBody {
    address: Option<String>,
    #[serde(default)]
    setup_code: Option<String>,
}

fn displayable(text: &Option<String>) -> bool {
    text.as_ref().is_none_or(|t| {
        !t.is_empty() && t.chars().count() <= MAX_INFO_CHARS && !t.chars().any(char::is_control)
    })
}

async fn set_info(State(api): State<Shared>, body: axum::body::Bytes) -> Response {
    let Some(link) = &api.link else {
        return no_board();
    };
    let request: InfoBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
    };
    if !displayable(&request.address) || !displayable(&request.setup_code) {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_info",
            format!("address and setup_code: 1 to {MAX_INFO_CHARS} printable characters"),
        );
    }
    link.set_info(board::DisplayInfo {
        address: request.address,
        setup_code: request.setup_code,
    });
    Json(json!({ "info": link.info() })).into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    #[serde(default)]
    confirm: bool,
    #[serde(default)]
    actor: Option<String>,
}

async fn factory_reset(State(api): State<Shared>, body: axum::body::Bytes) -> Response {
    let request: ResetBody = match parse_optional(&body) {
        Ok(r) => r,
        Err(why) => return error(StatusCode::BAD_REQUEST, "bad_request", why),
    };
    if !request.confirm {
        return error(
            StatusCode::BAD_REQUEST,
            "confirm_required",
            "a factory reset erases every message, setting and account: send {\"confirm\": true}",
        );
    }
    let actor = request.actor.unwrap_or_else(|| "api".into());
    request_reset(&api, &actor).await
}

/// Writes the reset down and stops the daemon (the button comes here too).
pub async fn request_reset(api: &BoardApi, actor: &str) -> Response {
    let data_dir = api.data_dir.clone();
    let who = actor.to_string();
    let written =
        tokio::task::spawn_blocking(move || crate::factory_reset::request(&data_dir, &who)).await;
    match written {
        Ok(Ok(())) => {
            api.audit.note(actor, "factory_reset", None, None);
            api.audit.flush().await;
            api.reset.notify_one();
            (
                StatusCode::ACCEPTED,
                Json(json!({
                    "reset": true,
                    "message": "réinitialisation en cours : la boîte redémarre sans réglages",
                })),
            )
                .into_response()
        }
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reset_failed",
            e.to_string(),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reset_failed",
            e.to_string(),
        ),
    }
}
