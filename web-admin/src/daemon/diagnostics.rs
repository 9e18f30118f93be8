//! The diagnostics, technical logs and support bundle calls.

use std::time::Duration;

use super::{Daemon, DaemonError, READ_TIMEOUT, encode};

pub use facteur::diagnostics::logs::LogEvent;
pub use facteur::diagnostics::{Check as DiagnosticCheck, Level as DiagnosticLevel, Report};

/// The full set: the operator's DNS, then connection and TLS (10 s each
/// at most), with some margin.
const DIAGNOSTICS_TIMEOUT: Duration = Duration::from_secs(40);
/// The bundle runs the full set too, then packs logs and configuration.
const BUNDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The filters of `GET /v1/logs`, checked by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub level: Option<String>,
    pub component: Option<String>,
    pub q: Option<String>,
    pub limit: usize,
}

impl LogFilter {
    pub fn query_string(&self) -> String {
        let mut out = format!("limit={}", self.limit.clamp(1, 2000));
        for (name, value) in [
            ("level", &self.level),
            ("component", &self.component),
            ("q", &self.q),
        ] {
            if let Some(v) = value {
                out.push_str(&format!("&{name}={}", encode(v)));
            }
        }
        out
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
struct LogList {
    #[serde(default)]
    events: Vec<LogEvent>,
}

impl Daemon {
    /// `quick`: no connection to the operator (the dashboard); else the
    /// full set, fresh.
    pub async fn diagnostics(&self, quick: bool) -> Result<Report, DaemonError> {
        let (path, limit) = if quick {
            ("/v1/diagnostics?scope=quick", READ_TIMEOUT)
        } else {
            ("/v1/diagnostics?scope=full", DIAGNOSTICS_TIMEOUT)
        };
        let value = tokio::time::timeout(limit, self.client.get(path))
            .await
            .map_err(|_| DaemonError::Timeout)??;
        serde_json::from_value(value).map_err(|_| DaemonError::Protocol)
    }

    /// Recent log events, newest first.
    pub async fn logs(&self, filter: &LogFilter) -> Result<Vec<LogEvent>, DaemonError> {
        let list: LogList = self
            .get(&format!("/v1/logs?{}", filter.query_string()))
            .await?;
        Ok(list.events)
    }

    /// The support bundle (a zip).
    pub async fn support_bundle(&self) -> Result<Vec<u8>, DaemonError> {
        let bytes =
            tokio::time::timeout(BUNDLE_TIMEOUT, self.client.get_bytes("/v1/support-bundle"))
                .await
                .map_err(|_| DaemonError::Timeout)??;
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filter_query_is_encoded() {
        let f = LogFilter {
            level: Some("warn".into()),
            component: Some("queue".into()),
            q: Some("refusé & co".into()),
            limit: 5000,
        };
        assert_eq!(
            f.query_string(),
            "limit=2000&level=warn&component=queue&q=refus%C3%A9%20%26%20co"
        );
    }
}
