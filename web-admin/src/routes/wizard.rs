//! The set-up wizard after the claim (steps 2 to 5) and the daily pages
//! that change settings: local accounts, settings, the certificate,
//! restart. Changes go to the daemon's settings endpoints; those that
//! need it restart the daemon, and the browser waits on a page that
//! reloads itself until the daemon is back.

// A refusal is the page to send back: handlers return it as is, and a
// boxed Response would only move the allocation around.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;
use axum::extract::multipart::MultipartRejection;
use axum::handler::Handler;

use super::*;
use crate::daemon_setup::SettingsView;
use crate::pages::MailboxForm;

/// Largest upload (a certificate file is a few KiB).
pub const MAX_UPLOAD: usize = 128 * 1024;
/// Largest backup file (settings, certificate, a large address book).
const MAX_BACKUP: usize = 4 * 1024 * 1024;
/// The settings form carries every setting.
const MAX_SETTINGS_FORM: usize = 32 * 1024;

pub(super) fn router() -> Router<Shared> {
    Router::new()
        .route("/wizard", get(start))
        .route(
            "/wizard/mailbox",
            get(mailbox_page).post(mailbox_submit.layer(DefaultBodyLimit::max(MAX_UPLOAD))),
        )
        .route("/wizard/restarting", get(restarting))
        .route("/wizard/card", get(card_step))
        .route("/wizard/test", get(test_page).post(test_submit))
        .route(
            "/wizard/accounts",
            get(wizard_accounts).post(wizard_account_submit),
        )
        .route("/accounts", get(accounts_page).post(account_submit))
        .route(
            "/accounts/{user}/delete",
            get(account_delete_page).post(account_delete),
        )
        .route(
            "/settings",
            get(settings_page)
                .post(settings_submit.layer(DefaultBodyLimit::max(MAX_SETTINGS_FORM))),
        )
        .route(
            "/settings/certificate",
            get(certificate_page).post(certificate_submit.layer(DefaultBodyLimit::max(MAX_UPLOAD))),
        )
        .route("/restart", get(restart_page).post(restart_submit))
        .route("/settings/backup", get(backup_page).post(backup_download))
        .route("/settings/network", get(network_page).post(network_submit))
        .route("/settings/network/confirm", post(network_confirm))
        .route(
            "/settings/restore",
            post(restore_submit.layer(DefaultBodyLimit::max(MAX_BACKUP))),
        )
}

type Login = (String, Session);

fn login(app: &App, headers: &HeaderMap) -> Result<Login, Response> {
    require_login(app, headers).map_err(redirect)
}

/// A logged-in POST with a urlencoded form carrying the session's token.
fn posted<T: serde::de::DeserializeOwned + HasCsrf>(
    app: &App,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Login, T), Response> {
    let login = login(app, headers)?;
    let form: T = parse_form(body).ok_or_else(bad_form)?;
    if !login.1.csrf_matches(Some(form.csrf())) {
        return Err(csrf_refused());
    }
    Ok((login, form))
}

trait HasCsrf {
    fn csrf(&self) -> &str;
}

#[derive(serde::Deserialize)]
struct PlainForm {
    #[serde(default)]
    csrf: String,
}

impl HasCsrf for PlainForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Fields of a multipart form (texts) and its file, if any.
struct Upload {
    fields: HashMap<String, Zeroizing<String>>,
    file: Option<Zeroizing<Vec<u8>>>,
}

impl Upload {
    fn text(&self, name: &str) -> String {
        self.fields
            .get(name)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    }
}

fn upload_refused(e: MultipartError) -> Response {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        html(
            StatusCode::PAYLOAD_TOO_LARGE,
            pages::message(texts::BAD_REQUEST_TITLE, texts::UPLOAD_TOO_LARGE),
        )
    } else {
        bad_form()
    }
}

