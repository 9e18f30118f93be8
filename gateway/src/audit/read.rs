//! Reading the audit log without the writer: listing and verification.
//! Both work on the files alone, with or without the daemon running.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use super::{AuditEntry, AuditError, GENESIS, LOG_NAME, io_error};

/// One file of the log, in chain order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFile {
    pub path: PathBuf,
    /// `n` of `audit.log.<n>` (1 = oldest); `None` for `audit.log`.
    pub number: Option<u64>,
}

/// The log's files, oldest first: `audit.log.1`, `audit.log.2`, …, then
/// `audit.log` (when present).
pub fn audit_files(dir: &Path) -> Result<Vec<AuditFile>, AuditError> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut current = None;
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == LOG_NAME {
            current = Some(entry.path());
        } else if let Some(n) = name
            .strip_prefix(LOG_NAME)
            .and_then(|rest| rest.strip_prefix('.'))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
        {
            files.push(AuditFile {
                path: entry.path(),
                number: Some(n),
            });
        }
    }
    files.sort_by_key(|f| f.number);
    if let Some(path) = current {
        files.push(AuditFile { path, number: None });
    }
    Ok(files)
}

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BadLine {
    /// File name (`audit.log`, `audit.log.3`).
    pub file: String,
    /// 1-based line number in that file.
    pub line: u64,
    pub reason: String,
}

/// Result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifyReport {
    /// Entries found valid (up to the first bad line).
    pub entries: u64,
    /// Files read.
    pub files: usize,
    pub first_bad: Option<BadLine>,
    /// Sequence number and hash of the last valid entry.
    pub last_seq: u64,
    pub last_hash: String,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, AuditError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        // Rotated away between listing and reading.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// Checks the whole chain: every line parses, is in canonical form, has
/// the next sequence number, carries the previous entry's hash as `prev`
/// and its own correct `hash`. Stops at the first bad line.
///
/// An incomplete last line may be the daemon in the middle of an append:
/// it is read again once, 200 ms later, before being reported.
pub fn verify(dir: &Path) -> Result<VerifyReport, AuditError> {
    let report = verify_once(dir)?;
    if report
        .first_bad
        .as_ref()
        .is_some_and(|b| b.reason.starts_with(TORN))
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
        return verify_once(dir);
    }
    Ok(report)
}

const TORN: &str = "incomplete last line";

fn verify_once(dir: &Path) -> Result<VerifyReport, AuditError> {
    let files = audit_files(dir)?;
    let mut report = VerifyReport {
        entries: 0,
        files: files.len(),
        first_bad: None,
        last_seq: 0,
        last_hash: GENESIS.to_string(),
    };
    let count = files.len();
    for (index, file) in files.iter().enumerate() {
        let bytes = read_bytes(&file.path)?;
        let last_file = index + 1 == count;
        if let Some((line, reason)) = check_file(&bytes, last_file, &mut report) {
            report.first_bad = Some(BadLine {
                file: file_name(&file.path),
                line,
                reason,
            });
            return Ok(report);
        }
    }
    Ok(report)
}

/// Checks one file's lines against the chain state in `report`; returns
/// the first bad line and why.
fn check_file(bytes: &[u8], last_file: bool, report: &mut VerifyReport) -> Option<(u64, String)> {
    let mut lines = bytes.split(|b| *b == b'\n').peekable();
    let mut number = 0u64;
    while let Some(line) = lines.next() {
        number += 1;
        let is_last = lines.peek().is_none();
        if is_last {
            if line.is_empty() {
                break;
            }
            let what = if last_file {
                "a write cut short (power cut); the daemon sets it aside at its next start"
            } else {
                "in a rotated file"
            };
            return Some((number, format!("{TORN} (no newline): {what}")));
        }
        if let Err(reason) = check_line(line, report) {
            return Some((number, reason));
        }
    }
    None
}

