//! The board description file: which parts a board has and where they
//! are wired. Pin maps live in data (`board/descriptions/*.toml`), not in
//! code, so a new carrier board needs a new file, not a new build.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Description {
    pub name: String,
    pub led: Option<LedWiring>,
    pub button: Option<GpioLine>,
    pub buzzer: Option<GpioLine>,
    pub display: Option<DisplayWiring>,
    pub watchdog: Option<WatchdogDevice>,
}

/// One line of a GPIO character device.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GpioLine {
    /// `/dev/gpiochipN`.
    pub chip: PathBuf,
    pub line: u32,
    /// The line is active when low (a button to ground with a pull-up, an
    /// LED wired to the supply).
    #[serde(default)]
    pub active_low: bool,
}

/// One channel of a sysfs PWM chip.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PwmChannel {
    /// `/sys/class/pwm/pwmchipN`.
    pub chip: PathBuf,
    pub channel: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LedWiring {
    Gpio {
        red: GpioLine,
        green: GpioLine,
        blue: GpioLine,
    },
    Pwm {
        red: PwmChannel,
        green: PwmChannel,
        blue: PwmChannel,
        /// PWM period; 1 ms (1 kHz) does not flicker to the eye.
        #[serde(default = "default_period_ns")]
        period_ns: u32,
        /// The channel's duty cycle is the time the LED is off (common
        /// anode wired to the supply).
        #[serde(default)]
        inverted: bool,
    },
}

fn default_period_ns() -> u32 {
    1_000_000
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DisplayWiring {
    /// `/dev/i2c-N`.
    pub bus: PathBuf,
    #[serde(default = "default_display_address")]
    pub address: u8,
}

fn default_display_address() -> u8 {
    0x3C
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WatchdogDevice {
    pub device: PathBuf,
    /// Asked of the driver at start; the health loop feeds well within it.
    #[serde(default = "default_watchdog_timeout")]
    pub timeout_secs: u32,
}

fn default_watchdog_timeout() -> u32 {
    30
}

#[derive(Debug, thiserror::Error)]
pub enum DescriptionError {
    #[error("{0}: cannot read the board description: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Invalid(PathBuf, String),
}

impl Description {
    pub fn load(path: &Path) -> Result<Description, DescriptionError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DescriptionError::Read(path.to_path_buf(), e))?;
        Description::parse(&text).map_err(|e| DescriptionError::Invalid(path.to_path_buf(), e))
    }

    pub fn parse(text: &str) -> Result<Description, String> {
        let description: Description = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(w) = &description.watchdog
            && !(2..=3600).contains(&w.timeout_secs)
        {
            return Err(format!(
                "watchdog.timeout_secs = {}: between 2 and 3600 seconds",
                w.timeout_secs
            ));
        }
        Ok(description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> Description {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("descriptions")
            .join(name);
        Description::load(&path).unwrap()
    }

    #[test]
    fn the_raspberry_pi_carrier_has_every_part() {
        let d = shipped("rpi4-cm4.toml");
        assert!(matches!(d.led, Some(LedWiring::Pwm { .. })));
        let button = d.button.unwrap();
        assert!(button.active_low);
        assert!(d.buzzer.is_some());
        assert_eq!(d.display.unwrap().address, 0x3C);
        assert_eq!(d.watchdog.unwrap().device, Path::new("/dev/watchdog"));
    }

    #[test]
    fn the_generic_board_has_only_a_watchdog() {
        let d = shipped("generic.toml");
        assert!(d.led.is_none() && d.button.is_none() && d.buzzer.is_none());
        assert!(d.display.is_none());
        assert!(d.watchdog.is_some());
    }

    #[test]
    fn mistakes_are_refused_with_the_key() {
        let err =
            Description::parse("name = \"x\"\n[button]\nchip = \"/dev/gpiochip0\"\nlin = 3\n")
                .unwrap_err();
        assert!(err.contains("lin"), "{err}");
        let err = Description::parse("name = \"x\"\n[led]\nkind = \"laser\"\n").unwrap_err();
        assert!(err.contains("laser"), "{err}");
        let err = Description::parse(
            "name = \"x\"\n[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout_secs = 1\n",
        )
        .unwrap_err();
        assert!(err.contains("timeout_secs"), "{err}");
    }

    #[test]
    fn a_gpio_led_parses() {
        let d = Description::parse(
            r#"name = "x"
[led]
kind = "gpio"
red = { chip = "/dev/gpiochip0", line = 5 }
green = { chip = "/dev/gpiochip0", line = 6 }
blue = { chip = "/dev/gpiochip0", line = 13, active_low = true }
"#,
        )
        .unwrap();
        let Some(LedWiring::Gpio { blue, .. }) = d.led else {
            panic!("not a GPIO LED");
        };
        assert_eq!(blue.line, 13);
        assert!(blue.active_low);
    }
}
