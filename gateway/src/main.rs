//! `facteur`: the daemon and its command line.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use facteur::config::{Config, LogFormat};

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
    /// Look at the queue.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// One line per recipient: id, status, attempts, recipient, last reply.
    List {
        /// JSON output, one object per recipient.
        #[arg(long)]
        json: bool,
    },
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

fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Run) {
        Command::HashPassword => hash_password(),
        Command::Run => {
            let config = Config::load(&cli.config)?;
            let format = if cli.log_json {
                LogFormat::Json
            } else {
                config.log.format
            };
            facteur::logging::init(format, &config.log.level);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("facteur")
                .build()
                .context("cannot start the runtime")?;
            runtime.block_on(facteur::daemon::run(config))
        }
        Command::Check => {
            let config = Config::load(&cli.config)?;
            let whitelist = facteur::whitelist::Whitelist::load(&config.mssante.whitelist)?;
            let credential = facteur::daemon::load_credential(&config)?;
            facteur::daemon::connector(&config, credential.clone())?;
            println!("configuration: {}", cli.config.display());
            println!("whitelist: {} domains", whitelist.len());
            println!("credential: {}", credential.identity());
            println!("local accounts: {}", config.accounts.len());
            println!("ok");
            Ok(())
        }
        Command::Queue {
            command: QueueCommand::List { json },
        } => {
            let config = Config::load(&cli.config)?;
            let entries = facteur::queue::list(&config.queue_dir())?;
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
