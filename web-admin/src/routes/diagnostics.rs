//! `GET /diagnostics`, `GET /logs`, `GET /support-bundle`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Shared, daemon_status, html, no_controls, redirect, require_login};
use crate::daemon::{DaemonError, LogFilter};
use crate::localtime::file_stamp;
use crate::{pages, texts};

/// Events shown on the logs page.
const LOGS_LIMIT: usize = 300;

pub(super) async fn diagnostics_page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let report = app.daemon.diagnostics(false).await;
    if let Err(e) = &report {
        tracing::warn!(error = ?e, "diagnostics unavailable");
    }
    let status = report.as_ref().err().map_or(StatusCode::OK, daemon_status);
    html(
        status,
        pages::diagnostics(&s.csrf, report.as_ref().map_err(DaemonError::french)),
    )
}

#[derive(serde::Deserialize, Default)]
struct LogsQuery {
    #[serde(default)]
    level: String,
    #[serde(default)]
    component: String,
    #[serde(default)]
    q: String,
}

/// The filter to send, or the sentence saying what is wrong.
fn check_logs(q: &LogsQuery) -> Result<LogFilter, &'static str> {
    let level = q.level.trim();
    if !level.is_empty() && !texts::LOG_LEVELS.iter().any(|(v, _)| *v == level) {
        return Err(texts::BAD_LOG_LEVEL);
    }
    let component = q.component.trim();
    if component.len() > 32
        || !component
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(texts::BAD_LOG_COMPONENT);
    }
    let text = q.q.trim();
    if text.chars().count() > 200 || !no_controls(text) {
        return Err(texts::BAD_LOG_TEXT);
    }
    let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
    Ok(LogFilter {
        level: some(level),
        component: some(component),
        q: some(text),
        limit: LOGS_LIMIT,
    })
}

pub(super) async fn logs_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (_, s) = match require_login(&app, &headers) {
        Ok(v) => v,
        Err(to) => return redirect(to),
    };
    let raw = query.unwrap_or_default();
    let parsed = if raw.len() > 2048 {
        None
    } else {
        serde_urlencoded::from_str::<LogsQuery>(&raw).ok()
    };
    let Some(q) = parsed else {
        return html(
            StatusCode::BAD_REQUEST,
            pages::logs(
                &s.csrf,
                &pages::LogsForm::default(),
                Some(texts::BAD_LOG_TEXT),
                None,
            ),
        );
    };
    let form = pages::LogsForm {
        level: q.level.clone(),
        component: q.component.clone(),
        q: q.q.clone(),
    };
    let filter = match check_logs(&q) {
        Ok(f) => f,
        Err(reason) => {
            return html(
                StatusCode::BAD_REQUEST,
                pages::logs(&s.csrf, &form, Some(reason), None),
            );
        }
    };
    let events = app.daemon.logs(&filter).await;
    if let Err(e) = &events {
        tracing::warn!(error = ?e, "logs unavailable");
    }
    let status = events.as_ref().err().map_or(StatusCode::OK, daemon_status);
    html(
        status,
        pages::logs(
            &s.csrf,
            &form,
            None,
            Some(events.as_deref().map_err(DaemonError::french)),
        ),
    )
}

pub(super) async fn support_bundle(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(to) = require_login(&app, &headers) {
        return redirect(to);
    }
    let zip = match app.daemon.support_bundle().await {
        Ok(zip) => zip,
        Err(e) => {
            tracing::warn!(error = ?e, "support bundle unavailable");
            return html(
                daemon_status(&e),
                pages::message(texts::BUNDLE_TITLE, &e.french()),
            );
        }
    };
    app.daemon.audit("support_bundle_downloaded", None).await;
    tracing::info!(bytes = zip.len(), "support bundle downloaded");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let disposition = format!(
        "attachment; filename=\"facteur-support-{}.zip\"",
        file_stamp(now)
    );
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/zip"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        zip,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_is_paris_time() {
        // 2026-03-31 12:05:09 UTC is 14:05:09 in Paris (summer time).
        assert_eq!(file_stamp(1_774_958_709), "20260331-140509");
    }

    #[test]
    fn log_filters() {
        let q = |level: &str, component: &str, text: &str| LogsQuery {
            level: level.into(),
            component: component.into(),
            q: text.into(),
        };
        let f = check_logs(&q("warn", "queue", " refusé ")).unwrap();
        assert_eq!(f.level.as_deref(), Some("warn"));
        assert_eq!(f.q.as_deref(), Some("refusé"));
        assert!(check_logs(&q("", "", "")).unwrap().level.is_none());
        assert_eq!(check_logs(&q("loud", "", "")), Err(texts::BAD_LOG_LEVEL));
        assert_eq!(
            check_logs(&q("", "Queue", "")),
            Err(texts::BAD_LOG_COMPONENT)
        );
        assert_eq!(check_logs(&q("", "", "a\u{1}")), Err(texts::BAD_LOG_TEXT));
    }
}
