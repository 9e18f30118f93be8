//! `facteur`: the daemon and its command line.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use facteur::config::{Config, LogFormat};

mod cli;
use cli::control;

#[derive(Parser)]
#[command(
    name = "facteur",
    version,
    about = "Facteur: MSSanté secure-mail gateway for medical practices"
)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "FACTEUR_CONFIG",
        default_value = "/etc/facteur/facteur.toml"
    )]
    config: PathBuf,
    /// Log as JSON lines (overrides `log.format`).
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Check the configuration and everything it points to, then exit.
    Check,
    /// Hash a password for an `[[accounts]]` entry (read from standard input).
    HashPassword,
    /// Look at the queue (asks the running daemon).
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// The CPS card (asks the running daemon).
    Card {
        #[command(subcommand)]
        command: CardCommand,
    },
    /// The daemon's state: credential, delivery, queue, card (JSON).
    Status,
    /// The Pro Santé Connect session (asks the running daemon).
    Psc {
        #[command(subcommand)]
        command: cli::psc::PscCommand,
    },
    /// The Annuaire Santé directory: import, search, status.
    Directory {
        #[command(subcommand)]
        command: cli::directory::DirectoryCommand,
    },
    /// The practice's correspondents (address book).
    Contacts {
        #[command(subcommand)]
        command: cli::directory::ContactsCommand,
    },
    /// Document packaging (IHE XDM): build a message without sending it,
    /// or check a package.
    Xdm {
        #[command(subcommand)]
        command: cli::xdm::XdmCommand,
    },
    /// The audit log: verify its chain, list, export (reads the files).
    Audit {
        #[command(subcommand)]
        command: cli::audit::AuditCommand,
    },
    /// Letters sent on paper (reads the queue database directly).
    Paper {
        #[command(subcommand)]
        command: PaperCommand,
    },
    /// The box's LED, button and display (asks the running daemon); without
    /// a subcommand, what they show now.
    Board {
        #[command(subcommand)]
        command: Option<cli::board::BoardCommand>,
    },
    /// Erase every message, setting and account; keep only the factory
    /// identity (asks the running daemon, which restarts unconfigured).
    FactoryReset {
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum PaperCommand {
    /// Correspondents reached on paper in a month, the most frequent first.
    Summary {
        /// The month, `YYYY-MM` (UTC); the previous month by default.
        #[arg(long)]
        month: Option<String>,
        /// Also write the summary as CSV (semicolons, UTF-8 with BOM).
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CardCommand {
    /// Reader, card, holder, PIN tries left, locked or unlocked.
    Status {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Unlock the card with its PIN (read without echo; from standard
    /// input when it is not a terminal). The PIN is presented once.
    Unlock {
        /// Present the PIN even though only one try is left (a wrong PIN
        /// then blocks the card).
        #[arg(long)]
        confirm_last_try: bool,
        /// Type the PIN on the reader's PIN pad instead.
        #[arg(long)]
        pinpad: bool,
    },
    /// Make the card in the reader the identity the box sends as (after a
    /// change of practitioner). The card must be unlocked.
    Accept,
}

#[derive(Subcommand)]
enum QueueCommand {
    /// One line per recipient: id, status, attempts, recipient, last reply.
    List {
        /// JSON output, one object per recipient.
        #[arg(long)]
        json: bool,
    },
    /// Hold a message: it is not sent until released.
    Hold(QueueTarget),
    /// Release a held message: due now.
    Release(QueueTarget),
    /// Try a pending message now, without waiting for its next attempt.
    Retry(QueueTarget),
    /// Delete a message before it is sent (asks first; the rows stay for
    /// tracking, state "deleted").
    Delete {
        #[command(flatten)]
        target: QueueTarget,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(clap::Args)]
struct QueueTarget {
    /// The queue id.
    id: String,
    /// Only this recipient.
    #[arg(long)]
    recipient: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("facteur: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Starts this program again in the same process (same PID for systemd,
/// same arguments), once everything was stopped in order: how settings
/// changed through the web admin take effect.
fn restart_in_place() -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let program = std::env::current_exe().context("cannot find the program to restart")?;
    let error = std::process::Command::new(&program)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(error).with_context(|| format!("cannot restart {}", program.display()))
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Run) {
        Command::HashPassword => hash_password(),
        Command::Run => {
            let mut layers = facteur::settings::Layers::read(&cli.config)?;
            let essentials = layers.essentials()?;
            let format = if cli.log_json {
                LogFormat::Json
            } else {
                essentials.log.format
            };
            facteur::logging::init(format, &essentials.log.level);
            // Before anything opens the data directory; the settings the
            // web admin wrote there are gone after it.
            if facteur::factory_reset::finish(&essentials.data_dir, essentials.network.as_ref())
                .context("cannot finish the factory reset")?
                .is_some()
            {
                layers = facteur::settings::Layers::read(&cli.config)?;
            }
            let essentials = layers.essentials()?;
            let config = match layers.config() {
                Ok(config) => Some(config),
                Err(facteur::config::ConfigError::Incomplete { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("facteur")
                .build()
                .context("cannot start the runtime")?;
            let outcome = match config {
                Some(config) => runtime.block_on(facteur::daemon::run(config))?,
                None => runtime.block_on(facteur::daemon::run_setup(layers, essentials))?,
            };
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
            if outcome != facteur::daemon::Outcome::Stopped {
                restart_in_place()?;
            }
            Ok(())
        }
        Command::Check => {
            let config = Config::load(&cli.config)?;
            let whitelist = facteur::whitelist::Whitelist::load(&config.mssante.whitelist)?;
            let loaded = facteur::daemon::load_credential(&config, Vec::new())?;
            facteur::daemon::connector(&config, loaded.credential.clone())?;
            println!("configuration: {}", cli.config.display());
            println!("whitelist: {} domains", whitelist.len());
            match loaded.card {
                Some(_) => println!("credential: CPS card"),
                None => println!("credential: {}", loaded.credential.identity()),
            }
            println!("local accounts: {}", config.accounts.len());
            println!("ok");
            Ok(())
        }
        Command::Status => {
            let status = control(&cli.config, |c| async move { c.get("/v1/status").await })?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(())
        }
        Command::Card { command } => card_command(&cli.config, command),
        Command::Board { command } => cli::board::board(&cli.config, command),
        Command::Psc { command } => cli::psc::psc(&cli.config, command),
        Command::FactoryReset { yes } => cli::board::factory_reset(&cli.config, yes),
        Command::Xdm { command } => cli::xdm::run(&cli.config, command),
        Command::Directory { command } => cli::directory::directory(&cli.config, command),
        Command::Contacts { command } => cli::directory::contacts(&cli.config, command),
        Command::Paper {
            command: PaperCommand::Summary { month, csv },
        } => paper_summary(&cli.config, month.as_deref(), csv.as_deref()),
        Command::Audit { command } => cli::audit::run(&cli.config, command),
        Command::Queue {
            command: QueueCommand::Hold(t),
        } => queue_action(&cli.config, "hold", t, false),
        Command::Queue {
            command: QueueCommand::Release(t),
        } => queue_action(&cli.config, "release", t, false),
        Command::Queue {
            command: QueueCommand::Retry(t),
        } => queue_action(&cli.config, "retry", t, false),
        Command::Queue {
            command: QueueCommand::Delete { target, yes },
        } => queue_action(&cli.config, "delete", target, yes),
        Command::Queue {
            command: QueueCommand::List { json },
        } => {
            let answer = control(&cli.config, |c| async move { c.get("/v1/queue").await })?;
            let entries: Vec<facteur::queue::QueueEntry> =
                serde_json::from_value(answer["recipients"].clone())
                    .context("unexpected queue listing")?;
            let mut out = std::io::stdout().lock();
            for e in entries {
                if json {
                    writeln!(out, "{}", serde_json::to_string(&e)?)?;
                } else {
                    writeln!(
                        out,
                        "{} {:9} {:>2} {} {}",
                        e.id,
                        e.status,
                        e.attempts,
                        e.recipient,
                        e.last_reply.as_deref().unwrap_or("")
                    )?;
                }
            }
            Ok(())
        }
    }
}

fn queue_action(
    config: &std::path::Path,
    action: &str,
    target: QueueTarget,
    yes: bool,
) -> anyhow::Result<()> {
    let recipient = target.recipient.as_deref();
    cli::audit::queue_action(config, action, &target.id, recipient, yes)
}

fn paper_summary(
    config_path: &std::path::Path,
    month: Option<&str>,
    csv: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use facteur::paper::summary;
    let config = Config::load(config_path)?;
    let (year, month) = match month {
        Some(text) => summary::parse_month(text)
            .with_context(|| format!("`{text}`: expected a month as YYYY-MM"))?,
        None => summary::previous_month(time::OffsetDateTime::now_utc().date()),
    };
    let tracking = facteur::queue::tracking::Tracking::open(&config.queue_dir())?;
    let rows = tracking.paper_summary(year, month)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{year:04}-{month:02}: {} correspondent(s) reached on paper",
        rows.len()
    )?;
    for row in &rows {
        writeln!(
            out,
            "{:>4}  {}  ({})",
            row.count, row.correspondent, row.address
        )?;
    }
    if let Some(path) = csv {
        summary::write_summary_csv(&rows, path)?;
        writeln!(out, "written to {}", path.display())?;
    }
    Ok(())
}

fn card_command(config_path: &std::path::Path, command: CardCommand) -> anyhow::Result<()> {
    match command {
        CardCommand::Status { json } => {
            let card = control(config_path, |c| async move { c.get("/v1/card").await })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&card)?);
            } else {
                print_card(&card);
            }
            Ok(())
        }
        CardCommand::Unlock {
            confirm_last_try,
            pinpad,
        } => {
            // Tries left are read first and shown before asking.
            let card = control(config_path, |c| async move { c.get("/v1/card").await })?;
            let tries_left = card["pin"]["left"].as_u64();
            match card["state"].as_str() {
                Some("unlocked") => {
                    println!("The card is already unlocked.");
                    return Ok(());
                }
                Some("blocked") => {
                    anyhow::bail!("{}", card["message"].as_str().unwrap_or("blocked"))
                }
                Some("locked") => {}
                _ => anyhow::bail!("{}", card["message"].as_str().unwrap_or("no card")),
            }
            if let Some(left) = tries_left {
                eprintln!(
                    "Card of {}: {left} PIN tries left.",
                    card["holder"]["name"].as_str().unwrap_or("?")
                );
                if left == 1 && !confirm_last_try {
                    anyhow::bail!(
                        "only one try is left: a wrong PIN blocks the card. Run again with --confirm-last-try to try anyway."
                    );
                }
            }
            let pin = if pinpad {
                eprintln!("Type the PIN on the reader's keypad.");
                None
            } else {
                Some(read_pin()?)
            };
            let body = serde_json::to_vec(&facteur::control::UnlockRequest {
                pin,
                confirm_last_try,
                actor: Some("cli".into()),
            })?;
            let result = control(config_path, |c| async move {
                c.post("/v1/card/unlock", zeroize::Zeroizing::new(body))
                    .await
            });
            match result {
                Ok(card) => {
                    println!("{}", card["message"].as_str().unwrap_or("unlocked"));
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        CardCommand::Accept => {
            let card = control(config_path, |c| async move {
                c.post(
                    "/v1/card/accept-identity",
                    zeroize::Zeroizing::new(Vec::new()),
                )
                .await
            })?;
            println!(
                "The box now sends as {}.",
                card["holder"]["subject"].as_str().unwrap_or("?")
            );
            Ok(())
        }
    }
}

/// Reads the PIN without echo on a terminal, or one line from a pipe.
fn read_pin() -> anyhow::Result<zeroize::Zeroizing<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let pin =
            rpassword::prompt_password("Code PIN de la carte : ").context("cannot read the PIN")?;
        return Ok(zeroize::Zeroizing::new(pin));
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    stdin.lock().read_line(&mut line)?;
    Ok(zeroize::Zeroizing::new(line.trim().to_string()))
}

fn print_card(card: &serde_json::Value) {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    println!("state:    {}", text(&card["state"]));
    println!("message:  {}", text(&card["message"]));
    println!("reader:   {}", text(&card["reader"]));
    if !card["profile"].is_null() {
        println!(
            "card:     {} serial {}",
            text(&card["profile"]).to_uppercase(),
            text(&card["serial"])
        );
    }
    if !card["holder"].is_null() {
        let h = &card["holder"];
        println!("holder:   {}", text(&h["name"]));
        println!("profession: {}", text(&h["profession"]));
        println!("national id: {}", text(&h["national_id"]));
        println!("subject:  {}", text(&h["subject"]));
        println!("expires in: {} days", card["expires_in_days"]);
    }
    if let Some(left) = card["pin"]["left"].as_u64() {
        println!("tries left: {left}/{}", card["pin"]["max"]);
    }
    println!(
        "locked:   {}",
        if card["state"] == "unlocked" {
            "no"
        } else {
            "yes"
        }
    );
    println!("identity: {}", text(&card["identity"]));
    if card["pinpad"] == true {
        println!("pin pad:  yes");
    }
    for w in card["warnings"].as_array().into_iter().flatten() {
        println!("warning:  {}", text(w));
    }
}

fn hash_password() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (shown as you type; pipe it in to avoid that): ");
        std::io::stderr().flush()?;
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    stdin.lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.len() < 8 {
        anyhow::bail!("the password must have at least 8 characters");
    }
    let hash =
        facteur::smtp::hash_password(password).map_err(|e| anyhow::anyhow!("cannot hash: {e}"))?;
    println!("{hash}");
    Ok(())
}
