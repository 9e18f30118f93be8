//! The hawkBit DDI API (Direct Device Integration), the device side of the
//! regional group's fleet server: what the box reads from it and writes to
//! it, as data. The HTTP exchange is in `http.rs`, the decisions in
//! `agent.rs`.
//!
//! Only the parts a box needs are modelled: the poll answer (polling
//! interval and which links are offered), a deployment (its chunks and
//! artifacts with their hashes and download links, the download/update
//! types and the maintenance window), a cancel action, and the bodies of
//! feedback and configData. Unknown fields are ignored, as the API adds
//! fields over time.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An answer that is not what the API documents.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DdiError {
    #[error("the fleet server's answer is not valid DDI JSON: {0}")]
    Garbage(String),
    #[error("the fleet server's answer lacks {0}")]
    Missing(&'static str),
}

/// The controller base resource: what the server wants from the box now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    /// When to ask again.
    pub sleep: Option<Duration>,
    pub deployment: Option<String>,
    pub cancel: Option<String>,
    /// The server asks for the box's attributes.
    pub config_data: Option<String>,
}

#[derive(Deserialize)]
struct RawPoll {
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default, rename = "_links")]
    links: BTreeMap<String, Link>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    polling: Option<RawPolling>,
}

#[derive(Deserialize)]
struct RawPolling {
    #[serde(default)]
    sleep: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Link {
    pub href: String,
}

impl Poll {
    pub fn parse(body: &[u8]) -> Result<Poll, DdiError> {
        let raw: RawPoll = parse_json(body)?;
        let sleep = match raw.config.and_then(|c| c.polling).and_then(|p| p.sleep) {
            Some(text) => Some(parse_sleep(&text)?),
            None => None,
        };
        let href = |name: &str| raw.links.get(name).map(|l| l.href.clone());
        Ok(Poll {
            sleep,
            deployment: href("deploymentBase"),
            cancel: href("cancelAction"),
            config_data: href("configData"),
        })
    }
}

/// `HH:MM:SS`, as the API gives the polling interval.
pub fn parse_sleep(text: &str) -> Result<Duration, DdiError> {
    let bad = || DdiError::Garbage(format!("polling sleep `{text}` is not HH:MM:SS"));
    let parts: Vec<&str> = text.split(':').collect();
    let [h, m, s] = parts.as_slice() else {
        return Err(bad());
    };
    let number = |t: &str| t.parse::<u64>().map_err(|_| bad());
    let (h, m, s) = (number(h)?, number(m)?, number(s)?);
    if m >= 60 || s >= 60 {
        return Err(bad());
    }
    Ok(Duration::from_secs(h * 3600 + m * 60 + s))
}

/// What to do with a deployment's download or installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Handling {
    Skip,
    Attempt,
    Forced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaintenanceWindow {
    Available,
    Unavailable,
}

/// One file of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub filename: String,
    pub size: u64,
    /// Lower-case hex; the only hash the box trusts.
    pub sha256: String,
    pub download: String,
}

/// A deployment action as the box understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub action: String,
    pub download: Handling,
    pub update: Handling,
    /// `None`: the action has no maintenance window.
    pub window: Option<MaintenanceWindow>,
    /// The version of the software module holding the bundle.
    pub version: String,
    /// The RAUC bundle to install.
    pub bundle: Artifact,
}

#[derive(Deserialize)]
struct RawDeploymentBase {
    id: String,
    deployment: RawDeployment,
}

#[derive(Deserialize)]
struct RawDeployment {
    download: Handling,
    update: Handling,
    #[serde(default, rename = "maintenanceWindow")]
    maintenance_window: Option<MaintenanceWindow>,
    #[serde(default)]
    chunks: Vec<RawChunk>,
}

#[derive(Deserialize)]
struct RawChunk {
    #[serde(default)]
    version: String,
    #[serde(default)]
    artifacts: Vec<RawArtifact>,
}

#[derive(Deserialize)]
struct RawArtifact {
    filename: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    #[serde(default, rename = "_links")]
    links: BTreeMap<String, Link>,
}

