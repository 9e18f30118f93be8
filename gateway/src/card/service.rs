//! The card service: one thread owns the PC/SC context, watches readers
//! and cards (SCardGetStatusChange), and runs every card command, so the
//! async side never blocks on a reader.
//!
//! Requests (unlock, sign, accept identity) arrive on a channel; the
//! thread wakes from its status wait with SCardCancel to serve them. The
//! state is published on a `watch` channel and every change pokes the
//! delivery scheduler.

use std::ffi::{CStr, CString};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pcsc::{Context, Protocols, ReaderState, Scope, ShareMode, State};
use tokio::sync::{Notify, watch};

use super::apdu::CardError;
use super::cps::{CpsCard, Padding, Pin, Profile, Transport, verify_result};
use super::holder::{self, Holder};
use super::identity::{AcceptedIdentity, IdentityStore};
use super::pinpad;
use super::{CardState, CardStatus, IdentityCheck};

/// Settings of the card service.
#[derive(Debug, Clone)]
pub struct CardSettings {
    /// Use only readers whose name contains this text.
    pub reader: Option<String>,
    /// Where the accepted identity is remembered.
    pub identity_file: PathBuf,
    /// Certificates expiring within this many days are warned about.
    pub expiry_warning_days: i64,
}

/// Why an unlock did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnlockError {
    #[error("{0}")]
    Card(#[from] CardError),
    #[error("no CPS card ready in the reader: {0}")]
    NoCard(String),
    #[error("only one PIN try is left: a wrong PIN would block the card; confirm to try anyway")]
    LastTryNeedsConfirmation,
    #[error("the reader has no PIN pad: give the PIN")]
    NoPinPad,
    #[error("the card service is not running")]
    Stopped,
}

enum Request {
    Unlock {
        pin: Option<Pin>,
        confirm_last_try: bool,
        reply: SyncSender<Result<(), UnlockError>>,
    },
    Sign {
        padding: Padding,
        message: Vec<u8>,
        reply: SyncSender<Result<Vec<u8>, CardError>>,
    },
    AcceptIdentity {
        reply: SyncSender<Result<(), String>>,
    },
    /// Answered as soon as the worker takes it: proves the thread runs.
    Ping { reply: SyncSender<()> },
}

/// What the credential needs to present the card: its certificate and
/// what it can sign. Replaced when a card is read.
#[derive(Debug, Clone)]
pub struct CardKey {
    pub certificate: Vec<u8>,
    pub profile: Profile,
}

struct Shared {
    requests: Mutex<Sender<Request>>,
    /// The context the thread is waiting in, to cancel the wait.
    waiting_in: Mutex<Option<Context>>,
    status: watch::Receiver<CardStatus>,
    key: Mutex<Option<CardKey>>,
    signatures: AtomicU64,
    /// Since when the worker has been serving one request (a PIN typed on
    /// the reader's pad takes up to `UNLOCK_TIMEOUT`): busy, not hung.
    serving_since: Mutex<Option<Instant>>,
}

/// Handle to the card service; cheap to clone.
#[derive(Clone)]
pub struct CardService {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CardService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardService")
            .field("state", &self.status().state)
            .finish()
    }
}

/// Longest a signature may take (a real card needs well under a second).
const SIGN_TIMEOUT: Duration = Duration::from_secs(30);
/// PIN-pad entry includes a person typing.
const UNLOCK_TIMEOUT: Duration = Duration::from_secs(90);
/// How often pcscd is looked for again when it is not there.
const RECONNECT: Duration = Duration::from_secs(1);
/// Backstop for the status wait, should a cancel arrive just before it.
const WAIT_SLICE: Duration = Duration::from_secs(2);