/// Reads a multipart form (logged in, CSRF checked before anything else
/// is done with it).
async fn read_upload(
    app: &App,
    headers: &HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(Login, Upload), Response> {
    let login = login(app, headers)?;
    let mut multipart = multipart.map_err(|_| bad_form())?;
    let mut upload = Upload {
        fields: HashMap::new(),
        file: None,
    };
    while let Some(field) = multipart.next_field().await.map_err(upload_refused)? {
        let name = field.name().unwrap_or_default().to_string();
        if field.file_name().is_some() {
            let bytes = field.bytes().await.map_err(upload_refused)?;
            if !bytes.is_empty() {
                upload.file = Some(Zeroizing::new(bytes.to_vec()));
            }
        } else {
            let text = Zeroizing::new(field.text().await.map_err(upload_refused)?);
            if text.len() > 1024 || upload.fields.len() > 32 {
                return Err(bad_form());
            }
            upload.fields.insert(name, text);
        }
    }
    let csrf = upload.text("csrf");
    if !login.1.csrf_matches(Some(&csrf)) {
        tracing::warn!("upload refused: CSRF token missing or wrong");
        return Err(csrf_refused());
    }
    Ok((login, upload))
}

fn daemon_down(e: &DaemonError) -> Response {
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::message(texts::WIZARD_TITLE, &e.french()),
    )
}

/// The name the browser used for the box (for the mail clients' settings).
fn host_of(headers: &HeaderMap, fallback: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or(fallback);
    let name = if let Some(end) = host.find(']') {
        // [IPv6]:port
        host[..=end].to_string()
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
            _ => host.to_string(),
        }
    };
    if name.is_empty() || name.len() > 255 || name.contains(|c: char| c.is_control() || c == '/') {
        fallback.to_string()
    } else {
        name
    }
}

// -- restart ------------------------------------------------------------------

/// Asks the daemon to restart and sends the browser to wait for it.
pub(super) async fn restart_and_wait(app: &App, next: &'static str) -> Response {
    app.restart_requested(Instant::now());
    if let Err(e) = app.daemon.restart().await {
        tracing::warn!(error = ?e, "restart not accepted by the daemon");
        return daemon_down(&e);
    }
    tracing::info!("daemon restart requested");
    let location = format!("/wizard/restarting?next={}", encode(next));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// Where the waiting page may lead (never an address from the query).
fn next_page(query: Option<&str>) -> &'static str {
    let wanted = query
        .and_then(|q| q.strip_prefix("next="))
        .map(|v| v.replace("%2F", "/"))
        .unwrap_or_default();
    match wanted.as_str() {
        "/settings" => "/settings",
        "/settings/certificate" => "/settings/certificate",
        "/dashboard" => "/dashboard",
        "/psc" => "/psc",
        _ => "/wizard",
    }
}

async fn restarting(
    State(app): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(to) = login(&app, &headers) {
        return to;
    }
    let next = next_page(query.as_deref());
    // Back once the daemon answers and started after the request (the old
    // process answers for a moment after being asked).
    if let Ok(status) = app.daemon.status().await
        && app.restarted_since_request(status.uptime_secs)
    {
        return redirect(next);
    }
    html(
        StatusCode::OK,
        pages::restarting(&format!("/wizard/restarting?next={}", encode(next))),
    )
}

async fn restart_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    match login(&app, &headers) {
        Ok((_, s)) => html(StatusCode::OK, pages::restart(&s.csrf)),
        Err(to) => to,
    }
}

async fn restart_submit(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = posted::<PlainForm>(&app, &headers, body) {
        return refusal;
    }
    restart_and_wait(&app, "/dashboard").await
}

// -- wizard -------------------------------------------------------------------

async fn start(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(to) = login(&app, &headers) {
        return to;
    }
    match app.daemon.status().await {
        Err(e) => daemon_down(&e),
        Ok(status) if !status.configured => redirect("/wizard/mailbox"),
        Ok(status) => match status.card {
            Some(card) if card.state != "unlocked" => redirect("/wizard/card"),
            _ => redirect("/wizard/test"),
        },
    }
}

async fn mailbox_form_page(
    app: &App,
    csrf: &str,
    form: &MailboxForm,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    match app.daemon.operators().await {
        Ok(operators) => html(status, pages::mailbox_step(csrf, &operators, form, error)),
        Err(e) => daemon_down(&e),
    }
}

async fn mailbox_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (_, s) = match login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return to,
    };
    // What is set already (a box prepared by its installer, or a second pass).
    let form = match app.daemon.settings().await {
        Ok(view) => MailboxForm {
            mailbox: view.text("mssante.mailbox"),
            kind: view.credential.clone().unwrap_or_default(),
            // Hosts typed by hand before (a manual operator), not the
            // installer's defaults.
            smtp_host: view.chosen("upstream.host"),
            smtp_port: view.chosen("upstream.port"),
            imap_host: view.chosen("upstream.imap_host"),
            imap_port: view.chosen("upstream.imap_port"),
            operator: String::new(),
        },
        Err(e) => return daemon_down(&e),
    };
    mailbox_form_page(&app, &s.csrf, &form, None, StatusCode::OK).await
}

