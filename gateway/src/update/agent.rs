//! The updater: follows the fleet server (poll, attributes, deployments,
//! cancels), downloads and checks bundles, installs them through RAUC,
//! restarts the box only at a quiet moment, and after the restart proves
//! the new system healthy before marking its slot good.
//!
//! A bundle uploaded by hand in the web admin goes through the same
//! [`Updater::install`] as one from the fleet server.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use hyper::Method;
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::UpdateSettings;
use super::ddi::{
    Cancel, ConfigData, Deployment, Execution, Feedback, Finished, Handling, MaintenanceWindow,
    Poll,
};
use super::http::{FleetHttp, HttpError};
use super::pending::{self, Pending};
use super::policy::{self, Activity, Window};
use super::rauc::{Rauc, RaucError};

/// What the updater needs to know of the rest of the box.
pub trait BoxState: Send + Sync {
    /// Attributes for the fleet server: version, board, card, queue
    /// depth. Never patient data.
    fn attributes(&self) -> BoxFuture<'_, BTreeMap<String, String>>;
    /// Messages queued and deliveries in flight (the window is added here).
    fn activity(&self) -> BoxFuture<'_, Activity>;
    /// The checks a new system must pass before its slot is marked good.
    fn health(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// The updater's state, for the control API and the web admin.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UpdateStatus {
    /// "idle", "downloading", "waiting_window", "installing",
    /// "waiting_restart", "restarting", "checking".
    pub state: &'static str,
    pub running_version: String,
    pub fleet_server: bool,
    pub action: Option<String>,
    pub target_version: Option<String>,
    /// Percent of the current download or installation.
    pub progress: Option<u32>,
    /// The last thing that went wrong talking to the fleet server.
    pub server_error: Option<String>,
    pub last_result: Option<UpdateResult>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UpdateResult {
    pub ok: bool,
    pub message: String,
    pub at: i64,
}

/// The first download retry waits this long, doubling up to a minute.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
/// After asking for a reboot, wait this long before asking again.
const RESTART_GRACE: Duration = Duration::from_secs(300);
/// How often the restart condition is looked at while an update waits.
const TICK: Duration = Duration::from_secs(2);

pub struct Updater {
    settings: UpdateSettings,
    dir: PathBuf,
    running_version: String,
    state: Arc<dyn BoxState>,
    http: Option<FleetHttp>,
    controller: Option<String>,
    window: Option<Window>,
    status: Mutex<UpdateStatus>,
    /// One installation at a time (the fleet's and a hand upload).
    installing: tokio::sync::Mutex<()>,
    /// Actions already closed, with the feedback sent: sent again should
    /// the server offer the action again (an earlier feedback was lost).
    closed: Mutex<HashMap<String, Feedback>>,
    /// Actions already told "downloaded" / "scheduled", not to repeat.
    told: Mutex<HashSet<String>>,
    restart_asked: Mutex<Option<std::time::Instant>>,
    wake: Notify,
    audit: Option<crate::audit::Audit>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}")]
    Refused(String),
    #[error("an update is already being installed")]
    Busy,
}

impl Updater {
    pub fn new(
        settings: UpdateSettings,
        data_dir: &Path,
        state: Arc<dyn BoxState>,
        audit: Option<crate::audit::Audit>,
    ) -> Result<Arc<Updater>, String> {
        let dir = data_dir.join("update");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (http, controller) = match &settings.server {
            Some(server) => {
                let tls = super::http::tls_config(
                    settings.trust_anchors.as_deref(),
                    settings
                        .client_certificate
                        .as_deref()
                        .zip(settings.client_key.as_deref()),
                )
                .map_err(|e| e.to_string())?;
                let http = FleetHttp::new(
                    tls,
                    settings.authorization(),
                    Duration::from_secs(settings.timeout),
                );
                let controller = format!(
                    "{}/controller/v1/{}",
                    server.trim_end_matches('/'),
                    settings.controller_id()?
                );
                (Some(http), Some(controller))
            }
            None => (None, None),
        };
        let window = match &settings.window {
            Some(text) => Some(
                Window::parse(text)
                    .ok_or_else(|| format!("update.window `{text}`: expected HH:MM-HH:MM"))?,
            ),
            None => None,
        };
        let running_version = settings.running_version();
        Ok(Arc::new(Updater {
            status: Mutex::new(UpdateStatus {
                state: "idle",
                running_version: running_version.clone(),
                fleet_server: controller.is_some(),
                action: None,
                target_version: None,
                progress: None,
                server_error: None,
                last_result: None,
            }),
            running_version,
            settings,
            dir,
            state,
            http,
            controller,
            window,
            installing: tokio::sync::Mutex::new(()),
            closed: Mutex::new(HashMap::new()),
            told: Mutex::new(HashSet::new()),
            restart_asked: Mutex::new(None),
            wake: Notify::new(),
            audit,
        }))
    }

