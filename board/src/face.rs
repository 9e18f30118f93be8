//! The box's face: one state machine from what the daemon reports to what
//! the board shows, and from button presses to what the daemon must do.
//!
//! `docs/board.md` holds the same table for people; a test keeps the two
//! equal. Modes are listed by priority: when several apply, the first
//! wins, so the LED always shows the most urgent thing, and only one
//! pattern at a time.

use serde::Serialize;

use crate::button::{ButtonEvent, Press};
use crate::buzzer::Tune;
use crate::pattern::{Pattern, Rgb};

/// What the daemon is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Starting,
    /// No mailbox or credential yet: the set-up wizard is waiting.
    SetupNeeded,
    Running,
    Updating,
    Resetting,
}

/// The state of the credential the box sends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialFact {
    Ready,
    /// Card out, no reader, PIN not yet given: the practice can fix it.
    CardNeeded,
    /// Blocked card, expired certificate, another holder's card, not a
    /// CPS: someone must act beyond inserting the card.
    Unusable,
    /// The Pro Santé Connect session ended and could not be renewed: the
    /// practitioner must log in again (e-CPS app, or the card refused).
    ReconnectNeeded,
}

/// What the daemon reports, refreshed every second and on every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub phase: Phase,
    pub credential: CredentialFact,
    /// Since when (board milliseconds) the operator cannot be reached, if
    /// it cannot.
    pub operator_unreachable_since_ms: Option<u64>,
}

impl Facts {
    pub const STARTING: Facts = Facts {
        phase: Phase::Starting,
        credential: CredentialFact::Ready,
        operator_unreachable_since_ms: None,
    };
}

/// What the board shows, by priority (first is most urgent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Resetting,
    ResetConfirm,
    Identify,
    Updating,
    Starting,
    SetupNeeded,
    CredentialUnusable,
    OperatorUnreachable,
    PscReconnect,
    CardNeeded,
    Ready,
}

impl Mode {
    pub const ALL: [Mode; 11] = [
        Mode::Resetting,
        Mode::ResetConfirm,
        Mode::Identify,
        Mode::Updating,
        Mode::Starting,
        Mode::SetupNeeded,
        Mode::CredentialUnusable,
        Mode::OperatorUnreachable,
        Mode::PscReconnect,
        Mode::CardNeeded,
        Mode::Ready,
    ];
}

/// How a mode looks and sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Signal {
    pub pattern: Pattern,
    /// Played once when the mode is entered.
    pub tune: Option<Tune>,
    /// The LED in words, for the web admin and the simulated board.
    pub light: &'static str,
    /// The state in words, for the display and the web admin.
    pub label: &'static str,
}

const SLOW: (u32, u32) = (1000, 1000);
const FAST: (u32, u32) = (150, 150);

/// The table of `docs/board.md`.
pub fn signal(mode: Mode) -> Signal {
    let blink = |color, (on_ms, off_ms): (u32, u32)| Pattern::Blink {
        color,
        on_ms,
        off_ms,
    };
    let (pattern, tune, light, label) = match mode {
        Mode::Resetting => (
            Pattern::Breathe {
                color: Rgb::RED,
                period_ms: 1500,
            },
            Some(Tune::LONG),
            "rouge respirant",
            "Réinitialisation en cours",
        ),
        Mode::ResetConfirm => (
            Pattern::Alternate {
                first: Rgb::RED,
                second: Rgb::WHITE,
                period_ms: 300,
            },
            Some(Tune::CONFIRM),
            "rouge et blanc alternés",
            "Réinitialiser ? Appui court : oui",
        ),
        Mode::Identify => (
            blink(Rgb::WHITE, (250, 250)),
            Some(Tune::BEEP),
            "blanc clignotant",
            "Identification",
        ),
        Mode::Updating => (
            Pattern::Breathe {
                color: Rgb::BLUE,
                period_ms: 3000,
            },
            None,
            "bleu respirant",
            "Mise à jour en cours",
        ),
        Mode::Starting => (
            Pattern::Steady { color: Rgb::WHITE },
            None,
            "blanc fixe",
            "Démarrage",
        ),
        Mode::SetupNeeded => (
            blink(Rgb::BLUE, SLOW),
            None,
            "bleu clignotant lent",
            "À configurer",
        ),
        Mode::CredentialUnusable => (
            Pattern::Steady { color: Rgb::RED },
            Some(Tune::ATTENTION),
            "rouge fixe",
            "Carte ou certificat inutilisable",
        ),
        Mode::OperatorUnreachable => (
            blink(Rgb::RED, FAST),
            Some(Tune::ATTENTION),
            "rouge clignotant rapide",
            "Messagerie injoignable",
        ),
        Mode::PscReconnect => (
            blink(Rgb::AMBER, FAST),
            Some(Tune::ATTENTION),
            "orange clignotant rapide",
            "Reconnexion Pro Santé Connect nécessaire",
        ),
        Mode::CardNeeded => (
            blink(Rgb::AMBER, SLOW),
            None,
            "orange clignotant lent",
            "Carte CPS absente ou code PIN à saisir",
        ),
        Mode::Ready => (
            Pattern::Steady { color: Rgb::GREEN },
            None,
            "vert fixe",
            "Prêt",
        ),
    };
    Signal {
        pattern,
        tune,
        light,
        label,
    }
}

