//! Routes and their handlers. Every page but the setup step (only while
//! unclaimed), the login page and the stylesheet needs a logged-in
//! session; every POST needs the session's CSRF token.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use zeroize::Zeroizing;

use crate::app::{App, ClientAddr};
use crate::daemon::DaemonError;
use crate::headers::security_headers;
use crate::session::{self, Session};
use crate::state::AdminRecord;
use crate::{pages, password, texts};

/// Largest form accepted (the forms are a few hundred bytes).
pub const MAX_BODY: usize = 4096;

const STYLESHEET: &str = include_str!("../static/facteur.css");

type Shared = Arc<App>;

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/setup", get(setup_page).post(setup_submit))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/dashboard", get(dashboard))
        .route("/card", get(card_page))
        .route("/card/unlock", post(card_unlock))
        .route("/static/facteur.css", get(stylesheet))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(app)
}

// -- responses ---------------------------------------------------------------

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn redirect(location: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::message(texts::NOT_FOUND_TITLE, texts::NOT_FOUND),
    )
}

fn csrf_refused() -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::message(texts::FORBIDDEN_TITLE, texts::CSRF_REFUSED),
    )
}

fn bad_form() -> Response {
    html(
        StatusCode::BAD_REQUEST,
        pages::message(texts::BAD_REQUEST_TITLE, texts::BAD_REQUEST),
    )
}

fn internal() -> Response {
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        pages::message(texts::INTERNAL_TITLE, texts::INTERNAL),
    )
}

fn too_many(page: String, wait: std::time::Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = html(StatusCode::TOO_MANY_REQUESTS, page);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Parses a urlencoded form from a buffer that is wiped afterwards.
fn parse_form<T: serde::de::DeserializeOwned>(body: Bytes) -> Option<T> {
    let raw = Zeroizing::new(body.to_vec());
    drop(body);
    serde_urlencoded::from_bytes(&raw).ok()
}

// -- sessions ----------------------------------------------------------------

/// The live session of this request, if any.
fn current(app: &App, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = session::id_from_headers(headers)?;
    let session = app.sessions.touch(&id)?;
    Some((id, session))
}

/// The current session, or a new anonymous one (for the setup and login
/// forms); the bool says whether a cookie must be set.
fn visitor(app: &App, headers: &HeaderMap) -> (String, Session, bool) {
    match current(app, headers) {
        Some((id, s)) => (id, s, false),
        None => {
            let (id, s) = app.sessions.create(false);
            (id, s, true)
        }
    }
}

/// A logged-in session, or where to send the visitor (setup while
/// unclaimed, else login).
fn require_login(app: &App, headers: &HeaderMap) -> Result<(String, Session), &'static str> {
    if !app.is_claimed() {
        return Err("/setup");
    }
    match current(app, headers) {
        Some((id, s)) if s.authenticated => Ok((id, s)),
        // A cookie whose session is gone: it expired or was logged out.
        None if session::id_from_headers(headers).is_some() => Err("/login?info=expired"),
        _ => Err("/login"),
    }
}

// -- handlers ------------------------------------------------------------------

async fn root(State(app): State<Shared>, headers: HeaderMap) -> Response {
    match require_login(&app, &headers) {
        Ok(_) => redirect("/dashboard"),
        Err(to) => redirect(to),
    }
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

async fn setup_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if app.is_claimed() {
        return not_found().await;
    }
    let (id, s, new) = visitor(&app, &headers);
    let response = html(StatusCode::OK, pages::setup(&s.csrf, None));
    if new {
        with_cookie(response, &session::cookie(&id))
    } else {
        response
    }
}

#[derive(serde::Deserialize)]
struct SetupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: Zeroizing<String>,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    confirm: Zeroizing<String>,
}

async fn setup_submit(
    State(app): State<Shared>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if app.is_claimed() {
        return not_found().await;
    }
    let Some((_, s)) = current(&app, &headers) else {
        return csrf_refused();
    };
    let Some(form) = parse_form::<SetupForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        tracing::warn!("setup form refused: CSRF token missing or wrong");
        return csrf_refused();
    }
    let ip = ClientAddr::ip(client.as_deref());
    let refuse =
        |status: StatusCode, reason: &str| html(status, pages::setup(&s.csrf, Some(reason)));
    if let Err(wait) = app.setup_limit.check(ip) {
        return too_many(
            pages::setup(&s.csrf, Some(&texts::too_many(wait.as_secs().max(1)))),
            wait,
        );
    }
    let _claiming = app.claim_lock.lock().await;
    if app.is_claimed() {
        return not_found().await;
    }
    let (code_ok, strength) = app.with_setup_code(|code| {
        (
            code.is_some_and(|c| c.matches(&form.code)),
            password::check_strength(&form.password, code),
        )
    });
    if !code_ok {
        app.setup_limit.failure(ip);
        tracing::warn!(client = %ip, "setup code refused");
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, texts::SETUP_WRONG_CODE);
    }
    app.setup_limit.success(ip);
    if *form.password != *form.confirm {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, texts::SETUP_MISMATCH);
    }
    if let Err(weakness) = strength {
        tracing::info!(rule = ?weakness, "setup: password refused as weak");
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, weakness.reason());
    }
    let password = form.password.clone();
    let hashed = tokio::task::spawn_blocking(move || password::hash(&password)).await;
    let Ok(Ok(password_hash)) = hashed else {
        tracing::error!("setup: cannot hash the password");
        return internal();
    };
    let claimed_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if let Err(e) = app.claim(AdminRecord {
        password_hash,
        claimed_at,
    }) {
        tracing::error!(error = %e, "setup: cannot record the claim");
        return internal();
    }
    tracing::info!(client = %ip, "box claimed");
    app.daemon
        .audit("box_claimed", Some(&format!("from {ip}")))
        .await;
    with_cookie(redirect("/login?info=claimed"), &session::cookie_removal())
}

