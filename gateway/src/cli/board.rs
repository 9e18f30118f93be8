//! `facteur board` and `facteur factory-reset`: the board through the
//! running daemon's control API.

use std::io::{IsTerminal, Write};
use std::path::Path;

use clap::Subcommand;
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub enum BoardCommand {
    /// Press the simulated board's button.
    Press {
        /// How long to hold it, in seconds (3 s or more: long press; 10 s
        /// or more: arms the factory reset).
        #[arg(long, default_value_t = 0.2)]
        hold: f64,
    },
    /// Blink the LED white and beep for 30 s, to find the box.
    Identify,
}

pub fn board(config_path: &Path, command: Option<BoardCommand>) -> anyhow::Result<()> {
    match command {
        None => {
            let board = super::control(config_path, |c| async move { c.get("/v1/board").await })?;
            print_board(&board);
        }
        Some(BoardCommand::Press { hold }) => {
            if !(0.001..=20.0).contains(&hold) {
                anyhow::bail!("--hold: between 0.001 and 20 seconds");
            }
            let hold_ms = (hold * 1000.0).round() as u64;
            let body = serde_json::to_vec(&serde_json::json!({ "hold_ms": hold_ms }))?;
            super::control(config_path, |c| async move {
                c.post("/v1/board/press", Zeroizing::new(body)).await
            })?;
            println!("button held {hold_ms} ms");
        }
        Some(BoardCommand::Identify) => {
            let body = serde_json::to_vec(&serde_json::json!({ "actor": "cli" }))?;
            super::control(config_path, |c| async move {
                c.post("/v1/board/identify", Zeroizing::new(body)).await
            })?;
            println!("identify: the LED blinks white for 30 s");
        }
    }
    Ok(())
}

fn print_board(board: &serde_json::Value) {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    println!("board:   {}", text(&board["board"]));
    println!(
        "state:   {} ({})",
        text(&board["label"]),
        text(&board["mode"])
    );
    println!(
        "LED:     {} {}",
        text(&board["light"]),
        text(&board["color"])
    );
    let lines: Vec<String> = board["screen"]["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if !lines.is_empty() {
        println!("display: {}", lines.join(" | "));
    }
    if !board["last_tune"].is_null() {
        println!("buzzer:  {}", text(&board["last_tune"]));
    }
}

pub fn factory_reset(config_path: &Path, yes: bool) -> anyhow::Result<()> {
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            anyhow::bail!("a factory reset needs --yes when not run from a terminal");
        }
        eprint!(
            "Erase every message not yet sent, every setting and account, the audit log? Only the factory identity stays. [y/N] "
        );
        std::io::stderr().flush()?;
        let mut line = String::new();
        stdin.read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "o" | "O" | "yes" | "oui") {
            anyhow::bail!("nothing erased");
        }
    }
    let body = serde_json::to_vec(&serde_json::json!({ "confirm": true, "actor": "cli" }))?;
    let answer = super::control(config_path, |c| async move {
        c.post("/v1/factory-reset", Zeroizing::new(body)).await
    })?;
    println!(
        "{}",
        answer["message"]
            .as_str()
            .unwrap_or("factory reset under way")
    );
    Ok(())
}
