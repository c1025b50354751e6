//! The simulator's pure model: no I/O here.

pub mod appcmd;
pub mod cgi;
pub mod cmdline;
pub mod vars;
