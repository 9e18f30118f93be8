//! The daemon's side of the board (`docs/board.md`): starts the board loop
//! on the configured description (or the simulated board), tells it the
//! daemon's state every second, and hands the button's actions back to
//! the daemon.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use board::description::Description;
use board::face::FaceSettings;
use board::sim::SimBoard;
use board::watchdog::{DeviceWatchdog, Watchdog};
use board::{Action, Board, CredentialFact, DisplayInfo, Facts, Phase, Snapshot};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::card::{CardService, CardState, CardStatus, IdentityCheck};
use crate::config::BoardConfig;
use crate::credential::Credential;
use crate::inbound::fetcher::Fetcher;
use crate::queue::delivery::Delivery;

/// The value of `board.description` that runs the simulated board.
pub const SIMULATED: &str = "simulated";

/// How often the daemon's state is sent to the board.
const FACTS_EVERY: Duration = Duration::from_secs(1);

/// A running board and what the control API needs of it.
pub struct BoardLink {
    board: Mutex<Board>,
    /// The simulated board's button and parts, when simulated.
    sim: Option<SimBoard>,
    /// The board's name from its description (`simulated` for the sim).
    pub name: String,
    info: Mutex<DisplayInfo>,
}

/// What [`start`] gives the daemon.
pub struct Started {
    pub link: Option<Arc<BoardLink>>,
    /// The hardware watchdog, for the health loop.
    pub watchdog: Option<Box<dyn Watchdog>>,
    /// Button actions (identify, retry now, factory reset).
    pub actions: mpsc::UnboundedReceiver<Action>,
}

/// Starts the board named by `config`; no description: no board, no
/// watchdog (a PC). A description that cannot be read stops the daemon
/// (a typo must not leave a box without its watchdog); a part that cannot
/// be opened is logged and left out.
pub fn start(config: &BoardConfig) -> anyhow::Result<Started> {
    let (tx, actions) = mpsc::unbounded_channel();
    let settings = FaceSettings {
        operator_alarm_ms: config.operator_alarm_after.saturating_mul(1000),
        ..FaceSettings::default()
    };
    let on_action = move |action: Action| {
        let _ = tx.send(action);
    };
    let Some(description) = config.description.as_deref() else {
        return Ok(Started {
            link: None,
            watchdog: None,
            actions,
        });
    };
    let (parts, sim, name, watchdog) = if description == SIMULATED {
        let sim = SimBoard::new();
        (sim.parts(), Some(sim), SIMULATED.to_string(), None)
    } else {
        let path = Path::new(description);
        let description = Description::load(path).context("board.description")?;
        let (parts, errors) = board::linux::open(&description);
        for e in errors {
            tracing::warn!(part = e.part, error = %e.reason, "board part unavailable; the box works without it");
        }
        let watchdog: Option<Box<dyn Watchdog>> = match &description.watchdog {
            Some(w) => match DeviceWatchdog::open(&w.device, Some(w.timeout_secs)) {
                Ok(dog) => {
                    tracing::info!(device = %w.device.display(), timeout_secs = w.timeout_secs, "hardware watchdog armed");
                    Some(Box::new(dog))
                }
                Err(e) => {
                    tracing::error!(device = %w.device.display(), error = %e, "cannot open the hardware watchdog");
                    None
                }
            },
            None => None,
        };
        (parts, None, description.name.clone(), watchdog)
    };
    let board = Board::start(parts, settings, on_action).context("cannot start the board loop")?;
    tracing::info!(board = %name, "board started");
    Ok(Started {
        link: Some(Arc::new(BoardLink {
            board: Mutex::new(board),
            sim,
            name,
            info: Mutex::new(DisplayInfo::default()),
        })),
        watchdog,
        actions,
    })
}

impl BoardLink {
    fn with_board<T>(&self, f: impl FnOnce(&mut Board) -> T) -> T {
        let mut board = self.board.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut board)
    }

    pub fn snapshot(&self) -> Snapshot {
        self.with_board(|b| b.snapshot())
    }

    pub fn set_facts(&self, facts: Facts) {
        self.with_board(|b| b.set_facts(facts));
    }

    /// Board milliseconds of `at`, for [`Facts`].
    pub fn millis(&self, at: Instant) -> u64 {
        self.with_board(|b| b.millis(at))
    }

    pub fn identify(&self) {
        self.with_board(|b| b.identify());
    }

    /// What the display adds: the web admin's address and setup code.
    pub fn set_info(&self, info: DisplayInfo) {
        *self.info.lock().unwrap_or_else(|p| p.into_inner()) = info.clone();
        self.with_board(|b| b.set_info(info));
    }

    pub fn info(&self) -> DisplayInfo {
        self.info.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn is_simulated(&self) -> bool {
        self.sim.is_some()
    }

    /// Presses the simulated board's button for `hold`; `false` on real
    /// hardware, where only a finger can.
    pub fn press(&self, hold: Duration) -> bool {
        match &self.sim {
            Some(sim) => {
                sim.press(hold);
                true
            }
            None => false,
        }
    }

    /// Tunes the simulated buzzer played, most recent last.
    pub fn tunes(&self) -> Vec<&'static str> {
        self.sim
            .as_ref()
            .map(|s| s.state().tunes)
            .unwrap_or_default()
    }

    /// LED off and « Arrêté »: a stopped daemon never looks ready.
    pub fn stop(&self) {
        self.with_board(|b| b.stop());
    }
}

