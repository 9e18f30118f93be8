use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use facteur_web::clock::MonotonicClock;
use facteur_web::config::Config;
use facteur_web::{App, router, server};

/// Facteur's web admin (HTTPS on the LAN; talks to the daemon over its
/// control socket).
#[derive(Parser)]
#[command(name = "facteur-web", version)]
struct Cli {
    /// The web admin's configuration (TOML).
    #[arg(long, short, env = "FACTEUR_WEB_CONFIG")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FACTEUR_WEB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::load(&cli.config).context("reading the web admin configuration")?;
    let app = Arc::new(
        App::open(config.clone(), Arc::new(MonotonicClock)).context("opening the claim state")?,
    );
    let acceptor = server::tls_acceptor(&config).context("setting up TLS")?;
    let listener = server::bind(&config).await?;
    let local = listener.local_addr().context("listener address")?;
    let host = if local.ip().is_unspecified() {
        config.hostname.clone()
    } else if local.is_ipv6() {
        format!("[{}]", local.ip())
    } else {
        local.ip().to_string()
    };
    let url = format!("https://{host}:{}", local.port());
    tracing::info!(%url, claimed = app.is_claimed(), "web admin listening");
    let mut ready = format!("facteur-web ready: url={url}");
    if let Some(code) = app.setup_code_display() {
        // The console is where the person claiming the box reads it.
        eprintln!("facteur-web: setup code {code}");
        ready.push_str(&format!(" setup_code={code}"));
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{ready}").context("stdout")?;
        out.flush().context("stdout")?;
    }
    // facteur.local on the LAN; a failure is only a warning.
    let _mdns = config
        .mdns
        .then(|| facteur_web::mdns::announce(&config.mdns_hostname, local.port(), local.ip()))
        .flatten();
    // The name the practice types, when announced; the port only when it
    // is not HTTPS's own.
    let display_address = match (config.mdns, local.port()) {
        (true, 443) => format!("https://{}", config.mdns_hostname),
        (true, port) => format!("https://{}:{port}", config.mdns_hostname),
        (false, _) => url.clone(),
    };
    tokio::spawn(facteur_web::follow_daemon::run(
        app.clone(),
        display_address,
    ));
    let serving = tokio::spawn(server::serve(listener, acceptor, router(app)));
    shutdown_signal().await;
    serving.abort();
    tracing::info!("web admin stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
