//! Command-line subcommands that are more than a control API call.

pub mod directory;
pub mod xdm;
