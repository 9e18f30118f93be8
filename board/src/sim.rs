//! The simulated board, for a PC and the demo: the same drivers and board
//! loop as on hardware, with parts that keep what they were told so the
//! control API, the web admin and tests can read it, and a button that
//! the command line presses.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use embedded_hal::digital::{ErrorType, InputPin};

use crate::button::{Button, ButtonTiming};
use crate::buzzer::{Beeper, Tune};
use crate::display::{Screen, TextDisplay};
use crate::led::{PartError, StatusLight};
use crate::pattern::Rgb;
use crate::runner::Parts;

/// A button contact: a level any thread can set.
#[derive(Clone, Default)]
pub struct SimContact(Arc<AtomicBool>);

impl ErrorType for SimContact {
    type Error = Infallible;
}

impl InputPin for SimContact {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.0.load(Ordering::SeqCst))
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(!self.0.load(Ordering::SeqCst))
    }
}

/// What the simulated parts were last told.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SimState {
    pub color: Option<Rgb>,
    pub screen: Screen,
    /// Tunes played, most recent last (the last 20).
    pub tunes: Vec<&'static str>,
}

/// The handle kept by whoever presses the button and reads the parts.
#[derive(Clone, Default)]
pub struct SimBoard {
    contact: SimContact,
    state: Arc<Mutex<SimState>>,
}

impl SimBoard {
    pub fn new() -> SimBoard {
        SimBoard::default()
    }

    /// The parts, for the board loop.
    pub fn parts(&self) -> Parts {
        Parts {
            light: Some(Box::new(SimLight(self.state.clone()))),
            button: Some(Box::new(Button::new(
                self.contact.clone(),
                false,
                ButtonTiming::default(),
            ))),
            beeper: Some(Box::new(SimBeeper(self.state.clone()))),
            display: Some(Box::new(SimDisplay(self.state.clone()))),
        }
    }

    /// Holds the button down for `hold`, from a thread of its own, as a
    /// finger would: the board loop sees it through the same debouncing
    /// and timing as a real button.
    pub fn press(&self, hold: Duration) {
        let contact = self.contact.clone();
        contact.0.store(true, Ordering::SeqCst);
        std::thread::spawn(move || {
            std::thread::sleep(hold);
            contact.0.store(false, Ordering::SeqCst);
        });
    }

    pub fn state(&self) -> SimState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn with_state(state: &Mutex<SimState>, f: impl FnOnce(&mut SimState)) {
    let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard);
}

struct SimLight(Arc<Mutex<SimState>>);

impl StatusLight for SimLight {
    fn show(&mut self, color: Rgb) -> Result<(), PartError> {
        with_state(&self.0, |s| s.color = Some(color));
        Ok(())
    }
}

struct SimBeeper(Arc<Mutex<SimState>>);

impl Beeper for SimBeeper {
    fn play(&mut self, tune: Tune, _now_ms: u64) -> Result<(), PartError> {
        with_state(&self.0, |s| {
            s.tunes.push(tune.name);
            if s.tunes.len() > 20 {
                s.tunes.remove(0);
            }
        });
        Ok(())
    }

    fn tick(&mut self, _now_ms: u64) -> Result<(), PartError> {
        Ok(())
    }
}

struct SimDisplay(Arc<Mutex<SimState>>);

impl TextDisplay for SimDisplay {
    fn show(&mut self, screen: &Screen) -> Result<(), PartError> {
        with_state(&self.0, |s| s.screen = screen.clone());
        Ok(())
    }
}