impl Deployment {
    /// Reads a deployment; the bundle is the one artifact named `*.raucb`.
    pub fn parse(body: &[u8]) -> Result<Deployment, DdiError> {
        let raw: RawDeploymentBase = parse_json(body)?;
        let mut bundles = raw.deployment.chunks.iter().flat_map(|chunk| {
            chunk
                .artifacts
                .iter()
                .filter(|a| a.filename.ends_with(".raucb"))
                .map(move |a| (chunk, a))
        });
        let (chunk, artifact) = bundles
            .next()
            .ok_or(DdiError::Missing("an artifact named *.raucb"))?;
        if bundles.next().is_some() {
            return Err(DdiError::Garbage(
                "the deployment holds more than one RAUC bundle".into(),
            ));
        }
        let sha256 = artifact
            .hashes
            .get("sha256")
            .map(|h| h.to_ascii_lowercase())
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(DdiError::Missing("the bundle's SHA-256"))?;
        // The HTTPS link; `download-http` is the plain-HTTP twin, never used.
        let download = artifact
            .links
            .get("download")
            .map(|l| l.href.clone())
            .ok_or(DdiError::Missing("the bundle's download link"))?;
        Ok(Deployment {
            action: raw.id,
            download: raw.deployment.download,
            update: raw.deployment.update,
            window: raw.deployment.maintenance_window,
            version: chunk.version.clone(),
            bundle: Artifact {
                filename: artifact.filename.clone(),
                size: artifact.size,
                sha256,
                download,
            },
        })
    }
}

/// A cancel action: which deployment to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    pub id: String,
    pub stop: String,
}

impl Cancel {
    pub fn parse(body: &[u8]) -> Result<Cancel, DdiError> {
        #[derive(Deserialize)]
        struct Raw {
            id: String,
            #[serde(rename = "cancelAction")]
            cancel_action: RawStop,
        }
        #[derive(Deserialize)]
        struct RawStop {
            #[serde(rename = "stopId")]
            stop_id: String,
        }
        let raw: Raw = parse_json(body)?;
        Ok(Cancel {
            id: raw.id,
            stop: raw.cancel_action.stop_id,
        })
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, DdiError> {
    serde_json::from_slice(body).map_err(|e| DdiError::Garbage(e.to_string()))
}

/// Where an action stands, as feedback tells the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Execution {
    Proceeding,
    Scheduled,
    Downloaded,
    Closed,
    Rejected,
    Canceled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Finished {
    Success,
    Failure,
    None,
}

/// The body of a feedback POST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    pub status: FeedbackStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackStatus {
    pub execution: Execution,
    pub result: FeedbackResult,
    pub details: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackResult {
    pub finished: Finished,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub cnt: u32,
    pub of: u32,
}

impl Feedback {
    pub fn new(execution: Execution, finished: Finished, detail: impl Into<String>) -> Feedback {
        Feedback {
            status: FeedbackStatus {
                execution,
                result: FeedbackResult {
                    finished,
                    progress: None,
                },
                details: vec![detail.into()],
            },
        }
    }

    pub fn with_progress(mut self, cnt: u32, of: u32) -> Feedback {
        self.status.result.progress = Some(Progress { cnt, of });
        self
    }

    /// Still going, with a word on what is happening.
    pub fn proceeding(detail: impl Into<String>) -> Feedback {
        Feedback::new(Execution::Proceeding, Finished::None, detail)
    }

    /// The action ended well.
    pub fn success(detail: impl Into<String>) -> Feedback {
        Feedback::new(Execution::Closed, Finished::Success, detail)
    }

    /// The action ended badly; the reason is what the fleet operator reads.
    pub fn failure(detail: impl Into<String>) -> Feedback {
        Feedback::new(Execution::Closed, Finished::Failure, detail)
    }
}

/// The body of a configData PUT: the box's attributes, merged into what
/// the server knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigData {
    pub mode: &'static str,
    pub data: BTreeMap<String, String>,
}

impl ConfigData {
    pub fn merge(data: BTreeMap<String, String>) -> ConfigData {
        ConfigData {
            mode: "merge",
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_gives_the_interval_and_the_links_offered() {
        let body = br#"{"config":{"polling":{"sleep":"00:05:30"}},
            "_links":{"deploymentBase":{"href":"https://h/DEFAULT/controller/v1/box/deploymentBase/8?c=-21"},
                      "configData":{"href":"https://h/DEFAULT/controller/v1/box/configData"}}}"#;
        let poll = Poll::parse(body).unwrap();
        assert_eq!(poll.sleep, Some(Duration::from_secs(330)));
        assert_eq!(
            poll.deployment.as_deref(),
            Some("https://h/DEFAULT/controller/v1/box/deploymentBase/8?c=-21")
        );
        assert!(poll.config_data.is_some());
        assert_eq!(poll.cancel, None);
        let idle =
            Poll::parse(br#"{"config":{"polling":{"sleep":"12:00:00"}},"_links":{}}"#).unwrap();
        assert_eq!(idle.sleep, Some(Duration::from_secs(43200)));
        assert_eq!(idle.deployment, None);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(matches!(
            Poll::parse(b"<html>oops"),
            Err(DdiError::Garbage(_))
        ));
        assert!(matches!(
            Poll::parse(br#"{"config":{"polling":{"sleep":"soon"}}}"#),
            Err(DdiError::Garbage(m)) if m.contains("soon")
        ));
        assert!(parse_sleep("00:61:00").is_err());
        assert!(parse_sleep("1:2").is_err());
    }

    fn deployment(extra: &str, artifacts: &str) -> Vec<u8> {
        format!(
            r#"{{"id":"42","deployment":{{"download":"forced","update":"attempt"{extra},
              "chunks":[{{"part":"os","version":"1.2.0","name":"facteur","artifacts":[{artifacts}]}}]}},
              "actionHistory":{{"status":"RUNNING","messages":[]}}}}"#
        )
        .into_bytes()
    }

