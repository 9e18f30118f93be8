//! Watching the document folders: a file is handed to intake only once it
//! is complete — its writer closed it (inotify `CLOSE_WRITE`, or it was
//! renamed into place), or its size and date stayed still for
//! `settle_time` — and intake itself waits for a PDF's end marker.
//!
//! inotify only makes the box react at once; a scan every
//! `scan_interval` is what guarantees nothing is missed (network shares,
//! a full inotify queue, files present at start-up).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::intake::{Candidate, ERRORS_DIR, Intake, SENT_DIR, Taken};
use super::routing::is_sidecar_name;
use super::settings::WatchMode;

/// What the watcher knows of a file not yet taken.
#[derive(Debug, Clone)]
struct Pending {
    root: PathBuf,
    subfolder: Option<String>,
    size: u64,
    modified: Option<SystemTime>,
    /// Last time the file was seen changing.
    changed_at: Instant,
    /// Its writer closed it (or renamed it into place) after the last
    /// change.
    closed: bool,
    first_seen: Instant,
    /// Intake asked to look again, not before this.
    retry_at: Option<Instant>,
}

/// A file that was refused but could not be moved away: skipped until it
/// changes, so one stuck file does not fill the log.
type Stuck = HashMap<PathBuf, (u64, Option<SystemTime>)>;

/// True for names that are never documents: sidecars, hidden and
/// temporary files, our own reports.
pub fn is_ignored_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with('~')
        || is_sidecar_name(name)
        || [
            ".error.txt",
            ".tmp",
            ".part",
            ".crdownload",
            ".swp",
            ".partial",
        ]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}

/// Runs until `shutdown`.
pub async fn run(intake: Arc<Intake>, shutdown: CancellationToken) {
    let settings = intake.settings.clone();
    for folder in &settings.folders {
        if let Err(e) = std::fs::create_dir_all(folder) {
            tracing::error!(folder = %folder.display(), error = %e, "cannot create the document folder");
        }
    }
    let (events_tx, mut events) = mpsc::unbounded_channel::<notify::Event>();
    // Kept alive for as long as the loop runs.
    let _watchers: Vec<notify::RecommendedWatcher> = if settings.watch == WatchMode::Notify {
        settings
            .folders
            .iter()
            .filter_map(|folder| {
                let tx = events_tx.clone();
                let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                    if let Ok(event) = event {
                        let _ = tx.send(event);
                    }
                })
                .and_then(|mut w| w.watch(folder, RecursiveMode::Recursive).map(|_| w));
                match watcher {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::warn!(folder = %folder.display(), error = %e, "inotify unavailable; scanning only");
                        None
                    }
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    tracing::info!(folders = settings.folders.len(), mode = ?settings.watch, "document folders watched");

    let scan_interval = Duration::from_secs(settings.scan_interval);
    let settle = Duration::from_secs(settings.settle_time);
    let mut pending: HashMap<PathBuf, Pending> = HashMap::new();
    let mut stuck: Stuck = HashMap::new();
    let mut closed_unknown: HashSet<PathBuf> = HashSet::new();
    let mut next_scan = Instant::now();
    let mut next_folders = Instant::now();
    loop {
        let tick = next_due(&pending, settle).min(next_scan);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            event = events.recv() => {
                let mut needs_scan = false;
                if let Some(event) = event {
                    needs_scan |= note_event(&mut pending, &mut closed_unknown, &event);
                }
                while let Ok(event) = events.try_recv() {
                    needs_scan |= note_event(&mut pending, &mut closed_unknown, &event);
                }
                if needs_scan {
                    next_scan = Instant::now();
                }
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(tick)) => {}
        }
        if Instant::now() >= next_scan {
            if Instant::now() >= next_folders {
                intake.ensure_contact_folders().await;
                next_folders = Instant::now() + Duration::from_secs(60);
            }
            for folder in &settings.folders {
                scan(folder, &mut pending, &stuck, &mut closed_unknown);
            }
            closed_unknown.clear();
            next_scan = Instant::now() + scan_interval;
        }
        let ready: Vec<PathBuf> = pending
            .iter()
            .filter(|(_, p)| is_ready(p, settle))
            .map(|(path, _)| path.clone())
            .collect();
        for path in ready {
            if shutdown.is_cancelled() {
                break;
            }
            let Some(entry) = pending.get(&path).cloned() else {
                continue;
            };
            let candidate = Candidate {
                root: entry.root.clone(),
                path: path.clone(),
                subfolder: entry.subfolder.clone(),
                first_seen: entry.first_seen,
            };
            match intake.take(&candidate).await {
                Taken::Wait => {
                    if let Some(p) = pending.get_mut(&path) {
                        p.retry_at = Some(Instant::now() + Duration::from_secs(1));
                    }
                }
                Taken::Refused { .. } => {
                    pending.remove(&path);
                    if let Ok(meta) = std::fs::metadata(&path) {
                        stuck.insert(path, (meta.len(), meta.modified().ok()));
                    }
                }
                Taken::Sent { .. } | Taken::Gone => {
                    pending.remove(&path);
                }
            }
        }
    }
}

