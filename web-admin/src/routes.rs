//! Routes and their handlers. Every page but the setup step (only while
//! unclaimed), the login page, the stylesheet and the script needs a
//! logged-in session; every POST needs the session's CSRF token.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use zeroize::Zeroizing;

use crate::app::{App, ClientAddr};
use crate::daemon::{DaemonError, QueueAction, TrackingSearch, encode};
use crate::headers::security_headers;
use crate::session::{self, Session};
use crate::state::AdminRecord;
use crate::{localtime, pages, password, texts};

/// Diagnostics, technical logs and the support bundle.
mod diagnostics;
mod directory;
/// « Pro Santé Connect ».
mod psc;
mod update;

/// Largest form accepted (the forms are a few hundred bytes).
pub const MAX_BODY: usize = 4096;

const STYLESHEET: &str = include_str!("../static/facteur.css");

type Shared = Arc<App>;

mod wizard;
pub use wizard::settings_changes;

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/setup", get(setup_page).post(setup_submit))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/dashboard", get(dashboard))
        .route("/board/identify", post(board_identify))
        .route("/card", get(card_page))
        .route("/card/unlock", post(card_unlock))
        .route("/queue", get(queue_page))
        .route("/queue/{id}/delete", get(delete_page).post(queue_delete))
        .route("/queue/{id}/{action}", post(queue_action))
        .route("/tracking", get(tracking_page))
        .route("/tracking/{key}", get(timeline_page))
        .route("/tracking/{key}/document", get(sent_document))
        .route("/audit", get(audit_page))
        .route("/audit/export", get(audit_export))
        .merge(directory::routes())
        .route("/diagnostics", get(diagnostics::diagnostics_page))
        .route("/logs", get(diagnostics::logs_page))
        .route("/support-bundle", get(diagnostics::support_bundle))
        .route("/static/facteur.css", get(stylesheet))
        .merge(wizard::router())
        .merge(update::router())
        .merge(psc::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(app.clone(), nav))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(app)
}

/// Gives the pages of this request the nav's optional entries.
async fn nav(
    State(app): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    pages::with_psc_nav(app.psc_flag(), next.run(request)).await
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

async fn board_identify(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(form) = parse_form::<CsrfForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        return csrf_refused();
    }
    match app.daemon.identify().await {
        Ok(()) => redirect("/dashboard?info=identify"),
        Err(e) => html(
            daemon_status(&e),
            pages::message(texts::DASHBOARD_TITLE, &e.french()),
        ),
    }
}

