//! The imported directory: one SQLite database,
//! `<data_dir>/directory/directory.db`, with a full-text index (FTS5).
//!
//! The database is never modified in place. An import builds a complete
//! new one in `directory.db.new` (journal and syncs off: a half-built file
//! is simply deleted), syncs it once, then renames it over the old one.
//! So the old directory answers searches until the new one is complete, an
//! import that fails or is interrupted leaves it untouched, and a process
//! that has the old file open keeps reading it. [`Directory`] notices the
//! rename and reopens at its next query, so a daemon picks up an import
//! made by the command line.
//!
//! The API is blocking (SQLite); async callers run it in
//! `tokio::task::spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::extraction::{self, DirectoryEntry, ExtractionError, Record};
use crate::address::Address;

/// Skipped lines listed in a report; the rest are only counted.
pub const MAX_REPORTED_SKIPS: usize = 100;

/// Most results a search returns, whatever the caller asks.
pub const MAX_SEARCH_RESULTS: usize = 500;

/// Words of a query used; the rest are ignored (no one types more, and
/// each word is one more index lookup).
const MAX_QUERY_WORDS: usize = 8;

/// Above this many matching entries a search is not ranked (see
/// [`Directory::search`]).
const RANKED_AT_MOST: i64 = 2000;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("directory storage: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("directory database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Extraction {
        path: PathBuf,
        source: ExtractionError,
    },
    #[error("{0}: no usable entry; the current directory is kept")]
    NoEntries(PathBuf),
    #[error("another import of the directory is running")]
    Busy,
    #[error("directory connection poisoned")]
    Poisoned,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DirectoryError + '_ {
    move |source| DirectoryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportReport {
    /// Lines read, header and blank lines included.
    pub lines: u64,
    /// Distinct mailboxes now in the directory.
    pub entries: u64,
    /// Lines repeating a mailbox already seen (the first one is kept).
    pub duplicates: u64,
    /// Lines with fewer fields than the header.
    pub short: u64,
    /// Lines read as Windows-1252 because they were not UTF-8.
    pub latin1: u64,
    /// Number of lines skipped.
    pub skipped_count: u64,
    /// The first [`MAX_REPORTED_SKIPS`] skipped lines: line number, reason.
    pub skipped: Vec<(u64, String)>,
    pub took: Duration,
}

/// The directory in place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryStatus {
    pub entries: u64,
    /// Unix time of the import; `None`: never imported.
    pub imported_at: Option<i64>,
    /// File name (no directory) of the extraction imported.
    pub source: Option<String>,
}

/// The open directory. Cheap to share (`Arc`); queries are serialised on
/// one connection, which is plenty for a practice.
pub struct Directory {
    dir: PathBuf,
    current: Mutex<Option<Current>>,
}

