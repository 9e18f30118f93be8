//! TLS for both sides of the box: the MSSanté client policy upstream, and
//! the box's own certificate for the practice's LAN.

pub mod local;
pub mod mssante;