impl CardService {
    /// Starts the service thread. Each of `changed` is notified on every
    /// state change.
    pub fn start(
        settings: CardSettings,
        changed: Vec<Arc<Notify>>,
    ) -> std::io::Result<CardService> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (status_tx, status_rx) = watch::channel(CardStatus::initial());
        let shared = Arc::new(Shared {
            requests: Mutex::new(tx),
            waiting_in: Mutex::new(None),
            status: status_rx,
            key: Mutex::new(None),
            signatures: AtomicU64::new(0),
            serving_since: Mutex::new(None),
        });
        let worker = Worker {
            identity: IdentityStore::new(settings.identity_file.clone()),
            settings,
            requests: rx,
            shared: shared.clone(),
            status_tx,
            changed,
            context: None,
            card: None,
            readers: Vec::new(),
            pnp: ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE),
            failed_card: None,
            card_present: false,
            status: CardStatus::initial(),
        };
        std::thread::Builder::new()
            .name("card".into())
            .spawn(move || worker.run())?;
        Ok(CardService { shared })
    }

    /// The current state.
    pub fn status(&self) -> CardStatus {
        let mut s = self.shared.status.borrow().clone();
        s.signatures = self.signatures();
        s
    }

    /// A receiver that sees every state change.
    pub fn subscribe(&self) -> watch::Receiver<CardStatus> {
        self.shared.status.clone()
    }

    pub fn signatures(&self) -> u64 {
        self.shared.signatures.load(Ordering::Relaxed)
    }

    /// Certificate and profile of the card in the reader, if read.
    pub fn key(&self) -> Option<CardKey> {
        self.shared.key.lock().ok()?.clone()
    }

    fn send(&self, request: Request) -> bool {
        let sent = self
            .shared
            .requests
            .lock()
            .map(|tx| tx.send(request).is_ok())
            .unwrap_or(false);
        if let Ok(ctx) = self.shared.waiting_in.lock()
            && let Some(ctx) = ctx.as_ref()
        {
            let _ = ctx.cancel();
        }
        sent
    }

    /// Presents the PIN once (or lets the holder type it on the reader's
    /// PIN pad when `pin` is `None`). Blocking: call off the async threads.
    pub fn unlock_blocking(
        &self,
        pin: Option<Pin>,
        confirm_last_try: bool,
    ) -> Result<(), UnlockError> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if !self.send(Request::Unlock {
            pin,
            confirm_last_try,
            reply,
        }) {
            return Err(UnlockError::Stopped);
        }
        answer
            .recv_timeout(UNLOCK_TIMEOUT)
            .unwrap_or(Err(UnlockError::Stopped))
    }

    /// Signs `message` on the card. Blocking.
    pub fn sign_blocking(&self, padding: Padding, message: &[u8]) -> Result<Vec<u8>, CardError> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if !self.send(Request::Sign {
            padding,
            message: message.to_vec(),
            reply,
        }) {
            return Err(CardError::Reader("the card service is not running".into()));
        }
        answer
            .recv_timeout(SIGN_TIMEOUT)
            .unwrap_or_else(|_| Err(CardError::Reader("the card did not answer in time".into())))
    }

    /// Whether the service thread answers within `timeout` (the health
    /// loop's probe). Blocking.
    pub fn ping_blocking(&self, timeout: Duration) -> bool {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if !self.send(Request::Ping { reply }) {
            return false;
        }
        if answer.recv_timeout(timeout).is_ok() {
            return true;
        }
        // Still inside a request that has its own time limit: busy.
        let serving = self.shared.serving_since.lock().ok().and_then(|s| *s);
        serving.is_some_and(|since| since.elapsed() < UNLOCK_TIMEOUT + SIGN_TIMEOUT)
    }

    /// Accepts the card in the reader as the box's identity. Blocking.
    pub fn accept_identity_blocking(&self) -> Result<(), String> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if !self.send(Request::AcceptIdentity { reply }) {
            return Err("the card service is not running".into());
        }
        answer
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| Err("the card service did not answer".into()))
    }
}

/// A card connection through PC/SC.
struct PcscTransport {
    card: pcsc::Card,
}

impl Transport for PcscTransport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError> {
        let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        let answer = self.card.transmit(command, &mut buf).map_err(pcsc_error)?;
        // No card answers nothing; vsmartcard's reader reports a card that
        // went away mid-command this way.
        if answer.is_empty() {
            return Err(CardError::Removed);
        }
        Ok(answer.to_vec())
    }
}

fn pcsc_error(e: pcsc::Error) -> CardError {
    match e {
        pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard => CardError::Removed,
        e => CardError::Reader(e.to_string()),
    }
}

/// The card the thread is connected to.
struct Connected {
    reader: CString,
    /// The reader's insertion counter when we connected.
    events: u32,
    card: CpsCard<PcscTransport>,
    holder: Holder,
    serial: String,
    unlocked: bool,
    blocked: bool,
    tries: Option<super::PinTries>,
    pinpad: Option<u64>,
}

/// A watched reader: pcscd's last answer about it, event counter included.
struct Reader {
    state: ReaderState,
}

impl Reader {
    fn name(&self) -> &CStr {
        self.state.name()
    }
}