    pub fn status(&self) -> UpdateStatus {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Downloading, installing, restarting into or checking a new
    /// version: the board shows it (blue, breathing).
    pub fn in_progress(&self) -> bool {
        matches!(
            self.status().state,
            "downloading" | "installing" | "restarting" | "checking"
        )
    }

    fn set_status(&self, change: impl FnOnce(&mut UpdateStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut status);
    }

    fn finish(&self, ok: bool, message: &str) {
        if ok {
            tracing::info!(result = %message, "update finished");
        } else {
            tracing::warn!(result = %message, "update failed");
        }
        if let Some(audit) = &self.audit {
            audit.note(
                "updater",
                if ok {
                    "update_succeeded"
                } else {
                    "update_failed"
                },
                None,
                Some(message),
            );
        }
        self.set_status(|s| {
            s.state = "idle";
            s.action = None;
            s.progress = None;
            s.target_version = None;
            s.last_result = Some(UpdateResult {
                ok,
                message: message.to_string(),
                at: crate::queue::now_unix(),
            });
        });
    }

    /// Look at the fleet server now rather than at the next interval.
    pub fn poll_now(&self) {
        self.wake.notify_one();
    }

    /// Runs until `shutdown`: first the after-restart check, then polling
    /// and restarts at quiet moments.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = self.after_restart() => {}
        }
        let mut next_poll = tokio::time::Instant::now();
        loop {
            self.restart_if_quiet().await;
            if self.controller.is_some() && tokio::time::Instant::now() >= next_poll {
                let sleep = self.poll_once().await;
                next_poll = tokio::time::Instant::now() + sleep;
            }
            let until_poll = next_poll.saturating_duration_since(tokio::time::Instant::now());
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => next_poll = tokio::time::Instant::now(),
                _ = tokio::time::sleep(until_poll.min(TICK)) => {}
            }
        }
    }

    fn current_boot(&self) -> String {
        pending::boot_id(&self.settings.boot_id_file).unwrap_or_default()
    }

    fn pending(&self) -> Option<Pending> {
        match pending::read(&self.dir) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "unreadable pending update record");
                None
            }
        }
    }

    // ----- after a restart -------------------------------------------------

    /// After the restart that follows an installation: on the new slot,
    /// check health and mark the slot good; back on the old slot (the
    /// bootloader fell back), report the failure.
    async fn after_restart(&self) {
        let Some(p) = self.pending() else { return };
        if p.boot_id == self.current_boot() {
            // Installed, not restarted yet: the loop restarts at a quiet moment.
            self.set_status(|s| {
                s.state = "waiting_restart";
                s.action = p.action.clone();
                s.target_version = Some(p.version.clone());
            });
            return;
        }
        self.set_status(|s| {
            s.state = "checking";
            s.action = p.action.clone();
            s.target_version = Some(p.version.clone());
        });
        let rauc = loop {
            match Rauc::connect(&self.settings.rauc_bus()).await {
                Ok(r) => break r,
                Err(e) => {
                    tracing::warn!(error = %e, "waiting for the RAUC service");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        };
        let booted = match rauc.boot_slot().await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the booted slot");
                return;
            }
        };
        let outcome = if booted == p.from_slot {
            Err(format!(
                "la nouvelle version {} n'a pas démarré correctement ; le boîtier est revenu sur sa version précédente (emplacement {booted}){}",
                p.version,
                p.check_failure
                    .as_deref()
                    .map(|r| format!(" : {r}"))
                    .unwrap_or_default()
            ))
        } else {
            match self.check_health().await {
                Ok(()) => match rauc.mark_booted_good().await {
                    Ok(slot) => Ok(format!(
                        "version {} installée et en service (emplacement {booted}, {slot} validé)",
                        p.version
                    )),
                    Err(e) => Err(format!("cannot mark the new slot good: {e}")),
                },
                Err(reason) => {
                    // Let the bootloader take the box back to the old
                    // system; the next start reports why.
                    tracing::error!(reason = %reason, "the new system is not healthy: going back to the previous one");
                    let mut again = p.clone();
                    again.check_failure = Some(reason);
                    again.boot_id = self.current_boot();
                    if let Err(e) = pending::write(&self.dir, &again) {
                        tracing::error!(error = %e, "cannot record the failed check");
                    }
                    if let Err(e) = rauc.mark_bad_booted().await {
                        tracing::error!(error = %e, "cannot mark the new slot bad");
                    }
                    self.reboot().await;
                    return;
                }
            }
        };
        let (ok, message) = match outcome {
            Ok(m) => (true, m),
            Err(m) => (false, m),
        };
        if let Some(action) = &p.action {
            let feedback = if ok {
                Feedback::success(&message)
            } else {
                Feedback::failure(&message)
            };
            self.store_report(action, &feedback);
        }
        if let Err(e) = pending::clear(&self.dir) {
            tracing::error!(error = %e, "cannot clear the pending update record");
        }
        self.finish(ok, &message);
        self.send_stored_reports().await;
    }

    /// The health checks, tried a few times: services may still be
    /// starting (pcscd, the operator's DNS) right after a boot.
    async fn check_health(&self) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 1..=self.settings.health_attempts.max(1) {
            match self.state.health().await {
                Ok(()) => return Ok(()),
                Err(reason) => {
                    tracing::warn!(attempt, reason = %reason, "post-update health check failed");
                    last = reason;
                }
            }
            if attempt < self.settings.health_attempts {
                tokio::time::sleep(Duration::from_secs(self.settings.health_interval)).await;
            }
        }
        Err(last)
    }

    // ----- final reports that must reach the server ----------------------

    fn reports_path(&self) -> PathBuf {
        self.dir.join("reports.json")
    }

    /// Keeps a final feedback on disk until the server has it: the box may
    /// have restarted, or the server be down.
    fn store_report(&self, action: &str, feedback: &Feedback) {
        let mut reports = self.stored_reports();
        reports.insert(action.to_string(), feedback.clone());
        self.write_reports(&reports);
        if let Ok(mut closed) = self.closed.lock() {
            closed.insert(action.to_string(), feedback.clone());
        }
    }

    fn stored_reports(&self) -> BTreeMap<String, Feedback> {
        std::fs::read(self.reports_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn write_reports(&self, reports: &BTreeMap<String, Feedback>) {
        let result = if reports.is_empty() {
            match std::fs::remove_file(self.reports_path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            serde_json::to_vec(reports)
                .map_err(std::io::Error::other)
                .and_then(|b| {
                    crate::durable::write_atomically(&self.reports_path(), &b, 0o600)
                        .map_err(std::io::Error::other)
                })
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot keep the update reports");
        }
    }

    async fn send_stored_reports(&self) {
        let (Some(http), Some(controller)) = (&self.http, &self.controller) else {
            return;
        };
        let mut reports = self.stored_reports();
        if reports.is_empty() {
            return;
        }
        let before = reports.len();
        let mut kept = BTreeMap::new();
        for (action, feedback) in std::mem::take(&mut reports) {
            let url = feedback_url(controller, &action);
            match http.send_json(Method::POST, &url, &feedback).await {
                // A 4xx will not get better: the server forgot the action.
                Ok(()) | Err(HttpError::Refused(_)) => {
                    if let Ok(mut closed) = self.closed.lock() {
                        closed.insert(action, feedback);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, action = %action, "update report not sent yet");
                    kept.insert(action, feedback);
                }
            }
        }
        if kept.len() != before {
            self.write_reports(&kept);
        }
    }

    // ----- polling ---------------------------------------------------------

    /// One round with the fleet server; returns when to come back.
    async fn poll_once(&self) -> Duration {
        let fallback = Duration::from_secs(self.settings.poll_interval);
        let (Some(http), Some(controller)) = (&self.http, &self.controller) else {
            return fallback;
        };
        self.send_stored_reports().await;
        let poll = match http.get_json(controller).await {
            Ok(body) => Poll::parse(&body).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let poll = match poll {
            Ok(poll) => {
                self.set_status(|s| s.server_error = None);
                poll
            }
            Err(reason) => {
                tracing::warn!(reason = %reason, "fleet server poll failed");
                self.set_status(|s| s.server_error = Some(reason));
                return fallback;
            }
        };
        if let Some(href) = &poll.config_data {
            let attributes = self.state.attributes().await;
            if let Err(e) = http
                .send_json(Method::PUT, href, &ConfigData::merge(attributes))
                .await
            {
                tracing::warn!(error = %e, "attributes not sent");
            }
        }
        if let Some(href) = &poll.cancel {
            self.handle_cancel(http, controller, href).await;
        } else if let Some(href) = &poll.deployment {
            self.handle_deployment(http, controller, href).await;
        }
        poll.sleep.unwrap_or(fallback)
    }

    async fn feedback(&self, action: &str, feedback: Feedback) {
        let (Some(http), Some(controller)) = (&self.http, &self.controller) else {
            return;
        };
        let url = feedback_url(controller, action);
        if let Err(e) = http.send_json(Method::POST, &url, &feedback).await {
            tracing::warn!(error = %e, action, "feedback not sent");
        }
    }

    /// Ends an action in failure: the reason goes to the server (kept
    /// until it gets there) and to the web admin; downloaded files go.
    async fn fail(&self, action: &str, reason: &str) {
        self.remove_downloads(action);
        self.store_report(action, &Feedback::failure(reason));
        self.send_stored_reports().await;
        self.finish(false, reason);
    }

    fn bundle_path(&self, action: &str) -> PathBuf {
        self.dir.join(format!("{}.raucb", safe_id(action)))
    }

    fn part_path(&self, action: &str) -> PathBuf {
        self.dir.join(format!("{}.raucb.part", safe_id(action)))
    }

    fn remove_downloads(&self, action: &str) {
        for path in [self.bundle_path(action), self.part_path(action)] {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!(error = %e, path = %path.display(), "cannot remove a download");
                }
                _ => {}
            }
        }
    }

    async fn handle_cancel(&self, http: &FleetHttp, controller: &str, href: &str) {
        let cancel = match http.get_json(href).await {
            Ok(body) => match Cancel::parse(&body) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable cancel action");
                    self.set_status(|s| s.server_error = Some(e.to_string()));
                    return;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the cancel action");
                return;
            }
        };
        let url = format!("{controller}/cancelAction/{}/feedback", cancel.id);
        let installed = self
            .pending()
            .is_some_and(|p| p.action.as_deref() == Some(cancel.stop.as_str()));
        let feedback = if installed {
            Feedback::new(
                Execution::Rejected,
                Finished::Failure,
                "déjà installée : la mise à jour ne peut plus être annulée",
            )
        } else {
            self.remove_downloads(&cancel.stop);
            if let Ok(mut told) = self.told.lock() {
                told.retain(|key| !key.starts_with(&format!("{}/", cancel.stop)));
            }
            Feedback::success("annulée : téléchargement supprimé, rien n'a été installé")
        };
        match http.send_json(Method::POST, &url, &feedback).await {
            Ok(()) => {
                if !installed {
                    if let Ok(mut closed) = self.closed.lock() {
                        closed.insert(cancel.stop.clone(), feedback.clone());
                    }
                    self.finish(false, "mise à jour annulée par le serveur de flotte");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cancel feedback not sent"),
        }
    }

    async fn handle_deployment(&self, http: &FleetHttp, controller: &str, href: &str) {
        let action = action_of(href);
        let body = match http.get_json(href).await {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the deployment");
                self.set_status(|s| s.server_error = Some(e.to_string()));
                return;
            }
        };
        let deployment = match Deployment::parse(&body) {
            Ok(d) => d,
            Err(e) => {
                if let Some(action) = action {
                    if !self.already_closed(http, controller, &action).await {
                        self.fail(&action, &format!("déploiement refusé : {e}"))
                            .await;
                    }
                } else {
                    self.set_status(|s| s.server_error = Some(e.to_string()));
                }
                return;
            }
        };
        let action = deployment.action.clone();
        if self
            .pending()
            .is_some_and(|p| p.action.as_deref() == Some(action.as_str()))
        {
            return;
        }
        if self.already_closed(http, controller, &action).await {
            return;
        }
        if deployment.download == Handling::Skip {
            return;
        }
        tracing::info!(action = %action, version = %deployment.version, "deployment offered");
        self.set_status(|s| {
            s.action = Some(action.clone());
            s.target_version = Some(deployment.version.clone());
        });
        let bundle = self.bundle_path(&action);
        // Hashed once per action and daemon run: a bundle waiting for its
        // window is not read again at every poll.
        let checked = self.was_told(&action, Execution::Downloaded) && bundle.exists();
        if !checked
            && !self.is_verified(&bundle, &deployment.bundle.sha256).await
            && let Err(reason) = self.download(&deployment).await
        {
            self.fail(&action, &reason).await;
            return;
        }
        if self.tell_once(&action, Execution::Downloaded) {
            self.feedback(
                &action,
                Feedback::new(
                    Execution::Downloaded,
                    Finished::None,
                    "bundle téléchargé et vérifié (SHA-256)",
                )
                .with_progress(2, 4),
            )
            .await;
        }
        let waiting = deployment.update == Handling::Skip
            || deployment.window == Some(MaintenanceWindow::Unavailable);
        if waiting {
            self.set_status(|s| {
                s.state = "waiting_window";
                s.progress = None;
            });
            if self.tell_once(&action, Execution::Scheduled) {
                self.feedback(
                    &action,
                    Feedback::new(
                        Execution::Scheduled,
                        Finished::None,
                        "en attente de la fenêtre de maintenance",
                    ),
                )
                .await;
            }
            return;
        }
        let bundle_text = bundle.display().to_string();
        match self.install(&bundle_text, Some(&action)).await {
            Ok(_) => {
                self.remove_downloads(&action);
            }
            Err(UpdateError::Busy) => {}
            Err(UpdateError::Refused(reason)) => self.fail(&action, &reason).await,
        }
    }

    /// An action the box already closed: say so again, the server may
    /// have lost the earlier feedback.
    async fn already_closed(&self, http: &FleetHttp, controller: &str, action: &str) -> bool {
        let feedback = self.closed.lock().ok().and_then(|c| c.get(action).cloned());
        let Some(feedback) = feedback else {
            return false;
        };
        let url = feedback_url(controller, action);
        let _ = http.send_json(Method::POST, &url, &feedback).await;
        true
    }

    fn was_told(&self, action: &str, execution: Execution) -> bool {
        self.told
            .lock()
            .is_ok_and(|told| told.contains(&format!("{action}/{execution:?}")))
    }

    fn tell_once(&self, action: &str, execution: Execution) -> bool {
        let Ok(mut told) = self.told.lock() else {
            return true;
        };
        told.insert(format!("{action}/{execution:?}"))
    }

    async fn is_verified(&self, path: &Path, sha256: &str) -> bool {
        path.exists() && sha256_file(path).await.is_ok_and(|h| h == sha256)
    }

    /// Downloads the bundle, resuming after cuts, a capped number of
    /// times; a 4xx ends it at once.
    async fn download(&self, deployment: &Deployment) -> Result<(), String> {
        let Some(http) = &self.http else {
            return Err("no fleet server".into());
        };
        let action = &deployment.action;
        let part = self.part_path(action);
        let attempts = self.settings.download_attempts.max(1);
        self.set_status(|s| {
            s.state = "downloading";
            s.progress = Some(0);
        });
        self.feedback(
            action,
            Feedback::proceeding(format!(
                "téléchargement de {} ({} octets)",
                deployment.bundle.filename, deployment.bundle.size
            ))
            .with_progress(1, 4),
        )
        .await;
        let mut delay = Duration::from_secs(self.settings.retry_delay.max(1));
        let mut last = String::new();
        for attempt in 1..=attempts {
            match http.download(&deployment.bundle.download, &part).await {
                Ok(length) => {
                    if deployment.bundle.size > 0 && length != deployment.bundle.size {
                        let _ = std::fs::remove_file(&part);
                        return Err(format!(
                            "téléchargement refusé : {length} octets reçus, {} annoncés",
                            deployment.bundle.size
                        ));
                    }
                    let actual = sha256_file(&part)
                        .await
                        .map_err(|e| format!("{}: {e}", part.display()))?;
                    if actual != deployment.bundle.sha256 {
                        let _ = std::fs::remove_file(&part);
                        return Err(format!(
                            "empreinte SHA-256 incorrecte : {actual} au lieu de {}",
                            deployment.bundle.sha256
                        ));
                    }
                    std::fs::rename(&part, self.bundle_path(action))
                        .map_err(|e| format!("{}: {e}", part.display()))?;
                    return Ok(());
                }
                Err(e) if !e.is_transient() => {
                    let _ = std::fs::remove_file(&part);
                    return Err(format!("téléchargement refusé par le serveur : {e}"));
                }
                Err(e) => {
                    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                    tracing::warn!(attempt, attempts, error = %e, have, "download interrupted");
                    if let Some(percent) = (have * 100).checked_div(deployment.bundle.size) {
                        self.set_status(|s| s.progress = Some((percent as u32).min(99)));
                    }
                    last = e.to_string();
                    if attempt < attempts {
                        self.feedback(
                            action,
                            Feedback::proceeding(format!(
                                "téléchargement interrompu ({attempt}/{attempts}) après {have} octets, reprise : {e}"
                            )),
                        )
                        .await;
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(MAX_RETRY_DELAY);
                    }
                }
            }
        }
        // The part is kept: a later deployment of the same action resumes it.
        Err(format!(
            "téléchargement impossible après {attempts} tentatives : {last}"
        ))
    }

    // ----- installation ----------------------------------------------------

    /// Checks and installs a bundle (from the fleet server when `action` is
    /// given, else uploaded by hand). On success the box restarts at the
    /// next quiet moment. Returns the installed version.
    pub async fn install(&self, bundle: &str, action: Option<&str>) -> Result<String, UpdateError> {
        let Ok(_guard) = self.installing.try_lock() else {
            return Err(UpdateError::Busy);
        };
        if self.pending().is_some() {
            return Err(UpdateError::Refused(
                "une mise à jour est déjà installée et attend le redémarrage".into(),
            ));
        }
        let refused = |e: RaucError| UpdateError::Refused(e.to_string());
        let rauc = Rauc::connect(&self.settings.rauc_bus())
            .await
            .map_err(refused)?;
        let info = rauc.info(bundle).await.map_err(|e| match e {
            RaucError::Refused(detail) => UpdateError::Refused(format!(
                "fichier de mise à jour refusé (signature ou format) : {detail}"
            )),
            e => refused(e),
        })?;
        let system = rauc.compatible().await.map_err(refused)?;
        policy::check_bundle(
            &info.compatible,
            &info.version,
            &system,
            &self.running_version,
            self.settings.allow_downgrade,
        )
        .map_err(|r| UpdateError::Refused(format!("fichier de mise à jour refusé : {r}")))?;
        let from_slot = rauc.boot_slot().await.map_err(refused)?;
        tracing::info!(version = %info.version, from_slot = %from_slot, "installing");
        self.set_status(|s| {
            s.state = "installing";
            s.progress = Some(0);
            s.action = action.map(str::to_string);
            s.target_version = Some(info.version.clone());
        });
        if let Some(action) = action {
            self.feedback(
                action,
                Feedback::proceeding(format!("installation de la version {}", info.version))
                    .with_progress(3, 4),
            )
            .await;
        }
        let result = rauc
            .install(bundle, |percent, _| {
                self.set_status(|s| s.progress = Some(percent.clamp(0, 100) as u32));
            })
            .await;
        if let Err(e) = result {
            let reason = format!("installation échouée : {e}");
            if action.is_none() {
                self.finish(false, &reason);
            }
            return Err(UpdateError::Refused(reason));
        }
        let record = Pending {
            action: action.map(str::to_string),
            version: info.version.clone(),
            from_slot,
            boot_id: self.current_boot(),
            installed_at: crate::queue::now_unix(),
            check_failure: None,
        };
        if let Err(e) = pending::write(&self.dir, &record) {
            tracing::error!(error = %e, "cannot record the installed update");
        }
        if let Some(audit) = &self.audit {
            audit.note("updater", "update_installed", None, Some(&info.version));
        }
        self.set_status(|s| {
            s.state = "waiting_restart";
            s.progress = None;
        });
        if let Some(action) = action {
            self.feedback(
                action,
                Feedback::proceeding(format!(
                    "version {} installée ; redémarrage au prochain moment calme",
                    info.version
                ))
                .with_progress(4, 4),
            )
            .await;
        }
        self.wake.notify_one();
        Ok(info.version)
    }

    /// Where a bundle uploaded by hand is received.
    pub fn upload_path(&self) -> PathBuf {
        self.dir.join("upload.raucb")
    }

    /// Refuses a hand upload for a clear reason, keeping it in the status.
    pub fn refuse_upload(&self, reason: &str) {
        self.finish(false, reason);
    }

    // ----- restarting --------------------------------------------------------

    async fn restart_if_quiet(&self) {
        let Some(p) = self.pending() else { return };
        if p.boot_id != self.current_boot() {
            return;
        }
        if self
            .restart_asked
            .lock()
            .ok()
            .and_then(|t| *t)
            .is_some_and(|t| t.elapsed() < RESTART_GRACE)
        {
            return;
        }
        let mut activity = self.state.activity().await;
        activity.in_window = self
            .window
            .is_some_and(|w| w.contains(crate::queue::now_unix()));
        if !policy::quiet_moment(activity) {
            self.set_status(|s| s.state = "waiting_restart");
            return;
        }
        tracing::info!(
            queued = activity.queued,
            in_window = activity.in_window,
            "quiet moment: restarting into the new version"
        );
        self.set_status(|s| s.state = "restarting");
        self.reboot().await;
    }

    async fn reboot(&self) {
        if let Ok(mut asked) = self.restart_asked.lock() {
            *asked = Some(std::time::Instant::now());
        }
        if let Some(audit) = &self.audit {
            audit.note("updater", "restart_asked", None, None);
            audit.flush().await;
        }
        let Some((program, args)) = self.settings.reboot_command.split_first() else {
            tracing::error!("update.reboot_command is empty");
            return;
        };
        match tokio::process::Command::new(program)
            .args(args)
            .status()
            .await
        {
            Ok(status) if status.success() => {}
            Ok(status) => tracing::error!(%status, "the reboot command failed"),
            Err(e) => tracing::error!(error = %e, "cannot run the reboot command"),
        }
    }
}

/// Where the feedback of a deployment action goes.
fn feedback_url(controller: &str, action: &str) -> String {
    format!("{controller}/deploymentBase/{action}/feedback")
}

/// The action id at the end of a `…/deploymentBase/{id}?c=…` link.
fn action_of(href: &str) -> Option<String> {
    let path = href.split(['?', '#']).next()?;
    let (_, id) = path.trim_end_matches('/').rsplit_once("/deploymentBase/")?;
    (!id.is_empty() && !id.contains('/')).then(|| id.to_string())
}

/// Action ids come from the server: only safe characters in file names.
fn safe_id(action: &str) -> String {
    action
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Lower-case hex SHA-256 of a file, read off the async threads.
pub async fn sha256_file(path: &Path) -> std::io::Result<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = std::fs::File::open(&path)?;
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            context.update(&buffer[..n]);
        }
        Ok(crate::audit::hex(context.finish().as_ref()))
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_is_read_from_the_deployment_link() {
        assert_eq!(
            action_of("https://h/DEFAULT/controller/v1/box/deploymentBase/42?c=-2129030598")
                .as_deref(),
            Some("42")
        );
        assert_eq!(action_of("https://h/x/deploymentBase/").as_deref(), None);
        assert_eq!(action_of("https://h/x/other/42").as_deref(), None);
        assert_eq!(safe_id("../42"), "___42");
    }

    struct FakeBox {
        activity: Mutex<Activity>,
    }

    impl BoxState for FakeBox {
        fn attributes(&self) -> BoxFuture<'_, BTreeMap<String, String>> {
            Box::pin(async { BTreeMap::new() })
        }
        fn activity(&self) -> BoxFuture<'_, Activity> {
            let a = *self.activity.lock().unwrap();
            Box::pin(async move { a })
        }
        fn health(&self) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
    }

    fn updater(dir: &Path, fake: Arc<FakeBox>) -> Arc<Updater> {
        std::fs::write(dir.join("boot_id"), "boot-1\n").unwrap();
        let settings: UpdateSettings = toml::from_str(&format!(
            "boot_id_file = \"{}\"\nreboot_command = [\"sh\", \"-c\", \"echo x >> {}\"]\n",
            dir.join("boot_id").display(),
            dir.join("reboots").display()
        ))
        .unwrap();
        Updater::new(settings, dir, fake, None).unwrap()
    }

    /// Records version 0.2.0 as installed from slot A during `boot_id`.
    fn installed(dir: &Path, boot_id: &str) {
        let record = Pending {
            action: None,
            version: "0.2.0".into(),
            from_slot: "A".into(),
            boot_id: boot_id.into(),
            installed_at: 0,
            check_failure: None,
        };
        pending::write(&dir.join("update"), &record).unwrap();
    }

    fn quiet() -> Arc<FakeBox> {
        Arc::new(FakeBox {
            activity: Mutex::new(Activity {
                queued: 0,
                delivering: 0,
                in_window: false,
            }),
        })
    }

    #[tokio::test]
    async fn an_installed_update_restarts_only_at_a_quiet_moment() {
        let dir = tempfile::tempdir().unwrap();
        let fake = quiet();
        fake.activity.lock().unwrap().queued = 2;
        let u = updater(dir.path(), fake.clone());
        let reboots = || std::fs::read_to_string(dir.path().join("reboots")).unwrap_or_default();
        // Nothing installed: nothing to restart for.
        u.restart_if_quiet().await;
        assert_eq!(reboots(), "");
        installed(dir.path(), "boot-1");
        // Messages waiting, no window configured: wait.
        u.restart_if_quiet().await;
        assert_eq!(reboots(), "");
        assert_eq!(u.status().state, "waiting_restart");
        // Queue empty but a delivery in flight: wait.
        *fake.activity.lock().unwrap() = Activity {
            queued: 0,
            delivering: 1,
            in_window: false,
        };
        u.restart_if_quiet().await;
        assert_eq!(reboots(), "");
        // Quiet: restart, once.
        fake.activity.lock().unwrap().delivering = 0;
        u.restart_if_quiet().await;
        assert_eq!(reboots(), "x\n");
        assert!(u.in_progress());
        u.restart_if_quiet().await;
        assert_eq!(reboots(), "x\n");
    }

    #[tokio::test]
    async fn a_restart_already_done_is_not_asked_again() {
        let dir = tempfile::tempdir().unwrap();
        let u = updater(dir.path(), quiet());
        installed(dir.path(), "an-earlier-boot");
        // The box has restarted since the installation: the after-restart
        // check deals with it, the quiet-moment loop does not.
        u.restart_if_quiet().await;
        assert!(!dir.path().join("reboots").exists());
        assert!(!u.in_progress());
    }

    #[tokio::test]
    async fn file_hashes_are_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).await.unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
