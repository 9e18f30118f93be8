//! `GET /psc`, `GET /psc/state`, `POST /psc/login`, `GET|POST /psc/logout`,
//! `POST /psc/mode`: the Pro Santé Connect page. Same rules as the other
//! pages: login, CSRF on every POST, the identifier checked before the
//! daemon is asked. An e-CPS login answers at once (the request is on the
//! phone); the page then follows it through `/psc/state` (`static/psc.js`).
//! A change of mode is a setting: saved, then the daemon restarts as after
//! the settings pages.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use facteur::psc::settings::valid_national_id;

use super::wizard::{restart_and_wait, setting_refusal};
use super::{
    Shared, bad_form, bad_input, csrf_refused, daemon_status, html, parse_form, redirect,
    require_login, see_other,
};
use crate::daemon::{DaemonError, PscView};
use crate::session::Session;
use crate::{pages, texts};

const FOLLOWER: &str = include_str!("../../static/psc.js");

pub(super) fn router() -> Router<Shared> {
    Router::new()
        .route("/psc", get(psc_page))
        .route("/psc/state", get(psc_state))
        .route("/psc/login", post(login))
        .route("/psc/logout", get(logout_page).post(logout))
        .route("/psc/mode", post(mode))
        .route("/static/psc.js", get(follower))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Asks the daemon, and remembers for the nav whether the box uses
/// Pro Santé Connect.
async fn ask(app: &Shared) -> Result<Option<PscView>, DaemonError> {
    let view = app.daemon.psc().await;
    if let Ok(v) = &view {
        app.note_psc(v.is_some());
    }
    view
}

/// The page; `error` is the refusal of what was just sent (with its
/// status), `typed` what was sent, shown again.
async fn render(
    app: &Shared,
    s: &Session,
    flash: Option<(&str, &str)>,
    error: Option<(StatusCode, &str)>,
    typed: pages::PscTyped<'_>,
) -> Response {
    let view = ask(app).await;
    if let Err(e) = &view {
        tracing::warn!(error = ?e, "psc page: daemon unavailable");
    }
    let status = match (&error, &view) {
        (Some((status, _)), _) => *status,
        (None, Err(e)) => daemon_status(e),
        (None, Ok(_)) => StatusCode::OK,
    };
    html(
        status,
        pages::psc(
            &s.csrf,
            view.as_ref().map(Option::as_ref).map_err(|e| e.french()),
            flash,
            error.map(|(_, text)| text),
            now(),
            typed,
        ),
    )
}

async fn psc_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (sid, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let flash = app.sessions.take_flash(&sid);
    render(
        &app,
        &s,
        flash.as_ref().map(|(k, t)| (*k, t.as_str())),
        None,
        pages::PscTyped::default(),
    )
    .await
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// Where a request stands, for the page's script: `waiting`, the time
/// left to approve, and once it stopped waiting, the outcome and the
/// panel to put in place.
async fn psc_state(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let v = match ask(&app).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({ "error": texts::PSC_NOT_USED }),
            );
        }
        Err(e) => {
            return json(
                daemon_status(&e),
                &serde_json::json!({ "error": e.french() }),
            );
        }
    };
    let now = now();
    let (ok, outcome) = pages::psc_outcome(&v);
    json(
        StatusCode::OK,
        &serde_json::json!({
            "state": v.state,
            "waiting": v.waiting(),
            "time_left": v.approval.as_ref().map(|a| texts::time_left(a.expires_at - now)),
            "ok": ok,
            "outcome": outcome,
            "panel": pages::psc_panel(&s.csrf, &v, now, None),
        }),
    )
}

async fn follower() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        FOLLOWER,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    /// e-CPS: the practitioner's national identifier.
    #[serde(default)]
    national_id: Option<String>,
}

/// What a refusal of the login says, and the page's status.
fn refusal(e: &DaemonError) -> (StatusCode, String) {
    match e {
        DaemonError::Refused { code, .. } if code == "psc_unreachable" => {
            (StatusCode::BAD_GATEWAY, e.french())
        }
        // The daemon's usage errors on a login are about the identifier
        // (missing, or not 8 + RPPS).
        DaemonError::Refused { code, .. } if code == "bad_request" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            texts::PSC_BAD_NATIONAL_ID.into(),
        ),
        DaemonError::Refused { .. } => (StatusCode::UNPROCESSABLE_ENTITY, e.french()),
        other => (daemon_status(other), other.french()),
    }
}

fn typed_login(national_id: Option<&str>) -> pages::PscTyped<'_> {
    pages::PscTyped {
        national_id,
        mode: None,
    }
}