async fn dashboard(
    State(app): State<Shared>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    // DNS, clock and disk lights: the daemon's quick checks (no
    // connection to the operator), asked alongside the status.
    let (status, quick, board) = tokio::join!(
        app.daemon.status(),
        app.daemon.diagnostics(true),
        app.daemon.board()
    );
    if let Err(e) = &status {
        tracing::warn!(error = ?e, "dashboard: daemon status unavailable");
    }
    // A network change waiting for its confirmation: say it first.
    if app.network_token().is_some()
        && let Ok(state) = app.daemon.network().await
        && state
            .network
            .as_ref()
            .is_some_and(|n| n.pending_seconds.is_some())
    {
        return redirect("/settings/network");
    }
    if let Ok(st) = &status {
        app.note_psc(st.psc.is_some());
    }
    // A box not set up has nothing to show yet: the wizard goes on.
    if matches!(&status, Ok(s) if !s.configured) {
        return redirect("/wizard");
    }
    let lights = quick
        .as_ref()
        .map(pages::diagnostic_lights)
        .unwrap_or_default();
    // The last messages out: only worth asking when the daemon answered.
    let recent = match &status {
        Ok(_) => app
            .daemon
            .tracking_search(&TrackingSearch {
                limit: DASHBOARD_LATEST,
                ..TrackingSearch::default()
            })
            .await
            .ok(),
        Err(_) => None,
    };
    let received = match &status {
        Ok(_) => app.daemon.received(DASHBOARD_LATEST).await.ok(),
        Err(_) => None,
    };
    html(
        StatusCode::OK,
        pages::dashboard(
            &s.csrf,
            status.as_ref().map_err(DaemonError::french),
            recent.as_deref(),
            received.as_deref(),
            &lights,
            &pages::board_panel(
                &s.csrf,
                board.ok().flatten().as_ref(),
                uri.query() == Some("info=identify"),
            ),
        ),
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
    /// Sent from the set-up wizard's card step.
    #[serde(default)]
    wizard: Option<String>,
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
        wizard,
        ..
    } = form;
    let wizard = wizard.is_some();
    let (status, error) = if !pin_well_formed(&pin) {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            texts::PIN_FORMAT.to_string(),
        )
    } else {
        match app.daemon.unlock(pin, confirm_last_try.is_some()).await {
            Ok(_) => {
                tracing::info!("card unlocked from the web admin");
                return redirect(if wizard { "/wizard/test" } else { "/dashboard" });
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
    if wizard {
        return wizard::card_step_refused(&app, &s.csrf, status, &error).await;
    }
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

// -- queue, tracking, audit ------------------------------------------------------

/// Messages shown under « Derniers messages » on the dashboard.
const DASHBOARD_LATEST: usize = 5;
/// Results of one tracking search.
const SEARCH_LIMIT: usize = 200;
/// Audit entries per page.
const AUDIT_PAGE: usize = 50;
/// Entries asked per call while exporting.
const EXPORT_BATCH: usize = 1000;

fn bad_input(reason: &str) -> Response {
    html(
        StatusCode::BAD_REQUEST,
        pages::message(texts::BAD_INPUT_TITLE, reason),
    )
}

fn not_found_with(reason: &str) -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::message(texts::NOT_FOUND_TITLE, reason),
    )
}

/// The status of a page whose daemon call failed.
fn daemon_status(e: &DaemonError) -> StatusCode {
    match e {
        DaemonError::Refused { status: 404, .. } => StatusCode::NOT_FOUND,
        DaemonError::Refused { status: 400, .. } => StatusCode::BAD_REQUEST,
        DaemonError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A queue id: 16 hexadecimal digits (as the daemon writes them, upper case).
fn valid_queue_id(id: &str) -> Option<String> {
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_ascii_uppercase())
}

/// A recipient address as the queue holds it: no space, no control
/// character, one `@` with something on each side, at most 320 bytes.
fn valid_recipient(r: &str) -> bool {
    let Some((local, domain)) = r.rsplit_once('@') else {
        return false;
    };
    r.len() <= 320
        && !local.is_empty()
        && !domain.is_empty()
        && r.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !matches!(c, '<' | '>' | '"'))
}

/// A Message-ID (angle brackets optional) or a queue id: 1 to 250
/// printable ASCII characters, no space.
fn valid_message_key(key: &str) -> bool {
    (1..=250).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

fn no_controls(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

#[derive(serde::Deserialize, Default)]
struct QueueTarget {
    #[serde(default)]
    recipient: Option<String>,
    #[serde(default)]
    back: Option<String>,
}

/// The checked recipient and timeline to return to, or why not (for a
/// 400 page).
fn check_target(target: &QueueTarget) -> Result<(Option<&str>, Option<&str>), &'static str> {
    let recipient = target.recipient.as_deref().filter(|r| !r.is_empty());
    if recipient.is_some_and(|r| !valid_recipient(r)) {
        return Err(texts::BAD_RECIPIENT);
    }
    let back = target.back.as_deref().filter(|b| !b.is_empty());
    if back.is_some_and(|b| !valid_message_key(b)) {
        return Err(texts::BAD_MESSAGE_ID);
    }
    Ok((recipient, back))
}

async fn queue_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (id, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let entries = app.daemon.queue().await;
    if let Err(e) = &entries {
        tracing::warn!(error = ?e, "queue page: daemon queue unavailable");
    }
    let flash = app.sessions.take_flash(&id);
    let status = entries.as_ref().err().map_or(StatusCode::OK, daemon_status);
    html(
        status,
        pages::queue(
            &s.csrf,
            flash.as_ref().map(|(k, t)| (*k, t.as_str())),
            entries.as_deref().map_err(DaemonError::french),
        ),
    )
}

async fn delete_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(qid) = valid_queue_id(&raw_id) else {
        return bad_input(texts::BAD_QUEUE_ID);
    };
    let Ok(target) = serde_urlencoded::from_str::<QueueTarget>(query.as_deref().unwrap_or(""))
    else {
        return bad_input(texts::BAD_RECIPIENT);
    };
    let (recipient, back) = match check_target(&target) {
        Ok(v) => v,
        Err(reason) => return bad_input(reason),
    };
    let entries = match app.daemon.queue().await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = ?e, "delete page: daemon queue unavailable");
            return html(
                daemon_status(&e),
                pages::message(texts::DELETE_TITLE, &e.french()),
            );
        }
    };
    let of_message: Vec<_> = entries.into_iter().filter(|e| e.id == qid).collect();
    if of_message.is_empty()
        || recipient.is_some_and(|r| !of_message.iter().any(|e| e.recipient == r))
    {
        return not_found_with(texts::NO_SUCH_MESSAGE);
    }
    let deletable: Vec<_> = of_message
        .into_iter()
        .filter(|e| pages::actionable(&e.status) && recipient.is_none_or(|r| e.recipient == r))
        .collect();
    if deletable.is_empty() {
        return html(
            StatusCode::CONFLICT,
            pages::message(texts::DELETE_TITLE, texts::DELETE_NOTHING),
        );
    }
    html(
        StatusCode::OK,
        pages::delete_confirmation(&s.csrf, &qid, recipient, back, &deletable),
    )
}

