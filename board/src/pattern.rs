//! Light patterns: what colour the status LED has at a given instant.
//!
//! A pattern is a pure function of the time since it started, so the same
//! pattern looks the same on a PWM LED, on three plain GPIOs (which can
//! only show full on or off), on the simulated board and in the web admin.

use serde::Serialize;

/// A colour, each channel 0 (off) to 255 (full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Rgb {
    pub const OFF: Rgb = Rgb::new(0, 0, 0);
    pub const GREEN: Rgb = Rgb::new(0, 255, 0);
    /// Red and green together: on a GPIO LED both channels light.
    pub const AMBER: Rgb = Rgb::new(255, 160, 0);
    pub const RED: Rgb = Rgb::new(255, 0, 0);
    pub const BLUE: Rgb = Rgb::new(0, 0, 255);
    pub const WHITE: Rgb = Rgb::new(255, 255, 255);

    pub const fn new(r: u8, g: u8, b: u8) -> Rgb {
        Rgb { r, g, b }
    }

    /// The colour at `level` / 255 of its brightness.
    pub fn scaled(self, level: u8) -> Rgb {
        let scale = |c: u8| ((u16::from(c) * u16::from(level) + 127) / 255) as u8;
        Rgb::new(scale(self.r), scale(self.g), scale(self.b))
    }

    /// `#rrggbb`, for the control API and the web admin.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

/// How the LED changes over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pattern {
    Off,
    Steady {
        color: Rgb,
    },
    /// On for `on_ms`, then off for `off_ms`, from the start of the pattern.
    Blink {
        color: Rgb,
        on_ms: u32,
        off_ms: u32,
    },
    /// `first` for half the period, then `second`.
    Alternate {
        first: Rgb,
        second: Rgb,
        period_ms: u32,
    },
    /// Brightness rising and falling linearly over `period_ms`, never fully
    /// off so the LED is still seen as lit; on a GPIO LED, half the period
    /// on and half off.
    Breathe {
        color: Rgb,
        period_ms: u32,
    },
}

/// The dimmest a breathing LED gets, out of 255.
const BREATHE_FLOOR: u32 = 16;

impl Pattern {
    /// The colour `elapsed_ms` after the pattern started.
    pub fn color_at(&self, elapsed_ms: u64) -> Rgb {
        match *self {
            Pattern::Off => Rgb::OFF,
            Pattern::Steady { color } => color,
            Pattern::Blink {
                color,
                on_ms,
                off_ms,
            } => {
                let period = u64::from(on_ms) + u64::from(off_ms);
                if period == 0 || elapsed_ms % period < u64::from(on_ms) {
                    color
                } else {
                    Rgb::OFF
                }
            }
            Pattern::Alternate {
                first,
                second,
                period_ms,
            } => {
                let period = u64::from(period_ms.max(2));
                if elapsed_ms % period < period / 2 {
                    first
                } else {
                    second
                }
            }
            Pattern::Breathe { color, period_ms } => {
                let period = u64::from(period_ms.max(2));
                let half = period / 2;
                let phase = elapsed_ms % period;
                // Triangle wave 0..=half..=0, mapped to FLOOR..=255.
                let rise = if phase < half { phase } else { period - phase };
                let level = BREATHE_FLOOR + (rise * u64::from(255 - BREATHE_FLOOR) / half) as u32;
                color.scaled(level.min(255) as u8)
            }
        }
    }

    /// Whether the colour changes over time (the board then redraws it
    /// every tick; a still pattern is written once).
    pub fn is_animated(&self) -> bool {
        !matches!(self, Pattern::Off | Pattern::Steady { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blink_is_on_then_off_and_repeats() {
        let p = Pattern::Blink {
            color: Rgb::AMBER,
            on_ms: 1000,
            off_ms: 1000,
        };
        assert_eq!(p.color_at(0), Rgb::AMBER);
        assert_eq!(p.color_at(999), Rgb::AMBER);
        assert_eq!(p.color_at(1000), Rgb::OFF);
        assert_eq!(p.color_at(1999), Rgb::OFF);
        assert_eq!(p.color_at(2000), Rgb::AMBER);
    }

    #[test]
    fn alternate_switches_at_half_period() {
        let p = Pattern::Alternate {
            first: Rgb::RED,
            second: Rgb::WHITE,
            period_ms: 200,
        };
        assert_eq!(p.color_at(99), Rgb::RED);
        assert_eq!(p.color_at(100), Rgb::WHITE);
        assert_eq!(p.color_at(200), Rgb::RED);
    }

    #[test]
    fn breathing_goes_from_dim_to_full_and_back() {
        let p = Pattern::Breathe {
            color: Rgb::BLUE,
            period_ms: 4000,
        };
        assert_eq!(p.color_at(0), Rgb::new(0, 0, 16));
        assert_eq!(p.color_at(2000), Rgb::BLUE);
        assert_eq!(p.color_at(4000), Rgb::new(0, 0, 16));
        assert!(p.color_at(1000).b > 16 && p.color_at(1000).b < 255);
        assert_eq!(p.color_at(1000), p.color_at(3000));
    }

    #[test]
    fn zero_length_periods_do_not_divide_by_zero() {
        let blink = Pattern::Blink {
            color: Rgb::RED,
            on_ms: 0,
            off_ms: 0,
        };
        assert_eq!(blink.color_at(5), Rgb::RED);
        let breathe = Pattern::Breathe {
            color: Rgb::RED,
            period_ms: 0,
        };
        let _ = breathe.color_at(7);
    }

    #[test]
    fn scaling_and_hex() {
        assert_eq!(Rgb::WHITE.scaled(0), Rgb::OFF);
        assert_eq!(Rgb::WHITE.scaled(255), Rgb::WHITE);
        assert_eq!(Rgb::AMBER.hex(), "#ffa000");
    }
}
