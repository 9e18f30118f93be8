//! `facteur audit verify|list|export` (the files, without the daemon) and
//! `facteur queue hold|release|retry|delete` (through the control API).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use facteur::audit::{self, VerifyReport};
use facteur::config::Config;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of every file; exit 1 and name the first bad
    /// line when it breaks. Reads the files: works without the daemon.
    Verify {
        /// JSON output (the report).
        #[arg(long)]
        json: bool,
    },
    /// The latest entries, oldest first.
    List {
        /// JSON lines, as stored.
        #[arg(long)]
        json: bool,
        /// How many (the newest).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Write a ZIP with a copy of every log file and the verification
    /// report (`verify.json`).
    Export { file: PathBuf },
}

fn audit_dir(config_path: &Path) -> anyhow::Result<PathBuf> {
    let config = Config::load(config_path)?;
    Ok(config.data_dir.join("audit"))
}

fn describe(report: &VerifyReport) -> String {
    match &report.first_bad {
        None => format!(
            "audit log intact: {} entries in {} file(s), last hash {}",
            report.entries, report.files, report.last_hash
        ),
        Some(bad) => format!(
            "audit log BROKEN at {} line {}: {} ({} valid entries before)",
            bad.file, bad.line, bad.reason, report.entries
        ),
    }
}

pub fn run(config_path: &Path, command: AuditCommand) -> anyhow::Result<()> {
    let dir = audit_dir(config_path)?;
    match command {
        AuditCommand::Verify { json } => {
            let report = audit::verify(&dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            if report.ok() {
                if !json {
                    println!("{}", describe(&report));
                }
                Ok(())
            } else {
                anyhow::bail!("{}", describe(&report))
            }
        }
        AuditCommand::List { json, limit } => {
            let entries = audit::list(&dir, None, limit)?;
            let mut out = std::io::stdout().lock();
            for e in entries {
                if json {
                    writeln!(out, "{}", e.to_line())?;
                } else {
                    let at = time::OffsetDateTime::from_unix_timestamp(e.at)
                        .ok()
                        .and_then(|t| {
                            t.format(&time::format_description::well_known::Rfc3339)
                                .ok()
                        })
                        .unwrap_or_else(|| e.at.to_string());
                    writeln!(
                        out,
                        "{:>6} {at} {:<18} {:<20} {} {}",
                        e.seq,
                        e.actor,
                        e.action,
                        e.object.as_deref().unwrap_or("-"),
                        e.detail.as_deref().unwrap_or("")
                    )?;
                }
            }
            Ok(())
        }
        AuditCommand::Export { file } => export(&dir, &file),
    }
}

fn export(dir: &Path, target: &Path) -> anyhow::Result<()> {
    use zip::write::SimpleFileOptions;
    let files = audit::audit_files(dir)?;
    let report = audit::verify(dir)?;
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)
        .with_context(|| format!("{}: cannot create", target.display()))?;
    let mut zip = zip::ZipWriter::new(out);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for f in &files {
        let name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes =
            std::fs::read(&f.path).with_context(|| format!("{}: cannot read", f.path.display()))?;
        zip.start_file(name, options)?;
        zip.write_all(&bytes)?;
    }
    zip.start_file("verify.json", options)?;
    zip.write_all(serde_json::to_string_pretty(&report)?.as_bytes())?;
    zip.finish()?.sync_all()?;
    println!(
        "{}: {} file(s) exported; {}",
        target.display(),
        files.len(),
        describe(&report)
    );
    Ok(())
}

/// `facteur queue hold|release|retry|delete ID [--recipient ADDR]`.
pub fn queue_action(
    config_path: &Path,
    action: &str,
    id: &str,
    recipient: Option<&str>,
    yes: bool,
) -> anyhow::Result<()> {
    if action == "delete" && !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            anyhow::bail!("deleting a message needs --yes when not run from a terminal");
        }
        eprint!(
            "Delete message {id}{}? It will not be sent. [y/N] ",
            recipient.map(|r| format!(" for {r}")).unwrap_or_default()
        );
        std::io::stderr().flush()?;
        let mut line = String::new();
        stdin.read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "o" | "O" | "yes" | "oui") {
            anyhow::bail!("not deleted");
        }
    }
    let mut path = format!("/v1/queue/{id}/{action}");
    if let Some(r) = recipient {
        path.push_str("?recipient=");
        path.push_str(&facteur::control::encode_component(r));
    }
    let body = serde_json::to_vec(&serde_json::json!({"actor": "cli", "confirm": true}))?;
    let answer = super::control(config_path, |client| async move {
        client.post(&path, zeroize::Zeroizing::new(body)).await
    })?;
    let changed: Vec<&str> = answer["changed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    println!("{id}: {action} done for {}", changed.join(", "));
    Ok(())
}