    const BUNDLE: &str = r#"{"filename":"facteur-1.2.0.raucb","size":1234,
        "hashes":{"sha1":"aa","md5":"bb","sha256":"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"},
        "_links":{"download":{"href":"https://h/a.raucb"},"download-http":{"href":"http://h/a.raucb"}}}"#;

    #[test]
    fn a_deployment_names_its_bundle_hash_and_handling() {
        let d = Deployment::parse(&deployment(r#","maintenanceWindow":"unavailable""#, BUNDLE))
            .unwrap();
        assert_eq!(d.action, "42");
        assert_eq!(d.download, Handling::Forced);
        assert_eq!(d.update, Handling::Attempt);
        assert_eq!(d.window, Some(MaintenanceWindow::Unavailable));
        assert_eq!(d.version, "1.2.0");
        assert_eq!(d.bundle.size, 1234);
        assert_eq!(d.bundle.download, "https://h/a.raucb");
        assert_eq!(
            d.bundle.sha256,
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
        );
        assert_eq!(
            Deployment::parse(&deployment("", BUNDLE)).unwrap().window,
            None
        );
    }

    #[test]
    fn a_deployment_without_a_usable_bundle_is_refused() {
        let other = BUNDLE.replace(".raucb", ".tgz");
        assert_eq!(
            Deployment::parse(&deployment("", &other)),
            Err(DdiError::Missing("an artifact named *.raucb"))
        );
        let no_hash = BUNDLE.replace("\"sha256\"", "\"sha512\"");
        assert_eq!(
            Deployment::parse(&deployment("", &no_hash)),
            Err(DdiError::Missing("the bundle's SHA-256"))
        );
        let two = format!("{BUNDLE},{BUNDLE}");
        assert!(matches!(
            Deployment::parse(&deployment("", &two)),
            Err(DdiError::Garbage(_))
        ));
        assert!(matches!(
            Deployment::parse(br#"{"id":"1","deployment":{"download":"sometimes"}}"#),
            Err(DdiError::Garbage(_))
        ));
    }

    #[test]
    fn a_cancel_names_the_action_to_stop() {
        let c = Cancel::parse(br#"{"id":"11","cancelAction":{"stopId":"10"}}"#).unwrap();
        assert_eq!((c.id.as_str(), c.stop.as_str()), ("11", "10"));
    }

    #[test]
    fn feedback_and_config_data_have_the_documented_shape() {
        let f = Feedback::proceeding("downloading").with_progress(1, 3);
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            serde_json::json!({"status":{"execution":"proceeding",
                "result":{"finished":"none","progress":{"cnt":1,"of":3}},"details":["downloading"]}})
        );
        let f = Feedback::failure("bad signature");
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            serde_json::json!({"status":{"execution":"closed",
                "result":{"finished":"failure"},"details":["bad signature"]}})
        );
        let c = ConfigData::merge(BTreeMap::from([("version".into(), "1.0".into())]));
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"mode":"merge","data":{"version":"1.0"}})
        );
    }
}
