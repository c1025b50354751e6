//! The simulator's pure model: no I/O here.

pub mod appcmd;
pub mod cgi;
pub mod cmd;
pub mod cmdline;
pub mod msdeploy_args;
pub mod vars;
pub mod webpi_args;
