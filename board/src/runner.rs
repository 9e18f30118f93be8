//! The board loop: one thread that polls the button, animates the LED,
//! plays tunes and redraws the display, from the facts the daemon sends.
//!
//! A thread of its own because GPIO and I2C calls block and the LED must
//! keep its rhythm whatever the daemon is doing; it never touches the
//! daemon's state, only reports button actions through a callback.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::button::{ButtonEvent, PolledButton};
use crate::buzzer::Beeper;
use crate::display::{COLUMNS, Screen, TextDisplay};
use crate::face::{Action, Face, FaceSettings, Facts, Mode, signal};
use crate::led::{PartError, StatusLight};
use crate::pattern::{Pattern, Rgb};

/// How often the button is read and the LED redrawn.
const TICK: Duration = Duration::from_millis(10);

/// The parts a board has; any may be missing.
#[derive(Default)]
pub struct Parts {
    pub light: Option<Box<dyn StatusLight + Send>>,
    pub button: Option<Box<dyn PolledButton + Send>>,
    pub beeper: Option<Box<dyn Beeper + Send>>,
    pub display: Option<Box<dyn TextDisplay + Send>>,
}

/// What the display adds to the state: how to reach the box.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DisplayInfo {
    /// The web admin's address (`https://facteur.local/`).
    pub address: Option<String>,
    /// The one-time setup code, while the box is unclaimed.
    pub setup_code: Option<String>,
}

/// What the board shows now, for the control API and the web admin.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub mode: Mode,
    pub label: &'static str,
    /// The LED in words ("vert fixe").
    pub light: &'static str,
    pub pattern: Pattern,
    /// The colour the LED has at this instant.
    pub color: String,
    pub screen: Screen,
    pub last_tune: Option<&'static str>,
    pub button_pressed: bool,
    pub parts: PartsPresent,
    /// Driver errors since start (a loose display cable…).
    pub part_errors: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PartsPresent {
    pub led: bool,
    pub button: bool,
    pub buzzer: bool,
    pub display: bool,
}

enum Command {
    Facts(Facts),
    Info(DisplayInfo),
    Identify,
    Stop,
}

/// The running board loop.
pub struct Board {
    tx: mpsc::Sender<Command>,
    snapshot: Arc<Mutex<Snapshot>>,
    started: Instant,
    thread: Option<JoinHandle<()>>,
}

impl Board {
    /// Starts the loop; `on_action` is called from the board thread for
    /// each button action.
    pub fn start(
        parts: Parts,
        settings: FaceSettings,
        on_action: impl Fn(Action) + Send + 'static,
    ) -> std::io::Result<Board> {
        let (tx, rx) = mpsc::channel();
        let present = PartsPresent {
            led: parts.light.is_some(),
            button: parts.button.is_some(),
            buzzer: parts.beeper.is_some(),
            display: parts.display.is_some(),
        };
        let face = Face::new(settings);
        let first = signal(face.mode());
        let snapshot = Arc::new(Mutex::new(Snapshot {
            mode: face.mode(),
            label: first.label,
            light: first.light,
            pattern: first.pattern,
            color: Rgb::OFF.hex(),
            screen: Screen::default(),
            last_tune: None,
            button_pressed: false,
            parts: present,
            part_errors: 0,
        }));
        let started = Instant::now();
        let mut state = LoopState {
            parts,
            face,
            info: DisplayInfo::default(),
            pattern_start: 0,
            shown_color: None,
            shown_screen: None,
            snapshot: snapshot.clone(),
            errors: ErrorLog::default(),
            on_action: Box::new(on_action),
        };
        let thread = std::thread::Builder::new()
            .name("board".into())
            .spawn(move || state.run(rx, started))?;
        Ok(Board {
            tx,
            snapshot,
            started,
            thread: Some(thread),
        })
    }