/// The connection and the identity of the file it reads.
struct Current {
    conn: Connection,
    file: FileId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId(u64, u64);

fn file_id(path: &Path) -> Option<FileId> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(FileId(meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let modified = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(FileId(modified.as_nanos() as u64, meta.len()))
    }
}

const DB_NAME: &str = "directory.db";

const SCHEMA: &str = "
    CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        mailbox TEXT NOT NULL UNIQUE,
        mailbox_type TEXT NOT NULL,
        national_id TEXT NOT NULL,
        rpps TEXT,
        civility TEXT NOT NULL,
        family_name TEXT NOT NULL,
        given_name TEXT NOT NULL,
        profession TEXT NOT NULL,
        specialty TEXT NOT NULL,
        organisation TEXT NOT NULL,
        service TEXT NOT NULL,
        address_lines TEXT NOT NULL,
        postcode TEXT NOT NULL,
        town TEXT NOT NULL,
        department TEXT NOT NULL,
        country TEXT NOT NULL
    );
    -- External content: the text lives once, in `entries`. Column order
    -- matters for the bm25 weights in SEARCH.
    CREATE VIRTUAL TABLE entries_fts USING fts5(
        family_name, given_name, profession, specialty, organisation, service,
        address_lines, postcode, town, rpps, mailbox,
        content = 'entries', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '1 2'
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

const COLUMNS: &str = "mailbox, mailbox_type, national_id, rpps, civility, family_name, \
     given_name, profession, specialty, organisation, service, address_lines, postcode, \
     town, department, country";

impl Directory {
    /// Opens the directory of `data_dir` (`<data_dir>/directory/`), creating
    /// the folder. A directory never imported is empty, not an error.
    pub fn open(data_dir: &Path) -> Result<Directory, DirectoryError> {
        let dir = data_dir.join("directory");
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let directory = Directory {
            dir,
            current: Mutex::new(None),
        };
        directory.with(|_| Ok(()))?;
        Ok(directory)
    }

    fn db_path(&self) -> PathBuf {
        self.dir.join(DB_NAME)
    }

    /// Runs `f` on a connection to the current file, reopening it when an
    /// import replaced the file since; `None` when nothing was imported.
    fn with<T>(
        &self,
        f: impl FnOnce(Option<&Connection>) -> Result<T, DirectoryError>,
    ) -> Result<T, DirectoryError> {
        let mut current = self.current.lock().map_err(|_| DirectoryError::Poisoned)?;
        let path = self.db_path();
        let on_disk = file_id(&path);
        if current.as_ref().map(|c| c.file) != on_disk {
            *current = None;
            if let Some(file) = on_disk {
                let conn = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(Duration::from_secs(10))?;
                *current = Some(Current { conn, file });
            }
        }
        f(current.as_ref().map(|c| &c.conn))
    }

    /// Entries, import time and source of the directory in place.
    pub fn status(&self) -> Result<DirectoryStatus, DirectoryError> {
        self.with(|conn| {
            let Some(conn) = conn else {
                return Ok(DirectoryStatus::default());
            };
            let meta = |key: &str| -> rusqlite::Result<Option<String>> {
                conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()
            };
            Ok(DirectoryStatus {
                entries: meta("entries")?.and_then(|v| v.parse().ok()).unwrap_or(0),
                imported_at: meta("imported_at")?.and_then(|v| v.parse().ok()),
                source: meta("source")?,
            })
        })
    }

    /// The entry of this exact address (case-insensitive), if listed.
    pub fn lookup(&self, mailbox: &str) -> Result<Option<DirectoryEntry>, DirectoryError> {
        let Some(address) = Address::parse(mailbox) else {
            return Ok(None);
        };
        let key = format!("{}@{}", address.local().to_lowercase(), address.domain());
        self.with(|conn| {
            let Some(conn) = conn else { return Ok(None) };
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {COLUMNS} FROM entries WHERE mailbox = ?1"))?;
            Ok(stmt.query_row([key], read_entry).optional()?)
        })
    }

    /// Entries matching every word of `text` as a word prefix (accents and
    /// case ignored), best first; at most `limit` (capped at
    /// [`MAX_SEARCH_RESULTS`]). Any text is accepted: it is never read as
    /// FTS5 query syntax.
    pub fn search(&self, text: &str, limit: usize) -> Result<Vec<DirectoryEntry>, DirectoryError> {
        let Some(query) = fts_query(text) else {
            return Ok(Vec::new());
        };
        let limit = limit.min(MAX_SEARCH_RESULTS) as i64;
        self.with(|conn| {
            let Some(conn) = conn else {
                return Ok(Vec::new());
            };
            // A query matching thousands of entries ("m", "de") is one
            // being typed: ranking them all costs more than it tells, so
            // such a query gets unranked entries, names matching first.
            let matching: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM (SELECT 1 FROM entries_fts WHERE entries_fts MATCH ?1 LIMIT ?2)",
                )?
                .query_row(params![query, RANKED_AT_MOST], |row| row.get(0))?;
            if matching >= RANKED_AT_MOST {
                let names = format!("{{family_name given_name organisation}} : ({query})");
                let mut found = unranked(conn, &names, limit)?;
                if (found.len() as i64) < limit {
                    for entry in unranked(conn, &query, limit)? {
                        if (found.len() as i64) < limit && !found.iter().any(|f| f.mailbox == entry.mailbox) {
                            found.push(entry);
                        }
                    }
                }
                return Ok(found);
            }
            // Weights follow the FTS column order: names first, then what
            // people type to narrow down (specialty, organisation, town).
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM entries JOIN (
                     SELECT rowid AS hit, bm25(entries_fts, 10.0, 6.0, 2.0, 3.0, 4.0, 3.0, 1.0, 2.0, 3.0, 2.0, 2.0) AS score
                     FROM entries_fts WHERE entries_fts MATCH ?1
                     ORDER BY score LIMIT ?2
                 ) ON entries.id = hit ORDER BY score"
            ))?;
            let rows = stmt.query_map(params![query, limit], read_entry)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Replaces the directory by the extraction at `path` (zip or `.txt`).
    ///
    /// Everything is built in `directory.db.new`, synced, then renamed over
    /// `directory.db`: until then searches answer from the old directory,
    /// and on any error the old directory stays as it was. An extraction
    /// giving no entry is refused (an empty or wrong file must not wipe
    /// the directory).
    pub fn import(&self, path: &Path) -> Result<ImportReport, DirectoryError> {
        let started = Instant::now();
        let lock_path = self.dir.join("import.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        // Released when `lock` is dropped, or by the kernel if we die.
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => DirectoryError::Busy,
            std::fs::TryLockError::Error(e) => DirectoryError::Io {
                path: lock_path.clone(),
                source: e,
            },
        })?;

        let new_path = self.dir.join(format!("{DB_NAME}.new"));
        remove_if_present(&new_path)?;
        remove_if_present(&self.dir.join(format!("{DB_NAME}.new-journal")))?;
        let built = build(&new_path, path);
        let mut report = match built {
            Ok(report) => report,
            Err(e) => {
                let _ = std::fs::remove_file(&new_path);
                return Err(e);
            }
        };
        if report.entries == 0 {
            let _ = std::fs::remove_file(&new_path);
            return Err(DirectoryError::NoEntries(path.to_path_buf()));
        }

        // The rows must be on disk before the name points at them.
        let file = std::fs::File::open(&new_path).map_err(io_error(&new_path))?;
        file.sync_all().map_err(io_error(&new_path))?;
        drop(file);
        let db_path = self.db_path();
        std::fs::rename(&new_path, &db_path).map_err(io_error(&db_path))?;
        sync_dir(&self.dir)?;
        // The next query opens the new file; warm it now so that a broken
        // file shows here rather than at the first search.
        self.with(|_| Ok(()))?;
        report.took = started.elapsed();
        tracing::info!(
            source = %path.display(),
            lines = report.lines,
            entries = report.entries,
            duplicates = report.duplicates,
            skipped = report.skipped_count,
            took_ms = report.took.as_millis() as u64,
            "directory imported"
        );
        Ok(report)
    }
}

