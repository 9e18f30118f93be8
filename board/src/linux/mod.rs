//! The Linux backend: the parts of a board description opened on the
//! kernel's interfaces (GPIO character device, I2C device, sysfs PWM).
//! A part that cannot be opened is reported and left out: the box still
//! sends mail without its LED.

pub mod pwm;

use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::{CdevPin, I2cdev};

use crate::button::{Button, ButtonTiming};
use crate::buzzer::Buzzer;
use crate::description::{Description, GpioLine, LedWiring, PwmChannel};
use crate::display::OledDisplay;
use crate::led::{GpioRgbLed, PartError, PwmRgbLed};
use crate::runner::Parts;
use pwm::SysfsPwm;

const CONSUMER: &str = "facteur";

fn request(line: &GpioLine, part: &'static str, output: bool) -> Result<CdevPin, PartError> {
    let err = |e: linux_embedded_hal::gpio_cdev::Error| {
        PartError::new(
            part,
            format!("{} line {}: {e}", line.chip.display(), line.line),
        )
    };
    let mut flags = if output {
        LineRequestFlags::OUTPUT
    } else {
        LineRequestFlags::INPUT
    };
    // The kernel inverts active-low lines, so drivers see logical levels.
    if line.active_low {
        flags |= LineRequestFlags::ACTIVE_LOW;
    }
    let handle = Chip::new(&line.chip)
        .and_then(|mut chip| chip.get_line(line.line))
        .and_then(|l| l.request(flags, 0, CONSUMER))
        .map_err(err)?;
    CdevPin::new(handle).map_err(err)
}

fn pwm(channel: &PwmChannel, period_ns: u32, inverted: bool) -> Result<SysfsPwm, PartError> {
    SysfsPwm::open(&channel.chip, channel.channel, period_ns, inverted)
        .map_err(|e| PartError::new("led", e.to_string()))
}

/// Opens every part the description lists.
pub fn open(description: &Description) -> (Parts, Vec<PartError>) {
    let mut parts = Parts::default();
    let mut errors = Vec::new();
    match &description.led {
        Some(LedWiring::Gpio { red, green, blue }) => {
            match (
                request(red, "led", true),
                request(green, "led", true),
                request(blue, "led", true),
            ) {
                (Ok(r), Ok(g), Ok(b)) => parts.light = Some(Box::new(GpioRgbLed::new(r, g, b))),
                (r, g, b) => errors.extend([r.err(), g.err(), b.err()].into_iter().flatten()),
            }
        }
        Some(LedWiring::Pwm {
            red,
            green,
            blue,
            period_ns,
            inverted,
        }) => match (
            pwm(red, *period_ns, *inverted),
            pwm(green, *period_ns, *inverted),
            pwm(blue, *period_ns, *inverted),
        ) {
            (Ok(r), Ok(g), Ok(b)) => parts.light = Some(Box::new(PwmRgbLed::new(r, g, b))),
            (r, g, b) => errors.extend([r.err(), g.err(), b.err()].into_iter().flatten()),
        },
        None => {}
    }
    if let Some(line) = &description.button {
        match request(line, "button", false) {
            Ok(pin) => {
                parts.button = Some(Box::new(Button::new(pin, false, ButtonTiming::default())))
            }
            Err(e) => errors.push(e),
        }
    }
    if let Some(line) = &description.buzzer {
        match request(line, "buzzer", true) {
            Ok(pin) => parts.beeper = Some(Box::new(Buzzer::new(pin))),
            Err(e) => errors.push(e),
        }
    }
    if let Some(display) = &description.display {
        match I2cdev::new(&display.bus) {
            Ok(bus) => parts.display = Some(Box::new(OledDisplay::new(bus, display.address))),
            Err(e) => errors.push(PartError::new(
                "display",
                format!("{}: {e}", display.bus.display()),
            )),
        }
    }
    (parts, errors)
}
