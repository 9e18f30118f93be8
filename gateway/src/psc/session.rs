//! The Pro Santé Connect session: tokens kept in memory only, renewed
//! before they end, and a new login when the refresh token ends (by the
//! card without anyone's help; with the e-CPS app, the practitioner is
//! asked through the web admin or the CLI). The session follows the
//! refresh token: when it cannot be renewed, delivery pauses until the
//! practitioner logs in again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use super::card_login::{self, CardLoginError, Challenge};
use super::http::ProviderHttp;
use super::provider::{Grant, Provider, ProviderError};
use super::settings::{LoginMethod, PscSettings, valid_national_id};
use crate::credential::{CardCredential, Credential};
use crate::queue::now_unix;

/// What the practice is told when nothing but a new login helps.
pub const RECONNECT_NEEDED: &str = "reconnexion Pro Santé Connect nécessaire";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// No session and none being opened (card mode: the card is not ready).
    Disconnected,
    /// A card login is under way.
    Connecting,
    /// A CIBA request waits for the practitioner's approval on the phone.
    AwaitingApproval,
    Connected,
    /// The provider cannot be reached and the access token has ended.
    Unreachable,
    /// The session ended and only the practitioner can open a new one.
    ReconnectNeeded,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PscError {
    #[error("Pro Santé Connect unreachable: {0}")]
    Unreachable(String),
    #[error("{RECONNECT_NEEDED}: {0}")]
    ReconnectNeeded(String),
    #[error("Pro Santé Connect login refused: {0}")]
    Refused(String),
    #[error("the CPS card is not ready: {0}")]
    Card(String),
    #[error("{0}")]
    Usage(String),
}

impl PscError {
    pub fn is_transient(&self) -> bool {
        matches!(self, PscError::Unreachable(_))
    }
}

/// A CIBA login waiting on the phone.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    pub national_id: String,
    /// The short text shown both on the phone and by the box, so the
    /// practitioner approves the right request.
    pub binding_message: String,
    pub expires_at: i64,
}

/// The session as the control API shows it (no token, ever).
#[derive(Debug, Clone, Serialize)]
pub struct PscStatus {
    pub login: &'static str,
    pub state: State,
    /// One line for the practice, in French.
    pub message: String,
    pub national_id: Option<String>,
    pub connected_since: Option<i64>,
    pub access_expires_at: Option<i64>,
    /// When the refresh token ends, if the provider says.
    pub session_expires_at: Option<i64>,
    pub approval: Option<Approval>,
    pub last_error: Option<String>,
    pub logins: u64,
    pub renewals: u64,
    /// Access tokens the operator refused.
    pub refused_tokens: u64,
}

struct Tokens {
    access: Zeroizing<String>,
    access_expires: Instant,
    access_expires_unix: i64,
    lifetime: Duration,
    refresh: Option<Zeroizing<String>>,
    refresh_expires_unix: Option<i64>,
    connected_since: i64,
}

impl Tokens {
    /// Renewed this long before the end: the setting, but never more than
    /// a third of the token's life (short-lived tokens would otherwise be
    /// renewed as soon as they arrive).
    fn margin(&self, refresh_before: Duration) -> Duration {
        refresh_before.min(self.lifetime / 3)
    }

    fn usable_for(&self, at_least: Duration) -> bool {
        self.access_expires
            .checked_duration_since(Instant::now())
            .is_some_and(|left| left > at_least)
    }
}

struct Inner {
    tokens: Option<Tokens>,
    state: State,
    national_id: Option<String>,
    approval: Option<Approval>,
    last_error: Option<String>,
    /// Bumped by every new login attempt and logout: a login (CIBA poll,
    /// card login) started under another value is dropped.
    generation: u64,
    /// Bumped whenever the set of tokens is replaced by a login or
    /// dropped: a renewal applies only to the set it renewed.
    epoch: u64,
    /// Card logins refused in a row (the retry waits longer each time).
    card_refusals: u32,
    /// Since when the state is `Unreachable`, if it is.
    unreachable_since: Option<Instant>,
    logins: u64,
    renewals: u64,
    refused_tokens: u64,
    /// Card mode: the practice logged out; no login by itself until the
    /// card is taken out and back, or a login is asked.
    logged_out: bool,
}

/// What a new set of tokens comes from, to check it still applies.
#[derive(Clone, Copy)]
enum Since {
    /// A login started under this generation.
    Login(u64),
    /// A renewal of the token set of this epoch.
    Renewal(u64),
}

/// The card side of a card-mode session.
pub struct CardSide {
    pub http: ProviderHttp,
    pub credential: Arc<CardCredential>,
}

