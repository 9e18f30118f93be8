//! Facteur's face on the practice's desk: the status LED, the button, the
//! buzzer, the optional small display and the hardware watchdog.
//!
//! Drivers (`led`, `button`, `buzzer`, `display`) are generic over the
//! embedded-hal 1.0 traits and know nothing of Linux; `linux` opens them on
//! the kernel's interfaces from a board description file
//! (`description`), `sim` gives the same parts in memory for a PC. `face`
//! is the one state machine from the daemon's state to what the board
//! shows; `runner` is the thread that drives the parts from it.

pub mod button;
pub mod buzzer;
pub mod description;
pub mod display;
pub mod face;
pub mod led;
pub mod linux;
pub mod pattern;
pub mod runner;
pub mod sim;
pub mod watchdog;

pub use face::{Action, CredentialFact, Facts, Mode, Phase};
pub use runner::{Board, DisplayInfo, Parts, Snapshot};