fn is_ready(p: &Pending, settle: Duration) -> bool {
    let now = Instant::now();
    if p.retry_at.is_some_and(|at| now < at) {
        return false;
    }
    p.closed || now.duration_since(p.changed_at) >= settle
}

/// When something next needs a look (capped so the loop stays lively).
fn next_due(pending: &HashMap<PathBuf, Pending>, settle: Duration) -> Instant {
    let now = Instant::now();
    pending
        .values()
        .map(|p| {
            let settled = if p.closed { now } else { p.changed_at + settle };
            p.retry_at.map_or(settled, |r| r.max(settled))
        })
        .min()
        .unwrap_or(now + Duration::from_secs(60))
        .max(now + Duration::from_millis(50))
}

/// Applies an inotify event: writes reset the clock, a close after writing
/// or a rename into place marks the file complete. Returns true when the
/// event is about a file not known yet (the caller scans at once; the
/// scan picks up the close recorded in `closed_unknown`).
fn note_event(
    pending: &mut HashMap<PathBuf, Pending>,
    closed_unknown: &mut HashSet<PathBuf>,
    event: &notify::Event,
) -> bool {
    let mut needs_scan = false;
    use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
    let complete = matches!(
        event.kind,
        EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(RenameMode::To))
    );
    let writing = matches!(
        event.kind,
        EventKind::Modify(ModifyKind::Data(_)) | EventKind::Create(_)
    );
    for path in &event.paths {
        if let Some(p) = pending.get_mut(path) {
            let meta = std::fs::metadata(path).ok();
            p.size = meta.as_ref().map_or(p.size, |m| m.len());
            p.modified = meta.and_then(|m| m.modified().ok()).or(p.modified);
            p.changed_at = Instant::now();
            if complete {
                p.closed = true;
            } else if writing {
                p.closed = false;
            }
        } else {
            if complete {
                closed_unknown.insert(path.clone());
            }
            needs_scan = true;
        }
    }
    needs_scan
}

/// Lists `root`'s documents (and those of its correspondent folders) and
/// updates what is pending.
fn scan(
    root: &Path,
    pending: &mut HashMap<PathBuf, Pending>,
    stuck: &Stuck,
    closed_unknown: &mut HashSet<PathBuf>,
) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if name == SENT_DIR || name == ERRORS_DIR || name.starts_with('.') {
                continue;
            }
            let Ok(inner) = std::fs::read_dir(entry.path()) else {
                continue;
            };
            for file in inner.flatten() {
                if file.file_type().is_ok_and(|t| t.is_file()) {
                    consider(
                        root,
                        Some(&name),
                        &file.path(),
                        pending,
                        stuck,
                        closed_unknown,
                    );
                }
            }
        } else if kind.is_file() {
            consider(root, None, &entry.path(), pending, stuck, closed_unknown);
        }
    }
}

