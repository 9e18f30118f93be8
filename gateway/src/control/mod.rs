//! The local control API: HTTP+JSON over a Unix socket that only the
//! daemon's user can open. The `facteur` command line and the web admin
//! use it; it is versioned under `/v1/` and documented in
//! `docs/control-api.md`.

mod board;
mod client;
mod connection_test;
mod diagnostics;
mod directory;
mod network;
mod psc;
mod server;
mod settings;
mod update;

pub use board::{BoardApi, board_router, request_reset};
pub use client::{ApiError, ControlClient, encode_component};
pub use connection_test::{ConnectionTest, Step, connection_test_router};
pub use directory::DirectoryApi;
pub use network::network_router;
pub use psc::psc_router;
pub use server::{ControlState, router, serve, setup_router};
pub use settings::{SettingsState, settings_router};
pub use update::update_router;

/// Body of `POST /v1/card/unlock`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct UnlockRequest {
    /// The PIN; absent to type it on the reader's PIN pad.
    #[serde(default)]
    pub pin: Option<zeroize::Zeroizing<String>>,
    /// Required to present a PIN when only one try is left.
    #[serde(default)]
    pub confirm_last_try: bool,
    /// Who asks, for the audit log ("web:admin", "cli"); "api" when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// An error answer: a stable code for programs, a sentence for people.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tries_left: Option<u8>,
    /// The setting concerned, for settings refusals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}
