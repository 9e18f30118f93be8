//! Routes of the address book (« Carnet d'adresses »), the health
//! directory (« Annuaire santé ») and the paper report (« Courrier
//! papier »). Same rules as the other pages: login, CSRF on every POST,
//! input checked before the daemon is asked.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{
    Shared, bad_form, bad_input, csrf_refused, daemon_status, html, no_controls, not_found_with,
    parse_form, redirect, require_login, see_other, valid_recipient,
};
use crate::daemon::{DaemonError, NewContact};
use crate::{pages, texts};

/// Directory results shown at most.
const DIRECTORY_LIMIT: usize = 50;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/contacts", get(contacts_page).post(contact_add))
        .route(
            "/contacts/{id}/delete",
            get(remove_page).post(contact_remove),
        )
        .route("/directory", get(directory_page))
        .route("/paper", get(paper_page))
        .route("/paper/invitation", get(invitation))
}

/// A contact number: 1 to 18 digits, not 0.
fn contact_id(raw: &str) -> Option<i64> {
    if raw.is_empty() || raw.len() > 18 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok().filter(|n: &i64| *n > 0)
}

/// `AAAA-MM`, month 01 to 12.
fn valid_month(m: &str) -> bool {
    let b = m.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit())
        && matches!(m[5..].parse::<u8>(), Ok(1..=12))
}

async fn contacts_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (sid, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let list = app.daemon.contacts().await;
    if let Err(e) = &list {
        tracing::warn!(error = ?e, "contacts page: address book unavailable");
    }
    let flash = app.sessions.take_flash(&sid);
    let status = list.as_ref().err().map_or(StatusCode::OK, daemon_status);
    html(
        status,
        pages::contacts(
            &s.csrf,
            flash.as_ref().map(|(k, t)| (*k, t.as_str())),
            list.as_deref().map_err(DaemonError::french),
        ),
    )
}

#[derive(serde::Deserialize)]
struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    from_directory: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    mssante: String,
    #[serde(default)]
    profession: String,
    #[serde(default)]
    street: String,
    #[serde(default)]
    postcode: String,
    #[serde(default)]
    town: String,
}

/// The contact to send, or `None` when the form is not acceptable.
fn check_contact(form: &ContactForm) -> Option<NewContact> {
    let field = |v: &str, max: usize| -> Option<Option<String>> {
        let v = v.trim();
        (v.chars().count() <= max && no_controls(v)).then(|| (!v.is_empty()).then(|| v.to_string()))
    };
    let from_directory = field(&form.from_directory, 320)?;
    if let Some(addr) = &from_directory {
        return valid_recipient(addr).then(|| NewContact {
            from_directory: Some(addr.clone()),
            ..NewContact::default()
        });
    }
    let name = field(&form.name, 200)??;
    let mssante = field(&form.mssante, 320)?;
    if mssante.as_deref().is_some_and(|a| !valid_recipient(a)) {
        return None;
    }
    Some(NewContact {
        from_directory: None,
        name: Some(name),
        mssante,
        postal_lines: field(&form.street, 200)?.into_iter().collect(),
        postcode: field(&form.postcode, 10)?,
        town: field(&form.town, 100)?,
        profession: field(&form.profession, 200)?,
    })
}

async fn contact_add(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (sid, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(form) = parse_form::<ContactForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        tracing::warn!("contact addition refused: CSRF token missing or wrong");
        return csrf_refused();
    }
    let Some(new) = check_contact(&form) else {
        return bad_input(texts::BAD_CONTACT_FORM);
    };
    match app.daemon.add_contact(&new).await {
        Ok(added) => {
            tracing::info!(
                contact = added.contact.id,
                "contact added from the web admin"
            );
            let mut text = texts::contact_added(&added.contact.display_name, &added.folder_name);
            for warning in &added.warnings {
                text.push(' ');
                text.push_str(warning);
            }
            app.sessions.set_flash(&sid, "info", text);
        }
        Err(e @ DaemonError::Refused { status: 404, .. }) => {
            return not_found_with(&e.french());
        }
        Err(e) => {
            tracing::info!(error = ?e, "contact not added");
            app.sessions.set_flash(&sid, "error", e.french());
        }
    }
    see_other("/contacts")
}

async fn remove_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(id) = contact_id(&raw_id) else {
        return bad_input(texts::BAD_CONTACT_ID);
    };
    match app.daemon.contacts().await {
        Ok(all) => match all.iter().find(|c| c.id == id) {
            Some(c) => html(StatusCode::OK, pages::remove_confirmation(&s.csrf, c)),
            None => not_found_with(texts::NO_SUCH_CONTACT),
        },
        Err(e) => {
            tracing::warn!(error = ?e, "remove page: address book unavailable");
            html(
                daemon_status(&e),
                pages::message(texts::REMOVE_TITLE, &e.french()),
            )
        }
    }
}

#[derive(serde::Deserialize)]
struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