#[derive(serde::Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    recipient: Option<String>,
    #[serde(default)]
    back: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

async fn queue_delete(
    state: State<Shared>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Response {
    act(state, headers, raw_id, "delete", body).await
}

async fn queue_action(
    state: State<Shared>,
    headers: HeaderMap,
    Path((raw_id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    act(state, headers, raw_id, &action, body).await
}

/// A queue action from a form: login, CSRF, input checks, the daemon,
/// then back to the page it came from with the outcome (Post/Redirect/Get).
async fn act(
    State(app): State<Shared>,
    headers: HeaderMap,
    raw_id: String,
    action: &str,
    body: Bytes,
) -> Response {
    let (sid, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(form) = parse_form::<ActionForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        tracing::warn!("queue action refused: CSRF token missing or wrong");
        return csrf_refused();
    }
    let Some(action) = QueueAction::parse(action) else {
        return not_found_with(texts::BAD_ACTION);
    };
    let Some(qid) = valid_queue_id(&raw_id) else {
        return bad_input(texts::BAD_QUEUE_ID);
    };
    let target = QueueTarget {
        recipient: form.recipient,
        back: form.back,
    };
    let (recipient, back) = match check_target(&target) {
        Ok(v) => v,
        Err(reason) => return bad_input(reason),
    };
    if action == QueueAction::Delete && form.confirm.as_deref() != Some("1") {
        return bad_input(texts::DELETE_NOT_CONFIRMED);
    }
    let location = match back {
        Some(b) => format!("/tracking/{}", encode(b)),
        None => "/queue".to_string(),
    };
    match app.daemon.queue_action(&qid, action, recipient).await {
        Ok(outcome) => {
            tracing::info!(queue_id = %qid, action = action.as_str(), "queue action from the web admin");
            app.sessions.set_flash(
                &sid,
                "info",
                texts::action_done(action.as_str(), &outcome.changed),
            );
        }
        Err(e @ DaemonError::Refused { status: 404, .. }) => {
            tracing::info!(queue_id = %qid, "queue action: no such message");
            return html(
                StatusCode::NOT_FOUND,
                pages::message(texts::NOT_FOUND_TITLE, &e.french()),
            );
        }
        Err(e) => {
            tracing::warn!(queue_id = %qid, action = action.as_str(), error = ?e, "queue action refused");
            app.sessions.set_flash(&sid, "error", e.french());
        }
    }
    see_other(&location)
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => internal(),
    }
}

#[derive(serde::Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// The search to send, or the sentence saying what is wrong.
fn check_search(q: &SearchQuery) -> Result<TrackingSearch, &'static str> {
    let text = q.q.trim();
    if text.chars().count() > 200 || !no_controls(text) {
        return Err(texts::BAD_SEARCH_TEXT);
    }
    let state = q.state.trim();
    if !state.is_empty() && !texts::SEARCH_STATES.contains(&state) {
        return Err(texts::BAD_STATE);
    }
    let date = |d: &str| -> Result<Option<(i64, u32, u32)>, &'static str> {
        let d = d.trim();
        if d.is_empty() {
            return Ok(None);
        }
        localtime::parse_date(d).map(Some).ok_or(texts::BAD_DATE)
    };
    let (from, to) = (date(&q.from)?, date(&q.to)?);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(texts::BAD_DATE_ORDER);
    }
    Ok(TrackingSearch {
        q: (!text.is_empty()).then(|| text.to_string()),
        state: (!state.is_empty()).then(|| state.to_string()),
        from: from.map(localtime::paris_midnight),
        to: to.map(localtime::paris_end_of_day),
        limit: SEARCH_LIMIT,
    })
}