fn login_info(uri: &Uri) -> Option<&'static str> {
    match uri.query()? {
        "info=claimed" => Some(texts::SETUP_DONE),
        "info=logout" => Some(texts::LOGGED_OUT),
        "info=expired" => Some(texts::SESSION_ENDED),
        _ => None,
    }
}

async fn login_page(State(app): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    if !app.is_claimed() {
        return redirect("/setup");
    }
    let (id, s, new) = visitor(&app, &headers);
    if s.authenticated {
        return redirect("/dashboard");
    }
    let response = html(
        StatusCode::OK,
        pages::login(&s.csrf, None, login_info(&uri)),
    );
    if new {
        with_cookie(response, &session::cookie(&id))
    } else {
        response
    }
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: Zeroizing<String>,
}

async fn login_submit(
    State(app): State<Shared>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(hash) = app.password_hash() else {
        return redirect("/setup");
    };
    let Some((old_id, s)) = current(&app, &headers) else {
        return csrf_refused();
    };
    let Some(form) = parse_form::<LoginForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        tracing::warn!("login refused: CSRF token missing or wrong");
        return csrf_refused();
    }
    let ip = ClientAddr::ip(client.as_deref());
    if let Err(wait) = app.login_limit.check(ip) {
        return too_many(
            pages::login(&s.csrf, Some(&texts::too_many(wait.as_secs().max(1))), None),
            wait,
        );
    }
    let password = form.password.clone();
    let ok = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        app.login_limit.failure(ip);
        tracing::warn!(client = %ip, "login: wrong password");
        app.daemon
            .audit("signin_failed", Some(&format!("from {ip}")))
            .await;
        return html(
            StatusCode::UNAUTHORIZED,
            pages::login(&s.csrf, Some(texts::LOGIN_WRONG), None),
        );
    }
    app.login_limit.success(ip);
    let (id, _) = app.sessions.rotate_to_authenticated(Some(&old_id));
    tracing::info!(client = %ip, "admin logged in");
    app.daemon
        .audit("signin", Some(&format!("from {ip}")))
        .await;
    with_cookie(redirect("/dashboard"), &session::cookie(&id))
}

#[derive(serde::Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (id, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(form) = parse_form::<CsrfForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        return csrf_refused();
    }
    app.sessions.remove(&id);
    tracing::info!("admin logged out");
    app.daemon.audit("signout", None).await;
    with_cookie(redirect("/login?info=logout"), &session::cookie_removal())
}

async fn dashboard(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let status = app.daemon.status().await;
    if let Err(e) = &status {
        tracing::warn!(error = ?e, "dashboard: daemon status unavailable");
    }
    html(
        StatusCode::OK,
        pages::dashboard(&s.csrf, status.as_ref().map_err(DaemonError::french)),
    )
}

async fn card_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let card = app.daemon.card().await;
    html(
        StatusCode::OK,
        pages::card(&s.csrf, card.as_ref().map_err(DaemonError::french), None),
    )
}

#[derive(serde::Deserialize)]
struct UnlockForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pin: Zeroizing<String>,
    #[serde(default)]
    confirm_last_try: Option<String>,
}

fn pin_well_formed(pin: &str) -> bool {
    (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

async fn card_unlock(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(form) = parse_form::<UnlockForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        tracing::warn!("card unlock refused: CSRF token missing or wrong");
        return csrf_refused();
    }
    let UnlockForm {
        pin,
        confirm_last_try,
        ..
    } = form;
    let (status, error) = if !pin_well_formed(&pin) {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            texts::PIN_FORMAT.to_string(),
        )
    } else {
        match app.daemon.unlock(pin, confirm_last_try.is_some()).await {
            Ok(_) => {
                tracing::info!("card unlocked from the web admin");
                return redirect("/dashboard");
            }
            Err(e) => {
                tracing::warn!(error = ?e, "card unlock refused");
                let status = match e {
                    DaemonError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::SERVICE_UNAVAILABLE,
                };
                (status, e.french())
            }
        }
    };
    let card = app.daemon.card().await;
    html(
        status,
        pages::card(
            &s.csrf,
            card.as_ref().map_err(DaemonError::french),
            Some(&error),
        ),
    )
}