fn check_line(line: &[u8], report: &mut VerifyReport) -> Result<(), String> {
    let entry: AuditEntry = serde_json::from_slice(line)
        .map_err(|e| format!("not a valid entry ({e}): edited or damaged"))?;
    if entry.to_line().as_bytes() != line {
        return Err("not in canonical form: the line was edited".into());
    }
    let expected = report.last_seq + 1;
    if entry.seq != expected {
        return Err(format!(
            "sequence number {} where {expected} was expected: a line was removed, added or moved",
            entry.seq
        ));
    }
    if entry.prev != report.last_hash {
        return Err("prev is not the hash of the entry before: the chain is broken".into());
    }
    if entry.hash != entry.compute_hash() {
        return Err("hash does not match the entry's content: the line was edited".into());
    }
    report.entries += 1;
    report.last_seq = entry.seq;
    report.last_hash = entry.hash;
    Ok(())
}

/// Bytes at the end of a file that are not a complete entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Torn {
    /// Where they start.
    pub offset: u64,
    /// Their 1-based line number.
    pub line: u64,
}

/// The last entry of `path` and the torn end, if any: bytes after the
/// last newline, or a last line that does not parse (a power cut can
/// leave zeros where an append was). A damaged entry before the last
/// line is not recovery's business: the daemon refuses to continue a
/// chain it cannot read, and `facteur audit verify` tells where.
pub(super) fn tail(path: &Path) -> Result<(Option<AuditEntry>, Option<Torn>), AuditError> {
    let bytes = read_bytes(path)?;
    let line_of = |offset: usize| {
        bytes
            .get(..offset)
            .unwrap_or_default()
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64
            + 1
    };
    // Start of the line ending just before `end` (a newline at end - 1).
    let line_start = |end: usize| {
        bytes
            .get(..end.saturating_sub(1))
            .unwrap_or_default()
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
    };
    let parse = |start: usize, end: usize| {
        serde_json::from_slice::<AuditEntry>(
            bytes.get(start..end.saturating_sub(1)).unwrap_or_default(),
        )
    };
    let complete_end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut torn = (complete_end < bytes.len()).then(|| Torn {
        offset: complete_end as u64,
        line: line_of(complete_end),
    });
    if complete_end == 0 {
        return Ok((None, torn));
    }
    let start = line_start(complete_end);
    if let Ok(entry) = parse(start, complete_end) {
        return Ok((Some(entry), torn));
    }
    // The last complete line does not parse either: set aside from there.
    torn = Some(Torn {
        offset: start as u64,
        line: line_of(start),
    });
    if start == 0 {
        return Ok((None, torn));
    }
    match parse(line_start(start), start) {
        Ok(entry) => Ok((Some(entry), torn)),
        Err(_) => Err(AuditError::Invalid(format!(
            "{}: the last entries cannot be read; run `facteur audit verify` and keep a copy of the audit directory",
            path.display()
        ))),
    }
}

/// Entries after `after_seq` (all when `None`), oldest first: the first
/// `limit` after `after_seq`, or without it the newest `limit`. Lines that
/// do not parse are skipped (verification reports them).
pub fn list(
    dir: &Path,
    after_seq: Option<u64>,
    limit: usize,
) -> Result<Vec<AuditEntry>, AuditError> {
    let mut out: VecDeque<AuditEntry> = VecDeque::new();
    if limit == 0 {
        return Ok(Vec::new());
    }
    for file in audit_files(dir)? {
        let bytes = read_bytes(&file.path)?;
        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        // The part after the last newline is incomplete (or empty).
        lines.pop();
        for line in lines {
            let Ok(entry) = serde_json::from_slice::<AuditEntry>(line) else {
                continue;
            };
            match after_seq {
                Some(after) => {
                    if entry.seq > after {
                        out.push_back(entry);
                        if out.len() == limit {
                            return Ok(out.into());
                        }
                    }
                }
                None => {
                    out.push_back(entry);
                    if out.len() > limit {
                        out.pop_front();
                    }
                }
            }
        }
    }
    Ok(out.into())
}
