//! The hardware watchdog: `/dev/watchdog` reboots the box unless it is
//! written to within its timeout. The daemon's health loop feeds it only
//! while the daemon's parts answer, so a hung daemon ends in a reboot
//! instead of a box that looks alive and sends nothing.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Something that must be fed regularly.
pub trait Watchdog: Send {
    fn feed(&mut self) -> io::Result<()>;
    /// Stops it on an orderly shutdown ("magic close"), where the driver
    /// allows it; a box whose daemon stops on purpose is not rebooted.
    fn disarm(&mut self) -> io::Result<()>;
}

/// A Linux watchdog device (or, in tests, any writable file).
pub struct DeviceWatchdog {
    file: File,
    path: PathBuf,
}

/// `WDIOC_SETTIMEOUT`, `_IOWR('W', 6, int)` in `linux/watchdog.h`.
const WDIOC_SETTIMEOUT: libc::c_ulong = 0xC004_5706;

impl DeviceWatchdog {
    /// Opens the device, which arms it, and asks for `timeout_secs` when
    /// given and the device is a real one.
    pub fn open(path: &Path, timeout_secs: Option<u32>) -> io::Result<DeviceWatchdog> {
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        if let Some(secs) = timeout_secs
            && file.metadata()?.file_type().is_char_device()
        {
            let mut value = secs as libc::c_int;
            // SAFETY: WDIOC_SETTIMEOUT reads and writes one int through the
            // pointer, which lives across the call.
            let rc = unsafe { libc::ioctl(file.as_raw_fd(), WDIOC_SETTIMEOUT as _, &mut value) };
            if rc != 0 {
                let err = io::Error::last_os_error();
                tracing::warn!(device = %path.display(), error = %err, "cannot set the watchdog timeout; the driver's default stays");
            } else if value as u32 != secs {
                tracing::info!(device = %path.display(), asked = secs, got = value, "the watchdog rounded its timeout");
            }
        }
        Ok(DeviceWatchdog {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Watchdog for DeviceWatchdog {
    fn feed(&mut self) -> io::Result<()> {
        // Any byte but 'V' is a keep-alive.
        self.file.write_all(b"k")
    }

    fn disarm(&mut self) -> io::Result<()> {
        self.file.write_all(b"V")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_stands_in_for_the_device_and_counts_feeds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, b"").unwrap();
        let mut dog = DeviceWatchdog::open(&path, Some(15)).unwrap();
        dog.feed().unwrap();
        dog.feed().unwrap();
        dog.disarm().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"kkV");
    }

    #[test]
    fn a_missing_device_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(DeviceWatchdog::open(&dir.path().join("none"), None).is_err());
    }
}