async fn login(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (sid, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(form) = parse_form::<LoginForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        tracing::warn!("psc login refused: CSRF token missing or wrong");
        return csrf_refused();
    }
    // Empty: the identifier in the daemon's settings (and the card's own).
    let national_id = form
        .national_id
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if let Some(id) = national_id
        && !valid_national_id(id)
    {
        return render(
            &app,
            &s,
            None,
            Some((StatusCode::UNPROCESSABLE_ENTITY, texts::PSC_BAD_NATIONAL_ID)),
            typed_login(Some(id)),
        )
        .await;
    }
    app.daemon.audit("psc_login_requested", None).await;
    match app.daemon.psc_login(national_id).await {
        Ok(v) => {
            tracing::info!(state = %v.state, "psc login from the web admin");
            if v.state == "connected" {
                app.sessions
                    .set_flash(&sid, "info", texts::PSC_CONNECTED.into());
            }
            see_other("/psc")
        }
        Err(e) => {
            tracing::warn!(error = ?e, "psc login refused");
            let (status, text) = refusal(&e);
            render(
                &app,
                &s,
                None,
                Some((status, &text)),
                typed_login(national_id),
            )
            .await
        }
    }
}

async fn logout_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    match require_login(&app, &headers) {
        Ok((_, s)) => html(StatusCode::OK, pages::psc_logout_confirmation(&s.csrf)),
        Err(to) => redirect(to),
    }
}

#[derive(serde::Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

async fn logout(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (sid, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(form) = parse_form::<LogoutForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        tracing::warn!("psc logout refused: CSRF token missing or wrong");
        return csrf_refused();
    }
    if form.confirm.as_deref() != Some("1") {
        return bad_input(texts::PSC_LOGOUT_NOT_CONFIRMED);
    }
    app.daemon.audit("psc_logout_requested", None).await;
    match app.daemon.psc_logout().await {
        Ok(_) => {
            tracing::info!("psc logout from the web admin");
            app.sessions
                .set_flash(&sid, "info", texts::PSC_LOGGED_OUT.into());
        }
        Err(e) => {
            tracing::warn!(error = ?e, "psc logout failed");
            app.sessions.set_flash(&sid, "error", e.french());
        }
    }
    see_other("/psc")
}

#[derive(serde::Deserialize)]
struct ModeForm {
    #[serde(default)]
    csrf: String,
    /// `card` or `ecps`.
    #[serde(default)]
    login: String,
    #[serde(default)]
    national_id: Option<String>,
}

/// What a refusal of the mode says.
fn mode_refusal(e: &DaemonError) -> (StatusCode, String) {
    match e {
        DaemonError::Refused { code, key, .. } if code == "invalid_setting" => {
            match key.as_deref() {
                Some("credential.national_id") => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    texts::PSC_BAD_NATIONAL_ID.into(),
                ),
                Some("credential.login") => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    texts::PSC_MODE_CHOOSE.into(),
                ),
                // The rest of the installer's registration no longer
                // loads: the setting's name says where.
                _ => (StatusCode::UNPROCESSABLE_ENTITY, setting_refusal(e)),
            }
        }
        // The installer did not register the box with Pro Santé Connect.
        DaemonError::Refused { code, .. } if code == "not_editable" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            texts::PSC_MODE_NOT_AVAILABLE.into(),
        ),
        DaemonError::Refused { .. } => (StatusCode::UNPROCESSABLE_ENTITY, e.french()),
        other => (daemon_status(other), other.french()),
    }
}

/// The card or the e-CPS app, and the identifier to keep; then the
/// restart that applies them.
async fn mode(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (sid, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(form) = parse_form::<ModeForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        tracing::warn!("psc mode refused: CSRF token missing or wrong");
        return csrf_refused();
    }
    let typed_id = form.national_id.as_deref().map(str::trim).unwrap_or("");
    let typed = pages::PscTyped {
        national_id: None,
        mode: Some((form.login.as_str(), typed_id)),
    };
    let refuse = |text: &'static str| {
        render(
            &app,
            &s,
            None,
            Some((StatusCode::UNPROCESSABLE_ENTITY, text)),
            typed,
        )
    };
    let ecps = match form.login.as_str() {
        "ecps" => true,
        "card" => false,
        _ => return refuse(texts::PSC_MODE_CHOOSE).await,
    };
    let typed_id = Some(typed_id).filter(|id| !id.is_empty());
    let national_id = match typed_id {
        Some(id) if valid_national_id(id) => Some(id),
        Some(_) if ecps => return refuse(texts::PSC_BAD_NATIONAL_ID).await,
        // With the card the identifier is the card's: a good one is kept
        // for a later return to e-CPS, one that could not be used is not
        // (its field is hidden while the card is chosen).
        _ => None,
    };
    // The same mode again would only restart the daemon, and the
    // practitioner would have to log in again for nothing.
    if let Ok(Some(v)) = ask(&app).await
        && v.login == form.login
        && v.national_id.as_deref() == national_id
    {
        app.sessions
            .set_flash(&sid, "info", texts::PSC_MODE_UNCHANGED.into());
        return see_other("/psc");
    }
    match app.daemon.use_psc(&form.login, national_id).await {
        Ok(()) => {
            tracing::info!(login = %form.login, "psc mode changed from the web admin");
            app.sessions
                .set_flash(&sid, "info", texts::psc_mode_saved(ecps));
            restart_and_wait(&app, "/psc").await
        }
        Err(e) => {
            tracing::warn!(error = ?e, "psc mode refused");
            let (status, text) = mode_refusal(&e);
            render(&app, &s, None, Some((status, &text)), typed).await
        }
    }
}