async fn tracking_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let raw = query.unwrap_or_default();
    if raw.len() > 2048 {
        return bad_input(texts::BAD_SEARCH_TEXT);
    }
    let Ok(q) = serde_urlencoded::from_str::<SearchQuery>(&raw) else {
        return bad_input(texts::BAD_SEARCH_TEXT);
    };
    let form = pages::SearchForm {
        q: q.q.clone(),
        state: q.state.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
    };
    let search = match check_search(&q) {
        Ok(s) => s,
        Err(reason) => {
            return html(
                StatusCode::BAD_REQUEST,
                pages::tracking(&s.csrf, &form, Some(reason), None, SEARCH_LIMIT),
            );
        }
    };
    let hits = app.daemon.tracking_search(&search).await;
    if let Err(e) = &hits {
        tracing::warn!(error = ?e, "tracking search failed");
    }
    let status = hits.as_ref().err().map_or(StatusCode::OK, daemon_status);
    html(
        status,
        pages::tracking(
            &s.csrf,
            &form,
            None,
            Some(hits.as_deref().map_err(DaemonError::french)),
            SEARCH_LIMIT,
        ),
    )
}

async fn timeline_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let (sid, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    if !valid_message_key(&key) {
        return bad_input(texts::BAD_MESSAGE_ID);
    }
    match app.daemon.timeline(&key).await {
        Ok(t) => {
            let flash = app.sessions.take_flash(&sid);
            html(
                StatusCode::OK,
                pages::timeline(
                    &s.csrf,
                    flash.as_ref().map(|(k, t)| (*k, t.as_str())),
                    &key,
                    &t,
                ),
            )
        }
        Err(e) => {
            if !matches!(e, DaemonError::Refused { status: 404, .. }) {
                tracing::warn!(error = ?e, "timeline unavailable");
            }
            let title = if matches!(e, DaemonError::Refused { status: 404, .. }) {
                texts::NOT_FOUND_TITLE
            } else {
                texts::TIMELINE_TITLE
            };
            html(daemon_status(&e), pages::message(title, &e.french()))
        }
    }
}

/// The document a message carried, as a download named as it was dropped.
async fn sent_document(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    if let Err(to) = require_login(&app, &headers) {
        return redirect(to);
    }
    if !valid_message_key(&key) {
        return bad_input(texts::BAD_MESSAGE_ID);
    }
    let name = match app.daemon.timeline(&key).await {
        Ok(t) => t.document.unwrap_or_else(|| "document.pdf".into()),
        Err(e) => {
            return html(
                daemon_status(&e),
                pages::message(texts::TIMELINE_TITLE, &e.french()),
            );
        }
    };
    match app.daemon.sent_document(&key).await {
        Ok(pdf) => {
            app.daemon
                .audit_on("document_downloaded", Some(&key), None)
                .await;
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/pdf"),
                    ),
                    (header::CONTENT_DISPOSITION, attachment(&name)),
                ],
                pdf,
            )
                .into_response()
        }
        Err(e) => {
            let status = match &e {
                DaemonError::Refused { status: 410, .. } => StatusCode::GONE,
                other => daemon_status(other),
            };
            html(status, pages::message(texts::TIMELINE_TITLE, &e.french()))
        }
    }
}

