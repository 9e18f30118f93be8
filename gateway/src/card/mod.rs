//! The CPS card: the practitioner's identity upstream.
//!
//! [`service`] owns the PC/SC connection on its own thread (PC/SC calls
//! block) and publishes a [`CardStatus`]; the rest of the daemon asks it to
//! unlock the card or to sign a TLS handshake. [`cps`] is the card's
//! command set, [`pinpad`] the PIN-pad readers, [`holder`] the certificate.

pub mod apdu;
pub mod cps;
pub mod holder;
mod identity;
pub mod pinpad;
pub mod pkcs15;
mod service;
mod tlv;

use serde::Serialize;

pub use apdu::CardError;
pub use cps::{Padding, Pin, PinTries, Profile};
pub use holder::Holder;
pub use service::{CardService, CardSettings, UnlockError};

/// What the box can do with the card right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CardState {
    /// pcscd cannot be reached (stopped, restarting).
    PcscUnavailable,
    NoReader,
    NoCard,
    /// A card that is not a CPS (bank card, other health card…).
    NotCps,
    /// A CPS card that answers wrongly or could not be read.
    CardError,
    /// Inserted, PIN not yet given.
    Locked,
    /// Three wrong PINs: only a registration desk can unblock it.
    Blocked,
    Unlocked,
}

/// Whether the card in the reader is the one the box sends as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityCheck {
    /// No card to compare.
    Unknown,
    /// The card the box was set up with (or the first card ever unlocked).
    Accepted,
    /// Another holder's card: nothing is sent until an administrator
    /// accepts it.
    Different,
}

/// Everything the status page and the CLI show about the card.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CardStatus {
    pub state: CardState,
    /// One sentence for people, in French.
    pub message: String,
    pub readers: Vec<String>,
    pub reader: Option<String>,
    pub profile: Option<Profile>,
    pub serial: Option<String>,
    pub holder: Option<Holder>,
    pub pin: Option<PinTries>,
    /// The reader has a PIN pad (the PIN is typed on the reader).
    pub pinpad: bool,
    pub identity: IdentityCheck,
    /// Subject of the accepted identity, when it differs from the card's.
    pub accepted_subject: Option<String>,
    pub expires_in_days: Option<i64>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    /// Signatures made on the card since the daemon started.
    pub signatures: u64,
}

impl CardStatus {
    pub(crate) fn initial() -> CardStatus {
        CardStatus {
            state: CardState::PcscUnavailable,
            message: String::new(),
            readers: Vec::new(),
            reader: None,
            profile: None,
            serial: None,
            holder: None,
            pin: None,
            pinpad: false,
            identity: IdentityCheck::Unknown,
            accepted_subject: None,
            expires_in_days: None,
            warnings: Vec::new(),
            error: None,
            signatures: 0,
        }
    }

    /// Whether handshakes can be signed now; otherwise why not.
    pub fn ready(&self) -> Result<(), String> {
        if self.state != CardState::Unlocked {
            return Err(self.message.clone());
        }
        if self.identity == IdentityCheck::Different {
            return Err(self.message.clone());
        }
        Ok(())
    }

    /// Fills `message` from the state (the text the practice reads).
    pub(crate) fn describe(&mut self) {
        let holder = self
            .holder
            .as_ref()
            .map(|h| h.name.clone())
            .unwrap_or_default();
        self.message = match self.state {
            CardState::PcscUnavailable => {
                "Le service des lecteurs de carte (pcscd) ne répond pas.".into()
            }
            CardState::NoReader => "Aucun lecteur de carte n'est branché.".into(),
            CardState::NoCard => "Aucune carte dans le lecteur.".into(),
            CardState::NotCps => "La carte insérée n'est pas une carte CPS.".into(),
            CardState::CardError => format!(
                "La carte ne peut pas être lue : {}",
                self.error.as_deref().unwrap_or("erreur inconnue")
            ),
            CardState::Locked => match self.pin {
                Some(p) => format!(
                    "Carte de {holder} verrouillée : saisissez le code ({} essai(s) restant(s)).",
                    p.left
                ),
                None => format!("Carte de {holder} verrouillée : saisissez le code."),
            },
            CardState::Blocked => format!(
                "Carte de {holder} bloquée après trois codes faux : elle doit être débloquée avec son code PUK."
            ),
            CardState::Unlocked if self.identity == IdentityCheck::Different => format!(
                "Carte de {holder} : ce n'est pas la carte avec laquelle le boîtier envoie ; un administrateur doit l'accepter."
            ),
            CardState::Unlocked => format!("Carte de {holder} déverrouillée."),
        };
    }
}
