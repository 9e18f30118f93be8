//! `facteur xdm build` and `facteur xdm check`: the document packaging of
//! the box, for integrators and support, without sending anything.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use facteur::config::Config;
use facteur::outbox::document::{DocumentInputs, build_document};
use facteur::outbox::pdf::PdfState;
use facteur::outbox::settings::{AuthorConfig, CodeDefaults};
use facteur::outbox::sidecar::{Sidecar, parse_sidecar};
use facteur::xdm::check::{Level, check_package};

#[derive(Subcommand)]
pub enum XdmCommand {
    /// Build the message (.eml) and its IHE_XDM.ZIP for a document, as the
    /// document folder would, without sending it.
    Build {
        /// The PDF.
        #[arg(long)]
        document: PathBuf,
        /// Its sidecar (JSON); without one, give --to.
        #[arg(long)]
        sidecar: Option<PathBuf>,
        /// Recipient (repeatable), added to the sidecar's.
        #[arg(long)]
        to: Vec<String>,
        /// Folder to write `<name>.eml` and `IHE_XDM.ZIP` in.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check an IHE_XDM.ZIP: layout, hash and size, metadata, INS.
    Check {
        zip: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(config_path: &Path, command: XdmCommand) -> anyhow::Result<()> {
    match command {
        XdmCommand::Check { zip, json } => check(&zip, json),
        XdmCommand::Build {
            document,
            sidecar,
            to,
            out,
        } => build(config_path, &document, sidecar.as_deref(), &to, &out),
    }
}

fn check(zip: &Path, json: bool) -> anyhow::Result<()> {
    let bytes = std::fs::read(zip).with_context(|| format!("{}: cannot read", zip.display()))?;
    let report = check_package(&bytes);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for finding in &report.findings {
            let level = match finding.level {
                Level::Error => "ERREUR",
                Level::Warning => "ATTENTION",
            };
            println!("{level}: {}", finding.text);
        }
        println!(
            "{}: {} document(s), {}",
            zip.display(),
            report.documents,
            if report.is_valid() {
                "paquet valide"
            } else {
                "paquet NON valide"
            }
        );
    }
    if report.is_valid() {
        Ok(())
    } else {
        anyhow::bail!("the package is not valid")
    }
}

fn build(
    config_path: &Path,
    document: &Path,
    sidecar_path: Option<&Path>,
    extra_to: &[String],
    out: &Path,
) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let whitelist = facteur::whitelist::Whitelist::load(&config.mssante.whitelist)?;
    let pdf =
        std::fs::read(document).with_context(|| format!("{}: cannot read", document.display()))?;
    match facteur::outbox::pdf::pdf_state(&pdf) {
        PdfState::Ready => {}
        PdfState::Unfinished => anyhow::bail!(
            "{}: the PDF is incomplete or damaged (no %%EOF end marker)",
            document.display()
        ),
        PdfState::Refused(reason) => anyhow::bail!("{}: {reason}", document.display()),
    }
    let mut sidecar = match sidecar_path {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
            parse_sidecar(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Sidecar::default(),
    };
    for address in extra_to {
        let address = address.trim().to_lowercase();
        if !sidecar.to.contains(&address) {
            sidecar.to.push(address);
        }
    }
    if sidecar.to.is_empty() {
        anyhow::bail!("no recipient: give a sidecar with \"to\", or --to");
    }
    let directory = facteur::directory::Directory::open(&config.data_dir).ok();
    for address in &sidecar.to {
        let check = facteur::directory::check_recipient(address, &whitelist, directory.as_ref());
        if !check.on_whitelist {
            anyhow::bail!("{address}: not in the MSSanté trust space (whitelist)");
        }
        for warning in &check.warnings {
            eprintln!("attention : {address} : {warning}");
        }
    }
    let (author_config, codes) = match &config.outbox {
        Some(outbox) => (outbox.author.clone(), outbox.codes.clone()),
        None => (AuthorConfig::default(), CodeDefaults::default()),
    };
    let holder = card_holder(&config);
    let author = author_config.resolve(holder.as_ref());
    if author.national_id.is_none() {
        eprintln!(
            "warning: no author national id (set outbox.author.national_id, or run the daemon with the card unlocked)"
        );
    }
    let file_name = document
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "document.pdf".into());
    let file_time = std::fs::metadata(document)
        .and_then(|m| m.modified())
        .map(time::OffsetDateTime::from)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let domain = config
        .mssante
        .mailbox
        .rsplit_once('@')
        .map_or("facteur.local", |(_, d)| d);
    let message_id = format!("{:032x}.document@{domain}", rand::random::<u128>());
    let built = build_document(&DocumentInputs {
        pdf: &pdf,
        file_name: &file_name,
        sidecar: &sidecar,
        recipients: &sidecar.to,
        author: &author,
        codes: &codes,
        mailbox: &config.mssante.mailbox,
        nil: &config.mssante.nil,
        file_time,
        message_id: &message_id,
        now: time::OffsetDateTime::now_utc(),
    })?;
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let stem = file_name
        .rsplit_once('.')
        .map_or(file_name.as_str(), |(s, _)| s);
    let eml = out.join(format!("{stem}.eml"));
    let zip = out.join("IHE_XDM.ZIP");
    std::fs::write(&eml, &built.message)
        .with_context(|| format!("{}: cannot write", eml.display()))?;
    std::fs::write(&zip, &built.xdm_zip)
        .with_context(|| format!("{}: cannot write", zip.display()))?;
    println!("message: {}", eml.display());
    println!("xdm: {}", zip.display());
    println!("subject: {}", built.subject);
    Ok(())
}

/// The card holder, when the daemon runs with a card (for the author's
/// national id); nothing otherwise.
fn card_holder(config: &Config) -> Option<facteur::card::Holder> {
    if !config.control_socket().exists() {
        return None;
    }
    let client = facteur::control::ControlClient::new(&config.control_socket());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let card = runtime
        .block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(3), client.get("/v1/card")).await
        })
        .ok()?
        .ok()?;
    serde_json::from_value(card["holder"].clone()).ok()
}
