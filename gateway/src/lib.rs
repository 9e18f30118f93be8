//! Facteur: the secure-mail gateway of a medical practice.
//!
//! The practice's mail clients and software speak plain local SMTP to the
//! box ([`smtp`]); every accepted message is made durable in the [`queue`]
//! before the client hears "250"; [`queue::delivery`] sends it to the
//! practice's MSSanté operator ([`upstream`]) over mutually authenticated
//! TLS ([`tls::mssante`]) with the practice's [`credential`].

pub mod address;
pub mod audit;
pub mod autoconfig;
pub mod board_link;
pub mod card;
pub mod config;
pub mod control;
pub mod credential;
pub mod daemon;
pub mod diagnostics;
pub mod directory;
pub mod durable;
pub mod factory_reset;
pub mod health;
pub mod imap;
pub mod inbound;
pub mod listener;
pub mod localtime;
pub mod logging;
pub mod network;
pub mod outbox;
pub mod paper;
pub mod psc;
pub mod queue;
pub mod settings;
pub mod smtp;
pub mod tls;
pub mod update;
pub mod update_link;
pub mod upstream;
pub mod whitelist;
pub mod xdm;
