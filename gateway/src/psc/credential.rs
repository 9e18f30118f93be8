//! Pro Santé Connect as the box's credential: the operator's TLS carries
//! no client certificate ("TLS then XOAUTH2"); the login is the session's
//! access token.

use std::sync::Arc;

use rustls::sign::CertifiedKey;

use super::session::PscSession;
use crate::credential::{CardCredential, Credential};

#[derive(Debug)]
pub struct PscCredential {
    session: Arc<PscSession>,
    /// Card mode: the card that logs in.
    card: Option<Arc<CardCredential>>,
}

impl PscCredential {
    pub fn new(session: Arc<PscSession>, card: Option<Arc<CardCredential>>) -> PscCredential {
        PscCredential { session, card }
    }
}

impl Credential for PscCredential {
    fn identity(&self) -> String {
        match self.session.status().national_id {
            Some(id) => format!("Pro Santé Connect ({id})"),
            None => "Pro Santé Connect".into(),
        }
    }

    fn certified_key(&self) -> Option<Arc<CertifiedKey>> {
        None
    }

    fn not_after(&self) -> Option<i64> {
        self.card.as_ref().and_then(|c| c.not_after())
    }

    fn availability(&self) -> Result<(), String> {
        self.session.availability()
    }

    fn signatures(&self) -> Option<u64> {
        self.card.as_ref().and_then(|c| c.signatures())
    }

    /// No client certificate to the operator: TLS sessions carry no
    /// identity and may be resumed whoever logs in over them.
    fn session_scope(&self) -> String {
        "pro-sante-connect".into()
    }

    fn psc(&self) -> Option<Arc<PscSession>> {
        Some(self.session.clone())
    }
}