/// What a button press asks the daemon to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Short press: the box identified itself (white blink, address on the
    /// display); the daemon notes it.
    Identify,
    /// Long press: try the operator again now, without waiting for the
    /// back-off (after the network cable was plugged back, say).
    RetryNow,
    /// Ten-second press, then a short press within the window: erase
    /// everything but the factory identity.
    FactoryReset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaceSettings {
    /// How long the operator must be unreachable before the LED turns red:
    /// a short network hiccup should not alarm the practice.
    pub operator_alarm_ms: u64,
    pub identify_ms: u64,
    /// How long the box waits for the confirming press after a ten-second
    /// press.
    pub reset_window_ms: u64,
}

impl Default for FaceSettings {
    fn default() -> Self {
        FaceSettings {
            operator_alarm_ms: 5 * 60 * 1000,
            identify_ms: 30_000,
            reset_window_ms: 15_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResetStage {
    Idle,
    /// Held for ten seconds and still held.
    Armed,
    /// Released after ten seconds: a short press before `until` confirms.
    AwaitingConfirmation {
        until: u64,
    },
}

/// The state machine. Time is board milliseconds, given by the caller.
#[derive(Debug, Clone)]
pub struct Face {
    settings: FaceSettings,
    facts: Facts,
    identify_until: Option<u64>,
    reset: ResetStage,
    mode: Mode,
}

impl Face {
    pub fn new(settings: FaceSettings) -> Face {
        Face {
            settings,
            facts: Facts::STARTING,
            identify_until: None,
            reset: ResetStage::Idle,
            mode: Mode::Starting,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn facts(&self) -> Facts {
        self.facts
    }

    pub fn set_facts(&mut self, facts: Facts) {
        self.facts = facts;
    }

    /// Shows the identify pattern for a while (button or control API).
    pub fn identify(&mut self, now_ms: u64) {
        self.identify_until = Some(now_ms + self.settings.identify_ms);
    }

    /// Handles a button event; returns what the daemon must do, if
    /// anything. The button does nothing while a reset runs.
    pub fn on_button(&mut self, event: ButtonEvent, now_ms: u64) -> Option<Action> {
        if self.facts.phase == Phase::Resetting {
            return None;
        }
        let awaiting =
            matches!(self.reset, ResetStage::AwaitingConfirmation { until } if now_ms < until);
        match event {
            ButtonEvent::Down => None,
            ButtonEvent::ReachedVeryLong => {
                self.reset = ResetStage::Armed;
                None
            }
            ButtonEvent::Released(Press::VeryLong) => {
                self.reset = ResetStage::AwaitingConfirmation {
                    until: now_ms + self.settings.reset_window_ms,
                };
                None
            }
            ButtonEvent::Released(Press::Short) if awaiting => {
                self.reset = ResetStage::Idle;
                Some(Action::FactoryReset)
            }
            ButtonEvent::Released(Press::Long) if awaiting => {
                // A deliberate long press while asked to confirm: no.
                self.reset = ResetStage::Idle;
                None
            }
            ButtonEvent::Released(Press::Short) => {
                self.identify(now_ms);
                Some(Action::Identify)
            }
            ButtonEvent::Released(Press::Long) => Some(Action::RetryNow),
        }
    }

    /// Recomputes the mode at `now_ms`; returns it when it changed.
    pub fn update(&mut self, now_ms: u64) -> Option<Mode> {
        if let ResetStage::AwaitingConfirmation { until } = self.reset
            && now_ms >= until
        {
            self.reset = ResetStage::Idle;
        }
        if self.identify_until.is_some_and(|until| now_ms >= until) {
            self.identify_until = None;
        }
        let mode = self.resolve(now_ms);
        if mode == self.mode {
            return None;
        }
        self.mode = mode;
        Some(mode)
    }

    fn resolve(&self, now_ms: u64) -> Mode {
        let f = &self.facts;
        let operator_alarm = f
            .operator_unreachable_since_ms
            .is_some_and(|since| now_ms.saturating_sub(since) >= self.settings.operator_alarm_ms);
        if f.phase == Phase::Resetting {
            Mode::Resetting
        } else if self.reset != ResetStage::Idle {
            Mode::ResetConfirm
        } else if self.identify_until.is_some() {
            Mode::Identify
        } else if f.phase == Phase::Updating {
            Mode::Updating
        } else if f.phase == Phase::Starting {
            Mode::Starting
        } else if f.phase == Phase::SetupNeeded {
            Mode::SetupNeeded
        } else if f.credential == CredentialFact::Unusable {
            Mode::CredentialUnusable
        } else if operator_alarm {
            Mode::OperatorUnreachable
        } else if f.credential == CredentialFact::ReconnectNeeded {
            Mode::PscReconnect
        } else if f.credential == CredentialFact::CardNeeded {
            Mode::CardNeeded
        } else {
            Mode::Ready
        }
    }
}

#[cfg(test)]
mod tests;