/// `attachment` with the file's name: plain ASCII in `filename` (others
/// replaced), the exact name in `filename*` (RFC 6266, UTF-8).
fn attachment(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let value = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        encode(name)
    );
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("attachment; filename=\"document.pdf\""))
}

#[derive(serde::Deserialize, Default)]
struct AuditQuery {
    #[serde(default)]
    after_seq: Option<String>,
}

async fn audit_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Ok(q) = serde_urlencoded::from_str::<AuditQuery>(query.as_deref().unwrap_or("")) else {
        return bad_input(texts::BAD_SEQ);
    };
    let after_seq = match q.after_seq.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(a) if a.len() <= 19 && a.bytes().all(|b| b.is_ascii_digit()) => match a.parse() {
            Ok(n) => Some(n),
            Err(_) => return bad_input(texts::BAD_SEQ),
        },
        Some(_) => return bad_input(texts::BAD_SEQ),
    };
    let (verify, entries) = tokio::join!(
        app.daemon.audit_verify(),
        app.daemon.audit_list(after_seq, AUDIT_PAGE)
    );
    if let Err(e) = &entries {
        tracing::warn!(error = ?e, "audit page: entries unavailable");
    }
    let status = entries.as_ref().err().map_or(StatusCode::OK, daemon_status);
    html(
        status,
        pages::audit(
            &s.csrf,
            pages::AuditPage {
                verify: verify.as_ref().map_err(DaemonError::french),
                entries: entries.as_deref().map_err(DaemonError::french),
                after_seq,
                limit: AUDIT_PAGE,
            },
        ),
    )
}

enum ExportNext {
    Page(Vec<crate::daemon::AuditEntry>),
    Failed,
    Done,
}

/// The whole log as JSON lines, as the daemon wrote them, page after page
/// (the first page is read before answering, so a daemon that is down
/// gets an error page, not an empty file).
async fn audit_export(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(to) = require_login(&app, &headers) {
        return redirect(to);
    }
    let first = match app.daemon.audit_list(Some(0), EXPORT_BATCH).await {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(error = ?e, "audit export: daemon unavailable");
            return html(
                daemon_status(&e),
                pages::message(texts::AUDIT_TITLE, &e.french()),
            );
        }
    };
    app.daemon.audit("audit_exported", None).await;
    let file_stamp = localtime::file_stamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    );
    let stream =
        futures_util::stream::unfold((app, ExportNext::Page(first)), |(app, next)| async move {
            let page = match next {
                ExportNext::Page(page) if !page.is_empty() => page,
                ExportNext::Page(_) | ExportNext::Done => return None,
                ExportNext::Failed => {
                    return Some((
                        Err(std::io::Error::other("audit export cut short")),
                        (app, ExportNext::Done),
                    ));
                }
            };
            let mut chunk = String::with_capacity(page.len() * 256);
            for entry in &page {
                chunk.push_str(&entry.to_line());
                chunk.push('\n');
            }
            let next = match page.last() {
                Some(last) if page.len() >= EXPORT_BATCH => {
                    match app.daemon.audit_list(Some(last.seq), EXPORT_BATCH).await {
                        Ok(p) => ExportNext::Page(p),
                        Err(e) => {
                            tracing::warn!(error = ?e, "audit export cut short");
                            ExportNext::Failed
                        }
                    }
                }
                _ => ExportNext::Done,
            };
            Some((Ok(Bytes::from(chunk)), (app, next)))
        });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!(
                    "attachment; filename=\"facteur-journal-{file_stamp}.jsonl\""
                ))
                .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}
