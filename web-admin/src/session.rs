//! In-memory sessions. An id is 256 random bits in the cookie
//! `__Host-facteur` (HttpOnly, Secure, SameSite=Strict, Path=/); each
//! session has its own CSRF token, checked on every POST.
//!
//! A visitor gets an anonymous session on the setup and login pages (so
//! those forms carry a CSRF token too); logging in replaces it with a new
//! id. Times are on the monotonic clock: an authenticated session ends
//! after `idle` without a request and `absolute` after login.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::clock::Clock;

pub const COOKIE: &str = "__Host-facteur";
/// Sessions kept at most (anonymous ones are dropped first).
const MAX_SESSIONS: usize = 512;

pub fn os_rng() -> rand::rand_core::UnwrapErr<rand::rngs::OsRng> {
    use rand::TryRngCore;
    rand::rngs::OsRng.unwrap_err()
}

/// `n` random bytes from the OS, hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    os_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[derive(Clone, Debug)]
pub struct Session {
    pub csrf: String,
    pub authenticated: bool,
    /// A message for the next page (Post/Redirect/Get): (kind, text).
    flash: Option<(&'static str, String)>,
    created: Instant,
    last_seen: Instant,
}

impl Session {
    /// Constant-time check of a submitted CSRF token.
    pub fn csrf_matches(&self, submitted: Option<&str>) -> bool {
        match submitted {
            Some(token) => {
                token.len() == self.csrf.len()
                    && bool::from(token.as_bytes().ct_eq(self.csrf.as_bytes()))
            }
            None => false,
        }
    }
}

pub struct Sessions {
    clock: Arc<dyn Clock>,
    idle: Duration,
    absolute: Duration,
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(clock: Arc<dyn Clock>, idle: Duration, absolute: Duration) -> Sessions {
        Sessions {
            clock,
            idle,
            absolute,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live(&self, s: &Session, now: Instant) -> bool {
        now.saturating_duration_since(s.last_seen) < self.idle
            && now.saturating_duration_since(s.created) < self.absolute
    }

    /// The live session with this id, its idle time renewed. An expired
    /// one is removed.
    pub fn touch(&self, id: &str) -> Option<Session> {
        let now = self.clock.now();
        let mut map = self.lock();
        let session = map.get_mut(id)?;
        if !self.live(session, now) {
            map.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// A new session; returns its id.
    pub fn create(&self, authenticated: bool) -> (String, Session) {
        let now = self.clock.now();
        let id = random_hex(32);
        let session = Session {
            csrf: random_hex(32),
            authenticated,
            flash: None,
            created: now,
            last_seen: now,
        };
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| self.live(s, now));
        }
        if map.len() >= MAX_SESSIONS {
            // Still full: drop the oldest anonymous session, else the oldest.
            let victim = map
                .iter()
                .min_by_key(|(_, s)| (s.authenticated, s.last_seen))
                .map(|(k, _)| k.clone());
            if let Some(victim) = victim {
                map.remove(&victim);
            }
        }
        map.insert(id.clone(), session.clone());
        (id, session)
    }

    /// Login: the old id (if any) is forgotten and a new authenticated
    /// session starts, with a new CSRF token.
    pub fn rotate_to_authenticated(&self, old: Option<&str>) -> (String, Session) {
        if let Some(old) = old {
            self.remove(old);
        }
        self.create(true)
    }

    /// Keeps a message for the next page of this session; `kind` is
    /// `info` or `error`.
    pub fn set_flash(&self, id: &str, kind: &'static str, text: String) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some((kind, text));
        }
    }

    /// The message kept for this page, once.
    pub fn take_flash(&self, id: &str) -> Option<(&'static str, String)> {
        self.lock().get_mut(id)?.flash.take()
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Ends every session (after the box is claimed, say).
    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// The `Set-Cookie` value for a session id.
pub fn cookie(id: &str) -> String {
    format!("{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// The `Set-Cookie` value that removes the cookie.
pub fn cookie_removal() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session id from a request's `Cookie` headers.
pub fn id_from_headers(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| {
            *name == COOKIE && value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn sessions(clock: Arc<ManualClock>) -> Sessions {
        Sessions::new(
            clock,
            Duration::from_secs(900),
            Duration::from_secs(8 * 3600),
        )
    }

    #[test]
    fn idle_and_absolute_timeouts() {
        let clock = Arc::new(ManualClock::default());
        let s = sessions(clock.clone());
        let (id, _) = s.create(true);
        assert_eq!(id.len(), 64);
        clock.advance(Duration::from_secs(899));
        assert!(s.touch(&id).is_some());
        clock.advance(Duration::from_secs(900));
        assert!(s.touch(&id).is_none(), "idle timeout");

        let (id, _) = s.create(true);
        for _ in 0..35 {
            clock.advance(Duration::from_secs(800));
            assert!(s.touch(&id).is_some());
        }
        clock.advance(Duration::from_secs(800));
        assert!(s.touch(&id).is_none(), "absolute timeout");
    }

    #[test]
    fn rotation_and_csrf() {
        let s = sessions(Arc::new(ManualClock::default()));
        let (anon, anon_session) = s.create(false);
        let (new, session) = s.rotate_to_authenticated(Some(&anon));
        assert_ne!(anon, new);
        assert_ne!(anon_session.csrf, session.csrf);
        assert!(s.touch(&anon).is_none());
        assert!(session.csrf_matches(Some(&session.csrf)));
        assert!(!session.csrf_matches(Some(&anon_session.csrf)));
        assert!(!session.csrf_matches(Some("")));
        assert!(!session.csrf_matches(None));
    }

    #[test]
    fn bounded() {
        let s = sessions(Arc::new(ManualClock::default()));
        let (admin, _) = s.create(true);
        for _ in 0..(MAX_SESSIONS * 2) {
            s.create(false);
        }
        assert!(s.lock().len() <= MAX_SESSIONS);
        assert!(s.touch(&admin).is_some());
    }

    #[test]
    fn cookie_parsing() {
        let mut h = axum::http::HeaderMap::new();
        let id = "a".repeat(64);
        h.insert(
            axum::http::header::COOKIE,
            format!("other=1; {COOKIE}={id}").parse().unwrap(),
        );
        assert_eq!(id_from_headers(&h), Some(id));
        h.insert(
            axum::http::header::COOKIE,
            format!("{COOKIE}=short").parse().unwrap(),
        );
        assert_eq!(id_from_headers(&h), None);
    }
}
