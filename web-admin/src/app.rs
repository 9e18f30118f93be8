//! What every request handler shares.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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

    /// Records the claim, then forgets the setup code for good.
    pub(crate) fn claim(&self, record: AdminRecord) -> Result<(), StateError> {
        state::save(&self.config.state_dir, &record)?;
        *self.admin.write().unwrap_or_else(|p| p.into_inner()) = Some(record);
        *self.setup_code.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.sessions.clear();
        SetupCode::invalidate(&self.config.state_dir)
    }
}
