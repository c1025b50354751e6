//! The simulator's pure model: no I/O here.

pub mod appcmd;
pub mod cgi;
pub mod cmd;
pub mod cmdline;
pub mod config;
pub mod errors;
pub mod msdeploy_args;
pub mod routing;
pub mod vars;
pub mod w3c;
pub mod webpi_args;