/// Builds a complete directory database at `new_path` from the extraction.
fn build(new_path: &Path, source: &Path) -> Result<ImportReport, DirectoryError> {
    let mut conn = Connection::open(new_path)?;
    // This file is discarded on any failure, so it needs neither journal
    // nor syncs while being built (the final sync is done by the caller).
    conn.execute_batch(
        "PRAGMA journal_mode = OFF;
         PRAGMA synchronous = OFF;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;",
    )?;
    conn.execute_batch(SCHEMA)?;
    let tx = conn.transaction()?;
    let mut report = ImportReport::default();
    let read = {
        let mut insert = tx.prepare(&format!(
            "INSERT INTO entries ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT (mailbox) DO NOTHING"
        ))?;
        extraction::read_path(source, |records| -> Result<(), DirectoryError> {
            for record in records.by_ref() {
                let record = record.map_err(|source_error| DirectoryError::Extraction {
                    path: source.to_path_buf(),
                    source: source_error,
                })?;
                match record {
                    Record::Entry { entry: e, .. } => {
                        let inserted = insert.execute(params![
                            e.mailbox,
                            e.mailbox_type,
                            e.national_id,
                            e.rpps,
                            e.civility,
                            e.family_name,
                            e.given_name,
                            e.profession,
                            e.specialty,
                            e.organisation,
                            e.service,
                            e.address_lines.join("\n"),
                            e.postcode,
                            e.town,
                            e.department,
                            e.country,
                        ])?;
                        if inserted == 0 {
                            report.duplicates += 1;
                        } else {
                            report.entries += 1;
                        }
                    }
                    Record::Skipped { line, reason } => {
                        report.skipped_count += 1;
                        if report.skipped.len() < MAX_REPORTED_SKIPS {
                            report.skipped.push((line, reason));
                        }
                    }
                }
            }
            let stats = records.stats();
            report.lines = stats.lines;
            report.short = stats.short;
            report.latin1 = stats.latin1;
            Ok(())
        })
    };
    match read {
        Ok(inner) => inner?,
        Err(source_error) => {
            return Err(DirectoryError::Extraction {
                path: source.to_path_buf(),
                source: source_error,
            });
        }
    }
    tx.execute(
        "INSERT INTO entries_fts (entries_fts) VALUES ('rebuild')",
        [],
    )?;
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut meta = tx.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
    meta.execute(["entries", &report.entries.to_string()])?;
    meta.execute(["imported_at", &crate::queue::now_unix().to_string()])?;
    meta.execute(["source", &name])?;
    drop(meta);
    tx.commit()?;
    conn.execute_batch(
        "INSERT INTO entries_fts (entries_fts) VALUES ('optimize'); PRAGMA optimize;",
    )?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(report)
}

