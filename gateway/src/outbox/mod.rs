//! The document folder: PDFs dropped by a scanner or the practice software
//! become MSSanté document messages (PDF + `IHE_XDM.ZIP`) in the same
//! durable queue as mail.
//!
//! [`watcher`] finds finished files, [`routing`] decides who they go to
//! ([`sidecar`] files, correspondent folders, file names), [`document`]
//! and [`compose`] build the message, [`intake`] queues it and files the
//! document in `sent/` or `errors/`.

pub mod compose;
pub mod document;
pub mod intake;
pub mod pdf;
pub mod routing;
pub mod settings;
pub mod sidecar;
pub mod watcher;