async fn mailbox_submit(
    State(app): State<Shared>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let ((_, s), upload) = match read_upload(&app, &headers, multipart).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let form = MailboxForm {
        operator: upload.text("operator"),
        mailbox: upload.text("mailbox"),
        kind: upload.text("kind"),
        smtp_host: upload.text("smtp_host"),
        smtp_port: upload.text("smtp_port"),
        imap_host: upload.text("imap_host"),
        imap_port: upload.text("imap_port"),
    };
    let refuse = |reason: String| {
        let app = app.clone();
        let csrf = s.csrf.clone();
        let form = form.clone();
        async move {
            mailbox_form_page(
                &app,
                &csrf,
                &form,
                Some(&reason),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let operators = match app.daemon.operators().await {
        Ok(list) => list,
        Err(e) => return daemon_down(&e),
    };
    let Some(operator) = operators.iter().find(|o| o.id == form.operator) else {
        return refuse(texts::CHOOSE_OPERATOR.into()).await;
    };
    if form.kind != "card" && form.kind != "software" {
        return refuse(texts::CHOOSE_TYPE.into()).await;
    }
    let mut changes = serde_json::Map::new();
    if operator.manual {
        let port = |text: &str, default: u16| match text {
            "" => Some(default),
            t => t.parse::<u16>().ok().filter(|p| *p > 0),
        };
        let (Some(smtp_port), Some(imap_port)) =
            (port(&form.smtp_port, 587), port(&form.imap_port, 143))
        else {
            return refuse(texts::MANUAL_NEEDED.into()).await;
        };
        if form.smtp_host.is_empty() || form.imap_host.is_empty() {
            return refuse(texts::MANUAL_NEEDED.into()).await;
        }
        changes.insert("upstream.host".into(), form.smtp_host.clone().into());
        changes.insert("upstream.port".into(), smtp_port.into());
        changes.insert("upstream.imap_host".into(), form.imap_host.clone().into());
        changes.insert("upstream.imap_port".into(), imap_port.into());
    }
    changes.insert("mssante.mailbox".into(), form.mailbox.clone().into());
    let password = upload
        .fields
        .get("p12_password")
        .cloned()
        .unwrap_or_default();
    // The certificate first: a wrong password or a damaged file is the
    // likeliest refusal, and nothing else has changed yet.
    let credential = if form.kind == "software" {
        match (&upload.file, password.is_empty()) {
            (Some(file), false) => app.daemon.use_pkcs12(file, &password).await.map(drop),
            _ => return refuse(texts::P12_NEEDED.into()).await,
        }
    } else {
        app.daemon.use_card().await
    };
    if let Err(e) = credential {
        return refuse(e.french()).await;
    }
    if !operator.manual
        && let Err(e) = app.daemon.choose_operator(&operator.id).await
    {
        return refuse(e.french()).await;
    }
    if let Err(e) = app.daemon.change_settings(changes).await {
        return refuse(setting_refusal(&e)).await;
    }
    restart_and_wait(&app, "/wizard").await
}

/// The refusal of a setting, with the setting's name.
pub(super) fn setting_refusal(e: &DaemonError) -> String {
    match e {
        DaemonError::Refused {
            code,
            key: Some(key),
            message,
            ..
        } if code == "invalid_setting" => {
            // The daemon's reason is technical English; the field's name
            // tells the practice where to look.
            format!(
                "{} : {}",
                texts::setting_label(key),
                reason_in_french(message)
            )
        }
        other => other.french(),
    }
}

fn reason_in_french(message: &str) -> String {
    format!("{} ({message})", texts::SETTING_REFUSED)
}

async fn card_step(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (_, s) = match login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return to,
    };
    let settings = match app.daemon.settings().await {
        Ok(v) => v,
        Err(e) => return daemon_down(&e),
    };
    let software = settings.credential.as_deref() == Some("software");
    let card = if software {
        None
    } else {
        Some(app.daemon.card().await)
    };
    let card = match &card {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => Err(e.french()),
        None => Err(String::new()),
    };
    html(
        StatusCode::OK,
        pages::card_step(&s.csrf, software, card, None),
    )
}

/// The card step again, after a refused PIN.
pub(super) async fn card_step_refused(
    app: &App,
    csrf: &str,
    status: StatusCode,
    error: &str,
) -> Response {
    let card = app.daemon.card().await;
    html(
        status,
        pages::card_step(
            csrf,
            false,
            card.as_ref().map_err(DaemonError::french),
            Some(error),
        ),
    )
}

async fn test_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    match login(&app, &headers) {
        Ok((_, s)) => html(StatusCode::OK, pages::test_step(&s.csrf, None)),
        Err(to) => to,
    }
}

async fn test_submit(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let ((_, s), _) = match posted::<PlainForm>(&app, &headers, body) {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let result = app.daemon.connection_test().await;
    match &result {
        Ok(test) => tracing::info!(ok = test.ok, "connection test from the web admin"),
        Err(e) => tracing::warn!(error = ?e, "connection test not run"),
    }
    html(
        StatusCode::OK,
        pages::test_step(&s.csrf, Some(result.as_ref().map_err(DaemonError::french))),
    )
}

// -- local accounts -------------------------------------------------------------

async fn accounts_view(app: &App, headers: &HeaderMap, wizard: bool) -> Response {
    let (id, s) = match login(app, headers) {
        Ok(v) => v,
        Err(to) => return to,
    };
    let settings = app.daemon.settings().await;
    let flash = app.sessions.take_flash(&id);
    let host = host_of(headers, &app.config.hostname);
    let (accounts, local) = match &settings {
        Ok(view) => (Ok(view.accounts.as_slice()), view.local.as_ref()),
        Err(e) => (Err(e.french()), None),
    };
    html(
        StatusCode::OK,
        pages::accounts(
            &s.csrf,
            wizard,
            accounts,
            local,
            &host,
            flash.as_ref().map(|(k, t)| (*k, t.as_str())),
        ),
    )
}

async fn wizard_accounts(State(app): State<Shared>, headers: HeaderMap) -> Response {
    accounts_view(&app, &headers, true).await
}

async fn accounts_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    accounts_view(&app, &headers, false).await
}

#[derive(serde::Deserialize)]
struct AccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    confirm: Zeroizing<String>,
}

