//! The push button: debounced, and classified by how long it was held.
//!
//! The pin is polled (every board tick, 10 ms); a new level counts only once
//! it has been stable for `debounce_ms`, which filters contact bounce and
//! electrical noise on a long wire. Time comes in as milliseconds from the
//! caller, so tests drive the button with a fake clock.

use embedded_hal::digital::InputPin;
use serde::Serialize;

use crate::led::PartError;

/// How long the button was held, decided at release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Press {
    /// Under `long_ms`.
    Short,
    /// From `long_ms` to under `very_long_ms`.
    Long,
    /// `very_long_ms` or more.
    VeryLong,
}

/// What the button did since the last poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonEvent {
    Down,
    /// Still held, and just reached `very_long_ms`: the board shows that
    /// letting go now means a very long press.
    ReachedVeryLong,
    Released(Press),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ButtonTiming {
    pub debounce_ms: u64,
    pub long_ms: u64,
    pub very_long_ms: u64,
}

impl Default for ButtonTiming {
    fn default() -> Self {
        ButtonTiming {
            debounce_ms: 30,
            long_ms: 3_000,
            very_long_ms: 10_000,
        }
    }
}

impl ButtonTiming {
    pub fn classify(&self, held_ms: u64) -> Press {
        if held_ms >= self.very_long_ms {
            Press::VeryLong
        } else if held_ms >= self.long_ms {
            Press::Long
        } else {
            Press::Short
        }
    }
}

/// The debouncing and timing logic, apart from any pin.
#[derive(Debug, Clone)]
pub struct Debouncer {
    timing: ButtonTiming,
    /// The debounced state.
    pressed: bool,
    /// A raw level differing from `pressed`, and since when.
    candidate_since: Option<u64>,
    down_at: u64,
    very_long_signalled: bool,
}

impl Debouncer {
    pub fn new(timing: ButtonTiming) -> Debouncer {
        Debouncer {
            timing,
            pressed: false,
            candidate_since: None,
            down_at: 0,
            very_long_signalled: false,
        }
    }

    pub fn is_pressed(&self) -> bool {
        self.pressed
    }

    /// Feeds the raw level read at `now_ms`.
    pub fn update(&mut self, raw_pressed: bool, now_ms: u64) -> Option<ButtonEvent> {
        if raw_pressed == self.pressed {
            self.candidate_since = None;
            if self.pressed
                && !self.very_long_signalled
                && now_ms.saturating_sub(self.down_at) >= self.timing.very_long_ms
            {
                self.very_long_signalled = true;
                return Some(ButtonEvent::ReachedVeryLong);
            }
            return None;
        }
        let since = *self.candidate_since.get_or_insert(now_ms);
        if now_ms.saturating_sub(since) < self.timing.debounce_ms {
            return None;
        }
        // The new level held long enough; it took effect when it first
        // appeared, so press lengths do not include the debounce delay.
        self.candidate_since = None;
        self.pressed = raw_pressed;
        if raw_pressed {
            self.down_at = since;
            self.very_long_signalled = false;
            Some(ButtonEvent::Down)
        } else {
            let held = since.saturating_sub(self.down_at);
            Some(ButtonEvent::Released(self.timing.classify(held)))
        }
    }
}

/// A button on a GPIO. `active_low` for the usual wiring: pull-up, button
/// to ground.
pub struct Button<P> {
    pin: P,
    active_low: bool,
    debouncer: Debouncer,
}

impl<P: InputPin> Button<P> {
    pub fn new(pin: P, active_low: bool, timing: ButtonTiming) -> Self {
        Button {
            pin,
            active_low,
            debouncer: Debouncer::new(timing),
        }
    }

    pub fn poll(&mut self, now_ms: u64) -> Result<Option<ButtonEvent>, PartError> {
        let high = self
            .pin
            .is_high()
            .map_err(|e| PartError::new("button", e))?;
        Ok(self.debouncer.update(high != self.active_low, now_ms))
    }

    pub fn is_pressed(&self) -> bool {
        self.debouncer.is_pressed()
    }

    pub fn release(self) -> P {
        self.pin
    }
}

