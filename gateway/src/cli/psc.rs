//! `facteur psc`: the Pro Santé Connect session through the running
//! daemon: its state, a login (card, or the e-CPS app with the approval
//! awaited here), a logout.

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Subcommand;
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub enum PscCommand {
    /// The session: connected or not, until when.
    Status {
        /// The control API's JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Log in: with the card in the reader, or by asking the e-CPS app
    /// and waiting for the practitioner's approval.
    Login {
        /// e-CPS: the practitioner's national id (8 + RPPS), when the
        /// settings do not name it.
        #[arg(long)]
        national_id: Option<String>,
        /// e-CPS: do not wait for the approval.
        #[arg(long)]
        no_wait: bool,
    },
    /// End the session (the refresh token is revoked).
    Logout,
}

pub fn psc(config_path: &Path, command: PscCommand) -> anyhow::Result<()> {
    match command {
        PscCommand::Status { json } => {
            let status = super::control(config_path, |c| async move { c.get("/v1/psc").await })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&status);
            }
        }
        PscCommand::Login {
            national_id,
            no_wait,
        } => {
            let body = serde_json::to_vec(&serde_json::json!({ "national_id": national_id }))?;
            let answer = super::control(config_path, |c| async move {
                c.post("/v1/psc/login", Zeroizing::new(body)).await
            })?;
            let Some(approval) = answer.get("approval") else {
                // Card login: done already.
                print_status(&answer);
                return Ok(());
            };
            println!("{}", answer["message"].as_str().unwrap_or_default());
            if no_wait {
                return Ok(());
            }
            let expires_at = approval["expires_at"].as_i64().unwrap_or_default();
            let limit = Duration::from_secs(
                (expires_at - facteur::queue::now_unix()).clamp(1, 3600) as u64 + 10,
            );
            let started = Instant::now();
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let status =
                    super::control(config_path, |c| async move { c.get("/v1/psc").await })?;
                // While a session runs, a new request shows as its
                // pending approval, not as the state.
                let waiting = !status["approval"].is_null()
                    || matches!(
                        status["state"].as_str(),
                        Some("awaiting_approval" | "connecting")
                    );
                match status["state"].as_str() {
                    _ if waiting && started.elapsed() < limit => {}
                    Some("connected") if status["approval"].is_null() => {
                        print_status(&status);
                        return Ok(());
                    }
                    _ => {
                        print_status(&status);
                        anyhow::bail!(
                            "{}",
                            status["last_error"]
                                .as_str()
                                .unwrap_or("la connexion n’a pas abouti")
                        );
                    }
                }
            }
        }
        PscCommand::Logout => {
            let status = super::control(config_path, |c| async move {
                c.post("/v1/psc/logout", Zeroizing::new(Vec::new())).await
            })?;
            print_status(&status);
        }
    }
    Ok(())
}

fn print_status(status: &serde_json::Value) {
    let text = |key: &str| status[key].as_str().unwrap_or("-").to_string();
    println!("Pro Santé Connect: {} ({})", text("message"), text("state"));
    println!("login:   {}", text("login"));
    if let Some(id) = status["national_id"].as_str() {
        println!("identity: {id}");
    }
    let now = facteur::queue::now_unix();
    if let Some(end) = status["session_expires_at"].as_i64() {
        println!(
            "session: until {} ({} min left)",
            facteur::localtime::format(end),
            (end - now).max(0) / 60
        );
    }
    if let Some(end) = status["access_expires_at"].as_i64() {
        println!(
            "token:   renewed before {} ({} s left)",
            facteur::localtime::format(end),
            (end - now).max(0)
        );
    }
    if let Some(e) = status["last_error"].as_str() {
        println!("last error: {e}");
    }
}
