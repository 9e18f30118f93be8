//! `GET /v1/diagnostics`, `GET /v1/logs`, `GET /v1/support-bundle`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::server::{ControlState, error, status};
use crate::diagnostics::bundle::{self, BundleParts};
use crate::diagnostics::logs::{self, LogQuery, LogRing};
use crate::diagnostics::{Report, Scope};

type Shared = Arc<ControlState>;

/// Most events one `GET /v1/logs` returns.
pub const MAX_LOGS: usize = logs::CAPACITY;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/diagnostics", get(diagnostics))
        .route("/v1/logs", get(logs_list))
        .route("/v1/support-bundle", get(support_bundle))
}

#[derive(Debug, Default, serde::Deserialize)]
struct DiagnosticsQuery {
    #[serde(default)]
    scope: Option<String>,
}

async fn diagnostics(
    State(s): State<Shared>,
    query: Result<Query<DiagnosticsQuery>, QueryRejection>,
) -> Response {
    let text = match query {
        Ok(Query(q)) => q.scope.unwrap_or_else(|| "full".into()),
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", e.body_text()),
    };
    let Some(scope) = Scope::parse(&text) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "scope is `full` or `quick`",
        );
    };
    Json(s.diagnostics.run(scope).await).into_response()
}

#[derive(Debug, Default, serde::Deserialize)]
struct LogsParams {
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

/// The query checked, or why it is refused.
fn log_query(p: LogsParams) -> Result<LogQuery, &'static str> {
    let some = |v: Option<String>| v.filter(|s| !s.is_empty());
    let level = some(p.level);
    if level
        .as_deref()
        .is_some_and(|l| logs::level_rank(l).is_none())
    {
        return Err("level is error, warn, info, debug or trace");
    }
    let component = some(p.component);
    if component.as_deref().is_some_and(|c| {
        c.len() > 32
            || !c
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    }) {
        return Err("component is 1 to 32 of a-z 0-9 _ -");
    }
    let q = some(p.q);
    if q.as_deref()
        .is_some_and(|q| q.chars().count() > 200 || q.chars().any(char::is_control))
    {
        return Err("q is at most 200 characters, without control characters");
    }
    let limit = match some(p.limit) {
        None => 200,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LOGS).contains(&n) => n,
            _ => return Err("limit is a number from 1 to 2000"),
        },
    };
    Ok(LogQuery {
        level,
        component,
        q,
        limit,
    })
}

async fn logs_list(query: Result<Query<LogsParams>, QueryRejection>) -> Response {
    let params = match query {
        Ok(Query(p)) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", e.body_text()),
    };
    match log_query(params) {
        Ok(q) => {
            let ring = LogRing::global();
            Json(
                json!({ "capacity": logs::CAPACITY, "kept": ring.len(), "events": ring.query(&q) }),
            )
            .into_response()
        }
        Err(why) => error(StatusCode::BAD_REQUEST, "bad_query", why),
    }
}

async fn support_bundle(State(s): State<Shared>) -> Response {
    let status_json =
        match axum::body::to_bytes(status(State(s.clone())).await.into_body(), 1 << 20).await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
            Err(_) => serde_json::Value::Null,
        };
    let report: Report = s.diagnostics.run(Scope::Full).await;
    s.audit.flush().await;
    let dir = s.audit.dir().to_path_buf();
    let config_path = s.diagnostics.config_path.clone();
    let gathered = tokio::task::spawn_blocking(move || {
        let verify = match crate::audit::verify(&dir) {
            Ok(report) => {
                let mut body = json!(report);
                body["ok"] = json!(report.ok());
                body
            }
            Err(e) => json!({ "ok": false, "error": e.to_string() }),
        };
        let config = config_path.and_then(|p| std::fs::read_to_string(p).ok());
        (verify, config)
    })
    .await;
    let Ok((audit_verify, config)) = gathered else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the bundle's task failed",
        );
    };
    let now = time::OffsetDateTime::now_utc();
    let parts = BundleParts {
        info: json!({
            "product": "facteur",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": s.started.elapsed().as_secs(),
            "generated_at": now.unix_timestamp(),
        }),
        status: status_json,
        diagnostics: report,
        logs: LogRing::global().query(&LogQuery {
            limit: logs::CAPACITY,
            ..LogQuery::default()
        }),
        config,
        audit_verify,
    };
    let zip = match tokio::task::spawn_blocking(move || bundle::build(&parts)).await {
        Ok(Ok(zip)) => zip,
        _ => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "bundle_failed",
                "the support bundle could not be built",
            );
        }
    };
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_else(|_| "now".into());
    let disposition = format!("attachment; filename=\"facteur-support-{stamp}.zip\"");
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

    fn params(level: &str, component: &str, q: &str, limit: &str) -> LogsParams {
        LogsParams {
            level: Some(level.into()),
            component: Some(component.into()),
            q: Some(q.into()),
            limit: Some(limit.into()),
        }
    }

    #[test]
    fn log_filters_are_checked() {
        let q = log_query(params("warn", "queue", "refused", "50")).unwrap();
        assert_eq!(q.level.as_deref(), Some("warn"));
        assert_eq!(q.component.as_deref(), Some("queue"));
        assert_eq!(q.limit, 50);
        let q = log_query(params("", "", "", "")).unwrap();
        assert!(q.level.is_none() && q.component.is_none() && q.q.is_none());
        assert_eq!(q.limit, 200);
        assert!(log_query(params("loud", "", "", "")).is_err());
        assert!(log_query(params("", "Queue", "", "")).is_err());
        assert!(log_query(params("", "a/b", "", "")).is_err());
        assert!(log_query(params("", "", "a\u{7}b", "")).is_err());
        assert!(log_query(params("", "", &"x".repeat(201), "")).is_err());
        for bad in ["0", "2001", "-1", "ten"] {
            assert!(log_query(params("", "", "", bad)).is_err(), "{bad}");
        }
    }
}
