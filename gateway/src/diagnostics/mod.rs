//! Diagnostics: real checks of what the box needs to work (the operator
//! found in DNS and reachable, its TLS certificate, the clock, free disk,
//! the queue, the credential), each with a level, a measured value and a
//! stable code that the web admin turns into French. See
//! `docs/diagnostics.md`.
//!
//! Each check is time-limited and the checks run concurrently. The quick
//! set (for the dashboard) reuses the DNS result for a minute and opens no
//! connection to the operator.

pub mod bundle;
mod checks;
pub mod logs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use crate::config::{Config, CredentialConfig, UpstreamTls};
use crate::credential::Credential;
use crate::upstream::Endpoint;

pub use checks::{
    Resolved, check_clock, check_credential, check_disk, check_dns, check_queue, check_tcp,
    check_tls, clock_level, disk_level, queue_level,
};

/// Longest any one check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest DNS check in the quick set (the dashboard waits for it).
pub const QUICK_DNS_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the quick set reuses a DNS result.
pub const DNS_CACHE: Duration = Duration::from_secs(60);

/// How a check went.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Error,
}

/// One check's result. `code` is stable (the web admin words it in
/// French); `detail` is the technical reason, in English, for support.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Check {
    /// Which check: `dns`, `smtp_connect`, `imap_connect`, `tls`, `clock`,
    /// `disk`, `queue`, `credential`.
    pub id: String,
    pub level: Level,
    pub code: String,
    /// The measured value, in `unit`.
    #[serde(default)]
    pub value: Option<i64>,
    #[serde(default)]
    pub unit: Option<String>,
    /// What was checked: `host:port`, a directory…
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    /// Other measurements (free bytes, TLS version…).
    #[serde(default)]
    pub facts: BTreeMap<String, serde_json::Value>,
    /// Time the check took.
    pub duration_ms: u64,
}

impl Check {
    pub fn new(id: &str, level: Level, code: &str) -> Check {
        Check {
            id: id.into(),
            level,
            code: code.into(),
            value: None,
            unit: None,
            target: None,
            detail: None,
            facts: BTreeMap::new(),
            duration_ms: 0,
        }
    }

    pub fn value(mut self, value: i64, unit: &str) -> Check {
        self.value = Some(value);
        self.unit = Some(unit.into());
        self
    }

    pub fn target(mut self, target: impl Into<String>) -> Check {
        self.target = Some(target.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Check {
        self.detail = Some(detail.into());
        self
    }

    pub fn fact(mut self, name: &str, value: impl Into<serde_json::Value>) -> Check {
        self.facts.insert(name.into(), value.into());
        self
    }
}

/// Which checks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything, fresh (opens connections to the operator).
    Full,
    /// No connection to the operator; DNS reused for a minute.
    Quick,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "full" => Some(Scope::Full),
            "quick" => Some(Scope::Quick),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::Quick => "quick",
        }
    }
}

/// A run of the checks.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub scope: String,
    /// Unix seconds.
    pub generated_at: i64,
    pub duration_ms: u64,
    /// The worst level of all checks.
    pub level: Level,
    pub checks: Vec<Check>,
}

/// What the checks need to know of the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoint: Endpoint,
    pub smtp_tls: UpstreamTls,
    pub server_name: Option<String>,
    /// The operator's IMAP server, when configured.
    pub imap: Option<(String, u16)>,
    pub ehlo_name: String,
    pub data_dir: PathBuf,
    pub queue_dir: PathBuf,
    pub expiry_warning_days: i64,
    pub check_timeout: Duration,
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        let endpoint = match &config.upstream.host {
            Some(host) => Endpoint::Fixed {
                host: host.clone(),
                port: config.upstream.port,
            },
            None => Endpoint::Srv {
                domain: crate::address::Address::parse(&config.mssante.mailbox)
                    .map(|a| a.domain().to_string())
                    .unwrap_or_default(),
                resolver: config.upstream.resolver,
            },
        };
        let expiry_warning_days = match &config.credential {
            CredentialConfig::Card {
                expiry_warning_days,
                ..
            } => *expiry_warning_days,
            CredentialConfig::Software { .. } => 30,
            CredentialConfig::Psc(psc) => psc.expiry_warning_days,
        };
        Settings {
            endpoint,
            smtp_tls: config.upstream.tls,
            server_name: config.upstream.server_name.clone(),
            imap: config
                .upstream
                .imap_host
                .clone()
                .map(|h| (h, config.upstream.imap_port)),
            ehlo_name: config.smtp.hostname.clone(),
            data_dir: config.data_dir.clone(),
            queue_dir: config.queue_dir(),
            expiry_warning_days,
            check_timeout: CHECK_TIMEOUT,
        }
    }
}