async fn contact_remove(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Response {
    let (sid, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(form) = parse_form::<RemoveForm>(body) else {
        return bad_form();
    };
    if !s.csrf_matches(Some(&form.csrf)) {
        tracing::warn!("contact removal refused: CSRF token missing or wrong");
        return csrf_refused();
    }
    let Some(id) = contact_id(&raw_id) else {
        return bad_input(texts::BAD_CONTACT_ID);
    };
    if form.confirm.as_deref() != Some("1") {
        return bad_input(texts::REMOVE_NOT_CONFIRMED);
    }
    match app.daemon.remove_contact(id).await {
        Ok(removed) => {
            tracing::info!(contact = id, "contact removed from the web admin");
            app.sessions
                .set_flash(&sid, "info", texts::contact_removed(&removed.display_name));
        }
        Err(e @ DaemonError::Refused { status: 404, .. }) => {
            return not_found_with(&e.french());
        }
        Err(e) => {
            tracing::warn!(contact = id, error = ?e, "contact not removed");
            app.sessions.set_flash(&sid, "error", e.french());
        }
    }
    see_other("/contacts")
}

#[derive(serde::Deserialize, Default)]
struct DirectoryQuery {
    #[serde(default)]
    q: String,
}

async fn directory_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let raw = query.unwrap_or_default();
    let Some(q) = (raw.len() <= 2048)
        .then(|| serde_urlencoded::from_str::<DirectoryQuery>(&raw).ok())
        .flatten()
    else {
        return bad_input(texts::BAD_DIRECTORY_SEARCH);
    };
    let text = q.q.trim();
    let status = app.daemon.directory_status().await;
    let status_view = status.as_ref().map_err(DaemonError::french);
    if text.chars().count() > 200 || !no_controls(text) {
        return html(
            StatusCode::BAD_REQUEST,
            pages::directory(
                &s.csrf,
                &q.q,
                Some(texts::BAD_DIRECTORY_SEARCH),
                status_view,
                None,
                DIRECTORY_LIMIT,
            ),
        );
    }
    let results = if text.is_empty() {
        None
    } else {
        let hits = app.daemon.directory_search(text, DIRECTORY_LIMIT).await;
        if let Err(e) = &hits {
            tracing::warn!(error = ?e, "directory search failed");
        }
        Some(hits)
    };
    let code = match (&status, &results) {
        (_, Some(Err(e))) | (Err(e), _) => daemon_status(e),
        _ => StatusCode::OK,
    };
    html(
        code,
        pages::directory(
            &s.csrf,
            &q.q,
            None,
            status_view,
            results
                .as_ref()
                .map(|r| r.as_deref().map_err(DaemonError::french)),
            DIRECTORY_LIMIT,
        ),
    )
}

#[derive(serde::Deserialize, Default)]
struct PaperQuery {
    #[serde(default)]
    month: String,
    #[serde(default)]
    key: String,
}

fn paper_query(raw: Option<String>) -> Option<PaperQuery> {
    let raw = raw.unwrap_or_default();
    (raw.len() <= 2048)
        .then(|| serde_urlencoded::from_str::<PaperQuery>(&raw).ok())
        .flatten()
}

async fn paper_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let Some(q) = paper_query(query) else {
        return bad_input(texts::BAD_MONTH);
    };
    let month = q.month.trim();
    if !month.is_empty() && !valid_month(month) {
        return bad_input(texts::BAD_MONTH);
    }
    let summary = app
        .daemon
        .paper_summary((!month.is_empty()).then_some(month))
        .await;
    if let Err(e) = &summary {
        tracing::warn!(error = ?e, "paper page: summary unavailable");
    }
    let status = summary.as_ref().err().map_or(StatusCode::OK, daemon_status);
    html(
        status,
        pages::paper(&s.csrf, summary.as_ref().map_err(DaemonError::french)),
    )
}

/// The invitation letter as a download.
async fn invitation(
    State(app): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(to) = require_login(&app, &headers) {
        return redirect(to);
    }
    let Some(q) = paper_query(query) else {
        return bad_input(texts::BAD_PAPER_KEY);
    };
    let key = q.key.as_str();
    if key.is_empty() || key.len() > 512 || !no_controls(key) {
        return bad_input(texts::BAD_PAPER_KEY);
    }
    let month = q.month.trim();
    if !month.is_empty() && !valid_month(month) {
        return bad_input(texts::BAD_MONTH);
    }
    match app
        .daemon
        .invitation(key, (!month.is_empty()).then_some(month))
        .await
    {
        Ok(pdf) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/pdf"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"invitation-mssante.pdf\""),
                ),
            ],
            pdf,
        )
            .into_response(),
        Err(e) => {
            let status = match &e {
                DaemonError::Refused { status: 409, .. } => StatusCode::CONFLICT,
                other => daemon_status(other),
            };
            if status != StatusCode::NOT_FOUND {
                tracing::warn!(error = ?e, "invitation letter unavailable");
            }
            html(status, pages::message(texts::PAPER_TITLE, &e.french()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_months_are_checked() {
        assert_eq!(contact_id("12"), Some(12));
        for bad in ["0", "", "-1", "1e3", "12a", "9999999999999999999"] {
            assert_eq!(contact_id(bad), None, "{bad}");
        }
        assert!(valid_month("2026-11"));
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "2026-11-01",
            "abcd-11",
        ] {
            assert!(!valid_month(bad), "{bad}");
        }
    }

    #[test]
    fn contact_forms_are_checked() {
        let form = |name: &str, mssante: &str, from: &str| ContactForm {
            csrf: String::new(),
            from_directory: from.into(),
            name: name.into(),
            mssante: mssante.into(),
            profession: String::new(),
            street: String::new(),
            postcode: String::new(),
            town: String::new(),
        };
        assert!(check_contact(&form("Dr X", "x@medecin.mssante.fr", "")).is_some());
        assert!(
            check_contact(&form("Dr X", "", "")).is_some(),
            "paper contact"
        );
        assert!(check_contact(&form("", "x@medecin.mssante.fr", "")).is_none());
        assert!(check_contact(&form("Dr X", "pas une adresse", "")).is_none());
        assert!(check_contact(&form("Dr\u{7}X", "", "")).is_none());
        assert!(check_contact(&form(&"x".repeat(201), "", "")).is_none());
        let from = check_contact(&form("", "", "a@medecin.mssante.fr")).unwrap();
        assert_eq!(from.from_directory.as_deref(), Some("a@medecin.mssante.fr"));
        assert!(check_contact(&form("", "", "a b@x")).is_none());
    }
}
