//! The PIN try counter kept in a file, so that a card blocked by one test
//! run stays blocked when the simulator is restarted, like a real card.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub struct TriesStore {
    path: PathBuf,
}

impl TriesStore {
    pub fn new(path: &Path) -> TriesStore {
        TriesStore {
            path: path.to_path_buf(),
        }
    }

    /// The stored counter; `None` when the file does not exist yet. A file
    /// that exists but cannot be read is an error: silently starting from
    /// 3 tries would hide a test that blocks the card.
    pub fn load(&self) -> io::Result<Option<u8>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        parse(&text).map(Some).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: no \"tries_left\" from 0 to 3", self.path.display()),
            )
        })
    }

    /// Writes the counter atomically: a temporary file beside the target,
    /// synced, then renamed over it, so a crash never leaves half a file.
    pub fn save(&self, tries_left: u8) -> io::Result<()> {
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = fs::File::create(&tmp)?;
            writeln!(f, "{{\"tries_left\":{tries_left}}}")?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)
    }
}

/// Reads `{"tries_left":N}`: the one number this file holds.
fn parse(text: &str) -> Option<u8> {
    let after = text.split_once("\"tries_left\"")?.1.trim_start();
    let digits: String = after
        .strip_prefix(':')?
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|n| *n <= 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("card-sim-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let store = TriesStore::new(&dir.join("pin.json"));
        assert_eq!(store.load().unwrap(), None);
        store.save(1).unwrap();
        assert_eq!(store.load().unwrap(), Some(1));
        store.save(0).unwrap();
        assert_eq!(store.load().unwrap(), Some(0));
        fs::write(dir.join("pin.json"), "garbage").unwrap();
        assert!(store.load().is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_the_counter() {
        assert_eq!(parse("{\"tries_left\":2}\n"), Some(2));
        assert_eq!(parse("{ \"tries_left\" : 0 }"), Some(0));
        assert_eq!(parse("{\"tries_left\":9}"), None);
        assert_eq!(parse("{}"), None);
    }
}