fn read_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<DirectoryEntry> {
    let lines: String = row.get(11)?;
    Ok(DirectoryEntry {
        mailbox: row.get(0)?,
        mailbox_type: row.get(1)?,
        national_id: row.get(2)?,
        rpps: row.get(3)?,
        civility: row.get(4)?,
        family_name: row.get(5)?,
        given_name: row.get(6)?,
        profession: row.get(7)?,
        specialty: row.get(8)?,
        organisation: row.get(9)?,
        service: row.get(10)?,
        address_lines: lines
            .split('\n')
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        postcode: row.get(12)?,
        town: row.get(13)?,
        department: row.get(14)?,
        country: row.get(15)?,
    })
}

/// The FTS5 query for what a person typed: each word becomes a quoted
/// string (so `"`, `*`, `-`, `:`, `(`, `NEAR`, `OR`... are plain text)
/// taken as a prefix, and the words are AND-ed. Each word is also asked
/// for as a whole word (`("w" OR "w"*)`): it matches the same rows, but
/// bm25 then ranks `MARTIN` above `MARTINEZ` for `martin`. Words without a
/// letter or digit are dropped (the tokenizer would make them empty
/// phrases); `None` when nothing is left.
///
/// A word the tokenizer splits (`dr.martin@medecin`, `l'hôpital`) becomes
/// a phrase: its parts must follow each other, the last one as a prefix.
pub fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .take(MAX_QUERY_WORDS)
        .map(|w| {
            let quoted = format!("\"{}\"", w.replace('"', "\"\""));
            format!("({quoted} OR {quoted}*)")
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" AND "))
}

fn remove_if_present(path: &Path) -> Result<(), DirectoryError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(path)(e)),
        _ => Ok(()),
    }
}