/// Runs the checks; shared by the control API handlers.
pub struct Diagnostics {
    settings: Settings,
    /// The upstream TLS policy with the credential, without resumption (a
    /// resumed session shows no certificate).
    tls: Arc<ClientConfig>,
    credential: Arc<dyn Credential>,
    /// The configuration file, for the support bundle (redacted there).
    pub config_path: Option<PathBuf>,
    dns_cache: Mutex<Option<(Instant, Check, Option<Resolved>)>>,
}

impl Diagnostics {
    pub fn new(
        settings: Settings,
        upstream_tls: &ClientConfig,
        credential: Arc<dyn Credential>,
    ) -> Diagnostics {
        let mut tls = upstream_tls.clone();
        tls.resumption = rustls::client::Resumption::disabled();
        Diagnostics {
            settings,
            tls: Arc::new(tls),
            credential,
            config_path: None,
            dns_cache: Mutex::new(None),
        }
    }

    /// The DNS check, from the cache when `cached` and fresh.
    async fn dns(&self, cached: bool) -> (Check, Option<Resolved>) {
        if cached
            && let Some((at, check, resolved)) = self
                .dns_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            && at.elapsed() < DNS_CACHE
        {
            return (check, resolved);
        }
        // The dashboard waits for the quick set: a shorter limit there.
        let limit = if cached {
            self.settings.check_timeout.min(QUICK_DNS_TIMEOUT)
        } else {
            self.settings.check_timeout
        };
        let (check, resolved) = check_dns(&self.settings.endpoint, limit).await;
        *self.dns_cache.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), check.clone(), resolved.clone()));
        (check, resolved)
    }

    /// Runs `scope`'s checks concurrently.
    pub async fn run(&self, scope: Scope) -> Report {
        let started = Instant::now();
        let limit = self.settings.check_timeout;
        let network = async {
            let (dns, resolved) = self.dns(scope == Scope::Quick).await;
            let mut out = vec![dns];
            if scope == Scope::Full {
                let smtp = check_tcp("smtp_connect", resolved.as_ref(), limit);
                let tls = check_tls(
                    resolved.as_ref(),
                    self.settings.smtp_tls,
                    self.settings.server_name.as_deref(),
                    &self.settings.ehlo_name,
                    self.tls.clone(),
                    limit,
                );
                let (smtp, tls) = tokio::join!(smtp, tls);
                out.push(smtp);
                out.push(tls);
            }
            out
        };
        let imap = async {
            match (&self.settings.imap, scope) {
                (Some((host, port)), Scope::Full) => {
                    let resolved = Resolved::fixed(host, *port, limit).await;
                    Some(match resolved {
                        Ok(r) => check_tcp("imap_connect", Some(&r), limit).await,
                        Err(check) => {
                            let mut c = check;
                            c.id = "imap_connect".into();
                            c
                        }
                    })
                }
                _ => None,
            }
        };
        let clock = async { check_clock() };
        let data_dir = self.settings.data_dir.clone();
        let disk = blocking("disk", limit, move || check_disk(&data_dir));
        let queue_dir = self.settings.queue_dir.clone();
        let queue = blocking("queue", limit, move || check_queue(&queue_dir));
        let credential =
            async { check_credential(self.credential.as_ref(), self.settings.expiry_warning_days) };
        let (network, imap, clock, disk, queue, credential) =
            tokio::join!(network, imap, clock, disk, queue, credential);
        let mut checks = network;
        checks.extend(imap);
        checks.extend([clock, disk, queue, credential]);
        let level = checks.iter().map(|c| c.level).max().unwrap_or(Level::Ok);
        Report {
            scope: scope.as_str().into(),
            generated_at: crate::queue::now_unix(),
            duration_ms: started.elapsed().as_millis() as u64,
            level,
            checks,
        }
    }
}

/// Runs a blocking check (file system, SQLite) off the async threads,
/// within `limit`.
async fn blocking(
    id: &'static str,
    limit: Duration,
    work: impl FnOnce() -> Check + Send + 'static,
) -> Check {
    let started = Instant::now();
    let mut check = match tokio::time::timeout(limit, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(check)) => check,
        Ok(Err(_)) => {
            Check::new(id, Level::Error, &format!("{id}_failed")).detail("check panicked")
        }
        Err(_) => Check::new(id, Level::Error, &format!("{id}_timeout"))
            .detail(format!("no answer within {} s", limit.as_secs())),
    };
    check.duration_ms = started.elapsed().as_millis() as u64;
    check
}

#[cfg(test)]
mod tests;
