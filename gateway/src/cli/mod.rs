//! Command-line subcommands that are more than a control API call.

use anyhow::Context;

pub mod audit;
pub mod board;
pub mod directory;
pub mod psc;
pub mod xdm;

/// Runs one control API exchange with the daemon of `config_path`.
pub fn control<F, Fut>(config_path: &std::path::Path, call: F) -> anyhow::Result<serde_json::Value>
where
    F: FnOnce(facteur::control::ControlClient) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, facteur::control::ApiError>>,
{
    // Only the socket is needed, which a box not set up yet has too.
    let essentials = facteur::settings::Layers::read(config_path)?.essentials()?;
    let client = facteur::control::ControlClient::new(&essentials.control_socket);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    Ok(runtime.block_on(call(client))?)
}