pub struct PscSession {
    method: LoginMethod,
    issuer: String,
    scope: String,
    redirect_uri: String,
    refresh_before: Duration,
    provider: Provider,
    card: Option<CardSide>,
    inner: Mutex<Inner>,
    /// One renewal or login at a time.
    renewing: tokio::sync::Mutex<()>,
    /// Told of every change of availability (delivery, fetcher, board).
    changed: Vec<Arc<Notify>>,
    /// Wakes the background loop (a login started, a logout).
    wake: Notify,
    /// Card events (card mode).
    card_changed: Arc<Notify>,
    audit: Option<crate::audit::Audit>,
}

impl std::fmt::Debug for PscSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PscSession")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// Seconds of a CIBA request's life at least, and the polling interval's bounds.
const SLOW_DOWN_STEP: u64 = 5;
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A refused card login is tried again after this (the cause may be
/// mended on the provider's side), twice as long after each refusal up to
/// `CARD_RETRY_MAX`, and at once on a card event.
const CARD_RETRY: Duration = Duration::from_secs(300);
const CARD_RETRY_MAX: Duration = Duration::from_secs(3600);

impl PscSession {
    pub fn new(
        settings: &PscSettings,
        provider: Provider,
        card: Option<CardSide>,
        changed: Vec<Arc<Notify>>,
        card_changed: Arc<Notify>,
        audit: Option<crate::audit::Audit>,
    ) -> PscSession {
        let state = match settings.login {
            LoginMethod::Card => State::Disconnected,
            LoginMethod::Ecps => State::ReconnectNeeded,
        };
        PscSession {
            method: settings.login,
            issuer: settings.issuer.clone(),
            scope: settings.scope.clone(),
            redirect_uri: settings.redirect_uri.clone(),
            refresh_before: Duration::from_secs(settings.refresh_before),
            provider,
            card,
            inner: Mutex::new(Inner {
                tokens: None,
                state,
                national_id: settings.national_id.clone(),
                approval: None,
                last_error: None,
                generation: 0,
                epoch: 0,
                card_refusals: 0,
                unreachable_since: None,
                logins: 0,
                renewals: 0,
                refused_tokens: 0,
                logged_out: false,
            }),
            renewing: tokio::sync::Mutex::new(()),
            changed,
            wake: Notify::new(),
            card_changed,
            audit,
        }
    }

    pub fn method(&self) -> LoginMethod {
        self.method
    }

    /// Since when the provider cannot be reached while mail waits for a
    /// token, if so (the board's "messagerie injoignable" alarm).
    pub fn unreachable_since(&self) -> Option<Instant> {
        self.with(|i| {
            i.unreachable_since
                .filter(|_| i.state == State::Unreachable)
        })
        .flatten()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> Option<T> {
        self.inner.lock().ok().map(|mut i| f(&mut i))
    }

    /// Tells the daemon's parts (delivery, fetcher) that availability
    /// may have changed.
    fn notify(&self) {
        for n in &self.changed {
            n.notify_one();
        }
    }

    fn audit(&self, action: &str, detail: &str) {
        if let Some(a) = &self.audit {
            a.note("facteur", action, Some("pro-sante-connect"), Some(detail));
        }
    }

    fn card_ready(&self) -> Result<(), String> {
        match &self.card {
            Some(card) => card.credential.availability(),
            None => Ok(()),
        }
    }

    /// Whether mail can go now; otherwise why not, in French. Delivery
    /// and the inbound bridge pause while this is an error.
    pub fn availability(&self) -> Result<(), String> {
        if self.method == LoginMethod::Card
            && let Err(reason) = self.card_ready()
        {
            return Err(format!(
                "carte CPS nécessaire pour Pro Santé Connect : {reason}"
            ));
        }
        let (state, usable) = self
            .with(|i| {
                (
                    i.state,
                    i.tokens
                        .as_ref()
                        .is_some_and(|t| t.usable_for(Duration::ZERO)),
                )
            })
            .unwrap_or((State::Disconnected, false));
        match state {
            State::Connected => Ok(()),
            State::Unreachable if usable => Ok(()),
            State::Unreachable => {
                Err("Pro Santé Connect injoignable ; nouvel essai automatique".into())
            }
            State::Connecting => Err("connexion à Pro Santé Connect en cours".into()),
            State::AwaitingApproval => Err(
                "connexion Pro Santé Connect en attente de validation dans l’application e-CPS"
                    .into(),
            ),
            // Card mode with the card ready: the background loop logs in.
            State::Disconnected if self.method == LoginMethod::Card => {
                Err("connexion à Pro Santé Connect en cours".into())
            }
            State::Disconnected | State::ReconnectNeeded => Err(RECONNECT_NEEDED.into()),
        }
    }

    pub fn status(&self) -> PscStatus {
        let availability = self.availability();
        self.with(|i| {
            let message = match (&availability, i.state) {
                (_, State::AwaitingApproval) => match &i.approval {
                    Some(a) => format!(
                        "validez la demande « {} » dans l’application e-CPS",
                        a.binding_message
                    ),
                    None => "validez la demande dans l’application e-CPS".into(),
                },
                (Ok(()), _) => "connecté à Pro Santé Connect".into(),
                (Err(reason), _) => reason.clone(),
            };
            PscStatus {
                login: self.method.as_str(),
                state: i.state,
                message,
                national_id: i.national_id.clone(),
                connected_since: i.tokens.as_ref().map(|t| t.connected_since),
                access_expires_at: i.tokens.as_ref().map(|t| t.access_expires_unix),
                session_expires_at: i.tokens.as_ref().and_then(|t| t.refresh_expires_unix),
                approval: i.approval.clone(),
                last_error: i.last_error.clone(),
                logins: i.logins,
                renewals: i.renewals,
                refused_tokens: i.refused_tokens,
            }
        })
        .unwrap_or(PscStatus {
            login: self.method.as_str(),
            state: State::Disconnected,
            message: RECONNECT_NEEDED.into(),
            national_id: None,
            connected_since: None,
            access_expires_at: None,
            session_expires_at: None,
            approval: None,
            last_error: None,
            logins: 0,
            renewals: 0,
            refused_tokens: 0,
        })
    }

    /// The access token for a login at the operator: the current one when
    /// it has some life left, else renewed now.
    pub async fn access_token(self: &Arc<Self>) -> Result<Zeroizing<String>, PscError> {
        if let Some(token) = self.current_token() {
            return Ok(token);
        }
        let session = self.clone();
        self.detached(async move {
            let _one = session.renewing.lock().await;
            if session.current_token().is_none() {
                session.renew().await?;
            }
            Ok(())
        })
        .await?;
        self.current_token()
            .ok_or_else(|| PscError::Unreachable("the new access token is already over".into()))
    }

    /// Runs `work` in a task of its own and waits for it: a caller that
    /// gives up (a timeout, a client gone) never cuts a renewal or a login
    /// half-way, after the provider rotated the refresh token but before
    /// the box kept the new one.
    async fn detached(
        &self,
        work: impl Future<Output = Result<(), PscError>> + Send + 'static,
    ) -> Result<(), PscError> {
        tokio::spawn(work)
            .await
            .unwrap_or_else(|e| Err(PscError::Usage(format!("the session task failed: {e}"))))
    }

    /// The access token if it lives a little longer (a quarter of its
    /// life, ten seconds at most: time to log in with it).
    fn current_token(&self) -> Option<Zeroizing<String>> {
        self.with(|i| {
            let t = i.tokens.as_ref()?;
            let keep = (t.lifetime / 4).min(Duration::from_secs(10));
            t.usable_for(keep).then(|| t.access.clone())
        })
        .flatten()
    }

    /// The operator refused the token: it is not used again, the next
    /// login gets a new one.
    pub fn token_refused(&self, detail: &str) {
        tracing::warn!(detail = %detail, "the operator refused the Pro Santé Connect access token");
        self.with(|i| {
            i.refused_tokens += 1;
            i.last_error = Some(format!("jeton refusé par l’opérateur ({detail})"));
            if let Some(t) = i.tokens.as_mut() {
                t.access_expires = Instant::now();
                t.access_expires_unix = now_unix();
            }
        });
    }

    /// Keeps the tokens of a login started under `generation`, or of a
    /// renewal of the token set `epoch`; `false` (and nothing kept) when
    /// the session changed meanwhile (logout, card out, another login).
    fn store(&self, grant: Grant, how: &str, since: Since) -> bool {
        let now = Instant::now();
        let lifetime = Duration::from_secs(grant.expires_in);
        let applied = self
            .with(|i| {
                match since {
                    Since::Login(g) if g != i.generation => return None,
                    Since::Renewal(e) if e != i.epoch || i.tokens.is_none() => return None,
                    Since::Login(_) => i.epoch += 1,
                    Since::Renewal(_) => {}
                }
                let connected_since = match (&i.tokens, how) {
                    (Some(t), "renewal") => t.connected_since,
                    _ => now_unix(),
                };
                // A provider that does not rotate refresh tokens answers a
                // refresh without one: the current one goes on.
                let (refresh, refresh_expires_unix) = match (grant.refresh_token, &mut i.tokens) {
                    (Some(r), _) => (
                        Some(r),
                        grant.refresh_expires_in.map(|s| now_unix() + s as i64),
                    ),
                    (None, Some(t)) => (t.refresh.take(), t.refresh_expires_unix),
                    (None, None) => (None, None),
                };
                i.tokens = Some(Tokens {
                    access: grant.access_token,
                    access_expires: now + lifetime,
                    access_expires_unix: now_unix() + lifetime.as_secs() as i64,
                    lifetime,
                    refresh,
                    refresh_expires_unix,
                    connected_since,
                });
                if how == "renewal" {
                    i.renewals += 1;
                } else {
                    i.logins += 1;
                }
                i.approval = None;
                i.last_error = None;
                i.card_refusals = 0;
                i.unreachable_since = None;
                let before = i.state;
                i.state = State::Connected;
                Some(before != State::Connected)
            })
            .flatten();
        let Some(changed) = applied else {
            tracing::info!(
                how,
                "Pro Santé Connect tokens dropped: the session changed meanwhile"
            );
            return false;
        };
        tracing::info!(
            how,
            expires_in = lifetime.as_secs(),
            "Pro Santé Connect tokens obtained"
        );
        if changed {
            self.notify();
        }
        // The background loop plans the next renewal from these.
        self.wake.notify_one();
        true
    }

    fn set_state(&self, state: State, error: Option<String>) {
        let changed = self
            .with(|i| {
                let before = i.state;
                i.state = state;
                if error.is_some() {
                    i.last_error = error;
                }
                if state != State::AwaitingApproval {
                    i.approval = None;
                }
                if matches!(state, State::ReconnectNeeded | State::Disconnected)
                    && i.tokens.take().is_some()
                {
                    i.epoch += 1;
                }
                before != state
            })
            .unwrap_or(false);
        if changed {
            self.notify();
        }
    }

    /// Renews the session: the refresh token, and when it ended, a card
    /// login (card mode) or `ReconnectNeeded` (e-CPS). The caller holds
    /// `renewing`.
    async fn renew(&self) -> Result<(), PscError> {
        let Some((refresh, epoch, generation, logged_out)) = self.with(|i| {
            (
                i.tokens.as_ref().and_then(|t| t.refresh.clone()),
                i.epoch,
                i.generation,
                i.logged_out,
            )
        }) else {
            return Err(PscError::Usage("the session's state is broken".into()));
        };
        if logged_out {
            return Err(PscError::ReconnectNeeded("déconnecté à la demande".into()));
        }
        if let Some(refresh) = refresh {
            match self.provider.refresh(&refresh).await {
                Ok(grant) => {
                    return if self.store(grant, "renewal", Since::Renewal(epoch)) {
                        Ok(())
                    } else {
                        Err(PscError::Usage(
                            "the session changed during the renewal".into(),
                        ))
                    };
                }
                // Only `invalid_grant` says the refresh token is over; any
                // other failure (a 5xx, a rate limit, a proxy's page) keeps
                // it for the next try.
                Err(e) if e.code() != Some("invalid_grant") => {
                    return Err(self.renewal_failed(&e));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the Pro Santé Connect session ended");
                    self.audit("psc.session_ended", &e.to_string());
                    let ended = self
                        .with(|i| {
                            let same = i.epoch == epoch;
                            if same && i.tokens.take().is_some() {
                                i.epoch += 1;
                            }
                            same
                        })
                        .unwrap_or(false);
                    if !ended {
                        return Err(PscError::Usage(
                            "the session changed during the renewal".into(),
                        ));
                    }
                }
            }
        }
        match self.method {
            LoginMethod::Card => self.card_login(generation).await,
            LoginMethod::Ecps => {
                let reason = "la session Pro Santé Connect a pris fin".to_string();
                self.set_state(State::ReconnectNeeded, Some(reason.clone()));
                Err(PscError::ReconnectNeeded(reason))
            }
        }
    }

    /// A renewal or login that may work later: the tokens are kept, the
    /// state says why mail waits once the access token is over.
    fn renewal_failed(&self, e: &ProviderError) -> PscError {
        if e.is_transient() {
            return self.unreachable(e);
        }
        let text = e.to_string();
        tracing::warn!(error = %text, "Pro Santé Connect renewal failed; tried again later");
        self.note_failure(format!(
            "renouvellement Pro Santé Connect impossible pour l’instant ({text})"
        ));
        PscError::Unreachable(text)
    }

    fn unreachable(&self, e: &dyn std::fmt::Display) -> PscError {
        let text = e.to_string();
        tracing::warn!(error = %text, "Pro Santé Connect unreachable");
        self.note_failure(format!("Pro Santé Connect injoignable ({text})"));
        PscError::Unreachable(text)
    }

    fn note_failure(&self, reason: String) {
        let changed = self
            .with(|i| {
                i.last_error = Some(reason);
                let usable = i
                    .tokens
                    .as_ref()
                    .is_some_and(|t| t.usable_for(Duration::ZERO));
                let before = i.state;
                if !usable && matches!(before, State::Connected | State::Connecting) {
                    i.state = State::Unreachable;
                    i.unreachable_since = Some(Instant::now());
                }
                before != i.state
            })
            .unwrap_or(false);
        if changed {
            self.notify();
        }
    }

    /// Logs in with the card in the reader (card mode). The caller holds
    /// `renewing`.
    async fn card_login(&self, generation: u64) -> Result<(), PscError> {
        let Some(card) = &self.card else {
            return Err(PscError::Usage(
                "the box logs in with the e-CPS app, not the card".into(),
            ));
        };
        if let Err(reason) = card.credential.availability() {
            self.set_state(State::Disconnected, None);
            return Err(PscError::Card(reason));
        }
        // "Connecting" only from a session that is not there: a retry
        // after a failure keeps saying why mail waits.
        let changed = self
            .with(|i| {
                let idle = i.tokens.is_none()
                    && matches!(i.state, State::Disconnected | State::ReconnectNeeded);
                if idle {
                    i.state = State::Connecting;
                }
                idle
            })
            .unwrap_or(false);
        if changed {
            self.notify();
        }
        let result = async {
            let metadata = self.provider.metadata().await?;
            let endpoint = metadata.authorization_endpoint.as_deref().ok_or_else(|| {
                ProviderError::Settings("the provider has no authorization endpoint".into())
            })?;
            let challenge = Challenge::new();
            let start = card_login::authorization_url(
                endpoint,
                self.provider.client_id(),
                &self.redirect_uri,
                &self.scope,
                &challenge,
            )?;
            // The card is shown to the provider's own servers only.
            let allowed: Vec<String> = [Some(self.issuer.as_str()), Some(endpoint)]
                .into_iter()
                .flatten()
                .filter_map(|u| url::Url::parse(u).ok()?.host_str().map(str::to_string))
                .collect();
            let code = card_login::authorize(
                &card.http,
                start,
                &self.redirect_uri,
                &challenge.state,
                &allowed,
            )
            .await?;
            let grant = self
                .provider
                .exchange_code(&code, &challenge.verifier, &self.redirect_uri)
                .await?;
            Ok::<_, CardLoginError>(grant)
        }
        .await;
        match result {
            Ok(grant) => {
                if !self.store(grant, "card login", Since::Login(generation)) {
                    return Err(PscError::Usage(
                        "the session changed during the login".into(),
                    ));
                }
                self.with(|i| {
                    i.national_id = card_national_id(&card.credential).or(i.national_id.take())
                });
                self.audit("psc.login", "carte CPS");
                Ok(())
            }
            Err(CardLoginError::Provider(e)) => Err(self.renewal_failed(&e)),
            Err(e) => {
                tracing::warn!(error = %e, "Pro Santé Connect card login refused");
                self.audit("psc.login_refused", &e.to_string());
                let reason = card_refusal_in_french(&e);
                self.with(|i| i.card_refusals = i.card_refusals.saturating_add(1));
                self.set_state(State::ReconnectNeeded, Some(reason.clone()));
                Err(PscError::Refused(reason))
            }
        }
    }

    /// Card mode: logs in now (the web admin's or the CLI's "connect").
    pub async fn login_with_card(self: &Arc<Self>) -> Result<(), PscError> {
        if self.current_token().is_some() && self.availability().is_ok() {
            return Ok(()); // connected already: nothing to take down
        }
        let session = self.clone();
        self.detached(async move {
            let _one = session.renewing.lock().await;
            let generation = session
                .with(|i| {
                    i.generation += 1;
                    i.logged_out = false;
                    i.card_refusals = 0;
                    i.generation
                })
                .unwrap_or(0);
            session.card_login(generation).await
        })
        .await
    }

    /// e-CPS mode: asks the practitioner's phone; the answer is awaited in
    /// the background. Returns what the practitioner will see.
    pub async fn start_ecps_login(
        self: &Arc<Self>,
        national_id: Option<String>,
    ) -> Result<Approval, PscError> {
        if self.method != LoginMethod::Ecps {
            return Err(PscError::Usage(
                "the box logs in with the CPS card, not the e-CPS app".into(),
            ));
        }
        let national_id = match national_id.filter(|n| !n.trim().is_empty()) {
            Some(n) => n.trim().to_string(),
            None => self
                .with(|i| i.national_id.clone())
                .flatten()
                .ok_or_else(|| {
                    PscError::Usage("the practitioner's national id (8 + RPPS) is needed".into())
                })?,
        };
        if !valid_national_id(&national_id) {
            return Err(PscError::Usage(
                "a national id is 8 followed by the RPPS number, digits only".into(),
            ));
        }
        let binding_message = binding_message();
        let request = match self
            .provider
            .backchannel(&self.scope, &national_id, &binding_message)
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_transient() => return Err(PscError::Unreachable(e.to_string())),
            Err(e) => {
                let text = match e.code() {
                    Some("unknown_user_id") => {
                        format!("Pro Santé Connect ne connaît pas l’identifiant {national_id}")
                    }
                    _ => format!("Pro Santé Connect a refusé la demande ({e})"),
                };
                self.with(|i| i.last_error = Some(text.clone()));
                return Err(PscError::Refused(text));
            }
        };
        let approval = Approval {
            national_id: national_id.clone(),
            binding_message,
            expires_at: now_unix() + request.expires_in as i64,
        };
        let generation = self
            .with(|i| {
                i.generation += 1;
                i.national_id = Some(national_id);
                i.approval = Some(approval.clone());
                i.last_error = None;
                if i.tokens.is_none() {
                    i.state = State::AwaitingApproval;
                }
                i.generation
            })
            .unwrap_or(0);
        self.notify();
        tracing::info!(expires_in = request.expires_in, "e-CPS login asked");
        let session = self.clone();
        tokio::spawn(async move { session.await_approval(request, generation).await });
        Ok(approval)
    }

    async fn await_approval(&self, request: super::provider::BackchannelRequest, generation: u64) {
        let deadline = Instant::now() + Duration::from_secs(request.expires_in);
        let mut interval = request.interval;
        loop {
            tokio::time::sleep(Duration::from_secs(interval)).await;
            if self.with(|i| i.generation) != Some(generation) {
                return; // another login or a logout replaced this one
            }
            let outcome = self.provider.poll_backchannel(&request.auth_req_id).await;
            if self.with(|i| i.generation) != Some(generation) {
                return;
            }
            let failure = match outcome {
                Ok(grant) => {
                    if self.store(grant, "e-CPS login", Since::Login(generation)) {
                        self.audit("psc.login", "application e-CPS");
                    }
                    return;
                }
                Err(e) if e.code() == Some("authorization_pending") => None,
                Err(e) if e.code() == Some("slow_down") => {
                    interval += SLOW_DOWN_STEP;
                    None
                }
                Err(e) if e.is_transient() || matches!(e, ProviderError::BadAnswer(_)) => {
                    tracing::warn!(error = %e, "Pro Santé Connect unreachable while waiting for the approval");
                    None
                }
                Err(e) => Some(match e.code() {
                    Some("access_denied") => "demande refusée dans l’application e-CPS".to_string(),
                    Some("expired_token") => "demande expirée sans réponse".to_string(),
                    _ => format!("Pro Santé Connect a refusé la connexion ({e})"),
                }),
            };
            let failure = failure.or_else(|| {
                (Instant::now() >= deadline + Duration::from_secs(interval))
                    .then(|| "demande expirée sans réponse".to_string())
            });
            if let Some(reason) = failure {
                tracing::warn!(reason = %reason, "e-CPS login did not succeed");
                self.audit("psc.login_refused", &reason);
                let had_tokens = self
                    .with(|i| {
                        if i.generation != generation {
                            return None; // replaced meanwhile: not ours to end
                        }
                        Some(i.tokens.is_some())
                    })
                    .flatten();
                match had_tokens {
                    None => {}
                    Some(true) => {
                        // The session still runs: only the new login failed.
                        self.with(|i| {
                            i.approval = None;
                            i.last_error = Some(reason);
                            if i.state == State::AwaitingApproval {
                                i.state = State::Connected;
                            }
                        });
                        self.notify();
                    }
                    Some(false) => self.set_state(State::ReconnectNeeded, Some(reason)),
                }
                return;
            }
        }
    }

    /// Ends the session: the tokens are forgotten at once, then the
    /// refresh token is revoked at the provider (when it offers
    /// revocation).
    pub async fn logout(self: &Arc<Self>) {
        let session = self.clone();
        let _ = self
            .detached(async move {
                let _one = session.renewing.lock().await;
                let refresh = session
                    .with(|i| {
                        i.generation += 1;
                        i.logged_out = true;
                        let refresh = i.tokens.take().and_then(|t| t.refresh);
                        i.epoch += 1;
                        refresh
                    })
                    .flatten();
                session.set_state(
                    State::ReconnectNeeded,
                    Some("déconnecté à la demande".into()),
                );
                session.audit("psc.logout", "");
                if let Some(r) = refresh
                    && let Err(e) = session.provider.revoke(&r).await
                {
                    tracing::warn!(error = %e, "the refresh token could not be revoked");
                }
                Ok(())
            })
            .await;
        self.wake.notify_one();
    }

    /// When the background loop acts next.
    fn next_step(&self) -> Option<Duration> {
        self.with(|i| match (&i.tokens, i.state) {
            (_, _) if self.method == LoginMethod::Card && self.card_ready().is_err() => None,
            (Some(t), _) => {
                let at = t.access_expires.checked_sub(t.margin(self.refresh_before));
                Some(at.map_or(Duration::ZERO, |at| {
                    at.saturating_duration_since(Instant::now())
                }))
            }
            (None, _) if self.method == LoginMethod::Ecps => None,
            (None, _) if i.logged_out || self.card_ready().is_err() => None,
            (None, State::ReconnectNeeded) => Some(
                CARD_RETRY
                    .saturating_mul(1 << i.card_refusals.saturating_sub(1).min(4))
                    .min(CARD_RETRY_MAX),
            ),
            (None, _) => Some(Duration::ZERO),
        })
        .flatten()
    }

    /// Card mode: a card event. A card that went ends the session (the box
    /// stops acting in the practitioner's name); one that came back, or
    /// another, may log in at once.
    fn card_event(&self) {
        if self.method != LoginMethod::Card {
            return;
        }
        match self.card_ready() {
            Err(reason) => {
                // Taking the card out ends a logout too: the next card
                // logs in by itself. A login under way is dropped.
                self.with(|i| {
                    i.logged_out = false;
                    i.card_refusals = 0;
                    i.generation += 1;
                });
                let had = self.with(|i| i.tokens.is_some()).unwrap_or(false);
                if had {
                    tracing::info!(reason = %reason, "card gone: Pro Santé Connect session closed");
                }
                self.set_state(State::Disconnected, None);
            }
            Ok(()) => {
                let refused = self
                    .with(|i| i.state == State::ReconnectNeeded && !i.logged_out)
                    .unwrap_or(false);
                if refused {
                    self.set_state(State::Disconnected, None);
                }
            }
        }
    }

    /// Keeps the session alive until `shutdown`: renews tokens before they
    /// end and, in card mode, logs in whenever the card is ready.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            let step = self.next_step();
            let wait = step.unwrap_or(Duration::from_secs(3600));
            if !wait.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.wake.notified() => continue,
                    _ = self.card_changed.notified() => { self.card_event(); continue; }
                    _ = tokio::time::sleep(wait) => {}
                }
                if step.is_none() {
                    continue;
                }
            }
            let result = {
                let _one = self.renewing.lock().await;
                // Someone else may have renewed while this loop waited.
                match self.next_step() {
                    Some(d) if d.is_zero() || d == wait => self.renew().await,
                    _ => Ok(()),
                }
            };
            match result {
                Ok(()) => failures = 0,
                Err(e) if e.is_transient() => {
                    failures += 1;
                    let delay = Duration::from_secs(1u64 << failures.min(6)).min(MAX_BACKOFF);
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = self.wake.notified() => {}
                        _ = self.card_changed.notified() => self.card_event(),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "Pro Santé Connect session waits for a new login");
                    failures = 0;
                }
            }
        }
    }
}

