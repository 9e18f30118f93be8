//! The reader slot: the card, whether it is inserted, and the link to
//! vpcd that carries it. Shared by the vpcd connection and the control
//! socket.

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::card::Card;

pub struct Slot {
    state: Mutex<SlotState>,
    sign_delay_ms: AtomicU64,
    pub verbose: bool,
}

pub struct SlotState {
    pub card: Card,
    inserted: bool,
    /// A handle on the vpcd connection, to cut it when the card is pulled.
    link: Option<TcpStream>,
}

impl Slot {
    pub fn new(card: Card, sign_delay_ms: u64, verbose: bool) -> Slot {
        Slot {
            state: Mutex::new(SlotState {
                card,
                inserted: true,
                link: None,
            }),
            sign_delay_ms: AtomicU64::new(sign_delay_ms),
            verbose,
        }
    }

    /// The state. A panic elsewhere while it was held leaves nothing half
    /// changed that matters to a test card, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_inserted(&self) -> bool {
        self.lock().inserted
    }

    pub fn sign_delay_ms(&self) -> u64 {
        self.sign_delay_ms.load(Ordering::Relaxed)
    }

    pub fn set_sign_delay_ms(&self, ms: u64) {
        self.sign_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Records a fresh vpcd connection, unless the card was pulled in the
    /// meantime (then the caller drops it). The card starts powered off.
    pub fn attach(&self, stream: &TcpStream) -> bool {
        let mut state = self.lock();
        if !state.inserted {
            return false;
        }
        state.link = stream.try_clone().ok();
        state.card.power_cycle();
        true
    }

    /// The connection ended: whatever the card held in RAM is gone.
    pub fn detach(&self) {
        let mut state = self.lock();
        state.link = None;
        state.card.power_cycle();
    }

    pub fn insert(&self) {
        self.lock().inserted = true;
    }

    /// Pulls the card: vpcd sees the connection close and reports the
    /// card absent; the vpcd thread stays away until [`Slot::insert`].
    pub fn remove(&self) {
        let mut state = self.lock();
        state.inserted = false;
        if let Some(link) = state.link.take() {
            // The vpcd thread notices on its next read or write.
            let _ = link.shutdown(Shutdown::Both);
        }
        state.card.power_cycle();
    }

    /// One line of JSON for the control socket's `status`.
    pub fn status_json(&self) -> String {
        let state = self.lock();
        let card = &state.card;
        let counters = card.counters();
        format!(
            concat!(
                "{{\"inserted\":{},\"verified\":{},\"tries_left\":{},\"blocked\":{},",
                "\"signatures\":{},\"apdus\":{},\"verify_attempts\":{},",
                "\"connected\":{},\"profile\":\"{}\",\"serial\":\"{}\"}}"
            ),
            state.inserted,
            card.verified(),
            card.tries_left(),
            card.tries_left() == 0,
            counters.signatures,
            counters.apdus,
            counters.verify_attempts,
            state.link.is_some(),
            card.profile().name(),
            card.serial_hex(),
        )
    }
}
