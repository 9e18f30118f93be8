//! A PWM channel through sysfs (`/sys/class/pwm/pwmchipN/pwmM`), for the
//! LED's brightness. The kernel's PWM character interface is not in every
//! kernel a board ships; sysfs is.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use embedded_hal::pwm::{ErrorKind, ErrorType, SetDutyCycle};

/// Duty-cycle steps offered to drivers: finer than the eye can tell.
const STEPS: u16 = 1000;

pub struct SysfsPwm {
    dir: PathBuf,
    period_ns: u32,
    inverted: bool,
}

#[derive(Debug)]
pub struct PwmError(pub io::Error);

impl embedded_hal::pwm::Error for PwmError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

impl SysfsPwm {
    /// Exports the channel if needed, sets its period, starts it dark.
    pub fn open(chip: &Path, channel: u32, period_ns: u32, inverted: bool) -> io::Result<SysfsPwm> {
        let dir = chip.join(format!("pwm{channel}"));
        if !dir.exists() {
            fs::write(chip.join("export"), channel.to_string())?;
            // udev sets the new files' permissions shortly after.
            let deadline = Instant::now() + Duration::from_secs(2);
            while !dir.join("enable").exists() {
                if Instant::now() > deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{}: not created after export", dir.display()),
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let pwm = SysfsPwm {
            dir,
            period_ns,
            inverted,
        };
        // The duty cycle may not exceed the period: zero it first.
        pwm.write("duty_cycle", 0)?;
        pwm.write("period", period_ns)?;
        pwm.write("duty_cycle", pwm.duty_ns(0))?;
        pwm.write("enable", 1)?;
        Ok(pwm)
    }

    fn write(&self, file: &str, value: u32) -> io::Result<()> {
        fs::write(self.dir.join(file), value.to_string())
            .map_err(|e| io::Error::new(e.kind(), format!("{}/{file}: {e}", self.dir.display())))
    }

    fn duty_ns(&self, duty: u16) -> u32 {
        let on = (u64::from(self.period_ns) * u64::from(duty.min(STEPS)) / u64::from(STEPS)) as u32;
        if self.inverted {
            self.period_ns - on
        } else {
            on
        }
    }
}

impl ErrorType for SysfsPwm {
    type Error = PwmError;
}

impl SetDutyCycle for SysfsPwm {
    fn max_duty_cycle(&self) -> u16 {
        STEPS
    }

    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), PwmError> {
        self.write("duty_cycle", self.duty_ns(duty))
            .map_err(PwmError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_chip(channel: u32) -> tempfile::TempDir {
        let chip = tempfile::tempdir().unwrap();
        let dir = chip.path().join(format!("pwm{channel}"));
        fs::create_dir(&dir).unwrap();
        for f in ["enable", "period", "duty_cycle"] {
            fs::write(dir.join(f), "0").unwrap();
        }
        chip
    }

    fn read(chip: &Path, file: &str) -> String {
        fs::read_to_string(chip.join("pwm1").join(file)).unwrap()
    }

    #[test]
    fn opening_sets_the_period_and_starts_dark() {
        let chip = fake_chip(1);
        SysfsPwm::open(chip.path(), 1, 1_000_000, false).unwrap();
        assert_eq!(read(chip.path(), "period"), "1000000");
        assert_eq!(read(chip.path(), "duty_cycle"), "0");
        assert_eq!(read(chip.path(), "enable"), "1");
    }

    #[test]
    fn duty_is_written_in_nanoseconds_of_the_period() {
        let chip = fake_chip(1);
        let mut pwm = SysfsPwm::open(chip.path(), 1, 1_000_000, false).unwrap();
        pwm.set_duty_cycle_fraction(160, 255).unwrap();
        assert_eq!(read(chip.path(), "duty_cycle"), "627000");
        pwm.set_duty_cycle_fully_on().unwrap();
        assert_eq!(read(chip.path(), "duty_cycle"), "1000000");
    }

    #[test]
    fn an_inverted_channel_is_dark_at_full_duty() {
        let chip = fake_chip(1);
        let mut pwm = SysfsPwm::open(chip.path(), 1, 1_000_000, true).unwrap();
        assert_eq!(read(chip.path(), "duty_cycle"), "1000000");
        pwm.set_duty_cycle_fully_on().unwrap();
        assert_eq!(read(chip.path(), "duty_cycle"), "0");
    }

    #[test]
    fn an_unexported_channel_is_exported_and_waited_for() {
        let chip = tempfile::tempdir().unwrap();
        fs::write(chip.path().join("export"), "").unwrap();
        let dir = chip.path().join("pwm0");
        // Stands in for the kernel: the channel appears after the export.
        let maker = {
            let dir = dir.clone();
            let export = chip.path().join("export");
            std::thread::spawn(move || {
                while fs::read_to_string(&export).unwrap() != "0" {
                    std::thread::sleep(Duration::from_millis(5));
                }
                fs::create_dir(&dir).unwrap();
                for f in ["period", "duty_cycle", "enable"] {
                    fs::write(dir.join(f), "0").unwrap();
                }
            })
        };
        SysfsPwm::open(chip.path(), 0, 500_000, false).unwrap();
        maker.join().unwrap();
        assert_eq!(fs::read_to_string(dir.join("period")).unwrap(), "500000");
    }

    #[test]
    fn a_channel_that_never_appears_is_an_error_naming_it() {
        let chip = tempfile::tempdir().unwrap();
        fs::write(chip.path().join("export"), "").unwrap();
        let err = SysfsPwm::open(chip.path(), 3, 1_000_000, false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("pwm3"), "{err}");
    }
}