fn consider(
    root: &Path,
    subfolder: Option<&str>,
    path: &Path,
    pending: &mut HashMap<PathBuf, Pending>,
    stuck: &Stuck,
    closed_unknown: &mut HashSet<PathBuf>,
) {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
        return;
    };
    if is_ignored_name(&name) {
        return;
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let size = meta.len();
    let modified = meta.modified().ok();
    if stuck.get(path) == Some(&(size, modified)) {
        return;
    }
    match pending.get_mut(path) {
        Some(p) => {
            p.root = root.to_path_buf();
            p.subfolder = subfolder.map(str::to_string);
            if p.size != size || p.modified != modified {
                p.size = size;
                p.modified = modified;
                p.changed_at = Instant::now();
                p.closed = false;
            }
        }
        None => {
            let now = Instant::now();
            // A file already there and old enough counts as settled.
            let age = modified
                .and_then(|m| m.elapsed().ok())
                .unwrap_or(Duration::ZERO);
            pending.insert(
                path.to_path_buf(),
                Pending {
                    root: root.to_path_buf(),
                    subfolder: subfolder.map(str::to_string),
                    size,
                    modified,
                    changed_at: now.checked_sub(age).unwrap_or(now),
                    closed: closed_unknown.remove(path),
                    first_seen: now,
                    retry_at: None,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_never_documents() {
        for name in [
            ".x.pdf",
            "~$cr.pdf",
            "cr.json",
            "cr.pdf.error.txt",
            "cr.pdf.part",
            "a.tmp",
        ] {
            assert!(is_ignored_name(name), "{name}");
        }
        for name in ["cr.pdf", "CR.PDF", "scan.docx"] {
            assert!(!is_ignored_name(name), "{name}");
        }
    }

    #[test]
    fn a_scan_finds_documents_in_the_root_and_correspondent_folders_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.pdf"), b"x").unwrap();
        std::fs::write(root.join("a.json"), b"{}").unwrap();
        std::fs::create_dir_all(root.join("Dr X (cardiologue, Niort)")).unwrap();
        std::fs::write(root.join("Dr X (cardiologue, Niort)/b.pdf"), b"x").unwrap();
        std::fs::create_dir_all(root.join("sent")).unwrap();
        std::fs::write(root.join("sent/c.pdf"), b"x").unwrap();
        std::fs::create_dir_all(root.join("errors")).unwrap();
        std::fs::write(root.join("errors/d.pdf"), b"x").unwrap();
        let mut pending = HashMap::new();
        scan(root, &mut pending, &HashMap::new(), &mut HashSet::new());
        let mut found: Vec<(String, Option<String>)> = pending
            .iter()
            .map(|(path, p)| (file_name(path), p.subfolder.clone()))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                ("a.pdf".to_string(), None),
                (
                    "b.pdf".to_string(),
                    Some("Dr X (cardiologue, Niort)".to_string())
                )
            ]
        );
    }

    #[test]
    fn a_growing_file_is_not_ready_until_it_settles_or_closes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let path = root.join("a.pdf");
        std::fs::write(&path, b"x").unwrap();
        let mut pending = HashMap::new();
        scan(root, &mut pending, &HashMap::new(), &mut HashSet::new());
        let settle = Duration::from_secs(3600);
        // Just written: not settled.
        assert!(!is_ready(&pending[&path], settle));
        std::fs::write(&path, b"xy").unwrap();
        scan(root, &mut pending, &HashMap::new(), &mut HashSet::new());
        assert!(!is_ready(&pending[&path], settle));
        // Closed after writing: ready at once.
        let close = notify::Event::new(EventKind::Access(notify::event::AccessKind::Close(
            notify::event::AccessMode::Write,
        )))
        .add_path(path.clone());
        note_event(&mut pending, &mut HashSet::new(), &close);
        assert!(is_ready(&pending[&path], settle));
        // Written again: not ready anymore.
        let write = notify::Event::new(EventKind::Modify(notify::event::ModifyKind::Data(
            notify::event::DataChange::Any,
        )))
        .add_path(path.clone());
        note_event(&mut pending, &mut HashSet::new(), &write);
        assert!(!is_ready(&pending[&path], settle));
        assert!(is_ready(&pending[&path], Duration::ZERO));
    }

    #[test]
    fn a_stuck_file_is_skipped_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pdf");
        std::fs::write(&path, b"x").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let mut stuck = HashMap::new();
        stuck.insert(path.clone(), (meta.len(), meta.modified().ok()));
        let mut pending = HashMap::new();
        scan(dir.path(), &mut pending, &stuck, &mut HashSet::new());
        assert!(pending.is_empty());
        std::fs::write(&path, b"changed").unwrap();
        scan(dir.path(), &mut pending, &stuck, &mut HashSet::new());
        assert_eq!(pending.len(), 1);
    }

    fn file_name(path: &Path) -> String {
        path.file_name().unwrap().to_string_lossy().into_owned()
    }
}