/// The state of the credential as the board shows it.
pub fn credential_fact(card: Option<&CardStatus>, credential: &dyn Credential) -> CredentialFact {
    if let Some(psc) = credential.psc() {
        let card_fact = card.map(card_fact);
        if let Some(fact @ (CredentialFact::CardNeeded | CredentialFact::Unusable)) = card_fact {
            return fact;
        }
        return match psc.status().state {
            crate::psc::State::ReconnectNeeded | crate::psc::State::AwaitingApproval => {
                CredentialFact::ReconnectNeeded
            }
            crate::psc::State::Disconnected if card.is_none() => CredentialFact::ReconnectNeeded,
            _ => CredentialFact::Ready,
        };
    }
    match card {
        Some(card) => card_fact(card),
        None => {
            // A software certificate: usable or not, nothing to insert.
            let expired = credential
                .not_after()
                .is_some_and(|t| t < crate::queue::now_unix());
            if expired || credential.availability().is_err() {
                CredentialFact::Unusable
            } else {
                CredentialFact::Ready
            }
        }
    }
}

fn card_fact(card: &CardStatus) -> CredentialFact {
    if card.expires_in_days.is_some_and(|d| d < 0) {
        return CredentialFact::Unusable;
    }
    match card.state {
        CardState::Unlocked if card.identity == IdentityCheck::Different => {
            CredentialFact::Unusable
        }
        CardState::Unlocked => CredentialFact::Ready,
        CardState::PcscUnavailable
        | CardState::NoReader
        | CardState::NoCard
        | CardState::Locked => CredentialFact::CardNeeded,
        CardState::NotCps | CardState::CardError | CardState::Blocked => CredentialFact::Unusable,
    }
}

/// The earliest of the times since which a part has found the operator
/// unreachable: SMTP and IMAP go to the same operator, either failing
/// means mail stops one way.
pub fn unreachable_since(delivery: Option<Instant>, fetcher: Option<Instant>) -> Option<Instant> {
    match (delivery, fetcher) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What the daemon's parts report, read once a second.
pub struct Sources {
    pub card: Option<CardService>,
    pub credential: Arc<dyn Credential>,
    pub delivery: Arc<Delivery>,
    pub fetcher: Option<Arc<Fetcher>>,
    pub updater: Option<Arc<crate::update::Updater>>,
}

impl Sources {
    fn facts(&self, link: &BoardLink) -> Facts {
        let card = self.card.as_ref().map(CardService::status);
        let since = unreachable_since(
            self.delivery.operator_unreachable_since(),
            self.fetcher
                .as_ref()
                .and_then(|f| f.operator_unreachable_since()),
        );
        // Pro Santé Connect out of reach stops mail as surely as the
        // operator: the same alarm, after the same delay.
        let since = unreachable_since(
            since,
            self.credential.psc().and_then(|p| p.unreachable_since()),
        );
        Facts {
            phase: if self.updater.as_ref().is_some_and(|u| u.in_progress()) {
                Phase::Updating
            } else {
                Phase::Running
            },
            credential: credential_fact(card.as_ref(), self.credential.as_ref()),
            operator_unreachable_since_ms: since.map(|at| link.millis(at)),
        }
    }
}

/// Sends the running daemon's state to the board every second (and at
/// once when the card changes) until `shutdown`.
pub async fn follow(link: Arc<BoardLink>, sources: Sources, shutdown: CancellationToken) {
    let mut card_changes = sources.card.as_ref().map(CardService::subscribe);
    loop {
        link.set_facts(sources.facts(&link));
        let card_changed = async {
            match card_changes.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(FACTS_EVERY) => {}
            _ = card_changed => {}
        }
    }
}

/// The facts of a daemon in one phase whatever its parts say (setting
/// up, resetting).
pub fn phase_only(phase: Phase) -> Facts {
    Facts {
        phase,
        ..Facts::STARTING
    }
}

#[cfg(test)]
mod tests;