struct Worker {
    settings: CardSettings,
    identity: IdentityStore,
    requests: Receiver<Request>,
    shared: Arc<Shared>,
    status_tx: watch::Sender<CardStatus>,
    changed: Vec<Arc<Notify>>,
    context: Option<Context>,
    card: Option<Connected>,
    /// Readers seen, with the state last reported by pcscd.
    readers: Vec<Reader>,
    /// The reader-list pseudo reader.
    pnp: ReaderState,
    /// The card last found unreadable (reader, insertion counter).
    failed_card: Option<(CString, u32)>,
    /// A card (of any kind) is in a watched reader.
    card_present: bool,
    status: CardStatus,
}

impl Worker {
    fn run(mut self) {
        tracing::info!("card service started");
        self.publish();
        loop {
            if self.serve_pending().is_err() {
                break;
            }
            if self.context.is_none() && !self.establish() {
                // No pcscd: serve requests (they get "not ready") while
                // waiting to look again.
                match self.requests.recv_timeout(RECONNECT) {
                    Ok(r) => self.serve(r),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                continue;
            }
            self.watch_once();
        }
        tracing::info!("card service stopped");
    }

    fn serve_pending(&mut self) -> Result<(), ()> {
        loop {
            match self.requests.try_recv() {
                Ok(r) => self.serve(r),
                Err(std::sync::mpsc::TryRecvError::Empty) => return Ok(()),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(()),
            }
        }
    }

    fn establish(&mut self) -> bool {
        match Context::establish(Scope::User) {
            Ok(ctx) => {
                tracing::info!("connected to pcscd");
                if let Ok(mut w) = self.shared.waiting_in.lock() {
                    *w = Some(ctx.clone());
                }
                self.context = Some(ctx);
                self.readers.clear();
                self.publish();
                true
            }
            Err(e) => {
                if self.status.state != CardState::PcscUnavailable {
                    tracing::warn!(error = %e, "pcscd unreachable");
                }
                self.lose_context();
                false
            }
        }
    }

    fn lose_context(&mut self) {
        self.card = None;
        self.card_present = false;
        self.context = None;
        self.readers.clear();
        self.pnp = ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE);
        self.failed_card = None;
        if let Ok(mut w) = self.shared.waiting_in.lock() {
            *w = None;
        }
        self.set_key(None);
        self.status.readers.clear();
        self.status.reader = None;
        self.publish();
    }

