//! Keeps the web admin in step with the daemon, every few seconds: tells
//! the box's display how to reach this page (and the setup code while the
//! box is unclaimed), and notices a factory reset by the daemon's new
//! installation id, after which the box must be claimed again; and notes
//! whether the box logs in with Pro Santé Connect (for the nav).

use std::sync::Arc;
use std::time::Duration;

use crate::App;

/// How often the daemon is looked at.
pub const EVERY: Duration = Duration::from_secs(3);

/// One look: returns whether the box was found reset.
pub async fn once(app: &App, address: &str) -> bool {
    let mut reset = false;
    let followed = app.daemon.followed().await.ok();
    if let Some(f) = &followed {
        app.note_psc(f.uses_psc());
    }
    // No id: a daemon restarting, or one from before installation ids.
    if let Some(id) = followed.and_then(|f| f.installation) {
        match app.note_installation(&id).await {
            Ok(true) => {
                reset = true;
                let code = app.setup_code_display().unwrap_or_default();
                tracing::warn!(
                    "the box was factory reset: the admin password is forgotten; claim it again with the new setup code"
                );
                // The console is where the person claiming the box reads it.
                eprintln!("facteur-web: setup code {code}");
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot record the installation id"),
        }
    }
    let code = app.setup_code_display();
    if let Err(e) = app.daemon.show_on_display(address, code.as_deref()).await {
        tracing::debug!(error = ?e, "display not updated");
    }
    reset
}

/// Looks every [`EVERY`] until the process ends.
pub async fn run(app: Arc<App>, address: String) {
    loop {
        once(&app, &address).await;
        tokio::time::sleep(EVERY).await;
    }
}