impl HasCsrf for AccountForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn save_account(app: &App, headers: &HeaderMap, body: Bytes, back: &'static str) -> Response {
    let ((id, _), form) = match posted::<AccountForm>(app, headers, body) {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let user = form.user.trim().to_string();
    if *form.password != *form.confirm {
        app.sessions
            .set_flash(&id, "error", texts::ACCOUNT_MISMATCH.into());
        return redirect(back);
    }
    let existed = app
        .daemon
        .settings()
        .await
        .map(|v| v.accounts.contains(&user))
        .unwrap_or(false);
    match app.daemon.set_account(&user, &form.password).await {
        Ok(()) => {
            let text = if existed {
                texts::ACCOUNT_UPDATED
            } else {
                texts::ACCOUNT_CREATED
            };
            app.sessions.set_flash(&id, "info", text.into());
        }
        Err(e) => app.sessions.set_flash(&id, "error", e.french()),
    }
    redirect(back)
}

async fn wizard_account_submit(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    save_account(&app, &headers, body, "/wizard/accounts").await
}

async fn account_submit(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    save_account(&app, &headers, body, "/accounts").await
}

fn well_formed_user(user: &str) -> bool {
    facteur::settings::valid_user(user)
}

async fn account_delete_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Response {
    let (_, s) = match login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return to,
    };
    if !well_formed_user(&user) {
        return bad_input(texts::BAD_QUERY);
    }
    match app.daemon.settings().await {
        Ok(view) if view.accounts.contains(&user) => {
            html(StatusCode::OK, pages::account_removal(&s.csrf, &user))
        }
        Ok(_) => {
            not_found_with(texts::settings_refusal("no_such_account").unwrap_or(texts::NOT_FOUND))
        }
        Err(e) => daemon_down(&e),
    }
}

#[derive(serde::Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