/// Why a card login failed, for the practice.
fn card_refusal_in_french(e: &CardLoginError) -> String {
    match e {
        CardLoginError::Refused { code, description } => format!(
            "connexion par carte refusée par Pro Santé Connect ({code}{})",
            description
                .as_deref()
                .map(|d| format!(" : {d}"))
                .unwrap_or_default()
        ),
        CardLoginError::NeedsBrowser { .. } => {
            "Pro Santé Connect demande une étape dans un navigateur : la connexion par carte depuis le boîtier n’est pas possible".into()
        }
        CardLoginError::Flow(text) => format!("connexion par carte interrompue ({text})"),
        CardLoginError::Provider(p) => format!("Pro Santé Connect a répondu par une erreur ({p})"),
    }
}

/// The national id on the card's certificate (its CN), for display.
fn card_national_id(card: &CardCredential) -> Option<String> {
    let identity = card.identity();
    identity
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("CN="))
        .find(|cn| valid_national_id(cn))
        .map(str::to_string)
}

/// `FACTEUR-` and four characters that cannot be misread.
fn binding_message() -> String {
    const ALPHABET: &[u8] = b"ACDEFGHJKLMNPQRTUVWXY34679";
    let mut rng = rand::rng();
    let code: String = (0..4)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("FACTEUR-{code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(lifetime: u64, left: u64) -> Tokens {
        Tokens {
            access: Zeroizing::new("t".into()),
            access_expires: Instant::now() + Duration::from_secs(left),
            access_expires_unix: 0,
            lifetime: Duration::from_secs(lifetime),
            refresh: None,
            refresh_expires_unix: None,
            connected_since: 0,
        }
    }

    #[test]
    fn short_tokens_are_renewed_within_their_last_third() {
        assert_eq!(
            tokens(300, 300).margin(Duration::from_secs(60)),
            Duration::from_secs(60)
        );
        assert_eq!(
            tokens(6, 6).margin(Duration::from_secs(60)),
            Duration::from_secs(2)
        );
        assert!(tokens(300, 20).usable_for(Duration::from_secs(10)));
        assert!(!tokens(300, 5).usable_for(Duration::from_secs(10)));
    }

    fn ecps_session() -> PscSession {
        let settings: PscSettings = toml::from_str(
            "login = \"ecps\"\nissuer = \"https://psc.example\"\nclient_id = \"f\"\nclient_secret_file = \"s\"",
        )
        .unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let provider = Provider::new(
            settings.issuer.clone(),
            settings.client_id.clone(),
            super::super::provider::ClientAuth::Secret(Zeroizing::new("x".into())),
            ProviderHttp::new(Arc::new(tls), Duration::from_secs(1)),
        );
        PscSession::new(
            &settings,
            provider,
            None,
            Vec::new(),
            Arc::new(Notify::new()),
            None,
        )
    }

    fn grant(token: &str) -> Grant {
        Grant {
            access_token: Zeroizing::new(token.into()),
            expires_in: 300,
            refresh_token: Some(Zeroizing::new(format!("r-{token}"))),
            refresh_expires_in: Some(3600),
        }
    }

    #[test]
    fn an_e_cps_box_waits_for_the_practitioner_then_follows_its_tokens() {
        let s = ecps_session();
        assert_eq!(s.availability().unwrap_err(), RECONNECT_NEEDED);
        assert!(s.store(grant("a"), "e-CPS login", Since::Login(0)));
        assert!(s.availability().is_ok());
        let status = s.status();
        assert_eq!(status.state, State::Connected);
        assert!(status.session_expires_at.unwrap() > now_unix() + 3000);
        assert_eq!(s.current_token().unwrap().as_str(), "a");
        // A refused token is not offered again.
        s.token_refused("invalid_token");
        assert!(s.current_token().is_none());
        assert_eq!(s.status().refused_tokens, 1);
        // Nothing of it shows in the status.
        assert!(!serde_json::to_string(&s.status()).unwrap().contains("r-a"));
    }

    #[test]
    fn tokens_from_a_session_that_changed_meanwhile_are_dropped() {
        let s = ecps_session();
        assert!(s.store(grant("a"), "e-CPS login", Since::Login(0)));
        let epoch = s.with(|i| i.epoch).unwrap();
        // A renewal of the current set applies.
        assert!(s.store(grant("b"), "renewal", Since::Renewal(epoch)));
        assert_eq!(s.status().renewals, 1);
        // A logout (or card out) in between: the renewal's answer is not
        // kept, the session stays closed.
        s.set_state(
            State::ReconnectNeeded,
            Some("déconnecté à la demande".into()),
        );
        assert!(!s.store(grant("c"), "renewal", Since::Renewal(epoch)));
        assert!(s.current_token().is_none());
        // A login started before another one is dropped too.
        s.with(|i| i.generation += 1);
        assert!(!s.store(grant("d"), "e-CPS login", Since::Login(0)));
        assert!(s.store(grant("e"), "e-CPS login", Since::Login(1)));
        assert_eq!(s.current_token().unwrap().as_str(), "e");
        // A refresh that gives no new refresh token keeps the current one.
        let epoch = s.with(|i| i.epoch).unwrap();
        let mut plain = grant("f");
        plain.refresh_token = None;
        assert!(s.store(plain, "renewal", Since::Renewal(epoch)));
        let kept = s
            .with(|i| i.tokens.as_ref().and_then(|t| t.refresh.clone()))
            .flatten();
        assert_eq!(kept.as_deref().map(|r| r.as_str()), Some("r-e"));
    }

    #[test]
    fn an_unreachable_provider_is_dated_once_and_forgotten_with_new_tokens() {
        let s = ecps_session();
        let mut g = grant("a");
        g.expires_in = 2;
        assert!(s.store(g, "e-CPS login", Since::Login(0)));
        s.token_refused("invalid_token"); // the token is over
        assert_eq!(s.unreachable_since(), None);
        s.note_failure("Pro Santé Connect injoignable (test)".into());
        let since = s.unreachable_since().unwrap();
        assert_eq!(s.status().state, State::Unreachable);
        assert!(s.availability().is_err());
        s.note_failure("Pro Santé Connect injoignable (test)".into());
        assert_eq!(s.unreachable_since(), Some(since));
        let epoch = s.with(|i| i.epoch).unwrap();
        assert!(s.store(grant("b"), "renewal", Since::Renewal(epoch)));
        assert_eq!(s.unreachable_since(), None);
        assert!(s.availability().is_ok());
    }

    #[test]
    fn the_renewal_is_planned_before_the_end_and_nothing_without_tokens() {
        let s = ecps_session();
        assert_eq!(s.next_step(), None);
        assert!(s.store(grant("a"), "e-CPS login", Since::Login(0)));
        let step = s.next_step().unwrap();
        assert!(
            step <= Duration::from_secs(240) && step > Duration::from_secs(230),
            "{step:?}"
        );
    }

    #[test]
    fn binding_messages_are_short_and_unambiguous() {
        let m = binding_message();
        assert_eq!(m.len(), 12);
        assert!(m.starts_with("FACTEUR-"));
        assert!(!m[8..].contains(['0', 'O', '1', 'I', 'B', '8', 'S', '5']));
    }
}
