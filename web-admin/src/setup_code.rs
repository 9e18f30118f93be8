//! The one-time setup code that proves the person claiming the box can
//! see its console: 8 characters from an alphabet without look-alikes
//! (no 0/O, 1/I/L), drawn from the OS CSPRNG, kept owner-only in
//! `state_dir/setup-code` until the box is claimed, then deleted.

use std::path::{Path, PathBuf};

use rand::Rng;
use subtle::ConstantTimeEq;

use crate::state::{StateError, file_error, write_private};

const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const LEN: usize = 8;

pub struct SetupCode {
    /// Normalised: 8 characters, no dash.
    code: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetupCode(..)")
    }
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("setup-code")
}

impl SetupCode {
    /// The stored code, or a new one (stored) if there is none.
    pub fn load_or_create(state_dir: &Path) -> Result<SetupCode, StateError> {
        let file = path(state_dir);
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let code = normalise(&text);
                if code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b)) {
                    return Ok(SetupCode {
                        code: zeroize::Zeroizing::new(code),
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_error(&file, e)),
        }
        let code = generate();
        write_private(&file, code.as_bytes())?;
        Ok(SetupCode {
            code: zeroize::Zeroizing::new(code),
        })
    }

    /// As shown to people: `7K3F-9QXM`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.code[..4], &self.code[4..])
    }

    /// Constant-time comparison with what someone typed (case, spaces
    /// and dashes ignored).
    pub fn matches(&self, typed: &str) -> bool {
        let typed = normalise(typed);
        typed.len() == self.code.len() && bool::from(typed.as_bytes().ct_eq(self.code.as_bytes()))
    }

    /// True if `text` contains the code (a password must not).
    pub fn contained_in(&self, text: &str) -> bool {
        normalise(text).contains(self.code.as_str())
    }

    /// Deletes the stored code: it never works again.
    pub fn invalidate(state_dir: &Path) -> Result<(), StateError> {
        let file = path(state_dir);
        match std::fs::remove_file(&file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(file_error(&file, e)),
        }
    }
}

fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

fn generate() -> String {
    let mut rng = crate::session::os_rng();
    (0..LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_kept_until_invalidated() {
        let dir = tempfile::tempdir().unwrap();
        let code = SetupCode::load_or_create(dir.path()).unwrap();
        let shown = code.display();
        assert_eq!(shown.len(), 9);
        assert_eq!(&shown[4..5], "-");
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            SetupCode::load_or_create(dir.path()).unwrap().display(),
            shown
        );
        assert!(code.matches(&shown));
        assert!(code.matches(&shown.to_lowercase().replace('-', " ")));
        assert!(!code.matches("AAAA-AAAA"));
        assert!(!code.matches(""));
        SetupCode::invalidate(dir.path()).unwrap();
        assert_ne!(
            SetupCode::load_or_create(dir.path()).unwrap().display(),
            shown
        );
    }

    #[test]
    fn alphabet_has_no_lookalikes() {
        for c in b"01OIL" {
            assert!(!ALPHABET.contains(c));
        }
        let code = generate();
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)));
    }
}
