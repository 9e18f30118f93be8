//! The RGB status LED: three GPIOs (each channel on or off) or three PWM
//! channels (each channel at any brightness).

use embedded_hal::digital::OutputPin;
use embedded_hal::pwm::SetDutyCycle;

use crate::pattern::Rgb;

/// Something that shows one colour at a time.
pub trait StatusLight {
    fn show(&mut self, color: Rgb) -> Result<(), PartError>;
}

/// A driver's failure, reduced to what the board loop logs.
#[derive(Debug, thiserror::Error)]
#[error("{part}: {reason}")]
pub struct PartError {
    pub part: &'static str,
    pub reason: String,
}

impl PartError {
    pub fn new(part: &'static str, reason: impl std::fmt::Debug) -> PartError {
        PartError {
            part,
            reason: format!("{reason:?}"),
        }
    }
}

/// An LED on three GPIOs. A channel lights when its level is at least
/// half; polarity (active low) is the pin's business, set when the line is
/// requested.
pub struct GpioRgbLed<R, G, B> {
    red: R,
    green: G,
    blue: B,
}

impl<R: OutputPin, G: OutputPin, B: OutputPin> GpioRgbLed<R, G, B> {
    pub fn new(red: R, green: G, blue: B) -> Self {
        GpioRgbLed { red, green, blue }
    }

    pub fn release(self) -> (R, G, B) {
        (self.red, self.green, self.blue)
    }
}

fn set_pin<P: OutputPin>(pin: &mut P, level: u8) -> Result<(), PartError> {
    if level >= 128 {
        pin.set_high()
    } else {
        pin.set_low()
    }
    .map_err(|e| PartError::new("led", e))
}

impl<R: OutputPin, G: OutputPin, B: OutputPin> StatusLight for GpioRgbLed<R, G, B> {
    fn show(&mut self, color: Rgb) -> Result<(), PartError> {
        set_pin(&mut self.red, color.r)?;
        set_pin(&mut self.green, color.g)?;
        set_pin(&mut self.blue, color.b)
    }
}

/// An LED on three PWM channels.
pub struct PwmRgbLed<R, G, B> {
    red: R,
    green: G,
    blue: B,
}

impl<R: SetDutyCycle, G: SetDutyCycle, B: SetDutyCycle> PwmRgbLed<R, G, B> {
    pub fn new(red: R, green: G, blue: B) -> Self {
        PwmRgbLed { red, green, blue }
    }

    pub fn release(self) -> (R, G, B) {
        (self.red, self.green, self.blue)
    }
}

fn set_duty<P: SetDutyCycle>(channel: &mut P, level: u8) -> Result<(), PartError> {
    channel
        .set_duty_cycle_fraction(u16::from(level), 255)
        .map_err(|e| PartError::new("led", e))
}

impl<R: SetDutyCycle, G: SetDutyCycle, B: SetDutyCycle> StatusLight for PwmRgbLed<R, G, B> {
    fn show(&mut self, color: Rgb) -> Result<(), PartError> {
        set_duty(&mut self.red, color.r)?;
        set_duty(&mut self.green, color.g)?;
        set_duty(&mut self.blue, color.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTx};
    use embedded_hal_mock::eh1::pwm::{Mock as PwmMock, Transaction as PwmTx};

    #[test]
    fn gpio_led_sets_each_channel_in_order() {
        let red = PinMock::new(&[PinTx::set(State::High), PinTx::set(State::High)]);
        let green = PinMock::new(&[PinTx::set(State::High), PinTx::set(State::Low)]);
        let blue = PinMock::new(&[PinTx::set(State::Low), PinTx::set(State::Low)]);
        let mut led = GpioRgbLed::new(red, green, blue);
        led.show(Rgb::AMBER).unwrap();
        led.show(Rgb::RED).unwrap();
        let (mut r, mut g, mut b) = led.release();
        r.done();
        g.done();
        b.done();
    }

    #[test]
    fn gpio_led_half_level_is_the_threshold() {
        let red = PinMock::new(&[PinTx::set(State::High)]);
        let green = PinMock::new(&[PinTx::set(State::Low)]);
        let blue = PinMock::new(&[PinTx::set(State::Low)]);
        let mut led = GpioRgbLed::new(red, green, blue);
        led.show(Rgb::new(128, 127, 0)).unwrap();
        let (mut r, mut g, mut b) = led.release();
        r.done();
        g.done();
        b.done();
    }

    #[test]
    fn pwm_led_scales_levels_to_the_channel_range() {
        // max duty 1000: level 255 → 1000, 160 → 627, 0 → 0.
        let red = PwmMock::new(&[PwmTx::max_duty_cycle(1000), PwmTx::set_duty_cycle(1000)]);
        let green = PwmMock::new(&[PwmTx::max_duty_cycle(1000), PwmTx::set_duty_cycle(627)]);
        let blue = PwmMock::new(&[PwmTx::max_duty_cycle(1000), PwmTx::set_duty_cycle(0)]);
        let mut led = PwmRgbLed::new(red, green, blue);
        led.show(Rgb::AMBER).unwrap();
        let (mut r, mut g, mut b) = led.release();
        r.done();
        g.done();
        b.done();
    }

    #[test]
    fn a_failing_pin_is_reported_not_panicked() {
        use embedded_hal_mock::eh1::MockError;
        let failure = MockError::Io(std::io::ErrorKind::Other);
        let red = PinMock::new(&[PinTx::set(State::High).with_error(failure)]);
        let green = PinMock::new(&[]);
        let blue = PinMock::new(&[]);
        let mut led = GpioRgbLed::new(red, green, blue);
        let err = led.show(Rgb::RED).unwrap_err();
        assert_eq!(err.part, "led");
        let (mut r, mut g, mut b) = led.release();
        r.done();
        g.done();
        b.done();
    }
}
