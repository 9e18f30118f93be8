//! Command-line subcommands that are more than a control API call.

pub mod audit;
pub mod directory;
pub mod xdm;
