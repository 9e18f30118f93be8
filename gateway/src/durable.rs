//! Writing small files so that a power cut leaves either the old content
//! or the new one, never a mix: a temporary file beside the target,
//! written, synced, renamed over it, then the directory synced so the
//! rename itself survives.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A write that failed, with the file it was about.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct DurableError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Replaces `path` with `bytes`, created with permissions `mode`.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DurableError> {
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DurableError { path, source }
    };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(fail(&tmp))?;
    file.write_all(bytes).map_err(fail(&tmp))?;
    file.sync_all().map_err(fail(&tmp))?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(path)(e));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(fail(parent))?;
    }
    Ok(())
}

/// Makes the removals and renames in `dir` survive a power cut.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_the_content_with_the_mode_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"old").unwrap();
        write_atomically(&path, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert!(!dir.path().join("state.tmp").exists());
        let written = dir.path().join("fresh.pem");
        write_atomically(&written, b"x", 0o600).unwrap();
        let mode = std::fs::metadata(&written).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_missing_directory_names_the_file() {
        let err = write_atomically(Path::new("/nonexistent/dir/a.json"), b"x", 0o600).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir/a.tmp"), "{err}");
    }
}