/// The first `limit` entries matching `query`, in the directory's order.
fn unranked(
    conn: &Connection,
    query: &str,
    limit: i64,
) -> Result<Vec<DirectoryEntry>, DirectoryError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM entries WHERE id IN (
             SELECT rowid FROM entries_fts WHERE entries_fts MATCH ?1 LIMIT ?2
         ) ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![query, limit], read_entry)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), DirectoryError> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::extraction::tests::{HEADER, line};

    fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
        let path = dir.join(name);
        let mut text = format!("{HEADER}\n");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    fn sample(dir: &Path) -> PathBuf {
        write(
            dir,
            "a.txt",
            &[
                line(
                    "jean.martinez@medecin.mssante.fr",
                    "MARTINEZ",
                    "Jean",
                    "Médecine générale",
                    "17000 LA ROCHELLE",
                ),
                line(
                    "paul.martin@medecin.mssante.fr",
                    "MARTIN",
                    "Paul",
                    "Cardiologie et maladies vasculaires",
                    "79000 NIORT",
                ),
                line(
                    "helene.leger@medecin.mssante.fr",
                    "LÉGER",
                    "Hélène",
                    "Pédiatrie",
                    "86000 POITIERS",
                ),
                line(
                    "Paul.Martin@medecin.mssante.fr",
                    "MARTIN",
                    "Paul",
                    "doublon",
                    "79000 NIORT",
                ),
                line(
                    "accueil@chu-poitiers.mssante.fr",
                    "",
                    "",
                    "",
                    "86000 POITIERS",
                ),
            ],
        )
    }

    fn mailboxes(found: &[DirectoryEntry]) -> Vec<&str> {
        found.iter().map(|e| e.mailbox.as_str()).collect()
    }

    #[test]
    fn directory_import_then_search_and_lookup() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Directory::open(tmp.path()).unwrap();
        assert_eq!(dir.status().unwrap(), DirectoryStatus::default());
        assert!(dir.search("martin", 10).unwrap().is_empty());

        let report = dir.import(&sample(tmp.path())).unwrap();
        assert_eq!(report.entries, 5 - 1);
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.lines, 6);

        let status = dir.status().unwrap();
        assert_eq!(status.entries, 4);
        assert_eq!(status.source.as_deref(), Some("a.txt"));
        assert!(status.imported_at.is_some());

        // Prefix: "mart" finds MARTIN and MARTINEZ; for "martin" both
        // match, the whole word first, whatever the import order.
        let found = dir.search("mart", 10).unwrap();
        assert_eq!(found.len(), 2);
        for query in ["martin", "MARTIN", "Martín"] {
            let found = dir.search(query, 10).unwrap();
            assert_eq!(
                mailboxes(&found),
                [
                    "paul.martin@medecin.mssante.fr",
                    "jean.martinez@medecin.mssante.fr"
                ],
                "{query}"
            );
        }
        let found = dir.search("martin niort", 10).unwrap();
        assert_eq!(mailboxes(&found), ["paul.martin@medecin.mssante.fr"]);
        // The first of the duplicates is kept.
        assert_eq!(found[0].specialty, "Cardiologie et maladies vasculaires");
        // Accents and case ignored, both ways.
        assert_eq!(
            mailboxes(&dir.search("helene leger", 10).unwrap()),
            ["helene.leger@medecin.mssante.fr"]
        );
        assert_eq!(
            mailboxes(&dir.search("PÉDIA", 10).unwrap()),
            ["helene.leger@medecin.mssante.fr"]
        );
        // Town, postcode, RPPS, mailbox parts.
        assert_eq!(dir.search("rochelle", 10).unwrap().len(), 1);
        assert_eq!(dir.search("86000", 10).unwrap().len(), 2);
        assert_eq!(dir.search("10001234567", 10).unwrap().len(), 4);
        assert_eq!(
            mailboxes(&dir.search("accueil@chu-poitiers", 10).unwrap()),
            ["accueil@chu-poitiers.mssante.fr"]
        );
        assert_eq!(dir.search("martin", 1).unwrap().len(), 1);

        let e = dir
            .lookup("Paul.MARTIN@Medecin.MSSante.fr")
            .unwrap()
            .unwrap();
        assert_eq!(e.family_name, "MARTIN");
        assert!(dir.lookup("nobody@medecin.mssante.fr").unwrap().is_none());
        assert!(dir.lookup("not an address").unwrap().is_none());
    }

    #[test]
    fn directory_broad_queries_answer_names_first_without_ranking_everything() {
        let tmp = tempfile::tempdir().unwrap();
        // Every entry lives in "Marseille"; only a few are named M….
        let mut lines: Vec<String> = (0..2500)
            .map(|i| {
                line(
                    &format!("p{i}@medecin.mssante.fr"),
                    &format!("BERNARD{i}"),
                    "Luc",
                    "Cardiologie",
                    "13001 MARSEILLE",
                )
            })
            .collect();
        lines.push(line(
            "mo@medecin.mssante.fr",
            "MOREAU",
            "Anne",
            "Cardiologie",
            "13001 MARSEILLE",
        ));
        let dir = Directory::open(tmp.path()).unwrap();
        dir.import(&write(tmp.path(), "broad.txt", &lines)).unwrap();
        let found = dir.search("m", 5).unwrap();
        assert_eq!(found.len(), 5);
        assert_eq!(found[0].family_name, "MOREAU");
        // A narrower query is still ranked.
        assert_eq!(
            dir.search("moreau marseille", 5).unwrap()[0].family_name,
            "MOREAU"
        );
    }

    #[test]
    fn directory_hostile_queries_are_plain_text() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Directory::open(tmp.path()).unwrap();
        dir.import(&sample(tmp.path())).unwrap();
        for hostile in [
            "\"",
            "\"\"\"",
            "*",
            "martin*",
            "-martin",
            "martin -paul",
            "family_name:martin",
            "mailbox:*",
            "(martin",
            "martin)",
            "martin OR paul",
            "NEAR(martin paul)",
            "martin AND",
            "NOT",
            "^martin",
            "martin + paul",
            "{family_name}: x",
            "a\"b",
            "'; DROP TABLE entries; --",
            "\u{0}martin",
            "…",
            "",
            "   ",
        ] {
            let result = dir.search(hostile, 10);
            assert!(result.is_ok(), "{hostile:?}: {result:?}");
        }
        // Operators are words, not syntax: "martin OR paul" means all three.
        assert!(dir.search("martin OR paul", 10).unwrap().is_empty());
        assert_eq!(dir.search("-martin", 10).unwrap().len(), 2);
        assert_eq!(dir.search("(martin)", 10).unwrap().len(), 2);
        assert_eq!(
            fts_query("a\"b c*").as_deref(),
            Some("(\"a\"\"b\" OR \"a\"\"b\"*) AND (\"c*\" OR \"c*\"*)")
        );
        assert_eq!(fts_query(" - * \" "), None);
        // The database is intact.
        assert_eq!(dir.status().unwrap().entries, 4);
    }

    #[test]
    fn directory_reimport_is_atomic() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Directory::open(tmp.path()).unwrap();
        dir.import(&sample(tmp.path())).unwrap();

        // A second handle, like the daemon's, already reading A.
        let daemon = Directory::open(tmp.path()).unwrap();
        assert_eq!(daemon.search("martin", 10).unwrap().len(), 2);

        // Broken B: a header without "Adresse BAL". A stays.
        let broken = tmp.path().join("broken.txt");
        std::fs::write(&broken, "Nom d'exercice|Prénom\nDUPONT|Marc\n").unwrap();
        assert!(matches!(
            dir.import(&broken),
            Err(DirectoryError::Extraction { .. })
        ));
        // B with lines but no usable entry: refused, A stays.
        let useless = write(
            tmp.path(),
            "useless.txt",
            &["PER|not-an-address|||".to_string()],
        );
        assert!(matches!(
            dir.import(&useless),
            Err(DirectoryError::NoEntries(_))
        ));
        // A truncated zip: refused, A stays.
        let truncated = tmp.path().join("truncated.zip");
        std::fs::write(&truncated, b"PK\x03\x04\x14\x00\x00\x00").unwrap();
        assert!(dir.import(&truncated).is_err());
        // A leftover from an interrupted import is not read, and is
        // replaced by the next import.
        std::fs::write(tmp.path().join("directory/directory.db.new"), b"half").unwrap();
        for d in [&dir, &daemon] {
            assert_eq!(d.search("martin", 10).unwrap().len(), 2);
            assert_eq!(d.status().unwrap().source.as_deref(), Some("a.txt"));
        }

        // While an import runs, another is refused.
        let lock = std::fs::File::open(tmp.path().join("directory/import.lock")).unwrap();
        lock.lock().unwrap();
        assert!(matches!(
            dir.import(&sample(tmp.path())),
            Err(DirectoryError::Busy)
        ));
        lock.unlock().unwrap();

        // Good B: only B afterwards, for both handles.
        let b = write(
            tmp.path(),
            "b.zip.txt",
            &[line(
                "marc.dupont@medecin.mssante.fr",
                "DUPONT",
                "Marc",
                "Radiologie",
                "79000 NIORT",
            )],
        );
        let report = dir.import(&b).unwrap();
        assert_eq!(report.entries, 1);
        for d in [&dir, &daemon] {
            assert!(d.search("martin", 10).unwrap().is_empty());
            assert_eq!(
                mailboxes(&d.search("dupont", 10).unwrap()),
                ["marc.dupont@medecin.mssante.fr"]
            );
            assert_eq!(d.status().unwrap().entries, 1);
        }
        assert!(!tmp.path().join("directory/directory.db.new").exists());
    }

    #[test]
    fn directory_old_connection_keeps_reading_during_replacement() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Directory::open(tmp.path()).unwrap();
        dir.import(&sample(tmp.path())).unwrap();
        // A raw reader holding the old file, as another process would.
        let old = Connection::open(tmp.path().join("directory/directory.db")).unwrap();
        let b = write(
            tmp.path(),
            "b.txt",
            &[line(
                "marc.dupont@medecin.mssante.fr",
                "DUPONT",
                "Marc",
                "",
                "79000 NIORT",
            )],
        );
        dir.import(&b).unwrap();
        let count: i64 = old
            .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 4);
    }
}
