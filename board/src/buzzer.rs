//! The buzzer: an active buzzer on one GPIO (it makes its own tone when
//! powered), playing short tunes of beeps and silences.

use embedded_hal::digital::OutputPin;
use serde::Serialize;

use crate::led::PartError;

/// A tune: beeps, each `(on_ms, off_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tune {
    pub name: &'static str,
    #[serde(skip)]
    pub beeps: &'static [(u32, u32)],
}

impl Tune {
    /// One short beep: identify, a button press acknowledged.
    pub const BEEP: Tune = Tune {
        name: "beep",
        beeps: &[(120, 0)],
    };
    /// Two beeps: something needs attention.
    pub const ATTENTION: Tune = Tune {
        name: "attention",
        beeps: &[(150, 150), (150, 0)],
    };
    /// Three quick beeps: a factory reset is armed and waits for a second
    /// press.
    pub const CONFIRM: Tune = Tune {
        name: "confirm",
        beeps: &[(80, 80), (80, 80), (80, 0)],
    };
    /// One long beep: the factory reset starts.
    pub const LONG: Tune = Tune {
        name: "long",
        beeps: &[(800, 0)],
    };

    pub fn duration_ms(&self) -> u64 {
        self.beeps
            .iter()
            .map(|&(on, off)| u64::from(on + off))
            .sum()
    }

    /// Whether the buzzer sounds `elapsed_ms` after the tune started.
    pub fn sounding_at(&self, elapsed_ms: u64) -> bool {
        let mut start = 0u64;
        for &(on, off) in self.beeps {
            if elapsed_ms < start + u64::from(on) {
                return elapsed_ms >= start;
            }
            start += u64::from(on) + u64::from(off);
        }
        false
    }
}

/// Something that plays tunes, ticked by the board loop.
pub trait Beeper {
    fn play(&mut self, tune: Tune, now_ms: u64) -> Result<(), PartError>;
    fn tick(&mut self, now_ms: u64) -> Result<(), PartError>;
}

/// An active buzzer on a GPIO.
pub struct Buzzer<P> {
    pin: P,
    playing: Option<(Tune, u64)>,
    sounding: bool,
}

impl<P: OutputPin> Buzzer<P> {
    pub fn new(pin: P) -> Self {
        Buzzer {
            pin,
            playing: None,
            sounding: false,
        }
    }

    pub fn release(self) -> P {
        self.pin
    }

    fn set(&mut self, on: bool) -> Result<(), PartError> {
        if on == self.sounding {
            return Ok(());
        }
        if on {
            self.pin.set_high()
        } else {
            self.pin.set_low()
        }
        .map_err(|e| PartError::new("buzzer", e))?;
        self.sounding = on;
        Ok(())
    }
}

impl<P: OutputPin> Beeper for Buzzer<P> {
    /// Starts `tune` now, cutting any tune still playing.
    fn play(&mut self, tune: Tune, now_ms: u64) -> Result<(), PartError> {
        self.playing = Some((tune, now_ms));
        self.tick(now_ms)
    }

    fn tick(&mut self, now_ms: u64) -> Result<(), PartError> {
        let on = match self.playing {
            Some((tune, start)) => {
                let elapsed = now_ms.saturating_sub(start);
                if elapsed >= tune.duration_ms() {
                    self.playing = None;
                }
                tune.sounding_at(elapsed)
            }
            None => false,
        };
        self.set(on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTx};

    #[test]
    fn attention_is_two_beeps() {
        let t = Tune::ATTENTION;
        let on: Vec<bool> = [0, 149, 150, 299, 300, 449, 450]
            .iter()
            .map(|&ms| t.sounding_at(ms))
            .collect();
        assert_eq!(on, [true, true, false, false, true, true, false]);
        assert_eq!(t.duration_ms(), 450);
    }

    #[test]
    fn buzzer_pin_follows_the_tune_and_only_changes_on_edges() {
        // Ticks every 50 ms over the CONFIRM tune (80 on, 80 off ×3).
        let pin = PinMock::new(&[
            PinTx::set(State::High), // 0
            PinTx::set(State::Low),  // 100
            PinTx::set(State::High), // 200
            PinTx::set(State::Low),  // 250
            PinTx::set(State::High), // 350
            PinTx::set(State::Low),  // 400
        ]);
        let mut buzzer = Buzzer::new(pin);
        buzzer.play(Tune::CONFIRM, 0).unwrap();
        for t in (50..=600).step_by(50) {
            buzzer.tick(t).unwrap();
        }
        buzzer.release().done();
    }

    #[test]
    fn a_new_tune_cuts_the_one_playing() {
        let pin = PinMock::new(&[PinTx::set(State::High), PinTx::set(State::Low)]);
        let mut buzzer = Buzzer::new(pin);
        buzzer.play(Tune::LONG, 0).unwrap();
        buzzer.tick(100).unwrap();
        buzzer.play(Tune::BEEP, 200).unwrap(); // still high: no write
        buzzer.tick(330).unwrap(); // 130 ms into BEEP: off
        buzzer.tick(900).unwrap();
        buzzer.release().done();
    }
}