/// Something polled for button events (the GPIO button, the simulated one).
pub trait PolledButton {
    fn poll(&mut self, now_ms: u64) -> Result<Option<ButtonEvent>, PartError>;
}

impl<P: InputPin> PolledButton for Button<P> {
    fn poll(&mut self, now_ms: u64) -> Result<Option<ButtonEvent>, PartError> {
        Button::poll(self, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTx};

    /// Feeds a sequence of (time, raw level) and collects events with times.
    fn run(samples: &[(u64, bool)]) -> Vec<(u64, ButtonEvent)> {
        let mut d = Debouncer::new(ButtonTiming::default());
        samples
            .iter()
            .filter_map(|&(t, level)| d.update(level, t).map(|e| (t, e)))
            .collect()
    }

    /// Samples every 10 ms: pressed during [down, up), released outside.
    fn press(down: u64, up: u64, end: u64) -> Vec<(u64, bool)> {
        (0..=end / 10)
            .map(|i| i * 10)
            .map(|t| (t, t >= down && t < up))
            .collect()
    }

    #[test]
    fn a_short_press_after_debounce() {
        let events = run(&press(100, 400, 600));
        assert_eq!(
            events,
            vec![
                (130, ButtonEvent::Down),
                (430, ButtonEvent::Released(Press::Short))
            ]
        );
    }

    #[test]
    fn bounces_shorter_than_the_debounce_time_are_ignored() {
        // Contact chatter: 10 ms on, 10 ms off for 100 ms, then released.
        let samples: Vec<(u64, bool)> = (0..30).map(|i| (i * 10, i < 10 && i % 2 == 0)).collect();
        assert_eq!(run(&samples), vec![]);
    }

    #[test]
    fn bouncing_contacts_give_one_press() {
        // Bounces at both edges, held 1 s in between.
        let mut samples = vec![(0, false), (10, true), (20, false), (30, true)];
        samples.extend((4..104).map(|i| (i * 10, true)));
        samples.extend([(1040, false), (1050, true), (1060, false)]);
        samples.extend((107..130).map(|i| (i * 10, false)));
        let events = run(&samples);
        assert_eq!(
            events,
            vec![
                (60, ButtonEvent::Down),
                (1090, ButtonEvent::Released(Press::Short))
            ]
        );
    }

    #[test]
    fn press_lengths_are_classified_at_the_thresholds() {
        let held = |ms: u64| {
            let events = run(&press(0, ms, ms + 100));
            match events.last() {
                Some((_, ButtonEvent::Released(p))) => *p,
                other => panic!("no release: {other:?}"),
            }
        };
        assert_eq!(held(2_990), Press::Short);
        assert_eq!(held(3_000), Press::Long);
        assert_eq!(held(9_990), Press::Long);
        assert_eq!(held(10_000), Press::VeryLong);
        assert_eq!(held(30_000), Press::VeryLong);
    }

    #[test]
    fn reaching_ten_seconds_is_signalled_once_while_held() {
        let events = run(&press(0, 12_000, 12_100));
        let reached: Vec<_> = events
            .iter()
            .filter(|(_, e)| *e == ButtonEvent::ReachedVeryLong)
            .collect();
        assert_eq!(reached, vec![&(10_000, ButtonEvent::ReachedVeryLong)]);
    }

    #[test]
    fn gpio_button_reads_the_pin_with_its_polarity() {
        // Active low: a low level is a press.
        let pin = PinMock::new(&[
            PinTx::get(State::High),
            PinTx::get(State::Low),
            PinTx::get(State::Low),
            PinTx::get(State::Low),
            PinTx::get(State::High),
            PinTx::get(State::High),
        ]);
        let mut button = Button::new(pin, true, ButtonTiming::default());
        let events: Vec<_> = [0, 10, 20, 40, 50, 80]
            .iter()
            .map(|&t| button.poll(t).unwrap())
            .collect();
        assert_eq!(
            events,
            vec![
                None,
                None,
                None,
                Some(ButtonEvent::Down),
                None,
                Some(ButtonEvent::Released(Press::Short))
            ]
        );
        button.release().done();
    }
}
