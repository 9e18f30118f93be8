//! What every request handler shares.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::clock::Clock;
use crate::config::Config;
use crate::daemon::Daemon;
use crate::ratelimit::{self, RateLimiter};
use crate::session::Sessions;
use crate::setup_code::SetupCode;
use crate::state::{self, AdminRecord, StateError};

/// The client's address, put in each request's extensions by the server.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

impl ClientAddr {
    pub fn ip(client: Option<&ClientAddr>) -> IpAddr {
        client
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

pub struct App {
    pub config: Config,
    pub sessions: Sessions,
    pub(crate) login_limit: RateLimiter,
    pub(crate) setup_limit: RateLimiter,
    pub(crate) daemon: Daemon,
    admin: RwLock<Option<AdminRecord>>,
    setup_code: Mutex<Option<SetupCode>>,
    /// Serialises claims (two setup forms sent at once).
    pub(crate) claim_lock: tokio::sync::Mutex<()>,
    /// When the web admin last asked the daemon to restart.
    restart_asked: Mutex<Option<std::time::Instant>>,
    /// The token of a network change waiting for its confirmation.
    network_token: Mutex<Option<zeroize::Zeroizing<String>>>,
    /// Whether the daemon last said it logs in with Pro Santé Connect;
    /// shared with each request's nav (see `pages::with_psc_nav`).
    psc: Arc<AtomicBool>,
}

impl App {
    /// Reads the claim state; while unclaimed, loads or creates the setup code.
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<App, StateError> {
        state::ensure_dir(&config.state_dir)?;
        let admin = state::load(&config.state_dir)?;
        let setup_code = if admin.is_none() {
            Some(SetupCode::load_or_create(&config.state_dir)?)
        } else {
            // A crash between saving the claim and deleting the code.
            SetupCode::invalidate(&config.state_dir)?;
            None
        };
        Ok(App {
            sessions: Sessions::new(
                clock.clone(),
                config.idle_timeout(),
                config.absolute_timeout(),
            ),
            login_limit: RateLimiter::new(clock.clone(), ratelimit::PER_CLIENT, ratelimit::GLOBAL),
            setup_limit: RateLimiter::new(clock, ratelimit::PER_CLIENT, ratelimit::GLOBAL),
            daemon: Daemon::new(&config.control_socket),
            admin: RwLock::new(admin),
            setup_code: Mutex::new(setup_code),
            claim_lock: tokio::sync::Mutex::new(()),
            restart_asked: Mutex::new(None),
            network_token: Mutex::new(None),
            psc: Arc::new(AtomicBool::new(false)),
            config,
        })
    }

    pub fn is_claimed(&self) -> bool {
        self.admin
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    pub(crate) fn password_hash(&self) -> Option<String> {
        self.admin
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|a| a.password_hash.clone())
    }

    /// The code as shown on the console, while the box is unclaimed.
    pub fn setup_code_display(&self) -> Option<String> {
        self.setup_code
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(SetupCode::display)
    }

    pub(crate) fn with_setup_code<T>(&self, f: impl FnOnce(Option<&SetupCode>) -> T) -> T {
        let guard = self.setup_code.lock().unwrap_or_else(|p| p.into_inner());
        f(guard.as_ref())
    }

    pub(crate) fn keep_network_token(&self, token: String) {
        *self.network_token.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(zeroize::Zeroizing::new(token));
    }

    pub(crate) fn network_token(&self) -> Option<String> {
        self.network_token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|t| t.to_string())
    }

    pub(crate) fn forget_network_token(&self) {
        *self.network_token.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Records whether the daemon logs in with Pro Santé Connect, as it
    /// just said (its status, or its answer on `/v1/psc`).
    pub fn note_psc(&self, used: bool) {
        self.psc.store(used, Ordering::Relaxed);
    }

    /// The flag itself, for a request's nav: read when the page is
    /// rendered, so a handler that just asked the daemon is followed.
    pub(crate) fn psc_flag(&self) -> Arc<AtomicBool> {
        self.psc.clone()
    }

    pub(crate) fn restart_requested(&self, at: std::time::Instant) {
        *self.restart_asked.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    /// Whether a daemon up for `uptime_secs` started after the last restart
    /// this process asked for (or none was asked).
    pub(crate) fn restarted_since_request(&self, uptime_secs: u64) -> bool {
        match *self.restart_asked.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(at) => uptime_secs < at.elapsed().as_secs(),
            None => true,
        }
    }

    /// Follows the daemon's installation id. A new id means the box was
    /// factory reset: the claim, the sessions and the admin password are
    /// forgotten and a new setup code is made, so the box can be claimed
    /// again. Returns whether that happened.
    pub async fn note_installation(&self, id: &str) -> Result<bool, StateError> {
        let dir = &self.config.state_dir;
        match state::load_installation(dir) {
            Some(known) if known == id => return Ok(false),
            None => {
                state::save_installation(dir, id)?;
                return Ok(false);
            }
            Some(_) => {}
        }
        // Not in the middle of a claim.
        let _claiming = self.claim_lock.lock().await;
        state::forget(dir)?;
        *self.admin.write().unwrap_or_else(|p| p.into_inner()) = None;
        self.sessions.clear();
        let code = SetupCode::load_or_create(dir)?;
        *self.setup_code.lock().unwrap_or_else(|p| p.into_inner()) = Some(code);
        self.forget_network_token();
        state::save_installation(dir, id)?;
        Ok(true)
    }

    /// Records the claim, then forgets the setup code for good.
    pub(crate) fn claim(&self, record: AdminRecord) -> Result<(), StateError> {
        state::save(&self.config.state_dir, &record)?;
        *self.admin.write().unwrap_or_else(|p| p.into_inner()) = Some(record);
        *self.setup_code.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.sessions.clear();
        SetupCode::invalidate(&self.config.state_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MonotonicClock;

    fn app(state_dir: &std::path::Path) -> App {
        let config = Config::parse(&format!(
            "listen = \"127.0.0.1:8443\"\ncontrol_socket = \"/nonexistent/c.sock\"\nstate_dir = \"{}\"\n",
            state_dir.display()
        ))
        .unwrap();
        App::open(config, Arc::new(MonotonicClock)).unwrap()
    }

    #[tokio::test]
    async fn a_new_installation_id_unclaims_the_box_with_a_new_code() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let first_code = app.setup_code_display().unwrap();
        app.claim(AdminRecord {
            password_hash: "$argon2id$x".into(),
            claimed_at: 1,
        })
        .unwrap();
        let (session, _) = app.sessions.create(true);
        assert!(app.is_claimed());
        // First sight of the daemon: recorded, nothing forgotten.
        assert!(
            !app.note_installation("a".repeat(32).as_str())
                .await
                .unwrap()
        );
        assert!(
            !app.note_installation("a".repeat(32).as_str())
                .await
                .unwrap()
        );
        assert!(app.is_claimed());
        // The daemon was reset.
        assert!(
            app.note_installation("b".repeat(32).as_str())
                .await
                .unwrap()
        );
        assert!(!app.is_claimed());
        assert!(app.sessions.touch(&session).is_none());
        let second_code = app.setup_code_display().unwrap();
        assert_ne!(first_code, second_code);
        // A restart of the web admin sees the same: unclaimed, same code.
        let again = self::app(dir.path());
        assert!(!again.is_claimed());
        assert_eq!(again.setup_code_display().unwrap(), second_code);
        assert!(
            !again
                .note_installation("b".repeat(32).as_str())
                .await
                .unwrap()
        );
    }
}
