//! Facteur's web admin: a separate, unprivileged process serving HTTPS on
//! the practice's LAN. It claims the box (setup code + admin password),
//! shows its state and unlocks the CPS card, reaching the daemon only
//! through the control API. It holds no key and no PIN beyond the
//! request that carries it. See `docs/web-admin.md`.

pub mod app;
pub mod backup_file;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod daemon_setup;
pub mod follow_daemon;
pub mod headers;
pub use facteur::localtime;
pub mod mdns;
pub mod pages;
pub mod password;
pub mod ratelimit;
pub mod routes;
pub mod server;
pub mod session;
pub mod setup_code;
pub mod state;
pub mod texts;

pub use app::App;
pub use routes::router;
