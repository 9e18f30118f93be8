//! `facteur directory ...` and `facteur contacts ...` (part of the binary,
//! not of the library).
//!
//! These open the databases under `data_dir` directly: they need no running
//! daemon, and the daemon keeps reading while they work (an import replaces
//! the directory file atomically; the address book is in WAL mode).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use facteur::config::Config;
use facteur::directory::{AddressBook, Directory, DirectoryEntry, NewContact};
use facteur::whitelist::Whitelist;

/// Skipped lines printed after an import (the report keeps more).
const PRINTED_SKIPS: usize = 20;

#[derive(Subcommand)]
pub enum DirectoryCommand {
    /// Replace the directory by an Annuaire Santé extraction
    /// (`Extraction_Correspondance_MSSante_*.zip` or its `.txt`).
    Import { file: PathBuf },
    /// Search by name, profession, specialty, organisation, town, postcode,
    /// RPPS or address; every word must match the start of a word.
    Search {
        /// The words to look for (quotes not needed).
        #[arg(required_unless_present = "queries")]
        text: Vec<String>,
        /// Most results.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// JSON output, one entry per line.
        #[arg(long)]
        json: bool,
        /// Run every line of this file as a query and print timings
        /// (queries, p50, p95, max in milliseconds) instead of results.
        #[arg(long, conflicts_with = "text")]
        queries: Option<PathBuf>,
    },
    /// Entries, import date and source file of the directory in place.
    Status {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ContactsCommand {
    /// Add a correspondent: from the directory, with an MSSanté address, or
    /// with a postal address (not on MSSanté).
    Add(Box<AddContact>),
    /// Every correspondent, with its drop-folder name.
    List {
        /// JSON output, one contact per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove a correspondent by its number.
    Remove { id: i64 },
}

#[derive(Args)]
pub struct AddContact {
    /// Take name, profession, town and addresses from the directory entry
    /// of this MSSanté address.
    #[arg(long, conflicts_with_all = ["name", "mssante", "postal_line"])]
    from_directory: Option<String>,
    /// Name as the practice writes it, e.g. "Dr MARTIN Paul".
    #[arg(long, required_unless_present = "from_directory")]
    name: Option<String>,
    /// MSSanté address.
    #[arg(long)]
    mssante: Option<String>,
    /// Postal address line (repeat for several lines).
    #[arg(long)]
    postal_line: Vec<String>,
    #[arg(long)]
    postcode: Option<String>,
    #[arg(long)]
    town: Option<String>,
    /// Country, when not France.
    #[arg(long)]
    country: Option<String>,
    /// Profession or specialty, e.g. "cardiologue".
    #[arg(long)]
    profession: Option<String>,
    #[arg(long)]
    rpps: Option<String>,
    #[arg(long)]
    note: Option<String>,
}

pub fn directory(config_path: &Path, command: DirectoryCommand) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let directory = Directory::open(&config.data_dir)?;
    match command {
        DirectoryCommand::Import { file } => {
            let report = directory
                .import(&file)
                .with_context(|| format!("import of {} failed", file.display()))?;
            println!(
                "imported {} entries from {} lines in {:.2} s: {} duplicates, {} skipped, {} short lines, {} latin-1 lines",
                report.entries,
                report.lines,
                report.took.as_secs_f64(),
                report.duplicates,
                report.skipped_count,
                report.short,
                report.latin1,
            );
            for (line, reason) in report.skipped.iter().take(PRINTED_SKIPS) {
                println!("  line {line}: {reason}");
            }
            if report.skipped_count as usize > PRINTED_SKIPS {
                println!(
                    "  ... and {} more skipped lines",
                    report.skipped_count as usize - PRINTED_SKIPS
                );
            }
            Ok(())
        }
        DirectoryCommand::Search {
            text,
            limit,
            json,
            queries,
        } => match queries {
            Some(file) => time_queries(&directory, &file, limit),
            None => {
                let found = directory.search(&text.join(" "), limit)?;
                let mut out = std::io::stdout().lock();
                if json {
                    for entry in &found {
                        writeln!(out, "{}", serde_json::to_string(entry)?)?;
                    }
                } else {
                    print_entries(&mut out, &found)?;
                }
                Ok(())
            }
        },
        DirectoryCommand::Status { json } => {
            let status = directory.status()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else if let Some(at) = status.imported_at {
                println!("entries:  {}", status.entries);
                println!("imported: {}", format_time(at));
                println!("source:   {}", status.source.as_deref().unwrap_or("-"));
            } else {
                println!("The directory has not been imported yet.");
            }
            Ok(())
        }
    }
}

/// Runs each non-blank line of `file` as a search and prints latency
/// figures; the search itself is what is timed, not the process start.
fn time_queries(directory: &Directory, file: &Path, limit: usize) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut timed = Vec::new();
    let mut hits = 0usize;
    for query in text.lines().filter(|l| !l.trim().is_empty()) {
        let started = Instant::now();
        hits += directory.search(query, limit)?.len();
        timed.push((started.elapsed().as_secs_f64() * 1000.0, query));
    }
    anyhow::ensure!(!timed.is_empty(), "{}: no query", file.display());
    timed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (ms, query) in timed.iter().rev().take(5) {
        eprintln!("slowest: {ms:.3} ms {query:?}");
    }
    let times: Vec<f64> = timed.iter().map(|(ms, _)| *ms).collect();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "queries={} hits={hits} p50_ms={:.3} p95_ms={:.3} max_ms={:.3}",
        times.len(),
        at(0.5),
        at(0.95),
        at(1.0)
    );
    Ok(())
}

