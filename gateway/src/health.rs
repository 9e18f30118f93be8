//! The health loop: every few seconds it asks each vital part of the
//! daemon to answer (the queue's writer thread, the card service, the
//! control API) and only when all answer in time does it feed the
//! hardware watchdog and tell systemd `WATCHDOG=1`. A part that hangs thus
//! ends in a restart (systemd) or a reboot (hardware), never in a box
//! that looks alive and sends nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use board::watchdog::Watchdog;
use futures_util::future::{BoxFuture, join_all};
use tokio_util::sync::CancellationToken;

/// One part asked to prove it answers.
pub trait Probe: Send + Sync {
    fn name(&self) -> &'static str;
    /// Resolves with `Err(reason)` when the part answers wrongly; never
    /// resolving is a hang, caught by the loop's time limit.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// How one round went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    Healthy,
    /// The probes that failed or did not answer in time, with why.
    Sick(Vec<(&'static str, String)>),
}

/// What is told when all is well.
pub struct Feeders {
    pub watchdog: Option<Box<dyn Watchdog>>,
    /// Tell systemd `WATCHDOG=1` (the unit has `WatchdogSec=`).
    pub systemd: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct HealthSettings {
    pub interval: Duration,
    /// How long each probe may take.
    pub timeout: Duration,
}

impl HealthSettings {
    /// Probes may take up to half the interval, so a round ends before
    /// the next is due.
    pub fn every(interval: Duration) -> HealthSettings {
        HealthSettings {
            interval,
            timeout: (interval / 2).max(Duration::from_millis(500)),
        }
    }
}

/// The systemd watchdog period when the unit has `WatchdogSec=` and this
/// process is the one it watches.
pub fn systemd_watchdog() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec))
}

/// Tells systemd (if it started us) that the daemon is up: its ports and
/// socket listen.
pub fn notify_ready() {
    if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Runs every probe at once, each with the time limit.
pub async fn round(probes: &[Box<dyn Probe>], timeout: Duration) -> Round {
    let checks = probes.iter().map(|probe| async move {
        match tokio::time::timeout(timeout, probe.check()).await {
            Ok(Ok(())) => None,
            Ok(Err(reason)) => Some((probe.name(), reason)),
            Err(_) => Some((
                probe.name(),
                format!("no answer within {} ms", timeout.as_millis()),
            )),
        }
    });
    let failed: Vec<_> = join_all(checks).await.into_iter().flatten().collect();
    if failed.is_empty() {
        Round::Healthy
    } else {
        Round::Sick(failed)
    }
}

/// Checks and feeds until `shutdown`, then disarms the watchdog (an
/// orderly stop must not reboot the box).
pub async fn run(
    probes: Vec<Box<dyn Probe>>,
    feeders: Feeders,
    settings: HealthSettings,
    shutdown: CancellationToken,
) {
    let watchdog = feeders.watchdog.map(|w| Arc::new(Mutex::new(w)));
    let mut was_sick = false;
    loop {
        match round(&probes, settings.timeout).await {
            Round::Healthy => {
                if was_sick {
                    tracing::info!("every part answers again: watchdog fed again");
                    was_sick = false;
                }
                if let Some(dog) = &watchdog {
                    with_watchdog(dog.clone(), |w| w.feed(), "feed").await;
                }
                if feeders.systemd {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                }
            }
            Round::Sick(failed) => {
                let parts: Vec<String> = failed
                    .iter()
                    .map(|(name, why)| format!("{name}: {why}"))
                    .collect();
                tracing::error!(failed = %parts.join("; "), "health check failed: the watchdog is not fed");
                was_sick = true;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(settings.interval) => {}
        }
    }
    if let Some(dog) = watchdog {
        with_watchdog(dog, |w| w.disarm(), "disarm").await;
    }
}

/// A write to the watchdog device, off the async threads.
async fn with_watchdog(
    dog: Arc<Mutex<Box<dyn Watchdog>>>,
    f: fn(&mut Box<dyn Watchdog>) -> std::io::Result<()>,
    what: &'static str,
) {
    let result = tokio::task::spawn_blocking(move || {
        let mut dog = dog.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut dog)
    })
    .await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, action = what, "hardware watchdog"),
        Err(e) => tracing::error!(error = %e, action = what, "hardware watchdog"),
    }
}

/// The queue: a round trip through its writer thread and the database.
pub struct QueueProbe(pub crate::queue::Queue);

impl Probe for QueueProbe {
    fn name(&self) -> &'static str {
        "queue"
    }
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.0.ping().await.map_err(|e| e.to_string()) })
    }
}

/// The card service: a round trip through its thread.
pub struct CardProbe {
    pub card: crate::card::CardService,
    pub timeout: Duration,
}

impl Probe for CardProbe {
    fn name(&self) -> &'static str {
        "card service"
    }
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        let card = self.card.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || card.ping_blocking(timeout)).await {
                Ok(true) => Ok(()),
                Ok(false) => Err("the card service thread does not answer".into()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// The control API: a request on its socket, as the web admin makes.
pub struct ControlProbe(pub std::path::PathBuf);

impl Probe for ControlProbe {
    fn name(&self) -> &'static str {
        "control API"
    }
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            crate::control::ControlClient::new(&self.0)
                .get("/v1/health")
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests;