    /// `at` on the board's clock, in milliseconds since the loop started.
    pub fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_millis() as u64
    }

    pub fn set_facts(&self, facts: Facts) {
        let _ = self.tx.send(Command::Facts(facts));
    }

    pub fn set_info(&self, info: DisplayInfo) {
        let _ = self.tx.send(Command::Info(info));
    }

    pub fn identify(&self) {
        let _ = self.tx.send(Command::Identify);
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Stops the loop: LED off and "Arrêté" on the display, so a stopped
    /// daemon never looks ready.
    pub fn stop(&mut self) {
        let _ = self.tx.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Logs a part's first error and every hundredth after, not one per tick.
#[derive(Default)]
struct ErrorLog {
    count: u64,
}

impl ErrorLog {
    fn note(&mut self, result: Result<(), PartError>) {
        if let Err(e) = result {
            self.count += 1;
            if self.count % 100 == 1 {
                tracing::warn!(part = e.part, error = %e.reason, errors = self.count, "board part failed");
            }
        }
    }
}

struct LoopState {
    parts: Parts,
    face: Face,
    info: DisplayInfo,
    pattern_start: u64,
    shown_color: Option<Rgb>,
    shown_screen: Option<Screen>,
    snapshot: Arc<Mutex<Snapshot>>,
    errors: ErrorLog,
    on_action: Box<dyn Fn(Action) + Send>,
}

impl LoopState {
    fn run(&mut self, rx: mpsc::Receiver<Command>, started: Instant) {
        let now = || started.elapsed().as_millis() as u64;
        self.entered(self.face.mode(), now());
        let mut next_tick = Instant::now();
        loop {
            match rx.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
                Ok(Command::Facts(f)) => self.face.set_facts(f),
                Ok(Command::Info(i)) => self.info = i,
                Ok(Command::Identify) => self.face.identify(now()),
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() < next_tick {
                // A command arrived between ticks: apply it at once.
                self.refresh(now());
                continue;
            }
            next_tick += TICK;
            if next_tick < Instant::now() {
                // Fell behind (a slow I2C write): do not try to catch up.
                next_tick = Instant::now() + TICK;
            }
            self.tick(now());
        }
        self.shut_down();
    }

    fn tick(&mut self, now: u64) {
        if let Some(button) = self.parts.button.as_mut() {
            match button.poll(now) {
                Ok(Some(event)) => {
                    if let Some(action) = self.face.on_button(event, now) {
                        tracing::info!(action = ?action, "button");
                        (self.on_action)(action);
                    }
                    if let Ok(mut s) = self.snapshot.lock() {
                        s.button_pressed =
                            matches!(event, ButtonEvent::Down | ButtonEvent::ReachedVeryLong);
                    }
                }
                Ok(None) => {}
                Err(e) => self.errors.note(Err(e)),
            }
        }
        if let Some(beeper) = self.parts.beeper.as_mut() {
            self.errors.note(beeper.tick(now));
        }
        self.refresh(now);
    }

    /// Brings LED, display and snapshot up to date with the face.
    fn refresh(&mut self, now: u64) {
        if let Some(mode) = self.face.update(now) {
            self.entered(mode, now);
        }
        let s = signal(self.face.mode());
        let color = s.pattern.color_at(now.saturating_sub(self.pattern_start));
        if self.shown_color != Some(color) {
            if let Some(light) = self.parts.light.as_mut() {
                self.errors.note(light.show(color));
            }
            self.shown_color = Some(color);
        }
        let screen = screen_for(self.face.mode(), &self.info);
        if self.shown_screen.as_ref() != Some(&screen) {
            if let Some(display) = self.parts.display.as_mut() {
                self.errors.note(display.show(&screen));
            }
            self.shown_screen = Some(screen.clone());
        }
        if let Ok(mut snap) = self.snapshot.lock() {
            snap.mode = self.face.mode();
            snap.label = s.label;
            snap.light = s.light;
            snap.pattern = s.pattern;
            snap.color = color.hex();
            snap.screen = screen;
            snap.part_errors = self.errors.count;
        }
    }

    fn entered(&mut self, mode: Mode, now: u64) {
        let s = signal(mode);
        self.pattern_start = now;
        tracing::info!(mode = ?mode, light = s.light, "board: {}", s.label);
        if let Some(tune) = s.tune {
            if let Some(beeper) = self.parts.beeper.as_mut() {
                self.errors.note(beeper.play(tune, now));
            }
            if let Ok(mut snap) = self.snapshot.lock() {
                snap.last_tune = Some(tune.name);
            }
        }
    }

    fn shut_down(&mut self) {
        let stopped = Screen::new(["Facteur", "Arrêté"]);
        if let Some(light) = self.parts.light.as_mut() {
            self.errors.note(light.show(Rgb::OFF));
        }
        if let Some(display) = self.parts.display.as_mut() {
            self.errors.note(display.show(&stopped));
        }
        if let Ok(mut snap) = self.snapshot.lock() {
            snap.color = Rgb::OFF.hex();
            snap.label = "Arrêté";
            snap.light = "éteint";
            snap.screen = stopped;
        }
        if let Some(beeper) = self.parts.beeper.as_mut() {
            // Silence a tune cut short.
            self.errors.note(beeper.tick(u64::MAX));
        }
    }
}

/// The display's lines for a mode.
pub fn screen_for(mode: Mode, info: &DisplayInfo) -> Screen {
    let mut lines = vec!["Facteur".to_string()];
    if mode == Mode::ResetConfirm {
        lines.extend(["Tout effacer ?", "Appui court : oui", "Attendre : non"].map(String::from));
        return Screen::new(lines);
    }
    lines.extend(wrap(signal(mode).label, COLUMNS));
    if let Some(address) = &info.address {
        lines.push(address.clone());
    }
    if let Some(code) = &info.setup_code {
        lines.push(format!("Code : {code}"));
    }
    Screen::new(lines)
}

/// Words to lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

#[cfg(test)]
mod tests;