impl HasCsrf for ConfirmForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn account_delete(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(user): Path<String>,
    body: Bytes,
) -> Response {
    let ((id, _), form) = match posted::<ConfirmForm>(&app, &headers, body) {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    if !well_formed_user(&user) || form.confirm.as_deref() != Some("1") {
        return bad_input(texts::DELETE_NOT_CONFIRMED);
    }
    match app.daemon.remove_account(&user).await {
        Ok(()) => app
            .sessions
            .set_flash(&id, "info", texts::ACCOUNT_REMOVED.into()),
        Err(e @ DaemonError::Refused { status: 404, .. }) => {
            return not_found_with(&e.french());
        }
        Err(e) => app.sessions.set_flash(&id, "error", e.french()),
    }
    redirect("/accounts")
}

// -- settings -------------------------------------------------------------------

async fn settings_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (_, s) = match login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return to,
    };
    match app.daemon.settings().await {
        Ok(view) => html(StatusCode::OK, pages::settings(&s.csrf, &view, None)),
        Err(e) => daemon_down(&e),
    }
}

/// The changes a settings form asks for, compared with the current
/// values; `Err(key)` for a value of the wrong kind.
pub fn settings_changes(
    view: &SettingsView,
    form: &[(String, String)],
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut changes = serde_json::Map::new();
    for editable in &view.editable {
        let name = pages::field_name(&editable.key);
        // The last value wins (a checkbox follows its hidden "false").
        let Some(raw) = form
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim())
        else {
            continue;
        };
        let value = match editable.kind.as_str() {
            "integer" if raw.is_empty() => serde_json::Value::Null,
            "integer" => match raw.parse::<u64>() {
                Ok(n) => n.into(),
                Err(_) => return Err(editable.key.clone()),
            },
            "boolean" => match raw {
                "true" => true.into(),
                "false" => false.into(),
                _ => return Err(editable.key.clone()),
            },
            "list" => {
                let items: Vec<serde_json::Value> = raw
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| l.to_string().into())
                    .collect();
                if items.is_empty() && !view.values.contains_key(&editable.key) {
                    continue;
                }
                serde_json::Value::Array(items)
            }
            _ if raw.is_empty() => serde_json::Value::Null,
            _ => raw.to_string().into(),
        };
        let current = view.values.get(&editable.key);
        let unchanged = match (&value, current) {
            (serde_json::Value::Null, None) => true,
            (v, Some(c)) => v == c,
            _ => false,
        };
        if !unchanged {
            changes.insert(editable.key.clone(), value);
        }
    }
    Ok(changes)
}

async fn settings_submit(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (id, s) = match login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return to,
    };
    let Ok(form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return bad_form();
    };
    let csrf = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    if !s.csrf_matches(csrf) {
        return csrf_refused();
    }
    let view = match app.daemon.settings().await {
        Ok(v) => v,
        Err(e) => return daemon_down(&e),
    };
    let changes = match settings_changes(&view, &form) {
        Ok(c) => c,
        Err(key) => {
            return html(
                StatusCode::BAD_REQUEST,
                pages::settings(&s.csrf, &view, Some((&key, texts::SETTING_NOT_A_NUMBER))),
            );
        }
    };
    if changes.is_empty() {
        app.sessions
            .set_flash(&id, "info", texts::SETTINGS_UNCHANGED.into());
        return redirect("/settings");
    }
    match app.daemon.change_settings(changes).await {
        Ok(()) => restart_and_wait(&app, "/settings").await,
        Err(e) => {
            let key = match &e {
                DaemonError::Refused { key: Some(k), .. } => k.clone(),
                _ => String::new(),
            };
            let reason = match &e {
                DaemonError::Refused { code, message, .. } if code == "invalid_setting" => {
                    reason_in_french(message)
                }
                other => other.french(),
            };
            html(
                StatusCode::UNPROCESSABLE_ENTITY,
                pages::settings(&s.csrf, &view, Some((&key, &reason))),
            )
        }
    }
}

async fn certificate_view(
    app: &App,
    csrf: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (settings, state) = (app.daemon.settings().await, app.daemon.status().await);
    match (settings, state) {
        (Ok(view), Ok(state)) => html(
            status,
            pages::certificate(
                csrf,
                view.credential.as_deref() == Some("software"),
                &state.credential.identity,
                state.credential.not_after,
                error,
            ),
        ),
        (Err(e), _) | (_, Err(e)) => daemon_down(&e),
    }
}

async fn certificate_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    match login(&app, &headers) {
        Ok((_, s)) => certificate_view(&app, &s.csrf, None, StatusCode::OK).await,
        Err(to) => to,
    }
}

