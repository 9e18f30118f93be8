//! Files written where people and other programs pick them up: complete
//! or absent, never half-written, and never in place of an existing file.
//!
//! A file is written under a hidden temporary name, flushed to disk, then
//! given its final name. For print-ready PDFs the final name is taken with
//! a hard link, which fails if the name exists (no race between two letters
//! with the same name), so an existing file is never replaced: `name.pdf`,
//! then `name-2.pdf`, `name-3.pdf`...

use std::io::Write;
use std::path::{Path, PathBuf};

use super::PaperError;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PaperError + '_ {
    move |source| PaperError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to a hidden temporary file of `dir`, synced to disk.
fn write_temporary(dir: &Path, bytes: &[u8]) -> Result<PathBuf, PaperError> {
    let tmp = dir.join(format!(".facteur-{:016x}.partial", rand::random::<u64>()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
    Ok(tmp)
}

fn sync_dir(dir: &Path) -> Result<(), PaperError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Writes `bytes` as `dir/<stem>.<extension>` or, when that exists,
/// `dir/<stem>-N.<extension>`; returns the path written. `stem` must
/// already be a safe file name.
pub fn write_new(
    dir: &Path,
    stem: &str,
    extension: &str,
    bytes: &[u8],
) -> Result<PathBuf, PaperError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = write_temporary(dir, bytes)?;
    let result = (|| {
        for n in 1u32..10_000 {
            let name = if n == 1 {
                format!("{stem}.{extension}")
            } else {
                format!("{stem}-{n}.{extension}")
            };
            let target = dir.join(name);
            match std::fs::hard_link(&tmp, &target) {
                Ok(()) => return Ok(target),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                // Some shares (SMB, some FUSE file systems) have no hard
                // links: a rename after a check, racy only between two
                // writers choosing the same name at the same instant.
                Err(_) if !target.exists() => {
                    std::fs::rename(&tmp, &target).map_err(io(&target))?;
                    return Ok(target);
                }
                Err(_) => continue,
            }
        }
        Err(PaperError::Io {
            path: dir.join(format!("{stem}.{extension}")),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "too many files with this name",
            ),
        })
    })();
    let _ = std::fs::remove_file(&tmp);
    let target = result?;
    sync_dir(dir)?;
    Ok(target)
}

/// Writes `bytes` to `path`, replacing it if it exists (a regenerated
/// report), atomically.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), PaperError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = write_temporary(dir, bytes)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_spool_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_new(dir.path(), "cr", "pdf", b"one").unwrap();
        let b = write_new(dir.path(), "cr", "pdf", b"two").unwrap();
        let c = write_new(dir.path(), "cr", "pdf", b"three").unwrap();
        assert_eq!(a, dir.path().join("cr.pdf"));
        assert_eq!(b, dir.path().join("cr-2.pdf"));
        assert_eq!(c, dir.path().join("cr-3.pdf"));
        assert_eq!(std::fs::read(&a).unwrap(), b"one");
        assert_eq!(std::fs::read(&c).unwrap(), b"three");
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);

        let report = dir.path().join("sub/summary.csv");
        write_replacing(&report, b"a").unwrap();
        write_replacing(&report, b"b").unwrap();
        assert_eq!(std::fs::read(&report).unwrap(), b"b");
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
    }
}