fn print_entries(out: &mut impl Write, found: &[DirectoryEntry]) -> std::io::Result<()> {
    if found.is_empty() {
        return writeln!(out, "No entry found.");
    }
    writeln!(
        out,
        "{:<30}  {:<30}  {:<22}  address",
        "name", "profession", "town"
    )?;
    for e in found {
        let town = [e.postcode.as_str(), e.town.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        writeln!(
            out,
            "{:<30}  {:<30}  {:<22}  {}",
            cut(&e.display_name(), 30),
            cut(e.best_profession(), 30),
            cut(&town, 22),
            e.mailbox
        )?;
    }
    Ok(())
}

/// At most `width` characters, with `…` when cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

pub fn contacts(config_path: &Path, command: ContactsCommand) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let book = AddressBook::open(&config.data_dir)?;
    match command {
        ContactsCommand::Add(add) => add_contact(&config, &book, *add),
        ContactsCommand::List { json } => {
            let mut out = std::io::stdout().lock();
            for c in book.list()? {
                if json {
                    writeln!(out, "{}", serde_json::to_string(&c)?)?;
                } else {
                    let reach = match (&c.mssante, &c.postal) {
                        (Some(addr), _) => addr.clone(),
                        (None, Some(p)) => {
                            format!("courrier: {} {} {}", p.lines.join(", "), p.postcode, p.town)
                        }
                        (None, None) => "-".to_string(),
                    };
                    writeln!(out, "{:>4}  {}  ->  {}", c.id, c.folder_name(), reach)?;
                }
            }
            Ok(())
        }
        ContactsCommand::Remove { id } => {
            book.remove(id)?;
            println!("Contact {id} removed.");
            Ok(())
        }
    }
}

fn add_contact(config: &Config, book: &AddressBook, add: AddContact) -> anyhow::Result<()> {
    let directory = Directory::open(&config.data_dir)?;
    let whitelist = Whitelist::load(&config.mssante.whitelist)?;
    let new = NewContact {
        from_directory: add.from_directory,
        name: add.name,
        mssante: add.mssante,
        postal_lines: add.postal_line,
        postcode: add.postcode,
        town: add.town,
        country: add.country,
        profession: add.profession,
        rpps: add.rpps,
        note: add.note,
    };
    // Its drop folder in each document folder, at once (the daemon also
    // creates missing ones).
    let roots: Vec<PathBuf> = config
        .outbox
        .iter()
        .flat_map(|o| o.folders.iter().cloned())
        .collect();
    let added = facteur::directory::add_contact(book, Some(&directory), &whitelist, &roots, &new)?;
    for warning in &added.warnings {
        eprintln!("attention : {warning}");
    }
    println!(
        "Contact {} added; drop folder: {}",
        added.contact.id, added.folder_name
    );
    for error in &added.folder_errors {
        eprintln!("attention : {error}");
    }
    for path in &added.folders {
        println!("{}", path.display());
    }
    Ok(())
}