async fn certificate_submit(
    State(app): State<Shared>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let ((_, s), upload) = match read_upload(&app, &headers, multipart).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let password = upload
        .fields
        .get("p12_password")
        .cloned()
        .unwrap_or_default();
    let Some(file) = &upload.file else {
        return certificate_view(
            &app,
            &s.csrf,
            Some(texts::P12_NEEDED),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    if password.is_empty() {
        return certificate_view(
            &app,
            &s.csrf,
            Some(texts::P12_NEEDED),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    match app.daemon.use_pkcs12(file, &password).await {
        Ok(_) => restart_and_wait(&app, "/settings/certificate").await,
        Err(e) => {
            certificate_view(
                &app,
                &s.csrf,
                Some(&e.french()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

// -- backup and restore ---------------------------------------------------------

async fn backup_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    match login(&app, &headers) {
        Ok((_, s)) => html(StatusCode::OK, pages::backup(&s.csrf, None)),
        Err(to) => to,
    }
}

#[derive(serde::Deserialize)]
struct BackupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: Zeroizing<String>,
}

impl HasCsrf for BackupForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The backup, encrypted with the admin password typed again (checked
/// like a login, with the same back-off).
async fn backup_download(
    State(app): State<Shared>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ((_, s), form) = match posted::<BackupForm>(&app, &headers, body) {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let ip = ClientAddr::ip(client.as_deref());
    if let Err(wait) = app.login_limit.check(ip) {
        return too_many(
            pages::backup(&s.csrf, Some(&texts::too_many(wait.as_secs().max(1)))),
            wait,
        );
    }
    let Some(hash) = app.password_hash() else {
        return redirect("/setup");
    };
    let password = form.password.clone();
    let ok = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        app.login_limit.failure(ip);
        app.daemon
            .audit("backup_refused", Some(&format!("from {ip}")))
            .await;
        return html(
            StatusCode::UNAUTHORIZED,
            pages::backup(&s.csrf, Some(texts::LOGIN_WRONG)),
        );
    }
    app.login_limit.success(ip);
    let plain = match app.daemon.backup().await {
        Ok(plain) => plain,
        Err(e) => return daemon_down(&e),
    };
    let password = form.password.clone();
    let sealed =
        tokio::task::spawn_blocking(move || crate::backup_file::seal(&password, &plain)).await;
    let Ok(Ok(file)) = sealed else {
        tracing::error!("backup could not be encrypted");
        return internal();
    };
    app.daemon.audit("backup_downloaded", None).await;
    let stamp = localtime::file_stamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    );
    let disposition = HeaderValue::from_str(&format!(
        "attachment; filename=\"facteur-sauvegarde-{stamp}.fcb\""
    ))
    .unwrap_or_else(|_| {
        HeaderValue::from_static("attachment; filename=\"facteur-sauvegarde.fcb\"")
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        file,
    )
        .into_response()
}

async fn restore_submit(
    State(app): State<Shared>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let ((_, s), upload) = match read_upload(&app, &headers, multipart).await {
        Ok(v) => v,
        Err(refusal) => {
            if refusal.status() == StatusCode::PAYLOAD_TOO_LARGE {
                return html(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    pages::message(texts::BACKUP_TITLE, texts::RESTORE_TOO_LARGE),
                );
            }
            return refusal;
        }
    };
    let refuse =
        |status: StatusCode, reason: &str| html(status, pages::backup(&s.csrf, Some(reason)));
    let password = upload
        .fields
        .get("restore_password")
        .cloned()
        .unwrap_or_default();
    let (Some(file), false) = (upload.file, password.is_empty()) else {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, texts::RESTORE_NEEDED);
    };
    let opened =
        tokio::task::spawn_blocking(move || crate::backup_file::open(&password, &file)).await;
    let plain = match opened {
        Ok(Ok(plain)) => plain,
        Ok(Err(e)) => {
            use crate::backup_file::BackupFileError;
            let reason = match e {
                BackupFileError::NotABackup => texts::RESTORE_NOT_A_BACKUP,
                BackupFileError::UnknownVersion(_) => texts::RESTORE_UNKNOWN_VERSION,
                _ => texts::RESTORE_WRONG_PASSWORD,
            };
            tracing::warn!(error = %e, "backup file refused");
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, reason);
        }
        Err(_) => return internal(),
    };
    match app.daemon.restore(&plain).await {
        Ok(()) => restart_and_wait(&app, "/settings").await,
        Err(e) => {
            let reason = match &e {
                DaemonError::Refused { message, .. } => texts::restore_refused(message),
                other => other.french(),
            };
            refuse(StatusCode::UNPROCESSABLE_ENTITY, &reason)
        }
    }
}

// -- network --------------------------------------------------------------------

async fn network_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (_, s) = match login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return to,
    };
    match app.daemon.network().await {
        Ok(state) => html(StatusCode::OK, pages::network(&s.csrf, &state, None)),
        Err(e) => daemon_down(&e),
    }
}

#[derive(serde::Deserialize)]
struct NetworkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    gateway: String,
    #[serde(default)]
    dns: String,
}

impl HasCsrf for NetworkForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The settings a network form asks for, or None when a field is not
/// what it should be.
fn lan_settings(form: &NetworkForm) -> Option<facteur::network::LanSettings> {
    use facteur::network::LanSettings;
    match form.mode.as_str() {
        "dhcp" => Some(LanSettings::Dhcp),
        "static" => Some(LanSettings::Static {
            address: form.address.trim().parse().ok()?,
            prefix: form.prefix.trim().parse().ok()?,
            gateway: form.gateway.trim().parse().ok()?,
            dns: form
                .dns
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|d| !d.is_empty())
                .map(|d| d.parse().ok())
                .collect::<Option<Vec<_>>>()?,
        }),
        _ => None,
    }
}

async fn network_submit(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let ((_, s), form) = match posted::<NetworkForm>(&app, &headers, body) {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let state = match app.daemon.network().await {
        Ok(state) => state,
        Err(e) => return daemon_down(&e),
    };
    let refuse = |status: StatusCode, reason: &str| {
        html(status, pages::network(&s.csrf, &state, Some(reason)))
    };
    let Some(settings) = lan_settings(&form) else {
        return refuse(StatusCode::BAD_REQUEST, texts::NETWORK_BAD_FIELD);
    };
    if let Err(e) = settings.validate() {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            &texts::network_invalid(&e.to_string()),
        );
    }
    match app.daemon.apply_network(&settings).await {
        Ok(token) => {
            let seconds = state
                .network
                .as_ref()
                .map(|n| n.confirm_timeout)
                .unwrap_or(60);
            let url = match &settings {
                facteur::network::LanSettings::Static { address, .. } => Some(format!(
                    "https://{address}:{}/settings/network",
                    app.config.listen.port()
                )),
                facteur::network::LanSettings::Dhcp => None,
            };
            app.keep_network_token(token);
            html(
                StatusCode::OK,
                pages::network_applied(&s.csrf, seconds, url.as_deref()),
            )
        }
        Err(DaemonError::Refused { code, .. }) if code == "network_change_pending" => {
            refuse(StatusCode::CONFLICT, texts::NETWORK_PENDING)
        }
        Err(DaemonError::Refused {
            message,
            status: 422,
            ..
        }) => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            &texts::network_invalid(&message),
        ),
        Err(e) => daemon_down(&e),
    }
}

#[derive(serde::Deserialize)]
struct PlainCsrf {
    #[serde(default)]
    csrf: String,
}

impl HasCsrf for PlainCsrf {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Keeps the waiting change. At a new address the browser logs in again
/// (its cookie belonged to the old one); the token stays in this process,
/// so any logged-in session of the administrator can confirm.
async fn network_confirm(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let ((_, s), _) = match posted::<PlainCsrf>(&app, &headers, body) {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let Some(token) = app.network_token() else {
        return html(
            StatusCode::NOT_FOUND,
            pages::network_confirm(&s.csrf, Some(("error", texts::NETWORK_EXPIRED))),
        );
    };
    let outcome = app.daemon.confirm_network(&token).await;
    app.forget_network_token();
    match outcome {
        Ok(()) => html(
            StatusCode::OK,
            pages::network_confirm(&s.csrf, Some(("info", texts::NETWORK_CONFIRMED))),
        ),
        Err(DaemonError::Refused { status: 404, .. }) => html(
            StatusCode::NOT_FOUND,
            pages::network_confirm(&s.csrf, Some(("error", texts::NETWORK_EXPIRED))),
        ),
        Err(e) => daemon_down(&e),
    }
}