    /// One round: list readers, wait for a change (or a request), react.
    fn watch_once(&mut self) {
        let Some(ctx) = self.context.clone() else {
            return;
        };
        let names = match ctx.list_readers_owned() {
            Ok(names) => names,
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(e) => return self.context_failed(e),
        };
        let names: Vec<CString> = names
            .into_iter()
            .filter(|n| {
                self.settings
                    .reader
                    .as_deref()
                    .is_none_or(|want| n.to_string_lossy().contains(want))
            })
            .collect();
        if names.len() != self.readers.len()
            || names
                .iter()
                .zip(&self.readers)
                .any(|(a, b)| a.as_c_str() != b.name())
        {
            self.readers_changed(names);
        }

        // Wait for a change of any reader, of the reader list (PnP), or
        // for a request (SCardCancel). The states are kept from round to
        // round, event counters included, so pcscd answers only changes.
        let mut states: Vec<ReaderState> = Vec::with_capacity(self.readers.len() + 1);
        states.push(std::mem::replace(
            &mut self.pnp,
            ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE),
        ));
        states.extend(self.readers.drain(..).map(|r| r.state));
        let result = ctx.get_status_change(WAIT_SLICE, &mut states);
        if result.is_ok() {
            for s in states.iter_mut() {
                s.sync_current_state();
            }
        }
        let mut states = states.into_iter();
        if let Some(pnp) = states.next() {
            self.pnp = pnp;
        }
        self.readers = states.map(|state| Reader { state }).collect();
        match result {
            Ok(()) | Err(pcsc::Error::Timeout) | Err(pcsc::Error::Cancelled) => {}
            // A reader went away during the wait: the next listing shows it.
            Err(pcsc::Error::UnknownReader) | Err(pcsc::Error::ReaderUnavailable) => {}
            Err(e) => return self.context_failed(e),
        }
        self.follow_card(&ctx);
    }

    fn readers_changed(&mut self, names: Vec<CString>) {
        self.status.readers = names
            .iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        tracing::info!(readers = ?self.status.readers, "card readers");
        if let Some(c) = &self.card
            && !names.contains(&c.reader)
        {
            tracing::warn!("the card's reader was unplugged");
            self.card = None;
            self.set_key(None);
        }
        let mut known = std::mem::take(&mut self.readers);
        self.readers = names
            .into_iter()
            .map(
                |name| match known.iter().position(|k| k.name() == name.as_c_str()) {
                    Some(i) => known.swap_remove(i),
                    None => Reader {
                        state: ReaderState::new(name, State::UNAWARE),
                    },
                },
            )
            .collect();
        self.publish();
    }

    fn context_failed(&mut self, e: pcsc::Error) {
        tracing::warn!(error = %e, "lost pcscd; reconnecting");
        self.lose_context();
    }

    /// Connects to a newly present card, forgets a removed one.
    fn follow_card(&mut self, ctx: &Context) {
        let present: Vec<(CString, u32)> = self
            .readers
            .iter()
            .filter(|r| {
                let s = r.state.current_state();
                s.contains(State::PRESENT) && !s.contains(State::MUTE)
            })
            .map(|r| (r.name().to_owned(), r.state.event_count()))
            .collect();
        let mut changed = false;
        if let Some(c) = &self.card {
            match present.iter().find(|(name, _)| *name == c.reader) {
                None => {
                    tracing::info!("card removed");
                    self.card = None;
                    self.set_key(None);
                    changed = true;
                }
                // Removed and inserted again between two looks.
                Some((_, events)) if *events != c.events => {
                    tracing::info!("card replaced");
                    self.card = None;
                    self.set_key(None);
                    changed = true;
                }
                Some(_) => {}
            }
        }
        let candidate = present.first().cloned();
        let now_present = candidate.is_some();
        if !now_present {
            self.status.error = None;
        }
        // A card that could not be read is tried again only when it is
        // reinserted, not in a loop.
        if self.card.is_none()
            && let Some((reader, events)) = candidate
            && self.failed_card != Some((reader.clone(), events))
        {
            changed = true;
            self.connect(ctx, &reader, events);
        }
        if self.card_present != now_present {
            self.card_present = now_present;
            changed = true;
        }
        if changed {
            self.publish();
        }
    }

    fn connect(&mut self, ctx: &Context, reader: &CStr, events: u32) {
        self.status.reader = Some(reader.to_string_lossy().into_owned());
        self.status.error = None;
        self.failed_card = Some((reader.to_owned(), events));
        let card = match ctx.connect(reader, ShareMode::Exclusive, Protocols::ANY) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot connect to the card");
                self.status.error = Some(e.to_string());
                return;
            }
        };
        // SCardStatus, not SCardGetAttrib: not every reader driver answers
        // the ATR attribute.
        let atr = card
            .status2_owned()
            .map(|s| s.atr().to_vec())
            .unwrap_or_default();
        let pinpad = {
            let mut buf = [0u8; 256];
            card.control(pinpad::GET_FEATURE_REQUEST, &[], &mut buf)
                .ok()
                .and_then(pinpad::verify_pin_direct)
        };
        let opened = CpsCard::open(PcscTransport { card }, &atr).and_then(|(mut cps, serial)| {
            cps.load_layout()?;
            let certificate = cps.read_auth_certificate()?;
            let holder = holder::parse(&certificate).map_err(|detail| CardError::Malformed {
                what: "authentication certificate",
                detail,
            })?;
            cps.set_key_bytes(holder.key_bytes);
            let tries = cps.pin_tries()?;
            Ok((cps, serial, certificate, holder, tries))
        });
        match opened {
            Ok((cps, serial, certificate, holder, tries)) => {
                tracing::info!(
                    profile = ?cps.profile(),
                    serial = %serial,
                    holder = %holder.name,
                    tries_left = tries.left,
                    pinpad = pinpad.is_some(),
                    "CPS card inserted"
                );
                self.set_key(Some(CardKey {
                    certificate: certificate.clone(),
                    profile: cps.profile(),
                }));
                self.failed_card = None;
                self.card = Some(Connected {
                    reader: reader.to_owned(),
                    events,
                    card: cps,
                    holder,
                    serial,
                    unlocked: false,
                    blocked: tries.left == 0,
                    tries: Some(tries),
                    pinpad,
                });
            }
            Err(CardError::NotCps) => {
                tracing::info!("the inserted card is not a CPS card");
                self.status.error = Some(CardError::NotCps.to_string());
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the card");
                self.status.error = Some(e.to_string());
            }
        }
    }

    fn set_key(&self, key: Option<CardKey>) {
        if let Ok(mut k) = self.shared.key.lock() {
            *k = key;
        }
    }

    fn clear_card_fields(&mut self) {
        self.status.profile = None;
        self.status.serial = None;
        self.status.holder = None;
        self.status.pin = None;
        self.status.pinpad = false;
        self.status.identity = IdentityCheck::Unknown;
        self.status.accepted_subject = None;
        self.status.expires_in_days = None;
        self.status.warnings.clear();
    }

    /// Recomputes the published status from what the thread knows.
    fn refresh_status(&mut self) {
        self.clear_card_fields();
        self.status.state = if self.context.is_none() {
            CardState::PcscUnavailable
        } else if self.status.readers.is_empty() {
            self.status.reader = None;
            CardState::NoReader
        } else if !self.card_present {
            self.status.reader = None;
            self.status.error = None;
            CardState::NoCard
        } else if let Some(c) = &self.card {
            self.status.profile = Some(c.card.profile());
            self.status.serial = Some(c.serial.clone());
            self.status.holder = Some(c.holder.clone());
            self.status.pin = c.tries;
            self.status.pinpad = c.pinpad.is_some();
            let accepted = self.identity.load();
            self.status.identity = match &accepted {
                None => IdentityCheck::Unknown,
                Some(a) if a.fingerprint == c.holder.fingerprint => IdentityCheck::Accepted,
                Some(_) => IdentityCheck::Different,
            };
            if self.status.identity == IdentityCheck::Different {
                self.status.accepted_subject = accepted.map(|a| a.subject);
            }
            let days = (c.holder.not_after - crate::queue::now_unix()).div_euclid(86400);
            self.status.expires_in_days = Some(days);
            if days < 0 {
                self.status
                    .warnings
                    .push("Le certificat de la carte a expiré.".into());
            } else if days < self.settings.expiry_warning_days {
                self.status.warnings.push(format!(
                    "Le certificat de la carte expire dans {days} jour(s)."
                ));
            }
            if c.blocked {
                CardState::Blocked
            } else if c.unlocked {
                CardState::Unlocked
            } else {
                CardState::Locked
            }
        } else if self.status.error.as_deref() == Some(&CardError::NotCps.to_string()) {
            CardState::NotCps
        } else {
            CardState::CardError
        };
        self.status.describe();
    }

    fn publish(&mut self) {
        self.refresh_status();
        // Signatures are counted apart: a signature is no state change.
        self.status.signatures = 0;
        let new = self.status.clone();
        let modified = self.status_tx.send_if_modified(|current| {
            if *current == new {
                false
            } else {
                *current = new;
                true
            }
        });
        if modified {
            for waiter in &self.changed {
                waiter.notify_one();
            }
        }
    }

    fn serve(&mut self, request: Request) {
        if let Ok(mut s) = self.shared.serving_since.lock() {
            *s = Some(Instant::now());
        }
        self.serve_one(request);
        if let Ok(mut s) = self.shared.serving_since.lock() {
            *s = None;
        }
    }

    fn serve_one(&mut self, request: Request) {
        match request {
            Request::Unlock {
                pin,
                confirm_last_try,
                reply,
            } => {
                let result = self.unlock(pin, confirm_last_try);
                self.publish();
                let _ = reply.send(result);
            }
            Request::Sign {
                padding,
                message,
                reply,
            } => {
                let result = self.sign(padding, &message);
                let _ = reply.send(result);
            }
            Request::AcceptIdentity { reply } => {
                let result = self.accept_identity();
                self.publish();
                let _ = reply.send(result);
            }
            Request::Ping { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn unlock(&mut self, pin: Option<Pin>, confirm_last_try: bool) -> Result<(), UnlockError> {
        let message = self.status.message.clone();
        let Some(c) = self.card.as_mut() else {
            return Err(UnlockError::NoCard(message));
        };
        if c.blocked {
            // No APDU: a blocked card is never asked to verify.
            return Err(CardError::Blocked.into());
        }
        if c.unlocked {
            return Ok(());
        }
        let tries = match c.card.pin_tries() {
            Ok(t) => t,
            Err(e) => return Err(self.card_failed(e).into()),
        };
        c.tries = Some(tries);
        if tries.left == 0 {
            c.blocked = true;
            return Err(CardError::Blocked.into());
        }
        if tries.left == 1 && !confirm_last_try {
            return Err(UnlockError::LastTryNeedsConfirmation);
        }
        let result = match pin {
            Some(pin) => c.card.verify_pin(&pin),
            None => match c.pinpad {
                Some(code) => verify_on_pinpad(c, code),
                None => return Err(UnlockError::NoPinPad),
            },
        };
        match result {
            Ok(()) => {
                tracing::info!(holder = %c.holder.name, "card unlocked");
                c.unlocked = true;
                c.tries = Some(super::PinTries {
                    left: tries.max,
                    max: tries.max,
                });
                if self.identity.load().is_none() {
                    let accepted = AcceptedIdentity {
                        fingerprint: c.holder.fingerprint.clone(),
                        subject: c.holder.subject.clone(),
                    };
                    if let Err(e) = self.identity.save(&accepted) {
                        tracing::error!(error = %e, "cannot record the card identity");
                    } else {
                        tracing::info!(subject = %accepted.subject, "card identity accepted for sending");
                    }
                }
                Ok(())
            }
            Err(CardError::WrongPin { tries_left }) => {
                tracing::warn!(tries_left, "wrong PIN");
                c.tries = Some(super::PinTries {
                    left: tries_left,
                    max: tries.max,
                });
                c.blocked = tries_left == 0;
                Err(CardError::WrongPin { tries_left }.into())
            }
            Err(CardError::Blocked) => {
                tracing::warn!("the card is blocked");
                c.blocked = true;
                c.tries = Some(super::PinTries {
                    left: 0,
                    max: tries.max,
                });
                Err(CardError::Blocked.into())
            }
            Err(e) => Err(self.card_failed(e).into()),
        }
    }

    fn sign(&mut self, padding: Padding, message: &[u8]) -> Result<Vec<u8>, CardError> {
        if let Err(reason) = self.status.ready() {
            return Err(CardError::Reader(reason));
        }
        let Some(c) = self.card.as_mut() else {
            return Err(CardError::Removed);
        };
        let started = std::time::Instant::now();
        match c.card.sign(padding, message) {
            Ok(sig) => {
                let n = self.shared.signatures.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    signatures = n,
                    "signed on the card"
                );
                Ok(sig)
            }
            Err(CardError::NotUnlocked) => {
                // The card lost its PIN state (reset by someone else).
                tracing::warn!("the card is no longer unlocked");
                c.unlocked = false;
                self.publish();
                Err(CardError::NotUnlocked)
            }
            Err(e) => Err(self.card_failed(e)),
        }
    }

    fn accept_identity(&mut self) -> Result<(), String> {
        let Some(c) = self.card.as_ref() else {
            return Err("no card in the reader".into());
        };
        if !c.unlocked {
            return Err(
                "unlock the card first: only its holder may make it the box's identity".into(),
            );
        }
        let accepted = AcceptedIdentity {
            fingerprint: c.holder.fingerprint.clone(),
            subject: c.holder.subject.clone(),
        };
        self.identity
            .save(&accepted)
            .map_err(|e| format!("cannot record the identity: {e}"))?;
        tracing::info!(subject = %accepted.subject, "card identity accepted for sending");
        Ok(())
    }

    /// A command failed on the card: a removed or reset card is dropped
    /// (the next status round reconnects), other errors are reported.
    fn card_failed(&mut self, e: CardError) -> CardError {
        tracing::warn!(error = %e, "card command failed");
        if matches!(e, CardError::Removed | CardError::Reader(_)) {
            self.card = None;
            self.set_key(None);
            self.status.error = Some(e.to_string());
            // Forget the readers' state so the next round reconnects.
            self.readers.clear();
            self.publish();
        }
        e
    }
}

/// Lets the holder type the PIN on the reader (PC/SC part 10).
fn verify_on_pinpad(c: &mut Connected, code: u64) -> Result<(), CardError> {
    let (command, block_len) = c.card.pinpad_template()?;
    let template = command.bytes().to_vec();
    let structure = pinpad::verify_structure(&template, block_len);
    let mut buf = [0u8; 64];
    tracing::info!("waiting for the PIN on the reader's keypad");
    let answer = c
        .card
        .transport()
        .card
        .control(code, &structure, &mut buf)
        .map_err(pcsc_error)?;
    let sw = pinpad::status_word(answer).ok_or(CardError::Truncated { len: answer.len() })?;
    verify_result(sw)
}
